//! Binlog v4 event codec (MariaDB flavour): header, bodies, CRC32.
//!
//! An event on disk is a 19-byte [`EventHeader`], a type-specific body and a CRC32 trailer (zlib
//! polynomial, little endian) over header and body. The CRC of a FORMAT_DESCRIPTION event is computed
//! with the BINLOG_IN_USE flag cleared, so that a writer can set and clear that flag in place.
//!
//! Invariants of this codec:
//! * `Event::decode(bytes)?.encode() == bytes` for every event MariaDB writes: fields that we do not model
//!   (status variables after the last known one, GTID extensions, user-variable extensions) are kept raw
//!   and written back unchanged; event types we do not know decode as [`EventBody::Unknown`].
//! * Decoding never panics: truncated or inconsistent bytes give [`Error::InvalidData`] naming the event
//!   type and the field. Callers that know where the event came from add `file:offset` to the message.
//! * `encode` computes `event_size` and the CRC itself; `log_pos`, timestamp, server id and flags are
//!   written as given in the header.

use crate::error::{Error, Result};
use crate::log::gtid::Gtid;

/// Size of the v4 event header.
pub const HEADER_LEN: usize = 19;
/// Size of the CRC32 trailer.
pub const CRC_LEN: usize = 4;
/// The four bytes every binlog and relay log file starts with.
pub const BINLOG_MAGIC: [u8; 4] = [0xfe, b'b', b'i', b'n'];

/// Event type codes used by repld (MySQL v4 numbering, MariaDB types from 160).
pub mod types {
    /// QUERY_EVENT: a statement with its session context.
    pub const QUERY: u8 = 2;
    /// STOP_EVENT: the server stopped cleanly.
    pub const STOP: u8 = 3;
    /// ROTATE_EVENT: the log continues in another file.
    pub const ROTATE: u8 = 4;
    /// INTVAR_EVENT: LAST_INSERT_ID / INSERT_ID for the next statement.
    pub const INTVAR: u8 = 5;
    /// RAND_EVENT: RAND() seeds for the next statement.
    pub const RAND: u8 = 13;
    /// USER_VAR_EVENT: the value of a @user variable read by the next statement.
    pub const USER_VAR: u8 = 14;
    /// FORMAT_DESCRIPTION_EVENT: first event of every file.
    pub const FORMAT_DESCRIPTION: u8 = 15;
    /// XID_EVENT: commits the open transaction.
    pub const XID: u8 = 16;
    /// HEARTBEAT_LOG_EVENT: stream-only keepalive.
    pub const HEARTBEAT: u8 = 27;
    /// MariaDB ANNOTATE_ROWS_EVENT (passed through opaque).
    pub const ANNOTATE_ROWS: u8 = 160;
    /// MariaDB BINLOG_CHECKPOINT_EVENT.
    pub const BINLOG_CHECKPOINT: u8 = 161;
    /// MariaDB GTID_EVENT: starts an event group.
    pub const GTID: u8 = 162;
    /// MariaDB GTID_LIST_EVENT: the GTID state before the file.
    pub const GTID_LIST: u8 = 163;
}

/// Event header flags.
pub mod flags {
    /// FORMAT_DESCRIPTION only: the file is open for writing (not excluded from the CRC).
    pub const BINLOG_IN_USE: u16 = 0x0001;
    /// The statement uses thread-specific (temporary) objects.
    pub const THREAD_SPECIFIC: u16 = 0x0004;
    /// Do not emit `use db` for this QUERY.
    pub const SUPPRESS_USE: u16 = 0x0008;
    /// Artificial, stream-only event (fake ROTATE).
    pub const ARTIFICIAL: u16 = 0x0020;
    /// Event written by a replica into its relay log.
    pub const RELAY_LOG: u16 = 0x0040;
}

/// MariaDB GTID event `flags2` bits.
pub mod gtid_flags {
    /// The group is a single statement without BEGIN/COMMIT (DDL, non-transactional).
    pub const STANDALONE: u8 = 0x01;
    /// A commit id follows (group commit).
    pub const GROUP_COMMIT_ID: u8 = 0x02;
    /// The group is transactional (ends with XID or COMMIT).
    pub const TRANSACTIONAL: u8 = 0x04;
    /// The group may be applied in parallel.
    pub const ALLOW_PARALLEL: u8 = 0x08;
    /// The group waited for a lock (optimistic parallel replication hint).
    pub const WAITED: u8 = 0x10;
    /// The group is DDL.
    pub const DDL: u8 = 0x20;
    /// flags2 MariaDB writes for a DDL statement.
    pub const FOR_DDL: u8 = STANDALONE | ALLOW_PARALLEL | DDL;
    /// flags2 MariaDB writes for an InnoDB transaction.
    pub const FOR_DML: u8 = TRANSACTIONAL | ALLOW_PARALLEL;
}

/// INTVAR subtypes.
pub mod intvar {
    /// LAST_INSERT_ID() as seen by the next statement.
    pub const LAST_INSERT_ID: u8 = 1;
    /// First auto-increment value the next statement uses.
    pub const INSERT_ID: u8 = 2;
}

/// The post-header length table of a MariaDB 10.11 FORMAT_DESCRIPTION event (171 event types; index
/// `type_code - 1`).
pub const MARIADB_POST_HEADER_LENGTHS: [u8; 171] = {
    let mut t = [0u8; 171];
    let entries: [(usize, u8); 33] = [
        (1, 56),
        (2, 13),
        (4, 8),
        (6, 18),
        (8, 4),
        (9, 4),
        (10, 4),
        (11, 4),
        (12, 18),
        (15, 228),
        (17, 4),
        (18, 26),
        (19, 8),
        (23, 8),
        (24, 8),
        (25, 8),
        (26, 2),
        (30, 10),
        (31, 10),
        (32, 10),
        (39, 10),
        (40, 10),
        (41, 10),
        (161, 4),
        (162, 19),
        (163, 4),
        (165, 13),
        (166, 8),
        (167, 8),
        (168, 8),
        (169, 10),
        (170, 10),
        (171, 10),
    ];
    let mut i = 0;
    while i < entries.len() {
        t[entries[i].0 - 1] = entries[i].1;
        i += 1;
    }
    t
};

/// Checksum algorithm byte of a FORMAT_DESCRIPTION event: CRC32.
pub const CHECKSUM_CRC32: u8 = 1;
/// Checksum algorithm byte of a FORMAT_DESCRIPTION event: no checksums.
pub const CHECKSUM_OFF: u8 = 0;

/// The 19-byte header of every event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct EventHeader {
    /// Seconds since the epoch; the statement's "now" (replayed as `SET TIMESTAMP`).
    pub timestamp: u32,
    /// Event type, see [`types`].
    pub type_code: u8,
    /// Server that originated the event.
    pub server_id: u32,
    /// Header + body + CRC length (recomputed by [`Event::encode`]).
    pub event_size: u32,
    /// In a binlog: file offset just past this event. In a relay log: the primary's value.
    pub log_pos: u32,
    /// Header flags, see [`flags`].
    pub flags: u16,
}

