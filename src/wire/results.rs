//! Response packets: OK, ERR, EOF, column definitions and result sets (text and binary rows).
//!
//! A result set on the wire is: column count (lenenc int), one column-definition packet per column, an
//! EOF packet (omitted when the client negotiated `CLIENT_DEPRECATE_EOF`), one packet per row, then a
//! terminator: a classic EOF packet, or with `CLIENT_DEPRECATE_EOF` an OK packet whose header byte is
//! 0xfe. The status flags of the terminator tell the client whether more results follow
//! ([`SERVER_MORE_RESULTS_EXISTS`]) and the transaction state ([`SERVER_STATUS_IN_TRANS`],
//! [`SERVER_STATUS_AUTOCOMMIT`]).
//!
//! Text rows carry each value as a length-encoded string (0xfb for NULL), in MariaDB's text form
//! ([`text_value`]); binary rows (prepared statements) carry a NULL bitmap and each value in the binary
//! form of its column type ([`binary_value`]).
//!
//! This module never sends the session-tracking part of OK packets (`CLIENT_SESSION_TRACK` is not
//! offered in the handshake).

use super::conn::PacketConn;
use super::handshake::CLIENT_DEPRECATE_EOF;
use super::values::{binary_value, text_value};
use crate::error::{Error, Result};
use crate::sql::{ColumnInfo, ResultSet};
use mysql_common::io::BufMutExt;
use mysql_common::packets::{ErrPacket, NullBitmap, ServerError, SqlState};
use mysql_common::proto::MySerialize;
use mysql_common::value::ServerSide;
use tokio::io::{AsyncRead, AsyncWrite};

/// Status flag: a transaction is open.
pub const SERVER_STATUS_IN_TRANS: u16 = 0x0001;
/// Status flag: autocommit is on.
pub const SERVER_STATUS_AUTOCOMMIT: u16 = 0x0002;
/// Status flag: another result (of a multi-statement query) follows this one.
pub const SERVER_MORE_RESULTS_EXISTS: u16 = 0x0008;
/// Status flag: the query did not use a good index.
pub const SERVER_STATUS_NO_GOOD_INDEX_USED: u16 = 0x0010;
/// Status flag: the query used no index.
pub const SERVER_STATUS_NO_INDEX_USED: u16 = 0x0020;
/// Status flag: the last row of a cursor was sent.
pub const SERVER_STATUS_LAST_ROW_SENT: u16 = 0x0080;
/// Status flag: the current database was dropped.
pub const SERVER_STATUS_DB_DROPPED: u16 = 0x0100;
/// Status flag: `NO_BACKSLASH_ESCAPES` is in the session's sql_mode.
pub const SERVER_STATUS_NO_BACKSLASH_ESCAPES: u16 = 0x0200;
/// Status flag: the open transaction is read-only.
pub const SERVER_STATUS_IN_TRANS_READONLY: u16 = 0x2000;

/// What an OK packet reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OkInfo {
    /// Rows affected by the statement.
    pub affected_rows: u64,
    /// LAST_INSERT_ID to report (0 when none).
    pub last_insert_id: u64,
    /// Server status flags (`SERVER_STATUS_*`).
    pub status_flags: u16,
    /// Warning count.
    pub warnings: u16,
    /// Human-readable info (e.g. `Records: 3  Duplicates: 0  Warnings: 0`), or empty.
    pub info: String,
}

/// Encodes an OK packet payload with the given header byte (0x00, or 0xfe as a result-set terminator).
pub fn encode_ok(header: u8, ok: &OkInfo) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + ok.info.len());
    out.push(header);
    out.put_lenenc_int(ok.affected_rows);
    out.put_lenenc_int(ok.last_insert_id);
    out.extend_from_slice(&ok.status_flags.to_le_bytes());
    out.extend_from_slice(&ok.warnings.to_le_bytes());
    // MariaDB (net_send_ok) sends a non-empty message as a length-encoded string even without
    // CLIENT_SESSION_TRACK, and libmariadb parses it that way (a bare string fails with 2027).
    if !ok.info.is_empty() {
        out.put_lenenc_int(ok.info.len() as u64);
        out.extend_from_slice(ok.info.as_bytes());
    }
    out
}

