//! One client connection: handshake, then the command loop.
//!
//! The loop reads one command at a time and answers it; while it waits it also listens for the
//! server's shutdown notice, KILL and the idle timeout (`wait_timeout`), any of which ends the
//! connection between commands. A command in progress (above all a commit) always runs to its end.
//!
//! Statements go to the SQL engine except those the server layer answers itself
//! ([`crate::primary::admin`]) and the replica-role statements ([`ReplicaControl`]). Writes run under row
//! locks ([`crate::primary::locks`]; DDL and unbounded statements alone) and hand finished transactions to the commit pipeline ([`crate::primary::commit`]).
//! A COM_BINLOG_DUMP turns the connection into a binlog stream ([`crate::primary::dump`]) until the
//! replica goes away.
//!
//! Invariants:
//! * The connection holds the writer lock exactly while its open transaction has writes
//!   ([`crate::sql::Session::has_writes`]); a connection that ends drops it, rolling the transaction back.
//! * A statement that fails leaves nothing behind; in a multi-statement query the statements after a
//!   failed one are not run (as MySQL does).

use crate::error::{Error, Result};
use crate::errsql;
use crate::primary::admin::{self, parse_admin, Admin};
use crate::primary::shutdown::Shutdown;
use crate::primary::state::{Process, Shared};
use crate::primary::{commit, dump, show};
use crate::sql::{self, ColumnInfo, ExecContext, Outcome, ResultSet, Stmt, StmtKind, Value};
use crate::wire::{
    self, write_error, write_ok, write_result_set, ClientInfo, Command, HandshakeParams, OkInfo,
    PacketConn, Privilege, RegisterSlave, SERVER_MORE_RESULTS_EXISTS, SERVER_STATUS_AUTOCOMMIT,
    SERVER_STATUS_IN_TRANS,
};
use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{debug, instrument};

/// MySQL's default `innodb_lock_wait_timeout`: how long a write waits for the writer lock.
const LOCK_WAIT_TIMEOUT: Duration = Duration::from_secs(50);

/// The error for a write on a read-only server.
pub fn read_only_error() -> Error {
    Error::sql(
        1290,
        "HY000",
        "The MariaDB server is running with the --read-only option so it cannot execute this statement",
    )
}

/// ER_SPECIFIC_ACCESS_DENIED_ERROR for a privilege the account lacks.
pub fn need_privilege(what: &str) -> Error {
    Error::sql(
        1227,
        "42000",
        format!(
            "Access denied; you need (at least one of) the {what} privilege(s) for this operation"
        ),
    )
}

/// Answers a connection beyond `max_connections` with ERROR 1040 instead of a handshake.
pub async fn refuse_too_many(socket: TcpStream) {
    let mut conn = PacketConn::new(socket);
    // Before the handshake no capabilities are agreed: the ERR has no SQLSTATE marker (as MariaDB
    // sends it; clients show `ERROR 1040 (HY000)`).
    let _ = wire::write_err_without_state(&mut conn, 1040, "Too many connections").await;
    let _ = conn.shutdown().await;
}

/// The accounts of the configuration, and the check of the database a client names at connect
/// (ERROR 1049 for one that does not exist, as MariaDB answers instead of the final OK).
struct ConnectAuth<'a>(&'a Shared);

impl wire::Authenticator for ConnectAuth<'_> {
    fn lookup(&self, user: &str) -> Option<wire::Account> {
        wire::Authenticator::lookup(&self.0.accounts, user)
    }

    fn check_database(&self, _user: &str, db: &str) -> Result<()> {
        let stmts = self.0.engine.parse(&format!("USE `{}`", db.replace('`', "``")))?;
        let mut scratch = sql::Session::new();
        for stmt in &stmts {
            self.0.engine.execute(&mut scratch, stmt, &ExecContext::default())?;
        }
        Ok(())
    }
}

/// One prepared statement.
struct Prepared {
    sql: String,
    param_count: usize,
    bound_types: Vec<u16>,
    long_data: BTreeMap<u16, Vec<u8>>,
}

