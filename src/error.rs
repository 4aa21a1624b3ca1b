//! One error type for the whole crate, organised by meaning (toyDB's `src/error.rs`).
//!
//! * [`Error::Sql`] is an error a MySQL client must see: it carries the MySQL error code, the SQLSTATE and
//!   the message, exactly as an ERR packet sends them. The SQL engine returns these for bad input.
//! * [`Error::InvalidInput`] / [`Error::InvalidData`] are bad input from a user (config, flags) and corrupt
//!   data read from disk or the network (a bad CRC, a truncated event).
//! * [`Error::Io`] is an operating-system failure (disk full, connection reset).
//! * [`Error::LogPurged`] / [`Error::PositionNotFound`] are binary-log positions that cannot be served.
//!
//! Panics are reserved for bugs; nothing read from a file or a socket may cause one.

use std::fmt;

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// A MySQL error as a client sees it: code, SQLSTATE and message.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SqlError {
    /// MySQL error number, e.g. 1064 (parse error) or 1062 (duplicate key).
    pub code: u16,
    /// Five-character SQLSTATE, e.g. `42000`.
    pub state: String,
    /// Human-readable message, as MySQL words it where we know its wording.
    pub message: String,
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ERROR {} ({}): {}", self.code, self.state, self.message)
    }
}

/// Every error repld produces, by meaning.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Error {
    /// An SQL-level error reported to clients with its MySQL code.
    #[error("{0}")]
    Sql(SqlError),
    /// Invalid user input outside SQL: a config value, a flag, a command argument.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Corrupt or unexpected data read from disk or from the network.
    #[error("invalid data: {0}")]
    InvalidData(String),
    /// An I/O failure of the operating system.
    #[error("io error: {0}")]
    Io(String),
    /// A binary-log position or GTID that no longer exists because its file was purged.
    #[error("log purged: {0}")]
    LogPurged(String),
    /// A binary-log position or GTID that does not exist (yet).
    #[error("position not found: {0}")]
    PositionNotFound(String),
    /// The operation was aborted because the server is shutting down or a peer went away.
    #[error("aborted: {0}")]
    Abort(String),
    /// A write statement ran under row locking ([`crate::sql::LockMode::Rows`]) and touched rows that
    /// another transaction holds (`keys`), or needs the exclusive lock; it left nothing behind. The
    /// server waits for them and runs the statement again; clients never see this error.
    #[error("statement needs locks held by another transaction")]
    LockNeeded {
        /// Row keys held by another transaction.
        keys: Vec<Vec<u8>>,
        /// The statement needs the exclusive lock.
        exclusive: bool,
    },
}

impl Error {
    /// An SQL error with the given MySQL code, SQLSTATE and message.
    pub fn sql(code: u16, state: &str, message: impl Into<String>) -> Self {
        Error::Sql(SqlError { code, state: state.to_string(), message: message.into() })
    }

    /// The MySQL code, SQLSTATE and message to put into an ERR packet for this error.
    pub fn to_mysql(&self) -> (u16, String, String) {
        match self {
            Error::Sql(e) => (e.code, e.state.clone(), e.message.clone()),
            Error::InvalidInput(m) => (1210, "HY000".into(), m.clone()),
            Error::InvalidData(m) => (1594, "HY000".into(), m.clone()),
            Error::Io(m) => (1026, "HY000".into(), format!("Error writing file: {m}")),
            Error::LogPurged(m) | Error::PositionNotFound(m) => (1236, "HY000".into(), m.clone()),
            Error::Abort(m) => (1053, "08S01".into(), m.clone()),
            Error::LockNeeded { .. } => (
                1205,
                "HY000".into(),
                "Lock wait timeout exceeded; try restarting transaction".into(),
            ),
        }
    }

    /// True when executing the same statement again on the same data gives the same error, so that a
    /// replica may treat it as a property of the transaction; false for environmental failures (I/O,
    /// shutdown) after which an applier must stop and retry, never skip.
    pub fn is_deterministic(&self) -> bool {
        matches!(self, Error::Sql(_) | Error::InvalidInput(_))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        Error::Io(format!("store: {e}"))
    }
}

/// Returns an [`Error::Sql`] from the current function: `return errsql!(1146, "42S02", "Table '{}' doesn't exist", t)`.
#[macro_export]
macro_rules! errsql {
    ($code:expr, $state:expr, $($args:tt)*) => { Err($crate::error::Error::sql($code, $state, format!($($args)*))) };
}

/// Returns an [`Error::InvalidInput`]: `return errinput!("bad value {}", v)`.
#[macro_export]
macro_rules! errinput {
    ($($args:tt)*) => { Err($crate::error::Error::InvalidInput(format!($($args)*))) };
}

/// Returns an [`Error::InvalidData`]: `return errdata!("bad CRC at {}:{}", file, pos)`.
#[macro_export]
macro_rules! errdata {
    ($($args:tt)*) => { Err($crate::error::Error::InvalidData(format!($($args)*))) };
}
