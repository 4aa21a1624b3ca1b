//! The engine's side of row locking (`LockMode::Rows`): a write statement locks every row it touches
//! inline, reports the rows another transaction holds and discards itself, and asks for the exclusive
//! lock when it cannot be bounded to rows. The server's lock table is tested in `primary::locks`; here
//! a minimal lock table stands in for it.

use repld::sql::{Engine, ExecContext, LockMode, Outcome, RowLocks, Session, StmtKind, Value};
use repld::Error;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct Locks(Mutex<HashMap<Vec<u8>, u32>>);

impl RowLocks for Locks {
    fn try_lock(&self, owner: u32, key: &[u8]) -> bool {
        let mut m = self.0.lock().unwrap();
        *m.entry(key.to_vec()).or_insert(owner) == owner
    }
}

impl Locks {
    fn release(&self, owner: u32) {
        self.0.lock().unwrap().retain(|_, o| *o != owner);
    }
    fn held_by(&self, owner: u32) -> usize {
        self.0.lock().unwrap().values().filter(|o| **o == owner).count()
    }
}

fn run(e: &Engine, s: &mut Session, sql: &str) -> repld::Result<Outcome> {
    let mut last = None;
    for st in e.parse(sql)? {
        last = Some(e.execute(s, &st, &ExecContext::default())?);
        for c in s.take_commits() {
            e.apply_commit(&c, &[])?;
        }
        if st.kind == StmtKind::Ddl {
            assert!(s.take_commits().is_empty());
        }
    }
    Ok(last.expect("a statement"))
}

fn session(locks: &Arc<Locks>, id: u32) -> Session {
    let mut s = Session::new();
    s.connection_id = id;
    s.lock_mode = LockMode::Rows(locks.clone());
    s.current_db = Some("d".into());
    s
}

fn setup() -> (Engine, Arc<Locks>) {
    let e = Engine::open_temporary().unwrap();
    let mut admin = Session::new();
    run(
        &e,
        &mut admin,
        "CREATE DATABASE d; USE d; \
         CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, k INT NOT NULL, c CHAR(10), KEY (k)); \
         INSERT INTO t VALUES (1, 10, 'a'), (2, 20, 'b'), (3, 30, 'c'); \
         CREATE TABLE nopk (a INT)",
    )
    .unwrap();
    (e, Arc::new(Locks::default()))
}

fn need(r: repld::Result<Outcome>) -> (usize, bool) {
    match r {
        Err(Error::LockNeeded { keys, exclusive }) => (keys.len(), exclusive),
        other => panic!("expected LockNeeded, got {other:?}"),
    }
}

#[test]
fn point_writes_lock_their_rows_and_wait_for_other_owners() {
    let (e, locks) = setup();
    let mut a = session(&locks, 1);
    let mut b = session(&locks, 2);
    run(&e, &mut a, "BEGIN").unwrap();
    run(&e, &mut a, "UPDATE t SET k = k + 1 WHERE id = 1").unwrap();
    assert_eq!(locks.held_by(1), 1);
    // Another row: no conflict, even with the secondary index maintained.
    run(&e, &mut b, "BEGIN").unwrap();
    run(&e, &mut b, "UPDATE t SET k = k + 1 WHERE id = 2").unwrap();
    run(&e, &mut b, "SET @x = 5").unwrap();
    // Row 1 is a's: b's statement is discarded and says so; its session state is put back.
    let before = b.user_vars.clone();
    assert_eq!(need(run(&e, &mut b, "UPDATE t SET c = (@x := @x + 1) WHERE id = 1")), (1, false));
    assert_eq!(b.user_vars, before, "user variables set by a discarded statement are restored");
    // a commits and releases; b's retry goes through and reads a's change.
    run(&e, &mut a, "COMMIT").unwrap();
    locks.release(1);
    run(&e, &mut b, "UPDATE t SET k = k + 100 WHERE id = 1").unwrap();
    run(&e, &mut b, "COMMIT").unwrap();
    let Outcome::Rows(rs) = run(&e, &mut a, "SELECT k FROM t ORDER BY id").unwrap() else {
        panic!()
    };
    let ks: Vec<Value> = rs.rows.into_iter().map(|r| r[0].clone()).collect();
    assert_eq!(ks, vec![Value::Int(111), Value::Int(21), Value::Int(30)]);
}

#[test]
fn inserts_lock_the_new_row_and_a_moved_counter() {
    let (e, locks) = setup();
    let mut a = session(&locks, 1);
    let mut b = session(&locks, 2);
    run(&e, &mut a, "BEGIN").unwrap();
    // An auto-increment insert moves the table's counter: row and counter are a's now.
    run(&e, &mut a, "INSERT INTO t (k, c) VALUES (40, 'd')").unwrap();
    assert_eq!(locks.held_by(1), 2);
    run(&e, &mut b, "BEGIN").unwrap();
    // An explicit id below the counter touches only its row.
    run(&e, &mut b, "DELETE FROM t WHERE id = 3").unwrap();
    run(&e, &mut b, "INSERT INTO t (id, k, c) VALUES (3, 31, 'c2')").unwrap();
    // Moving the counter again waits for a.
    assert_eq!(need(run(&e, &mut b, "INSERT INTO t (k, c) VALUES (50, 'e')")), (1, false));
    // Inserting the row a inserted waits for a: moving the counter past it needs the counter first
    // (the statement stops there), then the duplicate check reads the row.
    assert_eq!(need(run(&e, &mut b, "INSERT INTO t (id, k, c) VALUES (4, 1, 'x')")), (1, false));
    // Once a commits and lets go, b's insert of the same id is a duplicate.
    run(&e, &mut a, "COMMIT").unwrap();
    locks.release(1);
    let e1062 = run(&e, &mut b, "INSERT INTO t (id, k, c) VALUES (4, 1, 'x')").unwrap_err();
    assert_eq!(e1062.to_mysql().0, 1062);
}

#[test]
fn statements_not_bounded_to_rows_need_the_exclusive_lock() {
    let (e, locks) = setup();
    let mut a = session(&locks, 1);
    for sql in [
        "UPDATE t SET c = 'z' WHERE k = 20",
        "DELETE FROM t WHERE id > 1",
        "UPDATE t SET c = 'z'",
        "INSERT INTO nopk VALUES (1)",
        "INSERT INTO t (k, c) SELECT k, c FROM t WHERE k > 0",
    ] {
        assert!(need(run(&e, &mut a, sql)).1, "{sql}");
    }
    // Under the exclusive lock the same statements run unchecked.
    a.lock_mode = LockMode::Exclusive;
    run(&e, &mut a, "UPDATE t SET c = 'z' WHERE k = 20").unwrap();
    run(&e, &mut a, "INSERT INTO nopk VALUES (1)").unwrap();
}
