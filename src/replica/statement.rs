//! Parsing of the replication statements a session forwards to the replica role.
//!
//! sqlparser does not know MySQL's replication statements, so they are recognised here with a small
//! tokenizer: words (case-insensitive), quoted strings, numbers and punctuation. Anything that is not a
//! replication statement parses as `None`, so that the session handles it; a replication statement with
//! bad syntax is ERROR 1064.

use crate::error::{Error, Result};

/// Which replica threads a START/STOP statement names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Threads {
    /// The IO (receiver) thread.
    pub io: bool,
    /// The SQL (applier) thread.
    pub sql: bool,
}

/// One option of CHANGE MASTER TO.
#[derive(Clone, Debug, PartialEq)]
pub enum ChangeOption {
    /// MASTER_HOST / SOURCE_HOST.
    Host(String),
    /// MASTER_PORT / SOURCE_PORT.
    Port(u16),
    /// MASTER_USER / SOURCE_USER.
    User(String),
    /// MASTER_PASSWORD / SOURCE_PASSWORD.
    Password(String),
    /// MASTER_CONNECT_RETRY / SOURCE_CONNECT_RETRY (seconds).
    ConnectRetry(u64),
    /// MASTER_RETRY_COUNT / SOURCE_RETRY_COUNT.
    RetryCount(u64),
    /// MASTER_HEARTBEAT_PERIOD / SOURCE_HEARTBEAT_PERIOD (seconds).
    HeartbeatPeriod(f64),
    /// MASTER_USE_GTID (`slave_pos`, `current_pos`, `no`); SOURCE_AUTO_POSITION = 1 means `slave_pos`.
    UseGtid(String),
}

/// A replication statement.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplicaStatement {
    /// CHANGE MASTER TO / CHANGE REPLICATION SOURCE TO.
    Change(Vec<ChangeOption>),
    /// START REPLICA|SLAVE [IO_THREAD|SQL_THREAD].
    Start(Threads),
    /// STOP REPLICA|SLAVE [IO_THREAD|SQL_THREAD].
    Stop(Threads),
    /// RESET REPLICA|SLAVE [ALL].
    Reset {
        /// RESET ... ALL: forget the source settings too.
        all: bool,
    },
    /// SHOW REPLICA STATUS (`replica_names`: Replica_/Source_ column names) / SHOW SLAVE STATUS.
    ShowStatus {
        /// True for SHOW REPLICA STATUS.
        replica_names: bool,
    },
    /// SET GLOBAL sql_slave_skip_counter = N.
    SkipCounter(u64),
    /// SET GLOBAL read_only = 0|1|ON|OFF: whether client writes are refused (a promoted replica is
    /// writable).
    SetReadOnly(bool),
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(String),
    Punct(char),
}

fn tokenize(sql: &str) -> Result<Vec<Tok>> {
    let mut toks = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c.is_ascii_alphabetic() || c == '_' || c == '@' {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '_' || c == '@' || c == '.' {
                    w.push(c.to_ascii_uppercase());
                    chars.next();
                } else {
                    break;
                }
            }
            toks.push(Tok::Word(w));
        } else if c.is_ascii_digit() || c == '.' || c == '-' {
            let mut n = String::new();
            n.push(c);
            chars.next();
            while let Some(&c) = chars.peek() {
                if c.is_ascii_digit() || c == '.' {
                    n.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            toks.push(Tok::Num(n));
        } else if c == '\'' || c == '"' || c == '`' {
            let quote = c;
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    None => return Err(syntax(sql)),
                    Some('\\') if quote != '`' => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some('0') => s.push('\0'),
                        Some(o) => s.push(o),
                        None => return Err(syntax(sql)),
                    },
                    Some(ch) if ch == quote => {
                        if chars.peek() == Some(&quote) {
                            s.push(quote);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    Some(ch) => s.push(ch),
                }
            }
            toks.push(if quote == '`' { Tok::Word(s.to_ascii_uppercase()) } else { Tok::Str(s) });
        } else {
            toks.push(Tok::Punct(c));
            chars.next();
        }
    }
    while toks.last() == Some(&Tok::Punct(';')) {
        toks.pop();
    }
    Ok(toks)
}

fn syntax(sql: &str) -> Error {
    let near: String = sql.chars().take(80).collect();
    Error::sql(
        1064,
        "42000",
        format!("You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near '{near}'"),
    )
}

