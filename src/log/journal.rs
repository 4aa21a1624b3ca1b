//! The commit journal: makes a group commit durable with one overwrite instead of an appending fsync.
//!
//! With `sync_binlog = 1` the group-commit leader writes its group to the binlog file (page cache
//! only) and the same bytes, as one record, into this small preallocated file, then fsyncs the
//! journal, not the binlog. An fdatasync of an append must also write the inode (the file size
//! changed): two I/Os, one after the other. The journal is written over blocks that already exist, so
//! its fdatasync is one I/O (on this project's machine about 0.2 ms against 0.3 ms). The binlog files
//! stay exactly what MariaDB writes and reads; the journal is beside them (`<basename>.journal`).
//!
//! Layout: a header block (magic, generation, CRC) and then a ring of records, each: magic, CRC32 of
//! the rest, generation, sequence number (lsn), binlog offset, data length, binlog file name, data.
//!
//! Invariants:
//! * A record is written only after its bytes were written to the binlog file, at the offset it names.
//!   Within one generation (one open of the writer) a binlog offset is written once.
//! * Before the ring starts over, the binlog file is fsynced (a checkpoint), so every record the new
//!   lap overwrites is already durable in the binlog. Records of one lap are contiguous from the start
//!   of the ring with consecutive lsns; a record of an older lap has a smaller lsn.
//! * Recovery ([`replay`]) runs before the binlog's tail check: it rewrites the bytes of the current
//!   lap's records for the last binlog file at their offsets (the same bytes: rewriting is
//!   idempotent), fsyncs the file, and only then does the writer open a new generation
//!   ([`Journal::open`]), which makes the old records inert.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Size of the journal file (header block + ring).
pub const JOURNAL_SIZE: u64 = 4 << 20;
/// The ring starts after the header block.
const RING_START: u64 = 4096;
const HEADER_MAGIC: &[u8; 8] = b"REPLDJNL";
const RECORD_MAGIC: u32 = 0x4C4E_524A;
/// magic, crc, generation, lsn, offset, length, name length, reserved.
const RECORD_HEADER: usize = 4 + 4 + 8 + 8 + 8 + 4 + 2 + 2;

fn io_at(path: &Path) -> impl Fn(io::Error) -> Error + '_ {
    move |e| Error::Io(format!("{}: {e}", path.display()))
}

/// The journal's file name for a binlog basename.
pub fn path(dir: &Path, basename: &str) -> PathBuf {
    dir.join(format!("{basename}.journal"))
}

/// An open journal, written by the group-commit leader under the writer's state lock.
#[derive(Debug)]
pub struct Journal {
    file: std::sync::Arc<File>,
    path: PathBuf,
    generation: u64,
    /// Where the next record goes.
    next: u64,
    /// Sequence number of the next record.
    lsn: u64,
    /// Record buffer, reused.
    buf: Vec<u8>,
}

impl Journal {
    /// Opens (or creates, zero-filled to [`JOURNAL_SIZE`]) the journal of `basename` in `dir` and starts
    /// a new generation: the records of the last one are inert from here on. Call after [`replay`].
    pub fn open(dir: &Path, basename: &str) -> Result<Journal> {
        let path = path(dir, basename);
        let old = read_header(&path).unwrap_or(0);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let file = if size == JOURNAL_SIZE {
            OpenOptions::new().read(true).write(true).open(&path).map_err(io_at(&path))?
        } else {
            create_zeroed(&path)?
        };
        let generation = old + 1;
        let mut header = vec![0u8; RING_START as usize];
        header[..8].copy_from_slice(HEADER_MAGIC);
        header[8..16].copy_from_slice(&generation.to_le_bytes());
        let crc = crc32fast::hash(&header[..16]);
        header[16..20].copy_from_slice(&crc.to_le_bytes());
        file.write_all_at(&header, 0).map_err(io_at(&path))?;
        file.sync_data().map_err(io_at(&path))?;
        let file = std::sync::Arc::new(file);
        Ok(Journal { file, path, generation, next: RING_START, lsn: 1, buf: Vec::new() })
    }

