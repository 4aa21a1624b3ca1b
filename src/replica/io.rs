//! The IO thread: receives the source's binlog stream and appends it verbatim to the relay log.
//!
//! One session: connect and authenticate as the replication user (mysql_async, TCP only, preset
//! `max_allowed_packet`/`wait_timeout` so that nothing but our statements is sent), `SET
//! @master_heartbeat_period`, `SET @mariadb_slave_capability=4`, `SET @slave_connect_state='<received
//! GTID state>'`, then COM_REGISTER_SLAVE + COM_BINLOG_DUMP (mysql_async sends `SET
//! @master_binlog_checksum='ALL'` itself). Every event is rebuilt byte for byte from the stream, its
//! CRC32 verified by [`crate::log::event::Event::decode`], and appended to the relay log; heartbeats are
//! not stored. The received GTID (Gtid_IO_Pos) moves when a group's last event arrives.
//!
//! Sessions repeat until stopped: network faults, a corrupt event from the network and a silent source
//! (nothing for 2x the heartbeat period) end the session and a new one starts after a backoff
//! ([`backoff`]: `connect_retry` doubling up to 8x, capped at [`MAX_BACKOFF`], with jitter). Fatal errors
//! (bad credentials, missing privilege, ERR 1236 from the dump, the source having our server id) stop
//! the thread with Last_IO_Errno/Last_IO_Error instead.

use super::handle::{IoRun, Shared};
use super::relay::RelayWriter;
use crate::apply::{control_word, ControlWord};
use crate::error::{Error, Result};
use crate::log::event::{flags, gtid_flags, types, Event, EventBody};
use crate::log::gtid::Gtid;
use futures_util::StreamExt;
use mysql_async::prelude::Queryable;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Longest wait between two connection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Time allowed for the TCP connect + handshake + setup statements.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// MySQL's ER_SLAVE_FATAL_ERROR, used for a source with our own server id.
pub const ER_SLAVE_FATAL_ERROR: u32 = 1593;
/// CR_CONN_HOST_ERROR: the source cannot be reached (shown while reconnecting).
pub const CR_CONN_HOST_ERROR: u32 = 2003;
/// ER_MASTER_FATAL_ERROR_READING_BINLOG.
pub const ER_MASTER_FATAL_ERROR_READING_BINLOG: u32 = 1236;

/// The delay before connection attempt number `attempt` (1-based) with `connect_retry` seconds as base:
/// doubling up to 8x the base, capped at [`MAX_BACKOFF`], scaled by `jitter` in [0.5, 1.0].
pub fn backoff(connect_retry: u64, attempt: u32, jitter: f64) -> Duration {
    let base = if connect_retry == 0 {
        Duration::from_millis(100)
    } else {
        Duration::from_secs(connect_retry)
    };
    let factor = 1u32 << attempt.saturating_sub(1).min(3);
    (base * factor).min(MAX_BACKOFF).mul_f64(jitter.clamp(0.5, 1.0))
}

/// How long the stream may stay silent before the link counts as dead (2x the heartbeat period).
pub fn silence_limit(heartbeat: Option<Duration>) -> Option<Duration> {
    heartbeat.map(|p| (p * 2).max(Duration::from_millis(200)))
}

/// Why a session ended.
#[derive(Debug)]
enum SessionEnd {
    /// STOP was requested.
    Stopped,
    /// A fault after which the thread reconnects (code, message); `progressed` when events arrived.
    Retry { code: u32, message: String, progressed: bool },
    /// A fault after which the thread stops.
    Fatal { code: u32, message: String },
}