/// Parses `sql`; `Ok(None)` when it is not a replication statement.
pub fn parse(sql: &str) -> Result<Option<ReplicaStatement>> {
    // Cheap pre-check on the first word so that ordinary statements are not tokenized.
    let first = sql.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
    if !["CHANGE", "START", "STOP", "RESET", "SHOW", "SET"]
        .iter()
        .any(|w| first.eq_ignore_ascii_case(w))
    {
        return Ok(None);
    }
    let Ok(toks) = tokenize(sql) else { return Ok(None) };
    let word = |i: usize| match toks.get(i) {
        Some(Tok::Word(w)) => w.as_str(),
        _ => "",
    };
    let replica_word = |i: usize| matches!(word(i), "SLAVE" | "REPLICA");
    match word(0) {
        "CHANGE" if word(1) == "MASTER" && word(2) == "TO" => {
            parse_change(sql, &toks[3..]).map(Some)
        }
        "CHANGE" if word(1) == "REPLICATION" && word(2) == "SOURCE" && word(3) == "TO" => {
            parse_change(sql, &toks[4..]).map(Some)
        }
        "START" if replica_word(1) => {
            parse_threads(sql, &toks[2..]).map(|t| Some(ReplicaStatement::Start(t)))
        }
        "STOP" if replica_word(1) => {
            parse_threads(sql, &toks[2..]).map(|t| Some(ReplicaStatement::Stop(t)))
        }
        "RESET" if replica_word(1) => match &toks[2..] {
            [] => Ok(Some(ReplicaStatement::Reset { all: false })),
            [Tok::Word(w)] if w == "ALL" => Ok(Some(ReplicaStatement::Reset { all: true })),
            _ => Err(syntax(sql)),
        },
        "SHOW" if replica_word(1) && word(2) == "STATUS" && toks.len() == 3 => {
            Ok(Some(ReplicaStatement::ShowStatus { replica_names: word(1) == "REPLICA" }))
        }
        "SET" => parse_skip_counter(sql, &toks[1..]),
        _ => Ok(None),
    }
}

fn parse_threads(sql: &str, toks: &[Tok]) -> Result<Threads> {
    if toks.is_empty() {
        return Ok(Threads { io: true, sql: true });
    }
    let mut t = Threads { io: false, sql: false };
    for (i, tok) in toks.iter().enumerate() {
        match tok {
            Tok::Word(w) if i % 2 == 0 && w == "IO_THREAD" => t.io = true,
            Tok::Word(w) if i % 2 == 0 && w == "SQL_THREAD" => t.sql = true,
            Tok::Punct(',') if i % 2 == 1 => {}
            _ => return Err(syntax(sql)),
        }
    }
    Ok(t)
}

fn parse_skip_counter(sql: &str, toks: &[Tok]) -> Result<Option<ReplicaStatement>> {
    let read_only = match toks {
        [Tok::Word(g), Tok::Word(v), rest @ ..] if g == "GLOBAL" && v == "READ_ONLY" => Some(rest),
        [Tok::Word(v), rest @ ..] if v == "@@GLOBAL.READ_ONLY" => Some(rest),
        _ => None,
    };
    if let Some(rest) = read_only {
        return match rest {
            [Tok::Punct('='), Tok::Num(n)] if n == "0" || n == "1" => {
                Ok(Some(ReplicaStatement::SetReadOnly(n == "1")))
            }
            [Tok::Punct('='), Tok::Word(w)]
                if w == "ON" || w == "OFF" || w == "TRUE" || w == "FALSE" =>
            {
                Ok(Some(ReplicaStatement::SetReadOnly(w == "ON" || w == "TRUE")))
            }
            _ => Err(syntax(sql)),
        };
    }
    let rest = match toks {
        [Tok::Word(g), Tok::Word(v), rest @ ..]
            if g == "GLOBAL" && v == "SQL_SLAVE_SKIP_COUNTER" =>
        {
            rest
        }
        [Tok::Word(v), rest @ ..] if v == "@@GLOBAL.SQL_SLAVE_SKIP_COUNTER" => rest,
        _ => return Ok(None),
    };
    match rest {
        [Tok::Punct('='), Tok::Num(n)] => {
            n.parse().map(|n| Some(ReplicaStatement::SkipCounter(n))).map_err(|_| syntax(sql))
        }
        _ => Err(syntax(sql)),
    }
}

