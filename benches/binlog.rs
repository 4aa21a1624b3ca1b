//! Binlog benchmark: group-commit throughput with sync_binlog=1 and sequential read speed.
//!
//! Prints transactions/s of ~200-byte transactions at 1, 8 and 64 concurrent appenders (each thread
//! calls append + sync), transactions per fsync, the leaders' mean fsync latency and the mean time
//! from one fsync to the next (cycle: the fsync plus waking the group and gathering the next one),
//! and read MB/s of LogReader (owned and borrowed events, with and without decoding bodies) vs
//! reading the file raw.
//!
//! The disk's fsync latency drifts several-fold within minutes, so the three concurrency levels are
//! measured interleaved, `BENCH_ROUNDS` rounds (default 5) of `BENCH_SECS` seconds (default 1) each,
//! and the median of the per-round ratios of 8 (and 64) appenders to 1 is printed with the figures.
//! `BENCH_LEVELS=1,8` picks the numbers of appenders (the first is the ratios' base); `BENCH_READ=0`
//! skips the read benchmark.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use repld::log::event::intvar;
use repld::log::{BinlogConfig, BinlogWriter, EventBody, LogReader, QueryStatus, TxnEvents};

fn txn(i: u64) -> TxnEvents {
    TxnEvents {
        is_ddl: false,
        events: vec![
            (1_700_000_000, EventBody::Intvar { kind: intvar::INSERT_ID, value: i }),
            (1_700_000_000, EventBody::query(7, "sbtest", QueryStatus::standard(), "INSERT INTO sbtest1 (id, k, c, pad) VALUES (0, 5012, '68487932199-96439406143', '22195207048')")),
        ],
    }
}

