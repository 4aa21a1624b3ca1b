//! Cell encodings of [`Value`]: the text protocol form (what `mariadb` prints) and the binary protocol
//! form (prepared-statement rows), both driven by the column definition the value is sent under.
//!
//! The column decides the form, not the value: a `Value::Int` under a `Tiny` column is one byte in a
//! binary row; a `Value::DateTime` under a `Date` column prints only its date; a `Value::Double` under a
//! `Float` column prints as the nearest `f32`. Values of an unexpected kind are converted (a string of
//! digits under an integer column is parsed) rather than rejected, since a row that reached the wire
//! layer has already been produced; nothing here panics.
//!
//! Dates: `Value::DateTime` is microseconds since 1970-01-01 00:00:00 (UTC wall clock); conversion to
//! the civil calendar is the proleptic Gregorian "days from civil" algorithm (H. Hinnant), valid for
//! every `i64`.

use crate::sql::{ColumnInfo, ColumnType, Value};
use mysql_common::io::BufMutExt;

/// Column flag: UNSIGNED.
pub const UNSIGNED_FLAG: u16 = 32;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A broken-down date and time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DateTimeParts {
    /// Year (0 for the zero date).
    pub year: i64,
    /// Month 1-12 (0 for the zero date).
    pub month: u32,
    /// Day 1-31 (0 for the zero date).
    pub day: u32,
    /// Hour 0-23.
    pub hour: u32,
    /// Minute 0-59.
    pub minute: u32,
    /// Second 0-59.
    pub second: u32,
    /// Microseconds 0-999999.
    pub micro: u32,
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) to days since 1970-01-01 (inverse of [`civil_from_days`]).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Breaks microseconds since the epoch into calendar parts.
pub fn datetime_parts(micros: i64) -> DateTimeParts {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let rem = micros.rem_euclid(MICROS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let secs = rem / 1_000_000;
    DateTimeParts {
        year,
        month,
        day,
        hour: (secs / 3600) as u32,
        minute: (secs / 60 % 60) as u32,
        second: (secs % 60) as u32,
        micro: (rem % 1_000_000) as u32,
    }
}

/// Microseconds since the epoch of calendar parts, or `None` when a field is out of range (a zero date,
/// month 13, hour 24, ...) or the result overflows.
pub fn datetime_micros(p: &DateTimeParts) -> Option<i64> {
    let valid = (1..=12).contains(&p.month)
        && (1..=31).contains(&p.day)
        && p.hour < 24
        && p.minute < 60
        && p.second < 60
        && p.micro < 1_000_000
        && (0..=9999).contains(&p.year);
    if !valid {
        return None;
    }
    let days = days_from_civil(p.year, p.month, p.day);
    let secs = i64::from(p.hour * 3600 + p.minute * 60 + p.second);
    days.checked_mul(MICROS_PER_DAY)?.checked_add(secs * 1_000_000 + i64::from(p.micro))
}

/// `YYYY-MM-DD`.
pub fn format_date(year: i64, month: u32, day: u32) -> String {
    if year < 0 {
        format!("-{:04}-{month:02}-{day:02}", -year)
    } else {
        format!("{year:04}-{month:02}-{day:02}")
    }
}

/// `YYYY-MM-DD HH:MM:SS` followed by `frac_digits` (0-6) fractional digits.
pub fn format_datetime(p: &DateTimeParts, frac_digits: u8) -> String {
    let mut s = format!(
        "{} {:02}:{:02}:{:02}",
        format_date(p.year, p.month, p.day),
        p.hour,
        p.minute,
        p.second
    );
    if frac_digits > 0 {
        let digits = usize::from(frac_digits.min(6));
        let frac = format!("{:06}", p.micro);
        s.push('.');
        s.push_str(&frac[..digits]);
    }
    s
}

/// Parses `YYYY-MM-DD[ HH:MM:SS[.ffffff]]` (also with `T`); `None` if it is not of that shape.
pub fn parse_datetime_text(s: &str) -> Option<DateTimeParts> {
    let s = s.trim();
    let (date, time) = match s.find([' ', 'T']) {
        Some(i) => (&s[..i], Some(s[i + 1..].trim())),
        None => (s, None),
    };
    let mut d = date.split('-');
    let year = d.next()?.parse::<i64>().ok()?;
    let month = d.next()?.parse::<u32>().ok()?;
    let day = d.next()?.parse::<u32>().ok()?;
    if d.next().is_some() {
        return None;
    }
    let mut p = DateTimeParts { year, month, day, ..Default::default() };
    if let Some(time) = time {
        let (hms, frac) = match time.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (time, None),
        };
        let mut t = hms.split(':');
        p.hour = t.next()?.parse().ok()?;
        p.minute = t.next()?.parse().ok()?;
        p.second = t.next().unwrap_or("0").parse().ok()?;
        if let Some(frac) = frac {
            if frac.is_empty() || frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.micro = format!("{frac:0<6}").parse().ok()?;
        }
    }
    Some(p)
}

