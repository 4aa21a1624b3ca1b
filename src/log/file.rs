//! Files of one log: naming, the index file, positions, sequential event reading and file scans.
//!
//! A log is a set of files `<basename>.000001`, `<basename>.000002`, ... in one directory, listed in
//! order by `<basename>.index` (one `./name` per line, as MariaDB writes it). The index is the truth
//! about which files exist: a file is added to it only after its header is durable, and removed from
//! it before it is deleted. The index is replaced atomically (write temp, fsync, rename, fsync dir).

use std::cmp::Ordering;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::log::event::{self, types, Event, EventBody, BINLOG_MAGIC, HEADER_LEN};
use crate::log::gtid::{Gtid, GtidState};

/// A position in a log: file name (no directory) and byte offset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct LogPos {
    /// File name, e.g. `repld-bin.000002`.
    pub file: String,
    /// Byte offset inside the file.
    pub pos: u64,
}

impl LogPos {
    /// A position from its parts.
    pub fn new(file: impl Into<String>, pos: u64) -> Self {
        LogPos { file: file.into(), pos }
    }
}

impl std::fmt::Display for LogPos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)
    }
}

impl PartialOrd for LogPos {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for LogPos {
    /// Orders by file sequence number (the numeric extension), then offset.
    fn cmp(&self, other: &Self) -> Ordering {
        file_seq_cmp(&self.file, &other.file).then(self.pos.cmp(&other.pos))
    }
}

/// The numeric extension of a log file name (`repld-bin.000012` -> 12).
pub fn file_seq(name: &str) -> Option<u64> {
    let (_, ext) = name.rsplit_once('.')?;
    if ext.is_empty() || !ext.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    ext.parse().ok()
}

/// Compares two log file names by sequence number (falling back to the names).
pub fn file_seq_cmp(a: &str, b: &str) -> Ordering {
    match (file_seq(a), file_seq(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// The files of one log: directory and basename.
#[derive(Clone, Debug)]
pub struct FileSet {
    /// Directory holding the files and the index.
    pub dir: PathBuf,
    /// Base name, e.g. `repld-bin`.
    pub basename: String,
}

impl FileSet {
    /// A file set; the basename must be a plain file name.
    pub fn new(dir: impl Into<PathBuf>, basename: &str) -> Result<Self> {
        if basename.is_empty() || basename.contains('/') || basename.contains('\0') {
            return Err(Error::InvalidInput(format!("invalid log basename {basename:?}")));
        }
        Ok(FileSet { dir: dir.into(), basename: basename.to_string() })
    }

    /// Path of the index file.
    pub fn index_path(&self) -> PathBuf {
        self.dir.join(format!("{}.index", self.basename))
    }

    /// Path of a log file.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Name of file number `n`.
    pub fn name(&self, n: u64) -> String {
        format!("{}.{:06}", self.basename, n)
    }

    /// Name of the file after `name`.
    pub fn next_name(&self, name: &str) -> String {
        self.name(file_seq(name).unwrap_or(0) + 1)
    }

    /// The file names listed by the index, in order; empty when there is no index.
    pub fn read_index(&self) -> Result<Vec<String>> {
        let path = self.index_path();
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::Io(format!("{}: {e}", path.display()))),
        };
        let text = String::from_utf8(text)
            .map_err(|_| Error::InvalidData(format!("{}: index is not UTF-8", path.display())))?;
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                Path::new(l)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .filter(|n| !n.is_empty())
            .collect())
    }

    /// Replaces the index atomically with `names`.
    pub fn write_index(&self, names: &[String]) -> Result<()> {
        let path = self.index_path();
        let tmp = self.dir.join(format!("{}.index.tmp", self.basename));
        let io_err = |e: io::Error| Error::Io(format!("{}: {e}", tmp.display()));
        let mut f = File::create(&tmp).map_err(io_err)?;
        let mut text = String::new();
        for n in names {
            text.push_str("./");
            text.push_str(n);
            text.push('\n');
        }
        f.write_all(text.as_bytes()).map_err(io_err)?;
        f.sync_data().map_err(io_err)?;
        fs::rename(&tmp, &path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        self.sync_dir()
    }

    /// fsyncs the directory (makes creations, renames and deletions durable).
    pub fn sync_dir(&self) -> Result<()> {
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::Io(format!("{}: {e}", self.dir.display())))
    }

    /// Creates (or truncates) `name` with magic, `header_events` (already encoded with the right
    /// log_pos values) and fsyncs it. Returns the open file and its length.
    pub fn create_file(&self, name: &str, header: &[u8]) -> Result<(File, u64)> {
        let path = self.path(name);
        let io_err = |e: io::Error| Error::Io(format!("{}: {e}", path.display()));
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(io_err)?;
        f.write_all(header).map_err(io_err)?;
        f.sync_data().map_err(io_err)?;
        self.sync_dir()?;
        Ok((f, header.len() as u64))
    }
}

/// Encodes the header of a new file: magic, FORMAT_DESCRIPTION, and an optional GTID_LIST.
pub fn encode_file_header(
    server_version: &str,
    server_id: u32,
    timestamp: u32,
    create_timestamp: u32,
    fde_flags: u16,
    gtid_list: Option<&GtidState>,
) -> Vec<u8> {
    let mut out = BINLOG_MAGIC.to_vec();
    let fde = EventBody::format_description(server_version, create_timestamp);
    let mut ev = Event::new(timestamp, server_id, 0, fde_flags, fde);
    let size = ev.encode().len() as u32;
    ev.header.log_pos = 4 + size;
    ev.encode_into(&mut out);
    if let Some(state) = gtid_list {
        let mut ev = Event::new(timestamp, server_id, 0, 0, EventBody::GtidList(state.to_vec()));
        ev.header.log_pos = (out.len() + ev.encode().len()) as u32;
        ev.encode_into(&mut out);
    }
    out
}

/// Sets or clears BINLOG_IN_USE in the FORMAT_DESCRIPTION of an open file (offset 4 + 17), in place.
/// The CRC does not cover this bit.
pub fn set_in_use(file: &File, in_use: bool) -> io::Result<()> {
    let mut b = [0u8; 1];
    file.read_exact_at(&mut b, 4 + 17)?;
    let v = if in_use { b[0] | 1 } else { b[0] & !1 };
    if v != b[0] {
        file.write_all_at(&[v], 4 + 17)?;
    }
    Ok(())
}

/// Result of asking a [`ChunkReader`] for the event at an offset.
pub enum Chunk<'a> {
    /// A whole event (by its size field).
    Event(&'a [u8]),
    /// No whole event: `available` bytes follow the offset (0 = clean end), `needed` if known.
    End {
        /// Bytes present after the offset, below the limit.
        available: u64,
        /// Event size from the header, when the header was complete.
        needed: Option<u64>,
    },
}

/// Where [`ChunkReader::locate`] found the event at an offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Located {
    /// A whole event (by its size field) at this range of the buffer.
    Event(Range<usize>),
    /// No whole event: `available` bytes follow the offset (0 = clean end), `needed` if known.
    End {
        /// Bytes present after the offset, below the limit.
        available: u64,
        /// Event size from the header, when the header was complete.
        needed: Option<u64>,
    },
}

