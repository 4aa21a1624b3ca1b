//! End-to-end tests of the wire layer: a toy server built only from `repld::wire`'s API, driven by
//! mysql_async (text and prepared statements, errors, > 16 MB packets, both auth plugins) and by the
//! real `mariadb` command-line client.

use mysql_async::prelude::*;
use mysql_async::{Conn, OptsBuilder, Value as MyValue};
use repld::sql::{ColumnInfo, ColumnType, ResultSet, Value};
use repld::wire::*;
use repld::Error;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

const PASSWORD: &str = "s3cret";
const MAX_PACKET: usize = 64 << 20;

struct Accounts;

impl Authenticator for Accounts {
    fn lookup(&self, user: &str) -> Option<Account> {
        match user {
            "root" => Some(Account { password: PASSWORD.into(), privilege: Privilege::All }),
            "nopw" => Some(Account { password: String::new(), privilege: Privilege::Read }),
            _ => None,
        }
    }

    fn check_database(&self, _user: &str, db: &str) -> repld::Result<()> {
        if db == "missing" {
            return Err(Error::sql(1049, "42000", format!("Unknown database '{db}'")));
        }
        Ok(())
    }
}

/// A running toy server; aborted on drop.
struct ToyServer {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ToyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(method: AuthMethod, max_packet: usize) -> ToyServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut conn_id = 0;
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            conn_id += 1;
            tokio::spawn(serve(stream, conn_id, method, max_packet));
        }
    });
    ToyServer { port, task }
}

fn col(name: &str, ty: ColumnType, flags: u16, charset: u16, decimals: u8) -> ColumnInfo {
    ColumnInfo {
        schema: "toy".into(),
        table: String::new(),
        org_table: String::new(),
        name: name.into(),
        org_name: String::new(),
        column_type: ty,
        length: 20,
        flags,
        decimals,
        charset,
    }
}

/// One column of every type, and a row of values for them.
fn all_types() -> ResultSet {
    let columns = vec![
        col("tiny", ColumnType::Tiny, 0, 63, 0),
        col("short", ColumnType::Short, 0, 63, 0),
        col("int24", ColumnType::Int24, 0, 63, 0),
        col("long", ColumnType::Long, 0, 63, 0),
        col("longlong", ColumnType::LongLong, 0, 63, 0),
        col("ubig", ColumnType::LongLong, UNSIGNED_FLAG, 63, 0),
        col("float", ColumnType::Float, 0, 63, 31),
        col("double", ColumnType::Double, 0, 63, 31),
        col("decimal", ColumnType::NewDecimal, 0, 63, 2),
        col("varchar", ColumnType::VarString, 0, 45, 0),
        col("char", ColumnType::String, 0, 45, 0),
        col("blob", ColumnType::Blob, 16 | 128, 63, 0),
        col("date", ColumnType::Date, 0, 63, 0),
        col("datetime", ColumnType::DateTime, 0, 63, 0),
        col("datetime6", ColumnType::DateTime, 0, 63, 6),
        col("timestamp", ColumnType::Timestamp, 0, 63, 0),
        col("null", ColumnType::Null, 0, 63, 0),
        col("nullint", ColumnType::Long, 0, 63, 0),
    ];
    let row = vec![
        Value::Int(-7),
        Value::Int(-300),
        Value::Int(70000),
        Value::Int(-2_000_000_000),
        Value::Int(i64::MIN),
        Value::UInt(u64::MAX),
        Value::Double(1.5),
        Value::Double(0.1),
        Value::Decimal("-12.50".into()),
        Value::Bytes("héllo 'x'".as_bytes().to_vec()),
        Value::Bytes(b"c".to_vec()),
        Value::Bytes(vec![0, 1, 2, 255]),
        Value::Date(2024, 2, 29),
        Value::DateTime(1_700_000_000_000_000),
        Value::DateTime(1_700_000_000_123_456),
        Value::DateTime(0),
        Value::Null,
        Value::Null,
    ];
    ResultSet { columns, rows: vec![row] }
}