/// Encodes an ERR packet payload (protocol 4.1: with `#` and the SQLSTATE).
pub fn encode_err(code: u16, sqlstate: &str, msg: &str) -> Vec<u8> {
    let mut state = [b'H', b'Y', b'0', b'0', b'0'];
    if sqlstate.len() == 5 && sqlstate.is_ascii() {
        state.copy_from_slice(sqlstate.as_bytes());
    }
    let err = ErrPacket::Error(ServerError::new(code, Some(SqlState::new(state)), msg.as_bytes()));
    let mut out = Vec::with_capacity(9 + msg.len());
    err.serialize(&mut out);
    out
}

/// Encodes a classic EOF packet payload: `fe warnings u16 status u16`.
pub fn encode_eof(warnings: u16, status_flags: u16) -> Vec<u8> {
    let mut out = vec![0xfe];
    out.extend_from_slice(&warnings.to_le_bytes());
    out.extend_from_slice(&status_flags.to_le_bytes());
    out
}

/// Sends an OK packet.
pub async fn write_ok<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut PacketConn<S>,
    ok: &OkInfo,
) -> Result<()> {
    conn.write_packet(&encode_ok(0x00, ok)).await
}

/// Sends an ERR packet with a MySQL error code, SQLSTATE (5 characters; `HY000` if malformed) and message.
pub async fn write_err<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut PacketConn<S>,
    code: u16,
    sqlstate: &str,
    msg: &str,
) -> Result<()> {
    conn.write_packet(&encode_err(code, sqlstate, msg)).await
}

/// Sends an ERR packet without the `#SQLSTATE` part, as the server does before the handshake has agreed
/// on CLIENT_PROTOCOL_41 (e.g. ERROR 1040 `Too many connections` instead of a greeting).
pub async fn write_err_without_state<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut PacketConn<S>,
    code: u16,
    msg: &str,
) -> Result<()> {
    let mut p = Vec::with_capacity(3 + msg.len());
    p.push(0xff);
    p.extend_from_slice(&code.to_le_bytes());
    p.extend_from_slice(msg.as_bytes());
    conn.write_packet(&p).await
}

/// Sends an ERR packet for a crate error ([`Error::to_mysql`] gives code, SQLSTATE and message).
pub async fn write_error<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut PacketConn<S>,
    err: &Error,
) -> Result<()> {
    let (code, state, msg) = err.to_mysql();
    write_err(conn, code, &state, &msg).await
}

/// Sends a classic EOF packet (`fe warnings status`), e.g. the end of a NON_BLOCK binlog dump.
pub async fn write_eof<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut PacketConn<S>,
    warnings: u16,
    status_flags: u16,
) -> Result<()> {
    conn.write_packet(&encode_eof(warnings, status_flags)).await
}

/// Sends the end of a block of column definitions (or of rows): an EOF packet, or nothing with
/// `CLIENT_DEPRECATE_EOF` (where the row terminator is the 0xfe OK, see [`write_end_of_rows`]).
pub async fn write_end_of_columns<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut PacketConn<S>,
    caps: u32,
    status_flags: u16,
) -> Result<()> {
    if caps & CLIENT_DEPRECATE_EOF == 0 {
        write_eof(conn, 0, status_flags).await?;
    }
    Ok(())
}

/// Sends the terminator after the rows of a result set: an EOF packet, or with `CLIENT_DEPRECATE_EOF`
/// an OK packet with header 0xfe.
pub async fn write_end_of_rows<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut PacketConn<S>,
    caps: u32,
    status_flags: u16,
    warnings: u16,
) -> Result<()> {
    if caps & CLIENT_DEPRECATE_EOF == 0 {
        write_eof(conn, warnings, status_flags).await
    } else {
        let ok = OkInfo { status_flags, warnings, ..Default::default() };
        conn.write_packet(&encode_ok(0xfe, &ok)).await
    }
}