/// Runs the IO thread until `stop_rx` says stop or a fatal error.
pub async fn run(shared: Arc<Shared>, mut stop_rx: watch::Receiver<bool>) {
    let mut attempt = 0u32;
    let mut writer = match shared.relay.writer() {
        Ok(w) => w,
        Err(e) => {
            let (code, _, msg) = e.to_mysql();
            shared.io_stopped(Some((u32::from(code), format!("Relay log write failure: {msg}"))));
            return;
        }
    };
    loop {
        if *stop_rx.borrow() {
            break;
        }
        shared.io_connecting("Connecting to master");
        let mut end = session(&shared, &mut writer, &mut stop_rx).await;
        // What a session left unpublished (a group the source broke off) is stored all the same.
        if let Err(e) = writer.publish(shared.cfg.sync_relay_log) {
            end = relay_write_failure(e);
        }
        match end {
            SessionEnd::Stopped => break,
            SessionEnd::Fatal { code, message } => {
                tracing::error!(code, %message, "replica IO thread stopped");
                shared.io_stopped(Some((code, message)));
                return;
            }
            SessionEnd::Retry { code, message, progressed } => {
                attempt = if progressed { 1 } else { attempt + 1 };
                crate::metrics::METRICS.replica_reconnects.add(1);
                let settings = shared.settings();
                tracing::warn!(code, %message, attempt, "replica IO thread lost the source; reconnecting");
                if settings.retry_count > 0 && u64::from(attempt) > settings.retry_count {
                    let message =
                        format!("{message} (gave up after {} attempts)", settings.retry_count);
                    shared.io_stopped(Some((code, message)));
                    return;
                }
                shared.io_retrying(code, &message);
                let delay =
                    backoff(settings.connect_retry, attempt, rand::random::<f64>() * 0.5 + 0.5);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop_rx.changed() => {}
                }
            }
        }
    }
    shared.io_stopped(None);
}

fn classify(e: mysql_async::Error, progressed: bool) -> SessionEnd {
    match e {
        mysql_async::Error::Server(se) => {
            let code = u32::from(se.code);
            let fatal = matches!(code, 1044 | 1045 | 1227 | 1236 | 1698 | 1251);
            let message = if code == 1236 {
                format!(
                    "Got fatal error 1236 from master when reading data from binary log: '{}'",
                    se.message
                )
            } else {
                se.message
            };
            if fatal {
                SessionEnd::Fatal { code, message }
            } else {
                SessionEnd::Retry { code, message, progressed }
            }
        }
        other => SessionEnd::Retry {
            code: CR_CONN_HOST_ERROR,
            message: format!("error reconnecting to master: {other}"),
            progressed,
        },
    }
}

async fn connect(shared: &Shared) -> std::result::Result<mysql_async::Conn, mysql_async::Error> {
    let s = shared.settings();
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(s.host.clone())
        .tcp_port(s.port)
        .user(Some(s.user.clone()))
        .pass(Some(s.password.clone()))
        .prefer_socket(false)
        .max_allowed_packet(Some(shared.cfg.max_allowed_packet))
        .wait_timeout(Some(31_536_000))
        .tcp_nodelay(true);
    let mut conn = mysql_async::Conn::new(opts).await?;
    if let Some(hb) = s.heartbeat() {
        conn.query_drop(format!("SET @master_heartbeat_period = {}", hb.as_nanos())).await?;
    }
    conn.query_drop("SET @mariadb_slave_capability = 4").await?;
    let state = shared.live().gtid_io_pos.to_string();
    conn.query_drop(format!("SET @slave_connect_state = '{state}'")).await?;
    conn.query_drop("SET @slave_gtid_strict_mode = 0").await?;
    conn.query_drop("SET @slave_gtid_ignore_duplicates = 0").await?;
    Ok(conn)
}

