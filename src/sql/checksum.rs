//! CHECKSUM TABLE: a stable, documented checksum of a table's rows.
//!
//! Algorithm (repld v1), equal on any two stores holding the same rows, whatever their insertion order,
//! table ids or key layout:
//!
//! 1. Each row is serialised canonically: for each column in table order, a NULL is the byte `0x00`; any
//!    other value is `0x01`, its text-protocol form ([`Value::to_text`], e.g. `2.5`, `2024-01-01 10:00:00`)
//!    as a 4-byte big-endian length and the bytes.
//! 2. The row's checksum is the CRC-32 (IEEE, as `crc32fast`) of that serialisation.
//! 3. The table checksum is the sum of the row checksums modulo 2^32 (order-independent, like MySQL's
//!    unquick checksum), printed as an unsigned integer. An empty table gives 0.
//!
//! It does not reproduce MariaDB's own numbers (those hash the storage record format), only convergence
//! between repld servers.

use super::api::Value;
use super::catalog::TableDef;

/// Canonical CRC-32 of one row.
pub fn row_checksum(row: &[Value]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for v in row {
        match v.to_text() {
            None => h.update(&[0]),
            Some(b) => {
                h.update(&[1]);
                h.update(&(b.len() as u32).to_be_bytes());
                h.update(&b);
            }
        }
    }
    h.finalize()
}

/// The checksum of a table's rows.
pub fn table_checksum<'r>(t: &TableDef, rows: impl Iterator<Item = &'r [Value]>) -> u64 {
    let n = t.columns.len();
    let mut sum: u32 = 0;
    for r in rows {
        sum = sum.wrapping_add(row_checksum(&r[..n.min(r.len())]));
    }
    sum as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_independent_and_null_aware() {
        let a = vec![Value::Int(1), Value::Bytes(b"x".to_vec())];
        let b = vec![Value::Int(2), Value::Null];
        let c = vec![Value::Int(2), Value::Bytes(vec![])];
        assert_ne!(row_checksum(&b), row_checksum(&c));
        let s1 = row_checksum(&a).wrapping_add(row_checksum(&b));
        let s2 = row_checksum(&b).wrapping_add(row_checksum(&a));
        assert_eq!(s1, s2);
    }
}
