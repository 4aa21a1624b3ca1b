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
/// jemalloc. sled allocates and frees a node copy for every key it writes (and its epoch collector
/// frees them on another thread); with glibc's allocator that traffic was a third of the store's
/// flush time (see `sql::store`). Write sets are built on the session threads and freed by the
/// store's flusher: mimalloc hands such a block back to the page of the thread that allocated it,
/// whose next allocation then loads the block's free-list link from the other core's cache (its
/// `_mi_page_malloc_zero` was 5-10% of each server's CPU samples under sysbench); jemalloc keeps a
/// freed block in the freeing thread's cache and its thread caches are arrays of pointers, so an
/// allocation does not read the block. Measured against mimalloc in alternating pairs: oltp_insert
/// at 8 threads +2% to +8% in 6 of 6 pairs, less CPU per transaction in both servers, and about
/// 15-40% less RSS.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
