//! End-to-end replay of the SQL breadth statements whose replication needs care: a write that reads
//! FOUND_ROWS() (logged with the value in place of the call), the comma form of multi-table UPDATE,
//! FLOAT columns and PI(). Real `repld` binaries: a primary and a replica; the replica must end with
//! the primary's rows and checksums.

mod common;

use common::*;

#[test]
fn found_rows_writes_and_breadth_updates_replay_identically() {
    let dir = test_dir();
    let primary = Server::primary(dir.path());
    let replica = Server::replica(dir.path(), "replica1", 2, primary.port);
    // One client session (FOUND_ROWS() belongs to the session).
    primary.sql(
        "CREATE DATABASE br; USE br; \
         CREATE TABLE t (id INT PRIMARY KEY, v INT, f FLOAT, d DOUBLE); \
         CREATE TABLE u (id INT PRIMARY KEY, w INT); \
         INSERT INTO t VALUES (1, 1, 1.5, 0), (2, 2, 3.1415926, 0), (3, 3, 0.1, 0); \
         INSERT INTO u VALUES (1, 10), (2, 20); \
         SELECT SQL_CALC_FOUND_ROWS id FROM t ORDER BY id LIMIT 1; \
         INSERT INTO t VALUES (4, FOUND_ROWS() + 100, PI(), PI() * 2); \
         SELECT id FROM t WHERE id < 3; \
         UPDATE t SET v = FOUND_ROWS() * 10 WHERE id = 1; \
         BEGIN; SELECT id FROM u; DELETE FROM t WHERE v = FOUND_ROWS() + 1; COMMIT; \
         UPDATE t, u SET t.v = t.v + u.w, u.w = t.id WHERE t.id = u.id",
    );
    let rows = "SELECT id, v, f, d, f * 2 FROM br.t ORDER BY id; SELECT * FROM br.u ORDER BY id";
    let want = primary.sql(rows);
    // FOUND_ROWS() was 3 for row 4, 2 for row 1's update and the DELETE (row 3: v = 2 + 1).
    assert_eq!(
        want,
        "1\t30\t1.5\t0\t3\n2\t22\t3.14159\t0\t6.283185005187988\n\
         4\t103\t3.14159\t6.283185307179586\t6.2831854820251465\n1\t1\n2\t2\n"
    );
    wait_caught_up(&primary, &replica);
    assert_eq!(replica.sql(rows), want);
    assert_eq!(checksums(&replica, &["br.t", "br.u"]), checksums(&primary, &["br.t", "br.u"]));
    // The binary log holds the value, not the call.
    let events = primary.sql("SHOW BINLOG EVENTS");
    assert!(events.contains("INSERT INTO t VALUES (4, 3 + 100, PI(), PI() * 2)"), "{events}");
    assert!(!events.to_ascii_uppercase().contains("FOUND_ROWS"), "{events}");
}
