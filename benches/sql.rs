//! In-process SQL engine benchmark (no fsync): single-row INSERT statements/s including parse and the
//! full commit path (execute, take_commits, publish, apply to sled), point SELECT by primary key/s,
//! UPDATE by primary key/s, on a sysbench-shaped table of 100k rows; RSS after loading.
//!
//! Run: `cargo bench --bench sql` (prints figures; `ROWS=n` changes the table size).

use repld::sql::{Engine, ExecContext, Outcome, Session};
use std::time::Instant;

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct Bench {
    engine: Engine,
    session: Session,
    seq: u64,
}

impl Bench {
    fn run(&mut self, sql: &str) -> Outcome {
        let ctx = ExecContext { now_us: 1_700_000_000_000_000, ..Default::default() };
        let mut last = None;
        for st in self.engine.parse(sql).expect("parse") {
            last = Some(self.engine.execute(&mut self.session, &st, &ctx).expect("execute"));
            for c in self.session.take_commits() {
                self.seq = self.engine.publish(&c).unwrap();
                self.engine
                    .apply(self.seq, &[("pos".to_string(), self.seq.to_be_bytes().to_vec())])
                    .expect("apply");
            }
        }
        last.expect("one statement")
    }
}

fn rate(n: u64, t: Instant) -> f64 {
    n as f64 / t.elapsed().as_secs_f64()
}

/// CPU seconds the process has used so far, all threads (user + system, from /proc/self/stat): the
/// rates are wall-clock figures that other load on the machine lowers, CPU per statement is not.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    (tick(11) + tick(12)) as f64 / 100.0
}

