//! Server configuration: one documented struct, loaded from TOML and overridden by flags.
//!
//! Every key of [`ServerConfig`] has a default (in the `Default` impls below, nowhere else), a TOML key
//! of the same name and a command-line flag ([`ServerFlags`]). The order of precedence is: defaults, then
//! the file given with `--config`, then flags. [`ServerConfig::validate`] runs last and names the key it
//! refuses, so that a user knows what to fix.
//!
//! Invariants enforced by `validate`:
//! * a server never listens beyond loopback unless every account has a password;
//! * a replica has a source address; `server_id` is never 0 (0 means "no id" in the protocol);
//! * account names are unique and non-empty.
//!
//! A commented sample lives in `fixtures/config/primary.toml`.

use crate::errinput;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// Default of [`ServerConfig::dump_linger_us`]: one millisecond, the runtime's timer resolution.
pub const DEFAULT_DUMP_LINGER_US: u64 = 1000;
/// Largest accepted [`ServerConfig::dump_linger_us`].
pub const MAX_DUMP_LINGER_US: u64 = 1_000_000;

/// Which role a server starts in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Accepts writes and serves its binary log to replicas.
    #[default]
    Primary,
    /// Streams a source's binary log and replays it; read-only for clients.
    Replica,
}

/// What an account may do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Privilege {
    /// Everything: reads, writes, DDL, administration and replication.
    #[default]
    All,
    /// Reads and the binary log dump (COM_REGISTER_SLAVE, COM_BINLOG_DUMP): what a replica needs.
    Replication,
    /// Reads only.
    Read,
}

/// One account that may log in.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// User name as the client sends it.
    pub name: String,
    /// Password in plain text (checked with mysql_native_password or caching_sha2_password); empty for
    /// none.
    #[serde(default)]
    pub password: String,
    /// What the account may do: `all`, `replication` or `read`.
    #[serde(default)]
    pub privilege: Privilege,
}

impl AccountConfig {
    /// The account every server has when none is configured: `root` with no password, all privileges.
    pub fn default_root() -> Self {
        AccountConfig { name: "root".into(), password: String::new(), privilege: Privilege::All }
    }
}

/// Settings of the replica role (ignored by a primary). TOML section `[replica]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplicaConfig {
    /// The source (primary) to replicate from, `host:port`. Required for the replica role.
    pub source: Option<String>,
    /// User the replica logs in to the source with (needs the `replication` or `all` privilege).
    pub source_user: String,
    /// Password of `source_user`.
    pub source_password: String,
    /// Seconds between reconnection attempts after the link to the source fails. When unset, the
    /// value last given with CHANGE MASTER TO (persisted in the store) applies; initially 1.
    pub connect_retry: Option<u64>,
    /// Seconds of silence after which the source sends a heartbeat; the link is considered dead after
    /// about twice this long without any event. When unset, the persisted value applies; initially 1.
    pub heartbeat_period: Option<f64>,
    /// Refuse client writes with ERROR 1290 while the server is a replica.
    pub read_only: bool,
}

impl Default for ReplicaConfig {
    fn default() -> Self {
        ReplicaConfig {
            source: None,
            source_user: "root".into(),
            source_password: String::new(),
            connect_retry: None,
            heartbeat_period: None,
            read_only: true,
        }
    }
}

