//! The statements the server layer answers itself: binary-log administration, replica hosts, the
//! process list, KILL, and the queries a replica or `mariadb-binlog` sends before a binlog dump.
//!
//! [`parse_admin`] recognises them from the statement text with a small tokenizer (they are few and
//! their grammar is fixed), so they work whatever the SQL engine's parser supports. Anything it does not
//! recognise returns `None` and goes to the engine.

use crate::error::Result;

/// A statement answered by the server layer.
#[derive(Clone, Debug, PartialEq)]
pub enum Admin {
    /// SHOW MASTER STATUS / SHOW BINARY LOG STATUS.
    MasterStatus,
    /// SHOW BINARY LOGS / SHOW MASTER LOGS.
    BinaryLogs,
    /// SHOW BINLOG EVENTS [IN 'file'] [FROM pos] [LIMIT [offset,] count].
    BinlogEvents {
        /// File to read (default: the first one).
        file: Option<String>,
        /// Offset to start at (default 4).
        from: Option<u64>,
        /// Rows to skip.
        offset: u64,
        /// Rows to return at most.
        limit: Option<u64>,
    },
    /// FLUSH BINARY LOGS / FLUSH LOGS.
    FlushLogs,
    /// PURGE BINARY|MASTER LOGS TO 'file'.
    PurgeTo(String),
    /// PURGE BINARY|MASTER LOGS BEFORE 'datetime' (seconds since the epoch, UTC).
    PurgeBefore(i64),
    /// PURGE BINARY|MASTER LOGS BEFORE <expression> (e.g. `NOW() - INTERVAL 3 DAY`): the
    /// expression's text, evaluated by the SQL engine.
    PurgeBeforeExpr(String),
    /// SHOW SLAVE HOSTS / SHOW REPLICAS.
    SlaveHosts,
    /// SHOW [FULL] PROCESSLIST.
    ProcessList {
        /// FULL: show whole statement texts.
        full: bool,
    },
    /// KILL [CONNECTION | QUERY] id.
    Kill {
        /// Connection id.
        id: u64,
        /// KILL QUERY: only the running statement.
        query_only: bool,
    },
    /// SET @var = value, for the variables of the replication handshake (kept in the connection).
    SetReplVar {
        /// Lower-cased variable name without `@`.
        name: String,
        /// The value as text (quotes removed), or `None` for an expression we do not evaluate.
        value: Option<String>,
    },
    /// SELECT @master_binlog_checksum.
    SelectChecksum,
    /// SELECT binlog_gtid_pos('file', pos).
    BinlogGtidPos {
        /// File name.
        file: String,
        /// Offset.
        pos: u64,
    },
    /// SHOW SLAVE STATUS / SHOW REPLICA STATUS on a server without the replica role.
    SlaveStatusEmpty,
}

/// Tokens of an admin statement: words (upper-cased), quoted strings, numbers and punctuation.
#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Punct(char),
}

fn tokenize(sql: &str) -> Option<Vec<Tok>> {
    let mut out = Vec::new();
    let mut chars = sql.trim().trim_end_matches(';').chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' || c == '"' || c == '`' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next()? {
                    '\\' if c != '`' => s.push(chars.next()?),
                    q if q == c => {
                        if chars.peek() == Some(&c) {
                            chars.next();
                            s.push(c);
                        } else {
                            break;
                        }
                    }
                    ch => s.push(ch),
                }
            }
            out.push(if c == '`' { Tok::Word(s.to_ascii_uppercase()) } else { Tok::Str(s) });
        } else if c.is_alphanumeric() || c == '_' || c == '@' || c == '.' || c == '$' {
            let mut w = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_alphanumeric() || ch == '_' || ch == '@' || ch == '.' || ch == '$' {
                    w.push(ch);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(Tok::Word(w.to_ascii_uppercase()));
        } else {
            out.push(Tok::Punct(c));
            chars.next();
        }
    }
    Some(out)
}

fn words(toks: &[Tok]) -> Vec<&str> {
    toks.iter().map(|t| if let Tok::Word(w) = t { w.as_str() } else { "" }).collect()
}

