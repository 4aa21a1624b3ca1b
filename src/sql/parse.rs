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
const RECURSION_LIMIT: usize = 100;

/// If a quoted string (`'..'`, `".."`, `` `..` ``, with backslash escapes outside backticks) starts at
/// `b[i]`, the index just past it (past the end of the text when it is not closed).
fn skip_quoted(b: &[u8], mut i: usize) -> Option<usize> {
    let q = b[i];
    if !matches!(q, b'\'' | b'"' | b'`') {
        return None;
    }
    i += 1;
    while i < b.len() && b[i] != q {
        if b[i] == b'\\' && q != b'`' {
            i += 1;
        }
        i += 1;
    }
    Some(i + 1)
}

/// If a quoted string or a comment (`#`, `-- `, `/* */`) starts at `b[i]`, the index just past it (the
/// end of the text when it is not closed). Version comments (`/*!`, `/*M`) are skipped only with
/// `version_comments`; otherwise they are code.
fn skip_quoted_or_comment(b: &[u8], mut i: usize, version_comments: bool) -> Option<usize> {
    if let Some(next) = skip_quoted(b, i) {
        return Some(next);
    }
    match b[i] {
        b'#' => Some(line_end(b, i)),
        b'-' if b.get(i + 1) == Some(&b'-')
            && b.get(i + 2).is_none_or(|c| c.is_ascii_whitespace()) =>
        {
            Some(line_end(b, i))
        }
        b'/' if b.get(i + 1) == Some(&b'*')
            && (version_comments || !matches!(b.get(i + 2), Some(b'!') | Some(b'M'))) =>
        {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            Some(i + 2)
        }
        _ => None,
    }
}

/// The index of the newline ending the line that `i` is on (or the end of the text).
fn line_end(b: &[u8], i: usize) -> usize {
    b[i..].iter().position(|&c| c == b'\n').map_or(b.len(), |p| i + p)
}

