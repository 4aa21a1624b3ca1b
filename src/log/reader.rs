//! Reading a log: event by event from a (file, offset), across rotations, up to an optional limit.
//!
//! A [`LogReader`] returns each event with its raw bytes (to send or copy verbatim) and its decoding
//! (CRC verified): owned ([`LogReader::next_event`]), or borrowed from its read buffer
//! ([`LogReader::next_raw`], no allocation or copy per event: the fast path for callers that forward
//! events or keep few of them). The file is read in large chunks into one reusable buffer. At the current end of the log it returns `Ok(None)`; the caller waits for the
//! writer's `durable()` notification and calls again. It never returns a partial event: with a limit
//! (the durable position) it reads nothing past it; without one, a partial event at the end of the
//! newest file is treated as not yet written. When the index lists a file after the current one, the
//! current one is finished: the reader reads it to its end, then continues at offset 4 of the next.
//! Errors name `file:offset` and the cause.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::log::event::{self, Event, EventBody, EventHeader, BINLOG_MAGIC, CRC_LEN, HEADER_LEN};
use crate::log::file::{
    file_seq, file_seq_cmp, scan_file, Chunk, ChunkReader, FileSet, Located, LogPos,
};
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

/// One event borrowed from a [`LogReader`]'s buffer ([`LogReader::next_raw`]): framing and CRC32
/// verified, body not decoded. Valid until the reader's next call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RawEventRef<'a> {
    /// File the event is in.
    pub file: &'a str,
    /// Offset of the event's first byte in that file.
    pub pos: u64,
    /// The event exactly as stored (header, body, CRC).
    pub bytes: &'a [u8],
    /// The event's header.
    pub header: EventHeader,
    /// The event ends with a CRC32 trailer.
    crc: bool,
}

impl RawEventRef<'_> {
    /// Offset just past this event.
    pub fn end_pos(&self) -> u64 {
        self.pos + self.bytes.len() as u64
    }

    /// The event's body: the bytes between header and CRC32 trailer.
    pub fn body_bytes(&self) -> &[u8] {
        let end = self.bytes.len() - if self.crc { CRC_LEN } else { 0 };
        &self.bytes[HEADER_LEN..end]
    }

    /// Decodes the event (its CRC32 was verified when it was read). Errors name `file:offset`.
    pub fn event(&self) -> Result<Event> {
        let body = EventBody::decode(self.header.type_code, self.body_bytes()).map_err(|e| {
            Error::InvalidData(format!(
                "{}:{}: {} event: {}",
                self.file,
                self.pos,
                event::type_name(self.header.type_code),
                event::error_text(&e)
            ))
        })?;
        Ok(Event { header: self.header, body })
    }

    /// An owned copy with the decoded event.
    pub fn to_owned_event(&self) -> Result<RawLogEvent> {
        Ok(RawLogEvent {
            file: self.file.to_string(),
            pos: self.pos,
            bytes: self.bytes.to_vec(),
            event: self.event()?,
        })
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
    /// How the limit's file compares with the current file (set with the limit and at each switch).
    limit_cmp: Option<std::cmp::Ordering>,
    /// Decode event bodies (default); when off, events are framed and CRC-checked only.
    bodies: bool,
    /// What batch CRC checks ([`event::verify_crc_batch`]) found in the current buffer.
    checked: Checked,
    /// The verified events buffered from the current position: [`LogReader::next_raw`]'s fast path.
    cursor: Cursor,
    /// Scratch space of batch CRC checks (allocated once).
    batch_sizes: Vec<u32>,
}

/// Buffer indices `at..end` of a run of whole events of the current file, from the one at the
/// reader's position on: CRC32 verified by a batch check, none a FORMAT_DESCRIPTION, all ending at
/// or before the file limit. Set by the slow path of [`LogReader::next_raw`] after a batch check,
/// moved with the position, cut by [`LogReader::set_limit`], emptied (`at >= end`) by anything
/// else that reads, moves the position or may move the buffered bytes. Taking an event from it is
/// reading its header and adding its size: no lookup, limit, generation or CRC bookkeeping.
#[derive(Clone, Copy, Debug, Default)]
struct Cursor {
    at: usize,
    end: usize,
}

