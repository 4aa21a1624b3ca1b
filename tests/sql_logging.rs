//! What the engine hands to the commit pipeline: commit boundaries, logged context, write-set atomicity,
//! publish/apply visibility and meta records.

use repld::sql::{
    Engine, ExecContext, Outcome, PendingCommit, Session, StmtKind, UserVarValue, Value,
};

/// Executes statements; DDL commits are applied at once (as the server does before answering) so that
/// the next statement of the same text sees them; DML commits are left for the test to take.
fn exec(e: &Engine, s: &mut Session, sql: &str, ctx: &ExecContext) -> repld::Result<Outcome> {
    let mut last = None;
    for st in e.parse(sql)? {
        last = Some(e.execute(s, &st, ctx)?);
        if st.kind == StmtKind::Ddl {
            let commits = s.take_commits();
            for c in &commits {
                e.apply_commit(c, &[]).unwrap();
            }
            TAKEN.with(|t| t.borrow_mut().extend(commits));
        }
    }
    Ok(last.expect("statement"))
}

thread_local! {
    /// DDL commits already applied by `exec`, for `apply_all` to report.
    static TAKEN: std::cell::RefCell<Vec<PendingCommit>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn apply_all(e: &Engine, s: &mut Session, seq: &mut u64) -> Vec<PendingCommit> {
    let mut done = TAKEN.with(|t| std::mem::take(&mut *t.borrow_mut()));
    for _ in &done {
        *seq += 1;
    }
    let commits = s.take_commits();
    for c in &commits {
        *seq = e.publish(c).unwrap();
        e.apply(*seq, &[("gtid".into(), format!("0-1-{seq}").into_bytes())]).unwrap();
    }
    done.extend(commits);
    done
}

fn count(e: &Engine, sql: &str) -> i64 {
    let mut s = Session::new();
    match exec(e, &mut s, sql, &ExecContext::default()).unwrap() {
        Outcome::Rows(rs) => match rs.rows[0][0] {
            Value::Int(n) => n,
            ref v => panic!("{v:?}"),
        },
        o => panic!("{o:?}"),
    }
}

#[test]
fn commit_boundaries_and_logged_context() {
    let e = Engine::open_temporary().unwrap();
    let mut s = Session::new();
    let mut seq = 0;
    let ctx = ExecContext { now_us: 1_700_000_000_123_456, ..Default::default() };
    exec(&e, &mut s, "CREATE DATABASE l; USE l; CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20), r DOUBLE)", &ctx).unwrap();
    let c = apply_all(&e, &mut s, &mut seq);
    assert_eq!(c.len(), 2);
    assert!(c.iter().all(|c| c.is_ddl && c.statements.len() == 1));
    assert_eq!(c[1].statements[0].db.as_deref(), Some("l"));

    // Autocommit write: one commit with the context it used.
    s.user_vars.insert("who".into(), UserVarValue::String(b"me".to_vec(), 45));
    s.rand_seeds = (12345, 67890);
    exec(
        &e,
        &mut s,
        "INSERT INTO t (v, r) VALUES (@who, RAND()), (CONCAT(@who, '2'), LAST_INSERT_ID())",
        &ctx,
    )
    .unwrap();
    let c = apply_all(&e, &mut s, &mut seq);
    assert_eq!(c.len(), 1);
    assert!(!c[0].is_ddl);
    let l = &c[0].statements[0];
    assert_eq!(l.insert_id, Some(1));
    assert_eq!(l.rand_seeds, Some((12345, 67890)));
    assert_eq!(l.last_insert_id, Some(0));
    assert_eq!(l.user_vars, vec![("who".to_string(), UserVarValue::String(b"me".to_vec(), 45))]);
    assert_eq!(l.now_us, 1_700_000_000_123_456);
    assert_eq!(l.sql_mode, 1411383296);
    assert_eq!(l.flags2, 0);
    assert_eq!((l.time_zone.as_str(), l.charset), ("SYSTEM", (45, 45, 45)));
    // The session generator moved on: the next RAND() statement logs new seeds.
    assert_ne!(s.rand_seeds, (12345, 67890));

    // A replica replaying with the logged context computes the same rows.
    let r = Engine::open_temporary().unwrap();
    let mut rs = Session::new();
    exec(&r, &mut rs, "CREATE DATABASE l; USE l; CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20), r DOUBLE)", &ctx).unwrap();
    for c in rs.take_commits() {
        r.apply_commit(&c, &[]).unwrap();
    }
    rs.user_vars.insert("who".into(), l.user_vars[0].1.clone());
    let rctx = ExecContext {
        now_us: l.now_us,
        insert_id: l.insert_id,
        last_insert_id: l.last_insert_id,
        rand_seeds: l.rand_seeds,
    };
    exec(&r, &mut rs, &l.sql, &rctx).unwrap();
    for c in rs.take_commits() {
        r.apply_commit(&c, &[]).unwrap();
    }
    let sum = |eng: &Engine| {
        let mut x = Session::new();
        match exec(eng, &mut x, "CHECKSUM TABLE l.t", &ExecContext::default()).unwrap() {
            Outcome::Rows(rs) => rs.rows[0][1].clone(),
            o => panic!("{o:?}"),
        }
    };
    assert_eq!(sum(&e), sum(&r));

    TAKEN.with(|t| t.borrow_mut().clear());
    // Explicit transaction with autocommit off: flags2 carries it; DDL inside commits first.
    exec(&e, &mut s, "SET autocommit=0", &ctx).unwrap();
    exec(&e, &mut s, "INSERT INTO t (v) VALUES ('a')", &ctx).unwrap();
    assert!(s.take_commits().is_empty());
    assert!(s.has_writes());
    exec(&e, &mut s, "CREATE TABLE u (a INT)", &ctx).unwrap();
    let c = apply_all(&e, &mut s, &mut seq);
    assert_eq!(c.len(), 2);
    assert!(!c[0].is_ddl && c[1].is_ddl);
    assert_eq!(c[0].statements[0].flags2, 0x80000);
    assert!(!s.in_transaction());
}

#[test]
fn failed_statements_and_rollback_leave_no_trace() {
    let e = Engine::open_temporary().unwrap();
    let mut s = Session::new();
    let mut seq = 0;
    let ctx = ExecContext::default();
    exec(
        &e,
        &mut s,
        "CREATE DATABASE a; USE a; CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(2))",
        &ctx,
    )
    .unwrap();
    apply_all(&e, &mut s, &mut seq);
    exec(&e, &mut s, "BEGIN", &ctx).unwrap();
    exec(&e, &mut s, "INSERT INTO t VALUES (1, 'a')", &ctx).unwrap();
    // Fails at its second row: its first row must not survive.
    let err = exec(&e, &mut s, "INSERT INTO t VALUES (2, 'b'), (3, 'too long')", &ctx).unwrap_err();
    assert_eq!(err.to_mysql().0, 1406);
    exec(&e, &mut s, "COMMIT", &ctx).unwrap();
    let c = apply_all(&e, &mut s, &mut seq);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].statements.len(), 1);
    assert_eq!(count(&e, "SELECT COUNT(*) FROM a.t"), 1);
    // ROLLBACK: nothing queued, nothing stored.
    exec(&e, &mut s, "BEGIN; INSERT INTO t VALUES (5, 'x'); ROLLBACK", &ctx).unwrap();
    assert!(s.take_commits().is_empty());
    assert_eq!(count(&e, "SELECT COUNT(*) FROM a.t"), 1);
    // A failed autocommit statement queues nothing.
    assert!(exec(&e, &mut s, "INSERT INTO t VALUES (1, 'dup')", &ctx).is_err());
    assert!(s.take_commits().is_empty() && !s.in_transaction());
}

