//! State shared by every connection of one server: the engine, the binary log, the lock table, the
//! process list and the replicas that are connected.

use crate::config::{Privilege as ConfigPrivilege, ServerConfig};
use crate::control::ReplicaControl;
use crate::error::{Error, Result};
use crate::log::{BinlogWriter, GtidState};
use crate::sql::{Engine, Value};
use crate::wire::{Account, Authenticator, Privilege};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::watch;

/// The meta record key under which the store keeps the binlog position it has applied up to.
pub const BINLOG_POS_META: &str = "primary.binlog_pos";

/// The store's position in the binary log: the end of the last transaction applied and the GTID
/// state it reaches. Written in the same sled batch as the transaction's rows.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AppliedPos {
    /// Binlog file of the transaction's last event.
    pub file: String,
    /// Offset just past the transaction.
    pub pos: u64,
    /// GTID state including the transaction (`0-1-5,...`).
    pub gtid: String,
}

impl AppliedPos {
    /// The meta record that stores this position.
    pub fn meta(&self) -> Vec<(String, Vec<u8>)> {
        vec![(BINLOG_POS_META.to_string(), serde_json::to_vec(self).unwrap_or_default())]
    }

    /// Reads the stored position, if any.
    pub fn load(engine: &Engine) -> Result<Option<AppliedPos>> {
        match engine.get_meta(BINLOG_POS_META)? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::InvalidData(format!("store meta {BINLOG_POS_META}: {e}"))),
        }
    }
}

/// One connection as SHOW PROCESSLIST shows it.
#[derive(Debug)]
pub struct Process {
    /// Account name.
    pub user: String,
    /// Client address.
    pub host: String,
    /// Current database.
    pub db: Option<String>,
    /// Command being run (`Sleep`, `Query`, `Binlog Dump`, ...).
    pub command: &'static str,
    /// When the current command (or idle period) started.
    pub since: Instant,
    /// What it does (`Master has sent all binlog to slave; waiting for more updates`, ...).
    pub state: String,
    /// Statement text being run.
    pub info: Option<String>,
    /// Set to true by KILL: the connection closes at its next opportunity.
    pub kill: watch::Sender<bool>,
}

/// A replica registered with COM_REGISTER_SLAVE (SHOW SLAVE HOSTS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaHost {
    /// The replica's server id.
    pub server_id: u32,
    /// Host it reports (or its address).
    pub host: String,
    /// Port it reports.
    pub port: u16,
    /// The master id it reports.
    pub master_id: u32,
    /// Binlog `file:offset` the dump has sent it up to (empty before the first event).
    pub sent_position: String,
    /// GTID of the last transaction the dump has sent it (empty before the first).
    pub sent_gtid: String,
}

/// Accounts from the config, as the wire layer looks them up.
pub struct Accounts(pub BTreeMap<String, Account>);

impl Accounts {
    /// The accounts of `config`.
    pub fn from_config(config: &ServerConfig) -> Accounts {
        Accounts(
            config
                .accounts
                .iter()
                .map(|a| {
                    let privilege = match a.privilege {
                        ConfigPrivilege::All => Privilege::All,
                        ConfigPrivilege::Replication => Privilege::Replication,
                        ConfigPrivilege::Read => Privilege::Read,
                    };
                    (a.name.clone(), Account { password: a.password.clone(), privilege })
                })
                .collect(),
        )
    }
}

impl Authenticator for Accounts {
    fn lookup(&self, user: &str) -> Option<Account> {
        self.0.get(user).cloned()
    }
}

/// Everything connections share.
pub struct Shared {
    /// The configuration the server started with.
    pub config: ServerConfig,
    /// The SQL engine.
    pub engine: Engine,
    /// The binary log.
    pub binlog: BinlogWriter,
    /// Row locks of the write transactions (see [`crate::primary::locks`]).
    pub locks: Arc<crate::primary::locks::LockTable>,
    /// Held while a commit is appended to the binlog and published to the store, so that the binlog
    /// order and the store's sequence order are one order.
    pub commit_order: Mutex<()>,
    /// GTID state of the log as of the last append (kept under `commit_order`).
    pub gtid_state: Mutex<GtidState>,
    /// Highest sequence number applied to the store, and a lock that serializes applies.
    pub applied_seq: Mutex<u64>,
    /// The group-commit thread's mailbox (fsync + apply, see [`crate::primary::commit`]).
    pub syncer: crate::primary::commit::Syncer,
    /// Connections by id.
    pub processes: Mutex<BTreeMap<u32, Process>>,
    /// Registered replicas by connection id.
    pub replicas: Mutex<BTreeMap<u32, ReplicaHost>>,
    /// Next connection id.
    pub next_conn_id: AtomicU32,
    /// Accounts.
    pub accounts: Accounts,
    /// The replica role, when this server has one.
    pub control: Option<Arc<dyn ReplicaControl>>,
    /// Server start time (uptime).
    pub started: Instant,
    /// Statements received (COM_STATISTICS `Questions`).
    pub questions: AtomicU64,
    /// Sessions running a statement (COM_QUERY or COM_STMT_EXECUTE) right now: a commit that is
    /// the only one syncs on its own thread ([`crate::primary::commit`]).
    pub running: std::sync::atomic::AtomicUsize,
}

