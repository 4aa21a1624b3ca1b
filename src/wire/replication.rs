//! Replication commands (COM_REGISTER_SLAVE, COM_BINLOG_DUMP, COM_BINLOG_DUMP_GTID) and the framing of
//! a binlog dump stream.
//!
//! A dump is one endless reply to COM_BINLOG_DUMP: every event is one packet `0x00 | event bytes`
//! (header, body and CRC exactly as stored), with sequence ids continuing 1, 2, 3, ... (wrapping at 255;
//! an event of 16 MB or more is split into chunks like any packet). It ends with an EOF packet
//! (`fe 00 00 02 00`, non-blocking dumps when caught up) or an ERR packet (e.g. 1236 for a purged
//! position). The stream loop itself (files, rotation, heartbeats) belongs to the primary.
//!
//! COM_REGISTER_SLAVE and COM_BINLOG_DUMP are parsed with mysql_common's deserializers;
//! COM_BINLOG_DUMP_GTID is parsed here, because mysql_common's parser preallocates by the untrusted
//! SID count.

use super::conn::PacketConn;
use super::results::{write_eof, SERVER_STATUS_AUTOCOMMIT};
use crate::error::{Error, Result};
use bytes::Buf;
use mysql_common::io::ParseBuf;
use mysql_common::packets::{ComBinlogDump, ComRegisterSlave};
use mysql_common::proto::MyDeserialize;
use tokio::io::{AsyncRead, AsyncWrite};

/// COM_BINLOG_DUMP flag: end with EOF when caught up instead of waiting for new events.
pub const BINLOG_DUMP_NON_BLOCK: u16 = 0x0001;
/// COM_BINLOG_DUMP flag (MariaDB): send ANNOTATE_ROWS events.
pub const BINLOG_SEND_ANNOTATE_ROWS_EVENT: u16 = 0x0002;
/// COM_BINLOG_DUMP_GTID flag: the SID block is meaningful (MySQL).
pub const BINLOG_THROUGH_GTID: u16 = 0x0004;

/// The error for a malformed command packet (ER_MALFORMED_PACKET).
pub fn malformed_packet() -> Error {
    Error::sql(1835, "HY000", "Malformed communication packet.")
}

/// COM_REGISTER_SLAVE: a replica announces itself before dumping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterSlave {
    /// The replica's server id.
    pub server_id: u32,
    /// Host the replica reports (`report_host`), usually empty.
    pub hostname: String,
    /// User the replica reports, usually empty.
    pub user: String,
    /// Password the replica reports, usually empty.
    pub password: String,
    /// Port the replica reports.
    pub port: u16,
    /// Master id the replica reports (usually 0).
    pub master_id: u32,
}

impl RegisterSlave {
    /// Parses a whole COM_REGISTER_SLAVE payload (including the 0x15 command byte).
    pub fn parse(payload: &[u8]) -> Result<RegisterSlave> {
        let c = ComRegisterSlave::deserialize((), &mut ParseBuf(payload))
            .map_err(|_| malformed_packet())?;
        Ok(RegisterSlave {
            server_id: c.server_id(),
            hostname: String::from_utf8_lossy(c.hostname_raw()).into_owned(),
            user: String::from_utf8_lossy(c.user_raw()).into_owned(),
            password: String::from_utf8_lossy(c.password_raw()).into_owned(),
            port: c.port(),
            master_id: c.master_id(),
        })
    }
}

/// COM_BINLOG_DUMP: stream the binlog from a file and offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinlogDump {
    /// Offset in `filename` to start at (4 = first event after the magic).
    pub pos: u32,
    /// `BINLOG_DUMP_NON_BLOCK`, `BINLOG_SEND_ANNOTATE_ROWS_EVENT`.
    pub flags: u16,
    /// The replica's server id (0 for `mariadb-binlog -R`).
    pub server_id: u32,
    /// Binlog file name; empty = the first file (MariaDB replicas in GTID mode also send it empty).
    pub filename: String,
}

impl BinlogDump {
    /// Parses a whole COM_BINLOG_DUMP payload (including the 0x12 command byte).
    pub fn parse(payload: &[u8]) -> Result<BinlogDump> {
        let c = ComBinlogDump::deserialize((), &mut ParseBuf(payload))
            .map_err(|_| malformed_packet())?;
        Ok(BinlogDump {
            pos: c.pos(),
            flags: c.flags().bits(),
            server_id: c.server_id(),
            filename: String::from_utf8_lossy(c.filename_raw()).into_owned(),
        })
    }

    /// True if the dump ends with EOF once caught up.
    pub fn non_blocking(&self) -> bool {
        self.flags & BINLOG_DUMP_NON_BLOCK != 0
    }
}

/// One source id of a MySQL GTID set in COM_BINLOG_DUMP_GTID: uuid and half-open gno intervals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GtidSid {
    /// Server UUID.
    pub uuid: [u8; 16],
    /// `[start, end)` intervals of transaction numbers already executed.
    pub intervals: Vec<(u64, u64)>,
}

