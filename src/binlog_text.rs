//! Binlog and relay log files as text, like `mariadb-binlog`: the decoder behind `replctl binlog`.
//!
//! The idea: read each file whole, decode every event with the codec in [`crate::log::event`], group the
//! events into transactions (GTID ... XID/COMMIT, or a standalone GTID + QUERY), and print each selected
//! transaction as SQL that the `mariadb` client can execute, with the same comment lines and session
//! statements `mariadb-binlog` prints (`# at POS`, `#YYMMDD HH:MM:SS server id N end_log_pos P CRC32 0x..`,
//! `SET TIMESTAMP`, the session variables block, `SET INSERT_ID`, `SET @@RAND_SEED1`, `SET @v:=..`).
//!
//! Invariants:
//! * A transaction is printed whole or not at all: range options select whole transactions, so the output
//!   of any range is a valid point-in-time replay script. A transaction that is incomplete at the end of
//!   the input (active file, torn tail) is not printed; a comment says where it started.
//! * Session statements (database, sql_mode, character sets, time zone, ...) are printed when they differ
//!   from what the output has already set in this file, tracked over the printed events only, so a
//!   filtered output sets everything its statements need.
//! * Nothing read from a file can cause a panic: bad bytes give [`Error::InvalidData`] naming `file:offset`.
//!
//! Range semantics (documented for `replctl binlog --help`):
//! * `start_position` applies to the first file, `stop_position` to the last (as in `mariadb-binlog`). A
//!   transaction is printed when it starts at or after the start position and ends at or before the stop
//!   position; a cut inside a transaction leaves that transaction out.
//! * `start_datetime`/`stop_datetime` (seconds since the epoch, UTC): a transaction is printed when its
//!   first event's timestamp is `>= start` and `< stop`.
//! * `gtids`: when non-empty, only the transactions with exactly these GTIDs are printed.
//!
//! Differences from `mariadb-binlog` (deliberate): header timestamps are printed in UTC; a DOUBLE user
//! variable is printed with full precision in exponent form (`1.5e0`) instead of `%.14g`, so the replay is
//! exact; the FORMAT_DESCRIPTION is not repeated as a `BINLOG '...'` statement (no row events exist in a
//! statement-based log); a flags2 change that touches no printed option prints nothing instead of `SET ;`.

use crate::error::{Error, Result};
use crate::log::event::{
    flags, gtid_flags, intvar, type_name, types, Event, EventBody, EventHeader, UserVarValue,
    BINLOG_MAGIC, CHECKSUM_CRC32, CRC_LEN, HEADER_LEN,
};
use crate::log::Gtid;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Which transactions [`decode_files`] prints; the default prints everything.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// First file only: transactions starting before this offset are left out.
    pub start_position: Option<u64>,
    /// Last file only: transactions ending after this offset are left out.
    pub stop_position: Option<u64>,
    /// Transactions whose first event is older than this (epoch seconds) are left out.
    pub start_datetime: Option<u32>,
    /// Transactions whose first event is at or after this (epoch seconds) are left out.
    pub stop_datetime: Option<u32>,
    /// When non-empty: only these transactions.
    pub gtids: Vec<Gtid>,
}

/// What [`verify_files`] found in one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCheck {
    /// The file.
    pub path: PathBuf,
    /// Events whose CRC32 was checked and matched (or that carry no checksum).
    pub events: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Problems as `file:offset: cause`, in file order; empty when the file is sound.
    pub errors: Vec<String>,
}

/// One event read from a file, with where it was and its stored CRC.
struct Item {
    file: usize,
    pos: u64,
    ev: Event,
    crc: Option<u32>,
}

impl Item {
    fn end(&self) -> u64 {
        self.pos + self.ev.header.event_size as u64
    }
}

