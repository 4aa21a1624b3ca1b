//! End-to-end tests of `repld primary` (issue 4): the real binary driven by mysql_async, the `mariadb`
//! and `mariadb-binlog` clients and raw TCP. Client protocol (text and prepared statements, errors,
//! multi-statements, session commands), accounts and limits, the admin SQL, what the binary log holds
//! for transactions, rollbacks, failures and prepared statements, and the binlog dump.

mod common;
mod primary_raw;

use common::*;
use futures_util::StreamExt;
use mysql_async::binlog::events::{Event, QueryEvent};
use mysql_async::prelude::*;
use mysql_async::{BinlogStreamRequest, Conn, OptsBuilder, Row, Value as MyValue};
use primary_raw::{parse_err, Raw, BASE_CAPS, DEPRECATE_EOF};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Binlog event type codes.
const QUERY: u8 = 2;
const STOP: u8 = 3;
const ROTATE: u8 = 4;
const FORMAT_DESCRIPTION: u8 = 15;
const XID: u8 = 16;
const HEARTBEAT: u8 = 27;
const GTID: u8 = 162;

/// (code, SQLSTATE, message) of a server error; panics on any other error.
fn server_error(e: mysql_async::Error) -> (u16, String, String) {
    match e {
        mysql_async::Error::Server(s) => (s.code, s.state, s.message),
        other => panic!("expected a server error, got {other:?}"),
    }
}

/// Runs `sql` and returns its server error; panics when it succeeds.
async fn expect_err(c: &mut Conn, sql: &str) -> (u16, String, String) {
    match c.query_drop(sql).await {
        Ok(()) => panic!("{sql:?} succeeded; expected an error"),
        Err(e) => server_error(e),
    }
}

fn opts(port: u16, user: &str, pass: &str) -> OptsBuilder {
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some(user))
        .pass(Some(pass))
        .prefer_socket(false)
}

/// One row of SHOW BINLOG EVENTS: (file, pos, type name, end_log_pos, info).
#[derive(Clone, Debug)]
struct Ev {
    file: String,
    pos: u64,
    kind: String,
    end: u64,
    info: String,
}

async fn binlog_events(c: &mut Conn, sql: &str) -> Vec<Ev> {
    let rows: Vec<Row> = c.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter()
        .map(|r| Ev {
            file: r.get(0).unwrap(),
            pos: r.get(1).unwrap(),
            kind: r.get(2).unwrap(),
            end: r.get(4).unwrap(),
            info: r.get(5).unwrap(),
        })
        .collect()
}

/// Every event of every binary log file, in order.
async fn all_events(c: &mut Conn) -> Vec<Ev> {
    let files: Vec<(String, u64)> = c.query("SHOW BINARY LOGS").await.unwrap();
    let mut out = Vec::new();
    for (f, _) in files {
        out.extend(binlog_events(c, &format!("SHOW BINLOG EVENTS IN '{f}'")).await);
    }
    out
}

/// The event groups (transactions) of the log: the events from each GTID to the next.
fn groups(events: &[Ev]) -> Vec<Vec<Ev>> {
    let mut out: Vec<Vec<Ev>> = Vec::new();
    for e in events {
        if e.kind == "Gtid" {
            out.push(vec![e.clone()]);
        } else if let Some(g) = out.last_mut() {
            if !matches!(
                e.kind.as_str(),
                "Rotate" | "Format_desc" | "Gtid_list" | "Binlog_checkpoint" | "Stop"
            ) {
                g.push(e.clone());
            }
        }
    }
    out
}

/// The statement texts of the Query events (without BEGIN/COMMIT), in log order.
fn logged_statements(events: &[Ev]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.kind == "Query" && e.info != "BEGIN" && e.info != "COMMIT")
        .map(|e| e.info.clone())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Client protocol
// ---------------------------------------------------------------------------------------------