/// COM_BINLOG_DUMP_GTID (MySQL): stream the binlog from a GTID set (or a file and position).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinlogDumpGtid {
    /// Flags (`BINLOG_DUMP_NON_BLOCK`, `BINLOG_THROUGH_GTID`, ...).
    pub flags: u16,
    /// The replica's server id.
    pub server_id: u32,
    /// Binlog file name (may be empty).
    pub filename: String,
    /// Position in the file.
    pub pos: u64,
    /// The GTID set the replica already has.
    pub sids: Vec<GtidSid>,
}

/// A little-endian reader over a byte slice that fails (never panics) on truncation.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(malformed_packet());
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(self.take(2)?.get_u16_le())
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(self.take(4)?.get_u32_le())
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(self.take(8)?.get_u64_le())
    }
}

impl BinlogDumpGtid {
    /// Parses a whole COM_BINLOG_DUMP_GTID payload (including the 0x1e command byte).
    pub fn parse(payload: &[u8]) -> Result<BinlogDumpGtid> {
        let mut r = Reader(payload);
        r.take(1)?;
        let flags = r.u16()?;
        let server_id = r.u32()?;
        let name_len = r.u32()? as usize;
        let filename = String::from_utf8_lossy(r.take(name_len)?).into_owned();
        let pos = r.u64()?;
        let mut sids = Vec::new();
        if flags & BINLOG_THROUGH_GTID != 0 {
            let data_len = r.u32()? as usize;
            let mut d = Reader(r.take(data_len)?);
            let n_sids = d.u64()?;
            for _ in 0..n_sids {
                let mut uuid = [0u8; 16];
                uuid.copy_from_slice(d.take(16)?);
                let n_intervals = d.u64()?;
                // Each interval is 16 bytes: refuse counts the payload cannot hold before allocating.
                if n_intervals > (d.0.len() / 16) as u64 {
                    return Err(malformed_packet());
                }
                let mut intervals = Vec::with_capacity(n_intervals as usize);
                for _ in 0..n_intervals {
                    intervals.push((d.u64()?, d.u64()?));
                }
                sids.push(GtidSid { uuid, intervals });
            }
        }
        Ok(BinlogDumpGtid { flags, server_id, filename, pos, sids })
    }
}

/// Sends one binlog event of a dump: a packet `0x00 | event` (event = header + body + CRC as stored).
/// Buffered like every write: call [`PacketConn::flush`] when the stream has caught up.
pub async fn write_binlog_event<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut PacketConn<S>,
    event: &[u8],
) -> Result<()> {
    conn.write_packet_buf((&[0u8][..]).chain(event)).await
}

/// Ends a non-blocking dump that has caught up: EOF `fe 00 00 02 00`.
pub async fn write_binlog_eof<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut PacketConn<S>,
) -> Result<()> {
    write_eof(conn, 0, SERVER_STATUS_AUTOCOMMIT).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_replica_register_slave() {
        let bytes = b"\x15\x02\x00\x00\x00\x00\x00\x00\x3a\x81\x00\x00\x00\x00\x00\x00\x00\x00";
        let r = RegisterSlave::parse(bytes).unwrap();
        assert_eq!(r.server_id, 2);
        assert_eq!(r.port, 33082);
        assert!(RegisterSlave::parse(&bytes[..10]).is_err());
    }

    #[test]
    fn mariadb_replica_binlog_dump() {
        let mut bytes = b"\x12\x04\x00\x00\x00\x00\x00\x02\x00\x00\x00".to_vec();
        bytes.extend_from_slice(b"primary-bin.000002");
        let d = BinlogDump::parse(&bytes).unwrap();
        assert_eq!(
            d,
            BinlogDump { pos: 4, flags: 0, server_id: 2, filename: "primary-bin.000002".into() }
        );
        assert!(BinlogDump::parse(&bytes[..9]).is_err());
    }

    #[test]
    fn binlog_dump_gtid_with_sids() {
        let mut b = vec![0x1e];
        b.extend_from_slice(&(BINLOG_THROUGH_GTID | 1).to_le_bytes());
        b.extend_from_slice(&9u32.to_le_bytes());
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(b"bin");
        b.extend_from_slice(&4u64.to_le_bytes());
        let mut data = 1u64.to_le_bytes().to_vec();
        data.extend_from_slice(&[7u8; 16]);
        data.extend_from_slice(&1u64.to_le_bytes());
        data.extend_from_slice(&1u64.to_le_bytes());
        data.extend_from_slice(&5u64.to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&data);
        let d = BinlogDumpGtid::parse(&b).unwrap();
        assert_eq!(d.server_id, 9);
        assert_eq!(d.filename, "bin");
        assert_eq!(d.sids, vec![GtidSid { uuid: [7; 16], intervals: vec![(1, 5)] }]);
        for cut in 0..b.len() {
            assert!(BinlogDumpGtid::parse(&b[..cut]).is_err());
        }
        // A huge SID count must be refused, not allocated.
        let mut evil = b.clone();
        let at = evil.len() - data.len();
        evil[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(BinlogDumpGtid::parse(&evil).is_err());
    }
}