/// Reads every event of one file. Returns the events read before the first problem and the problem.
fn read_file(path: &Path, file: usize) -> (Vec<Item>, Option<Error>) {
    let name = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return (Vec::new(), Some(Error::Io(format!("{name}: {e}")))),
    };
    let mut items = Vec::new();
    if bytes.len() < 4 || bytes[..4] != BINLOG_MAGIC {
        let err = format!("{name}:0: not a binlog or relay log file (bad magic)");
        return (items, Some(Error::InvalidData(err)));
    }
    let mut pos = 4usize;
    let mut checksum = true;
    while pos < bytes.len() {
        match next_event(&bytes, pos, checksum) {
            Ok((ev, crc)) => {
                if let EventBody::FormatDescription { checksum_alg, .. } = &ev.body {
                    checksum = *checksum_alg == CHECKSUM_CRC32;
                }
                let size = ev.header.event_size as usize;
                items.push(Item { file, pos: pos as u64, ev, crc });
                pos += size;
            }
            Err(e) => {
                let msg = crate::log::event::error_text(&e);
                return (items, Some(Error::InvalidData(format!("{name}:{pos}: {msg}"))));
            }
        }
    }
    (items, None)
}

/// The whole event at `pos` and its stored CRC (when the file has checksums).
fn next_event(bytes: &[u8], pos: usize, checksum: bool) -> Result<(Event, Option<u32>)> {
    let rest = &bytes[pos..];
    if rest.len() < HEADER_LEN {
        return Err(Error::InvalidData(format!(
            "truncated event header: {} of {HEADER_LEN} bytes",
            rest.len()
        )));
    }
    let header = EventHeader::decode(rest)?;
    let size = header.event_size as usize;
    if size < HEADER_LEN {
        return Err(Error::InvalidData(format!("event_size {size} is smaller than a header")));
    }
    if size > rest.len() {
        return Err(Error::InvalidData(format!(
            "truncated {} event: event_size {size} but only {} bytes left in the file",
            type_name(header.type_code),
            rest.len()
        )));
    }
    let raw = &rest[..size];
    let ev = Event::decode_with(raw, checksum)?;
    let has_crc = checksum || header.type_code == types::FORMAT_DESCRIPTION;
    let crc = (has_crc && size >= HEADER_LEN + CRC_LEN)
        .then(|| u32::from_le_bytes([raw[size - 4], raw[size - 3], raw[size - 2], raw[size - 1]]));
    Ok((ev, crc))
}

/// Checks every event (framing and CRC32) of every file; never stops at the first problem of a file when
/// the event sizes still allow reading on.
pub fn verify_files(paths: &[PathBuf]) -> Vec<FileCheck> {
    paths.iter().map(|p| verify_file(p)).collect()
}

fn verify_file(path: &Path) -> FileCheck {
    let name = path.display().to_string();
    let mut check = FileCheck { path: path.to_path_buf(), events: 0, bytes: 0, errors: Vec::new() };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            check.errors.push(format!("{name}: {e}"));
            return check;
        }
    };
    check.bytes = bytes.len() as u64;
    if bytes.len() < 4 || bytes[..4] != BINLOG_MAGIC {
        check.errors.push(format!("{name}:0: not a binlog or relay log file (bad magic)"));
        return check;
    }
    let mut pos = 4usize;
    let mut checksum = true;
    while pos < bytes.len() {
        match next_event(&bytes, pos, checksum) {
            Ok((ev, _)) => {
                if let EventBody::FormatDescription { checksum_alg, .. } = &ev.body {
                    checksum = *checksum_alg == CHECKSUM_CRC32;
                }
                check.events += 1;
                pos += ev.header.event_size as usize;
            }
            Err(e) => {
                let msg = crate::log::event::error_text(&e);
                check.errors.push(format!("{name}:{pos}: {msg}"));
                // Read on when the header's size still frames an event inside the file.
                let size = EventHeader::decode(&bytes[pos..]).map(|h| h.event_size as usize);
                match size {
                    Ok(size) if size >= HEADER_LEN && pos + size <= bytes.len() => pos += size,
                    _ => break,
                }
            }
        }
    }
    check
}