const ALL_TYPES: &str =
    "CREATE TABLE p.t (id INT PRIMARY KEY, ti TINYINT, si SMALLINT, mi MEDIUMINT, \
    i INT, bi BIGINT, ub BIGINT UNSIGNED, f FLOAT, d DOUBLE, de DECIMAL(10,2), c CHAR(5), \
    vc VARCHAR(40), tx TEXT, bl BLOB, dt DATE, dtm DATETIME(6), ts TIMESTAMP NULL)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_binary_rows_every_type_logged_literally_and_replicated() {
    let dir = test_dir();
    let primary = Server::primary(dir.path());
    let mut c = primary.conn().await;
    c.query_drop("CREATE DATABASE p").await.unwrap();
    c.query_drop(ALL_TYPES).await.unwrap();
    let insert = "INSERT INTO p.t VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    let row1: Vec<MyValue> = vec![
        1.into(),
        (-128i8).into(),
        (-32768i16).into(),
        (-8388608i32).into(),
        i32::MIN.into(),
        i64::MIN.into(),
        u64::MAX.into(),
        1.5f32.into(),
        (-2.25f64).into(),
        "12345678.91".into(),
        "ab".into(),
        "it's \"q\" \\ back".into(),
        "line1\nline2".into(),
        MyValue::Bytes(vec![0, 1, 255, b'\'', b'\\']),
        MyValue::Date(2024, 2, 29, 0, 0, 0, 0),
        MyValue::Date(2024, 2, 29, 13, 14, 15, 123456),
        MyValue::Date(2001, 1, 1, 0, 0, 1, 0),
    ];
    c.exec_drop(insert, row1).await.unwrap();
    let mut row2 = vec![MyValue::NULL; 17];
    row2[0] = 2.into();
    c.exec_drop(insert, row2).await.unwrap();

    // Binary result rows of every type, with NULLs.
    let rows: Vec<Row> = c.exec("SELECT * FROM p.t WHERE id >= ? ORDER BY id", (1,)).await.unwrap();
    assert_eq!(rows.len(), 2);
    let r = rows[0].clone().unwrap();
    let expected = vec![
        MyValue::Int(1),
        MyValue::Int(-128),
        MyValue::Int(-32768),
        MyValue::Int(-8388608),
        MyValue::Int(i32::MIN as i64),
        MyValue::Int(i64::MIN),
        MyValue::UInt(u64::MAX),
        MyValue::Float(1.5),
        MyValue::Double(-2.25),
        MyValue::Bytes(b"12345678.91".to_vec()),
        MyValue::Bytes(b"ab".to_vec()),
        MyValue::Bytes(b"it's \"q\" \\ back".to_vec()),
        MyValue::Bytes(b"line1\nline2".to_vec()),
        MyValue::Bytes(vec![0, 1, 255, b'\'', b'\\']),
        MyValue::Date(2024, 2, 29, 0, 0, 0, 0),
        MyValue::Date(2024, 2, 29, 13, 14, 15, 123456),
        MyValue::Date(2001, 1, 1, 0, 0, 1, 0),
    ];
    assert_eq!(r, expected, "binary row 1");
    let r2 = rows[1].clone().unwrap();
    assert_eq!(r2[0], MyValue::Int(2));
    assert!(r2[1..].iter().all(|v| *v == MyValue::NULL), "binary row 2 is all NULL: {r2:?}");

    // The same row through the text protocol.
    let text: Vec<Row> = c.query("SELECT * FROM p.t WHERE id = 1").await.unwrap();
    let text: Vec<Option<String>> = text[0]
        .clone()
        .unwrap()
        .into_iter()
        .map(|v| {
            mysql_async::from_value::<Option<Vec<u8>>>(v)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        })
        .collect();
    let want_text = [
        "1",
        "-128",
        "-32768",
        "-8388608",
        "-2147483648",
        "-9223372036854775808",
        "18446744073709551615",
        "1.5",
        "-2.25",
        "12345678.91",
        "ab",
        "it's \"q\" \\ back",
        "line1\nline2",
    ];
    for (i, w) in want_text.iter().enumerate() {
        assert_eq!(text[i].as_deref(), Some(*w), "text column {i}");
    }
    assert_eq!(text[14].as_deref(), Some("2024-02-29"));
    assert_eq!(text[15].as_deref(), Some("2024-02-29 13:14:15.123456"));
    assert_eq!(text[16].as_deref(), Some("2001-01-01 00:00:01"));

    // Column metadata of a prepared SELECT and a prepared statement reused with other parameters.
    let stmt = c.prep("SELECT id, vc FROM p.t WHERE id = ?").await.unwrap();
    assert_eq!(stmt.num_params(), 1);
    assert_eq!(stmt.columns().len(), 2);
    assert_eq!(stmt.columns()[1].name_str(), "vc");
    let got: Option<(i32, Option<String>)> = c.exec_first(&stmt, (2,)).await.unwrap();
    assert_eq!(got, Some((2, None)));
    let got: Option<(i32, Option<String>)> = c.exec_first(&stmt, (1,)).await.unwrap();
    assert_eq!(got, Some((1, Some("it's \"q\" \\ back".into()))));
    // UPDATE through a prepared statement: affected rows come back.
    c.exec_drop("UPDATE p.t SET vc = ? WHERE id = ?", ("x'y", 2)).await.unwrap();
    assert_eq!(c.affected_rows(), 1);
    // COM_STMT_CLOSE: the closed id is unknown afterwards (ERROR 1243).
    c.close(stmt.clone()).await.unwrap();
    let e = server_error(c.exec_drop(&stmt, (1,)).await.unwrap_err());
    assert_eq!(e.0, 1243, "{e:?}");
    // Question marks in strings, quoted names and comments are not placeholders.
    let r: Option<(String, i32, String)> =
        c.exec_first("SELECT '?', ? /* ? */, 'it''s ?' -- ?\n", (5,)).await.unwrap();
    assert_eq!(r, Some(("?".into(), 5, "it's ?".into())));
    // A syntax error at prepare time.
    let e = server_error(c.prep("SELEKT ?").await.unwrap_err());
    assert_eq!((e.0, e.1.as_str()), (1064, "42000"));

    // The binary log holds the statements with their parameters inlined as literals.
    let events = all_events(&mut c).await;
    let stmts = logged_statements(&events);
    let inserts: Vec<&String> = stmts.iter().filter(|s| s.contains("INSERT INTO p.t")).collect();
    assert_eq!(inserts.len(), 2, "{stmts:#?}");
    for needle in [
        "-9223372036854775808",
        "18446744073709551615",
        "12345678.91",
        "2024-02-29 13:14:15.123456",
        "line1",
    ] {
        assert!(inserts[0].contains(needle), "{needle} in {}", inserts[0]);
    }
    assert!(!inserts[0].contains('?') && !inserts[1].contains('?'), "{inserts:?}");
    assert!(inserts[1].contains("NULL"), "{}", inserts[1]);
    assert!(
        stmts.iter().any(|s| s.contains("UPDATE p.t SET vc =") && !s.contains('?')),
        "{stmts:#?}"
    );

    // Statements whose values depend on the session: NOW(), RAND(), user variables, auto-increment,
    // LAST_INSERT_ID(), through prepared statements; the replica must compute the same values.
    c.query_drop("CREATE TABLE p.ctx (id INT AUTO_INCREMENT PRIMARY KEY, ts DATETIME(6), r DOUBLE, u VARCHAR(20), li BIGINT, p INT)").await.unwrap();
    c.query_drop("SET @uv = 'user-var'").await.unwrap();
    for i in 0..3 {
        c.exec_drop(
            "INSERT INTO p.ctx (ts, r, u, li, p) VALUES (NOW(6), RAND(), @uv, LAST_INSERT_ID(), ?)",
            (i,),
        )
        .await
        .unwrap();
    }
    c.exec_drop("UPDATE p.ctx SET r = RAND(?) WHERE id = ?", (7, 2)).await.unwrap();

    // ... and they replicate: the replica applies the logged text and ends up with the same rows.
    let replica = Server::replica(dir.path(), "replica", 2, primary.port);
    wait_caught_up(&primary, &replica);
    assert_eq!(checksums(&primary, &["p.t", "p.ctx"]), checksums(&replica, &["p.t", "p.ctx"]));
    let dump = "SELECT id, ts, r, u, li, p FROM p.ctx ORDER BY id";
    let rows = primary.sql(dump);
    assert_eq!(rows.lines().count(), 3, "{rows}");
    assert!(rows.contains("user-var"), "{rows}");
    assert_eq!(rows, replica.sql(dump));
    let mut rc = replica.conn().await;
    let rows: Vec<Row> =
        rc.exec("SELECT * FROM p.t WHERE id >= ? ORDER BY id", (1,)).await.unwrap();
    assert_eq!(rows[0].clone().unwrap(), expected, "replicated row 1");
    let vc: Option<String> = rc.query_first("SELECT vc FROM p.t WHERE id = 2").await.unwrap();
    assert_eq!(vc.as_deref(), Some("x'y"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_multi_statements_and_session_commands() {
    let dir = test_dir();
    let primary = Server::primary(dir.path());
    let mut c = primary.conn().await;
    c.query_drop("CREATE DATABASE e").await.unwrap();
    c.query_drop("CREATE TABLE e.t (id INT PRIMARY KEY, v VARCHAR(10))").await.unwrap();
    c.query_drop("INSERT INTO e.t VALUES (1, 'a')").await.unwrap();

    // Errors with their codes and SQLSTATEs.
    let cases: &[(&str, u16, &str)] = &[
        ("SELEC 1", 1064, "42000"),
        ("SELECT * FROM e.missing", 1146, "42S02"),
        ("INSERT INTO e.t VALUES (1, 'b')", 1062, "23000"),
        ("SELECT nope FROM e.t", 1054, "42S22"),
        ("SELECT * FROM t", 1046, "3D000"),
        ("CREATE TABLE e.t (x INT)", 1050, "42S01"),
        ("USE nosuchdb", 1049, "42000"),
    ];
    for (sql, code, state) in cases {
        let (got, st, msg) = expect_err(&mut c, sql).await;
        assert_eq!((got, st.as_str()), (*code, *state), "{sql}: {msg}");
    }
    // The connection still works after errors.
    let one: Option<i32> = c.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));

    // Multi-statements: several result sets, an OK in between, and a failure that stops the rest.
    let mut r = c.query_iter("SELECT 1 AS a; INSERT INTO e.t VALUES (2, 'b'); SELECT id, v FROM e.t ORDER BY id; SELECT 'x', 'y'").await.unwrap();
    let s1: Vec<i64> = r.collect().await.unwrap();
    assert_eq!(s1, vec![1]);
    let s2: Vec<Row> = r.collect().await.unwrap();
    assert!(s2.is_empty());
    assert_eq!(r.affected_rows(), 1);
    let s3: Vec<(i32, String)> = r.collect().await.unwrap();
    assert_eq!(s3, vec![(1, "a".into()), (2, "b".into())]);
    let s4: Vec<(String, String)> = r.collect().await.unwrap();
    assert_eq!(s4, vec![("x".into(), "y".into())]);
    assert!(r.is_empty());
    drop(r);
    let mut r = c
        .query_iter("INSERT INTO e.t VALUES (3, 'c'); INSERT INTO e.t VALUES (1, 'dup'); INSERT INTO e.t VALUES (4, 'd')")
        .await
        .unwrap();
    let _: Vec<Row> = r.collect().await.unwrap();
    let e = r.collect::<Row>().await.map(|_| ()).unwrap_err();
    assert_eq!(server_error(e).0, 1062);
    drop(r);
    let ids: Vec<i32> = c.query("SELECT id FROM e.t ORDER BY id").await.unwrap();
    assert_eq!(ids, vec![1, 2, 3], "statements after the failed one do not run");

    // COM_PING.
    c.ping().await.unwrap();
    // COM_RESET_CONNECTION: user variables and the open transaction are gone, the connection lives on.
    c.query_drop("SET @v = 42").await.unwrap();
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("INSERT INTO e.t VALUES (10, 'rolled')").await.unwrap();
    c.reset().await.unwrap();
    let v: Option<Option<i64>> = c.query_first("SELECT @v").await.unwrap();
    assert_eq!(v, Some(None));
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM e.t WHERE id = 10").await.unwrap();
    assert_eq!(n, Some(0), "COM_RESET_CONNECTION rolls the open transaction back");
    // Default database: USE changes it, DATABASE() shows it, unqualified names resolve in it.
    c.query_drop("USE e").await.unwrap();
    let db: Option<String> = c.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(db.as_deref(), Some("e"));
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM t").await.unwrap();
    assert_eq!(n, Some(3));
    // A connection opened with a default database.
    let mut c2 = conn(primary.port, Some("e")).await;
    let n: Option<i64> = c2.query_first("SELECT COUNT(*) FROM t").await.unwrap();
    assert_eq!(n, Some(3));
    // Unknown database at connect time: 1049.
    let e = server_error(
        mysql_async::Conn::new(opts(primary.port, "root", "").db_name(Some("nodb")))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.0, 1049, "{e:?}");

    // SET SESSION wait_timeout applies to that connection only: it is closed after ~1 s idle.
    let mut short = primary.conn().await;
    short.query_drop("SET SESSION wait_timeout = 1").await.unwrap();
    let sid = short.id().to_string();
    let t0 = Instant::now();
    assert!(wait_until(TIMEOUT, || mariadb_try(primary.port, "SHOW PROCESSLIST")
        .is_ok_and(|o| !o.lines().any(|l| l.split('\t').next() == Some(sid.as_str())))));
    assert!(t0.elapsed() >= Duration::from_millis(800), "{:?}", t0.elapsed());
    assert!(short.query_drop("SELECT 1").await.is_err());
    c.ping().await.unwrap();

    // KILL: the victim's connection is closed; an unknown id is 1094.
    let mut victim = primary.conn().await;
    let vid = victim.id();
    c.query_drop(format!("KILL {vid}")).await.unwrap();
    assert!(
        victim.query_drop("SELECT 1").await.is_err(),
        "a killed connection cannot run statements"
    );
    let e = expect_err(&mut c, "KILL 999999").await;
    assert_eq!(e.0, 1094, "{e:?}");

    // Nothing of the rolled-back insert or of the failed statements reached the binary log.
    let stmts = logged_statements(&all_events(&mut c).await);
    assert!(
        stmts.iter().all(|s| !s.contains("rolled") && !s.contains("dup") && !s.contains("'d'")),
        "{stmts:#?}"
    );
}