fn main() {
    let rows: u64 = std::env::var("ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = if std::env::var("DISK").is_ok() {
        Engine::open(dir.path()).expect("open")
    } else {
        Engine::open_temporary().expect("open")
    };
    let mut b = Bench { engine, session: Session::new(), seq: 0 };
    let rss0 = rss_kb();
    b.run("CREATE DATABASE sbtest");
    b.run("USE sbtest");
    b.run("CREATE TABLE sbtest1(id INTEGER NOT NULL AUTO_INCREMENT, k INTEGER DEFAULT '0' NOT NULL, c CHAR(120) DEFAULT '' NOT NULL, pad CHAR(60) DEFAULT '' NOT NULL, PRIMARY KEY (id)) /*! ENGINE = innodb */");
    b.run("CREATE INDEX k_1 ON sbtest1(k)");
    let c = "83868641912-28773972837-60736120486-75162659906-27563526494-20381887404-41576422241-93426793964-56405065102-33518432330";
    let pad = "67847967377-48000963322-62604785301-91415491898-96926520291";
    let (t, cpu) = (Instant::now(), cpu_s());
    for i in 0..rows {
        b.run(&format!(
            "INSERT INTO sbtest1 (id, k, c, pad) VALUES (0, {}, '{c}', '{pad}')",
            (i * 7919) % rows
        ));
    }
    // The window ends when sled holds every row: the store kept up, nothing is left behind.
    b.engine.flush_applied().expect("flush");
    let ins = rate(rows, t);
    let us = (cpu_s() - cpu) * 1e6 / rows as f64;
    let rss = rss_kb();
    println!("insert (autocommit, parse+execute+publish+apply per commit, until all in sled): {rows} rows, {ins:.0} statements/s, {us:.1} us CPU each (all threads)");
    // The same with group commit: apply every 64 commits in one batch, as the primary's pipeline does.
    let (t, cpu) = (Instant::now(), cpu_s());
    let ctx = ExecContext { now_us: 1_700_000_000_000_000, ..Default::default() };
    let extra = rows / 2;
    for i in 0..extra {
        let sql = format!(
            "INSERT INTO sbtest1 (id, k, c, pad) VALUES (0, {}, '{c}', '{pad}')",
            (i * 7919) % rows
        );
        for st in b.engine.parse(&sql).expect("parse") {
            b.engine.execute(&mut b.session, &st, &ctx).expect("execute");
            for cm in b.session.take_commits() {
                b.seq = b.engine.publish(&cm).unwrap();
            }
        }
        if i % 64 == 63 {
            b.engine
                .apply(b.seq, &[("pos".to_string(), b.seq.to_be_bytes().to_vec())])
                .expect("apply");
        }
    }
    b.engine.apply(b.seq, &[]).expect("apply");
    b.engine.flush_applied().expect("flush");
    println!(
        "insert (autocommit, group apply every 64 commits, until all in sled): {extra} rows, {:.0} statements/s, {:.1} us CPU each",
        rate(extra, t),
        (cpu_s() - cpu) * 1e6 / extra as f64
    );
    // Engine cost alone: parse + execute of single-row INSERTs inside one transaction (no sled writes
    // until COMMIT), then one apply.
    let (t, cpu) = (Instant::now(), cpu_s());
    let k = rows / 2;
    b.run("BEGIN");
    for i in 0..k {
        let sql = format!(
            "INSERT INTO sbtest1 (id, k, c, pad) VALUES (0, {}, '{c}', '{pad}')",
            (i * 7919) % rows
        );
        for st in b.engine.parse(&sql).expect("parse") {
            b.engine.execute(&mut b.session, &st, &ctx).expect("execute");
        }
    }
    let exec_rate = rate(k, t);
    let exec_us = (cpu_s() - cpu) * 1e6 / k as f64;
    b.run("COMMIT");
    println!("insert parse+execute only (one transaction): {k} rows, {exec_rate:.0} statements/s, {exec_us:.1} us CPU each; with its commit: {:.0} rows/s", rate(k, t));
    // Phase barrier (not timed): the COMMIT above leaves a 50k-row transaction for the background
    // flusher, whose single sled batch would stall every sled read of the next phase for seconds.
    b.engine.flush_applied().expect("flush");
    let mut x: u64 = 12345;
    let n = rows;
    let t = Instant::now();
    for _ in 0..n {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let id = (x >> 33) % rows + 1;
        match b.run(&format!("SELECT c FROM sbtest1 WHERE id={id}")) {
            Outcome::Rows(rs) => assert_eq!(rs.rows.len(), 1),
            o => panic!("{o:?}"),
        }
    }
    println!("point select by primary key: {:.0} statements/s", rate(n, t));
    let t = Instant::now();
    let m = rows / 2;
    for _ in 0..m {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let id = (x >> 33) % rows + 1;
        b.run(&format!("UPDATE sbtest1 SET k=k+1 WHERE id={id}"));
    }
    println!("update by primary key (autocommit, with apply): {:.0} statements/s", rate(m, t));
    let t = Instant::now();
    let r = rows / 100;
    for _ in 0..r {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let id = (x >> 33) % (rows - 100) + 1;
        b.run(&format!("SELECT c FROM sbtest1 WHERE id BETWEEN {id} AND {}", id + 99));
    }
    println!("range select (100 rows): {:.0} statements/s", rate(r, t));
    let t = Instant::now();
    let parsed = b.engine.parse("SELECT c FROM sbtest1 WHERE id=1").expect("parse");
    let ctx = ExecContext::default();
    for _ in 0..n {
        b.engine.execute(&mut b.session, &parsed[0], &ctx).expect("execute");
    }
    println!("point select, pre-parsed: {:.0} statements/s", rate(n, t));
    let t = Instant::now();
    for i in 0..n {
        let p = b.engine.parse(&format!("SELECT c FROM sbtest1 WHERE id={i}")).expect("parse");
        assert_eq!(p.len(), 1);
    }
    println!("parse only (point select text): {:.0} statements/s", rate(n, t));
    let t = Instant::now();
    for i in 0..n {
        let sql = format!("SELECT c FROM sbtest1 WHERE id={i}");
        let mut p = sqlparser::parser::Parser::new(&sqlparser::dialect::MySqlDialect {})
            .try_with_sql(&sql)
            .expect("tokenize");
        p.parse_statement().expect("parse");
    }
    println!("sqlparser alone: {:.0} statements/s", rate(n, t));
    b.engine.flush().expect("flush");
    sled_absorb(rows);
    let disk: u64 = walk(dir.path());
    println!(
        "RSS after loading {rows} rows: {} MiB (process start {} MiB); sled on disk: {} MiB",
        rss / 1024,
        rss0 / 1024,
        disk / (1 << 20)
    );
}

