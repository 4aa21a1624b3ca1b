//! The applier: replays logged transactions through the SQL engine.
//!
//! A binary log (or relay log) holds each transaction as a group of events. The applier turns one whole
//! group back into store changes by executing its statements in a fresh [`Session`] with exactly the
//! context the primary logged, then writes the result with [`Engine::apply_commit`] together with the
//! caller's meta records (applied GTID state, source file/offset) in **one atomic batch**. Whoever calls it
//! (the replica's SQL thread, the primary's start-up recovery) therefore never sees rows without the
//! position that produced them, or the reverse.
//!
//! Groups, as real MariaDB binlogs frame them ([`TxnBuilder`] cuts a stream of events into them):
//! * `GTID` (not standalone) -> [`INTVAR` | `RAND` | `USER_VAR`]* `QUERY` ... -> `XID` (or `QUERY COMMIT`);
//! * `GTID` (standalone, e.g. DDL) -> context events -> one `QUERY`;
//! * without GTIDs: `QUERY BEGIN` -> ... -> `XID`/`QUERY COMMIT`, or a single autocommitted `QUERY`.
//!
//! Context of a statement (all from the log, nothing from the applier's clock or state):
//! * "now" = header timestamp seconds + Q_HRNOW microseconds -> [`ExecContext::now_us`];
//! * `INTVAR` INSERT_ID / LAST_INSERT_ID, `RAND` seeds -> [`ExecContext`], reset after each QUERY;
//! * `USER_VAR` -> [`Session::user_vars`];
//! * the event's db -> [`Session::current_db`]; Q_SQL_MODE, Q_FLAGS2, Q_TIME_ZONE, Q_AUTO_INCREMENT ->
//!   session variables (`sql_mode`, `foreign_key_checks`, `unique_checks`, `sql_auto_is_null`,
//!   `time_zone`, `auto_increment_increment`, `auto_increment_offset`).
//!
//! Invariants:
//! * A group is applied completely or not at all: statements run in one transaction and every commit it
//!   produces is merged into one [`PendingCommit`] applied in one batch with the meta records.
//! * A QUERY that failed on the primary (`error_code != 0`) must fail the same way here; any other error,
//!   or success where the primary failed, stops the applier with the error (ER_INCONSISTENT_ERROR 3002
//!   for the latter). Nothing is skipped silently.
//! * The applier holds no state between groups: it is independent of any replica or primary state.

use crate::error::{Error, Result};
use crate::log::event::{gtid_flags, intvar, Event, EventBody, UserVarValue as LogUserVar};
use crate::log::gtid::Gtid;
use crate::sql::{
    Engine, ExecContext, MetaRecord, PendingCommit, Session, Stmt, StmtKind, UserVarValue, Value,
    WriteSet,
};
use std::sync::Arc;

/// MySQL's ER_INCONSISTENT_ERROR (MariaDB numbering): a statement's outcome differs from the primary's.
pub const ER_INCONSISTENT_ERROR: u16 = 3002;

/// What one applied group was.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AppliedTxn {
    /// The group's GTID (`None` for groups without a GTID event).
    pub gtid: Option<Gtid>,
    /// `log_pos` of the group's last event: the source offset just past the group.
    pub end_log_pos: u32,
    /// Number of QUERY statements executed.
    pub statements: usize,
    /// Number of store keys written or deleted.
    pub writes: usize,
}

/// One complete event group, as cut by [`TxnBuilder`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TxnGroup {
    /// The events in log order (GTID or BEGIN first, XID/COMMIT or the standalone QUERY last).
    pub events: Vec<Event>,
    /// Total encoded size of the events in bytes (for backlog accounting).
    pub bytes: u64,
}

impl TxnGroup {
    /// The group's GTID, from its GTID event (server id from that event's header).
    pub fn gtid(&self) -> Option<Gtid> {
        self.events.iter().find_map(|e| match &e.body {
            EventBody::Gtid { seq_no, domain_id, .. } => {
                Some(Gtid::new(*domain_id, e.header.server_id, *seq_no))
            }
            _ => None,
        })
    }

