//! Shared by tests/sql_breadth.rs and tests/sql_breadth_diff.rs: the breadth scripts
//! (fixtures/sql/breadth/<topic>.sql), how they are split into statements, how one statement's outcome is
//! printed, and running a script through repld's engine (as a primary, recording what it logs) and
//! through a real MariaDB (a throw-away mariadbd on a free port, killed on drop).
//!
//! Script format: statements end with `;` at the end of a line; lines starting with `--` are comments.
//! Each script runs in a fresh database `b_<topic>` (created and selected by the harness on both sides),
//! with "now" = 2024-01-01 00:00:00 UTC (MariaDB: `SET timestamp`, repld: [`ExecContext::now_us`]) and
//! the time zone UTC. Expected outputs (<topic>.result) are written by
//! `UPDATE_BREADTH=1 cargo test --test sql_breadth_diff` (fixtures/sql/breadth/regen.sh), i.e. by MariaDB.
//!
//! Output of one statement: result sets print a header of column names then one tab-separated line per
//! row (`NULL` for NULL); OK packets print `ok affected=N [id=N] [warnings=N] [info]`; errors print
//! `error CODE (SQLSTATE): message`.

#![allow(dead_code)]

use repld::sql::{Engine, ExecContext, Outcome, PendingCommit, Session, StmtKind};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// 2024-01-01 00:00:00 UTC.
pub const NOW_SECS: i64 = 1_704_067_200;

/// The breadth scripts, sorted: (topic, path of the .sql file).
pub fn scripts() -> Vec<(String, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sql/breadth");
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no scripts in {}", dir.display());
    v
}

/// Splits a script into statements (without the final `;`).
pub fn statements(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("--") || (cur.is_empty() && line.trim().is_empty()) {
            continue;
        }
        if !cur.is_empty() {
            cur.push('\n');
        }
        cur.push_str(line);
        if let Some(s) = cur.trim_end().strip_suffix(';') {
            out.push(s.trim().to_string());
            cur.clear();
        }
    }
    assert!(cur.trim().is_empty(), "unterminated statement: {cur}");
    out
}

/// The database a topic runs in.
pub fn db_name(topic: &str) -> String {
    format!("b_{topic}")
}

/// Formats an OK packet.
pub fn fmt_ok(affected: u64, id: u64, warnings: u16, info: &str) -> String {
    let mut s = format!("ok affected={affected}");
    if id != 0 {
        s.push_str(&format!(" id={id}"));
    }
    if warnings != 0 {
        s.push_str(&format!(" warnings={warnings}"));
    }
    if !info.is_empty() {
        s.push_str(&format!(" [{info}]"));
    }
    s
}

/// Formats a result set from column names and rows of text values.
pub fn fmt_rows(names: &[String], rows: &[Vec<Option<Vec<u8>>>]) -> String {
    let mut out = vec![names.join("\t")];
    for r in rows {
        let line = r
            .iter()
            .map(|v| match v {
                None => "NULL".to_string(),
                Some(b) => String::from_utf8_lossy(b).into_owned(),
            })
            .collect::<Vec<_>>()
            .join("\t");
        // A blank line would end the block in the .result format.
        out.push(if line.trim().is_empty() { format!("'{line}'") } else { line });
    }
    out.join("\n")
}

/// Formats an error.
pub fn fmt_err(code: u16, state: &str, msg: &str) -> String {
    format!("error {code} ({state}): {msg}")
}

/// Renders a script with its outputs in the .result format.
pub fn render(stmts: &[String], outputs: &[String]) -> String {
    let mut s = String::new();
    for (st, out) in stmts.iter().zip(outputs) {
        s.push_str(&format!("{st}\n---\n{out}\n\n"));
    }
    s
}

/// Parses a .result file back into (statement, output) pairs.
pub fn parse_result(text: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    for block in text.split("\n\n").map(|b| b.trim_matches('\n')).filter(|b| !b.is_empty()) {
        let (st, res) = block.split_once("\n---\n").unwrap_or_else(|| {
            block.strip_suffix("\n---").map(|s| (s, "")).expect("block without ---")
        });
        out.push((st.to_string(), res.to_string()));
    }
    out
}

/// repld's engine running a script as a primary: applies every commit at once and keeps them (with
/// their logged statements) for the replication check.
pub struct Repld {
    pub engine: Engine,
    pub session: Session,
    pub commits: Vec<PendingCommit>,
    seq: u64,
}

