//! `replctl status` against real servers: a healthy pair, a broken replica (SQL error), a disconnected
//! one (NULL lag) and an unreachable server, in human and JSON form with their exit codes.

mod common;

use common::{free_port, test_dir, wait_caught_up, wait_until, Server, TIMEOUT};
use std::process::{Command, Stdio};

fn status(ports: &[u16], json: bool) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_replctl"));
    for p in ports {
        cmd.arg("-P").arg(p.to_string());
    }
    cmd.arg("status");
    if json {
        cmd.arg("--json");
    }
    let out = cmd.stdin(Stdio::null()).output().expect("run replctl");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn json(ports: &[u16]) -> (i32, serde_json::Value) {
    let (code, text) = status(ports, true);
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"));
    (code, v)
}

fn replctl(port: u16, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_replctl"))
        .arg("-P")
        .arg(port.to_string())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run replctl");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// The value after `label:` in human output.
fn field(text: &str, label: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.trim_start().split_once(':')?;
        (k == label).then(|| v.trim().to_string())
    })
}

#[test]
fn unreachable_server_exits_1() {
    let port = free_port();
    let (code, text) = status(&[port], false);
    assert_eq!(code, 1, "{text}");
    assert!(text.starts_with(&format!("127.0.0.1:{port} (unreachable)\n  Error:")), "{text}");
    let (code, v) = json(&[port]);
    assert_eq!(code, 1);
    assert_eq!(v["schema_version"], serde_json::json!(1), "{v}");
    let s = &v["servers"][0];
    assert_eq!(s["address"], format!("127.0.0.1:{port}"));
    assert_eq!(s["role"], "unreachable");
    assert!(s["error"].as_str().is_some_and(|e| !e.is_empty()), "{s}");
    assert!(s["replication"].is_null());
}

#[test]
fn healthy_then_broken_then_skipped_then_disconnected() {
    let dir = test_dir();
    let mut primary = Server::primary(dir.path());
    let replica = Server::replica(dir.path(), "r1", 2, primary.port);
    primary.sql("CREATE DATABASE st; CREATE TABLE st.t (id INT PRIMARY KEY, v INT); INSERT INTO st.t VALUES (1, 1)");
    wait_caught_up(&primary, &replica);

    // Healthy: both reachable, replica running, exit 0; the primary lists its replica.
    let (code, text) = status(&[primary.port, replica.port], false);
    assert_eq!(code, 0, "{text}");
    assert_eq!(field(&text, "IO thread").as_deref().map(|s| s.starts_with("Yes")), Some(true));
    assert_eq!(field(&text, "SQL thread").as_deref(), Some("Yes"), "{text}");
    assert_eq!(field(&text, "Lag").as_deref(), Some("0 s"), "{text}");
    assert!(text.contains("server id 2"), "{text}");
    let (code, v) = json(&[primary.port, replica.port]);
    assert_eq!(code, 0);
    assert_eq!(v["servers"][0]["role"], "primary");
    assert_eq!(v["servers"][1]["role"], "replica");
    assert_eq!(v["servers"][1]["replication"]["sql_running"], "Yes");
    assert_eq!(v["servers"][1]["replication"]["lag_seconds"], 0);

    // Broken: a row written on the replica (made writable as a mistaken operator would) conflicts with
    // the primary's next insert; the SQL thread stops with a duplicate-key error.
    replica.sql(
        "SET GLOBAL read_only = 0; INSERT INTO st.t VALUES (2, 200); SET GLOBAL read_only = 1",
    );
    primary.sql("INSERT INTO st.t VALUES (2, 2)");
    let stopped = wait_until(TIMEOUT, || {
        common::replica_field(&replica, "Slave_SQL_Running").as_deref() == Some("No")
    });
    assert!(stopped, "the SQL thread did not stop; log:\n{}", replica.log());
    let (code, text) = status(&[replica.port], false);
    assert_eq!(code, 2, "{text}");
    assert_eq!(field(&text, "SQL thread").as_deref(), Some("No"), "{text}");
    let err = field(&text, "Last SQL error").expect("Last SQL error line");
    assert!(err.starts_with("1062: ") && err.contains("Duplicate entry"), "{text}");
    let (code, v) = json(&[replica.port]);
    assert_eq!(code, 2);
    let r = &v["servers"][0]["replication"];
    assert_eq!(r["sql_running"], "No");
    assert_eq!(r["last_sql_error"][0], 1062, "{r}");
    // Mixed: the worst health wins; unreachable (1) over broken (2).
    let (code, _) = status(&[replica.port, free_port()], false);
    assert_eq!(code, 1);

    // replctl skip moves past the conflicting transaction: healthy again.
    let (code, out) = replctl(replica.port, &["skip"]);
    assert_eq!(code, 0, "{out}");
    primary.sql("INSERT INTO st.t VALUES (3, 3)");
    wait_caught_up(&primary, &replica);
    let (code, text) = status(&[replica.port], false);
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        replica.sql("SELECT v FROM st.t ORDER BY id").split_whitespace().collect::<Vec<_>>(),
        ["1", "200", "3"]
    );

    // Disconnected: the primary is gone; the replica keeps retrying and its lag is NULL.
    primary.kill9();
    let null_lag = wait_until(TIMEOUT, || {
        common::replica_field(&replica, "Seconds_Behind_Master").as_deref() == Some("NULL")
    });
    assert!(null_lag, "lag did not become NULL; log:\n{}", replica.log());
    let (code, text) = status(&[replica.port], false);
    assert_eq!(field(&text, "Lag").as_deref(), Some("NULL"), "{text}");
    let (jcode, v) = json(&[replica.port]);
    assert_eq!(jcode, code);
    let r = &v["servers"][0]["replication"];
    assert!(r["lag_seconds"].is_null(), "{r}");
    assert_ne!(r["io_running"], "Yes", "{r}");
    // A replica that cannot reach its source is reported as broken (exit 2), never as unreachable.
    assert_eq!(code, 2, "{text}");
    let (code, _) = status(&[replica.port, primary.port], false);
    assert_eq!(code, 1, "the dead primary is unreachable");
}
