//! Result sets of the server-layer statements: SHOW MASTER STATUS, SHOW BINARY LOGS, SHOW BINLOG
//! EVENTS, SHOW SLAVE HOSTS, SHOW PROCESSLIST, and the effects of FLUSH/PURGE BINARY LOGS. Column names
//! and order follow MariaDB 10.11.

use crate::error::{Error, Result};
use crate::log::event::{intvar, type_name, Event, EventBody};
use crate::log::LogReader;
use crate::primary::admin::Admin;
use crate::primary::state::Shared;
use crate::sql::{ColumnInfo, ColumnType, Outcome, ResultSet, Value};

/// A text column definition.
pub fn text_col(name: &str) -> ColumnInfo {
    ColumnInfo {
        schema: String::new(),
        table: String::new(),
        org_table: String::new(),
        name: name.to_string(),
        org_name: String::new(),
        column_type: ColumnType::VarString,
        length: 1024,
        flags: 0,
        decimals: 31,
        charset: 45,
    }
}

/// An unsigned integer column definition.
pub fn int_col(name: &str) -> ColumnInfo {
    ColumnInfo {
        column_type: ColumnType::LongLong,
        length: 20,
        flags: 1 | 32 | 32768,
        decimals: 0,
        charset: 63,
        ..text_col(name)
    }
}

fn text(s: impl Into<String>) -> Value {
    Value::Bytes(s.into().into_bytes())
}

/// A one-row, one-column result.
pub fn single(name: &str, v: Value) -> ResultSet {
    ResultSet { columns: vec![text_col(name)], rows: vec![vec![v]] }
}

/// SHOW SLAVE STATUS on a server without the replica role: the columns, no row.
pub fn empty_slave_status() -> ResultSet {
    let cols = [
        "Slave_IO_State",
        "Master_Host",
        "Master_User",
        "Master_Port",
        "Connect_Retry",
        "Master_Log_File",
        "Read_Master_Log_Pos",
        "Relay_Log_File",
        "Relay_Log_Pos",
        "Relay_Master_Log_File",
        "Slave_IO_Running",
        "Slave_SQL_Running",
        "Last_Errno",
        "Last_Error",
        "Exec_Master_Log_Pos",
        "Seconds_Behind_Master",
        "Last_IO_Errno",
        "Last_IO_Error",
        "Last_SQL_Errno",
        "Last_SQL_Error",
        "Master_Server_Id",
        "Using_Gtid",
        "Gtid_IO_Pos",
    ];
    ResultSet { columns: cols.iter().map(|c| text_col(c)).collect(), rows: Vec::new() }
}

