//! Prepared statements: COM_STMT_PREPARE_OK, COM_STMT_EXECUTE parameter decoding, and rendering
//! parameters as SQL literals (a prepared write is logged as text with its parameters inlined).
//!
//! COM_STMT_EXECUTE parameters (after stmt id, flags, iteration count):
//! `null_bitmap[(n+7)/8] | new_params_bound u8 | [type u8, flags u8] × n if bound | values`.
//! The types are sent only when the client (re)binds; later executions reuse them, so the caller keeps
//! them per statement (`bound_types`, one `u16` per parameter: type code | 0x8000 for unsigned). A
//! parameter that received COM_STMT_SEND_LONG_DATA has no value in the packet; its value is the long data.
//!
//! Rendering literals ([`value_to_sql_literal`]) assumes the default sql_mode (backslash escapes on);
//! [`value_to_sql_literal_mode`] handles `NO_BACKSLASH_ESCAPES`. Strings that are not valid UTF-8 become
//! hex literals `X'..'`. [`inline_params`] substitutes literals for the `?` placeholders of a statement,
//! skipping `?` inside quotes, backticks and comments ([`count_placeholders`] counts them the same way).

use super::conn::PacketConn;
use super::results::{
    read_lenenc_bytes, write_column_defs, write_end_of_columns, SERVER_STATUS_AUTOCOMMIT,
};
use super::values::{
    datetime_micros, datetime_parts, format_date, format_datetime, format_double, DateTimeParts,
};
use crate::error::{Error, Result};
use crate::sql::{ColumnInfo, ColumnType, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use tokio::io::{AsyncRead, AsyncWrite};

/// Bound-type flag: the parameter is unsigned (high byte 0x80 of the wire type pair).
pub const PARAM_UNSIGNED: u16 = 0x8000;

/// The error for bad COM_STMT_EXECUTE parameters (ER_WRONG_ARGUMENTS).
pub fn wrong_arguments() -> Error {
    Error::sql(1210, "HY000", "Incorrect arguments to mysqld_stmt_execute")
}

/// The column definition sent for each `?` in COM_STMT_PREPARE_OK (type unknown before execution).
pub fn placeholder_param() -> ColumnInfo {
    ColumnInfo {
        schema: String::new(),
        table: String::new(),
        org_table: String::new(),
        name: "?".into(),
        org_name: String::new(),
        column_type: ColumnType::VarString,
        length: 0,
        flags: 128,
        decimals: 0,
        charset: 63,
    }
}

/// Encodes the COM_STMT_PREPARE_OK header packet.
pub fn encode_prepare_ok(
    stmt_id: u32,
    num_columns: u16,
    num_params: u16,
    warnings: u16,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(12);
    out.push(0x00);
    out.extend_from_slice(&stmt_id.to_le_bytes());
    out.extend_from_slice(&num_columns.to_le_bytes());
    out.extend_from_slice(&num_params.to_le_bytes());
    out.push(0x00);
    out.extend_from_slice(&warnings.to_le_bytes());
    out
}

/// Answers COM_STMT_PREPARE: the OK header, then the parameter definitions and the result column
/// definitions, each block followed by EOF unless `CLIENT_DEPRECATE_EOF` (empty blocks are omitted).
/// `params` is usually `vec![placeholder_param(); n]`; `columns` may be empty (writes, or unknown).
pub async fn write_prepare_ok<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut PacketConn<S>,
    stmt_id: u32,
    params: &[ColumnInfo],
    columns: &[ColumnInfo],
    caps: u32,
) -> Result<()> {
    let n_params = u16::try_from(params.len()).map_err(|_| {
        Error::sql(1390, "HY000", "Prepared statement contains too many placeholders")
    })?;
    let n_cols =
        u16::try_from(columns.len()).map_err(|_| Error::sql(1117, "HY000", "Too many columns"))?;
    conn.write_packet(&encode_prepare_ok(stmt_id, n_cols, n_params, 0)).await?;
    for block in [params, columns] {
        if !block.is_empty() {
            write_column_defs(conn, block).await?;
            write_end_of_columns(conn, caps, SERVER_STATUS_AUTOCOMMIT).await?;
        }
    }
    Ok(())
}

