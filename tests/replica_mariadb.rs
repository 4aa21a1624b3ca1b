//! The IO and SQL threads against a REAL MariaDB primary (mariadbd started by the test in a temp dir on
//! a free port, killed on drop): the fixture workload streams into relay logs and is applied with the
//! primary's rows; the replica reconnects by itself after the primary restarts; bad credentials stop
//! the IO thread with ERROR 1045 instead of retrying forever.

#[path = "common/proxy.rs"]
mod proxy;

use repld::replica::{start, ReplicaConfig, ReplicaHandle};
use repld::sql::{Engine, ExecContext, Outcome, Session};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MARIADBD: &str = "/usr/sbin/mariadbd";

struct Primary {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Primary {
    /// Installs and starts a MariaDB primary; `None` when MariaDB is not installed.
    fn start(dir: &Path) -> Option<Primary> {
        if !Path::new(MARIADBD).exists() {
            return None;
        }
        let data = dir.join("data");
        // mariadb-install-db is not safe to run twice at once on one machine: serialize it.
        static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
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
            .ok()?;
        assert!(
            out.status.success(),
            "mariadb-install-db failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut p = Primary { dir: dir.to_path_buf(), port: free_port(), child: None };
        p.launch();
        p.sql(
            "SET SESSION sql_log_bin=0; CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'replpass'; \
             GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'; RESET MASTER;",
        );
        Some(p)
    }

    fn launch(&mut self) {
        let child = Command::new(MARIADBD)
            .args([
                "--no-defaults",
                "--user=root",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
            ])
            .args([
                "--server-id=1",
                "--log-bin=primary-bin",
                "--binlog-format=STATEMENT",
                "--innodb-buffer-pool-size=64M",
            ])
            .arg(format!("--datadir={}", self.dir.join("data").display()))
            .arg(format!("--socket={}", self.sock().display()))
            .arg(format!("--port={}", self.port))
            .arg(format!("--pid-file={}", self.dir.join("p.pid").display()))
            .arg(format!("--log-error={}", self.dir.join("p.err").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        self.child = Some(child);
        wait_for("the primary to accept connections", Duration::from_secs(60), || {
            Command::new("mariadb-admin")
                .args(["--no-defaults", "-uroot", "ping"])
                .arg(format!("-S{}", self.sock().display()))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    }

    fn sock(&self) -> PathBuf {
        self.dir.join("p.sock")
    }

    fn sql(&self, sql: &str) -> String {
        let out = Command::new("mariadb")
            .args(["--no-defaults", "-uroot", "-N", "-B"])
            .arg(format!("-S{}", self.sock().display()))
            .arg("-e")
            .arg(sql)
            .output()
            .expect("run mariadb");
        assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Primary {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn rows(engine: &Engine, sql: &str) -> String {
    let mut session = Session::new();
    let stmt = engine.parse(sql).unwrap().remove(0);
    match engine.execute(&mut session, &stmt, &ExecContext::default()).unwrap() {
        Outcome::Rows(rs) => rs
            .rows
            .iter()
            .map(|r| {
                let cols: Vec<String> = r
                    .iter()
                    .map(|v| {
                        v.to_text()
                            .map(|b| String::from_utf8(b).unwrap())
                            .unwrap_or_else(|| "NULL".into())
                    })
                    .collect();
                cols.join("\t") + "\n"
            })
            .collect(),
        other => panic!("expected rows, got {other:?}"),
    }
}

fn config(port: u16, password: &str) -> ReplicaConfig {
    ReplicaConfig {
        server_id: 2,
        source: Some(("127.0.0.1".into(), port)),
        user: Some("repl".into()),
        password: Some(password.into()),
        ..Default::default()
    }
}

async fn wait_applied(replica: &Arc<ReplicaHandle>, primary: &Primary) {
    let target = primary.sql("SELECT @@gtid_binlog_pos").trim().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = replica.status();
        if st.gtid_slave_pos == target {
            return;
        }
        assert!(Instant::now() < deadline, "replica did not reach {target}: {st}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_applies_and_reconnects_against_mariadb() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut primary) = Primary::start(&dir.path().join("primary")) else {
        eprintln!("mariadbd not installed; skipping");
        return;
    };
    let workload = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/mariadb/statement/workload.sql"
    ))
    .unwrap();
    primary.sql(&workload);

    let engine = Engine::open_temporary().unwrap();
    let replica =
        start(config(primary.port, "replpass"), engine.clone(), &dir.path().join("replica"))
            .await
            .unwrap();
    replica.handle_sql("CHANGE MASTER TO MASTER_HEARTBEAT_PERIOD=0.5").await.unwrap_err();
    wait_applied(&replica, &primary).await;
    let query = "SELECT id, name, price, created, note FROM fx.items ORDER BY id";
    assert_eq!(rows(&engine, query), primary.sql(query));
    let st = replica.status();
    assert_eq!(st.slave_io_running, "Yes", "{st}");
    assert_eq!(st.slave_sql_running, "Yes", "{st}");
    assert_eq!(st.master_server_id, 1);
    assert_eq!(st.gtid_io_pos, st.gtid_slave_pos);
    assert_eq!(st.seconds_behind_master, Some(0));
    assert_eq!(st.master_log_file, "primary-bin.000003");
    assert_eq!(st.relay_master_log_file, "primary-bin.000003");

    // Idle: heartbeats (requested every second) keep the link up for longer than the 2 s silence limit.
    let idle_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < idle_until {
        let st = replica.status();
        assert_eq!(st.slave_io_running, "Yes", "{st}");
        assert!(st.heartbeat_age_seconds.unwrap() < 2.0, "{st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Every relay log event decodes with its CRC verified.
    let relay_dir = dir.path().join("replica/relay");
    let mut reader = repld::log::LogReader::open(&relay_dir, "relay-bin", "", 4).unwrap();
    let mut n = 0;
    while let Some(ev) = reader.next_event().unwrap() {
        assert!(!ev.bytes.is_empty());
        n += 1;
    }
    assert!(n > 3);

    // The primary restarts: the replica reconnects by itself and applies what follows.
    primary.stop();
    let deadline = Instant::now() + Duration::from_secs(30);
    while replica.status().slave_io_running == "Yes" {
        assert!(Instant::now() < deadline, "IO thread did not notice the primary going away");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let st = replica.status();
    assert_eq!(st.slave_io_running, "Connecting", "{st}");
    assert_eq!(st.seconds_behind_master, None);
    primary.launch();
    primary.sql("INSERT INTO fx.items (name, price, created) VALUES ('after-restart', 1.5, NOW())");
    wait_applied(&replica, &primary).await;
    assert_eq!(rows(&engine, query), primary.sql(query));
    assert_eq!(replica.status().slave_io_running, "Yes");

    // STOP / CHANGE MASTER to a wrong password / START: fatal 1045, no endless retries.
    replica.handle_sql("STOP SLAVE").await.unwrap();
    replica.handle_sql("CHANGE MASTER TO MASTER_PASSWORD='wrong'").await.unwrap();
    replica.handle_sql("START SLAVE").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st = replica.status();
        if st.slave_io_running == "No" {
            assert_eq!(st.last_io_errno, 1045, "{st}");
            assert_eq!(st.slave_sql_running, "Yes");
            break;
        }
        assert!(Instant::now() < deadline, "IO thread kept retrying: {st}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    replica.shutdown().await.unwrap();
}

/// Executes `sql` directly on the replica's store (as if someone wrote behind replication's back).
fn write_behind(engine: &Engine, sql: &str) {
    let mut session = Session::new();
    for stmt in engine.parse(sql).unwrap() {
        engine.execute(&mut session, &stmt, &ExecContext::default()).unwrap();
    }
    for commit in session.take_commits() {
        engine.apply_commit(&commit, &[]).unwrap();
    }
}

async fn wait_status(
    replica: &Arc<ReplicaHandle>,
    what: &str,
    cond: impl Fn(&repld::replica::ReplicaStatus) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = replica.status();
        if cond(&st) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {st}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_error_stops_sql_thread_skip_counter_and_corrupt_relay_refetch() {
    let dir = tempfile::tempdir().unwrap();
    let Some(primary) = Primary::start(&dir.path().join("primary")) else {
        eprintln!("mariadbd not installed; skipping");
        return;
    };
    primary.sql("CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB; INSERT INTO d.t VALUES (1, 'one');");
    let engine = Engine::open_temporary().unwrap();
    let replica =
        start(config(primary.port, "replpass"), engine.clone(), &dir.path().join("replica"))
            .await
            .unwrap();
    wait_applied(&replica, &primary).await;

    // A row written behind replication's back makes the primary's next insert fail here.
    write_behind(&engine, "INSERT INTO d.t VALUES (100, 'replica-only')");
    primary.sql("INSERT INTO d.t VALUES (100, 'primary')");
    wait_status(&replica, "the SQL thread to stop", |st| st.slave_sql_running == "No").await;
    let st = replica.status();
    assert_eq!(st.last_sql_errno, 1062, "{st}");
    let expected =
        "on query. Default database: ''. Query: 'INSERT INTO d.t VALUES (100, 'primary')'";
    assert!(st.last_sql_error.contains(expected), "{st}");
    assert_eq!(st.last_errno, 1062);
    assert_eq!(st.slave_io_running, "Yes");
    assert_eq!(st.seconds_behind_master, None);
    // The IO thread keeps receiving.
    primary.sql("INSERT INTO d.t VALUES (2, 'two')");
    let target = primary.sql("SELECT @@gtid_binlog_pos").trim().to_string();
    wait_status(&replica, "the IO thread to receive", |st| st.gtid_io_pos == target).await;
    assert_ne!(replica.status().gtid_slave_pos, target);
    assert!(replica.status().backlog_transactions >= 2);

    // Skip exactly the failing transaction; the next one applies.
    replica.handle_sql("SET GLOBAL sql_slave_skip_counter = 1").await.unwrap();
    replica.handle_sql("START SLAVE").await.unwrap();
    wait_applied(&replica, &primary).await;
    assert_eq!(
        rows(&engine, "SELECT id, v FROM d.t ORDER BY id"),
        "1\tone\n2\ttwo\n100\treplica-only\n"
    );
    let st = replica.status();
    assert_eq!((st.last_sql_errno, st.skip_counter, st.slave_sql_running.as_str()), (0, 0, "Yes"));

    // A corrupt relay log event is fetched again, never skipped.
    replica.handle_sql("STOP SLAVE SQL_THREAD").await.unwrap();
    primary.sql("INSERT INTO d.t VALUES (3, 'three-is-a-long-enough-value')");
    let target = primary.sql("SELECT @@gtid_binlog_pos").trim().to_string();
    wait_status(&replica, "the IO thread to receive", |st| st.gtid_io_pos == target).await;
    let relay_dir = dir.path().join("replica/relay");
    let newest = std::fs::read_dir(&relay_dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x != "index"))
        .max()
        .unwrap();
    let mut bytes = std::fs::read(&newest).unwrap();
    let at = bytes.windows(5).rposition(|w| w == b"three").expect("the insert is in the relay log");
    bytes[at] ^= 0x20;
    std::fs::write(&newest, &bytes).unwrap();
    replica.handle_sql("START SLAVE SQL_THREAD").await.unwrap();
    wait_applied(&replica, &primary).await;
    assert_eq!(
        rows(&engine, "SELECT id, v FROM d.t WHERE id = 3"),
        "3\tthree-is-a-long-enough-value\n"
    );
    let st = replica.status();
    assert_eq!((st.last_sql_errno, st.slave_sql_running.as_str()), (0, "Yes"), "{st}");
    replica.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_link_is_detected_by_missing_heartbeats() {
    let dir = tempfile::tempdir().unwrap();
    let Some(primary) = Primary::start(&dir.path().join("primary")) else {
        eprintln!("mariadbd not installed; skipping");
        return;
    };
    primary.sql("CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO d.t VALUES (1);");
    let proxy = proxy::Proxy::start(primary.port).await;
    let engine = Engine::open_temporary().unwrap();
    let replica =
        start(config(proxy.port, "replpass"), engine.clone(), &dir.path().join("replica"))
            .await
            .unwrap();
    wait_applied(&replica, &primary).await;

    // The link goes silent without closing: after 2x the heartbeat period (1 s) the IO thread gives
    // up on the connection and lag becomes NULL.
    let stalled_at = Instant::now();
    proxy.set(proxy::Mode::Stall);
    wait_status(&replica, "the dead link to be noticed", |st| st.slave_io_running == "Connecting")
        .await;
    let noticed = stalled_at.elapsed();
    assert!(
        noticed >= Duration::from_millis(1500) && noticed < Duration::from_secs(10),
        "{noticed:?}"
    );
    let st = replica.status();
    assert_eq!(st.seconds_behind_master, None, "{st}");
    assert_eq!(st.receive_lag_seconds, None, "{st}");
    assert_ne!(st.last_io_errno, 0);

    // The link heals: the IO thread reconnects by itself and replication continues.
    proxy.set(proxy::Mode::Pass);
    primary.sql("INSERT INTO d.t VALUES (2)");
    wait_applied(&replica, &primary).await;
    assert_eq!(rows(&engine, "SELECT id FROM d.t ORDER BY id"), "1\n2\n");
    assert_eq!(replica.status().slave_io_running, "Yes");
    assert_eq!(replica.status().last_io_errno, 0);
    replica.shutdown().await.unwrap();
}
