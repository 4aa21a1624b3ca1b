//! Storage views: sled plus layers of write sets, and writing committed write sets to sled behind the
//! commits (flush-behind).
//!
//! A statement reads through a [`View`]: its own statement write set, then its transaction's write set,
//! then the [`Overlay`] of committed-but-unflushed transactions, then sled. A key mapped to `None` in a
//! layer is deleted there. Scans merge all layers in key order.
//!
//! The overlay holds every published transaction until it is written to sled. Each one has a sequence
//! number (the binlog order). A transaction is *published* once logged (writers see it: they run alone
//! or read only rows they hold locked), *visible* once applied (durable in the log: every reader sees it), and *flushed*
//! once written to sled. Writing every commit to sled in its own batch costs far more than executing it
//! (sled seals and writes its log buffer per batch), so visible transactions are flushed in groups: when
//! enough have gathered ([`FLUSH_COMMITS`], [`FLUSH_BYTES`]), when the oldest has waited
//! [`FLUSH_AGE`] (checked at each apply and by a background thread, so an idle store catches up), at
//! once for DDL, and at [`EngineInner::flush_pending`] (shutdown, purge). The background flusher
//! writes on its own core while commits go on; when it falls [`FLUSH_BEHIND_LIMIT`] thresholds
//! behind, an apply waits for its flush to end (back-pressure) and flushes itself only if still that
//! far behind, so the overlay stays bounded and a benchmark's rate is one the store sustains.
//! The flusher and sled's own threads run at background priority ([`super::background`]).
//! A flush costs sled two tree inserts per sysbench row (row and index entry), each copying and
//! later freeing a tree node: sled's time is mostly its tree work and allocation (profiled), not
//! bytes, so value size, sled's modes and tree layout barely matter, the allocator does (see
//! `crate`'s global allocator).
//!
//! sled applies a batch under a process-wide lock that every sled read waits for, so a reader that
//! touches sled during a flush waits for the whole batch. The commit path avoids that for the rows
//! it creates: each table has a row bound (an upper bound of the row keys sled can hold: sled's last
//! row key when first asked, raised by every publish), and a row key above it (a new auto-increment
//! id, typically) is known absent without asking sled.
//!
//! Invariants: sled holds a prefix of the visible transactions in sequence order, each flush one atomic
//! sled batch together with the latest meta records (the binlog or relay position the batch reaches), so
//! after a crash the store is at a consistent position and recovery replays the log from there; a
//! transaction leaves the overlay only after sled holds it (readers never see a gap); the table definition
//! cache only ever holds what sled holds (a generation counter prevents caching a definition read before
//! a concurrent flush changed it); the catalog never waits in the overlay once visible (DDL flushes);
//! a table's row bound is never below a row key sled holds or the overlay has (it is set under the
//! overlay write lock, when every published key is in the overlay or already in sled, and publish
//! raises it before a key can reach sled).

use super::api::{MetaRecord, WriteSet};
use super::catalog::{self, TableDef, K_DROP, K_INDEX, K_META, K_ROW, K_TABLE};
use crate::error::{Error, Result};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Flush when this many visible transactions wait.
pub const FLUSH_COMMITS: usize = 512;
/// Flush when the visible transactions waiting hold this many bytes of keys and values.
pub const FLUSH_BYTES: usize = 8 << 20;
/// Flush when the oldest visible transaction has waited this long.
pub const FLUSH_AGE: Duration = Duration::from_millis(200);
/// An apply flushes by itself when this many times a threshold waits (the background flusher is
/// behind).
pub const FLUSH_BEHIND_LIMIT: usize = 4;

/// True when a flush is due by count, size or age.
fn flush_due(o: &Overlay) -> bool {
    o.visible_count >= FLUSH_COMMITS
        || o.visible_bytes >= FLUSH_BYTES
        || o.oldest_visible.is_some_and(|t| t.elapsed() >= FLUSH_AGE)
}

/// True when the visible, unflushed transactions reach [`FLUSH_BEHIND_LIMIT`] times a threshold:
/// an apply then waits for (or does) a flush, so the overlay stays bounded.
fn far_behind(o: &Overlay) -> bool {
    o.visible_count >= FLUSH_BEHIND_LIMIT * FLUSH_COMMITS
        || o.visible_bytes >= FLUSH_BEHIND_LIMIT * FLUSH_BYTES
}

/// Which overlay versions a view sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Applied transactions only (readers).
    Applied,
    /// Every published transaction (writers: alone or through rows they hold locked).
    Published,
}

/// One key's versions in the overlay, oldest first: (sequence number, the write set holding the value
/// or deletion). The value stays in its write set (shared with the commit queue) rather than being
/// copied at publish.
type Versions = Vec<(u64, Arc<WriteSet>)>;

/// Committed transactions not yet in sled, indexed by key.
#[derive(Default)]
pub struct Overlay {
    /// Versions per key, oldest first.
    keys: BTreeMap<Vec<u8>, Versions>,
    /// The transactions in sequence order (what a flush writes).
    commits: VecDeque<(u64, Arc<WriteSet>, usize)>,
    /// Highest sequence number handed out.
    last_seq: u64,
    /// Highest applied (visible) sequence number.
    visible: u64,
    /// Meta records applied since the last flush (latest value per name, with the generation that set it).
    meta: BTreeMap<String, (u64, Vec<u8>)>,
    /// Generation of the latest meta record.
    meta_gen: u64,
    /// Bytes of keys and values of the visible, unflushed transactions.
    visible_bytes: usize,
    /// Visible, unflushed transactions.
    visible_count: usize,
    /// When the oldest visible, unflushed transaction became visible.
    oldest_visible: Option<Instant>,
    /// A visible, unflushed transaction changes the catalog (or drops a table).
    catalog: bool,
    /// Per table (row-key prefix `R` + table id): an upper bound of the row keys sled can hold, set
    /// when first asked (the larger of sled's and the overlay's last key) and raised by every later
    /// publish. Reads of a row key above it skip sled (see [`View::get`]).
    row_bound: HashMap<[u8; ROW_PREFIX], Vec<u8>>,
}

