//! The relay log writer: a replica's copy of the primary's events, written verbatim.
//!
//! A relay file is a binlog v4 file: magic, the replica's own FORMAT_DESCRIPTION (server id = replica,
//! flags RELAY_LOG, as MariaDB writes it), then the events received from the primary byte for byte
//! (their headers keep the primary's server id and `log_pos`, which is how the applier knows the
//! primary position it executed). When a file reaches `max_relay_log_size` the writer appends its own
//! ROTATE (flags RELAY_LOG) and continues in the next file; the index lists the files.
//!
//! Invariants: events are appended whole (a failed write is cut back and poisons the writer until it
//! is reopened); [`RelayLogWriter::durable`] never publishes a position past bytes that are written
//! (and fsynced, with `sync_relay_log = 1`); at open the tail of the last file is recovered like a
//! binlog's (torn event, bad CRC or an unfinished transaction cut) and a new file is started.

use std::fs;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::log::event::{flags, Event, EventBody, EventHeader, CRC_LEN, HEADER_LEN};
use crate::log::file::{encode_file_header, file_seq_cmp, set_in_use, FileSet, LogPos};
use crate::log::writer::{recover, RecoveryReport, DEFAULT_SERVER_VERSION};

/// Configuration of a [`RelayLogWriter`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RelayLogConfig {
    /// Directory of the relay files and index.
    pub dir: PathBuf,
    /// File base name, e.g. `repld-relay-bin`.
    pub basename: String,
    /// The replica's server id (its own FORMAT_DESCRIPTION, ROTATE and STOP events).
    pub server_id: u32,
    /// Rotate once a file reaches this size (checked after each append).
    pub max_relay_log_size: u64,
    /// 1 = fsync after every append, N = after every N appends, 0 = never.
    pub sync_relay_log: u32,
    /// Server version in the replica's FORMAT_DESCRIPTION.
    pub server_version: String,
}

impl Default for RelayLogConfig {
    fn default() -> Self {
        RelayLogConfig {
            dir: PathBuf::from("."),
            basename: "repld-relay-bin".into(),
            server_id: 2,
            max_relay_log_size: 1 << 30,
            sync_relay_log: 1,
            server_version: DEFAULT_SERVER_VERSION.into(),
        }
    }
}

/// The relay log writer. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct RelayLogWriter {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: RelayLogConfig,
    files: FileSet,
    state: Mutex<State>,
    durable_tx: watch::Sender<LogPos>,
}

struct State {
    file: File,
    name: String,
    pos: u64,
    index: Vec<String>,
    poisoned: Option<String>,
    closed: bool,
    unsynced: u32,
    buf: Vec<u8>,
}

fn now_secs() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

impl RelayLogWriter {
    /// Opens (or creates) the relay log: recovers the last file's tail, then starts a new file.
    pub fn open(cfg: RelayLogConfig) -> Result<(RelayLogWriter, RecoveryReport)> {
        if cfg.server_version.len() > 50 {
            return Err(Error::InvalidInput("server_version longer than 50 bytes".into()));
        }
        if cfg.max_relay_log_size < 4096 {
            return Err(Error::InvalidInput("max_relay_log_size below 4096".into()));
        }
        fs::create_dir_all(&cfg.dir)
            .map_err(|e| Error::Io(format!("{}: {e}", cfg.dir.display())))?;
        let files = FileSet::new(&cfg.dir, &cfg.basename)?;
        let (mut index, mut report, _) = recover(&files, false)?;
        let name = index.last().map_or_else(|| files.name(1), |l| files.next_name(l));
        let (file, pos) = create_relay_file(&files, &cfg, &name)?;
        index.push(name.clone());
        files.write_index(&index)?;
        report.new_file = name.clone();
        tracing::info!(file = %name, cut = report.bytes_cut, "relay log opened");
        let (durable_tx, _) = watch::channel(LogPos::new(name.clone(), pos));
        let state = State {
            file,
            name,
            pos,
            index,
            poisoned: None,
            closed: false,
            unsynced: 0,
            buf: Vec::new(),
        };
        let inner = Inner { cfg, files, state: Mutex::new(state), durable_tx };
        Ok((RelayLogWriter { inner: Arc::new(inner) }, report))
    }