/// A cursor over parameter bytes; running out is [`wrong_arguments`].
struct Cells<'a>(&'a [u8]);

impl<'a> Cells<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(wrong_arguments());
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn lenenc(&mut self) -> Result<&'a [u8]> {
        read_lenenc_bytes(&mut self.0).ok_or_else(wrong_arguments)
    }
}

/// Decodes the parameter values of a COM_STMT_EXECUTE (`params` as in
/// [`super::Command::StmtExecute`]) for a statement with `param_count` placeholders. `bound_types` holds
/// the types of the previous execution and is updated when the client sends new ones; `long_data` maps
/// parameter index to data accumulated by COM_STMT_SEND_LONG_DATA.
pub fn decode_execute_params(
    params: &[u8],
    param_count: usize,
    bound_types: &mut Vec<u16>,
    long_data: &BTreeMap<u16, Vec<u8>>,
) -> Result<Vec<Value>> {
    if param_count == 0 {
        return Ok(Vec::new());
    }
    let mut cells = Cells(params);
    let null_bitmap = cells.take(param_count.div_ceil(8))?;
    let new_bound = cells.take(1)?[0];
    if new_bound == 1 {
        let types = cells.take(param_count * 2)?;
        bound_types.clear();
        bound_types
            .extend(types.chunks_exact(2).map(|t| u16::from(t[0]) | (u16::from(t[1] & 0x80) << 8)));
    } else if bound_types.len() != param_count {
        return Err(wrong_arguments());
    }
    let mut values = Vec::with_capacity(param_count);
    for (i, &ty) in bound_types.iter().enumerate() {
        let is_null = null_bitmap[i / 8] & (1 << (i % 8)) != 0;
        let value = match long_data.get(&(i as u16)) {
            Some(data) => long_data_value(ty, data),
            None if is_null => Value::Null,
            None => decode_cell(ty, &mut cells)?,
        };
        values.push(value);
    }
    Ok(values)
}

/// The value of a parameter sent as long data.
fn long_data_value(ty: u16, data: &[u8]) -> Value {
    match ty & 0xff {
        0x00 | 0xf6 => decimal_or_bytes(data),
        _ => Value::Bytes(data.to_vec()),
    }
}

fn decimal_or_bytes(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) if is_decimal_literal(s) => Value::Decimal(s.to_string()),
        _ => Value::Bytes(b.to_vec()),
    }
}