fn one(name: &str, ty: ColumnType, v: Value) -> ResultSet {
    let charset = if matches!(v, Value::Bytes(_)) { 45 } else { 63 };
    ResultSet { columns: vec![col(name, ty, 0, charset, 0)], rows: vec![vec![v]] }
}

/// The column a value is echoed under.
fn column_for(i: usize, v: &Value) -> ColumnInfo {
    let (ty, flags, charset, decimals) = match v {
        Value::Null => (ColumnType::Null, 0, 63, 0),
        Value::Int(_) => (ColumnType::LongLong, 0, 63, 0),
        Value::UInt(_) => (ColumnType::LongLong, UNSIGNED_FLAG, 63, 0),
        Value::Double(_) => (ColumnType::Double, 0, 63, 31),
        Value::Decimal(_) => (ColumnType::NewDecimal, 0, 63, 10),
        Value::Bytes(_) => (ColumnType::VarString, 0, 45, 0),
        Value::Date(..) => (ColumnType::Date, 0, 63, 0),
        Value::DateTime(_) => (ColumnType::DateTime, 0, 63, 6),
    };
    col(&format!("p{i}"), ty, flags, charset, decimals)
}

enum Answer {
    Rows(ResultSet),
    Ok(OkInfo),
}

/// The toy's "SQL engine".
fn answer(sql: &str, last_inlined: &str) -> Result<Answer, Error> {
    let sql = sql.trim();
    let upper = sql.to_ascii_uppercase();
    if let Some(n) = upper.strip_prefix("SELECT ").and_then(|n| n.parse::<i64>().ok()) {
        return Ok(Answer::Rows(one(&n.to_string(), ColumnType::LongLong, Value::Int(n))));
    }
    if let Some(inner) = sql.strip_prefix("SELECT LENGTH('").and_then(|s| s.strip_suffix("')")) {
        return Ok(Answer::Rows(one("len", ColumnType::LongLong, Value::Int(inner.len() as i64))));
    }
    if let Some(n) = upper.strip_prefix("SELECT BIG ").and_then(|n| n.parse::<usize>().ok()) {
        return Ok(Answer::Rows(one("big", ColumnType::Blob, Value::Bytes(vec![b'a'; n]))));
    }
    match upper.as_str() {
        "SELECT ALLTYPES" => Ok(Answer::Rows(all_types())),
        "SELECT @@VERSION_COMMENT LIMIT 1" => Ok(Answer::Rows(one(
            "@@version_comment",
            ColumnType::VarString,
            Value::Bytes(b"toy".to_vec()),
        ))),
        "SELECT LAST_INLINED" => Ok(Answer::Rows(one(
            "sql",
            ColumnType::VarString,
            Value::Bytes(last_inlined.as_bytes().to_vec()),
        ))),
        "SELECT EMPTY" => Ok(Answer::Rows(ResultSet {
            columns: vec![col("e", ColumnType::Long, 0, 63, 0)],
            rows: vec![],
        })),
        _ if upper.starts_with("INSERT") => Ok(Answer::Ok(OkInfo {
            affected_rows: 3,
            last_insert_id: 7,
            info: "Records: 3  Duplicates: 0  Warnings: 0".into(),
            ..Default::default()
        })),
        _ if upper.starts_with("SET ") || upper.starts_with("USE ") => {
            Ok(Answer::Ok(OkInfo::default()))
        }
        _ if upper.starts_with("FAIL") => {
            Err(Error::sql(1146, "42S02", "Table 'toy.missing' doesn't exist"))
        }
        _ => Err(Error::sql(
            1064,
            "42000",
            format!("You have an error in your SQL syntax near '{sql}'"),
        )),
    }
}