/// The `event_size` field of the header at the start of `header` (at least 13 bytes).
fn event_size(header: &[u8]) -> usize {
    u32::from_le_bytes([header[9], header[10], header[11], header[12]]) as usize
}

/// Reads whole events from a file sequentially through a large buffer using positional reads, so a
/// growing file can be read again at its end without reopening.
pub struct ChunkReader {
    file: File,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    buf_off: u64,
    /// Valid bytes in `buf`.
    len: usize,
    /// Changes whenever buffered bytes are dropped or may be read again from the file (so a caller
    /// that checked bytes of the buffer knows whether they are still the bytes it checked).
    generation: u64,
}

const CHUNK: usize = 256 * 1024;

impl ChunkReader {
    /// Reads `file` through a buffer.
    pub fn new(file: File) -> Self {
        ChunkReader { file, buf: vec![0; CHUNK], buf_off: 0, len: 0, generation: 0 }
    }

    /// The event starting at `pos`, reading no byte at or past `limit`.
    pub fn event_at(&mut self, pos: u64, limit: u64) -> io::Result<Chunk<'_>> {
        Ok(match self.locate(pos, limit)? {
            Located::Event(range) => Chunk::Event(&self.buf[range]),
            Located::End { available, needed } => Chunk::End { available, needed },
        })
    }

    /// Like [`ChunkReader::event_at`], but says where in the buffer the event is (see
    /// [`ChunkReader::slice`]) instead of borrowing it, so the caller can update its own state first.
    #[inline]
    pub fn locate(&mut self, pos: u64, limit: u64) -> io::Result<Located> {
        match self.buffered(pos, limit) {
            Some(range) => Ok(Located::Event(range)),
            None => self.locate_refill(pos, limit),
        }
    }

    /// The fast path of [`ChunkReader::locate`]: where the event at `pos` is when it is wholly
    /// buffered (all but one event per buffer refill) and ends at or before `limit`; `None` otherwise.
    #[inline]
    pub fn buffered(&self, pos: u64, limit: u64) -> Option<Range<usize>> {
        if pos < self.buf_off {
            return None;
        }
        let start = (pos - self.buf_off) as usize;
        if start + HEADER_LEN > self.len {
            return None;
        }
        let size = event_size(&self.buf[start..]);
        (size >= HEADER_LEN && start + size <= self.len && pos.saturating_add(size as u64) <= limit)
            .then_some(start..start + size)
    }

    /// [`ChunkReader::locate`] when the event is not wholly buffered.
    #[inline(never)]
    fn locate_refill(&mut self, pos: u64, limit: u64) -> io::Result<Located> {
        let have = self.ensure(pos, HEADER_LEN, limit)?;
        if have < HEADER_LEN {
            return Ok(Located::End { available: have as u64, needed: None });
        }
        let start = (pos - self.buf_off) as usize;
        let size = event_size(&self.buf[start..]);
        if size < HEADER_LEN {
            // Not an event boundary or garbage: hand out the header so that decoding reports it.
            return Ok(Located::Event(start..start + HEADER_LEN));
        }
        let have = self.ensure(pos, size, limit)?;
        if have < size {
            return Ok(Located::End { available: have as u64, needed: Some(size as u64) });
        }
        let start = (pos - self.buf_off) as usize;
        Ok(Located::Event(start..start + size))
    }

    /// The buffered bytes of an event [`ChunkReader::locate`] returned (valid until the next call).
    #[inline]
    pub fn slice(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    /// Every buffered byte (buffer indices as in the ranges [`ChunkReader::locate`] returns; valid
    /// until the next call that may read).
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The buffered bytes from file offset `pos` up to `limit` (empty when `pos` is not buffered), to
    /// check or transform in place: whatever the caller changes it must restore before the next call.
    pub fn buffered_mut(&mut self, pos: u64, limit: u64) -> &mut [u8] {
        let end = self.buf_off + self.len as u64;
        if pos < self.buf_off || pos >= end {
            return &mut [];
        }
        let start = (pos - self.buf_off) as usize;
        let stop = (end.min(limit.max(pos)) - self.buf_off) as usize;
        &mut self.buf[start..stop]
    }

    /// Changes whenever buffered bytes are dropped or read again: bytes at a file offset that stay
    /// buffered under one generation are the bytes that were read there.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Makes `buf` hold up to `n` bytes from `pos` (fewer at EOF or `limit`); returns how many it holds.
    fn ensure(&mut self, pos: u64, n: usize, limit: u64) -> io::Result<usize> {
        let mut want = n.min(limit.saturating_sub(pos) as usize);
        if want > self.buf.len() {
            // Never allocate for bytes the file does not hold: a garbage `event_size` in a torn
            // tail may claim gigabytes (a 2 GB zeroed buffer made recovery take a minute).
            let file_len = self.file.metadata()?.len();
            want = want.min(file_len.saturating_sub(pos) as usize);
        }
        let in_buf = pos >= self.buf_off && pos <= self.buf_off + self.len as u64;
        if in_buf && (self.buf_off + self.len as u64 - pos) as usize >= want {
            return Ok(want);
        }
        // Keep what we have from pos on, move it to the front, then read more.
        if in_buf {
            let start = (pos - self.buf_off) as usize;
            self.buf.copy_within(start..self.len, 0);
            self.len -= start;
        } else {
            self.len = 0;
            self.generation += 1;
        }
        self.buf_off = pos;
        if self.buf.len() < want {
            self.buf.resize(want.next_power_of_two(), 0);
        }
        while self.len < want {
            let cap = (self.buf.len() as u64).min(limit.saturating_sub(self.buf_off)) as usize;
            if cap <= self.len {
                break;
            }
            let n =
                self.file.read_at(&mut self.buf[self.len..cap], self.buf_off + self.len as u64)?;
            if n == 0 {
                break;
            }
            self.len += n;
        }
        Ok(self.len.min(want))
    }

    /// Drops buffered bytes (the file may have changed under them, e.g. truncated).
    pub fn invalidate(&mut self) {
        self.len = 0;
        self.generation += 1;
    }
}

