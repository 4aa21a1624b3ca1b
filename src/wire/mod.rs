//! The server side of the MySQL client/server protocol, on mysql_common's packet types.
//!
//! The layer knows packets, not SQL: a session loop (in `primary`) drives it.
//!
//! ```text
//! accept -> PacketConn::new(stream)
//!        -> server_handshake(&mut conn, HandshakeParams { .. })      -> ClientInfo (user, db, caps)
//!        -> loop {
//!             payload = conn.read_command()?   (None: client went away)
//!             match Command::parse(&payload) {   (Err: write_error, continue)
//!               Query(sql)        -> write_result_set / write_ok / write_err per statement
//!               StmtPrepare(sql)  -> write_prepare_ok
//!               StmtExecute{..}   -> decode_execute_params -> write_result_set(binary = true) / write_ok
//!               BinlogDump(d)     -> write_binlog_event* ; flush ; write_binlog_eof / write_err
//!               Quit              -> break
//!               ...
//!             }
//!           }
//! ```
//!
//! Files: `conn` (framing, sequence ids, max_allowed_packet), `handshake` (HandshakeV10, auth plugins,
//! accounts), `command` (command decoding), `results` (OK/ERR/EOF, column definitions, result sets),
//! `values` (text and binary cell encodings of [`crate::sql::Value`]), `prepared` (COM_STMT_* replies,
//! parameter decoding, SQL literals), `replication` (COM_REGISTER_SLAVE / COM_BINLOG_DUMP, dump framing).
//!
//! Invariants kept by every writer: one packet per call with the connection's next sequence id; output
//! is buffered and flushed before the next read (or by [`PacketConn::flush`]); `CLIENT_DEPRECATE_EOF`
//! (in the negotiated capabilities passed as `caps`) replaces every EOF packet of a result set by the
//! 0xfe OK terminator. Nothing read from the socket can make this layer panic: malformed input is an
//! [`crate::Error::Sql`] with the MySQL code a client expects.

mod command;
mod conn;
mod handshake;
mod prepared;
mod replication;
mod results;
mod values;

pub use command::*;
pub use conn::*;
pub use handshake::*;
pub use prepared::*;
pub use replication::*;
pub use results::*;
pub use values::*;
