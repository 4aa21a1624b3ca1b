//! The seam between a server's client sessions and its replica role.
//!
//! One `repld` binary serves both roles, and a session must answer replication statements whatever the
//! role. The session layer (`primary`) sees the replica role only through [`ReplicaControl`], which the
//! `replica` module implements and `bin/repld` wires in, so that `primary` and `replica` never import
//! each other.

use crate::error::Result;
use crate::sql::Outcome;
use std::future::Future;
use std::pin::Pin;

/// A boxed future, for object-safe async methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Replication statements a session forwards to the replica role.
pub trait ReplicaControl: Send + Sync + 'static {
    /// Handles one statement if it is a replica-role statement: CHANGE MASTER TO / CHANGE REPLICATION
    /// SOURCE TO, START/STOP REPLICA|SLAVE [IO_THREAD|SQL_THREAD], RESET REPLICA|SLAVE [ALL],
    /// SHOW REPLICA|SLAVE STATUS, SET GLOBAL sql_slave_skip_counter = N. Returns `None` for any other
    /// statement, so that the session handles it.
    fn handle<'a>(&'a self, sql: &'a str) -> BoxFuture<'a, Option<Result<Outcome>>>;

    /// True while client writes must be refused with ERROR 1290 (a replica is read-only).
    fn read_only(&self) -> bool;
}
