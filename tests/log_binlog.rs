//! Binary log: fixture round trips, writer/reader sequences, recovery, corruption, group commit.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use repld::log::event::{intvar, types};
use repld::log::{
    find_gtid_start, BinlogConfig, BinlogWriter, Event, EventBody, GtidState, LogReader,
    QueryStatus, RelayLogConfig, RelayLogWriter, TxnEvents, UserVarValue,
};
use repld::Error;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mariadb/statement")
}

fn config(dir: &Path) -> BinlogConfig {
    BinlogConfig { dir: dir.to_path_buf(), basename: "repld-bin".into(), ..Default::default() }
}

fn dml(sql: &str) -> TxnEvents {
    TxnEvents {
        is_ddl: false,
        events: vec![
            (1_700_000_000, EventBody::Intvar { kind: intvar::INSERT_ID, value: 1000 }),
            (1_700_000_000, EventBody::query(7, "fx", QueryStatus::standard(), sql)),
        ],
    }
}

fn ddl(sql: &str) -> TxnEvents {
    TxnEvents {
        is_ddl: true,
        events: vec![(1_700_000_000, EventBody::query(7, "", QueryStatus::standard(), sql))],
    }
}

fn read_all(dir: &Path, file: &str, pos: u64) -> Vec<repld::log::RawLogEvent> {
    let mut r = LogReader::open(dir, "repld-bin", file, pos).unwrap();
    let mut out = Vec::new();
    while let Some(ev) = r.next_event().unwrap() {
        out.push(ev);
    }
    out
}

