//! The binlog writer: whole-transaction appends, group commit, rotation, recovery, purge.
//!
//! Invariants:
//! * Positions only grow; events are contiguous; a transaction (GTID ... XID, or GTID + DDL) is written
//!   whole by one `write` (alone, or with the other transactions of its group) and never spans two
//!   files. Rotation happens between transactions, after the pending ones are written.
//! * Nothing is acknowledged before it is in the file; with `sync_binlog = 1` nothing is reported
//!   durable (by [`BinlogWriter::sync`] or [`BinlogWriter::durable`]) before an fsync covered it: of
//!   the binlog file, or of the commit journal holding the same bytes, which recovery at open writes
//!   back into the last file before it checks the tail.
//! * A failed write is cut back (the file is truncated to where the write began) and poisons the
//!   writer: every commit in that write fails, every later append fails until the log is reopened,
//!   whose recovery removes any torn tail.
//! * Each file starts with magic, FORMAT_DESCRIPTION (BINLOG_IN_USE set while open, create time non-zero
//!   only in the first file after a start) and GTID_LIST of the state before it; it ends with ROTATE
//!   (rotation) or STOP (clean close, which also clears BINLOG_IN_USE), or nothing after a crash.
//!
//! Group commit (sync_binlog = 1): an append encodes its transaction into a pending buffer under the
//! state mutex (no system call: the lock is held for a microsecond). A caller of
//! [`BinlogWriter::sync`] becomes the leader if no fsync is running: it writes the pending buffer
//! with one `write`, copies the same bytes as one record into the commit journal
//! ([`crate::log::journal`]: a preallocated file, so its fdatasync is one overwrite, where the
//! binlog's own would also have to write the grown inode), notes the end, fsyncs the journal outside
//! the lock while the next group appends into the buffer, publishes the position and wakes the
//! followers it covers one by one (each waits on its own record and returns without taking the
//! group mutex again: no thundering herd on one condvar), handing the lead to the first one it does
//! not cover. With sync_binlog = 0 or N the append writes its transaction itself.
//!
//! Waiting without sleeping: a follower yield-spins on its record (`sched_yield` between looks) for
//! up to twice the last fsync's latency (at most [`MAX_GATHER`]) and parks only after that; the
//! gathering leader (below) yield-spins too. Parked threads cost a wake-up each: on a VM an
//! inter-processor interrupt, a VM exit, for every follower of every fsync; profiled at 8
//! appenders on this project's 2-vCPU VM, `try_to_wake_up` under `futex_wake` was 26% of all CPU
//! samples, and yield-spinning raised 8 appenders from about 4.5x to about 7x one appender. A
//! yielding thread gives its CPU to any other runnable one, so the spin costs only CPU that would
//! idle; a lone committer never waits this way.
//!
//! Gathering: when an fsync ends, the callers it covered return and (in a busy server) append their
//! next transactions a few microseconds later, while the callers that arrived during the fsync are
//! already waiting. A next leader that started its fsync at once would take only those and the first
//! few returning ones, the rest would wait a whole fsync more: groups alternate big and small (about
//! half of the callers per fsync). So the next leader first waits until as many transactions have
//! been appended since the last fsync's snapshot as there were callers in `sync` when it ended (they
//! are either waiting or on their way back), bounded by half the last fsync's latency (at most
//! [`MAX_GATHER`]). A single committer never waits: its own append is the one expected. The leader
//! waits without the group mutex.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, Thread};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::log::event::{self, flags, gtid_flags, Event, EventBody, EventHeader, HEADER_LEN};
use crate::log::file::{
    encode_file_header, file_seq_cmp, is_framing_type, scan_file, set_in_use, FileSet, LogPos,
};
use crate::log::gtid::{Gtid, GtidState};
use crate::log::journal::{self, Journal};

/// Configuration of a [`BinlogWriter`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BinlogConfig {
    /// Directory of the binlog files and index.
    pub dir: PathBuf,
    /// File base name: files are `<basename>.000001`, ..., index `<basename>.index`.
    pub basename: String,
    /// Our server id (event headers, GTIDs).
    pub server_id: u32,
    /// GTID domain of the transactions we write.
    pub domain_id: u32,
    /// Rotate to a new file once a file reaches this size (checked between transactions).
    pub max_binlog_size: u64,
    /// 1 = fsync before a commit is durable (group commit), N = fsync every N transactions, 0 = never.
    pub sync_binlog: u32,
    /// Server version in FORMAT_DESCRIPTION (at most 50 bytes).
    pub server_version: String,
    /// Purge files older than this many seconds at open and at rotation (0 = never).
    pub binlog_expire_logs_seconds: u64,
}

impl Default for BinlogConfig {
    fn default() -> Self {
        BinlogConfig {
            dir: PathBuf::from("."),
            basename: "repld-bin".into(),
            server_id: 1,
            domain_id: 0,
            max_binlog_size: 1 << 30,
            sync_binlog: 1,
            server_version: DEFAULT_SERVER_VERSION.into(),
            binlog_expire_logs_seconds: 0,
        }
    }
}

/// The server version repld writes into FORMAT_DESCRIPTION events.
pub const DEFAULT_SERVER_VERSION: &str = "10.11.19-MariaDB-repld";

impl BinlogConfig {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<()> {
        FileSet::new(&self.dir, &self.basename)?;
        if self.server_version.len() > 50 {
            return Err(Error::InvalidInput("server_version longer than 50 bytes".into()));
        }
        if !(4096..=1 << 30).contains(&self.max_binlog_size) {
            return Err(Error::InvalidInput(format!(
                "max_binlog_size {} out of range 4096..=1073741824",
                self.max_binlog_size
            )));
        }
        Ok(())
    }
}

/// What recovery found and did when a log was opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The file that was checked (the last one of the index), if any.
    pub checked_file: Option<String>,
    /// Bytes cut from its end (torn event, bad CRC, transaction without XID); a whole unreadable last
    /// file counts with its full length.
    pub bytes_cut: u64,
    /// Why bytes were cut, naming `file:offset`.
    pub reason: Option<String>,
    /// True when the last file was not closed cleanly (BINLOG_IN_USE was set).
    pub was_in_use: bool,
    /// The log's GTID state after recovery.
    pub gtid_state: GtidState,
    /// End of the last whole transaction before the new file was started.
    pub end: Option<LogPos>,
    /// The file the writer now appends to.
    pub new_file: String,
}

/// A transaction to append: its events in execution order, without GTID and XID (the writer adds them).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TxnEvents {
    /// DDL: logged as a standalone GTID (flags 0x29) + the statement, without XID.
    pub is_ddl: bool,
    /// (header timestamp, body) of each event: context events (INTVAR, RAND, USER_VAR) and QUERYs.
    pub events: Vec<(u32, EventBody)>,
}

