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
//!
//! Each dump runs in its connection's own task and reads files in `spawn_blocking`, so a slow replica
//! only slows itself. While it streams, it holds the file it reads ([`crate::log::ReplicaHold`]) so that
//! PURGE refuses to delete it. Positions it cannot serve get ERROR 1236, as MariaDB sends.

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
            let mut reader = LogReader::open(binlog.dir(), binlog.basename(), &file, pos)?;
            // Events are forwarded verbatim: framing and CRC are checked, bodies are not decoded.
            reader.set_decode_bodies(false);
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
    loop {
        durable.borrow_and_update();
        let limit = binlog.durable_pos();
        let (r, batch) = tokio::task::spawn_blocking(move || {
            reader.set_limit(Some(limit));
            let mut batch = Vec::new();
            let mut bytes = 0;
            while batch.len() < BATCH_EVENTS && bytes < BATCH_BYTES {
                match reader.next_event() {
                    Ok(Some(ev)) => {
                        bytes += ev.bytes.len();
                        batch.push(ev);
                    }
                    Ok(None) => break,
                    Err(e) => return (reader, Err((batch, e))),
                }
            }
            (reader, Ok(batch))
        })
        .await
        .map_err(|e| Error::Io(e.to_string()))?;
        reader = r;
        let (batch, err) = match batch {
            Ok(b) => (b, None),
            Err((b, e)) => (b, Some(e)),
        };
        let caught_up = batch.is_empty() && err.is_none();
        // How far this batch takes the replica (SHOW SLAVE HOSTS): its last event, its last GTID.
        let sent_to = batch.last().map(|ev| format!("{}:{}", ev.file, ev.end_pos()));
        let sent_gtid =
            batch.iter().rev().find(|ev| ev.event.header.type_code == types::GTID).and_then(|ev| {
                match Event::decode(&ev.bytes).ok()? {
                    Event { header, body: EventBody::Gtid { seq_no, domain_id, .. } } => {
                        Some(Gtid { domain_id, server_id: header.server_id, seq_no })
                    }
                    _ => None,
                }
            });
        for mut ev in batch {
            if ev.file != current {
                // Into the next file: a fake ROTATE naming it, as MariaDB sends at every switch
                // (`mariadb-binlog -R` without --to-last-log stops there). It follows the previous
                // file's FORMAT_DESCRIPTION, which says CRC32, so it carries one.
                current = ev.file.clone();
                hold.set_file(&current);
                let body = EventBody::Rotate { position: ev.pos, next_file: current.clone() };
                wire::write_binlog_event(&mut c.conn, &artificial(server_id, 0, body).encode())
                    .await?;
            }
            if ev.event.header.type_code == types::FORMAT_DESCRIPTION && ev.bytes.len() > 18 {
                // The stored FDE may still say "in use"; the flag is outside the CRC.
                ev.bytes[17] &= !(flags::BINLOG_IN_USE as u8);
            }
            debug!(file = %ev.file, pos = ev.pos, kind = ev.event.header.type_code, "send event");
            wire::write_binlog_event(&mut c.conn, &ev.bytes).await?;
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
        // Wait for more, beating the heart while idle.
        loop {
            let beat = async {
                match heartbeat {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = durable.changed() => {
                    if r.is_err() {
                        return Ok(()); // the log was closed: shutting down
                    }
                    break;
                }
                _ = beat => {
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
