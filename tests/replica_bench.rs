//! Apply rate of the SQL thread's core on a pre-filled relay log (prints figures; run with
//! `cargo test --release --test replica_bench -- --ignored --nocapture`).

use repld::apply::Applier;
use repld::log::event::{gtid_flags, intvar, Event, EventBody, QueryStatus, BINLOG_MAGIC};
use repld::replica::apply_log_files;
use repld::sql::Engine;
use std::io::Write;
use std::time::Instant;

fn write_log(dir: &std::path::Path, txns: u64) {
    let mut out = BINLOG_MAGIC.to_vec();
    let push = |out: &mut Vec<u8>, mut ev: Event| {
        let size = ev.encode().len() as u32;
        ev.header.log_pos = out.len() as u32 + size;
        ev.encode_into(out);
    };
    push(
        &mut out,
        Event::new(1, 1, 0, 0, EventBody::format_description("10.11.19-MariaDB-repld", 0)),
    );
    let mut seq = 0;
    let mut gtid = |out: &mut Vec<u8>, flags2| {
        seq += 1;
        let body =
            EventBody::Gtid { seq_no: seq, domain_id: 0, flags2, commit_id: 0, extra: vec![] };
        push(out, Event::new(1_700_000_000, 1, 0, 0, body));
    };
    let q = |sql: &str| {
        Event::new(
            1_700_000_000,
            1,
            0,
            0,
            EventBody::query(1, "sbtest", QueryStatus::standard(), sql),
        )
    };
    gtid(&mut out, gtid_flags::FOR_DDL);
    push(&mut out, q("CREATE DATABASE sbtest"));
    gtid(&mut out, gtid_flags::FOR_DDL);
    push(
        &mut out,
        q("CREATE TABLE sbtest1 (id INTEGER NOT NULL AUTO_INCREMENT, k INTEGER DEFAULT '0' NOT NULL, \
           c CHAR(120) DEFAULT '' NOT NULL, pad CHAR(60) DEFAULT '' NOT NULL, PRIMARY KEY (id))"),
    );
    let c = "x".repeat(119);
    for i in 1..=txns {
        gtid(&mut out, gtid_flags::FOR_DML);
        push(
            &mut out,
            Event::new(
                1_700_000_000,
                1,
                0,
                0,
                EventBody::Intvar { kind: intvar::INSERT_ID, value: i },
            ),
        );
        push(
            &mut out,
            q(&format!("INSERT INTO sbtest1 (id, k, c, pad) VALUES (0, {i}, '{c}', 'pad{i}')")),
        );
        push(&mut out, Event::new(1_700_000_000, 1, 0, 0, EventBody::Xid(i)));
    }
    std::fs::File::create(dir.join("bench-bin.000001")).unwrap().write_all(&out).unwrap();
    std::fs::write(dir.join("bench-bin.index"), "./bench-bin.000001\n").unwrap();
}

#[test]
#[ignore]
fn apply_rate_on_prefilled_relay_log() {
    let dir = tempfile::tempdir().unwrap();
    let txns = 20_000;
    write_log(dir.path(), txns);
    let engine = Engine::open(&dir.path().join("store")).unwrap();
    let applier = Applier::new(engine.clone()).unwrap();
    let start = Instant::now();
    let report = apply_log_files(&applier, dir.path(), "bench-bin", 2).unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(report.applied, txns + 2);
    println!(
        "applied {} transactions in {secs:.2} s: {:.0} transactions/s",
        report.applied,
        report.applied as f64 / secs
    );
}