/// SHOW PROCESSLIST.
pub fn processlist(shared: &Shared, full: bool) -> ResultSet {
    let columns = vec![
        int_col("Id"),
        text_col("User"),
        text_col("Host"),
        text_col("db"),
        text_col("Command"),
        int_col("Time"),
        text_col("State"),
        text_col("Info"),
        text_col("Progress"),
    ];
    let rows = match shared.processes.lock() {
        Ok(p) => p
            .iter()
            .map(|(id, p)| {
                let info = p.info.as_ref().map(|i| {
                    if full {
                        i.clone()
                    } else {
                        i.chars().take(100).collect()
                    }
                });
                vec![
                    Value::UInt(*id as u64),
                    text(p.user.clone()),
                    text(p.host.clone()),
                    p.db.clone().map(text).unwrap_or(Value::Null),
                    text(p.command),
                    Value::UInt(p.since.elapsed().as_secs()),
                    text(p.state.clone()),
                    info.map(text).unwrap_or(Value::Null),
                    Value::Decimal("0.000".into()),
                ]
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    ResultSet { columns, rows }
}

/// SHOW SLAVE HOSTS / SHOW REPLICAS.
pub fn slave_hosts(shared: &Shared) -> ResultSet {
    let columns = vec![
        int_col("Server_id"),
        text_col("Host"),
        int_col("Port"),
        int_col("Master_id"),
        // repld's own: how far the dump has sent this replica.
        text_col("Position"),
        text_col("Gtid_Pos"),
    ];
    let rows = match shared.replicas.lock() {
        Ok(r) => r
            .values()
            .map(|h| {
                vec![
                    Value::UInt(h.server_id as u64),
                    text(h.host.clone()),
                    Value::UInt(h.port as u64),
                    Value::UInt(h.master_id as u64),
                    text(h.sent_position.clone()),
                    text(h.sent_gtid.clone()),
                ]
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    ResultSet { columns, rows }
}

fn ok(affected: u64) -> Outcome {
    Outcome::Ok { affected_rows: affected, last_insert_id: 0, warnings: 0, info: String::new() }
}

/// The binary-log statements; blocking (reads files), run in `spawn_blocking`.
pub fn binlog_admin(shared: &Shared, a: Admin) -> Result<Outcome> {
    let binlog = &shared.binlog;
    Ok(match a {
        Admin::MasterStatus => {
            let (file, pos, gtid) = binlog.status();
            let columns = vec![
                text_col("File"),
                int_col("Position"),
                text_col("Binlog_Do_DB"),
                text_col("Binlog_Ignore_DB"),
                text_col("Gtid_Binlog_Pos"),
            ];
            let row =
                vec![text(file), Value::UInt(pos), text(""), text(""), text(gtid.to_string())];
            Outcome::Rows(ResultSet { columns, rows: vec![row] })
        }
        Admin::BinaryLogs => {
            let rows = binlog
                .files()?
                .into_iter()
                .map(|(name, size)| vec![text(name), Value::UInt(size)])
                .collect();
            Outcome::Rows(ResultSet {
                columns: vec![text_col("Log_name"), int_col("File_size")],
                rows,
            })
        }
        Admin::BinlogEvents { file, from, offset, limit } => {
            Outcome::Rows(binlog_events(shared, file, from, offset, limit)?)
        }
        Admin::FlushLogs => {
            binlog.flush_logs()?;
            ok(0)
        }
        Admin::PurgeTo(name) => {
            // The binlog's purge hook first makes the store durable (see `Server::open`).
            binlog.purge_to(&name, false).map_err(purge_error)?;
            ok(0)
        }
        Admin::PurgeBefore(ts) => {
            binlog.purge_before(ts.max(0) as u64, false).map_err(purge_error)?;
            ok(0)
        }
        Admin::BinlogGtidPos { file, pos } => {
            let gtid = gtid_at(shared, &file, pos)?;
            Outcome::Rows(single(
                &format!("binlog_gtid_pos('{file}',{pos})"),
                gtid.map(text).unwrap_or(Value::Null),
            ))
        }
        other => return Err(Error::Abort(format!("not a binlog statement: {other:?}"))),
    })
}

/// PURGE errors as MariaDB words them.
fn purge_error(e: Error) -> Error {
    match e {
        Error::PositionNotFound(m) => {
            Error::sql(1373, "HY000", format!("Target log not found in binlog index ({m})"))
        }
        Error::Sql(_) => e,
        other => {
            let (_, _, m) = other.to_mysql();
            Error::sql(1377, "HY000", format!("Fatal error during log purge: {m}"))
        }
    }
}

/// SHOW BINLOG EVENTS [IN file] [FROM pos] [LIMIT [offset,] count].
fn binlog_events(
    shared: &Shared,
    file: Option<String>,
    from: Option<u64>,
    offset: u64,
    limit: Option<u64>,
) -> Result<ResultSet> {
    let binlog = &shared.binlog;
    let file = file.unwrap_or_default();
    // ER_ERROR_WHEN_EXECUTING_COMMAND, for a file that cannot be opened and for a position that is
    // not the start of an event (MariaDB: "Wrong offset or I/O error").
    let failed = |e: Error| {
        let (_, _, m) = e.to_mysql();
        Error::sql(1220, "HY000", format!("Error when executing command SHOW BINLOG EVENTS: {m}"))
    };
    let mut reader = LogReader::open(binlog.dir(), binlog.basename(), &file, from.unwrap_or(4))
        .map_err(failed)?;
    reader.set_limit(Some(binlog.durable_pos()));
    let first_file = reader.position().file;
    let columns = vec![
        text_col("Log_name"),
        int_col("Pos"),
        text_col("Event_type"),
        int_col("Server_id"),
        int_col("End_log_pos"),
        text_col("Info"),
    ];
    let mut rows = Vec::new();
    let mut skipped = 0;
    while limit.is_none_or(|l| (rows.len() as u64) < l) {
        let Some(ev) = reader.next_event().map_err(failed)? else { break };
        if ev.file != first_file {
            break; // SHOW BINLOG EVENTS shows one file
        }
        if skipped < offset {
            skipped += 1;
            continue;
        }
        rows.push(vec![
            text(ev.file.clone()),
            Value::UInt(ev.pos),
            text(type_name(ev.event.header.type_code)),
            Value::UInt(ev.event.header.server_id as u64),
            Value::UInt(ev.event.header.log_pos as u64),
            text(event_info(&ev.event)),
        ]);
    }
    Ok(ResultSet { columns, rows })
}

/// The Info column of SHOW BINLOG EVENTS.
pub fn event_info(ev: &Event) -> String {
    match &ev.body {
        EventBody::FormatDescription { server_version, binlog_version, .. } => {
            format!("Server ver: {server_version}, Binlog ver: {binlog_version}")
        }
        EventBody::Query { db, sql, .. } => {
            let sql = String::from_utf8_lossy(sql);
            if db.is_empty() {
                sql.into_owned()
            } else {
                format!("use `{db}`; {sql}")
            }
        }
        EventBody::Xid(x) => format!("COMMIT /* xid={x} */"),
        EventBody::Rotate { position, next_file } => format!("{next_file};pos={position}"),
        EventBody::Intvar { kind, value } if *kind == intvar::INSERT_ID => {
            format!("INSERT_ID={value}")
        }
        EventBody::Intvar { value, .. } => format!("LAST_INSERT_ID={value}"),
        EventBody::Rand { seed1, seed2 } => format!("rand_seed1={seed1},rand_seed2={seed2}"),
        EventBody::UserVar { name, .. } => format!("@`{name}`"),
        EventBody::Gtid { seq_no, domain_id, flags2, .. } => {
            let gtid = format!("{domain_id}-{}-{seq_no}", ev.header.server_id);
            if flags2 & crate::log::event::gtid_flags::STANDALONE != 0 {
                format!("GTID {gtid}")
            } else {
                format!("BEGIN GTID {gtid}")
            }
        }
        EventBody::GtidList(list) => {
            format!("[{}]", list.iter().map(|g| g.to_string()).collect::<Vec<_>>().join(","))
        }
        EventBody::BinlogCheckpoint(f) => f.clone(),
        _ => String::new(),
    }
}

/// The GTID state at (file, pos): the file's GTID_LIST plus every GTID before `pos`
/// (`binlog_gtid_pos()`, which a MariaDB replica asks when it switches to GTID mode).
pub fn gtid_at(shared: &Shared, file: &str, pos: u64) -> Result<Option<String>> {
    let binlog = &shared.binlog;
    let Ok(mut reader) = LogReader::open(binlog.dir(), binlog.basename(), file, 4) else {
        return Ok(None);
    };
    reader.set_limit(Some(crate::log::LogPos::new(file, pos)));
    let mut state = crate::log::GtidState::new();
    while let Some(ev) = reader.next_event()? {
        match &ev.event.body {
            EventBody::GtidList(list) => list.iter().for_each(|g| state.update(*g)),
            EventBody::Gtid { seq_no, domain_id, .. } => {
                state.update(crate::log::Gtid::new(*domain_id, ev.event.header.server_id, *seq_no))
            }
            _ => {}
        }
    }
    Ok(Some(state.to_string()))
}
