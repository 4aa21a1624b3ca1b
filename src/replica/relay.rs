//! The relay log: the events the IO thread received, stored verbatim until the SQL thread applied them.
//!
//! Files are binlog v4 files (`relay-bin.000001`, ... plus `relay-bin.index`) in the format of
//! [`crate::log`]: each starts with the magic and the replica's own FORMAT_DESCRIPTION (server id of the
//! replica, as MariaDB does), followed by the source's events byte for byte (their `log_pos` is the
//! source's offset: that is how the SQL thread knows Exec_Master_Log_Pos). The SQL thread reads them
//! with [`crate::log::reader::LogReader`], which verifies every CRC.
//!
//! Invariants:
//! * Only the IO thread appends ([`RelayWriter`]); readers never read past the published end
//!   ([`RelayLog::end`]), so they never see half an event.
//! * The published end only grows, except on [`RelayLog::reset`], which deletes every file and bumps
//!   [`RelayLog::generation`] so that readers reopen at the new first file.
//! * Relay logs are disposable: after a restart they are discarded and fetched again from the applied
//!   GTID (relay_log_recovery), so their fsync policy (`sync_relay_log`) only bounds what a crash loses.

use crate::error::{Error, Result};
use crate::log::file::{encode_file_header, file_seq, FileSet, LogPos};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Basename of relay log files.
pub const RELAY_BASENAME: &str = "relay-bin";
/// Server version written into the relay log's own FORMAT_DESCRIPTION.
pub const RELAY_SERVER_VERSION: &str = "10.11.19-MariaDB-repld-relay";

#[derive(Debug, Default)]
struct RelayState {
    /// Files with their sizes, oldest first.
    files: Vec<(String, u64)>,
    /// End of the published data.
    end: Option<LogPos>,
    /// Bumped by every reset.
    generation: u64,
    /// Threads inside [`RelayLog::wait_change`] (changed under the lock, so a publisher that sees
    /// none under the lock needs no wake-up: a later waiter sees the new end before it waits).
    waiters: usize,
}

/// The set of relay log files of one replica, shared by the IO thread (writer) and SQL thread (reader).
#[derive(Debug)]
pub struct RelayLog {
    files: FileSet,
    server_id: u32,
    state: Mutex<RelayState>,
    changed: Condvar,
}

fn now_secs() -> u32 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as u32).unwrap_or(0)
}