/// The result of the last batch CRC check of a [`LogReader`]: valid while the buffer's generation
/// ([`ChunkReader::generation`]) is `generation` and the reader stays in the same file.
#[derive(Clone, Copy, Debug, Default)]
struct Checked {
    generation: u64,
    /// Events ending at or before this offset have verified CRC32s.
    verified_end: u64,
    /// A batch up to this offset failed: its events are checked one by one (to name the bad one).
    per_event_end: u64,
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
            limit_cmp: None,
            bodies: true,
            checked: Checked::default(),
            cursor: Cursor::default(),
            batch_sizes: Vec::new(),
        };
        if pos > 4 {
            reader.checksum = reader.fde_checksum()?;
        }
        Ok(reader)
    }

    /// Sets the position the reader may not read past (normally the writer's durable position).
    pub fn set_limit(&mut self, limit: Option<LogPos>) {
        self.limit_cmp = limit.as_ref().map(|l| file_seq_cmp(&l.file, &self.file));
        self.limit = limit;
        // Verified events past the new limit are read again through the slow path, which stops there.
        let room = self.file_limit().saturating_sub(self.pos);
        let c = &mut self.cursor;
        if c.at < c.end && (c.end - c.at) as u64 > room {
            c.end = c.at + room as usize;
        }
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
        self.cursor = Cursor::default();
        let Some(range) = self.locate_next()? else { return Ok(None) };
        let verified = self.crc_verified(&range);
        let bytes = self.reader.slice(range.clone());
        let event = if bytes[4] == event::types::FORMAT_DESCRIPTION {
            let event = Event::decode_with(bytes, self.checksum).map_err(|e| self.invalid(&e))?;
            if let EventBody::FormatDescription { checksum_alg, .. } = &event.body {
                self.checksum = *checksum_alg == event::CHECKSUM_CRC32;
            }
            event
        } else if self.bodies {
            let decoded = if verified {
                Event::decode_crc_verified(bytes)
            } else {
                Event::decode_with(bytes, self.checksum)
            };
            decoded.map_err(|e| self.invalid(&e))?
        } else {
            let header = Event::verify_frame(bytes, self.checksum && !verified)
                .map_err(|e| self.invalid(&e))?;
            Event { header, body: EventBody::Unknown(Vec::new()) }
        };
        let pos = self.pos;
        self.pos += range.len() as u64;
        Ok(Some(RawLogEvent {
            file: self.file.clone(),
            pos,
            bytes: self.reader.slice(range).to_vec(),
            event,
        }))
    }

    /// The next event, borrowed from the reader's buffer (no allocation, no copy), or `Ok(None)` at
    /// the current end of the log (or at the limit). Framing and CRC32 are verified as by
    /// [`LogReader::next_event`]; the body is not decoded ([`RawEventRef::event`] decodes it).
    /// The event is valid until the next call. Same positions, errors and rotation handling as
    /// [`LogReader::next_event`], whatever [`LogReader::set_decode_bodies`] says.
    #[inline]
    pub fn next_raw(&mut self) -> Result<Option<RawEventRef<'_>>> {
        let Some((range, header, crc)) = self.verify_next()? else { return Ok(None) };
        let pos = self.pos;
        self.pos += range.len() as u64;
        self.cursor.at = range.end;
        Ok(Some(RawEventRef {
            file: &self.file,
            pos,
            bytes: self.reader.slice(range),
            header,
            crc,
        }))
    }

    /// The next event, borrowed as by [`LogReader::next_raw`], handed to `f`; the reader moves past
    /// it only when `f` succeeds (its error is returned and the next call sees the same event again,
    /// as after an error of [`LogReader::next_event`]). `Ok(None)` at the current end of the log.
    /// For callers that decode events ([`RawEventRef::event`]) without copying their bytes.
    pub fn next_with<T>(
        &mut self,
        f: impl FnOnce(RawEventRef<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        let Some((range, header, crc)) = self.verify_next()? else { return Ok(None) };
        let (len, range_end) = (range.len() as u64, range.end);
        let ev = RawEventRef {
            file: &self.file,
            pos: self.pos,
            bytes: self.reader.slice(range),
            header,
            crc,
        };
        let out = f(ev)?;
        self.pos += len;
        self.cursor.at = range_end;
        Ok(Some(out))
    }

    /// Finds and verifies (framing, CRC32) the next event without moving past it: its range in the
    /// buffer, its header and whether it carries a CRC32 trailer. A FORMAT_DESCRIPTION is decoded
    /// (it says whether the next events carry a CRC32).
    /// The caller moving past the event sets `cursor.at` to the range's end.
    #[inline(always)]
    fn verify_next(&mut self) -> Result<Option<(Range<usize>, EventHeader, bool)>> {
        // Both paths end in the same scalars (not one in-memory result written by two paths), so
        // callers build their event from registers.
        let (range, header, crc) = match self.cursor_event() {
            Some(header) => {
                let at = self.cursor.at;
                (at..at + header.event_size as usize, header, true)
            }
            None => match self.verify_next_slow()? {
                Some(next) => next,
                None => return Ok(None),
            },
        };
        Ok(Some((range, header, crc)))
    }

    /// The header of the event at the cursor (whole, verified, at `cursor.at` of the buffer), if the
    /// cursor holds one.
    #[inline(always)]
    fn cursor_event(&self) -> Option<EventHeader> {
        let Cursor { at, end } = self.cursor;
        let bytes = self.reader.bytes().get(at..end)?.first_chunk::<HEADER_LEN>()?;
        let header = EventHeader::from_array(bytes);
        let size = header.event_size as usize;
        (size >= HEADER_LEN + CRC_LEN && size <= end - at).then_some(header)
    }

    /// [`LogReader::verify_next`] when the cursor is empty: locates the event (refilling the buffer,
    /// moving to the next file), runs a batch check when due and sets the cursor from it.
    #[inline(never)]
    fn verify_next_slow(&mut self) -> Result<Option<(Range<usize>, EventHeader, bool)>> {
        self.cursor = Cursor::default();
        let range = match self.reader.buffered(self.pos, self.file_limit()) {
            Some(range) => range,
            None => match self.locate_next()? {
                Some(range) => range,
                None => return Ok(None),
            },
        };
        let verified = self.crc_verified(&range);
        let bytes = self.reader.slice(range.clone());
        if verified {
            // Whole (its size field gave the range), CRC32 checked, not a FORMAT_DESCRIPTION.
            let header = EventHeader::decode(bytes).map_err(|e| self.invalid(&e))?;
            // The events after it up to the end of the batch (and the limit) are verified too.
            let verified_end = self.checked.verified_end.min(self.file_limit());
            let run = verified_end.saturating_sub(self.pos) as usize;
            self.cursor = Cursor { at: range.start, end: range.start + run };
            return Ok(Some((range, header, true)));
        }
        let crc = self.checksum || bytes[4] == event::types::FORMAT_DESCRIPTION;
        let header = if bytes[4] == event::types::FORMAT_DESCRIPTION {
            let event = Event::decode_with(bytes, self.checksum).map_err(|e| self.invalid(&e))?;
            if let EventBody::FormatDescription { checksum_alg, .. } = &event.body {
                self.checksum = *checksum_alg == event::CHECKSUM_CRC32;
            }
            event.header
        } else {
            Event::verify_frame(bytes, self.checksum && !verified).map_err(|e| self.invalid(&e))?
        };
        Ok(Some((range, header, crc)))
    }

    /// True when the CRC32 of the event at `range` of the buffer (at the current position) is known
    /// good from a batch check, running one over every whole event buffered from here when the last
    /// one does not cover it. False when events carry no CRC32, for a FORMAT_DESCRIPTION, and for
    /// the events of a batch that failed: those are checked one by one, which names the bad one.
    #[inline]
    fn crc_verified(&mut self, range: &Range<usize>) -> bool {
        if !self.checksum || self.reader.slice(range.clone())[4] == event::types::FORMAT_DESCRIPTION
        {
            return false;
        }
        let generation = self.reader.generation();
        let end = self.pos + range.len() as u64;
        let c = self.checked;
        if c.generation == generation {
            if end <= c.verified_end {
                return true;
            }
            if self.pos < c.per_event_end {
                return false;
            }
        }
        self.check_batch(generation, end)
    }

    /// Runs a batch CRC check from the current position (see [`LogReader::crc_verified`]); returns
    /// whether it covers the event ending at `end`.
    #[inline(never)]
    fn check_batch(&mut self, generation: u64, end: u64) -> bool {
        let limit = self.file_limit();
        let buf = self.reader.buffered_mut(self.pos, limit);
        let (framed, ok) = event::verify_crc_batch_with(buf, &mut self.batch_sizes);
        let batch_end = self.pos + framed as u64;
        self.checked = if ok {
            Checked { generation, verified_end: batch_end, per_event_end: 0 }
        } else {
            Checked { generation, verified_end: 0, per_event_end: batch_end }
        };
        ok && end <= batch_end
    }

    /// The error for an event at the current position that does not verify or decode.
    #[cold]
    fn invalid(&self, e: &Error) -> Error {
        Error::InvalidData(format!("{}:{}: {}", self.file, self.pos, event::error_text(e)))
    }

    /// Finds the next whole event (moving to the next file when this one is finished); returns
    /// where it is in the buffer. Does not verify it nor move past it.
    #[inline(never)]
    fn locate_next(&mut self) -> Result<Option<Range<usize>>> {
        self.cursor = Cursor::default();
        let mut rechecked = false;
        loop {
            let limit = self.file_limit();
            let pos = self.pos;
            let located = self
                .reader
                .locate(pos, limit)
                .map_err(|e| Error::Io(format!("{}:{pos}: {e}", self.file)))?;
            match located {
                Located::Event(range) => return Ok(Some(range)),
                Located::End { available, needed } => {
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

    /// The offset in the current file the reader may read up to.
    fn file_limit(&self) -> u64 {
        match (&self.limit, self.limit_cmp) {
            (Some(l), Some(std::cmp::Ordering::Equal)) => l.pos,
            (Some(_), Some(std::cmp::Ordering::Less)) => self.pos,
            _ => u64::MAX,
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
        self.checked = Checked::default();
        self.cursor = Cursor::default();
        self.limit_cmp = self.limit.as_ref().map(|l| file_seq_cmp(&l.file, &self.file));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::event::intvar;
    use crate::log::writer::{BinlogConfig, BinlogWriter, TxnEvents};
    use crate::log::QueryStatus;

    fn txn(i: u64, sql_len: usize) -> TxnEvents {
        let sql = format!("INSERT INTO t VALUES ({i}, '{}')", "x".repeat(sql_len));
        TxnEvents {
            is_ddl: false,
            events: vec![
                (1_700_000_000, EventBody::Intvar { kind: intvar::INSERT_ID, value: i }),
                (1_700_000_000, EventBody::query(7, "db", QueryStatus::standard(), &sql)),
            ],
        }
    }

    fn writer(dir: &Path, max_binlog_size: u64) -> BinlogWriter {
        let cfg =
            BinlogConfig { dir: dir.into(), sync_binlog: 0, max_binlog_size, ..Default::default() };
        BinlogWriter::open(cfg).unwrap().0
    }

    /// Every event by `next_raw`, decoded, with its file and offset.
    fn read_raw(r: &mut LogReader) -> Vec<(String, u64, Vec<u8>, Event)> {
        let mut out = Vec::new();
        while let Some(ev) = r.next_raw().unwrap() {
            assert_eq!(ev.header, EventHeader::decode(ev.bytes).unwrap());
            out.push((ev.file.to_string(), ev.pos, ev.bytes.to_vec(), ev.event().unwrap()));
        }
        out
    }

    #[test]
    fn next_raw_reads_what_next_event_reads_across_buffers_and_rotations() {
        let tmp = tempfile::tempdir().unwrap();
        let w = writer(tmp.path(), 200_000);
        for i in 0..3000 {
            // Mostly small events straddling buffer refills; some larger than the whole buffer.
            let len = if i % 700 == 0 { 300_000 } else { (i as usize * 37) % 400 };
            w.append(&txn(i, len)).unwrap();
        }
        w.close().unwrap();
        assert!(w.files().unwrap().len() > 5);
        let mut owned = LogReader::open(tmp.path(), "repld-bin", "", 4).unwrap();
        let owned: Vec<_> = std::iter::from_fn(|| owned.next_event().unwrap())
            .map(|ev| (ev.file, ev.pos, ev.bytes, ev.event))
            .collect();
        let borrowed = read_raw(&mut LogReader::open(tmp.path(), "repld-bin", "", 4).unwrap());
        assert!(owned.len() > 12_000, "{} events", owned.len());
        assert_eq!(owned, borrowed);
        // Starting mid-file and mid-log gives the same tail.
        let (file, pos) = (owned[5000].0.clone(), owned[5000].1);
        let tail = read_raw(&mut LogReader::open(tmp.path(), "repld-bin", &file, pos).unwrap());
        assert_eq!(tail, owned[5000..]);
    }

    /// The cursor of verified events (next_raw's fast path) is cut by a lower limit, kept across a
    /// higher one, and stays in step when next_event, next_with (failing or not) and next_raw are
    /// mixed: the same events at the same positions as next_event alone.
    #[test]
    fn limits_and_mixed_calls_inside_a_verified_buffer_read_the_same_events() {
        let tmp = tempfile::tempdir().unwrap();
        let w = writer(tmp.path(), 1 << 30);
        for i in 0..3000 {
            w.append(&txn(i, (i as usize * 7) % 60)).unwrap();
        }
        w.close().unwrap();
        let mut owned = LogReader::open(tmp.path(), "repld-bin", "", 4).unwrap();
        let all: Vec<(u64, Vec<u8>)> = std::iter::from_fn(|| owned.next_event().unwrap())
            .map(|ev| (ev.pos, ev.bytes))
            .collect();
        assert!(all.len() > 12_000, "{} events", all.len());
        let file = w.status().0;
        let mut r = LogReader::open(tmp.path(), "repld-bin", "", 4).unwrap();
        let mut got: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut i = 0usize;
        let mut step = 0usize;
        while got.len() < all.len() {
            step += 1;
            // Limits at event boundaries a few events ahead, at times lower than the last one,
            // and limits inside an event (the event straddling them is not returned).
            let ahead = (got.len() + 1 + step % 13).min(all.len() - 1);
            let limit = match step % 4 {
                0 => None,
                1 => Some(all[ahead].0),
                2 => Some(all[ahead].0 + 5),
                _ => Some(all[ahead.saturating_sub(step % 3)].0),
            };
            r.set_limit(limit.map(|p| LogPos::new(file.clone(), p)));
            let mut at_limit = false;
            loop {
                i += 1;
                let next = match i % 7 {
                    0 => r.next_event().unwrap().map(|ev| (ev.pos, ev.bytes)),
                    1 => {
                        // A failing callback leaves the reader on the same event.
                        let before = r.position();
                        let failed = r
                            .next_with(|_| -> Result<()> { Err(Error::InvalidInput("no".into())) });
                        if let Ok(none) = failed {
                            assert!(none.is_none());
                            assert_eq!(r.position(), before);
                            at_limit = true;
                            break;
                        }
                        assert_eq!(r.position(), before);
                        r.next_with(|ev| Ok((ev.pos, ev.bytes.to_vec()))).unwrap()
                    }
                    _ => r.next_raw().unwrap().map(|ev| (ev.pos, ev.bytes.to_vec())),
                };
                let Some(ev) = next else {
                    at_limit = true;
                    break;
                };
                if let Some(limit) = limit {
                    assert!(ev.0 + ev.1.len() as u64 <= limit, "event at {} past {limit}", ev.0);
                }
                got.push(ev);
                if i.is_multiple_of(50) {
                    break;
                }
            }
            if at_limit {
                // Stopped at the limit (or the end): the next event would cross it.
                match (all.get(got.len()), limit) {
                    (Some((pos, bytes)), Some(limit)) => {
                        assert!(pos + bytes.len() as u64 > limit, "step {step}: stopped early");
                        assert_eq!(r.position(), LogPos::new(file.clone(), *pos));
                    }
                    (Some((pos, _)), None) => panic!("step {step}: stopped at {pos} with no limit"),
                    (None, _) => {}
                }
            }
            assert_eq!(got[..], all[..got.len()], "step {step}");
        }
        assert_eq!(got, all);
    }

    #[test]
    fn next_raw_follows_a_growing_log_up_to_the_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let w = writer(tmp.path(), 1 << 30);
        let mut r = LogReader::open(w.dir(), w.basename(), "", 4).unwrap();
        let mut seen = 0;
        for round in 0..3u64 {
            let a = w.append(&txn(round, 10)).unwrap();
            r.set_limit(Some(LogPos::new(a.file.clone(), a.start_pos)));
            while r.next_raw().unwrap().is_some() {
                seen += 1;
            }
            assert_eq!(r.position(), LogPos::new(a.file.clone(), a.start_pos));
            r.set_limit(None);
            let mut last = None;
            while let Some(ev) = r.next_raw().unwrap() {
                last = Some(ev.end_pos());
                seen += 1;
            }
            assert_eq!(last, Some(a.end_pos));
            w.flush_logs().unwrap();
        }
        // Header events of the first file (FORMAT_DESCRIPTION, GTID_LIST), then 4 per transaction and
        // the ROTATE + new file's headers of each flush.
        assert!(seen >= 2 + 3 * 4, "{seen} events");
    }

    /// Reads to the first error with `next_raw` (or `next_event`): the events returned before it,
    /// the error and the position the reader stopped at.
    fn read_to_error(r: &mut LogReader, owned: bool) -> (usize, Option<String>, LogPos) {
        let mut n = 0;
        loop {
            let res = if owned {
                r.next_event().map(|e| e.is_some())
            } else {
                r.next_raw().map(|e| e.is_some())
            };
            match res {
                Ok(true) => n += 1,
                Ok(false) => return (n, None, r.position()),
                Err(e) => return (n, Some(e.to_string()), r.position()),
            }
        }
    }

    /// Events are CRC-checked a read buffer at a time: a flipped byte in any event, first, middle,
    /// last of a batch or straddling a buffer refill, is still reported at that event's offset, with
    /// every event before it returned, by both readers.
    #[test]
    fn a_flipped_byte_in_any_event_of_a_batch_is_reported_at_its_offset() {
        let tmp = tempfile::tempdir().unwrap();
        let w = writer(tmp.path(), 1 << 30);
        for i in 0..6000 {
            w.append(&txn(i, (i as usize * 13) % 90)).unwrap();
        }
        w.close().unwrap();
        let file = w.status().0;
        let path = tmp.path().join(&file);
        let clean = std::fs::read(&path).unwrap();
        assert!(clean.len() > 4 * 256 * 1024, "{} bytes", clean.len());
        let mut r = LogReader::open(tmp.path(), "repld-bin", "", 4).unwrap();
        let events: Vec<(u64, u64)> =
            std::iter::from_fn(|| r.next_raw().unwrap().map(|e| (e.pos, e.end_pos()))).collect();
        // The first events after the FORMAT_DESCRIPTION, the last ones, those around each buffer
        // refill (the buffer holds 256 KiB from the first event that did not fit the previous one)
        // and a spread in between.
        let mut picks: Vec<usize> = vec![1, 2, 3, events.len() - 2, events.len() - 1];
        let mut buf_start = 4;
        for (i, &(start, end)) in events.iter().enumerate() {
            if end > buf_start + 256 * 1024 {
                buf_start = start;
                picks.extend([i - 1, i, i + 1]);
            }
        }
        assert!(picks.len() >= 5 + 3 * 4, "{picks:?}");
        picks.extend((1..events.len()).step_by(997));
        picks.sort_unstable();
        picks.dedup();
        for (trial, &i) in picks.iter().enumerate() {
            let (start, end) = events[i];
            let len = (end - start) as usize;
            // A byte of the header (not the size field), of the body or of the CRC32 trailer.
            // (The size field, bytes 9..13, changes the framing instead: not a CRC error.)
            let within = match [0, 5, 17, len / 2, len - 1][trial % 5] {
                9..13 => len - 2,
                b => b,
            };
            let mut bytes = clean.clone();
            bytes[start as usize + within] ^= 0x10;
            std::fs::write(&path, &bytes).unwrap();
            for owned in [false, true] {
                let mut r = LogReader::open(tmp.path(), "repld-bin", "", 4).unwrap();
                let (n, err, at) = read_to_error(&mut r, owned);
                let err = err.unwrap_or_else(|| panic!("event {i} byte {within}: no error"));
                assert!(
                    err.contains(&format!("{file}:{start}:")) && err.contains("CRC32 mismatch"),
                    "event {i} byte {within}: {err}"
                );
                assert_eq!((n, at), (i, LogPos::new(file.clone(), start)), "event {i}");
                // Asking again gives the same error at the same place.
                assert!(r
                    .next_raw()
                    .unwrap_err()
                    .to_string()
                    .contains(&format!("{file}:{start}:")));
            }
        }
        assert!(picks.len() > 20, "{} events tried", picks.len());
    }

    #[test]
    fn next_raw_reports_a_bad_crc_with_file_and_offset() {
        let tmp = tempfile::tempdir().unwrap();
        let w = writer(tmp.path(), 1 << 30);
        let a = w.append(&txn(1, 50)).unwrap();
        w.close().unwrap();
        let path = tmp.path().join(&a.file);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = a.end_pos as usize - 10;
        bytes[last] ^= 0x40; // inside the XID event
        std::fs::write(&path, &bytes).unwrap();
        let mut r = LogReader::open(tmp.path(), "repld-bin", &a.file, a.start_pos).unwrap();
        let mut err = None;
        for _ in 0..10 {
            match r.next_raw() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    err = Some(e.to_string());
                    break;
                }
            }
        }
        let err = err.expect("a CRC error");
        let xid_at = a.end_pos - 31;
        assert!(
            err.contains(&format!("{}:{xid_at}", a.file)) && err.contains("CRC32 mismatch"),
            "{err}"
        );
        // The reader does not move past the bad event.
        assert_eq!(r.position(), LogPos::new(a.file.clone(), xid_at));
    }
}
