//! Server status as `replctl status` shows it, collected over the MySQL protocol.
//!
//! The status of a server is read with ordinary SQL (`@@server_id`, `SHOW MASTER STATUS`, `SHOW SLAVE
//! HOSTS`, `SHOW SLAVE STATUS`), so the same code reports on repld servers and on MariaDB servers. A server
//! is a replica when `SHOW SLAVE STATUS` returns a row. [`ServerStatus`] is the stable `--json` schema (see
//! docs/replctl-status.md); its `Display` impl is the human form, aligned `Label:  value` lines.
//!
//! Health: [`ServerStatus::health`] is `Healthy` unless a replica thread stopped with an error or is not
//! running (`Broken`); an unreachable server is `Unreachable`. `replctl status` exits 0, 2 or 1 for these.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The stable JSON schema version; bumped only on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything `replctl status` reports about one server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerStatus {
    /// `host:port` as given on the command line.
    pub address: String,
    /// `primary` or `replica`, or `unreachable`.
    pub role: String,
    /// The error text when the server could not be reached or queried.
    pub error: Option<String>,
    /// `@@server_id`.
    pub server_id: Option<u64>,
    /// `@@version`.
    pub version: Option<String>,
    /// `@@read_only`.
    pub read_only: Option<bool>,
    /// Binary log position (`SHOW MASTER STATUS`, `@@gtid_binlog_pos`), if binary logging is on.
    pub binlog: Option<BinlogStatus>,
    /// Replicas registered with this server (`SHOW SLAVE HOSTS`).
    pub replicas: Vec<ConnectedReplica>,
    /// This server's replication state, when it is a replica.
    pub replication: Option<ReplicationStatus>,
}

/// The server's own binary log position.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BinlogStatus {
    /// Current binlog file.
    pub file: String,
    /// Position in it.
    pub position: u64,
    /// GTID position of the binlog (`@@gtid_binlog_pos`).
    pub gtid: String,
}

/// A replica connected to a primary.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectedReplica {
    /// Its server id.
    pub server_id: u64,
    /// Host it reported.
    pub host: String,
    /// Port it reported.
    pub port: u64,
    /// GTID position it has been sent up to, when the server reports it.
    pub gtid: Option<String>,
    /// File and position it has been sent up to, when the server reports them.
    pub position: Option<String>,
}

/// A replica's IO/SQL thread state and lag.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplicationStatus {
    /// `host:port` of the source.
    pub source: String,
    /// Source server id (`Master_Server_Id`).
    pub source_server_id: Option<u64>,
    /// IO thread: `Yes`, `No` or `Connecting`.
    pub io_running: String,
    /// SQL thread: `Yes` or `No`.
    pub sql_running: String,
    /// IO thread state text.
    pub io_state: String,
    /// Received GTID position (`Gtid_IO_Pos`).
    pub received_gtid: String,
    /// Applied GTID position (`Gtid_Slave_Pos`).
    pub applied_gtid: String,
    /// Source file/position received (`Master_Log_File:Read_Master_Log_Pos`).
    pub received_position: String,
    /// Source file/position applied (`Relay_Master_Log_File:Exec_Master_Log_Pos`).
    pub applied_position: String,
    /// `Seconds_Behind_Master`; `None` (NULL) while the IO thread is down.
    pub lag_seconds: Option<u64>,
    /// Transactions received but not applied, when the server reports it.
    pub backlog_transactions: Option<u64>,
    /// Bytes received but not applied, when the server reports it.
    pub backlog_bytes: Option<u64>,
    /// Seconds since the last event or heartbeat from the source, when the server reports it.
    pub heartbeat_age_seconds: Option<f64>,
    /// `Last_IO_Errno` and `Last_IO_Error`, when non-zero.
    pub last_io_error: Option<(u64, String)>,
    /// `Last_SQL_Errno` and `Last_SQL_Error`, when non-zero.
    pub last_sql_error: Option<(u64, String)>,
}

/// Health of one server, mapped to `replctl status`'s exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Health {
    /// Reachable, and replicating if it is a replica (exit 0).
    Healthy,
    /// A replica whose IO or SQL thread is stopped or failed (exit 2).
    Broken,
    /// Not reachable, or a query failed (exit 1).
    Unreachable,
}

impl Health {
    /// The process exit code for this health.
    pub fn exit_code(self) -> i32 {
        match self {
            Health::Healthy => 0,
            Health::Unreachable => 1,
            Health::Broken => 2,
        }
    }
}

impl ServerStatus {
    /// An unreachable server and why.
    pub fn unreachable(address: &str, error: String) -> Self {
        ServerStatus {
            address: address.into(),
            role: "unreachable".into(),
            error: Some(error),
            ..Default::default()
        }
    }