/// Encodes a protocol-4.1 column definition packet payload.
pub fn encode_column_def(col: &ColumnInfo) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(32 + col.name.len() * 2 + col.table.len() * 2 + col.schema.len());
    for s in ["def", &col.schema, &col.table, &col.org_table, &col.name, &col.org_name] {
        out.put_lenenc_str(s.as_bytes());
    }
    out.push(0x0c);
    out.extend_from_slice(&col.charset.to_le_bytes());
    out.extend_from_slice(&col.length.to_le_bytes());
    out.push(col.column_type.code());
    out.extend_from_slice(&col.flags.to_le_bytes());
    out.push(col.decimals);
    out.extend_from_slice(&[0, 0]);
    out
}

/// Sends the column definitions of a result set or prepared statement (no count, no terminator).
pub async fn write_column_defs<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut PacketConn<S>,
    columns: &[ColumnInfo],
) -> Result<()> {
    for col in columns {
        conn.write_packet(&encode_column_def(col)).await?;
    }
    Ok(())
}

/// Answers COM_FIELD_LIST: one column definition per column (each followed by an empty default value)
/// and the terminator.
pub async fn write_field_list<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut PacketConn<S>,
    columns: &[ColumnInfo],
    caps: u32,
    status_flags: u16,
) -> Result<()> {
    for col in columns {
        let mut def = encode_column_def(col);
        def.put_lenenc_int(0);
        conn.write_packet(&def).await?;
    }
    write_end_of_rows(conn, caps, status_flags, 0).await
}

/// Encodes one text-protocol row: each value as a lenenc string, 0xfb for NULL.
pub fn encode_text_row(columns: &[ColumnInfo], row: &[crate::sql::Value]) -> Vec<u8> {
    let mut out = Vec::with_capacity(row.len() * 8);
    for (i, v) in row.iter().enumerate() {
        match columns.get(i).and_then(|c| text_value(v, c)).or_else(|| text_value_plain(v)) {
            Some(text) => {
                out.put_lenenc_str(&text);
            }
            None => out.push(0xfb),
        }
    }
    out
}

/// Text form of a value with no column to guide it (a row longer than its column list).
fn text_value_plain(v: &crate::sql::Value) -> Option<Vec<u8>> {
    super::values::text_value_untyped(v)
}

/// Encodes one binary-protocol row: `00`, NULL bitmap (offset 2), then each non-NULL value in the
/// binary form of its column's type.
pub fn encode_binary_row(columns: &[ColumnInfo], row: &[crate::sql::Value]) -> Vec<u8> {
    let mut bitmap = NullBitmap::<ServerSide>::new(columns.len());
    let mut values = Vec::with_capacity(columns.len() * 8);
    for (i, col) in columns.iter().enumerate() {
        let v = row.get(i).unwrap_or(&crate::sql::Value::Null);
        if !binary_value(v, col, &mut values) {
            bitmap.set(i, true);
        }
    }
    let mut out = Vec::with_capacity(1 + bitmap.as_ref().len() + values.len());
    out.push(0x00);
    out.extend_from_slice(bitmap.as_ref());
    out.extend_from_slice(&values);
    out
}

/// Sends a whole result set: column count, definitions, [EOF], rows (text, or binary for prepared
/// statements), terminator carrying `status_flags`. A result set with no columns is sent as an OK packet.
pub async fn write_result_set<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut PacketConn<S>,
    rs: &ResultSet,
    caps: u32,
    status_flags: u16,
    binary: bool,
) -> Result<()> {
    if rs.columns.is_empty() {
        return write_ok(conn, &OkInfo { status_flags, ..Default::default() }).await;
    }
    let mut count = Vec::with_capacity(9);
    count.put_lenenc_int(rs.columns.len() as u64);
    conn.write_packet(&count).await?;
    write_column_defs(conn, &rs.columns).await?;
    write_end_of_columns(conn, caps, status_flags).await?;
    for row in &rs.rows {
        let payload = if binary {
            encode_binary_row(&rs.columns, row)
        } else {
            encode_text_row(&rs.columns, row)
        };
        conn.write_packet(&payload).await?;
    }
    write_end_of_rows(conn, caps, status_flags, 0).await
}

/// Reads a length-encoded integer from the front of `input`, advancing it; `None` if truncated.
pub fn read_lenenc_int(input: &mut &[u8]) -> Option<u64> {
    let (&first, rest) = input.split_first()?;
    let width = match first {
        0xfc => 2,
        0xfd => 3,
        0xfe => 8,
        0xfb | 0xff => return None,
        n => {
            *input = rest;
            return Some(u64::from(n));
        }
    };
    if rest.len() < width {
        return None;
    }
    let mut bytes = [0u8; 8];
    bytes[..width].copy_from_slice(&rest[..width]);
    *input = &rest[width..];
    Some(u64::from_le_bytes(bytes))
}

