//! The commit pipeline of DESIGN.md: binlog first, group commit, store after the fsync, OK last.
//!
//! For the transactions a statement finished ([`crate::sql::Session::take_commits`]), in order:
//! 1. under the commit-order lock (the session holds the row locks of what it changed since its first
//!    write, see [`crate::primary::locks`]): build the events of each transaction
//!    ([`crate::primary::events`]), append them to the binary log in one write, and
//!    [`Engine::publish`] the write set under the next sequence number, so the next writer of those
//!    rows sees it;
//! 2. release the session's row locks if its transaction is over, so that transactions waiting for
//!    them can execute while this one waits for its fsync;
//! 3. hand the position to the [`Syncer`] thread and wait: it runs [`BinlogWriter::sync`] (one fsync
//!    covers every transaction appended so far: group commit), then (a commit that comes alone does
//!    steps 3 and 4 itself, see below)
//! 4. [`Engine::apply`]s the published write sets up to the newest synced one, in one sled batch
//!    together with the binlog position they reach ([`AppliedPos`]), and announces the applied
//!    sequence number to every waiting session at once;
//! 5. the caller answers the client.
//!
//! One long-lived syncer thread (rather than a blocking task per commit) keeps the thread handoffs
//! per transaction to two: the session wakes the syncer if it sleeps, and the syncer wakes the
//! sessions of a whole group with one `watch` update. When commits come one at a time (one session
//! running a statement, no other write transaction open, no other commit in flight, and the
//! binlog's last fsync had one caller),
//! even those two wake-ups are most of the cost beyond the fsync on a VM, so the session syncs and
//! applies on its own worker thread, blocking it for one fsync; any commit arriving meanwhile goes
//! to the syncer and shares or follows that fsync through the binlog's group commit.
//!
//! Invariants: the store never holds a transaction whose events are not durable in the binlog (the
//! apply follows the sync); binlog order = sequence order = apply order; the store's recorded
//! position only moves forward (applies are serialized and skip sequence numbers already applied).

use crate::error::{Error, Result};
use crate::log::{Appended, TxnEvents};
use crate::primary::events::statement_events;
use crate::primary::state::{AppliedPos, Shared};
use crate::sql::PendingCommit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;
use tokio::sync::watch;

/// What the syncer has made durable and applied.
#[derive(Clone, Debug, Default)]
pub struct SyncDone {
    /// Highest sequence number synced and applied.
    pub seq: u64,
    /// The failure that stopped the syncer (the binlog is then poisoned), if any.
    pub error: Option<String>,
}

/// The group-commit thread's mailbox: the newest appended transaction not yet synced.
pub struct Syncer {
    mailbox: Mutex<Mailbox>,
    wake: Condvar,
    done: watch::Sender<SyncDone>,
    /// Commits between their append and their wake-up (see [`commit`]): the one that finds none
    /// in flight syncs on its own thread.
    in_flight: AtomicUsize,
}

impl Default for Syncer {
    fn default() -> Self {
        Syncer {
            mailbox: Mutex::new(Mailbox::default()),
            wake: Condvar::new(),
            done: watch::channel(SyncDone::default()).0,
            in_flight: AtomicUsize::new(0),
        }
    }
}

impl Syncer {
    /// Starts the syncer thread for `shared`; it ends when the server's shared state is dropped.
    pub fn start(shared: &Arc<Shared>) -> Result<()> {
        let weak = Arc::downgrade(shared);
        std::thread::Builder::new()
            .name("binlog-sync".into())
            .spawn(move || sync_loop(weak))
            .map(|_| ())
            .map_err(|e| Error::Io(format!("cannot start the binlog sync thread: {e}")))
    }

    fn request(&self, seq: u64, appended: Appended, pos: AppliedPos) -> Result<()> {
        let mut p = self.mailbox.lock().map_err(|_| Error::Abort("sync state poisoned".into()))?;
        if p.next.as_ref().is_none_or(|(s, _, _)| *s < seq) {
            p.next = Some((seq, appended, pos));
        }
        // The syncer looks at `next` before it sleeps (under this lock), so a wake-up is only
        // needed when it sleeps: a busy syncer takes the request when its fsync ends, without a
        // futex system call per commit.
        let sleeping = std::mem::take(&mut p.sleeping);
        drop(p);
        if sleeping {
            self.wake.notify_one();
        }
        Ok(())
    }
}

/// What [`Syncer::request`] hands to the syncer thread.
#[derive(Default)]
struct Mailbox {
    /// The newest appended transaction not yet synced: sequence number, where, position reached.
    next: Last,
    /// The syncer is waiting on [`Syncer::wake`] (set by it under the lock, cleared by the request
    /// that wakes it).
    sleeping: bool,
}

/// The syncer thread: take the newest appended transaction, fsync, apply, announce; repeat.
fn sync_loop(weak: Weak<Shared>) {
    loop {
        let Some(shared) = weak.upgrade() else { return };
        let next = {
            let Ok(mut p) = shared.syncer.mailbox.lock() else { return };
            if p.next.is_none() {
                p.sleeping = true;
                p = match shared.syncer.wake.wait_timeout(p, Duration::from_millis(200)) {
                    Ok((p, _)) => p,
                    Err(_) => return,
                };
                p.sleeping = false;
            }
            p.next.take()
        };
        let Some((seq, appended, pos)) = next else { continue };
        if sync_and_apply(&shared, seq, &appended, &pos).is_err() {
            return;
        }
    }
}