    /// Writes one record: `data` was just written to binlog file `name` at `offset`. Returns false
    /// (nothing written) when it does not fit before the end of the ring: the caller then fsyncs the
    /// binlog file and calls [`Journal::restart`].
    pub fn record(&mut self, name: &str, offset: u64, data: &[u8]) -> Result<bool> {
        let len = RECORD_HEADER + name.len() + data.len();
        if self.next + len as u64 > JOURNAL_SIZE || name.len() > usize::from(u16::MAX) {
            return Ok(false);
        }
        let b = &mut self.buf;
        b.clear();
        b.extend_from_slice(&RECORD_MAGIC.to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&self.generation.to_le_bytes());
        b.extend_from_slice(&self.lsn.to_le_bytes());
        b.extend_from_slice(&offset.to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&(name.len() as u16).to_le_bytes());
        b.extend_from_slice(&[0; 2]);
        b.extend_from_slice(name.as_bytes());
        b.extend_from_slice(data);
        let crc = crc32fast::hash(&b[8..]);
        b[4..8].copy_from_slice(&crc.to_le_bytes());
        self.file.write_all_at(b, self.next).map_err(io_at(&self.path))?;
        self.next += len as u64;
        self.lsn += 1;
        Ok(true)
    }

    /// Starts the ring over (after the binlog file was fsynced: every record in the ring is durable
    /// in the binlog).
    pub fn restart(&mut self) {
        self.next = RING_START;
    }

    /// Bytes of the ring in use since it last started over.
    #[cfg(test)]
    pub fn ring_used(&self) -> u64 {
        self.next - RING_START
    }

    /// The journal file (its fsync makes the records written so far durable).
    pub fn file(&self) -> &std::sync::Arc<File> {
        &self.file
    }
}

/// Creates `path` zero-filled to [`JOURNAL_SIZE`] (written, not sparse: later writes overwrite
/// allocated blocks) and fsyncs it and its directory.
fn create_zeroed(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(io_at(path))?;
    let zeros = vec![0u8; 1 << 20];
    let mut at = 0;
    while at < JOURNAL_SIZE {
        let n = zeros.len().min((JOURNAL_SIZE - at) as usize);
        file.write_all_at(&zeros[..n], at).map_err(io_at(path))?;
        at += n as u64;
    }
    file.sync_all().map_err(io_at(path))?;
    if let Some(dir) = path.parent() {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io_at(dir))?;
    }
    Ok(file)
}

/// The generation in the header of the journal at `path`, if it has a valid one.
fn read_header(path: &Path) -> Option<u64> {
    let mut h = [0u8; 20];
    File::open(path).ok()?.read_exact(&mut h).ok()?;
    generation_of(&h)
}

/// The generation in a journal header (the file's first bytes), if it is valid.
fn generation_of(h: &[u8]) -> Option<u64> {
    let h = h.get(..20)?;
    let crc = u32::from_le_bytes(h[16..20].try_into().ok()?);
    (&h[..8] == HEADER_MAGIC && crc32fast::hash(&h[..16]) == crc)
        .then(|| u64::from_le_bytes(h[8..16].try_into().unwrap_or_default()))
}

/// One record read back.
struct Record<'a> {
    lsn: u64,
    offset: u64,
    name: &'a [u8],
    data: &'a [u8],
}

/// The record at `at` of generation `generation`, with its length, if it is whole and intact.
fn parse(ring: &[u8], at: usize, generation: u64) -> Option<(Record<'_>, usize)> {
    let h = ring.get(at..at + RECORD_HEADER)?;
    let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[i..i + 8]);
        u64::from_le_bytes(b)
    };
    if u32_at(0) != RECORD_MAGIC || u64_at(8) != generation {
        return None;
    }
    let data_len = u32_at(32) as usize;
    let name_len = usize::from(u16::from_le_bytes([h[36], h[37]]));
    let len = RECORD_HEADER.checked_add(name_len)?.checked_add(data_len)?;
    let whole = ring.get(at..at.checked_add(len)?)?;
    if crc32fast::hash(&whole[8..]) != u32_at(4) {
        return None;
    }
    let name = &whole[RECORD_HEADER..RECORD_HEADER + name_len];
    let data = &whole[RECORD_HEADER + name_len..];
    Some((Record { lsn: u64_at(16), offset: u64_at(24), name, data }, len))
}

