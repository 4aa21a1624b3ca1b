//! Fault suite: real binaries on loopback.
//!
//! * kill -9 of the primary or a replica at random moments during a write load, restart, repeat
//!   (`REPLD_FAULT_CYCLES`, default 10; the soak mode runs 100): every commit the load client saw
//!   acknowledged is present afterwards, and the replica converges to the primary's rows.
//! * Network faults through a loopback proxy between replica and primary: connections reset and refused,
//!   then a slow link: the replica shows the outage in SHOW REPLICA STATUS while it lasts, then reconnects by
//!   itself and converges.

mod common;

use common::proxy::{Mode, Proxy};
use common::*;
use mysql_async::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Upper bound on the rows one load client writes, and on how long it runs.
const LOAD_MAX_ROWS: u64 = 200_000;
const LOAD_MAX_TIME: Duration = Duration::from_secs(300);

/// A write load: autocommit INSERTs of increasing `n`, recording every acknowledged one. It reconnects
/// (with a bounded wait) whenever the primary is away.
struct Load {
    acked: Arc<Mutex<Vec<u64>>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    fn start(port: u16) -> Load {
        let acked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, s) = (acked.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut conn: Option<mysql_async::Conn> = None;
            for n in 0..LOAD_MAX_ROWS {
                if s.load(Ordering::SeqCst) || started.elapsed() > LOAD_MAX_TIME {
                    break;
                }
                if conn.is_none() {
                    let opts = mysql_async::OptsBuilder::default()
                        .ip_or_hostname("127.0.0.1")
                        .tcp_port(port)
                        .user(Some("root"))
                        .prefer_socket(false);
                    match mysql_async::Conn::new(opts).await {
                        Ok(c) => conn = Some(c),
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    }
                }
                let c = conn.as_mut().unwrap();
                match c.query_drop(format!("INSERT INTO f.t (n, v) VALUES ({n}, 'v{n}')")).await {
                    Ok(()) => a.lock().unwrap().push(n),
                    Err(_) => conn = None,
                }
            }
        });
        Load { acked, stop, task }
    }

    fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    async fn finish(self) -> Vec<u64> {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        let v = self.acked.lock().unwrap().clone();
        v
    }
}

fn rows(server: &Server) -> BTreeSet<u64> {
    server.sql("SELECT n FROM f.t").lines().filter_map(|l| l.trim().parse().ok()).collect()
}

fn cycles() -> usize {
    std::env::var("REPLD_FAULT_CYCLES").ok().and_then(|s| s.parse().ok()).unwrap_or(10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_cycles_lose_no_acknowledged_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut primary = Server::primary(dir.path());
    let mut replica = Server::replica(dir.path(), "replica", 2, primary.port);
    primary
        .sql("CREATE DATABASE f; CREATE TABLE f.t (n BIGINT PRIMARY KEY, v VARCHAR(20) NOT NULL)");
    let load = Load::start(primary.port);
    let mut rng = StdRng::seed_from_u64(7);
    for cycle in 0..cycles() {
        // A random moment: after a random number of further acknowledged commits.
        let target = load.acked_count() + rng.gen_range(5..80);
        let progressed = wait_until_async(TIMEOUT, || async { load.acked_count() >= target }).await;
        assert!(
            progressed,
            "cycle {cycle}: the load made no progress; primary log:\n{}",
            primary.log()
        );
        let victim = if rng.gen_bool(0.5) { &mut primary } else { &mut replica };
        tokio::task::block_in_place(|| victim.restart());
    }
    let acked = load.finish().await;
    assert!(!acked.is_empty());
    let on_primary = rows(&primary);
    let lost: Vec<_> = acked.iter().filter(|n| !on_primary.contains(n)).collect();
    assert!(lost.is_empty(), "acknowledged commits lost on the primary: {lost:?}");
    tokio::task::block_in_place(|| wait_caught_up(&primary, &replica));
    assert_eq!(rows(&replica), on_primary, "replica rows differ from the primary's");
    let q = "CHECKSUM TABLE f.t";
    assert_eq!(replica.sql(q), primary.sql(q));
}

fn status_field(server: &Server, field: &str) -> Option<String> {
    let out = mariadb_try(server.port, "SHOW SLAVE STATUS\\G").ok()?;
    out.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == field).then(|| v.trim().to_string())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_faults_show_in_status_and_heal() {
    let dir = tempfile::tempdir().unwrap();
    let primary = Server::primary(dir.path());
    let proxy = Proxy::start(primary.port).await;
    let replica = Server::replica(dir.path(), "replica", 2, proxy.port);
    primary
        .sql("CREATE DATABASE f; CREATE TABLE f.t (n BIGINT PRIMARY KEY, v VARCHAR(20) NOT NULL)");
    tokio::task::block_in_place(|| wait_caught_up(&primary, &replica));

    // Outage: every connection cut, reconnects refused. Status shows it, lag is NULL.
    proxy.set(Mode::Refuse);
    let load = Load::start(primary.port);
    let shows_outage = tokio::task::block_in_place(|| {
        wait_until(TIMEOUT, || {
            status_field(&replica, "Slave_IO_Running").as_deref() == Some("Connecting")
                && status_field(&replica, "Seconds_Behind_Master").as_deref() == Some("NULL")
        })
    });
    assert!(
        shows_outage,
        "outage not shown: {:?}",
        mariadb_try(replica.port, "SHOW SLAVE STATUS\\G")
    );
    let target = load.acked_count() + 50;
    assert!(wait_until_async(TIMEOUT, || async { load.acked_count() >= target }).await);

    // A slow link: the replica reconnects through it by itself and catches up.
    proxy.set(Mode::Slow);
    tokio::task::block_in_place(|| {
        assert!(wait_until(TIMEOUT, || status_field(&replica, "Slave_IO_Running").as_deref()
            == Some("Yes")));
    });
    // Healed: converge.
    proxy.set(Mode::Pass);
    let acked = load.finish().await;
    tokio::task::block_in_place(|| wait_caught_up(&primary, &replica));
    let on_replica = rows(&replica);
    assert!(acked.iter().all(|n| on_replica.contains(n)), "replica misses acknowledged rows");
    assert_eq!(on_replica, rows(&primary));
}
