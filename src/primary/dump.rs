//! COM_BINLOG_DUMP: streaming the binary log to a replica (mini-redis `cmd/subscribe.rs` shape).
//!
//! The start is a (file, offset) from the command, or, when the replica sent
//! `SET @slave_connect_state='<gtid list>'`, the first event group that state lacks
//! ([`crate::log::find_gtid_start`]). The stream is: a fake ROTATE (timestamp 0, `log_pos` 0, flags
//! ARTIFICIAL) naming the start, the file's FORMAT_DESCRIPTION (with `log_pos` 0 when starting past
//! it), then every event exactly as stored, across rotations (each new file preceded by a fake ROTATE
//! naming it), but never past the binlog's durable
//! position: a replica never receives a transaction the primary could still lose. When caught up the
//! stream waits for [`crate::log::BinlogWriter::durable`] to move (no polling), sending a HEARTBEAT at
//! `@master_heartbeat_period` while idle; with BINLOG_DUMP_NON_BLOCK it ends with an EOF packet.
//! A caught-up stream sends at most once per `dump_linger_us` (1 ms by default): when commits
//! follow each other closely, the ones made durable within that time go out in one send, so the
//! dump task and the replica's IO and SQL threads wake once for several transactions instead of
//! once per fsync (each wake-up of an idle vCPU is expensive on a VM; at one committing client this
//! took the replica's CPU per transaction from about 140 to 90 µs). The first commit after a quiet
//! spell is sent at once; a replica that is behind is never held back.
//!
//! Each dump runs in its connection's own task and reads files in `spawn_blocking`, so a slow replica
//! only slows itself; a read of the last few hundred KiB before the durable position (what a caught-up
//! replica asks for: bytes just written, in the page cache) is done on the task itself. While it
//! streams, it holds the file it reads ([`crate::log::ReplicaHold`]) so that PURGE refuses to delete
//! it. Positions it cannot serve get ERROR 1236, as MariaDB sends.

use crate::error::{Error, Result};
use crate::log::event::{flags, types, Event, EventBody, EventHeader};
use crate::log::{find_gtid_start, Gtid, GtidState, LogReader, RawLogEvent};
use crate::primary::session::Conn;
use crate::wire::{self, BinlogDump};
use std::time::Duration;
use tracing::{debug, info};

/// Most events read from disk per blocking batch.
const BATCH_EVENTS: usize = 512;
/// Most bytes read from disk per blocking batch.
const BATCH_BYTES: usize = 4 << 20;
/// A read of at most this many bytes behind the durable position is done on the dump's own task,
/// not in `spawn_blocking`: they were written moments ago and are in the page cache.
const INLINE_READ: u64 = 256 << 10;

/// ER_MASTER_FATAL_ERROR_READING_BINLOG.
fn fatal(msg: impl Into<String>) -> Error {
    Error::sql(1236, "HY000", msg.into())
}

/// Serves one COM_BINLOG_DUMP until the replica leaves, the server shuts down or (NON_BLOCK) the
/// stream has caught up. Errors that concern the stream are sent to the replica as ERR 1236.
pub async fn binlog_dump(c: &mut Conn, req: BinlogDump) -> Result<()> {
    let replica = match &c.registered {
        Some(r) => format!("server_id {}", r.server_id),
        None => format!("connection {} (server_id {})", c.id, req.server_id),
    };
    info!(%replica, file = %req.filename, pos = req.pos, "binlog dump starts");
    let start = start_position(c, &req).await;
    let (file, pos) = match start {
        Ok(p) => p,
        Err(e) => return send_fatal(c, e).await,
    };
    let r = stream(c, &req, &replica, file, pos).await;
    match r {
        Err(e @ (Error::LogPurged(_) | Error::PositionNotFound(_) | Error::InvalidData(_))) => {
            send_fatal(c, e).await
        }
        other => other,
    }
}

async fn send_fatal(c: &mut Conn, e: Error) -> Result<()> {
    let (_, _, msg) = e.to_mysql();
    let e = fatal(msg);
    wire::write_error(&mut c.conn, &e).await?;
    c.conn.flush().await
}