/// Splits `sql` at top-level semicolons; empty statements are dropped.
pub fn split(sql: &str) -> Vec<&str> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        if let Some(next) = skip_quoted_or_comment(b, i, true) {
            i = next;
            continue;
        }
        match b[i] {
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
        if let Some(next) = skip_quoted(b, i) {
            i = next;
            continue;
        }
        match b[i] {
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
        // An executable comment with nothing in it (`/*!*/`, as mariadb-binlog output holds after a
        // client-side `/*!\C cs */`) is an empty statement that succeeds, as in MariaDB.
        if text.contains("/*!") || text.contains("/*M!") {
            return Ok(Stmt {
                text: String::new(),
                kind: StmtKind::Session,
                parsed: None,
                bound: None,
            });
        }
        return Err(Error::sql(1065, "42000", "Query was empty"));
    }
    let user_var_set = normalize_user_var_set(body);
    let body: &str = &user_var_set;
    let describe_column = describe_column(body);
    let body: &str = describe_column.as_deref().unwrap_or(body);
    let comma_update = comma_update(body);
    let body: &str = comma_update.as_deref().unwrap_or(body);
    if let Some(kind) = keyword_kind(body) {
        return Ok(Stmt { text: text.trim().to_string(), kind, parsed: None, bound: None });
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
    Ok(Stmt { text: text.trim().to_string(), kind: classify(&st), parsed: Some(st), bound: None })
}

/// `text` with every `FOUND_ROWS()` call in its code (outside strings and comments; version comments
/// count as code) replaced by `n`: how a write that read FOUND_ROWS() is logged, so that a replica
/// computes what the primary did. `None` when a FOUND_ROWS name is not followed by `()` (the text could
/// not be rewritten faithfully) or when there is no call to replace.
pub fn replace_found_rows(text: &str, n: u64) -> Option<String> {
    const NAME: &[u8] = b"FOUND_ROWS";
    let b = text.as_bytes();
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$';
    let mut out = String::with_capacity(text.len());
    let (mut i, mut last, mut replaced) = (0, 0, 0);
    while i < b.len() {
        if let Some(next) = skip_quoted_or_comment(b, i, false) {
            i = next;
            continue;
        }
        match b[i] {
            c if is_ident(c) => {
                let start = i;
                while i < b.len() && is_ident(b[i]) {
                    i += 1;
                }
                let prev_dot = start > 0 && b[start - 1] == b'.';
                if !prev_dot && b[start..i].eq_ignore_ascii_case(NAME) {
                    let mut j = i;
                    let skip_ws = |j: &mut usize| {
                        while *j < b.len() && b[*j].is_ascii_whitespace() {
                            *j += 1;
                        }
                    };
                    skip_ws(&mut j);
                    if b.get(j) != Some(&b'(') {
                        return None;
                    }
                    j += 1;
                    skip_ws(&mut j);
                    if b.get(j) != Some(&b')') {
                        return None;
                    }
                    out.push_str(&text[last..start]);
                    out.push_str(&n.to_string());
                    i = j + 1;
                    last = i;
                    replaced += 1;
                }
            }
            _ => i += 1,
        }
    }
    if replaced == 0 {
        return None;
    }
    out.push_str(&text[last.min(text.len())..]);
    Some(out)
}

/// Multi-table UPDATE in the comma form, `UPDATE t1, t2 SET ..` (which the SQL parser does not read) ->
/// `UPDATE t1 CROSS JOIN t2 SET ..`: the same rows, since a comma join is a cross join filtered by
/// WHERE. `None` when `body` is not an UPDATE with a top-level comma before its SET.
fn comma_update(body: &str) -> Option<String> {
    if leading_words(body, 1).pop()? != "UPDATE" {
        return None;
    }
    let b = body.as_bytes();
    let mut commas = vec![];
    let (mut i, mut depth) = (6, 0i32);
    while i < b.len() {
        if let Some(next) = skip_quoted(b, i) {
            i = next;
            continue;
        }
        match b[i] {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b',' if depth == 0 => commas.push(i),
            c if c.is_ascii_alphabetic()
                && depth == 0
                && !(b[i - 1].is_ascii_alphanumeric()
                    || matches!(b[i - 1], b'_' | b'$' | b'.'))
                && b.len() >= i + 3
                && b[i..i + 3].eq_ignore_ascii_case(b"SET")
                && b.get(i + 3).is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_')) =>
            {
                if commas.is_empty() {
                    return None;
                }
                let mut out = String::with_capacity(body.len() + 16 * commas.len());
                let mut last = 0;
                for c in commas {
                    out.push_str(&body[last..c]);
                    out.push_str(" CROSS JOIN ");
                    last = c + 1;
                }
                out.push_str(&body[last..]);
                return Some(out);
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// `DESC[RIBE] t col` / `DESC t 'pattern'` (one column, the name a LIKE pattern as in MariaDB) ->
/// `SHOW COLUMNS FROM t LIKE 'col'`, which the SQL parser reads; `None` for any other text.
fn describe_column(body: &str) -> Option<String> {
    use sqlparser::tokenizer::{Token, Tokenizer};
    let first = leading_words(body, 1).pop()?;
    if !matches!(first.as_str(), "DESC" | "DESCRIBE" | "EXPLAIN") {
        return None;
    }
    let toks = Tokenizer::new(&MySqlDialect {}, body).tokenize().ok()?;
    let toks: Vec<&Token> =
        toks.iter().filter(|t| !matches!(t, Token::Whitespace(_) | Token::SemiColon)).collect();
    let word = |t: &Token| match t {
        Token::Word(w) => Some(w.clone()),
        _ => None,
    };
    // keyword, table [. table], column
    let (table, col) = match toks.as_slice() {
        [_, t, c] => (vec![word(t)?], *c),
        [_, d, Token::Period, t, c] => (vec![word(d)?, word(t)?], *c),
        _ => return None,
    };
    if table.len() == 1
        && table[0].quote_style.is_none()
        && matches!(
            table[0].value.to_ascii_uppercase().as_str(),
            "SELECT"
                | "INSERT"
                | "UPDATE"
                | "DELETE"
                | "REPLACE"
                | "WITH"
                | "TABLE"
                | "EXTENDED"
                | "PARTITIONS"
                | "FORMAT"
                | "ANALYZE"
        )
    {
        return None;
    }
    let pattern = match col {
        Token::Word(w) => w.value.clone(),
        Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => s.clone(),
        _ => return None,
    };
    let table: Vec<String> =
        table.iter().map(|w| format!("`{}`", w.value.replace('`', "``"))).collect();
    Some(format!(
        "SHOW COLUMNS FROM {} LIKE '{}'",
        table.join("."),
        pattern.replace('\\', "\\\\").replace('\'', "''")
    ))
}

/// `SET @`name`:= v` (a user variable as mariadb-binlog prints it) -> `SET @name = v`, which the SQL
/// parser reads; other text is returned unchanged.
fn normalize_user_var_set(body: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    let b = body.as_bytes();
    if b.len() < 5 || !b[..4].eq_ignore_ascii_case(b"SET ") {
        return Cow::Borrowed(body);
    }
    // The first four bytes are ASCII, so byte 4 is a char boundary.
    let rest = body[4..].trim_start();
    let Some(after_at) = rest.strip_prefix('@').filter(|r| !r.starts_with('@')) else {
        return Cow::Borrowed(body);
    };
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '.';
    let (name, after) = if let Some(q) = after_at.strip_prefix('`') {
        let Some(end) = q.find('`') else { return Cow::Borrowed(body) };
        let name = &q[..end];
        if name.is_empty() || !name.chars().all(ident) {
            return Cow::Borrowed(body);
        }
        (name, &q[end + 1..])
    } else {
        let end = after_at.find(|c: char| !ident(c)).unwrap_or(after_at.len());
        (&after_at[..end], &after_at[end..])
    };
    let after = after.trim_start();
    match after.strip_prefix(":=") {
        Some(value) => Cow::Owned(format!("SET @{name} = {}", value.trim_start())),
        None if after_at.starts_with('`') => Cow::Owned(format!("SET @{name} {after}")),
        None => Cow::Borrowed(body),
    }
}

/// Splits and parses SQL text (through the statement cache).
pub fn parse(cache: &StmtCache, sql: &str) -> Result<Vec<Stmt>> {
    let parts = split(sql);
    if parts.is_empty() {
        return Err(Error::sql(1065, "42000", "Query was empty"));
    }
    parts.into_iter().map(|p| parse_one_cached(cache, p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_rows_calls_are_replaced_by_their_value_in_code_only() {
        assert_eq!(
            replace_found_rows("INSERT INTO t VALUES (found_rows ( ) + 1, 'FOUND_ROWS()')", 7)
                .as_deref(),
            Some("INSERT INTO t VALUES (7 + 1, 'FOUND_ROWS()')")
        );
        assert_eq!(
            replace_found_rows("UPDATE t SET a = /*!50000 FOUND_ROWS() */ -- FOUND_ROWS()\n", 3)
                .as_deref(),
            Some("UPDATE t SET a = /*!50000 3 */ -- FOUND_ROWS()\n")
        );
        assert_eq!(replace_found_rows("INSERT INTO t VALUES (FOUND_ROWS /* x */ ())", 1), None);
        assert_eq!(replace_found_rows("INSERT INTO t VALUES (1)", 1), None);
    }

    #[test]
    fn comma_update_and_describe_column_are_rewritten() {
        assert_eq!(
            comma_update("UPDATE t1 a, t2 SET a.x = 'a,b', t2.y = 1 WHERE a.id = t2.id").as_deref(),
            Some("UPDATE t1 a CROSS JOIN  t2 SET a.x = 'a,b', t2.y = 1 WHERE a.id = t2.id")
        );
        assert_eq!(comma_update("UPDATE t SET a = 1, b = 2"), None);
        assert_eq!(
            describe_column("DESC d.t `c`").as_deref(),
            Some("SHOW COLUMNS FROM `d`.`t` LIKE 'c'")
        );
        assert_eq!(
            describe_column("DESCRIBE t 'a%'").as_deref(),
            Some("SHOW COLUMNS FROM `t` LIKE 'a%'")
        );
        assert_eq!(describe_column("EXPLAIN SELECT x"), None);
        assert_eq!(describe_column("DESC t"), None);
    }

    #[test]
    fn mariadb_binlog_forms_parse() {
        for sql in [
            "SET @`v`:=_utf8mb3 X'6162' COLLATE `utf8mb3_general_ci`",
            "SET @v:=-12.50",
            "SET @`v`:=NULL",
            "/*!*/",
            "/*!50530 SET @@SESSION.PSEUDO_SLAVE_MODE=1*/",
        ] {
            assert_eq!(parse_one(sql).map(|s| s.kind).ok(), Some(StmtKind::Session), "{sql}");
        }
        assert!(parse_one("").is_err());
        for odd in
            ["SETéhautocommit = 1", "SET @`é`:=1", "SET @", "SET @`x", "SET @x:=", "set @`a`b"]
        {
            let _ = parse_one(odd);
        }
    }

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

/// A statement with its literals cut out: the cache key (`?1`, `?2`, ... in place of the literals) and the
/// literals in order, as written and as sqlparser values.
#[derive(Debug, PartialEq)]
pub struct Normalized {
    /// The text with the N-th literal replaced by `?N`.
    pub key: String,
    /// The literals: original spelling and value.
    pub lits: Vec<(String, sqlparser::ast::Value)>,
}

/// Cuts the number and single-quoted string literals out of a plain DML/query statement, for the
/// statement cache. `None` when the text has anything the cutter does not model exactly (comments,
/// backticks, double quotes, backslashes, `?`, hex/bit/introducer literals, numbers glued to letters).
pub fn normalize(body: &str) -> Option<Normalized> {
    let b = body.as_bytes();
    if b.iter().any(|c| matches!(c, b'`' | b'"' | b'\\' | b'?' | b'#' | b'$'))
        || body.contains("/*")
        || body.contains("--")
    {
        return None;
    }
    let first = body.split(|c: char| !c.is_ascii_alphabetic()).next()?.to_ascii_uppercase();
    if !matches!(first.as_str(), "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "REPLACE") {
        return None;
    }
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    let mut key = String::with_capacity(body.len());
    let mut lits = Vec::new();
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\'' {
            if i > 0 && ident(b[i - 1]) {
                return None; // X'..', _utf8'..', N'..'
            }
            let mut j = i + 1;
            let mut val = String::new();
            let mut seg = j;
            loop {
                if j >= b.len() {
                    return None;
                }
                if b[j] == b'\'' {
                    if j + 1 < b.len() && b[j + 1] == b'\'' {
                        val.push_str(&body[seg..j + 1]);
                        j += 2;
                        seg = j;
                        continue;
                    }
                    val.push_str(&body[seg..j]);
                    break;
                }
                j += 1;
            }
            key.push_str(&body[last..i]);
            lits.push((body[i..=j].to_string(), sqlparser::ast::Value::SingleQuotedString(val)));
            push_slot(&mut key, lits.len());
            i = j + 1;
            last = i;
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            if i > 0 && (ident(b[i - 1]) || b[i - 1] == b'.') {
                // part of an identifier such as sbtest1 or t.1col
                i += 1;
                while i < b.len() && ident(b[i]) {
                    i += 1;
                }
                continue;
            }
            let mut j = i;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j < b.len() && b[j] == b'.' {
                j += 1;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
            }
            if j < b.len() && (b[j] == b'e' || b[j] == b'E') {
                let mut k = j + 1;
                if k < b.len() && (b[k] == b'+' || b[k] == b'-') {
                    k += 1;
                }
                if k < b.len() && b[k].is_ascii_digit() {
                    while k < b.len() && b[k].is_ascii_digit() {
                        k += 1;
                    }
                    j = k;
                }
            }
            if j < b.len() && (ident(b[j]) || b[j] == b'.') {
                return None;
            }
            key.push_str(&body[last..i]);
            let text = &body[i..j];
            lits.push((text.to_string(), sqlparser::ast::Value::Number(text.to_string(), false)));
            push_slot(&mut key, lits.len());
            i = j;
            last = i;
            continue;
        }
        if ident(c) {
            while i < b.len() && ident(b[i]) {
                i += 1;
            }
            continue;
        }
        i += 1;
    }
    key.push_str(&body[last..]);
    Some(Normalized { key, lits })
}

/// Appends `?n` to a template key.
fn push_slot(key: &mut String, n: usize) {
    use std::fmt::Write;
    let _ = write!(key, "?{n}");
}

/// Replaces the `?N` placeholders of a cached template by the literals; returns how many were replaced.
pub fn substitute(st: &mut Statement, lits: &[sqlparser::ast::Value]) -> usize {
    use sqlparser::ast::{Expr, Value};
    let mut n = 0;
    let _ = sqlparser::ast::visit_expressions_mut(st, |e: &mut Expr| {
        if let Expr::Value(v) = e {
            if let Value::Placeholder(p) = &v.value {
                if let Some(lit) = placeholder_index(p).and_then(|i| lits.get(i)) {
                    v.value = lit.clone();
                    n += 1;
                }
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    n
}

/// The 0-based slot of a `?N` placeholder.
pub fn placeholder_index(p: &str) -> Option<usize> {
    p.strip_prefix('?')?.parse::<usize>().ok()?.checked_sub(1)
}

/// Placeholders in `e`, when `e` is built only of the forms whose literals reach execution solely
/// through `Compiler::compile` (literals, columns, arithmetic, comparisons, AND/OR/NOT, BETWEEN, IN
/// lists, IS [NOT] NULL, parentheses); `None` for any other form.
fn bindable_expr(e: &sqlparser::ast::Expr) -> Option<usize> {
    use sqlparser::ast::{BinaryOperator as B, Expr as E, UnaryOperator as U, Value as V};
    Some(match e {
        E::Value(v) => matches!(v.value, V::Placeholder(_)) as usize,
        E::Identifier(_) | E::CompoundIdentifier(_) => 0,
        E::Nested(x) | E::IsNull(x) | E::IsNotNull(x) => bindable_expr(x)?,
        E::UnaryOp { op: U::Minus | U::Plus | U::Not, expr } => bindable_expr(expr)?,
        E::BinaryOp {
            left,
            op:
                B::Plus
                | B::Minus
                | B::Multiply
                | B::Divide
                | B::Modulo
                | B::Eq
                | B::NotEq
                | B::Lt
                | B::LtEq
                | B::Gt
                | B::GtEq
                | B::And
                | B::Or,
            right,
        } => bindable_expr(left)? + bindable_expr(right)?,
        E::Between { expr, low, high, .. } => {
            bindable_expr(expr)? + bindable_expr(low)? + bindable_expr(high)?
        }
        E::In { expr, target: sqlparser::ast::InTarget::List(list), .. } => {
            let mut n = bindable_expr(expr)?;
            for x in list {
                n += bindable_expr(x)?;
            }
            n
        }
        _ => return None,
    })
}

/// A LIMIT/OFFSET operand: a bare literal or placeholder (evaluated through `Compiler::compile`).
fn bindable_limit(e: Option<&sqlparser::ast::Expr>) -> Option<usize> {
    use sqlparser::ast::{Expr as E, Value as V};
    match e {
        None => Some(0),
        Some(E::Value(v)) => Some(matches!(v.value, V::Placeholder(_)) as usize),
        Some(_) => None,
    }
}

/// True when every placeholder of the template sits where execution reads it only through
/// `Compiler::compile` (see [`bindable_expr`]): the WHERE clause and LIMIT of a single-table SELECT,
/// UPDATE or DELETE, the SET values of a single-table UPDATE, and the bare items of INSERT/REPLACE
/// ... VALUES. Such a template runs with its literals bound as parameters (`compile::bind_params`)
/// instead of a substituted copy of the tree; nothing else in the statement can see a placeholder,
/// since the bindable positions account for all of them.
pub fn bindable(st: &Statement, placeholders: usize) -> bool {
    use sqlparser::ast::{self as a, Expr as E, UnaryOperator as U, Value as V};
    let found = (|| -> Option<usize> {
        match st {
            Statement::Query(q) => {
                let a::SetExpr::Select(s) = &*q.body else { return None };
                if q.with.is_some()
                    || s.from.len() != 1
                    || !s.from[0].joins.is_empty()
                    || !matches!(s.from[0].relation, a::TableFactor::Table { .. })
                {
                    return None;
                }
                let mut n = match &s.selection {
                    Some(w) => bindable_expr(w)?,
                    None => 0,
                };
                n += match &q.limit_clause {
                    None => 0,
                    Some(a::LimitClause::LimitOffset { limit, offset, limit_by }) => {
                        if !limit_by.is_empty() {
                            return None;
                        }
                        bindable_limit(limit.as_ref())?
                            + bindable_limit(offset.as_ref().map(|o| &o.value))?
                    }
                    Some(a::LimitClause::OffsetCommaLimit { offset, limit }) => {
                        bindable_limit(Some(offset))? + bindable_limit(Some(limit))?
                    }
                };
                Some(n)
            }
            Statement::Insert(ins) => {
                if ins.on.is_some() || !ins.assignments.is_empty() {
                    return None;
                }
                let a::SetExpr::Values(vals) = &*ins.source.as_ref()?.body else { return None };
                let mut n = 0;
                for row in &vals.rows {
                    for e in &row.content {
                        n += match e {
                            E::Value(v) => matches!(v.value, V::Placeholder(_)) as usize,
                            E::UnaryOp { op: U::Minus, expr } => match &**expr {
                                E::Value(v) => matches!(v.value, V::Placeholder(_)) as usize,
                                _ => return None,
                            },
                            _ => 0,
                        };
                    }
                }
                Some(n)
            }
            Statement::Update(u) => {
                if !u.table.joins.is_empty()
                    || u.from.is_some()
                    || !matches!(u.table.relation, a::TableFactor::Table { .. })
                {
                    return None;
                }
                let mut n = match &u.selection {
                    Some(w) => bindable_expr(w)?,
                    None => 0,
                };
                for x in &u.assignments {
                    n += bindable_expr(&x.value)?;
                }
                Some(n + bindable_limit(u.limit.as_ref())?)
            }
            Statement::Delete(d) => {
                let (a::FromTable::WithFromKeyword(from) | a::FromTable::WithoutKeyword(from)) =
                    &d.from;
                if from.len() != 1
                    || !from[0].joins.is_empty()
                    || !d.tables.is_empty()
                    || d.using.is_some()
                {
                    return None;
                }
                let n = match &d.selection {
                    Some(w) => bindable_expr(w)?,
                    None => 0,
                };
                Some(n + bindable_limit(d.limit.as_ref())?)
            }
            _ => None,
        }
    })();
    found == Some(placeholders)
}

/// Counts the `?N` placeholders of a template.
pub fn count_placeholders(st: &Statement) -> usize {
    use sqlparser::ast::{Expr, Value};
    let mut n = 0;
    let _ = sqlparser::ast::visit_expressions(st, |e: &Expr| {
        if let Expr::Value(v) = e {
            if matches!(v.value, Value::Placeholder(_)) {
                n += 1;
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    n
}

/// Bound of the statement cache; it is cleared when full.
const CACHE_CAP: usize = 4096;

/// A parsed statement template (literals replaced by `?N` placeholders) and what is known of it.
#[derive(Debug)]
pub struct TemplateData {
    /// The parsed template.
    pub st: Statement,
    /// Its classification.
    pub kind: StmtKind,
    /// Number of placeholders.
    pub slots: usize,
    /// True when statements of this shape run bound to the template ([`bindable`]).
    pub bindable: bool,
}

/// A cached template.
pub type Template = std::sync::Arc<TemplateData>;

/// A statement bound to a cached template: the template's tree and the literals for its `?N` slots,
/// in order. Executing it binds the literals as parameters of the compiled expressions; the tree is
/// never copied.
#[derive(Clone, Debug)]
pub struct Bound {
    /// The template.
    pub tpl: Template,
    /// The literals of the statement, slot `i` for `?{i+1}`.
    pub params: std::sync::Arc<[sqlparser::ast::Value]>,
}

impl Bound {
    /// The statement tree with the literals put back (what a fresh parse of the text gives).
    pub fn materialize(&self) -> Statement {
        let mut st = self.tpl.st.clone();
        substitute(&mut st, &self.params);
        st
    }
}

/// Cache of parsed statement templates by normalized text (`None`: not cacheable).
#[derive(Default)]
pub struct StmtCache {
    map: std::sync::RwLock<std::collections::HashMap<String, Option<Template>>>,
}

impl StmtCache {
    /// Looks a key up.
    pub fn get(&self, key: &str) -> Option<Option<Template>> {
        self.map.read().ok()?.get(key).cloned()
    }

    fn put(&self, key: String, v: Option<Template>) {
        if let Ok(mut m) = self.map.write() {
            if m.len() >= CACHE_CAP {
                m.clear();
            }
            m.insert(key, v);
        }
    }

    /// True when `body` was parsed from its normalized form (so spans refer to the normalized text).
    pub fn is_template(&self, body: &str) -> Option<Normalized> {
        let n = normalize(body)?;
        if n.lits.is_empty() {
            return None;
        }
        match self.get(&n.key) {
            Some(Some(_)) => Some(n),
            _ => None,
        }
    }
}

/// Parses one statement through the cache when its shape allows.
pub fn parse_one_cached(cache: &StmtCache, text: &str) -> Result<Stmt> {
    let trimmed = text.trim();
    if let Some(st) = transaction_word(trimmed) {
        return Ok(st);
    }
    if let Some(n) = normalize(trimmed) {
        if !n.lits.is_empty() {
            let hit = cache.get(&n.key);
            let tpl = match hit {
                Some(t) => t,
                None => {
                    let parsed = Parser::new(&MySqlDialect {})
                        .with_recursion_limit(RECURSION_LIMIT)
                        .try_with_sql(&n.key)
                        .and_then(|mut p| {
                            let st = p.parse_statement()?;
                            while p.consume_token(&sqlparser::tokenizer::Token::SemiColon) {}
                            if p.peek_token().token != sqlparser::tokenizer::Token::EOF {
                                return Err(sqlparser::parser::ParserError::ParserError(
                                    "trailing".into(),
                                ));
                            }
                            Ok(st)
                        });
                    let t = match parsed {
                        Ok(st) if count_placeholders(&st) == n.lits.len() => {
                            let kind = classify(&st);
                            let slots = n.lits.len();
                            let bindable = bindable(&st, slots);
                            Some(std::sync::Arc::new(TemplateData { st, kind, slots, bindable }))
                        }
                        _ => None,
                    };
                    cache.put(n.key.clone(), t.clone());
                    t
                }
            };
            if let Some(t) = tpl {
                let params: std::sync::Arc<[sqlparser::ast::Value]> =
                    n.lits.into_iter().map(|(_, v)| v).collect();
                let kind = t.kind;
                let text = trimmed.to_string();
                if t.bindable {
                    return Ok(Stmt {
                        text,
                        kind,
                        parsed: None,
                        bound: Some(Bound { tpl: t, params }),
                    });
                }
                let mut st = t.st.clone();
                substitute(&mut st, &params);
                return Ok(Stmt { text, kind, parsed: Some(st), bound: None });
            }
        }
    }
    parse_one(text)
}

/// The bare transaction statements every transaction sends (no literals, so not for the template
/// cache), parsed once.
const TRANSACTION_WORDS: [&str; 4] = ["BEGIN", "COMMIT", "ROLLBACK", "START TRANSACTION"];

/// `text` (trimmed) parsed, when it is one of [`TRANSACTION_WORDS`] in any letter case: a clone of
/// the statement parsed once, with `text` as its text, the same as [`parse_one`] gives.
fn transaction_word(text: &str) -> Option<Stmt> {
    static PARSED: std::sync::OnceLock<Vec<Option<Stmt>>> = std::sync::OnceLock::new();
    let i = TRANSACTION_WORDS.iter().position(|w| w.eq_ignore_ascii_case(text))?;
    let parsed =
        PARSED.get_or_init(|| TRANSACTION_WORDS.iter().map(|w| parse_one(w).ok()).collect());
    let st = parsed.get(i)?.as_ref()?;
    Some(Stmt { text: text.to_string(), ..st.clone() })
}

#[cfg(test)]
mod cache_tests {
    use super::*;

    #[test]
    fn transaction_words_parse_as_plain_parse_does() {
        let cache = StmtCache::default();
        for sql in ["BEGIN", "begin", " Commit ", "ROLLBACK", "start transaction"] {
            let fast = transaction_word(sql.trim()).expect("a transaction word");
            let plain = parse_one(sql).unwrap();
            assert_eq!(fast.text, plain.text);
            assert_eq!(fast.kind, plain.kind);
            assert_eq!(
                fast.statement().map(|s| s.to_string()),
                plain.statement().map(|s| s.to_string())
            );
            let cached = parse_one_cached(&cache, sql).unwrap();
            assert_eq!(cached.text, plain.text);
        }
        for other in ["BEGIN WORK", "COMMIT AND CHAIN", "START TRANSACTION READ ONLY", "BEGINX"] {
            assert!(transaction_word(other).is_none(), "{other}");
        }
    }

    #[test]
    fn normalizes_literals() {
        let n = normalize("SELECT c FROM sbtest1 WHERE id=42 AND c='it''s' AND k > 1.5e3").unwrap();
        assert_eq!(n.key, "SELECT c FROM sbtest1 WHERE id=?1 AND c=?2 AND k > ?3");
        assert_eq!(n.lits[1].1, sqlparser::ast::Value::SingleQuotedString("it's".into()));
        assert!(normalize("SELECT `a` FROM t").is_none());
        assert!(normalize("SELECT X'41'").is_none());
        assert!(normalize("SELECT 1abc").is_none());
        assert!(normalize("CREATE TABLE t (a CHAR(5))").is_none());
        assert!(normalize("SELECT t.5 FROM t").is_some());
        assert!(normalize("SELECT a.b.5x, 1.5.5 FROM t").is_none_or(|n| !n.key.is_empty()));
    }

    #[test]
    fn cached_parse_equals_plain_parse() {
        let cache = StmtCache::default();
        for sql in [
            "SELECT c FROM t WHERE id=5",
            "SELECT c FROM t WHERE id=7",
            "INSERT INTO t VALUES (1, 'a'), (2, 'b')",
            "SELECT CAST(a AS DECIMAL(10,2)) FROM t",
        ] {
            let a = parse_one_cached(&cache, sql).unwrap();
            let b = parse_one(sql).unwrap();
            assert_eq!(a.statement().unwrap().to_string(), b.parsed.unwrap().to_string());
            assert_eq!(a.kind, b.kind);
        }
    }

    fn bound(cache: &StmtCache, sql: &str) -> bool {
        parse_one_cached(cache, sql).unwrap().bound.is_some()
    }

    #[test]
    fn sysbench_shapes_bind_and_others_substitute() {
        let cache = StmtCache::default();
        for sql in [
            "SELECT c FROM sbtest1 WHERE id=10",
            "SELECT c FROM sbtest1 WHERE id BETWEEN 1 AND 100",
            "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 1 AND 100",
            "SELECT c FROM sbtest1 WHERE id BETWEEN 1 AND 100 ORDER BY c",
            "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 1 AND 100 ORDER BY c",
            "SELECT c FROM t WHERE id IN (1, 2) AND -k < 3 LIMIT 5",
            "UPDATE sbtest1 SET k=k+1 WHERE id=5",
            "UPDATE sbtest1 SET c='x' WHERE id=5",
            "DELETE FROM sbtest1 WHERE id=5",
            "INSERT INTO sbtest1 (id, k, c, pad) VALUES (5, 6, 'c', 'p')",
            "INSERT INTO t VALUES (-1, 'a'), (2, DEFAULT)",
            "REPLACE INTO t VALUES (1, 'a')",
        ] {
            assert!(bound(&cache, sql), "{sql}");
            assert!(bound(&cache, sql), "{sql} (cache hit)");
        }
        for sql in [
            "SELECT 1 FROM t WHERE id=1",
            "SELECT c FROM t WHERE id=1 ORDER BY 1",
            "SELECT c FROM t WHERE CONCAT(c, 'x') = 'ax'",
            "SELECT c FROM t WHERE id IN (SELECT id FROM u WHERE a=1)",
            "SELECT c FROM t JOIN u ON t.id = u.id WHERE t.id=1",
            "INSERT INTO t VALUES (1, 'a') ON DUPLICATE KEY UPDATE c='b'",
            "INSERT INTO t VALUES (1 + 2, 'a')",
            "UPDATE t SET c=CONCAT(c, 'x') WHERE id=1",
            "SELECT c FROM t WHERE c LIKE 'a%'",
        ] {
            assert!(!bound(&cache, sql), "{sql}");
            assert!(parse_one_cached(&cache, sql).unwrap().parsed.is_some(), "{sql}");
        }
    }

    use crate::sql::{Engine, ExecContext, Outcome, Session};

    /// Runs `sqls` on two engines, one through the statement cache (bound templates), one from
    /// fresh parses; returns the outcomes (errors as their MySQL code and text) and the logged
    /// statements of each.
    fn both(sqls: &[&str]) -> [(Vec<String>, Vec<String>); 2] {
        let ctx = ExecContext { now_us: 1_700_000_000_000_000, ..Default::default() };
        let mut out: [(Vec<String>, Vec<String>); 2] = Default::default();
        for (fresh, res) in out.iter_mut().enumerate() {
            let e = Engine::open_temporary().unwrap();
            let mut s = Session::new();
            s.rand_seeds = (1, 2);
            for sql in sqls {
                let st = if fresh == 1 {
                    parse_one(sql).unwrap()
                } else {
                    parse(&e.inner.stmt_cache, sql).unwrap().remove(0)
                };
                let r = match e.execute(&mut s, &st, &ctx) {
                    Ok(Outcome::Rows(rs)) => format!("{:?} {:?}", rs.columns, rs.rows),
                    Ok(o) => format!("{o:?}"),
                    Err(err) => format!("{:?}", err.to_mysql()),
                };
                res.0.push(format!("{sql} => {r}"));
                for c in s.take_commits() {
                    e.apply_commit(&c, &[]).unwrap();
                    for l in c.statements {
                        res.1.push(format!("{l:?}"));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn bound_statements_give_what_fresh_parses_give() {
        let [cached, fresh] = both(&[
            "CREATE DATABASE d",
            "USE d",
            "CREATE TABLE t (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, k BIGINT NOT NULL DEFAULT 0, c CHAR(5) NOT NULL DEFAULT '', KEY (k))",
            "INSERT INTO t (id, k, c) VALUES (0, 1, 'a')",
            "INSERT INTO t (id, k, c) VALUES (0, 2, 'b'), (7, -3, 'it''s')",
            "INSERT INTO t (id, k, c) VALUES (0, 4, 'toolong')",
            "INSERT INTO t (id, k, c) VALUES (1, 5, 'dup')",
            "INSERT INTO t VALUES (DEFAULT, 9223372036854775807, 'max')",
            "SELECT c FROM t WHERE id=1",
            "SELECT c FROM t WHERE id='2'",
            "SELECT c, k FROM t WHERE id BETWEEN 1 AND 8 ORDER BY c LIMIT 2",
            "SELECT SUM(k) FROM t WHERE id IN (1, 2, 7) AND k > -5",
            "SELECT id FROM t WHERE id=99999999999999999999",
            "SELECT c FROM t WHERE id=1.5",
            "UPDATE t SET k=k+1 WHERE id=1",
            "UPDATE t SET k=k+1 WHERE k > 100",
            "UPDATE t SET c='zz' WHERE id=7",
            "SELECT * FROM t WHERE id > 0",
            "DELETE FROM t WHERE id=2",
            "REPLACE INTO t VALUES (7, 70, 'r')",
            "SELECT * FROM t WHERE id > 0 LIMIT 10",
        ]);
        assert_eq!(cached, fresh);
        // The out-of-range UPDATE names its expression with the literal, as a fresh parse does.
        assert!(
            cached.0.iter().any(|l| l.contains("1690") && l.contains("+ 1")),
            "{:#?}",
            cached.0
        );
    }

    #[test]
    fn bound_statements_follow_ddl_use_and_sql_mode() {
        let [cached, fresh] = both(&[
            "CREATE DATABASE a",
            "CREATE DATABASE b",
            "CREATE TABLE a.t (id INT PRIMARY KEY, c VARCHAR(3))",
            "CREATE TABLE b.t (x INT, id INT PRIMARY KEY, c VARCHAR(10))",
            "USE a",
            "INSERT INTO t (id, c) VALUES (1, 'aaa')",
            "SELECT * FROM t WHERE id=1",
            "USE b",
            "INSERT INTO t (id, c) VALUES (1, 'bbbbbbbb')",
            "SELECT * FROM t WHERE id=1",
            "ALTER TABLE t DROP COLUMN x",
            "SELECT * FROM t WHERE id=1",
            "ALTER TABLE t ADD COLUMN y INT FIRST",
            "SELECT * FROM t WHERE id=1",
            "INSERT INTO t (id, c) VALUES (2, 'cccccccccccc')",
            "SET sql_mode=''",
            "INSERT INTO t (id, c) VALUES (3, 'cccccccccccc')",
            "SELECT * FROM t WHERE id=3",
            "DROP TABLE t",
            "SELECT * FROM t WHERE id=1",
            "CREATE TABLE t (id INT PRIMARY KEY, c INT)",
            "INSERT INTO t (id, c) VALUES (1, 'bbbbbbbb')",
            "SELECT * FROM t WHERE id=1",
            "USE a",
            "SELECT * FROM t WHERE id=1",
        ]);
        assert_eq!(cached, fresh);
        assert!(cached.0.iter().any(|l| l.contains("1406")), "{:#?}", cached.0);
    }
}