/// MariaDB's text form of a double (the engine's [`crate::sql::fmt_double`], checked against MariaDB
/// 10.11: shortest round-trip digits, plain notation down to 1e-15 and for whole numbers up to 15
/// digits, else `1e20`, `1e-16`). `f32_precision`: a FLOAT column's value, 6 significant digits
/// ([`crate::sql::fmt_float`]).
pub fn format_double(d: f64, f32_precision: bool) -> String {
    if f32_precision {
        crate::sql::fmt_float(d)
    } else {
        crate::sql::fmt_double(d)
    }
}

/// Fractional digits to show for a temporal column (its `decimals`, 0 when "not fixed").
fn frac_digits(col: &ColumnInfo) -> u8 {
    if col.decimals <= 6 {
        col.decimals
    } else {
        0
    }
}

/// The text-protocol form of `v` sent under column `col` (`None` for NULL).
pub fn text_value(v: &Value, col: &ColumnInfo) -> Option<Vec<u8>> {
    match (v, col.column_type) {
        (Value::Null, _) => None,
        (Value::Double(d), ColumnType::Float) => Some(crate::sql::fmt_float(*d).into_bytes()),
        (Value::Double(d), ColumnType::Double) if col.decimals < 31 => {
            Some(crate::sql::fmt_double_fixed(*d, col.decimals).into_bytes())
        }
        (Value::DateTime(us), ColumnType::Date) => {
            let p = datetime_parts(*us);
            Some(format_date(p.year, p.month, p.day).into_bytes())
        }
        (Value::DateTime(us), _) => {
            Some(format_datetime(&datetime_parts(*us), frac_digits(col)).into_bytes())
        }
        (Value::Date(y, m, d), ColumnType::DateTime | ColumnType::Timestamp) => {
            let p = DateTimeParts { year: i64::from(*y), month: *m, day: *d, ..Default::default() };
            Some(format_datetime(&p, frac_digits(col)).into_bytes())
        }
        _ => text_value_untyped(v),
    }
}

/// The text form of `v` on its own (no column): integers in decimal, doubles as [`format_double`],
/// decimals and strings as they are, DATE as `YYYY-MM-DD`, DATETIME as `YYYY-MM-DD HH:MM:SS[.ffffff]`
/// (fraction only when non-zero). `None` for NULL.
pub fn text_value_untyped(v: &Value) -> Option<Vec<u8>> {
    Some(match v {
        Value::Null => return None,
        Value::Int(i) => i.to_string().into_bytes(),
        Value::UInt(u) => u.to_string().into_bytes(),
        Value::Double(d) => format_double(*d, false).into_bytes(),
        Value::Decimal(s) => s.clone().into_bytes(),
        Value::Bytes(b) => b.clone(),
        Value::Date(y, m, d) => format_date(i64::from(*y), *m, *d).into_bytes(),
        Value::DateTime(us) => {
            let p = datetime_parts(*us);
            format_datetime(&p, if p.micro == 0 { 0 } else { 6 }).into_bytes()
        }
    })
}