    /// Appends whole events verbatim in one write (each slice is one event: header .. CRC). Applies
    /// `sync_relay_log`, publishes the new end, and rotates when the file is full. Returns the new end.
    pub fn append_raw(&self, events: &[&[u8]]) -> Result<LogPos> {
        for (i, ev) in events.iter().enumerate() {
            let header = EventHeader::decode(ev)
                .map_err(|e| Error::InvalidInput(format!("relay event {i}: {e}")))?;
            if header.event_size as usize != ev.len() || ev.len() < HEADER_LEN {
                return Err(Error::InvalidInput(format!(
                    "relay event {i}: event_size {} but {} bytes",
                    header.event_size,
                    ev.len()
                )));
            }
        }
        let inner = &self.inner;
        let mut st = inner.lock();
        st.check_writable()?;
        let mut buf = std::mem::take(&mut st.buf);
        buf.clear();
        for ev in events {
            buf.extend_from_slice(ev);
        }
        let start = st.pos;
        let res = (&st.file).write_all(&buf);
        st.buf = buf;
        if let Err(e) = res {
            let cut = st.file.set_len(start);
            {
                let msg =
                    format!("writing relay log {} at {start}: {e} (cut back: {cut:?})", st.name);
                return Err(st.poison(msg));
            }
        }
        st.pos += st.buf.len() as u64;
        st.unsynced += 1;
        let n = inner.cfg.sync_relay_log;
        if n > 0 && st.unsynced >= n {
            st.unsynced = 0;
            if let Err(e) = st.file.sync_data() {
                {
                    let msg = format!("fsync of relay log {}: {e}", st.name);
                    return Err(st.poison(msg));
                }
            }
        }
        inner.durable_tx.send_replace(LogPos::new(st.name.clone(), st.pos));
        if st.pos >= inner.cfg.max_relay_log_size {
            inner.rotate_locked(&mut st)?;
        }
        Ok(LogPos::new(st.name.clone(), st.pos))
    }

    /// fsyncs the current file now.
    pub fn sync(&self) -> Result<()> {
        let mut st = self.inner.lock();
        st.check_writable()?;
        if let Err(e) = st.file.sync_data() {
            {
                let msg = format!("fsync of relay log {}: {e}", st.name);
                return Err(st.poison(msg));
            }
        }
        st.unsynced = 0;
        Ok(())
    }

    /// Ends the current file with the replica's ROTATE and starts the next (FLUSH RELAY LOGS).
    pub fn rotate(&self) -> Result<()> {
        let mut st = self.inner.lock();
        st.check_writable()?;
        self.inner.rotate_locked(&mut st)
    }

    /// The end of what was written (and fsynced, when `sync_relay_log = 1`); the applier waits on it.
    pub fn durable(&self) -> watch::Receiver<LogPos> {
        self.inner.durable_tx.subscribe()
    }

    /// Current file and end offset.
    pub fn status(&self) -> LogPos {
        let st = self.inner.lock();
        LogPos::new(st.name.clone(), st.pos)
    }

    /// The files with their sizes, oldest first.
    pub fn files(&self) -> Result<Vec<(String, u64)>> {
        let index = self.inner.lock().index.clone();
        index
            .into_iter()
            .map(|n| {
                let path = self.inner.files.path(&n);
                let len = fs::metadata(&path)
                    .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?
                    .len();
                Ok((n, len))
            })
            .collect()
    }

    /// Directory of the relay files.
    pub fn dir(&self) -> &std::path::Path {
        &self.inner.cfg.dir
    }

    /// The file base name.
    pub fn basename(&self) -> &str {
        &self.inner.cfg.basename
    }

