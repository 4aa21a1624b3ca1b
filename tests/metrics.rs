//! The Prometheus endpoint of real `repld` processes: a primary's commits, fsyncs and binlog bytes,
//! and a replica's applied transactions, received bytes and lag, as an operator's scraper sees them.

mod common;

use common::*;
use std::io::{Read, Write};

fn scrape(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn value(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[test]
fn metrics_follow_commits_and_replication() {
    let dir = test_dir();
    let (pm, rm) = (free_port(), free_port());
    let primary =
        Server::primary_with(dir.path(), &["--metrics-listen", &format!("127.0.0.1:{pm}")]);
    let replica = Server::replica_with(
        dir.path(),
        "replica",
        2,
        primary.port,
        &["--metrics-listen", &format!("127.0.0.1:{rm}")],
    );
    let before = scrape(pm).expect("primary metrics endpoint");
    assert!(before.starts_with("HTTP/1.1 200 OK"), "{before}");
    let commits0 = value(&before, "repld_commits_total").expect("commits metric");
    primary.sql("CREATE DATABASE m; CREATE TABLE m.t (id INT PRIMARY KEY)");
    for i in 0..5 {
        primary.sql(&format!("INSERT INTO m.t VALUES ({i})"));
    }
    let after = scrape(pm).unwrap();
    assert_eq!(value(&after, "repld_commits_total"), Some(commits0 + 7.0), "{after}");
    let fsyncs = value(&after, "repld_binlog_fsyncs_total").unwrap();
    assert!((1.0..=7.0).contains(&fsyncs), "{after}");
    assert_eq!(value(&after, "repld_binlog_fsync_seconds_count"), Some(fsyncs));
    assert!(value(&after, "repld_binlog_bytes_total").unwrap() > 7.0 * 60.0);
    wait_caught_up(&primary, &replica);
    assert!(
        wait_until(TIMEOUT, || {
            let r = scrape(rm).unwrap_or_default();
            value(&r, "repld_replica_applied_total") == Some(7.0)
                && value(&r, "repld_replica_lag_seconds") == Some(0.0)
                && value(&r, "repld_replica_received_bytes_total").unwrap_or(0.0) > 0.0
        }),
        "{:?}",
        scrape(rm)
    );
    // Anything but GET /metrics is a 404.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", pm)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 404"), "{out}");
}