fn parse_change(sql: &str, toks: &[Tok]) -> Result<ReplicaStatement> {
    let mut options = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let (Some(Tok::Word(name)), Some(Tok::Punct('='))) = (toks.get(i), toks.get(i + 1)) else {
            return Err(syntax(sql));
        };
        let value = toks.get(i + 2).ok_or_else(|| syntax(sql))?;
        let name =
            name.strip_prefix("MASTER_").or_else(|| name.strip_prefix("SOURCE_")).unwrap_or(name);
        let text = || match value {
            Tok::Str(s) => Ok(s.clone()),
            _ => Err(syntax(sql)),
        };
        let num = || match value {
            Tok::Num(n) => n.parse::<u64>().map_err(|_| syntax(sql)),
            _ => Err(syntax(sql)),
        };
        let option = match name {
            "HOST" => ChangeOption::Host(text()?),
            "PORT" => ChangeOption::Port(u16::try_from(num()?).map_err(|_| syntax(sql))?),
            "USER" => ChangeOption::User(text()?),
            "PASSWORD" => ChangeOption::Password(text()?),
            "CONNECT_RETRY" => ChangeOption::ConnectRetry(num()?),
            "RETRY_COUNT" => ChangeOption::RetryCount(num()?),
            "HEARTBEAT_PERIOD" => match value {
                Tok::Num(n) => ChangeOption::HeartbeatPeriod(n.parse().map_err(|_| syntax(sql))?),
                _ => return Err(syntax(sql)),
            },
            "USE_GTID" => match value {
                Tok::Word(w) => ChangeOption::UseGtid(w.to_ascii_lowercase()),
                _ => return Err(syntax(sql)),
            },
            "AUTO_POSITION" => {
                ChangeOption::UseGtid(if num()? == 1 { "slave_pos" } else { "no" }.into())
            }
            _ => {
                return Err(Error::sql(
                    1235,
                    "42000",
                    format!(
                        "This version of repld doesn't yet support 'CHANGE MASTER TO ... {name}'"
                    ),
                ))
            }
        };
        options.push(option);
        i += 3;
        match toks.get(i) {
            None => break,
            Some(Tok::Punct(',')) if i + 1 < toks.len() => i += 1,
            _ => return Err(syntax(sql)),
        }
    }
    if options.is_empty() {
        return Err(syntax(sql));
    }
    Ok(ReplicaStatement::Change(options))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_master() {
        let s = parse(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', master_port=3307, MASTER_USER='repl', \
             MASTER_PASSWORD='p''w', MASTER_CONNECT_RETRY=2, MASTER_RETRY_COUNT=5, \
             MASTER_HEARTBEAT_PERIOD=0.5, MASTER_USE_GTID=slave_pos;",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            s,
            ReplicaStatement::Change(vec![
                ChangeOption::Host("127.0.0.1".into()),
                ChangeOption::Port(3307),
                ChangeOption::User("repl".into()),
                ChangeOption::Password("p'w".into()),
                ChangeOption::ConnectRetry(2),
                ChangeOption::RetryCount(5),
                ChangeOption::HeartbeatPeriod(0.5),
                ChangeOption::UseGtid("slave_pos".into()),
            ])
        );
        let s = parse("change replication source to SOURCE_HOST=\"h\", SOURCE_AUTO_POSITION=1")
            .unwrap()
            .unwrap();
        assert_eq!(
            s,
            ReplicaStatement::Change(vec![
                ChangeOption::Host("h".into()),
                ChangeOption::UseGtid("slave_pos".into())
            ])
        );
        assert_eq!(parse("CHANGE MASTER TO MASTER_HOST=").unwrap_err().to_mysql().0, 1064);
        assert_eq!(parse("CHANGE MASTER TO MASTER_PORT='x'").unwrap_err().to_mysql().0, 1064);
        assert_eq!(parse("CHANGE MASTER TO MASTER_HOST='a',").unwrap_err().to_mysql().0, 1064);
        assert_eq!(parse("CHANGE MASTER TO MASTER_SSL=1").unwrap_err().to_mysql().0, 1235);
    }

    #[test]
    fn start_stop_reset_show() {
        let both = Threads { io: true, sql: true };
        assert_eq!(parse("START SLAVE").unwrap(), Some(ReplicaStatement::Start(both)));
        assert_eq!(parse("start replica;").unwrap(), Some(ReplicaStatement::Start(both)));
        assert_eq!(
            parse("STOP REPLICA IO_THREAD").unwrap(),
            Some(ReplicaStatement::Stop(Threads { io: true, sql: false }))
        );
        assert_eq!(
            parse("STOP SLAVE SQL_THREAD, IO_THREAD").unwrap(),
            Some(ReplicaStatement::Stop(both))
        );
        assert!(parse("STOP SLAVE FOO").is_err());
        assert_eq!(parse("RESET SLAVE ALL").unwrap(), Some(ReplicaStatement::Reset { all: true }));
        assert_eq!(parse("RESET REPLICA").unwrap(), Some(ReplicaStatement::Reset { all: false }));
        assert_eq!(
            parse("SHOW REPLICA STATUS").unwrap(),
            Some(ReplicaStatement::ShowStatus { replica_names: true })
        );
        assert_eq!(
            parse("show slave status").unwrap(),
            Some(ReplicaStatement::ShowStatus { replica_names: false })
        );
        assert_eq!(
            parse("SET GLOBAL sql_slave_skip_counter = 3").unwrap(),
            Some(ReplicaStatement::SkipCounter(3))
        );
        assert_eq!(
            parse("SET @@global.sql_slave_skip_counter=1").unwrap(),
            Some(ReplicaStatement::SkipCounter(1))
        );
    }

    #[test]
    fn read_only_is_a_replica_statement() {
        for (sql, want) in [
            ("SET GLOBAL read_only = 0", false),
            ("set global read_only=OFF", false),
            ("SET @@global.read_only = 1", true),
            ("SET GLOBAL read_only = ON", true),
        ] {
            assert_eq!(parse(sql).unwrap(), Some(ReplicaStatement::SetReadOnly(want)), "{sql}");
        }
        assert!(parse("SET GLOBAL read_only = 2").is_err());
    }

    #[test]
    fn other_statements_pass_through() {
        for sql in [
            "SELECT 1",
            "SET @a = 1",
            "SET GLOBAL read_only_x = 1",
            "SHOW MASTER STATUS",
            "START TRANSACTION",
            "SHOW TABLES",
            "INSERT INTO t VALUES ('x')",
            "RESET MASTER",
            "CHANGE x",
        ] {
            assert_eq!(parse(sql).unwrap(), None, "{sql}");
        }
    }
}
