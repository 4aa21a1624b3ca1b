//! The commit pipeline of DESIGN.md: binlog first, group commit, store after the fsync, OK last.
//!
//! For the transactions a statement finished ([`crate::sql::Session::take_commits`]), in order:
//! 1. under the writer lock (held by the session since its first write): build the events of each
//!    transaction ([`crate::primary::events`]), append them to the binary log in one write, and
//!    [`Engine::publish`] the write set under the next sequence number, so the next writer sees it;
//! 2. release the writer lock if the session's transaction is over, so that the next transaction can
//!    execute while this one waits for its fsync;
//! 3. [`BinlogWriter::sync`]: one fsync covers every transaction appended so far (group commit);
//! 4. [`Engine::apply`] the published write sets up to this one, in one sled batch together with the
//!    binlog position they reach ([`AppliedPos`]);
//! 5. the caller answers the client.
//!
//! Invariants: the store never holds a transaction whose events are not durable in the binlog (the
//! apply follows the sync); binlog order = sequence order = apply order; the store's recorded
//! position only moves forward (applies are serialized and skip sequence numbers already applied).

use crate::error::{Error, Result};
use crate::log::{Appended, TxnEvents};
use crate::primary::events::statement_events;
use crate::primary::state::{AppliedPos, Shared};
use crate::sql::PendingCommit;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::OwnedMutexGuard;

/// Logs, publishes, syncs and applies `commits` (see the module docs). `guard` must hold the writer
/// lock; it is released after the appends unless `keep_lock` (the session's transaction goes on).
pub async fn commit(
    shared: &Arc<Shared>,
    commits: Vec<crate::sql::PendingCommit>,
    thread_id: u32,
    guard: &mut Option<OwnedMutexGuard<()>>,
    keep_lock: bool,
) -> Result<()> {
    debug_assert!(guard.is_some(), "commit without the writer lock");
    let (last, appended_all) = append_all(shared, &commits, thread_id);
    if !keep_lock {
        *guard = None;
    }
    // Whatever was appended before a failure is synced and applied all the same: it is in the log.
    let Some((seq, appended, pos)) = last else { return appended_all };
    let shared2 = shared.clone();
    tokio::task::spawn_blocking(move || -> Result<()> {
        shared2.binlog.sync(&appended)?;
        apply_up_to(&shared2, seq, &pos)
    })
    .await
    .map_err(|e| Error::Io(format!("commit task: {e}")))??;
    shared.publish_gtid_globals();
    appended_all
}

/// What step 1 logged last: sequence number, where, and the position it reaches.
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
        let seq = shared.next_seq.fetch_add(1, Ordering::SeqCst) + 1;
        shared.engine.publish(seq, c);
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
