//! `replctl binlog`: the decoder against mariadb-binlog's own text of real MariaDB binlogs, replays of a
//! repld primary's binlog into a fresh primary (whole and by ranges), and damaged files.

mod common;

use common::{mariadb_try, test_dir, wait_until, Server, TIMEOUT};
use repld::binlog_text::{decode_files, parse_datetime, Options};
use repld::log::event::{Event, EventBody, QueryCharset, QueryStatus, UserVarValue};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const FIXTURES: &str = "/work/shared/fixtures/mariadb/statement";

fn fixture_dir() -> PathBuf {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mariadb/statement");
    if local.join("primary-bin.000001").exists() {
        local
    } else {
        PathBuf::from(FIXTURES)
    }
}

fn decode(paths: &[PathBuf], opts: &Options) -> String {
    let mut out = Vec::new();
    decode_files(paths, opts, &mut out).expect("decode");
    String::from_utf8(out).expect("utf8")
}

/// The executable lines: everything but `#` comment lines and `BINLOG '...'` blocks.
fn sql_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_base64 = false;
    for l in text.lines() {
        if in_base64 {
            in_base64 = !l.starts_with("'/*!*/;");
            continue;
        }
        if l.starts_with("BINLOG '") {
            in_base64 = true;
            continue;
        }
        if !l.starts_with('#') {
            out.push(l.to_string());
        }
    }
    out
}

fn replctl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_replctl"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run replctl")
}

