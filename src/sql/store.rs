//! Storage views: sled plus layers of write sets, and applying write sets to sled.
//!
//! A statement reads through a [`View`]: its own statement write set, then its transaction's write set,
//! then (for writers only) the published-but-unapplied commits from newest to oldest, then sled. A key
//! mapped to `None` in a layer is deleted there. Scans merge all layers in key order.
//!
//! Invariants: sled holds only applied transactions; published write sets are applied in sequence order,
//! each [`EngineInner::apply`] call in one atomic sled batch together with its meta records; the table
//! definition cache only ever holds what sled holds (a generation counter prevents caching a definition
//! read before a concurrent apply changed it).

use super::api::WriteSet;
use super::catalog::{self, TableDef, K_DROP, K_INDEX, K_META, K_ROW, K_TABLE};
use crate::error::{Error, Result};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Engine internals shared by all sessions.
pub struct EngineInner {
    /// The store.
    pub db: sled::Db,
    /// Published, not yet applied write sets in sequence order.
    pub(crate) published: RwLock<Vec<(u64, Arc<WriteSet>)>>,
    /// Highest applied sequence number.
    pub(crate) applied_seq: Mutex<u64>,
    /// Cache of table definitions as stored in sled, by table key.
    pub(crate) tables: RwLock<HashMap<Vec<u8>, Option<Arc<TableDef>>>>,
    /// Bumped on every apply that changes the catalog.
    pub(crate) catalog_gen: AtomicU64,
    /// Highest auto-increment value handed out per table id (never goes back, even on rollback).
    pub(crate) autoinc: Mutex<HashMap<u64, u64>>,
    /// Server-level variables published with `Engine::set_global_var`.
    pub(crate) globals: RwLock<BTreeMap<String, super::api::Value>>,
    /// Serializes apply calls.
    pub(crate) apply_lock: Mutex<()>,
    /// Parsed statement templates.
    pub(crate) stmt_cache: super::parse::StmtCache,
}

impl EngineInner {
    /// Wraps an open sled database.
    pub fn new(db: sled::Db) -> EngineInner {
        EngineInner {
            db,
            published: RwLock::new(Vec::new()),
            applied_seq: Mutex::new(0),
            tables: RwLock::new(HashMap::new()),
            catalog_gen: AtomicU64::new(0),
            autoinc: Mutex::new(HashMap::new()),
            globals: RwLock::new(BTreeMap::new()),
            apply_lock: Mutex::new(()),
            stmt_cache: super::parse::StmtCache::default(),
        }
    }

    /// Snapshot of the published write sets, oldest first.
    pub fn published_snapshot(&self) -> Vec<Arc<WriteSet>> {
        self.published
            .read()
            .map(|p| p.iter().map(|(_, w)| w.clone()).collect())
            .unwrap_or_default()
    }

