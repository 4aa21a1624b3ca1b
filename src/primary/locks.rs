//! Row locks of concurrent write transactions (strict two-phase locking), with an exclusive mode.
//!
//! The idea: write transactions run concurrently as long as every key their statements read for the
//! write or change is a row they hold the lock of. The SQL engine asks for a row lock inline
//! ([`RowLocks::try_lock`]) the first time a write statement touches a row key; when another
//! transaction holds it, the statement is discarded and reports the keys it needs, and the session
//! waits here ([`LockTable::lock_rows`]) and runs the statement again. A statement the engine cannot
//! bound to rows (a range or index scan, DDL, a table without a primary key) needs the exclusive lock
//! ([`LockTable::lock_exclusive`]): it waits until no other transaction holds anything and keeps every
//! other transaction out until it ends.
//!
//! Invariants:
//! * a key has at most one owner; the exclusive lock has at most one owner, and while it is held no
//!   other owner holds any key;
//! * locks are held until the transaction is logged (appended and published) or rolled back, so the
//!   binlog order of conflicting transactions is the order in which they held their common rows, and a
//!   replica replaying the binlog serially computes what the primary computed;
//! * once someone waits for the exclusive lock, owners that hold nothing yet get no new row lock, so
//!   DDL is not starved by a stream of short transactions;
//! * a wait that would close a cycle of waiters fails at once with ERROR 1213 (the requester is the
//!   victim); any other wait ends with ERROR 1205 after the lock wait timeout.

use crate::error::{Error, Result};
use crate::sql::RowLocks;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// What a waiting owner waits for.
#[derive(Clone, Debug)]
enum Want {
    Rows(Vec<Vec<u8>>),
    Exclusive,
}

#[derive(Default, Debug)]
struct State {
    /// Row key -> owner.
    rows: HashMap<Vec<u8>, u32>,
    /// Owner -> the keys it holds.
    held: HashMap<u32, Vec<Vec<u8>>>,
    /// The owner of the exclusive lock.
    exclusive: Option<u32>,
    /// Owners waiting, and for what.
    waiting: HashMap<u32, Want>,
}

impl State {
    fn exclusive_pending(&self, owner: u32) -> bool {
        self.waiting.iter().any(|(o, w)| *o != owner && matches!(w, Want::Exclusive))
    }

    /// Whether `owner` may take `key` now.
    fn row_free(&self, owner: u32, key: &[u8]) -> bool {
        if self.exclusive.is_some_and(|x| x != owner) {
            return false;
        }
        match self.rows.get(key) {
            Some(o) => *o == owner,
            None => self.held.contains_key(&owner) || !self.exclusive_pending(owner),
        }
    }

    fn take_row(&mut self, owner: u32, key: &[u8]) {
        if self.rows.get(key) != Some(&owner) {
            self.rows.insert(key.to_vec(), owner);
            self.held.entry(owner).or_default().push(key.to_vec());
        }
    }

    fn exclusive_free(&self, owner: u32) -> bool {
        self.exclusive.is_none_or(|x| x == owner) && self.held.keys().all(|o| *o == owner)
    }

    /// The owners `owner` would wait for, wanting `want`.
    fn blockers(&self, owner: u32, want: &Want) -> Vec<u32> {
        let mut out: Vec<u32> = self.exclusive.filter(|x| *x != owner).into_iter().collect();
        match want {
            Want::Rows(keys) => {
                for k in keys {
                    match self.rows.get(k) {
                        Some(o) if *o != owner => out.push(*o),
                        Some(_) => {}
                        None if !self.held.contains_key(&owner) => out.extend(
                            self.waiting
                                .iter()
                                .filter(|(o, w)| **o != owner && matches!(w, Want::Exclusive))
                                .map(|(o, _)| *o),
                        ),
                        None => {}
                    }
                }
            }
            Want::Exclusive => out.extend(self.held.keys().filter(|o| **o != owner)),
        }
        out
    }