/// Reads a length-encoded string from the front of `input`, advancing it; `None` if truncated.
pub fn read_lenenc_bytes<'a>(input: &mut &'a [u8]) -> Option<&'a [u8]> {
    let mut rest = *input;
    let len = read_lenenc_int(&mut rest)?;
    let len = usize::try_from(len).ok()?;
    if rest.len() < len {
        return None;
    }
    let (s, tail) = rest.split_at(len);
    *input = tail;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::{ColumnType, Value};

    fn col(name: &str, ty: ColumnType) -> ColumnInfo {
        ColumnInfo {
            schema: String::new(),
            table: String::new(),
            org_table: String::new(),
            name: name.into(),
            org_name: String::new(),
            column_type: ty,
            length: 11,
            flags: 0,
            decimals: 0,
            charset: 63,
        }
    }

    #[test]
    fn ok_packet_bytes() {
        let ok = OkInfo {
            affected_rows: 3,
            last_insert_id: 300,
            status_flags: 2,
            warnings: 1,
            info: "x".into(),
        };
        assert_eq!(encode_ok(0, &ok), vec![0, 3, 0xfc, 0x2c, 0x01, 2, 0, 1, 0, 1, b'x']);
    }

    #[test]
    fn err_packet_bytes() {
        let e = encode_err(1045, "28000", "no");
        assert_eq!(e, b"\xff\x15\x04#28000no".to_vec());
        assert_eq!(&encode_err(1, "bad", "m")[3..9], b"#HY000");
    }

    #[test]
    fn eof_packet_bytes() {
        assert_eq!(encode_eof(0, 2), vec![0xfe, 0, 0, 2, 0]);
    }

    #[test]
    fn column_def_layout_parses_back_with_mysql_common() {
        let mut c = col("k", ColumnType::Long);
        c.schema = "db".into();
        c.table = "t".into();
        c.org_table = "t".into();
        c.org_name = "k".into();
        c.flags = 0x1001;
        c.charset = 63;
        let bytes = encode_column_def(&c);
        let parsed: mysql_common::packets::Column =
            mysql_common::proto::MyDeserialize::deserialize(
                (),
                &mut mysql_common::io::ParseBuf(&bytes),
            )
            .unwrap();
        assert_eq!(parsed.name_str(), "k");
        assert_eq!(parsed.schema_str(), "db");
        assert_eq!(parsed.column_length(), 11);
        assert_eq!(parsed.character_set(), 63);
        assert_eq!(parsed.column_type() as u8, 3);
        assert_eq!(parsed.flags().bits(), 0x1001);
    }

    #[test]
    fn text_row_with_null() {
        let cols = [col("a", ColumnType::LongLong), col("b", ColumnType::VarString)];
        let row = encode_text_row(&cols, &[Value::Int(-5), Value::Null]);
        assert_eq!(row, vec![2, b'-', b'5', 0xfb]);
    }

    #[test]
    fn binary_row_with_null_bitmap() {
        let cols = [
            col("a", ColumnType::Null),
            col("b", ColumnType::Long),
            col("c", ColumnType::VarString),
        ];
        let row =
            encode_binary_row(&cols, &[Value::Null, Value::Int(7), Value::Bytes(b"hi".to_vec())]);
        // bit (0 + 2) set for the NULL in column 0.
        assert_eq!(row, vec![0, 0b0000_0100, 7, 0, 0, 0, 2, b'h', b'i']);
    }

    #[test]
    fn lenenc_roundtrip() {
        for n in [0u64, 250, 251, 0xffff, 0x10000, 0xffffff, 0x1000000, u64::MAX] {
            let mut buf = Vec::new();
            buf.put_lenenc_int(n);
            let mut s = &buf[..];
            assert_eq!(read_lenenc_int(&mut s), Some(n));
            assert!(s.is_empty());
            assert_eq!(read_lenenc_int(&mut &buf[..buf.len() - 1]), None);
        }
    }
}