/// Where the dump starts: the GTID state's position, or the requested file and offset.
async fn start_position(c: &Conn, req: &BinlogDump) -> Result<(String, u64)> {
    let binlog = c.shared.binlog.clone();
    if let Some(state) = c.repl_vars.get("slave_connect_state") {
        let state: GtidState =
            state.parse().map_err(|e: Error| fatal(format!("bad @slave_connect_state: {e}")))?;
        return tokio::task::spawn_blocking(move || {
            find_gtid_start(binlog.dir(), binlog.basename(), &state)
        })
        .await
        .map_err(|e| Error::Io(e.to_string()))?;
    }
    Ok((req.filename.clone(), u64::from(req.pos.max(4))))
}

/// Sends the stream from (file, pos).
async fn stream(
    c: &mut Conn,
    req: &BinlogDump,
    replica: &str,
    file: String,
    pos: u64,
) -> Result<()> {
    let binlog = c.shared.binlog.clone();
    let server_id = c.shared.config.server_id;
    let (mut reader, fde) = {
        let (binlog, file) = (binlog.clone(), file.clone());
        tokio::task::spawn_blocking(move || -> Result<(LogReader, Option<RawLogEvent>)> {
            let fde = if pos > 4 {
                let mut r = LogReader::open(binlog.dir(), binlog.basename(), &file, 4)?;
                r.next_event()?
            } else {
                None
            };
            // Events are forwarded verbatim ([`Batch::fill`]): framing and CRC are checked, bodies
            // are not decoded.
            let reader = LogReader::open(binlog.dir(), binlog.basename(), &file, pos)?;
            Ok((reader, fde))
        })
        .await
        .map_err(|e| Error::Io(e.to_string()))??
    };
    let mut current = reader.position().file;
    let hold = binlog.hold(replica, &current);
    // Fake ROTATE naming where we start.
    let rotate =
        artificial(server_id, 0, EventBody::Rotate { position: pos, next_file: current.clone() });
    let mut rotate = rotate.encode();
    if !wants_checksum(c) {
        strip_crc(&mut rotate);
    }
    wire::write_binlog_event(&mut c.conn, &rotate).await?;
    if let Some(fde) = fde {
        // The file's FORMAT_DESCRIPTION, log_pos 0 so that the replica does not move its position.
        let mut ev = fde.event;
        ev.header.log_pos = 0;
        ev.header.flags &= !flags::BINLOG_IN_USE;
        wire::write_binlog_event(&mut c.conn, &ev.encode()).await?;
    }
    let mut durable = binlog.durable();
    let heartbeat = c
        .repl_vars
        .get("master_heartbeat_period")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&ns| ns > 0)
        .map(Duration::from_nanos);
    let mut batch = Batch { last_file: current.clone(), ..Batch::default() };
    // One heartbeat timer for the whole stream, its deadline moved at every wait: a new timer per
    // transaction would take the runtime's timer lock twice, contended with every session's.
    let mut beat = Box::pin(tokio::time::sleep(heartbeat.unwrap_or(Duration::from_secs(3600))));
    // Linger (see `ServerConfig::dump_linger_us`): its own reusable timer, for the same reason.
    let linger = Duration::from_micros(c.shared.config.dump_linger_us);
    let mut linger_timer = Box::pin(tokio::time::sleep(Duration::ZERO));
    loop {
        durable.borrow_and_update();
        let limit = binlog.durable_pos();
        let at = reader.position();
        let err = if at.file == limit.file && limit.pos.saturating_sub(at.pos) <= INLINE_READ {
            // At the tail: bytes the writer has just written, in the page cache. Reading them here
            // costs a `pread`; a blocking task would cost two thread handoffs per transaction.
            reader.set_limit(Some(limit.clone()));
            batch.fill(&mut reader).err()
        } else {
            let to = limit.clone();
            let (r, b, err) = tokio::task::spawn_blocking(move || {
                reader.set_limit(Some(to));
                let err = batch.fill(&mut reader).err();
                (reader, batch, err)
            })
            .await
            .map_err(|e| Error::Io(e.to_string()))?;
            (reader, batch) = (r, b);
            err
        };
        // Caught up: nothing read, or a batch that stopped short of its bounds at the durable position
        // (no second read to find that out). One that stopped at the end of a rotated file reads on
        // into the next (and moves its purge hold there).
        let caught_up = err.is_none()
            && (batch.events.is_empty() || (!batch.is_full() && reader.position() >= limit));
        // How far this batch takes the replica (SHOW SLAVE HOSTS): its last event, its last GTID.
        let sent_to = batch.events.last().map(|ev| format!("{}:{}", batch.last_file, ev.end_pos()));
        let sent_gtid =
            batch.events.iter().rev().find(|ev| ev.type_code == types::GTID).and_then(|ev| {
                match Event::decode(&batch.data[ev.range.clone()]).ok()? {
                    Event { header, body: EventBody::Gtid { seq_no, domain_id, .. } } => {
                        Some(Gtid { domain_id, server_id: header.server_id, seq_no })
                    }
                    _ => None,
                }
            });
        for ev in &batch.events {
            if let Some(file) = &ev.new_file {
                // Into the next file: a fake ROTATE naming it, as MariaDB sends at every switch
                // (`mariadb-binlog -R` without --to-last-log stops there). It follows the previous
                // file's FORMAT_DESCRIPTION, which says CRC32, so it carries one.
                current.clone_from(file);
                hold.set_file(&current);
                let body = EventBody::Rotate { position: ev.pos, next_file: current.clone() };
                wire::write_binlog_event(&mut c.conn, &artificial(server_id, 0, body).encode())
                    .await?;
            }
            let bytes = &mut batch.data[ev.range.clone()];
            if ev.type_code == types::FORMAT_DESCRIPTION && bytes.len() > 18 {
                // The stored FDE may still say "in use"; the flag is outside the CRC.
                bytes[17] &= !(flags::BINLOG_IN_USE as u8);
            }
            debug!(file = %current, pos = ev.pos, kind = ev.type_code, "send event");
            wire::write_binlog_event(&mut c.conn, bytes).await?;
        }
        if let Some(pos) = sent_to {
            if let Ok(mut r) = c.shared.replicas.lock() {
                if let Some(h) = r.get_mut(&c.id) {
                    h.sent_position = pos;
                    if let Some(g) = sent_gtid {
                        h.sent_gtid = g.to_string();
                    }
                }
            }
        }
        if let Some(e) = err {
            return Err(e);
        }
        if !caught_up {
            continue;
        }
        if req.non_blocking() {
            wire::write_binlog_eof(&mut c.conn).await?;
            c.conn.flush().await?;
            return Ok(());
        }
        c.shared.set_process(
            c.id,
            "Binlog Dump",
            "Master has sent all binlog to slave; waiting for more updates",
            None,
        );
        c.conn.flush().await?;
        let sent_at = tokio::time::Instant::now();
        // Wait for more, beating the heart while idle.
        loop {
            if let Some(d) = heartbeat {
                beat.as_mut().reset(tokio::time::Instant::now() + d);
            }
            tokio::select! {
                r = durable.changed() => {
                    if r.is_err() {
                        return Ok(()); // the log was closed: shutting down
                    }
                    break;
                }
                _ = &mut beat, if heartbeat.is_some() => {
                    let end = reader.position();
                    let hb = artificial(server_id, end.pos as u32, EventBody::Heartbeat(end.file.clone()));
                    wire::write_binlog_event(&mut c.conn, &hb.encode()).await?;
                    c.conn.flush().await?;
                }
                r = c.conn.read_packet() => {
                    // A replica sends nothing during a dump: input means it closed or broke the protocol.
                    return match r {
                        Ok(None) => Ok(()),
                        Ok(Some(_)) => Err(Error::Abort("replica sent a packet during the dump".into())),
                        Err(e) => Err(e),
                    };
                }
                _ = c.shutdown.recv() => return Ok(()),
                _ = async { let _ = c.kill.wait_for(|k| *k).await; } => return Ok(()),
            }
        }
        // More is durable. Commits that follow closely are sent together: wait until `linger` has
        // passed since the last send (nothing to wait after a quiet spell), then read all there is.
        if !linger.is_zero() && sent_at.elapsed() < linger {
            linger_timer.as_mut().reset(sent_at + linger);
            tokio::select! {
                _ = &mut linger_timer => {}
                _ = c.shutdown.recv() => return Ok(()),
                _ = async { let _ = c.kill.wait_for(|k| *k).await; } => return Ok(()),
            }
        }
    }
}