impl EventHeader {
    /// Parses the first 19 bytes of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<EventHeader> {
        match bytes.first_chunk::<HEADER_LEN>() {
            Some(header) => Ok(EventHeader::from_array(header)),
            None => Err(Error::InvalidData(format!(
                "event header truncated: {} of {HEADER_LEN} bytes",
                bytes.len()
            ))),
        }
    }

    /// Parses the 19 header bytes (infallible: every 19 bytes are a header, valid or not).
    #[inline]
    pub fn from_array(b: &[u8; HEADER_LEN]) -> EventHeader {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        EventHeader {
            timestamp: u32_at(0),
            type_code: b[4],
            server_id: u32_at(5),
            event_size: u32_at(9),
            log_pos: u32_at(13),
            flags: u16::from_le_bytes([b[17], b[18]]),
        }
    }

    /// Appends the 19 header bytes to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp.to_le_bytes());
        out.push(self.type_code);
        out.extend_from_slice(&self.server_id.to_le_bytes());
        out.extend_from_slice(&self.event_size.to_le_bytes());
        out.extend_from_slice(&self.log_pos.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
    }
}

/// The character sets of a QUERY's session (status variable Q_CHARSET).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryCharset {
    /// character_set_client (a collation id).
    pub client: u16,
    /// collation_connection.
    pub connection: u16,
    /// collation_server.
    pub server: u16,
}

/// The status variables of a QUERY event that repld models, in the order MariaDB writes them, plus the
/// raw bytes of everything from the first variable it does not model (written back unchanged).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct QueryStatus {
    /// Q_FLAGS2 (0): OPTION_AUTO_IS_NULL 0x4000, NOT_AUTOCOMMIT 0x80000, NO_FOREIGN_KEY_CHECKS 0x4000000,
    /// RELAXED_UNIQUE_CHECKS 0x8000000.
    pub flags2: Option<u32>,
    /// Q_SQL_MODE (1).
    pub sql_mode: Option<u64>,
    /// Q_CATALOG_NZ (6), normally `std`.
    pub catalog: Option<String>,
    /// Q_AUTO_INCREMENT (3): (auto_increment_increment, auto_increment_offset).
    pub auto_increment: Option<(u16, u16)>,
    /// Q_CHARSET (4).
    pub charset: Option<QueryCharset>,
    /// Q_TIME_ZONE (5), e.g. `+00:00` or `SYSTEM`.
    pub time_zone: Option<String>,
    /// Q_LC_TIME_NAMES (7).
    pub lc_time_names: Option<u16>,
    /// Q_CHARSET_DATABASE (8).
    pub charset_database: Option<u16>,
    /// Q_HRNOW (128): microseconds part of the statement's "now".
    pub hrnow_us: Option<u32>,
    /// Q_XID (129): MariaDB writes it on DDL.
    pub xid: Option<u64>,
    /// Raw status-variable bytes from the first variable not modelled above (or out of order).
    pub unknown: Vec<u8>,
}

const Q_FLAGS2: u8 = 0;
const Q_SQL_MODE: u8 = 1;
const Q_AUTO_INCREMENT: u8 = 3;
const Q_CHARSET: u8 = 4;
const Q_TIME_ZONE: u8 = 5;
const Q_CATALOG_NZ: u8 = 6;
const Q_LC_TIME_NAMES: u8 = 7;
const Q_CHARSET_DATABASE: u8 = 8;
const Q_HRNOW: u8 = 128;
const Q_XID: u8 = 129;

/// Status variables in the order MariaDB writes them; a variable out of this order ends typed parsing.
const STATUS_ORDER: [u8; 10] = [
    Q_FLAGS2,
    Q_SQL_MODE,
    Q_CATALOG_NZ,
    Q_AUTO_INCREMENT,
    Q_CHARSET,
    Q_TIME_ZONE,
    Q_LC_TIME_NAMES,
    Q_CHARSET_DATABASE,
    Q_HRNOW,
    Q_XID,
];

impl QueryStatus {
    /// The status variables repld's primary writes for every statement: autocommit with foreign-key and
    /// unique checks on, MariaDB 10.11's default sql_mode, catalog `std`, utf8mb4_general_ci (45)
    /// everywhere and time zone `+00:00`.
    pub fn standard() -> Self {
        QueryStatus {
            flags2: Some(0),
            sql_mode: Some(0x5420_0000),
            catalog: Some("std".into()),
            charset: Some(QueryCharset { client: 45, connection: 45, server: 45 }),
            time_zone: Some("+00:00".into()),
            ..Default::default()
        }
    }