    /// The server id that originated the group (first event's header).
    pub fn server_id(&self) -> Option<u32> {
        self.events.first().map(|e| e.header.server_id)
    }

    /// The source offset just past the group (`log_pos` of its last event; 0 when unknown).
    pub fn end_log_pos(&self) -> u32 {
        self.events.last().map_or(0, |e| e.header.log_pos)
    }

    /// The header timestamp of the group's first event (seconds).
    pub fn timestamp(&self) -> u32 {
        self.events.first().map_or(0, |e| e.header.timestamp)
    }
}

/// What [`TxnBuilder::push`] made of one event.
#[derive(Clone, Debug, PartialEq)]
pub enum Pushed {
    /// The event belongs to a group that is not complete yet.
    Pending,
    /// The event completed a group.
    Group(TxnGroup),
    /// The event is not part of any group (FORMAT_DESCRIPTION, ROTATE, GTID_LIST, checkpoints, STOP,
    /// heartbeats, unknown types): the caller handles it.
    Other(Event),
    /// A new group started before the open one ended (the source restarted mid-group or a relay log was
    /// cut): the incomplete group is dropped, as MariaDB rolls it back. Carries the dropped events.
    Discarded(TxnGroup),
}

/// How the open group ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GroupEnd {
    /// At XID or QUERY COMMIT/ROLLBACK.
    Commit,
    /// After the next statement QUERY (standalone GTID).
    Standalone,
}

/// Cuts a stream of events into whole groups (see the module docs). Pure state machine, no I/O.
#[derive(Debug, Default)]
pub struct TxnBuilder {
    open: Option<(TxnGroup, GroupEnd)>,
    /// Context events seen outside a group; they belong to the next (autocommitted) statement.
    loose: TxnGroup,
}

impl TxnBuilder {
    /// A builder with no open group.
    pub fn new() -> Self {
        Self::default()
    }

    /// True while a group has started and not ended (or loose context events wait for their QUERY).
    pub fn in_group(&self) -> bool {
        self.open.is_some() || !self.loose.events.is_empty()
    }

    /// Drops any open group (used when the event source is reset, e.g. relay logs discarded).
    pub fn reset(&mut self) {
        self.open = None;
        self.loose = TxnGroup::default();
    }

    /// Feeds one event of `size` encoded bytes.
    pub fn push(&mut self, event: Event, size: u64) -> Pushed {
        match &event.body {
            EventBody::Gtid { flags2, .. } => {
                let end = if flags2 & gtid_flags::STANDALONE != 0 {
                    GroupEnd::Standalone
                } else {
                    GroupEnd::Commit
                };
                let dropped = self.take_open();
                self.open = Some((TxnGroup { events: vec![event], bytes: size }, end));
                dropped.map_or(Pushed::Pending, Pushed::Discarded)
            }
            EventBody::Intvar { .. } | EventBody::Rand { .. } | EventBody::UserVar { .. } => {
                self.group_mut().events.push(event);
                self.group_mut().bytes += size;
                Pushed::Pending
            }
            EventBody::Query { sql, .. } => {
                let word = control_word(sql);
                if self.open.is_none() && word == Some(ControlWord::Begin) {
                    let loose = std::mem::take(&mut self.loose);
                    let mut group = TxnGroup { events: loose.events, bytes: loose.bytes + size };
                    group.events.push(event);
                    self.open = Some((group, GroupEnd::Commit));
                    return Pushed::Pending;
                }
                if self.open.is_some() && word == Some(ControlWord::Begin) {
                    // A BEGIN right after a (non-standalone) GTID is part of the same group.
                    if let Some((group, _)) = &self.open {
                        if group.events.len() == 1
                            && matches!(group.events[0].body, EventBody::Gtid { .. })
                        {
                            self.push_open(event, size);
                            return Pushed::Pending;
                        }
                    }
                    let dropped = self.take_open();
                    self.open =
                        Some((TxnGroup { events: vec![event], bytes: size }, GroupEnd::Commit));
                    return dropped.map_or(Pushed::Pending, Pushed::Discarded);
                }
                match self.open.as_ref().map(|(_, end)| *end) {
                    None => {
                        let mut group = std::mem::take(&mut self.loose);
                        group.events.push(event);
                        group.bytes += size;
                        Pushed::Group(group)
                    }
                    Some(GroupEnd::Standalone) => {
                        self.push_open(event, size);
                        Pushed::Group(self.take_open().unwrap_or_default())
                    }
                    Some(GroupEnd::Commit) => {
                        self.push_open(event, size);
                        if matches!(word, Some(ControlWord::Commit | ControlWord::Rollback)) {
                            Pushed::Group(self.take_open().unwrap_or_default())
                        } else {
                            Pushed::Pending
                        }
                    }
                }
            }
            EventBody::Xid(_) => {
                if self.open.is_some() {
                    self.push_open(event, size);
                    Pushed::Group(self.take_open().unwrap_or_default())
                } else {
                    // An XID without an open group ends nothing we can apply; report it to the caller.
                    Pushed::Other(event)
                }
            }
            _ => Pushed::Other(event),
        }
    }