/// The connection's state.
pub(crate) struct Conn {
    pub(crate) shared: Arc<Shared>,
    pub(crate) conn: PacketConn<TcpStream>,
    pub(crate) id: u32,
    pub(crate) client: ClientInfo,
    pub(crate) peer: String,
    pub(crate) sess: sql::Session,
    prepared: HashMap<u32, Prepared>,
    next_stmt_id: u32,
    multi_statements: bool,
    /// `SET @master_heartbeat_period`, `@slave_connect_state`, ... as sent by a replica.
    pub(crate) repl_vars: HashMap<String, String>,
    /// Set by COM_REGISTER_SLAVE.
    pub(crate) registered: Option<RegisterSlave>,
    pub(crate) shutdown: Shutdown,
    pub(crate) kill: watch::Receiver<bool>,
    /// The idle timeout (`wait_timeout`), one timer for the connection's life: moving a deadline
    /// later is lock-free in tokio's timer, where a new timer per command would take the timer
    /// driver's lock twice.
    idle: Pin<Box<tokio::time::Sleep>>,
}

/// Serves one connection until it closes, is killed, idles out or the server shuts down.
#[instrument(skip(shared, socket, shutdown), fields(conn = id))]
pub async fn serve(
    shared: Arc<Shared>,
    socket: TcpStream,
    peer: std::net::SocketAddr,
    id: u32,
    shutdown: Shutdown,
) -> Result<()> {
    let mut conn = PacketConn::new(socket);
    let host =
        if peer.ip().is_loopback() { "localhost".to_string() } else { peer.ip().to_string() };
    let client = {
        let params = HandshakeParams {
            conn_id: id,
            server_version: wire::SERVER_VERSION,
            auth: &ConnectAuth(&shared),
            client_host: &host,
            auth_method: Default::default(),
        };
        let handshake = wire::server_handshake(&mut conn, params);
        tokio::select! {
            r = tokio::time::timeout(Duration::from_secs(10), handshake) => match r {
                Ok(r) => r?,
                Err(_) => return Err(Error::Abort("handshake timed out".into())),
            },
            _ = std::future::pending::<()>(), if shutdown.is_shutdown() => unreachable!(),
        }
    };
    let (kill_tx, kill) = watch::channel(false);
    if let Ok(mut p) = shared.processes.lock() {
        p.insert(
            id,
            Process {
                user: client.user.clone(),
                host: format!("{}:{}", host, peer.port()),
                db: client.db.clone(),
                command: "Sleep",
                since: Instant::now(),
                state: String::new(),
                info: None,
                kill: kill_tx,
            },
        );
    }
    let mut sess = sql::Session::new();
    sess.connection_id = id;
    sess.current_db = client.db.clone();
    let multi_statements = client.capabilities & wire::CLIENT_MULTI_STATEMENTS != 0;
    debug!(user = %client.user, %peer, "connected");
    let mut c = Conn {
        shared,
        conn,
        id,
        client,
        peer: host,
        sess,
        prepared: HashMap::new(),
        next_stmt_id: 1,
        multi_statements,
        repl_vars: HashMap::new(),
        registered: None,
        shutdown,
        kill,
        idle: Box::pin(tokio::time::sleep(Duration::from_secs(0))),
    };
    c.command_loop().await
}

impl Drop for Conn {
    /// A connection that goes away mid-transaction leaves its locks behind for nobody: release them.
    fn drop(&mut self) {
        self.shared.locks.release(self.id);
    }
}