    fn decode(bytes: &[u8]) -> Result<QueryStatus> {
        let mut s = QueryStatus::default();
        let mut r = Reader::new(bytes, "Query status variables");
        let mut next_rank = 0;
        while !r.is_empty() {
            let code = r.peek_u8()?;
            let rank = STATUS_ORDER.iter().position(|&c| c == code);
            let Some(rank) = rank.filter(|&rank| rank >= next_rank) else {
                s.unknown = r.rest().to_vec();
                break;
            };
            next_rank = rank + 1;
            r.u8()?;
            match code {
                Q_FLAGS2 => s.flags2 = Some(r.u32()?),
                Q_SQL_MODE => s.sql_mode = Some(r.u64()?),
                Q_CATALOG_NZ => s.catalog = Some(r.string_u8()?),
                Q_AUTO_INCREMENT => s.auto_increment = Some((r.u16()?, r.u16()?)),
                Q_CHARSET => {
                    s.charset = Some(QueryCharset {
                        client: r.u16()?,
                        connection: r.u16()?,
                        server: r.u16()?,
                    })
                }
                Q_TIME_ZONE => s.time_zone = Some(r.string_u8()?),
                Q_LC_TIME_NAMES => s.lc_time_names = Some(r.u16()?),
                Q_CHARSET_DATABASE => s.charset_database = Some(r.u16()?),
                Q_HRNOW => s.hrnow_us = Some(r.u24()?),
                Q_XID => s.xid = Some(r.u64()?),
                _ => unreachable!("code is in STATUS_ORDER"),
            }
        }
        Ok(s)
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        if let Some(v) = self.flags2 {
            out.push(Q_FLAGS2);
            out.extend_from_slice(&v.to_le_bytes());
        }
        if let Some(v) = self.sql_mode {
            out.push(Q_SQL_MODE);
            out.extend_from_slice(&v.to_le_bytes());
        }
        if let Some(v) = &self.catalog {
            out.push(Q_CATALOG_NZ);
            put_string_u8(out, v);
        }
        if let Some((inc, off)) = self.auto_increment {
            out.push(Q_AUTO_INCREMENT);
            out.extend_from_slice(&inc.to_le_bytes());
            out.extend_from_slice(&off.to_le_bytes());
        }
        if let Some(c) = self.charset {
            out.push(Q_CHARSET);
            for v in [c.client, c.connection, c.server] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        if let Some(v) = &self.time_zone {
            out.push(Q_TIME_ZONE);
            put_string_u8(out, v);
        }
        if let Some(v) = self.lc_time_names {
            out.push(Q_LC_TIME_NAMES);
            out.extend_from_slice(&v.to_le_bytes());
        }
        if let Some(v) = self.charset_database {
            out.push(Q_CHARSET_DATABASE);
            out.extend_from_slice(&v.to_le_bytes());
        }
        if let Some(v) = self.hrnow_us {
            out.push(Q_HRNOW);
            out.extend_from_slice(&v.to_le_bytes()[..3]);
        }
        if let Some(v) = self.xid {
            out.push(Q_XID);
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.unknown);
    }

    fn validate(&self) -> Result<()> {
        for (what, s) in [("catalog", &self.catalog), ("time zone", &self.time_zone)] {
            if s.as_ref().is_some_and(|s| s.len() > 255) {
                return Err(Error::InvalidInput(format!(
                    "query status {what} longer than 255 bytes"
                )));
            }
        }
        if self.hrnow_us.is_some_and(|us| us >= 1 << 24) {
            return Err(Error::InvalidInput("query status hrnow_us does not fit 3 bytes".into()));
        }
        Ok(())
    }
}

/// The value of a USER_VAR event.
#[derive(Clone, Debug, PartialEq)]
pub enum UserVarValue {
    /// The variable is NULL.
    Null,
    /// A string in the event's charset (type 0).
    String(Vec<u8>),
    /// A double (type 1).
    Real(f64),
    /// An integer (type 2), unsigned when the flags byte has bit 1.
    Int {
        /// The value's 64 bits (reinterpret as u64 when `unsigned`).
        value: i64,
        /// UNSIGNED flag.
        unsigned: bool,
    },
    /// A DECIMAL (type 4) in MySQL's binary decimal format.
    Decimal {
        /// Total digits.
        precision: u8,
        /// Digits after the point.
        scale: u8,
        /// decimal2bin bytes.
        bytes: Vec<u8>,
    },
}

impl UserVarValue {
    fn type_code(&self) -> u8 {
        match self {
            UserVarValue::Null | UserVarValue::String(_) => 0,
            UserVarValue::Real(_) => 1,
            UserVarValue::Int { .. } => 2,
            UserVarValue::Decimal { .. } => 4,
        }
    }
}

/// A decoded event body. Struct fields follow the on-disk layout (see the reference's §1).
#[derive(Clone, Debug, PartialEq)]
pub enum EventBody {
    /// FORMAT_DESCRIPTION (15): describes the file's format; always the first event.
    FormatDescription {
        /// Always 4.
        binlog_version: u16,
        /// Server version (at most 50 bytes, NUL-padded on disk).
        server_version: String,
        /// Non-zero only in the first file after a server start.
        create_timestamp: u32,
        /// Always 19.
        header_len: u8,
        /// Post-header length per event type (index = type - 1).
        post_header_lengths: Vec<u8>,
        /// [`CHECKSUM_CRC32`] or [`CHECKSUM_OFF`].
        checksum_alg: u8,
    },
    /// QUERY (2): a statement and its session context.
    Query {
        /// Session (connection) id of the statement.
        thread_id: u32,
        /// Seconds the statement took.
        exec_time: u32,
        /// Error code the statement ended with on the primary (0 = success).
        error_code: u16,
        /// Default database (`use db`); empty for none.
        db: String,
        /// Status variables.
        status: QueryStatus,
        /// The statement text (bytes: may hold binary literals).
        sql: Vec<u8>,
    },
    /// XID (16): commits the transaction with this xid.
    Xid(u64),
    /// ROTATE (4): the log continues at `position` of `next_file`.
    Rotate {
        /// Offset in the next file (4).
        position: u64,
        /// Name of the next file.
        next_file: String,
    },
    /// STOP (3): clean server shutdown.
    Stop,
    /// INTVAR (5): [`intvar::LAST_INSERT_ID`] or [`intvar::INSERT_ID`] for the next statement.
    Intvar {
        /// Subtype, see [`intvar`].
        kind: u8,
        /// The id.
        value: u64,
    },
    /// RAND (13): seeds of RAND() for the next statement.
    Rand {
        /// First seed.
        seed1: u64,
        /// Second seed.
        seed2: u64,
    },
    /// USER_VAR (14): a @variable the next statement reads.
    UserVar {
        /// Variable name without `@`.
        name: String,
        /// The value.
        value: UserVarValue,
        /// Collation id of the value (strings; written for every non-NULL value).
        charset: u32,
        /// The trailing flags byte when present (bit 1 = unsigned); `None` when the event has none.
        flags: Option<u8>,
        /// Raw bytes after the flags byte (newer MariaDB extensions), written back unchanged.
        extra: Vec<u8>,
    },
    /// GTID (162): starts an event group.
    Gtid {
        /// Sequence number.
        seq_no: u64,
        /// Replication domain.
        domain_id: u32,
        /// See [`gtid_flags`].
        flags2: u8,
        /// Group commit id; only written when `flags2` has [`gtid_flags::GROUP_COMMIT_ID`].
        commit_id: u64,
        /// Raw bytes after the fixed part (XA ids, extra flags), written back unchanged.
        extra: Vec<u8>,
    },
    /// GTID_LIST (163): the GTID state before this file.
    GtidList(Vec<Gtid>),
    /// BINLOG_CHECKPOINT (161): oldest file crash recovery may need.
    BinlogCheckpoint(String),
    /// HEARTBEAT (27): stream-only; the primary's current file name.
    Heartbeat(String),
    /// Any other event type: the raw body (without header and CRC).
    Unknown(Vec<u8>),
}

impl EventBody {
    /// A MariaDB 10.11 style FORMAT_DESCRIPTION with CRC32 checksums.
    pub fn format_description(server_version: &str, create_timestamp: u32) -> EventBody {
        EventBody::FormatDescription {
            binlog_version: 4,
            server_version: server_version.to_string(),
            create_timestamp,
            header_len: HEADER_LEN as u8,
            post_header_lengths: MARIADB_POST_HEADER_LENGTHS.to_vec(),
            checksum_alg: CHECKSUM_CRC32,
        }
    }

    /// A QUERY with thread id, default database, status variables and text; exec_time and error 0.
    pub fn query(thread_id: u32, db: &str, status: QueryStatus, sql: &str) -> EventBody {
        EventBody::Query {
            thread_id,
            exec_time: 0,
            error_code: 0,
            db: db.to_string(),
            status,
            sql: sql.as_bytes().to_vec(),
        }
    }

    /// The type code of this body; `None` for [`EventBody::Unknown`] (the header says).
    pub fn type_code(&self) -> Option<u8> {
        Some(match self {
            EventBody::FormatDescription { .. } => types::FORMAT_DESCRIPTION,
            EventBody::Query { .. } => types::QUERY,
            EventBody::Xid(_) => types::XID,
            EventBody::Rotate { .. } => types::ROTATE,
            EventBody::Stop => types::STOP,
            EventBody::Intvar { .. } => types::INTVAR,
            EventBody::Rand { .. } => types::RAND,
            EventBody::UserVar { .. } => types::USER_VAR,
            EventBody::Gtid { .. } => types::GTID,
            EventBody::GtidList(_) => types::GTID_LIST,
            EventBody::BinlogCheckpoint(_) => types::BINLOG_CHECKPOINT,
            EventBody::Heartbeat(_) => types::HEARTBEAT,
            EventBody::Unknown(_) => return None,
        })
    }

