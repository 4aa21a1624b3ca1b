//! Compiling sqlparser expressions into [`CExpr`]: name resolution against a [`Scope`], literal typing,
//! aggregate extraction, result-type inference for column metadata.

use super::api::{ColumnType, Value};
use super::catalog::TableDef;
use super::expr::{AggFunc, AggSpec, ArithOp, CExpr, CastTo, CmpOp, Func, TypeInfo};
use crate::error::{Error, Result};
use sqlparser::ast::{self as ast, BinaryOperator, Expr, UnaryOperator};
use std::sync::Arc;

/// One table visible to expressions.
#[derive(Clone, Debug)]
pub struct ScopeTable {
    /// Name or alias used to qualify columns.
    pub alias: String,
    /// Definition.
    pub def: Arc<TableDef>,
    /// Position of its first column in the combined row.
    pub offset: usize,
}

/// Tables visible to expressions, their columns concatenated in order.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// The tables.
    pub tables: Vec<ScopeTable>,
}

impl Scope {
    /// A scope of one table.
    pub fn single(def: Arc<TableDef>, alias: &str) -> Scope {
        Scope { tables: vec![ScopeTable { alias: alias.to_string(), def, offset: 0 }] }
    }

    /// Total columns.
    pub fn width(&self) -> usize {
        self.tables.iter().map(|t| t.def.columns.len()).sum()
    }

    /// The table and column index of a combined-row position.
    pub fn column_at(&self, pos: usize) -> Option<(&ScopeTable, usize)> {
        self.tables
            .iter()
            .find(|t| pos >= t.offset && pos < t.offset + t.def.columns.len())
            .map(|t| (t, pos - t.offset))
    }

    /// Resolves a (qualified) column name.
    pub fn resolve(&self, qual: Option<&str>, name: &str, clause: &str) -> Result<usize> {
        let mut found = None;
        for t in &self.tables {
            if let Some(q) = qual {
                if t.alias != q
                    && !(t.alias.eq_ignore_ascii_case(q) && t.def.name.eq_ignore_ascii_case(q))
                {
                    continue;
                }
            }
            if let Some(i) = t.def.col(name) {
                if found.is_some() {
                    return Err(Error::sql(
                        1052,
                        "23000",
                        format!("Column '{name}' in {clause} is ambiguous"),
                    ));
                }
                found = Some(t.offset + i);
            }
        }
        found.ok_or_else(|| {
            let full = match qual {
                Some(q) => format!("{q}.{name}"),
                None => name.to_string(),
            };
            Error::sql(1054, "42S22", format!("Unknown column '{full}' in '{clause}'"))
        })
    }
}

/// Compiler state: the scope, the clause name for errors, and the aggregate collector.
pub struct Compiler<'a> {
    /// Visible tables.
    pub scope: &'a Scope,
    /// Clause name used in 1054 errors (`field list`, `where clause`, ...).
    pub clause: &'static str,
    /// Aggregates found (None: aggregates are not allowed here).
    pub aggs: Option<&'a mut Vec<AggSpec>>,
    /// Set when a column reference outside an aggregate was compiled.
    pub saw_column: bool,
    /// Select-list aliases usable here (HAVING / ORDER BY): name -> compiled expression.
    pub aliases: Vec<(String, CExpr)>,
    /// Current nesting depth (bounded by [`MAX_DEPTH`]).
    depth: usize,
}

/// Deepest expression nesting accepted; deeper expressions get error 1436 instead of exhausting the
/// thread stack in compilation or evaluation.
pub const MAX_DEPTH: usize = 64;

/// Parses a numeric literal as MySQL types it.
pub fn number_literal(s: &str) -> Result<Value> {
    if s.contains(['e', 'E']) {
        return s
            .parse::<f64>()
            .map(Value::Double)
            .map_err(|_| Error::sql(1064, "42000", format!("bad number '{s}'")));
    }
    if s.contains('.') {
        return super::decimal::Dec::parse(s)
            .map(|d| Value::Decimal(d.to_string()))
            .ok_or_else(|| Error::sql(1064, "42000", format!("Too big number '{s}'")));
    }
    if let Ok(i) = s.parse::<i64>() {
        return Ok(Value::Int(i));
    }
    if let Ok(u) = s.parse::<u64>() {
        return Ok(Value::UInt(u));
    }
    super::decimal::Dec::parse(s)
        .map(|d| Value::Decimal(d.to_string()))
        .ok_or_else(|| Error::sql(1064, "42000", format!("Too big number '{s}'")))
}

thread_local! {
    /// The literals bound to the `?N` slots of the template being executed on this thread.
    static PARAMS: std::cell::RefCell<Option<std::sync::Arc<[ast::Value]>>> =
        const { std::cell::RefCell::new(None) };
}

/// Restores the previously bound parameters when dropped.
pub struct ParamsGuard(Option<std::sync::Arc<[ast::Value]>>);

impl Drop for ParamsGuard {
    fn drop(&mut self) {
        let prev = self.0.take();
        PARAMS.with(|p| *p.borrow_mut() = prev);
    }
}

/// Binds the literals of a statement running from a cached template (`parse::Bound`) for as long as
/// the guard lives: compiled `?N` placeholders read slot N-1 ([`literal`]), and the texts rendered
/// from the tree (labels, the expression text of error 1690) show the literal as a substituted tree
/// would. Execution is synchronous on one thread, so the binding is thread-local.
pub fn bind_params(params: std::sync::Arc<[ast::Value]>) -> ParamsGuard {
    ParamsGuard(PARAMS.with(|p| p.borrow_mut().replace(params)))
}

/// The literal bound to placeholder `p` (`?N`), if any.
pub fn bound_param(p: &str) -> Option<ast::Value> {
    let i = super::parse::placeholder_index(p)?;
    PARAMS.with(|b| b.borrow().as_ref().and_then(|v| v.get(i).cloned()))
}

/// `text` (the Display of a tree) with every `?N` placeholder replaced by its bound literal's
/// Display: the text the tree with the literals substituted prints. Unchanged without bound literals
/// (a template text holds no other `?`).
pub fn resolve_placeholders(text: String) -> String {
    let bound = PARAMS.with(|b| b.borrow().clone());
    let Some(params) = bound else { return text };
    if !text.contains('?') {
        return text;
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 16);
    let (mut i, mut last) = (0, 0);
    while i < b.len() {
        if b[i] == b'?' {
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if let Some(v) =
                super::parse::placeholder_index(&text[i..j]).and_then(|k| params.get(k))
            {
                out.push_str(&text[last..i]);
                out.push_str(&v.to_string());
                last = j;
            }
            i = j;
            continue;
        }
        i += 1;
    }
    out.push_str(&text[last..]);
    out
}

