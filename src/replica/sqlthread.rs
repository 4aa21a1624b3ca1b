//! The SQL thread: reads the relay log, cuts it into groups and applies them through the [`Applier`].
//!
//! [`SqlCore`] is the synchronous state machine (no waiting, no threads): it takes events one at a time
//! and applies each complete group with the applied GTID state and source position in the same batch
//! ([`GTID_SLAVE_POS_KEY`], [`EXEC_POS_KEY`]). Groups already contained in the applied GTID state are
//! passed over (they were fetched again after a reconnect or a relay log reset); groups from our own
//! server id and groups consumed by `sql_slave_skip_counter` are skipped with their position recorded,
//! so that nothing is skipped without a trace. [`run`] drives it as the SQL thread, woken by the IO
//! thread through [`RelayLog::wait_change`]; [`apply_log_files`] drives it over existing log files.

use super::handle::Shared;
use super::relay::RelayLog;
use super::settings::{ExecPos, EXEC_POS_KEY, GTID_SLAVE_POS_KEY};
use crate::apply::{AppliedTxn, Applier, Pushed, TxnBuilder, TxnGroup};
use crate::error::{Error, Result};
use crate::log::event::{Event, EventBody};
use crate::log::file::LogPos;
use crate::log::gtid::{Gtid, GtidState};
use crate::log::reader::LogReader;
use crate::sql::{Engine, MetaRecord};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What [`SqlCore::step`] did with one event.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Nothing to apply yet (part of a group, or a non-group event).
    Nothing,
    /// A group was applied.
    Applied(AppliedTxn),
    /// A group was skipped on purpose (own server id, skip counter); its position was recorded.
    Skipped(Option<Gtid>),
    /// A group already contained in the applied GTID state was passed over.
    AlreadyApplied(Gtid),
    /// An incomplete group was dropped because a new one started (source restarted mid-group).
    Discarded(usize),
}

/// The applied GTID state and source position stored in the engine.
pub fn load_position(engine: &Engine) -> Result<(GtidState, ExecPos)> {
    let gtid = match engine.get_meta(GTID_SLAVE_POS_KEY)? {
        Some(b) => String::from_utf8(b)
            .map_err(|_| Error::InvalidData("stored gtid_slave_pos is not UTF-8".into()))?
            .parse()?,
        None => GtidState::new(),
    };
    let exec = match engine.get_meta(EXEC_POS_KEY)? {
        Some(b) => serde_json::from_slice(&b)
            .map_err(|e| Error::InvalidData(format!("stored exec position: {e}")))?,
        None => ExecPos::default(),
    };
    Ok((gtid, exec))
}

/// The meta records for a new applied position.
pub fn position_meta(gtid: &GtidState, exec: &ExecPos) -> Vec<MetaRecord> {
    let exec_json = serde_json::to_vec(exec).unwrap_or_default();
    vec![
        (GTID_SLAVE_POS_KEY.to_string(), gtid.to_string().into_bytes()),
        (EXEC_POS_KEY.to_string(), exec_json),
    ]
}

/// The SQL thread's state machine.
pub struct SqlCore {
    applier: Applier,
    own_server_id: u32,
    builder: TxnBuilder,
    master_file: String,
    gtid_pos: GtidState,
    exec: ExecPos,
}

impl SqlCore {
    /// A core that continues from the position stored in the applier's engine.
    pub fn new(applier: Applier, own_server_id: u32) -> Result<SqlCore> {
        let (gtid_pos, exec) = load_position(applier.engine())?;
        let master_file = exec.file.clone();
        Ok(SqlCore {
            applier,
            own_server_id,
            builder: TxnBuilder::new(),
            master_file,
            gtid_pos,
            exec,
        })
    }

    /// The applied GTID state.
    pub fn gtid_pos(&self) -> &GtidState {
        &self.gtid_pos
    }

    /// The applied source position.
    pub fn exec_pos(&self) -> &ExecPos {
        &self.exec
    }

    /// True while a group is partly read.
    pub fn in_group(&self) -> bool {
        self.builder.in_group()
    }

    /// Sets the source file name for the groups that follow (normally learnt from ROTATE events).
    pub fn set_master_file(&mut self, name: &str) {
        self.master_file = name.to_string();
    }

    /// Forgets a partly read group (the relay log was reset).
    pub fn reset_stream(&mut self) {
        self.builder.reset();
    }