struct Prepared {
    sql: String,
    params: usize,
    types: Vec<u16>,
    long_data: BTreeMap<u16, Vec<u8>>,
}

async fn serve(stream: TcpStream, conn_id: u32, method: AuthMethod, max_packet: usize) {
    let mut conn = PacketConn::with_max_allowed_packet(stream, max_packet);
    let params = HandshakeParams {
        conn_id,
        server_version: SERVER_VERSION,
        auth: &Accounts,
        client_host: "localhost",
        auth_method: method,
    };
    let Ok(client) = server_handshake(&mut conn, params).await else { return };
    let caps = client.capabilities;
    let mut stmts: HashMap<u32, Prepared> = HashMap::new();
    let mut next_stmt = 1;
    let mut last_inlined = String::new();
    loop {
        let payload = match conn.read_command().await {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(e) => {
                if let Error::Sql(_) = e {
                    let _ = write_error(&mut conn, &e).await;
                    let _ = conn.close_gracefully(Duration::from_secs(5)).await;
                }
                return;
            }
        };
        let cmd = match Command::parse(&payload) {
            Ok(c) => c,
            Err(e) => {
                write_error(&mut conn, &e).await.unwrap();
                continue;
            }
        };
        let r = match cmd {
            Command::Quit => return,
            Command::Ping | Command::InitDb(_) | Command::ResetConnection => {
                write_ok(
                    &mut conn,
                    &OkInfo { status_flags: SERVER_STATUS_AUTOCOMMIT, ..Default::default() },
                )
                .await
            }
            Command::Query(sql) => {
                let parts: Vec<&str> = sql.split(';').filter(|s| !s.trim().is_empty()).collect();
                let mut r = Ok(());
                for (i, part) in parts.iter().enumerate() {
                    let more = if i + 1 < parts.len() { SERVER_MORE_RESULTS_EXISTS } else { 0 };
                    let status = SERVER_STATUS_AUTOCOMMIT | more;
                    r = match answer(part, &last_inlined) {
                        Ok(Answer::Rows(rs)) => {
                            write_result_set(&mut conn, &rs, caps, status, false).await
                        }
                        Ok(Answer::Ok(ok)) => {
                            write_ok(&mut conn, &OkInfo { status_flags: status, ..ok }).await
                        }
                        Err(e) => {
                            let r = write_error(&mut conn, &e).await;
                            r.and(Err(e))
                        }
                    };
                    if r.is_err() {
                        break;
                    }
                }
                match r {
                    Err(Error::Sql(_)) => Ok(()),
                    r => r,
                }
            }
            Command::StmtPrepare(sql) => {
                let n = count_placeholders(&sql);
                let columns = if sql == "SELECT ALLTYPES" { all_types().columns } else { vec![] };
                let id = next_stmt;
                next_stmt += 1;
                stmts.insert(
                    id,
                    Prepared { sql, params: n, types: vec![], long_data: BTreeMap::new() },
                );
                write_prepare_ok(&mut conn, id, &vec![placeholder_param(); n], &columns, caps).await
            }
            Command::StmtSendLongData { stmt_id, param_id, data } => {
                if let Some(st) = stmts.get_mut(&stmt_id) {
                    st.long_data.entry(param_id).or_default().extend_from_slice(&data);
                }
                Ok(())
            }
            Command::StmtExecute { stmt_id, params, .. } => match stmts.get_mut(&stmt_id) {
                None => {
                    write_err(&mut conn, 1243, "HY000", "Unknown prepared statement handler").await
                }
                Some(st) => {
                    let decoded =
                        decode_execute_params(&params, st.params, &mut st.types, &st.long_data);
                    st.long_data.clear();
                    match decoded {
                        Err(e) => write_error(&mut conn, &e).await,
                        Ok(values) => {
                            last_inlined = inline_params(&st.sql, &values, false).unwrap();
                            let rs = if st.sql == "SELECT ALLTYPES" {
                                all_types()
                            } else {
                                let columns = values
                                    .iter()
                                    .enumerate()
                                    .map(|(i, v)| column_for(i, v))
                                    .collect();
                                ResultSet { columns, rows: vec![values] }
                            };
                            write_result_set(&mut conn, &rs, caps, SERVER_STATUS_AUTOCOMMIT, true)
                                .await
                        }
                    }
                }
            },
            Command::StmtClose(id) => {
                stmts.remove(&id);
                Ok(())
            }
            Command::StmtReset(id) => {
                if let Some(st) = stmts.get_mut(&id) {
                    st.long_data.clear();
                }
                write_ok(&mut conn, &OkInfo::default()).await
            }
            Command::FieldList { .. } => {
                write_field_list(
                    &mut conn,
                    &all_types().columns[..2],
                    caps,
                    SERVER_STATUS_AUTOCOMMIT,
                )
                .await
            }
            Command::SetOption(_) => write_eof(&mut conn, 0, SERVER_STATUS_AUTOCOMMIT).await,
            _ => write_error(&mut conn, &unknown_command()).await,
        };
        if r.is_err() {
            return;
        }
    }
}