/// Length of a row-key prefix: `R` and the table id.
const ROW_PREFIX: usize = 9;

/// The row-key prefix (`R` + table id) of a row key.
fn row_prefix(key: &[u8]) -> Option<[u8; ROW_PREFIX]> {
    if key.first() != Some(&K_ROW) {
        return None;
    }
    key.get(..ROW_PREFIX)?.try_into().ok()
}

impl Overlay {
    /// The version of `key` a view with `vis` sees, if the overlay has one.
    fn get(&self, key: &[u8], vis: Visibility) -> Option<Option<&[u8]>> {
        let versions = self.keys.get(key)?;
        pick(key, versions, vis, self.visible)
    }

    /// For a row key: `Some(true)` when sled may hold it, `Some(false)` when it is above the table's
    /// bound (sled cannot), `None` when the bound is not known yet.
    fn sled_may_hold(&self, key: &[u8]) -> Option<bool> {
        let p = row_prefix(key)?;
        self.row_bound.get(&p).map(|b| key <= b.as_slice())
    }
}

/// The version of `key` among `versions` that a view with `vis` sees: `Some(None)` for a deletion.
fn pick<'v>(
    key: &[u8],
    versions: &'v [(u64, Arc<WriteSet>)],
    vis: Visibility,
    visible: u64,
) -> Option<Option<&'v [u8]>> {
    let ws = match vis {
        Visibility::Published => versions.last(),
        Visibility::Applied => versions.iter().rev().find(|(s, _)| *s <= visible),
    };
    ws.and_then(|(_, ws)| ws.get(key)).map(|v| v.as_deref())
}

fn set_bytes(ws: &WriteSet) -> usize {
    ws.iter().map(|(k, v)| k.len() + v.as_ref().map_or(0, |v| v.len()) + 16).sum()
}

fn touches_catalog(ws: &WriteSet) -> bool {
    ws.keys().any(|k| matches!(k.first(), Some(&K_TABLE) | Some(&K_DROP)))
}

/// Engine internals shared by all sessions.
pub struct EngineInner {
    /// The store.
    pub db: sled::Db,
    /// Committed transactions not yet written to sled.
    pub(crate) overlay: RwLock<Overlay>,
    /// Cache of table definitions as stored in sled, by table key.
    pub(crate) tables: RwLock<HashMap<Vec<u8>, Option<Arc<TableDef>>>>,
    /// Bumped on every apply that changes the catalog.
    pub(crate) catalog_gen: AtomicU64,
    /// Highest auto-increment value handed out per table id (never goes back, even on rollback).
    pub(crate) autoinc: Mutex<HashMap<u64, u64>>,
    /// Server-level variables published with `Engine::set_global_var`.
    pub(crate) globals: RwLock<BTreeMap<String, super::api::Value>>,
    /// Serializes flushes (applies and readers go on while one writes to sled).
    pub(crate) flush_lock: Mutex<()>,
    /// Wakes the background flusher (set when a threshold is reached).
    pub(crate) flush_signal: Arc<(Mutex<bool>, std::sync::Condvar)>,
    /// Parsed statement templates.
    pub(crate) stmt_cache: super::parse::StmtCache,
    /// Where SHOW STATUS reads the server's status variables from (set by the server).
    pub(crate) status: RwLock<Option<super::api::StatusSource>>,
}

impl Drop for EngineInner {
    fn drop(&mut self) {
        if let Err(e) = self.flush_pending() {
            tracing::warn!(cause = %e, "could not write the last commits to the store at close");
        }
    }
}

impl EngineInner {
    /// Wraps an open sled database.
    pub fn new(db: sled::Db) -> EngineInner {
        EngineInner {
            db,
            overlay: RwLock::new(Overlay::default()),
            tables: RwLock::new(HashMap::new()),
            catalog_gen: AtomicU64::new(0),
            autoinc: Mutex::new(HashMap::new()),
            globals: RwLock::new(BTreeMap::new()),
            flush_lock: Mutex::new(()),
            flush_signal: Arc::new((Mutex::new(false), std::sync::Condvar::new())),
            stmt_cache: super::parse::StmtCache::default(),
            status: RwLock::new(None),
        }
    }

