//! Reading a log: event by event from a (file, offset), across rotations, up to an optional limit.
//!
//! A [`LogReader`] returns each event with its raw bytes (to send or copy verbatim) and its decoding
//! (CRC verified). At the current end of the log it returns `Ok(None)`; the caller waits for the
//! writer's `durable()` notification and calls again. It never returns a partial event: with a limit
//! (the durable position) it reads nothing past it; without one, a partial event at the end of the
//! newest file is treated as not yet written. When the index lists a file after the current one, the
//! current one is finished: the reader reads it to its end, then continues at offset 4 of the next.
//! Errors name `file:offset` and the cause.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::log::event::{self, Event, EventBody, BINLOG_MAGIC};
use crate::log::file::{file_seq, file_seq_cmp, scan_file, Chunk, ChunkReader, FileSet, LogPos};
use crate::log::gtid::GtidState;

/// One event read from a log file.
#[derive(Clone, Debug, PartialEq)]
pub struct RawLogEvent {
    /// File the event is in.
    pub file: String,
    /// Offset of the event's first byte in that file.
    pub pos: u64,
    /// The event exactly as stored (header, body, CRC).
    pub bytes: Vec<u8>,
    /// The decoded event.
    pub event: Event,
}

impl RawLogEvent {
    /// Offset just past this event.
    pub fn end_pos(&self) -> u64 {
        self.pos + self.bytes.len() as u64
    }
}

/// Sequential reader of a binlog or relay log.
pub struct LogReader {
    files: FileSet,
    file: String,
    pos: u64,
    reader: ChunkReader,
    checksum: bool,
    limit: Option<LogPos>,
    /// Decode event bodies (default); when off, events are framed and CRC-checked only.
    bodies: bool,
}

impl LogReader {
    /// Opens `file` (empty = the first file of the index) at `pos` (4 = its start).
    pub fn open(dir: impl AsRef<Path>, basename: &str, file: &str, pos: u64) -> Result<LogReader> {
        let files = FileSet::new(dir.as_ref(), basename)?;
        let index = files.read_index()?;
        let file = if file.is_empty() {
            index
                .first()
                .cloned()
                .ok_or_else(|| Error::PositionNotFound(format!("log {basename} has no files")))?
        } else {
            file.to_string()
        };
        if !index.contains(&file) {
            return Err(missing_file_error(&index, &file));
        }
        if pos < 4 {
            return Err(Error::InvalidInput(format!(
                "{file}:{pos}: position before the first event (4)"
            )));
        }
        let (handle, len) = open_log_file(&files, &file)?;
        if pos > len {
            return Err(Error::PositionNotFound(format!(
                "{file}:{pos}: position past the end of the file ({len})"
            )));
        }
        let mut reader = LogReader {
            files,
            file,
            pos,
            reader: ChunkReader::new(handle),
            checksum: true,
            limit: None,
            bodies: true,
        };
        if pos > 4 {
            reader.checksum = reader.fde_checksum()?;
        }
        Ok(reader)
    }

    /// Sets the position the reader may not read past (normally the writer's durable position).
    pub fn set_limit(&mut self, limit: Option<LogPos>) {
        self.limit = limit;
    }

    /// With `false`, [`LogReader::next_event`] checks each event's framing and CRC32 but does not
    /// decode its body: the returned event's body is an empty [`EventBody::Unknown`] (except for
    /// FORMAT_DESCRIPTION events, always decoded). For callers that forward `bytes` verbatim.
    pub fn set_decode_bodies(&mut self, on: bool) {
        self.bodies = on;
    }

    /// The position of the next event to be read.
    pub fn position(&self) -> LogPos {
        LogPos::new(self.file.clone(), self.pos)
    }