#[test]
fn mariadb_fixtures_decode_and_reencode_identically() {
    let dir = fixture_dir();
    let mut count = 0;
    for base in ["primary-bin", "relay/replica-relay-bin"] {
        let (sub, basename) = match base.split_once('/') {
            Some((s, b)) => (dir.join(s), b),
            None => (dir.clone(), base),
        };
        let mut r = LogReader::open(&sub, basename, "", 4).unwrap();
        while let Some(ev) = r.next_event().unwrap() {
            assert_eq!(ev.event.encode(), ev.bytes, "{}:{} {:?}", ev.file, ev.pos, ev.event.body);
            assert!(
                !matches!(ev.event.body, EventBody::Unknown(_)),
                "{}:{} unknown",
                ev.file,
                ev.pos
            );
            count += 1;
        }
    }
    assert!(count > 60, "only {count} events");
    // Specific values from the decoded text.
    let evs = {
        let mut r = LogReader::open(&dir, "primary-bin", "primary-bin.000002", 4).unwrap();
        std::iter::from_fn(|| r.next_event().unwrap()).collect::<Vec<_>>()
    };
    let uv = evs.iter().find(|e| e.event.header.type_code == types::USER_VAR).unwrap();
    match &uv.event.body {
        EventBody::UserVar { name, value: UserVarValue::String(v), charset, .. } => {
            assert_eq!((name.as_str(), v.as_slice(), *charset), ("v", &b"from-user-var"[..], 33));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn find_gtid_start_on_fixtures() {
    let dir = fixture_dir();
    let at = |s: &str| find_gtid_start(&dir, "primary-bin", &s.parse().unwrap());
    assert_eq!(at("").unwrap(), ("primary-bin.000001".into(), 330));
    assert_eq!(at("0-1-2").unwrap(), ("primary-bin.000001".into(), 726));
    assert_eq!(at("0-1-7").unwrap(), ("primary-bin.000002".into(), 344));
    assert_eq!(at("0-1-13").unwrap(), ("primary-bin.000003".into(), 412));
    assert!(matches!(at("0-1-14"), Err(Error::PositionNotFound(_))));
    assert!(matches!(at("0-1-13,5-1-1"), Err(Error::PositionNotFound(_))));
}

#[test]
fn writer_files_decode_with_mariadb_binlog() {
    let tmp = tempfile::tempdir().unwrap();
    let (w, report) = BinlogWriter::open(config(tmp.path())).unwrap();
    assert_eq!(report.bytes_cut, 0);
    let a = w.append(&ddl("CREATE DATABASE fx")).unwrap();
    w.sync(&a).unwrap();
    let txn = TxnEvents {
        is_ddl: false,
        events: vec![
            (1_700_000_000, EventBody::Rand { seed1: 12345, seed2: 67890 }),
            (
                1_700_000_000,
                EventBody::UserVar {
                    name: "who".into(),
                    value: UserVarValue::String(b"probe-user".to_vec()),
                    charset: 45,
                    flags: None,
                    extra: vec![],
                },
            ),
            (
                1_700_000_000,
                EventBody::query(
                    7,
                    "fx",
                    QueryStatus::standard(),
                    "INSERT INTO t VALUES (RAND(), @who)",
                ),
            ),
        ],
    };
    let b = w.append(&txn).unwrap();
    w.sync(&b).unwrap();
    w.flush_logs().unwrap();
    let c = w.append(&dml("INSERT INTO t (id, v) VALUES (0, 'auto-inc')")).unwrap();
    w.sync(&c).unwrap();
    w.close().unwrap();
    assert_eq!(c.gtid.to_string(), "0-1-3");
    let files = w.files().unwrap();
    assert_eq!(files.len(), 2);
    let mut all = String::new();
    for (name, _) in &files {
        let out =
            Command::new("mariadb-binlog").arg("-c").arg(tmp.path().join(name)).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}: {}\n{text}", String::from_utf8_lossy(&out.stderr));
        assert!(!text.contains("not closed properly"), "{text}");
        all.push_str(&text);
    }
    for needle in [
        "GTID 0-1-1 ddl",
        "CREATE DATABASE fx",
        "GTID 0-1-2 trans",
        "SET @@RAND_SEED1=12345, @@RAND_SEED2=67890",
        "SET @`who`:=_utf8mb4 X'70726F62652D75736572'",
        "INSERT INTO t VALUES (RAND(), @who)",
        "Xid = 1",
        "Rotate to repld-bin.000002",
        "Gtid list [0-1-2]",
        "SET INSERT_ID=1000",
        "use `fx`",
        "SET TIMESTAMP=1700000000",
        "Xid = 2",
        "Stop",
        "at startup",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in\n{all}");
    }
}

#[test]
fn append_rotate_read_from_gtid_and_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = BinlogConfig { max_binlog_size: 4096, ..config(tmp.path()) };
    let (w, _) = BinlogWriter::open(cfg.clone()).unwrap();
    let mut durable = w.durable();
    let mut apps = Vec::new();
    for i in 0..100 {
        let a =
            w.append(&dml(&format!("INSERT INTO t VALUES ({i}, '{}')", "x".repeat(100)))).unwrap();
        w.sync(&a).unwrap();
        apps.push(a);
    }
    assert!(durable.has_changed().unwrap());
    assert_eq!(*durable.borrow_and_update(), w.durable_pos());
    assert!(w.files().unwrap().len() > 3);
    // Every transaction lies within one file; reading from the start returns them all in order.
    let evs = read_all(tmp.path(), "", 4);
    let gtids: Vec<String> = evs
        .iter()
        .filter_map(|e| match e.event.body {
            EventBody::Gtid { seq_no, .. } => Some(format!("0-1-{seq_no}")),
            _ => None,
        })
        .collect();
    assert_eq!(gtids.len(), 100);
    assert_eq!(gtids[99], "0-1-100");
    // Start at a GTID.
    let (file, pos) = find_gtid_start(tmp.path(), "repld-bin", &"0-1-50".parse().unwrap()).unwrap();
    assert_eq!((file.clone(), pos), (apps[50].file.clone(), apps[50].start_pos));
    let evs = read_all(tmp.path(), &file, pos);
    assert!(matches!(evs[0].event.body, EventBody::Gtid { seq_no: 51, .. }));
    // Limit: never past the durable position.
    let mut r =
        LogReader::open(tmp.path(), "repld-bin", &apps[10].file, apps[10].start_pos).unwrap();
    r.set_limit(Some(repld::log::LogPos::new(apps[10].file.clone(), apps[10].end_pos)));
    let mut n = 0;
    while r.next_event().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 4);
    assert_eq!(r.position().pos, apps[10].end_pos);
    drop(w); // crash-like: no close
    let (w2, report) = BinlogWriter::open(cfg).unwrap();
    assert_eq!(report.bytes_cut, 0);
    assert!(report.was_in_use);
    assert_eq!(report.gtid_state.to_string(), "0-1-100");
    let a = w2.append(&dml("INSERT INTO t VALUES (1)")).unwrap();
    assert_eq!(a.gtid.to_string(), "0-1-101");
}