    /// Checks that the body can be encoded faithfully (lengths fit their length fields).
    pub fn validate(&self) -> Result<()> {
        let too_long = |what: &str, max: usize| {
            Err(Error::InvalidInput(format!("{what} longer than {max} bytes")))
        };
        match self {
            EventBody::FormatDescription { server_version, .. } if server_version.len() > 50 => {
                too_long("server version", 50)
            }
            EventBody::Query { db, status, .. } => {
                if db.len() > 255 {
                    return too_long("query database name", 255);
                }
                status.validate()
            }
            _ => Ok(()),
        }
    }

    /// Decodes a body of type `type_code` (bytes between header and CRC).
    pub fn decode(type_code: u8, body: &[u8]) -> Result<EventBody> {
        match type_code {
            types::FORMAT_DESCRIPTION => decode_fde(body),
            types::QUERY => decode_query(body),
            types::XID => {
                let mut r = Reader::new(body, "Xid");
                let xid = r.u64()?;
                r.end()?;
                Ok(EventBody::Xid(xid))
            }
            types::ROTATE => {
                let mut r = Reader::new(body, "Rotate");
                let position = r.u64()?;
                Ok(EventBody::Rotate { position, next_file: r.string_rest()? })
            }
            types::STOP => {
                Reader::new(body, "Stop").end()?;
                Ok(EventBody::Stop)
            }
            types::INTVAR => {
                let mut r = Reader::new(body, "Intvar");
                let (kind, value) = (r.u8()?, r.u64()?);
                r.end()?;
                Ok(EventBody::Intvar { kind, value })
            }
            types::RAND => {
                let mut r = Reader::new(body, "Rand");
                let (seed1, seed2) = (r.u64()?, r.u64()?);
                r.end()?;
                Ok(EventBody::Rand { seed1, seed2 })
            }
            types::USER_VAR => decode_user_var(body),
            types::GTID => decode_gtid(body),
            types::GTID_LIST => decode_gtid_list(body),
            types::BINLOG_CHECKPOINT => {
                let mut r = Reader::new(body, "Binlog checkpoint");
                let len = r.u32()? as usize;
                let name = r.string(len)?;
                r.end()?;
                Ok(EventBody::BinlogCheckpoint(name))
            }
            types::HEARTBEAT => {
                Ok(EventBody::Heartbeat(Reader::new(body, "Heartbeat").string_rest()?))
            }
            _ => Ok(EventBody::Unknown(body.to_vec())),
        }
    }

    /// Appends the encoded body (no header, no CRC) to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            EventBody::FormatDescription {
                binlog_version,
                server_version,
                create_timestamp,
                header_len,
                post_header_lengths,
                checksum_alg,
            } => {
                out.extend_from_slice(&binlog_version.to_le_bytes());
                let mut version = [0u8; 50];
                let n = server_version.len().min(50);
                version[..n].copy_from_slice(&server_version.as_bytes()[..n]);
                out.extend_from_slice(&version);
                out.extend_from_slice(&create_timestamp.to_le_bytes());
                out.push(*header_len);
                out.extend_from_slice(post_header_lengths);
                out.push(*checksum_alg);
            }
            EventBody::Query { thread_id, exec_time, error_code, db, status, sql } => {
                out.extend_from_slice(&thread_id.to_le_bytes());
                out.extend_from_slice(&exec_time.to_le_bytes());
                out.push(db.len().min(255) as u8);
                out.extend_from_slice(&error_code.to_le_bytes());
                let len_at = out.len();
                out.extend_from_slice(&[0, 0]);
                status.encode_into(out);
                let status_len = (out.len() - len_at - 2) as u16;
                out[len_at..len_at + 2].copy_from_slice(&status_len.to_le_bytes());
                out.extend_from_slice(&db.as_bytes()[..db.len().min(255)]);
                out.push(0);
                out.extend_from_slice(sql);
            }
            EventBody::Xid(xid) => out.extend_from_slice(&xid.to_le_bytes()),
            EventBody::Rotate { position, next_file } => {
                out.extend_from_slice(&position.to_le_bytes());
                out.extend_from_slice(next_file.as_bytes());
            }
            EventBody::Stop => {}
            EventBody::Intvar { kind, value } => {
                out.push(*kind);
                out.extend_from_slice(&value.to_le_bytes());
            }
            EventBody::Rand { seed1, seed2 } => {
                out.extend_from_slice(&seed1.to_le_bytes());
                out.extend_from_slice(&seed2.to_le_bytes());
            }
            EventBody::UserVar { name, value, charset, flags, extra } => {
                encode_user_var(out, name, value, *charset, *flags, extra)
            }
            EventBody::Gtid { seq_no, domain_id, flags2, commit_id, extra } => {
                out.extend_from_slice(&seq_no.to_le_bytes());
                out.extend_from_slice(&domain_id.to_le_bytes());
                out.push(*flags2);
                if flags2 & gtid_flags::GROUP_COMMIT_ID != 0 {
                    out.extend_from_slice(&commit_id.to_le_bytes());
                } else if extra.is_empty() {
                    out.extend_from_slice(&[0; 6]);
                }
                out.extend_from_slice(extra);
            }
            EventBody::GtidList(list) => {
                out.extend_from_slice(&(list.len() as u32 & 0x0fff_ffff).to_le_bytes());
                if list.is_empty() {
                    out.extend_from_slice(&[0, 0]);
                }
                for g in list {
                    out.extend_from_slice(&g.domain_id.to_le_bytes());
                    out.extend_from_slice(&g.server_id.to_le_bytes());
                    out.extend_from_slice(&g.seq_no.to_le_bytes());
                }
            }
            EventBody::BinlogCheckpoint(name) => {
                out.extend_from_slice(&(name.len() as u32).to_le_bytes());
                out.extend_from_slice(name.as_bytes());
            }
            EventBody::Heartbeat(name) => out.extend_from_slice(name.as_bytes()),
            EventBody::Unknown(raw) => out.extend_from_slice(raw),
        }
    }
}

/// One event: header and decoded body.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The header as read (or to be written; `event_size` is recomputed by [`Event::encode`]).
    pub header: EventHeader,
    /// The decoded body.
    pub body: EventBody,
}

impl Event {
    /// An event with the given header fields; `type_code` comes from the body (use
    /// [`Event::with_type`] for [`EventBody::Unknown`]).
    pub fn new(timestamp: u32, server_id: u32, log_pos: u32, flags: u16, body: EventBody) -> Event {
        let type_code = body.type_code().unwrap_or(0);
        Event {
            header: EventHeader { timestamp, type_code, server_id, event_size: 0, log_pos, flags },
            body,
        }
    }

    /// Sets the header's type code (needed for [`EventBody::Unknown`] only).
    pub fn with_type(mut self, type_code: u8) -> Event {
        self.header.type_code = type_code;
        self
    }

    /// Decodes one whole event (header, body, CRC32) and verifies its checksum.
    pub fn decode(bytes: &[u8]) -> Result<Event> {
        Self::decode_with(bytes, true)
    }

    /// Decodes one whole event; `checksum` says whether events carry a CRC32 trailer (as the file's
    /// FORMAT_DESCRIPTION says). A FORMAT_DESCRIPTION always has the trailer and is verified when its own
    /// algorithm byte says CRC32.
    pub fn decode_with(bytes: &[u8], checksum: bool) -> Result<Event> {
        Self::decode_checked(bytes, checksum, true)
    }