/// Everything a `repld` server needs to start.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Role at start-up: `primary` or `replica`.
    pub role: Role,
    /// Directory for the store (`store/`), the binary log (`binlog.*`) and the relay log. Created if
    /// missing. Required.
    pub data_dir: PathBuf,
    /// Address the MySQL protocol listens on. Anything but loopback requires every account to have a
    /// password.
    pub listen: String,
    /// This server's id: stamped on every event it logs; replicas skip events carrying their own id.
    pub server_id: u32,
    /// GTID replication domain of the transactions this server originates.
    pub gtid_domain_id: u32,
    /// Accounts allowed to log in. Default: `root` with an empty password and all privileges.
    pub accounts: Vec<AccountConfig>,
    /// fsync policy of the binary log: 1 = every commit is durable before it is acknowledged (group
    /// commit shares one fsync), N = fsync every N commits, 0 = leave it to the operating system.
    pub sync_binlog: u32,
    /// Size in bytes after which the binary log rotates to a new file (between transactions).
    pub max_binlog_size: u64,
    /// Binary log files older than this many seconds are purged automatically; 0 = never.
    pub binlog_expire_logs_seconds: u64,
    /// Client connections served at once; more wait in the accept queue.
    pub max_connections: usize,
    /// Seconds a client connection may stay idle between commands before the server closes it.
    pub wait_timeout: u64,
    /// Microseconds a binlog dump that is caught up lets pass between two sends: commits that become
    /// durable meanwhile go to the replica together (one wake-up of the dump and of the replica's
    /// threads for several transactions). The first commit after a quiet spell is sent at once;
    /// 0 = every fsync's transactions are sent as soon as they are durable.
    pub dump_linger_us: u64,
    /// Log level (`error`, `warn`, `info`, `debug`, `trace`, or a tracing filter); `RUST_LOG` wins.
    pub log_level: String,
    /// Address of the Prometheus `/metrics` HTTP endpoint (`host:port`); unset = no endpoint.
    pub metrics_listen: Option<String>,
    /// Replica role settings (section `[replica]`).
    pub replica: ReplicaConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            role: Role::Primary,
            data_dir: PathBuf::new(),
            listen: "127.0.0.1:3306".into(),
            server_id: 1,
            gtid_domain_id: 0,
            accounts: vec![AccountConfig::default_root()],
            sync_binlog: 1,
            max_binlog_size: 1 << 30,
            binlog_expire_logs_seconds: 0,
            max_connections: 151,
            wait_timeout: 28800,
            dump_linger_us: DEFAULT_DUMP_LINGER_US,
            log_level: "info".into(),
            metrics_listen: None,
            replica: ReplicaConfig::default(),
        }
    }
}

impl ServerConfig {
    /// Defaults for `role`: a replica listens on 3307 with server id 2.
    pub fn for_role(role: Role) -> Self {
        let mut c = ServerConfig { role, ..Default::default() };
        if role == Role::Replica {
            c.listen = "127.0.0.1:3307".into();
            c.server_id = 2;
        }
        c
    }

