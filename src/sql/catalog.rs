//! The catalog: databases, tables, columns, indexes, and the key layout of everything in sled.
//!
//! Key space (one sled tree; the first byte is the record kind):
//!
//! | key | value |
//! | --- | --- |
//! | `D` db | database marker (empty) |
//! | `T` db `\0` table | [`TableDef`] (bincode) |
//! | `N` | next table id (u64 BE) |
//! | `A` table-id(8) | next auto-increment value (u64 BE) |
//! | `H` table-id(8) | next hidden row id for tables without a primary key (u64 BE) |
//! | `R` table-id(8) pk-key | row: `Vec<Value>` (bincode) |
//! | `I` table-id(8) index-id(4) index-key pk-key | empty |
//! | `X` table-id(8) | drop marker, only in write sets: applying it removes every `R`/`I` key of the table |
//! | `m` name | meta records ([`super::Engine::put_meta`]) |
//!
//! Table ids are never reused: DROP, TRUNCATE and ALTER give the table a fresh id and drop the old one with
//! an `X` marker, so dropping a large table costs one write-set entry. Index and primary-key keys are
//! memcomparable ([`encode_key_value`]): byte order equals SQL order, so sled scans come out sorted.
//! Text columns are encoded by their collation weight, so unique checks are case-insensitive like MySQL's.

use super::api::{ColumnType, Value};
use super::value::collate_key;
use serde::{Deserialize, Serialize};

/// Kind byte of database records.
pub const K_DB: u8 = b'D';
/// Kind byte of table definitions.
pub const K_TABLE: u8 = b'T';
/// The next-table-id counter key.
pub const K_NEXT_TID: &[u8] = b"N";
/// Kind byte of auto-increment counters.
pub const K_AUTOINC: u8 = b'A';
/// Kind byte of hidden row id counters.
pub const K_HIDDEN: u8 = b'H';
/// Kind byte of rows.
pub const K_ROW: u8 = b'R';
/// Kind byte of secondary index entries.
pub const K_INDEX: u8 = b'I';
/// Kind byte of drop markers.
pub const K_DROP: u8 = b'X';
/// Kind byte of meta records.
pub const K_META: u8 = b'm';

/// A column's SQL type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SqlType {
    /// Integer of `bytes` (1, 2, 3, 4, 8) width.
    Int {
        /// Storage width in bytes.
        bytes: u8,
        /// UNSIGNED.
        unsigned: bool,
    },
    /// FLOAT.
    Float,
    /// DOUBLE / REAL.
    Double,
    /// DECIMAL(p, s).
    Decimal(u32, u32),
    /// CHAR(n) (characters).
    Char(u32),
    /// VARCHAR(n) (characters).
    VarChar(u32),
    /// TEXT family with its maximum length in bytes.
    Text(u64),
    /// BINARY(n).
    Binary(u32),
    /// VARBINARY(n).
    VarBinary(u32),
    /// BLOB family with its maximum length in bytes.
    Blob(u64),
    /// DATE.
    Date,
    /// DATETIME(fsp).
    DateTime(u32),
    /// TIMESTAMP(fsp).
    Timestamp(u32),
}

impl SqlType {
    /// True for the character (collated) string types.
    pub fn is_text(&self) -> bool {
        matches!(self, SqlType::Char(_) | SqlType::VarChar(_) | SqlType::Text(_))
    }

    /// True for binary string types.
    pub fn is_binary(&self) -> bool {
        matches!(self, SqlType::Binary(_) | SqlType::VarBinary(_) | SqlType::Blob(_))
    }