    /// Queues a write set under `seq`.
    pub fn publish(&self, seq: u64, ws: Arc<WriteSet>) {
        if let Ok(mut p) = self.published.write() {
            p.push((seq, ws));
        }
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

    /// Applies write sets in order plus meta records in one atomic batch.
    pub fn apply_sets(
        &self,
        sets: &[Arc<WriteSet>],
        meta: &[super::api::MetaRecord],
    ) -> Result<()> {
        let mut merged: BTreeMap<&[u8], Option<&[u8]>> = BTreeMap::new();
        let mut drops = Vec::new();
        let mut catalog_changed = false;
        for ws in sets {
            for (k, v) in ws.iter() {
                if k.first() == Some(&K_DROP) {
                    drops.push(k[1..].to_vec());
                    continue;
                }
                if k.first() == Some(&K_TABLE) {
                    catalog_changed = true;
                }
                merged.insert(k, v.as_deref());
            }
        }
        let mut batch = sled::Batch::default();
        let mut dropped_prefixes = Vec::new();
        for tid in &drops {
            for kind in [K_ROW, K_INDEX] {
                let mut p = vec![kind];
                p.extend_from_slice(tid);
                for kv in self.db.scan_prefix(&p) {
                    let (k, _) = kv?;
                    batch.remove(k);
                }
                dropped_prefixes.push(p);
            }
        }
        for (k, v) in merged {
            if dropped_prefixes.iter().any(|p| k.starts_with(p)) {
                continue;
            }
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
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

    /// Applies published write sets up to `seq`.
    pub fn apply(&self, seq: u64, meta: &[super::api::MetaRecord]) -> Result<()> {
        let _g = self.apply_lock.lock().map_err(|_| Error::Abort("apply lock poisoned".into()))?;
        let sets: Vec<(u64, Arc<WriteSet>)> = {
            let p = self
                .published
                .read()
                .map_err(|_| Error::Abort("published lock poisoned".into()))?;
            p.iter().filter(|(s, _)| *s <= seq).cloned().collect()
        };
        let applied = *self.applied_seq.lock().map_err(|_| Error::Abort("poisoned".into()))?;
        let todo: Vec<Arc<WriteSet>> =
            sets.iter().filter(|(s, _)| *s > applied).map(|(_, w)| w.clone()).collect();
        self.apply_sets(&todo, meta)?;
        if let Ok(mut a) = self.applied_seq.lock() {
            *a = (*a).max(seq);
        }
        if let Ok(mut p) = self.published.write() {
            p.retain(|(s, _)| *s > seq);
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

/// A read view over sled and write-set layers, plus the statement's own writes.
pub struct View<'a> {
    /// The engine.
    pub inner: &'a EngineInner,
    /// Published layers, oldest first (empty for readers).
    pub published: Vec<Arc<WriteSet>>,
    /// The transaction's write set.
    pub txn: Option<&'a WriteSet>,
    /// The statement's own writes.
    pub stmt: WriteSet,
}

impl<'a> View<'a> {
    fn layered(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        if let Some(v) = self.stmt.get(key) {
            return Some(v.as_deref());
        }
        if let Some(v) = self.txn.and_then(|t| t.get(key)) {
            return Some(v.as_deref());
        }
        for ws in self.published.iter().rev() {
            if let Some(v) = ws.get(key) {
                return Some(v.as_deref());
            }
        }
        None
    }

    /// Reads a key.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.layered(key) {
            Some(v) => Ok(v.map(|b| b.to_vec())),
            None => Ok(self.inner.db.get(key)?.map(|v| v.to_vec())),
        }
    }

    /// True if the key exists.
    pub fn exists(&self, key: &[u8]) -> Result<bool> {
        match self.layered(key) {
            Some(v) => Ok(v.is_some()),
            None => Ok(self.inner.db.contains_key(key)?),
        }
    }

    /// Writes a key in the statement's write set.
    pub fn put(&mut self, key: Vec<u8>, val: Vec<u8>) {
        self.stmt.insert(key, Some(val));
    }

    /// Deletes a key in the statement's write set.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.stmt.insert(key, None);
    }

    /// A table definition through all layers.
    pub fn table(&self, db: &str, name: &str) -> Result<Option<Arc<TableDef>>> {
        let key = catalog::table_key(db, name);
        match self.layered(&key) {
            Some(Some(b)) => Ok(Some(Arc::new(catalog::decode_def(b)?))),
            Some(None) => Ok(None),
            None => self.inner.sled_table(&key),
        }
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
        let in_range = |k: &[u8]| k.starts_with(prefix) && end.is_none_or(|e| k < e);
        let upper: Bound<&[u8]> = match end {
            Some(e) => Bound::Excluded(e),
            None => Bound::Unbounded,
        };
        // Overlay entries in range: older layers first, newer ones overwrite.
        let mut over: BTreeMap<&[u8], Option<&[u8]>> = BTreeMap::new();
        let layers =
            self.published.iter().map(|w| &**w).chain(self.txn).chain(std::iter::once(&self.stmt));
        for ws in layers {
            for (k, v) in ws.range::<[u8], _>((Bound::Included(start), upper)) {
                if !k.starts_with(prefix) {
                    break;
                }
                over.insert(k.as_slice(), v.as_deref());
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
                    if **ok == sk[..] {
                        cur = next_sled(&mut sled_it, &in_range)?;
                        true
                    } else {
                        *ok < &sk[..]
                    }
                }
            };
            if take_over {
                if let Some((k, Some(v))) = over_it.next() {
                    if !f(k, v)? {
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
        let mut v = View {
            inner: &inner,
            published: vec![Arc::new(p)],
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
}