/// What a scan of one file found: the end of its last whole event group and the GTID state there.
#[derive(Clone, Debug, Default)]
pub struct FileScan {
    /// File length.
    pub len: u64,
    /// True when the file starts with the magic and a valid FORMAT_DESCRIPTION.
    pub header_ok: bool,
    /// Offset after the last whole event group (0 when the header is not valid).
    pub valid_end: u64,
    /// Why the scan stopped before `len` (torn event, bad CRC, incomplete group), with the offset.
    pub stop_reason: Option<String>,
    /// The first GTID_LIST of the file: the state before it.
    pub gtid_list: Option<GtidState>,
    /// GTID state after the last whole group (GTID_LIST + the file's GTIDs).
    pub state: GtidState,
    /// Highest XID seen in a whole group.
    pub max_xid: Option<u64>,
    /// BINLOG_IN_USE is set in the FORMAT_DESCRIPTION.
    pub in_use: bool,
    /// Start offsets and GTIDs of every whole group with a GTID, in order.
    pub groups: Vec<(u64, Gtid)>,
}

/// Tracks event groups (GTID ... XID, or a standalone GTID + statement) over a sequence of events.
#[derive(Default)]
struct GroupTracker {
    /// Open group: start offset, GTID (if any), standalone.
    open: Option<(u64, Option<Gtid>, bool)>,
}

