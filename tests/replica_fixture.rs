//! The real MariaDB binlogs of the fixture workload (fixtures/mariadb/statement), given to the SQL
//! thread's core as relay logs, produce exactly the rows MariaDB's replica holds (consistency.txt),
//! and applying them again changes nothing (every group is recognised by its GTID).

use repld::apply::Applier;
use repld::replica::apply_log_files;
use repld::sql::{Engine, ExecContext, Outcome, Session};
use std::path::PathBuf;

fn fixture_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/mariadb/statement"))
}

fn rows(engine: &Engine, sql: &str) -> Vec<String> {
    let mut session = Session::new();
    let stmt = engine.parse(sql).unwrap().remove(0);
    match engine.execute(&mut session, &stmt, &ExecContext::default()).unwrap() {
        Outcome::Rows(rs) => rs
            .rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|v| {
                        v.to_text()
                            .map(|b| String::from_utf8(b).unwrap())
                            .unwrap_or_else(|| "NULL".into())
                    })
                    .collect::<Vec<_>>()
                    .join("\t")
            })
            .collect(),
        other => panic!("expected rows, got {other:?}"),
    }
}

/// The rows under `# replica rows:` in consistency.txt (after the header line).
fn expected_rows() -> Vec<String> {
    let text = std::fs::read_to_string(fixture_dir().join("consistency.txt")).unwrap();
    text.lines()
        .skip_while(|l| *l != "# replica rows:")
        .skip(2)
        .take_while(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn mariadb_binlogs_as_relay_logs_give_mariadbs_rows() {
    let engine = Engine::open_temporary().unwrap();
    let applier = Applier::new(engine.clone()).unwrap();
    let report = apply_log_files(&applier, &fixture_dir(), "primary-bin", 2).unwrap();
    assert_eq!(report.gtid_pos.to_string(), "0-1-13");
    assert_eq!(report.applied, 13);
    let expected = expected_rows();
    assert_eq!(expected.len(), 5);
    assert_eq!(
        rows(&engine, "SELECT id, name, price, created, note FROM fx.items ORDER BY id"),
        expected
    );
    // The applied position was stored with the rows.
    assert_eq!(engine.get_meta("replica.gtid_slave_pos").unwrap().unwrap(), b"0-1-13");
    let exec: serde_json::Value =
        serde_json::from_slice(&engine.get_meta("replica.exec_pos").unwrap().unwrap()).unwrap();
    assert_eq!(exec["file"], "primary-bin.000002");

    // Applying the same logs again applies nothing: every GTID is already contained.
    let again = apply_log_files(&applier, &fixture_dir(), "primary-bin", 2).unwrap();
    assert_eq!(again.applied, 0);
    assert_eq!(again.skipped, 13);
    assert_eq!(
        rows(&engine, "SELECT id, name, price, created, note FROM fx.items ORDER BY id"),
        expected
    );
}

#[test]
fn own_server_id_is_skipped_with_its_position() {
    // As if we were server 1: every group is ours, so nothing is applied but the position moves.
    let engine = Engine::open_temporary().unwrap();
    let applier = Applier::new(engine.clone()).unwrap();
    let report = apply_log_files(&applier, &fixture_dir(), "primary-bin", 1).unwrap();
    assert_eq!(report.applied, 0);
    assert_eq!(report.skipped, 13);
    assert_eq!(engine.get_meta("replica.gtid_slave_pos").unwrap().unwrap(), b"0-1-13");
}