    /// Decodes one whole event that carries a CRC32 trailer already verified (by
    /// [`verify_crc_batch`]): as [`Event::decode_with`] with `checksum`, without computing the CRC
    /// again.
    pub fn decode_crc_verified(bytes: &[u8]) -> Result<Event> {
        Self::decode_checked(bytes, true, false)
    }

    fn decode_checked(bytes: &[u8], checksum: bool, verify_crc: bool) -> Result<Event> {
        let header = EventHeader::decode(bytes)?;
        let name = type_name(header.type_code);
        if header.event_size as usize != bytes.len() {
            return Err(Error::InvalidData(format!(
                "{name} event: event_size {} but {} bytes given",
                header.event_size,
                bytes.len()
            )));
        }
        let is_fde = header.type_code == types::FORMAT_DESCRIPTION;
        let has_crc = checksum || is_fde;
        if bytes.len() < HEADER_LEN + if has_crc { CRC_LEN } else { 0 } {
            return Err(Error::InvalidData(format!(
                "{name} event: event_size {} too small",
                bytes.len()
            )));
        }
        let end = bytes.len() - if has_crc { CRC_LEN } else { 0 };
        let body = EventBody::decode(header.type_code, &bytes[HEADER_LEN..end])
            .map_err(|e| Error::InvalidData(format!("{name} event: {}", error_text(&e))))?;
        let verify = match &body {
            EventBody::FormatDescription { checksum_alg, .. } => *checksum_alg == CHECKSUM_CRC32,
            _ => checksum,
        };
        if verify && verify_crc {
            let stored = le_u32(&bytes[end..]);
            let computed = compute_crc(&bytes[..end], is_fde);
            if stored != computed {
                return Err(Error::InvalidData(format!(
                    "{name} event: CRC32 mismatch (stored {stored:#010x}, computed {computed:#010x})"
                )));
            }
        }
        Ok(Event { header, body })
    }

    /// Checks one whole event's framing and CRC32 (when `checksum`) without decoding its body, and
    /// returns its header: the fast path for readers that forward events verbatim (the binlog dump).
    /// A FORMAT_DESCRIPTION must go through [`Event::decode_with`] (its body says whether events
    /// carry a CRC); this returns an error for one.
    pub fn verify_frame(bytes: &[u8], checksum: bool) -> Result<EventHeader> {
        let crc_len = if checksum { CRC_LEN } else { 0 };
        if bytes.len() < HEADER_LEN + crc_len {
            return Err(frame_error(bytes, checksum));
        }
        let header = EventHeader::decode(bytes)?;
        if header.type_code == types::FORMAT_DESCRIPTION
            || header.event_size as usize != bytes.len()
        {
            return Err(frame_error(bytes, checksum));
        }
        if checksum {
            let end = bytes.len() - CRC_LEN;
            let stored = le_u32(&bytes[end..]);
            if stored != crc32(&bytes[..end]) {
                return Err(frame_error(bytes, checksum));
            }
        }
        Ok(header)
    }

    /// Encodes header, body and CRC32; `event_size` is computed from the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.encode_into(&mut out);
        out
    }

    /// Appends the encoded event (header, body, CRC32) to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let mut header = self.header;
        header.type_code = self.body.type_code().unwrap_or(header.type_code);
        header.encode_into(out);
        self.body.encode_into(out);
        let size = (out.len() - start + CRC_LEN) as u32;
        out[start + 9..start + 13].copy_from_slice(&size.to_le_bytes());
        let crc = compute_crc(&out[start..], header.type_code == types::FORMAT_DESCRIPTION);
        out.extend_from_slice(&crc.to_le_bytes());
    }
}

/// Why [`Event::verify_frame`] rejects `bytes` (off the hot path).
#[cold]
#[inline(never)]
fn frame_error(bytes: &[u8], checksum: bool) -> Error {
    let header = match EventHeader::decode(bytes) {
        Ok(h) => h,
        Err(e) => return e,
    };
    let name = type_name(header.type_code);
    if header.type_code == types::FORMAT_DESCRIPTION {
        return Error::InvalidInput("verify_frame: FORMAT_DESCRIPTION needs decode".into());
    }
    if header.event_size as usize != bytes.len()
        || bytes.len() < HEADER_LEN + if checksum { CRC_LEN } else { 0 }
    {
        return Error::InvalidData(format!(
            "{name} event: event_size {} but {} bytes given",
            header.event_size,
            bytes.len()
        ));
    }
    let end = bytes.len() - CRC_LEN;
    let stored = le_u32(&bytes[end..]);
    let computed = crc32(&bytes[..end]);
    Error::InvalidData(format!(
        "{name} event: CRC32 mismatch (stored {stored:#010x}, computed {computed:#010x})"
    ))
}

/// CRC32 of `bytes`, with the CPU's fastest implementation chosen once.
fn crc32(bytes: &[u8]) -> u32 {
    static HASHER: std::sync::OnceLock<crc32fast::Hasher> = std::sync::OnceLock::new();
    let mut h = HASHER.get_or_init(crc32fast::Hasher::new).clone();
    h.update(bytes);
    h.finalize()
}

/// Checks the CRC32 trailers of the whole events at the start of `buf` in one pass over their bytes,
/// instead of one CRC computation per event (which on events of ~70 bytes runs at a fifth of the
/// speed crc32fast reaches on long inputs). Returns how many bytes of `buf` it framed and whether
/// every framed event's CRC32 matched (an empty batch matches). Framing stops before a
/// FORMAT_DESCRIPTION (its CRC rule differs), before an event too short to hold a header and a CRC32,
/// and before an event not wholly in `buf`. `buf` is changed during the call and restored.
///
/// Why one pass suffices: let `R(s, M)` be the CRC-32 shift register (reflected, no final xor) after
/// feeding `M` from state `s`. An event `E = D || c` is valid iff `c = !R(!0, D)` (little-endian),
/// iff `R(0, E') = 0` where `E'` is `E` with its first 4 bytes and its last 4 bytes inverted:
/// inverting the first 4 bytes is the same as starting from `!0`, and feeding the register's own
/// value (here `!c`, so the inverted trailer) clears it. `R` is linear in its state and message:
/// `R(0, A || B) = R(0, A)·x^|B| + R(0, B)` (mod P), so over the concatenation of every `E'` it is 0
/// when every event is valid, and one bad event cannot cancel (multiplying by `x^k` is invertible
/// mod P): one bad event is always detected, as by separate checks; several bad events cancel out
/// with probability about 2^-32. The caller falls back to per-event checks to name the bad event.
pub fn verify_crc_batch(buf: &mut [u8]) -> (usize, bool) {
    verify_crc_batch_with(buf, &mut Vec::new())
}