/// Truncating the newest file at every byte offset and reopening keeps exactly the whole transactions.
#[test]
fn truncate_at_every_offset_recovers() {
    let src = tempfile::tempdir().unwrap();
    let (w, _) = BinlogWriter::open(config(src.path())).unwrap();
    let mut ends = vec![];
    let mut header_end = 0;
    for i in 0..4 {
        let txn = if i == 2 {
            ddl("CREATE TABLE t (id INT)")
        } else {
            dml(&format!("INSERT INTO t VALUES ({i})"))
        };
        let a = w.append(&txn).unwrap();
        w.sync(&a).unwrap();
        if i == 0 {
            header_end = a.start_pos;
        }
        ends.push((a.end_pos, a.gtid.seq_no));
    }
    let (name, len, _) = w.status();
    drop(w);
    let bytes = std::fs::read(src.path().join(&name)).unwrap();
    for cut in 0..=len {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::copy(src.path().join("repld-bin.index"), tmp.path().join("repld-bin.index"))
            .unwrap();
        std::fs::write(tmp.path().join(&name), &bytes[..cut as usize]).unwrap();
        let (w, report) = BinlogWriter::open(config(tmp.path())).unwrap();
        let keep = ends.iter().rev().find(|(e, _)| *e <= cut);
        let expect_len = match keep {
            Some((e, _)) => *e,
            None if cut >= header_end => header_end,
            None => 0,
        };
        let expect_seq = keep.map_or(0, |k| k.1);
        assert_eq!(report.bytes_cut, cut - expect_len.min(cut), "cut at {cut}");
        assert_eq!(report.gtid_state.get(0).map_or(0, |g| g.seq_no), expect_seq, "cut at {cut}");
        let a = w.append(&dml("INSERT INTO t VALUES (9)")).unwrap();
        assert_eq!(a.gtid.seq_no, expect_seq + 1);
        w.close().unwrap();
        // Everything left reads back cleanly.
        read_all(tmp.path(), "", 4);
    }
}

#[test]
fn flipped_byte_gives_crc_error_naming_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let (w, _) = BinlogWriter::open(config(tmp.path())).unwrap();
    let a = w.append(&dml("INSERT INTO t VALUES (1)")).unwrap();
    w.sync(&a).unwrap();
    w.close().unwrap();
    let path = tmp.path().join(&a.file);
    let mut bytes = std::fs::read(&path).unwrap();
    let query_at = a.start_pos + 42 + 32;
    bytes[query_at as usize + 40] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let mut r = LogReader::open(tmp.path(), "repld-bin", &a.file, a.start_pos).unwrap();
    r.next_event().unwrap();
    r.next_event().unwrap();
    let err = r.next_event().unwrap_err().to_string();
    assert!(
        err.contains(&format!("{}:{query_at}", a.file)) && err.contains("CRC32 mismatch"),
        "{err}"
    );
    let out = Command::new("mariadb-binlog").arg("-c").arg(&path).output().unwrap();
    assert!(!out.status.success());
}

#[test]
fn group_commit_shares_fsyncs() {
    let tmp = tempfile::tempdir().unwrap();
    let (w, _) = BinlogWriter::open(config(tmp.path())).unwrap();
    let w = Arc::new(w);
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let w = w.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let a = w.append(&dml(&format!("INSERT INTO t VALUES ({t}, {i})"))).unwrap();
                    w.sync(&a).unwrap();
                    assert!(w.durable_pos() >= repld::log::LogPos::new(a.file.clone(), a.end_pos));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let fsyncs = w.fsync_count();
    assert!(fsyncs < 400, "{fsyncs} fsyncs for 400 commits");
    assert_eq!(w.status().2.to_string(), "0-1-400");
}

#[test]
fn write_error_poisons_and_leaves_no_partial_transaction() {
    let tmp = tempfile::tempdir().unwrap();
    let (w, _) = BinlogWriter::open(config(tmp.path())).unwrap();
    let a = w.append(&dml("INSERT INTO t VALUES (1)")).unwrap();
    w.sync(&a).unwrap();
    w.inject_write_fault(50);
    assert!(matches!(w.append(&dml("INSERT INTO t VALUES (2)")), Err(Error::Io(_))));
    assert!(w.append(&dml("INSERT INTO t VALUES (3)")).is_err());
    assert_eq!(std::fs::metadata(tmp.path().join(&a.file)).unwrap().len(), a.end_pos);
    drop(w);
    let (w, report) = BinlogWriter::open(config(tmp.path())).unwrap();
    assert_eq!(report.bytes_cut, 0);
    assert_eq!(w.append(&dml("INSERT INTO t VALUES (2)")).unwrap().gtid.seq_no, 2);
}