    /// The SQL spelling, as SHOW COLUMNS prints it.
    pub fn sql_name(&self) -> String {
        match self {
            SqlType::Int { bytes, unsigned } => {
                let (n, w) = match bytes {
                    1 => ("tinyint", 4),
                    2 => ("smallint", 6),
                    3 => ("mediumint", 9),
                    4 => ("int", 11),
                    _ => ("bigint", 20),
                };
                if *unsigned {
                    format!("{n}({}) unsigned", if *bytes == 8 { 20 } else { w - 1 })
                } else {
                    format!("{n}({w})")
                }
            }
            SqlType::Float => "float".into(),
            SqlType::Double => "double".into(),
            SqlType::Decimal(p, s) => format!("decimal({p},{s})"),
            SqlType::Char(n) => format!("char({n})"),
            SqlType::VarChar(n) => format!("varchar({n})"),
            SqlType::Text(m) => match m {
                255 => "tinytext".into(),
                65535 => "text".into(),
                16777215 => "mediumtext".into(),
                _ => "longtext".into(),
            },
            SqlType::Binary(n) => format!("binary({n})"),
            SqlType::VarBinary(n) => format!("varbinary({n})"),
            SqlType::Blob(m) => match m {
                255 => "tinyblob".into(),
                65535 => "blob".into(),
                16777215 => "mediumblob".into(),
                _ => "longblob".into(),
            },
            SqlType::Date => "date".into(),
            SqlType::DateTime(0) => "datetime".into(),
            SqlType::DateTime(f) => format!("datetime({f})"),
            SqlType::Timestamp(0) => "timestamp".into(),
            SqlType::Timestamp(f) => format!("timestamp({f})"),
        }
    }

    /// Wire type, display length, decimals and charset for result-set metadata.
    pub fn wire(&self) -> (ColumnType, u32, u8, u16) {
        match self {
            SqlType::Int { bytes, unsigned } => {
                let (t, len) = match bytes {
                    1 => (ColumnType::Tiny, 4),
                    2 => (ColumnType::Short, 6),
                    3 => (ColumnType::Int24, 9),
                    4 => (ColumnType::Long, 11),
                    _ => (ColumnType::LongLong, 20),
                };
                (t, if *unsigned && *bytes != 8 { len - 1 } else { len }, 0, 63)
            }
            SqlType::Float => (ColumnType::Float, 12, 31, 63),
            SqlType::Double => (ColumnType::Double, 22, 31, 63),
            SqlType::Decimal(p, s) => {
                (ColumnType::NewDecimal, p + 1 + u32::from(*s > 0), *s as u8, 63)
            }
            SqlType::Char(n) => (ColumnType::String, n * 4, 0, 45),
            SqlType::VarChar(n) => (ColumnType::VarString, n * 4, 0, 45),
            SqlType::Text(m) => (ColumnType::Blob, (*m).min(u32::MAX as u64 / 4) as u32 * 4, 0, 45),
            SqlType::Binary(n) => (ColumnType::String, *n, 0, 63),
            SqlType::VarBinary(n) => (ColumnType::VarString, *n, 0, 63),
            SqlType::Blob(m) => (ColumnType::Blob, (*m).min(u32::MAX as u64) as u32, 0, 63),
            SqlType::Date => (ColumnType::Date, 10, 0, 63),
            SqlType::DateTime(f) => {
                (ColumnType::DateTime, 19 + if *f > 0 { f + 1 } else { 0 }, *f as u8, 63)
            }
            SqlType::Timestamp(f) => {
                (ColumnType::Timestamp, 19 + if *f > 0 { f + 1 } else { 0 }, *f as u8, 63)
            }
        }
    }
}

/// One column of a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnDef {
    /// Name as declared.
    pub name: String,
    /// Type.
    pub ty: SqlType,
    /// NULL allowed.
    pub nullable: bool,
    /// DEFAULT value (already converted to the column type); `None`: no default.
    pub default: Option<Value>,
    /// DEFAULT CURRENT_TIMESTAMP.
    pub default_now: bool,
    /// ON UPDATE CURRENT_TIMESTAMP.
    pub on_update_now: bool,
    /// AUTO_INCREMENT.
    pub auto_inc: bool,
}

/// A secondary index (UNIQUE or not).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexDef {
    /// Index name.
    pub name: String,
    /// Id inside the table (key prefix).
    pub id: u32,
    /// Column positions.
    pub cols: Vec<usize>,
    /// UNIQUE.
    pub unique: bool,
}