    /// Whether `owner` waiting for `want` would close a cycle of waiters.
    fn deadlock(&self, owner: u32, want: &Want) -> bool {
        let mut seen = HashSet::new();
        let mut stack = self.blockers(owner, want);
        while let Some(o) = stack.pop() {
            if o == owner {
                return true;
            }
            if !seen.insert(o) {
                continue;
            }
            if let Some(w) = self.waiting.get(&o) {
                stack.extend(self.blockers(o, w));
            }
        }
        false
    }
}

/// The lock table of one server (see the module docs).
#[derive(Default, Debug)]
pub struct LockTable {
    state: Mutex<State>,
    changed: Notify,
}

fn deadlock_error() -> Error {
    Error::sql(1213, "40001", "Deadlock found when trying to get lock; try restarting transaction")
}

fn timeout_error() -> Error {
    Error::sql(1205, "HY000", "Lock wait timeout exceeded; try restarting transaction")
}

impl LockTable {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the maps inconsistent in a way that matters
        // more than refusing every write: take the data as it is.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until `owner` holds every key of `keys` (and takes them), up to `timeout`.
    pub async fn lock_rows(&self, owner: u32, keys: &[Vec<u8>], timeout: Duration) -> Result<()> {
        let want = Want::Rows(keys.to_vec());
        self.wait(owner, want, timeout, |st| {
            if keys.iter().all(|k| st.row_free(owner, k)) {
                for k in keys {
                    st.take_row(owner, k);
                }
                true
            } else {
                false
            }
        })
        .await
    }

    /// Waits until `owner` holds the exclusive lock, up to `timeout`.
    pub async fn lock_exclusive(&self, owner: u32, timeout: Duration) -> Result<()> {
        self.wait(owner, Want::Exclusive, timeout, |st| {
            if st.exclusive_free(owner) {
                st.exclusive = Some(owner);
                true
            } else {
                false
            }
        })
        .await
    }

    async fn wait(
        &self,
        owner: u32,
        want: Want,
        timeout: Duration,
        mut grant: impl FnMut(&mut State) -> bool,
    ) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut st = self.state();
                if grant(&mut st) {
                    if st.waiting.remove(&owner).is_some() {
                        drop(st);
                        // Others may have been blocked by our pending wait (exclusive): let them look.
                        self.changed.notify_waiters();
                    }
                    return Ok(());
                }
                if st.deadlock(owner, &want) {
                    st.waiting.remove(&owner);
                    drop(st);
                    self.changed.notify_waiters();
                    return Err(deadlock_error());
                }
                st.waiting.insert(owner, want.clone());
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                self.state().waiting.remove(&owner);
                self.changed.notify_waiters();
                return Err(timeout_error());
            }
        }
    }

    /// Whether any owner holds a row lock or the exclusive lock (a write transaction is open).
    pub fn any_held(&self) -> bool {
        let st = self.state();
        !st.held.is_empty() || st.exclusive.is_some()
    }

    /// Whether `owner` holds the exclusive lock.
    pub fn holds_exclusive(&self, owner: u32) -> bool {
        self.state().exclusive == Some(owner)
    }

    /// Releases everything `owner` holds (its transaction ended) and wakes the waiters.
    pub fn release(&self, owner: u32) {
        {
            let mut st = self.state();
            let had_x = st.exclusive == Some(owner);
            if had_x {
                st.exclusive = None;
            }
            let keys = st.held.remove(&owner);
            st.waiting.remove(&owner);
            if !had_x && keys.is_none() {
                return;
            }
            for k in keys.unwrap_or_default() {
                st.rows.remove(&k);
            }
        }
        self.changed.notify_waiters();
    }
}