impl RelayLog {
    /// The relay log in `dir` (created if missing). Existing files are left alone until
    /// [`RelayLog::reset`].
    pub fn open(dir: &Path, server_id: u32) -> Result<RelayLog> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
        let files = FileSet::new(dir, RELAY_BASENAME)?;
        let mut state = RelayState::default();
        for name in files.read_index()? {
            let size = std::fs::metadata(files.path(&name)).map(|m| m.len()).unwrap_or(0);
            state.files.push((name, size));
        }
        Ok(RelayLog { files, server_id, state: Mutex::new(state), changed: Condvar::new() })
    }

    /// Directory of the files.
    pub fn dir(&self) -> &Path {
        &self.files.dir
    }

    /// Basename of the files.
    pub fn basename(&self) -> &str {
        &self.files.basename
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RelayState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Deletes every relay log file and starts a new, empty one (numbering continues). Returns the
    /// writer for it. Readers see a new [`RelayLog::generation`].
    pub fn reset(&self) -> Result<RelayWriter<'_>> {
        let mut st = self.lock();
        let next = st.files.iter().filter_map(|(n, _)| file_seq(n)).max().unwrap_or(0) + 1;
        for (name, _) in st.files.drain(..) {
            remove_file(&self.files.path(&name))?;
        }
        let name = self.files.name(next);
        let (file, size) = self.create(&name)?;
        st.files.push((name.clone(), size));
        self.files.write_index(std::slice::from_ref(&name))?;
        st.end = Some(LogPos::new(name.clone(), size));
        st.generation += 1;
        self.changed.notify_all();
        Ok(RelayWriter::new(self, file, name, size))
    }

    fn create(&self, name: &str) -> Result<(File, u64)> {
        let header =
            encode_file_header(RELAY_SERVER_VERSION, self.server_id, now_secs(), 0, 0, None);
        self.files.create_file(name, &header)
    }

    /// A writer that continues the newest file (after a reset only).
    fn writer_for_newest(&self) -> Result<Option<RelayWriter<'_>>> {
        let st = self.lock();
        let Some((name, _)) = st.files.last().cloned() else { return Ok(None) };
        let Some(end) = st.end.clone() else { return Ok(None) };
        let path = self.files.path(&name);
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        Ok(Some(RelayWriter::new(self, file, name, end.pos)))
    }

    /// The writer for the current relay log: continues the newest file when one was written since the
    /// last reset, else resets.
    pub fn writer(&self) -> Result<RelayWriter<'_>> {
        match self.writer_for_newest()? {
            Some(w) => Ok(w),
            None => self.reset(),
        }
    }

    /// The published end: readers may read up to here.
    pub fn end(&self) -> Option<LogPos> {
        self.lock().end.clone()
    }

    /// The first file (where a reader starts after a reset).
    pub fn first_file(&self) -> Option<String> {
        self.lock().files.first().map(|(n, _)| n.clone())
    }

    /// Bumped by every [`RelayLog::reset`].
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Total size of the relay log files (Relay_Log_Space).
    pub fn space(&self) -> u64 {
        self.lock().files.iter().map(|(_, s)| s).sum()
    }

    /// Bytes between `pos` and the published end (the unapplied backlog).
    pub fn bytes_after(&self, pos: &LogPos) -> u64 {
        let st = self.lock();
        let mut total = 0;
        let mut counting = false;
        for (name, size) in &st.files {
            if *name == pos.file {
                counting = true;
                total += size.saturating_sub(pos.pos);
            } else if counting {
                total += size.saturating_sub(4);
            }
        }
        total
    }

    /// Waits until the published end differs from `seen` or the generation differs from `generation`,
    /// or `timeout` passes. Returns true if something changed.
    pub fn wait_change(&self, seen: &Option<LogPos>, generation: u64, timeout: Duration) -> bool {
        let mut st = self.lock();
        st.waiters += 1;
        let (mut st, res) = self
            .changed
            .wait_timeout_while(st, timeout, |st| st.end == *seen && st.generation == generation)
            .unwrap_or_else(|p| p.into_inner());
        st.waiters -= 1;
        drop(st);
        !res.timed_out()
    }

    /// Wakes every waiter (used to make the SQL thread look at its stop flag).
    pub fn notify(&self) {
        self.changed.notify_all();
    }

    /// Deletes the files before `name` (they are fully applied).
    pub fn purge_before(&self, name: &str) -> Result<usize> {
        let mut st = self.lock();
        let Some(keep_from) = st.files.iter().position(|(n, _)| n == name) else { return Ok(0) };
        if keep_from == 0 {
            return Ok(0);
        }
        let purged: Vec<_> = st.files.drain(..keep_from).collect();
        let names: Vec<String> = st.files.iter().map(|(n, _)| n.clone()).collect();
        self.files.write_index(&names)?;
        for (n, _) in &purged {
            remove_file(&self.files.path(n))?;
        }
        Ok(purged.len())
    }

    fn published(&self, name: &str, size: u64) {
        let mut st = self.lock();
        if let Some(entry) = st.files.iter_mut().find(|(n, _)| n == name) {
            entry.1 = size;
        }
        st.end = Some(LogPos::new(name.to_string(), size));
        // The IO thread publishes once per transaction; `notify_all` is a system call even when
        // nobody waits, which is most of the time while the SQL thread is applying.
        let wake = st.waiters > 0;
        drop(st);
        if wake {
            self.changed.notify_all();
        }
    }

    fn rotated(&self, name: &str, size: u64) -> Result<()> {
        let mut st = self.lock();
        st.files.push((name.to_string(), size));
        let names: Vec<String> = st.files.iter().map(|(n, _)| n.clone()).collect();
        self.files.write_index(&names)
    }
}

fn remove_file(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Io(format!("{}: {e}", path.display()))),
    }
}

/// Appends received events to the newest relay log file. Only the IO thread holds one.
///
/// Appended events are buffered in memory and written with one `write` when published (or when the
/// buffer passes [`WRITE_BUFFER`]), so a transaction of several events costs one system call.
pub struct RelayWriter<'a> {
    relay: &'a RelayLog,
    file: File,
    name: String,
    /// Size of the file including `buf`.
    size: u64,
    since_sync: u64,
    /// Appended bytes not yet written to `file`.
    buf: Vec<u8>,
}

/// Appended bytes are written to the file once this many are buffered, even before a publish.
const WRITE_BUFFER: usize = 1 << 20;

impl<'a> RelayWriter<'a> {
    fn new(relay: &'a RelayLog, file: File, name: String, size: u64) -> Self {
        RelayWriter { relay, file, name, size, since_sync: 0, buf: Vec::new() }
    }

    /// Appends one event's bytes verbatim (not yet visible to readers: see [`RelayWriter::publish`]).
    pub fn append(&mut self, raw: &[u8]) -> Result<()> {
        self.buf.extend_from_slice(raw);
        self.size += raw.len() as u64;
        self.since_sync += 1;
        if self.buf.len() >= WRITE_BUFFER {
            self.write_buffered()?;
        }
        Ok(())
    }

    /// Writes the buffered bytes to the file.
    fn write_buffered(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let res = self.file.write_all(&self.buf);
        self.buf.clear();
        res.map_err(|e| Error::Io(format!("relay log {}: {e}", self.name)))
    }

    /// Writes what was appended, applies the fsync policy (`sync_every` events; 0 = never) and makes
    /// it visible to readers.
    pub fn publish(&mut self, sync_every: u64) -> Result<()> {
        self.write_buffered()?;
        if sync_every > 0 && self.since_sync >= sync_every {
            self.sync()?;
        }
        self.relay.published(&self.name, self.size);
        Ok(())
    }