    /// Parses a TOML document; keys missing from it keep their defaults.
    pub fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::InvalidInput(format!("config: {e}")))
    }

    /// Reads and parses the TOML file at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::InvalidInput(format!("config file {}: {e}", path.display())))?;
        Self::from_toml(&text).map_err(|e| Error::InvalidInput(format!("{}: {e}", path.display())))
    }

    /// The listen address, resolved.
    pub fn listen_addr(&self) -> Result<SocketAddr> {
        resolve("listen", &self.listen)
    }

    /// Checks every key; the error names the first key that is wrong.
    pub fn validate(&self) -> Result<()> {
        if self.data_dir.as_os_str().is_empty() {
            return errinput!("data_dir: required (--data-dir DIR)");
        }
        let addr = self.listen_addr()?;
        if self.server_id == 0 {
            return errinput!("server_id: must be between 1 and 4294967295");
        }
        self.validate_accounts(&addr)?;
        if self.max_binlog_size < 4096 || self.max_binlog_size > 1 << 32 {
            return errinput!("max_binlog_size: must be between 4096 and 4294967296 bytes");
        }
        if self.max_connections == 0 {
            return errinput!("max_connections: must be at least 1");
        }
        if self.dump_linger_us > MAX_DUMP_LINGER_US {
            return errinput!("dump_linger_us: must be at most {MAX_DUMP_LINGER_US} (one second)");
        }
        if self.wait_timeout == 0 {
            return errinput!("wait_timeout: must be at least 1 second");
        }
        if let Some(m) = &self.metrics_listen {
            if m.parse::<SocketAddr>().is_err() {
                return errinput!("metrics_listen: {m:?} is not an address (HOST:PORT)");
            }
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log_level).is_err() {
            return errinput!("log_level: {:?} is not a level or filter", self.log_level);
        }
        if self.role == Role::Replica {
            self.validate_replica()?;
        }
        Ok(())
    }

    fn validate_accounts(&self, addr: &SocketAddr) -> Result<()> {
        if self.accounts.is_empty() {
            return errinput!("accounts: at least one account is required");
        }
        for (i, a) in self.accounts.iter().enumerate() {
            if a.name.is_empty() || a.name.len() > 80 {
                return errinput!("accounts[{i}].name: must be 1 to 80 bytes");
            }
            if self.accounts[..i].iter().any(|b| b.name == a.name) {
                return errinput!("accounts[{i}].name: {:?} appears twice", a.name);
            }
            if !addr.ip().is_loopback() && a.password.is_empty() {
                return errinput!(
                    "accounts[{i}].password: account {:?} needs a password because listen {} is not loopback",
                    a.name,
                    self.listen
                );
            }
        }
        Ok(())
    }

    fn validate_replica(&self) -> Result<()> {
        let Some(source) = &self.replica.source else {
            return errinput!("replica.source: required for the replica role (--source HOST:PORT)");
        };
        resolve("replica.source", source)?;
        if self.replica.source_user.is_empty() {
            return errinput!("replica.source_user: must not be empty");
        }
        if self.replica.connect_retry == Some(0) {
            return errinput!("replica.connect_retry: must be at least 1 second");
        }
        let bad_heartbeat = |hb: &f64| !(0.001..=4_294_967.0).contains(hb);
        if self.replica.heartbeat_period.as_ref().is_some_and(bad_heartbeat) {
            return errinput!(
                "replica.heartbeat_period: must be between 0.001 and 4294967 seconds"
            );
        }
        Ok(())
    }

    /// Path of the store directory inside `data_dir`.
    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("store")
    }

    /// Directory of the binary log files (the data directory itself; files are `binlog.NNNNNN`).
    pub fn binlog_dir(&self) -> PathBuf {
        self.data_dir.clone()
    }
}

fn resolve(key: &str, addr: &str) -> Result<SocketAddr> {
    match addr.to_socket_addrs() {
        Ok(mut it) => it
            .next()
            .ok_or_else(|| Error::InvalidInput(format!("{key}: {addr:?} resolves to nothing"))),
        Err(e) => errinput!("{key}: {addr:?} is not HOST:PORT ({e})"),
    }
}

/// Command-line flags that override configuration keys; each is `None` unless given.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ServerFlags {
    /// Data directory (store and binary log).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:3306, replica 127.0.0.1:3307).
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Server id (default 1, replica 2).
    #[arg(long)]
    pub server_id: Option<u32>,
    /// GTID domain id (default 0).
    #[arg(long)]
    pub gtid_domain_id: Option<u32>,
    /// Password of the default `root` account (when the config file lists no accounts).
    #[arg(long)]
    pub root_password: Option<String>,
    /// Binary log fsync policy: 1 (default), N, or 0.
    #[arg(long)]
    pub sync_binlog: Option<u32>,
    /// Binary log rotation size in bytes (default 1 GiB).
    #[arg(long)]
    pub max_binlog_size: Option<u64>,
    /// Purge binary logs older than this many seconds (0 = never, the default).
    #[arg(long)]
    pub binlog_expire_logs_seconds: Option<u64>,
    /// Maximum concurrent client connections (default 151).
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Idle seconds before a client connection is closed (default 28800).
    #[arg(long)]
    pub wait_timeout: Option<u64>,
    /// Microseconds a caught-up binlog dump lets pass between sends (default 1000; 0 = none).
    #[arg(long, value_name = "MICROSECONDS")]
    pub dump_linger_us: Option<u64>,
    /// Log level or tracing filter (default info; RUST_LOG wins).
    #[arg(long)]
    pub log_level: Option<String>,
    /// Serve Prometheus metrics over HTTP on this address (`GET /metrics`).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_listen: Option<String>,
    /// Replica: the source to replicate from.
    #[arg(long, value_name = "HOST:PORT")]
    pub source: Option<String>,
    /// Replica: user to log in to the source with (default root).
    #[arg(long)]
    pub source_user: Option<String>,
    /// Replica: password for the source (default empty).
    #[arg(long)]
    pub source_password: Option<String>,
    /// Replica: seconds between reconnection attempts (default 10).
    #[arg(long)]
    pub connect_retry: Option<u64>,
    /// Replica: heartbeat period in seconds the source is asked for (default 5).
    #[arg(long)]
    pub heartbeat_period: Option<f64>,
    /// Replica: refuse client writes (default true).
    #[arg(long)]
    pub read_only: Option<bool>,
}