async fn session(
    shared: &Arc<Shared>,
    writer: &mut RelayWriter<'_>,
    stop_rx: &mut watch::Receiver<bool>,
) -> SessionEnd {
    let conn = tokio::select! {
        r = tokio::time::timeout(CONNECT_TIMEOUT, connect(shared)) => match r {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return classify(e, false),
            Err(_) => return SessionEnd::Retry {
                code: CR_CONN_HOST_ERROR,
                message: "error connecting to master: timed out".into(),
                progressed: false,
            },
        },
        _ = stop_rx.changed() => return SessionEnd::Stopped,
    };
    let report_host = shared.cfg.report_host.clone().unwrap_or_default();
    let mut request = mysql_async::BinlogStreamRequest::new(shared.cfg.server_id)
        .with_filename(b"")
        .with_pos(4u64);
    if !report_host.is_empty() {
        // Shown by the source's SHOW SLAVE HOSTS (and `replctl status`), as MySQL's report_host/port.
        request = request.with_hostname(report_host.as_bytes()).with_port(shared.cfg.report_port);
    }
    let mut stream = match conn.get_binlog_stream(request).await {
        Ok(s) => s,
        Err(e) => return classify(e, false),
    };
    shared.io_connected();
    tracing::info!(source = %format!("{}:{}", shared.settings().host, shared.settings().port), "replica IO thread connected");
    let limit = silence_limit(shared.settings().heartbeat());
    let mut tracker = GroupTracker::default();
    let mut progressed = false;
    // One silence timer for the session, its deadline moved after every event (a new timer per
    // event would take the runtime's timer lock twice per event).
    let mut silence = Box::pin(tokio::time::sleep(limit.unwrap_or(Duration::from_secs(3600))));
    loop {
        if let Some(l) = limit {
            silence.as_mut().reset(tokio::time::Instant::now() + l);
        }
        let item = tokio::select! {
            biased;
            item = stream.next() => Some(item),
            _ = &mut silence, if limit.is_some() => None,
            _ = stop_rx.changed() => return SessionEnd::Stopped,
        };
        let event = match item {
            None => {
                return SessionEnd::Retry {
                    code: CR_CONN_HOST_ERROR,
                    message: "no event or heartbeat from master within twice the heartbeat period"
                        .into(),
                    progressed,
                }
            }
            Some(None) => {
                return SessionEnd::Retry {
                    code: CR_CONN_HOST_ERROR,
                    message: "master closed the binlog stream".into(),
                    progressed,
                }
            }
            Some(Some(Err(e))) => return classify(e, progressed),
            Some(Some(Ok(event))) => event,
        };
        let raw = raw_bytes(&event);
        match receive(shared, writer, &mut tracker, &raw) {
            Ok(()) => progressed = true,
            Err(end) => return end,
        }
    }
}

/// Rebuilds the event's bytes exactly as the source sent them.
fn raw_bytes(ev: &mysql_async::binlog::events::Event) -> Vec<u8> {
    let h = ev.header();
    let mut out = Vec::with_capacity(h.event_size() as usize);
    out.extend_from_slice(&h.timestamp().to_le_bytes());
    out.push(h.event_type_raw());
    out.extend_from_slice(&h.server_id().to_le_bytes());
    out.extend_from_slice(&h.event_size().to_le_bytes());
    out.extend_from_slice(&h.log_pos().to_le_bytes());
    out.extend_from_slice(&h.flags_raw().to_le_bytes());
    out.extend_from_slice(ev.data());
    if h.event_type_raw() == types::FORMAT_DESCRIPTION {
        if let Ok(Some(alg)) = ev.footer().get_checksum_alg() {
            out.push(alg as u8);
        }
    }
    if let Some(crc) = ev.checksum() {
        out.extend_from_slice(&crc);
    }
    out
}

/// Decodes and verifies one received event: its size must match and its CRC32 must be right. An
/// artificial event (the fake ROTATE) that arrives without a checksum is re-encoded with one.
pub fn verify(raw: &[u8]) -> Result<(Event, Option<Vec<u8>>)> {
    match Event::decode(raw) {
        Ok(ev) => Ok((ev, None)),
        Err(e) => {
            let artificial =
                raw.len() >= 19 && u16::from_le_bytes([raw[17], raw[18]]) & flags::ARTIFICIAL != 0;
            if artificial {
                if let Ok(ev) = Event::decode_with(raw, false) {
                    let fixed = ev.encode();
                    return Ok((ev, Some(fixed)));
                }
            }
            Err(e)
        }
    }
}

/// Follows group boundaries in the received stream to know when a GTID is completely received.
#[derive(Debug, Default)]
pub struct GroupTracker {
    open: Option<(Option<Gtid>, bool)>,
}