/// `replctl binlog ARGS | mariadb -P port`; panics with both outputs on failure.
fn replay(port: u16, args: &[&str]) {
    let out = replctl(&[&["binlog"], args].concat());
    assert!(
        out.status.success(),
        "replctl binlog {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut child = Command::new("mariadb")
        .args(["--no-defaults", "-h127.0.0.1", "-uroot", "--connect-timeout=5"])
        .arg(format!("-P{port}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mariadb");
    child.stdin.take().expect("stdin").write_all(&out.stdout).expect("pipe");
    let done = child.wait_with_output().expect("mariadb");
    assert!(
        done.status.success(),
        "replay of {args:?} failed: {}\n--- script ---\n{}",
        String::from_utf8_lossy(&done.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// (a) The statements and session context we print equal what mariadb-binlog printed for real MariaDB
/// binlogs, one file at a time and all files in one run.
#[test]
fn fixture_binlogs_match_mariadb_binlog_text() {
    let dir = fixture_dir();
    for n in 1..=3 {
        let bin = dir.join(format!("primary-bin.00000{n}"));
        let expected = std::fs::read_to_string(dir.join(format!("primary-bin.00000{n}.txt")))
            .expect("fixture text");
        let ours = decode(std::slice::from_ref(&bin), &Options::default());
        assert_eq!(sql_lines(&ours), sql_lines(&expected), "file {n}:\n{ours}");
        // The header comments carry the same positions, server ids and CRCs.
        let at = |t: &str| t.lines().filter(|l| l.starts_with("# at ")).count();
        assert_eq!(at(&ours), at(&expected));
        for l in expected.lines().filter(|l| l.contains("end_log_pos")) {
            let tail = &l[l.find(" server id").expect("header")..];
            assert!(ours.contains(tail), "missing header {tail:?} in\n{ours}");
        }
    }
}

/// Our own encoder's events with every session-context variant, printed by us and by mariadb-binlog:
/// the executable lines must agree (DOUBLE user variables excepted: we print them exactly).
#[test]
fn crafted_events_match_mariadb_binlog() {
    if Command::new("mariadb-binlog").arg("--version").output().is_err() {
        eprintln!("mariadb-binlog not installed; skipped");
        return;
    }
    let dir = test_dir();
    let path = dir.path().join("crafted-bin.000001");
    let mut bytes = repld::log::event::BINLOG_MAGIC.to_vec();
    let mut push = |ts: u32, flags: u16, body: EventBody| {
        let pos = bytes.len() as u32;
        let mut ev = Event::new(ts, 7, 0, flags, body);
        let size = ev.encode().len() as u32;
        ev.header.log_pos = pos + size;
        bytes.extend_from_slice(&ev.encode());
    };
    push(1_700_000_000, 0, EventBody::format_description("10.11.19-MariaDB-log", 0));
    push(1_700_000_000, 0, EventBody::GtidList(vec![]));
    let gtid = |seq, flags2| EventBody::Gtid {
        seq_no: seq,
        domain_id: 3,
        flags2,
        commit_id: 0,
        extra: vec![],
    };
    let std = QueryStatus::standard();
    push(1_700_000_001, 0, gtid(1, repld::log::event::gtid_flags::FOR_DDL));
    push(1_700_000_001, 0, EventBody::query(5, "db1", std.clone(), "CREATE TABLE t (a INT)"));
    push(1_700_000_002, 0, gtid(2, repld::log::event::gtid_flags::FOR_DML));
    push(1_700_000_002, 0, EventBody::Intvar { kind: 1, value: 9 });
    push(1_700_000_002, 0, EventBody::Intvar { kind: 2, value: 11 });
    push(1_700_000_002, 0, EventBody::Rand { seed1: 123, seed2: 456 });
    for (name, value, charset, flags) in [
        ("s", UserVarValue::String(b"it's".to_vec()), 45, Some(0)),
        ("e", UserVarValue::String(Vec::new()), 33, Some(0)),
        ("n", UserVarValue::Null, 63, None),
        ("i", UserVarValue::Int { value: -5, unsigned: false }, 63, Some(0)),
        ("u", UserVarValue::Int { value: -1, unsigned: true }, 63, Some(1)),
        (
            "d",
            UserVarValue::Decimal { precision: 4, scale: 2, bytes: vec![0x7e, 0xf3] },
            63,
            Some(0),
        ),
        ("we`ird", UserVarValue::String(b"x".to_vec()), 8, Some(0)),
    ] {
        push(
            1_700_000_002,
            0,
            EventBody::UserVar { name: name.into(), value, charset, flags, extra: vec![] },
        );
    }
    let mut changed = std.clone();
    changed.flags2 = Some((1 << 19) | (1 << 26) | (1 << 14));
    changed.sql_mode = Some(0);
    changed.auto_increment = Some((2, 1));
    changed.charset = Some(QueryCharset { client: 33, connection: 33, server: 8 });
    changed.time_zone = Some("SYSTEM".into());
    changed.lc_time_names = Some(2);
    changed.charset_database = Some(8);
    changed.hrnow_us = Some(5);
    push(1_700_000_002, 0, EventBody::query(5, "db2", changed, "INSERT INTO t VALUES (1)"));
    push(1_700_000_002, 0, EventBody::Xid(77));
    push(1_700_000_003, 0, gtid(3, repld::log::event::gtid_flags::FOR_DML));
    push(1_700_000_003, 0, EventBody::query(6, "db2", std.clone(), "UPDATE t SET a = 2"));
    push(1_700_000_003, 0, EventBody::Xid(78));
    push(1_700_000_004, 0, EventBody::Rotate { position: 4, next_file: "x.000002".into() });
    std::fs::write(&path, &bytes).unwrap();

    let theirs = Command::new("mariadb-binlog").arg(&path).output().expect("mariadb-binlog");
    assert!(theirs.status.success(), "{}", String::from_utf8_lossy(&theirs.stderr));
    let theirs = String::from_utf8_lossy(&theirs.stdout).into_owned();
    let ours = decode(std::slice::from_ref(&path), &Options::default());
    assert_eq!(sql_lines(&ours), sql_lines(&theirs), "ours:\n{ours}\ntheirs:\n{theirs}");
    for l in theirs.lines().filter(|l| l.contains("end_log_pos")) {
        let tail = &l[l.find(" server id").expect("header")..];
        assert!(ours.contains(tail), "missing header {tail:?} in\n{ours}");
    }
    // A DOUBLE is printed exactly, in exponent form.
    let mut real = repld::log::event::BINLOG_MAGIC.to_vec();
    let fde = Event::new(1, 1, 0, 0, EventBody::format_description("x", 0));
    let n = fde.encode().len() as u32;
    real.extend_from_slice(&Event::new(1, 1, 4 + n, 0, fde.body).encode());
    let uv = EventBody::UserVar {
        name: "r".into(),
        value: UserVarValue::Real(0.1 + 0.2),
        charset: 63,
        flags: Some(0),
        extra: vec![],
    };
    real.extend_from_slice(&Event::new(1, 1, 0, 0, uv).encode());
    let rpath = dir.path().join("real-bin.000001");
    std::fs::write(&rpath, &real).unwrap();
    let text = decode(&[rpath], &Options::default());
    // A lone USER_VAR is an incomplete group at the end of input: reported, not printed.
    assert!(text.contains("is not complete in the input"), "{text}");
    assert_eq!(format!("{:e}", 0.1 + 0.2).parse::<f64>().unwrap(), 0.1 + 0.2);
}

/// Datetime and GTID selection on the fixture (all its transactions are at 2026-11-26 23:02:27 UTC).
#[test]
fn datetime_and_gtid_selection() {
    let dir = fixture_dir();
    let files: Vec<PathBuf> = (1..=3).map(|n| dir.join(format!("primary-bin.00000{n}"))).collect();
    let count = |t: &str| t.matches("SET @@session.gtid_seq_no=").count();
    assert_eq!(count(&decode(&files, &Options::default())), 13);
    let at = parse_datetime("2026-11-26 23:02:27").unwrap();
    let from = Options { start_datetime: Some(at), ..Default::default() };
    assert_eq!(count(&decode(&files, &from)), 13);
    let until = Options { stop_datetime: Some(at), ..Default::default() };
    assert_eq!(count(&decode(&files, &until)), 0);
    let later = Options { start_datetime: Some(at + 1), ..Default::default() };
    assert_eq!(count(&decode(&files, &later)), 0);
    let one = Options { gtids: "0-1-9,0-1-3".parse_gtids(), ..Default::default() };
    let text = decode(&files, &one);
    assert_eq!(count(&text), 2, "{text}");
    assert!(text.contains("gtid_seq_no=3*/") && text.contains("gtid_seq_no=9*/"));
    assert!(text.contains("ALTER TABLE items ADD COLUMN note"));
    // The session context is complete for the first printed statement even though earlier ones
    // were skipped.
    assert!(text.contains("use `fx`") && text.contains("SET @@session.sql_mode="));
    // Whole transactions only: a stop position inside GTID 0-1-3 (726..1109) leaves it out.
    let cut = Options { stop_position: Some(900), ..Default::default() };
    let text = decode(&files[..1], &cut);
    assert_eq!(count(&text), 2, "{text}");
    let cut = Options { start_position: Some(900), ..Default::default() };
    let text = decode(&files[..1], &cut);
    assert_eq!(count(&text), 4, "{text}");
    assert!(!text.contains("SET INSERT_ID=1/"));
}

trait ParseGtids {
    fn parse_gtids(&self) -> Vec<repld::log::Gtid>;
}
impl ParseGtids for str {
    fn parse_gtids(&self) -> Vec<repld::log::Gtid> {
        repld::binlog_text::parse_gtid_list(self).expect("gtids")
    }
}

const WORKLOAD: &str = "
CREATE DATABASE w;
USE w;
CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64), r DOUBLE, ts DATETIME, n INT);
CREATE TABLE log (id INT AUTO_INCREMENT PRIMARY KEY, ref INT, note VARCHAR(64));
INSERT INTO t (name, r, ts, n) VALUES ('a', RAND(), NOW(), 1), ('b', RAND(), NOW(), 2);
BEGIN;
INSERT INTO t (name, r, ts, n) VALUES ('c', RAND(), NOW(), 3);
INSERT INTO log (ref, note) VALUES (LAST_INSERT_ID(), 'after c');
UPDATE t SET n = n * 10 WHERE id <= 2;
COMMIT;
BEGIN;
INSERT INTO t (name, r, ts, n) VALUES ('rolled back', 0, NOW(), 0);
ROLLBACK;
SET @s = 'from-var', @i = -7, @d = 12.50, @nul = NULL, @f = 1.5e0;
INSERT INTO t (name, r, ts, n) VALUES (@s, @f, NOW(), @i);
INSERT INTO log (ref, note) VALUES (@d, CONCAT('d=', @d));
INSERT INTO log (ref, note) VALUES (1, @nul);
ALTER TABLE t ADD COLUMN extra VARCHAR(16) NULL;
UPDATE t SET extra = CONCAT('x', id), r = r + RAND() WHERE id % 2 = 1;
DELETE FROM log WHERE id = 2;
INSERT INTO t (name, r, ts, n) VALUES ('last', RAND(), NOW(), 99);
";

fn binlog_files(server: &Server) -> Vec<String> {
    let index = std::fs::read_to_string(server.data_dir.join("repld-bin.index")).expect("index");
    index
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let name =
                Path::new(l.trim()).file_name().expect("name").to_string_lossy().into_owned();
            server.data_dir.join(name).to_string_lossy().into_owned()
        })
        .collect()
}

fn rows(server: &Server) -> String {
    server.sql("SELECT * FROM w.t ORDER BY id; SELECT * FROM w.log ORDER BY id")
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// (b) A workload with NOW(), RAND(), auto-increment, LAST_INSERT_ID(), user variables and transactions,
/// replayed from the binlog into a fresh primary, gives the same tables.
#[test]
fn replay_reproduces_the_data() {
    let dir = test_dir();
    let original = Server::primary(&dir.path().join("a"));
    original.sql(WORKLOAD);
    original.sql("FLUSH BINARY LOGS");
    original.sql("USE w; INSERT INTO t (name, r, ts, n) VALUES ('after flush', RAND(), NOW(), 5)");
    let expected = rows(&original);
    let sums = common::checksums(&original, &["w.t", "w.log"]);
    // NOW() in a replay a second later differs unless SET TIMESTAMP is honoured.
    let started = now_secs();
    assert!(wait_until(TIMEOUT, || now_secs() > started));

    let fresh = Server::primary(&dir.path().join("b"));
    let files = binlog_files(&original);
    assert!(files.len() >= 2, "{files:?}");
    // mariadb-binlog prints the same SQL for our binlog (but DOUBLE user variables with %.14g).
    if let Ok(theirs) = Command::new("mariadb-binlog").args(&files).output() {
        let paths: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
        let keep = |l: &String| !l.starts_with("SET @`f`:=");
        let ours: Vec<String> =
            sql_lines(&decode(&paths, &Options::default())).into_iter().filter(keep).collect();
        let theirs: Vec<String> =
            sql_lines(&String::from_utf8_lossy(&theirs.stdout)).into_iter().filter(keep).collect();
        assert_eq!(ours, theirs);
    }
    let args: Vec<&str> = files.iter().map(|s| s.as_str()).collect();
    replay(fresh.port, &args);
    assert_eq!(rows(&fresh), expected);
    assert_eq!(common::checksums(&fresh, &["w.t", "w.log"]), sums);
}

/// (c) Replaying up to a stop position gives the rows as they were at that point, and continuing from
/// there with --start-position completes the data.
#[test]
fn position_range_replay_is_point_in_time() {
    let dir = test_dir();
    let original = Server::primary(&dir.path().join("a"));
    original.sql(
        "CREATE DATABASE w; USE w; CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v INT, ts DATETIME);
         INSERT INTO t (v, ts) VALUES (1, NOW()), (2, NOW()); BEGIN; UPDATE t SET v = v + 10; \
         INSERT INTO t (v, ts) VALUES (RAND() * 1000, NOW()); COMMIT;",
    );
    let status = original.sql("SHOW MASTER STATUS");
    let mut cols = status.split_whitespace();
    let (file, pos) = (cols.next().unwrap().to_string(), cols.next().unwrap().to_string());
    let at_point = original.sql("SELECT * FROM w.t ORDER BY id");
    original.sql("USE w; DELETE FROM t WHERE v > 11; INSERT INTO t (v, ts) VALUES (7, NOW())");
    original.sql("USE w; DROP TABLE t");
    let path = original.data_dir.join(&file).to_string_lossy().into_owned();

    let fresh = Server::primary(&dir.path().join("b"));
    replay(fresh.port, &[&path, "--stop-position", &pos]);
    assert_eq!(fresh.sql("SELECT * FROM w.t ORDER BY id"), at_point);
    // The rest, up to (not including) the DROP: its GTID starts where the last DELETE/INSERT ended.
    let text = String::from_utf8(replctl(&["binlog", &path]).stdout).unwrap();
    let drop_at = text.rfind("DROP TABLE").unwrap();
    let gtid_at = text[..drop_at].rfind("\tGTID ").unwrap();
    let at_line = text[..gtid_at].rfind("# at ").unwrap();
    let drop_pos: String = text[at_line + 5..].chars().take_while(|c| c.is_ascii_digit()).collect();
    replay(fresh.port, &[&path, "--start-position", &pos, "--stop-position", &drop_pos]);
    let mut expected = Server::primary(&dir.path().join("c"));
    replay(expected.port, &[&path, "--stop-position", &drop_pos]);
    assert_eq!(
        fresh.sql("SELECT * FROM w.t ORDER BY id"),
        expected.sql("SELECT * FROM w.t ORDER BY id")
    );
    expected.kill9();
    assert!(mariadb_try(fresh.port, "SELECT COUNT(*) FROM w.t").is_ok());
}

/// (d) --verify names the file and offset of a flipped byte; a truncated file is a clear error, never
/// a panic, and the events before the damage are still printed.
#[test]
fn damaged_files_are_reported() {
    let dir = test_dir();
    let src = fixture_dir().join("primary-bin.000001");
    let good = replctl(&["binlog", "--verify", src.to_str().unwrap()]);
    assert!(good.status.success());
    assert!(String::from_utf8_lossy(&good.stdout).contains("OK, 29 events"));

    let mut bytes = std::fs::read(&src).unwrap();
    bytes[900] ^= 0x20; // inside the QUERY at 800..1078
    let flipped = dir.path().join("flipped-bin.000001");
    std::fs::write(&flipped, &bytes).unwrap();
    let out = replctl(&["binlog", "--verify", flipped.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("{}:800: ", flipped.display())), "{text}");
    assert!(text.contains("CRC32 mismatch") && text.contains("1 problem"), "{text}");
    // Decoding stops there with the same message and a non-zero exit.
    let out = replctl(&["binlog", flipped.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(":800: "));

    let truncated = dir.path().join("truncated-bin.000001");
    std::fs::write(&truncated, &std::fs::read(&src).unwrap()[..1000]).unwrap();
    for args in [vec!["binlog"], vec!["binlog", "--verify"]] {
        let out = replctl(&[&args[..], &[truncated.to_str().unwrap()]].concat());
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.contains(":800: truncated Query event"), "{all}");
    }
    let out = replctl(&["binlog", truncated.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("CREATE TABLE items") && !text.contains("INSERT INTO items"), "{text}");
    assert!(text.contains("is not complete in the input"), "{text}");

    for junk in [&b""[..], b"\xfebi", b"\xfebin\x01\x02", b"not a binlog at all"] {
        let p = dir.path().join("junk");
        std::fs::write(&p, junk).unwrap();
        let out = replctl(&["binlog", p.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{junk:?}");
    }
    let out = replctl(&["binlog", "/nonexistent/file"]);
    assert_eq!(out.status.code(), Some(1));
    // Every prefix of a real file decodes or fails cleanly (no panic, exit code 0 or 1).
    let whole = std::fs::read(&src).unwrap();
    let p = dir.path().join("prefix");
    for cut in (0..whole.len()).step_by(37) {
        std::fs::write(&p, &whole[..cut]).unwrap();
        let mut sink = Vec::new();
        let r = decode_files(std::slice::from_ref(&p), &Options::default(), &mut sink);
        assert_eq!(r.is_ok(), cut == 4 || cut == whole.len(), "cut at {cut}: {r:?}");
    }
}