/// Recognises a server-layer statement; `None` sends it to the engine. `Some(Err)` is a recognised
/// statement with a bad argument.
pub fn parse_admin(sql: &str) -> Option<Result<Admin>> {
    // Every admin statement is short and starts with one of these words: skip the tokenizer for the
    // rest (it would walk a multi-megabyte INSERT character by character).
    let first = sql.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next()?;
    let known = ["SHOW", "FLUSH", "PURGE", "KILL", "SET", "SELECT"];
    if sql.len() > 4096 || !known.iter().any(|k| first.eq_ignore_ascii_case(k)) {
        return None;
    }
    let toks = tokenize(sql)?;
    let w = words(&toks);
    let starts = |p: &[&str]| w.len() >= p.len() && w[..p.len()] == *p;
    let exact = |p: &[&str]| w.len() == p.len() && w[..] == *p;
    let admin = if exact(&["SHOW", "MASTER", "STATUS"])
        || exact(&["SHOW", "BINARY", "LOG", "STATUS"])
    {
        Admin::MasterStatus
    } else if exact(&["SHOW", "BINARY", "LOGS"]) || exact(&["SHOW", "MASTER", "LOGS"]) {
        Admin::BinaryLogs
    } else if starts(&["SHOW", "BINLOG", "EVENTS"]) {
        return Some(parse_binlog_events(&toks[3..]));
    } else if exact(&["FLUSH", "BINARY", "LOGS"]) || exact(&["FLUSH", "LOGS"]) {
        Admin::FlushLogs
    } else if starts(&["PURGE"])
        && w.len() >= 3
        && (w[1] == "BINARY" || w[1] == "MASTER")
        && w[2] == "LOGS"
    {
        return Some(parse_purge(&toks[3..]).or_else(|e| match (&toks[3..], before_expr(sql)) {
            ([Tok::Word(w), _, ..], Some(expr)) if w == "BEFORE" => {
                Ok(Admin::PurgeBeforeExpr(expr))
            }
            _ => Err(e),
        }));
    } else if exact(&["SHOW", "SLAVE", "HOSTS"]) || exact(&["SHOW", "REPLICAS"]) {
        Admin::SlaveHosts
    } else if exact(&["SHOW", "PROCESSLIST"]) || exact(&["SHOW", "FULL", "PROCESSLIST"]) {
        Admin::ProcessList { full: w.len() == 3 }
    } else if starts(&["KILL"]) {
        return Some(parse_kill(&toks[1..]));
    } else if starts(&["SET"]) && w.len() >= 2 && is_repl_var(w[1]) {
        return parse_set_repl_var(&toks[1..]).map(Ok);
    } else if exact(&["SELECT", "@MASTER_BINLOG_CHECKSUM"]) {
        Admin::SelectChecksum
    } else if starts(&["SELECT", "BINLOG_GTID_POS"]) {
        return Some(parse_gtid_pos(&toks[2..]));
    } else {
        return None;
    };
    Some(Ok(admin))
}

/// The replication-handshake variables the server keeps itself.
fn is_repl_var(word: &str) -> bool {
    matches!(
        word,
        "@MASTER_BINLOG_CHECKSUM"
            | "@SLAVE_CONNECT_STATE"
            | "@MASTER_HEARTBEAT_PERIOD"
            | "@MARIADB_SLAVE_CAPABILITY"
            | "@SLAVE_GTID_STRICT_MODE"
            | "@SLAVE_GTID_IGNORE_DUPLICATES"
            | "@RPL_SEMI_SYNC_SLAVE"
            | "@MASTER_SERVER_ID"
    )
}

fn parse_set_repl_var(toks: &[Tok]) -> Option<Admin> {
    // SET @name = value  |  SET @name := value; only a single assignment is handled here.
    let Tok::Word(name) = toks.first()? else { return None };
    let mut rest = &toks[1..];
    if rest.first() == Some(&Tok::Punct(':')) {
        rest = &rest[1..];
    }
    if rest.first() != Some(&Tok::Punct('=')) {
        return None;
    }
    let value = match &rest[1..] {
        [Tok::Str(s)] => Some(s.clone()),
        [Tok::Word(w)] if w.chars().all(|c| c.is_ascii_digit()) => Some(w.clone()),
        [Tok::Word(w)] if w == "@@GLOBAL.BINLOG_CHECKSUM" => Some("CRC32".into()),
        _ => None,
    };
    Some(Admin::SetReplVar { name: name[1..].to_ascii_lowercase(), value })
}

