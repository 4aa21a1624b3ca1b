//! The commit journal: makes a group commit durable with one overwrite instead of an appending fsync.
//!
//! With `sync_binlog = 1` the group-commit leader writes its group to the binlog file (page cache
//! only) and the same bytes, as one record, into this small preallocated file, then makes the
//! record durable, not the binlog. An fdatasync of an append must also write the inode (the file size
//! changed): two I/Os, one after the other. The journal is written over blocks that already exist, so
//! its sync is one I/O (on this project's machine about 0.2 ms against 0.3 ms). The binlog files
//! stay exactly what MariaDB writes and reads; the journal is beside them (`<basename>.journal`).
//!
//! Records are written with direct I/O (`O_DIRECT | O_DSYNC`) where the file system takes it: one
//! `pwrite` that goes to the device and returns once the device has it durably, with no page-cache
//! writeback behind it. Measured here (ext4, virtio disk): 37 µs of CPU per durable 4 KiB record
//! against 55 µs for a buffered write and fdatasync, and 10k records/s against 8k. Direct I/O wants
//! block-aligned offsets, lengths and memory, so each record starts on a [`BLOCK`] boundary and is
//! padded to whole blocks. Where the file system refuses direct I/O (tmpfs on older kernels, some
//! network file systems), the journal falls back to a buffered write and fdatasync. The write itself
//! happens outside the binlog writer's lock ([`RecordWrite`]): the next group appends meanwhile.
//!
//! Layout: a header block (magic, generation, CRC) and then a ring of records, each: magic, CRC32 of
//! the rest, generation, sequence number (lsn), binlog offset, data length, binlog file name, data,
//! zero padding to the next block. A journal written before records were block-aligned (the older
//! header magic) is still replayed, with its records back to back.
//!
//! Invariants:
//! * A record is written only after its bytes were written to the binlog file, at the offset it names.
//!   Within one generation (one open of the writer) a binlog offset is written once.
//! * Records are written one at a time, in lsn order (only the group-commit leader writes one, and
//!   there is one leader at a time).
//! * Before the ring starts over, the binlog file is fsynced (a checkpoint), so every record the new
//!   lap overwrites is already durable in the binlog. Records of one lap are contiguous from the start
//!   of the ring with consecutive lsns; a record of an older lap has a smaller lsn.
//! * Recovery ([`replay`]) runs before the binlog's tail check: it rewrites the bytes of the current
//!   lap's records for the last binlog file at their offsets (the same bytes: rewriting is
//!   idempotent), fsyncs the file, and only then does the writer open a new generation
//!   ([`Journal::open`]), which makes the old records inert.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};

/// Size of the journal file (header block + ring): about 4000 block-sized records per lap, so the
/// checkpoint (an fsync of the binlog under the writer's lock) comes about once a second at the
/// busiest.
pub const JOURNAL_SIZE: u64 = 16 << 20;
/// Records start on, and are padded to, multiples of this (direct I/O's alignment; 4 KiB covers
/// devices with 512-byte and 4 KiB logical blocks).
pub const BLOCK: u64 = 4096;
/// The ring starts after the header block.
const RING_START: u64 = BLOCK;
/// Header magic of a journal whose records are block-aligned.
const HEADER_MAGIC: &[u8; 8] = b"REPLDJN2";
/// Header magic of a journal whose records are back to back (before direct I/O).
const HEADER_MAGIC_PACKED: &[u8; 8] = b"REPLDJNL";
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

/// An open journal, written by the group-commit leader: a record is prepared under the writer's
/// state lock ([`Journal::record`]) and written after it is released ([`RecordWrite::write`]).
#[derive(Debug)]
pub struct Journal {
    /// The handle records are written through: direct and synchronous when `direct`.
    file: Arc<File>,
    /// `file` was opened with `O_DIRECT | O_DSYNC` (and a direct write of the header succeeded).
    direct: bool,
    path: Arc<PathBuf>,
    generation: u64,
    /// Where the next record goes (a multiple of [`BLOCK`]).
    next: u64,
    /// Sequence number of the next record.
    lsn: u64,
}

impl Journal {
    /// Opens (or creates, zero-filled to [`JOURNAL_SIZE`]) the journal of `basename` in `dir` and starts
    /// a new generation: the records of the last one are inert from here on. Call after [`replay`].
    pub fn open(dir: &Path, basename: &str) -> Result<Journal> {
        Journal::open_with(dir, basename, true)
    }