    /// Deletes the files before `first_needed` (the file the applier is reading); never the current
    /// file. Returns the deleted names.
    pub fn purge_applied(&self, first_needed: &str) -> Result<Vec<String>> {
        let mut st = self.inner.lock();
        let keep_from = st
            .index
            .iter()
            .position(|n| !file_seq_cmp(n, first_needed).is_lt())
            .unwrap_or(st.index.len() - 1)
            .min(st.index.len() - 1);
        let doomed: Vec<String> = st.index.drain(..keep_from).collect();
        if doomed.is_empty() {
            return Ok(doomed);
        }
        self.inner.files.write_index(&st.index)?;
        for n in &doomed {
            let path = self.inner.files.path(n);
            if let Err(e) = fs::remove_file(&path) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(file = %path.display(), cause = %e, "applied relay log not deleted");
                }
            }
        }
        Ok(doomed)
    }

    /// Clean shutdown: writes the replica's STOP, clears BINLOG_IN_USE, fsyncs.
    pub fn close(&self) -> Result<()> {
        let mut st = self.inner.lock();
        if st.closed {
            return Ok(());
        }
        st.closed = true;
        if let Some(p) = &st.poisoned {
            return Err(Error::Io(format!("relay log closed after a write error: {p}")));
        }
        let mut stop = Event::new(now_secs(), self.inner.cfg.server_id, 0, 0, EventBody::Stop);
        stop.header.log_pos = (st.pos + (HEADER_LEN + CRC_LEN) as u64) as u32;
        let bytes = stop.encode();
        let res = (&st.file)
            .write_all(&bytes)
            .and_then(|_| set_in_use(&st.file, false))
            .and_then(|_| st.file.sync_data());
        if let Err(e) = res {
            {
                let msg = format!("closing relay log {}: {e}", st.name);
                return Err(st.poison(msg));
            }
        }
        st.pos += bytes.len() as u64;
        self.inner.durable_tx.send_replace(LogPos::new(st.name.clone(), st.pos));
        Ok(())
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn rotate_locked(&self, st: &mut State) -> Result<()> {
        let next = self.files.next_name(&st.name);
        let body = EventBody::Rotate { position: 4, next_file: next.clone() };
        let mut rotate = Event::new(now_secs(), self.cfg.server_id, 0, flags::RELAY_LOG, body);
        rotate.header.log_pos = (st.pos + rotate.encode().len() as u64) as u32;
        let bytes = rotate.encode();
        let res = (&st.file)
            .write_all(&bytes)
            .and_then(|_| set_in_use(&st.file, false))
            .and_then(|_| st.file.sync_data());
        if let Err(e) = res {
            {
                let msg = format!("rotating relay log {}: {e}", st.name);
                return Err(st.poison(msg));
            }
        }
        st.pos += bytes.len() as u64;
        let (file, pos) = match create_relay_file(&self.files, &self.cfg, &next) {
            Ok(c) => c,
            Err(e) => return Err(st.poison(format!("creating relay log {next}: {e}"))),
        };
        let mut index = st.index.clone();
        index.push(next.clone());
        if let Err(e) = self.files.write_index(&index) {
            {
                let msg = format!("relay log index: {e}");
                return Err(st.poison(msg));
            }
        }
        st.file = file;
        st.name = next;
        st.pos = pos;
        st.index = index;
        st.unsynced = 0;
        self.durable_tx.send_replace(LogPos::new(st.name.clone(), st.pos));
        Ok(())
    }
}

impl State {
    fn check_writable(&self) -> Result<()> {
        if let Some(p) = &self.poisoned {
            return Err(Error::Io(format!(
                "relay log refuses appends after a write error (reopen it): {p}"
            )));
        }
        if self.closed {
            return Err(Error::Abort("relay log is closed".into()));
        }
        Ok(())
    }

    fn poison(&mut self, msg: String) -> Error {
        tracing::error!(cause = %msg, "relay log write failed; refusing appends until reopened");
        self.poisoned.get_or_insert_with(|| msg.clone());
        Error::Io(msg)
    }
}

fn create_relay_file(files: &FileSet, cfg: &RelayLogConfig, name: &str) -> Result<(File, u64)> {
    let header = encode_file_header(
        &cfg.server_version,
        cfg.server_id,
        now_secs(),
        0,
        flags::RELAY_LOG | flags::BINLOG_IN_USE,
        None,
    );
    files.create_file(name, &header)
}