    /// The server's health.
    pub fn health(&self) -> Health {
        if self.error.is_some() {
            return Health::Unreachable;
        }
        match &self.replication {
            Some(r)
                if r.sql_running != "Yes"
                    || r.io_running == "No"
                    || r.last_io_error.is_some()
                    || r.last_sql_error.is_some() =>
            {
                Health::Broken
            }
            _ => Health::Healthy,
        }
    }

    /// Fills the replica part from one `SHOW SLAVE STATUS` row given as column name -> value (`None` = NULL).
    pub fn replication_from_row(row: &BTreeMap<String, Option<String>>) -> ReplicationStatus {
        let s = |k: &str| row.get(k).cloned().flatten().unwrap_or_default();
        let n = |k: &str| row.get(k).cloned().flatten().and_then(|v| v.parse::<u64>().ok());
        let err = |code: &str, text: &str| match n(code) {
            Some(c) if c != 0 => Some((c, s(text))),
            _ => None,
        };
        ReplicationStatus {
            source: format!("{}:{}", s("Master_Host"), s("Master_Port")),
            source_server_id: n("Master_Server_Id"),
            io_running: s("Slave_IO_Running"),
            sql_running: s("Slave_SQL_Running"),
            io_state: s("Slave_IO_State"),
            received_gtid: s("Gtid_IO_Pos"),
            applied_gtid: s("Gtid_Slave_Pos"),
            received_position: format!("{}:{}", s("Master_Log_File"), s("Read_Master_Log_Pos")),
            applied_position: format!(
                "{}:{}",
                s("Relay_Master_Log_File"),
                s("Exec_Master_Log_Pos")
            ),
            lag_seconds: n("Seconds_Behind_Master"),
            backlog_transactions: n("Backlog_Transactions"),
            backlog_bytes: n("Backlog_Bytes"),
            heartbeat_age_seconds: row
                .get("Heartbeat_Age")
                .cloned()
                .flatten()
                .and_then(|v| v.parse::<f64>().ok()),
            last_io_error: err("Last_IO_Errno", "Last_IO_Error"),
            last_sql_error: err("Last_SQL_Errno", "Last_SQL_Error"),
        }
    }
}

fn opt<T: fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map(|v| v.to_string()).unwrap_or_else(|| "NULL".into())
}

/// Writes `label:` padded to a common width, then the value.
fn line(
    f: &mut fmt::Formatter<'_>,
    indent: &str,
    label: &str,
    value: impl fmt::Display,
) -> fmt::Result {
    writeln!(f, "{indent}{:<22}{value}", format!("{label}:"))
}

impl fmt::Display for ServerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} ({})", self.address, self.role)?;
        if let Some(e) = &self.error {
            return line(f, "  ", "Error", e);
        }
        line(f, "  ", "Server id", opt(&self.server_id))?;
        line(f, "  ", "Version", opt(&self.version))?;
        line(
            f,
            "  ",
            "Read only",
            self.read_only.map(|b| if b { "yes" } else { "no" }).unwrap_or("NULL"),
        )?;
        if let Some(b) = &self.binlog {
            line(f, "  ", "Binlog", format!("{}:{}", b.file, b.position))?;
            line(f, "  ", "Binlog GTID", if b.gtid.is_empty() { "(empty)" } else { &b.gtid })?;
        }
        if !self.replicas.is_empty() {
            line(f, "  ", "Replicas", self.replicas.len())?;
            for r in &self.replicas {
                let mut v = format!("server id {} at {}:{}", r.server_id, r.host, r.port);
                if let Some(g) = &r.gtid {
                    v.push_str(&format!(", sent GTID {g}"));
                }
                if let Some(p) = &r.position {
                    v.push_str(&format!(", sent up to {p}"));
                }
                writeln!(f, "    - {v}")?;
            }
        }
        if let Some(r) = &self.replication {
            line(
                f,
                "  ",
                "Source",
                format!("{} (server id {})", r.source, opt(&r.source_server_id)),
            )?;
            line(f, "  ", "IO thread", format!("{} ({})", r.io_running, r.io_state))?;
            line(f, "  ", "SQL thread", &r.sql_running)?;
            line(f, "  ", "Received", format!("{} GTID {}", r.received_position, r.received_gtid))?;
            line(f, "  ", "Applied", format!("{} GTID {}", r.applied_position, r.applied_gtid))?;
            line(
                f,
                "  ",
                "Lag",
                r.lag_seconds.map(|s| format!("{s} s")).unwrap_or_else(|| "NULL".into()),
            )?;
            if r.backlog_transactions.is_some() || r.backlog_bytes.is_some() {
                line(
                    f,
                    "  ",
                    "Backlog",
                    format!(
                        "{} transactions, {} bytes",
                        opt(&r.backlog_transactions),
                        opt(&r.backlog_bytes)
                    ),
                )?;
            }
            if let Some(a) = r.heartbeat_age_seconds {
                line(f, "  ", "Heartbeat age", format!("{a:.1} s"))?;
            }
            if let Some((c, e)) = &r.last_io_error {
                line(f, "  ", "Last IO error", format!("{c}: {e}"))?;
            }
            if let Some((c, e)) = &r.last_sql_error {
                line(f, "  ", "Last SQL error", format!("{c}: {e}"))?;
            }
        }
        Ok(())
    }
}

