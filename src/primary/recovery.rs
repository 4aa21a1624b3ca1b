//! Start-up recovery: bring the store up to the binary log before serving.
//!
//! The binary log is the source of truth and the store is derived from it (DESIGN.md). After a crash
//! the store may be behind the log: sled's flush is not an fsync, and a transaction can be durable in
//! the log while its apply never happened. The store records, in the same batch as each transaction's
//! rows, the binlog position that transaction reached ([`AppliedPos`]). Recovery reads the log from that
//! position (from the start when the store has none) and re-executes every complete transaction found
//! there through the shared applier ([`crate::apply`]), with the context the log recorded, each in one
//! batch with its new position. The log's torn tail has already been cut by
//! [`BinlogWriter::open`], so every transaction read here was complete (and durable) in the log.
//!
//! Invariant after recovery: the store's position equals the end of the last transaction in the log.

use crate::apply::{Applier, Pushed, TxnBuilder};
use crate::error::{Error, Result};
use crate::log::event::EventBody;
use crate::log::{BinlogWriter, GtidState, LogReader};
use crate::primary::state::AppliedPos;
use crate::sql::Engine;
use tracing::{info, warn};

/// Replays the transactions of `binlog` past the store's recorded position; returns how many.
pub fn replay_binlog(engine: &Engine, binlog: &BinlogWriter) -> Result<usize> {
    let applied = AppliedPos::load(engine)?;
    let (file, pos, mut state) = match &applied {
        Some(p) => (p.file.clone(), p.pos, p.gtid.parse::<GtidState>()?),
        None => (String::new(), 4, GtidState::new()),
    };
    let mut reader =
        LogReader::open(binlog.dir(), binlog.basename(), &file, pos).map_err(|e| match e {
            Error::LogPurged(m) | Error::PositionNotFound(m) => Error::InvalidData(format!(
            "the store is at binlog position {file}:{pos} but the binary log cannot serve it: {m}"
        )),
            other => other,
        })?;
    reader.set_limit(Some(binlog.durable_pos()));
    let applier = Applier::new(engine.clone())?;
    let mut builder = TxnBuilder::new();
    let mut replayed = 0;
    while let Some(ev) = reader.next_event()? {
        let (ev_file, end) = (ev.file.clone(), ev.end_pos());
        match builder.push(ev.event, ev.bytes.len() as u64) {
            Pushed::Group(group) => {
                if let Some(gtid) = group.gtid() {
                    state.update(gtid);
                }
                let meta = AppliedPos { file: ev_file, pos: end, gtid: state.to_string() }.meta();
                applier.apply(&group, &meta).map_err(|e| {
                    let (code, _, msg) = e.to_mysql();
                    Error::InvalidData(format!(
                        "recovery: replaying the transaction ending at {}:{end} failed ({code}: {msg})",
                        reader.position().file
                    ))
                })?;
                replayed += 1;
            }
            Pushed::Other(ev) => {
                if let EventBody::GtidList(list) = &ev.body {
                    // The state before the first file we read (a fresh store starting mid-history).
                    for g in list {
                        if state.get(g.domain_id).is_none() {
                            state.update(*g);
                        }
                    }
                }
            }
            Pushed::Discarded(group) => {
                warn!(events = group.events.len(), "recovery: dropped an incomplete transaction")
            }
            Pushed::Pending => {}
        }
    }
    if replayed > 0 {
        info!(replayed, to = %reader.position(), gtid = %state, "recovery replayed the binary log into the store");
    }
    Ok(replayed)
}