impl Conn {
    async fn command_loop(&mut self) -> Result<()> {
        loop {
            // `SET [SESSION] wait_timeout = N` applies to this connection, as in MariaDB.
            let idle = Duration::from_secs(
                self.session_secs("wait_timeout").unwrap_or(self.shared.config.wait_timeout),
            );
            self.shared.set_process(self.id, "Sleep", "", None);
            self.idle.as_mut().reset(tokio::time::Instant::now() + idle);
            self.conn.flush().await?;
            let payload = tokio::select! {
                r = self.conn.read_command() => r,
                _ = self.shutdown.recv() => return Ok(()),
                _ = async { let _ = self.kill.wait_for(|k| *k).await; } => return Ok(()),
                _ = self.idle.as_mut() => {
                    debug!("idle timeout");
                    return Ok(());
                }
            };
            // A KILL that raced with the command's arrival still wins: the command is not run.
            if *self.kill.borrow() {
                return Ok(());
            }
            let payload = match payload {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(()),
                Err(e @ Error::Sql(_)) => {
                    let _ = write_error(&mut self.conn, &e).await;
                    let _ = self.conn.flush().await;
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
            let cmd = match Command::parse(&payload) {
                Ok(cmd) => cmd,
                Err(e) => {
                    write_error(&mut self.conn, &e).await?;
                    continue;
                }
            };
            // Counted in `Shared::running` while it runs (statements only: a dump runs for good).
            let statement = matches!(cmd, Command::Query(_) | Command::StmtExecute { .. });
            let shared = statement.then(|| self.shared.clone());
            let _running = shared.as_ref().map(|s| commit::Running::enter(&s.running));
            if !self.dispatch(cmd).await? {
                return Ok(());
            }
        }
    }

    /// Runs one command; `false` ends the connection.
    async fn dispatch(&mut self, cmd: Command) -> Result<bool> {
        match cmd {
            Command::Quit => return Ok(false),
            Command::Query(sql) => {
                self.shared.questions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.shared.set_process(self.id, "Query", "starting", Some(&sql));
                self.query(&sql, false).await?;
            }
            Command::InitDb(db) => {
                let r = self.use_db(&db);
                self.reply(r.map(|_| ok_outcome()), 0, false).await?;
            }
            Command::Ping => self.ok().await?,
            Command::ResetConnection => {
                self.reset_session();
                self.ok().await?;
            }
            Command::SetOption(opt) => match opt {
                wire::MYSQL_OPTION_MULTI_STATEMENTS_ON
                | wire::MYSQL_OPTION_MULTI_STATEMENTS_OFF => {
                    self.multi_statements = opt == wire::MYSQL_OPTION_MULTI_STATEMENTS_ON;
                    let flags = self.status_flags();
                    wire::write_eof(&mut self.conn, 0, flags).await?;
                }
                _ => write_error(&mut self.conn, &wire::unknown_command()).await?,
            },
            Command::FieldList { table, wildcard } => self.field_list(&table, &wildcard).await?,
            Command::Statistics => {
                let text = format!(
                    "Uptime: {}  Threads: {}  Questions: {}  Slow queries: 0  Opens: 0  Open tables: 0  Queries per second avg: 0.000",
                    self.shared.started.elapsed().as_secs(),
                    self.shared.processes.lock().map(|p| p.len()).unwrap_or(0),
                    self.shared.questions.load(std::sync::atomic::Ordering::Relaxed),
                );
                self.conn.write_packet(text.as_bytes()).await?;
            }
            Command::ProcessKill(id) => {
                let r = self.kill(id as u64, false);
                self.reply(r, 0, false).await?;
            }
            Command::StmtPrepare(sql) => self.prepare(&sql).await?,
            Command::StmtExecute { stmt_id, params, .. } => {
                self.shared.questions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.execute(stmt_id, &params).await?
            }
            Command::StmtSendLongData { stmt_id, param_id, data } => {
                if let Some(p) = self.prepared.get_mut(&stmt_id) {
                    p.long_data.entry(param_id).or_default().extend_from_slice(&data);
                }
            }
            Command::StmtClose(id) => {
                self.prepared.remove(&id);
            }
            Command::StmtReset(id) => match self.prepared.get_mut(&id) {
                Some(p) => {
                    p.long_data.clear();
                    self.ok().await?;
                }
                None => write_error(&mut self.conn, &unknown_stmt(id, "mysqld_stmt_reset")).await?,
            },
            Command::RegisterSlave(reg) => {
                if !matches!(self.client.privilege, Privilege::All | Privilege::Replication) {
                    write_error(&mut self.conn, &need_privilege("REPLICATION SLAVE")).await?;
                } else {
                    self.register_slave(reg);
                    self.ok().await?;
                }
            }
            Command::BinlogDump(req) => {
                if !matches!(self.client.privilege, Privilege::All | Privilege::Replication) {
                    write_error(&mut self.conn, &need_privilege("REPLICATION SLAVE")).await?;
                } else {
                    self.shared.set_process(
                        self.id,
                        "Binlog Dump",
                        "Starting to send binlog",
                        None,
                    );
                    dump::binlog_dump(self, req).await?;
                    return Ok(false);
                }
            }
            Command::BinlogDumpGtid(_) => {
                let e = Error::sql(1236, "HY000", "COM_BINLOG_DUMP_GTID (MySQL GTIDs) is not supported; use MariaDB GTIDs (@slave_connect_state) with COM_BINLOG_DUMP");
                write_error(&mut self.conn, &e).await?;
            }
            Command::Unknown(_) => write_error(&mut self.conn, &wire::unknown_command()).await?,
        }
        Ok(true)
    }

    /// Server status flags for OK/EOF packets.
    pub(crate) fn status_flags(&self) -> u16 {
        let mut f = 0;
        if self.sess.autocommit {
            f |= SERVER_STATUS_AUTOCOMMIT;
        }
        if self.sess.in_transaction() {
            f |= SERVER_STATUS_IN_TRANS;
        }
        f
    }

    async fn ok(&mut self) -> Result<()> {
        let flags = self.status_flags();
        write_ok(&mut self.conn, &OkInfo { status_flags: flags, ..Default::default() }).await
    }

    /// Sends one statement's result (OK, result set or ERR). `more`: further results follow.
    async fn reply(&mut self, r: Result<Outcome>, more: u16, binary: bool) -> Result<()> {
        let flags = self.status_flags() | more;
        match r {
            Ok(Outcome::Ok { affected_rows, last_insert_id, warnings, info }) => {
                let ok =
                    OkInfo { affected_rows, last_insert_id, status_flags: flags, warnings, info };
                write_ok(&mut self.conn, &ok).await
            }
            Ok(Outcome::Rows(rs)) => {
                write_result_set(&mut self.conn, &rs, self.client.capabilities, flags, binary).await
            }
            Err(e) => write_error(&mut self.conn, &e).await,
        }
    }

    /// COM_QUERY (and COM_STMT_EXECUTE with `binary`): runs every statement of `sql` and answers each.
    async fn query(&mut self, sql: &str, binary: bool) -> Result<()> {
        // Statements the engine's parser may not know are recognised on the whole text first.
        if let Some(admin) = parse_admin(sql) {
            let r = match admin {
                Ok(a) => self.admin(a).await,
                Err(e) => Err(e),
            };
            return self.reply(r, 0, binary).await;
        }
        if let Some(r) = self.control_statement(sql).await {
            return self.reply(r, 0, binary).await;
        }
        let stmts = match self.shared.engine.parse(sql) {
            Ok(s) => s,
            Err(e) => return write_error(&mut self.conn, &e).await,
        };
        if stmts.len() > 1 && !self.multi_statements {
            let e = Error::sql(1064, "42000", "You have an error in your SQL syntax; multi-statements are not enabled for this connection");
            return write_error(&mut self.conn, &e).await;
        }
        if stmts.is_empty() {
            return write_error(&mut self.conn, &Error::sql(1065, "42000", "Query was empty"))
                .await;
        }
        let n = stmts.len();
        for (i, stmt) in stmts.iter().enumerate() {
            if n > 1 {
                self.shared.set_process(self.id, "Query", "executing", Some(&stmt.text));
            }
            let r = self.statement(stmt).await;
            let failed = r.is_err();
            let more = if i + 1 < n && !failed { SERVER_MORE_RESULTS_EXISTS } else { 0 };
            self.reply(r, more, binary).await?;
            if failed {
                break;
            }
        }
        Ok(())
    }

    /// Runs a replica-role statement through the replica control, if it is one.
    async fn control_statement(&mut self, sql: &str) -> Option<Result<Outcome>> {
        match &self.shared.control {
            Some(control) => {
                let control = control.clone();
                let was_read_only = control.read_only();
                let r = control.handle(sql).await;
                if r.is_some() {
                    self.shared.publish_read_only();
                    if was_read_only && !control.read_only() {
                        if let Err(e) = self.shared.continue_binlog_after_applied() {
                            return Some(Err(e));
                        }
                    }
                }
                r
            }
            None if admin::is_slave_status(sql) => {
                Some(Ok(Outcome::Rows(show::empty_slave_status())))
            }
            None => None,
        }
    }

    /// Runs one parsed statement.
    async fn statement(&mut self, stmt: &Stmt) -> Result<Outcome> {
        if stmt.kind == StmtKind::Admin {
            return match parse_admin(&stmt.text) {
                Some(Ok(a)) => self.admin(a).await,
                Some(Err(e)) => Err(e),
                None => match self.control_statement(&stmt.text).await {
                    Some(r) => r,
                    None => self.engine_execute(stmt),
                },
            };
        }
        if matches!(stmt.kind, StmtKind::Write | StmtKind::Ddl) {
            if self.shared.read_only() {
                return Err(read_only_error());
            }
            if self.client.privilege != Privilege::All {
                return Err(Error::sql(
                    1142,
                    "42000",
                    format!("Write command denied to user '{}'@'{}'", self.client.user, self.peer),
                ));
            }
            if stmt.kind == StmtKind::Ddl {
                // DDL runs alone: it waits until no other transaction holds a lock.
                self.lock_exclusive().await?;
            }
            self.sess.lock_mode = if self.shared.locks.holds_exclusive(self.id) {
                sql::LockMode::Exclusive
            } else {
                sql::LockMode::Rows(self.shared.locks.clone())
            };
        }
        let r = self.execute_locked(stmt).await;
        let commits = self.sess.take_commits();
        let in_txn_with_writes = self.sess.has_writes();
        if !commits.is_empty() {
            self.shared.set_process(self.id, "Query", "Commit", Some(&stmt.text));
            let release = (!in_txn_with_writes).then_some(self.id);
            commit::commit(&self.shared, commits, self.id, release).await?;
        }
        if !in_txn_with_writes {
            self.shared.locks.release(self.id);
        }
        r
    }

    /// Runs a statement; under row locking, waits for the locks it reports missing and runs it again
    /// (the engine discarded it). A deadlock rolls the whole transaction back, as InnoDB does.
    async fn execute_locked(&mut self, stmt: &Stmt) -> Result<Outcome> {
        loop {
            let (keys, exclusive) = match self.engine_execute(stmt) {
                Err(Error::LockNeeded { keys, exclusive }) => (keys, exclusive),
                r => return r,
            };
            self.shared.set_process(self.id, "Query", "Waiting for row lock", Some(&stmt.text));
            let wait = self.lock_wait();
            let got = if exclusive {
                self.shared.locks.lock_exclusive(self.id, wait).await
            } else {
                self.shared.locks.lock_rows(self.id, &keys, wait).await
            };
            match got {
                Ok(()) if exclusive => self.sess.lock_mode = sql::LockMode::Exclusive,
                Ok(()) => {}
                Err(e) => {
                    if e.to_mysql().0 == 1213 {
                        self.rollback_transaction();
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Discards the open transaction (after a deadlock) and releases its locks.
    fn rollback_transaction(&mut self) {
        if let Ok(stmts) = self.shared.engine.parse("ROLLBACK") {
            for s in &stmts {
                let _ = self.engine_execute(s);
            }
        }
        self.shared.locks.release(self.id);
    }

    /// Waits for the exclusive lock (DDL), as [`Conn::execute_locked`] does for statements.
    async fn lock_exclusive(&mut self) -> Result<()> {
        if self.shared.locks.holds_exclusive(self.id) {
            return Ok(());
        }
        self.shared.set_process(self.id, "Query", "Waiting for table metadata lock", None);
        let r = self.shared.locks.lock_exclusive(self.id, self.lock_wait()).await;
        if let Err(e) = &r {
            if e.to_mysql().0 == 1213 {
                self.rollback_transaction();
            }
        }
        r
    }

    fn engine_execute(&mut self, stmt: &Stmt) -> Result<Outcome> {
        let ctx = replay_context(&mut self.sess, stmt.kind);
        let r = self.shared.engine.execute(&mut self.sess, stmt, &ctx);
        if let Ok(mut p) = self.shared.processes.lock() {
            if let Some(p) = p.get_mut(&self.id) {
                p.db.clone_from(&self.sess.current_db);
            }
        }
        r
    }

    /// A positive number of seconds set in a session variable (`SET SESSION name = N`).
    fn session_secs(&self, name: &str) -> Option<u64> {
        match self.sess.vars.get(name) {
            Some(Value::Int(s)) if *s > 0 => Some(*s as u64),
            Some(Value::UInt(s)) if *s > 0 => Some(*s),
            _ => None,
        }
    }

    /// How long a statement waits for a lock: `innodb_lock_wait_timeout` (ERROR 1205 after it).
    fn lock_wait(&self) -> Duration {
        self.session_secs("innodb_lock_wait_timeout").map_or(LOCK_WAIT_TIMEOUT, Duration::from_secs)
    }

    fn use_db(&mut self, db: &str) -> Result<()> {
        let stmt = self.shared.engine.parse(&format!("USE `{}`", db.replace('`', "``")))?;
        for s in &stmt {
            self.engine_execute(s)?;
        }
        Ok(())
    }

    /// COM_RESET_CONNECTION: a fresh session (same database), open transaction rolled back.
    fn reset_session(&mut self) {
        let db = self.sess.current_db.take();
        self.sess = sql::Session::new();
        self.sess.connection_id = self.id;
        self.sess.current_db = db;
        self.shared.locks.release(self.id);
        self.prepared.clear();
        self.repl_vars.clear();
    }

    async fn field_list(&mut self, table: &str, wildcard: &str) -> Result<()> {
        let sql = format!("SELECT * FROM `{}` LIMIT 0", table.replace('`', "``"));
        let r = self.read_only_columns(&sql);
        match r {
            Ok(mut cols) => {
                if !wildcard.is_empty() {
                    let pat = wildcard.to_ascii_lowercase();
                    cols.retain(|c| like(&c.name.to_ascii_lowercase(), &pat));
                }
                let flags = self.status_flags();
                wire::write_field_list(&mut self.conn, &cols, self.client.capabilities, flags).await
            }
            Err(e) => write_error(&mut self.conn, &e).await,
        }
    }

    /// Evaluates a datetime expression (`NOW() - INTERVAL 1 DAY`, `'2024-01-01'`) with the SQL
    /// engine; seconds since the epoch (ERROR 1210 when it is not a datetime, as MariaDB answers).
    fn eval_datetime(&self, expr: &str) -> Result<i64> {
        let bad = || {
            Error::sql(1210, "HY000", format!("Incorrect arguments to PURGE LOGS BEFORE: '{expr}'"))
        };
        let stmts = self.shared.engine.parse(&format!("SELECT {expr}"))?;
        let [stmt] = &stmts[..] else { return Err(bad()) };
        if stmt.kind != StmtKind::Read {
            return Err(bad());
        }
        let mut scratch = sql::Session::new();
        scratch.current_db.clone_from(&self.sess.current_db);
        scratch.user_vars.clone_from(&self.sess.user_vars);
        let ctx = ExecContext { now_us: now_us(), ..Default::default() };
        let Outcome::Rows(rs) = self.shared.engine.execute(&mut scratch, stmt, &ctx)? else {
            return Err(bad());
        };
        let micros = match rs.rows.first().and_then(|r| r.first()) {
            Some(Value::DateTime(us)) => Some(*us),
            Some(Value::Date(y, m, d)) => {
                wire::parse_datetime_text(&format!("{y:04}-{m:02}-{d:02}"))
                    .and_then(|p| wire::datetime_micros(&p))
            }
            Some(Value::Bytes(b)) => wire::parse_datetime_text(&String::from_utf8_lossy(b))
                .and_then(|p| wire::datetime_micros(&p)),
            _ => None,
        };
        micros.map(|us| us.div_euclid(1_000_000)).ok_or_else(bad)
    }

    /// Columns of a read-only statement, found by running it in a scratch session.
    fn read_only_columns(&self, sql: &str) -> Result<Vec<ColumnInfo>> {
        let stmts = self.shared.engine.parse(sql)?;
        let [stmt] = &stmts[..] else { return Ok(Vec::new()) };
        if stmt.kind != StmtKind::Read {
            return Ok(Vec::new());
        }
        let mut scratch = sql::Session::new();
        scratch.current_db.clone_from(&self.sess.current_db);
        scratch.user_vars.clone_from(&self.sess.user_vars);
        let ctx = ExecContext { now_us: now_us(), ..Default::default() };
        match self.shared.engine.execute(&mut scratch, stmt, &ctx)? {
            Outcome::Rows(rs) => Ok(rs.columns),
            Outcome::Ok { .. } => Ok(Vec::new()),
        }
    }

    async fn prepare(&mut self, sql: &str) -> Result<()> {
        let param_count = wire::count_placeholders(sql);
        // Check the syntax now (with NULL for every parameter), as MySQL does at prepare time.
        let with_nulls = wire::inline_params(sql, &vec![Value::Null; param_count], false)?;
        let columns = match self.shared.engine.parse(&with_nulls) {
            Err(e) if parse_admin(sql).is_none() => return write_error(&mut self.conn, &e).await,
            Err(_) => Vec::new(),
            Ok(stmts) if stmts.len() > 1 => {
                let e = Error::sql(1064, "42000", "You have an error in your SQL syntax; a prepared statement holds one statement");
                return write_error(&mut self.conn, &e).await;
            }
            Ok(_) => self.read_only_columns(&with_nulls).unwrap_or_default(),
        };
        let id = self.next_stmt_id;
        self.next_stmt_id = self.next_stmt_id.wrapping_add(1).max(1);
        self.prepared.insert(
            id,
            Prepared {
                sql: sql.to_string(),
                param_count,
                bound_types: Vec::new(),
                long_data: BTreeMap::new(),
            },
        );
        let params = vec![wire::placeholder_param(); param_count];
        wire::write_prepare_ok(&mut self.conn, id, &params, &columns, self.client.capabilities)
            .await
    }

    async fn execute(&mut self, stmt_id: u32, params: &[u8]) -> Result<()> {
        let Some(p) = self.prepared.get_mut(&stmt_id) else {
            return write_error(&mut self.conn, &unknown_stmt(stmt_id, "mysqld_stmt_execute"))
                .await;
        };
        let values =
            wire::decode_execute_params(params, p.param_count, &mut p.bound_types, &p.long_data);
        p.long_data.clear();
        let sql = match values.and_then(|v| wire::inline_params(&p.sql, &v, false)) {
            Ok(sql) => sql,
            Err(e) => return write_error(&mut self.conn, &e).await,
        };
        self.shared.set_process(self.id, "Execute", "starting", Some(&sql));
        self.query(&sql, true).await
    }

    fn register_slave(&mut self, reg: RegisterSlave) {
        let host = if reg.hostname.is_empty() { self.peer.clone() } else { reg.hostname.clone() };
        if let Ok(mut r) = self.shared.replicas.lock() {
            r.insert(
                self.id,
                crate::primary::state::ReplicaHost {
                    server_id: reg.server_id,
                    host,
                    port: reg.port,
                    master_id: if reg.master_id == 0 {
                        self.shared.config.server_id
                    } else {
                        reg.master_id
                    },
                    sent_position: String::new(),
                    sent_gtid: String::new(),
                },
            );
        }
        tracing::info!(replica_server_id = reg.server_id, "replica registered");
        self.registered = Some(reg);
    }

    /// KILL [QUERY|CONNECTION] id.
    fn kill(&mut self, id: u64, query_only: bool) -> Result<Outcome> {
        let procs = self
            .shared
            .processes
            .lock()
            .map_err(|_| Error::Abort("process list poisoned".into()))?;
        let Some(p) = u32::try_from(id).ok().and_then(|id| procs.get(&id)) else {
            return errsql!(1094, "HY000", "Unknown thread id: {id}");
        };
        if self.client.privilege != Privilege::All && p.user != self.client.user {
            return errsql!(1095, "HY000", "You are not owner of thread {id}");
        }
        if !query_only {
            // A statement runs to its end (commits are never cut short); the connection closes after it.
            let _ = p.kill.send(true);
        }
        Ok(ok_outcome())
    }

    /// Runs a server-layer statement.
    async fn admin(&mut self, a: Admin) -> Result<Outcome> {
        let needs_all = matches!(
            a,
            Admin::FlushLogs
                | Admin::PurgeTo(_)
                | Admin::PurgeBefore(_)
                | Admin::PurgeBeforeExpr(_)
        );
        if needs_all && self.client.privilege != Privilege::All {
            return Err(need_privilege("RELOAD, BINLOG ADMIN"));
        }
        let a = match a {
            Admin::PurgeBeforeExpr(expr) => Admin::PurgeBefore(self.eval_datetime(&expr)?),
            other => other,
        };
        match a {
            Admin::Kill { id, query_only } => self.kill(id, query_only),
            Admin::SetReplVar { name, value } => {
                if let Some(v) = value {
                    self.repl_vars.insert(name, v);
                }
                Ok(ok_outcome())
            }
            Admin::SelectChecksum => {
                let v = self
                    .repl_vars
                    .get("master_binlog_checksum")
                    .map(|s| Value::Bytes(s.clone().into_bytes()));
                Ok(Outcome::Rows(show::single("@master_binlog_checksum", v.unwrap_or(Value::Null))))
            }
            Admin::ProcessList { full } => Ok(Outcome::Rows(show::processlist(&self.shared, full))),
            Admin::SlaveHosts => Ok(Outcome::Rows(show::slave_hosts(&self.shared))),
            Admin::SlaveStatusEmpty => Ok(Outcome::Rows(show::empty_slave_status())),
            other => {
                let shared = self.shared.clone();
                tokio::task::spawn_blocking(move || show::binlog_admin(&shared, other))
                    .await
                    .map_err(|e| Error::Io(format!("admin task: {e}")))?
            }
        }
    }
}

fn ok_outcome() -> Outcome {
    Outcome::Ok { affected_rows: 0, last_insert_id: 0, warnings: 0, info: String::new() }
}

fn unknown_stmt(id: u32, what: &str) -> Error {
    Error::sql(1243, "HY000", format!("Unknown prepared statement handler ({id}) given to {what}"))
}

/// The statement context, honouring what a replayed binlog (`replctl binlog | mariadb`) sets: `SET
/// TIMESTAMP=secs[.us]` fixes "now" until it is set to 0 or DEFAULT; `SET INSERT_ID=n` forces the first
/// auto-increment value of the next write statement (and is used up by it).
fn replay_context(sess: &mut sql::Session, kind: StmtKind) -> ExecContext {
    let mut ctx = ExecContext { now_us: now_us(), ..Default::default() };
    if let Some(us) = sess.vars.get("timestamp").and_then(timestamp_us) {
        ctx.now_us = us;
    }
    if matches!(kind, StmtKind::Write | StmtKind::Ddl) {
        if let Some(id) = sess.vars.remove("insert_id").map(|v| v.as_i128()).filter(|&id| id > 0) {
            ctx.insert_id = u64::try_from(id).ok();
        }
    }
    ctx
}

/// `SET TIMESTAMP` value -> microseconds since the epoch; `None` for 0/DEFAULT/garbage.
fn timestamp_us(v: &Value) -> Option<i64> {
    let text = String::from_utf8_lossy(&v.as_bytes()).trim().to_string();
    let (secs, frac) = text.split_once('.').unwrap_or((&text, ""));
    let secs: i64 = secs.parse().ok().filter(|&s| s > 0)?;
    let mut digits: String = frac.chars().take(6).collect();
    while digits.len() < 6 {
        digits.push('0');
    }
    Some(secs * 1_000_000 + digits.parse::<i64>().ok()?)
}

/// The current time in microseconds since the epoch.
pub fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// SQL LIKE with `%` and `_` (COM_FIELD_LIST wildcards).
fn like(s: &str, pat: &str) -> bool {
    fn go(s: &[u8], p: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'%', rest)) => (0..=s.len()).any(|i| go(&s[i..], rest)),
            Some((b'_', rest)) => !s.is_empty() && go(&s[1..], rest),
            Some((c, rest)) => s.first() == Some(c) && go(&s[1..], rest),
        }
    }
    go(s.as_bytes(), pat.as_bytes())
}

/// A result set with no rows; used where a statement has nothing to show.
#[allow(dead_code)]
fn empty() -> ResultSet {
    ResultSet::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_matches_wildcards() {
        assert!(like("abc", "a%"));
        assert!(like("abc", "_b_"));
        assert!(!like("abc", "b%"));
        assert!(like("", "%"));
    }
}