    /// Feeds one event. `skip` is asked once per complete group that would be applied and returns true
    /// to skip it (sql_slave_skip_counter). An apply error leaves the position unchanged.
    pub fn step(
        &mut self,
        event: Event,
        size: u64,
        skip: &mut dyn FnMut() -> bool,
    ) -> Result<Step> {
        match self.builder.push(event, size) {
            Pushed::Pending => Ok(Step::Nothing),
            Pushed::Other(ev) => {
                // Events outside groups are "executed" by moving the position, as MariaDB does.
                let in_group = self.builder.in_group();
                match &ev.body {
                    EventBody::Rotate { next_file, position } => {
                        self.master_file = next_file.clone();
                        if !in_group {
                            self.exec = ExecPos { file: next_file.clone(), pos: *position };
                        }
                    }
                    _ if !in_group
                        && ev.header.log_pos != 0
                        && ev.header.server_id != self.own_server_id =>
                    {
                        self.exec = ExecPos {
                            file: self.master_file.clone(),
                            pos: u64::from(ev.header.log_pos),
                        };
                    }
                    _ => {}
                }
                Ok(Step::Nothing)
            }
            Pushed::Discarded(g) => {
                tracing::warn!(gtid = ?g.gtid(), events = g.events.len(), "incomplete event group dropped");
                Ok(Step::Discarded(g.events.len()))
            }
            Pushed::Group(group) => self.group(group, skip),
        }
    }

    fn group(&mut self, group: TxnGroup, skip: &mut dyn FnMut() -> bool) -> Result<Step> {
        let gtid = group.gtid();
        if let Some(g) = gtid {
            if self.gtid_pos.contains(&g) {
                return Ok(Step::AlreadyApplied(g));
            }
        }
        let mut next_gtid = self.gtid_pos.clone();
        if let Some(g) = gtid {
            next_gtid.update(g);
        }
        let end = group.end_log_pos();
        let next_exec = ExecPos {
            file: self.master_file.clone(),
            pos: if end != 0 { u64::from(end) } else { self.exec.pos },
        };
        let meta = position_meta(&next_gtid, &next_exec);
        let own = group.server_id() == Some(self.own_server_id);
        let step = if own || skip() {
            self.applier.skip(&meta)?;
            Step::Skipped(gtid)
        } else {
            Step::Applied(self.applier.apply(&group, &meta)?)
        };
        self.gtid_pos = next_gtid;
        self.exec = next_exec;
        Ok(step)
    }
}

/// What [`apply_log_files`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApplyReport {
    /// Groups applied.
    pub applied: u64,
    /// Groups skipped (own server id) or already applied.
    pub skipped: u64,
    /// Applied GTID state at the end.
    pub gtid_pos: GtidState,
}

/// Applies every complete group of the log files `dir/<basename>.index` lists (binlogs or relay logs),
/// as the SQL thread would. Stops at the first error.
pub fn apply_log_files(
    applier: &Applier,
    dir: &Path,
    basename: &str,
    own_server_id: u32,
) -> Result<ApplyReport> {
    let mut core = SqlCore::new(applier.clone(), own_server_id)?;
    let mut reader = LogReader::open(dir, basename, "", 4)?;
    if core.exec.file.is_empty() {
        core.set_master_file(&reader.position().file);
    }
    let mut report = ApplyReport::default();
    while let Some(raw) = reader.next_event()? {
        let size = raw.bytes.len() as u64;
        match core.step(raw.event, size, &mut || false)? {
            Step::Applied(_) => report.applied += 1,
            Step::Skipped(_) | Step::AlreadyApplied(_) => report.skipped += 1,
            Step::Nothing | Step::Discarded(_) => {}
        }
    }
    report.gtid_pos = core.gtid_pos.clone();
    Ok(report)
}

/// How long the SQL thread sleeps at most before re-checking its stop flag (it is woken earlier by
/// new relay data and by STOP).
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// The reader state of the running SQL thread.
struct Cursor {
    reader: LogReader,
    generation: u64,
    /// Relay position after the last group handled (where a restarted SQL thread resumes).
    boundary: LogPos,
    /// Refetches requested without progress since.
    refetches: u32,
    /// Catch-up progress logging: when the last line was logged, and transactions applied since.
    progress: (std::time::Instant, u64),
}

/// A backlog at least this long (transactions) is "catching up": progress is logged.
const PROGRESS_BACKLOG: usize = 1000;
/// Interval between catch-up progress lines.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

fn open_cursor(relay: &RelayLog, resume: Option<(u64, LogPos)>) -> Result<Option<Cursor>> {
    let generation = relay.generation();
    let (file, pos) = match resume {
        Some((g, p)) if g == generation => (p.file, p.pos),
        _ => match relay.first_file() {
            Some(f) => (f, 4),
            None => return Ok(None),
        },
    };
    let reader = LogReader::open(relay.dir(), relay.basename(), &file, pos)?;
    Ok(Some(Cursor {
        reader,
        generation,
        boundary: LogPos::new(file, pos),
        refetches: 0,
        progress: (std::time::Instant::now(), 0),
    }))
}

/// Runs the SQL thread until `stop` is set or an error stops it.
pub fn run(shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let result = run_inner(&shared, &stop);
    let error = match result {
        Ok(()) => None,
        Err(e) => {
            let (code, _, message) = e.to_mysql();
            tracing::error!(code, %message, "replica SQL thread stopped");
            Some((u32::from(code), message))
        }
    };
    shared.sql_stopped(error);
}