    /// [`Journal::open`], trying direct I/O only when `try_direct`.
    fn open_with(dir: &Path, basename: &str, try_direct: bool) -> Result<Journal> {
        let path = path(dir, basename);
        let old = read_header(&path).unwrap_or(0);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let buffered = if size == JOURNAL_SIZE {
            OpenOptions::new().read(true).write(true).open(&path).map_err(io_at(&path))?
        } else {
            create_zeroed(&path)?
        };
        let generation = old + 1;
        let mut header = Aligned::zeroed(RING_START as usize);
        let h = header.bytes_mut();
        h[..8].copy_from_slice(HEADER_MAGIC);
        h[8..16].copy_from_slice(&generation.to_le_bytes());
        let crc = crc32fast::hash(&h[..16]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        // The header goes through the direct handle when there is one: a file system that takes
        // the open but not the write (alignment) is found out here, not at a commit.
        let direct = try_direct
            .then(|| {
                OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_DIRECT | libc::O_DSYNC)
                    .open(&path)
                    .ok()
            })
            .flatten()
            .filter(|f| f.write_all_at(header.bytes(), 0).is_ok());
        let (file, direct) = match direct {
            Some(f) => (f, true),
            None => {
                buffered.write_all_at(header.bytes(), 0).map_err(io_at(&path))?;
                buffered.sync_data().map_err(io_at(&path))?;
                (buffered, false)
            }
        };
        tracing::debug!(path = %path.display(), direct, "commit journal open");
        Ok(Journal {
            file: Arc::new(file),
            direct,
            path: Arc::new(path),
            generation,
            next: RING_START,
            lsn: 1,
        })
    }