/// [`verify_crc_batch`] with `sizes` as scratch space (cleared first; left holding the size of each
/// framed event), so that a caller checking buffer after buffer allocates once.
pub fn verify_crc_batch_with(buf: &mut [u8], sizes: &mut Vec<u32>) -> (usize, bool) {
    // A window at a time (framed, flipped, hashed, restored while it is in the L1 cache).
    const WINDOW: usize = 16 * 1024;
    sizes.clear();
    // crc32fast's state is the finalized value (the register inverted): !0 = register 0.
    let mut h = crc32fast::Hasher::new_with_initial(!0);
    let mut framed = 0;
    loop {
        let first = sizes.len();
        let n = frame_and_flip(&mut buf[framed..], WINDOW, sizes);
        if n == 0 {
            break;
        }
        h.update(&buf[framed..framed + n]);
        unflip(&mut buf[framed..framed + n], &sizes[first..]);
        framed += n;
    }
    (framed, framed == 0 || h.finalize() == !0)
}

/// Inverts the first and last 4 bytes of each event framed at the start of `buf` (see
/// [`verify_crc_batch`]), stopping where framing stops or after the event that reaches `upto`
/// bytes; pushes each event's size to `sizes` and returns the bytes framed.
fn frame_and_flip(buf: &mut [u8], upto: usize, sizes: &mut Vec<u32>) -> usize {
    let mut off = 0;
    while off < upto && off + HEADER_LEN <= buf.len() {
        let at = &mut buf[off..];
        let size = le_u32(&at[9..13]) as usize;
        if size < HEADER_LEN + CRC_LEN || size > at.len() || at[4] == types::FORMAT_DESCRIPTION {
            break;
        }
        flip4(&mut at[..4]);
        flip4(&mut at[size - CRC_LEN..size]);
        sizes.push(size as u32);
        off += size;
    }
    off
}

/// Undoes [`frame_and_flip`] on the events of `sizes` (no framing to redo: the next offset is a sum
/// of known sizes, not a load from the buffer).
fn unflip(buf: &mut [u8], sizes: &[u32]) {
    let mut off = 0;
    for &size in sizes {
        let end = off + size as usize;
        if let Some(ev) = buf.get_mut(off..end) {
            flip4(&mut ev[..4]);
            flip4(&mut ev[size as usize - CRC_LEN..]);
        }
        off = end;
    }
}

#[inline(always)]
fn flip4(b: &mut [u8]) {
    for b in b.iter_mut().take(4) {
        *b = !*b;
    }
}

/// CRC32 over header+body; for a FORMAT_DESCRIPTION the BINLOG_IN_USE flag is treated as cleared.
pub fn compute_crc(event_without_crc: &[u8], is_fde: bool) -> u32 {
    if is_fde && event_without_crc.len() > 17 && event_without_crc[17] & 1 != 0 {
        let mut h = crc32fast::Hasher::new();
        h.update(&event_without_crc[..17]);
        h.update(&[event_without_crc[17] & !1]);
        h.update(&event_without_crc[18..]);
        h.finalize()
    } else {
        crc32(event_without_crc)
    }
}

/// A readable name of an event type (as mariadb-binlog names it).
pub fn type_name(type_code: u8) -> &'static str {
    match type_code {
        types::QUERY => "Query",
        types::STOP => "Stop",
        types::ROTATE => "Rotate",
        types::INTVAR => "Intvar",
        types::RAND => "Rand",
        types::USER_VAR => "User_var",
        types::FORMAT_DESCRIPTION => "Format_desc",
        types::XID => "Xid",
        types::HEARTBEAT => "Heartbeat",
        types::ANNOTATE_ROWS => "Annotate_rows",
        types::BINLOG_CHECKPOINT => "Binlog_checkpoint",
        types::GTID => "Gtid",
        types::GTID_LIST => "Gtid_list",
        _ => "Unknown",
    }
}

/// The message of an error without its `invalid data:` prefix.
pub(crate) fn error_text(e: &Error) -> String {
    match e {
        Error::InvalidData(m) => m.clone(),
        other => other.to_string(),
    }
}

fn decode_fde(body: &[u8]) -> Result<EventBody> {
    let mut r = Reader::new(body, "Format_desc");
    let binlog_version = r.u16()?;
    let raw_version = r.bytes(50)?;
    let n = raw_version.iter().position(|&b| b == 0).unwrap_or(50);
    if raw_version[n..].iter().any(|&b| b != 0) {
        return Err(Error::InvalidData("server version is not NUL-padded".into()));
    }
    let server_version = String::from_utf8(raw_version[..n].to_vec())
        .map_err(|_| Error::InvalidData("server version is not UTF-8".into()))?;
    let create_timestamp = r.u32()?;
    let header_len = r.u8()?;
    if header_len as usize != HEADER_LEN {
        return Err(Error::InvalidData(format!(
            "header length {header_len}, only 19 is supported"
        )));
    }
    let rest = r.rest();
    let Some((&checksum_alg, table)) = rest.split_last() else {
        return Err(Error::InvalidData("checksum algorithm byte missing".into()));
    };
    if checksum_alg != CHECKSUM_CRC32 && checksum_alg != CHECKSUM_OFF {
        return Err(Error::InvalidData(format!("unknown checksum algorithm {checksum_alg}")));
    }
    Ok(EventBody::FormatDescription {
        binlog_version,
        server_version,
        create_timestamp,
        header_len,
        post_header_lengths: table.to_vec(),
        checksum_alg,
    })
}

fn decode_query(body: &[u8]) -> Result<EventBody> {
    let mut r = Reader::new(body, "Query");
    let thread_id = r.u32()?;
    let exec_time = r.u32()?;
    let db_len = r.u8()? as usize;
    let error_code = r.u16()?;
    let status_len = r.u16()? as usize;
    let status = QueryStatus::decode(r.bytes(status_len)?)?;
    let db = r.string(db_len)?;
    if r.u8()? != 0 {
        return Err(Error::InvalidData("database name not followed by NUL".into()));
    }
    Ok(EventBody::Query { thread_id, exec_time, error_code, db, status, sql: r.rest().to_vec() })
}

fn decode_user_var(body: &[u8]) -> Result<EventBody> {
    let mut r = Reader::new(body, "User_var");
    let name_len = r.u32()? as usize;
    let name = r.string(name_len)?;
    let is_null = r.u8()? != 0;
    let (value, charset) = if is_null {
        (UserVarValue::Null, 0)
    } else {
        let kind = r.u8()?;
        let charset = r.u32()?;
        let val_len = r.u32()? as usize;
        let val = r.bytes(val_len)?;
        let value = match kind {
            0 => UserVarValue::String(val.to_vec()),
            1 => UserVarValue::Real(f64::from_le_bytes(fixed8(val, "real value")?)),
            2 => UserVarValue::Int {
                value: i64::from_le_bytes(fixed8(val, "int value")?),
                unsigned: false,
            },
            4 if val.len() >= 2 => {
                UserVarValue::Decimal { precision: val[0], scale: val[1], bytes: val[2..].to_vec() }
            }
            4 => return Err(Error::InvalidData("decimal value shorter than 2 bytes".into())),
            other => return Err(Error::InvalidData(format!("unknown value type {other}"))),
        };
        (value, charset)
    };
    let rest = r.rest();
    let flags = rest.first().copied();
    let extra = rest.get(1..).unwrap_or_default().to_vec();
    let value = match value {
        UserVarValue::Int { value, .. } => {
            UserVarValue::Int { value, unsigned: flags.is_some_and(|f| f & 1 != 0) }
        }
        v => v,
    };
    Ok(EventBody::UserVar { name, value, charset, flags, extra })
}

