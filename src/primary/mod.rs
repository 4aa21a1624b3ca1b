//! The server: client sessions, the commit pipeline and the binlog dump.
//!
//! A [`Server`] owns the SQL engine's store and the binary log of one `repld` process. It recovers
//! the store from the log at start ([`recovery`]), then serves MySQL connections ([`session`]). Every
//! connection runs in its own task: it authenticates, then runs commands; write transactions run
//! concurrently under row locks ([`locks`]: a statement that cannot be bounded to rows, and DDL, run
//! alone) and go through the commit pipeline ([`commit`]):
//!
//! ```text
//! execute (engine, own write set, row locks) -> append to binlog -> publish write set
//!   -> release locks -> fsync (group commit) -> apply to the store with the binlog position
//!   -> OK to the client
//! ```
//!
//! A replica's connection turns into a binlog stream ([`dump`]) that sends events up to the durable
//! position and waits for more. Administrative statements (SHOW MASTER STATUS, SHOW BINLOG EVENTS,
//! PURGE, KILL, ...) are answered here ([`admin`], [`show`]); replica-role statements go to the
//! [`crate::control::ReplicaControl`] seam.
//!
//! Invariants:
//! * binlog order is a serial order of the write transactions: conflicting ones are ordered by their
//!   row locks (held until the transaction is logged), so a replica replaying the binlog one
//!   transaction after another computes what the primary computed;
//! * the store never holds a transaction that is not durable in the binlog, and it records with every
//!   transaction the binlog position it reached, so recovery knows where to resume;
//! * a client is told OK only after its transaction is durable and applied;
//! * a replica is never sent an event past the durable position.

pub mod admin;
mod commit;
mod dump;
pub mod events;
pub mod locks;
mod recovery;
mod server;
mod session;
mod show;
pub mod shutdown;
mod state;

pub use server::{Server, BINLOG_BASENAME};
pub use session::read_only_error;
pub use state::{AppliedPos, BINLOG_POS_META};