/// Events read from disk in one blocking step, to be sent: their bytes back to back in one buffer
/// (reused from batch to batch), read with [`LogReader::next_raw`] (framing and CRC32 verified).
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    events: Vec<BatchEvent>,
    /// The file of the last event read (at the start: the file the stream starts in).
    last_file: String,
}

/// One event of a [`Batch`].
struct BatchEvent {
    /// Its bytes in [`Batch::data`].
    range: std::ops::Range<usize>,
    /// Its offset in its file.
    pos: u64,
    type_code: u8,
    /// Set on the first event of a file other than the previous event's: that file's name.
    new_file: Option<String>,
}

impl BatchEvent {
    fn end_pos(&self) -> u64 {
        self.pos + self.range.len() as u64
    }
}

impl Batch {
    /// Whether the last [`Batch::fill`] stopped at its bounds (more may follow at once) rather than
    /// at the end of what it may read.
    fn is_full(&self) -> bool {
        self.events.len() >= BATCH_EVENTS || self.data.len() >= BATCH_BYTES
    }

    /// Empties the batch, then reads up to [`BATCH_EVENTS`] events or [`BATCH_BYTES`] bytes (more
    /// when one event is larger). On an error the events read before it stay in the batch.
    fn fill(&mut self, reader: &mut LogReader) -> Result<()> {
        self.data.clear();
        self.events.clear();
        while self.events.len() < BATCH_EVENTS && self.data.len() < BATCH_BYTES {
            let Some(ev) = reader.next_raw()? else { break };
            let new_file = (ev.file != self.last_file).then(|| ev.file.to_string());
            if let Some(file) = &new_file {
                self.last_file.clone_from(file);
            }
            let start = self.data.len();
            self.data.extend_from_slice(ev.bytes);
            self.events.push(BatchEvent {
                range: start..self.data.len(),
                pos: ev.pos,
                type_code: ev.header.type_code,
                new_file,
            });
        }
        Ok(())
    }
}