fn opts(port: u16, user: &str, pass: &str) -> OptsBuilder {
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some(user))
        .pass(Some(pass))
        .prefer_socket(false)
        .max_allowed_packet(Some(MAX_PACKET))
        .wait_timeout(Some(28800))
}

async fn connect(port: u16) -> Conn {
    Conn::new(opts(port, "root", PASSWORD)).await.unwrap()
}

fn server_error(e: mysql_async::Error) -> (u16, String, String) {
    match e {
        mysql_async::Error::Server(s) => (s.code, s.state, s.message),
        other => panic!("expected a server error, got {other:?}"),
    }
}

#[tokio::test]
async fn native_password_select_1() {
    let server = start(AuthMethod::NativePassword, MAX_PACKET).await;
    let mut conn = connect(server.port).await;
    let v: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(v, Some(1));
    conn.ping().await.unwrap();
    conn.reset().await.unwrap();
    let v: Option<i64> = conn.query_first("SELECT 2").await.unwrap();
    assert_eq!(v, Some(2));
    conn.disconnect().await.unwrap();
}

#[tokio::test]
async fn caching_sha2_password_select_1() {
    let server = start(AuthMethod::CachingSha2Password, MAX_PACKET).await;
    let mut conn = connect(server.port).await;
    let v: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(v, Some(1));
    conn.disconnect().await.unwrap();
    let e = Conn::new(opts(server.port, "root", "wrong")).await.unwrap_err();
    assert_eq!(
        server_error(e),
        (
            1045,
            "28000".into(),
            "Access denied for user 'root'@'localhost' (using password: YES)".into()
        )
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_1045() {
    let server = start(AuthMethod::NativePassword, MAX_PACKET).await;
    let e = Conn::new(opts(server.port, "root", "wrong")).await.unwrap_err();
    assert_eq!(
        server_error(e),
        (
            1045,
            "28000".into(),
            "Access denied for user 'root'@'localhost' (using password: YES)".into()
        )
    );
    let e = Conn::new(opts(server.port, "nobody", "")).await.unwrap_err();
    assert_eq!(
        server_error(e).2,
        "Access denied for user 'nobody'@'localhost' (using password: NO)"
    );
    // An account without a password accepts only an empty one.
    let mut conn = Conn::new(opts(server.port, "nopw", "")).await.unwrap();
    assert_eq!(conn.query_first::<i64, _>("SELECT 3").await.unwrap(), Some(3));
    let e = Conn::new(opts(server.port, "nopw", "x")).await.unwrap_err();
    assert_eq!(server_error(e).0, 1045);
    // CONNECT_WITH_DB: the authenticator's database check decides.
    let mut conn =
        Conn::new(opts(server.port, "root", PASSWORD).db_name(Some("toy"))).await.unwrap();
    assert_eq!(conn.query_first::<i64, _>("SELECT 4").await.unwrap(), Some(4));
    let e =
        Conn::new(opts(server.port, "root", PASSWORD).db_name(Some("missing"))).await.unwrap_err();
    assert_eq!(server_error(e), (1049, "42000".into(), "Unknown database 'missing'".into()));
}

#[tokio::test]
async fn text_protocol_types_ok_and_errors() {
    let server = start(AuthMethod::NativePassword, MAX_PACKET).await;
    let mut conn = connect(server.port).await;
    let row: mysql_async::Row = conn.query_first("SELECT ALLTYPES").await.unwrap().unwrap();
    let cols = row.columns();
    assert_eq!(cols.len(), 18);
    assert_eq!(cols[9].name_str(), "varchar");
    assert_eq!(cols[9].character_set(), 45);
    assert_eq!(cols[5].flags().bits() & 32, 32);
    let text: Vec<Option<String>> = (0..18)
        .map(|i| match row.as_ref(i).unwrap() {
            MyValue::NULL => None,
            MyValue::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
            other => panic!("text protocol gave {other:?}"),
        })
        .collect();
    let want = [
        Some("-7"),
        Some("-300"),
        Some("70000"),
        Some("-2000000000"),
        Some("-9223372036854775808"),
        Some("18446744073709551615"),
        Some("1.5"),
        Some("0.1"),
        Some("-12.50"),
        Some("héllo 'x'"),
        Some("c"),
        Some("\0\u{1}\u{2}\u{fffd}"),
        Some("2024-02-29"),
        Some("2023-11-14 22:13:20"),
        Some("2023-11-14 22:13:20.123456"),
        Some("1970-01-01 00:00:00"),
        None,
        None,
    ];
    assert_eq!(text, want.iter().map(|s| s.map(String::from)).collect::<Vec<_>>());

    conn.query_drop("INSERT INTO t VALUES (1),(2),(3)").await.unwrap();
    assert_eq!(conn.affected_rows(), 3);
    assert_eq!(conn.last_insert_id(), Some(7));
    assert_eq!(conn.info().as_ref(), "Records: 3  Duplicates: 0  Warnings: 0");

    let e = conn.query_drop("FAIL").await.unwrap_err();
    assert_eq!(server_error(e), (1146, "42S02".into(), "Table 'toy.missing' doesn't exist".into()));
    // The connection goes on after an error.
    let empty: Vec<i64> = conn.query("SELECT EMPTY").await.unwrap();
    assert!(empty.is_empty());
    assert_eq!(conn.query_first::<i64, _>("SELECT 5").await.unwrap(), Some(5));
    conn.disconnect().await.unwrap();
}

#[tokio::test]
async fn multi_statement_results() {
    let server = start(AuthMethod::NativePassword, MAX_PACKET).await;
    let mut conn = connect(server.port).await;
    let mut result = conn.query_iter("SELECT 1; SELECT 2; INSERT INTO t VALUES (1)").await.unwrap();
    let a: Vec<i64> = result.collect().await.unwrap();
    let b: Vec<i64> = result.collect().await.unwrap();
    let c: Vec<i64> = result.collect().await.unwrap();
    assert_eq!((a, b, c), (vec![1], vec![2], vec![]));
    assert!(result.is_empty());
    drop(result);
    // An error in the middle ends the batch.
    let e = conn.query_iter("SELECT 1; FAIL; SELECT 2").await;
    let mut result = e.unwrap();
    let a: Vec<i64> = result.collect().await.unwrap();
    assert_eq!(a, vec![1]);
    let e = result.collect::<i64>().await.unwrap_err();
    assert_eq!(server_error(e).0, 1146);
    drop(result);
    assert_eq!(conn.query_first::<i64, _>("SELECT 6").await.unwrap(), Some(6));
}

#[tokio::test]
async fn prepared_statements_echo_binary_values() {
    let server = start(AuthMethod::NativePassword, MAX_PACKET).await;
    let mut conn = connect(server.port).await;
    let sql = "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?";
    let params = vec![
        MyValue::Int(-5),
        MyValue::UInt(u64::MAX),
        MyValue::Double(2.5),
        MyValue::Float(0.5),
        MyValue::Bytes(b"it's \\ ok".to_vec()),
        MyValue::Bytes(vec![0xff, 0x00]),
        MyValue::NULL,
        MyValue::Date(2024, 2, 29, 0, 0, 0, 0),
        MyValue::Date(2023, 11, 14, 22, 13, 20, 123_456),
        MyValue::Time(true, 1, 2, 3, 4, 0),
    ];
    let stmt = conn.prep(sql).await.unwrap();
    assert_eq!(stmt.num_params(), 10);
    for _ in 0..2 {
        let row: mysql_async::Row = conn.exec_first(&stmt, params.clone()).await.unwrap().unwrap();
        let got: Vec<MyValue> = (0..10).map(|i| row.as_ref(i).unwrap().clone()).collect();
        assert_eq!(
            got,
            vec![
                MyValue::Int(-5),
                MyValue::UInt(u64::MAX),
                MyValue::Double(2.5),
                MyValue::Double(0.5),
                MyValue::Bytes(b"it's \\ ok".to_vec()),
                MyValue::Bytes(vec![0xff, 0x00]),
                MyValue::NULL,
                MyValue::Date(2024, 2, 29, 0, 0, 0, 0),
                MyValue::Date(2023, 11, 14, 22, 13, 20, 123_456),
                MyValue::Bytes(b"-26:03:04".to_vec()),
            ]
        );
    }
    let inlined: Option<String> = conn.query_first("SELECT LAST_INLINED").await.unwrap();
    assert_eq!(
        inlined.unwrap(),
        "SELECT -5, 18446744073709551615, 2.5, 0.5, 'it''s \\\\ ok', X'FF00', NULL, '2024-02-29', \
         '2023-11-14 22:13:20.123456', '-26:03:04'"
    );
    conn.close(stmt).await.unwrap();

    // A prepared statement with result columns declared at prepare time, every type in binary rows.
    let row: mysql_async::Row = conn.exec_first("SELECT ALLTYPES", ()).await.unwrap().unwrap();
    let got: Vec<MyValue> = (0..18).map(|i| row.as_ref(i).unwrap().clone()).collect();
    assert_eq!(
        got,
        vec![
            MyValue::Int(-7),
            MyValue::Int(-300),
            MyValue::Int(70000),
            MyValue::Int(-2_000_000_000),
            MyValue::Int(i64::MIN),
            MyValue::UInt(u64::MAX),
            MyValue::Float(1.5),
            MyValue::Double(0.1),
            MyValue::Bytes(b"-12.50".to_vec()),
            MyValue::Bytes("héllo 'x'".as_bytes().to_vec()),
            MyValue::Bytes(b"c".to_vec()),
            MyValue::Bytes(vec![0, 1, 2, 255]),
            MyValue::Date(2024, 2, 29, 0, 0, 0, 0),
            MyValue::Date(2023, 11, 14, 22, 13, 20, 0),
            MyValue::Date(2023, 11, 14, 22, 13, 20, 123_456),
            MyValue::Date(1970, 1, 1, 0, 0, 0, 0),
            MyValue::NULL,
            MyValue::NULL,
        ]
    );
    // Wrong parameter count is refused by the client; an unknown statement id by the server.
    conn.disconnect().await.unwrap();
}

#[tokio::test]
async fn packets_over_16mb_both_ways() {
    let server = start(AuthMethod::NativePassword, MAX_PACKET).await;
    let mut conn = connect(server.port).await;
    let n = 20_000_000;
    let query = format!("SELECT LENGTH('{}')", "x".repeat(n));
    assert_eq!(conn.query_first::<i64, _>(query).await.unwrap(), Some(n as i64));
    let big: Option<Vec<u8>> = conn.query_first(format!("SELECT BIG {n}")).await.unwrap();
    assert_eq!(big.unwrap().len(), n);
    // Exactly one full chunk, the boundary case that needs an empty trailing chunk.
    let m = MAX_PAYLOAD_LEN - "SELECT LENGTH('')".len() - 1;
    let query = format!("SELECT LENGTH('{}')", "y".repeat(m));
    assert_eq!(conn.query_first::<i64, _>(query).await.unwrap(), Some(m as i64));
    // A big prepared-statement parameter (mysql_async sends it as long data).
    let p = vec![b'z'; 17_000_000];
    let row: mysql_async::Row = conn.exec_first("SELECT ?", (p.clone(),)).await.unwrap().unwrap();
    assert_eq!(row.as_ref(0).unwrap(), &MyValue::Bytes(p));
    conn.disconnect().await.unwrap();
}

#[tokio::test]
async fn packet_over_max_allowed_is_1153() {
    let server = start(AuthMethod::NativePassword, 1 << 20).await;
    let mut conn = connect(server.port).await;
    let query = format!("SELECT LENGTH('{}')", "x".repeat(2 << 20));
    let e = conn.query_drop(query).await.unwrap_err();
    assert_eq!(server_error(e).0, 1153);
    // The server is still there for others.
    let mut conn = connect(server.port).await;
    assert_eq!(conn.query_first::<i64, _>("SELECT 1").await.unwrap(), Some(1));
}

/// Runs the `mariadb` client with a deadline; returns (exit code, stdout, stderr).
async fn mariadb_cli(port: u16, password: &str, sql: &str) -> (i32, String, String) {
    let child = tokio::process::Command::new("mariadb")
        .args([
            "-h127.0.0.1",
            &format!("-P{port}"),
            "-uroot",
            &format!("-p{password}"),
            "--batch",
            "-e",
            sql,
        ])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), child)
        .await
        .expect("mariadb timed out")
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn mariadb_cli_batch_mode() {
    for method in [AuthMethod::NativePassword, AuthMethod::CachingSha2Password] {
        let server = start(method, MAX_PACKET).await;
        let (code, out, err) = mariadb_cli(server.port, PASSWORD, "SELECT 1").await;
        assert_eq!((code, out.as_str(), err.as_str()), (0, "1\n1\n", ""), "{method:?}");
        let (code, out, _) = mariadb_cli(server.port, PASSWORD, "SELECT ALLTYPES").await;
        assert_eq!(code, 0);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0].split('\t').count(), 18);
        assert_eq!(
            lines[1],
            "-7\t-300\t70000\t-2000000000\t-9223372036854775808\t18446744073709551615\t1.5\t0.1\t-12.50\t\
             héllo 'x'\tc\t\\0\u{1}\u{2}\u{fffd}\t2024-02-29\t2023-11-14 22:13:20\t2023-11-14 22:13:20.123456\t\
             1970-01-01 00:00:00\tNULL\tNULL"
        );
        let (code, out, err) = mariadb_cli(server.port, PASSWORD, "SELECT 1; FAIL").await;
        assert_eq!((code, out.as_str()), (1, "1\n1\n"));
        // The client echoes the failing statement between dashed lines before the error.
        assert!(
            err.trim().ends_with("ERROR 1146 (42S02) at line 1: Table 'toy.missing' doesn't exist"),
            "{err}"
        );
        let (code, out, err) = mariadb_cli(server.port, "wrong", "SELECT 1").await;
        assert_eq!((code, out.as_str()), (1, ""));
        assert_eq!(
            err.trim(),
            "ERROR 1045 (28000): Access denied for user 'root'@'localhost' (using password: YES)",
            "{method:?}"
        );
    }
}