impl GroupTracker {
    /// Feeds one event; returns `Some(gtid)` when it completes a group (`Some(None)` for a group
    /// without a GTID).
    pub fn push(&mut self, ev: &Event) -> Option<Option<Gtid>> {
        match &ev.body {
            EventBody::Gtid { seq_no, domain_id, flags2, .. } => {
                let gtid = Gtid::new(*domain_id, ev.header.server_id, *seq_no);
                self.open = Some((Some(gtid), flags2 & gtid_flags::STANDALONE != 0));
                None
            }
            EventBody::Query { sql, .. } => {
                let word = control_word(sql);
                match self.open {
                    None if word == Some(ControlWord::Begin) => {
                        self.open = Some((None, false));
                        None
                    }
                    None => Some(None),
                    Some((gtid, true)) => {
                        self.open = None;
                        Some(gtid)
                    }
                    Some((gtid, false))
                        if matches!(word, Some(ControlWord::Commit | ControlWord::Rollback)) =>
                    {
                        self.open = None;
                        Some(gtid)
                    }
                    Some(_) => None,
                }
            }
            EventBody::Xid(_) => self.open.take().map(|(g, _)| g),
            _ => None,
        }
    }

    /// True while a group is open (the relay log must not rotate inside it).
    pub fn in_group(&self) -> bool {
        self.open.is_some()
    }
}

/// A relay log write that failed stops the IO thread (ER_SLAVE_RELAY_LOG_WRITE_FAILURE).
fn relay_write_failure(e: Error) -> SessionEnd {
    SessionEnd::Fatal { code: 1595, message: format!("Relay log write failure: {e}") }
}

fn now_unix_secs_f64() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Handles one received event: verify, store, account.
fn receive(
    shared: &Shared,
    writer: &mut RelayWriter<'_>,
    tracker: &mut GroupTracker,
    raw: &[u8],
) -> std::result::Result<(), SessionEnd> {
    let (event, fixed) = verify(raw).map_err(|e| SessionEnd::Retry {
        code: 1595,
        message: format!(
            "Relay log write failure: corrupt event from master: {}",
            crate::log::event::error_text(&e)
        ),
        progressed: true,
    })?;
    let now = Instant::now();
    let mut live = shared.live();
    live.last_contact = Some(now);
    match &event.body {
        EventBody::Heartbeat(file) => {
            if !file.is_empty() {
                live.master_log_file = file.clone();
            }
            if event.header.log_pos != 0 {
                live.read_master_log_pos = u64::from(event.header.log_pos);
            }
            return Ok(());
        }
        EventBody::Rotate { next_file, position } => {
            live.master_log_file = next_file.clone();
            live.read_master_log_pos = *position;
        }
        EventBody::FormatDescription { .. } => {
            live.master_server_id = event.header.server_id;
            if event.header.server_id == shared.cfg.server_id {
                return Err(SessionEnd::Fatal {
                    code: ER_SLAVE_FATAL_ERROR,
                    message: "Fatal error: The slave I/O thread stops because master and slave have equal MariaDB \
                              server ids; these ids must be different for replication to work"
                        .into(),
                });
            }
        }
        _ => {
            if event.header.log_pos != 0 {
                live.read_master_log_pos = u64::from(event.header.log_pos);
            }
        }
    }
    // A group that this event completes is counted as pending before the relay log publishes it:
    // the SQL thread may apply it (and pop its entry) as soon as it is published.
    let completed = tracker.push(&event);
    let ts = event.header.timestamp;
    if completed.is_some() {
        live.pending.push_back((now, ts));
    }
    drop(live);
    let bytes = fixed.as_deref().unwrap_or(raw);
    // Published (written with one `write`, made visible to the SQL thread) once per group: the SQL
    // thread cannot finish a group before its last event anyway.
    let stored = writer.append(bytes).and_then(|()| match tracker.in_group() {
        true => Ok(()),
        false => writer.publish(shared.cfg.sync_relay_log),
    });
    crate::metrics::METRICS.replica_received_bytes.add(bytes.len() as u64);
    if let Err(e) = stored {
        if completed.is_some() {
            shared.live().pending.pop_back();
        }
        return Err(relay_write_failure(e));
    }
    if let Some(gtid) = completed {
        let mut live = shared.live();
        if let Some(gtid) = gtid {
            live.gtid_io_pos.update(gtid);
        }
        if ts != 0 {
            live.receive_lag = Some((now_unix_secs_f64() - f64::from(ts)).max(0.0));
        }
    }
    if !tracker.in_group() {
        if let Err(e) = writer.maybe_rotate(shared.cfg.max_relay_log_size) {
            return Err(relay_write_failure(e));
        }
    }
    Ok(())
}

