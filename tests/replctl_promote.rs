//! `replctl promote` as the building block of a failover: a caught-up replica becomes writable and
//! another replica follows it.

mod common;

use common::{mariadb_try, test_dir, wait_caught_up, wait_until, Server, TIMEOUT};
use std::process::{Command, Stdio};

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

fn ok(port: u16, args: &[&str]) -> String {
    let (code, text) = replctl(port, args);
    assert_eq!(code, 0, "replctl -P{port} {args:?}: {text}");
    text
}

#[test]
fn promote_then_repoint_another_replica() {
    let dir = test_dir();
    let primary = Server::primary(dir.path());
    let r1 = Server::replica(dir.path(), "r1", 2, primary.port);
    let r2 = Server::replica(dir.path(), "r2", 3, primary.port);
    primary.sql(
        "CREATE DATABASE f; USE f; CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(16));
         INSERT INTO t (v) VALUES ('a'), ('b'); BEGIN; INSERT INTO t (v) VALUES ('c'); COMMIT;",
    );
    wait_caught_up(&primary, &r1);
    wait_caught_up(&primary, &r2);
    // A replica refuses client writes until promoted.
    assert!(mariadb_try(r1.port, "INSERT INTO f.t (v) VALUES ('no')").is_err());

    let out = ok(r1.port, &["promote"]);
    let pos = primary.sql("SELECT @@gtid_binlog_pos").trim().to_string();
    assert!(out.contains("promoted") && out.contains(&pos), "{out} (primary at {pos})");

    // Repoint r2 before the new primary takes writes, as a failover would.
    ok(r2.port, &["stop"]);
    ok(r2.port, &["change-source", &format!("127.0.0.1:{}", r1.port)]);
    ok(r2.port, &["start"]);

    r1.sql("INSERT INTO f.t (v) VALUES ('after promote'); UPDATE f.t SET v = 'B' WHERE v = 'b'");
    let expected = r1.sql("SELECT * FROM f.t ORDER BY id");
    assert!(expected.contains("after promote"));
    let reached = wait_until(TIMEOUT, || {
        mariadb_try(r2.port, "SELECT * FROM f.t ORDER BY id").is_ok_and(|rows| rows == expected)
    });
    assert!(
        reached,
        "r2 did not follow r1:\nr2 rows {:?}\nr2 status {:?}\nr1 log:\n{}\nr2 log:\n{}",
        mariadb_try(r2.port, "SELECT * FROM f.t ORDER BY id"),
        common::mariadb_labeled(r2.port, "SHOW SLAVE STATUS\\G"),
        r1.log(),
        r2.log()
    );
    // r2's relay log (our relay format) verifies and decodes with the new primary's statements.
    let mut relay: Vec<String> = std::fs::read_dir(r2.data_dir.join("relay"))
        .expect("relay dir")
        .flatten()
        .map(|e| e.path().to_string_lossy().into_owned())
        .filter(|p| p.rsplit('.').next().is_some_and(|ext| ext.chars().all(|c| c.is_ascii_digit())))
        .collect();
    relay.sort();
    assert!(!relay.is_empty());
    let args: Vec<&str> = relay.iter().map(|s| s.as_str()).collect();
    let (code, text) = replctl(r2.port, &[&["binlog", "--verify"], &args[..]].concat());
    assert_eq!(code, 0, "{text}");
    let (code, text) = replctl(r2.port, &[&["binlog"], &args[..]].concat());
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("INSERT INTO f.t (v) VALUES ('after promote')"), "{text}");
    // r1's own transactions continue the GTID sequence after what it applied: 0-2-(N+1), 0-2-(N+2).
    let applied: u64 = pos.rsplit('-').next().unwrap().parse().unwrap();
    assert_eq!(r1.sql("SELECT @@gtid_binlog_pos").trim(), format!("0-2-{}", applied + 2));
    // replctl status sees r1 as a primary with r2 following it.
    let (code, text) = replctl(r1.port, &["status"]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = replctl(r2.port, &["status"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&r1.port.to_string()), "{text}");
    // Promoting a server that is not a replica is an error.
    let (code, text) = replctl(primary.port, &["promote"]);
    assert_eq!(code, 1, "{text}");
}
