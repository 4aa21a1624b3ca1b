//! System variables: `SELECT @@name`, `SET [SESSION|GLOBAL] name = value`, `SHOW VARIABLES`.
//!
//! Lookup order for `@@name`: the session's typed fields (autocommit, sql_mode, time_zone, character sets,
//! last_insert_id), the session's own SET values, the values the server published with
//! `Engine::set_global_var` (server_id, gtid_binlog_pos, read_only, version, ...), then the built-in
//! defaults below. `@@global.name` skips the session layers.

use super::api::{Session, Value};
use super::store::EngineInner;
use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// Built-in defaults (MariaDB 10.11 values where clients look at them).
pub const DEFAULTS: &[(&str, &str)] = &[
    ("auto_increment_increment", "1"),
    ("auto_increment_offset", "1"),
    ("autocommit", "1"),
    ("binlog_checksum", "CRC32"),
    ("binlog_format", "STATEMENT"),
    ("character_set_client", "utf8mb4"),
    ("character_set_connection", "utf8mb4"),
    ("character_set_database", "utf8mb4"),
    ("character_set_results", "utf8mb4"),
    ("character_set_server", "utf8mb4"),
    ("character_set_system", "utf8mb3"),
    ("collation_connection", "utf8mb4_general_ci"),
    ("collation_database", "utf8mb4_general_ci"),
    ("collation_server", "utf8mb4_general_ci"),
    ("completion_type", "NO_CHAIN"),
    ("default_storage_engine", "InnoDB"),
    ("explicit_defaults_for_timestamp", "1"),
    ("foreign_key_checks", "1"),
    ("gtid_binlog_pos", ""),
    ("gtid_current_pos", ""),
    ("gtid_domain_id", "0"),
    ("gtid_slave_pos", ""),
    ("gtid_strict_mode", "0"),
    ("have_ssl", "DISABLED"),
    ("hostname", "localhost"),
    ("init_connect", ""),
    ("innodb_lock_wait_timeout", "50"),
    ("interactive_timeout", "28800"),
    ("license", "MIT"),
    ("log_bin", "1"),
    ("lower_case_table_names", "0"),
    ("max_allowed_packet", "16777216"),
    ("max_connections", "151"),
    ("net_buffer_length", "16384"),
    ("net_read_timeout", "30"),
    ("net_write_timeout", "60"),
    ("performance_schema", "0"),
    ("port", "3306"),
    ("query_cache_size", "0"),
    ("query_cache_type", "OFF"),
    ("read_only", "0"),
    ("server_id", "1"),
    ("sql_auto_is_null", "0"),
    ("sql_mode", super::exec::DEFAULT_SQL_MODE),
    ("sql_select_limit", "18446744073709551615"),
    ("sync_binlog", "1"),
    ("system_time_zone", "UTC"),
    ("time_zone", "SYSTEM"),
    ("transaction_isolation", "REPEATABLE-READ"),
    ("tx_isolation", "REPEATABLE-READ"),
    ("tx_read_only", "0"),
    ("unique_checks", "1"),
    ("version", "10.11.19-MariaDB-repld"),
    ("version_comment", "repld"),
    ("version_compile_machine", "x86_64"),
    ("version_compile_os", "Linux"),
    ("wait_timeout", "28800"),
];

/// Charset name -> (collation id, charset name, default collation name).
pub fn charset_info(name: &str) -> Option<(u16, &'static str, &'static str)> {
    Some(match name.to_ascii_lowercase().as_str() {
        "utf8mb4" => (45, "utf8mb4", "utf8mb4_general_ci"),
        "utf8" | "utf8mb3" => (33, "utf8mb3", "utf8mb3_general_ci"),
        "latin1" => (8, "latin1", "latin1_swedish_ci"),
        "binary" => (63, "binary", "binary"),
        "ascii" => (11, "ascii", "ascii_general_ci"),
        _ => return None,
    })
}

/// Collation id -> (charset name, collation name).
pub fn collation_name(id: u16) -> (&'static str, &'static str) {
    match id {
        33 => ("utf8mb3", "utf8mb3_general_ci"),
        8 => ("latin1", "latin1_swedish_ci"),
        63 => ("binary", "binary"),
        11 => ("ascii", "ascii_general_ci"),
        46 => ("utf8mb4", "utf8mb4_bin"),
        224 => ("utf8mb4", "utf8mb4_unicode_ci"),
        _ => ("utf8mb4", "utf8mb4_general_ci"),
    }
}