/// True for `[-+]digits[.digits]` (what a DECIMAL parameter or value must look like).
pub fn is_decimal_literal(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    !(int.is_empty() && frac.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// Decodes one binary-protocol parameter value of bound type `ty`.
fn decode_cell(ty: u16, cells: &mut Cells<'_>) -> Result<Value> {
    let unsigned = ty & PARAM_UNSIGNED != 0;
    let int = |n: i64, u: u64| if unsigned { Value::UInt(u) } else { Value::Int(n) };
    Ok(match ty & 0xff {
        0x06 => Value::Null,
        0x01 => {
            let [b] = cells.fixed::<1>()?;
            int(i64::from(b as i8), u64::from(b))
        }
        0x02 | 0x0d => {
            let v = cells.fixed::<2>()?;
            int(i64::from(i16::from_le_bytes(v)), u64::from(u16::from_le_bytes(v)))
        }
        0x03 | 0x09 => {
            let v = cells.fixed::<4>()?;
            int(i64::from(i32::from_le_bytes(v)), u64::from(u32::from_le_bytes(v)))
        }
        0x08 => {
            let v = cells.fixed::<8>()?;
            int(i64::from_le_bytes(v), u64::from_le_bytes(v))
        }
        0x04 => Value::Double(f64::from(f32::from_le_bytes(cells.fixed::<4>()?))),
        0x05 => Value::Double(f64::from_le_bytes(cells.fixed::<8>()?)),
        0x07 | 0x0a | 0x0c => decode_datetime(ty & 0xff == 0x0a, cells)?,
        0x0b => decode_time(cells)?,
        0x00 | 0xf6 => decimal_or_bytes(cells.lenenc()?),
        0x0f | 0x10 | 0xf5 | 0xf7 | 0xf8 | 0xf9 | 0xfa | 0xfb | 0xfc | 0xfd | 0xfe | 0xff => {
            Value::Bytes(cells.lenenc()?.to_vec())
        }
        _ => return Err(wrong_arguments()),
    })
}

/// DATE / DATETIME / TIMESTAMP cell: length 0, 4, 7 or 11, then the fields. Values that are no valid
/// calendar date (zero dates, month 13) come back as their text, for the engine to judge.
fn decode_datetime(date_only: bool, cells: &mut Cells<'_>) -> Result<Value> {
    let len = cells.take(1)?[0] as usize;
    let b = cells.take(len)?;
    let mut p = DateTimeParts::default();
    if len >= 4 {
        p.year = i64::from(u16::from_le_bytes([b[0], b[1]]));
        p.month = u32::from(b[2]);
        p.day = u32::from(b[3]);
    }
    if len >= 7 {
        p.hour = u32::from(b[4]);
        p.minute = u32::from(b[5]);
        p.second = u32::from(b[6]);
    }
    if len >= 11 {
        p.micro = u32::from_le_bytes([b[7], b[8], b[9], b[10]]);
    }
    let date_value = date_only || (len <= 4 && p.hour == 0);
    match datetime_micros(&p) {
        Some(_) if date_value => Ok(Value::Date(p.year as i32, p.month, p.day)),
        Some(us) => Ok(Value::DateTime(us)),
        None if date_value => Ok(Value::Bytes(format_date(p.year, p.month, p.day).into_bytes())),
        None => {
            Ok(Value::Bytes(format_datetime(&p, if p.micro != 0 { 6 } else { 0 }).into_bytes()))
        }
    }
}

/// TIME cell: length 0, 8 or 12: negative u8, days u32, hour, minute, second, [micro u32]. There is no
/// TIME value kind, so it becomes its text `[-]HHH:MM:SS[.ffffff]`.
fn decode_time(cells: &mut Cells<'_>) -> Result<Value> {
    let len = cells.take(1)?[0] as usize;
    let b = cells.take(len)?;
    if len < 8 {
        return Ok(Value::Bytes(b"00:00:00".to_vec()));
    }
    let neg = b[0] != 0;
    let days = u64::from(u32::from_le_bytes([b[1], b[2], b[3], b[4]]));
    let hours = days * 24 + u64::from(b[5]);
    let mut s = format!("{}{:02}:{:02}:{:02}", if neg { "-" } else { "" }, hours, b[6], b[7]);
    if len >= 12 {
        let micro = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
        if micro != 0 {
            let _ = write!(s, ".{micro:06}");
        }
    }
    Ok(Value::Bytes(s.into_bytes()))
}

/// `v` as an SQL literal for the default sql_mode (backslash escapes on). See
/// [`value_to_sql_literal_mode`].
pub fn value_to_sql_literal(v: &Value) -> String {
    value_to_sql_literal_mode(v, false)
}

/// `v` as an SQL literal that MySQL/MariaDB (and our engine) parse back to the same value: `NULL`,
/// integers, doubles in shortest round-trip form (non-finite ones, which SQL cannot hold, as `NULL`),
/// decimals as digits, dates and datetimes quoted, strings quoted with `'` doubled and (unless
/// `no_backslash_escapes`) backslash, NUL, CR, LF and Ctrl-Z escaped; non-UTF-8 bytes as `X'hex'`.
pub fn value_to_sql_literal_mode(v: &Value, no_backslash_escapes: bool) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Double(d) if d.is_finite() => format_double(*d, false),
        Value::Double(_) => "NULL".into(),
        Value::Decimal(s) if is_decimal_literal(s) => s.clone(),
        Value::Decimal(s) => quote_str(s, no_backslash_escapes),
        Value::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => quote_str(s, no_backslash_escapes),
            Err(_) => {
                let mut out = String::with_capacity(3 + b.len() * 2);
                out.push_str("X'");
                for byte in b {
                    let _ = write!(out, "{byte:02X}");
                }
                out.push('\'');
                out
            }
        },
        Value::Date(y, m, d) => format!("'{}'", format_date(i64::from(*y), *m, *d)),
        Value::DateTime(us) => {
            let p = datetime_parts(*us);
            format!("'{}'", format_datetime(&p, if p.micro != 0 { 6 } else { 0 }))
        }
    }
}