impl ServerFlags {
    /// Writes every given flag into `config`.
    pub fn apply(&self, config: &mut ServerConfig) {
        fn set<T: Clone>(slot: &mut T, v: &Option<T>) {
            if let Some(v) = v {
                *slot = v.clone();
            }
        }
        set(&mut config.data_dir, &self.data_dir);
        set(&mut config.listen, &self.listen);
        set(&mut config.server_id, &self.server_id);
        set(&mut config.gtid_domain_id, &self.gtid_domain_id);
        set(&mut config.sync_binlog, &self.sync_binlog);
        set(&mut config.max_binlog_size, &self.max_binlog_size);
        set(&mut config.binlog_expire_logs_seconds, &self.binlog_expire_logs_seconds);
        set(&mut config.max_connections, &self.max_connections);
        set(&mut config.wait_timeout, &self.wait_timeout);
        set(&mut config.dump_linger_us, &self.dump_linger_us);
        set(&mut config.log_level, &self.log_level);
        if self.metrics_listen.is_some() {
            config.metrics_listen = self.metrics_listen.clone();
        }
        if let Some(source) = &self.source {
            config.replica.source = Some(source.clone());
        }
        set(&mut config.replica.source_user, &self.source_user);
        set(&mut config.replica.source_password, &self.source_password);
        if self.connect_retry.is_some() {
            config.replica.connect_retry = self.connect_retry;
        }
        if self.heartbeat_period.is_some() {
            config.replica.heartbeat_period = self.heartbeat_period;
        }
        set(&mut config.replica.read_only, &self.read_only);
        if let Some(pw) = &self.root_password {
            match config.accounts.iter_mut().find(|a| a.name == "root") {
                Some(root) => root.password = pw.clone(),
                None => config
                    .accounts
                    .push(AccountConfig { password: pw.clone(), ..AccountConfig::default_root() }),
            }
        }
    }
}

