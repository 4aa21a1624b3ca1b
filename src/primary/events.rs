//! Building the binary-log events of a committed transaction, and reading them back for recovery.
//!
//! A transaction is logged as MariaDB logs it: for each statement, the context events a replica needs to
//! compute the same result (INTVAR LAST_INSERT_ID, INTVAR INSERT_ID, RAND, one USER_VAR per variable
//! read), then the QUERY with the session's status variables; the header timestamp of every event of a
//! statement is the statement's "now" in seconds and Q_HRNOW carries the microseconds. The binlog writer
//! frames the group (GTID first, XID last for DML; DDL standalone).
//!
//! [`statement_events`] and [`StatementDecoder`] are inverse: decoding the events built for a
//! [`LoggedStatement`] gives back its text, database and context.

use crate::error::Result;
use crate::log::event::{intvar, EventBody, QueryCharset, QueryStatus, UserVarValue as LogUserVar};
use crate::sql::{ExecContext, LoggedStatement, UserVarValue};

/// Collation id of utf8mb4_general_ci, the charset of every string repld logs.
pub const UTF8MB4_GENERAL_CI: u16 = 45;

/// One event to append: header timestamp (seconds) and body.
pub type TimedEvent = (u32, EventBody);

/// The events of one logged statement: context events, then the QUERY.
pub fn statement_events(stmt: &LoggedStatement, thread_id: u32) -> Vec<TimedEvent> {
    let ts = stmt.now_us.div_euclid(1_000_000).clamp(0, u32::MAX as i64) as u32;
    let mut out = Vec::with_capacity(2);
    if let Some(v) = stmt.last_insert_id {
        out.push((ts, EventBody::Intvar { kind: intvar::LAST_INSERT_ID, value: v }));
    }
    if let Some(v) = stmt.insert_id {
        out.push((ts, EventBody::Intvar { kind: intvar::INSERT_ID, value: v }));
    }
    if let Some((seed1, seed2)) = stmt.rand_seeds {
        out.push((ts, EventBody::Rand { seed1, seed2 }));
    }
    for (name, value) in &stmt.user_vars {
        out.push((ts, user_var_event(name, value)));
    }
    let (client, connection, server) = stmt.charset;
    let status = QueryStatus {
        flags2: Some(stmt.flags2),
        sql_mode: Some(stmt.sql_mode),
        catalog: Some("std".into()),
        charset: Some(QueryCharset { client, connection, server }),
        time_zone: Some(stmt.time_zone.clone()),
        hrnow_us: Some(stmt.now_us.rem_euclid(1_000_000) as u32),
        ..Default::default()
    };
    out.push((
        ts,
        EventBody::query(thread_id, stmt.db.as_deref().unwrap_or(""), status, &stmt.sql),
    ));
    out
}

fn user_var_event(name: &str, value: &UserVarValue) -> EventBody {
    let (value, charset, flags) = match value {
        // A NULL user variable is logged as name + is_null only (no type, charset or flags).
        UserVarValue::Null => (LogUserVar::Null, 0, None),
        UserVarValue::String(b, coll) => (LogUserVar::String(b.clone()), *coll as u32, Some(0)),
        UserVarValue::Real(f) => (LogUserVar::Real(*f), 63, Some(0)),
        UserVarValue::Int(v, unsigned) => {
            (LogUserVar::Int { value: *v, unsigned: *unsigned }, 63, Some(0))
        }
        UserVarValue::Decimal(text) => match decimal_to_bin(text) {
            Some((precision, scale, bytes)) => {
                (LogUserVar::Decimal { precision, scale, bytes }, 63, Some(0))
            }
            None => {
                (LogUserVar::String(text.as_bytes().to_vec()), UTF8MB4_GENERAL_CI as u32, Some(0))
            }
        },
    };
    EventBody::UserVar { name: name.to_string(), value, charset, flags, extra: Vec::new() }
}

/// Bytes per number of leftover decimal digits in MySQL's decimal2bin.
const DIG2BYTES: [usize; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];

