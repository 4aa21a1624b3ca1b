//! MariaDB global transaction ids.
//!
//! A GTID `domain-server_id-seq_no` names one transaction for ever: `domain_id` is a replication stream
//! (one per independent source of writes), `server_id` the server that executed it first, `seq_no` its
//! number inside the domain. Sequence numbers only grow inside a domain; the server id is informative.
//!
//! A [`GtidState`] is the position of a whole log or replica: the last GTID seen in each domain. It is
//! what a GTID_LIST event carries at the start of each binlog file and what a replica sends to resume.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A MariaDB global transaction id, displayed `domain-server-seq` (e.g. `0-1-5`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Gtid {
    /// Replication domain: independent streams of transactions have different domains.
    pub domain_id: u32,
    /// The server that first executed the transaction.
    pub server_id: u32,
    /// Sequence number inside the domain; grows by one per transaction.
    pub seq_no: u64,
}

impl Gtid {
    /// A GTID from its three parts.
    pub fn new(domain_id: u32, server_id: u32, seq_no: u64) -> Self {
        Gtid { domain_id, server_id, seq_no }
    }
}

impl fmt::Display for Gtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.domain_id, self.server_id, self.seq_no)
    }
}

impl FromStr for Gtid {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad =
            || Error::InvalidInput(format!("invalid GTID {s:?}: expected domain-server_id-seq_no"));
        let mut parts = s.trim().split('-');
        let (Some(d), Some(srv), Some(seq), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(Gtid {
            domain_id: d.parse().map_err(|_| bad())?,
            server_id: srv.parse().map_err(|_| bad())?,
            seq_no: seq.parse().map_err(|_| bad())?,
        })
    }
}

/// The last GTID of each domain: the position of a log or of a replica.
///
/// Displayed like MariaDB's `gtid_binlog_pos`: `0-1-5,1-2-3`, domains ascending; the empty state is the
/// empty string.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct GtidState {
    domains: BTreeMap<u32, Gtid>,
}

impl GtidState {
    /// The empty state (nothing seen in any domain).
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `gtid` as the last transaction of its domain (replacing the previous one).
    pub fn update(&mut self, gtid: Gtid) {
        self.domains.insert(gtid.domain_id, gtid);
    }

    /// Forgets `domain` (the writer undoing the transactions a failed write lost).
    pub(crate) fn forget_domain(&mut self, domain: u32) {
        self.domains.remove(&domain);
    }

    /// The last GTID of `domain`, if any.
    pub fn get(&self, domain: u32) -> Option<Gtid> {
        self.domains.get(&domain).copied()
    }

    /// True when `gtid` is at or before this state's position in its domain (already seen).
    pub fn contains(&self, gtid: &Gtid) -> bool {
        self.get(gtid.domain_id).is_some_and(|g| g.seq_no >= gtid.seq_no)
    }

    /// True when every domain of `other` is at or before this state's position in that domain.
    pub fn includes(&self, other: &GtidState) -> bool {
        other.iter().all(|g| self.contains(g))
    }

    /// The GTIDs, one per domain, in ascending domain order.
    pub fn iter(&self) -> impl Iterator<Item = &Gtid> {
        self.domains.values()
    }

    /// The GTIDs as a vector, in ascending domain order.
    pub fn to_vec(&self) -> Vec<Gtid> {
        self.domains.values().copied().collect()
    }

    /// True when no domain has been seen.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    /// Number of domains.
    pub fn len(&self) -> usize {
        self.domains.len()
    }
}

impl FromIterator<Gtid> for GtidState {
    fn from_iter<I: IntoIterator<Item = Gtid>>(iter: I) -> Self {
        let mut state = GtidState::new();
        for gtid in iter {
            state.update(gtid);
        }
        state
    }
}

impl fmt::Display for GtidState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, gtid) in self.domains.values().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{gtid}")?;
        }
        Ok(())
    }
}

impl FromStr for GtidState {
    type Err = Error;

    /// Parses `0-1-5,1-2-3` (spaces allowed, empty = empty state). A domain may appear only once.
    fn from_str(s: &str) -> Result<Self> {
        let mut state = GtidState::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let gtid: Gtid = part.parse()?;
            if state.get(gtid.domain_id).is_some() {
                return Err(Error::InvalidInput(format!(
                    "GTID position {s:?} has domain {} more than once",
                    gtid.domain_id
                )));
            }
            state.update(gtid);
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtid_display_parse() {
        let g: Gtid = "0-1-5".parse().unwrap();
        assert_eq!(g, Gtid::new(0, 1, 5));
        assert_eq!(g.to_string(), "0-1-5");
        assert!("0-1".parse::<Gtid>().is_err());
        assert!("0-1-2-3".parse::<Gtid>().is_err());
        assert!("a-1-2".parse::<Gtid>().is_err());
        assert!("0-1-99999999999999999999999".parse::<Gtid>().is_err());
    }

    #[test]
    fn state_display_parse_contains() {
        let s: GtidState = " 1-2-3, 0-1-5".parse().unwrap();
        assert_eq!(s.to_string(), "0-1-5,1-2-3");
        assert_eq!("".parse::<GtidState>().unwrap(), GtidState::new());
        assert_eq!(GtidState::new().to_string(), "");
        assert!("0-1-5,0-2-6".parse::<GtidState>().is_err());
        assert!(s.contains(&Gtid::new(0, 9, 5)));
        assert!(!s.contains(&Gtid::new(0, 1, 6)));
        assert!(!s.contains(&Gtid::new(2, 1, 1)));
        let mut t = s.clone();
        t.update(Gtid::new(0, 1, 6));
        assert!(t.includes(&s));
        assert!(!s.includes(&t));
        assert_eq!(t.get(0), Some(Gtid::new(0, 1, 6)));
        assert_eq!(t.len(), 2);
    }
}