    fn overlay_read(&self) -> Result<std::sync::RwLockReadGuard<'_, Overlay>> {
        self.overlay.read().map_err(|_| Error::Abort("overlay lock poisoned".into()))
    }

    fn overlay_write(&self) -> Result<std::sync::RwLockWriteGuard<'_, Overlay>> {
        self.overlay.write().map_err(|_| Error::Abort("overlay lock poisoned".into()))
    }

    /// Queues a write set as the next transaction (visible to writers); returns its sequence number.
    pub fn publish(&self, ws: Arc<WriteSet>) -> Result<u64> {
        let mut o = self.overlay_write()?;
        o.last_seq += 1;
        let seq = o.last_seq;
        for k in ws.keys() {
            if let Some(p) = row_prefix(k) {
                if let Some(b) = o.row_bound.get_mut(&p) {
                    if k.as_slice() > b.as_slice() {
                        b.clone_from(k);
                    }
                }
            }
            o.keys.entry(k.clone()).or_default().push((seq, ws.clone()));
        }
        let bytes = set_bytes(&ws);
        o.commits.push_back((seq, ws, bytes));
        Ok(seq)
    }

    /// Makes every published transaction up to `seq` visible to readers and records `meta` for the
    /// flush that writes them. A flush is due at the thresholds of the module docs: the background
    /// flusher does it; the caller does it itself for DDL, and when the flusher is far behind
    /// ([`FLUSH_BEHIND_LIMIT`] times a threshold) it waits for the flush under way and flushes
    /// itself only if that one did not bring the store back below the limit, so memory stays
    /// bounded (back-pressure) while the flusher keeps its own core busy.
    pub fn apply(&self, seq: u64, meta: &[MetaRecord]) -> Result<()> {
        let (inline, due) = {
            let mut o = self.overlay_write()?;
            let seq = seq.min(o.last_seq);
            if seq > o.visible {
                let old = o.visible;
                let (mut n, mut bytes, mut catalog) = (0, 0, false);
                // The newly visible ones: the commits are in sequence order, so walk back from `seq`.
                let newly =
                    o.commits.iter().rev().skip_while(|c| c.0 > seq).take_while(|c| c.0 > old);
                for (_, ws, b) in newly {
                    n += 1;
                    bytes += b;
                    catalog |= touches_catalog(ws);
                }
                o.visible = seq;
                o.visible_count += n;
                o.visible_bytes += bytes;
                o.catalog |= catalog;
                if o.oldest_visible.is_none() && n > 0 {
                    o.oldest_visible = Some(Instant::now());
                }
            }
            for (name, v) in meta {
                o.meta_gen += 1;
                let gen = o.meta_gen;
                o.meta.insert(name.clone(), (gen, v.clone()));
            }
            (o.catalog || far_behind(&o), flush_due(&o))
        };
        if inline {
            // Wait for a flush under way (the background flusher's, typically), then flush only if
            // still far behind: the flusher then goes on with the next group on its own core while
            // this caller goes back to executing, instead of the two taking turns.
            let _g =
                self.flush_lock.lock().map_err(|_| Error::Abort("flush lock poisoned".into()))?;
            let behind = {
                let o = self.overlay_read()?;
                o.catalog || far_behind(&o)
            };
            if behind {
                return self.flush_locked();
            }
        }
        if inline || due {
            let (flag, cv) = &*self.flush_signal;
            if let Ok(mut f) = flag.lock() {
                *f = true;
                cv.notify_one();
            }
        }
        Ok(())
    }

    /// Starts the thread that flushes applied transactions when a threshold is reached or the oldest
    /// has waited [`FLUSH_AGE`] (so that an idle server's store catches up with its log). It ends with
    /// the engine.
    pub fn start_flusher(inner: &Arc<EngineInner>) {
        let weak = Arc::downgrade(inner);
        let signal = inner.flush_signal.clone();
        let spawned = std::thread::Builder::new().name("store-flush".into()).spawn(move || {
            // Flush-behind is background work: sessions and the syncer come first (see
            // `background`); sled's threads are lowered at start and as sled starts more.
            super::background::lower_current_thread();
            super::background::lower_sled_threads();
            let mut swept = Instant::now();
            loop {
                if swept.elapsed() >= super::background::SWEEP_EVERY {
                    super::background::lower_sled_threads();
                    swept = Instant::now();
                }
                {
                    let (flag, cv) = &*signal;
                    let Ok(mut f) = flag.lock() else { return };
                    if !*f {
                        f = match cv.wait_timeout(f, FLUSH_AGE / 2) {
                            Ok((f, _)) => f,
                            Err(_) => return,
                        };
                    }
                    *f = false;
                }
                let Some(inner) = weak.upgrade() else { return };
                let due = inner.overlay.read().map(|o| flush_due(&o)).unwrap_or(false);
                if due {
                    if let Err(e) = inner.flush_pending() {
                        tracing::warn!(cause = %e, "background store flush failed");
                    }
                }
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(cause = %e, "no background store flusher; applies flush by themselves");
        }
    }

    /// Writes every visible transaction and the pending meta records to sled now.
    pub fn flush_pending(&self) -> Result<()> {
        let _g = self.flush_lock.lock().map_err(|_| Error::Abort("flush lock poisoned".into()))?;
        self.flush_locked()
    }

    /// Records `meta` and writes it, with every visible transaction, to sled now.
    pub fn put_meta(&self, meta: &[MetaRecord]) -> Result<()> {
        let _g = self.flush_lock.lock().map_err(|_| Error::Abort("flush lock poisoned".into()))?;
        {
            let mut o = self.overlay_write()?;
            for (name, v) in meta {
                o.meta_gen += 1;
                let gen = o.meta_gen;
                o.meta.insert(name.clone(), (gen, v.clone()));
            }
        }
        self.flush_locked()
    }

    /// A meta record: the value waiting for the next flush, else sled's.
    pub fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        if let Some((_, v)) = self.overlay_read()?.meta.get(name) {
            return Ok(Some(v.clone()));
        }
        Ok(self.db.get(meta_key(name))?.map(|v| v.to_vec()))
    }

    /// The flush itself; the caller holds `flush_lock`. Takes a snapshot of the visible transactions
    /// and the meta records, writes them to sled without holding the overlay lock (readers and applies
    /// go on), then drops from the overlay exactly what was written.
    fn flush_locked(&self) -> Result<()> {
        let (sets, meta, upto, gen) = {
            let o = self.overlay_read()?;
            if o.visible_count == 0 && o.meta.is_empty() {
                return Ok(());
            }
            let sets: Vec<Arc<WriteSet>> = o
                .commits
                .iter()
                .take_while(|(s, _, _)| *s <= o.visible)
                .map(|(_, w, _)| w.clone())
                .collect();
            let meta: Vec<MetaRecord> =
                o.meta.iter().map(|(k, (_, v))| (k.clone(), v.clone())).collect();
            (sets, meta, o.visible, o.meta_gen)
        };
        self.apply_sets(&sets, &meta)?;
        // The write sets leave the overlay under its write lock, which every publish and reader
        // waits for; `sets` holds them until it is released, so they are freed (the last
        // references, typically) after that.
        let flushed_keys: usize = sets.iter().map(|ws| ws.len()).sum();
        let mut o = self.overlay_write()?;
        while o.commits.front().is_some_and(|(s, _, _)| *s <= upto) {
            let Some((_, _, bytes)) = o.commits.pop_front() else { break };
            o.visible_count = o.visible_count.saturating_sub(1);
            o.visible_bytes = o.visible_bytes.saturating_sub(bytes);
        }
        if flushed_keys * 2 >= o.keys.len() {
            // Most of the overlay goes (the usual case: it holds little beyond the flushed group):
            // one pass in key order instead of a search per key.
            o.keys.retain(|_, versions| {
                versions.retain(|(s, _)| *s > upto);
                !versions.is_empty()
            });
        } else {
            for k in sets.iter().flat_map(|ws| ws.keys()) {
                if let Some(versions) = o.keys.get_mut(k) {
                    versions.retain(|(s, _)| *s > upto);
                    if versions.is_empty() {
                        o.keys.remove(k);
                    }
                }
            }
        }
        // Meta set after the snapshot stays for the next flush.
        o.meta.retain(|_, (g, _)| *g > gen);
        let visible = o.visible;
        o.catalog = o
            .commits
            .iter()
            .take_while(|(s, _, _)| *s <= visible)
            .any(|(_, ws, _)| touches_catalog(ws));
        o.oldest_visible = if o.visible_count > 0 { Some(Instant::now()) } else { None };
        drop(o);
        drop(sets);
        Ok(())
    }

    /// True when sled may hold `key`: not a row key, or a row key at or below its table's bound
    /// (which this computes the first time: the overlay write lock keeps publishes and the end of
    /// flushes out meanwhile, so every published key is either still in the overlay or already in
    /// sled).
    fn sled_may_hold(&self, key: &[u8]) -> Result<bool> {
        let Some(p) = row_prefix(key) else { return Ok(true) };
        if let Some(may) = self.overlay_read()?.sled_may_hold(key) {
            return Ok(may);
        }
        let mut o = self.overlay_write()?;
        if let Some(may) = o.sled_may_hold(key) {
            return Ok(may);
        }
        let mut bound = match self.db.scan_prefix(p).next_back() {
            Some(kv) => kv?.0.to_vec(),
            None => p.to_vec(),
        };
        let upper: Bound<&[u8]> = Bound::Excluded(&[K_ROW + 1][..]);
        let last = o
            .keys
            .range::<[u8], _>((Bound::Included(&p[..]), upper))
            .take_while(|(k, _)| k.starts_with(&p))
            .last();
        if let Some((k, _)) = last {
            if *k > bound {
                bound.clone_from(k);
            }
        }
        let may = key <= bound.as_slice();
        o.row_bound.insert(p, bound);
        Ok(may)
    }

    /// A table definition as sled holds it (cached).
    pub fn sled_table(&self, key: &[u8]) -> Result<Option<Arc<TableDef>>> {
        if let Some(t) = self.tables.read().ok().and_then(|c| c.get(key).cloned()) {
            return Ok(t);
        }
        let gen = self.catalog_gen.load(Ordering::SeqCst);
        let def = match self.db.get(key)? {
            Some(b) => Some(Arc::new(catalog::decode_def(&b)?)),
            None => None,
        };
        if let Ok(mut c) = self.tables.write() {
            if self.catalog_gen.load(Ordering::SeqCst) == gen {
                c.insert(key.to_vec(), def.clone());
            }
        }
        Ok(def)
    }

    /// Writes write sets in order plus meta records to sled in one atomic batch.
    ///
    /// The keys go straight into the sled batch (itself a sorted map, so a later write set's version
    /// of a key replaces an earlier one's). A drop marker removes every row and index key of its
    /// table: the ones sled holds, and those the sets write, before or after the marker alike (table
    /// ids are never reused, so nothing written under a dropped prefix can be meant to survive).
    pub fn apply_sets(&self, sets: &[Arc<WriteSet>], meta: &[MetaRecord]) -> Result<()> {
        let drop_range = (Bound::Included(&[K_DROP][..]), Bound::Excluded(&[K_DROP + 1][..]));
        let mut dropped_prefixes = Vec::new();
        for ws in sets {
            for k in ws.range::<[u8], _>(drop_range).map(|(k, _)| k) {
                for kind in [K_ROW, K_INDEX] {
                    let mut p = vec![kind];
                    p.extend_from_slice(&k[1..]);
                    dropped_prefixes.push(p);
                }
            }
        }
        let mut batch = sled::Batch::default();
        for p in &dropped_prefixes {
            for kv in self.db.scan_prefix(p) {
                let (k, _) = kv?;
                batch.remove(k);
            }
        }
        let mut catalog_changed = false;
        for ws in sets {
            for (k, v) in ws.iter() {
                match k.first() {
                    Some(&K_DROP) => continue,
                    Some(&K_TABLE) => catalog_changed = true,
                    _ => {}
                }
                if !dropped_prefixes.is_empty() && dropped_prefixes.iter().any(|p| k.starts_with(p))
                {
                    continue;
                }
                match v {
                    Some(v) => batch.insert(k.as_slice(), v.as_slice()),
                    None => batch.remove(k.as_slice()),
                }
            }
        }
        for (name, v) in meta {
            batch.insert(meta_key(name), v.as_slice());
        }
        if catalog_changed {
            self.catalog_gen.fetch_add(1, Ordering::SeqCst);
        }
        self.db.apply_batch(batch)?;
        if catalog_changed {
            self.catalog_gen.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut c) = self.tables.write() {
                c.clear();
            }
        }
        Ok(())
    }
}

