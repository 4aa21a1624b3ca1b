//! The replica role's control: thread lifecycle, replication statements and status.

use super::io;
use super::relay::RelayLog;
use super::settings::{ExecPos, ReplicaConfig, SourceSettings};
use super::sqlthread;
use super::statement::{self, ChangeOption, ReplicaStatement, Threads};
use super::status::ReplicaStatus;
use crate::apply::Applier;
use crate::control::{BoxFuture, ReplicaControl};
use crate::error::{Error, Result};
use crate::log::file::LogPos;
use crate::log::gtid::GtidState;
use crate::sql::{Engine, Outcome};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch};

/// MySQL's ER_SLAVE_MUST_STOP.
pub const ER_SLAVE_MUST_STOP: u16 = 1198;
/// MySQL's ER_BAD_SLAVE.
pub const ER_BAD_SLAVE: u16 = 1200;

/// IO thread run state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IoRun {
    /// Not running.
    #[default]
    Stopped,
    /// Running, not (yet or any more) connected.
    Connecting,
    /// Receiving the stream.
    Connected,
}

/// Live state shared by the threads and the status.
#[derive(Debug, Default)]
pub struct Live {
    pub(crate) io: IoRun,
    pub(crate) io_state: String,
    pub(crate) sql_running: bool,
    pub(crate) sql_state: String,
    pub(crate) master_log_file: String,
    pub(crate) read_master_log_pos: u64,
    pub(crate) relay_log_file: String,
    pub(crate) relay_log_pos: u64,
    pub(crate) exec: ExecPos,
    pub(crate) gtid_slave_pos: GtidState,
    pub(crate) gtid_io_pos: GtidState,
    pub(crate) last_io_error: Option<(u32, String)>,
    pub(crate) last_sql_error: Option<(u32, String)>,
    pub(crate) master_server_id: u32,
    pub(crate) last_contact: Option<Instant>,
    pub(crate) receive_lag: Option<f64>,
    /// Received, not yet applied groups: (arrival, source timestamp).
    pub(crate) pending: VecDeque<(Instant, u32)>,
    pub(crate) applied_transactions: u64,
    /// Where a restarted SQL thread continues: (relay generation, relay position).
    pub(crate) sql_resume: Option<(u64, LogPos)>,
}

/// Requests from the threads to the supervisor.
#[derive(Debug)]
enum Request {
    /// Discard the relay log and fetch it again from the applied GTID state.
    Refetch,
}

/// State shared by the handle, the IO thread and the SQL thread.
pub struct Shared {
    pub(crate) cfg: ReplicaConfig,
    pub(crate) applier: Applier,
    pub(crate) relay: RelayLog,
    settings: Mutex<SourceSettings>,
    live: Mutex<Live>,
    skip_counter: AtomicU64,
    requests: mpsc::UnboundedSender<Request>,
    io_alive: AtomicBool,
    /// `@@read_only`: true from start-up (like MariaDB's, not persisted); `replctl promote` clears it.
    read_only: AtomicBool,
}

