//! The server: opens the store and the binary log, recovers, then accepts MySQL connections until
//! told to stop (mini-redis `src/server.rs` shape).
//!
//! * [`Server::open`] opens the binary log (cutting a torn tail), replays into the store every
//!   transaction of the log past the store's recorded position, and publishes the global variables.
//! * [`Server::run`] takes a bound listener and a shutdown future. The [`Listener`] accepts
//!   connections (backing off on accept errors), refuses those beyond `max_connections` with ERROR
//!   1040, and runs each in its own task ([`crate::primary::session`]), so that a failing connection
//!   is logged and never stops the server.
//! * Shutdown: the future completes -> stop accepting -> broadcast the notice -> every connection
//!   finishes the command or commit it is in (idle ones and dump streams stop at once) -> wait until all
//!   tasks are gone -> close the binary log (STOP event) -> flush the store.

use crate::config::{Role, ServerConfig};
use crate::control::ReplicaControl;
use crate::error::Result;
use crate::log::{BinlogConfig, BinlogWriter, GtidState};
use crate::primary::recovery;
use crate::primary::session;
use crate::primary::shutdown::Shutdown;
use crate::primary::state::{Accounts, Shared};
use crate::sql::Engine;
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, Semaphore};
use tracing::{error, info, warn};

/// Base name of the binary log files (`repld-bin.000001`, index `repld-bin.index`).
pub const BINLOG_BASENAME: &str = "repld-bin";

/// Longest pause between retries after accept errors.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(64);

/// A server ready to serve: store and binary log open and consistent.
pub struct Server {
    shared: Arc<Shared>,
}

impl Server {
    /// Opens the binary log in `config.data_dir`, recovers the store from it (primary role) and
    /// prepares the shared state. `control` is the replica role, if the server has one.
    pub fn open(
        config: ServerConfig,
        engine: Engine,
        control: Option<Arc<dyn ReplicaControl>>,
    ) -> Result<Server> {
        std::fs::create_dir_all(&config.data_dir)?;
        let (binlog, report) = BinlogWriter::open(BinlogConfig {
            dir: config.binlog_dir(),
            basename: BINLOG_BASENAME.into(),
            server_id: config.server_id,
            domain_id: config.gtid_domain_id,
            max_binlog_size: config.max_binlog_size,
            sync_binlog: config.sync_binlog,
            binlog_expire_logs_seconds: config.binlog_expire_logs_seconds,
            ..Default::default()
        })?;
        if report.bytes_cut > 0 {
            warn!(bytes_cut = report.bytes_cut, reason = ?report.reason, "binary log: torn tail cut");
        }
        info!(file = %report.new_file, gtid = %report.gtid_state, "binary log open");
        // Recovery replays the binlog past the position the store holds on disk (sled's own log is
        // fsynced every few seconds), so a purge first makes the store durable.
        let store = engine.clone();
        binlog.set_before_purge(Arc::new(move || store.flush()));
        if config.role == Role::Primary {
            let replayed = recovery::replay_binlog(&engine, &binlog)?;
            if replayed > 0 {
                info!(transactions = replayed, "recovery: store caught up with the binary log");
            }
        }
        let shared = Shared {
            accounts: Accounts::from_config(&config),
            config,
            engine,
            binlog,
            locks: Arc::default(),
            commit_order: Mutex::new(()),
            gtid_state: Mutex::new(report.gtid_state.clone()),
            applied_seq: Mutex::new(0),
            syncer: Default::default(),
            processes: Mutex::new(Default::default()),
            replicas: Mutex::new(Default::default()),
            next_conn_id: AtomicU32::new(1),
            control,
            started: Instant::now(),
            questions: AtomicU64::new(0),
            running: Default::default(),
        };
        shared.publish_globals();
        let shared = Arc::new(shared);
        let weak = Arc::downgrade(&shared);
        shared.engine.set_status_source(Arc::new(move || {
            weak.upgrade().map(|s| s.status_rows()).unwrap_or_default()
        }));
        if shared.control.as_ref().is_some_and(|c| !c.read_only()) {
            // A replica configured writable: its own transactions continue after what it applied.
            shared.continue_binlog_after_applied()?;
        }
        crate::primary::commit::Syncer::start(&shared)?;
        Ok(Server { shared })
    }