/// Key of a meta record.
pub fn meta_key(name: &str) -> Vec<u8> {
    let mut k = vec![K_META];
    k.extend_from_slice(name.as_bytes());
    k
}

/// Row-lock bookkeeping of one write statement under [`super::api::LockMode::Rows`]: every row key
/// the statement reads or changes is locked inline; what another transaction holds is noted in
/// `missing`, and anything that cannot be bounded to rows (scans, hidden row ids, other meta keys)
/// sets `exclusive`. Either way the statement's result is discarded (see `sql::session`).
pub struct LockCheck {
    /// The server's lock table.
    pub locks: Arc<dyn super::api::RowLocks>,
    /// The session's connection id.
    pub owner: u32,
    /// Row keys another transaction holds.
    pub missing: std::cell::RefCell<Vec<Vec<u8>>>,
    /// The statement needs the exclusive lock.
    pub exclusive: std::cell::Cell<bool>,
}

impl LockCheck {
    fn row(&self, key: &[u8]) -> bool {
        if self.exclusive.get() {
            return false;
        }
        let held = self.locks.try_lock(self.owner, key);
        if !held {
            self.missing.borrow_mut().push(key.to_vec());
        }
        held
    }

    /// A point read: rows are locked; auto-increment counters and the catalog are read freely (the
    /// counter's allocation is atomic in memory, its write is locked; catalog changes are DDL, which
    /// runs exclusively); anything else needs the exclusive lock.
    fn read(&self, key: &[u8]) {
        match key.first() {
            Some(&K_ROW) => {
                self.row(key);
            }
            Some(&catalog::K_AUTOINC) | Some(&K_TABLE) | Some(&catalog::K_DB) => {}
            _ => self.exclusive.set(true),
        }
    }