    fn group_mut(&mut self) -> &mut TxnGroup {
        match &mut self.open {
            Some((group, _)) => group,
            None => &mut self.loose,
        }
    }

    fn push_open(&mut self, event: Event, size: u64) {
        let group = self.group_mut();
        group.events.push(event);
        group.bytes += size;
    }

    fn take_open(&mut self) -> Option<TxnGroup> {
        let mut group = self.open.take().map(|(g, _)| g)?;
        let loose = std::mem::take(&mut self.loose);
        group.events.extend(loose.events);
        group.bytes += loose.bytes;
        Some(group)
    }
}

/// Transaction-control statements that appear as QUERY events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlWord {
    /// `BEGIN` (or `START TRANSACTION`).
    Begin,
    /// `COMMIT`.
    Commit,
    /// `ROLLBACK`.
    Rollback,
}

/// Recognises `BEGIN`, `COMMIT`, `ROLLBACK` (as MariaDB logs them: bare words, any case).
pub fn control_word(sql: &[u8]) -> Option<ControlWord> {
    let text = std::str::from_utf8(sql).ok()?.trim().trim_end_matches(';').trim();
    if text.eq_ignore_ascii_case("BEGIN") || text.eq_ignore_ascii_case("START TRANSACTION") {
        Some(ControlWord::Begin)
    } else if text.eq_ignore_ascii_case("COMMIT") {
        Some(ControlWord::Commit)
    } else if text.eq_ignore_ascii_case("ROLLBACK") {
        Some(ControlWord::Rollback)
    } else {
        None
    }
}

/// Replays event groups through the SQL engine (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct Applier {
    engine: Engine,
    begin: Stmt,
    commit: Stmt,
    rollback: Stmt,
}

impl Applier {
    /// An applier over `engine`.
    pub fn new(engine: Engine) -> Result<Applier> {
        let one = |sql: &str| -> Result<Stmt> {
            engine
                .parse(sql)?
                .into_iter()
                .next()
                .ok_or_else(|| Error::InvalidData(format!("cannot parse {sql}")))
        };
        let (begin, commit, rollback) = (one("BEGIN")?, one("COMMIT")?, one("ROLLBACK")?);
        Ok(Applier { engine, begin, commit, rollback })
    }

    /// The engine this applier writes to.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Applies one complete group and writes `meta` in the same atomic batch as its rows. On error nothing
    /// of the group is written (neither rows nor meta).
    pub fn apply(&self, group: &TxnGroup, meta: &[MetaRecord]) -> Result<AppliedTxn> {
        let mut run = Run::new(self);
        for event in &group.events {
            run.step(event)?;
        }
        run.finish(group, meta)
    }

    /// Records `meta` without applying anything (a group skipped on purpose: own server id,
    /// `sql_slave_skip_counter`).
    pub fn skip(&self, meta: &[MetaRecord]) -> Result<()> {
        self.engine.put_meta(meta)
    }
}

/// The state of one group being applied.
struct Run<'a> {
    applier: &'a Applier,
    session: Session,
    ctx: ExecContext,
    statements: usize,
}

impl<'a> Run<'a> {
    fn new(applier: &'a Applier) -> Self {
        Run { applier, session: Session::new(), ctx: ExecContext::default(), statements: 0 }
    }