/// `v` as a signed integer (strings and decimals parsed, doubles rounded; 0 when not numeric).
pub fn value_as_i64(v: &Value) -> i64 {
    match v {
        Value::Null => 0,
        Value::Int(i) => *i,
        Value::UInt(u) => *u as i64,
        Value::Double(d) => d.round() as i64,
        Value::Decimal(s) => parse_number(s.as_bytes()) as i64,
        Value::Bytes(b) => parse_number(b) as i64,
        Value::Date(y, m, d) => i64::from(*y) * 10_000 + i64::from(*m) * 100 + i64::from(*d),
        Value::DateTime(us) => {
            let p = datetime_parts(*us);
            ((p.year * 100 + i64::from(p.month)) * 100 + i64::from(p.day)) * 1_000_000
                + i64::from(p.hour * 10_000 + p.minute * 100 + p.second)
        }
    }
}

/// `v` as a double (see [`value_as_i64`]).
pub fn value_as_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::UInt(u) => *u as f64,
        Value::Double(d) => *d,
        Value::Decimal(s) => parse_number(s.as_bytes()),
        Value::Bytes(b) => parse_number(b),
        _ => value_as_i64(v) as f64,
    }
}

/// The numeric prefix of a string, as MySQL reads `'12abc'` as 12 (0 if none).
fn parse_number(b: &[u8]) -> f64 {
    let s = String::from_utf8_lossy(&b[..b.len().min(64)]);
    let s = s.trim();
    let mut end = 0;
    for i in (1..=s.len()).rev() {
        if s.is_char_boundary(i) && s[..i].parse::<f64>().is_ok() {
            end = i;
            break;
        }
    }
    s[..end].parse().unwrap_or(0.0)
}

/// `v` as calendar parts (zero date if it is not a date).
fn value_as_parts(v: &Value) -> DateTimeParts {
    match v {
        Value::Date(y, m, d) => {
            DateTimeParts { year: i64::from(*y), month: *m, day: *d, ..Default::default() }
        }
        Value::DateTime(us) => datetime_parts(*us),
        Value::Bytes(b) => parse_datetime_text(&String::from_utf8_lossy(b)).unwrap_or_default(),
        Value::Decimal(s) => parse_datetime_text(s).unwrap_or_default(),
        _ => DateTimeParts::default(),
    }
}

/// Appends the binary-protocol date/datetime cell: length byte 0, 4, 7 or 11, then the fields.
fn put_binary_datetime(p: &DateTimeParts, with_time: bool, out: &mut Vec<u8>) {
    let year = u16::try_from(p.year).unwrap_or(0);
    let has_time = with_time && (p.hour | p.minute | p.second | p.micro) != 0;
    let len: u8 = if with_time && p.micro != 0 {
        11
    } else if has_time {
        7
    } else if year == 0 && p.month == 0 && p.day == 0 {
        0
    } else {
        4
    };
    out.push(len);
    if len >= 4 {
        out.extend_from_slice(&year.to_le_bytes());
        out.push(p.month as u8);
        out.push(p.day as u8);
    }
    if len >= 7 {
        out.extend_from_slice(&[p.hour as u8, p.minute as u8, p.second as u8]);
    }
    if len == 11 {
        out.extend_from_slice(&p.micro.to_le_bytes());
    }
}