/// Converts a sqlparser literal.
pub fn literal(v: &ast::Value) -> Result<Value> {
    use ast::Value as V;
    Ok(match v {
        V::Number(s, _) => number_literal(s)?,
        V::SingleQuotedString(s)
        | V::DoubleQuotedString(s)
        | V::NationalStringLiteral(s)
        | V::EscapedStringLiteral(s)
        | V::TripleSingleQuotedString(s)
        | V::TripleDoubleQuotedString(s) => Value::Bytes(s.as_bytes().to_vec()),
        V::HexStringLiteral(h) => {
            let h = if h.len() % 2 == 1 { format!("0{h}") } else { h.clone() };
            let mut out = Vec::with_capacity(h.len() / 2);
            for i in (0..h.len()).step_by(2) {
                let b = u8::from_str_radix(&h[i..i + 2], 16)
                    .map_err(|_| Error::sql(1064, "42000", format!("bad hex literal X'{h}'")))?;
                out.push(b);
            }
            Value::Bytes(out)
        }
        V::SingleQuotedByteStringLiteral(b) | V::DoubleQuotedByteStringLiteral(b) => {
            let mut n: u64 = 0;
            for c in b.chars() {
                match c {
                    '0' | '1' => n = n.checked_shl(1).unwrap_or(0) | (c == '1') as u64,
                    _ => return Err(Error::sql(1064, "42000", format!("bad bit literal b'{b}'"))),
                }
            }
            Value::UInt(n)
        }
        V::Boolean(b) => Value::Int(*b as i64),
        V::Null => Value::Null,
        V::Placeholder(p) => {
            let slot = super::parse::placeholder_index(p);
            let bound = PARAMS.with(|b| {
                let b = b.borrow();
                match b.as_ref().and_then(|v| v.get(slot?)) {
                    Some(V::Placeholder(_)) | None => None,
                    Some(v) => Some(literal(v)),
                }
            });
            return bound.unwrap_or_else(|| {
                Err(Error::sql(1064, "42000", format!("unexpected placeholder {p}")))
            });
        }
        other => Value::Bytes(other.to_string().into_bytes()),
    })
}

fn ident_path(parts: &[ast::Ident]) -> Vec<String> {
    parts.iter().map(|i| i.value.clone()).collect()
}

/// Splits `@@global.x` / `@@session.x` / `@@x` into (name, global).
pub fn sysvar_name(parts: &[String]) -> Option<(String, bool)> {
    let first = parts.first()?;
    let rest = first.strip_prefix("@@")?;
    let mut all: Vec<String> = vec![rest.to_string()];
    all.extend(parts[1..].iter().cloned());
    let joined = all.join(".").to_ascii_lowercase();
    if let Some(n) = joined.strip_prefix("global.") {
        return Some((n.to_string(), true));
    }
    if let Some(n) = joined.strip_prefix("session.").or_else(|| joined.strip_prefix("local.")) {
        return Some((n.to_string(), false));
    }
    Some((joined, false))
}

fn func_name(f: &ast::Function) -> String {
    f.name.0.last().map(|p| p.to_string()).unwrap_or_default().to_ascii_uppercase()
}

fn func_args(f: &ast::Function) -> Result<(Vec<&Expr>, bool, bool)> {
    match &f.args {
        ast::FunctionArguments::None => Ok((vec![], false, false)),
        ast::FunctionArguments::Subquery(_) => Err(Error::sql(
            1235,
            "42000",
            "This version doesn't yet support subqueries as function arguments",
        )),
        ast::FunctionArguments::List(l) => {
            let distinct = matches!(l.duplicate_treatment, Some(ast::DuplicateTreatment::Distinct));
            let mut out = vec![];
            let mut star = false;
            for a in &l.args {
                match a {
                    ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => out.push(e),
                    ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard) => star = true,
                    ast::FunctionArg::Named { arg: ast::FunctionArgExpr::Expr(e), .. }
                    | ast::FunctionArg::ExprNamed { arg: ast::FunctionArgExpr::Expr(e), .. } => {
                        out.push(e)
                    }
                    _ => {
                        return Err(Error::sql(
                            1064,
                            "42000",
                            format!("unsupported argument in {}", f.name),
                        ))
                    }
                }
            }
            Ok((out, distinct, star))
        }
    }
}

fn scalar_func(name: &str) -> Option<(Func, usize, usize)> {
    use Func::*;
    let m = usize::MAX;
    Some(match name {
        "CONCAT" => (Concat, 1, m),
        "CONCAT_WS" => (ConcatWs, 2, m),
        "COALESCE" => (Coalesce, 1, m),
        "IFNULL" | "NVL" => (IfNull, 2, 2),
        "NULLIF" => (NullIf, 2, 2),
        "IF" => (If, 3, 3),
        "LENGTH" | "OCTET_LENGTH" => (Length, 1, 1),
        "CHAR_LENGTH" | "CHARACTER_LENGTH" => (CharLength, 1, 1),
        "UPPER" | "UCASE" => (Upper, 1, 1),
        "LOWER" | "LCASE" => (Lower, 1, 1),
        "SUBSTRING" | "SUBSTR" | "MID" => (Substring, 2, 3),
        "LEFT" => (Left, 2, 2),
        "RIGHT" => (Right, 2, 2),
        "TRIM" => (Trim, 1, 1),
        "LTRIM" => (LTrim, 1, 1),
        "RTRIM" => (RTrim, 1, 1),
        "REPLACE" => (Replace, 3, 3),
        "REPEAT" => (Repeat, 2, 2),
        "REVERSE" => (Reverse, 1, 1),
        "LPAD" => (LPad, 3, 3),
        "RPAD" => (RPad, 3, 3),
        "ABS" => (Abs, 1, 1),
        "ROUND" => (Round, 1, 2),
        "TRUNCATE" => (Truncate, 2, 2),
        "FLOOR" => (Floor, 1, 1),
        "CEIL" | "CEILING" => (Ceil, 1, 1),
        "MOD" => (Mod, 2, 2),
        "SIGN" => (Sign, 1, 1),
        "GREATEST" => (Greatest, 2, m),
        "LEAST" => (Least, 2, m),
        "NOW" | "CURRENT_TIMESTAMP" | "LOCALTIME" | "LOCALTIMESTAMP" => (Now, 0, 1),
        "CURDATE" | "CURRENT_DATE" => (CurDate, 0, 0),
        "CURTIME" | "CURRENT_TIME" => (CurTime, 0, 1),
        "UNIX_TIMESTAMP" => (UnixTimestamp, 0, 1),
        "FROM_UNIXTIME" => (FromUnixtime, 1, 2),
        "DATE" => (Date, 1, 1),
        "YEAR" => (Year, 1, 1),
        "MONTH" => (Month, 1, 1),
        "DAY" | "DAYOFMONTH" => (Day, 1, 1),
        "HOUR" => (Hour, 1, 1),
        "MINUTE" => (Minute, 1, 1),
        "SECOND" => (Second, 1, 1),
        "RAND" => (Rand, 0, 1),
        "LAST_INSERT_ID" => (LastInsertId, 0, 1),
        "DATABASE" | "SCHEMA" => (Database, 0, 0),
        "VERSION" => (Version, 0, 0),
        "USER" | "CURRENT_USER" | "SESSION_USER" | "SYSTEM_USER" => (User, 0, 0),
        "CONNECTION_ID" => (ConnectionId, 0, 0),
        "UUID" => (Uuid, 0, 0),
        "SYSDATE" => (Sysdate, 0, 1),
        "ROW_COUNT" => (RowCount, 0, 0),
        "FOUND_ROWS" => (FoundRows, 0, 0),
        "HEX" => (Hex, 1, 1),
        "MD5" => (Md5, 1, 1),
        "SHA1" | "SHA" => (Sha1, 1, 1),
        "CRC32" => (Crc32, 1, 1),
        "ASCII" => (Ascii, 1, 1),
        "LOCATE" | "POSITION" => (Locate, 2, 3),
        "INSTR" => (Instr, 2, 2),
        "STRCMP" => (Strcmp, 2, 2),
        "DATE_FORMAT" => (DateFormat, 2, 2),
        "DATEDIFF" => (DateDiff, 2, 2),
        "DAYOFWEEK" => (DayOfWeek, 1, 1),
        "WEEKDAY" => (WeekDay, 1, 1),
        "DAYNAME" => (DayName, 1, 1),
        "MONTHNAME" => (MonthName, 1, 1),
        "LAST_DAY" => (LastDay, 1, 1),
        "DAYOFYEAR" => (DayOfYear, 1, 1),
        "SLEEP" => (Sleep, 1, 1),
        "POW" | "POWER" => (Pow, 2, 2),
        "SQRT" => (Sqrt, 1, 1),
        "PI" => (Pi, 0, 0),
        _ => return None,
    })
}