fn encode_user_var(
    out: &mut Vec<u8>,
    name: &str,
    value: &UserVarValue,
    charset: u32,
    flags: Option<u8>,
    extra: &[u8],
) {
    out.extend_from_slice(&(name.len() as u32).to_le_bytes());
    out.extend_from_slice(name.as_bytes());
    if let UserVarValue::Null = value {
        out.push(1);
    } else {
        out.push(0);
        out.push(value.type_code());
        out.extend_from_slice(&charset.to_le_bytes());
        let val: Vec<u8> = match value {
            UserVarValue::Null => Vec::new(),
            UserVarValue::String(s) => s.clone(),
            UserVarValue::Real(f) => f.to_le_bytes().to_vec(),
            UserVarValue::Int { value, .. } => value.to_le_bytes().to_vec(),
            UserVarValue::Decimal { precision, scale, bytes } => {
                let mut v = vec![*precision, *scale];
                v.extend_from_slice(bytes);
                v
            }
        };
        out.extend_from_slice(&(val.len() as u32).to_le_bytes());
        out.extend_from_slice(&val);
    }
    let unsigned = matches!(value, UserVarValue::Int { unsigned: true, .. });
    if flags.is_some() || unsigned {
        out.push(flags.unwrap_or(0) | u8::from(unsigned));
    }
    out.extend_from_slice(extra);
}

fn decode_gtid(body: &[u8]) -> Result<EventBody> {
    let mut r = Reader::new(body, "Gtid");
    let seq_no = r.u64()?;
    let domain_id = r.u32()?;
    let flags2 = r.u8()?;
    let commit_id = if flags2 & gtid_flags::GROUP_COMMIT_ID != 0 { r.u64()? } else { 0 };
    let rest = r.rest();
    let no_commit_id = flags2 & gtid_flags::GROUP_COMMIT_ID == 0;
    if no_commit_id && rest.len() < 6 {
        return Err(Error::InvalidData(format!(
            "body of {} bytes, expected at least 19",
            body.len()
        )));
    }
    let extra = if no_commit_id && rest == [0; 6] { Vec::new() } else { rest.to_vec() };
    Ok(EventBody::Gtid { seq_no, domain_id, flags2, commit_id, extra })
}

fn decode_gtid_list(body: &[u8]) -> Result<EventBody> {
    let mut r = Reader::new(body, "Gtid_list");
    let raw = r.u32()?;
    if raw >> 28 != 0 {
        // Flagged lists are stream-only control events; keep them opaque so they round-trip.
        return Ok(EventBody::Unknown(body.to_vec()));
    }
    let count = raw as usize;
    if count == 0 {
        // MariaDB pads an empty list with two zero bytes; anything else stays opaque (round trip).
        return Ok(if r.rest() == [0, 0] {
            EventBody::GtidList(Vec::new())
        } else {
            EventBody::Unknown(body.to_vec())
        });
    }
    if r.remaining() != count.saturating_mul(16) {
        return Err(Error::InvalidData(format!(
            "count {count} but {} bytes of entries",
            r.remaining()
        )));
    }
    let mut list = Vec::with_capacity(count);
    for _ in 0..count {
        let (domain_id, server_id, seq_no) = (r.u32()?, r.u32()?, r.u64()?);
        list.push(Gtid { domain_id, server_id, seq_no });
    }
    Ok(EventBody::GtidList(list))
}

fn fixed8(val: &[u8], what: &str) -> Result<[u8; 8]> {
    val.try_into()
        .map_err(|_| Error::InvalidData(format!("{what} of {} bytes, expected 8", val.len())))
}