/// Decodes `paths` in order (one log: the position options apply to the first and last file) and writes
/// the text to `out`. Events before a damaged spot are printed; the damage is then returned as the error.
pub fn decode_files(paths: &[PathBuf], opts: &Options, out: &mut dyn Write) -> Result<()> {
    let mut p = Printer::new(opts, paths.len(), out);
    p.w(concat!(
        "/*!50530 SET @@SESSION.PSEUDO_SLAVE_MODE=1*/;\n",
        "/*!40019 SET @@session.max_delayed_threads=0*/;\n",
        "/*!50003 SET @OLD_COMPLETION_TYPE=@@COMPLETION_TYPE,COMPLETION_TYPE=0*/;\n"
    ))?;
    let mut failure = None;
    for (i, path) in paths.iter().enumerate() {
        p.w("DELIMITER /*!*/;\n")?;
        // Each file's output sets the whole session context again, as mariadb-binlog's does.
        p.s = SessionState::default();
        let (items, err) = read_file(path, i);
        for item in items {
            p.event(item)?;
        }
        p.w("DELIMITER ;\n")?;
        if let Some(e) = err {
            failure = Some(e);
            break;
        }
    }
    if let Some(g) = p.open.take() {
        let first = &g.items[0];
        let note = format!(
            "# Transaction at {}:{} is not complete in the input; not printed\n",
            p.file_label(first.file),
            first.pos
        );
        p.w(&note)?;
    }
    p.w(concat!(
        "# End of log file\n",
        "ROLLBACK /* added by mysqlbinlog */;\n",
        "/*!50003 SET COMPLETION_TYPE=@OLD_COMPLETION_TYPE*/;\n",
        "/*!50530 SET @@SESSION.PSEUDO_SLAVE_MODE=0*/;\n"
    ))?;
    p.out.flush().map_err(|e| Error::Io(e.to_string()))?;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// An event group being collected.
struct Group {
    items: Vec<Item>,
    gtid: Option<Gtid>,
    /// Ends after its first QUERY (standalone GTID, or an implicit group that did not start with BEGIN).
    ends_after_query: bool,
}

/// What the output session has been told so far (mariadb-binlog's `PRINT_EVENT_INFO`).
#[derive(Default)]
struct SessionState {
    db: String,
    flags2: Option<u32>,
    sql_mode: Option<u64>,
    auto_increment: (u16, u16),
    charset: Option<(u16, u16, u16)>,
    time_zone: String,
    lc_time_names: Option<u16>,
    charset_database: Option<u16>,
    thread_id: Option<u32>,
    domain_id: Option<u32>,
    server_id: Option<u32>,
    allow_parallel: Option<bool>,
}

struct Printer<'a> {
    opts: &'a Options,
    files: usize,
    out: &'a mut dyn Write,
    open: Option<Group>,
    s: SessionState,
    /// True while a transaction's events are printed.
    in_group: bool,
}

/// Q_FLAGS2 options mariadb-binlog prints: (name, bit, printed inverted).
const FLAGS2_OPTIONS: [(&str, u32, bool); 8] = [
    ("foreign_key_checks", 1 << 26, true),
    ("sql_auto_is_null", 1 << 14, false),
    ("unique_checks", 1 << 27, true),
    ("autocommit", 1 << 19, true),
    ("check_constraint_checks", 1 << 15, true),
    ("sql_if_exists", 1 << 28, false),
    ("explicit_defaults_for_timestamp", 1 << 24, false),
    ("system_versioning_insert_history", 1 << 29, false),
];

impl<'a> Printer<'a> {
    fn new(opts: &'a Options, files: usize, out: &'a mut dyn Write) -> Self {
        Printer { opts, files, out, open: None, s: SessionState::default(), in_group: false }
    }

    fn w(&mut self, s: &str) -> Result<()> {
        self.out.write_all(s.as_bytes()).map_err(|e| Error::Io(e.to_string()))
    }

    fn file_label(&self, file: usize) -> String {
        format!("file {}", file + 1)
    }

    /// Position order over the whole input: (file index, offset).
    fn after_start(&self, file: usize, pos: u64) -> bool {
        file > 0 || pos >= self.opts.start_position.unwrap_or(0)
    }

    fn before_stop(&self, file: usize, end: u64) -> bool {
        file + 1 < self.files || end <= self.opts.stop_position.unwrap_or(u64::MAX)
    }

