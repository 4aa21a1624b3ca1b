//! SQL breadth golden tests: every script of fixtures/sql/breadth runs through repld's engine and must
//! print exactly what MariaDB 10.11 printed for it (the .result files are written by MariaDB, see
//! tests/sql_breadth/common.rs and fixtures/sql/breadth/regen.sh); then the writes the scripts logged,
//! replayed as a replica replays them (statement text + logged context), give equal CHECKSUM TABLE.

#[path = "sql_breadth/common.rs"]
mod common;

use common::*;

#[test]
fn breadth_scripts_match_mariadb() {
    let mut failed = vec![];
    for (topic, path) in scripts() {
        let stmts = statements(&std::fs::read_to_string(&path).unwrap());
        let result_path = path.with_extension("result");
        let want = parse_result(&std::fs::read_to_string(&result_path).unwrap_or_else(|e| {
            panic!("{}: {e} (run fixtures/sql/breadth/regen.sh)", result_path.display())
        }));
        assert_eq!(
            want.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>(),
            stmts,
            "{topic}: .result is stale (run fixtures/sql/breadth/regen.sh)"
        );
        let mut r = Repld::new();
        let got = r.run_script(&topic, &stmts);
        for ((st, w), g) in want.iter().zip(&got) {
            if w != g {
                failed.push(format!("[{topic}] {st}\n  mariadb: {w:?}\n  repld:   {g:?}"));
            }
        }
    }
    assert!(failed.is_empty(), "{} mismatches:\n{}", failed.len(), failed.join("\n"));
}

#[test]
fn breadth_writes_replay_to_equal_checksums() {
    for (topic, path) in scripts() {
        let stmts = statements(&std::fs::read_to_string(&path).unwrap());
        let mut r = Repld::new();
        r.run_script(&topic, &stmts);
        let replica = replay(&r.commits);
        let db = db_name(&topic);
        let want = checksums(&r.engine, &db);
        let has_tables = stmts.iter().any(|s| s.to_ascii_uppercase().starts_with("CREATE TABLE"));
        assert!(!has_tables || !want.is_empty(), "{topic}: no table checksums");
        assert_eq!(want, checksums(&replica, &db), "{topic}");
    }
}

#[test]
fn larger_joins_through_keys_give_every_match() {
    let mut r = Repld::new();
    r.prepare("bigjoin");
    r.run("CREATE TABLE a (id INT PRIMARY KEY, b_id INT, KEY (b_id))");
    r.run("CREATE TABLE b (id INT PRIMARY KEY, v VARCHAR(10))");
    for chunk in 0..20 {
        let vals: Vec<String> =
            (0..100).map(|i| chunk * 100 + i).map(|i| format!("({i}, {})", i % 700)).collect();
        assert_eq!(
            r.run(&format!("INSERT INTO a VALUES {}", vals.join(","))),
            "ok affected=100 [Records: 100  Duplicates: 0  Warnings: 0]"
        );
        let vals: Vec<String> =
            (0..100).map(|i| chunk * 100 + i).map(|i| format!("({i}, 'v{}')", i % 3)).collect();
        r.run(&format!("INSERT INTO b VALUES {}", vals.join(",")));
    }
    let started = std::time::Instant::now();
    // PK probe on b, index probe on a (b_id), and a left join with misses.
    assert_eq!(r.run("SELECT COUNT(*) FROM a JOIN b ON b.id = a.b_id"), "COUNT(*)\n2000");
    assert_eq!(
        r.run("SELECT COUNT(*) FROM b JOIN a ON a.b_id = b.id WHERE b.v = 'v1'"),
        "COUNT(*)\n666"
    );
    assert_eq!(
        r.run("SELECT COUNT(*), COUNT(a.id) FROM b LEFT JOIN a ON a.b_id = b.id"),
        "COUNT(*)\tCOUNT(a.id)\n3300\t2000"
    );
    eprintln!("three 2000-row key joins: {:?}", started.elapsed());
}
