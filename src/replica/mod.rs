//! The replica role: IO thread, relay log, SQL thread, control and status.
//!
//! Data flow (DESIGN.md, "Replication"):
//!
//! ```text
//! source --COM_BINLOG_DUMP--> IO thread --verbatim, CRC verified--> relay log files
//!        relay log --LogReader--> SQL thread --groups--> Applier --one batch: rows + GTID + position--> sled
//! ```
//!
//! * [`io`]: one async task per running IO thread; reconnects with backoff and jitter, detects a silent
//!   source by missing heartbeats, stops with Last_IO_Error on fatal errors.
//! * [`relay`]: the relay log files (own FORMAT_DESCRIPTION first, rotation, index, `sync_relay_log`).
//! * [`sqlthread`]: one OS thread per running SQL thread (the engine is synchronous); woken by the IO
//!   thread through the relay log's condition variable, never polling.
//! * [`handle`]: [`ReplicaHandle`], the [`crate::control::ReplicaControl`] the session layer calls for
//!   CHANGE MASTER TO, START/STOP/RESET REPLICA, SHOW REPLICA STATUS and `sql_slave_skip_counter`.
//!
//! Invariants:
//! * The applied GTID state and source position are written in the same sled batch as the rows of the
//!   group that produced them, so the store never disagrees with its recorded position.
//! * Relay logs are disposable: at start-up (and on START with both threads stopped, CHANGE MASTER,
//!   RESET) they are discarded and the IO thread fetches from the applied GTID state
//!   (relay_log_recovery). A group that arrives twice is recognised by its GTID and applied once.
//! * Nothing is skipped silently: an apply error or an unreadable relay log stops the SQL thread with
//!   Last_SQL_Errno/Last_SQL_Error (a corrupt relay event is first fetched again from the source);
//!   only `sql_slave_skip_counter` and our own server id skip groups, and both record the position.

pub mod handle;
pub mod io;
pub mod relay;
pub mod settings;
pub mod sqlthread;
pub mod statement;
pub mod status;

pub use handle::{start, ReplicaHandle};
pub use settings::{ReplicaConfig, SourceSettings};
pub use sqlthread::{apply_log_files, ApplyReport, SqlCore};
pub use status::ReplicaStatus;