    /// The SQL engine (shared with the replica role).
    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    /// The binary log.
    pub fn binlog(&self) -> &BinlogWriter {
        &self.shared.binlog
    }

    /// The GTID state of the binary log.
    pub fn gtid_state(&self) -> GtidState {
        self.shared.gtid_state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Serves connections from `listener` until `shutdown` completes, then shuts down cleanly: waits
    /// for every connection task, writes STOP and closes the binary log, flushes the store.
    pub async fn run(self, listener: TcpListener, shutdown: impl Future) -> Result<()> {
        let (notify_shutdown, _) = broadcast::channel(1);
        let (shutdown_complete_tx, mut shutdown_complete_rx) = mpsc::channel::<()>(1);
        let mut server = Listener {
            limit: Arc::new(Semaphore::new(self.shared.config.max_connections)),
            listener,
            shared: self.shared.clone(),
            notify_shutdown,
            shutdown_complete_tx,
        };
        if let Ok(addr) = server.listener.local_addr() {
            info!(%addr, role = ?self.shared.config.role, server_id = self.shared.config.server_id, "listening");
        }
        tokio::select! {
            res = server.run() => {
                if let Err(err) = res {
                    error!(cause = %err, "accept loop failed");
                }
            }
            _ = shutdown => info!("shutting down"),
        }
        let Listener { notify_shutdown, shutdown_complete_tx, listener, .. } = server;
        drop(listener);
        drop(notify_shutdown);
        drop(shutdown_complete_tx);
        let _ = shutdown_complete_rx.recv().await;
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            shared.binlog.close()?;
            shared.engine.flush()
        })
        .await
        .map_err(|e| crate::error::Error::Io(format!("shutdown task: {e}")))??;
        info!("shutdown complete");
        Ok(())
    }
}

/// Accepts connections and spawns a task per connection.
struct Listener {
    shared: Arc<Shared>,
    listener: TcpListener,
    limit: Arc<Semaphore>,
    notify_shutdown: broadcast::Sender<()>,
    shutdown_complete_tx: mpsc::Sender<()>,
}

impl Listener {
    async fn run(&mut self) -> Result<()> {
        loop {
            let (socket, peer) = self.accept().await?;
            let _ = socket.set_nodelay(true);
            crate::metrics::METRICS.connections.add(1);
            let permit = self.limit.clone().try_acquire_owned().ok();
            let handler = Handler {
                shared: self.shared.clone(),
                shutdown: Shutdown::new(self.notify_shutdown.subscribe()),
                _shutdown_complete: self.shutdown_complete_tx.clone(),
            };
            tokio::spawn(async move {
                match permit {
                    Some(_permit) => handler.run(socket, peer).await,
                    None => session::refuse_too_many(socket).await,
                }
            });
        }
    }

    /// Accepts a connection, retrying with exponential backoff on errors (e.g. out of descriptors).
    async fn accept(&mut self) -> Result<(TcpStream, std::net::SocketAddr)> {
        let mut backoff = Duration::from_secs(1);
        loop {
            match self.listener.accept().await {
                Ok(conn) => return Ok(conn),
                Err(err) => {
                    if backoff > MAX_ACCEPT_BACKOFF {
                        return Err(err.into());
                    }
                    warn!(cause = %err, "accept failed; retrying");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
}

/// Runs one connection.
struct Handler {
    shared: Arc<Shared>,
    shutdown: Shutdown,
    /// Dropped when the task ends; the server waits for all of them.
    _shutdown_complete: mpsc::Sender<()>,
}

impl Handler {
    async fn run(self, socket: TcpStream, peer: std::net::SocketAddr) {
        let id = self.shared.new_conn_id();
        if let Err(err) = session::serve(self.shared.clone(), socket, peer, id, self.shutdown).await
        {
            // Client-side trouble (resets, bad packets) is routine: keep it at debug level.
            tracing::debug!(conn = id, cause = %err, "connection ended with an error");
        }
        if let Ok(mut p) = self.shared.processes.lock() {
            p.remove(&id);
        }
        if let Ok(mut r) = self.shared.replicas.lock() {
            r.remove(&id);
        }
    }
}