/// Recovery: rewrites into binlog file `last_file` (at `file_path`) the bytes of the current lap's
/// records that name it, and fsyncs it. Returns the number of records rewritten. A missing or
/// unreadable journal, or one without a valid header, replays nothing.
pub fn replay(dir: &Path, basename: &str, last_file: &str, file_path: &Path) -> Result<usize> {
    let path = path(dir, basename);
    let mut ring = Vec::new();
    match File::open(&path) {
        Ok(f) => {
            f.take(JOURNAL_SIZE).read_to_end(&mut ring).map_err(io_at(&path))?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_at(&path)(e)),
    }
    let Some(generation) = generation_of(&ring) else { return Ok(0) };
    let mut at = RING_START as usize;
    let mut prev: Option<u64> = None;
    let mut target: Option<File> = None;
    let mut replayed = 0;
    while let Some((rec, len)) = parse(&ring, at, generation) {
        if prev.is_some_and(|p| rec.lsn != p + 1) {
            break;
        }
        prev = Some(rec.lsn);
        at += len;
        if rec.name != last_file.as_bytes() {
            continue;
        }
        if target.is_none() {
            let f = OpenOptions::new().write(true).open(file_path).map_err(io_at(file_path))?;
            target = Some(f);
        }
        if let Some(f) = &target {
            f.write_all_at(rec.data, rec.offset).map_err(io_at(file_path))?;
        }
        replayed += 1;
    }
    if let Some(f) = target {
        f.sync_data().map_err(io_at(file_path))?;
        tracing::info!(
            file = last_file,
            records = replayed,
            "binlog tail rewritten from the commit journal"
        );
    }
    Ok(replayed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_replay_into_their_file_and_a_new_generation_makes_them_inert() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("b.000001");
        std::fs::write(&bin, b"head").unwrap();
        let mut j = Journal::open(dir.path(), "b").unwrap();
        assert!(j.record("b.000001", 4, b"first").unwrap());
        assert!(j.record("b.000002", 0, b"other file").unwrap());
        assert!(j.record("b.000001", 9, b"second").unwrap());
        // The binlog lost what was written after its header (page cache gone).
        assert_eq!(replay(dir.path(), "b", "b.000001", &bin).unwrap(), 2);
        assert_eq!(std::fs::read(&bin).unwrap(), b"headfirstsecond");
        // A new generation: the old records are not replayed again.
        std::fs::write(&bin, b"head").unwrap();
        let _j = Journal::open(dir.path(), "b").unwrap();
        assert_eq!(replay(dir.path(), "b", "b.000001", &bin).unwrap(), 0);
        assert_eq!(std::fs::read(&bin).unwrap(), b"head");
    }

    #[test]
    fn a_torn_record_ends_the_chain_and_an_older_lap_is_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("b.000001");
        std::fs::write(&bin, b"").unwrap();
        let mut j = Journal::open(dir.path(), "b").unwrap();
        for i in 0..4u64 {
            assert!(j.record("b.000001", i * 3, b"abc").unwrap());
        }
        // A new lap writes one record over the first (lsn 5 after 1..4 of the old lap).
        j.restart();
        assert!(j.record("b.000001", 12, b"xyz").unwrap());
        assert_eq!(replay(dir.path(), "b", "b.000001", &bin).unwrap(), 1);
        assert_eq!(std::fs::read(&bin).unwrap(), b"\0\0\0\0\0\0\0\0\0\0\0\0xyz");
        // Tear that record: nothing is replayed.
        let jp = path(dir.path(), "b");
        let f = OpenOptions::new().write(true).open(&jp).unwrap();
        f.write_all_at(b"!", RING_START + RECORD_HEADER as u64 + 8 + 1).unwrap();
        std::fs::write(&bin, b"").unwrap();
        assert_eq!(replay(dir.path(), "b", "b.000001", &bin).unwrap(), 0);
    }

    #[test]
    fn a_record_that_does_not_fit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), "b").unwrap();
        let big = vec![7u8; (JOURNAL_SIZE - RING_START) as usize];
        assert!(!j.record("b.000001", 4, &big).unwrap());
        assert!(j.record("b.000001", 4, &big[..1000]).unwrap());
    }

    #[test]
    fn garbage_journal_replays_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("b.000001");
        std::fs::write(&bin, b"x").unwrap();
        std::fs::write(path(dir.path(), "b"), vec![0xAB; 10_000]).unwrap();
        assert_eq!(replay(dir.path(), "b", "b.000001", &bin).unwrap(), 0);
        assert_eq!(std::fs::read(&bin).unwrap(), b"x");
        // Opening replaces it with a proper one.
        let j = Journal::open(dir.path(), "b").unwrap();
        assert_eq!(j.file().metadata().unwrap().len(), JOURNAL_SIZE);
    }
}