/// Steps 3 and 4 for the transactions up to `seq` (the last one at `appended`, reaching `pos`):
/// fsync, apply, announce. A failure is announced to every waiting session (the binlog is then
/// poisoned, so no later commit gets this far).
fn sync_and_apply(shared: &Shared, seq: u64, appended: &Appended, pos: &AppliedPos) -> Result<()> {
    match shared.binlog.sync(appended).and_then(|()| apply_up_to(shared, seq, pos)) {
        Ok(()) => {
            // Globals first: a session woken by the watch must see its own GTID.
            shared.publish_gtid_globals();
            shared.syncer.done.send_modify(|d| d.seq = d.seq.max(seq));
            Ok(())
        }
        Err(e) => {
            tracing::error!(cause = %e, "binlog sync failed; commits are refused from now on");
            shared.syncer.done.send_modify(|d| d.error = Some(e.to_string()));
            Err(e)
        }
    }
}

/// Logs, publishes, syncs and applies `commits` (see the module docs). The session holds the locks
/// of the rows the commits changed; `release` (the session's id) releases them once the commits are
/// appended and published, unless the session's transaction goes on (`None`).
pub async fn commit(
    shared: &Arc<Shared>,
    commits: Vec<crate::sql::PendingCommit>,
    thread_id: u32,
    release: Option<u32>,
) -> Result<()> {
    let (last, appended_all) = {
        // Append and publish are one step for every committer: binlog order = sequence order.
        let _order = shared
            .commit_order
            .lock()
            .map_err(|_| Error::Abort("commit order lock poisoned".into()))?;
        append_all(shared, &commits, thread_id)
    };
    if let Some(owner) = release {
        shared.locks.release(owner);
    }
    // Whatever was appended before a failure is synced and applied all the same: it is in the log.
    let Some((seq, appended, pos)) = last else { return appended_all };
    let in_flight = Running::enter(&shared.syncer.in_flight);
    if in_flight.alone
        && shared.running.load(Ordering::SeqCst) <= 1
        && shared.binlog.last_group_callers() <= 1
        && (release.is_none() || !shared.locks.any_held())
    {
        // Commits come one at a time (the last fsync had one caller), this is the only session
        // running a statement, no other write transaction is open (this one's locks are released
        // above) and no other commit is between append and wake-up: fsync and apply on this
        // thread instead of handing over to the syncer and being woken by it (two thread
        // wake-ups, each costing tens of microseconds on a VM whose idle vCPUs halt). The worker
        // thread is blocked for one fsync (the binlog's leader does not wait to gather a group
        // after an fsync with one caller), which is why other sessions must be idle: a statement
        // that arrives meanwhile runs on the other workers, and its commit finds this one in
        // flight and goes to the syncer, whose sync joins or follows this fsync in the binlog's
        // group commit.
        sync_and_apply(shared, seq, &appended, &pos)?;
        crate::metrics::METRICS.commits_synced_inline.add(1);
        return appended_all;
    }
    let mut done = shared.syncer.done.subscribe();
    shared.syncer.request(seq, appended, pos)?;
    let d = done
        .wait_for(|d| d.seq >= seq || d.error.is_some())
        .await
        .map_err(|_| Error::Io("binlog sync thread gone".into()))?
        .clone();
    if d.seq < seq {
        return Err(Error::Io(format!("binlog not durable: {}", d.error.unwrap_or_default())));
    }
    appended_all
}

/// One unit of a counter ([`Syncer::in_flight`], [`Shared::running`]) while it lives.
pub struct Running<'a> {
    count: &'a AtomicUsize,
    /// The counter was zero when this one entered.
    pub alone: bool,
}

impl<'a> Running<'a> {
    /// Counts one in `count` until dropped.
    pub fn enter(count: &'a AtomicUsize) -> Self {
        let alone = count.fetch_add(1, Ordering::SeqCst) == 0;
        Running { count, alone }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What step 1 logged last (and what the syncer is asked to make durable): sequence number, where,
/// and the position it reaches.
type Last = Option<(u64, Appended, AppliedPos)>;

/// Step 1 for every commit: append and publish. Returns the last one appended, and the error that
/// stopped the appends, if any.
fn append_all(shared: &Shared, commits: &[PendingCommit], thread_id: u32) -> (Last, Result<()>) {
    let mut last = None;
    for c in commits {
        if let Err(e) = append_one(shared, c, thread_id, &mut last) {
            return (last, Err(e));
        }
    }
    (last, Ok(()))
}

fn append_one(shared: &Shared, c: &PendingCommit, thread_id: u32, last: &mut Last) -> Result<()> {
    {
        if c.statements.is_empty() && c.writes.is_empty() {
            return Ok(());
        }
        let txn = TxnEvents {
            is_ddl: c.is_ddl,
            events: c.statements.iter().flat_map(|s| statement_events(s, thread_id)).collect(),
        };
        let appended = shared.binlog.append(&txn)?;
        crate::metrics::METRICS.commits.add(1);
        crate::metrics::METRICS
            .binlog_bytes
            .add(appended.end_pos.saturating_sub(appended.start_pos));
        let seq = shared.engine.publish(c)?;
        let gtid = {
            let mut state =
                shared.gtid_state.lock().map_err(|_| Error::Abort("gtid state poisoned".into()))?;
            state.update(appended.gtid);
            state.to_string()
        };
        let pos = AppliedPos { file: appended.file.clone(), pos: appended.end_pos, gtid };
        *last = Some((seq, appended, pos));
    }
    Ok(())
}

/// Step 4: applies every published transaction up to `seq` with `pos`, unless a later commit already
/// did (its position covers ours).
fn apply_up_to(shared: &Shared, seq: u64, pos: &AppliedPos) -> Result<()> {
    let mut applied =
        shared.applied_seq.lock().map_err(|_| Error::Abort("apply lock poisoned".into()))?;
    if *applied >= seq {
        return Ok(());
    }
    shared.engine.apply(seq, &pos.meta())?;
    *applied = seq;
    Ok(())
}