fn bad_syntax(near: &str) -> crate::error::Error {
    crate::error::Error::sql(
        1064,
        "42000",
        format!("You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near '{near}'"),
    )
}

fn number(t: Option<&Tok>) -> Result<u64> {
    match t {
        Some(Tok::Word(w)) => w.parse().map_err(|_| bad_syntax(w)),
        _ => Err(bad_syntax("")),
    }
}

fn parse_binlog_events(mut toks: &[Tok]) -> Result<Admin> {
    let (mut file, mut from, mut offset, mut limit) = (None, None, 0, None);
    if let [Tok::Word(w), Tok::Str(f), rest @ ..] = toks {
        if w == "IN" {
            file = Some(f.clone());
            toks = rest;
        }
    }
    if let [Tok::Word(w), rest @ ..] = toks {
        if w == "FROM" {
            from = Some(number(rest.first())?);
            toks = &rest[1..];
        }
    }
    if let [Tok::Word(w), rest @ ..] = toks {
        if w == "LIMIT" {
            let a = number(rest.first())?;
            toks = &rest[1..];
            if toks.first() == Some(&Tok::Punct(',')) {
                offset = a;
                limit = Some(number(toks.get(1))?);
                toks = &toks[2..];
            } else {
                limit = Some(a);
            }
        }
    }
    if !toks.is_empty() {
        return Err(bad_syntax(&format!("{:?}", toks[0])));
    }
    Ok(Admin::BinlogEvents { file, from, offset, limit })
}

fn parse_purge(toks: &[Tok]) -> Result<Admin> {
    match toks {
        [Tok::Word(w), Tok::Str(f)] if w == "TO" => Ok(Admin::PurgeTo(f.clone())),
        [Tok::Word(w), Tok::Str(d)] if w == "BEFORE" => {
            let p = crate::wire::parse_datetime_text(d)
                .and_then(|p| crate::wire::datetime_micros(&p))
                .ok_or_else(|| {
                    crate::error::Error::sql(
                        1210,
                        "HY000",
                        format!("Incorrect arguments to PURGE: '{d}'"),
                    )
                })?;
            Ok(Admin::PurgeBefore(p.div_euclid(1_000_000)))
        }
        _ => Err(bad_syntax("")),
    }
}

/// The text after the BEFORE keyword of a PURGE statement (none when it is empty).
fn before_expr(sql: &str) -> Option<String> {
    let upper = sql.to_ascii_uppercase();
    let at = upper.find("BEFORE")? + "BEFORE".len();
    let expr = sql[at..].trim().trim_end_matches(';').trim();
    (!expr.is_empty()).then(|| expr.to_string())
}

fn parse_kill(toks: &[Tok]) -> Result<Admin> {
    let (query_only, rest) = match toks {
        [Tok::Word(w), rest @ ..] if w == "QUERY" => (true, rest),
        [Tok::Word(w), rest @ ..] if w == "CONNECTION" => (false, rest),
        rest => (false, rest),
    };
    if rest.len() != 1 {
        return Err(bad_syntax(""));
    }
    Ok(Admin::Kill { id: number(rest.first())?, query_only })
}

fn parse_gtid_pos(toks: &[Tok]) -> Result<Admin> {
    match toks {
        [Tok::Punct('('), Tok::Str(f), Tok::Punct(','), p, Tok::Punct(')')] => {
            Ok(Admin::BinlogGtidPos { file: f.clone(), pos: number(Some(p))? })
        }
        _ => Err(bad_syntax("binlog_gtid_pos")),
    }
}

