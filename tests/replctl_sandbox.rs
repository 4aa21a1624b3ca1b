//! `repld sandbox`: one command gives a primary and a replica; a row written on the primary is readable
//! on the replica; SIGTERM stops every child; the data is kept for the next start.

mod common;

use common::{free_port, mariadb_try, test_dir, wait_until, TIMEOUT};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port `p` with `p + 1` also free.
fn two_free_ports() -> u16 {
    for _ in 0..100 {
        let p = free_port();
        if p < u16::MAX && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no two consecutive free ports");
}

struct Sandbox(Option<Child>);

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn start(dir: &Path, port: u16) -> Sandbox {
    let out = std::fs::File::create(dir.join("sandbox.out")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_repld"))
        .args(["sandbox", "--replicas", "1", "--port", &port.to_string(), "--dir"])
        .arg(dir.join("sb"))
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .expect("spawn repld sandbox");
    let mut sb = Sandbox(Some(child));
    let up = wait_until(TIMEOUT, || {
        let exited = sb.0.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_some());
        exited
            || std::fs::read_to_string(dir.join("sandbox.out")).is_ok_and(|t| t.contains("Ctrl-C"))
    }) && std::fs::read_to_string(dir.join("sandbox.out"))
        .is_ok_and(|t| t.contains("Ctrl-C"));
    let out = std::fs::read_to_string(dir.join("sandbox.out")).unwrap_or_default();
    if !up {
        let status = sb.0.as_mut().and_then(|c| c.try_wait().ok().flatten());
        panic!("sandbox did not come up ({status:?}):\n{out}");
    }
    assert!(out.contains(&format!("mariadb -h127.0.0.1 -P{port} -uroot")), "{out}");
    assert!(out.contains(&format!("-P{} -uroot", port + 1)), "{out}");
    sb
}

/// Processes whose parent is `pid` (from /proc).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else { continue };
        // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
        let fields: Vec<&str> =
            stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("").split_whitespace().collect();
        if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(pid) {
            out.push(child);
        }
    }
    out
}

fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit_once(')').map(|(_, r)| r.trim_start()).unwrap_or("");
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

fn terminate(sb: &mut Sandbox) -> (Option<i32>, Vec<u32>) {
    let mut child = sb.0.take().expect("running");
    let kids = children_of(child.id());
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let code = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sandbox did not exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (code, kids)
}

#[test]
fn sandbox_replicates_and_stops_every_child() {
    let dir = test_dir();
    let port = two_free_ports();
    let mut sb = start(dir.path(), port);
    let replica = port + 1;
    let t0 = Instant::now();
    mariadb_try(port, "CREATE DATABASE s; CREATE TABLE s.t (id INT PRIMARY KEY, v VARCHAR(8)); INSERT INTO s.t VALUES (1, 'hello')")
        .expect("write on the primary");
    let seen = wait_until(TIMEOUT, || {
        mariadb_try(replica, "SELECT v FROM s.t WHERE id = 1").is_ok_and(|o| o.trim() == "hello")
    });
    assert!(
        seen,
        "row not on the replica; log:\n{}",
        std::fs::read_to_string(dir.path().join("sb/replica1.log")).unwrap_or_default()
    );
    let lag = t0.elapsed();
    assert!(lag < Duration::from_secs(10), "replica took {lag:?}");
    // replctl status finds the sandbox's servers by itself.
    let status = Command::new(env!("CARGO_BIN_EXE_replctl"))
        .args(["status", "--sandbox"])
        .arg(dir.path().join("sb"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(0), "{text}");
    assert!(text.contains(&port.to_string()) && text.contains(&replica.to_string()), "{text}");

    let (code, kids) = terminate(&mut sb);
    assert_eq!(code, Some(0));
    assert_eq!(kids.len(), 2, "expected a primary and a replica child: {kids:?}");
    assert!(wait_until(TIMEOUT, || kids.iter().all(|&k| !alive(k))), "stray children: {kids:?}");
    assert!(mariadb_try(port, "SELECT 1").is_err() && mariadb_try(replica, "SELECT 1").is_err());

    // The data stays for the next start.
    let mut sb = start(dir.path(), port);
    assert!(wait_until(TIMEOUT, || {
        mariadb_try(replica, "SELECT v FROM s.t WHERE id = 1").is_ok_and(|o| o.trim() == "hello")
    }));
    assert_eq!(mariadb_try(port, "SELECT COUNT(*) FROM s.t").unwrap().trim(), "1");
    let (code, kids) = terminate(&mut sb);
    assert_eq!(code, Some(0));
    assert!(wait_until(TIMEOUT, || kids.iter().all(|&k| !alive(k))), "stray children: {kids:?}");
}