/// MySQL's binary DECIMAL format of `text` (`-12.50`): (precision, scale, bytes). `None` if the text is
/// not a decimal or has more than 65 digits.
pub fn decimal_to_bin(text: &str) -> Option<(u8, u8, Vec<u8>)> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        || (int.is_empty() && frac.is_empty())
    {
        return None;
    }
    let int = int.trim_start_matches('0');
    let (intg, scale) = (int.len(), frac.len());
    if intg + scale > 65 || scale > 38 {
        return None;
    }
    let mut out = Vec::new();
    let group = |s: &str, out: &mut Vec<u8>, nbytes: usize| {
        let v: u32 = if s.is_empty() { 0 } else { s.parse().unwrap_or(0) };
        out.extend_from_slice(&v.to_be_bytes()[4 - nbytes..]);
    };
    let lead = intg % 9;
    group(&int[..lead], &mut out, DIG2BYTES[lead]);
    for chunk in int.as_bytes()[lead..].chunks(9) {
        group(std::str::from_utf8(chunk).ok()?, &mut out, 4);
    }
    for chunk in frac.as_bytes().chunks(9) {
        let n = if chunk.len() == 9 { 4 } else { DIG2BYTES[chunk.len()] };
        group(std::str::from_utf8(chunk).ok()?, &mut out, n);
    }
    if out.is_empty() {
        out.push(0);
    }
    if neg {
        out.iter_mut().for_each(|b| *b = !*b);
    }
    out[0] ^= 0x80;
    let precision = (intg + scale).max(1);
    Some((precision as u8, scale as u8, out))
}

/// The text of a binary DECIMAL (inverse of [`decimal_to_bin`]); `None` if the bytes do not fit.
pub fn decimal_from_bin(precision: u8, scale: u8, bytes: &[u8]) -> Option<String> {
    let (precision, scale) = (precision as usize, scale as usize);
    let intg = precision.checked_sub(scale)?;
    let mut b = bytes.to_vec();
    let first = b.first_mut()?;
    let neg = *first & 0x80 == 0;
    *first ^= 0x80;
    if neg {
        b.iter_mut().for_each(|x| *x = !*x);
    }
    let mut at = 0;
    let mut take = |n: usize| -> Option<u32> {
        let s = b.get(at..at + n)?;
        at += n;
        Some(s.iter().fold(0u32, |acc, &x| (acc << 8) | x as u32))
    };
    let mut int = String::new();
    let lead = intg % 9;
    if lead > 0 {
        int.push_str(&take(DIG2BYTES[lead])?.to_string());
    }
    for _ in 0..intg / 9 {
        let v = take(4)?;
        int.push_str(&if int.is_empty() { v.to_string() } else { format!("{v:09}") });
    }
    let int = int.trim_start_matches('0');
    let mut frac = String::new();
    for _ in 0..scale / 9 {
        frac.push_str(&format!("{:09}", take(4)?));
    }
    let rest = scale % 9;
    if rest > 0 {
        frac.push_str(&format!("{:0width$}", take(DIG2BYTES[rest])?, width = rest));
    }
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    s.push_str(if int.is_empty() { "0" } else { int });
    if scale > 0 {
        s.push('.');
        s.push_str(&frac);
    }
    Some(s)
}

/// Gathers the context events before a QUERY and turns the QUERY into a statement to re-execute
/// (recovery, and anything else that replays a binary log through the engine).
#[derive(Debug, Default)]
pub struct StatementDecoder {
    ctx: ExecContext,
    user_vars: Vec<(String, UserVarValue)>,
}

/// A statement read back from the log.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedStatement {
    /// The text.
    pub sql: String,
    /// Its default database (`None` for none).
    pub db: Option<String>,
    /// Its context: now, insert ids, RAND seeds.
    pub ctx: ExecContext,
    /// User variables it reads, with their values.
    pub user_vars: Vec<(String, UserVarValue)>,
}