fn put_string_u8(out: &mut Vec<u8>, s: &str) {
    let n = s.len().min(255);
    out.push(n as u8);
    out.extend_from_slice(&s.as_bytes()[..n]);
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// A bounds-checked little-endian cursor whose errors name the structure being read.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8], what: &'static str) -> Self {
        Reader { data, pos: 0, what }
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(Error::InvalidData(format!(
                "{} truncated: need {n} bytes at body offset {}, have {}",
                self.what,
                self.pos,
                self.remaining()
            )));
        }
        let b = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(b)
    }

    fn peek_u8(&self) -> Result<u8> {
        self.data
            .get(self.pos)
            .copied()
            .ok_or_else(|| Error::InvalidData(format!("{} truncated", self.what)))
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        let b = self.bytes(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u24(&mut self) -> Result<u32> {
        let b = self.bytes(3)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], 0]))
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(le_u32(self.bytes(4)?))
    }

    fn u64(&mut self) -> Result<u64> {
        let b = self.bytes(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    fn string(&mut self, n: usize) -> Result<String> {
        let what = self.what;
        String::from_utf8(self.bytes(n)?.to_vec())
            .map_err(|_| Error::InvalidData(format!("{what}: name is not UTF-8")))
    }

    fn string_u8(&mut self) -> Result<String> {
        let n = self.u8()? as usize;
        self.string(n)
    }

    fn string_rest(&mut self) -> Result<String> {
        let n = self.remaining();
        self.string(n)
    }

    fn rest(&mut self) -> &'a [u8] {
        let b = &self.data[self.pos.min(self.data.len())..];
        self.pos = self.data.len();
        b
    }

    fn end(&self) -> Result<()> {
        if self.remaining() != 0 {
            return Err(Error::InvalidData(format!(
                "{} has {} unexpected trailing bytes",
                self.what,
                self.remaining()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: reproducible pseudo-random bytes for the CRC tests.
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed | 1;
        move || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    /// The identity `verify_crc_batch` relies on, against crc32fast on random data: with the first
    /// and last 4 bytes of `D || crc32(D)` inverted, the register from 0 ends at 0; one flipped bit
    /// anywhere makes it non-zero.
    #[test]
    fn inverted_ends_clear_the_crc_register_exactly_for_valid_events() {
        let mut next = rng(7);
        for len in (4..300).chain([1000, 4096, 65_537]) {
            let mut e: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let c = crc32fast::hash(&e);
            e.extend_from_slice(&c.to_le_bytes());
            let n = e.len();
            for i in (0..4).chain(n - 4..n) {
                e[i] = !e[i];
            }
            let register = |e: &[u8]| {
                let mut h = crc32fast::Hasher::new_with_initial(!0);
                h.update(e);
                !h.finalize()
            };
            assert_eq!(register(&e), 0, "len {len}");
            let bit = next() as usize % (n * 8);
            e[bit / 8] ^= 1 << (bit % 8);
            assert_ne!(register(&e), 0, "len {len}, bit {bit}");
        }
    }

    /// A few thousand encoded events of random sizes (no FORMAT_DESCRIPTION) and their offsets.
    fn event_run(seed: u64, count: usize) -> (Vec<u8>, Vec<usize>) {
        let mut next = rng(seed);
        let (mut out, mut starts) = (Vec::new(), Vec::new());
        for i in 0..count {
            starts.push(out.len());
            let body = match next() % 3 {
                0 => EventBody::Xid(next()),
                1 => EventBody::Intvar { kind: intvar::INSERT_ID, value: next() },
                _ => {
                    let sql = "x".repeat((next() % 300) as usize);
                    EventBody::query(7, "db", QueryStatus::standard(), &sql)
                }
            };
            Event::new(i as u32, 1, 0, 0, body).encode_into(&mut out);
        }
        (out, starts)
    }

    #[test]
    fn crc_batch_accepts_valid_events_and_restores_the_buffer() {
        let (bytes, starts) = event_run(1, 2000);
        let mut buf = bytes.clone();
        assert_eq!(verify_crc_batch(&mut buf), (bytes.len(), true));
        assert_eq!(buf, bytes);
        // Framing stops before an event that is not whole, and before a FORMAT_DESCRIPTION.
        let cut = starts[1500] + 10;
        assert_eq!(verify_crc_batch(&mut buf[..cut]), (starts[1500], true));
        let mut with_fde = bytes[..starts[10]].to_vec();
        let fde = Event::new(1, 1, 0, 0, EventBody::format_description("10.11.19-MariaDB", 0));
        fde.encode_into(&mut with_fde);
        with_fde.extend_from_slice(&bytes[starts[10]..]);
        assert_eq!(verify_crc_batch(&mut with_fde), (starts[10], true));
        assert_eq!(verify_crc_batch(&mut []), (0, true));
        assert_eq!(buf, bytes);
    }

    #[test]
    fn crc_batch_catches_a_flipped_byte_in_any_event() {
        let (bytes, starts) = event_run(2, 300);
        let mut next = rng(3);
        for (k, &start) in starts.iter().enumerate() {
            let end = starts.get(k + 1).copied().unwrap_or(bytes.len());
            // Every byte but the size field (bytes 9..13, which changes the framing instead).
            let mut at = start + next() as usize % (end - start);
            if (start + 9..start + 13).contains(&at) {
                at = end - 1;
            }
            let mut buf = bytes.clone();
            buf[at] ^= 1 << (next() % 8);
            let corrupt = buf.clone();
            let (framed, ok) = verify_crc_batch(&mut buf);
            assert!(!ok, "event {k} byte {at}");
            assert_eq!(framed, bytes.len());
            assert_eq!(buf, corrupt, "buffer restored");
        }
    }

    fn roundtrip(ev: &Event) -> Event {
        let bytes = ev.encode();
        let back = Event::decode(&bytes).unwrap();
        assert_eq!(back.encode(), bytes);
        back
    }

    #[test]
    fn roundtrip_all_bodies() {
        let bodies = vec![
            EventBody::format_description("10.11.19-MariaDB-repld", 1_700_000_000),
            EventBody::query(7, "fx", QueryStatus::standard(), "INSERT INTO t VALUES (1)"),
            EventBody::query(7, "", QueryStatus::default(), "CREATE DATABASE fx"),
            EventBody::Xid(42),
            EventBody::Rotate { position: 4, next_file: "repld-bin.000002".into() },
            EventBody::Stop,
            EventBody::Intvar { kind: intvar::INSERT_ID, value: 1000 },
            EventBody::Rand { seed1: 12345, seed2: 67890 },
            EventBody::UserVar {
                name: "who".into(),
                value: UserVarValue::String(b"probe".to_vec()),
                charset: 45,
                flags: None,
                extra: vec![],
            },
            EventBody::UserVar {
                name: "n".into(),
                value: UserVarValue::Null,
                charset: 0,
                flags: None,
                extra: vec![],
            },
            EventBody::UserVar {
                name: "u".into(),
                value: UserVarValue::Int { value: -1, unsigned: true },
                charset: 63,
                flags: Some(1),
                extra: vec![],
            },
            EventBody::UserVar {
                name: "r".into(),
                value: UserVarValue::Real(1.5),
                charset: 63,
                flags: Some(0),
                extra: vec![],
            },
            EventBody::UserVar {
                name: "d".into(),
                value: UserVarValue::Decimal {
                    precision: 4,
                    scale: 2,
                    bytes: vec![0x80, 0x0c, 0x22],
                },
                charset: 63,
                flags: None,
                extra: vec![],
            },
            EventBody::Gtid {
                seq_no: 5,
                domain_id: 0,
                flags2: gtid_flags::FOR_DML,
                commit_id: 0,
                extra: vec![],
            },
            EventBody::Gtid {
                seq_no: 6,
                domain_id: 1,
                flags2: gtid_flags::FOR_DML | gtid_flags::GROUP_COMMIT_ID,
                commit_id: 77,
                extra: vec![],
            },
            EventBody::GtidList(vec![Gtid::new(0, 1, 7), Gtid::new(1, 2, 3)]),
            EventBody::GtidList(vec![]),
            EventBody::BinlogCheckpoint("repld-bin.000001".into()),
            EventBody::Heartbeat("repld-bin.000001".into()),
        ];
        for body in bodies {
            let ev = Event::new(1_700_000_000, 1, 999, 0, body);
            let back = roundtrip(&ev);
            assert_eq!(back.body, ev.body);
        }
        let unknown = Event::new(1, 1, 2, 0, EventBody::Unknown(vec![1, 2, 3])).with_type(200);
        assert_eq!(roundtrip(&unknown).header.type_code, 200);
    }

    #[test]
    fn fde_crc_ignores_in_use_flag() {
        let ev = Event::new(
            1,
            1,
            256,
            flags::BINLOG_IN_USE,
            EventBody::format_description("10.11.19-MariaDB-repld", 0),
        );
        let mut bytes = ev.encode();
        assert_eq!(bytes.len(), 252);
        Event::decode(&bytes).unwrap();
        bytes[17] &= !1;
        Event::decode(&bytes).unwrap();
    }

    #[test]
    fn corrupt_bytes_are_errors_not_panics() {
        let ev = Event::new(
            1,
            1,
            100,
            0,
            EventBody::query(1, "db", QueryStatus::standard(), "SELECT 1"),
        );
        let bytes = ev.encode();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            assert!(Event::decode(&b).is_err(), "flip at {i} accepted");
        }
        for n in 0..bytes.len() {
            assert!(Event::decode(&bytes[..n]).is_err());
        }
        // The framing-only path (binlog dump) catches the same flips and truncations.
        assert_eq!(
            Event::verify_frame(&bytes, true).unwrap(),
            Event::decode(&bytes).unwrap().header
        );
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            assert!(Event::verify_frame(&b, true).is_err(), "flip at {i} accepted");
        }
        for n in 0..bytes.len() {
            assert!(Event::verify_frame(&bytes[..n], true).is_err());
        }
        // Bodies decoded without CRC protection still never panic.
        for t in 0..=255u8 {
            for n in 0..40 {
                let _ = EventBody::decode(t, &vec![0xff; n]);
                let _ = EventBody::decode(t, &vec![0x01; n]);
            }
        }
    }

    #[test]
    fn status_out_of_order_is_kept_raw() {
        // Q_CHARSET_DATABASE then Q_FLAGS2 (out of MariaDB's order): the second goes to `unknown`.
        let raw = [8u8, 33, 0, 0, 1, 0, 0, 0];
        let s = QueryStatus::decode(&raw).unwrap();
        assert_eq!(s.charset_database, Some(33));
        assert_eq!(s.unknown, raw[3..].to_vec());
        let mut out = Vec::new();
        s.encode_into(&mut out);
        assert_eq!(out, raw);
    }
}
