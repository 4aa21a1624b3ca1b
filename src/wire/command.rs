//! Command phase: [`Command::parse`] decodes one command packet (seq 0) into a [`Command`].
//!
//! The first payload byte is the command code (`COM_*`); the rest is its argument. Parsing never panics
//! and never allocates by a length read from the packet: a truncated or malformed argument is
//! error 1835 (`Malformed communication packet.`), an empty packet too. Such an error concerns this
//! command only; the framing is intact and the session answers with ERR and goes on. A code the layer
//! does not know is not an error: it is [`Command::Unknown`] (answer ERR 1047 `Unknown command`).

use super::replication::{malformed_packet, BinlogDump, BinlogDumpGtid, RegisterSlave};
use crate::error::{Error, Result};

/// COM_SLEEP (internal to the server; a client sending it gets "Unknown command").
pub const COM_SLEEP: u8 = 0x00;
/// COM_QUIT.
pub const COM_QUIT: u8 = 0x01;
/// COM_INIT_DB.
pub const COM_INIT_DB: u8 = 0x02;
/// COM_QUERY.
pub const COM_QUERY: u8 = 0x03;
/// COM_FIELD_LIST.
pub const COM_FIELD_LIST: u8 = 0x04;
/// COM_STATISTICS.
pub const COM_STATISTICS: u8 = 0x09;
/// COM_PROCESS_KILL.
pub const COM_PROCESS_KILL: u8 = 0x0c;
/// COM_PING.
pub const COM_PING: u8 = 0x0e;
/// COM_BINLOG_DUMP.
pub const COM_BINLOG_DUMP: u8 = 0x12;
/// COM_REGISTER_SLAVE.
pub const COM_REGISTER_SLAVE: u8 = 0x15;
/// COM_STMT_PREPARE.
pub const COM_STMT_PREPARE: u8 = 0x16;
/// COM_STMT_EXECUTE.
pub const COM_STMT_EXECUTE: u8 = 0x17;
/// COM_STMT_SEND_LONG_DATA.
pub const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
/// COM_STMT_CLOSE.
pub const COM_STMT_CLOSE: u8 = 0x19;
/// COM_STMT_RESET.
pub const COM_STMT_RESET: u8 = 0x1a;
/// COM_SET_OPTION.
pub const COM_SET_OPTION: u8 = 0x1b;
/// COM_BINLOG_DUMP_GTID (MySQL).
pub const COM_BINLOG_DUMP_GTID: u8 = 0x1e;
/// COM_RESET_CONNECTION.
pub const COM_RESET_CONNECTION: u8 = 0x1f;

/// COM_SET_OPTION argument: multi-statements on.
pub const MYSQL_OPTION_MULTI_STATEMENTS_ON: u16 = 0;
/// COM_SET_OPTION argument: multi-statements off.
pub const MYSQL_OPTION_MULTI_STATEMENTS_OFF: u16 = 1;