fn agg_func(name: &str) -> Option<AggFunc> {
    Some(match name {
        "COUNT" => AggFunc::Count,
        "SUM" => AggFunc::Sum,
        "AVG" => AggFunc::Avg,
        "MIN" => AggFunc::Min,
        "MAX" => AggFunc::Max,
        "GROUP_CONCAT" => AggFunc::GroupConcat,
        _ => return None,
    })
}

fn cast_target(dt: &ast::DataType) -> Result<CastTo> {
    use ast::DataType as D;
    Ok(match dt {
        D::Signed | D::SignedInteger | D::Int(_) | D::Integer(_) | D::BigInt(_) => CastTo::Signed,
        D::Unsigned | D::UnsignedInteger | D::IntUnsigned(_) | D::BigIntUnsigned(_) => {
            CastTo::Unsigned
        }
        D::Char(_) | D::Varchar(_) | D::Binary(_) | D::Text | D::Nvarchar(_) | D::Character(_) => {
            CastTo::Char
        }
        D::Decimal(i) | D::Numeric(i) | D::Dec(i) => {
            let (p, s) = match i {
                ast::ExactNumberInfo::None => (10, 0),
                ast::ExactNumberInfo::Precision(p) => (*p as u32, 0),
                ast::ExactNumberInfo::PrecisionAndScale(p, s) => (*p as u32, (*s).max(0) as u32),
            };
            CastTo::Decimal(p.min(65), s.min(30))
        }
        D::Double(_) | D::DoublePrecision | D::Float(_) | D::Real => CastTo::Double,
        D::Date => CastTo::Date,
        D::Datetime(_) | D::Timestamp(..) => CastTo::DateTime,
        other => return Err(Error::sql(1064, "42000", format!("unsupported CAST target {other}"))),
    })
}