impl StatementDecoder {
    /// Feeds one event (header timestamp, body); returns a statement when the body is a QUERY.
    pub fn push(&mut self, timestamp: u32, body: &EventBody) -> Result<Option<DecodedStatement>> {
        match body {
            EventBody::Intvar { kind, value } if *kind == intvar::INSERT_ID => {
                self.ctx.insert_id = Some(*value)
            }
            EventBody::Intvar { value, .. } => self.ctx.last_insert_id = Some(*value),
            EventBody::Rand { seed1, seed2 } => self.ctx.rand_seeds = Some((*seed1, *seed2)),
            EventBody::UserVar { name, value, charset, .. } => {
                let v = match value {
                    LogUserVar::Null => UserVarValue::Null,
                    LogUserVar::String(b) => UserVarValue::String(b.clone(), *charset as u16),
                    LogUserVar::Real(f) => UserVarValue::Real(*f),
                    LogUserVar::Int { value, unsigned } => UserVarValue::Int(*value, *unsigned),
                    LogUserVar::Decimal { precision, scale, bytes } => UserVarValue::Decimal(
                        decimal_from_bin(*precision, *scale, bytes).ok_or_else(|| {
                            crate::error::Error::InvalidData(format!("bad DECIMAL in @{name}"))
                        })?,
                    ),
                };
                self.user_vars.push((name.clone(), v));
            }
            EventBody::Query { db, status, sql, .. } => {
                let mut ctx = std::mem::take(&mut self.ctx);
                ctx.now_us = timestamp as i64 * 1_000_000 + status.hrnow_us.unwrap_or(0) as i64;
                let sql = String::from_utf8(sql.clone()).map_err(|_| {
                    crate::error::Error::InvalidData("QUERY text is not UTF-8".into())
                })?;
                let db = if db.is_empty() { None } else { Some(db.clone()) };
                return Ok(Some(DecodedStatement {
                    sql,
                    db,
                    ctx,
                    user_vars: std::mem::take(&mut self.user_vars),
                }));
            }
            _ => {}
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_round_trips_and_matches_mysql() {
        // 1234567890.1234 as DECIMAL(14,4): MySQL's documented example bytes.
        let (p, s, b) = decimal_to_bin("1234567890.1234").unwrap();
        assert_eq!((p, s), (14, 4));
        assert_eq!(b, vec![0x81, 0x0D, 0xFB, 0x38, 0xD2, 0x04, 0xD2]);
        for t in
            ["0", "-12.50", "12.50", "0.001", "-0.5", "123456789012345678901234.000000000001", "7"]
        {
            let (p, s, b) = decimal_to_bin(t).unwrap();
            let back = decimal_from_bin(p, s, &b).unwrap();
            assert_eq!(back, t, "{t}");
        }
        assert!(decimal_to_bin("1e5").is_none());
    }

    #[test]
    fn statement_events_decode_back() {
        let stmt = LoggedStatement {
            sql: "INSERT INTO t VALUES (0, @who, RAND())".into(),
            db: Some("test".into()),
            now_us: 1_700_000_000_123_456,
            last_insert_id: Some(7),
            insert_id: Some(1000),
            rand_seeds: Some((12345, 67890)),
            user_vars: vec![
                ("who".into(), UserVarValue::String(b"probe".to_vec(), 45)),
                ("n".into(), UserVarValue::Int(-3, false)),
                ("d".into(), UserVarValue::Decimal("-1.25".into())),
                ("z".into(), UserVarValue::Null),
            ],
            sql_mode: 0x5420_0000,
            flags2: 0,
            time_zone: "+00:00".into(),
            charset: (45, 45, 45),
        };
        let events = statement_events(&stmt, 9);
        assert_eq!(events.len(), 8);
        assert!(events.iter().all(|(ts, _)| *ts == 1_700_000_000));
        let mut dec = StatementDecoder::default();
        let mut got = None;
        for (ts, body) in &events {
            // Each body must survive the codec.
            let mut bytes = Vec::new();
            body.encode_into(&mut bytes);
            let body2 = EventBody::decode(body.type_code().unwrap(), &bytes).unwrap();
            assert_eq!(&body2, body);
            if let Some(s) = dec.push(*ts, &body2).unwrap() {
                got = Some(s);
            }
        }
        let got = got.unwrap();
        assert_eq!(got.sql, stmt.sql);
        assert_eq!(got.db.as_deref(), Some("test"));
        assert_eq!(got.ctx.now_us, stmt.now_us);
        assert_eq!(got.ctx.insert_id, Some(1000));
        assert_eq!(got.ctx.last_insert_id, Some(7));
        assert_eq!(got.ctx.rand_seeds, Some((12345, 67890)));
        assert_eq!(got.user_vars, stmt.user_vars);
    }
}