    /// Prepares one record: `data` was just written to binlog file `name` at `offset`. Returns
    /// `None` (nothing prepared) when it does not fit before the end of the ring: the caller then
    /// fsyncs the binlog file and calls [`Journal::restart`]. The record is durable once its
    /// [`RecordWrite::write`] returns; write it before preparing the next one.
    pub fn record(&mut self, name: &str, offset: u64, data: &[u8]) -> Option<RecordWrite> {
        let len = RECORD_HEADER + name.len() + data.len();
        let padded = (len as u64).checked_next_multiple_of(BLOCK)?;
        if self.next + padded > JOURNAL_SIZE || name.len() > usize::from(u16::MAX) {
            return None;
        }
        let mut buf = Aligned::zeroed(padded as usize);
        let b = buf.bytes_mut();
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            b[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(&RECORD_MAGIC.to_le_bytes());
        put(&[0; 4]);
        put(&self.generation.to_le_bytes());
        put(&self.lsn.to_le_bytes());
        put(&offset.to_le_bytes());
        put(&(data.len() as u32).to_le_bytes());
        put(&(name.len() as u16).to_le_bytes());
        put(&[0; 2]);
        put(name.as_bytes());
        put(data);
        let crc = crc32fast::hash(&b[8..len]);
        b[4..8].copy_from_slice(&crc.to_le_bytes());
        let write = RecordWrite {
            file: self.file.clone(),
            direct: self.direct,
            path: self.path.clone(),
            at: self.next,
            buf,
        };
        self.next += padded;
        self.lsn += 1;
        Some(write)
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

    /// Records are written with direct I/O.
    #[cfg(test)]
    pub fn is_direct(&self) -> bool {
        self.direct
    }
}

/// A prepared journal record: writing it makes it durable.
#[derive(Debug)]
pub struct RecordWrite {
    file: Arc<File>,
    direct: bool,
    path: Arc<PathBuf>,
    /// Offset in the journal (a multiple of [`BLOCK`]).
    at: u64,
    /// The record, padded to whole blocks, in block-aligned memory.
    buf: Aligned,
}

impl RecordWrite {
    /// Writes the record and returns once it is durable: one synchronous direct write, or a
    /// buffered write and fdatasync.
    pub fn write(&self) -> Result<()> {
        let path: &Path = &self.path;
        self.file.write_all_at(self.buf.bytes(), self.at).map_err(io_at(path))?;
        if !self.direct {
            self.file.sync_data().map_err(io_at(path))?;
        }
        Ok(())
    }
}

/// A zeroed byte buffer whose start is aligned to [`BLOCK`] (what direct I/O wants of memory):
/// a `Vec` one block longer than needed, used from its first aligned byte.
#[derive(Debug)]
struct Aligned {
    vec: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    fn zeroed(len: usize) -> Aligned {
        let vec = vec![0u8; len + BLOCK as usize];
        let addr = vec.as_ptr() as usize;
        let start = addr.next_multiple_of(BLOCK as usize) - addr;
        Aligned { vec, start, len }
    }

    fn bytes(&self) -> &[u8] {
        &self.vec[self.start..self.start + self.len]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.vec[self.start..self.start + self.len]
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
    header_of(&h).map(|(generation, _)| generation)
}

/// The generation in a journal header (the file's first bytes), and the alignment of its records
/// (1 for a journal with records back to back), if the header is valid.
fn header_of(h: &[u8]) -> Option<(u64, usize)> {
    let h = h.get(..20)?;
    let crc = u32::from_le_bytes(h[16..20].try_into().ok()?);
    if crc32fast::hash(&h[..16]) != crc {
        return None;
    }
    let align = match &h[..8] {
        m if m == HEADER_MAGIC => BLOCK as usize,
        m if m == HEADER_MAGIC_PACKED => 1,
        _ => return None,
    };
    Some((u64::from_le_bytes(h[8..16].try_into().ok()?), align))
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
    let Some((generation, align)) = header_of(&ring) else { return Ok(0) };
    let mut at = RING_START as usize;
    let mut prev: Option<u64> = None;
    let mut target: Option<File> = None;
    let mut replayed = 0;
    while let Some((rec, len)) = parse(&ring, at, generation) {
        if prev.is_some_and(|p| rec.lsn != p + 1) {
            break;
        }
        prev = Some(rec.lsn);
        match len.checked_next_multiple_of(align) {
            Some(next) => at += next,
            None => break,
        }
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

    /// Prepares and writes one record.
    fn put(j: &mut Journal, name: &str, offset: u64, data: &[u8]) {
        j.record(name, offset, data).expect("the record fits").write().unwrap();
    }

    #[test]
    fn the_buffered_fallback_replays_the_same_way() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("b.000001");
        std::fs::write(&bin, b"").unwrap();
        let mut j = Journal::open_with(dir.path(), "b", false).unwrap();
        assert!(!j.is_direct());
        put(&mut j, "b.000001", 0, b"one");
        put(&mut j, "b.000001", 3, &[b'x'; 5000]);
        put(&mut j, "b.000001", 5003, b"three");
        assert_eq!(replay(dir.path(), "b", "b.000001", &bin).unwrap(), 3);
        let mut want = b"one".to_vec();
        want.extend_from_slice(&[b'x'; 5000]);
        want.extend_from_slice(b"three");
        assert_eq!(std::fs::read(&bin).unwrap(), want);
    }

    /// A journal written before records were block-aligned (records back to back, the older
    /// header magic) is replayed all the same: an upgrade after a crash loses nothing.
    #[test]
    fn a_journal_with_packed_records_still_replays() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("b.000001");
        std::fs::write(&bin, b"").unwrap();
        let mut ring = vec![0u8; RING_START as usize];
        ring[..8].copy_from_slice(HEADER_MAGIC_PACKED);
        ring[8..16].copy_from_slice(&7u64.to_le_bytes());
        let crc = crc32fast::hash(&ring[..16]);
        ring[16..20].copy_from_slice(&crc.to_le_bytes());
        for (lsn, (offset, data)) in [(0u64, &b"abc"[..]), (3, &b"defg"[..])].iter().enumerate() {
            let mut r = RECORD_MAGIC.to_le_bytes().to_vec();
            r.extend_from_slice(&[0; 4]);
            r.extend_from_slice(&7u64.to_le_bytes());
            r.extend_from_slice(&(lsn as u64 + 1).to_le_bytes());
            r.extend_from_slice(&offset.to_le_bytes());
            r.extend_from_slice(&(data.len() as u32).to_le_bytes());
            r.extend_from_slice(&8u16.to_le_bytes());
            r.extend_from_slice(&[0; 2]);
            r.extend_from_slice(b"b.000001");
            r.extend_from_slice(data);
            let crc = crc32fast::hash(&r[8..]);
            r[4..8].copy_from_slice(&crc.to_le_bytes());
            ring.extend_from_slice(&r);
        }
        std::fs::write(path(dir.path(), "b"), &ring).unwrap();
        assert_eq!(replay(dir.path(), "b", "b.000001", &bin).unwrap(), 2);
        assert_eq!(std::fs::read(&bin).unwrap(), b"abcdefg");
        // Opening starts a block-aligned journal of the next generation.
        let j = Journal::open(dir.path(), "b").unwrap();
        assert_eq!(j.generation, 8);
        assert_eq!(replay(dir.path(), "b", "b.000001", &bin).unwrap(), 0);
    }

    #[test]
    fn records_replay_into_their_file_and_a_new_generation_makes_them_inert() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("b.000001");
        std::fs::write(&bin, b"head").unwrap();
        let mut j = Journal::open(dir.path(), "b").unwrap();
        put(&mut j, "b.000001", 4, b"first");
        put(&mut j, "b.000002", 0, b"other file");
        put(&mut j, "b.000001", 9, b"second");
        assert_eq!(j.ring_used(), 3 * BLOCK, "each record fills a block");
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
            put(&mut j, "b.000001", i * 3, b"abc");
        }
        // A new lap writes one record over the first (lsn 5 after 1..4 of the old lap).
        j.restart();
        put(&mut j, "b.000001", 12, b"xyz");
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
        assert!(j.record("b.000001", 4, &big).is_none());
        put(&mut j, "b.000001", 4, &big[..1000]);
        // A record of several blocks.
        put(&mut j, "b.000001", 1004, &big[..10_000]);
        assert_eq!(j.ring_used(), BLOCK + 3 * BLOCK);
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
        let _j = Journal::open(dir.path(), "b").unwrap();
        assert_eq!(std::fs::metadata(path(dir.path(), "b")).unwrap().len(), JOURNAL_SIZE);
    }
}