#[test]
fn published_commits_are_visible_to_writers_only_until_applied() {
    let e = Engine::open_temporary().unwrap();
    let mut w = Session::new();
    let mut seq = 0;
    let ctx = ExecContext::default();
    exec(
        &e,
        &mut w,
        "CREATE DATABASE p; USE p; CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY)",
        &ctx,
    )
    .unwrap();
    apply_all(&e, &mut w, &mut seq);
    exec(&e, &mut w, "INSERT INTO t VALUES (NULL)", &ctx).unwrap();
    let c = w.take_commits();
    e.publish(&c[0]).unwrap();
    // A reader sees applied commits only; the next writer sees the published row (its id continues after it).
    assert_eq!(count(&e, "SELECT COUNT(*) FROM p.t"), 0);
    let mut w2 = Session::new();
    exec(&e, &mut w2, "INSERT INTO p.t VALUES (NULL)", &ctx).unwrap();
    let c2 = w2.take_commits();
    assert_eq!(c2[0].statements[0].insert_id, Some(2));
    let s2 = e.publish(&c2[0]).unwrap();
    e.apply(s2, &[("pos".into(), b"11".to_vec())]).unwrap();
    assert_eq!(count(&e, "SELECT COUNT(*) FROM p.t"), 2);
    // Idempotent.
    e.apply(s2, &[]).unwrap();
    assert_eq!(count(&e, "SELECT COUNT(*) FROM p.t"), 2);
    assert_eq!(e.get_meta("pos").unwrap(), Some(b"11".to_vec()));
    e.put_meta(&[("x".into(), b"y".to_vec())]).unwrap();
    assert_eq!(e.get_meta("x").unwrap(), Some(b"y".to_vec()));
}

#[test]
fn statement_kinds() {
    let e = Engine::open_temporary().unwrap();
    let kinds: Vec<StmtKind> = [
        "SELECT 1",
        "INSERT INTO t VALUES (1)",
        "CREATE TABLE t (a INT)",
        "BEGIN",
        "START TRANSACTION",
        "COMMIT",
        "ROLLBACK",
        "SET autocommit=0",
        "USE x",
        "SHOW SLAVE STATUS",
        "CHANGE MASTER TO MASTER_HOST='h'",
        "PURGE BINARY LOGS TO 'x'",
        "SET GLOBAL sql_slave_skip_counter=1",
        "CHECKSUM TABLE t",
        "SHOW BINLOG EVENTS",
    ]
    .iter()
    .map(|s| e.parse(s).unwrap()[0].kind)
    .collect();
    use StmtKind::{Admin, Begin, Commit, Ddl, Read, Rollback, Write};
    assert_eq!(
        kinds,
        vec![
            Read,
            Write,
            Ddl,
            Begin,
            Begin,
            Commit,
            Rollback,
            StmtKind::Session,
            StmtKind::Session,
            Admin,
            Admin,
            Admin,
            Admin,
            Read,
            Admin
        ]
    );
    assert!(e.parse("SHOW SLAVE STATUS").unwrap()[0].parsed.is_none());
    let mut s = Session::new();
    let err = exec(&e, &mut s, "SELECT * FROM nodb.t", &ExecContext::default()).unwrap_err();
    assert_eq!(err.to_mysql().0, 1146);
}