    /// The next event, or `Ok(None)` at the current end of the log (or at the limit).
    pub fn next_event(&mut self) -> Result<Option<RawLogEvent>> {
        let mut rechecked = false;
        loop {
            let limit = self.file_limit();
            let (file, pos) = (&self.file, self.pos);
            let chunk = self
                .reader
                .event_at(pos, limit)
                .map_err(|e| Error::Io(format!("{file}:{pos}: {e}")))?;
            match chunk {
                Chunk::Event(bytes) => {
                    let bytes = bytes.to_vec();
                    return self.decode(bytes).map(Some);
                }
                Chunk::End { available, needed } => {
                    if limit != u64::MAX || self.limit.as_ref().is_some_and(|l| l.file == self.file)
                    {
                        return Ok(None);
                    }
                    let Some(next) = self.next_file()? else { return Ok(None) };
                    if !rechecked {
                        // The next file exists, so this one is finished; its last bytes may have
                        // arrived after our read: look once more before moving on.
                        rechecked = true;
                        self.reader.invalidate();
                        continue;
                    }
                    if available > 0 {
                        let need = needed.map(|n| format!(" of {n}")).unwrap_or_default();
                        return Err(Error::InvalidData(format!(
                            "{}:{}: truncated event ({available}{need} bytes) at the end of a finished file",
                            self.file, self.pos
                        )));
                    }
                    self.switch_to(next)?;
                    rechecked = false;
                }
            }
        }
    }

    fn decode(&mut self, bytes: Vec<u8>) -> Result<RawLogEvent> {
        let fast =
            !self.bodies && bytes.get(4).is_some_and(|&t| t != event::types::FORMAT_DESCRIPTION);
        let event = if fast {
            Event::verify_frame(&bytes, self.checksum)
                .map(|header| Event { header, body: EventBody::Unknown(Vec::new()) })
        } else {
            Event::decode_with(&bytes, self.checksum)
        };
        let event = event.map_err(|e| {
            Error::InvalidData(format!("{}:{}: {}", self.file, self.pos, event::error_text(&e)))
        })?;
        if let EventBody::FormatDescription { checksum_alg, .. } = &event.body {
            self.checksum = *checksum_alg == event::CHECKSUM_CRC32;
        }
        let raw = RawLogEvent { file: self.file.clone(), pos: self.pos, bytes, event };
        self.pos = raw.end_pos();
        Ok(raw)
    }

    /// The offset in the current file the reader may read up to.
    fn file_limit(&self) -> u64 {
        match &self.limit {
            None => u64::MAX,
            Some(l) => match file_seq_cmp(&l.file, &self.file) {
                std::cmp::Ordering::Equal => l.pos,
                std::cmp::Ordering::Greater => u64::MAX,
                std::cmp::Ordering::Less => self.pos,
            },
        }
    }

    fn next_file(&self) -> Result<Option<String>> {
        let index = self.files.read_index()?;
        let cur = file_seq(&self.file);
        Ok(index.into_iter().find(|n| match (file_seq(n), cur) {
            (Some(a), Some(b)) => a > b,
            _ => false,
        }))
    }

    fn switch_to(&mut self, next: String) -> Result<()> {
        let (handle, _) = open_log_file(&self.files, &next)?;
        self.reader = ChunkReader::new(handle);
        self.file = next;
        self.pos = 4;
        self.checksum = true;
        Ok(())
    }

    /// Reads the FORMAT_DESCRIPTION at offset 4 and returns whether events carry CRC32.
    fn fde_checksum(&mut self) -> Result<bool> {
        let file = &self.file;
        match self.reader.event_at(4, u64::MAX).map_err(|e| Error::Io(format!("{file}:4: {e}")))? {
            Chunk::Event(bytes) => {
                let ev = Event::decode(bytes).map_err(|e| {
                    Error::InvalidData(format!("{}:4: {}", self.file, event::error_text(&e)))
                })?;
                match ev.body {
                    EventBody::FormatDescription { checksum_alg, .. } => {
                        Ok(checksum_alg == event::CHECKSUM_CRC32)
                    }
                    _ => Err(Error::InvalidData(format!(
                        "{}:4: first event is not a FORMAT_DESCRIPTION",
                        self.file
                    ))),
                }
            }
            Chunk::End { .. } => {
                Err(Error::InvalidData(format!("{}:4: FORMAT_DESCRIPTION missing", self.file)))
            }
        }
    }
}

fn missing_file_error(index: &[String], file: &str) -> Error {
    match index.first() {
        Some(first) if file_seq_cmp(file, first).is_lt() => {
            Error::LogPurged(format!("log file {file} was purged; the oldest is {first}"))
        }
        _ => Error::PositionNotFound(format!("log file {file} is not in the index")),
    }
}