/// One decoded client command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// COM_QUIT: close the connection (no reply).
    Quit,
    /// COM_INIT_DB: `USE db`; reply OK or ERR.
    InitDb(String),
    /// COM_QUERY: SQL text (possibly several statements); reply one result per statement.
    Query(String),
    /// COM_FIELD_LIST: column definitions of a table (deprecated; `mariadb` sends it for completion).
    FieldList {
        /// Table name.
        table: String,
        /// LIKE pattern for column names (may be empty).
        wildcard: String,
    },
    /// COM_STATISTICS: reply a bare text packet (`Uptime: ...`).
    Statistics,
    /// COM_PROCESS_KILL: kill the connection with this id.
    ProcessKill(u32),
    /// COM_PING: reply OK.
    Ping,
    /// COM_RESET_CONNECTION: reset session state; reply OK.
    ResetConnection,
    /// COM_SET_OPTION: `MYSQL_OPTION_MULTI_STATEMENTS_ON/OFF`; reply EOF (or ERR for another value).
    SetOption(u16),
    /// COM_STMT_PREPARE: SQL text with `?` placeholders; reply COM_STMT_PREPARE_OK or ERR.
    StmtPrepare(String),
    /// COM_STMT_EXECUTE: decode `params` with [`super::decode_execute_params`].
    StmtExecute {
        /// Statement id from COM_STMT_PREPARE_OK.
        stmt_id: u32,
        /// Cursor flags (0 = no cursor).
        flags: u8,
        /// Everything after the iteration count: NULL bitmap, new-params-bound flag, types, values.
        params: Vec<u8>,
    },
    /// COM_STMT_SEND_LONG_DATA: append `data` to parameter `param_id` (no reply).
    StmtSendLongData {
        /// Statement id.
        stmt_id: u32,
        /// Parameter index (0-based).
        param_id: u16,
        /// The chunk to append.
        data: Vec<u8>,
    },
    /// COM_STMT_CLOSE: forget the statement (no reply).
    StmtClose(u32),
    /// COM_STMT_RESET: drop accumulated long data; reply OK.
    StmtReset(u32),
    /// COM_REGISTER_SLAVE: reply OK.
    RegisterSlave(RegisterSlave),
    /// COM_BINLOG_DUMP: stream events.
    BinlogDump(BinlogDump),
    /// COM_BINLOG_DUMP_GTID (MySQL flavour).
    BinlogDumpGtid(BinlogDumpGtid),
    /// Any other command code; reply ERR 1047 ([`unknown_command`]).
    Unknown(u8),
}

/// The error for an unsupported command (ER_UNKNOWN_COM_ERROR).
pub fn unknown_command() -> Error {
    Error::sql(1047, "08S01", "Unknown command")
}

/// SQL text from bytes: must be UTF-8 (the connection charset is utf8mb4).
fn sql_text(bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bad: String = bytes[at..].iter().take(8).map(|b| format!("\\x{b:02X}")).collect();
        Error::sql(1300, "HY000", format!("Invalid utf8mb4 character string: '{bad}'"))
    })
}