/// A table definition as stored in the catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableDef {
    /// Storage id (key prefix of rows and indexes), never reused.
    pub id: u64,
    /// Database.
    pub db: String,
    /// Table name.
    pub name: String,
    /// Columns in order.
    pub columns: Vec<ColumnDef>,
    /// Primary key column positions; empty: rows keyed by a hidden row id.
    pub pk: Vec<usize>,
    /// Secondary indexes.
    pub indexes: Vec<IndexDef>,
    /// Next index id.
    pub next_index_id: u32,
    /// Table options kept for SHOW CREATE TABLE (ENGINE etc.).
    pub engine: String,
}

impl TableDef {
    /// Position of a column by (case-insensitive) name.
    pub fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The auto-increment column, if any.
    pub fn auto_col(&self) -> Option<usize> {
        self.columns.iter().position(|c| c.auto_inc)
    }

    /// Column flags for result metadata.
    pub fn col_flags(&self, i: usize) -> u16 {
        let c = &self.columns[i];
        let mut f = 0u16;
        if !c.nullable {
            f |= 1;
        }
        if self.pk.contains(&i) {
            f |= 2;
        }
        if self.indexes.iter().any(|x| x.unique && x.cols.first() == Some(&i)) {
            f |= 4;
        }
        if self.indexes.iter().any(|x| !x.unique && x.cols.first() == Some(&i)) {
            f |= 8;
        }
        if matches!(c.ty, SqlType::Text(_) | SqlType::Blob(_)) {
            f |= 16;
        }
        if matches!(c.ty, SqlType::Int { unsigned: true, .. }) {
            f |= 32;
        }
        if c.ty.is_binary() {
            f |= 128;
        }
        if c.auto_inc {
            f |= 512;
        }
        if matches!(
            c.ty,
            SqlType::Int { .. } | SqlType::Float | SqlType::Double | SqlType::Decimal(..)
        ) {
            f |= 32768;
        }
        f
    }
}

/// Key of a database record.
pub fn db_key(db: &str) -> Vec<u8> {
    let mut k = vec![K_DB];
    k.extend_from_slice(db.as_bytes());
    k
}

/// Key of a table definition.
pub fn table_key(db: &str, table: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(db.len() + table.len() + 2);
    k.push(K_TABLE);
    k.extend_from_slice(db.as_bytes());
    k.push(0);
    k.extend_from_slice(table.as_bytes());
    k
}

/// Key prefix `kind` + table id.
pub fn tid_key(kind: u8, tid: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(32);
    k.push(kind);
    k.extend_from_slice(&tid.to_be_bytes());
    k
}

/// Key prefix of one index's entries.
pub fn index_prefix(tid: u64, idx: u32) -> Vec<u8> {
    let mut k = tid_key(K_INDEX, tid);
    k.extend_from_slice(&idx.to_be_bytes());
    k
}

/// Appends the memcomparable encoding of `v` (already converted to the column type `ty`) to `out`.
/// NULL sorts first. Text is encoded by its collation weight.
pub fn encode_key_value(out: &mut Vec<u8>, v: &Value, ty: &SqlType) {
    match v {
        Value::Null => out.push(0),
        Value::Int(i) => {
            out.push(1);
            out.extend_from_slice(&((*i as u64) ^ (1 << 63)).to_be_bytes());
        }
        Value::UInt(u) => {
            out.push(1);
            out.extend_from_slice(&u.to_be_bytes());
        }
        Value::Double(d) => {
            out.push(1);
            let bits = d.to_bits();
            let b = if *d >= 0.0 { bits ^ (1 << 63) } else { !bits };
            out.extend_from_slice(&b.to_be_bytes());
        }
        Value::Decimal(_) => {
            out.push(1);
            let scale = match ty {
                SqlType::Decimal(_, s) => *s,
                _ => 30,
            };
            let m = v.as_dec().round(scale).mant;
            out.extend_from_slice(&((m as u128) ^ (1 << 127)).to_be_bytes());
        }
        Value::Bytes(b) => {
            out.push(1);
            let w = if ty.is_text() { collate_key(b) } else { std::borrow::Cow::Borrowed(&b[..]) };
            for &c in w.iter() {
                if c == 0 {
                    out.extend_from_slice(&[0, 0xff]);
                } else {
                    out.push(c);
                }
            }
            out.extend_from_slice(&[0, 0]);
        }
        Value::Date(y, m, d) => {
            out.push(1);
            let n = (*y as i64) * 10000 + (*m as i64) * 100 + *d as i64;
            out.extend_from_slice(&((n as u64) ^ (1 << 63)).to_be_bytes());
        }
        Value::DateTime(us) => {
            out.push(1);
            out.extend_from_slice(&((*us as u64) ^ (1 << 63)).to_be_bytes());
        }
    }
}