/// Where a transaction was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Its GTID.
    pub gtid: Gtid,
    /// The file it is in.
    pub file: String,
    /// Offset of its GTID event.
    pub start_pos: u64,
    /// Offset just past its last event.
    pub end_pos: u64,
}

/// The binlog writer. Cheap to clone (all clones share one log); `Send + Sync`.
#[derive(Clone)]
pub struct BinlogWriter {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: BinlogConfig,
    files: FileSet,
    state: Mutex<WriteState>,
    group: Mutex<GroupState>,
    durable_tx: watch::Sender<LogPos>,
    holds: Mutex<BTreeMap<u64, (String, String)>>,
    next_hold: AtomicU64,
    fsyncs: AtomicU64,
    /// Total time spent in the group-commit leaders' fsyncs, in nanoseconds.
    fsync_nanos: AtomicU64,
    /// Transactions appended since open (changed under the state lock).
    appends: AtomicU64,
    /// Callers inside [`Inner::sync_to`].
    callers: AtomicU64,
    /// `callers` when the last fsync ended (a copy of [`GroupState::expect`] read without the lock).
    last_callers: AtomicU64,
    /// Run before any file is deleted (see [`BinlogWriter::set_before_purge`]).
    before_purge: Mutex<Option<PurgeHook>>,
}

/// What must happen before binlog files are deleted: the server makes its store durable, so that
/// recovery never needs a deleted file.
pub type PurgeHook = Arc<dyn Fn() -> Result<()> + Send + Sync>;

struct WriteState {
    file: Arc<File>,
    name: String,
    pos: u64,
    gtids: GtidState,
    next_seq: u64,
    next_xid: u64,
    index: Vec<String>,
    poisoned: Option<String>,
    closed: bool,
    unsynced: u32,
    /// Encoded transactions appended but not yet written (they end at `pos`): with sync_binlog = 1
    /// the next group-commit leader writes them, otherwise the append that made them.
    pending: Vec<u8>,
    /// The bytes of the last successful [`WriteState::write_pending`] and where they start in the
    /// file: the group-commit leader copies them into the journal.
    written: Vec<u8>,
    written_at: u64,
    /// The commit journal (sync_binlog = 1): the leader fsyncs it instead of the binlog file.
    journal: Option<Journal>,
    /// What the first transaction in `pending` changed, to undo the batch if its write fails.
    batch_undo: BatchUndo,
    /// Test hook ([`BinlogWriter::inject_write_fault`]): the next append's transaction is written
    /// only up to this many bytes.
    fault_after: Option<usize>,
    /// The armed fault as an offset into `pending`.
    fault_at: Option<usize>,
}

/// The writer state before the first transaction of a pending batch.
#[derive(Clone, Copy, Default)]
struct BatchUndo {
    domain_id: u32,
    next_seq: u64,
    next_xid: u64,
    last_gtid: Option<Gtid>,
}

/// A thread waiting in [`Inner::sync_to`] while a leader fsyncs (yield-spinning, then parked). The
/// waker sets `state`, then unparks (no system call when the thread is not parked).
struct Waiter {
    thread: Thread,
    state: AtomicU8,
}

/// [`Waiter::state`]: still waiting; an fsync covered the target (return Ok without the group
/// lock); look again under the group lock (lead the next fsync, or fail on an error).
const WAITING: u8 = 0;
const COVERED: u8 = 1;
const RETRY: u8 = 2;

thread_local! {
    static WAITER: Arc<Waiter> =
        Arc::new(Waiter { thread: thread::current(), state: AtomicU8::new(WAITING) });
}

/// What makes a group durable, done by the leader once it has released the state lock.
enum Durability {
    /// An fdatasync of this file (the binlog).
    Fsync(Arc<File>),
    /// Writing this commit-journal record (durable once written).
    Journal(journal::RecordWrite),
}

impl Durability {
    /// Does it for the group that ends in binlog file `file`; a failure comes back as the message
    /// that poisons the writer.
    fn make_durable(&self, file: &str) -> std::result::Result<(), String> {
        match self {
            Durability::Fsync(f) => {
                f.sync_data().map_err(|e| format!("fsync of {file} failed: {e}"))
            }
            Durability::Journal(w) => {
                w.write().map_err(|e| format!("commit journal write for {file} failed: {e}"))
            }
        }
    }
}

struct GroupState {
    durable: LogPos,
    leader: bool,
    error: Option<String>,
    /// Callers waiting for the running leader's fsync, in arrival order, with their targets.
    waiters: Vec<(LogPos, Arc<Waiter>)>,
    /// When the last fsync ended: the callers inside `sync_to` then, and the value of
    /// [`Inner::appends`] at its snapshot. The next leader gathers until `appends` reaches their sum.
    expect: u64,
    appends_at_snapshot: u64,
    /// Latency of the last fsync.
    last_fsync: Duration,
}

/// The longest a leader waits for committers to join its fsync, and the longest a follower
/// yield-spins before it parks (see the module docs).
const MAX_GATHER: Duration = Duration::from_millis(2);

fn now_secs() -> u32 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as u32).unwrap_or(0)
}

fn io_at(path: &std::path::Path) -> impl Fn(io::Error) -> Error + '_ {
    move |e| Error::Io(format!("{}: {e}", path.display()))
}