fn open_log_file(files: &FileSet, name: &str) -> Result<(File, u64)> {
    let path = files.path(name);
    let handle = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::LogPurged(format!(
                "log file {name} listed in the index is missing (purged?)"
            )))
        }
        Err(e) => return Err(Error::Io(format!("{}: {e}", path.display()))),
    };
    let len = handle.metadata().map_err(|e| Error::Io(format!("{}: {e}", path.display())))?.len();
    let mut magic = [0u8; 4];
    if handle.read_exact_at(&mut magic, 0).is_err() || magic != BINLOG_MAGIC {
        return Err(Error::InvalidData(format!("{name}:0: not a binlog file (bad magic)")));
    }
    Ok((handle, len))
}

/// Where to start sending to a replica whose position is `state`: the first event group of the log
/// that `state` does not contain. Uses each file's GTID_LIST to pick the file, then scans it.
///
/// Errors: [`Error::LogPurged`] when the groups the replica lacks are in purged files;
/// [`Error::PositionNotFound`] when `state` is ahead of the log (a GTID the log never had).
pub fn find_gtid_start(
    dir: impl AsRef<Path>,
    basename: &str,
    state: &GtidState,
) -> Result<(String, u64)> {
    let files = FileSet::new(dir.as_ref(), basename)?;
    let index = files.read_index()?;
    if index.is_empty() {
        return Err(Error::PositionNotFound(format!("log {basename} has no files")));
    }
    // The newest file whose GTID_LIST (state before it) the replica already has.
    let mut lists = Vec::with_capacity(index.len());
    let mut start = None;
    for (i, name) in index.iter().enumerate().rev() {
        let list = read_gtid_list(&files, name)?;
        let covered = state.includes(&list);
        lists.push(list);
        if covered {
            start = Some(i);
            break;
        }
    }
    let Some(start) = start else {
        let oldest = lists.last().cloned().unwrap_or_default();
        return Err(Error::LogPurged(format!(
            "GTID position '{state}' needs transactions that were purged (oldest file {} starts after '{oldest}')",
            index[0]
        )));
    };
    let mut end = (index[start].clone(), 4, GtidState::new());
    for name in &index[start..] {
        let scan = scan_file(&files.path(name))?;
        if !scan.header_ok {
            return Err(Error::InvalidData(
                scan.stop_reason.unwrap_or_else(|| format!("{name}: unreadable")),
            ));
        }
        if let Some((pos, _)) = scan.groups.iter().find(|(_, gtid)| !state.contains(gtid)) {
            return Ok((name.clone(), *pos));
        }
        end = (name.clone(), scan.valid_end, scan.state);
    }
    // Caught up: the replica must not be ahead of (or diverged from) the log.
    let (file, pos, end_state) = end;
    for g in state.iter() {
        if end_state.get(g.domain_id).is_none_or(|k| k.seq_no < g.seq_no) {
            return Err(Error::PositionNotFound(format!(
                "GTID {g} is not in the binlog (binlog position is '{end_state}')"
            )));
        }
    }
    Ok((file, pos))
}

/// The GTID_LIST at the start of a file (the state before it); empty when the file has none.
pub fn read_gtid_list(files: &FileSet, name: &str) -> Result<GtidState> {
    let (handle, _) = open_log_file(files, name)?;
    let mut reader = ChunkReader::new(handle);
    let mut pos = 4;
    for _ in 0..4 {
        let Chunk::Event(bytes) =
            reader.event_at(pos, u64::MAX).map_err(|e| Error::Io(format!("{name}:{pos}: {e}")))?
        else {
            break;
        };
        let len = bytes.len() as u64;
        let ev = Event::decode(bytes)
            .map_err(|e| Error::InvalidData(format!("{name}:{pos}: {}", event::error_text(&e))))?;
        match ev.body {
            EventBody::GtidList(list) => return Ok(list.into_iter().collect()),
            EventBody::FormatDescription { .. } | EventBody::BinlogCheckpoint(_) => pos += len,
            _ => break,
        }
    }
    Ok(GtidState::new())
}
