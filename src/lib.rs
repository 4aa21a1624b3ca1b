//! repld: a MySQL-style binlog replication engine.
//!
//! A primary executes SQL from ordinary MySQL clients against an embedded sled store and appends every
//! data-changing transaction to a MySQL binlog v4 file (MariaDB flavour); a replica's IO thread streams
//! that log into its relay log and its SQL thread replays it, so the replica holds the same data.
//!
//! Layers, arrows pointing down only:
//!
//! ```text
//! bin (repld, replctl)
//!   -> primary (sessions, commit pipeline, binlog dump)   replica (IO thread, relay log, SQL thread)
//!        -> wire (MySQL protocol)   sql (engine over sled)   log (binlog v4 files)
//! ```
//!
//! `log` and `sql` never import `primary`, `replica` or `wire`.
#![warn(clippy::all)]

pub mod apply;
pub mod binlog_text;
pub mod config;
pub mod control;
pub mod error;
pub mod log;
pub mod metrics;
pub mod primary;
pub mod replica;
pub mod sandbox;
pub mod sql;
pub mod status;
pub mod wire;

pub use error::{Error, Result};

/// The process allocator of every binary built on this crate (server, replctl, tests, benchmarks):
/// mimalloc. sled allocates and frees a node copy for every key it writes (and its epoch collector
/// frees them on another thread); with glibc's allocator that traffic was a third of the store's
/// flush time (see `sql::store`).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