impl BinlogWriter {
    /// Opens (or creates) the binlog in `cfg.dir`: recovers the tail of the last file, then starts a
    /// new file whose FORMAT_DESCRIPTION carries a non-zero create time, as MariaDB does at startup.
    pub fn open(cfg: BinlogConfig) -> Result<(BinlogWriter, RecoveryReport)> {
        cfg.validate()?;
        fs::create_dir_all(&cfg.dir).map_err(io_at(&cfg.dir))?;
        let files = FileSet::new(&cfg.dir, &cfg.basename)?;
        // The commit journal first: it restores group commits whose binlog bytes never reached the
        // disk, then the tail check sees the file as it was acknowledged.
        if let Some(last) = files.read_index()?.last() {
            journal::replay(&cfg.dir, &cfg.basename, last, &files.path(last))?;
        }
        let (mut index, mut report, next_xid) = recover(&files, true)?;
        let journal = if cfg.sync_binlog == 1 {
            Some(Journal::open(&cfg.dir, &cfg.basename)?)
        } else {
            // Nothing will be journaled: an old journal (replayed above) would only mislead.
            let path = journal::path(&cfg.dir, &cfg.basename);
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(Error::Io(format!("{}: {e}", path.display())))
                }
                _ => None,
            }
        };
        let state = report.gtid_state.clone();
        let name = match index.last() {
            Some(last) => files.next_name(last),
            None => files.name(1),
        };
        let now = now_secs();
        let header = encode_file_header(
            &cfg.server_version,
            cfg.server_id,
            now,
            now.max(1),
            flags::BINLOG_IN_USE,
            Some(&state),
        );
        let (file, pos) = files.create_file(&name, &header)?;
        index.push(name.clone());
        files.write_index(&index)?;
        report.new_file = name.clone();
        tracing::info!(file = %name, cut = report.bytes_cut, state = %state, "binlog opened");
        let next_seq = state.get(cfg.domain_id).map_or(1, |g| g.seq_no + 1);
        let durable = LogPos::new(name.clone(), pos);
        let (durable_tx, _) = watch::channel(durable.clone());
        let inner = Inner {
            files,
            state: Mutex::new(WriteState {
                file: Arc::new(file),
                name,
                pos,
                gtids: state,
                next_seq,
                next_xid,
                index,
                poisoned: None,
                closed: false,
                unsynced: 0,
                pending: Vec::with_capacity(1 << 16),
                written: Vec::with_capacity(1 << 16),
                written_at: 0,
                journal,
                batch_undo: BatchUndo::default(),
                fault_after: None,
                fault_at: None,
            }),
            group: Mutex::new(GroupState {
                durable,
                leader: false,
                error: None,
                waiters: Vec::new(),
                expect: 0,
                appends_at_snapshot: 0,
                last_fsync: Duration::ZERO,
            }),
            durable_tx,
            holds: Mutex::new(BTreeMap::new()),
            next_hold: AtomicU64::new(1),
            fsyncs: AtomicU64::new(0),
            fsync_nanos: AtomicU64::new(0),
            appends: AtomicU64::new(0),
            callers: AtomicU64::new(0),
            last_callers: AtomicU64::new(0),
            before_purge: Mutex::new(None),
            cfg,
        };
        let writer = BinlogWriter { inner: Arc::new(inner) };
        if let Err(e) = writer.purge_expired() {
            tracing::warn!(cause = %e, "binlog expiry at open failed");
        }
        Ok((writer, report))
    }

    /// The configuration the writer was opened with.
    pub fn config(&self) -> &BinlogConfig {
        &self.inner.cfg
    }

    /// Appends one transaction: GTID (next sequence number of our domain), its events, and for DML an
    /// XID. Rotates afterwards if the file reached `max_binlog_size`. With sync_binlog = 0 or N the
    /// transaction is in the file when this returns. With sync_binlog = 1 it has its place in the log
    /// but is written by the next group-commit leader (one `write` for the whole group, just before
    /// its fsync): call [`BinlogWriter::sync`] to wait until it is written and durable; a write error
    /// then fails that sync.
    pub fn append(&self, txn: &TxnEvents) -> Result<Appended> {
        validate_txn(txn)?;
        let inner = &self.inner;
        let mut st = inner.lock_state();
        st.check_writable()?;
        let gtid = Gtid {
            domain_id: inner.cfg.domain_id,
            server_id: inner.cfg.server_id,
            seq_no: st.next_seq,
        };
        let start = st.pos;
        let xid = st.next_xid;
        let base = st.pending.len();
        encode_txn(&mut st.pending, &inner.cfg, txn, gtid, xid, start);
        let end = start + (st.pending.len() - base) as u64;
        if end > u32::MAX as u64 {
            st.pending.truncate(base);
            return Err(Error::InvalidInput(format!(
                "transaction of {} bytes does not fit the binlog file",
                end - start
            )));
        }
        if base == 0 {
            st.batch_undo = BatchUndo {
                domain_id: gtid.domain_id,
                next_seq: st.next_seq,
                next_xid: st.next_xid,
                last_gtid: st.gtids.get(gtid.domain_id),
            };
        }
        if let Some(n) = st.fault_after.take() {
            st.fault_at = Some(base + n);
        }
        st.pos = end;
        st.next_seq += 1;
        if !txn.is_ddl {
            st.next_xid += 1;
        }
        st.gtids.update(gtid);
        if inner.cfg.sync_binlog != 1 || st.fault_at.is_some() {
            // Written now: sync_binlog = 0/N, or the test hook's failing write.
            inner.flush_locked(&mut st)?;
        }
        let appended = Appended { gtid, file: st.name.clone(), start_pos: start, end_pos: end };
        match inner.cfg.sync_binlog {
            1 => {
                inner.appends.fetch_add(1, Ordering::SeqCst);
            }
            n => {
                st.unsynced += 1;
                if n > 1 && st.unsynced >= n {
                    st.unsynced = 0;
                    if let Err(e) = st.file.sync_data() {
                        let msg = format!("fsync of {} failed: {e}", st.name);
                        return Err(inner.poison_locked(&mut st, msg));
                    }
                    inner.fsyncs.fetch_add(1, Ordering::Relaxed);
                }
                inner.mark_durable(LogPos::new(st.name.clone(), end));
            }
        }
        if st.pos >= inner.cfg.max_binlog_size {
            inner.rotate_locked(&mut st)?;
            drop(st);
            self.expire_after_rotation();
        } else {
            drop(st);
        }
        Ok(appended)
    }

    /// Waits until an fsync covers `appended` (sync_binlog = 1; returns at once otherwise). Concurrent
    /// callers share one fsync: one of them syncs everything written so far, the others wait for it.
    pub fn sync(&self, appended: &Appended) -> Result<()> {
        if self.inner.cfg.sync_binlog != 1 {
            return Ok(());
        }
        self.inner.sync_to(&LogPos::new(appended.file.clone(), appended.end_pos))
    }

    /// The durable end of the log (file, offset), updated after each fsync (sync_binlog = 1) or each
    /// append (otherwise). Dump streams wait on it and read up to it.
    pub fn durable(&self) -> watch::Receiver<LogPos> {
        self.inner.durable_tx.subscribe()
    }

    /// The current durable position.
    pub fn durable_pos(&self) -> LogPos {
        self.inner.lock_group().durable.clone()
    }

    /// Number of fsyncs of binlog data made by appends and syncs since open (rotation not counted).
    pub fn fsync_count(&self) -> u64 {
        self.inner.fsyncs.load(Ordering::Relaxed)
    }

    /// How many callers were waiting in [`BinlogWriter::sync`] when the last group-commit fsync
    /// ended (the leader included): 1 when commits come one at a time.
    pub fn last_group_callers(&self) -> u64 {
        self.inner.last_callers.load(Ordering::Relaxed)
    }

    /// Total time the group-commit leaders (sync_binlog = 1) spent in their fsyncs since open.
    pub fn fsync_time(&self) -> Duration {
        Duration::from_nanos(self.inner.fsync_nanos.load(Ordering::Relaxed))
    }

    /// Closes the current file and continues in a new one (FLUSH BINARY LOGS).
    pub fn flush_logs(&self) -> Result<()> {
        let mut st = self.inner.lock_state();
        st.check_writable()?;
        self.inner.rotate_locked(&mut st)?;
        drop(st);
        self.expire_after_rotation();
        Ok(())
    }

    /// Continues the log after `applied` (the GTIDs a promoted replica applied without logging them):
    /// merges them into the log's GTID state, moves the next sequence number of our domain past them and,
    /// when that changed the state, rotates, so that the new file's GTID_LIST holds them and a replica
    /// positioned at any of them can start reading there. Returns the merged state.
    pub fn continue_after(&self, applied: &GtidState) -> Result<GtidState> {
        let mut st = self.inner.lock_state();
        st.check_writable()?;
        let mut changed = false;
        for g in applied.iter() {
            if !st.gtids.contains(g) {
                st.gtids.update(*g);
                changed = true;
            }
            if g.domain_id == self.inner.cfg.domain_id && st.next_seq <= g.seq_no {
                st.next_seq = g.seq_no + 1;
            }
        }
        if changed {
            self.inner.rotate_locked(&mut st)?;
        }
        let state = st.gtids.clone();
        drop(st);
        if changed {
            self.expire_after_rotation();
        }
        Ok(state)
    }

    fn expire_after_rotation(&self) {
        if let Err(e) = self.purge_expired() {
            tracing::warn!(cause = %e, "binlog expiry after rotation failed");
        }
    }

    /// Clean shutdown: writes STOP, fsyncs and clears BINLOG_IN_USE. Further appends fail.
    pub fn close(&self) -> Result<()> {
        let inner = &self.inner;
        let mut st = inner.lock_state();
        if st.closed {
            return Ok(());
        }
        st.closed = true;
        if let Some(p) = &st.poisoned {
            return Err(Error::Io(format!("binlog closed after a write error: {p}")));
        }
        inner.flush_locked(&mut st)?;
        let mut buf = Vec::new();
        let mut stop = Event::new(now_secs(), inner.cfg.server_id, 0, 0, EventBody::Stop);
        stop.header.log_pos = (st.pos + (HEADER_LEN + event::CRC_LEN) as u64) as u32;
        stop.encode_into(&mut buf);
        let path = inner.files.path(&st.name);
        let res = (|| {
            (&*st.file).write_all(&buf)?;
            set_in_use(&st.file, false)?;
            st.file.sync_data()
        })();
        if let Err(e) = res {
            let msg = format!("closing {}: {e}", path.display());
            return Err(inner.poison_locked(&mut st, msg));
        }
        st.pos += buf.len() as u64;
        inner.mark_durable(LogPos::new(st.name.clone(), st.pos));
        tracing::info!(file = %st.name, pos = st.pos, "binlog closed");
        Ok(())
    }

    /// The files of the log with their sizes, oldest first (SHOW BINARY LOGS).
    pub fn files(&self) -> Result<Vec<(String, u64)>> {
        let index = self.inner.lock_state().index.clone();
        index
            .into_iter()
            .map(|name| {
                let path = self.inner.files.path(&name);
                let len = fs::metadata(&path).map_err(io_at(&path))?.len();
                Ok((name, len))
            })
            .collect()
    }

    /// Current file, end offset and GTID state (SHOW BINARY LOG STATUS / gtid_binlog_pos).
    pub fn status(&self) -> (String, u64, GtidState) {
        let st = self.inner.lock_state();
        (st.name.clone(), st.pos, st.gtids.clone())
    }

    /// Directory and basename, for readers: `LogReader::open(w.dir(), w.basename(), ..)`.
    pub fn dir(&self) -> &std::path::Path {
        &self.inner.cfg.dir
    }

    /// The file base name.
    pub fn basename(&self) -> &str {
        &self.inner.cfg.basename
    }

    /// Registers a connected replica that still needs `file` and everything after it. Purge refuses
    /// to delete such files (naming the replica) unless forced. Dropping the hold unregisters it.
    pub fn hold(&self, replica: &str, file: &str) -> ReplicaHold {
        let id = self.inner.next_hold.fetch_add(1, Ordering::Relaxed);
        self.inner
            .holds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, (replica.to_string(), file.to_string()));
        ReplicaHold { inner: self.inner.clone(), id }
    }

    /// Sets what runs before any purge deletes files (PURGE, expiry): a server whose store records
    /// how far it has applied the log makes that record durable there, so that no file its recovery
    /// would replay is deleted. A failing hook fails the purge.
    pub fn set_before_purge(&self, hook: PurgeHook) {
        *self.inner.before_purge.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    /// Deletes every file before `name` (PURGE BINARY LOGS TO). Refuses when a replica holds one of
    /// them, unless `force`. Returns the deleted names.
    pub fn purge_to(&self, name: &str, force: bool) -> Result<Vec<String>> {
        let inner = &self.inner;
        // Only a purge that deletes something runs the hook (expiry asks at every rotation).
        let deletes =
            inner.lock_state().index.iter().position(|n| n == name).is_some_and(|c| c > 0);
        let hook = inner.before_purge.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let (true, Some(hook)) = (deletes, hook) {
            hook()?;
        }
        let mut st = inner.lock_state();
        let Some(cut) = st.index.iter().position(|n| n == name) else {
            return Err(Error::sql(
                1373,
                "HY000",
                format!("Target log not found in binlog index: {name}"),
            ));
        };
        if !force {
            let holds = inner.holds.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((replica, file)) =
                holds.values().find(|(_, f)| file_seq_cmp(f, name).is_lt())
            {
                return Err(Error::sql(
                    1378,
                    "HY000",
                    format!("binlog file {file} is still needed by replica {replica}; not purged (use force)"),
                ));
            }
        }
        let doomed: Vec<String> = st.index.drain(..cut).collect();
        if doomed.is_empty() {
            return Ok(doomed);
        }
        inner.files.write_index(&st.index)?;
        for name in &doomed {
            let path = inner.files.path(name);
            if let Err(e) = fs::remove_file(&path) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(file = %path.display(), cause = %e, "purged binlog file not deleted");
                }
            }
        }
        tracing::info!(files = ?doomed, "binlog files purged");
        Ok(doomed)
    }

    /// Deletes the files last modified before `unix_ts` (PURGE BINARY LOGS BEFORE), oldest first, never
    /// the current file. Same replica rule as [`BinlogWriter::purge_to`].
    pub fn purge_before(&self, unix_ts: u64, force: bool) -> Result<Vec<String>> {
        let target = self.first_newer_than(unix_ts)?;
        match target {
            Some(name) => self.purge_to(&name, force),
            None => Ok(Vec::new()),
        }
    }

    /// Applies `binlog_expire_logs_seconds`: deletes files older than that, stopping before the oldest
    /// file a replica holds. Called at open and after each rotation.
    pub fn purge_expired(&self) -> Result<Vec<String>> {
        let secs = self.inner.cfg.binlog_expire_logs_seconds;
        if secs == 0 {
            return Ok(Vec::new());
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let Some(mut target) = self.first_newer_than(now.saturating_sub(secs))? else {
            return Ok(Vec::new());
        };
        let holds = self.inner.holds.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(oldest) =
            holds.values().map(|(_, f)| f.clone()).min_by(|a, b| file_seq_cmp(a, b))
        {
            if file_seq_cmp(&oldest, &target).is_lt() {
                target = oldest;
            }
        }
        drop(holds);
        self.purge_to(&target, false)
    }

    /// The first file (in index order) modified at or after `unix_ts`, or the current file.
    fn first_newer_than(&self, unix_ts: u64) -> Result<Option<String>> {
        let index = self.inner.lock_state().index.clone();
        for name in &index[..index.len().saturating_sub(1)] {
            let path = self.inner.files.path(name);
            let mtime = fs::metadata(&path)
                .and_then(|m| m.modified())
                .map_err(io_at(&path))?
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            if mtime >= unix_ts {
                return Ok(Some(name.clone()));
            }
        }
        Ok(index.last().cloned())
    }

    /// Test hook: the next append writes its transaction at once (after the pending transactions of
    /// its group, in the same `write`), but only `bytes` bytes of it, and then fails with an I/O
    /// error, as a full disk would: the append and every commit in that write fail.
    #[doc(hidden)]
    pub fn inject_write_fault(&self, bytes: usize) {
        self.inner.lock_state().fault_after = Some(bytes);
    }
}