    fn exec(&mut self, stmt: &Stmt) -> Result<()> {
        self.applier.engine.execute(&mut self.session, stmt, &self.ctx).map(|_| ())
    }

    fn step(&mut self, event: &Event) -> Result<()> {
        match &event.body {
            EventBody::Gtid { flags2, .. } if flags2 & gtid_flags::STANDALONE == 0 => {
                let applier = self.applier;
                self.exec(&applier.begin)?;
            }
            EventBody::Intvar { kind, value } => match *kind {
                intvar::INSERT_ID => self.ctx.insert_id = Some(*value),
                intvar::LAST_INSERT_ID => self.ctx.last_insert_id = Some(*value),
                other => {
                    return Err(Error::InvalidData(format!(
                        "INTVAR event with unknown subtype {other}"
                    )))
                }
            },
            EventBody::Rand { seed1, seed2 } => self.ctx.rand_seeds = Some((*seed1, *seed2)),
            EventBody::UserVar { name, value, charset, .. } => {
                let value = user_var_value(value, *charset)?;
                self.session.user_vars.insert(name.to_lowercase(), value);
            }
            EventBody::Query { .. } => self.query(event)?,
            EventBody::Xid(_) if self.session.in_transaction() => {
                let applier = self.applier;
                self.exec(&applier.commit)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn query(&mut self, event: &Event) -> Result<()> {
        let EventBody::Query { db, status, sql, error_code, .. } = &event.body else {
            return Ok(());
        };
        match control_word(sql) {
            Some(ControlWord::Begin) => {
                if !self.session.in_transaction() {
                    let applier = self.applier;
                    self.exec(&applier.begin)?;
                }
                return Ok(());
            }
            Some(ControlWord::Commit) => {
                let applier = self.applier;
                return self.exec(&applier.commit);
            }
            Some(ControlWord::Rollback) => {
                let applier = self.applier;
                return self.exec(&applier.rollback);
            }
            None => {}
        }
        let text = std::str::from_utf8(sql).map_err(|_| {
            Error::sql(1300, "HY000", "Invalid utf8 character string in replicated statement")
        })?;
        self.session.current_db = (!db.is_empty()).then(|| db.clone());
        self.ctx.now_us =
            i64::from(event.header.timestamp) * 1_000_000 + i64::from(status.hrnow_us.unwrap_or(0));
        apply_status(&mut self.session, status);
        let result = self.run_text(text);
        self.statements += 1;
        // Context events belong to exactly one statement.
        self.ctx = ExecContext::default();
        check_outcome(result, *error_code, text).map_err(|e| with_query(e, db, text))
    }

    fn run_text(&mut self, text: &str) -> Result<()> {
        let stmts = self.applier.engine.parse(text)?;
        for stmt in &stmts {
            if stmt.kind == StmtKind::Admin {
                return Err(Error::sql(
                    1064,
                    "42000",
                    format!("statement cannot be replicated: {}", truncate(text, 200)),
                ));
            }
            self.exec(stmt)?;
        }
        Ok(())
    }

    fn finish(mut self, group: &TxnGroup, meta: &[MetaRecord]) -> Result<AppliedTxn> {
        if self.session.in_transaction() {
            // A group always ends its transaction; one that does not is cut off and must not apply.
            return Err(Error::InvalidData(format!(
                "event group ending at log_pos {} has no COMMIT/XID",
                group.end_log_pos()
            )));
        }
        let commits = self.session.take_commits();
        let merged = merge_commits(commits);
        let writes = merged.as_ref().map_or(0, |c| c.writes.len());
        match merged {
            Some(commit) => self.applier.engine.apply_commit(&commit, meta)?,
            None => self.applier.engine.put_meta(meta)?,
        }
        Ok(AppliedTxn {
            gtid: group.gtid(),
            end_log_pos: group.end_log_pos(),
            statements: self.statements,
            writes,
        })
    }
}

/// Compares a statement's result with the primary's `error_code`.
fn check_outcome(result: Result<()>, expected: u16, text: &str) -> Result<()> {
    match (result, expected) {
        (Ok(()), 0) => Ok(()),
        (Err(e), 0) => Err(e),
        (Err(e), code) if e.to_mysql().0 == code => Ok(()),
        (result, code) => {
            let (got, msg) = match &result {
                Ok(()) => (0, String::new()),
                Err(e) => {
                    let (c, _, m) = e.to_mysql();
                    (c, m)
                }
            };
            Err(Error::sql(
                ER_INCONSISTENT_ERROR,
                "HY000",
                format!(
                    "Query caused different errors on master and slave. Error on master: error code={code}; \
                     Error on slave: actual message='{msg}', error code={got}. Query:'{}'",
                    truncate(text, 200)
                ),
            ))
        }
    }
}

/// Rewords an SQL error the way a MySQL replica reports it in Last_SQL_Error (same code).
fn with_query(e: Error, db: &str, text: &str) -> Error {
    match e {
        Error::Sql(se) if se.code != ER_INCONSISTENT_ERROR => Error::sql(
            se.code,
            &se.state,
            format!(
                "Error '{}' on query. Default database: '{db}'. Query: '{}'",
                se.message,
                truncate(text, 200)
            ),
        ),
        other => other,
    }
}

/// The first `max` characters of `text` (all of it when shorter), cut at a character boundary.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// Merges the commits of one group (DDL inside a transaction yields two) into one, later writes winning.
fn merge_commits(mut commits: Vec<PendingCommit>) -> Option<PendingCommit> {
    if commits.len() <= 1 {
        return commits.pop();
    }
    let mut writes = WriteSet::new();
    let mut merged = PendingCommit::default();
    for commit in commits {
        merged.is_ddl |= commit.is_ddl;
        merged.statements.extend(commit.statements);
        for (k, v) in commit.writes.iter() {
            writes.insert(k.clone(), v.clone());
        }
    }
    merged.writes = Arc::new(writes);
    Some(merged)
}

/// Bits of `sql_mode` and their names (MariaDB 10.11 numbering), in display order.
const SQL_MODE_NAMES: [(u64, &str); 35] = [
    (1, "REAL_AS_FLOAT"),
    (1 << 1, "PIPES_AS_CONCAT"),
    (1 << 2, "ANSI_QUOTES"),
    (1 << 3, "IGNORE_SPACE"),
    (1 << 4, "IGNORE_BAD_TABLE_OPTIONS"),
    (1 << 5, "ONLY_FULL_GROUP_BY"),
    (1 << 6, "NO_UNSIGNED_SUBTRACTION"),
    (1 << 7, "NO_DIR_IN_CREATE"),
    (1 << 8, "POSTGRESQL"),
    (1 << 9, "ORACLE"),
    (1 << 10, "MSSQL"),
    (1 << 11, "DB2"),
    (1 << 12, "MAXDB"),
    (1 << 13, "NO_KEY_OPTIONS"),
    (1 << 14, "NO_TABLE_OPTIONS"),
    (1 << 15, "NO_FIELD_OPTIONS"),
    (1 << 16, "MYSQL323"),
    (1 << 17, "MYSQL40"),
    (1 << 18, "ANSI"),
    (1 << 19, "NO_AUTO_VALUE_ON_ZERO"),
    (1 << 20, "NO_BACKSLASH_ESCAPES"),
    (1 << 21, "STRICT_TRANS_TABLES"),
    (1 << 22, "STRICT_ALL_TABLES"),
    (1 << 23, "NO_ZERO_IN_DATE"),
    (1 << 24, "NO_ZERO_DATE"),
    (1 << 25, "ALLOW_INVALID_DATES"),
    (1 << 26, "ERROR_FOR_DIVISION_BY_ZERO"),
    (1 << 27, "TRADITIONAL"),
    (1 << 28, "NO_AUTO_CREATE_USER"),
    (1 << 29, "HIGH_NOT_PRECEDENCE"),
    (1 << 30, "NO_ENGINE_SUBSTITUTION"),
    (1 << 31, "PAD_CHAR_TO_FULL_LENGTH"),
    (1 << 32, "EMPTY_STRING_IS_NULL"),
    (1 << 33, "SIMULTANEOUS_ASSIGNMENT"),
    (1 << 34, "TIME_ROUND_FRACTIONAL"),
];

/// The text form of a `sql_mode` bit set, as `SELECT @@sql_mode` shows it.
pub fn sql_mode_text(mode: u64) -> String {
    SQL_MODE_NAMES
        .iter()
        .filter(|(bit, _)| mode & bit != 0)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(",")
}

/// Q_FLAGS2 bits.
const OPTION_AUTO_IS_NULL: u32 = 0x4000;
const OPTION_NO_FOREIGN_KEY_CHECKS: u32 = 0x0400_0000;
const OPTION_RELAXED_UNIQUE_CHECKS: u32 = 0x0800_0000;

/// Sets the session variables a QUERY's status variables carry.
fn apply_status(session: &mut Session, status: &crate::log::event::QueryStatus) {
    let vars = &mut session.vars;
    if let Some(mode) = status.sql_mode {
        vars.insert("sql_mode".into(), Value::Bytes(sql_mode_text(mode).into_bytes()));
    }
    if let Some(flags2) = status.flags2 {
        let on = |bit: u32| Value::Int(i64::from(flags2 & bit != 0));
        let off = |bit: u32| Value::Int(i64::from(flags2 & bit == 0));
        vars.insert("sql_auto_is_null".into(), on(OPTION_AUTO_IS_NULL));
        vars.insert("foreign_key_checks".into(), off(OPTION_NO_FOREIGN_KEY_CHECKS));
        vars.insert("unique_checks".into(), off(OPTION_RELAXED_UNIQUE_CHECKS));
    }
    if let Some(tz) = &status.time_zone {
        vars.insert("time_zone".into(), Value::Bytes(tz.clone().into_bytes()));
    }
    if let Some((increment, offset)) = status.auto_increment {
        vars.insert("auto_increment_increment".into(), Value::Int(i64::from(increment)));
        vars.insert("auto_increment_offset".into(), Value::Int(i64::from(offset)));
    }
}

/// Converts a logged USER_VAR value into the engine's form.
fn user_var_value(value: &LogUserVar, charset: u32) -> Result<UserVarValue> {
    Ok(match value {
        LogUserVar::Null => UserVarValue::Null,
        LogUserVar::String(bytes) => {
            UserVarValue::String(bytes.clone(), u16::try_from(charset).unwrap_or(45))
        }
        LogUserVar::Real(v) => UserVarValue::Real(*v),
        LogUserVar::Int { value, unsigned } => UserVarValue::Int(*value, *unsigned),
        LogUserVar::Decimal { precision, scale, bytes } => {
            UserVarValue::Decimal(decimal_from_bin(*precision, *scale, bytes)?)
        }
    })
}

/// Decodes MySQL's binary DECIMAL format (`decimal2bin`) into its canonical text (`-12.50`).
pub fn decimal_from_bin(precision: u8, scale: u8, bytes: &[u8]) -> Result<String> {
    const DIG_PER_DEC: usize = 9;
    const DIG2BYTES: [usize; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
    let (precision, scale) = (precision as usize, scale as usize);
    if scale > precision || precision == 0 {
        return Err(Error::InvalidData(format!("decimal({precision},{scale}) is not valid")));
    }
    let intg = precision - scale;
    let (intg0, intg0x) = (intg / DIG_PER_DEC, intg % DIG_PER_DEC);
    let (frac0, frac0x) = (scale / DIG_PER_DEC, scale % DIG_PER_DEC);
    let size = intg0 * 4 + DIG2BYTES[intg0x] + frac0 * 4 + DIG2BYTES[frac0x];
    if bytes.len() < size {
        return Err(Error::InvalidData(format!(
            "decimal({precision},{scale}) needs {size} bytes, got {}",
            bytes.len()
        )));
    }
    let mut buf = bytes[..size].to_vec();
    let negative = buf[0] & 0x80 == 0;
    buf[0] ^= 0x80;
    if negative {
        buf.iter_mut().for_each(|b| *b = !*b);
    }
    let mut pos = 0;
    let mut read = |n: usize| -> u32 {
        let v = buf[pos..pos + n].iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        pos += n;
        v
    };
    let mut int_part = String::new();
    if intg0x > 0 {
        int_part.push_str(&read(DIG2BYTES[intg0x]).to_string());
    }
    for _ in 0..intg0 {
        let v = read(4);
        if int_part.is_empty() {
            int_part.push_str(&v.to_string());
        } else {
            int_part.push_str(&format!("{v:09}"));
        }
    }
    let int_part = int_part.trim_start_matches('0');
    let mut text = String::new();
    if negative {
        text.push('-');
    }
    text.push_str(if int_part.is_empty() { "0" } else { int_part });
    if scale > 0 {
        text.push('.');
        for _ in 0..frac0 {
            text.push_str(&format!("{:09}", read(4)));
        }
        if frac0x > 0 {
            text.push_str(&format!("{:0width$}", read(DIG2BYTES[frac0x]), width = frac0x));
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::event::QueryStatus;

    #[test]
    fn truncate_cuts_at_a_character_boundary() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 3), "abc");
        assert_eq!(truncate("äöüß", 2), "äö");
        assert_eq!(truncate("ab€", 3), "ab€");
        assert_eq!(truncate("", 0), "");
    }

    fn ev(ts: u32, log_pos: u32, body: EventBody) -> Event {
        Event::new(ts, 1, log_pos, 0, body)
    }

    fn query(sql: &str) -> EventBody {
        EventBody::query(1, "db", QueryStatus::standard(), sql)
    }

    fn gtid(seq: u64, flags2: u8) -> EventBody {
        EventBody::Gtid { seq_no: seq, domain_id: 0, flags2, commit_id: 0, extra: vec![] }
    }

    #[test]
    fn builder_cuts_gtid_groups() {
        let mut b = TxnBuilder::new();
        assert!(matches!(b.push(ev(1, 10, gtid(1, gtid_flags::FOR_DDL)), 10), Pushed::Pending));
        let Pushed::Group(g) = b.push(ev(1, 20, query("CREATE TABLE t (a INT)")), 10) else {
            panic!()
        };
        assert_eq!(g.events.len(), 2);
        assert_eq!(g.gtid(), Some(Gtid::new(0, 1, 1)));
        assert_eq!(g.end_log_pos(), 20);
        assert_eq!(g.bytes, 20);

        assert!(matches!(b.push(ev(1, 30, gtid(2, gtid_flags::FOR_DML)), 1), Pushed::Pending));
        assert!(matches!(
            b.push(ev(1, 40, EventBody::Intvar { kind: 2, value: 5 }), 1),
            Pushed::Pending
        ));
        assert!(matches!(b.push(ev(1, 50, query("INSERT INTO t VALUES (1)")), 1), Pushed::Pending));
        assert!(matches!(b.push(ev(1, 60, query("UPDATE t SET a = 2")), 1), Pushed::Pending));
        let Pushed::Group(g) = b.push(ev(1, 70, EventBody::Xid(9)), 1) else { panic!() };
        assert_eq!(g.events.len(), 5);
        assert!(!b.in_group());
    }

    #[test]
    fn builder_cuts_plain_groups_and_passes_others() {
        let mut b = TxnBuilder::new();
        let fde = ev(0, 0, EventBody::format_description("10.11", 0));
        assert!(matches!(b.push(fde, 1), Pushed::Other(_)));
        // Autocommitted statement with context.
        assert!(matches!(
            b.push(ev(1, 5, EventBody::Rand { seed1: 1, seed2: 2 }), 1),
            Pushed::Pending
        ));
        let Pushed::Group(g) = b.push(ev(1, 10, query("INSERT INTO t VALUES (RAND())")), 1) else {
            panic!()
        };
        assert_eq!(g.events.len(), 2);
        assert_eq!(g.gtid(), None);
        // BEGIN .. COMMIT.
        assert!(matches!(b.push(ev(1, 20, query("BEGIN")), 1), Pushed::Pending));
        assert!(matches!(b.push(ev(1, 30, query("INSERT INTO t VALUES (1)")), 1), Pushed::Pending));
        let rot = ev(0, 0, EventBody::Rotate { position: 4, next_file: "x.000002".into() });
        assert!(matches!(b.push(rot, 1), Pushed::Other(_)));
        let Pushed::Group(g) = b.push(ev(1, 40, query("COMMIT")), 1) else { panic!() };
        assert_eq!(g.events.len(), 3);
        assert_eq!(g.end_log_pos(), 40);
    }

    #[test]
    fn builder_discards_cut_off_group() {
        let mut b = TxnBuilder::new();
        b.push(ev(1, 10, gtid(5, gtid_flags::FOR_DML)), 1);
        b.push(ev(1, 20, query("INSERT INTO t VALUES (1)")), 1);
        let Pushed::Discarded(d) = b.push(ev(1, 10, gtid(5, gtid_flags::FOR_DML)), 1) else {
            panic!()
        };
        assert_eq!(d.events.len(), 2);
        b.push(ev(1, 20, query("INSERT INTO t VALUES (1)")), 1);
        let Pushed::Group(g) = b.push(ev(1, 30, EventBody::Xid(1)), 1) else { panic!() };
        assert_eq!(g.gtid(), Some(Gtid::new(0, 1, 5)));
    }

    #[test]
    fn builder_keeps_begin_after_gtid() {
        let mut b = TxnBuilder::new();
        b.push(ev(1, 10, gtid(5, gtid_flags::FOR_DML)), 1);
        assert!(matches!(b.push(ev(1, 20, query("BEGIN")), 1), Pushed::Pending));
        b.push(ev(1, 30, query("INSERT INTO t VALUES (1)")), 1);
        let Pushed::Group(g) = b.push(ev(1, 40, query("COMMIT")), 1) else { panic!() };
        assert_eq!(g.events.len(), 4);
    }

    #[test]
    fn control_words() {
        assert_eq!(control_word(b"BEGIN"), Some(ControlWord::Begin));
        assert_eq!(control_word(b" commit; "), Some(ControlWord::Commit));
        assert_eq!(control_word(b"ROLLBACK"), Some(ControlWord::Rollback));
        assert_eq!(control_word(b"BEGIN WORK x"), None);
        assert_eq!(control_word(&[0xff, 0xfe]), None);
    }

    #[test]
    fn sql_mode_names() {
        assert_eq!(
            sql_mode_text(0x5420_0000),
            "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION"
        );
        assert_eq!(sql_mode_text(0), "");
    }

    #[test]
    fn decimal_binary() {
        // DECIMAL(4,2) 12.50: intg 2 digits -> 1 byte, frac 2 digits -> 1 byte; sign bit set when >= 0.
        assert_eq!(decimal_from_bin(4, 2, &[0x80 | 12, 50]).unwrap(), "12.50");
        // -12.50: bytes inverted.
        assert_eq!(decimal_from_bin(4, 2, &[!(0x80 | 12) ^ 0x80 ^ 0x80, !50]).unwrap(), "-12.50");
        // DECIMAL(10,0) 1234567890: intg0 = 1 (9 digits, 4 bytes), intg0x = 1 (1 byte).
        let v: u32 = 234_567_890;
        let mut b = vec![0x80 | 1];
        b.extend_from_slice(&v.to_be_bytes());
        assert_eq!(decimal_from_bin(10, 0, &b).unwrap(), "1234567890");
        assert_eq!(decimal_from_bin(3, 1, &[0x80, 0]).unwrap(), "0.0");
        assert!(decimal_from_bin(10, 0, &[0x80]).is_err());
        assert!(decimal_from_bin(2, 3, &[0x80]).is_err());
    }

    #[test]
    fn outcome_rules() {
        assert!(check_outcome(Ok(()), 0, "x").is_ok());
        let dup = || Err(Error::sql(1062, "23000", "Duplicate entry"));
        assert!(check_outcome(dup(), 1062, "x").is_ok());
        assert_eq!(check_outcome(dup(), 0, "x").unwrap_err().to_mysql().0, 1062);
        assert_eq!(
            check_outcome(Ok(()), 1062, "x").unwrap_err().to_mysql().0,
            ER_INCONSISTENT_ERROR
        );
        assert_eq!(
            check_outcome(dup(), 1146, "x").unwrap_err().to_mysql().0,
            ER_INCONSISTENT_ERROR
        );
    }
}