/// How many sbtest-shaped rows per second sled absorbs when they come in groups of 512 commits (the
/// store's flush size), each group one `apply_sets` batch: the ceiling of steady-state autocommit
/// inserts, since every row must reach sled eventually. Rows are the primary key (9+8 byte key, 190
/// byte value), the secondary index entry and the auto-increment counter, as an INSERT writes them.
fn sled_absorb(rows: u64) {
    // The mode of `Engine::open`, then sled's default (`Engine::open_temporary`'s).
    sled_absorb_with(rows, sled::Mode::HighThroughput, "high-throughput mode");
    sled_absorb_with(rows, sled::Mode::LowSpace, "low-space mode");
}

fn sled_absorb_with(rows: u64, mode: sled::Mode, name: &str) {
    use repld::sql::{EngineInner, WriteSet};
    use std::sync::Arc;
    let inner =
        EngineInner::new(sled::Config::new().temporary(true).mode(mode).open().expect("sled"));
    let val = vec![7u8; 190];
    let group = 512u64;
    let (t, cpu) = (Instant::now(), cpu_s());
    let mut id = 0u64;
    while id < rows {
        let mut sets = Vec::with_capacity(group as usize);
        for _ in 0..group {
            id += 1;
            let mut ws = WriteSet::new();
            let mut rk = vec![b'R'];
            rk.extend_from_slice(&1u64.to_be_bytes());
            rk.extend_from_slice(&(id ^ (1 << 63)).to_be_bytes());
            let mut ik = vec![b'I'];
            ik.extend_from_slice(&1u64.to_be_bytes());
            ik.extend_from_slice(&1u32.to_be_bytes());
            ik.extend_from_slice(&((id * 7919) % rows).to_be_bytes());
            ik.extend_from_slice(&rk[9..]);
            ws.insert(ik, Some(rk[9..].to_vec()));
            ws.insert(rk, Some(val.clone()));
            let mut ak = vec![b'A'];
            ak.extend_from_slice(&1u64.to_be_bytes());
            ws.insert(ak, Some((id + 1).to_be_bytes().to_vec()));
            sets.push(Arc::new(ws));
        }
        inner
            .apply_sets(&sets, &[("pos".to_string(), id.to_be_bytes().to_vec())])
            .expect("apply_sets");
    }
    println!(
        "sled alone ({name}): {id} sbtest rows in batches of {group} commits: {:.0} rows/s, {:.1} us CPU each (all threads)",
        rate(id, t),
        (cpu_s() - cpu) * 1e6 / id as f64
    );
    // What a point select pays below the engine: one sled get of a random row (sled's cache holds
    // the whole table).
    inner.flush_pending().expect("flush");
    let mut x: u64 = 12345;
    let t = Instant::now();
    for _ in 0..rows {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut rk = vec![b'R'];
        rk.extend_from_slice(&1u64.to_be_bytes());
        rk.extend_from_slice(&(((x >> 33) % id + 1) ^ (1 << 63)).to_be_bytes());
        assert!(inner.db.get(&rk).expect("get").is_some());
    }
    println!("sled alone ({name}): random row gets: {:.0} gets/s", rate(rows, t));
}

fn walk(p: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let m = match e.metadata() {
                Ok(m) => m,
                Err(_) => continue,
            };
            total += if m.is_dir() { walk(&e.path()) } else { m.len() };
        }
    }
    total
}