/// A replica's claim on binlog files, from [`BinlogWriter::hold`]; released on drop.
pub struct ReplicaHold {
    inner: Arc<Inner>,
    id: u64,
}

impl ReplicaHold {
    /// The replica now needs only `file` and later files.
    pub fn set_file(&self, file: &str) {
        if let Some(h) =
            self.inner.holds.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&self.id)
        {
            h.1 = file.to_string();
        }
    }
}

impl Drop for ReplicaHold {
    fn drop(&mut self) {
        self.inner.holds.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

impl Inner {
    fn lock_state(&self) -> MutexGuard<'_, WriteState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_group(&self) -> MutexGuard<'_, GroupState> {
        self.group.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Raises the durable position to `pos` (never lowers it), publishes it and wakes the waiters it
    /// covers.
    fn mark_durable(&self, pos: LogPos) {
        let mut g = self.lock_group();
        if pos > g.durable {
            g.durable = pos.clone();
            self.durable_tx.send_replace(pos);
        }
        let woken = take_covered(&mut g, false);
        drop(g);
        wake(woken);
    }

    /// Marks the writer failed: appends and syncs fail until it is reopened.
    fn poison(&self, msg: String) -> Error {
        self.poison_locked(&mut self.lock_state(), msg)
    }

    /// Records the group's error and wakes every waiter to see it.
    fn fail_waiters(&self, msg: &str) {
        let mut g = self.lock_group();
        g.error.get_or_insert_with(|| msg.to_string());
        let woken: Vec<_> = g.waiters.drain(..).map(|(_, w)| (w, RETRY)).collect();
        drop(g);
        wake(woken);
    }

    /// Writes the pending transactions with one `write`. On failure the file is cut back to where
    /// they begin, they are forgotten and the writer is poisoned: every commit among them fails.
    /// Returns whether there was anything to write.
    fn flush_locked(&self, st: &mut WriteState) -> Result<bool> {
        let wrote = !st.pending.is_empty();
        match st.write_pending(&self.files) {
            Ok(()) => Ok(wrote),
            Err(msg) => Err(self.poison_locked(st, msg)),
        }
    }

    /// The group-commit leader, after [`Inner::flush_locked`] (`wrote`: it wrote a group): copies the
    /// group into a commit-journal record and returns what makes everything written so far durable
    /// once the lock is released: writing that record, or an fsync of the binlog file when nothing
    /// was journaled (no journal, nothing written by this leader, or a group that did not fit
    /// before the end of the ring, for which the binlog is fsynced now and the ring starts over).
    fn journal_locked(&self, st: &mut WriteState, wrote: bool) -> Result<Durability> {
        let Some(j) = st.journal.as_mut().filter(|_| wrote) else {
            return Ok(Durability::Fsync(st.file.clone()));
        };
        if let Some(w) = j.record(&st.name, st.written_at, &st.written) {
            return Ok(Durability::Journal(w));
        }
        // Checkpoint: every record in the ring is durable in the binlog once this fsync returns.
        if let Err(e) = st.file.sync_data() {
            let msg = format!("fsync of {} (journal checkpoint) failed: {e}", st.name);
            return Err(self.poison_locked(st, msg));
        }
        if let Some(j) = st.journal.as_mut() {
            j.restart();
        }
        Ok(Durability::Fsync(st.file.clone()))
    }

    fn sync_to(&self, target: &LogPos) -> Result<()> {
        let g = self.lock_group();
        if g.durable >= *target {
            return Ok(());
        }
        self.callers.fetch_add(1, Ordering::SeqCst);
        let res = self.sync_to_locked(g, target);
        self.callers.fetch_sub(1, Ordering::SeqCst);
        res
    }

    /// [`Inner::sync_to`] for a registered caller (counted in `callers`).
    fn sync_to_locked<'a>(
        &'a self,
        mut g: MutexGuard<'a, GroupState>,
        target: &LogPos,
    ) -> Result<()> {
        loop {
            if g.durable >= *target {
                return Ok(());
            }
            if let Some(e) = &g.error {
                return Err(Error::Io(format!("binlog not durable: {e}")));
            }
            if g.leader {
                let me = WAITER.with(Arc::clone);
                me.state.store(WAITING, Ordering::Relaxed);
                g.waiters.push((target.clone(), me.clone()));
                // Yield-spin for about the fsync under way, then park (see the module docs).
                let spin_until = Instant::now() + (g.last_fsync * 2).min(MAX_GATHER);
                drop(g);
                loop {
                    match me.state.load(Ordering::Acquire) {
                        WAITING if Instant::now() < spin_until => thread::yield_now(),
                        WAITING => thread::park(),
                        COVERED => return Ok(()),
                        _ => break,
                    }
                }
                g = self.lock_group();
                continue;
            }
            g.leader = true;
            g = self.gather(g);
            drop(g);
            let snapshot = {
                let mut st = self.lock_state();
                self.flush_locked(&mut st).and_then(|wrote| {
                    let target = self.journal_locked(&mut st, wrote)?;
                    Ok((
                        target,
                        LogPos::new(st.name.clone(), st.pos),
                        self.appends.load(Ordering::SeqCst),
                    ))
                })
            };
            let (durability, upto, appends) = match snapshot {
                Ok(s) => s,
                Err(e) => {
                    self.lock_group().leader = false;
                    return Err(e);
                }
            };
            let started = Instant::now();
            let res = durability.make_durable(&upto.file);
            let took = started.elapsed();
            crate::metrics::METRICS.fsync_latency.observe(took);
            self.fsyncs.fetch_add(1, Ordering::Relaxed);
            self.fsync_nanos.fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
            g = self.lock_group();
            g.leader = false;
            g.expect = self.callers.load(Ordering::SeqCst);
            self.last_callers.store(g.expect, Ordering::Relaxed);
            g.appends_at_snapshot = appends;
            g.last_fsync = took;
            if let Err(msg) = res {
                drop(g);
                return Err(self.poison(msg));
            }
            if upto > g.durable {
                g.durable = upto.clone();
                self.durable_tx.send_replace(upto);
            }
            let done = g.durable >= *target;
            let woken = take_covered(&mut g, true);
            drop(g);
            wake(woken);
            if done {
                return Ok(());
            }
            g = self.lock_group();
        }
    }

    /// Before a leader's fsync: waits until the committers the last fsync released (and those that
    /// arrived during it) have appended, or half the last fsync's latency (at most [`MAX_GATHER`])
    /// has passed, so that they share this fsync. Returns at once when they are all in. The group
    /// lock is not held while waiting (`leader` keeps others from leading); the leader yield-spins,
    /// giving its CPU to the committers it waits for.
    fn gather<'a>(&'a self, g: MutexGuard<'a, GroupState>) -> MutexGuard<'a, GroupState> {
        let want = g.appends_at_snapshot + g.expect;
        if self.appends.load(Ordering::SeqCst) >= want || g.error.is_some() {
            return g;
        }
        let deadline = Instant::now() + (g.last_fsync / 2).min(MAX_GATHER);
        drop(g);
        while self.appends.load(Ordering::SeqCst) < want && Instant::now() < deadline {
            thread::yield_now();
        }
        self.lock_group()
    }

    /// Ends the current file with ROTATE and starts the next one. Holds the state lock throughout.
    fn rotate_locked(&self, st: &mut WriteState) -> Result<()> {
        self.flush_locked(st)?;
        let next = self.files.next_name(&st.name);
        let now = now_secs();
        let mut buf = Vec::new();
        let mut rotate = Event::new(
            now,
            self.cfg.server_id,
            0,
            0,
            EventBody::Rotate { position: 4, next_file: next.clone() },
        );
        rotate.header.log_pos = (st.pos + rotate.encode().len() as u64) as u32;
        rotate.encode_into(&mut buf);
        let old_path = self.files.path(&st.name);
        let res = (|| {
            (&*st.file).write_all(&buf)?;
            set_in_use(&st.file, false)?;
            st.file.sync_data()
        })();
        if let Err(e) = res {
            return Err(self.poison_locked(st, format!("rotating {}: {e}", old_path.display())));
        }
        st.pos += buf.len() as u64;
        self.mark_durable(LogPos::new(st.name.clone(), st.pos));
        let header = encode_file_header(
            &self.cfg.server_version,
            self.cfg.server_id,
            now,
            0,
            flags::BINLOG_IN_USE,
            Some(&st.gtids),
        );
        let created = self.files.create_file(&next, &header).and_then(|(file, pos)| {
            let mut index = st.index.clone();
            index.push(next.clone());
            self.files.write_index(&index)?;
            Ok((file, pos, index))
        });
        let (file, pos, index) = match created {
            Ok(c) => c,
            Err(e) => return Err(self.poison_locked(st, format!("creating {next}: {e}"))),
        };
        st.file = Arc::new(file);
        st.name = next;
        st.pos = pos;
        st.index = index;
        st.unsynced = 0;
        self.mark_durable(LogPos::new(st.name.clone(), st.pos));
        tracing::info!(file = %st.name, "binlog rotated");
        Ok(())
    }

    /// [`Inner::poison`] with the state lock held (taken before the group lock, as everywhere).
    fn poison_locked(&self, st: &mut WriteState, msg: String) -> Error {
        tracing::error!(cause = %msg, "binlog write failed; binlog refuses appends until reopened");
        st.poisoned.get_or_insert_with(|| msg.clone());
        self.fail_waiters(&msg);
        Error::Io(msg)
    }
}

impl WriteState {
    fn check_writable(&self) -> Result<()> {
        if let Some(p) = &self.poisoned {
            return Err(Error::Io(format!(
                "binlog refuses appends after a write error (reopen it): {p}"
            )));
        }
        if self.closed {
            return Err(Error::Abort("binlog is closed".into()));
        }
        Ok(())
    }

    /// Writes `pending` (one `write`) and empties it. On failure cuts the file back to where
    /// `pending` begins, undoes what its transactions changed and returns the message; the caller
    /// poisons the writer.
    fn write_pending(&mut self, files: &FileSet) -> std::result::Result<(), String> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let start = self.pos - self.pending.len() as u64;
        let res = match self.fault_at.take() {
            Some(n) => {
                let n = n.min(self.pending.len());
                (&*self.file)
                    .write_all(&self.pending[..n])
                    .and(Err(io::Error::other("injected write fault")))
            }
            None => (&*self.file).write_all(&self.pending),
        };
        if res.is_ok() {
            std::mem::swap(&mut self.pending, &mut self.written);
            self.written_at = start;
        }
        self.pending.clear();
        let Err(e) = res else { return Ok(()) };
        let path = files.path(&self.name);
        let undo = self.batch_undo;
        self.pos = start;
        self.next_seq = undo.next_seq;
        self.next_xid = undo.next_xid;
        match undo.last_gtid {
            Some(gtid) => self.gtids.update(gtid),
            None => self.gtids.forget_domain(undo.domain_id),
        }
        match self.file.set_len(start) {
            Ok(()) => {
                Err(format!("writing {} at {start}: {e} (cut back to {start})", path.display()))
            }
            Err(c) => {
                Err(format!("writing {} at {start}: {e}; cutting back failed: {c}", path.display()))
            }
        }
    }
}

/// Takes from `g.waiters` those its durable position covers (woken as [`COVERED`]) and, with
/// `handoff`, the first one it does not cover (woken as [`RETRY`]: it leads the next fsync).
fn take_covered(g: &mut GroupState, handoff: bool) -> Vec<(Arc<Waiter>, u8)> {
    let mut woken = Vec::new();
    let mut handed = !handoff;
    let durable = &g.durable;
    g.waiters.retain(|(target, w)| {
        if target <= durable {
            woken.push((w.clone(), COVERED));
        } else if !handed {
            handed = true;
            woken.push((w.clone(), RETRY));
        } else {
            return true;
        }
        false
    });
    woken
}

/// Wakes waiters taken from the group (called without the group lock), in order.
fn wake(woken: Vec<(Arc<Waiter>, u8)>) {
    for (w, state) in woken {
        w.state.store(state, Ordering::Release);
        w.thread.unpark();
    }
}

fn validate_txn(txn: &TxnEvents) -> Result<()> {
    if txn.events.is_empty() {
        return Err(Error::InvalidInput("transaction without events".into()));
    }
    for (_, body) in &txn.events {
        if let Some(t) = body.type_code().filter(|t| is_framing_type(*t)) {
            return Err(Error::InvalidInput(format!(
                "{} events are written by the binlog writer, not passed in a transaction",
                event::type_name(t)
            )));
        }
        body.validate()?;
    }
    Ok(())
}

/// Appends to `out` GTID + events (+ XID for DML) with log_pos values for a transaction starting at
/// file offset `start`. Each event is encoded in place (header, body, then size, log_pos and one CRC).
fn encode_txn(
    out: &mut Vec<u8>,
    cfg: &BinlogConfig,
    txn: &TxnEvents,
    gtid: Gtid,
    xid: u64,
    start: u64,
) {
    let base = out.len();
    let first_ts = txn.events.first().map_or(0, |e| e.0);
    let last_ts = txn.events.last().map_or(0, |e| e.0);
    let flags2 = if txn.is_ddl { gtid_flags::FOR_DDL } else { gtid_flags::FOR_DML };
    let gtid_body = EventBody::Gtid {
        seq_no: gtid.seq_no,
        domain_id: gtid.domain_id,
        flags2,
        commit_id: 0,
        extra: vec![],
    };
    let push = |out: &mut Vec<u8>, timestamp: u32, flags: u16, body: &EventBody| {
        let at = out.len();
        let header = EventHeader {
            timestamp,
            type_code: body.type_code().unwrap_or(0),
            server_id: cfg.server_id,
            event_size: 0,
            log_pos: 0,
            flags,
        };
        header.encode_into(out);
        body.encode_into(out);
        let size = (out.len() - at + event::CRC_LEN) as u32;
        let end = (start + (out.len() - base + event::CRC_LEN) as u64) as u32;
        out[at + 9..at + 13].copy_from_slice(&size.to_le_bytes());
        out[at + 13..at + 17].copy_from_slice(&end.to_le_bytes());
        let crc = event::compute_crc(&out[at..], false);
        out.extend_from_slice(&crc.to_le_bytes());
    };
    push(out, first_ts, flags::SUPPRESS_USE, &gtid_body);
    for (ts, body) in &txn.events {
        let hflags = match body {
            EventBody::Query { db, .. } if db.is_empty() => flags::SUPPRESS_USE,
            _ => 0,
        };
        push(out, *ts, hflags, body);
    }
    if !txn.is_ddl {
        push(out, last_ts, 0, &EventBody::Xid(xid));
    }
}

/// Recovery at open (`binlog`: files must start with a GTID_LIST): checks the last file, cuts a torn tail, clears BINLOG_IN_USE. Returns the index
/// (without an unreadable last file, which is deleted), the report and the next XID.
pub(crate) fn recover(files: &FileSet, binlog: bool) -> Result<(Vec<String>, RecoveryReport, u64)> {
    let mut index = files.read_index()?;
    let mut report = RecoveryReport::default();
    let mut next_xid = 1;
    while let Some(last) = index.last().cloned() {
        let path = files.path(&last);
        let scan = scan_file(&path)?;
        report.checked_file.get_or_insert_with(|| last.clone());
        // A binlog file whose GTID_LIST is missing (crash while writing the header) would lose the GTID
        // state: drop it like a file without a header, if it holds no transaction.
        let no_list = binlog && scan.gtid_list.is_none() && scan.groups.is_empty();
        if !scan.header_ok || no_list {
            // Not even a whole header (crash while creating it): drop the file, recover the previous one.
            report.bytes_cut += scan.len;
            report.reason.get_or_insert_with(|| {
                scan.stop_reason.clone().unwrap_or_else(|| format!("{last}: no GTID_LIST"))
            });
            index.pop();
            files.write_index(&index)?;
            if let Err(e) = fs::remove_file(&path) {
                if e.kind() != io::ErrorKind::NotFound {
                    return Err(Error::Io(format!("{}: {e}", path.display())));
                }
            }
            tracing::warn!(file = %last, "binlog file without a valid header removed at recovery");
            continue;
        }
        report.was_in_use = scan.in_use;
        let file = OpenOptions::new().read(true).write(true).open(&path).map_err(io_at(&path))?;
        if scan.valid_end < scan.len {
            let cut = scan.len - scan.valid_end;
            tracing::warn!(file = %last, cut, reason = ?scan.stop_reason, "binlog tail cut at recovery");
            file.set_len(scan.valid_end).map_err(io_at(&path))?;
            report.bytes_cut += cut;
            if report.reason.is_none() {
                report.reason = scan.stop_reason.clone();
            }
        }
        set_in_use(&file, false).map_err(io_at(&path))?;
        file.sync_data().map_err(io_at(&path))?;
        report.gtid_state = scan.state.clone();
        report.end = Some(LogPos::new(last.clone(), scan.valid_end));
        next_xid = scan.max_xid.map_or(1, |x| x + 1);
        break;
    }
    Ok((index, report, next_xid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::event::intvar;
    use crate::log::{LogReader, QueryStatus};

    fn open(dir: &std::path::Path) -> BinlogWriter {
        BinlogWriter::open(BinlogConfig { dir: dir.into(), ..Default::default() }).unwrap().0
    }

    fn txn(i: u64) -> TxnEvents {
        TxnEvents {
            is_ddl: false,
            events: vec![
                (1_700_000_000, EventBody::Intvar { kind: intvar::INSERT_ID, value: i }),
                (
                    1_700_000_000,
                    EventBody::query(7, "db", QueryStatus::standard(), "INSERT INTO t VALUES (1)"),
                ),
            ],
        }
    }

    fn file_len(w: &BinlogWriter, name: &str) -> u64 {
        fs::metadata(w.dir().join(name)).unwrap().len()
    }

    /// With sync_binlog = 1 an append only reserves its place; the leader's one write puts the whole
    /// group in the file before its fsync, and the durable position covers every transaction in it.
    #[test]
    fn the_leader_writes_the_pending_group_with_its_fsync() {
        let tmp = tempfile::tempdir().unwrap();
        let w = open(tmp.path());
        let apps: Vec<Appended> = (0..3).map(|i| w.append(&txn(i)).unwrap()).collect();
        assert_eq!(file_len(&w, &apps[0].file), apps[0].start_pos);
        assert!(apps.windows(2).all(|p| p[0].end_pos == p[1].start_pos));
        let mut durable = w.durable();
        w.sync(&apps[0]).unwrap();
        assert_eq!(w.fsync_count(), 1);
        assert_eq!(file_len(&w, &apps[0].file), apps[2].end_pos);
        assert_eq!(
            *durable.borrow_and_update(),
            LogPos::new(apps[2].file.clone(), apps[2].end_pos)
        );
        // Already covered: no second fsync.
        w.sync(&apps[2]).unwrap();
        assert_eq!(w.fsync_count(), 1);
        let mut r =
            LogReader::open(tmp.path(), "repld-bin", &apps[0].file, apps[0].start_pos).unwrap();
        let mut xids = 0;
        while let Some(ev) = r.next_event().unwrap() {
            xids += matches!(ev.event.body, EventBody::Xid(_)) as usize;
        }
        assert_eq!(xids, 3);
    }

    /// Commits made durable by the commit journal survive the loss of every binlog byte that was not
    /// fsynced (the page cache of a machine that lost power): reopening rewrites them from the journal,
    /// across a wrap of the journal's ring (whose checkpoint fsyncs the binlog).
    #[test]
    fn journaled_commits_survive_a_binlog_that_lost_its_unsynced_tail() {
        let tmp = tempfile::tempdir().unwrap();
        let w = open(tmp.path());
        let big = |i: u64| TxnEvents {
            is_ddl: false,
            events: vec![(
                1_700_000_000,
                EventBody::query(
                    7,
                    "db",
                    QueryStatus::standard(),
                    &format!("INSERT INTO t VALUES ({i}, '{}')", "x".repeat(100_000)),
                ),
            )],
        };
        // About one and a half rings: the ring wraps once (a checkpoint fsyncs the binlog).
        let n = journal::JOURNAL_SIZE * 3 / 2 / 100_000;
        let ring_used = |w: &BinlogWriter| {
            w.inner.lock_state().journal.as_ref().map(|j| j.ring_used()).unwrap()
        };
        let (mut last, mut wrap): (Option<Appended>, Option<Appended>) = (None, None);
        let mut used = 0;
        for i in 0..n {
            let a = w.append(&big(i)).unwrap();
            w.sync(&a).unwrap();
            let now = ring_used(&w);
            if now < used {
                // This group did not fit before the end of the ring: the checkpoint fsynced the
                // binlog through it, and the next group's record starts the new lap.
                wrap = Some(a.clone());
            }
            used = now;
            last = Some(a);
        }
        let last = last.unwrap();
        let file = last.file.clone();
        let path = tmp.path().join(&file);
        // A crash that loses everything the checkpoint did not cover: the file ends where the
        // transaction at the wrap ended. The new lap's records hold the rest.
        let synced_len = wrap.expect("the ring started over").end_pos;
        std::mem::forget(w); // a crash: no close, no STOP
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(synced_len).unwrap();
        drop(f);
        let (w, report) =
            BinlogWriter::open(BinlogConfig { dir: tmp.path().into(), ..Default::default() })
                .unwrap();
        assert_eq!(report.bytes_cut, 0, "{report:?}");
        assert_eq!(report.end, Some(LogPos::new(file.clone(), last.end_pos)));
        assert_eq!(report.gtid_state.to_string(), last.gtid.to_string());
        let mut r = LogReader::open(tmp.path(), "repld-bin", &file, 4).unwrap();
        let mut queries = 0;
        while let Some(ev) = r.next_event().unwrap() {
            queries += matches!(ev.event.body, EventBody::Query { .. }) as usize;
        }
        assert_eq!(queries as u64, n);
        w.close().unwrap();
    }

    /// A failed group write fails every commit in it, cuts the file back to where the group began,
    /// undoes its GTIDs and poisons the writer; reopening keeps exactly the synced transactions.
    #[test]
    fn a_failed_group_write_fails_every_commit_in_it() {
        let tmp = tempfile::tempdir().unwrap();
        let w = open(tmp.path());
        let first = w.append(&txn(0)).unwrap();
        w.sync(&first).unwrap();
        let group: Vec<Appended> = (1..4).map(|i| w.append(&txn(i)).unwrap()).collect();
        // The leader's write stops in the middle of the second transaction of the group.
        let torn = (group[1].start_pos - group[0].start_pos + 20) as usize;
        w.inner.lock_state().fault_at = Some(torn);
        let err = w.sync(&group[2]).unwrap_err().to_string();
        assert!(err.contains("injected write fault"), "{err}");
        for a in &group {
            assert!(w.sync(a).is_err());
        }
        w.sync(&first).unwrap();
        assert_eq!(file_len(&w, &first.file), first.end_pos);
        assert_eq!(w.durable_pos(), LogPos::new(first.file.clone(), first.end_pos));
        let (_, pos, gtids) = w.status();
        assert_eq!((pos, gtids.to_string()), (first.end_pos, "0-1-1".to_string()));
        assert!(matches!(w.append(&txn(9)), Err(Error::Io(_))));
        drop(w);
        let (w, report) =
            BinlogWriter::open(BinlogConfig { dir: tmp.path().into(), ..Default::default() })
                .unwrap();
        assert_eq!(report.bytes_cut, 0);
        assert_eq!(report.gtid_state.to_string(), "0-1-1");
        assert_eq!(w.append(&txn(2)).unwrap().gtid.seq_no, 2);
    }

    /// Committers waiting for a leader are all released by a failed write, none hangs, and every
    /// acknowledged commit is in the file.
    #[test]
    fn waiters_are_released_by_a_failed_group_write() {
        let tmp = tempfile::tempdir().unwrap();
        let w = open(tmp.path());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    let mut ok = 0;
                    for i in 0..200 {
                        if t == 0 && i == 50 {
                            w.inject_write_fault(10);
                        }
                        match w.append(&txn(i)).and_then(|a| w.sync(&a)) {
                            Ok(()) => ok += 1,
                            Err(_) => return ok,
                        }
                    }
                    ok
                })
            })
            .collect();
        let ok: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        // Every commit acknowledged is in the file, durable; nothing after the cut.
        let (file, _, _) = w.status();
        let durable = w.durable_pos();
        assert_eq!(file_len(&w, &file), durable.pos);
        let mut r = LogReader::open(tmp.path(), "repld-bin", &file, 4).unwrap();
        let mut xids = 0;
        while let Some(ev) = r.next_event().unwrap() {
            xids += matches!(ev.event.body, EventBody::Xid(_)) as u64;
        }
        assert!(xids >= ok, "{xids} transactions in the file, {ok} acknowledged");
        assert!(ok < 1600);
    }
}
