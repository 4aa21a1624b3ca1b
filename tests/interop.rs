//! Interop with MariaDB's own tools: sysbench in both prepared-statement modes against a repld primary that
//! replicates, then `mariadb-binlog -c` on every binlog and relay log file the servers wrote.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every file under `dir` that starts with the binlog magic `\xfebin` (binlogs and relay logs).
fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p).map(|b| b.starts_with(b"\xfebin")).unwrap_or(false) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn sysbench_both_ps_modes_then_mariadb_binlog_decodes_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut primary = Server::primary(dir.path());
    let mut replica = Server::replica(dir.path(), "replica", 2, primary.port);
    for ps in ["--db-ps-mode=disable", "--db-ps-mode=auto"] {
        let opts = ["--tables=2", "--table-size=500", ps];
        for (test, time) in [("oltp_read_write", "3"), ("oltp_insert", "2")] {
            sysbench(primary.port, &[&[test][..], &opts[..], &["prepare"]].concat());
            let t = format!("--time={time}");
            let run = sysbench(
                primary.port,
                &[&[test][..], &opts[..], &["--threads=2", &t, "run"]].concat(),
            );
            assert!(run.contains("transactions:"), "no sysbench summary:\n{run}");
            assert!(!run.contains("FATAL"), "sysbench reported an error:\n{run}");
            wait_caught_up(&primary, &replica);
            let tables = ["sbtest.sbtest1", "sbtest.sbtest2"];
            assert_eq!(checksums(&replica, &tables), checksums(&primary, &tables));
            sysbench(primary.port, &[&[test][..], &opts[..], &["cleanup"]].concat());
        }
    }
    wait_caught_up(&primary, &replica);
    assert_eq!(replica.stop(), Some(0));
    assert_eq!(primary.stop(), Some(0));
    let files = log_files(dir.path());
    assert!(files.len() >= 2, "expected binlog and relay log files, found {files:?}");
    let mut decoded_queries = 0;
    for f in &files {
        let out =
            Command::new("mariadb-binlog").arg("-c").arg(f).output().expect("run mariadb-binlog");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "mariadb-binlog -c {} failed: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !text.contains("was not closed properly"),
            "{} left in use after a clean stop",
            f.display()
        );
        decoded_queries += text.matches("INSERT INTO").count();
    }
    assert!(
        decoded_queries > 100,
        "mariadb-binlog showed only {decoded_queries} INSERT statements"
    );
}
