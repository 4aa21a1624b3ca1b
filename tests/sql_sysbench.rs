//! Every sysbench 1.0.20 statement shape (reference §5) on a sysbench-shaped table gives MariaDB's answers.

use repld::sql::{ColumnType, Engine, ExecContext, Outcome, Session, StmtKind, Value};

fn run(e: &Engine, s: &mut Session, sql: &str, seq: &mut u64) -> Outcome {
    let ctx = ExecContext { now_us: 1_700_000_000_000_000, ..Default::default() };
    let mut last = None;
    for st in e.parse(sql).unwrap() {
        last = Some(e.execute(s, &st, &ctx).unwrap_or_else(|err| panic!("{sql}: {err}")));
        for c in s.take_commits() {
            *seq = e.publish(&c).unwrap();
            e.apply(*seq, &[]).unwrap();
        }
    }
    last.unwrap()
}

fn rows(o: Outcome) -> Vec<Vec<Value>> {
    match o {
        Outcome::Rows(rs) => rs.rows,
        other => panic!("expected rows: {other:?}"),
    }
}

#[test]
fn sysbench_statement_shapes() {
    let e = Engine::open_temporary().unwrap();
    let mut s = Session::new();
    let mut seq = 0;
    run(&e, &mut s, "CREATE DATABASE sbtest", &mut seq);
    run(&e, &mut s, "USE sbtest", &mut seq);
    run(
        &e,
        &mut s,
        "CREATE TABLE sbtest1(\n id INTEGER NOT NULL AUTO_INCREMENT,\n k INTEGER DEFAULT '0' NOT NULL,\n c CHAR(120) DEFAULT '' NOT NULL,\n pad CHAR(60) DEFAULT '' NOT NULL,\n PRIMARY KEY (id)\n) /*! ENGINE = innodb */",
        &mut seq,
    );
    let mut sql = String::from("INSERT INTO sbtest1(k, c, pad) VALUES");
    for i in 1..=1000 {
        if i > 1 {
            sql.push(',');
        }
        sql.push_str(&format!("({}, '{:011}-c', '{:011}-pad')", i % 97, i, i));
    }
    match run(&e, &mut s, &sql, &mut seq) {
        Outcome::Ok { affected_rows, last_insert_id, .. } => {
            assert_eq!((affected_rows, last_insert_id), (1000, 1))
        }
        o => panic!("{o:?}"),
    }
    run(&e, &mut s, "CREATE INDEX k_1 ON sbtest1(k)", &mut seq);
    // Point select: one row, CHAR metadata as MariaDB sends it.
    match run(&e, &mut s, "SELECT c FROM sbtest1 WHERE id=500", &mut seq) {
        Outcome::Rows(rs) => {
            assert_eq!(rs.rows, vec![vec![Value::Bytes(b"00000000500-c".to_vec())]]);
            let c = &rs.columns[0];
            assert_eq!(
                (c.column_type, c.length, c.charset, c.flags & 1),
                (ColumnType::String, 480, 45, 1)
            );
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(
        rows(run(&e, &mut s, "SELECT c FROM sbtest1 WHERE id BETWEEN 10 AND 19", &mut seq)).len(),
        10
    );
    match run(&e, &mut s, "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 1 AND 100", &mut seq) {
        Outcome::Rows(rs) => {
            let want: i64 = (1..=100).map(|i| i % 97).sum();
            assert_eq!(rs.rows, vec![vec![Value::Decimal(want.to_string())]]);
            assert_eq!(rs.columns[0].column_type, ColumnType::NewDecimal);
        }
        o => panic!("{o:?}"),
    }
    let ordered = rows(run(
        &e,
        &mut s,
        "SELECT c FROM sbtest1 WHERE id BETWEEN 90 AND 110 ORDER BY c",
        &mut seq,
    ));
    assert_eq!(ordered.len(), 21);
    assert!(ordered.windows(2).all(|w| w[0][0].as_bytes() <= w[1][0].as_bytes()));
    let distinct = rows(run(
        &e,
        &mut s,
        "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 90 AND 110 ORDER BY c",
        &mut seq,
    ));
    assert_eq!(distinct, ordered);
    // Writes of oltp_read_write, in one transaction.
    let stmt_kind = e.parse("UPDATE sbtest1 SET k=k+1 WHERE id=500").unwrap()[0].kind;
    assert_eq!(stmt_kind, StmtKind::Write);
    run(&e, &mut s, "BEGIN", &mut seq);
    run(&e, &mut s, "UPDATE sbtest1 SET k=k+1 WHERE id=500", &mut seq);
    run(&e, &mut s, "UPDATE sbtest1 SET c='changed' WHERE id=501", &mut seq);
    run(&e, &mut s, "DELETE FROM sbtest1 WHERE id=502", &mut seq);
    run(
        &e,
        &mut s,
        "INSERT INTO sbtest1 (id, k, c, pad) VALUES (502, 7, 'again', 'pad')",
        &mut seq,
    );
    // Read your own writes before COMMIT.
    assert_eq!(
        rows(run(&e, &mut s, "SELECT k FROM sbtest1 WHERE id=500", &mut seq)),
        vec![vec![Value::Int(500 % 97 + 1)]]
    );
    run(&e, &mut s, "COMMIT", &mut seq);
    assert_eq!(
        rows(run(&e, &mut s, "SELECT c FROM sbtest1 WHERE id=501", &mut seq)),
        vec![vec![Value::Bytes(b"changed".to_vec())]]
    );
    assert_eq!(
        rows(run(&e, &mut s, "SELECT c FROM sbtest1 WHERE id=502", &mut seq)),
        vec![vec![Value::Bytes(b"again".to_vec())]]
    );
    // Secondary index lookup.
    let by_k = rows(run(&e, &mut s, "SELECT id FROM sbtest1 WHERE k = 7 ORDER BY id", &mut seq));
    assert!(by_k.contains(&vec![Value::Int(502)]));
    // oltp_insert: id 0 takes the next auto-increment value.
    match run(&e, &mut s, "INSERT INTO sbtest1 (id, k, c, pad) VALUES (0, 1, 'x', 'y')", &mut seq) {
        Outcome::Ok { last_insert_id, .. } => assert_eq!(last_insert_id, 1001),
        o => panic!("{o:?}"),
    }
    assert_eq!(
        rows(run(&e, &mut s, "SELECT COUNT(*) FROM sbtest1", &mut seq)),
        vec![vec![Value::Int(1001)]]
    );
    run(&e, &mut s, "DROP TABLE IF EXISTS sbtest1", &mut seq);
    assert!(rows(run(&e, &mut s, "SHOW TABLES", &mut seq)).is_empty());
}

#[test]
fn client_session_statements() {
    let e = Engine::open_temporary().unwrap();
    e.set_global_var("server_id", Value::Int(7));
    let mut s = Session::new();
    let mut seq = 0;
    for sql in [
        "SET NAMES utf8mb4",
        "SET autocommit=1",
        "SET sql_mode='STRICT_TRANS_TABLES'",
        "SET time_zone='+00:00'",
    ] {
        run(&e, &mut s, sql, &mut seq);
    }
    let r = rows(run(&e, &mut s, "SELECT @@version_comment LIMIT 1", &mut seq));
    assert_eq!(r, vec![vec![Value::Bytes(b"repld".to_vec())]]);
    let r = rows(run(&e, &mut s, "SELECT @@max_allowed_packet, @@server_id, @@global.server_id, DATABASE(), CONNECTION_ID() > 0", &mut seq));
    assert_eq!(r[0][0], Value::Int(16777216));
    assert_eq!(r[0][1], Value::Int(7));
    assert_eq!(r[0][3], Value::Null);
    let r = rows(run(&e, &mut s, "SHOW VARIABLES LIKE 'sql_mode'", &mut seq));
    assert_eq!(
        r,
        vec![vec![
            Value::Bytes(b"sql_mode".to_vec()),
            Value::Bytes(b"STRICT_TRANS_TABLES".to_vec())
        ]]
    );
    assert!(!rows(run(&e, &mut s, "SHOW DATABASES", &mut seq)).is_empty());
    let r = rows(run(&e, &mut s, "SELECT VERSION(), USER()", &mut seq));
    assert_eq!(r[0][1], Value::Bytes(b"root@localhost".to_vec()));
}