impl Repld {
    pub fn new() -> Repld {
        let mut session = Session::new();
        session.rand_seeds = (1, 2);
        Repld { engine: Engine::open_temporary().unwrap(), session, commits: vec![], seq: 0 }
    }

    fn ctx() -> ExecContext {
        ExecContext { now_us: NOW_SECS * 1_000_000, ..Default::default() }
    }

    /// Creates and selects the topic's database.
    pub fn prepare(&mut self, topic: &str) {
        let db = db_name(topic);
        self.run(&format!("CREATE DATABASE {db}"));
        self.run(&format!("USE {db}"));
    }

    /// Runs one statement and formats its outcome.
    pub fn run(&mut self, sql: &str) -> String {
        let stmts = match self.engine.parse(sql) {
            Ok(s) => s,
            Err(e) => {
                let (c, st, m) = e.to_mysql();
                return fmt_err(c, &st, &m);
            }
        };
        let mut out = String::new();
        for st in stmts {
            let r = self.engine.execute(&mut self.session, &st, &Self::ctx());
            for c in self.session.take_commits() {
                self.seq = self.engine.publish(&c).unwrap();
                self.engine.apply(self.seq, &[]).unwrap();
                self.commits.push(c);
            }
            out = match r {
                Ok(Outcome::Rows(rs)) => {
                    let names: Vec<String> = rs.columns.iter().map(|c| c.name.clone()).collect();
                    // Each value as the server sends it under its column (text protocol).
                    let rows: Vec<Vec<Option<Vec<u8>>>> = rs
                        .rows
                        .iter()
                        .map(|r| {
                            r.iter()
                                .zip(&rs.columns)
                                .map(|(v, c)| repld::wire::text_value(v, c))
                                .collect()
                        })
                        .collect();
                    fmt_rows(&names, &rows)
                }
                Ok(Outcome::Ok { affected_rows, last_insert_id, warnings, info }) => {
                    fmt_ok(affected_rows, last_insert_id, warnings, &info)
                }
                Err(e) => {
                    let (c, st, m) = e.to_mysql();
                    return fmt_err(c, &st, &m);
                }
            };
        }
        out
    }

    /// Runs a whole topic script: the output of each statement.
    pub fn run_script(&mut self, topic: &str, stmts: &[String]) -> Vec<String> {
        self.prepare(topic);
        stmts.iter().map(|s| self.run(s)).collect()
    }
}

/// Replays `commits` (as logged by a primary) on a fresh engine the way the replica's SQL thread does:
/// each statement re-executed from its text with the logged context and session state.
pub fn replay(commits: &[PendingCommit]) -> Engine {
    let e = Engine::open_temporary().unwrap();
    let mut s = Session::new();
    let exec = |s: &mut Session, sql: &str, ctx: &ExecContext| {
        for st in e.parse(sql).unwrap_or_else(|err| panic!("{sql}: {err}")) {
            assert_ne!(st.kind, StmtKind::Admin, "{sql}");
            e.execute(s, &st, ctx).unwrap_or_else(|err| panic!("replaying {sql}: {err}"));
        }
        for c in s.take_commits() {
            e.apply_commit(&c, &[]).unwrap();
        }
    };
    for c in commits {
        let txn = !c.is_ddl;
        if txn {
            exec(&mut s, "BEGIN", &ExecContext::default());
        }
        for l in &c.statements {
            s.current_db = l.db.clone();
            for (k, v) in &l.user_vars {
                s.user_vars.insert(k.clone(), v.clone());
            }
            s.set_sql_mode_bits(l.sql_mode);
            s.time_zone = l.time_zone.clone();
            let ctx = ExecContext {
                now_us: l.now_us,
                insert_id: l.insert_id,
                last_insert_id: l.last_insert_id,
                rand_seeds: l.rand_seeds,
            };
            exec(&mut s, &l.sql, &ctx);
        }
        if txn {
            exec(&mut s, "COMMIT", &ExecContext::default());
        }
    }
    e
}

