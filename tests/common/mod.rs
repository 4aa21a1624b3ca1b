//! Test harness for end-to-end tests: starts the real `repld` binary as primary or replica in a temp dir on
//! a free loopback port, talks to it with mysql_async or the `mariadb` CLI, and kills it on drop.
//!
//! Nothing here sleeps a fixed time to wait for a condition: [`wait_until`] polls with a deadline.
#![allow(dead_code)]

pub mod proxy;
pub mod workload;

use mysql_async::prelude::*;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to start or a replica to catch up before a test fails.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// A free loopback port (bound then released; the OS does not hand it out again at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0").local_addr().expect("addr").port()
}

/// Polls `cond` every 20 ms until it returns true or `timeout` passes; returns whether it did.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Async variant of [`wait_until`].
pub async fn wait_until_async<F, Fut>(timeout: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A temp dir for one test's servers. With `REPLD_KEEP_DIRS=1` it is kept after the test (its path
/// is printed), so that the data, binlogs and server logs of a failure can be examined.
pub fn test_dir() -> tempfile::TempDir {
    let keep = std::env::var_os("REPLD_KEEP_DIRS").is_some_and(|v| v == "1");
    let dir = tempfile::Builder::new()
        .prefix("repld-test-")
        .disable_cleanup(keep)
        .tempdir()
        .expect("create temp dir");
    if keep {
        eprintln!("test data kept in {}", dir.path().display());
    }
    dir
}

/// The role a [`Server`] was started in.
#[derive(Clone, Debug)]
pub enum Role {
    /// `repld primary`
    Primary,
    /// `repld replica --source 127.0.0.1:PORT`
    Replica { source_port: u16 },
}

/// A running `repld` process, killed (SIGKILL) on drop.
pub struct Server {
    /// The process, while running.
    pub child: Option<Child>,
    /// Its client port on 127.0.0.1.
    pub port: u16,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its server id.
    pub server_id: u32,
    /// The role it was started in.
    pub role: Role,
    /// Where its stdout/stderr go.
    pub log_path: PathBuf,
    /// Extra command-line arguments (e.g. `--config FILE`, `--max-connections N`).
    pub extra_args: Vec<String>,
}

impl Server {
    /// Starts a primary with data under `dir`.
    pub fn primary(dir: &Path) -> Server {
        Self::start(dir.join("primary"), Role::Primary, 1, free_port())
    }

    /// Starts a primary with data under `dir` and extra command-line arguments.
    pub fn primary_with(dir: &Path, extra: &[&str]) -> Server {
        let data_dir = dir.join("primary");
        std::fs::create_dir_all(&data_dir).expect("create data dir");
        let log_path = data_dir.with_extension("log");
        let mut server = Server {
            child: None,
            port: free_port(),
            data_dir,
            server_id: 1,
            role: Role::Primary,
            log_path,
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
        };
        server.spawn();
        server
    }

    /// Starts a replica of the server listening on `source_port`.
    pub fn replica(dir: &Path, name: &str, server_id: u32, source_port: u16) -> Server {
        Self::start(dir.join(name), Role::Replica { source_port }, server_id, free_port())
    }

    /// Starts a replica of the server listening on `source_port`, with extra command-line arguments.
    pub fn replica_with(
        dir: &Path,
        name: &str,
        server_id: u32,
        source_port: u16,
        extra: &[&str],
    ) -> Server {
        let data_dir = dir.join(name);
        std::fs::create_dir_all(&data_dir).expect("create data dir");
        let log_path = data_dir.with_extension("log");
        let mut server = Server {
            child: None,
            port: free_port(),
            data_dir,
            server_id,
            role: Role::Replica { source_port },
            log_path,
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
        };
        server.spawn();
        server
    }

    fn start(data_dir: PathBuf, role: Role, server_id: u32, port: u16) -> Server {
        std::fs::create_dir_all(&data_dir).expect("create data dir");
        let log_path = data_dir.with_extension("log");
        let mut server = Server {
            child: None,
            port,
            data_dir,
            server_id,
            role,
            log_path,
            extra_args: Vec::new(),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_repld"));
        match &self.role {
            Role::Primary => {
                cmd.arg("primary");
            }
            Role::Replica { source_port } => {
                cmd.arg("replica").arg("--source").arg(format!("127.0.0.1:{source_port}"));
            }
        }
        cmd.arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--server-id")
            .arg(self.server_id.to_string())
            .args(&self.extra_args);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open server log");
        cmd.stdout(Stdio::from(log.try_clone().expect("clone log"))).stderr(Stdio::from(log));
        cmd.env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()));
        self.child = Some(cmd.spawn().expect("spawn repld"));
        let port = self.port;
        if !wait_until(TIMEOUT, || mariadb_try(port, "SELECT 1").is_ok()) {
            panic!("repld on port {port} did not start; log:\n{}", self.log());
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGKILL, no clean shutdown.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the process again on the same port and data dir (after [`Server::kill9`] or [`Server::stop`]).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// A mysql_async URL for this server as root.
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    /// A new mysql_async connection as root (no socket discovery, so no hidden reconnects).
    pub async fn conn(&self) -> mysql_async::Conn {
        conn(self.port, None).await
    }

    /// Runs SQL through the real `mariadb` CLI in batch mode and returns its stdout; panics on failure.
    pub fn sql(&self, sql: &str) -> String {
        match mariadb_try(self.port, sql) {
            Ok(out) => out,
            Err(e) => panic!("mariadb -P{} failed on {sql:?}: {e}", self.port),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A mysql_async connection to 127.0.0.1:`port` as root, optionally with a default database.
pub async fn conn(port: u16, db: Option<&str>) -> mysql_async::Conn {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some("root"))
        .db_name(db)
        .prefer_socket(false);
    mysql_async::Conn::new(opts).await.expect("connect")
}

/// Runs SQL with `mariadb -N -B` (no column names, tab-separated) and returns stdout or stderr.
pub fn mariadb_try(port: u16, sql: &str) -> Result<String, String> {
    mariadb_run(port, sql, &["-N"])
}

/// Like [`mariadb_try`] but with column names (`\G` output then has its `Label: value` lines).
pub fn mariadb_labeled(port: u16, sql: &str) -> Result<String, String> {
    mariadb_run(port, sql, &[])
}

fn mariadb_run(port: u16, sql: &str, extra: &[&str]) -> Result<String, String> {
    let out = Command::new("mariadb")
        .args(["--no-defaults", "-h127.0.0.1", "-uroot", "-B", "--connect-timeout=5"])
        .args(extra)
        .arg(format!("-P{port}"))
        .arg("-e")
        .arg(sql)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run mariadb: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `CHECKSUM TABLE` of each table on a server, as the CLI prints it.
pub fn checksums(server: &Server, tables: &[&str]) -> String {
    server.sql(&format!("CHECKSUM TABLE {}", tables.join(", ")))
}

/// The primary's `SHOW MASTER STATUS` GTID position (`Gtid_Binlog_Pos` via `@@gtid_binlog_pos`).
pub async fn gtid_binlog_pos(c: &mut mysql_async::Conn) -> String {
    c.query_first::<String, _>("SELECT @@gtid_binlog_pos")
        .await
        .expect("gtid_binlog_pos")
        .unwrap_or_default()
}

/// Waits until `replica` has applied everything `primary` has logged (its Gtid_Slave_Pos equals the
/// primary's gtid_binlog_pos); panics with both logs on timeout.
pub fn wait_caught_up(primary: &Server, replica: &Server) {
    let target = primary.sql("SELECT @@gtid_binlog_pos").trim().to_string();
    let ok = wait_until(TIMEOUT, || {
        mariadb_try(replica.port, "SELECT @@gtid_slave_pos")
            .map(|s| s.trim() == target)
            .unwrap_or(false)
    });
    if !ok {
        panic!(
            "replica {} did not reach {target}; status:\n{}\nreplica log:\n{}",
            replica.port,
            mariadb_labeled(replica.port, "SHOW REPLICA STATUS\\G").unwrap_or_else(|e| e),
            replica.log()
        );
    }
}

/// Runs sysbench against 127.0.0.1:`port` as root on database `sbtest` (created if missing); `args` are
/// the test name, options and the command (prepare/run/cleanup). Returns stdout; panics with the output on
/// failure.
pub fn sysbench(port: u16, args: &[&str]) -> String {
    let _ = mariadb_try(port, "CREATE DATABASE IF NOT EXISTS sbtest");
    let out = Command::new("sysbench")
        .args([
            "--db-driver=mysql",
            "--mysql-host=127.0.0.1",
            "--mysql-user=root",
            "--mysql-db=sbtest",
        ])
        .arg(format!("--mysql-port={port}"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run sysbench");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "sysbench {args:?} failed:\n{text}");
    text
}

/// `SHOW SLAVE STATUS` field of a server, or `None` if it is not a replica or unreachable.
pub fn replica_field(server: &Server, field: &str) -> Option<String> {
    let out = mariadb_labeled(server.port, "SHOW SLAVE STATUS\\G").ok()?;
    out.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == field).then(|| v.trim().to_string())
    })
}