impl GroupTracker {
    /// Feeds the event at `pos`; returns `Some(group start, gtid)` when a group (or a lone event)
    /// completes with it.
    fn feed(&mut self, pos: u64, ev: &Event) -> Option<(u64, Option<Gtid>)> {
        let is_query = |sql: &[u8]| matches!(&ev.body, EventBody::Query { sql: s, .. } if s.eq_ignore_ascii_case(sql));
        match &ev.body {
            EventBody::Gtid { seq_no, domain_id, flags2, .. } => {
                let gtid =
                    Gtid { domain_id: *domain_id, server_id: ev.header.server_id, seq_no: *seq_no };
                self.open = Some((pos, Some(gtid), flags2 & event::gtid_flags::STANDALONE != 0));
                None
            }
            EventBody::Query { .. } if is_query(b"BEGIN") => {
                self.open = Some((pos, None, false));
                None
            }
            EventBody::FormatDescription { .. } | EventBody::Rotate { .. } | EventBody::Stop => {
                self.open = None;
                Some((pos, None))
            }
            EventBody::Intvar { .. } | EventBody::Rand { .. } | EventBody::UserVar { .. }
                if self.open.is_some() =>
            {
                None
            }
            _ => match self.open {
                None => Some((pos, None)),
                Some((start, gtid, standalone)) => {
                    let ends = standalone
                        || matches!(ev.body, EventBody::Xid(_))
                        || is_query(b"COMMIT")
                        || is_query(b"ROLLBACK");
                    if ends {
                        self.open = None;
                        Some((start, gtid))
                    } else {
                        None
                    }
                }
            },
        }
    }
}