/// `CHECKSUM TABLE` of every table of `db` (by `SHOW TABLES`), as text lines.
pub fn checksums(engine: &Engine, db: &str) -> Vec<String> {
    let mut s = Session::new();
    let ctx = ExecContext::default();
    let tables = match engine.execute_sql(&mut s, &format!("SHOW TABLES FROM {db}"), &ctx) {
        Ok(mut o) => match o.pop() {
            Some(Outcome::Rows(rs)) => rs.rows,
            other => panic!("{other:?}"),
        },
        Err(_) => return vec![],
    };
    let mut out = vec![];
    for t in tables {
        let name = String::from_utf8(t[0].to_text().unwrap()).unwrap();
        let o = engine.execute_sql(&mut s, &format!("CHECKSUM TABLE {db}.`{name}`"), &ctx).unwrap();
        if let Some(Outcome::Rows(rs)) = o.last() {
            let v = rs.rows[0][1].to_text().map(|b| String::from_utf8(b).unwrap());
            out.push(format!("{name} {v:?}"));
        }
    }
    out
}

/// Path of the mariadbd binary.
pub const MARIADBD: &str = "/usr/sbin/mariadbd";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A throw-away MariaDB server in a temporary directory (killed on drop).
pub struct MariaDb {
    _dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

impl MariaDb {
    /// Installs and starts a server; `None` when mariadbd is not installed.
    pub fn start() -> Option<MariaDb> {
        if !Path::new(MARIADBD).exists() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let out = Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .arg(format!("--datadir={}", data.display()))
            .stdin(Stdio::null())
            .output()
            .expect("run mariadb-install-db");
        assert!(
            out.status.success(),
            "mariadb-install-db failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let sock = dir.path().join("m.sock");
        let child = Command::new(MARIADBD)
            .env("TZ", "UTC")
            .args([
                "--no-defaults",
                "--user=root",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_general_ci",
                "--innodb-buffer-pool-size=64M",
            ])
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", sock.display()))
            .arg(format!("--port={port}"))
            .arg(format!("--pid-file={}", dir.path().join("m.pid").display()))
            .arg(format!("--log-error={}", dir.path().join("m.err").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        let m = MariaDb { _dir: dir, port, child };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = Command::new("mariadb-admin")
                .args(["--no-defaults", "-uroot", "ping"])
                .arg(format!("-S{}", sock.display()))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "mariadbd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(m)
    }

    /// Runs a topic script on a new connection: the output of each statement.
    pub async fn run_script(&self, topic: &str, stmts: &[String]) -> Vec<String> {
        use mysql_async::prelude::Queryable;
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.port)
            .user(Some("root"));
        let mut conn = mysql_async::Conn::new(opts).await.expect("connect to mariadbd");
        let db = db_name(topic);
        for sql in [
            format!("DROP DATABASE IF EXISTS {db}"),
            format!("CREATE DATABASE {db}"),
            format!("USE {db}"),
            format!("SET timestamp = {NOW_SECS}"),
        ] {
            conn.query_drop(sql).await.unwrap();
        }
        let mut out = vec![];
        for sql in stmts {
            out.push(match conn.query_iter(sql.as_str()).await {
                Err(mysql_async::Error::Server(e)) => fmt_err(e.code, &e.state, &e.message),
                Err(e) => panic!("{sql}: {e}"),
                Ok(mut qr) => {
                    let cols = qr.columns();
                    match cols {
                        Some(cols) if !cols.is_empty() => {
                            let names: Vec<String> =
                                cols.iter().map(|c| c.name_str().into_owned()).collect();
                            let rows: Vec<mysql_async::Row> = match qr.collect().await {
                                Ok(r) => r,
                                Err(mysql_async::Error::Server(e)) => {
                                    out.push(fmt_err(e.code, &e.state, &e.message));
                                    continue;
                                }
                                Err(e) => panic!("{sql}: {e}"),
                            };
                            let rows: Vec<Vec<Option<Vec<u8>>>> = rows
                                .into_iter()
                                .map(|r| {
                                    r.unwrap()
                                        .into_iter()
                                        .map(|v| match v {
                                            mysql_async::Value::NULL => None,
                                            mysql_async::Value::Bytes(b) => Some(b),
                                            other => Some(other.as_sql(true).into_bytes()),
                                        })
                                        .collect()
                                })
                                .collect();
                            fmt_rows(&names, &rows)
                        }
                        _ => {
                            let s = fmt_ok(
                                qr.affected_rows(),
                                qr.last_insert_id().unwrap_or(0),
                                qr.warnings(),
                                &qr.info(),
                            );
                            qr.drop_result().await.unwrap();
                            s
                        }
                    }
                }
            });
        }
        conn.disconnect().await.unwrap();
        out
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
