//! The replica's status: one serde struct that SHOW REPLICA STATUS / SHOW SLAVE STATUS render as a
//! result set (MySQL's column names, Replica_/Source_ spellings under SHOW REPLICA STATUS) and that
//! `replctl status --json` prints as JSON.

use crate::sql::{ColumnInfo, ColumnType, ResultSet, Value};

/// A snapshot of the replica's state.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReplicaStatus {
    /// What the IO thread is doing (`Waiting for master to send event`, `Connecting to master`, ...).
    pub slave_io_state: String,
    /// Source host.
    pub master_host: String,
    /// Replication user.
    pub master_user: String,
    /// Source port.
    pub master_port: u16,
    /// Seconds between reconnection attempts.
    pub connect_retry: u64,
    /// Source binlog file the IO thread is reading.
    pub master_log_file: String,
    /// Offset in it up to which events were received.
    pub read_master_log_pos: u64,
    /// Relay log file the SQL thread is reading.
    pub relay_log_file: String,
    /// Offset in it.
    pub relay_log_pos: u64,
    /// Source binlog file of the last applied group.
    pub relay_master_log_file: String,
    /// `Yes`, `Connecting` or `No`.
    pub slave_io_running: String,
    /// `Yes` or `No`.
    pub slave_sql_running: String,
    /// Last error of either thread (SQL first, as MySQL).
    pub last_errno: u32,
    /// Its message.
    pub last_error: String,
    /// Groups still to skip (sql_slave_skip_counter).
    pub skip_counter: u64,
    /// Source offset just past the last applied group.
    pub exec_master_log_pos: u64,
    /// Total size of the relay log files in bytes.
    pub relay_log_space: u64,
    /// Replication delay in seconds; `None` (NULL) while a thread is not running.
    pub seconds_behind_master: Option<u64>,
    /// Last IO thread error number.
    pub last_io_errno: u32,
    /// Its message.
    pub last_io_error: String,
    /// Last SQL thread error number.
    pub last_sql_errno: u32,
    /// Its message.
    pub last_sql_error: String,
    /// The source's server id (0 until known).
    pub master_server_id: u32,
    /// MASTER_USE_GTID (`Slave_Pos`, `Current_Pos`, `No`).
    pub using_gtid: String,
    /// GTID state received by the IO thread.
    pub gtid_io_pos: String,
    /// GTID state applied by the SQL thread.
    pub gtid_slave_pos: String,
    /// What the SQL thread is doing.
    pub slave_sql_running_state: String,
    /// Seconds between the last received group's source timestamp and its arrival; `None` while the IO
    /// thread is not connected.
    pub receive_lag_seconds: Option<f64>,
    /// Seconds the oldest received-but-unapplied group has been waiting in the relay log (0 when none);
    /// `None` while the SQL thread is not running.
    pub apply_lag_seconds: Option<f64>,
    /// Groups received and not yet applied.
    pub backlog_transactions: u64,
    /// Relay log bytes received and not yet applied.
    pub backlog_bytes: u64,
    /// Seconds since the source last sent anything (event or heartbeat); `None` when never.
    pub heartbeat_age_seconds: Option<f64>,
    /// Groups applied since start-up.
    pub applied_transactions: u64,
}

/// A column's value kind in the result set.
enum Kind {
    Text,
    Num,
    Secs,
}

fn column(name: &str, kind: &Kind) -> ColumnInfo {
    let (column_type, length, charset, flags) = match kind {
        Kind::Text => (ColumnType::VarString, 1024, 45, 0),
        Kind::Num => (ColumnType::LongLong, 20, 63, 32 | 32768),
        Kind::Secs => (ColumnType::NewDecimal, 20, 63, 32768),
    };
    ColumnInfo {
        schema: String::new(),
        table: String::new(),
        org_table: String::new(),
        name: name.to_string(),
        org_name: String::new(),
        column_type,
        length,
        flags,
        decimals: if matches!(kind, Kind::Secs) { 3 } else { 0 },
        charset,
    }
}

fn text(s: &str) -> Value {
    Value::Bytes(s.as_bytes().to_vec())
}

fn num(n: u64) -> Value {
    Value::UInt(n)
}

fn opt(n: Option<u64>) -> Value {
    n.map_or(Value::Null, Value::UInt)
}

/// Seconds with millisecond precision, as a DECIMAL text (`0.250`).
fn secs(s: Option<f64>) -> Value {
    s.map_or(Value::Null, |s| Value::Decimal(format!("{:.3}", s.max(0.0))))
}