    /// Writes what was appended and fsyncs the current file.
    pub fn sync(&mut self) -> Result<()> {
        self.write_buffered()?;
        self.since_sync = 0;
        self.file.sync_data().map_err(|e| Error::Io(format!("relay log {}: {e}", self.name)))
    }

    /// Starts the next file when the current one is larger than `max_size` (call between events).
    pub fn maybe_rotate(&mut self, max_size: u64) -> Result<bool> {
        if self.size < max_size {
            return Ok(false);
        }
        self.sync()?;
        let next = self.relay.files.next_name(&self.name);
        let (file, size) = self.relay.create(&next)?;
        self.relay.rotated(&next, size)?;
        self.file = file;
        self.name = next;
        self.size = size;
        self.relay.published(&self.name, self.size);
        Ok(true)
    }

    /// Current file name.
    pub fn file_name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::event::{Event, EventBody};
    use crate::log::reader::LogReader;

    fn xid(n: u64) -> Vec<u8> {
        Event::new(1, 1, 100 + n as u32, 0, EventBody::Xid(n)).encode()
    }

    /// Appended events reach the file and the readers together, at publish (one `write` per group).
    #[test]
    fn appends_are_written_and_visible_at_publish() {
        let dir = tempfile::tempdir().unwrap();
        let relay = RelayLog::open(dir.path(), 2).unwrap();
        let mut w = relay.reset().unwrap();
        let name = w.file_name().to_string();
        let start = relay.end().unwrap();
        let on_disk = || std::fs::metadata(dir.path().join(&name)).unwrap().len();
        assert_eq!(on_disk(), start.pos);
        let (a, b) = (xid(1), xid(2));
        w.append(&a).unwrap();
        w.append(&b).unwrap();
        assert_eq!(relay.end().unwrap(), start, "nothing visible before publish");
        assert_eq!(on_disk(), start.pos, "nothing written before publish");
        w.publish(0).unwrap();
        let end = start.pos + (a.len() + b.len()) as u64;
        assert_eq!(relay.end().unwrap(), LogPos::new(name.clone(), end));
        assert_eq!(on_disk(), end);
        let mut r = LogReader::open(dir.path(), RELAY_BASENAME, &name, start.pos).unwrap();
        r.set_limit(relay.end());
        for n in [1, 2] {
            let ev = r.next_event().unwrap().unwrap().event;
            assert!(matches!(ev.body, EventBody::Xid(x) if x == n));
        }
        assert!(r.next_event().unwrap().is_none());
    }

    #[test]
    fn write_rotate_read_purge() {
        let dir = tempfile::tempdir().unwrap();
        let relay = RelayLog::open(dir.path(), 2).unwrap();
        let mut w = relay.reset().unwrap();
        let first = w.file_name().to_string();
        for n in 0..10 {
            w.append(&xid(n)).unwrap();
            w.publish(3).unwrap();
            w.maybe_rotate(200).unwrap();
        }
        let end = relay.end().unwrap();
        assert_ne!(end.file, first);
        let mut r = LogReader::open(relay.dir(), RELAY_BASENAME, &first, 4).unwrap();
        r.set_limit(Some(end.clone()));
        let mut xids = vec![];
        while let Some(ev) = r.next_event().unwrap() {
            match ev.event.body {
                EventBody::Xid(n) => xids.push(n),
                EventBody::FormatDescription { .. } => assert_eq!(ev.event.header.server_id, 2),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(xids, (0..10).collect::<Vec<_>>());
        assert_eq!(relay.bytes_after(&end), 0);
        assert!(relay.bytes_after(&LogPos::new(first.clone(), 4)) > 0);
        let space = relay.space();
        assert!(relay.purge_before(&end.file).unwrap() >= 1);
        assert!(relay.space() < space);
        assert!(!dir.path().join(&first).exists());

        // A reset deletes everything and continues the numbering.
        let generation = relay.generation();
        let w = relay.reset().unwrap();
        assert_eq!(relay.generation(), generation + 1);
        assert!(file_seq(w.file_name()) > file_seq(&end.file));
        assert_eq!(relay.first_file().unwrap(), w.file_name());
        assert!(!dir.path().join(&end.file).exists());
    }

    #[test]
    fn wait_change_wakes() {
        let dir = tempfile::tempdir().unwrap();
        let relay = std::sync::Arc::new(RelayLog::open(dir.path(), 2).unwrap());
        let seen = {
            let _w = relay.reset().unwrap();
            relay.end()
        };
        let gen = relay.generation();
        assert!(!relay.wait_change(&seen, gen, Duration::from_millis(10)));
        let r2 = relay.clone();
        let t = std::thread::spawn(move || {
            let mut w = r2.writer().unwrap();
            w.append(&xid(1)).unwrap();
            w.publish(0).unwrap();
        });
        // Woken by the publish, not by the timeout (after which the changed end is seen all the same).
        let waited = std::time::Instant::now();
        assert!(relay.wait_change(&seen, gen, Duration::from_secs(60)));
        assert!(waited.elapsed() < Duration::from_secs(30), "the publish did not wake the waiter");
        t.join().unwrap();
    }
}