    /// A change: rows and auto-increment counters are locked; index entries are free (their key holds
    /// the row's primary key, so they belong to a locked row); anything else is exclusive.
    fn write(&self, key: &[u8]) {
        match key.first() {
            Some(&K_ROW) | Some(&catalog::K_AUTOINC) => {
                self.row(key);
            }
            Some(&K_INDEX) => {}
            _ => self.exclusive.set(true),
        }
    }

    /// A scan cannot be bounded to rows (no gap locks): exclusive, except over the catalog.
    fn scan(&self, prefix: &[u8]) {
        if !matches!(prefix.first(), Some(&K_TABLE) | Some(&catalog::K_DB)) {
            self.exclusive.set(true);
        }
    }
}

/// A read view over sled and write-set layers, plus the statement's own writes.
pub struct View<'a> {
    /// Row-lock bookkeeping when the statement runs concurrently with other writers.
    pub locks: Option<&'a LockCheck>,
    /// The engine.
    pub inner: &'a EngineInner,
    /// Which committed-but-unflushed transactions this view sees.
    pub vis: Visibility,
    /// The transaction's write set.
    pub txn: Option<&'a WriteSet>,
    /// The statement's own writes.
    pub stmt: WriteSet,
}

impl<'a> View<'a> {
    /// The statement's or the transaction's own version of `key`.
    fn own(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        if let Some(v) = self.stmt.get(key) {
            return Some(v.as_deref());
        }
        self.txn.and_then(|t| t.get(key)).map(|v| v.as_deref())
    }

    /// Reads a key. A row key above its table's bound (a new auto-increment id, typically) is
    /// answered without sled: sled reads wait for the whole of a flush's batch (sled holds a
    /// process-wide lock while it applies one), which would put every flush on the commit path.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(l) = self.locks {
            l.read(key);
        }
        if let Some(v) = self.own(key) {
            return Ok(v.map(|b| b.to_vec()));
        }
        let may = {
            let o = self.inner.overlay_read()?;
            if let Some(v) = o.get(key, self.vis) {
                return Ok(v.map(|b| b.to_vec()));
            }
            o.sled_may_hold(key)
        };
        if !may.map_or_else(|| self.inner.sled_may_hold(key), Ok)? {
            return Ok(None);
        }
        Ok(self.inner.db.get(key)?.map(|v| v.to_vec()))
    }

    /// True if the key exists (row keys above their table's bound without sled, as [`View::get`]).
    pub fn exists(&self, key: &[u8]) -> Result<bool> {
        if let Some(l) = self.locks {
            l.read(key);
        }
        if let Some(v) = self.own(key) {
            return Ok(v.is_some());
        }
        let may = {
            let o = self.inner.overlay_read()?;
            if let Some(v) = o.get(key, self.vis) {
                return Ok(v.is_some());
            }
            o.sled_may_hold(key)
        };
        if !may.map_or_else(|| self.inner.sled_may_hold(key), Ok)? {
            return Ok(false);
        }
        Ok(self.inner.db.contains_key(key)?)
    }

    /// Takes the lock of `key` for a coming change, before anything depends on it; an error when the
    /// statement cannot go on usefully (another transaction holds it: the statement will be discarded
    /// and waits). The auto-increment counter is taken this way before a value is allocated, so that a
    /// statement's values are consecutive, as its binlog context (one INSERT_ID) says.
    pub fn lock_for_write(&self, key: &[u8]) -> Result<()> {
        let held = match self.locks {
            Some(l) => !l.exclusive.get() && l.row(key),
            None => true,
        };
        if held {
            Ok(())
        } else {
            Err(Error::sql(1205, "HY000", "Lock wait timeout exceeded; try restarting transaction"))
        }
    }

    /// Writes a key in the statement's write set.
    pub fn put(&mut self, key: Vec<u8>, val: Vec<u8>) {
        if let Some(l) = self.locks {
            l.write(&key);
        }
        self.stmt.insert(key, Some(val));
    }

    /// Deletes a key in the statement's write set.
    pub fn delete(&mut self, key: Vec<u8>) {
        if let Some(l) = self.locks {
            l.write(&key);
        }
        self.stmt.insert(key, None);
    }

    /// A table definition through all layers.
    pub fn table(&self, db: &str, name: &str) -> Result<Option<Arc<TableDef>>> {
        let key = catalog::table_key(db, name);
        if let Some(v) = self.own(&key) {
            return v.map(|b| catalog::decode_def(b).map(Arc::new)).transpose();
        }
        if let Some(v) = self.inner.overlay_read()?.get(&key, self.vis) {
            return v.map(|b| catalog::decode_def(b).map(Arc::new)).transpose();
        }
        self.inner.sled_table(&key)
    }

    /// Scans `[start, end)` (end `None`: to the end of the prefix `start`), merging all layers, calling
    /// `f(key, value)` in key order until it returns false.
    pub fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        prefix: &[u8],
        mut f: impl FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        if let Some(l) = self.locks {
            l.scan(prefix);
        }
        let in_range = |k: &[u8]| k.starts_with(prefix) && end.is_none_or(|e| k < e);
        let upper: Bound<&[u8]> = match end {
            Some(e) => Bound::Excluded(e),
            None => Bound::Unbounded,
        };
        // Layered entries in range: the committed overlay first (copied: its lock is not held while
        // `f` runs), then the transaction's and the statement's own writes overwrite.
        let mut over: BTreeMap<Cow<'_, [u8]>, Option<Cow<'_, [u8]>>> = BTreeMap::new();
        {
            let o = self.inner.overlay_read()?;
            for (k, versions) in o.keys.range::<[u8], _>((Bound::Included(start), upper)) {
                if !k.starts_with(prefix) {
                    break;
                }
                if let Some(v) = pick(k, versions, self.vis, o.visible) {
                    over.insert(Cow::Owned(k.clone()), v.map(|v| Cow::Owned(v.to_vec())));
                }
            }
        }
        for ws in self.txn.into_iter().chain(std::iter::once(&self.stmt)) {
            for (k, v) in ws.range::<[u8], _>((Bound::Included(start), upper)) {
                if !k.starts_with(prefix) {
                    break;
                }
                over.insert(Cow::Borrowed(k.as_slice()), v.as_deref().map(Cow::Borrowed));
            }
        }
        let mut sled_it = match end {
            Some(e) => self.inner.db.range(start..e),
            None => self.inner.db.range(start..),
        };
        let mut over_it = over.into_iter().peekable();
        let mut cur = next_sled(&mut sled_it, &in_range)?;
        loop {
            let take_over = match (&cur, over_it.peek()) {
                (None, None) => return Ok(()),
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (Some((sk, _)), Some((ok, _))) => {
                    if ok.as_ref() == &sk[..] {
                        cur = next_sled(&mut sled_it, &in_range)?;
                        true
                    } else {
                        ok.as_ref() < &sk[..]
                    }
                }
            };
            if take_over {
                if let Some((k, Some(v))) = over_it.next() {
                    if !f(&k, &v)? {
                        return Ok(());
                    }
                }
            } else if let Some((k, v)) = cur.take() {
                if !f(&k, &v)? {
                    return Ok(());
                }
                cur = next_sled(&mut sled_it, &in_range)?;
            }
        }
    }
}