impl RowLocks for LockTable {
    fn try_lock(&self, owner: u32, key: &[u8]) -> bool {
        let mut st = self.state();
        if st.row_free(owner, key) {
            st.take_row(owner, key);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const T: Duration = Duration::from_secs(5);

    fn holds_any(t: &LockTable, owner: u32) -> bool {
        let st = t.state();
        st.exclusive == Some(owner) || st.held.contains_key(&owner)
    }

    /// Yields until `owner` is registered as waiting (bounded).
    async fn until_waiting(t: &LockTable, owner: u32) {
        for _ in 0..1000 {
            if t.state().waiting.contains_key(&owner) {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("owner {owner} never waited");
    }

    fn k(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    #[tokio::test]
    async fn rows_are_owned_until_release() {
        let t = LockTable::default();
        assert!(t.try_lock(1, b"a"));
        assert!(t.try_lock(1, b"a"), "re-entrant for the owner");
        assert!(!t.try_lock(2, b"a"));
        assert!(t.try_lock(2, b"b"));
        t.release(1);
        assert!(t.try_lock(2, b"a"));
        assert!(!holds_any(&t, 1));
        assert!(holds_any(&t, 2));
    }

    #[tokio::test]
    async fn a_waiter_gets_the_row_when_its_owner_releases() {
        let t = Arc::new(LockTable::default());
        assert!(t.try_lock(1, b"a"));
        let t2 = t.clone();
        let w = tokio::spawn(async move { t2.lock_rows(2, &[k("a")], T).await });
        tokio::task::yield_now().await;
        assert!(!w.is_finished());
        t.release(1);
        w.await.unwrap().unwrap();
        assert!(!t.try_lock(1, b"a"));
    }

    #[tokio::test]
    async fn a_cycle_fails_with_1213_and_a_lone_wait_times_out_with_1205() {
        let t = Arc::new(LockTable::default());
        assert!(t.try_lock(1, b"a"));
        assert!(t.try_lock(2, b"b"));
        let t2 = t.clone();
        let w = tokio::spawn(async move { t2.lock_rows(1, &[k("b")], T).await });
        // Once owner 1 waits, close the cycle.
        until_waiting(&t, 1).await;
        let e = t.lock_rows(2, &[k("a")], T).await.unwrap_err();
        assert_eq!(e.to_mysql().0, 1213);
        t.release(2);
        w.await.unwrap().unwrap();
        let e = t.lock_rows(3, &[k("a")], Duration::from_millis(20)).await.unwrap_err();
        assert_eq!(e.to_mysql().0, 1205);
        assert!(t.state().waiting.is_empty());
    }

    #[tokio::test]
    async fn exclusive_waits_for_holders_and_keeps_new_owners_out() {
        let t = Arc::new(LockTable::default());
        assert!(t.try_lock(1, b"a"));
        let t2 = t.clone();
        let x = tokio::spawn(async move { t2.lock_exclusive(9, T).await });
        until_waiting(&t, 9).await;
        assert!(!t.try_lock(2, b"z"), "a new owner waits behind a pending exclusive lock");
        assert!(t.try_lock(1, b"b"), "a holder may go on to finish");
        t.release(1);
        x.await.unwrap().unwrap();
        assert!(t.holds_exclusive(9));
        assert!(!t.try_lock(1, b"a"));
        t.release(9);
        assert!(t.try_lock(1, b"a"));
    }

    #[tokio::test]
    async fn exclusive_upgrade_deadlock_is_detected() {
        let t = Arc::new(LockTable::default());
        assert!(t.try_lock(1, b"a"));
        assert!(t.try_lock(2, b"b"));
        let t2 = t.clone();
        let x = tokio::spawn(async move { t2.lock_exclusive(1, T).await });
        until_waiting(&t, 1).await;
        let e = t.lock_exclusive(2, T).await.unwrap_err();
        assert_eq!(e.to_mysql().0, 1213);
        t.release(2);
        x.await.unwrap().unwrap();
        assert!(t.holds_exclusive(1));
    }
}