/// Reads the status of the server at `host:port` with the given account. Never fails: an unreachable
/// server or a failing query gives a status with `role = "unreachable"` and the error.
pub async fn collect(host: &str, port: u16, user: &str, password: &str) -> ServerStatus {
    let address = format!("{host}:{port}");
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(host.to_string())
        .tcp_port(port)
        .user(Some(user.to_string()))
        .pass(if password.is_empty() { None } else { Some(password.to_string()) })
        .prefer_socket(false);
    let connect = mysql_async::Conn::new(opts);
    let mut conn = match tokio::time::timeout(std::time::Duration::from_secs(5), connect).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return ServerStatus::unreachable(&address, e.to_string()),
        Err(_) => return ServerStatus::unreachable(&address, "connect timed out".into()),
    };
    let status = match query_status(&mut conn, &address).await {
        Ok(s) => s,
        Err(e) => ServerStatus::unreachable(&address, e.to_string()),
    };
    let _ = conn.disconnect().await;
    status
}

/// Runs a query and returns its rows as column name -> value maps (`None` = NULL).
pub async fn query_maps(
    conn: &mut mysql_async::Conn,
    sql: &str,
) -> std::result::Result<Vec<BTreeMap<String, Option<String>>>, mysql_async::Error> {
    use mysql_async::prelude::Queryable;
    let rows: Vec<mysql_async::Row> = conn.query(sql).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let cols = row.columns();
            cols.iter()
                .enumerate()
                .map(|(i, c)| {
                    let v = match row.as_ref(i) {
                        None | Some(mysql_async::Value::NULL) => None,
                        Some(mysql_async::Value::Bytes(b)) => {
                            Some(String::from_utf8_lossy(b).into_owned())
                        }
                        Some(v) => Some(v.as_sql(true).trim_matches('\'').to_string()),
                    };
                    (c.name_str().into_owned(), v)
                })
                .collect()
        })
        .collect())
}