#[test]
fn raw_protocol_init_db_field_list_stmt_reset_and_set_option() {
    let dir = test_dir();
    let primary = Server::primary(dir.path());
    primary.sql(
        "CREATE DATABASE r; CREATE TABLE r.t (id INT PRIMARY KEY, name VARCHAR(10), note TEXT)",
    );
    for caps in [BASE_CAPS, BASE_CAPS | DEPRECATE_EOF] {
        let mut c = Raw::login(primary.port, None, caps);
        // COM_INIT_DB to a missing database: 1049; to an existing one: OK, and it becomes the default.
        let mut p = vec![0x02];
        p.extend_from_slice(b"nope");
        c.command(&p);
        let e = parse_err(&c.read().unwrap()).expect("ERR for unknown db");
        assert_eq!((e.code, e.state.as_str()), (1049, "42000"));
        let mut p = vec![0x02];
        p.extend_from_slice(b"r");
        c.command(&p);
        assert_eq!(c.read().unwrap()[0], 0, "COM_INIT_DB r is OK");
        assert_eq!(c.query("SELECT DATABASE()").unwrap(), vec![vec![Some("r".to_string())]]);
        // COM_FIELD_LIST: one column definition per column (matching the wildcard), then EOF.
        for (wild, want) in
            [(&b""[..], vec!["id", "name", "note"]), (&b"n%"[..], vec!["name", "note"])]
        {
            let mut p = vec![0x04];
            p.extend_from_slice(b"t\0");
            p.extend_from_slice(wild);
            c.command(&p);
            let mut names = Vec::new();
            loop {
                let p = c.read().unwrap();
                if p[0] == 0xFE && p.len() < 9 {
                    break;
                }
                assert!(parse_err(&p).is_none(), "{:?}", parse_err(&p));
                // catalog, schema, table, org_table, name
                let mut i = 0;
                let mut fields = Vec::new();
                for _ in 0..5 {
                    let (len, hdr) = primary_raw::lenenc(&p[i..]);
                    fields.push(
                        String::from_utf8_lossy(&p[i + hdr..i + hdr + len as usize]).into_owned(),
                    );
                    i += hdr + len as usize;
                }
                assert_eq!(fields[0], "def");
                names.push(fields[4].clone());
            }
            assert_eq!(names, want);
        }
        let mut p = vec![0x04];
        p.extend_from_slice(b"missing\0");
        c.command(&p);
        assert_eq!(parse_err(&c.read().unwrap()).expect("ERR").code, 1146);
        // COM_STMT_PREPARE, COM_STMT_RESET (known and unknown id), COM_STMT_CLOSE (no answer).
        let mut p = vec![0x16];
        p.extend_from_slice(b"SELECT id FROM t WHERE id = ?");
        c.command(&p);
        let ok = c.read().unwrap();
        assert_eq!(ok[0], 0, "PREPARE_OK");
        let stmt_id = u32::from_le_bytes(ok[1..5].try_into().unwrap());
        let ncols = u16::from_le_bytes([ok[5], ok[6]]);
        let nparams = u16::from_le_bytes([ok[7], ok[8]]);
        assert_eq!((ncols, nparams), (1, 1));
        let defs =
            ncols as usize + nparams as usize + if caps & DEPRECATE_EOF == 0 { 2 } else { 0 };
        for _ in 0..defs {
            c.read().unwrap();
        }
        let mut p = vec![0x1A];
        p.extend_from_slice(&stmt_id.to_le_bytes());
        c.command(&p);
        assert_eq!(c.read().unwrap()[0], 0, "COM_STMT_RESET is OK");
        let mut p = vec![0x1A];
        p.extend_from_slice(&999u32.to_le_bytes());
        c.command(&p);
        assert_eq!(parse_err(&c.read().unwrap()).expect("ERR").code, 1243);
        let mut p = vec![0x19];
        p.extend_from_slice(&stmt_id.to_le_bytes());
        c.command(&p);
        // COM_STMT_EXECUTE of the closed statement: 1243 (and no stray answer to the CLOSE before it).
        let mut p = vec![0x17];
        p.extend_from_slice(&stmt_id.to_le_bytes());
        p.extend_from_slice(&[0, 1, 0, 0, 0]);
        c.command(&p);
        assert_eq!(parse_err(&c.read().unwrap()).expect("ERR").code, 1243);
        // COM_STMT_SEND_LONG_DATA: chunks appended to a parameter (no answer), used by EXECUTE, then
        // forgotten; COM_STMT_RESET drops chunks sent before it.
        let mut p = vec![0x16];
        p.extend_from_slice(b"SELECT CONCAT(?, '|')");
        c.command(&p);
        let ok = c.read().unwrap();
        assert_eq!(ok[0], 0, "PREPARE_OK: {:?}", parse_err(&ok));
        let cat = u32::from_le_bytes(ok[1..5].try_into().unwrap());
        let defs = u16::from_le_bytes([ok[5], ok[6]]) as usize
            + u16::from_le_bytes([ok[7], ok[8]]) as usize
            + if caps & DEPRECATE_EOF == 0 { 2 } else { 0 };
        for _ in 0..defs {
            c.read().unwrap();
        }
        let long = |c: &mut Raw, chunk: &[u8]| {
            let mut p = vec![0x18];
            p.extend_from_slice(&cat.to_le_bytes());
            p.extend_from_slice(&0u16.to_le_bytes());
            p.extend_from_slice(chunk);
            c.command(&p);
        };
        let execute = |c: &mut Raw| {
            // flags 0, iterations 1, null bitmap 0, new-params-bound 1, type MYSQL_TYPE_BLOB (0xfc);
            // no value: it came as long data.
            let mut p = vec![0x17];
            p.extend_from_slice(&cat.to_le_bytes());
            p.extend_from_slice(&[0, 1, 0, 0, 0, 0, 1, 0xfc, 0]);
            c.command(&p);
            let first = c.read().unwrap();
            assert!(parse_err(&first).is_none(), "{:?}", parse_err(&first));
            assert_eq!(first[0], 1, "one column");
            c.read().unwrap(); // column definition
            if caps & DEPRECATE_EOF == 0 {
                c.read().unwrap();
            }
            let row = c.read().unwrap();
            assert_eq!(row[0], 0, "binary row header");
            let (len, hdr) = primary_raw::lenenc(&row[2..]);
            let v = row[2 + hdr..2 + hdr + len as usize].to_vec();
            let end = c.read().unwrap();
            assert_eq!(end[0], 0xFE);
            v
        };
        long(&mut c, b"stale");
        let mut p = vec![0x1A];
        p.extend_from_slice(&cat.to_le_bytes());
        c.command(&p);
        assert_eq!(c.read().unwrap()[0], 0, "COM_STMT_RESET is OK");
        long(&mut c, b"hello ");
        long(&mut c, b"long data");
        assert_eq!(execute(&mut c), b"hello long data|");
        long(&mut c, b"again");
        assert_eq!(execute(&mut c), b"again|");
        // COM_SET_OPTION: multi-statements off -> a two-statement query is refused; on -> two results.
        c.command(&[0x1B, 1, 0]);
        assert!(matches!(c.read().unwrap()[0], 0xFE | 0x00));
        let e = c.query("SELECT 1; SELECT 2").unwrap_err();
        assert_eq!(e.code, 1064);
        c.command(&[0x1B, 0, 0]);
        assert!(matches!(c.read().unwrap()[0], 0xFE | 0x00));
        assert!(c.ping());
        // Status flags of OK packets: IN_TRANS inside a transaction, AUTOCOMMIT as set.
        let status = |c: &mut Raw, sql: &str| {
            let mut p = vec![0x03];
            p.extend_from_slice(sql.as_bytes());
            c.command(&p);
            let ok = c.read().unwrap();
            assert_eq!(ok[0], 0, "{sql}: {:?}", parse_err(&ok));
            let (_, a) = primary_raw::lenenc(&ok[1..]);
            let (_, b) = primary_raw::lenenc(&ok[1 + a..]);
            u16::from_le_bytes([ok[1 + a + b], ok[2 + a + b]])
        };
        const IN_TRANS: u16 = 1;
        const AUTOCOMMIT: u16 = 2;
        assert_eq!(status(&mut c, "BEGIN") & (IN_TRANS | AUTOCOMMIT), IN_TRANS | AUTOCOMMIT);
        assert_eq!(status(&mut c, "INSERT INTO t VALUES (1, 'x', NULL)") & IN_TRANS, IN_TRANS);
        assert_eq!(status(&mut c, "ROLLBACK") & IN_TRANS, 0);
        assert_eq!(status(&mut c, "SET autocommit = 0") & AUTOCOMMIT, 0);
        assert_eq!(status(&mut c, "SET autocommit = 1") & AUTOCOMMIT, AUTOCOMMIT);
        // COM_STATISTICS answers with a plain string.
        c.command(&[0x09]);
        let s = c.read().unwrap();
        assert!(String::from_utf8_lossy(&s).starts_with("Uptime: "), "{s:?}");
        // COM_QUIT closes.
        c.command(&[0x01]);
        assert!(c.closed());
    }
}

// ---------------------------------------------------------------------------------------------
// Accounts and limits
// ---------------------------------------------------------------------------------------------