impl From<Error> for SessionEnd {
    fn from(e: Error) -> Self {
        let (code, _, message) = e.to_mysql();
        SessionEnd::Retry { code: u32::from(code), message, progressed: false }
    }
}

/// Sets the IO state helpers used above.
impl Shared {
    fn io_connecting(&self, state: &str) {
        let mut live = self.live();
        live.io = IoRun::Connecting;
        live.io_state = state.to_string();
    }

    fn io_retrying(&self, code: u32, message: &str) {
        let mut live = self.live();
        live.io = IoRun::Connecting;
        live.io_state = "Waiting to reconnect after a failed master event read".into();
        live.last_io_error = Some((code, message.to_string()));
        live.receive_lag = None;
    }

    fn io_connected(&self) {
        let mut live = self.live();
        live.io = IoRun::Connected;
        live.io_state = "Waiting for master to send event".into();
        live.last_io_error = None;
        live.last_contact = Some(Instant::now());
    }

    pub(crate) fn io_stopped(&self, error: Option<(u32, String)>) {
        let mut live = self.live();
        live.io = IoRun::Stopped;
        live.io_state = String::new();
        live.receive_lag = None;
        if error.is_some() {
            live.last_io_error = error;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::event::QueryStatus;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        assert_eq!(backoff(1, 1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(1, 2, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(1, 4, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(1, 40, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(10, 9, 1.0), MAX_BACKOFF);
        assert_eq!(backoff(2, 1, 0.5), Duration::from_secs(1));
        assert_eq!(backoff(0, 1, 1.0), Duration::from_millis(100));
        assert_eq!(silence_limit(Some(Duration::from_secs(1))), Some(Duration::from_secs(2)));
        assert_eq!(silence_limit(None), None);
    }

    #[test]
    fn verify_checks_crc() {
        let ev = Event::new(1, 1, 100, 0, EventBody::Xid(7));
        let mut raw = ev.encode();
        assert_eq!(verify(&raw).unwrap().0.body, ev.body);
        raw[20] ^= 1;
        assert!(verify(&raw).is_err());
        // A fake ROTATE without CRC is accepted and re-encoded with one.
        let rot = Event::new(
            0,
            1,
            0,
            flags::ARTIFICIAL,
            EventBody::Rotate { position: 4, next_file: "b.000001".into() },
        );
        let with_crc = rot.encode();
        let without = {
            let mut v = with_crc[..with_crc.len() - 4].to_vec();
            v[9..13].copy_from_slice(&((with_crc.len() - 4) as u32).to_le_bytes());
            v
        };
        let (decoded, fixed) = verify(&without).unwrap();
        assert_eq!(decoded.body, rot.body);
        assert_eq!(fixed.unwrap(), with_crc);
    }

    #[test]
    fn tracker_finds_group_ends() {
        let mut t = GroupTracker::default();
        let g = |seq, f| {
            Event::new(
                1,
                1,
                0,
                0,
                EventBody::Gtid {
                    seq_no: seq,
                    domain_id: 0,
                    flags2: f,
                    commit_id: 0,
                    extra: vec![],
                },
            )
        };
        let q =
            |s: &str| Event::new(1, 1, 0, 0, EventBody::query(1, "d", QueryStatus::standard(), s));
        assert_eq!(t.push(&g(1, gtid_flags::FOR_DDL)), None);
        assert_eq!(t.push(&q("CREATE TABLE t (a INT)")), Some(Some(Gtid::new(0, 1, 1))));
        assert_eq!(t.push(&g(2, gtid_flags::FOR_DML)), None);
        assert!(t.in_group());
        assert_eq!(t.push(&q("INSERT INTO t VALUES (1)")), None);
        assert_eq!(
            t.push(&Event::new(1, 1, 0, 0, EventBody::Xid(1))),
            Some(Some(Gtid::new(0, 1, 2)))
        );
        assert_eq!(t.push(&q("BEGIN")), None);
        assert_eq!(t.push(&q("COMMIT")), Some(None));
        assert_eq!(t.push(&q("INSERT INTO t VALUES (2)")), Some(None));
        assert!(!t.in_group());
    }
}