fn run_inner(shared: &Shared, stop: &AtomicBool) -> Result<()> {
    let mut core = SqlCore::new(shared.applier.clone(), shared.cfg.server_id)?;
    let mut cursor: Option<Cursor> = None;
    let resume = shared.live().sql_resume.take();
    let mut resume = Some(resume).flatten();
    while !stop.load(Ordering::Acquire) {
        let relay = &shared.relay;
        if cursor.as_ref().is_none_or(|c| c.generation != relay.generation()) {
            core.reset_stream();
            cursor = open_cursor(relay, resume.take())?;
            if cursor.is_none() {
                relay.wait_change(&None, relay.generation(), IDLE_WAIT);
                continue;
            }
        }
        let Some(cur) = cursor.as_mut() else { continue };
        let end = relay.end();
        cur.reader.set_limit(end.clone());
        // Borrowed from the reader's buffer and decoded in place: no copy of the event's bytes.
        let next = cur.reader.next_with(|ev| {
            Ok((ev.event()?, ev.bytes.len() as u64, LogPos::new(ev.file, ev.end_pos())))
        });
        match next {
            Ok(Some((event, size, pos))) => {
                let done = handle_event(shared, &mut core, cur, event, size, pos)?;
                if done {
                    shared.live().sql_resume = Some((cur.generation, cur.boundary.clone()));
                }
            }
            Ok(None) => {
                shared.live().sql_state =
                    "Slave has read all relay log; waiting for more updates".into();
                relay.wait_change(&end, cur.generation, IDLE_WAIT);
            }
            Err(e @ (Error::InvalidData(_) | Error::LogPurged(_) | Error::PositionNotFound(_))) => {
                // A corrupt or missing relay log event: fetch it again from the source, never skip it.
                cur.refetches += 1;
                if cur.refetches > 1 || !shared.request_refetch() {
                    return Err(Error::sql(
                        1594,
                        "HY000",
                        format!(
                            "Relay log read failure: Could not parse relay log event entry ({}); the relay log \
                             could not be fetched again",
                            crate::log::event::error_text(&e)
                        ),
                    ));
                }
                tracing::warn!(error = %e, "relay log event unreadable; fetching the relay log again");
                relay.wait_change(&end, cur.generation, IDLE_WAIT);
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(cur) = &cursor {
        shared.live().sql_resume = Some((cur.generation, cur.boundary.clone()));
    }
    Ok(())
}

/// Feeds one relay event (`size` bytes, ending at `pos`) to the core and publishes the result;
/// returns true at a group boundary.
fn handle_event(
    shared: &Shared,
    core: &mut SqlCore,
    cur: &mut Cursor,
    event: Event,
    size: u64,
    pos: LogPos,
) -> Result<bool> {
    {
        let mut live = shared.live();
        live.relay_log_file = pos.file.clone();
        live.relay_log_pos = pos.pos;
    }
    let mut skip = || shared.take_skip();
    let step = core.step(event, size, &mut skip).map_err(|e| {
        let (code, state, message) = e.to_mysql();
        let at = core.exec_pos();
        Error::sql(
            code,
            &state,
            format!(
                "{message} (in the event group after GTID {} at {}:{})",
                core.gtid_pos(),
                at.file,
                at.pos
            ),
        )
    })?;
    let boundary = !core.in_group();
    match step {
        Step::Nothing | Step::Discarded(_) => {
            if boundary {
                shared.live().exec = core.exec_pos().clone();
            }
        }
        Step::Applied(_) | Step::Skipped(_) | Step::AlreadyApplied(_) => {
            cur.refetches = 0;
            let mut live = shared.live();
            live.gtid_slave_pos = core.gtid_pos().clone();
            super::handle::publish_gtid(shared.applier.engine(), core.gtid_pos());
            live.exec = core.exec_pos().clone();
            live.pending.pop_front();
            if matches!(step, Step::Applied(_)) {
                live.applied_transactions += 1;
                cur.progress.1 += 1;
                let since = cur.progress.0.elapsed();
                if since >= PROGRESS_EVERY {
                    let backlog = live.pending.len();
                    if backlog >= PROGRESS_BACKLOG {
                        tracing::info!(
                            backlog_transactions = backlog,
                            applied = cur.progress.1,
                            rate_per_s = (cur.progress.1 as f64 / since.as_secs_f64()).round(),
                            gtid = %core.gtid_pos(),
                            "replica SQL thread catching up"
                        );
                    }
                    cur.progress = (std::time::Instant::now(), 0);
                }
                crate::metrics::METRICS.replica_applied.add(1);
            }
            live.sql_state = "Slave has read all relay log; waiting for more updates".into();
        }
    }
    if boundary {
        if pos.file != cur.boundary.file {
            shared.relay.purge_before(&pos.file)?;
        }
        cur.boundary = pos;
    }
    Ok(boundary)
}