/// Appends the binary-protocol form of `v` under column `col` to `out`; returns false (appending
/// nothing) when the cell is NULL and must be marked in the row's NULL bitmap.
pub fn binary_value(v: &Value, col: &ColumnInfo, out: &mut Vec<u8>) -> bool {
    if matches!(v, Value::Null) {
        return false;
    }
    match col.column_type {
        ColumnType::Null => return false,
        ColumnType::Tiny => out.push(value_as_i64(v) as u8),
        ColumnType::Short => out.extend_from_slice(&(value_as_i64(v) as u16).to_le_bytes()),
        ColumnType::Int24 | ColumnType::Long => {
            out.extend_from_slice(&(value_as_i64(v) as u32).to_le_bytes())
        }
        ColumnType::LongLong => {
            let n = match v {
                Value::UInt(u) => *u,
                _ => value_as_i64(v) as u64,
            };
            out.extend_from_slice(&n.to_le_bytes());
        }
        ColumnType::Float => out.extend_from_slice(&(value_as_f64(v) as f32).to_le_bytes()),
        ColumnType::Double => out.extend_from_slice(&value_as_f64(v).to_le_bytes()),
        ColumnType::Date => put_binary_datetime(&value_as_parts(v), false, out),
        ColumnType::DateTime | ColumnType::Timestamp => {
            put_binary_datetime(&value_as_parts(v), true, out)
        }
        ColumnType::NewDecimal | ColumnType::VarString | ColumnType::String | ColumnType::Blob => {
            let text = text_value(v, col).unwrap_or_default();
            out.put_lenenc_str(&text);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(ty: ColumnType, decimals: u8) -> ColumnInfo {
        ColumnInfo {
            schema: String::new(),
            table: String::new(),
            org_table: String::new(),
            name: "c".into(),
            org_name: String::new(),
            column_type: ty,
            length: 0,
            flags: 0,
            decimals,
            charset: 63,
        }
    }

    #[test]
    fn civil_roundtrip() {
        for days in [-719_528i64, -1, 0, 1, 59, 10_957, 19_675, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_675), (2023, 11, 14));
    }

    #[test]
    fn datetime_text() {
        let us = 1_700_000_000_000_000 + 123_456;
        assert_eq!(
            text_value(&Value::DateTime(us), &col(ColumnType::DateTime, 0)).unwrap(),
            b"2023-11-14 22:13:20"
        );
        assert_eq!(
            text_value(&Value::DateTime(us), &col(ColumnType::DateTime, 6)).unwrap(),
            b"2023-11-14 22:13:20.123456"
        );
        assert_eq!(
            text_value(&Value::DateTime(us), &col(ColumnType::Date, 0)).unwrap(),
            b"2023-11-14"
        );
        assert_eq!(
            text_value(&Value::Date(2024, 2, 29), &col(ColumnType::Date, 0)).unwrap(),
            b"2024-02-29"
        );
        let p = parse_datetime_text("2023-11-14 22:13:20.123456").unwrap();
        assert_eq!(datetime_micros(&p), Some(us));
        assert_eq!(datetime_micros(&DateTimeParts::default()), None);
    }

    #[test]
    fn doubles_print_like_mariadb() {
        let cases = [
            (0.1, "0.1"),
            (1.5, "1.5"),
            (-2.0, "-2"),
            (100.0, "100"),
            (1e14, "100000000000000"),
            (1e15, "1e15"),
            (1e20, "1e20"),
            (0.001, "0.001"),
            (0.0001, "0.0001"),
            (0.00001, "0.00001"),
            (1.5e-7, "0.00000015"),
            (1e-16, "1e-16"),
            (1.2345678901234568e17, "1.2345678901234568e17"),
            (123.456, "123.456"),
        ];
        for (d, want) in cases {
            assert_eq!(format_double(d, false), want, "{d}");
        }
        assert_eq!(format_double(0.1f32 as f64, true), "0.1");
    }

    #[test]
    fn binary_cells() {
        let mut out = Vec::new();
        assert!(binary_value(&Value::Int(-1), &col(ColumnType::Short, 0), &mut out));
        assert_eq!(out, vec![0xff, 0xff]);
        out.clear();
        assert!(binary_value(
            &Value::DateTime(1_700_000_000_000_000),
            &col(ColumnType::DateTime, 0),
            &mut out
        ));
        assert_eq!(out, vec![7, 0xe7, 0x07, 11, 14, 22, 13, 20]);
        out.clear();
        assert!(binary_value(&Value::Date(2024, 1, 2), &col(ColumnType::Date, 0), &mut out));
        assert_eq!(out, vec![4, 0xe8, 0x07, 1, 2]);
        out.clear();
        assert!(!binary_value(&Value::Null, &col(ColumnType::Long, 0), &mut out));
        assert!(out.is_empty());
        assert!(binary_value(
            &Value::Decimal("-1.50".into()),
            &col(ColumnType::NewDecimal, 2),
            &mut out
        ));
        assert_eq!(out, b"\x05-1.50");
    }

    #[test]
    fn odd_values_are_converted() {
        assert_eq!(value_as_i64(&Value::Bytes(b"12abc".to_vec())), 12);
        assert_eq!(value_as_i64(&Value::Bytes(b"x".to_vec())), 0);
        assert_eq!(value_as_f64(&Value::Decimal("2.5".into())), 2.5);
    }
}
