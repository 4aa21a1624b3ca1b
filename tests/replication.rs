//! End-to-end replication: real `repld` binaries, a primary with replicas, sysbench as the load.

mod common;

use common::*;
use std::time::{Duration, Instant};

const SB_TABLES: &[&str] = &["sbtest.sbtest1", "sbtest.sbtest2"];
const SB_OPTS: &[&str] = &["--tables=2", "--table-size=2000"];

fn sb(port: u16, test: &str, extra: &[&str]) -> String {
    let mut args = vec![test];
    args.extend_from_slice(SB_OPTS);
    args.extend_from_slice(extra);
    sysbench(port, &args)
}

fn assert_same_tables(primary: &Server, replicas: &[&Server], tables: &[&str]) {
    let want = checksums(primary, tables);
    for r in replicas {
        assert_eq!(
            checksums(r, tables),
            want,
            "replica on port {} differs from the primary",
            r.port
        );
    }
}

/// A dump that lingers as long as allowed (1 s between sends) still delivers every commit: the
/// ones made durable during the linger go out after it, the last of a burst included, with nothing
/// else committed to wake the dump again.
#[test]
fn lingering_dump_delivers_every_commit() {
    let dir = test_dir();
    let primary = Server::primary_with(dir.path(), &["--dump-linger-us", "1000000"]);
    let replica = Server::replica(dir.path(), "replica", 2, primary.port);
    primary.sql("CREATE DATABASE lg; CREATE TABLE lg.t (id INT PRIMARY KEY, v INT NOT NULL)");
    for burst in 0..3 {
        let inserts: String = (0..20)
            .map(|i| format!("INSERT INTO lg.t VALUES ({}, {i});", burst * 100 + i))
            .collect();
        primary.sql(&inserts);
        wait_caught_up(&primary, &replica);
        assert_eq!(
            replica.sql("SELECT COUNT(*) FROM lg.t").trim(),
            ((burst + 1) * 20).to_string(),
            "burst {burst}"
        );
    }
    assert_same_tables(&primary, &[&replica], &["lg.t"]);
}

#[test]
fn sysbench_load_converges_on_two_replicas() {
    let dir = test_dir();
    let primary = Server::primary(dir.path());
    let r1 = Server::replica(dir.path(), "replica1", 2, primary.port);
    let r2 = Server::replica(dir.path(), "replica2", 3, primary.port);
    sb(primary.port, "oltp_read_write", &["prepare"]);
    sb(primary.port, "oltp_read_write", &["--threads=4", "--time=4", "run"]);
    sb(primary.port, "oltp_insert", &["--threads=4", "--time=2", "--db-ps-mode=disable", "run"]);
    wait_caught_up(&primary, &r1);
    wait_caught_up(&primary, &r2);
    assert_same_tables(&primary, &[&r1, &r2], SB_TABLES);
    // The replicas report what they applied, MySQL-style.
    for r in [&r1, &r2] {
        assert_eq!(replica_field(r, "Slave_IO_Running").as_deref(), Some("Yes"));
        assert_eq!(replica_field(r, "Slave_SQL_Running").as_deref(), Some("Yes"));
        assert_eq!(replica_field(r, "Last_SQL_Errno").as_deref(), Some("0"));
        assert_eq!(replica_field(r, "Master_Server_Id").as_deref(), Some("1"));
    }
    // The primary lists both replicas with their client ports and how far it has sent them.
    let gtid = primary.sql("SELECT @@gtid_binlog_pos");
    let hosts = primary.sql("SHOW SLAVE HOSTS");
    for (r, id) in [(&r1, 2), (&r2, 3)] {
        let want = format!("{id}\t127.0.0.1\t{}\t1\t", r.port);
        let line =
            hosts.lines().find(|l| l.starts_with(&want)).unwrap_or_else(|| panic!("{hosts}"));
        assert!(line.ends_with(&format!("\t{}", gtid.trim())), "{line} / {gtid}");
    }
    // Replicas are read-only for clients.
    let err = mariadb_try(r1.port, "INSERT INTO sbtest.sbtest1 (k, c, pad) VALUES (1, 'x', 'y')")
        .unwrap_err();
    assert!(err.contains("1290"), "expected ERROR 1290, got {err}");
}

#[test]
fn replica_killed_during_load_converges() {
    let dir = test_dir();
    let primary = Server::primary(dir.path());
    let mut replica = Server::replica(dir.path(), "replica", 2, primary.port);
    sb(primary.port, "oltp_write_only", &["prepare"]);
    let port = primary.port;
    let load = std::thread::spawn(move || {
        sb(port, "oltp_write_only", &["--threads=4", "--time=6", "run"])
    });
    // Kill it once it has applied part of the load.
    let start = replica_field(&replica, "Exec_Master_Log_Pos").unwrap_or_default();
    assert!(wait_until(TIMEOUT, || replica_field(&replica, "Exec_Master_Log_Pos")
        .unwrap_or_default()
        != start));
    replica.kill9();
    replica.restart();
    load.join().expect("load thread");
    wait_caught_up(&primary, &replica);
    assert_same_tables(&primary, &[&replica], SB_TABLES);
    // No transaction applied twice or missed: the applied GTID position is exactly the primary's.
    assert_eq!(replica.sql("SELECT @@gtid_slave_pos"), primary.sql("SELECT @@gtid_binlog_pos"));
}

#[test]
fn primary_outage_shows_connecting_and_null_lag_then_resumes() {
    let dir = test_dir();
    let mut primary = Server::primary(dir.path());
    let replica = Server::replica(dir.path(), "replica", 2, primary.port);
    primary.sql("CREATE DATABASE o; CREATE TABLE o.t (id INT PRIMARY KEY, v INT); INSERT INTO o.t VALUES (1, 1)");
    wait_caught_up(&primary, &replica);
    assert_eq!(primary.stop(), Some(0), "clean shutdown exits 0");
    // For 10 s the replica keeps showing the outage: IO thread connecting, lag NULL, SQL thread fine.
    let down_since = Instant::now();
    assert!(wait_until(TIMEOUT, || replica_field(&replica, "Slave_IO_Running").as_deref()
        == Some("Connecting")));
    while down_since.elapsed() < Duration::from_secs(10) {
        assert_eq!(replica_field(&replica, "Seconds_Behind_Master").as_deref(), Some("NULL"));
        assert_eq!(replica_field(&replica, "Slave_SQL_Running").as_deref(), Some("Yes"));
        std::thread::sleep(Duration::from_millis(200));
    }
    primary.restart();
    primary.sql("INSERT INTO o.t VALUES (2, 2)");
    wait_caught_up(&primary, &replica);
    assert_eq!(replica.sql("SELECT id, v FROM o.t ORDER BY id"), "1\t1\n2\t2\n");
    assert_eq!(replica_field(&replica, "Slave_IO_Running").as_deref(), Some("Yes"));
}