/// Whether the replica asked for checksummed events (`SET @master_binlog_checksum` to anything but
/// `NONE`). The fake ROTATE comes before any FORMAT_DESCRIPTION could tell the reader whether events
/// carry a CRC32, so MariaDB sends it with one only to such replicas; `mariadb-binlog -R` sets `NONE`
/// and reads the CRC of a checksummed fake ROTATE as part of the file name.
fn wants_checksum(c: &Conn) -> bool {
    c.repl_vars.get("master_binlog_checksum").is_some_and(|v| !v.eq_ignore_ascii_case("NONE"))
}

/// Removes the CRC32 trailer of an encoded event and fixes its `event_size`.
fn strip_crc(ev: &mut Vec<u8>) {
    if ev.len() >= 19 + 4 {
        ev.truncate(ev.len() - 4);
        let size = ev.len() as u32;
        ev[9..13].copy_from_slice(&size.to_le_bytes());
    }
}

/// A stream-only event: timestamp 0, flags ARTIFICIAL.
fn artificial(server_id: u32, log_pos: u32, body: EventBody) -> Event {
    let type_code = body.type_code().unwrap_or(0);
    Event {
        header: EventHeader {
            timestamp: 0,
            type_code,
            server_id,
            event_size: 0,
            log_pos,
            flags: flags::ARTIFICIAL,
        },
        body,
    }
}