impl ReplicaStatus {
    /// The (name, value) pairs in MySQL's column order, with SHOW SLAVE STATUS names.
    fn fields(&self) -> Vec<(&'static str, Kind, Value)> {
        use Kind::{Num, Secs, Text};
        vec![
            ("Slave_IO_State", Text, text(&self.slave_io_state)),
            ("Master_Host", Text, text(&self.master_host)),
            ("Master_User", Text, text(&self.master_user)),
            ("Master_Port", Num, num(u64::from(self.master_port))),
            ("Connect_Retry", Num, num(self.connect_retry)),
            ("Master_Log_File", Text, text(&self.master_log_file)),
            ("Read_Master_Log_Pos", Num, num(self.read_master_log_pos)),
            ("Relay_Log_File", Text, text(&self.relay_log_file)),
            ("Relay_Log_Pos", Num, num(self.relay_log_pos)),
            ("Relay_Master_Log_File", Text, text(&self.relay_master_log_file)),
            ("Slave_IO_Running", Text, text(&self.slave_io_running)),
            ("Slave_SQL_Running", Text, text(&self.slave_sql_running)),
            ("Last_Errno", Num, num(u64::from(self.last_errno))),
            ("Last_Error", Text, text(&self.last_error)),
            ("Skip_Counter", Num, num(self.skip_counter)),
            ("Exec_Master_Log_Pos", Num, num(self.exec_master_log_pos)),
            ("Relay_Log_Space", Num, num(self.relay_log_space)),
            ("Seconds_Behind_Master", Num, opt(self.seconds_behind_master)),
            ("Last_IO_Errno", Num, num(u64::from(self.last_io_errno))),
            ("Last_IO_Error", Text, text(&self.last_io_error)),
            ("Last_SQL_Errno", Num, num(u64::from(self.last_sql_errno))),
            ("Last_SQL_Error", Text, text(&self.last_sql_error)),
            ("Master_Server_Id", Num, num(u64::from(self.master_server_id))),
            ("Using_Gtid", Text, text(&self.using_gtid)),
            ("Gtid_IO_Pos", Text, text(&self.gtid_io_pos)),
            ("Slave_SQL_Running_State", Text, text(&self.slave_sql_running_state)),
            ("Gtid_Slave_Pos", Text, text(&self.gtid_slave_pos)),
            ("Receive_Lag", Secs, secs(self.receive_lag_seconds)),
            ("Apply_Lag", Secs, secs(self.apply_lag_seconds)),
            ("Backlog_Transactions", Num, num(self.backlog_transactions)),
            ("Backlog_Bytes", Num, num(self.backlog_bytes)),
            ("Heartbeat_Age", Secs, secs(self.heartbeat_age_seconds)),
            ("Applied_Transactions", Num, num(self.applied_transactions)),
        ]
    }

    /// The column name as SHOW REPLICA STATUS spells it (MySQL 8.0.22+: Replica/Source).
    pub fn replica_name(slave_name: &str) -> String {
        slave_name
            .replace("Slave", "Replica")
            .replace("Master", "Source")
            .replace("master", "source")
    }

    /// The status as a one-row result set; `replica_names` selects SHOW REPLICA STATUS spellings.
    pub fn to_result_set(&self, replica_names: bool) -> ResultSet {
        let fields = self.fields();
        let columns = fields
            .iter()
            .map(|(name, kind, _)| {
                let name = if replica_names { Self::replica_name(name) } else { name.to_string() };
                column(&name, kind)
            })
            .collect();
        let row = fields.into_iter().map(|(_, _, v)| v).collect();
        ResultSet { columns, rows: vec![row] }
    }

    /// The column names of the result set (empty result when not configured as a replica).
    pub fn empty_result_set(replica_names: bool) -> ResultSet {
        let mut rs = ReplicaStatus::default().to_result_set(replica_names);
        rs.rows.clear();
        rs
    }
}

impl std::fmt::Display for ReplicaStatus {
    /// `Label: value` lines, aligned, like `SHOW SLAVE STATUS\G`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fields = self.fields();
        let width = fields.iter().map(|(n, _, _)| n.len()).max().unwrap_or(0);
        for (name, _, value) in fields {
            let shown = match value {
                Value::Null => "NULL".to_string(),
                Value::UInt(n) => n.to_string(),
                Value::Decimal(d) => d,
                Value::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
                other => format!("{other:?}"),
            };
            writeln!(f, "{name:>width$}: {shown}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_nulls() {
        let st = ReplicaStatus {
            master_host: "h".into(),
            slave_io_running: "No".into(),
            ..Default::default()
        };
        let rs = st.to_result_set(true);
        let names: Vec<_> = rs.columns.iter().map(|c| c.name.as_str()).collect();
        assert!(names.contains(&"Replica_IO_Running"));
        assert!(names.contains(&"Source_Host"));
        assert!(names.contains(&"Exec_Source_Log_Pos"));
        assert!(names.contains(&"Seconds_Behind_Source"));
        assert!(names.contains(&"Gtid_Slave_Pos") || names.contains(&"Gtid_Replica_Pos"));
        let i = names.iter().position(|n| *n == "Seconds_Behind_Source").unwrap();
        assert_eq!(rs.rows[0][i], Value::Null);
        let rs = st.to_result_set(false);
        assert_eq!(rs.columns[1].name, "Master_Host");
        assert_eq!(rs.rows[0][1], Value::Bytes(b"h".to_vec()));
        let shown = st.to_string();
        assert!(shown.contains("Seconds_Behind_Master: NULL"), "{shown}");
        assert!(ReplicaStatus::empty_result_set(false).rows.is_empty());
    }
}
