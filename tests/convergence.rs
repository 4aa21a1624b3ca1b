//! Convergence suite: a seeded random workload against a primary with two replicas; afterwards every table
//! has equal CHECKSUM TABLE and equal rows on all three servers. Each seed writes its own database `s<seed>`,
//! so a mismatch names the seed, which replays exactly with `REPLD_SEED=<n> cargo test --test convergence`.
//!
//! CI runs `REPLD_SEEDS` seeds (default 50); the soak mode is `REPLD_SEEDS=1000`.
//!
//! The concurrent variant runs each seed's units from four connections at once against the same tables
//! (round-robin), so that transactions conflict, wait for row locks, deadlock and run alone; whatever
//! succeeds or fails, the replicas must end with the primary's rows. Scheduling makes it not exactly
//! replayable, but a failing seed still names the workload.

mod common;

use common::workload::{generate, Unit};
use common::*;
use mysql_async::prelude::*;

fn seeds() -> Vec<u64> {
    if let Ok(s) = std::env::var("REPLD_SEED") {
        return vec![s.parse().expect("REPLD_SEED must be a number")];
    }
    let n: u64 = std::env::var("REPLD_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(50);
    (0..n).collect()
}

async fn run_unit(c: &mut mysql_async::Conn, unit: &Unit) {
    // Failing statements (duplicate keys, out-of-range values) are part of the workload: their errors are
    // expected, and a replica must end up with the same rows as if they never ran.
    match unit {
        Unit::Stmt(s) => {
            let _ = c.query_drop(s).await;
        }
        Unit::Txn(stmts, commit) => {
            c.query_drop("BEGIN").await.expect("BEGIN");
            for s in stmts {
                let _ = c.query_drop(s).await;
            }
            c.query_drop(if *commit { "COMMIT" } else { "ROLLBACK" })
                .await
                .expect("end of transaction");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_workloads_converge_on_two_replicas() {
    let dir = test_dir();
    let primary = Server::primary(dir.path());
    let r1 = Server::replica(dir.path(), "replica1", 2, primary.port);
    let r2 = Server::replica(dir.path(), "replica2", 3, primary.port);
    let mut c = primary.conn().await;
    let seeds = seeds();
    for &seed in &seeds {
        let db = format!("s{seed}");
        for unit in generate(&db, seed, 40) {
            run_unit(&mut c, &unit).await;
        }
    }
    assert_converged(&primary, &[&r1, &r2], &mut c, &seeds, "s").await;
}

async fn assert_converged(
    primary: &Server,
    replicas: &[&Server],
    c: &mut mysql_async::Conn,
    seeds: &[u64],
    prefix: &str,
) {
    for r in replicas {
        wait_caught_up(primary, r);
    }
    for &seed in seeds {
        let db = format!("{prefix}{seed}");
        let tables: Vec<String> =
            c.query(format!("SHOW TABLES FROM {db}")).await.expect("SHOW TABLES");
        assert!(!tables.is_empty(), "seed {seed}: no tables");
        for t in tables {
            let q = format!("CHECKSUM TABLE {db}.{t}");
            let dump = format!("SELECT * FROM {db}.{t} ORDER BY id");
            let (p, p_rows) = (primary.sql(&q), primary.sql(&dump));
            for r in replicas {
                assert_eq!(
                    r.sql(&dump),
                    p_rows,
                    "seed {seed} ({db}.{t}): rows differ on replica {}",
                    r.port
                );
                assert_eq!(
                    r.sql(&q),
                    p,
                    "seed {seed} ({db}.{t}): checksum differs on replica {}",
                    r.port
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_random_workloads_converge() {
    let dir = test_dir();
    let primary = Server::primary(dir.path());
    let r1 = Server::replica(dir.path(), "replica1", 2, primary.port);
    let seeds: Vec<u64> = seeds()
        .into_iter()
        .take(std::env::var("REPLD_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20))
        .collect();
    let mut c = primary.conn().await;
    for &seed in &seeds {
        let db = format!("c{seed}");
        let units = generate(&db, seed, 40);
        // The schema first (CREATE DATABASE, USE, CREATE TABLE open every workload), then the rest from
        // four connections at once.
        for unit in &units[..3] {
            run_unit(&mut c, unit).await;
        }
        let mut tasks = vec![];
        for lane in 0..4 {
            let mine: Vec<Unit> = units[3..].iter().skip(lane).step_by(4).cloned().collect();
            let (port, db) = (primary.port, db.clone());
            tasks.push(tokio::spawn(async move {
                let mut c = conn(port, Some(&db)).await;
                for unit in &mine {
                    run_unit(&mut c, unit).await;
                }
            }));
        }
        for t in tasks {
            t.await.expect("lane");
        }
    }
    assert_converged(&primary, &[&r1], &mut c, &seeds, "c").await;
}