fn next_sled(
    it: &mut sled::Iter,
    in_range: &dyn Fn(&[u8]) -> bool,
) -> Result<Option<(sled::IVec, sled::IVec)>> {
    match it.next() {
        Some(kv) => {
            let (k, v) = kv?;
            if in_range(&k) {
                Ok(Some((k, v)))
            } else {
                Ok(None)
            }
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layered_scan_merges_in_order() {
        let inner = EngineInner::new(sled::Config::new().temporary(true).open().unwrap());
        inner.db.insert(b"Ra1", b"s1".to_vec()).unwrap();
        inner.db.insert(b"Ra3", b"s3".to_vec()).unwrap();
        inner.db.insert(b"Rb1", b"other".to_vec()).unwrap();
        let mut p = WriteSet::new();
        p.insert(b"Ra2".to_vec(), Some(b"p2".to_vec()));
        p.insert(b"Ra3".to_vec(), None);
        let mut txn = WriteSet::new();
        txn.insert(b"Ra4".to_vec(), Some(b"t4".to_vec()));
        inner.publish(Arc::new(p)).unwrap();
        let mut v = View {
            locks: None,
            inner: &inner,
            vis: Visibility::Published,
            txn: Some(&txn),
            stmt: WriteSet::new(),
        };
        v.put(b"Ra1".to_vec(), b"x1".to_vec());
        let mut seen = vec![];
        v.scan(b"Ra", None, b"Ra", |k, val| {
            seen.push((k.to_vec(), val.to_vec()));
            Ok(true)
        })
        .unwrap();
        let keys: Vec<_> = seen
            .iter()
            .map(|(k, v)| format!("{}={}", String::from_utf8_lossy(k), String::from_utf8_lossy(v)))
            .collect();
        assert_eq!(keys, vec!["Ra1=x1", "Ra2=p2", "Ra4=t4"]);
    }

    fn set(kvs: &[(&str, Option<&str>)]) -> Arc<WriteSet> {
        Arc::new(
            kvs.iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
                .collect(),
        )
    }

    fn read(inner: &EngineInner, vis: Visibility, key: &str) -> Option<String> {
        let v = View { locks: None, inner, vis, txn: None, stmt: WriteSet::new() };
        v.get(key.as_bytes()).unwrap().map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn readers_see_applied_writers_see_published_and_flush_moves_to_sled() {
        let inner = EngineInner::new(sled::Config::new().temporary(true).open().unwrap());
        inner.db.insert(b"Rk", b"old".to_vec()).unwrap();
        let s1 = inner.publish(set(&[("Rk", Some("v1")), ("Rn", Some("n1"))])).unwrap();
        let s2 = inner.publish(set(&[("Rk", None)])).unwrap();
        assert_eq!((s1, s2), (1, 2));
        assert_eq!(read(&inner, Visibility::Applied, "Rk").as_deref(), Some("old"));
        assert_eq!(read(&inner, Visibility::Published, "Rk"), None);
        inner.apply(s1, &[("pos".into(), b"1".to_vec())]).unwrap();
        assert_eq!(read(&inner, Visibility::Applied, "Rk").as_deref(), Some("v1"));
        assert_eq!(read(&inner, Visibility::Applied, "Rn").as_deref(), Some("n1"));
        // Not flushed yet: sled still has the old value, the meta record waits with the rows.
        assert_eq!(inner.db.get(b"Rk").unwrap().as_deref(), Some(&b"old"[..]));
        assert_eq!(inner.get_meta("pos").unwrap().as_deref(), Some(&b"1"[..]));
        assert!(inner.db.get(meta_key("pos")).unwrap().is_none());
        inner.flush_pending().unwrap();
        // Transaction 1 is in sled with its position; transaction 2 (published only) is not.
        assert_eq!(inner.db.get(b"Rk").unwrap().as_deref(), Some(&b"v1"[..]));
        assert_eq!(inner.db.get(meta_key("pos")).unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(read(&inner, Visibility::Published, "Rk"), None);
        assert_eq!(read(&inner, Visibility::Applied, "Rk").as_deref(), Some("v1"));
        inner.apply(s2, &[("pos".into(), b"2".to_vec())]).unwrap();
        assert_eq!(read(&inner, Visibility::Applied, "Rk"), None);
        inner.flush_pending().unwrap();
        assert!(inner.db.get(b"Rk").unwrap().is_none());
        assert!(inner.overlay.read().unwrap().keys.is_empty());
        assert_eq!(inner.get_meta("pos").unwrap().as_deref(), Some(&b"2"[..]));
    }

    /// A flush that takes a small part of the overlay removes its keys one by one (the other
    /// branch, one ordered pass, is taken above): what is flushed leaves the overlay, what is
    /// published only stays, with its older versions gone.
    #[test]
    fn a_small_flush_leaves_the_rest_of_the_overlay_intact() {
        let inner = EngineInner::new(sled::Config::new().temporary(true).open().unwrap());
        let s1 = inner.publish(set(&[("Ra", Some("a1")), ("Rz", Some("z1"))])).unwrap();
        let s2 = inner
            .publish(set(&[
                ("Ra", Some("a2")),
                ("Rb", Some("b2")),
                ("Rc", Some("c2")),
                ("Rd", None),
                ("Re", Some("e2")),
            ]))
            .unwrap();
        inner.apply(s1, &[]).unwrap();
        inner.flush_pending().unwrap();
        assert_eq!(inner.db.get(b"Ra").unwrap().as_deref(), Some(&b"a1"[..]));
        assert_eq!(inner.db.get(b"Rz").unwrap().as_deref(), Some(&b"z1"[..]));
        assert!(inner.db.get(b"Rb").unwrap().is_none());
        {
            let o = inner.overlay.read().unwrap();
            let keys: Vec<&[u8]> = o.keys.keys().map(|k| k.as_slice()).collect();
            assert_eq!(keys, [&b"Ra"[..], b"Rb", b"Rc", b"Rd", b"Re"]);
            assert!(o.keys.values().all(|v| v.len() == 1 && v[0].0 == s2));
            assert_eq!(o.commits.len(), 1);
        }
        assert_eq!(read(&inner, Visibility::Applied, "Ra").as_deref(), Some("a1"));
        assert_eq!(read(&inner, Visibility::Published, "Ra").as_deref(), Some("a2"));
        assert_eq!(read(&inner, Visibility::Published, "Rz").as_deref(), Some("z1"));
        assert_eq!(read(&inner, Visibility::Applied, "Rb"), None);
        assert_eq!(read(&inner, Visibility::Published, "Re").as_deref(), Some("e2"));
        inner.apply(s2, &[]).unwrap();
        inner.flush_pending().unwrap();
        assert!(inner.overlay.read().unwrap().keys.is_empty());
        assert_eq!(inner.db.get(b"Ra").unwrap().as_deref(), Some(&b"a2"[..]));
        assert_eq!(inner.db.get(b"Rc").unwrap().as_deref(), Some(&b"c2"[..]));
    }

    #[test]
    fn an_apply_flushes_itself_when_far_behind_and_drop_flushes_the_rest() {
        let limit = FLUSH_BEHIND_LIMIT * FLUSH_COMMITS;
        // A second handle on the same store, to look at it after the engine is gone.
        let db = sled::Config::new().temporary(true).open().unwrap();
        {
            // No background flusher here: only the applies' own flushes.
            let inner = EngineInner::new(db.clone());
            for i in 0..limit + 3 {
                let k = format!("R{i:05}");
                let seq = inner.publish(set(&[(&k, Some("x"))])).unwrap();
                inner.apply(seq, &[("pos".into(), seq.to_string().into_bytes())]).unwrap();
            }
            assert_eq!(inner.overlay.read().unwrap().commits.len(), 3);
            assert_eq!(
                inner.db.get(meta_key("pos")).unwrap().as_deref(),
                Some(limit.to_string().as_bytes())
            );
        }
        // Dropping the engine flushed the rest.
        assert_eq!(db.scan_prefix(b"R").count(), limit + 3);
        assert_eq!(
            db.get(meta_key("pos")).unwrap().as_deref(),
            Some((limit + 3).to_string().as_bytes())
        );
    }

    #[test]
    fn the_background_flusher_takes_full_groups_while_applies_go_on() {
        let inner = Arc::new(EngineInner::new(sled::Config::new().temporary(true).open().unwrap()));
        EngineInner::start_flusher(&inner);
        let n = 3 * FLUSH_COMMITS;
        for i in 0..n {
            let k = format!("R{i:05}");
            let seq = inner.publish(set(&[(&k, Some("x"))])).unwrap();
            inner.apply(seq, &[("pos".into(), seq.to_string().into_bytes())]).unwrap();
            // Every applied row is visible at once, flushed or not.
            assert_eq!(read(&inner, Visibility::Applied, &k).as_deref(), Some("x"));
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while inner.db.get(meta_key("pos")).unwrap().as_deref() != Some(n.to_string().as_bytes()) {
            assert!(Instant::now() < deadline, "the flusher did not catch up");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(inner.db.scan_prefix(b"R").count(), n);
        let o = inner.overlay.read().unwrap();
        assert!(o.commits.is_empty() && o.keys.is_empty() && o.meta.is_empty());
        assert_eq!((o.visible_count, o.visible_bytes), (0, 0));
    }

    #[test]
    fn an_idle_store_catches_up_in_the_background() {
        let inner = Arc::new(EngineInner::new(sled::Config::new().temporary(true).open().unwrap()));
        EngineInner::start_flusher(&inner);
        let seq = inner.publish(set(&[("Ridle", Some("v"))])).unwrap();
        inner.apply(seq, &[("pos".into(), b"1".to_vec())]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while inner.db.get(meta_key("pos")).unwrap().is_none() {
            assert!(Instant::now() < deadline, "the background flush never came");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(inner.db.get(b"Ridle").unwrap().as_deref(), Some(&b"v"[..]));
    }

    fn rk(tid: u64, id: u64) -> Vec<u8> {
        let mut k = vec![K_ROW];
        k.extend_from_slice(&tid.to_be_bytes());
        k.extend_from_slice(&id.to_be_bytes());
        k
    }

    #[test]
    fn row_bound_covers_sled_the_overlay_and_later_publishes() {
        let inner = EngineInner::new(sled::Config::new().temporary(true).open().unwrap());
        let put = |inner: &EngineInner, k: Vec<u8>| {
            let seq =
                inner.publish(Arc::new([(k, Some(b"v".to_vec()))].into_iter().collect())).unwrap();
            inner.apply(seq, &[]).unwrap();
        };
        inner.db.insert(rk(1, 3), b"s".to_vec()).unwrap();
        // Published and flushed before any bound exists: in sled.
        put(&inner, rk(1, 7));
        inner.flush_pending().unwrap();
        // Published, not flushed: in the overlay only.
        put(&inner, rk(1, 9));
        // Another table's rows do not count.
        put(&inner, rk(2, 50));
        let v = View {
            locks: None,
            inner: &inner,
            vis: Visibility::Published,
            txn: None,
            stmt: WriteSet::new(),
        };
        assert!(!v.exists(&rk(1, 8)).unwrap());
        assert!(v.exists(&rk(1, 7)).unwrap() && v.exists(&rk(1, 9)).unwrap());
        assert_eq!(inner.overlay.read().unwrap().row_bound.get(&rk(1, 0)[..9]), Some(&rk(1, 9)));
        assert!(!v.exists(&rk(1, 10)).unwrap());
        assert_eq!(v.get(&rk(1, 10)).unwrap(), None);
        // A later publish raises the bound before its flush; the row is found in sled after it.
        put(&inner, rk(1, 20));
        inner.flush_pending().unwrap();
        assert!(inner.overlay.read().unwrap().keys.is_empty());
        assert!(v.exists(&rk(1, 20)).unwrap());
        assert_eq!(v.get(&rk(1, 3)).unwrap().as_deref(), Some(&b"s"[..]));
        assert!(v.exists(&rk(2, 50)).unwrap() && !v.exists(&rk(2, 51)).unwrap());
    }

    #[test]
    fn applies_stay_below_the_limit_while_the_flusher_runs() {
        let inner = Arc::new(EngineInner::new(sled::Config::new().temporary(true).open().unwrap()));
        EngineInner::start_flusher(&inner);
        let n = 3 * FLUSH_BEHIND_LIMIT * FLUSH_COMMITS;
        for i in 0..n {
            let k = format!("R{i:06}");
            let seq = inner.publish(set(&[(&k, Some("x"))])).unwrap();
            inner.apply(seq, &[("pos".into(), seq.to_string().into_bytes())]).unwrap();
            // Back-pressure: an apply never returns with the overlay at the limit.
            let count = inner.overlay.read().unwrap().visible_count;
            assert!(count < FLUSH_BEHIND_LIMIT * FLUSH_COMMITS, "{count} waiting after {i}");
        }
        inner.flush_pending().unwrap();
        assert_eq!(inner.db.scan_prefix(b"R").count(), n);
        assert_eq!(
            inner.db.get(meta_key("pos")).unwrap().as_deref(),
            Some(n.to_string().as_bytes())
        );
    }

    #[test]
    fn a_drop_in_a_group_removes_the_tables_keys_from_sled_and_from_the_group() {
        let inner = EngineInner::new(sled::Config::new().temporary(true).open().unwrap());
        let mut ik = vec![K_INDEX];
        ik.extend_from_slice(&5u64.to_be_bytes());
        ik.extend_from_slice(b"\0\0\0\x01k");
        inner.db.insert(rk(5, 1), b"old".to_vec()).unwrap();
        inner.db.insert(&ik, b"".to_vec()).unwrap();
        inner.db.insert(rk(6, 1), b"keep".to_vec()).unwrap();
        let mut drop = vec![K_DROP];
        drop.extend_from_slice(&5u64.to_be_bytes());
        let one = |k: Vec<u8>, v: Option<&[u8]>| -> Arc<WriteSet> {
            Arc::new([(k, v.map(|v| v.to_vec()))].into_iter().collect())
        };
        let sets = [
            one(rk(5, 2), Some(b"new")),
            one(rk(6, 1), Some(b"v1")),
            one(drop, Some(b"")),
            one(rk(6, 1), Some(b"v2")),
            one(rk(6, 2), None),
        ];
        inner.apply_sets(&sets, &[("pos".into(), b"9".to_vec())]).unwrap();
        assert_eq!(inner.db.scan_prefix(&rk(5, 0)[..9]).count(), 0);
        assert!(inner.db.get(&ik).unwrap().is_none());
        assert!(inner.db.get([K_DROP]).unwrap().is_none());
        assert_eq!(inner.db.scan_prefix([K_DROP]).count(), 0);
        // Later sets win; other tables are untouched by the drop.
        assert_eq!(inner.db.get(rk(6, 1)).unwrap().as_deref(), Some(&b"v2"[..]));
        assert!(inner.db.get(rk(6, 2)).unwrap().is_none());
        assert_eq!(inner.db.get(meta_key("pos")).unwrap().as_deref(), Some(&b"9"[..]));
    }
}
