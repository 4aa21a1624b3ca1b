//! Splitting SQL text into statements, MySQL version comments, and classification into [`StmtKind`].
//!
//! 1. [`split`] cuts the text at `;` outside quotes and comments (multi-statements).
//! 2. [`expand_version_comments`] turns `/*!NNNNN body */` and `/*M!NNNNNN body */` into `body` when the
//!    version is not above ours (10.11.19 = 101119), as MySQL does; other comments stay.
//! 3. Statements the server layer answers itself (replication control, FLUSH, PURGE, KILL, SHOW MASTER
//!    STATUS, ...) are recognised by their leading keywords and never reach sqlparser (kind Admin).
//!    A few reads sqlparser cannot parse (CHECKSUM TABLE, SHOW WARNINGS, ...) are kept as text, kind Read.
//! 4. Everything else is parsed with sqlparser's MySqlDialect and classified from the AST.

use super::api::{Stmt, StmtKind};
use crate::error::{Error, Result};
use sqlparser::ast::Statement;
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

/// The version that `/*!NNNNN */` comments are compared with.
pub const SERVER_VERSION_ID: u32 = 101119;

/// Largest statement nesting sqlparser is allowed (its default recursion limit is 50).
const RECURSION_LIMIT: usize = 200;

/// Splits `sql` at top-level semicolons; empty statements are dropped.
pub fn split(sql: &str) -> Vec<&str> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < b.len() {
                    if b[i] == b'\\' && q != b'`' {
                        i += 2;
                        continue;
                    }
                    if b[i] == q {
                        if i + 1 < b.len() && b[i + 1] == q {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-')
                && b.get(i + 2).is_none_or(|c| c.is_ascii_whitespace()) =>
            {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b';' => {
                out.push(&sql[start..i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < sql.len() {
        out.push(&sql[start.min(sql.len())..]);
    }
    out.into_iter().filter(|s| !is_blank(s)).collect()
}

/// True if the text holds only whitespace and comments.
fn is_blank(s: &str) -> bool {
    strip_leading(s).is_empty()
}

/// Skips leading whitespace and plain comments.
pub fn strip_leading(s: &str) -> &str {
    let mut s = s.trim_start();
    loop {
        if s.starts_with("/*") && !s.starts_with("/*!") && !s.starts_with("/*M!") {
            match s.find("*/") {
                Some(e) => s = s[e + 2..].trim_start(),
                None => return "",
            }
        } else if s.starts_with('#') || s.starts_with("-- ") || s == "--" || s.starts_with("--\n") {
            match s.find('\n') {
                Some(e) => s = s[e + 1..].trim_start(),
                None => return "",
            }
        } else {
            return s;
        }
    }
}

/// Replaces executable version comments by their body (outside quotes).
pub fn expand_version_comments(sql: &str) -> std::borrow::Cow<'_, str> {
    if !sql.contains("/*!") && !sql.contains("/*M!") {
        return std::borrow::Cow::Borrowed(sql);
    }
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' && q != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'/' if sql[i..].starts_with("/*!") || sql[i..].starts_with("/*M!") => {
                let hdr = if sql[i..].starts_with("/*!") { 3 } else { 4 };
                let body_start = i + hdr;
                let Some(end_rel) = sql[body_start..].find("*/") else { break };
                let end = body_start + end_rel;
                let body = &sql[body_start..end];
                let digits = body.bytes().take_while(|c| c.is_ascii_digit()).count();
                let runs = digits == 0
                    || body[..digits]
                        .parse::<u32>()
                        .map(|v| v <= SERVER_VERSION_ID)
                        .unwrap_or(false);
                out.push_str(&sql[last..i]);
                out.push(' ');
                if runs {
                    out.push_str(&body[digits..]);
                }
                out.push(' ');
                i = end + 2;
                last = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[last.min(sql.len())..]);
    std::borrow::Cow::Owned(out)
}

/// Upper-cased leading words of a statement (at most `n`).
pub fn leading_words(s: &str, n: usize) -> Vec<String> {
    strip_leading(s)
        .split(|c: char| c.is_whitespace() || c == '(' || c == ';' || c == '=')
        .filter(|w| !w.is_empty())
        .take(n)
        .map(|w| w.to_ascii_uppercase())
        .collect()
}

/// Classifies statements recognised by keyword before sqlparser: `Some(kind)` when the text is handled
/// without a parse tree.
pub fn keyword_kind(s: &str) -> Option<StmtKind> {
    let w = leading_words(s, 4);
    let w: Vec<&str> = w.iter().map(|s| s.as_str()).collect();
    let admin = match w.as_slice() {
        ["SHOW", "MASTER", "STATUS", ..] | ["SHOW", "BINARY", "LOG", "STATUS", ..] => true,
        ["SHOW", "BINARY", "LOGS", ..]
        | ["SHOW", "MASTER", "LOGS", ..]
        | ["SHOW", "BINLOG", "EVENTS", ..] => true,
        ["SHOW", "SLAVE" | "REPLICA", "STATUS", ..]
        | ["SHOW", "ALL", "SLAVES" | "REPLICAS", ..] => true,
        ["SHOW", "SLAVE", "HOSTS", ..] | ["SHOW", "REPLICAS", ..] => true,
        ["SHOW", "PROCESSLIST", ..] | ["SHOW", "FULL", "PROCESSLIST", ..] => true,
        ["FLUSH", ..] | ["PURGE", ..] | ["KILL", ..] => true,
        ["CHANGE", "MASTER", ..] | ["CHANGE", "REPLICATION", ..] => true,
        ["START" | "STOP" | "RESET", "SLAVE" | "REPLICA", ..] => true,
        ["RESET", "MASTER", ..] | ["RESET", "BINARY", ..] => true,
        ["SET", "GLOBAL", v, ..] if v.eq_ignore_ascii_case("sql_slave_skip_counter") => true,
        ["SET", v, ..] if v.starts_with("@@GLOBAL.SQL_SLAVE_SKIP_COUNTER") => true,
        _ => false,
    };
    if admin {
        return Some(StmtKind::Admin);
    }
    match w.as_slice() {
        ["CHECKSUM", ..] => Some(StmtKind::Read),
        ["SHOW", "WARNINGS" | "ERRORS" | "ENGINES" | "STATUS", ..] => Some(StmtKind::Read),
        ["SHOW", "GLOBAL" | "SESSION", "STATUS", ..] => Some(StmtKind::Read),
        ["SHOW", "COUNT", ..] => Some(StmtKind::Read),
        ["SHOW", "INDEX" | "INDEXES" | "KEYS", ..] => Some(StmtKind::Read),
        ["SHOW", "CREATE", "DATABASE" | "SCHEMA", ..] => Some(StmtKind::Read),
        ["SHOW", "TABLE", "STATUS", ..] => Some(StmtKind::Read),
        ["SHOW", "CHARACTER" | "CHARSET" | "COLLATION", ..] => Some(StmtKind::Read),
        ["SHOW", "GRANTS", ..] => Some(StmtKind::Read),
        ["ANALYZE" | "OPTIMIZE" | "REPAIR" | "CHECK", "TABLE", ..] => Some(StmtKind::Read),
        ["SET", v, ..] if matches!(*v, "TIMESTAMP" | "INSERT_ID" | "LAST_INSERT_ID") => {
            Some(StmtKind::Session)
        }
        ["SET", "@@SESSION.PSEUDO_THREAD_ID" | "@@SESSION.PSEUDO_SLAVE_MODE", ..] => {
            Some(StmtKind::Session)
        }
        _ => None,
    }
}

/// The kind of a parsed statement.
pub fn classify(st: &Statement) -> StmtKind {
    use Statement as S;
    match st {
        S::Query(_) => StmtKind::Read,
        S::Insert(_) | S::Update(_) | S::Delete(_) => StmtKind::Write,
        S::CreateTable(_)
        | S::CreateIndex(_)
        | S::AlterTable(_)
        | S::Drop { .. }
        | S::Truncate(_)
        | S::CreateDatabase { .. }
        | S::CreateSchema { .. }
        | S::RenameTable(_)
        | S::CreateView(_) => StmtKind::Ddl,
        S::StartTransaction { .. } => StmtKind::Begin,
        S::Commit { .. } => StmtKind::Commit,
        S::Rollback { savepoint: None, .. } => StmtKind::Rollback,
        S::Rollback { .. } | S::Savepoint { .. } | S::ReleaseSavepoint { .. } => StmtKind::Session,
        S::Set(_) | S::Use(_) => StmtKind::Session,
        S::Kill { .. } | S::Flush { .. } => StmtKind::Admin,
        _ => StmtKind::Read,
    }
}

/// A 1064 syntax error as MySQL words it, pointing near `rest`.
pub fn syntax_error(rest: &str) -> Error {
    let near: String = rest.chars().take(80).collect();
    Error::sql(
        1064,
        "42000",
        format!(
            "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near '{near}' at line 1"
        ),
    )
}

/// Byte offset of a sqlparser error location ("... at Line: L, Column: C") in `sql`.
fn error_offset(sql: &str, msg: &str) -> usize {
    let grab = |tag: &str| -> Option<usize> {
        let i = msg.rfind(tag)? + tag.len();
        msg[i..].trim_start().split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    };
    let (Some(line), Some(col)) = (grab("Line:"), grab("Column:")) else { return 0 };
    let mut off = 0;
    for (n, l) in sql.split_inclusive('\n').enumerate() {
        if n + 1 == line {
            let c = l.char_indices().nth(col.saturating_sub(1)).map(|(i, _)| i).unwrap_or(l.len());
            return off + c;
        }
        off += l.len();
    }
    0
}

/// Parses one statement's text into a [`Stmt`].
pub fn parse_one(text: &str) -> Result<Stmt> {
    let expanded = expand_version_comments(text);
    let body = strip_leading(&expanded);
    if body.is_empty() {
        return Err(Error::sql(1065, "42000", "Query was empty"));
    }
    if let Some(kind) = keyword_kind(body) {
        return Ok(Stmt { text: text.trim().to_string(), kind, parsed: None });
    }
    let mut parser = Parser::new(&MySqlDialect {}).with_recursion_limit(RECURSION_LIMIT);
    parser = parser.try_with_sql(body).map_err(|e| {
        let m = e.to_string();
        syntax_error(&body[error_offset(body, &m).min(body.len())..])
    })?;
    let st = match parser.parse_statement() {
        Ok(st) => st,
        Err(e) => {
            let m = e.to_string();
            let off = error_offset(body, &m).min(body.len());
            let off = (0..=off).rev().find(|i| body.is_char_boundary(*i)).unwrap_or(0);
            return Err(syntax_error(&body[off..]));
        }
    };
    // Anything left after the statement (other than a stray semicolon) is a syntax error.
    while parser.consume_token(&sqlparser::tokenizer::Token::SemiColon) {}
    let next = parser.peek_token();
    if next.token != sqlparser::tokenizer::Token::EOF {
        let loc = next.span.start;
        let m = format!("at Line: {}, Column: {}", loc.line, loc.column);
        let off = error_offset(body, &m).min(body.len());
        let off = (0..=off).rev().find(|i| body.is_char_boundary(*i)).unwrap_or(0);
        return Err(syntax_error(&body[off..]));
    }
    Ok(Stmt { text: text.trim().to_string(), kind: classify(&st), parsed: Some(st) })
}

/// Splits and parses SQL text.
pub fn parse(sql: &str) -> Result<Vec<Stmt>> {
    let parts = split(sql);
    if parts.is_empty() {
        return Err(Error::sql(1065, "42000", "Query was empty"));
    }
    parts.into_iter().map(parse_one).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_outside_quotes_and_comments() {
        let v = split("SELECT 'a;b'; SELECT \"c;\" /* ; */ ; -- x;\nSELECT 3");
        assert_eq!(v.len(), 3);
        assert_eq!(v[0], "SELECT 'a;b'");
    }

    #[test]
    fn version_comments() {
        assert_eq!(
            expand_version_comments("CREATE TABLE t (a INT) /*! ENGINE = innodb */"),
            "CREATE TABLE t (a INT)   ENGINE = innodb  "
        );
        assert_eq!(expand_version_comments("SELECT 1 /*!999999 , 2 */").trim(), "SELECT 1");
        assert_eq!(expand_version_comments("SELECT '/*!1 x*/'"), "SELECT '/*!1 x*/'");
    }

    #[test]
    fn classification() {
        assert_eq!(parse_one("SHOW MASTER STATUS").unwrap().kind, StmtKind::Admin);
        assert_eq!(parse_one("stop slave").unwrap().kind, StmtKind::Admin);
        assert_eq!(parse_one("INSERT INTO t VALUES (1)").unwrap().kind, StmtKind::Write);
        assert_eq!(parse_one("BEGIN").unwrap().kind, StmtKind::Begin);
        assert_eq!(parse_one("CREATE INDEX k ON t(a)").unwrap().kind, StmtKind::Ddl);
        assert_eq!(parse_one("SET autocommit=0").unwrap().kind, StmtKind::Session);
        let e = parse_one("SELEC 1").unwrap_err();
        assert_eq!(e.to_mysql().0, 1064);
        assert_eq!(parse_one("SELECT 1 garbage here").unwrap_err().to_mysql().0, 1064);
    }
}