/// One run: (txn/s, txn per fsync).
fn commit_bench(threads: usize, duration: Duration) -> (f64, f64) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = BinlogConfig { dir: tmp.path().into(), ..Default::default() };
    let (w, _) = BinlogWriter::open(cfg).unwrap();
    let w = Arc::new(w);
    let start = Instant::now();
    let before = w.fsync_count();
    let fsync_before = w.fsync_time();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let w = w.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while start.elapsed() < duration {
                    let a = w.append(&txn(n)).unwrap();
                    w.sync(&a).unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let secs = start.elapsed().as_secs_f64();
    let fsyncs = (w.fsync_count() - before).max(1);
    let fsync_avg = (w.fsync_time() - fsync_before).as_secs_f64() * 1e6 / fsyncs as f64;
    let (_, pos, _) = w.status();
    let per_txn = (pos as f64) / total.max(1) as f64;
    let rate = total as f64 / secs;
    let per_fsync = total as f64 / fsyncs as f64;
    println!(
        "sync_binlog=1 appenders={threads:>3}: {rate:>9.0} txn/s  {per_fsync:>6.1} txn/fsync  ({total} txns, ~{per_txn:.0} B/txn, {fsyncs} fsyncs of {fsync_avg:.0} us, cycle {:.0} us)",
        secs * 1e6 / fsyncs as f64,
    );
    (rate, per_fsync)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `rounds` rounds of each number of appenders in `levels` (the first is the base of the ratios),
/// interleaved; prints the medians and the median ratios.
fn commit_rounds(rounds: usize, duration: Duration, levels: &[usize]) {
    let mut rates = vec![Vec::new(); levels.len()];
    let mut per_fsync = vec![Vec::new(); levels.len()];
    for round in 1..=rounds {
        println!("round {round}/{rounds}:");
        for (i, &threads) in levels.iter().enumerate() {
            let (rate, pf) = commit_bench(threads, duration);
            rates[i].push(rate);
            per_fsync[i].push(pf);
        }
    }
    let ratio = |i: usize| median(rates[i].iter().zip(&rates[0]).map(|(a, b)| a / b).collect());
    for (i, threads) in levels.iter().enumerate() {
        println!(
            "median of {rounds} rounds, appenders={threads:>3}: {:>9.0} txn/s  {:>6.1} txn/fsync  ({:.1}x one appender, median of per-round ratios)",
            median(rates[i].clone()),
            median(per_fsync[i].clone()),
            ratio(i)
        );
    }
}

fn read_bench() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = BinlogConfig { dir: tmp.path().into(), sync_binlog: 0, ..Default::default() };
    let (w, _) = BinlogWriter::open(cfg).unwrap();
    for i in 0..300_000 {
        w.append(&txn(i)).unwrap();
    }
    w.close().unwrap();
    let (file, size, _) = w.status();
    let path = tmp.path().join(&file);
    let mb = size as f64 / 1e6;
    let mut best_raw = f64::MAX;
    let mut best_log = f64::MAX;
    let mut best_frame = f64::MAX;
    let mut best_ref = f64::MAX;
    let mut best_ref_decode = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let mut f = std::fs::File::open(&path).unwrap();
        let mut buf = vec![0u8; 256 * 1024];
        let mut n = 0usize;
        loop {
            let k = f.read(&mut buf).unwrap();
            if k == 0 {
                break;
            }
            n += k;
        }
        assert_eq!(n as u64, size);
        best_raw = best_raw.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut r = LogReader::open(tmp.path(), "repld-bin", &file, 4).unwrap();
        let mut events = 0;
        while r.next_event().unwrap().is_some() {
            events += 1;
        }
        assert!(events > 900_000);
        best_log = best_log.min(t.elapsed().as_secs_f64());
        // Owned events, framing and CRC32 verified, bodies not decoded.
        let t = Instant::now();
        let mut r = LogReader::open(tmp.path(), "repld-bin", &file, 4).unwrap();
        r.set_decode_bodies(false);
        let mut framed = 0;
        while r.next_event().unwrap().is_some() {
            framed += 1;
        }
        assert_eq!(framed, events);
        best_frame = best_frame.min(t.elapsed().as_secs_f64());
        // The dump's path: borrowed events, framing and CRC32 verified, bytes forwarded verbatim.
        let t = Instant::now();
        let mut r = LogReader::open(tmp.path(), "repld-bin", &file, 4).unwrap();
        let (mut borrowed, mut bytes) = (0, 0);
        while let Some(ev) = r.next_raw().unwrap() {
            borrowed += 1;
            bytes += ev.bytes.len();
        }
        assert_eq!(borrowed, events);
        assert_eq!(bytes as u64, size - 4);
        best_ref = best_ref.min(t.elapsed().as_secs_f64());
        // Borrowed events, each body decoded.
        let t = Instant::now();
        let mut r = LogReader::open(tmp.path(), "repld-bin", &file, 4).unwrap();
        let mut decoded = 0;
        while let Some(ev) = r.next_raw().unwrap() {
            std::hint::black_box(ev.event().unwrap());
            decoded += 1;
        }
        assert_eq!(decoded, events);
        best_ref_decode = best_ref_decode.min(t.elapsed().as_secs_f64());
    }
    println!("sequential read of {mb:.1} MB: raw read {:.0} MB/s", mb / best_raw);
    for (what, secs) in [
        ("next_event, decode + CRC", best_log),
        ("next_event, framing + CRC", best_frame),
        ("next_raw, framing + CRC, the dump's path", best_ref),
        ("next_raw + event(), decode + CRC", best_ref_decode),
    ] {
        println!(
            "sequential read of {mb:.1} MB: LogReader {:>5.0} MB/s, {:>3.0}% of raw ({what})",
            mb / secs,
            100.0 * best_raw / secs
        );
    }
}

fn main() {
    let env = |name: &str, default: u64| {
        std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
    };
    // BENCH_LEVELS=1,8 measures only those numbers of appenders; BENCH_READ=0 skips the read bench.
    let levels: Vec<usize> = std::env::var("BENCH_LEVELS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).filter(|&n| n > 0).collect())
        .filter(|l: &Vec<usize>| !l.is_empty())
        .unwrap_or_else(|| vec![1, 8, 64]);
    commit_rounds(
        env("BENCH_ROUNDS", 5) as usize,
        Duration::from_secs(env("BENCH_SECS", 1)),
        &levels,
    );
    if env("BENCH_READ", 1) != 0 {
        read_bench();
    }
}