/// Splits `n` bytes off the front of `rest`.
fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
    if rest.len() < n {
        return Err(malformed_packet());
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn take_u16(rest: &mut &[u8]) -> Result<u16> {
    let b = take(rest, 2)?;
    Ok(u16::from_le_bytes([b[0], b[1]]))
}

fn take_u32(rest: &mut &[u8]) -> Result<u32> {
    let b = take(rest, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

impl Command {
    /// Decodes a command packet payload (first byte = command code).
    pub fn parse(payload: &[u8]) -> Result<Command> {
        let Some((&code, mut rest)) = payload.split_first() else {
            return Err(malformed_packet());
        };
        let cmd = match code {
            COM_QUIT => Command::Quit,
            COM_INIT_DB => Command::InitDb(sql_text(rest)?),
            COM_QUERY => Command::Query(sql_text(rest)?),
            COM_FIELD_LIST => {
                let nul = rest.iter().position(|&b| b == 0).ok_or_else(malformed_packet)?;
                Command::FieldList {
                    table: String::from_utf8_lossy(&rest[..nul]).into_owned(),
                    wildcard: String::from_utf8_lossy(&rest[nul + 1..]).into_owned(),
                }
            }
            COM_STATISTICS => Command::Statistics,
            COM_PROCESS_KILL => Command::ProcessKill(take_u32(&mut rest)?),
            COM_PING => Command::Ping,
            COM_RESET_CONNECTION => Command::ResetConnection,
            COM_SET_OPTION => Command::SetOption(take_u16(&mut rest)?),
            COM_STMT_PREPARE => Command::StmtPrepare(sql_text(rest)?),
            COM_STMT_EXECUTE => {
                let stmt_id = take_u32(&mut rest)?;
                let flags = take(&mut rest, 1)?[0];
                // iteration_count, always 1.
                take_u32(&mut rest)?;
                Command::StmtExecute { stmt_id, flags, params: rest.to_vec() }
            }
            COM_STMT_SEND_LONG_DATA => {
                let stmt_id = take_u32(&mut rest)?;
                let param_id = take_u16(&mut rest)?;
                Command::StmtSendLongData { stmt_id, param_id, data: rest.to_vec() }
            }
            COM_STMT_CLOSE => Command::StmtClose(take_u32(&mut rest)?),
            COM_STMT_RESET => Command::StmtReset(take_u32(&mut rest)?),
            COM_REGISTER_SLAVE => Command::RegisterSlave(RegisterSlave::parse(payload)?),
            COM_BINLOG_DUMP => Command::BinlogDump(BinlogDump::parse(payload)?),
            COM_BINLOG_DUMP_GTID => Command::BinlogDumpGtid(BinlogDumpGtid::parse(payload)?),
            other => Command::Unknown(other),
        };
        Ok(cmd)
    }

    /// The command's name as SHOW PROCESSLIST prints it (`Query`, `Binlog Dump`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Quit => "Quit",
            Command::InitDb(_) => "Init DB",
            Command::Query(_) => "Query",
            Command::FieldList { .. } => "Field List",
            Command::Statistics => "Statistics",
            Command::ProcessKill(_) => "Processlist",
            Command::Ping => "Ping",
            Command::ResetConnection => "Reset connection",
            Command::SetOption(_) => "Set option",
            Command::StmtPrepare(_) => "Prepare",
            Command::StmtExecute { .. } => "Execute",
            Command::StmtSendLongData { .. } => "Long Data",
            Command::StmtClose(_) => "Close stmt",
            Command::StmtReset(_) => "Reset stmt",
            Command::RegisterSlave(_) => "Register Slave",
            Command::BinlogDump(_) => "Binlog Dump",
            Command::BinlogDumpGtid(_) => "Binlog Dump GTID",
            Command::Unknown(_) => "Unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_commands() {
        assert_eq!(Command::parse(b"\x03SELECT 1").unwrap(), Command::Query("SELECT 1".into()));
        assert_eq!(Command::parse(b"\x01").unwrap(), Command::Quit);
        assert_eq!(Command::parse(b"\x0e").unwrap(), Command::Ping);
        assert_eq!(Command::parse(b"\x02db").unwrap(), Command::InitDb("db".into()));
        assert_eq!(Command::parse(b"\x1b\x01\x00").unwrap(), Command::SetOption(1));
        assert_eq!(Command::parse(b"\x0c\x05\x00\x00\x00").unwrap(), Command::ProcessKill(5));
        assert_eq!(Command::parse(b"\x19\x01\x00\x00\x00").unwrap(), Command::StmtClose(1));
        assert_eq!(Command::parse(b"\x1a\x01\x00\x00\x00").unwrap(), Command::StmtReset(1));
        assert_eq!(
            Command::parse(b"\x16SELECT ?").unwrap(),
            Command::StmtPrepare("SELECT ?".into())
        );
        assert_eq!(
            Command::parse(b"\x04t\x00%").unwrap(),
            Command::FieldList { table: "t".into(), wildcard: "%".into() }
        );
        assert_eq!(Command::parse(b"\x63").unwrap(), Command::Unknown(0x63));
    }

    #[test]
    fn stmt_execute_and_long_data() {
        let p = b"\x17\x07\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01\x08\x00";
        assert_eq!(
            Command::parse(p).unwrap(),
            Command::StmtExecute { stmt_id: 7, flags: 0, params: vec![0, 1, 8, 0] }
        );
        let p = b"\x18\x07\x00\x00\x00\x02\x00abc";
        assert_eq!(
            Command::parse(p).unwrap(),
            Command::StmtSendLongData { stmt_id: 7, param_id: 2, data: b"abc".to_vec() }
        );
    }

    #[test]
    fn malformed_is_1835_never_panic() {
        for p in
            [&b""[..], b"\x0c\x01", b"\x17\x01\x00", b"\x1b", b"\x04tab", b"\x15\x01", b"\x12\x01"]
        {
            assert_eq!(Command::parse(p).unwrap_err().to_mysql().0, 1835, "{p:?}");
        }
        assert_eq!(Command::parse(b"\x03\xff\xfe").unwrap_err().to_mysql().0, 1300);
    }
}