/// True for the replica-role statements a server without the replica role must still answer:
/// SHOW SLAVE/REPLICA STATUS returns an empty result, as on a MariaDB server that is no replica.
pub fn is_slave_status(sql: &str) -> bool {
    let first = sql.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next();
    if sql.len() > 256 || !first.is_some_and(|w| w.eq_ignore_ascii_case("SHOW")) {
        return false;
    }
    let toks = tokenize(sql).unwrap_or_default();
    let w = words(&toks);
    w.len() == 3 && w[0] == "SHOW" && (w[1] == "SLAVE" || w[1] == "REPLICA") && w[2] == "STATUS"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(sql: &str) -> Admin {
        parse_admin(sql).expect("recognised").expect("valid")
    }

    #[test]
    fn recognises_admin_statements() {
        assert_eq!(p("show master status"), Admin::MasterStatus);
        assert_eq!(p("SHOW BINARY LOG STATUS;"), Admin::MasterStatus);
        assert_eq!(p("SHOW BINARY LOGS"), Admin::BinaryLogs);
        assert_eq!(
            p("SHOW BINLOG EVENTS IN 'binlog.000002' FROM 256 LIMIT 2, 5"),
            Admin::BinlogEvents {
                file: Some("binlog.000002".into()),
                from: Some(256),
                offset: 2,
                limit: Some(5)
            }
        );
        assert_eq!(
            p("SHOW BINLOG EVENTS"),
            Admin::BinlogEvents { file: None, from: None, offset: 0, limit: None }
        );
        assert_eq!(p("FLUSH BINARY LOGS"), Admin::FlushLogs);
        assert_eq!(
            p("PURGE BINARY LOGS TO 'binlog.000003'"),
            Admin::PurgeTo("binlog.000003".into())
        );
        assert_eq!(
            p("PURGE MASTER LOGS BEFORE '2023-11-14 22:13:20'"),
            Admin::PurgeBefore(1_700_000_000)
        );
        assert_eq!(
            p("PURGE BINARY LOGS BEFORE NOW() - INTERVAL 1 DAY;"),
            Admin::PurgeBeforeExpr("NOW() - INTERVAL 1 DAY".into())
        );
        assert!(parse_admin("PURGE BINARY LOGS BEFORE").unwrap().is_err());
        assert_eq!(p("SHOW REPLICAS"), Admin::SlaveHosts);
        assert_eq!(p("show full processlist"), Admin::ProcessList { full: true });
        assert_eq!(p("KILL QUERY 7"), Admin::Kill { id: 7, query_only: true });
        assert_eq!(p("KILL 12"), Admin::Kill { id: 12, query_only: false });
        assert_eq!(
            p("SET @slave_connect_state='0-1-26'"),
            Admin::SetReplVar { name: "slave_connect_state".into(), value: Some("0-1-26".into()) }
        );
        assert_eq!(
            p("SET @master_heartbeat_period= 1000000000"),
            Admin::SetReplVar {
                name: "master_heartbeat_period".into(),
                value: Some("1000000000".into())
            }
        );
        assert_eq!(
            p("SET @master_binlog_checksum= @@global.binlog_checksum"),
            Admin::SetReplVar {
                name: "master_binlog_checksum".into(),
                value: Some("CRC32".into())
            }
        );
        assert_eq!(p("SELECT @master_binlog_checksum"), Admin::SelectChecksum);
        assert_eq!(
            p("SELECT binlog_gtid_pos('binlog.000001', 1234)"),
            Admin::BinlogGtidPos { file: "binlog.000001".into(), pos: 1234 }
        );
    }

    #[test]
    fn leaves_other_statements_to_the_engine() {
        for sql in [
            "SELECT 1",
            "SHOW TABLES",
            "SET @a = 1",
            "SHOW VARIABLES LIKE 'x'",
            "INSERT INTO kill VALUES (1)",
        ] {
            assert!(parse_admin(sql).is_none(), "{sql}");
        }
        assert!(parse_admin("KILL abc").unwrap().is_err());
        assert!(parse_admin("SHOW BINLOG EVENTS FROM x").unwrap().is_err());
        assert!(is_slave_status("show slave status"));
    }
}
