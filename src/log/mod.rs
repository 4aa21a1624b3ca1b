//! The binary log and the relay log: MySQL binlog v4 files, MariaDB flavour.
//!
//! The binlog is the primary's source of truth and the format of a replica's relay log. A log is a
//! numbered sequence of files (`repld-bin.000001`, ...) listed by an index file; each file is magic
//! `\xfebin`, a FORMAT_DESCRIPTION event, a GTID_LIST (binlogs) and then events, each with a 19-byte
//! header and a CRC32 trailer. `mariadb-binlog` reads every file we write.
//!
//! Transactions are framed as MariaDB frames them: `GTID(162)` -> context events (INTVAR, RAND,
//! USER_VAR) -> `QUERY`... -> `XID`; DDL is a standalone `GTID` + `QUERY`.
//!
//! Invariants (what readers and recovery rely on):
//! 1. Positions only grow and events are contiguous; a transaction is appended in one write and never
//!    spans two files (rotation happens between transactions).
//! 2. Events that were reported durable never change; only a torn tail after the durable position can
//!    be cut, by recovery at open. With `sync_binlog = 1` "durable" means fsynced in the binlog file or
//!    in the commit journal ([`journal`]), which recovery replays into the last file first.
//! 3. Every file opens with the GTID state before it (GTID_LIST), so a GTID position maps to a file
//!    without reading older files.
//! 4. Every event read is CRC-checked; errors name `file:offset` and the cause; nothing read from a
//!    file can cause a panic.
//!
//! Pieces:
//! * [`event`]: the codec ([`Event`], [`EventHeader`], [`EventBody`]).
//! * [`gtid`]: [`Gtid`] and [`GtidState`].
//! * [`writer`]: [`BinlogWriter`] (group commit, rotation, recovery, purge).
//! * [`relay`]: [`RelayLogWriter`] (verbatim appends of received events).
//! * [`reader`]: [`LogReader`] (sequential reads across rotations) and [`find_gtid_start`].
//! * [`journal`]: the commit journal that makes a group durable with one overwrite.
//! * [`file`]: names, index, positions ([`LogPos`]) and file scans shared by the others.

pub mod event;
pub mod file;
pub mod gtid;
pub mod journal;
pub mod reader;
pub mod relay;
pub mod writer;

pub use event::{Event, EventBody, EventHeader, QueryCharset, QueryStatus, UserVarValue};
pub use file::LogPos;
pub use gtid::{Gtid, GtidState};
pub use reader::{find_gtid_start, LogReader, RawEventRef, RawLogEvent};
pub use relay::{RelayLogConfig, RelayLogWriter};
pub use writer::{Appended, BinlogConfig, BinlogWriter, RecoveryReport, ReplicaHold, TxnEvents};