/// Scans a whole file: verifies every event and finds the end of the last whole group.
pub fn scan_file(path: &Path) -> Result<FileScan> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(FileScan {
                stop_reason: Some(format!("{name}: missing")),
                ..Default::default()
            })
        }
        Err(e) => return Err(Error::Io(format!("{}: {e}", path.display()))),
    };
    let len = file.metadata().map_err(|e| Error::Io(format!("{}: {e}", path.display())))?.len();
    let mut scan = FileScan { len, ..Default::default() };
    let mut magic = [0u8; 4];
    if len < 4 || file.read_exact_at(&mut magic, 0).is_err() || magic != BINLOG_MAGIC {
        scan.stop_reason = Some(format!("{name}:0: missing binlog magic"));
        return Ok(scan);
    }
    let mut reader = ChunkReader::new(file);
    let mut tracker = GroupTracker::default();
    let mut pos = 4u64;
    let mut checksum = true;
    let mut pending_state = GtidState::new();
    let mut pending_xid = None;
    loop {
        let bytes = match reader
            .event_at(pos, u64::MAX)
            .map_err(|e| Error::Io(format!("{name}:{pos}: {e}")))?
        {
            Chunk::Event(b) => b,
            Chunk::End { available: 0, .. } => break,
            Chunk::End { available, needed } => {
                let need = needed.map(|n| format!(" of {n}")).unwrap_or_default();
                scan.stop_reason =
                    Some(format!("{name}:{pos}: torn event ({available}{need} bytes)"));
                break;
            }
        };
        let ev = match Event::decode_with(bytes, checksum) {
            Ok(ev) => ev,
            Err(e) => {
                scan.stop_reason = Some(format!("{name}:{pos}: {}", event::error_text(&e)));
                break;
            }
        };
        let end = pos + bytes.len() as u64;
        if pos == 4 {
            let EventBody::FormatDescription { checksum_alg, .. } = &ev.body else {
                scan.stop_reason =
                    Some(format!("{name}:4: first event is not a FORMAT_DESCRIPTION"));
                break;
            };
            scan.header_ok = true;
            scan.in_use = ev.header.flags & event::flags::BINLOG_IN_USE != 0;
            checksum = *checksum_alg == event::CHECKSUM_CRC32;
        } else if let EventBody::FormatDescription { checksum_alg, .. } = &ev.body {
            checksum = *checksum_alg == event::CHECKSUM_CRC32;
        }
        match &ev.body {
            EventBody::GtidList(list) if scan.gtid_list.is_none() => {
                let state: GtidState = list.iter().copied().collect();
                scan.gtid_list = Some(state.clone());
                pending_state = state;
            }
            EventBody::Xid(x) => pending_xid = Some(pending_xid.map_or(*x, |p: u64| p.max(*x))),
            _ => {}
        }
        if let Some((start, gtid)) = tracker.feed(pos, &ev) {
            if let Some(g) = gtid {
                pending_state.update(g);
                scan.groups.push((start, g));
            }
            scan.valid_end = end;
            scan.state = pending_state.clone();
            if pending_xid.is_some() {
                scan.max_xid = scan.max_xid.max(pending_xid);
            }
        }
        pos = end;
    }
    if scan.header_ok && scan.stop_reason.is_none() && scan.valid_end < len {
        scan.stop_reason =
            Some(format!("{name}:{}: event group without its end (no XID)", scan.valid_end));
    }
    if !scan.header_ok {
        scan.valid_end = 0;
        scan.stop_reason.get_or_insert_with(|| format!("{name}:4: no FORMAT_DESCRIPTION"));
    }
    Ok(scan)
}

/// Returns `true` if this is a known event type that only the log machinery writes (never part of a
/// transaction passed to a writer).
pub fn is_framing_type(type_code: u8) -> bool {
    matches!(
        type_code,
        types::FORMAT_DESCRIPTION
            | types::ROTATE
            | types::STOP
            | types::GTID
            | types::GTID_LIST
            | types::XID
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_pos_order_uses_file_numbers() {
        assert!(LogPos::new("b.999999", 10) < LogPos::new("b.1000000", 4));
        assert!(LogPos::new("b.000002", 4) > LogPos::new("b.000001", 9999));
        assert!(LogPos::new("b.000002", 5) > LogPos::new("b.000002", 4));
        assert_eq!(file_seq("repld-bin.000012"), Some(12));
        assert_eq!(file_seq("repld-bin"), None);
    }

    #[test]
    fn garbage_event_size_allocates_nothing_beyond_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        let mut bytes = vec![0u8; 4];
        bytes.extend_from_slice(&[0x5A; 37]); // event_size 0x5A5A5A5A (1.5 GB)
        std::fs::write(&path, &bytes).unwrap();
        let mut r = ChunkReader::new(File::open(&path).unwrap());
        match r.event_at(4, u64::MAX).unwrap() {
            Chunk::End { available, needed } => {
                assert_eq!(available, 37);
                assert_eq!(needed, Some(0x5A5A5A5A));
            }
            Chunk::Event(_) => panic!("a torn event is not whole"),
        }
        assert!(r.buf.len() <= CHUNK, "buffer grew to {} bytes", r.buf.len());
    }

    #[test]
    fn index_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let fs = FileSet::new(dir.path(), "x-bin").unwrap();
        assert!(fs.read_index().unwrap().is_empty());
        fs.write_index(&["x-bin.000001".into(), "x-bin.000002".into()]).unwrap();
        assert_eq!(
            std::fs::read_to_string(fs.index_path()).unwrap(),
            "./x-bin.000001\n./x-bin.000002\n"
        );
        assert_eq!(
            fs.read_index().unwrap(),
            vec!["x-bin.000001".to_string(), "x-bin.000002".into()]
        );
        assert_eq!(fs.next_name("x-bin.000002"), "x-bin.000003");
        assert!(FileSet::new(dir.path(), "a/b").is_err());
    }
}