impl Shared {
    pub(crate) fn live(&self) -> MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn settings(&self) -> SourceSettings {
        self.settings.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Consumes one unit of sql_slave_skip_counter; true if the group must be skipped.
    pub(crate) fn take_skip(&self) -> bool {
        self.skip_counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Asks the supervisor to fetch the relay log again; false when the IO thread is not running.
    pub(crate) fn request_refetch(&self) -> bool {
        self.io_alive.load(Ordering::Acquire) && self.requests.send(Request::Refetch).is_ok()
    }

    pub(crate) fn sql_stopped(&self, error: Option<(u32, String)>) {
        let mut live = self.live();
        live.sql_running = false;
        live.sql_state = String::new();
        if error.is_some() {
            live.last_sql_error = error;
        }
    }
}

#[derive(Default)]
struct Workers {
    io: Option<(tokio::task::JoinHandle<()>, watch::Sender<bool>)>,
    sql: Option<(std::thread::JoinHandle<()>, Arc<AtomicBool>)>,
}

/// The replica role of a server: implements [`ReplicaControl`] for the session layer.
pub struct ReplicaHandle {
    shared: Arc<Shared>,
    threads: tokio::sync::Mutex<Workers>,
}

/// Starts the replica role: loads the persisted settings and applied position, applies the
/// configuration's overrides, discards the relay logs (relay_log_recovery: they are fetched again from
/// the applied GTID) and, with `auto_start` and a configured source, starts both threads.
pub async fn start(
    config: ReplicaConfig,
    engine: Engine,
    data_dir: &Path,
) -> Result<Arc<ReplicaHandle>> {
    config.validate()?;
    let mut settings = SourceSettings::load(&engine)?.unwrap_or_default();
    let before = settings.clone();
    if let Some((host, port)) = &config.source {
        settings.host = host.clone();
        settings.port = *port;
    }
    if let Some(user) = &config.user {
        settings.user = user.clone();
    }
    if let Some(password) = &config.password {
        settings.password = password.clone();
    }
    if let Some(retry) = config.connect_retry {
        settings.connect_retry = retry;
    }
    if let Some(hb) = config.heartbeat_period {
        settings.heartbeat_period = hb;
    }
    if settings != before {
        settings.save(&engine)?;
    }
    let relay = RelayLog::open(&data_dir.join("relay"), config.server_id)?;
    drop(relay.reset()?);
    let applier = Applier::new(engine.clone())?;
    let (gtid, exec) = sqlthread::load_position(&engine)?;
    let (requests, requests_rx) = mpsc::unbounded_channel();
    publish_gtid(&engine, &gtid);
    let live = Live { gtid_io_pos: gtid.clone(), gtid_slave_pos: gtid, exec, ..Default::default() };
    let auto_start = config.auto_start && settings.is_configured();
    let read_only = config.read_only;
    let shared = Arc::new(Shared {
        cfg: config,
        applier,
        relay,
        settings: Mutex::new(settings),
        live: Mutex::new(live),
        skip_counter: AtomicU64::new(0),
        requests,
        io_alive: AtomicBool::new(false),
        read_only: AtomicBool::new(read_only),
    });
    let handle =
        Arc::new(ReplicaHandle { shared, threads: tokio::sync::Mutex::new(Workers::default()) });
    tokio::spawn(supervise(Arc::downgrade(&handle), requests_rx));
    if auto_start {
        handle.start_threads(Threads { io: true, sql: true }).await?;
    }
    Ok(handle)
}

async fn supervise(
    handle: std::sync::Weak<ReplicaHandle>,
    mut rx: mpsc::UnboundedReceiver<Request>,
) {
    while let Some(req) = rx.recv().await {
        let Some(handle) = handle.upgrade() else { break };
        match req {
            Request::Refetch => {
                if let Err(e) = handle.refetch().await {
                    tracing::error!(error = %e, "fetching the relay log again failed");
                }
            }
        }
    }
}

/// Publishes the applied GTID state as `@@gtid_slave_pos` (and `@@gtid_current_pos`, which on a
/// replica that does not originate transactions is the same).
pub(crate) fn publish_gtid(engine: &Engine, gtid: &GtidState) {
    let text = gtid.to_string().into_bytes();
    engine.set_global_var("gtid_slave_pos", crate::sql::Value::Bytes(text.clone()));
    engine.set_global_var("gtid_current_pos", crate::sql::Value::Bytes(text));
}

fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl ReplicaHandle {
    /// The current status.
    pub fn status(&self) -> ReplicaStatus {
        let settings = self.shared.settings();
        let space = self.shared.relay.space();
        let live = self.shared.live();
        let backlog_bytes = match live.relay_log_file.is_empty() {
            true => self
                .shared
                .relay
                .bytes_after(&LogPos::new(self.shared.relay.first_file().unwrap_or_default(), 4)),
            false => self
                .shared
                .relay
                .bytes_after(&LogPos::new(live.relay_log_file.clone(), live.relay_log_pos)),
        };
        let io_running = match live.io {
            IoRun::Stopped => "No",
            IoRun::Connecting => "Connecting",
            IoRun::Connected => "Yes",
        };
        let both = live.io == IoRun::Connected && live.sql_running;
        let seconds_behind = both.then(|| match live.pending.front() {
            None => 0,
            Some((_, ts)) => now_unix().saturating_sub(u64::from(*ts)),
        });
        let apply_lag = live
            .sql_running
            .then(|| live.pending.front().map_or(0.0, |(at, _)| at.elapsed().as_secs_f64()));
        let (last_errno, last_error) =
            live.last_sql_error.clone().or(live.last_io_error.clone()).unwrap_or_default();
        let (io_errno, io_error) = live.last_io_error.clone().unwrap_or_default();
        let (sql_errno, sql_error) = live.last_sql_error.clone().unwrap_or_default();
        ReplicaStatus {
            slave_io_state: live.io_state.clone(),
            master_host: settings.host.clone(),
            master_user: settings.user.clone(),
            master_port: settings.port,
            connect_retry: settings.connect_retry,
            master_log_file: live.master_log_file.clone(),
            read_master_log_pos: live.read_master_log_pos,
            relay_log_file: live.relay_log_file.clone(),
            relay_log_pos: live.relay_log_pos,
            relay_master_log_file: live.exec.file.clone(),
            slave_io_running: io_running.into(),
            slave_sql_running: if live.sql_running { "Yes" } else { "No" }.into(),
            last_errno,
            last_error,
            skip_counter: self.shared.skip_counter.load(Ordering::Acquire),
            exec_master_log_pos: live.exec.pos,
            relay_log_space: space,
            seconds_behind_master: seconds_behind,
            last_io_errno: io_errno,
            last_io_error: io_error,
            last_sql_errno: sql_errno,
            last_sql_error: sql_error,
            master_server_id: live.master_server_id,
            using_gtid: match settings.use_gtid.as_str() {
                "current_pos" => "Current_Pos",
                "no" => "No",
                _ => "Slave_Pos",
            }
            .into(),
            gtid_io_pos: live.gtid_io_pos.to_string(),
            gtid_slave_pos: live.gtid_slave_pos.to_string(),
            slave_sql_running_state: live.sql_state.clone(),
            receive_lag_seconds: if live.io == IoRun::Connected {
                live.receive_lag.or(Some(0.0))
            } else {
                None
            },
            apply_lag_seconds: apply_lag,
            backlog_transactions: live.pending.len() as u64,
            backlog_bytes,
            heartbeat_age_seconds: live.last_contact.map(|t| t.elapsed().as_secs_f64()),
            applied_transactions: live.applied_transactions,
        }
    }

    /// True when a source is configured.
    pub fn is_configured(&self) -> bool {
        self.shared.settings().is_configured()
    }

    /// The engine the replica applies to.
    pub fn engine(&self) -> &Engine {
        self.shared.applier.engine()
    }

    /// Starts the named threads (those already running are left alone). Starting both while both are
    /// stopped discards the relay log and fetches again from the applied GTID state.
    pub async fn start_threads(&self, which: Threads) -> Result<()> {
        if !self.is_configured() {
            return Err(Error::sql(
                ER_BAD_SLAVE,
                "HY000",
                "The server is not configured as slave; fix in config file or with CHANGE MASTER TO",
            ));
        }
        let mut t = self.threads.lock().await;
        let io_running = t.io.as_ref().is_some_and(|(h, _)| !h.is_finished());
        let sql_running = t.sql.as_ref().is_some_and(|(h, _)| !h.is_finished());
        if which.io && which.sql && !io_running && !sql_running {
            self.reset_relay()?;
        }
        if which.sql && !sql_running {
            if let Some((h, _)) = t.sql.take() {
                let _ = tokio::task::spawn_blocking(move || h.join()).await;
            }
            {
                let mut live = self.shared.live();
                live.sql_running = true;
                live.last_sql_error = None;
                live.sql_state = "Reading event from the relay log".into();
            }
            let stop = Arc::new(AtomicBool::new(false));
            let shared = self.shared.clone();
            let stop2 = stop.clone();
            let handle = std::thread::Builder::new()
                .name("replica-sql".into())
                .spawn(move || {
                    let run =
                        std::panic::AssertUnwindSafe(|| sqlthread::run(shared.clone(), stop2));
                    if std::panic::catch_unwind(run).is_err() {
                        shared
                            .sql_stopped(Some((1594, "SQL thread failed (internal error)".into())));
                    }
                })
                .map_err(|e| Error::Io(format!("cannot start the SQL thread: {e}")))?;
            t.sql = Some((handle, stop));
        }
        if which.io && !io_running {
            if let Some((h, _)) = t.io.take() {
                let _ = h.await;
            }
            {
                let mut live = self.shared.live();
                live.io = IoRun::Connecting;
                live.io_state = "Connecting to master".into();
                live.last_io_error = None;
            }
            let (stop_tx, stop_rx) = watch::channel(false);
            self.shared.io_alive.store(true, Ordering::Release);
            let shared = self.shared.clone();
            let task = tokio::spawn(async move {
                // A panic inside the client library (a malformed packet) must not leave the status
                // saying "running": it ends the thread with an error instead.
                if let Err(e) = tokio::spawn(io::run(shared.clone(), stop_rx)).await {
                    shared.io_stopped(Some((1595, format!("IO thread failed: {e}"))));
                }
                shared.io_alive.store(false, Ordering::Release);
            });
            t.io = Some((task, stop_tx));
        }
        Ok(())
    }

    /// Stops the named threads and waits for them to finish (the SQL thread finishes its current group).
    pub async fn stop_threads(&self, which: Threads) -> Result<()> {
        let mut t = self.threads.lock().await;
        if which.io {
            if let Some((task, stop)) = t.io.take() {
                let _ = stop.send(true);
                let _ = task.await;
            }
        }
        if which.sql {
            if let Some((thread, stop)) = t.sql.take() {
                stop.store(true, Ordering::Release);
                self.shared.relay.notify();
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
        }
        Ok(())
    }

    async fn any_running(&self) -> bool {
        let t = self.threads.lock().await;
        t.io.as_ref().is_some_and(|(h, _)| !h.is_finished())
            || t.sql.as_ref().is_some_and(|(h, _)| !h.is_finished())
    }

    fn reset_relay(&self) -> Result<()> {
        drop(self.shared.relay.reset()?);
        let mut live = self.shared.live();
        live.gtid_io_pos = live.gtid_slave_pos.clone();
        live.pending.clear();
        live.sql_resume = None;
        live.relay_log_file.clear();
        live.relay_log_pos = 0;
        Ok(())
    }

    /// Discards the relay log and fetches it again from the applied GTID state (after a corrupt relay
    /// log event). The SQL thread keeps running and rereads from the new relay log.
    async fn refetch(&self) -> Result<()> {
        self.stop_threads(Threads { io: true, sql: false }).await?;
        self.reset_relay()?;
        self.start_threads(Threads { io: true, sql: false }).await
    }

    fn change(&self, options: Vec<ChangeOption>) -> Result<()> {
        let mut s = self.shared.settings();
        for o in options {
            match o {
                ChangeOption::Host(h) => s.host = h,
                ChangeOption::Port(p) => s.port = p,
                ChangeOption::User(u) => s.user = u,
                ChangeOption::Password(p) => s.password = p,
                ChangeOption::ConnectRetry(n) => s.connect_retry = n,
                ChangeOption::RetryCount(n) => s.retry_count = n,
                ChangeOption::HeartbeatPeriod(p) => s.heartbeat_period = p,
                ChangeOption::UseGtid(g) => s.use_gtid = g,
            }
        }
        s.validate()?;
        s.save(self.engine())?;
        *self.shared.settings.lock().unwrap_or_else(|p| p.into_inner()) = s;
        self.reset_relay()?;
        let mut live = self.shared.live();
        live.last_io_error = None;
        live.master_server_id = 0;
        live.master_log_file.clear();
        live.read_master_log_pos = 0;
        Ok(())
    }

    fn reset(&self, all: bool) -> Result<()> {
        self.reset_relay()?;
        {
            let mut live = self.shared.live();
            live.last_io_error = None;
            live.last_sql_error = None;
            live.master_log_file.clear();
            live.read_master_log_pos = 0;
            live.master_server_id = 0;
        }
        if all {
            let s = SourceSettings::default();
            s.save(self.engine())?;
            *self.shared.settings.lock().unwrap_or_else(|p| p.into_inner()) = s;
        }
        Ok(())
    }

    /// Executes one parsed replication statement.
    pub async fn execute(&self, stmt: ReplicaStatement) -> Result<Outcome> {
        let ok =
            Outcome::Ok { affected_rows: 0, last_insert_id: 0, warnings: 0, info: String::new() };
        match stmt {
            ReplicaStatement::ShowStatus { replica_names } => {
                let rs = if self.is_configured() {
                    self.status().to_result_set(replica_names)
                } else {
                    ReplicaStatus::empty_result_set(replica_names)
                };
                return Ok(Outcome::Rows(rs));
            }
            ReplicaStatement::Start(which) => self.start_threads(which).await?,
            ReplicaStatement::Stop(which) => self.stop_threads(which).await?,
            ReplicaStatement::Change(options) => {
                if self.any_running().await {
                    return Err(must_stop());
                }
                self.change(options)?;
            }
            ReplicaStatement::Reset { all } => {
                if self.any_running().await {
                    return Err(must_stop());
                }
                self.reset(all)?;
            }
            ReplicaStatement::SetReadOnly(on) => self.shared.read_only.store(on, Ordering::SeqCst),
            ReplicaStatement::SkipCounter(n) => {
                let sql_running =
                    self.threads.lock().await.sql.as_ref().is_some_and(|(h, _)| !h.is_finished());
                if sql_running {
                    return Err(Error::sql(
                        ER_SLAVE_MUST_STOP,
                        "HY000",
                        "This operation cannot be performed as you have a running slave ''; run STOP SLAVE '' first",
                    ));
                }
                self.shared.skip_counter.store(n, Ordering::Release);
            }
        }
        Ok(ok)
    }

    /// Parses and executes a replication statement (ERROR 1064 for anything else).
    pub async fn handle_sql(&self, sql: &str) -> Result<Outcome> {
        match statement::parse(sql)? {
            Some(stmt) => self.execute(stmt).await,
            None => Err(Error::sql(1064, "42000", format!("not a replication statement: {sql}"))),
        }
    }

    /// Stops both threads (server shutdown).
    pub async fn shutdown(&self) -> Result<()> {
        self.stop_threads(Threads { io: true, sql: true }).await
    }
}

fn must_stop() -> Error {
    Error::sql(
        ER_SLAVE_MUST_STOP,
        "HY000",
        "This operation cannot be performed as you have a running slave ''; run STOP SLAVE '' first",
    )
}

impl ReplicaControl for ReplicaHandle {
    fn handle<'a>(&'a self, sql: &'a str) -> BoxFuture<'a, Option<Result<Outcome>>> {
        Box::pin(async move {
            match statement::parse(sql) {
                Ok(None) => None,
                Ok(Some(stmt)) => Some(self.execute(stmt).await),
                Err(e) => Some(Err(e)),
            }
        })
    }

    fn read_only(&self) -> bool {
        self.shared.read_only.load(Ordering::SeqCst)
    }
}