/// A quoted string literal.
fn quote_str(s: &str, no_backslash_escapes: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' if !no_backslash_escapes => out.push_str("\\\\"),
            '\0' if !no_backslash_escapes => out.push_str("\\0"),
            '\n' if !no_backslash_escapes => out.push_str("\\n"),
            '\r' if !no_backslash_escapes => out.push_str("\\r"),
            '\u{1a}' if !no_backslash_escapes => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Byte offsets of the `?` placeholders in `sql` (outside quotes, backticks and comments).
pub fn placeholder_offsets(sql: &str, no_backslash_escapes: bool) -> Vec<usize> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < b.len() {
                    if b[i] == b'\\' && q != b'`' && !no_backslash_escapes {
                        i += 2;
                        continue;
                    }
                    if b[i] == q {
                        if b.get(i + 1) == Some(&q) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'#' => i = skip_line(b, i),
            b'-' if b.get(i + 1) == Some(&b'-')
                && b.get(i + 2).is_none_or(|c| c.is_ascii_whitespace()) =>
            {
                i = skip_line(b, i)
            }
            b'/' if b.get(i + 1) == Some(&b'*') && b.get(i + 2) != Some(&b'!') => {
                i = match sql[i + 2..].find("*/") {
                    Some(end) => i + 2 + end + 2,
                    None => b.len(),
                }
            }
            b'?' => {
                out.push(i);
                i += 1;
            }
            _ => i += 1,
        }
    }
    out
}

fn skip_line(b: &[u8], i: usize) -> usize {
    b[i..].iter().position(|&c| c == b'\n').map_or(b.len(), |p| i + p + 1)
}

/// The number of `?` placeholders in `sql` (the parameter count of a prepared statement).
pub fn count_placeholders(sql: &str) -> usize {
    placeholder_offsets(sql, false).len()
}