/// Builds the configuration for a start: role defaults, then the file (if any), then the flags; the
/// role given on the command line (if any) overrides the file's. Validates the result.
pub fn resolve_config(
    role: Option<Role>,
    file: Option<&Path>,
    flags: &ServerFlags,
) -> Result<ServerConfig> {
    let mut config = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::InvalidInput(format!("config file {}: {e}", path.display())))?;
            let table: toml::Table = toml::from_str(&text)
                .map_err(|e| Error::InvalidInput(format!("{}: {e}", path.display())))?;
            let mut c = ServerConfig::from_toml(&text)
                .map_err(|e| Error::InvalidInput(format!("{}: {e}", path.display())))?;
            // Role-dependent defaults for the keys the file leaves out.
            let defaults = ServerConfig::for_role(role.unwrap_or(c.role));
            if !table.contains_key("listen") {
                c.listen = defaults.listen;
            }
            if !table.contains_key("server_id") {
                c.server_id = defaults.server_id;
            }
            c
        }
        None => ServerConfig::for_role(role.unwrap_or_default()),
    };
    if let Some(role) = role {
        config.role = role;
    }
    flags.apply(&mut config);
    config.validate()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(data_dir: &str) -> ServerFlags {
        ServerFlags { data_dir: Some(data_dir.into()), ..Default::default() }
    }

    #[test]
    fn defaults_are_loopback_root_without_password() {
        let c = resolve_config(Some(Role::Primary), None, &flags("/tmp/x")).unwrap();
        assert_eq!(c.listen, "127.0.0.1:3306");
        assert_eq!(c.server_id, 1);
        assert_eq!(c.accounts, vec![AccountConfig::default_root()]);
        assert_eq!(c.sync_binlog, 1);
        let r = resolve_config(
            Some(Role::Replica),
            None,
            &ServerFlags { source: Some("127.0.0.1:3306".into()), ..flags("/tmp/y") },
        )
        .unwrap();
        assert_eq!((r.listen.as_str(), r.server_id), ("127.0.0.1:3307", 2));
        assert_eq!(r.replica.source_user, "root");
        assert!(r.replica.read_only);
    }

    #[test]
    fn validate_names_the_key() {
        let err = |c: ServerConfig| match c.validate() {
            Err(Error::InvalidInput(m)) => m,
            other => panic!("expected InvalidInput, got {other:?}"),
        };
        let base = ServerConfig { data_dir: "/tmp/d".into(), ..Default::default() };
        assert!(base.validate().is_ok());
        assert!(
            err(ServerConfig { data_dir: PathBuf::new(), ..base.clone() }).starts_with("data_dir")
        );
        assert!(err(ServerConfig { server_id: 0, ..base.clone() }).starts_with("server_id"));
        assert!(
            err(ServerConfig { listen: "nonsense".into(), ..base.clone() }).starts_with("listen")
        );
        assert!(err(ServerConfig { listen: "0.0.0.0:3306".into(), ..base.clone() })
            .starts_with("accounts[0].password"));
        assert!(
            err(ServerConfig { role: Role::Replica, ..base.clone() }).starts_with("replica.source")
        );
        assert!(
            err(ServerConfig { log_level: "[[[".into(), ..base.clone() }).starts_with("log_level")
        );
        assert!(err(ServerConfig { dump_linger_us: MAX_DUMP_LINGER_US + 1, ..base.clone() })
            .starts_with("dump_linger_us"));
        assert!(ServerConfig { dump_linger_us: 0, ..base.clone() }.validate().is_ok());
        let mut dup = base.clone();
        dup.accounts.push(AccountConfig::default_root());
        assert!(err(dup).starts_with("accounts[1].name"));
        let open = ServerConfig {
            listen: "0.0.0.0:3306".into(),
            accounts: vec![AccountConfig {
                password: "pw".into(),
                ..AccountConfig::default_root()
            }],
            ..base
        };
        assert!(open.validate().is_ok());
    }

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.toml");
        std::fs::write(
            &path,
            "role = \"replica\"\ndata_dir = \"/var/r\"\nwait_timeout = 60\n\
             [[accounts]]\nname = \"repl\"\npassword = \"s\"\nprivilege = \"replication\"\n\
             [replica]\nsource = \"127.0.0.1:3306\"\nconnect_retry = 3\n",
        )
        .unwrap();
        let c = resolve_config(
            None,
            Some(&path),
            &ServerFlags { server_id: Some(7), dump_linger_us: Some(0), ..Default::default() },
        )
        .unwrap();
        assert_eq!(c.dump_linger_us, 0, "the flag overrides the default");
        assert_eq!(c.role, Role::Replica);
        assert_eq!(c.listen, "127.0.0.1:3307", "replica default survives a file without listen");
        assert_eq!((c.server_id, c.wait_timeout), (7, 60));
        assert_eq!(c.accounts[0].privilege, Privilege::Replication);
        assert_eq!((c.replica.connect_retry, c.replica.source_user.as_str()), (Some(3), "root"));
        std::fs::write(&path, "listen_address = 1").unwrap();
        assert!(
            resolve_config(None, Some(&path), &flags("/x")).is_err(),
            "unknown keys are refused"
        );
    }

    #[test]
    fn sample_config_parses_and_validates() {
        let text = include_str!("../fixtures/config/primary.toml");
        let c = ServerConfig::from_toml(text).unwrap();
        c.validate().unwrap();
        assert_eq!(c.role, Role::Primary);
    }
}