/// The purge hook (the server makes its store durable there) runs before any file is deleted, and
/// a failing hook deletes nothing.
#[test]
fn purge_runs_its_hook_first() {
    let tmp = tempfile::tempdir().unwrap();
    let (w, _) = BinlogWriter::open(config(tmp.path())).unwrap();
    for _ in 0..2 {
        w.append(&dml("INSERT INTO t VALUES (1)")).unwrap();
        w.flush_logs().unwrap();
    }
    let names: Vec<String> = w.files().unwrap().into_iter().map(|f| f.0).collect();
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
    let calls = Arc::new(AtomicU32::new(0));
    let fail = Arc::new(AtomicBool::new(true));
    let (c, f) = (calls.clone(), fail.clone());
    w.set_before_purge(Arc::new(move || {
        c.fetch_add(1, SeqCst);
        if f.load(SeqCst) {
            return Err(Error::Io("store flush failed".into()));
        }
        Ok(())
    }));
    let err = w.purge_to(&names[1], false).unwrap_err().to_string();
    assert!(err.contains("store flush failed"), "{err}");
    assert_eq!(w.files().unwrap().len(), names.len(), "nothing deleted after a failed hook");
    assert!(tmp.path().join(&names[0]).exists());
    fail.store(false, SeqCst);
    assert_eq!(w.purge_to(&names[1], false).unwrap(), vec![names[0].clone()]);
    assert_eq!(calls.load(SeqCst), 2);
}

#[test]
fn purge_respects_replica_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let (w, _) = BinlogWriter::open(config(tmp.path())).unwrap();
    for _ in 0..3 {
        w.append(&dml("INSERT INTO t VALUES (1)")).unwrap();
        w.flush_logs().unwrap();
    }
    let names: Vec<String> = w.files().unwrap().into_iter().map(|f| f.0).collect();
    assert_eq!(names.len(), 4);
    let hold = w.hold("replica-7", &names[1]);
    let err = w.purge_to(&names[2], false).unwrap_err().to_string();
    assert!(err.contains("replica-7") && err.contains(&names[1]), "{err}");
    assert_eq!(w.purge_to(&names[1], false).unwrap(), vec![names[0].clone()]);
    hold.set_file(&names[3]);
    assert_eq!(w.purge_to(&names[3], false).unwrap(), names[1..3].to_vec());
    assert!(matches!(
        LogReader::open(tmp.path(), "repld-bin", &names[0], 4),
        Err(Error::LogPurged(_))
    ));
    assert!(matches!(
        find_gtid_start(tmp.path(), "repld-bin", &GtidState::new()),
        Err(Error::LogPurged(_))
    ));
    drop(hold);
    assert!(w.purge_to("nope.000001", false).is_err());
}

#[test]
fn relay_log_copies_events_verbatim() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg =
        RelayLogConfig { dir: tmp.path().into(), basename: "relay".into(), ..Default::default() };
    let (relay, _) = RelayLogWriter::open(cfg.clone()).unwrap();
    let fixture = fixture_dir();
    let mut r = LogReader::open(&fixture, "primary-bin", "", 4).unwrap();
    let mut sent = Vec::new();
    while let Some(ev) = r.next_event().unwrap() {
        relay.append_raw(&[&ev.bytes]).unwrap();
        sent.push(ev.bytes);
    }
    relay.rotate().unwrap();
    relay.close().unwrap();
    let mut rr = LogReader::open(tmp.path(), "relay", "", 4).unwrap();
    let mut got = Vec::new();
    let mut own = 0;
    while let Some(ev) = rr.next_event().unwrap() {
        if ev.event.header.server_id == 2 {
            own += 1;
        } else {
            got.push(ev.bytes);
        }
    }
    assert_eq!(got, sent);
    assert_eq!(own, 4); // FDE, ROTATE, FDE, STOP
    for (name, _) in relay.files().unwrap() {
        let out =
            Command::new("mariadb-binlog").arg("-c").arg(tmp.path().join(&name)).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let first = relay.files().unwrap()[1].0.clone();
    assert_eq!(relay.purge_applied(&first).unwrap().len(), 1);
    let decoded = Event::decode(&got[0]).unwrap();
    assert!(matches!(decoded.body, EventBody::FormatDescription { .. }));
}