/// Row key for the given primary-key values.
pub fn row_key(t: &TableDef, pk_vals: &[&Value]) -> Vec<u8> {
    let mut k = tid_key(K_ROW, t.id);
    for (i, v) in pk_vals.iter().enumerate() {
        encode_key_value(&mut k, v, &t.columns[t.pk[i]].ty);
    }
    k
}

/// Encodes the bincode form of a row.
pub fn encode_row(row: &[Value]) -> Vec<u8> {
    bincode::serde::encode_to_vec(row, bincode::config::standard()).unwrap_or_default()
}

/// Decodes a row, padding missing trailing columns with NULL.
pub fn decode_row(b: &[u8], ncols: usize) -> crate::error::Result<Vec<Value>> {
    let (mut row, _): (Vec<Value>, usize) =
        bincode::serde::decode_from_slice(b, bincode::config::standard())
            .map_err(|e| crate::error::Error::InvalidData(format!("row: {e}")))?;
    row.resize(ncols, Value::Null);
    Ok(row)
}

/// Encodes a table definition.
pub fn encode_def(t: &TableDef) -> Vec<u8> {
    bincode::serde::encode_to_vec(t, bincode::config::standard()).unwrap_or_default()
}

/// Decodes a table definition.
pub fn decode_def(b: &[u8]) -> crate::error::Result<TableDef> {
    bincode::serde::decode_from_slice(b, bincode::config::standard())
        .map(|(t, _)| t)
        .map_err(|e| crate::error::Error::InvalidData(format!("table definition: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: Value, ty: SqlType) -> Vec<u8> {
        let mut out = vec![];
        encode_key_value(&mut out, &v, &ty);
        out
    }

    #[test]
    fn keys_are_ordered() {
        let it = SqlType::Int { bytes: 4, unsigned: false };
        assert!(enc(Value::Int(-5), it.clone()) < enc(Value::Int(3), it.clone()));
        assert!(enc(Value::Null, it.clone()) < enc(Value::Int(i64::MIN), it.clone()));
        let dt = SqlType::Double;
        assert!(enc(Value::Double(-2.5), dt.clone()) < enc(Value::Double(-1.0), dt.clone()));
        assert!(enc(Value::Double(0.5), dt.clone()) < enc(Value::Double(2.0), dt));
        let vt = SqlType::VarChar(10);
        assert!(
            enc(Value::Bytes(b"ab".to_vec()), vt.clone())
                < enc(Value::Bytes(b"abc".to_vec()), vt.clone())
        );
        assert_eq!(
            enc(Value::Bytes(b"ABC".to_vec()), vt.clone()),
            enc(Value::Bytes(b"abc ".to_vec()), vt)
        );
        let d = SqlType::Decimal(10, 2);
        assert!(
            enc(Value::Decimal("-1.50".into()), d.clone())
                < enc(Value::Decimal("0.25".into()), d.clone())
        );
    }

    #[test]
    fn rows_round_trip() {
        let row = vec![Value::Int(1), Value::Bytes(b"x".to_vec()), Value::Null, Value::Double(2.5)];
        assert_eq!(decode_row(&encode_row(&row), 5).unwrap().len(), 5);
    }
}
