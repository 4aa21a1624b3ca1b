//! Differential test: each breadth script (fixtures/sql/breadth/*.sql) runs on a local MariaDB
//! (mariadbd started in a temp dir on a free port) and on repld's engine; their outputs must be equal
//! statement by statement. Skipped, with a notice, when /usr/sbin/mariadbd is not installed.
//! `UPDATE_BREADTH=1` writes MariaDB's outputs as the .result files of tests/sql_breadth.rs.

#[path = "sql_breadth/common.rs"]
mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breadth_scripts_on_mariadb_and_repld() {
    let Some(m) = MariaDb::start() else {
        eprintln!("NOTICE: {MARIADBD} is not installed; differential SQL breadth test skipped");
        return;
    };
    let update = std::env::var("UPDATE_BREADTH").is_ok_and(|v| v == "1");
    let mut failed = vec![];
    for (topic, path) in scripts() {
        let stmts = statements(&std::fs::read_to_string(&path).unwrap());
        let want = m.run_script(&topic, &stmts).await;
        if update {
            std::fs::write(path.with_extension("result"), render(&stmts, &want)).unwrap();
        }
        let got = Repld::new().run_script(&topic, &stmts);
        for ((st, w), g) in stmts.iter().zip(&want).zip(&got) {
            if w != g {
                failed.push(format!("[{topic}] {st}\n  mariadb: {w:?}\n  repld:   {g:?}"));
            }
        }
    }
    assert!(failed.is_empty(), "{} differences:\n{}", failed.len(), failed.join("\n"));
}