/// `sql` with each `?` placeholder replaced by the literal of the matching parameter (for logging a
/// prepared statement as text). Error 1210 if the counts differ.
pub fn inline_params(sql: &str, params: &[Value], no_backslash_escapes: bool) -> Result<String> {
    let offsets = placeholder_offsets(sql, no_backslash_escapes);
    if offsets.len() != params.len() {
        return Err(wrong_arguments());
    }
    let mut out = String::with_capacity(sql.len() + params.len() * 8);
    let mut last = 0;
    for (off, v) in offsets.iter().zip(params) {
        out.push_str(&sql[last..*off]);
        out.push_str(&value_to_sql_literal_mode(v, no_backslash_escapes));
        last = off + 1;
    }
    out.push_str(&sql[last..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_ok_header() {
        assert_eq!(encode_prepare_ok(1, 2, 3, 0), vec![0, 1, 0, 0, 0, 2, 0, 3, 0, 0, 0, 0]);
    }

    #[test]
    fn decodes_typed_params_and_reuses_types() {
        // 3 params: LONGLONG 42, NULL, VAR_STRING "hi"; then UNSIGNED TINY 200.
        let mut p = vec![0b010, 1, 0x08, 0, 0x06, 0, 0xfd, 0, 0x01, 0x80];
        p.extend_from_slice(&42i64.to_le_bytes());
        p.extend_from_slice(b"\x02hi");
        p.push(200);
        let mut types = Vec::new();
        let v = decode_execute_params(&p, 4, &mut types, &BTreeMap::new()).unwrap();
        assert_eq!(
            v,
            vec![Value::Int(42), Value::Null, Value::Bytes(b"hi".to_vec()), Value::UInt(200)]
        );
        // Second execution without types.
        let mut p2 = vec![0b1011, 0];
        p2.extend_from_slice(b"\x01x");
        let v = decode_execute_params(&p2, 4, &mut types, &BTreeMap::new()).unwrap();
        assert_eq!(v, vec![Value::Null, Value::Null, Value::Bytes(b"x".to_vec()), Value::Null]);
        // Without types and nothing bound before: error.
        assert_eq!(
            decode_execute_params(&p2, 4, &mut Vec::new(), &BTreeMap::new())
                .unwrap_err()
                .to_mysql()
                .0,
            1210
        );
    }

    #[test]
    fn decodes_dates_times_doubles_long_data() {
        let mut p = vec![0, 1, 0x0a, 0, 0x0c, 0, 0x0b, 0, 0x05, 0, 0xfc, 0];
        p.extend_from_slice(&[4, 0xe8, 0x07, 2, 29]);
        p.extend_from_slice(&[11, 0xe7, 0x07, 11, 14, 22, 13, 20, 0x40, 0xe2, 0x01, 0]);
        p.extend_from_slice(&[8, 1, 1, 0, 0, 0, 2, 3, 4]);
        p.extend_from_slice(&2.5f64.to_le_bytes());
        let long = BTreeMap::from([(4u16, b"blob!".to_vec())]);
        let v = decode_execute_params(&p, 5, &mut Vec::new(), &long).unwrap();
        assert_eq!(v[0], Value::Date(2024, 2, 29));
        assert_eq!(v[1], Value::DateTime(1_700_000_000_123_456));
        assert_eq!(v[2], Value::Bytes(b"-26:03:04".to_vec()));
        assert_eq!(v[3], Value::Double(2.5));
        assert_eq!(v[4], Value::Bytes(b"blob!".to_vec()));
    }

    #[test]
    fn truncated_params_are_errors() {
        let mut p = vec![0, 1, 0x08, 0];
        p.extend_from_slice(&42i64.to_le_bytes());
        for cut in 0..p.len() {
            assert!(decode_execute_params(&p[..cut], 1, &mut Vec::new(), &BTreeMap::new()).is_err());
        }
    }

    #[test]
    fn literals() {
        assert_eq!(value_to_sql_literal(&Value::Null), "NULL");
        assert_eq!(value_to_sql_literal(&Value::Int(-3)), "-3");
        assert_eq!(value_to_sql_literal(&Value::UInt(u64::MAX)), "18446744073709551615");
        assert_eq!(value_to_sql_literal(&Value::Double(0.1)), "0.1");
        assert_eq!(value_to_sql_literal(&Value::Decimal("-1.50".into())), "-1.50");
        assert_eq!(value_to_sql_literal(&Value::Decimal("1; DROP".into())), "'1; DROP'");
        assert_eq!(value_to_sql_literal(&Value::Bytes(b"it's \\ \n".to_vec())), "'it''s \\\\ \\n'");
        assert_eq!(value_to_sql_literal_mode(&Value::Bytes(b"a\\'b".to_vec()), true), "'a\\''b'");
        assert_eq!(value_to_sql_literal(&Value::Bytes(vec![0xff, 0x00])), "X'FF00'");
        assert_eq!(value_to_sql_literal(&Value::Date(2024, 1, 2)), "'2024-01-02'");
        assert_eq!(
            value_to_sql_literal(&Value::DateTime(1_700_000_000_000_000)),
            "'2023-11-14 22:13:20'"
        );
    }

    #[test]
    fn placeholders_and_inlining() {
        let sql = "SELECT ? , '?', \"?\", `?`, 'it''s ?', 'a\\'?' -- ?\n, ? /* ? */ # ?\n";
        assert_eq!(count_placeholders(sql), 2);
        let out = inline_params(
            "INSERT INTO t VALUES (?, ?, '?')",
            &[Value::Int(1), Value::Bytes(b"x'y".to_vec())],
            false,
        )
        .unwrap();
        assert_eq!(out, "INSERT INTO t VALUES (1, 'x''y', '?')");
        assert!(inline_params("SELECT ?", &[], false).is_err());
    }
}