impl<'a> Compiler<'a> {
    /// A compiler for `scope` in `clause`.
    pub fn new(scope: &'a Scope, clause: &'static str) -> Compiler<'a> {
        Compiler { scope, clause, aggs: None, saw_column: false, aliases: vec![], depth: 0 }
    }

    fn column(&mut self, parts: &[String]) -> Result<CExpr> {
        if let Some((name, global)) = sysvar_name(parts) {
            return Ok(CExpr::SysVar(name, global));
        }
        if parts.len() == 1 {
            if let Some(u) = parts[0].strip_prefix('@') {
                return Ok(CExpr::UserVar(u.trim_matches('`').to_ascii_lowercase()));
            }
            if let Some((_, e)) =
                self.aliases.iter().find(|(a, _)| a.eq_ignore_ascii_case(&parts[0]))
            {
                if self.scope.resolve(None, &parts[0], self.clause).is_err() {
                    return Ok(e.clone());
                }
            }
        }
        let (qual, name) = match parts {
            [c] => (None, c.as_str()),
            [t, c] => (Some(t.as_str()), c.as_str()),
            [_, t, c] => (Some(t.as_str()), c.as_str()),
            _ => {
                return Err(Error::sql(
                    1064,
                    "42000",
                    format!("bad column reference {}", parts.join(".")),
                ))
            }
        };
        self.saw_column = true;
        Ok(CExpr::Col(self.scope.resolve(qual, name, self.clause)?))
    }

    /// `e` as MariaDB prints an expression in messages (error 1690's `.. out of range in '..'`):
    /// columns as `db`.`table`.`column`, operators spaced, parentheses only where precedence needs
    /// them, function names in lower case; and its precedence.
    fn render(&self, e: &Expr) -> (String, u8) {
        const ADD: u8 = 12;
        const MUL: u8 = 13;
        const NEG: u8 = 16;
        const HIGHEST: u8 = 20;
        let paren = |(s, p): (String, u8), min: u8| if p < min { format!("({s})") } else { s };
        let col = |qual: Option<&str>, name: &str| {
            let i = self.scope.resolve(qual, name, self.clause).ok()?;
            let (t, ci) = self.scope.column_at(i)?;
            let c = &t.def.columns[ci].name;
            Some(if t.def.db.is_empty() {
                format!("`{}`.`{c}`", t.alias)
            } else {
                format!("`{}`.`{}`.`{c}`", t.def.db, t.alias)
            })
        };
        match e {
            Expr::Nested(x) | Expr::UnaryOp { op: ast::UnaryOperator::Plus, expr: x } => {
                self.render(x)
            }
            Expr::Identifier(i) => {
                (col(None, &i.value).unwrap_or_else(|| i.value.clone()), HIGHEST)
            }
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                let n = parts.len();
                let text = col(Some(&parts[n - 2].value), &parts[n - 1].value);
                (text.unwrap_or_else(|| resolve_placeholders(e.to_string())), HIGHEST)
            }
            Expr::Value(v) => {
                let bound = match &v.value {
                    ast::Value::Placeholder(p) => bound_param(p),
                    _ => None,
                };
                (
                    match bound.as_ref().unwrap_or(&v.value) {
                        ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => {
                            format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
                        }
                        other => other.to_string(),
                    },
                    HIGHEST,
                )
            }
            Expr::UnaryOp { op: ast::UnaryOperator::Minus, expr } => {
                (format!("-{}", paren(self.render(expr), NEG)), NEG)
            }
            Expr::BinaryOp { left, op, right } => {
                let (name, p) = match op {
                    BinaryOperator::Plus => ("+", ADD),
                    BinaryOperator::Minus => ("-", ADD),
                    BinaryOperator::Multiply => ("*", MUL),
                    BinaryOperator::Divide => ("/", MUL),
                    BinaryOperator::Modulo => ("MOD", MUL),
                    BinaryOperator::MyIntegerDivide | BinaryOperator::DuckIntegerDivide => {
                        ("DIV", MUL)
                    }
                    _ => return (resolve_placeholders(e.to_string()), HIGHEST),
                };
                let l = paren(self.render(left), p);
                let r = paren(self.render(right), p + 1);
                (format!("{l} {name} {r}"), p)
            }
            Expr::Function(f) => {
                let name = func_name(f).to_ascii_lowercase();
                let args = match func_args(f) {
                    Ok((_, _, true)) => "*".to_string(),
                    Ok((args, distinct, _)) => {
                        let a: Vec<String> = args.iter().map(|a| self.render(a).0).collect();
                        format!("{}{}", if distinct { "distinct " } else { "" }, a.join(","))
                    }
                    Err(_) => return (resolve_placeholders(e.to_string()), HIGHEST),
                };
                (format!("{name}({args})"), HIGHEST)
            }
            Expr::Cast { expr, data_type, .. } => (
                format!(
                    "cast({} as {})",
                    self.render(expr).0,
                    data_type.to_string().to_ascii_lowercase()
                ),
                HIGHEST,
            ),
            _ => (resolve_placeholders(e.to_string()), HIGHEST),
        }
    }

    fn b(&mut self, e: &Expr) -> Result<Box<CExpr>> {
        Ok(Box::new(self.compile(e)?))
    }

    /// Whether comparisons between `a` and `b` use the case-insensitive collation.
    pub fn ci_of(&self, a: &CExpr, b: &CExpr) -> bool {
        !(super::expr::is_binary_type(&self.type_of(a))
            || super::expr::is_binary_type(&self.type_of(b)))
    }

    /// Compiles an expression.
    pub fn compile(&mut self, e: &Expr) -> Result<CExpr> {
        if self.depth >= MAX_DEPTH {
            return Err(Error::sql(
                1436,
                "HY000",
                format!("Thread stack overrun: expression nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.depth += 1;
        let r = self.compile_inner(e);
        self.depth -= 1;
        r
    }

    fn compile_inner(&mut self, e: &Expr) -> Result<CExpr> {
        Ok(match e {
            Expr::Identifier(i) => {
                if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("DEFAULT") {
                    return Err(Error::sql(1064, "42000", "DEFAULT is not allowed here"));
                }
                if i.quote_style.is_none()
                    && matches!(
                        i.value.to_ascii_uppercase().as_str(),
                        "CURRENT_TIMESTAMP" | "LOCALTIME" | "LOCALTIMESTAMP"
                    )
                {
                    return Ok(CExpr::Func(Func::Now, vec![]));
                }
                if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("CURRENT_DATE") {
                    return Ok(CExpr::Func(Func::CurDate, vec![]));
                }
                self.column(std::slice::from_ref(&i.value))?
            }
            Expr::CompoundIdentifier(parts) => self.column(&ident_path(parts))?,
            Expr::Value(v) => CExpr::Lit(literal(&v.value)?),
            Expr::Nested(x) => self.compile(x)?,
            Expr::Prefixed { value, .. } => self.compile(value)?,
            Expr::Collate { expr, .. } => self.compile(expr)?,
            Expr::UnaryOp { op, expr } => match op {
                UnaryOperator::Minus => match self.compile(expr)? {
                    CExpr::Lit(Value::Int(i)) => CExpr::Lit(Value::Int(-i)),
                    CExpr::Lit(Value::UInt(u)) if u == 1 << 63 => CExpr::Lit(Value::Int(i64::MIN)),
                    x => CExpr::Neg(Box::new(x)),
                },
                UnaryOperator::Plus => self.compile(expr)?,
                UnaryOperator::Not | UnaryOperator::BangNot => CExpr::Not(self.b(expr)?),
                UnaryOperator::BitwiseNot => CExpr::BitNot(self.b(expr)?),
                other => {
                    return Err(Error::sql(1064, "42000", format!("unsupported operator {other}")))
                }
            },
            Expr::BinaryOp {
                left,
                op: op @ (BinaryOperator::Plus | BinaryOperator::Minus),
                right,
            } if matches!(**right, Expr::Interval(_))
                || (matches!(**left, Expr::Interval(_)) && *op == BinaryOperator::Plus) =>
            {
                let (date, iv) = match &**right {
                    Expr::Interval(iv) => (left, iv),
                    _ => match &**left {
                        Expr::Interval(iv) => (right, iv),
                        _ => unreachable!("guarded above"),
                    },
                };
                let d = self.compile(date)?;
                self.date_add(d, iv, *op == BinaryOperator::Minus)?
            }
            Expr::BinaryOp { left, op, right } => {
                let l = self.compile(left)?;
                let r = self.compile(right)?;
                let ci = self.ci_of(&l, &r);
                let (l, r) = (Box::new(l), Box::new(r));
                let arith = |op: ArithOp, l, r| CExpr::Arith(op, l, r, self.render(e).0.into());
                match op {
                    BinaryOperator::Plus => arith(ArithOp::Add, l, r),
                    BinaryOperator::Minus => arith(ArithOp::Sub, l, r),
                    BinaryOperator::Multiply => arith(ArithOp::Mul, l, r),
                    BinaryOperator::Divide => arith(ArithOp::Div, l, r),
                    BinaryOperator::Modulo => arith(ArithOp::Mod, l, r),
                    BinaryOperator::MyIntegerDivide | BinaryOperator::DuckIntegerDivide => {
                        arith(ArithOp::IntDiv, l, r)
                    }
                    BinaryOperator::Eq => CExpr::Cmp(CmpOp::Eq, l, r, ci),
                    BinaryOperator::NotEq => CExpr::Cmp(CmpOp::Ne, l, r, ci),
                    BinaryOperator::Lt => CExpr::Cmp(CmpOp::Lt, l, r, ci),
                    BinaryOperator::LtEq => CExpr::Cmp(CmpOp::Le, l, r, ci),
                    BinaryOperator::Gt => CExpr::Cmp(CmpOp::Gt, l, r, ci),
                    BinaryOperator::GtEq => CExpr::Cmp(CmpOp::Ge, l, r, ci),
                    BinaryOperator::Spaceship => CExpr::Cmp(CmpOp::NullEq, l, r, ci),
                    BinaryOperator::And => CExpr::And(l, r),
                    BinaryOperator::Or => CExpr::Or(l, r),
                    BinaryOperator::Xor => CExpr::Xor(l, r),
                    BinaryOperator::BitwiseAnd => CExpr::Bit(b'&', l, r),
                    BinaryOperator::BitwiseOr => CExpr::Bit(b'|', l, r),
                    BinaryOperator::BitwiseXor => CExpr::Bit(b'^', l, r),
                    BinaryOperator::PGBitwiseShiftLeft => CExpr::Bit(b'<', l, r),
                    BinaryOperator::PGBitwiseShiftRight => CExpr::Bit(b'>', l, r),
                    BinaryOperator::StringConcat => CExpr::Or(l, r),
                    other => {
                        return Err(Error::sql(
                            1064,
                            "42000",
                            format!("unsupported operator {other}"),
                        ))
                    }
                }
            }
            Expr::IsNull(x) => CExpr::IsNull(self.b(x)?, false),
            Expr::IsNotNull(x) => CExpr::IsNull(self.b(x)?, true),
            Expr::IsTrue(x) => CExpr::IsBool(self.b(x)?, true, false),
            Expr::IsNotTrue(x) => CExpr::IsBool(self.b(x)?, true, true),
            Expr::IsFalse(x) => CExpr::IsBool(self.b(x)?, false, false),
            Expr::IsNotFalse(x) => CExpr::IsBool(self.b(x)?, false, true),
            Expr::IsUnknown(x) => CExpr::IsNull(self.b(x)?, false),
            Expr::IsNotUnknown(x) => CExpr::IsNull(self.b(x)?, true),
            Expr::IsDistinctFrom(a, b) => {
                let (a, b) = (self.compile(a)?, self.compile(b)?);
                let ci = self.ci_of(&a, &b);
                CExpr::Not(Box::new(CExpr::Cmp(CmpOp::NullEq, Box::new(a), Box::new(b), ci)))
            }
            Expr::IsNotDistinctFrom(a, b) => {
                let (a, b) = (self.compile(a)?, self.compile(b)?);
                let ci = self.ci_of(&a, &b);
                CExpr::Cmp(CmpOp::NullEq, Box::new(a), Box::new(b), ci)
            }
            Expr::In { expr, target: ast::InTarget::List(list), negated, .. } => {
                let x = self.compile(expr)?;
                let mut items = Vec::with_capacity(list.len());
                let mut ci = true;
                for i in list {
                    let c = self.compile(i)?;
                    ci &= self.ci_of(&x, &c);
                    items.push(c);
                }
                CExpr::In(Box::new(x), items, *negated, ci)
            }
            Expr::In { expr, target: ast::InTarget::Subquery(subquery), negated, .. } => {
                let x = self.compile(expr)?;
                CExpr::InSubq(Box::new(x), self.subquery(subquery)?, *negated)
            }
            Expr::In { .. } => {
                return Err(Error::sql(
                    1235,
                    "42000",
                    "This version doesn't yet support 'IN (subquery)'",
                ))
            }
            Expr::Between { expr, negated, low, high } => {
                let x = self.compile(expr)?;
                let lo = self.compile(low)?;
                let hi = self.compile(high)?;
                let ci = self.ci_of(&x, &lo) && self.ci_of(&x, &hi);
                CExpr::Between(Box::new(x), Box::new(lo), Box::new(hi), *negated, ci)
            }
            Expr::Like { negated, expr, pattern, escape_char, .. }
            | Expr::ILike { negated, expr, pattern, escape_char, .. } => {
                let x = self.compile(expr)?;
                let p = self.compile(pattern)?;
                let ci = self.ci_of(&x, &p) || matches!(e, Expr::ILike { .. });
                let esc = match escape_char.as_deref() {
                    Some(Expr::Value(v)) => match &v.value {
                        ast::Value::SingleQuotedString(s) => s.bytes().next().unwrap_or(b'\\'),
                        _ => b'\\',
                    },
                    _ => b'\\',
                };
                CExpr::Like(Box::new(x), Box::new(p), esc, *negated, ci)
            }
            Expr::Case { operand, conditions, else_result, .. } => {
                let op = match operand {
                    Some(o) => Some(self.b(o)?),
                    None => None,
                };
                let mut whens = vec![];
                for c in conditions {
                    whens.push((self.compile(&c.condition)?, self.compile(&c.result)?));
                }
                let els = match else_result {
                    Some(x) => Some(self.b(x)?),
                    None => None,
                };
                CExpr::Case(op, whens, els)
            }
            Expr::Cast { expr, data_type, .. } => {
                let to = cast_target(data_type)?;
                let x = self.compile(expr)?;
                let x = if to == CastTo::Char { self.float_text(x) } else { x };
                CExpr::Cast(Box::new(x), to)
            }
            Expr::Convert { expr, data_type: Some(dt), .. } => {
                CExpr::Cast(self.b(expr)?, cast_target(dt)?)
            }
            Expr::Convert { expr, .. } => self.compile(expr)?,
            Expr::Substring { expr, substring_from, substring_for, .. } => {
                let mut args = vec![self.compile(expr)?];
                args.push(match substring_from {
                    Some(f) => self.compile(f)?,
                    None => CExpr::Lit(Value::Int(1)),
                });
                if let Some(f) = substring_for {
                    args.push(self.compile(f)?);
                }
                CExpr::Func(Func::Substring, args)
            }
            Expr::Trim { expr, trim_where, trim_what: Some(what), .. } => {
                let f = match trim_where {
                    Some(ast::TrimWhereField::Leading) => Func::TrimLeading,
                    Some(ast::TrimWhereField::Trailing) => Func::TrimTrailing,
                    _ => Func::TrimBoth,
                };
                CExpr::Func(f, vec![self.compile(expr)?, self.compile(what)?])
            }
            Expr::Trim { expr, trim_where, .. } => {
                let f = match trim_where {
                    Some(ast::TrimWhereField::Leading) => Func::LTrim,
                    Some(ast::TrimWhereField::Trailing) => Func::RTrim,
                    _ => Func::Trim,
                };
                CExpr::Func(f, vec![self.compile(expr)?])
            }
            Expr::Ceil { expr, .. } => CExpr::Func(Func::Ceil, vec![self.compile(expr)?]),
            Expr::Floor { expr, .. } => CExpr::Func(Func::Floor, vec![self.compile(expr)?]),
            Expr::Position { expr, r#in } => {
                CExpr::Func(Func::Locate, vec![self.compile(expr)?, self.compile(r#in)?])
            }
            Expr::Function(f) => self.function(f)?,
            Expr::Tuple(_) => {
                return Err(Error::sql(1241, "21000", "Operand should contain 1 column(s)"))
            }
            Expr::Subquery(q) => CExpr::ScalarSubq(self.subquery(q)?),
            Expr::Exists { subquery, negated } => CExpr::Exists(self.subquery(subquery)?, *negated),
            Expr::TypedString(ts) => {
                let v = literal(&ts.value.value)?;
                match &ts.data_type {
                    ast::DataType::Date => CExpr::Cast(Box::new(CExpr::Lit(v)), CastTo::Date),
                    ast::DataType::Timestamp(..) | ast::DataType::Datetime(_) => {
                        CExpr::Cast(Box::new(CExpr::Lit(v)), CastTo::DateTime)
                    }
                    _ => CExpr::Lit(v),
                }
            }
            other => {
                return Err(Error::sql(1064, "42000", format!("unsupported expression: {other}")))
            }
        })
    }

    /// A subquery: finds its correlated references (`alias.column` where `alias` is a table of this
    /// scope and not one of the subquery's own FROM tables).
    fn subquery(&mut self, q: &ast::Query) -> Result<Arc<super::expr::Subquery>> {
        use std::ops::ControlFlow;
        let mut inner_names: Vec<String> = vec![];
        let _ = ast::visit_relations(q, |r| {
            if let Some(n) = r.0.last() {
                inner_names.push(n.to_string().trim_matches('`').to_string());
            }
            ControlFlow::<()>::Continue(())
        });
        collect_aliases(q, &mut inner_names);
        let mut refs: Vec<(String, String)> = vec![];
        let _ = ast::visit_expressions(q, |e| {
            if let Expr::CompoundIdentifier(parts) = e {
                if parts.len() == 2 {
                    let (t, c) = (&parts[0].value, &parts[1].value);
                    let inner = inner_names.iter().any(|n| n.eq_ignore_ascii_case(t));
                    let outer = self.scope.tables.iter().any(|st| st.alias.eq_ignore_ascii_case(t));
                    if !inner && outer && !refs.iter().any(|(a, b)| a == t && b == c) {
                        refs.push((t.clone(), c.clone()));
                    }
                }
            }
            ControlFlow::<()>::Continue(())
        });
        let mut outer = vec![];
        for (t, c) in refs {
            let col = self.column(&[t.clone(), c.clone()])?;
            outer.push((t, c, col));
        }
        Ok(Arc::new(super::expr::Subquery { query: q.clone(), outer }))
    }

    /// `d + INTERVAL n unit` (or minus).
    fn date_add(&mut self, d: CExpr, iv: &ast::Interval, negate: bool) -> Result<CExpr> {
        use super::expr::IntervalUnit as U;
        use ast::DateTimeField as F;
        let unit = match &iv.leading_field {
            Some(F::Microsecond | F::Microseconds) => U::Microsecond,
            Some(F::Second | F::Seconds) => U::Second,
            Some(F::Minute | F::Minutes) => U::Minute,
            Some(F::Hour | F::Hours) => U::Hour,
            Some(F::Day | F::Days) => U::Day,
            Some(F::Week(_) | F::Weeks) => U::Week,
            Some(F::Month | F::Months) => U::Month,
            Some(F::Quarter) => U::Quarter,
            Some(F::Year | F::Years) => U::Year,
            other => {
                return Err(Error::sql(
                    1064,
                    "42000",
                    format!(
                        "unsupported INTERVAL unit {}",
                        other.as_ref().map(|f| f.to_string()).unwrap_or_default()
                    ),
                ))
            }
        };
        if iv.last_field.is_some() {
            return Err(Error::sql(1064, "42000", "composite INTERVAL units are not supported"));
        }
        let mut n = self.compile(&iv.value)?;
        if negate {
            n = CExpr::Neg(Box::new(n));
        }
        Ok(CExpr::Func(Func::DateAdd, vec![d, n, CExpr::Lit(Value::Int(unit as i64))]))
    }

    fn function(&mut self, f: &ast::Function) -> Result<CExpr> {
        let name = func_name(f);
        let (args, distinct, star) = func_args(f)?;
        if name == "DATE_ADD" || name == "DATE_SUB" || name == "ADDDATE" || name == "SUBDATE" {
            let (Some(d), Some(Expr::Interval(iv)), 2) = (args.first(), args.get(1), args.len())
            else {
                if args.len() == 2 && (name == "ADDDATE" || name == "SUBDATE") {
                    let d = self.compile(args[0])?;
                    let iv = ast::Interval {
                        value: Box::new(args[1].clone()),
                        leading_field: Some(ast::DateTimeField::Day),
                        leading_precision: None,
                        last_field: None,
                        fractional_seconds_precision: None,
                    };
                    return self.date_add(d, &iv, name == "SUBDATE");
                }
                return Err(Error::sql(
                    1064,
                    "42000",
                    format!("You have an error in your SQL syntax; {name} needs (date, INTERVAL n unit)"),
                ));
            };
            let d = self.compile(d)?;
            return self.date_add(d, iv, name.ends_with("SUB") || name == "SUBDATE");
        }
        if name == "FROM_UNIXTIME" && args.len() == 2 {
            let t = CExpr::Func(Func::FromUnixtime, vec![self.compile(args[0])?]);
            return Ok(CExpr::Func(Func::DateFormat, vec![t, self.compile(args[1])?]));
        }
        if f.over.is_some() {
            return Err(Error::sql(1064, "42000", "window functions are not supported"));
        }
        if let Some(agg) = agg_func(&name) {
            let Some(aggs) = self.aggs.take() else {
                return Err(Error::sql(1111, "HY000", "Invalid use of group function"));
            };
            let result = (|| -> Result<AggSpec> {
                let (func, arg) = if star {
                    if agg != AggFunc::Count {
                        return Err(Error::sql(1064, "42000", format!("{name}(*) is not valid")));
                    }
                    (AggFunc::CountStar, None)
                } else {
                    if args.len() > 1 && agg == AggFunc::Count && distinct {
                        let mut inner = Compiler::new(self.scope, self.clause);
                        inner.depth = self.depth;
                        let mut parts = vec![];
                        for a in &args {
                            parts.push(inner.compile(a)?);
                        }
                        return Ok(AggSpec {
                            func: agg,
                            arg: Some(CExpr::Func(Func::Tuple, parts)),
                            distinct,
                            ci: true,
                            ty: agg_type(agg, None),
                        });
                    }
                    if args.len() != 1 && agg != AggFunc::GroupConcat {
                        return Err(Error::sql(
                            1064,
                            "42000",
                            format!("{name} takes one argument"),
                        ));
                    }
                    let mut inner = Compiler::new(self.scope, self.clause);
                    inner.depth = self.depth;
                    let a = inner.compile(
                        args.first()
                            .ok_or_else(|| Error::sql(1064, "42000", "missing argument"))?,
                    )?;
                    (agg, Some(a))
                };
                let arg_ty = arg.as_ref().map(|a| self.type_of(a));
                let ci = arg_ty.as_ref().is_none_or(|t| !super::expr::is_binary_type(t));
                let ty = agg_type(func, arg_ty.as_ref());
                Ok(AggSpec { func, arg, distinct, ci, ty })
            })();
            let spec = match result {
                Ok(s) => s,
                Err(e) => {
                    self.aggs = Some(aggs);
                    return Err(e);
                }
            };
            aggs.push(spec);
            let slot = aggs.len() - 1;
            self.aggs = Some(aggs);
            return Ok(CExpr::Agg(slot));
        }
        let Some((func, min, max)) = scalar_func(&name) else {
            return Err(Error::sql(1305, "42000", format!("FUNCTION {name} does not exist")));
        };
        if args.len() < min || args.len() > max || star {
            return Err(Error::sql(
                1582,
                "42000",
                format!("Incorrect parameter count in the call to native function '{name}'"),
            ));
        }
        let mut c = Vec::with_capacity(args.len());
        for a in args {
            let a = self.compile(a)?;
            c.push(if matches!(func, Func::Concat | Func::ConcatWs) {
                self.float_text(a)
            } else {
                a
            });
        }
        Ok(CExpr::Func(func, c))
    }

    /// `e` wrapped in [`Func::FloatText`] when it is a FLOAT value used as a string.
    fn float_text(&self, e: CExpr) -> CExpr {
        if self.type_of(&e).ct == ColumnType::Float {
            CExpr::Func(Func::FloatText, vec![e])
        } else {
            e
        }
    }

    /// Result type of a compiled expression (for metadata and collation decisions).
    pub fn type_of(&self, e: &CExpr) -> TypeInfo {
        type_of(e, self.scope, None)
    }
}

/// Table aliases declared in the FROM clauses of a query (and its nested queries).
fn collect_aliases(q: &ast::Query, out: &mut Vec<String>) {
    fn factor(f: &ast::TableFactor, out: &mut Vec<String>) {
        match f {
            ast::TableFactor::Table { alias: Some(a), .. } => out.push(a.name.value.clone()),
            ast::TableFactor::Derived { alias, subquery, .. } => {
                if let Some(a) = alias {
                    out.push(a.name.value.clone());
                }
                collect_aliases(subquery, out);
            }
            _ => {}
        }
    }
    fn set(s: &ast::SetExpr, out: &mut Vec<String>) {
        match s {
            ast::SetExpr::Select(sel) => {
                for t in &sel.from {
                    factor(&t.relation, out);
                    for j in &t.joins {
                        factor(&j.relation, out);
                    }
                }
            }
            ast::SetExpr::Query(q) => collect_aliases(q, out),
            ast::SetExpr::SetOperation { left, right, .. } => {
                set(left, out);
                set(right, out);
            }
            _ => {}
        }
    }
    set(&q.body, out);
}

/// Result type of an aggregate.
pub fn agg_type(f: AggFunc, arg: Option<&TypeInfo>) -> TypeInfo {
    match f {
        AggFunc::CountStar | AggFunc::Count => TypeInfo::int(21),
        AggFunc::Sum | AggFunc::Avg => match arg.map(|t| t.ct) {
            Some(ColumnType::Double | ColumnType::Float)
            | Some(ColumnType::VarString | ColumnType::String | ColumnType::Blob) => {
                TypeInfo::double()
            }
            _ => {
                let a = arg.cloned().unwrap_or_else(|| TypeInfo::int(21));
                let dec = if f == AggFunc::Avg { a.dec.saturating_add(4).min(30) } else { a.dec };
                TypeInfo::decimal(a.len + 22, dec)
            }
        },
        AggFunc::Min | AggFunc::Max => {
            let mut t = arg.cloned().unwrap_or_else(TypeInfo::null);
            t.flags &= !(1 | 2 | 4 | 8 | 512);
            t
        }
        AggFunc::GroupConcat => TypeInfo::string(1024 * 4),
    }
}

/// Result type of a compiled expression.
pub fn type_of(e: &CExpr, scope: &Scope, aggs: Option<&[AggSpec]>) -> TypeInfo {
    match e {
        CExpr::Lit(v) => match v {
            Value::Null => TypeInfo::null(),
            Value::Int(i) => TypeInfo::int(i.to_string().len() as u32),
            Value::UInt(u) => {
                let mut t = TypeInfo::int(u.to_string().len() as u32);
                t.flags |= 32;
                t
            }
            Value::Double(_) => TypeInfo::double(),
            Value::Decimal(s) => {
                let dec = s.find('.').map(|i| s.len() - i - 1).unwrap_or(0);
                TypeInfo::decimal(s.len() as u32, dec as u8)
            }
            Value::Bytes(b) => TypeInfo::string(b.len() as u32 * 4),
            Value::Date(..) => {
                TypeInfo { ct: ColumnType::Date, len: 10, dec: 0, charset: 63, flags: 128 }
            }
            Value::DateTime(_) => TypeInfo::datetime(),
        },
        CExpr::Col(i) => match scope.column_at(*i) {
            Some((t, c)) => TypeInfo::of_column(&t.def.columns[c].ty, t.def.col_flags(c)),
            None => TypeInfo::null(),
        },
        CExpr::Agg(i) => {
            aggs.and_then(|a| a.get(*i)).map(|s| s.ty.clone()).unwrap_or_else(|| TypeInfo::int(21))
        }
        CExpr::Neg(x) => match type_of(x, scope, aggs) {
            t if t.ct == ColumnType::Float => TypeInfo::double(),
            t => t,
        },
        CExpr::Arith(op, a, b, _) => {
            let (x, y) = (type_of(a, scope, aggs), type_of(b, scope, aggs));
            let is_f = |t: &TypeInfo| {
                matches!(
                    t.ct,
                    ColumnType::Double
                        | ColumnType::Float
                        | ColumnType::VarString
                        | ColumnType::String
                        | ColumnType::Blob
                )
            };
            let is_d = |t: &TypeInfo| t.ct == ColumnType::NewDecimal;
            if is_f(&x) || is_f(&y) {
                // MariaDB's decimals of a double result: the larger of the operands' (strings and
                // doubles have 31, "not fixed"), plus div_precision_increment for `/`.
                let dec = |t: &TypeInfo| if is_f(t) && t.dec == 0 { 31 } else { t.dec };
                let d = dec(&x).max(dec(&y));
                let d = if *op == ArithOp::Div { d.saturating_add(4) } else { d };
                TypeInfo { dec: d.min(31), ..TypeInfo::double() }
            } else if *op == ArithOp::IntDiv {
                TypeInfo::int(21)
            } else if is_d(&x) || is_d(&y) || *op == ArithOp::Div {
                let dec = match op {
                    ArithOp::Mul => x.dec + y.dec,
                    ArithOp::Div => x.dec + 4,
                    _ => x.dec.max(y.dec),
                };
                TypeInfo::decimal(x.len.max(y.len) + 2 + dec as u32, dec.min(30))
            } else {
                TypeInfo::int(x.len.max(y.len) + 1)
            }
        }
        CExpr::Func(f, args) => func_type(*f, args, scope, aggs),
        CExpr::Case(_, whens, els) => whens
            .first()
            .map(|(_, t)| type_of(t, scope, aggs))
            .or_else(|| els.as_ref().map(|e| type_of(e, scope, aggs)))
            .unwrap_or_else(TypeInfo::null),
        CExpr::Cast(_, to) => match to {
            CastTo::Signed | CastTo::Unsigned => TypeInfo::int(21),
            CastTo::Char => TypeInfo::string(255 * 4),
            CastTo::Decimal(p, s) => TypeInfo::decimal(p + 2, *s as u8),
            CastTo::Double => TypeInfo::double(),
            CastTo::Date => {
                TypeInfo { ct: ColumnType::Date, len: 10, dec: 0, charset: 63, flags: 128 }
            }
            CastTo::DateTime => TypeInfo::datetime(),
        },
        CExpr::UserVar(_) => TypeInfo::string(255 * 4),
        CExpr::SysVar(..) => TypeInfo::string(255 * 4),
        CExpr::Bit(..) | CExpr::BitNot(_) => TypeInfo::int(21),
        _ => TypeInfo::int(1),
    }
}

fn func_type(f: Func, args: &[CExpr], scope: &Scope, aggs: Option<&[AggSpec]>) -> TypeInfo {
    use Func::*;
    let arg0 = || args.first().map(|a| type_of(a, scope, aggs)).unwrap_or_else(TypeInfo::null);
    match f {
        Concat | ConcatWs | Upper | Lower | Substring | Left | Right | Trim | LTrim | RTrim
        | Replace | Repeat | Reverse | LPad | RPad | Hex | Md5 | Sha1 | Uuid | CurTime => {
            let len: u32 = args.iter().map(|a| type_of(a, scope, aggs).len).sum();
            TypeInfo::string(len.clamp(4, 1 << 24))
        }
        Database | User | Version => TypeInfo::string(512),
        Coalesce | IfNull | NullIf | Greatest | Least => arg0(),
        If => args.get(1).map(|a| type_of(a, scope, aggs)).unwrap_or_else(TypeInfo::null),
        Now | Sysdate | FromUnixtime => TypeInfo::datetime(),
        DateFormat | DayName | MonthName | TrimBoth | TrimLeading | TrimTrailing => {
            TypeInfo::string(arg0().len.clamp(4, 1 << 24))
        }
        DateAdd => match arg0().ct {
            ColumnType::Date | ColumnType::DateTime | ColumnType::Timestamp => {
                let unit = args.get(2).and_then(const_value).map(|v| v.as_i128()).unwrap_or(0);
                if arg0().ct == ColumnType::Date
                    && super::expr::IntervalUnit::from_code(unit).is_some_and(|u| u.is_date())
                {
                    arg0()
                } else {
                    TypeInfo::datetime()
                }
            }
            _ => TypeInfo::string(29 * 4),
        },
        LastDay => TypeInfo { ct: ColumnType::Date, len: 10, dec: 0, charset: 63, flags: 128 },
        CurDate | Date => {
            TypeInfo { ct: ColumnType::Date, len: 10, dec: 0, charset: 63, flags: 128 }
        }
        Rand | Pow | Sqrt => TypeInfo::double(),
        Pi => TypeInfo { len: 8, dec: 6, ..TypeInfo::double() },
        Abs | Round | Truncate | Floor | Ceil | Mod => {
            let t = arg0();
            if matches!(t.ct, ColumnType::VarString | ColumnType::String | ColumnType::Blob) {
                TypeInfo::double()
            } else if matches!(t.ct, ColumnType::Double | ColumnType::Float) {
                // Decimals of the double result as MariaDB sets them.
                let dec = match f {
                    Floor | Ceil => 0,
                    Round | Truncate => match args.get(1) {
                        None => 0,
                        Some(a) => match const_value(a) {
                            Some(v) if !v.is_null() => v.as_i128().clamp(0, 30) as u8,
                            _ => 31,
                        },
                    },
                    _ => t.dec,
                };
                TypeInfo { dec, ..TypeInfo::double() }
            } else {
                t
            }
        }
        LastInsertId | ConnectionId | Crc32 => {
            let mut t = TypeInfo::int(21);
            t.flags |= 32;
            t
        }
        _ => TypeInfo::int(21),
    }
}

/// Collects the top-level AND conjuncts of a compiled expression.
pub fn conjuncts<'e>(e: &'e CExpr, out: &mut Vec<&'e CExpr>) {
    match e {
        CExpr::And(a, b) => {
            conjuncts(a, out);
            conjuncts(b, out);
        }
        other => out.push(other),
    }
}

/// The value of an expression that needs no row and no session state (literals and arithmetic on them).
pub fn const_value(e: &CExpr) -> Option<Value> {
    match e {
        CExpr::Lit(v) => Some(v.clone()),
        CExpr::Neg(x) => match const_value(x)? {
            Value::Int(i) => i.checked_neg().map(Value::Int),
            Value::Double(d) => Some(Value::Double(-d)),
            Value::Decimal(_) => {
                let d = const_value(x)?.as_dec();
                Some(Value::Decimal(
                    super::decimal::Dec { mant: -d.mant, scale: d.scale }.to_string(),
                ))
            }
            _ => None,
        },
        CExpr::Arith(op, a, b, _) => {
            let (a, b) = (const_value(a)?, const_value(b)?);
            if a.is_null() || b.is_null() {
                return Some(Value::Null);
            }
            super::expr::arith(*op, &a, &b).ok()
        }
        CExpr::Cast(x, to) => super::expr::cast(const_value(x)?, *to).ok(),
        _ => None,
    }
}
