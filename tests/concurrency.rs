//! Concurrent write transactions on a real primary (row locks): conflicting transactions serialize,
//! deadlocks end in ERROR 1213 with the victim rolled back, lock waits time out with 1205, DDL waits
//! for open transactions, and a replica replaying the binlog ends with exactly the primary's rows.

mod common;

use common::*;
use mysql_async::prelude::*;
use std::time::Duration;

fn code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

/// The state column of a connection in SHOW PROCESSLIST.
async fn state_of(c: &mut mysql_async::Conn, id: u32) -> String {
    let rows: Vec<mysql_async::Row> = c.query("SHOW PROCESSLIST").await.unwrap();
    rows.into_iter()
        .find(|r| r.get::<u32, _>(0) == Some(id))
        .and_then(|r| r.get::<Option<String>, _>(6).flatten())
        .unwrap_or_default()
}

async fn wait_state(c: &mut mysql_async::Conn, id: u32, want: &str) {
    for _ in 0..1000 {
        if state_of(c, id).await.contains(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("connection {id} never showed state {want:?}");
}

const ACCOUNTS: i64 = 10;
const START: i64 = 1000;

async fn setup(p: &Server) {
    let mut c = p.conn().await;
    c.query_drop(
        "CREATE DATABASE bank; USE bank; \
         CREATE TABLE acct (id INT PRIMARY KEY, bal INT NOT NULL, n INT NOT NULL DEFAULT 0, KEY (bal)); \
         CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, a INT, b INT, amount INT)",
    )
    .await
    .unwrap();
    for i in 1..=ACCOUNTS {
        c.query_drop(format!("INSERT INTO bank.acct (id, bal) VALUES ({i}, {START})"))
            .await
            .unwrap();
    }
}

/// One transfer in a transaction; Ok(false) when it was a deadlock victim (rolled back).
async fn transfer(c: &mut mysql_async::Conn, a: i64, b: i64, amount: i64) -> Result<bool, String> {
    let stmts = [
        "BEGIN".to_string(),
        format!("UPDATE bank.acct SET bal = bal - {amount}, n = n + 1 WHERE id = {a}"),
        format!("UPDATE bank.acct SET bal = bal + {amount}, n = n + 1 WHERE id = {b}"),
        format!("INSERT INTO bank.audit (a, b, amount) VALUES ({a}, {b}, {amount})"),
        "COMMIT".to_string(),
    ];
    for s in &stmts {
        match c.query_drop(s).await {
            Ok(()) => {}
            Err(e) if code(&e) == Some(1213) => return Ok(false),
            Err(e) => return Err(format!("{s}: {e}")),
        }
    }
    Ok(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_transfers_serialize_and_replicate_exactly() {
    let dir = test_dir();
    let p = Server::primary(dir.path());
    let r = Server::replica(dir.path(), "r1", 2, p.port);
    setup(&p).await;
    let mut tasks = vec![];
    for t in 0..8u64 {
        let port = p.port;
        tasks.push(tokio::spawn(async move {
            let mut c = conn(port, None).await;
            let (mut done, mut victims) = (0u64, 0u64);
            let mut x = t * 7919 + 17;
            while done < 40 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let a = (x >> 33) as i64 % ACCOUNTS + 1;
                let b = (a + (x >> 40) as i64 % (ACCOUNTS - 1)) % ACCOUNTS + 1;
                match transfer(&mut c, a, b, (x >> 50) as i64 % 50 + 1).await {
                    Ok(true) => done += 1,
                    Ok(false) => victims += 1,
                    Err(e) => panic!("transfer failed: {e}"),
                }
                assert!(victims < 1000, "livelock: {victims} deadlock victims");
            }
            (done, victims)
        }));
    }
    let mut committed = 0;
    for t in tasks {
        committed += t.await.unwrap().0;
    }
    assert_eq!(committed, 320);
    let mut c = p.conn().await;
    let (sum, n): (i64, i64) =
        c.query_first("SELECT SUM(bal), SUM(n) FROM bank.acct").await.unwrap().unwrap();
    assert_eq!(sum, ACCOUNTS * START, "transfers conserve money");
    assert_eq!(n as u64, 2 * committed, "no update lost or applied twice");
    let audits: i64 = c.query_first("SELECT COUNT(*) FROM bank.audit").await.unwrap().unwrap();
    assert_eq!(audits as u64, committed);
    wait_caught_up(&p, &r);
    let tables = ["bank.acct", "bank.audit"];
    assert_eq!(checksums(&p, &tables), checksums(&r, &tables));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlock_victim_is_rolled_back_waits_time_out_and_ddl_waits() {
    let dir = test_dir();
    let p = Server::primary(dir.path());
    let r = Server::replica(dir.path(), "r1", 2, p.port);
    setup(&p).await;
    let mut a = p.conn().await;
    let mut b = p.conn().await;
    let mut watch = p.conn().await;
    let a_id = a.id();

    // A deadlock: a holds 1 and waits for 2; b holds 2 and asks for 1.
    a.query_drop("BEGIN").await.unwrap();
    a.query_drop("UPDATE bank.acct SET bal = bal + 1 WHERE id = 1").await.unwrap();
    b.query_drop("BEGIN").await.unwrap();
    b.query_drop("UPDATE bank.acct SET bal = bal + 100 WHERE id = 2").await.unwrap();
    let blocked = tokio::spawn(async move {
        a.query_drop("UPDATE bank.acct SET bal = bal + 1 WHERE id = 2").await.unwrap();
        a
    });
    wait_state(&mut watch, a_id, "Waiting for row lock").await;
    let e = b.query_drop("UPDATE bank.acct SET bal = bal + 100 WHERE id = 1").await.unwrap_err();
    assert_eq!(code(&e), Some(1213), "{e}");
    let mut a = blocked.await.unwrap();
    // b's transaction was rolled back as a whole: its COMMIT commits nothing.
    b.query_drop("COMMIT").await.unwrap();
    a.query_drop("COMMIT").await.unwrap();
    let bals: Vec<i64> =
        watch.query("SELECT bal FROM bank.acct WHERE id <= 2 ORDER BY id").await.unwrap();
    assert_eq!(bals, vec![START + 1, START + 1]);

    // A lock wait ends with 1205 after innodb_lock_wait_timeout; the waiter's transaction goes on.
    a.query_drop("BEGIN").await.unwrap();
    a.query_drop("UPDATE bank.acct SET n = 7 WHERE id = 3").await.unwrap();
    b.query_drop("SET SESSION innodb_lock_wait_timeout = 1").await.unwrap();
    b.query_drop("BEGIN").await.unwrap();
    b.query_drop("UPDATE bank.acct SET n = 5 WHERE id = 4").await.unwrap();
    let e = b.query_drop("UPDATE bank.acct SET n = 8 WHERE id = 3").await.unwrap_err();
    assert_eq!(code(&e), Some(1205), "{e}");
    b.query_drop("COMMIT").await.unwrap();
    b.query_drop("SET SESSION innodb_lock_wait_timeout = 50").await.unwrap();

    // DDL waits until the open transaction ends.
    let b_id = b.id();
    let ddl = tokio::spawn(async move {
        b.query_drop("ALTER TABLE bank.acct ADD COLUMN z INT NOT NULL DEFAULT 9").await.unwrap();
        b
    });
    wait_state(&mut watch, b_id, "Waiting for table metadata lock").await;
    assert!(!ddl.is_finished());
    a.query_drop("COMMIT").await.unwrap();
    let _b = ddl.await.unwrap();
    let rows: Vec<(i64, i64, i64)> =
        watch.query("SELECT id, n, z FROM bank.acct WHERE id IN (3, 4) ORDER BY id").await.unwrap();
    assert_eq!(rows, vec![(3, 7, 9), (4, 5, 9)]);

    wait_caught_up(&p, &r);
    let tables = ["bank.acct", "bank.audit"];
    assert_eq!(checksums(&p, &tables), checksums(&r, &tables));
}