    fn event(&mut self, item: Item) -> Result<()> {
        match &item.ev.body {
            EventBody::Gtid { seq_no, domain_id, flags2, .. } => {
                if let Some(g) = self.open.take() {
                    let first = &g.items[0];
                    let note = format!(
                        "# Transaction at {}:{} has no end; not printed\n",
                        self.file_label(first.file),
                        first.pos
                    );
                    self.w(&note)?;
                }
                let gtid = Gtid::new(*domain_id, item.ev.header.server_id, *seq_no);
                let ends_after_query = flags2 & gtid_flags::STANDALONE != 0;
                self.open = Some(Group { items: vec![item], gtid: Some(gtid), ends_after_query });
            }
            EventBody::Intvar { .. } | EventBody::Rand { .. } | EventBody::UserVar { .. } => {
                self.group_mut().items.push(item);
            }
            EventBody::Query { sql, .. } => {
                let text = String::from_utf8_lossy(sql).trim().to_ascii_uppercase();
                let g = self.group_mut();
                let first_query =
                    !g.items.iter().any(|i| matches!(i.ev.body, EventBody::Query { .. }));
                if g.gtid.is_none() && first_query {
                    g.ends_after_query =
                        !(text == "BEGIN" || text.starts_with("START TRANSACTION"));
                }
                let ends = g.ends_after_query
                    || text == "COMMIT"
                    || text == "ROLLBACK"
                    || text.starts_with("XA COMMIT")
                    || text.starts_with("XA ROLLBACK");
                g.items.push(item);
                if ends {
                    self.close_group()?;
                }
            }
            EventBody::Xid(_) => {
                self.group_mut().items.push(item);
                self.close_group()?;
            }
            _ => {
                if let Some(g) = self.open.as_mut() {
                    g.items.push(item);
                } else {
                    let always = matches!(item.ev.body, EventBody::FormatDescription { .. });
                    if always
                        || (self.after_start(item.file, item.pos)
                            && self.before_stop(item.file, item.end()))
                    {
                        self.print(&item)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn group_mut(&mut self) -> &mut Group {
        self.open.get_or_insert_with(|| Group {
            items: Vec::new(),
            gtid: None,
            ends_after_query: true,
        })
    }

    fn close_group(&mut self) -> Result<()> {
        let Some(g) = self.open.take() else { return Ok(()) };
        if self.selected(&g) {
            self.in_group = true;
            let r = g.items.iter().try_for_each(|item| self.print(item));
            self.in_group = false;
            r?;
        }
        Ok(())
    }

    fn selected(&self, g: &Group) -> bool {
        let (Some(first), Some(last)) = (g.items.first(), g.items.last()) else { return false };
        if !self.after_start(first.file, first.pos) || !self.before_stop(last.file, last.end()) {
            return false;
        }
        let ts = first.ev.header.timestamp;
        if self.opts.start_datetime.is_some_and(|t| ts < t)
            || self.opts.stop_datetime.is_some_and(|t| ts >= t)
        {
            return false;
        }
        self.opts.gtids.is_empty() || g.gtid.is_some_and(|id| self.opts.gtids.contains(&id))
    }

    /// The `# at` line and the `#YYMMDD ...` header comment (without the event-specific tail).
    fn header(&mut self, item: &Item) -> Result<()> {
        let h = &item.ev.header;
        let mut s = format!(
            "# at {}\n#{} server id {}  end_log_pos {} ",
            item.pos,
            format_timestamp(h.timestamp),
            h.server_id,
            h.log_pos
        );
        if let Some(crc) = item.crc {
            s.push_str(&format!("CRC32 0x{crc:08x} "));
        }
        self.w(&s)
    }

    fn print(&mut self, item: &Item) -> Result<()> {
        self.header(item)?;
        let h = item.ev.header;
        match &item.ev.body {
            EventBody::FormatDescription {
                binlog_version,
                server_version,
                create_timestamp,
                ..
            } => {
                let created = if *create_timestamp != 0 { *create_timestamp } else { h.timestamp };
                let mut s = format!(
                    "\tStart: binlog v {binlog_version}, server v {server_version} created {}",
                    format_timestamp(created)
                );
                if *create_timestamp != 0 {
                    s.push_str(" at startup");
                }
                s.push('\n');
                if h.flags & flags::BINLOG_IN_USE != 0 {
                    s.push_str(
                        "# Warning: this binlog is either in use or was not closed properly.\n",
                    );
                }
                // A server start ends any open transaction, except inside a group (a relay log's next
                // file opens with the source's FORMAT_DESCRIPTION in the middle of a transaction).
                if *create_timestamp != 0 && h.flags & flags::ARTIFICIAL == 0 && !self.in_group {
                    s.push_str("ROLLBACK/*!*/;\n");
                }
                self.w(&s)
            }
            EventBody::GtidList(list) => {
                let ids: Vec<String> = list.iter().map(|g| g.to_string()).collect();
                self.w(&format!("\tGtid list [{}]\n", ids.join(",\n# ")))
            }
            EventBody::BinlogCheckpoint(name) => self.w(&format!("\tBinlog checkpoint {name}\n")),
            EventBody::Rotate { position, next_file } => {
                self.w(&format!("\tRotate to {next_file}  pos: {position}\n"))
            }
            EventBody::Stop => self.w("\tStop\n"),
            EventBody::Heartbeat(name) => self.w(&format!("\tHeartbeat {name}\n")),
            EventBody::Unknown(body) => self.w(&format!(
                "\t{} (type {}, {} bytes): not printed as SQL\n",
                type_name(h.type_code),
                h.type_code,
                body.len()
            )),
            EventBody::Gtid { seq_no, domain_id, flags2, commit_id, .. } => {
                let mut s = format!("\tGTID {domain_id}-{}-{seq_no}", h.server_id);
                if flags2 & gtid_flags::GROUP_COMMIT_ID != 0 {
                    s.push_str(&format!(" cid={commit_id}"));
                }
                if flags2 & gtid_flags::DDL != 0 {
                    s.push_str(" ddl");
                }
                if flags2 & gtid_flags::TRANSACTIONAL != 0 {
                    s.push_str(" trans");
                }
                if flags2 & gtid_flags::WAITED != 0 {
                    s.push_str(" waited");
                }
                s.push('\n');
                let parallel = flags2 & gtid_flags::ALLOW_PARALLEL != 0;
                if self.s.allow_parallel != Some(parallel) {
                    s.push_str(&format!(
                        "/*M!100101 SET @@session.skip_parallel_replication={}*//*!*/;\n",
                        u8::from(!parallel)
                    ));
                    self.s.allow_parallel = Some(parallel);
                }
                if self.s.domain_id != Some(*domain_id) {
                    s.push_str(&format!(
                        "/*M!100001 SET @@session.gtid_domain_id={domain_id}*//*!*/;\n"
                    ));
                    self.s.domain_id = Some(*domain_id);
                }
                if self.s.server_id != Some(h.server_id) {
                    s.push_str(&format!(
                        "/*M!100001 SET @@session.server_id={}*//*!*/;\n",
                        h.server_id
                    ));
                    self.s.server_id = Some(h.server_id);
                }
                s.push_str(&format!("/*M!100001 SET @@session.gtid_seq_no={seq_no}*//*!*/;\n"));
                if flags2 & gtid_flags::STANDALONE == 0 {
                    s.push_str("START TRANSACTION\n/*!*/;\n");
                }
                self.w(&s)
            }
            EventBody::Intvar { kind, value } => {
                let name = if *kind == intvar::INSERT_ID { "INSERT_ID" } else { "LAST_INSERT_ID" };
                self.w(&format!("\tIntvar\nSET {name}={value}/*!*/;\n"))
            }
            EventBody::Rand { seed1, seed2 } => {
                self.w(&format!("\tRand\nSET @@RAND_SEED1={seed1}, @@RAND_SEED2={seed2}/*!*/;\n"))
            }
            EventBody::UserVar { name, value, charset, flags: uflags, .. } => {
                let v = user_var_sql(value, *charset, uflags.unwrap_or(0));
                self.w(&format!("\tUser_var\nSET @{}:={v}/*!*/;\n", backtick(name)))
            }
            EventBody::Xid(xid) => self.w(&format!("\tXid = {xid}\nCOMMIT/*!*/;\n")),
            EventBody::Query { thread_id, exec_time, error_code, db, status, sql } => {
                let mut s = format!(
                    "\tQuery\tthread_id={thread_id}\texec_time={exec_time}\terror_code={error_code}\txid={}\n",
                    status.xid.unwrap_or(0)
                );
                let text = String::from_utf8_lossy(sql);
                let upper = text.trim().to_ascii_uppercase();
                let trans_keyword = upper == "BEGIN" || upper == "COMMIT" || upper == "ROLLBACK";
                if h.flags & flags::SUPPRESS_USE != 0 {
                    if !trans_keyword {
                        self.s.db.clear();
                    }
                } else if *db != self.s.db {
                    self.s.db.clone_from(db);
                    if !db.is_empty() {
                        s.push_str(&format!("use {}/*!*/;\n", backtick(db)));
                    }
                }
                s.push_str(&format!("SET TIMESTAMP={}", h.timestamp));
                if let Some(us) = status.hrnow_us.filter(|&us| us > 0 && us < 1_000_000) {
                    s.push_str(&format!(".{us:06}"));
                }
                s.push_str("/*!*/;\n");
                if self.s.thread_id.is_none()
                    || (h.flags & flags::THREAD_SPECIFIC != 0
                        && self.s.thread_id != Some(*thread_id))
                {
                    s.push_str(&format!("SET @@session.pseudo_thread_id={thread_id}/*!*/;\n"));
                    self.s.thread_id = Some(*thread_id);
                }
                if let Some(f2) = status.flags2 {
                    let changed = match self.s.flags2 {
                        Some(old) => old ^ f2,
                        None => u32::MAX,
                    };
                    let parts: Vec<String> = FLAGS2_OPTIONS
                        .iter()
                        .filter(|(_, bit, _)| changed & bit != 0)
                        .map(|(name, bit, inverted)| {
                            let on = (f2 & bit != 0) != *inverted;
                            format!("@@session.{name}={}", u8::from(on))
                        })
                        .collect();
                    if !parts.is_empty() {
                        s.push_str(&format!("SET {}/*!*/;\n", parts.join(", ")));
                    }
                    self.s.flags2 = Some(f2);
                }
                if let Some(mode) = status.sql_mode {
                    if self.s.sql_mode != Some(mode) {
                        s.push_str(&format!("SET @@session.sql_mode={mode}/*!*/;\n"));
                        self.s.sql_mode = Some(mode);
                    }
                }
                let ai = status.auto_increment.unwrap_or((1, 1));
                if self.s.auto_increment != ai {
                    s.push_str(&format!(
                        "SET @@session.auto_increment_increment={}, @@session.auto_increment_offset={}/*!*/;\n",
                        ai.0, ai.1
                    ));
                    self.s.auto_increment = ai;
                }
                if let Some(c) = status.charset {
                    let c = (c.client, c.connection, c.server);
                    if self.s.charset != Some(c) {
                        match collation(u32::from(c.0)) {
                            Some((cs, _)) => {
                                s.push_str(&format!("/*!\\C {cs} *//*!*/;\n"));
                                s.push_str(&format!(
                                    "SET @@session.character_set_client={cs},@@session.collation_connection={},@@session.collation_server={}/*!*/;\n",
                                    c.1, c.2
                                ));
                            }
                            None => s.push_str(&format!(
                                "SET @@session.collation_connection={},@@session.collation_server={}/*!*/;\n",
                                c.1, c.2
                            )),
                        }
                        self.s.charset = Some(c);
                    }
                }
                if let Some(tz) = status.time_zone.as_ref().filter(|tz| !tz.is_empty()) {
                    if *tz != self.s.time_zone {
                        s.push_str(&format!(
                            "SET @@session.time_zone='{}'/*!*/;\n",
                            tz.replace('\'', "''")
                        ));
                        self.s.time_zone.clone_from(tz);
                    }
                }
                let lc = status.lc_time_names.unwrap_or(0);
                if self.s.lc_time_names != Some(lc) {
                    s.push_str(&format!("SET @@session.lc_time_names={lc}/*!*/;\n"));
                    self.s.lc_time_names = Some(lc);
                }
                let cdb = status.charset_database.unwrap_or(0);
                if self.s.charset_database != Some(cdb) {
                    if cdb != 0 {
                        s.push_str(&format!("SET @@session.collation_database={cdb}/*!*/;\n"));
                    } else {
                        s.push_str("SET @@session.collation_database=DEFAULT/*!*/;\n");
                    }
                    self.s.charset_database = Some(cdb);
                }
                self.w(&s)?;
                self.out.write_all(sql).map_err(|e| Error::Io(e.to_string()))?;
                self.w("\n/*!*/;\n")
            }
        }
    }
}

/// `name` quoted with backticks (backticks doubled).
fn backtick(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Collation id -> (character set, collation) for the collations MariaDB 10.11 uses by default.
fn collation(id: u32) -> Option<(&'static str, &'static str)> {
    Some(match id {
        8 => ("latin1", "latin1_swedish_ci"),
        11 => ("ascii", "ascii_general_ci"),
        33 => ("utf8mb3", "utf8mb3_general_ci"),
        45 => ("utf8mb4", "utf8mb4_general_ci"),
        46 => ("utf8mb4", "utf8mb4_bin"),
        47 => ("latin1", "latin1_bin"),
        63 => ("binary", "binary"),
        83 => ("utf8mb3", "utf8mb3_bin"),
        192 => ("utf8mb3", "utf8mb3_unicode_ci"),
        224 => ("utf8mb4", "utf8mb4_unicode_ci"),
        _ => return None,
    })
}

/// The SQL value of a USER_VAR event as mariadb-binlog prints it (see the module docs for DOUBLE).
fn user_var_sql(value: &UserVarValue, charset: u32, uflags: u8) -> String {
    match value {
        UserVarValue::Null => "NULL".into(),
        UserVarValue::Int { value, unsigned } => {
            if *unsigned || uflags & 1 != 0 {
                (*value as u64).to_string()
            } else {
                value.to_string()
            }
        }
        UserVarValue::Real(d) => format!("{d:e}"),
        UserVarValue::Decimal { precision, scale, bytes } => {
            crate::primary::events::decimal_from_bin(*precision, *scale, bytes)
                .unwrap_or_else(|| "NULL".into())
        }
        UserVarValue::String(b) => {
            let hex = if b.is_empty() {
                "\"\"".to_string()
            } else {
                let h: String = b.iter().map(|x| format!("{x:02X}")).collect();
                format!("X'{h}'")
            };
            match collation(charset) {
                Some((cs, coll)) => format!("_{cs} {hex} COLLATE `{coll}`"),
                None => format!("_binary {hex}"),
            }
        }
    }
}

/// `YYMMDD HH:MM:SS` in UTC, hours space-padded as mariadb-binlog prints them.
pub fn format_timestamp(ts: u32) -> String {
    let (y, mo, d, h, mi, s) = civil(ts as i64);
    format!("{:02}{mo:02}{d:02} {h:2}:{mi:02}:{s:02}", y % 100)
}

/// Epoch seconds -> (year, month, day, hour, minute, second) in UTC.
fn civil(ts: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, (secs / 3600) as u32, (secs % 3600 / 60) as u32, (secs % 60) as u32)
}

/// Parses `YYYY-MM-DD HH:MM:SS` (or `YYYY-MM-DD`, `T` also accepted as separator) as UTC epoch seconds.
pub fn parse_datetime(s: &str) -> Result<u32> {
    let bad = || Error::InvalidInput(format!("bad datetime {s:?}: expected YYYY-MM-DD HH:MM:SS"));
    let s = s.trim();
    let (date, time) = s.split_once([' ', 'T']).unwrap_or((s, "00:00:00"));
    let d: Vec<i64> =
        date.split('-').map(|p| p.parse().map_err(|_| bad())).collect::<Result<_>>()?;
    let t: Vec<i64> =
        time.split(':').map(|p| p.parse().map_err(|_| bad())).collect::<Result<_>>()?;
    let ([y, m, day], [h, mi, sec]) = (d.as_slice(), t.as_slice()) else { return Err(bad()) };
    if !(1970..=2105).contains(y)
        || !(1..=12).contains(m)
        || !(1..=31).contains(day)
        || !(0..24).contains(h)
        || !(0..60).contains(mi)
        || !(0..60).contains(sec)
    {
        return Err(bad());
    }
    // days_from_civil
    let y2 = if *m <= 2 { y - 1 } else { *y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u32::try_from(days * 86_400 + h * 3600 + mi * 60 + sec).map_err(|_| bad())
}

/// Parses `D-S-N[,D-S-N...]`.
pub fn parse_gtid_list(s: &str) -> Result<Vec<Gtid>> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let bad = || Error::InvalidInput(format!("bad GTID {p:?}: expected DOMAIN-SERVER-SEQ"));
            let mut it = p.trim().split('-');
            let (Some(d), Some(sv), Some(n), None) = (it.next(), it.next(), it.next(), it.next())
            else {
                return Err(bad());
            };
            Ok(Gtid::new(
                d.parse().map_err(|_| bad())?,
                sv.parse().map_err(|_| bad())?,
                n.parse().map_err(|_| bad())?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_and_parse_in_utc() {
        assert_eq!(format_timestamp(1_795_734_147), "261126 23:02:27");
        assert_eq!(format_timestamp(0), "700101  0:00:00");
        assert_eq!(parse_datetime("2026-11-26 23:02:27").unwrap(), 1_795_734_147);
        assert_eq!(parse_datetime("2026-11-26T23:02:27").unwrap(), 1_795_734_147);
        assert_eq!(parse_datetime("2024-02-29").unwrap(), 1_709_164_800);
        for bad in
            ["", "2024-13-01", "2024-01-01 25:00:00", "yesterday", "2024-01-01 1:2", "1960-01-01"]
        {
            assert!(parse_datetime(bad).is_err(), "{bad}");
        }
        for ts in [0u32, 951_782_400, 1_709_164_799, 4_102_444_800] {
            let (y, mo, d, h, mi, s) = civil(ts as i64);
            let text = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}");
            assert_eq!(parse_datetime(&text).unwrap(), ts, "{text}");
        }
    }

    fn write_log(path: &Path, events: Vec<(u32, EventBody)>) {
        let mut bytes = BINLOG_MAGIC.to_vec();
        for (created, body) in events {
            let mut ev = Event::new(1_700_000_000 + created, 1, 0, 0, body);
            ev.header.log_pos = (bytes.len() + ev.encode().len()) as u32;
            bytes.extend_from_slice(&ev.encode());
        }
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn a_transaction_split_across_relay_files_is_printed_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("relay.000001"), dir.path().join("relay.000002"));
        let q = |sql: &str| EventBody::query(9, "d", crate::log::QueryStatus::standard(), sql);
        let gtid = EventBody::Gtid {
            seq_no: 5,
            domain_id: 0,
            flags2: gtid_flags::FOR_DML,
            commit_id: 0,
            extra: vec![],
        };
        write_log(
            &a,
            vec![
                (0, EventBody::format_description("v", 1)),
                (1, gtid),
                (1, q("INSERT INTO t VALUES (1)")),
            ],
        );
        write_log(
            &b,
            vec![
                (0, EventBody::format_description("v", 2)),
                (1, q("INSERT INTO t VALUES (2)")),
                (1, EventBody::Xid(3)),
            ],
        );
        let mut out = Vec::new();
        decode_files(&[a.clone(), b], &Options::default(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let body =
            &text[text.find("START TRANSACTION").unwrap()..text.find("COMMIT/*!*/;").unwrap()];
        assert!(body.contains("VALUES (1)") && body.contains("VALUES (2)"), "{text}");
        assert!(!body.contains("ROLLBACK"), "{text}");
        let mut out = Vec::new();
        decode_files(&[a], &Options::default(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.contains("INSERT") && text.contains("is not complete in the input"),
            "{text}"
        );
    }

    #[test]
    fn gtid_lists() {
        assert_eq!(
            parse_gtid_list("0-1-5, 2-3-4").unwrap(),
            vec![Gtid::new(0, 1, 5), Gtid::new(2, 3, 4)]
        );
        for bad in ["0-1", "0-1-2-3", "a-b-c", "0-1--5"] {
            assert!(parse_gtid_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_variable_values() {
        assert_eq!(user_var_sql(&UserVarValue::Null, 63, 0), "NULL");
        let s = UserVarValue::String(b"a'b".to_vec());
        assert_eq!(user_var_sql(&s, 45, 0), "_utf8mb4 X'612762' COLLATE `utf8mb4_general_ci`");
        assert_eq!(user_var_sql(&s, 9999, 0), "_binary X'612762'");
        assert_eq!(
            user_var_sql(&UserVarValue::String(vec![]), 63, 0),
            "_binary \"\" COLLATE `binary`"
        );
        assert_eq!(
            user_var_sql(&UserVarValue::Int { value: -1, unsigned: true }, 63, 1),
            "18446744073709551615"
        );
        assert_eq!(user_var_sql(&UserVarValue::Int { value: -1, unsigned: false }, 63, 0), "-1");
        assert_eq!(user_var_sql(&UserVarValue::Real(0.1), 63, 0), "1e-1");
        let (precision, scale, bytes) = crate::primary::events::decimal_to_bin("-12.50").unwrap();
        assert_eq!(
            user_var_sql(&UserVarValue::Decimal { precision, scale, bytes }, 63, 0),
            "-12.50"
        );
        assert_eq!(backtick("a`b"), "`a``b`");
    }
}