impl Shared {
    /// Publishes the log position as global variables (`@@gtid_binlog_pos`, `@@gtid_current_pos`).
    pub fn publish_gtid_globals(&self) {
        let state = self.gtid_state.lock().map(|s| s.to_string()).unwrap_or_default();
        self.engine.set_global_var("gtid_binlog_pos", Value::Bytes(state.clone().into_bytes()));
        // A replica publishes its applied position as @@gtid_current_pos itself (replica role).
        if self.control.is_none() {
            self.engine.set_global_var("gtid_current_pos", Value::Bytes(state.into_bytes()));
        }
    }

    /// The status variables of `SHOW [GLOBAL] STATUS` (server-wide counters, MariaDB's names).
    pub fn status_rows(&self) -> Vec<(String, Value)> {
        let m = &crate::metrics::METRICS;
        let int = |v: u64| Value::Int(v.min(i64::MAX as u64) as i64);
        let uptime = int(self.started.elapsed().as_secs());
        let (threads, running) = self
            .processes
            .lock()
            .map(|p| (p.len(), p.values().filter(|p| p.command != "Sleep").count()))
            .unwrap_or((0, 0));
        let questions = int(self.questions.load(Ordering::Relaxed));
        let slaves = self.replicas.lock().map(|r| r.len()).unwrap_or(0) as u64;
        vec![
            ("Uptime".into(), uptime.clone()),
            ("Uptime_since_flush_status".into(), uptime),
            ("Threads_connected".into(), int(threads as u64)),
            ("Threads_running".into(), int(running as u64)),
            ("Connections".into(), int(m.connections.get())),
            ("Questions".into(), questions.clone()),
            ("Queries".into(), questions),
            ("Binlog_commits".into(), int(m.commits.get())),
            ("Binlog_group_commits".into(), int(m.fsync_latency.count())),
            ("Binlog_commits_synced_inline".into(), int(m.commits_synced_inline.get())),
            ("Binlog_bytes_written".into(), int(m.binlog_bytes.get())),
            ("Slaves_connected".into(), int(slaves)),
            ("Rpl_transactions_applied".into(), int(m.replica_applied.get())),
            ("Slave_received_bytes".into(), int(m.replica_received_bytes.get())),
            ("Slave_reconnects".into(), int(m.replica_reconnects.get())),
        ]
    }

    /// Sets the global variables clients ask about at connect and replicas ask before a dump.
    pub fn publish_globals(&self) {
        let e = &self.engine;
        let c = &self.config;
        e.set_global_var("server_id", Value::Int(c.server_id as i64));
        e.set_global_var("gtid_domain_id", Value::Int(c.gtid_domain_id as i64));
        e.set_global_var(
            "version",
            Value::Bytes(crate::log::writer::DEFAULT_SERVER_VERSION.as_bytes().to_vec()),
        );
        e.set_global_var("version_comment", Value::Bytes(b"repld".to_vec()));
        e.set_global_var("log_bin", Value::Int(1));
        e.set_global_var("binlog_format", Value::Bytes(b"STATEMENT".to_vec()));
        e.set_global_var("binlog_checksum", Value::Bytes(b"CRC32".to_vec()));
        e.set_global_var("sync_binlog", Value::Int(c.sync_binlog as i64));
        e.set_global_var("max_binlog_size", Value::Int(c.max_binlog_size as i64));
        e.set_global_var("max_connections", Value::Int(c.max_connections as i64));
        e.set_global_var("wait_timeout", Value::Int(c.wait_timeout as i64));
        e.set_global_var("port", Value::Int(c.listen_addr().map(|a| a.port() as i64).unwrap_or(0)));
        self.publish_read_only();
        self.publish_gtid_globals();
    }

    /// Publishes `@@read_only` from the replica role's current state.
    pub fn publish_read_only(&self) {
        self.engine.set_global_var("read_only", Value::Int(i64::from(self.read_only())));
    }

    /// A replica role that just became writable (`replctl promote`) continues the binary log after the
    /// GTIDs it applied (`@@gtid_slave_pos`), so that its own transactions follow them and other replicas
    /// can switch to it at their position.
    pub fn continue_binlog_after_applied(&self) -> crate::Result<()> {
        let applied = match self.engine.global_var("gtid_slave_pos") {
            Ok(v) => String::from_utf8_lossy(&v.as_bytes()).parse::<GtidState>()?,
            Err(_) => return Ok(()),
        };
        let state = self.binlog.continue_after(&applied)?;
        if let Ok(mut g) = self.gtid_state.lock() {
            *g = state;
        }
        self.publish_gtid_globals();
        Ok(())
    }

    /// True while client writes are refused (ERROR 1290).
    pub fn read_only(&self) -> bool {
        self.control.as_ref().is_some_and(|c| c.read_only())
    }

    /// A fresh connection id.
    pub fn new_conn_id(&self) -> u32 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Updates the process-list entry of connection `id`.
    pub fn set_process(&self, id: u32, command: &'static str, state: &str, info: Option<&str>) {
        if let Ok(mut p) = self.processes.lock() {
            if let Some(p) = p.get_mut(&id) {
                p.command = command;
                p.state.clear();
                p.state.push_str(state);
                // A statement passes through several states with the same text: copy it once.
                let info = info.map(|s| crate::apply::truncate(s, 1024));
                if p.info.as_deref() != info {
                    p.info = info.map(str::to_owned);
                }
                p.since = Instant::now();
            }
        }
    }
}