fn write_config(dir: &std::path::Path, extra: &str) -> String {
    let path = dir.join("repld.toml");
    let text = format!(
        "role = \"primary\"\ndata_dir = \"{}\"\n{extra}\n\
         [[accounts]]\nname = \"root\"\npassword = \"\"\nprivilege = \"all\"\n\n\
         [[accounts]]\nname = \"repl\"\npassword = \"repl-secret\"\nprivilege = \"replication\"\n\n\
         [[accounts]]\nname = \"reader\"\npassword = \"rpw\"\nprivilege = \"read\"\n",
        dir.join("primary").display()
    );
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_from_config_file_and_replication_privilege() {
    let dir = test_dir();
    let cfg = write_config(dir.path(), "max_connections = 151");
    let primary = Server::primary_with(dir.path(), &["--config", &cfg]);
    let mut root = primary.conn().await;
    root.query_drop("CREATE DATABASE a").await.unwrap();
    root.query_drop("CREATE TABLE a.t (id INT PRIMARY KEY)").await.unwrap();
    root.query_drop("INSERT INTO a.t VALUES (1)").await.unwrap();

    // Wrong password and unknown user: 1045 / 28000.
    for (user, pass) in [("repl", "wrong"), ("repl", ""), ("nobody", ""), ("root", "x")] {
        let e = server_error(Conn::new(opts(primary.port, user, pass)).await.unwrap_err());
        assert_eq!((e.0, e.1.as_str()), (1045, "28000"), "{user}/{pass}: {}", e.2);
        assert!(e.2.contains(user), "{}", e.2);
    }
    // Same through the mariadb CLI.
    let out = Command::new("mariadb")
        .args(["--no-defaults", "-h127.0.0.1", "-urepl", "-pbad", "-e", "SELECT 1"])
        .arg(format!("-P{}", primary.port))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1045"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Both auth plugins on the real server, right and wrong passwords (raw client scrambles).
    for plugin in ["mysql_native_password", "caching_sha2_password"] {
        let mut ok = Raw::login_as(primary.port, "repl", "repl-secret", plugin)
            .unwrap_or_else(|e| panic!("{plugin}: {e:?}"));
        assert!(ok.ping(), "{plugin}");
        let e = Raw::login_as(primary.port, "repl", "repl-secreT", plugin).err().expect(plugin);
        assert_eq!((e.code, e.state.as_str()), (1045, "28000"), "{plugin}: {e:?}");
    }
    // The replication account reads but does not write.
    let mut repl = Conn::new(opts(primary.port, "repl", "repl-secret")).await.unwrap();
    let n: Option<i64> = repl.query_first("SELECT COUNT(*) FROM a.t").await.unwrap();
    assert_eq!(n, Some(1));
    let e = expect_err(&mut repl, "INSERT INTO a.t VALUES (2)").await;
    assert_eq!(e.0, 1142, "{e:?}");
    // ... and may stream the binary log.
    let req = BinlogStreamRequest::new(77).with_non_blocking();
    let stream = repl.get_binlog_stream(req).await.unwrap();
    let events = collect_stream(stream, Duration::from_secs(20)).await.unwrap();
    assert!(events.iter().any(|e| query_text(e).is_some_and(|q| q.contains("INSERT INTO a.t"))));

    // A read-only account may not: COM_REGISTER_SLAVE is refused with 1227.
    let reader = Conn::new(opts(primary.port, "reader", "rpw")).await.unwrap();
    let e = server_error(
        reader.get_binlog_stream(BinlogStreamRequest::new(78)).await.err().expect("refused"),
    );
    assert_eq!(e.0, 1227, "{e:?}");
    // Nor may it rotate or purge the log.
    let mut reader = Conn::new(opts(primary.port, "reader", "rpw")).await.unwrap();
    let e = expect_err(&mut reader, "FLUSH BINARY LOGS").await;
    assert_eq!(e.0, 1227, "{e:?}");
    let e = expect_err(&mut reader, "PURGE BINARY LOGS TO 'repld-bin.000001'").await;
    assert_eq!(e.0, 1227, "{e:?}");
    // Real replicas: with the replication account they follow; with the read-only one the I/O
    // thread stops with the primary's 1227; with a wrong password it reports 1045.
    let good = Server::replica_with(
        dir.path(),
        "good",
        2,
        primary.port,
        &["--source-user", "repl", "--source-password", "repl-secret"],
    );
    wait_caught_up(&primary, &good);
    assert_eq!(checksums(&primary, &["a.t"]), checksums(&good, &["a.t"]));
    for (name, user, pass, code) in
        [("ro", "reader", "rpw", "1227"), ("badpw", "repl", "nope", "1045")]
    {
        let r = Server::replica_with(
            dir.path(),
            name,
            3,
            primary.port,
            &["--source-user", user, "--source-password", pass],
        );
        let ok =
            wait_until(TIMEOUT, || replica_field(&r, "Last_IO_Errno").as_deref() == Some(code));
        assert!(
            ok,
            "{name}: Last_IO_Errno {:?}, Last_IO_Error {:?}",
            replica_field(&r, "Last_IO_Errno"),
            replica_field(&r, "Last_IO_Error")
        );
    }
    drop(root);
}

#[test]
fn no_passwordless_account_beyond_loopback() {
    // A non-loopback listen address with a password-less account is refused at start-up, before
    // anything binds.
    let dir = test_dir();
    let cfg = write_config(dir.path(), "listen = \"0.0.0.0:0\"");
    let out = Command::new(env!("CARGO_BIN_EXE_repld"))
        .args(["--config", &cfg, "primary"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started: {err}");
    assert!(err.contains("needs a password") && err.contains("root"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_and_wait_timeout() {
    let dir = test_dir();
    let cfg = write_config(dir.path(), "max_connections = 3\nwait_timeout = 2");
    let primary = Server::primary_with(dir.path(), &["--config", &cfg]);
    // Three connections fill the server; the fourth gets ERROR 1040 at connect.
    let deadline = Instant::now() + TIMEOUT;
    let mut held = Vec::new();
    // The start-up probe's connections may not be gone yet: retry until three fit.
    while held.len() < 3 {
        assert!(Instant::now() < deadline, "three connections");
        match Conn::new(opts(primary.port, "root", "")).await {
            Ok(c) => held.push(c),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    let e = server_error(Conn::new(opts(primary.port, "root", "")).await.unwrap_err());
    // Sent before the handshake: no SQLSTATE marker, so clients show HY000 (as with MariaDB).
    assert_eq!((e.0, e.1.as_str(), e.2.as_str()), (1040, "HY000", "Too many connections"));
    // A freed slot is usable again.
    let first = held.pop().unwrap();
    first.disconnect().await.unwrap();
    let again = loop {
        assert!(Instant::now() < deadline, "a freed slot is reused");
        match Conn::new(opts(primary.port, "root", "")).await {
            Ok(c) => break c,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    drop(held);
    // wait_timeout: an idle connection is closed by the server after ~2 s; its next query fails.
    let mut idle = again;
    let id = idle.id();
    let started = Instant::now();
    let gone = wait_until(TIMEOUT, || {
        mariadb_try(primary.port, "SHOW PROCESSLIST")
            .map(|out| !out.lines().any(|l| l.split('\t').next() == Some(&id.to_string())))
            .unwrap_or(false)
    });
    assert!(gone, "idle connection {id} still listed");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "closed too early: {:?}",
        started.elapsed()
    );
    assert!(idle.query_drop("SELECT 1").await.is_err(), "query on a timed-out connection fails");
}

// ---------------------------------------------------------------------------------------------
// Binary log contents
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_failures_ddl_and_partial_transactions_in_the_binlog() {
    let dir = test_dir();
    let primary = Server::primary(dir.path());
    let mut c = primary.conn().await;
    c.query_drop("CREATE DATABASE b").await.unwrap();
    c.query_drop("CREATE TABLE b.t (id INT PRIMARY KEY, v INT)").await.unwrap();
    let before = all_events(&mut c).await;
    let pos_before: Option<String> = c.query_first("SELECT @@gtid_binlog_pos").await.unwrap();

    // ROLLBACK leaves no trace.
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("INSERT INTO b.t VALUES (100, 1)").await.unwrap();
    c.query_drop("UPDATE b.t SET v = 2 WHERE id = 100").await.unwrap();
    c.query_drop("ROLLBACK").await.unwrap();
    // Failed autocommit statements leave no trace.
    expect_err(&mut c, "INSERT INTO b.t VALUES (1, 1), (1, 2)").await;
    expect_err(&mut c, "INSERT INTO b.nope VALUES (1)").await;
    expect_err(&mut c, "UPDATE b.t SET nope = 1").await;
    // A transaction that only reads leaves no trace either.
    c.query_drop("START TRANSACTION").await.unwrap();
    c.query_drop("SELECT * FROM b.t").await.unwrap();
    c.query_drop("COMMIT").await.unwrap();
    let after = all_events(&mut c).await;
    assert_eq!(after.len(), before.len(), "new events: {:#?}", &after[before.len()..]);
    let pos_after: Option<String> = c.query_first("SELECT @@gtid_binlog_pos").await.unwrap();
    assert_eq!(pos_before, pos_after);

    // A failed statement inside a transaction does not abort the others.
    c.query_drop("INSERT INTO b.t VALUES (1, 1)").await.unwrap();
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("INSERT INTO b.t VALUES (2, 2)").await.unwrap();
    let e = expect_err(&mut c, "INSERT INTO b.t VALUES (3, 3), (1, 9)").await;
    assert_eq!(e.0, 1062);
    c.query_drop("INSERT INTO b.t VALUES (4, 4)").await.unwrap();
    c.query_drop("COMMIT").await.unwrap();
    let rows: Vec<(i32, i32)> = c.query("SELECT id, v FROM b.t ORDER BY id").await.unwrap();
    assert_eq!(rows, vec![(1, 1), (2, 2), (4, 4)], "the failed multi-row insert left nothing");
    // An open write transaction of a connection that goes away (disconnect, KILL) is rolled back
    // and leaves no trace; the writer lock is released (a leak would make the next write wait
    // innodb_lock_wait_timeout and fail with 1205).
    let mut gone = primary.conn().await;
    gone.query_drop("SET autocommit = 0").await.unwrap();
    gone.query_drop("INSERT INTO b.t VALUES (50, 50)").await.unwrap();
    drop(gone);
    let mut killed = primary.conn().await;
    killed.query_drop("BEGIN").await.unwrap();
    killed.query_drop("INSERT INTO b.t VALUES (51, 51)").await.unwrap();
    c.query_drop(format!("KILL {}", killed.id())).await.unwrap();
    c.query_drop("SET SESSION innodb_lock_wait_timeout = 10").await.unwrap();
    c.query_drop("INSERT INTO b.t VALUES (3, 3)").await.unwrap();
    c.query_drop("DELETE FROM b.t WHERE id = 3").await.unwrap();
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM b.t WHERE id >= 50").await.unwrap();
    assert_eq!(n, Some(0));
    // A transaction inside one multi-statement query.
    c.query_drop("BEGIN; INSERT INTO b.t VALUES (60, 60); INSERT INTO b.t VALUES (61, 61); COMMIT")
        .await
        .unwrap();
    // DDL: standalone groups; DML transactions: BEGIN ... COMMIT (Xid) groups.
    c.query_drop("CREATE TABLE b.u (x INT)").await.unwrap();
    let events = all_events(&mut c).await;
    let gs = groups(&events[before.len()..]);
    assert_eq!(gs.len(), 6, "{gs:#?}");
    assert!(events.iter().all(|e| !e.info.contains("(50, 50)") && !e.info.contains("(51, 51)")));
    let multi = logged_statements(&gs[4]);
    assert_eq!(multi.len(), 2, "one group for the multi-statement transaction: {multi:?}");
    let gs = [gs[0].clone(), gs[1].clone(), gs[5].clone()];
    let texts = |g: &Vec<Ev>| g.iter().map(|e| e.info.clone()).collect::<Vec<_>>();
    // group 1: the autocommit insert
    assert!(gs[0][0].info.starts_with("BEGIN GTID"), "{:?}", texts(&gs[0]));
    assert_eq!(gs[0].last().unwrap().kind, "Xid");
    // group 2: the transaction with 2 and 4 only
    let g2 = logged_statements(&gs[1]);
    assert_eq!(g2.len(), 2, "{g2:?}");
    assert!(g2[0].contains("(2, 2)") || g2[0].contains("(2,2)"), "{g2:?}");
    assert!(g2[1].contains("(4, 4)") || g2[1].contains("(4,4)"), "{g2:?}");
    assert_eq!(gs[1].last().unwrap().kind, "Xid");
    // group 3: the DDL alone, no BEGIN, no Xid
    assert!(gs[2][0].info.starts_with("GTID "), "{:?}", texts(&gs[2]));
    assert_eq!(gs[2].len(), 2, "{:?}", texts(&gs[2]));
    assert!(gs[2][1].info.contains("CREATE TABLE"), "{:?}", texts(&gs[2]));
    // DDL inside a transaction commits it first, as two groups.
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("INSERT INTO b.t VALUES (5, 5)").await.unwrap();
    c.query_drop("CREATE TABLE b.w (x INT)").await.unwrap();
    let n = all_events(&mut c).await;
    let gs2 = groups(&n[events.len()..]);
    assert_eq!(gs2.len(), 2, "{gs2:#?}");
    assert_eq!(gs2[0].last().unwrap().kind, "Xid");
    assert!(gs2[1][0].info.starts_with("GTID "));
    // GTIDs are consecutive and @@gtid_binlog_pos names the last.
    let seqs: Vec<u64> = n
        .iter()
        .filter(|e| e.kind == "Gtid")
        .map(|e| e.info.rsplit('-').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    let pos: Option<String> = c.query_first("SELECT @@gtid_binlog_pos").await.unwrap();
    assert_eq!(pos, Some(format!("0-1-{}", seqs.len())));
}

// ---------------------------------------------------------------------------------------------
// Admin SQL
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_statements_status_events_flush_purge_hosts_processlist() {
    let dir = test_dir();
    let primary = Server::primary(dir.path());
    let mut c = primary.conn().await;
    c.query_drop("CREATE DATABASE m").await.unwrap();
    c.query_drop("CREATE TABLE m.t (id INT PRIMARY KEY, v VARCHAR(10))").await.unwrap();
    for i in 0..5 {
        c.query_drop(format!("INSERT INTO m.t VALUES ({i}, 'v{i}')")).await.unwrap();
    }
    // Variables.
    let (sid, gbp, gcp): (u32, String, String) = c
        .query_first("SELECT @@server_id, @@gtid_binlog_pos, @@gtid_current_pos")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sid, 1);
    assert_eq!(gbp, "0-1-7");
    assert_eq!(gcp, gbp);
    // SHOW STATUS: the server's counters, filtered by LIKE (case-insensitive) and WHERE.
    let status: Vec<(String, String)> = c.query("SHOW GLOBAL STATUS").await.unwrap();
    let get = |rows: &[(String, String)], n: &str| {
        rows.iter().find(|(k, _)| k == n).map(|(_, v)| v.parse::<u64>().unwrap())
    };
    assert_eq!(get(&status, "Binlog_commits"), Some(7), "{status:?}");
    // One session committing one transaction at a time: every commit synced on its own thread.
    assert_eq!(get(&status, "Binlog_commits_synced_inline"), Some(7), "{status:?}");
    assert!(get(&status, "Threads_connected").unwrap() >= 1);
    assert!(get(&status, "Questions").unwrap() >= 8);
    let uptime: Vec<(String, String)> = c.query("SHOW STATUS LIKE 'upTIME%'").await.unwrap();
    let names: Vec<&str> = uptime.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Uptime", "Uptime_since_flush_status"]);
    let commits: Vec<(String, String)> =
        c.query("SHOW SESSION STATUS WHERE Variable_name = 'Binlog_commits'").await.unwrap();
    assert_eq!(commits, vec![("Binlog_commits".to_string(), "7".to_string())]);
    // SHOW MASTER STATUS == SHOW BINARY LOG STATUS, consistent with SHOW BINARY LOGS.
    for sql in ["SHOW MASTER STATUS", "SHOW BINARY LOG STATUS"] {
        let row: Row = c.query_first(sql).await.unwrap().unwrap();
        let file: String = row.get(0).unwrap();
        let pos: u64 = row.get(1).unwrap();
        let gtid: String = row.get(4).unwrap();
        assert_eq!(file, "repld-bin.000001");
        assert_eq!(gtid, "0-1-7");
        let logs: Vec<(String, u64)> = c.query("SHOW BINARY LOGS").await.unwrap();
        assert_eq!(logs, vec![(file.clone(), pos)]);
        assert_eq!(std::fs::metadata(primary.data_dir.join(&file)).unwrap().len(), pos);
    }
    // SHOW BINLOG EVENTS with IN / FROM / LIMIT.
    let all = binlog_events(&mut c, "SHOW BINLOG EVENTS").await;
    assert_eq!(all[0].kind, "Format_desc");
    assert_eq!(all[0].pos, 4);
    assert!(all.iter().all(|e| e.file == "repld-bin.000001"));
    for w in all.windows(2) {
        assert_eq!(w[0].end, w[1].pos, "events are contiguous");
    }
    assert_eq!(
        all.last().unwrap().end,
        std::fs::metadata(primary.data_dir.join("repld-bin.000001")).unwrap().len()
    );
    let same = binlog_events(&mut c, "SHOW BINLOG EVENTS IN 'repld-bin.000001'").await;
    assert_eq!(same.len(), all.len());
    let from = binlog_events(&mut c, &format!("SHOW BINLOG EVENTS FROM {}", all[3].pos)).await;
    assert_eq!(from.len(), all.len() - 3);
    assert_eq!(from[0].pos, all[3].pos);
    let lim = binlog_events(&mut c, "SHOW BINLOG EVENTS LIMIT 2").await;
    assert_eq!(lim.iter().map(|e| e.pos).collect::<Vec<_>>(), vec![all[0].pos, all[1].pos]);
    let lim = binlog_events(
        &mut c,
        &format!("SHOW BINLOG EVENTS IN 'repld-bin.000001' FROM {} LIMIT 1, 3", all[2].pos),
    )
    .await;
    assert_eq!(
        lim.iter().map(|e| e.pos).collect::<Vec<_>>(),
        vec![all[3].pos, all[4].pos, all[5].pos]
    );
    let e = expect_err(&mut c, "SHOW BINLOG EVENTS IN 'repld-bin.000042'").await;
    assert_eq!(e.0, 1220, "{e:?}");
    let e = expect_err(&mut c, "SHOW BINLOG EVENTS FROM 5").await;
    assert_eq!(e.0, 1220, "a position inside an event: {e:?}");

    // FLUSH BINARY LOGS rotates: the old file ends with a ROTATE naming the new one.
    c.query_drop("FLUSH BINARY LOGS").await.unwrap();
    let logs: Vec<(String, u64)> = c.query("SHOW BINARY LOGS").await.unwrap();
    assert_eq!(
        logs.iter().map(|l| l.0.as_str()).collect::<Vec<_>>(),
        ["repld-bin.000001", "repld-bin.000002"]
    );
    let first = binlog_events(&mut c, "SHOW BINLOG EVENTS IN 'repld-bin.000001'").await;
    assert_eq!(first.last().unwrap().kind, "Rotate");
    assert!(first.last().unwrap().info.starts_with("repld-bin.000002;pos=4"), "{:?}", first.last());
    let status: Row = c.query_first("SHOW MASTER STATUS").await.unwrap().unwrap();
    assert_eq!(status.get::<String, _>(0).unwrap(), "repld-bin.000002");
    c.query_drop("INSERT INTO m.t VALUES (10, 'after')").await.unwrap();
    let second = binlog_events(&mut c, "SHOW BINLOG EVENTS IN 'repld-bin.000002'").await;
    assert_eq!(second[0].kind, "Format_desc");
    assert!(
        second.iter().any(|e| e.kind == "Gtid_list" && e.info.contains("0-1-7")),
        "{second:#?}"
    );
    assert!(second.iter().any(|e| e.info.contains("'after'")));

    // A replica: SHOW SLAVE HOSTS / SHOW REPLICAS and SHOW PROCESSLIST see it.
    let replica = Server::replica(dir.path(), "replica", 2, primary.port);
    wait_caught_up(&primary, &replica);
    for sql in ["SHOW SLAVE HOSTS", "SHOW REPLICAS"] {
        let hosts: Vec<Row> = c.query(sql).await.unwrap();
        assert_eq!(hosts.len(), 1, "{sql}");
        assert_eq!(hosts[0].get::<u32, _>(0), Some(2));
        assert_eq!(hosts[0].get::<u32, _>(3), Some(1), "Master_id");
    }
    let procs: Vec<Row> = c.query("SHOW PROCESSLIST").await.unwrap();
    let me = c.id();
    let mine =
        procs.iter().find(|r| r.get::<u32, _>(0) == Some(me)).expect("own connection listed");
    assert_eq!(mine.get::<String, _>(1).as_deref(), Some("root"));
    assert_eq!(mine.get::<String, _>(4).as_deref(), Some("Query"));
    assert_eq!(mine.get::<String, _>(7).as_deref(), Some("SHOW PROCESSLIST"));
    assert!(
        procs.iter().any(|r| r.get::<String, _>(4).as_deref() == Some("Binlog Dump")),
        "a Binlog Dump thread"
    );

    // PURGE: refused while the replica... is only at the current file, so purging .000001 is allowed.
    c.query_drop("FLUSH BINARY LOGS").await.unwrap();
    wait_dump_in(&mut c, "repld-bin.000003").await;
    let e = expect_err(&mut c, "PURGE BINARY LOGS TO 'repld-bin.000009'").await;
    assert_eq!(e.0, 1373, "{e:?}");
    c.query_drop("PURGE BINARY LOGS TO 'repld-bin.000002'").await.unwrap();
    let logs: Vec<(String, u64)> = c.query("SHOW BINARY LOGS").await.unwrap();
    assert_eq!(
        logs.iter().map(|l| l.0.as_str()).collect::<Vec<_>>(),
        ["repld-bin.000002", "repld-bin.000003"]
    );
    assert!(!primary.data_dir.join("repld-bin.000001").exists());
    // PURGE BEFORE a date in the future: everything but the current file goes.
    c.query_drop("PURGE BINARY LOGS BEFORE '2099-01-01 00:00:00'").await.unwrap();
    let logs: Vec<(String, u64)> = c.query("SHOW BINARY LOGS").await.unwrap();
    assert_eq!(logs.iter().map(|l| l.0.as_str()).collect::<Vec<_>>(), ["repld-bin.000003"]);
    let e = expect_err(&mut c, "PURGE BINARY LOGS BEFORE 'not a date'").await;
    assert_eq!(e.0, 1210, "{e:?}");
    // BEFORE an expression, evaluated by the SQL engine.
    c.query_drop("FLUSH BINARY LOGS").await.unwrap();
    wait_dump_in(&mut c, "repld-bin.000004").await;
    c.query_drop("PURGE BINARY LOGS BEFORE CONCAT('2000', '-01-01')").await.unwrap();
    let logs: Vec<(String, u64)> = c.query("SHOW BINARY LOGS").await.unwrap();
    assert_eq!(logs.len(), 2, "{logs:?}");
    c.query_drop("PURGE BINARY LOGS BEFORE NOW()").await.unwrap();
    c.query_drop("PURGE BINARY LOGS BEFORE CONCAT('2099', '-01-01 00:00:00')").await.unwrap();
    let logs: Vec<(String, u64)> = c.query("SHOW BINARY LOGS").await.unwrap();
    assert_eq!(logs.iter().map(|l| l.0.as_str()).collect::<Vec<_>>(), ["repld-bin.000004"]);
    let e = expect_err(&mut c, "PURGE BINARY LOGS BEFORE 1+1").await;
    assert_eq!(e.0, 1210, "{e:?}");
    // The replica still follows.
    c.query_drop("INSERT INTO m.t VALUES (11, 'late')").await.unwrap();
    wait_caught_up(&primary, &replica);
    assert_eq!(checksums(&primary, &["m.t"]), checksums(&replica, &["m.t"]));
}

// ---------------------------------------------------------------------------------------------
// Binlog dump
// ---------------------------------------------------------------------------------------------

fn query_text(e: &Event) -> Option<String> {
    if e.header().event_type_raw() != QUERY {
        return None;
    }
    e.read_event::<QueryEvent>().ok().map(|q| q.query().into_owned())
}

/// Reads a stream to its end (NON_BLOCK) within `timeout`.
async fn collect_stream(
    mut stream: mysql_async::BinlogStream,
    timeout: Duration,
) -> Result<Vec<Event>, mysql_async::Error> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => panic!("stream did not end within {timeout:?}; got {} events", out.len()),
            Ok(None) => return Ok(out),
            Ok(Some(Ok(e))) => out.push(e),
            Ok(Some(Err(e))) => return Err(e),
        }
    }
}

/// Reads the next event within `timeout`.
async fn next_event(stream: &mut mysql_async::BinlogStream, timeout: Duration) -> Event {
    match tokio::time::timeout(timeout, stream.next()).await {
        Ok(Some(Ok(e))) => e,
        other => panic!(
            "no event within {timeout:?}: {:?}",
            other.map(|o| o.map(|r| r.map(|e| e.header().event_type_raw())))
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binlog_dump_non_block_heartbeat_and_1236() {
    let dir = test_dir();
    let primary = Server::primary(dir.path());
    let mut c = primary.conn().await;
    c.query_drop("CREATE DATABASE d").await.unwrap();
    c.query_drop("CREATE TABLE d.t (id INT PRIMARY KEY)").await.unwrap();
    c.query_drop("INSERT INTO d.t VALUES (1)").await.unwrap();

    // NON_BLOCK from the start: fake ROTATE, FDE, every event, then EOF (the stream ends).
    let s = primary
        .conn()
        .await
        .get_binlog_stream(BinlogStreamRequest::new(50).with_non_blocking())
        .await
        .unwrap();
    let evs = collect_stream(s, Duration::from_secs(20)).await.unwrap();
    let kinds: Vec<u8> = evs.iter().map(|e| e.header().event_type_raw()).collect();
    assert_eq!(kinds[0], ROTATE, "{kinds:?}");
    assert_eq!(evs[0].header().timestamp(), 0, "the first ROTATE is artificial");
    assert_eq!(kinds[1], FORMAT_DESCRIPTION, "{kinds:?}");
    assert!(kinds.contains(&GTID) && kinds.contains(&XID), "{kinds:?}");
    let queries: Vec<String> = evs.iter().filter_map(query_text).collect();
    assert!(queries.iter().any(|q| q.contains("CREATE TABLE d.t")), "{queries:?}");
    assert!(queries.iter().any(|q| q.contains("INSERT INTO d.t VALUES (1)")), "{queries:?}");
    let end = evs.last().unwrap().header().log_pos();
    let (_, size): (String, u64) = c.query_first("SHOW BINARY LOGS").await.unwrap().unwrap();
    assert_eq!(u64::from(end), size, "the stream went to the end of the log");

    // Many replicas at once: eight concurrent dumps all get the same events.
    let mut tasks = Vec::new();
    for id in 0..8u32 {
        let port = primary.port;
        tasks.push(tokio::spawn(async move {
            let s = conn(port, None)
                .await
                .get_binlog_stream(BinlogStreamRequest::new(100 + id).with_non_blocking())
                .await
                .unwrap();
            let evs = collect_stream(s, Duration::from_secs(30)).await.unwrap();
            evs.iter()
                .map(|e| (e.header().event_type_raw(), e.header().log_pos()))
                .collect::<Vec<_>>()
        }));
    }
    let first: Vec<(u8, u32)> =
        evs.iter().map(|e| (e.header().event_type_raw(), e.header().log_pos())).collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), first);
    }

    // From a position in the middle: ROTATE(pos) and a FDE with log_pos 0, then from that event on.
    let events = binlog_events(&mut c, "SHOW BINLOG EVENTS").await;
    let mid = events.iter().find(|e| e.info.contains("INSERT INTO d.t")).unwrap();
    let gtid_before = events.iter().rev().find(|e| e.kind == "Gtid" && e.pos < mid.pos).unwrap();
    let req = BinlogStreamRequest::new(51)
        .with_non_blocking()
        .with_filename(b"repld-bin.000001")
        .with_pos(gtid_before.pos);
    let evs = collect_stream(
        primary.conn().await.get_binlog_stream(req).await.unwrap(),
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    assert_eq!(evs[0].header().event_type_raw(), ROTATE);
    assert_eq!(evs[1].header().event_type_raw(), FORMAT_DESCRIPTION);
    assert_eq!(evs[1].header().log_pos(), 0);
    assert_eq!(evs[2].header().event_type_raw(), GTID);
    assert_eq!(u64::from(evs[2].header().log_pos()), gtid_before.end);

    // From a GTID state (@slave_connect_state): the stream starts at the first group the state lacks.
    let mut g = primary.conn().await;
    g.query_drop("SET @slave_connect_state = '0-1-2'").await.unwrap();
    let evs = collect_stream(
        g.get_binlog_stream(BinlogStreamRequest::new(58).with_non_blocking()).await.unwrap(),
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    let seqs: Vec<u64> = evs
        .iter()
        .filter(|e| e.header().event_type_raw() == GTID)
        .map(|e| u64::from_le_bytes(e.data()[..8].try_into().unwrap()))
        .collect();
    assert_eq!(seqs, vec![3], "only the group after 0-1-2");
    let queries: Vec<String> = evs.iter().filter_map(query_text).collect();
    assert!(queries.iter().any(|q| q.contains("INSERT INTO d.t VALUES (1)")), "{queries:?}");
    assert!(!queries.iter().any(|q| q.contains("CREATE")), "{queries:?}");

    // Blocking dump at the end: HEARTBEATs at @master_heartbeat_period while idle, then new events.
    let mut hc = primary.conn().await;
    hc.query_drop("SET @master_heartbeat_period = 200000000").await.unwrap(); // 0.2 s in ns
    let req = BinlogStreamRequest::new(52).with_filename(b"repld-bin.000001").with_pos(size);
    let mut s = hc.get_binlog_stream(req).await.unwrap();
    assert_eq!(next_event(&mut s, TIMEOUT).await.header().event_type_raw(), ROTATE);
    assert_eq!(next_event(&mut s, TIMEOUT).await.header().event_type_raw(), FORMAT_DESCRIPTION);
    let t0 = Instant::now();
    let hb = next_event(&mut s, TIMEOUT).await;
    assert_eq!(hb.header().event_type_raw(), HEARTBEAT);
    assert_eq!(u64::from(hb.header().log_pos()), size, "heartbeat names the current position");
    let hb2 = next_event(&mut s, TIMEOUT).await;
    assert_eq!(hb2.header().event_type_raw(), HEARTBEAT);
    assert!(
        t0.elapsed() >= Duration::from_millis(150),
        "two beats take about one period: {:?}",
        t0.elapsed()
    );
    c.query_drop("INSERT INTO d.t VALUES (2)").await.unwrap();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "new insert not streamed");
        let e = next_event(&mut s, TIMEOUT).await;
        if query_text(&e).is_some_and(|q| q.contains("VALUES (2)")) {
            break;
        }
    }
    drop(s);

    // ERR 1236 for an unknown file, a purged file and a position past the end.
    let bad: [(&[u8], u64); 3] =
        [(b"repld-bin.000077", 4), (b"nonsense", 4), (b"repld-bin.000001", 5)];
    for (file, pos) in bad {
        let req =
            BinlogStreamRequest::new(53).with_non_blocking().with_filename(file).with_pos(pos);
        let r = match primary.conn().await.get_binlog_stream(req).await {
            Ok(s) => collect_stream(s, Duration::from_secs(20)).await.map(|_| ()),
            Err(e) => Err(e),
        };
        let e = server_error(r.expect_err("dump from an unknown file or a bad offset must fail"));
        assert_eq!((e.0, e.1.as_str()), (1236, "HY000"), "{e:?}");
    }
    c.query_drop("FLUSH BINARY LOGS").await.unwrap();
    // Across files: the real ROTATE at the end of .000001, then a fake one (timestamp 0) naming
    // .000002, then .000002's FORMAT_DESCRIPTION.
    let s = primary
        .conn()
        .await
        .get_binlog_stream(BinlogStreamRequest::new(57).with_non_blocking())
        .await
        .unwrap();
    let evs = collect_stream(s, Duration::from_secs(20)).await.unwrap();
    let at = evs
        .iter()
        .position(|e| e.header().event_type_raw() == ROTATE && e.header().timestamp() != 0)
        .expect("real ROTATE");
    assert_eq!(evs[at + 1].header().event_type_raw(), ROTATE);
    assert_eq!(evs[at + 1].header().timestamp(), 0);
    assert_eq!(evs[at + 2].header().event_type_raw(), FORMAT_DESCRIPTION);
    c.query_drop("PURGE BINARY LOGS TO 'repld-bin.000002'").await.unwrap();
    let req = BinlogStreamRequest::new(54)
        .with_non_blocking()
        .with_filename(b"repld-bin.000001")
        .with_pos(4);
    let r = collect_stream(
        primary.conn().await.get_binlog_stream(req).await.unwrap(),
        Duration::from_secs(20),
    )
    .await;
    let e = server_error(r.expect_err("purged file"));
    assert_eq!(e.0, 1236, "{e:?}");
    let req = BinlogStreamRequest::new(55)
        .with_non_blocking()
        .with_filename(b"repld-bin.000002")
        .with_pos(1 << 30);
    let r = collect_stream(
        primary.conn().await.get_binlog_stream(req).await.unwrap(),
        Duration::from_secs(20),
    )
    .await;
    let e = server_error(r.expect_err("position past the end"));
    assert_eq!(e.0, 1236, "{e:?}");
    // A GTID state the log no longer has (purged) is refused too.
    let mut g = primary.conn().await;
    g.query_drop("SET @slave_connect_state = '0-1-1'").await.unwrap();
    let r = collect_stream(
        g.get_binlog_stream(BinlogStreamRequest::new(56).with_non_blocking()).await.unwrap(),
        Duration::from_secs(20),
    )
    .await;
    let e = server_error(r.expect_err("GTID position purged"));
    assert_eq!(e.0, 1236, "{e:?}");
    // A replica ahead of the primary (a GTID the log never had) is refused too.
    let mut g = primary.conn().await;
    g.query_drop("SET @slave_connect_state = '0-1-999'").await.unwrap();
    let r = collect_stream(
        g.get_binlog_stream(BinlogStreamRequest::new(59).with_non_blocking()).await.unwrap(),
        Duration::from_secs(20),
    )
    .await;
    let e = server_error(r.expect_err("GTID position ahead of the log"));
    assert_eq!(e.0, 1236, "{e:?}");
    // The server still serves.
    let one: Option<i32> = c.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_refused_while_a_replica_reads_the_file() {
    let dir = test_dir();
    let primary = Server::primary(dir.path());
    let mut c = primary.conn().await;
    c.query_drop("CREATE DATABASE g").await.unwrap();
    c.query_drop("CREATE TABLE g.t (id INT PRIMARY KEY, b LONGBLOB)").await.unwrap();
    // ~24 MB in .000001, more than the socket buffers hold: a dump that is not read stays in that file.
    let blob = vec![b'x'; 1 << 20];
    for i in 0..24 {
        c.exec_drop("INSERT INTO g.t VALUES (?, ?)", (i, blob.clone())).await.unwrap();
    }
    c.query_drop("FLUSH BINARY LOGS").await.unwrap();
    let req = BinlogStreamRequest::new(60).with_filename(b"repld-bin.000001").with_pos(4);
    let mut s = primary.conn().await.get_binlog_stream(req).await.unwrap();
    assert_eq!(next_event(&mut s, TIMEOUT).await.header().event_type_raw(), ROTATE);
    // Wait until the dump runs (listed in the process list), then PURGE must refuse, naming the file.
    assert!(wait_until(TIMEOUT, || mariadb_try(primary.port, "SHOW PROCESSLIST")
        .is_ok_and(|o| o.contains("Binlog Dump"))));
    let e = expect_err(&mut c, "PURGE BINARY LOGS TO 'repld-bin.000002'").await;
    assert_eq!(e.0, 1378, "ER_LOG_IN_USE: {e:?}");
    assert!(e.2.contains("repld-bin.000001"), "error names the file: {e:?}");
    // A replica that does not read never slows commits: 200 autocommit inserts go through while
    // its dump is blocked on a full socket.
    let t0 = Instant::now();
    for i in 100..300 {
        c.query_drop(format!("INSERT INTO g.t VALUES ({i}, 'small')")).await.unwrap();
    }
    assert!(t0.elapsed() < Duration::from_secs(30), "commits slowed down: {:?}", t0.elapsed());
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM g.t").await.unwrap();
    assert_eq!(n, Some(224));
    assert!(primary.data_dir.join("repld-bin.000001").exists());
    // Once the replica is gone, the purge goes through.
    drop(s);
    let ok = wait_until_async(TIMEOUT, || async {
        primary.conn().await.query_drop("PURGE BINARY LOGS TO 'repld-bin.000002'").await.is_ok()
    })
    .await;
    assert!(ok, "purge after the replica left");
    assert!(!primary.data_dir.join("repld-bin.000001").exists());
}

#[test]
fn mariadb_binlog_remote_read() {
    let dir = test_dir();
    let primary = Server::primary(dir.path());
    primary.sql("CREATE DATABASE rr; CREATE TABLE rr.t (id INT PRIMARY KEY, s VARCHAR(20)); INSERT INTO rr.t VALUES (1, 'remote-one')");
    primary.sql("FLUSH BINARY LOGS; INSERT INTO rr.t VALUES (2, 'remote-two')");
    let run = |args: &[&str]| {
        let mut cmd = Command::new("timeout");
        cmd.arg("60").arg("mariadb-binlog").args([
            "--no-defaults",
            "-R",
            "--host=127.0.0.1",
            "-uroot",
        ]);
        cmd.arg(format!("--port={}", primary.port)).args(args).stdin(Stdio::null());
        let out = cmd.output().expect("run mariadb-binlog");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "mariadb-binlog {args:?} failed: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let one = run(&["repld-bin.000001"]);
    assert!(one.contains("remote-one"), "{one}");
    assert!(one.contains("CREATE TABLE rr.t"), "{one}");
    assert!(!one.contains("remote-two"), "only the first file: {one}");
    let all = run(&["--to-last-log", "repld-bin.000001"]);
    assert!(all.contains("remote-one") && all.contains("remote-two"), "{all}");
    assert!(all.contains("GTID 0-1-3"), "{all}");
    // A file that does not exist: mariadb-binlog reports the server's error and fails.
    let out = Command::new("timeout")
        .args(["60", "mariadb-binlog", "--no-defaults", "-R", "--host=127.0.0.1", "-uroot"])
        .arg(format!("--port={}", primary.port))
        .arg("repld-bin.000099")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Got error reading packet from server") && err.contains("repld-bin.000099"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Robustness: malformed input on a live server
// ---------------------------------------------------------------------------------------------

#[test]
fn malformed_packets_get_mysql_errors_and_the_server_keeps_serving() {
    let dir = test_dir();
    let primary = Server::primary(dir.path());
    let port = primary.port;
    primary.sql("CREATE DATABASE z; CREATE TABLE z.t (id INT PRIMARY KEY)");
    let mut bystander = Raw::login(port, Some("z"), BASE_CAPS | DEPRECATE_EOF);

    // Unknown commands: 1047 / 08S01, connection stays usable.
    let mut c = Raw::login(port, None, BASE_CAPS | DEPRECATE_EOF);
    for cmd in [0xEEu8, 0x20, 0x0D, 0x00] {
        c.command(&[cmd, 1, 2, 3]);
        let e = parse_err(&c.read().unwrap()).unwrap_or_else(|| panic!("ERR for command {cmd:#x}"));
        assert_eq!((e.code, e.state.as_str()), (1047, "08S01"), "command {cmd:#x}: {e:?}");
    }
    assert!(c.ping());
    // Empty COM_QUERY: 1065; an empty packet (no command byte) is an error, not a crash.
    c.command(&[0x03]);
    assert_eq!(parse_err(&c.read().unwrap()).unwrap().code, 1065);
    c.command(&[]);
    let p = c.read().expect("answer to an empty packet");
    assert!(parse_err(&p).is_some(), "{p:?}");
    assert!(c.ping());
    // Truncated commands: COM_STMT_EXECUTE / COM_INIT_DB / COM_PROCESS_KILL with short bodies.
    c.command(&[0x17, 1]);
    assert!(parse_err(&c.read().unwrap()).is_some());
    c.command(&[0x0C, 1]);
    assert!(parse_err(&c.read().unwrap()).is_some());
    // A prepared statement with parameters executed with a truncated parameter block.
    let mut p = vec![0x16];
    p.extend_from_slice(b"SELECT ? + ?");
    c.command(&p);
    let ok = c.read().unwrap();
    assert_eq!(ok[0], 0);
    let id = u32::from_le_bytes(ok[1..5].try_into().unwrap());
    let n =
        u16::from_le_bytes([ok[5], ok[6]]) as usize + u16::from_le_bytes([ok[7], ok[8]]) as usize;
    for _ in 0..n {
        c.read().unwrap();
    }
    let mut p = vec![0x17];
    p.extend_from_slice(&id.to_le_bytes());
    p.extend_from_slice(&[0, 1, 0, 0, 0, 0, 1, 8, 0]); // null bitmap, new-bound, one type only
    c.command(&p);
    let e = parse_err(&c.read().unwrap()).expect("ERR for truncated params");
    assert!(matches!(e.code, 1210 | 1835 | 1064), "{e:?}");
    assert!(c.ping(), "still usable after malformed execute");
    // Garbage SQL bytes (invalid UTF-8) are a syntax error, not a crash.
    c.command(&[0x03, 0xFF, 0xFE, 0x00, 0x80]);
    assert!(parse_err(&c.read().unwrap()).is_some());
    assert!(c.ping());

    // A payload of exactly 0xFFFFFF bytes takes a second, empty packet; just under the limit, so it
    // is served.
    let mut edge = Raw::login(port, None, BASE_CAPS | DEPRECATE_EOF);
    let mut payload = b"\x03SELECT 'edge' /*".to_vec();
    payload.resize(0xFFFFFF - 2, b' ');
    payload.extend_from_slice(b"*/");
    edge.write(0, &payload);
    edge.write(1, &[]);
    assert_eq!(edge.read_result().unwrap(), vec![vec![Some("edge".to_string())]]);
    assert!(edge.ping());
    // An oversized packet (> max_allowed_packet, 16 MB): 1153, and the connection is closed.
    let mut big = Raw::login(port, None, BASE_CAPS | DEPRECATE_EOF);
    let mut payload = vec![0x03];
    payload.resize(0xFFFFFF, b' ');
    big.write(0, &payload);
    let mut tail = b"SELECT 1".to_vec();
    tail.resize(1 << 20, b' ');
    // The server may close the socket as soon as it has refused; ignore write errors.
    let mut buf = Vec::new();
    buf.extend_from_slice(&(tail.len() as u32).to_le_bytes()[..3]);
    buf.push(1);
    buf.extend_from_slice(&tail);
    let _ = std::io::Write::write_all(&mut big.stream, &buf);
    let p = big.read().expect("ERR for an oversized packet");
    let e = parse_err(&p).expect("ERR packet");
    assert_eq!((e.code, e.state.as_str()), (1153, "08S01"), "{e:?}");
    assert!(big.closed());

    // Truncated packet then close; garbage instead of a handshake response; closing mid-handshake.
    let mut t = Raw::login(port, None, BASE_CAPS);
    std::io::Write::write_all(&mut t.stream, &[100, 0, 0, 0, 3, b'S']).unwrap();
    drop(t);
    let mut g = Raw::tcp(port);
    g.read().unwrap();
    g.write(1, &[0xFF; 40]);
    let p = g.read().expect("garbage login answered");
    let e = parse_err(&p).unwrap_or_else(|| panic!("garbage login answered by ERR: {p:?}"));
    assert!(matches!(e.code, 1043 | 1045), "{e:?}");
    let mut h = Raw::tcp(port);
    h.read().unwrap();
    drop(h);
    let mut seq = Raw::tcp(port);
    seq.read().unwrap();
    seq.write(1, &[1, 2, 3]); // a handshake response too short to hold anything
    let p = seq.read().expect("short handshake response answered");
    assert_eq!(parse_err(&p).map(|e| e.code), Some(1043), "{p:?}");

    // Through all of this, other clients are served.
    assert!(bystander.ping());
    assert_eq!(
        bystander.query("SELECT COUNT(*) FROM t").unwrap(),
        vec![vec![Some("0".to_string())]]
    );
    bystander.query("INSERT INTO t VALUES (1)").unwrap();
    assert_eq!(primary.sql("SELECT COUNT(*) FROM z.t").trim(), "1");
}

#[test]
fn random_commands_on_a_live_server_never_crash_it() {
    use rand::{Rng, SeedableRng};
    let dir = test_dir();
    let mut primary = Server::primary(dir.path());
    let port = primary.port;
    primary.sql("CREATE DATABASE f; CREATE TABLE f.t (id INT PRIMARY KEY)");
    let mut bystander = Raw::login(port, Some("f"), BASE_CAPS | DEPRECATE_EOF);
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    // Every command code but those that would start a dump stream or kill other connections.
    let codes: Vec<u8> = (0u8..=0x25).filter(|c| !matches!(c, 0x0c | 0x12 | 0x1e)).collect();
    for i in 0..300 {
        let mut c =
            Raw::login(port, None, if i % 2 == 0 { BASE_CAPS } else { BASE_CAPS | DEPRECATE_EOF });
        let mut p = vec![codes[rng.gen_range(0..codes.len())]];
        let n = rng.gen_range(0..48);
        p.extend((0..n).map(|_| rng.gen::<u8>()));
        c.command(&p);
        if p[0] == 0x01 {
            assert!(c.closed(), "COM_QUIT closes");
            continue;
        }
        // A COM_PING after it must be answered (after whatever the random command got), unless
        // the server closed this connection.
        c.write(0, &[0x0E]);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            assert!(Instant::now() < deadline, "no answer to {p:?}");
            match c.read() {
                None => break,
                Some(r) if r.len() >= 7 && r[0] == 0x00 && c.seq == 1 => break,
                Some(_) => {}
            }
        }
        assert!(
            primary.child.as_mut().unwrap().try_wait().unwrap().is_none(),
            "server died on {p:?}"
        );
    }
    assert!(bystander.ping());
    bystander.query("INSERT INTO t VALUES (1)").unwrap();
    assert_eq!(primary.sql("SELECT COUNT(*) FROM f.t").trim(), "1");
}

// ---------------------------------------------------------------------------------------------
// Recovery and shutdown
// ---------------------------------------------------------------------------------------------

/// The ids inserted by committed transactions, read from the binary log files with `LogReader`.
fn committed_ids_in_binlog(data_dir: &std::path::Path) -> Vec<u64> {
    use repld::log::event::EventBody;
    let mut r = repld::log::LogReader::open(data_dir, "repld-bin", "", 4).expect("open binlog");
    let mut ids = Vec::new();
    let mut pending = Vec::new();
    while let Some(ev) = r.next_event().expect("read binlog") {
        match &ev.event.body {
            EventBody::Gtid { .. } => pending.clear(),
            EventBody::Query { sql, .. } => {
                let sql = String::from_utf8_lossy(sql);
                if let Some(rest) = sql.strip_prefix("INSERT INTO k.t (id, w) VALUES (") {
                    pending.push(rest.split(',').next().unwrap().trim().parse::<u64>().unwrap());
                }
            }
            EventBody::Xid(_) => ids.append(&mut pending),
            _ => {}
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_load_store_and_binlog_agree_then_clean_stop() {
    let dir = test_dir();
    let mut primary = Server::primary(dir.path());
    primary.sql("CREATE DATABASE k; CREATE TABLE k.t (id INT PRIMARY KEY, w INT)");
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let mut tasks = Vec::new();
    for w in 0..4u64 {
        let (port, acked) = (primary.port, acked.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(mut c) = Conn::new(opts(port, "root", "")).await else { return };
            for n in 0.. {
                let id = w * 1_000_000 + n;
                if c.query_drop(format!("INSERT INTO k.t (id, w) VALUES ({id}, {w})"))
                    .await
                    .is_err()
                {
                    return;
                }
                acked.lock().unwrap().push(id);
            }
        }));
    }
    assert!(wait_until(TIMEOUT, || acked.lock().unwrap().len() >= 200), "load runs");
    primary.kill9();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().unwrap().clone();
    // A torn tail as a crash mid-write leaves it: garbage appended to the last file.
    let last = std::fs::read_dir(&primary.data_dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with("repld-bin.0"))
        .max()
        .unwrap();
    let path = primary.data_dir.join(&last);
    let size = std::fs::metadata(&path).unwrap().len();
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut f, &[0x5A; 37]).unwrap();
    drop(f);
    // Start-up with the torn tail is quick: the garbage `event_size` (0x5A5A5A5A) must not make
    // recovery read or allocate 1.5 GB.
    let t0 = Instant::now();
    primary.restart();
    assert!(t0.elapsed() < Duration::from_secs(15), "recovery took {:?}", t0.elapsed());
    assert!(primary.log().contains("torn tail cut"), "the garbage was cut");
    assert!(std::fs::metadata(&path).unwrap().len() <= size, "the file is back to at most {size}");

    // Every acknowledged insert is there; the store holds exactly the inserts of the committed
    // transactions in the binary log.
    let rows: Vec<u64> = primary
        .sql("SELECT id FROM k.t ORDER BY id")
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    let mut in_log = committed_ids_in_binlog(&primary.data_dir);
    in_log.sort_unstable();
    assert_eq!(rows, in_log, "store and binary log agree");
    let missing: Vec<&u64> = acked.iter().filter(|id| rows.binary_search(id).is_err()).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    assert!(rows.len() >= acked.len());
    // The log decodes end to end with mariadb-binlog, and the server accepts new writes after it.
    primary.sql("INSERT INTO k.t (id, w) VALUES (99999999, 9)");
    let files: Vec<String> = primary
        .sql("SHOW BINARY LOGS")
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect();
    for f in &files {
        let out = Command::new("mariadb-binlog")
            .arg("--no-defaults")
            .arg(primary.data_dir.join(f))
            .output()
            .unwrap();
        assert!(out.status.success(), "{f}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // SIGTERM while a client holds an open write transaction and a replica streams: both go away,
    // the server exits 0, the uncommitted row is not there after the restart.
    let mut open_txn = primary.conn().await;
    open_txn.query_drop("BEGIN").await.unwrap();
    open_txn.query_drop("INSERT INTO k.t (id, w) VALUES (77777777, 7)").await.unwrap();
    let mut stream =
        primary.conn().await.get_binlog_stream(BinlogStreamRequest::new(90)).await.unwrap();
    assert_eq!(next_event(&mut stream, TIMEOUT).await.header().event_type_raw(), ROTATE);
    // SIGTERM: exit 0, and the log ends with a STOP event; the next start opens a new file.
    assert_eq!(primary.stop(), Some(0), "clean exit; log:\n{}", primary.log());
    let last = files.last().unwrap();
    let mut r = repld::log::LogReader::open(&primary.data_dir, "repld-bin", last, 4).unwrap();
    let mut last_type = 0;
    while let Some(ev) = r.next_event().unwrap() {
        last_type = ev.event.header.type_code;
    }
    assert_eq!(last_type, STOP, "the last event before a clean stop is STOP");
    assert!(open_txn.query_drop("SELECT 1").await.is_err(), "the client was disconnected");
    let deadline = Instant::now() + TIMEOUT;
    while let Some(Ok(_)) = tokio::time::timeout(TIMEOUT, stream.next()).await.expect("stream ends")
    {
        assert!(Instant::now() < deadline);
    }
    primary.restart();
    let n: usize = primary.sql("SELECT COUNT(*) FROM k.t").trim().parse().unwrap();
    assert_eq!(n, rows.len() + 1);
    // SIGINT stops it cleanly too.
    let mut child = primary.child.take().unwrap();
    let st = Command::new("kill").arg("-INT").arg(child.id().to_string()).status().unwrap();
    assert!(st.success());
    let deadline = Instant::now() + TIMEOUT;
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        assert!(Instant::now() < deadline, "no exit after SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0));
}

// ---------------------------------------------------------------------------------------------
// Large rows and the command-line client
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_over_16mb_in_text_and_binary_results() {
    let dir = test_dir();
    let primary = Server::primary(dir.path());
    let opts = opts(primary.port, "root", "").max_allowed_packet(Some(64 << 20));
    let mut c = Conn::new(opts).await.unwrap();
    c.query_drop("CREATE DATABASE big").await.unwrap();
    c.query_drop("CREATE TABLE big.t (id INT PRIMARY KEY, b LONGBLOB)").await.unwrap();
    let blob: Vec<u8> = (0..9 << 20).map(|i: u32| b'a' + (i % 26) as u8).collect();
    c.exec_drop("INSERT INTO big.t VALUES (1, ?)", (blob.clone(),)).await.unwrap();
    // One row of two 9 MB columns: an 18 MB packet, sent as 16 MB chunks.
    let row: Option<(Vec<u8>, Vec<u8>)> = c.query_first("SELECT b, b FROM big.t").await.unwrap();
    let (x, y) = row.expect("row");
    assert!(x == blob && y == blob, "text row of 18 MB intact");
    let row: Option<(i32, Vec<u8>, Vec<u8>)> =
        c.exec_first("SELECT id, b, b FROM big.t WHERE id = ?", (1,)).await.unwrap();
    let (id, x, y) = row.expect("row");
    assert!(id == 1 && x == blob && y == blob, "binary row of 18 MB intact");
    // The connection is in sync afterwards.
    let one: Option<i32> = c.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
}

#[test]
fn mariadb_cli_session() {
    let dir = test_dir();
    let primary = Server::primary(dir.path());
    let script = "SET NAMES utf8mb4;\n\
        SELECT @@version_comment, @@max_allowed_packet;\n\
        CREATE DATABASE cli;\n\
        use cli\n\
        CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20) NOT NULL, n INT DEFAULT 0);\n\
        SHOW TABLES;\n\
        DESCRIBE t;\n\
        INSERT INTO t (name) VALUES ('a'), ('b');\n\
        START TRANSACTION;\n\
        UPDATE t SET n = n + 1 WHERE name = 'a';\n\
        DELETE FROM t WHERE name = 'b';\n\
        COMMIT;\n\
        BEGIN;\n\
        INSERT INTO t (name) VALUES ('gone');\n\
        ROLLBACK;\n\
        SELECT CONCAT('row:', id, ':', name, ':', n) FROM t;\n\
        SHOW MASTER STATUS;\n\
        SHOW BINARY LOGS;\n\
        SHOW PROCESSLIST;\n";
    let mut child = Command::new("mariadb")
        .args(["--no-defaults", "-h127.0.0.1", "-uroot", "-N", "-B"])
        .arg(format!("-P{}", primary.port))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{text}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "repld\t16777216");
    assert!(lines.contains(&"t"), "SHOW TABLES: {text}");
    assert!(lines.iter().any(|l| l.starts_with("id\tint(11)\tNO\tPRI")), "DESCRIBE: {text}");
    assert!(lines.contains(&"row:1:a:1"), "{text}");
    assert!(!text.contains("row:2") && !text.contains("gone"), "{text}");
    assert!(
        lines.iter().any(|l| l.starts_with("repld-bin.000001\t") && l.ends_with("0-1-4")),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.contains("\troot\t") && l.contains("SHOW PROCESSLIST")),
        "{text}"
    );
}

/// Waits until the primary's dump has streamed into binlog file `file` (SHOW SLAVE HOSTS' Position), so
/// that its purge hold has moved there: the dump follows a rotation a moment after FLUSH BINARY LOGS.
async fn wait_dump_in(c: &mut mysql_async::Conn, file: &str) {
    let prefix = format!("{file}:");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let hosts: Vec<Row> = c.query("SHOW SLAVE HOSTS").await.unwrap();
        if hosts.iter().all(|h| h.get::<String, _>(4).is_some_and(|p| p.starts_with(&prefix))) {
            return;
        }
        assert!(Instant::now() < deadline, "the dump did not move into {file}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
