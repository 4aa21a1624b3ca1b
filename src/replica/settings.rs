//! Replica configuration (from the config file / flags) and the source settings that CHANGE MASTER TO
//! changes and that persist across restarts (meta key [`SETTINGS_KEY`]).

use crate::error::{Error, Result};
use crate::sql::Engine;
use std::time::Duration;

/// Meta key of the persisted [`SourceSettings`] (JSON).
pub const SETTINGS_KEY: &str = "replica.settings";
/// Meta key of the applied GTID state (text, `0-1-5,1-2-3`), written in the same batch as the rows.
pub const GTID_SLAVE_POS_KEY: &str = "replica.gtid_slave_pos";
/// Meta key of the applied source position (JSON [`ExecPos`]), written in the same batch as the rows.
pub const EXEC_POS_KEY: &str = "replica.exec_pos";

/// Where and how to connect to the source. Persisted; changed by CHANGE MASTER TO.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SourceSettings {
    /// Source host (empty: not configured as a replica).
    pub host: String,
    /// Source port.
    pub port: u16,
    /// Replication user.
    pub user: String,
    /// Replication user's password.
    pub password: String,
    /// Seconds between reconnection attempts (base of the backoff).
    pub connect_retry: u64,
    /// Reconnection attempts before the IO thread gives up (0 = forever).
    pub retry_count: u64,
    /// Seconds between heartbeats the source sends when idle (0 = none).
    pub heartbeat_period: f64,
    /// MASTER_USE_GTID: `slave_pos` (default), `current_pos` or `no` (shown; repld always resumes by GTID).
    pub use_gtid: String,
}

impl Default for SourceSettings {
    fn default() -> Self {
        SourceSettings {
            host: String::new(),
            port: 3306,
            user: "root".into(),
            password: String::new(),
            connect_retry: 1,
            retry_count: 0,
            heartbeat_period: 1.0,
            use_gtid: "slave_pos".into(),
        }
    }
}

impl SourceSettings {
    /// True when a source host is set.
    pub fn is_configured(&self) -> bool {
        !self.host.is_empty()
    }

    /// Heartbeat period as a duration (`None` when heartbeats are off).
    pub fn heartbeat(&self) -> Option<Duration> {
        (self.heartbeat_period > 0.0).then(|| Duration::from_secs_f64(self.heartbeat_period))
    }

    /// Loads the persisted settings, if any.
    pub fn load(engine: &Engine) -> Result<Option<SourceSettings>> {
        match engine.get_meta(SETTINGS_KEY)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::InvalidData(format!("stored replica settings: {e}"))),
            None => Ok(None),
        }
    }

    /// Persists the settings.
    pub fn save(&self, engine: &Engine) -> Result<()> {
        let json = serde_json::to_vec(self).map_err(|e| Error::InvalidData(e.to_string()))?;
        engine.put_meta(&[(SETTINGS_KEY.to_string(), json)])
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=4_294_967.0).contains(&self.heartbeat_period) {
            return Err(Error::sql(
                1703,
                "HY000",
                "The requested value for the heartbeat period is either negative or exceeds the maximum allowed (4294967 seconds).",
            ));
        }
        if !matches!(self.use_gtid.as_str(), "slave_pos" | "current_pos" | "no") {
            return Err(Error::sql(
                1210,
                "HY000",
                format!("Incorrect arguments to MASTER_USE_GTID: {}", self.use_gtid),
            ));
        }
        Ok(())
    }
}

/// The applied source position stored with every applied group.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExecPos {
    /// Source binlog file of the last applied group (Relay_Master_Log_File).
    pub file: String,
    /// Source offset just past it (Exec_Master_Log_Pos).
    pub pos: u64,
}

/// Start-up configuration of the replica role (config file / flags).
#[derive(Clone, Debug, PartialEq)]
pub struct ReplicaConfig {
    /// This server's id; events with this id are not applied (loop protection).
    pub server_id: u32,
    /// Source `host:port` from `--source`; overrides the persisted host and port when given.
    pub source: Option<(String, u16)>,
    /// `--source-user`; overrides the persisted user when given.
    pub user: Option<String>,
    /// `--source-password`; overrides the persisted password when given.
    pub password: Option<String>,
    /// `@@read_only` at start-up: refuse client writes with ERROR 1290 (default true).
    pub read_only: bool,
    /// Host this replica reports to its source (REGISTER_SLAVE), like MySQL's `report_host`.
    pub report_host: Option<String>,
    /// Port this replica reports to its source (its client port).
    pub report_port: u16,
    /// `connect_retry` from the configuration; overrides the persisted value when given.
    pub connect_retry: Option<u64>,
    /// `heartbeat_period` from the configuration; overrides the persisted value when given.
    pub heartbeat_period: Option<f64>,
    /// Start the IO and SQL threads at start-up (unless `--skip-slave-start`).
    pub auto_start: bool,
    /// Relay log fsync policy: fsync after every N events (0: leave it to the OS). Relay logs are
    /// disposable (fetched again after a restart), so this only bounds what a crash loses.
    pub sync_relay_log: u64,
    /// Rotate the relay log file beyond this size in bytes.
    pub max_relay_log_size: u64,
    /// Largest event accepted from the source (bytes).
    pub max_allowed_packet: usize,
}

impl Default for ReplicaConfig {
    fn default() -> Self {
        ReplicaConfig {
            server_id: 2,
            source: None,
            user: None,
            password: None,
            read_only: true,
            report_host: None,
            report_port: 0,
            connect_retry: None,
            heartbeat_period: None,
            auto_start: true,
            sync_relay_log: 10_000,
            max_relay_log_size: 256 << 20,
            max_allowed_packet: 64 << 20,
        }
    }
}

impl ReplicaConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        if self.server_id == 0 {
            return Err(Error::InvalidInput("a replica needs a non-zero server id".into()));
        }
        if self.max_relay_log_size < 4096 {
            return Err(Error::InvalidInput("max_relay_log_size must be at least 4096".into()));
        }
        Ok(())
    }

    /// Parses `HOST:PORT` (a missing port means 3306).
    pub fn parse_source(text: &str) -> Result<(String, u16)> {
        let (host, port) = match text.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse()
                    .map_err(|_| Error::InvalidInput(format!("invalid source port in {text:?}")))?,
            ),
            None => (text, 3306),
        };
        if host.is_empty() {
            return Err(Error::InvalidInput(format!(
                "invalid source {text:?}: expected HOST:PORT"
            )));
        }
        Ok((host.trim_start_matches('[').trim_end_matches(']').to_string(), port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_source() {
        assert_eq!(
            ReplicaConfig::parse_source("127.0.0.1:3307").unwrap(),
            ("127.0.0.1".into(), 3307)
        );
        assert_eq!(ReplicaConfig::parse_source("db").unwrap(), ("db".into(), 3306));
        assert!(ReplicaConfig::parse_source(":3306").is_err());
        assert!(ReplicaConfig::parse_source("h:x").is_err());
    }

    #[test]
    fn validate_settings() {
        assert!(SourceSettings::default().validate().is_ok());
        let bad = SourceSettings { heartbeat_period: -1.0, ..Default::default() };
        assert_eq!(bad.validate().unwrap_err().to_mysql().0, 1703);
        let bad = SourceSettings { use_gtid: "x".into(), ..Default::default() };
        assert!(bad.validate().is_err());
    }
}