async fn query_status(
    conn: &mut mysql_async::Conn,
    address: &str,
) -> std::result::Result<ServerStatus, mysql_async::Error> {
    let vars = query_maps(
        conn,
        "SELECT @@server_id AS id, @@version AS v, @@read_only AS ro, @@gtid_binlog_pos AS g",
    )
    .await?;
    let var = |k: &str| vars.first().and_then(|r| r.get(k).cloned().flatten());
    let mut status = ServerStatus {
        address: address.to_string(),
        role: "primary".into(),
        server_id: var("id").and_then(|v| v.parse().ok()),
        version: var("v"),
        read_only: var("ro").map(|v| v == "1" || v.eq_ignore_ascii_case("on")),
        ..Default::default()
    };
    // Binary logging may be off (a plain replica): SHOW MASTER STATUS is then empty.
    if let Some(row) =
        query_maps(conn, "SHOW MASTER STATUS").await.ok().and_then(|r| r.into_iter().next())
    {
        status.binlog = Some(BinlogStatus {
            file: row.get("File").cloned().flatten().unwrap_or_default(),
            position: row
                .get("Position")
                .cloned()
                .flatten()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0),
            gtid: var("g").unwrap_or_default(),
        });
    }
    if let Ok(hosts) = query_maps(conn, "SHOW SLAVE HOSTS").await {
        status.replicas = hosts
            .iter()
            .map(|h| {
                let g = |k: &str| h.get(k).cloned().flatten();
                ConnectedReplica {
                    server_id: g("Server_id").and_then(|v| v.parse().ok()).unwrap_or(0),
                    host: g("Host").unwrap_or_default(),
                    port: g("Port").and_then(|v| v.parse().ok()).unwrap_or(0),
                    gtid: g("Gtid_Pos"),
                    position: g("Position"),
                }
            })
            .collect();
    }
    if let Some(row) = query_maps(conn, "SHOW SLAVE STATUS").await?.into_iter().next() {
        status.role = "replica".into();
        status.replication = Some(ServerStatus::replication_from_row(&row));
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica_row(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.map(|s| s.to_string()))).collect()
    }

    fn sample_replica(row: &[(&str, Option<&str>)]) -> ServerStatus {
        ServerStatus {
            address: "127.0.0.1:3307".into(),
            role: "replica".into(),
            server_id: Some(2),
            version: Some("10.11.19-MariaDB-repld".into()),
            read_only: Some(true),
            replication: Some(ServerStatus::replication_from_row(&replica_row(row))),
            ..Default::default()
        }
    }

    const RUNNING: &[(&str, Option<&str>)] = &[
        ("Master_Host", Some("127.0.0.1")),
        ("Master_Port", Some("3306")),
        ("Master_Server_Id", Some("1")),
        ("Slave_IO_Running", Some("Yes")),
        ("Slave_SQL_Running", Some("Yes")),
        ("Slave_IO_State", Some("Waiting for master to send event")),
        ("Gtid_IO_Pos", Some("0-1-42")),
        ("Gtid_Slave_Pos", Some("0-1-40")),
        ("Master_Log_File", Some("repld-bin.000001")),
        ("Read_Master_Log_Pos", Some("9000")),
        ("Relay_Master_Log_File", Some("repld-bin.000001")),
        ("Exec_Master_Log_Pos", Some("8800")),
        ("Seconds_Behind_Master", Some("0")),
        ("Backlog_Transactions", Some("2")),
        ("Backlog_Bytes", Some("200")),
        ("Heartbeat_Age", Some("0.25")),
        ("Last_IO_Errno", Some("0")),
        ("Last_SQL_Errno", Some("0")),
    ];

    #[test]
    fn healthy_replica_golden() {
        let s = sample_replica(RUNNING);
        assert_eq!(s.health(), Health::Healthy);
        let want = "\
127.0.0.1:3307 (replica)
  Server id:            2
  Version:              10.11.19-MariaDB-repld
  Read only:            yes
  Source:               127.0.0.1:3306 (server id 1)
  IO thread:            Yes (Waiting for master to send event)
  SQL thread:           Yes
  Received:             repld-bin.000001:9000 GTID 0-1-42
  Applied:              repld-bin.000001:8800 GTID 0-1-40
  Lag:                  0 s
  Backlog:              2 transactions, 200 bytes
  Heartbeat age:        0.2 s
";
        assert_eq!(s.to_string(), want);
    }

    #[test]
    fn broken_and_disconnected_replicas() {
        let mut row = RUNNING.to_vec();
        row.retain(|(k, _)| !["Slave_SQL_Running", "Last_SQL_Errno"].contains(k));
        row.push(("Slave_SQL_Running", Some("No")));
        row.push(("Last_SQL_Errno", Some("1062")));
        row.push(("Last_SQL_Error", Some("Duplicate entry '1' for key 'PRIMARY'")));
        let broken = sample_replica(&row);
        assert_eq!(broken.health(), Health::Broken);
        assert_eq!(broken.health().exit_code(), 2);
        assert!(broken
            .to_string()
            .contains("  Last SQL error:       1062: Duplicate entry '1' for key 'PRIMARY'\n"));

        let mut row = RUNNING.to_vec();
        row.retain(|(k, _)| !["Slave_IO_Running", "Seconds_Behind_Master"].contains(k));
        row.push(("Slave_IO_Running", Some("Connecting")));
        row.push(("Seconds_Behind_Master", None));
        let disconnected = sample_replica(&row);
        assert_eq!(disconnected.replication.as_ref().unwrap().lag_seconds, None);
        assert!(disconnected.to_string().contains("  Lag:                  NULL\n"));
        assert_eq!(disconnected.health(), Health::Healthy, "a reconnecting replica is not broken");
    }

    #[test]
    fn unreachable_and_json_schema() {
        let s = ServerStatus::unreachable("127.0.0.1:1", "Connection refused".into());
        assert_eq!(s.health().exit_code(), 1);
        assert_eq!(
            s.to_string(),
            "127.0.0.1:1 (unreachable)\n  Error:                Connection refused\n"
        );
        let primary = ServerStatus {
            address: "127.0.0.1:3306".into(),
            role: "primary".into(),
            server_id: Some(1),
            version: Some("v".into()),
            read_only: Some(false),
            binlog: Some(BinlogStatus {
                file: "repld-bin.000002".into(),
                position: 4567,
                gtid: "0-1-9".into(),
            }),
            replicas: vec![ConnectedReplica {
                server_id: 2,
                host: "127.0.0.1".into(),
                port: 3307,
                gtid: Some("0-1-9".into()),
                position: None,
            }],
            ..Default::default()
        };
        let json = serde_json::to_string(&primary).unwrap();
        assert_eq!(
            json,
            r#"{"address":"127.0.0.1:3306","role":"primary","error":null,"server_id":1,"version":"v","read_only":false,"binlog":{"file":"repld-bin.000002","position":4567,"gtid":"0-1-9"},"replicas":[{"server_id":2,"host":"127.0.0.1","port":3307,"gtid":"0-1-9","position":null}],"replication":null}"#
        );
        assert!(primary
            .to_string()
            .contains("    - server id 2 at 127.0.0.1:3307, sent GTID 0-1-9\n"));
    }
}