fn text(s: &str) -> Value {
    Value::Bytes(s.as_bytes().to_vec())
}

/// Session-typed variables.
fn session_typed(s: &Session, name: &str) -> Option<Value> {
    Some(match name {
        "autocommit" => Value::Int(s.autocommit as i64),
        "sql_mode" => text(&s.sql_mode),
        "time_zone" => text(&s.time_zone),
        "character_set_client" => text(collation_name(s.charset.0).0),
        "character_set_connection" | "character_set_results" => text(collation_name(s.charset.1).0),
        "collation_connection" => text(collation_name(s.charset.1).1),
        "last_insert_id" | "identity" => Value::UInt(s.last_insert_id),
        "pseudo_thread_id" => Value::UInt(s.connection_id as u64),
        "in_transaction" => Value::Int(s.in_transaction() as i64),
        _ => return None,
    })
}

/// Reads `@@name`.
pub fn get_var(inner: &EngineInner, s: &Session, name: &str, global: bool) -> Result<Value> {
    let name = name.to_ascii_lowercase();
    if !global {
        if let Some(v) = session_typed(s, &name) {
            return Ok(v);
        }
        if let Some(v) = s.vars.get(&name) {
            return Ok(v.clone());
        }
    }
    if let Some(v) = inner.globals.read().ok().and_then(|g| g.get(&name).cloned()) {
        return Ok(v);
    }
    if let Some((_, d)) = DEFAULTS.iter().find(|(n, _)| *n == name) {
        return Ok(match d.parse::<i64>() {
            Ok(i) if !d.is_empty() && name != "version" => Value::Int(i),
            _ => match d.parse::<u64>() {
                Ok(u) => Value::UInt(u),
                Err(_) => text(d),
            },
        });
    }
    Err(Error::sql(1193, "HY000", format!("Unknown system variable '{name}'")))
}

/// All variables visible to SHOW VARIABLES (session or global view).
pub fn all_vars(inner: &EngineInner, s: &Session, global: bool) -> BTreeMap<String, Value> {
    let mut m: BTreeMap<String, Value> = BTreeMap::new();
    for (n, _) in DEFAULTS {
        if let Ok(v) = get_var(inner, s, n, global) {
            m.insert(n.to_string(), v);
        }
    }
    if let Ok(g) = inner.globals.read() {
        for (k, v) in g.iter() {
            m.insert(k.clone(), v.clone());
        }
    }
    if !global {
        for (k, v) in &s.vars {
            m.insert(k.clone(), v.clone());
        }
        for n in [
            "autocommit",
            "sql_mode",
            "time_zone",
            "character_set_client",
            "character_set_connection",
            "character_set_results",
            "collation_connection",
        ] {
            if let Some(v) = session_typed(s, n) {
                m.insert(n.to_string(), v);
            }
        }
    }
    m
}

/// The text SHOW VARIABLES prints for a value (booleans as ON/OFF).
pub fn show_value(name: &str, v: &Value) -> Value {
    let boolish = matches!(
        name,
        "autocommit"
            | "read_only"
            | "log_bin"
            | "foreign_key_checks"
            | "unique_checks"
            | "sql_auto_is_null"
            | "explicit_defaults_for_timestamp"
            | "gtid_strict_mode"
            | "tx_read_only"
            | "performance_schema"
            | "in_transaction"
    );
    if boolish {
        if let Value::Int(i) = v {
            return text(if *i != 0 { "ON" } else { "OFF" });
        }
    }
    match v {
        Value::Null => text(""),
        v => Value::Bytes(v.to_text().unwrap_or_default()),
    }
}

/// Normalises a value assigned with SET to a boolean variable.
pub fn bool_value(name: &str, v: &Value) -> Result<bool> {
    match v {
        Value::Int(0) | Value::UInt(0) => Ok(false),
        Value::Int(1) | Value::UInt(1) => Ok(true),
        Value::Bytes(b) => match String::from_utf8_lossy(b).to_ascii_uppercase().as_str() {
            "ON" | "TRUE" | "1" => Ok(true),
            "OFF" | "FALSE" | "0" => Ok(false),
            other => Err(Error::sql(
                1231,
                "42000",
                format!("Variable '{name}' can't be set to the value of '{other}'"),
            )),
        },
        other => Err(Error::sql(
            1231,
            "42000",
            format!(
                "Variable '{name}' can't be set to the value of '{}'",
                String::from_utf8_lossy(&other.to_text().unwrap_or_default())
            ),
        )),
    }
}
