//! Statement execution: queries, DML and DDL against a [`View`], with the determinism context.
//!
//! An [`Exec`] runs one statement. It reads through its [`View`] and writes only into the view's statement
//! write set, which the caller merges into the transaction on success and drops on failure (statement
//! atomicity). It records what the statement consumed from its context (first auto-increment value,
//! LAST_INSERT_ID(), RAND seeds, user variables) for the [`super::LoggedStatement`].
//!
//! Access paths: a WHERE clause is split into conjuncts; equality/IN/range conditions on the primary key
//! (or on the leading column of a secondary index) whose other side is a constant become key ranges, so
//! point and range lookups read only the keys they need. The full WHERE is always re-applied to the rows
//! found, so an access path only has to return a superset.

use super::api::{ColumnInfo, ExecContext, Outcome, ResultSet, Session, UserVarValue, Value};
use super::catalog::{
    self, ColumnDef, IndexDef, SqlType, TableDef, K_AUTOINC, K_DROP, K_HIDDEN, K_INDEX, K_ROW,
};
use super::compile::{conjuncts, const_value, literal, type_of, Compiler, Scope, ScopeTable};
use super::decimal::Dec;
use super::expr::{eval, AggFunc, AggSpec, CExpr, CmpOp, EvalEnv, Func, Subquery, TypeInfo};
use super::rng::MyRnd;
use super::store::View;
use super::value::{collate_key, is_full_number, parse_datetime_str, parse_num_prefix, sort_cmp};
use crate::error::{Error, Result};
use sqlparser::ast::{self as ast, Expr, Statement};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

/// sql_mode bit STRICT_TRANS_TABLES.
pub const MODE_STRICT_TRANS: u64 = 1 << 21;
/// sql_mode bit STRICT_ALL_TABLES.
pub const MODE_STRICT_ALL: u64 = 1 << 22;
/// sql_mode bit NO_AUTO_VALUE_ON_ZERO.
pub const MODE_NO_AUTO_VALUE_ON_ZERO: u64 = 1 << 19;

const SQL_MODE_NAMES: &[(&str, u64)] = &[
    ("REAL_AS_FLOAT", 1),
    ("PIPES_AS_CONCAT", 2),
    ("ANSI_QUOTES", 4),
    ("IGNORE_SPACE", 8),
    ("IGNORE_BAD_TABLE_OPTIONS", 16),
    ("ONLY_FULL_GROUP_BY", 32),
    ("NO_UNSIGNED_SUBTRACTION", 64),
    ("NO_DIR_IN_CREATE", 128),
    ("POSTGRESQL", 256),
    ("ORACLE", 512),
    ("MSSQL", 1024),
    ("DB2", 2048),
    ("MAXDB", 4096),
    ("NO_KEY_OPTIONS", 8192),
    ("NO_TABLE_OPTIONS", 16384),
    ("NO_FIELD_OPTIONS", 32768),
    ("MYSQL323", 65536),
    ("MYSQL40", 131072),
    ("ANSI", 262144),
    ("NO_AUTO_VALUE_ON_ZERO", 524288),
    ("NO_BACKSLASH_ESCAPES", 1048576),
    ("STRICT_TRANS_TABLES", 2097152),
    ("STRICT_ALL_TABLES", 4194304),
    ("NO_ZERO_IN_DATE", 8388608),
    ("NO_ZERO_DATE", 16777216),
    ("ALLOW_INVALID_DATES", 33554432),
    ("ERROR_FOR_DIVISION_BY_ZERO", 67108864),
    ("TRADITIONAL", 134217728),
    ("NO_AUTO_CREATE_USER", 268435456),
    ("HIGH_NOT_PRECEDENCE", 536870912),
    ("NO_ENGINE_SUBSTITUTION", 1073741824),
    ("PAD_CHAR_TO_FULL_LENGTH", 2147483648),
    ("EMPTY_STRING_IS_NULL", 1 << 32),
    ("SIMULTANEOUS_ASSIGNMENT", 1 << 33),
    ("TIME_ROUND_FRACTIONAL", 1 << 34),
];

/// The default sql_mode of MariaDB 10.11.
pub const DEFAULT_SQL_MODE: &str =
    "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION";

/// The bits of [`DEFAULT_SQL_MODE`] (every statement's sql_mode unless the session changes it).
const DEFAULT_SQL_MODE_BITS: u64 = 2097152 | 67108864 | 268435456 | 1073741824;

/// sql_mode text -> bits (unknown names: error 1231).
pub fn sql_mode_bits(s: &str) -> Result<u64> {
    if s == DEFAULT_SQL_MODE {
        return Ok(DEFAULT_SQL_MODE_BITS);
    }
    let mut bits = 0;
    for name in s.split(',').map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let up = name.to_ascii_uppercase();
        match SQL_MODE_NAMES.iter().find(|(n, _)| *n == up) {
            Some((_, b)) => bits |= b,
            None => {
                return Err(Error::sql(
                    1231,
                    "42000",
                    format!("Variable 'sql_mode' can't be set to the value of '{name}'"),
                ))
            }
        }
    }
    Ok(bits)
}

/// sql_mode bits -> text.
pub fn sql_mode_from_bits(bits: u64) -> String {
    SQL_MODE_NAMES
        .iter()
        .filter(|(_, b)| bits & b != 0)
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(",")
}

/// Time-zone offset in seconds for a session time_zone value (`SYSTEM` and UTC names are +00:00).
pub fn tz_offset(tz: &str) -> Result<i64> {
    let t = tz.trim();
    if t.eq_ignore_ascii_case("SYSTEM")
        || t.eq_ignore_ascii_case("UTC")
        || t.eq_ignore_ascii_case("GMT")
    {
        return Ok(0);
    }
    let bad = || Error::sql(1298, "HY000", format!("Unknown or incorrect time zone: '{tz}'"));
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 14 || m > 59 {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

/// What a statement consumed from its context.
#[derive(Debug, Default)]
pub struct Consumed {
    /// First auto-increment value generated.
    pub insert_id: Option<u64>,
    /// LAST_INSERT_ID() value read.
    pub last_insert_id: Option<u64>,
    /// RAND seeds at the first RAND() call.
    pub rand_seeds: Option<(u64, u64)>,
    /// User variables read.
    pub user_vars: Vec<(String, UserVarValue)>,
    /// FOUND_ROWS() value read by the write.
    pub found_rows: Option<u64>,
    /// The text to log instead of the statement's own (FOUND_ROWS() calls replaced by their value).
    pub sql: Option<String>,
}

/// A key range: (start, end exclusive or None, prefix every key must have).
type KeyRange = (Vec<u8>, Option<Vec<u8>>, Vec<u8>);
/// Joined tables after the first: (scope index, kind, ON condition).
type Joins = Vec<(usize, JoinKind, Option<CExpr>)>;
/// A conflicting row: (row key, key name, key columns).
type Conflict = Option<(Vec<u8>, String, Vec<usize>)>;
/// A value as a literal expression (substituted for a correlated reference).
fn value_expr(v: &Value) -> Expr {
    let lit = match v {
        Value::Null => ast::Value::Null,
        Value::Int(_) | Value::UInt(_) | Value::Decimal(_) => {
            ast::Value::Number(show_val(v), false)
        }
        Value::Double(d) => ast::Value::Number(format!("{d:e}"), false),
        other => ast::Value::SingleQuotedString(show_val(other)),
    };
    Expr::Value(lit.into())
}

/// Open minus closed parentheses.
fn depth_of(s: &str) -> i64 {
    s.matches('(').count() as i64 - s.matches(')').count() as i64
}

/// Rows with their keys.
type KeyedRows = Vec<(Vec<u8>, Vec<Value>)>;

/// Access path for one table.
#[derive(Debug)]
enum Access {
    Full,
    /// Exact row keys.
    Points(Vec<Vec<u8>>),
    /// Key ranges on rows (index None) or a secondary index: (start, end exclusive or None, prefix).
    Ranges(Option<u32>, Vec<KeyRange>),
}

/// Executes one statement.
pub struct Exec<'a> {
    /// Storage view with the statement's own writes.
    pub view: View<'a>,
    /// The session (its `txn` is taken out while executing).
    pub sess: &'a mut Session,
    /// The context.
    pub ctx: &'a ExecContext,
    /// Records of what was consumed.
    pub used: Consumed,
    /// True when executing a write (non-deterministic functions are refused).
    pub is_write: bool,
    /// Warnings produced.
    pub warnings: u16,
    rand: Option<MyRnd>,
    seeded: HashMap<usize, MyRnd>,
    next_forced_id: Option<u64>,
    sql_mode: u64,
    tz_offset_us: i64,
    cur_row: u64,
    derived: Vec<(usize, Vec<Vec<Value>>)>,
    /// Results of subqueries already run in this statement: (subquery address, outer values key).
    subq_cache: HashMap<(usize, Vec<u8>), Vec<Vec<Value>>>,
    /// An auto-increment value generated for a row that was not inserted (ignored duplicate, ON
    /// DUPLICATE KEY UPDATE): the next row reuses it (MySQL's restore_auto_increment).
    reuse_id: Option<u64>,
    /// The auto-increment value generated for the row being built, if any.
    row_gen_id: Option<u64>,
    /// Distinct auto-increment values drawn by this statement (reuses not counted).
    gen_count: u64,
    /// The statement text as parsed (version comments expanded), for column labels.
    src: String,
    /// The top-level SELECT that has SQL_CALC_FOUND_ROWS (its address), and its row count before
    /// LIMIT once run.
    calc_found: Option<(usize, Option<u64>)>,
    /// True while running an INSERT/UPDATE/DELETE/REPLACE (FOUND_ROWS() can be logged by value).
    dml: bool,
}

impl<'a> EvalEnv for Exec<'a> {
    fn user_var(&mut self, name: &str) -> Value {
        let v = self.sess.user_vars.get(name).cloned().unwrap_or(UserVarValue::Null);
        if self.is_write && !self.used.user_vars.iter().any(|(n, _)| n == name) {
            self.used.user_vars.push((name.to_string(), v.clone()));
        }
        match v {
            UserVarValue::Null => Value::Null,
            UserVarValue::String(b, _) => Value::Bytes(b),
            UserVarValue::Real(d) => Value::Double(d),
            UserVarValue::Int(i, false) => Value::Int(i),
            UserVarValue::Int(i, true) => Value::UInt(i as u64),
            UserVarValue::Decimal(s) => Value::Decimal(s),
        }
    }

    fn sys_var(&mut self, name: &str, global: bool) -> Result<Value> {
        super::vars::get_var(self.view.inner, self.sess, name, global)
    }

    fn rand(&mut self, seed: Option<i64>, site: usize) -> f64 {
        if let Some(n) = seed {
            return self.seeded.entry(site).or_insert_with(|| MyRnd::from_seed(n)).next_f64();
        }
        if self.rand.is_none() {
            let (s1, s2) = self.ctx.rand_seeds.unwrap_or(self.sess.rand_seeds);
            self.used.rand_seeds = Some((s1, s2));
            self.rand = Some(MyRnd::new(s1, s2));
        }
        let r = self.rand.as_mut().map(|r| r.next_f64()).unwrap_or(0.0);
        if let Some(st) = self.rand {
            self.sess.rand_seeds = (st.seed1, st.seed2);
        }
        r
    }

    fn last_insert_id(&mut self, set: Option<u64>) -> u64 {
        if let Some(v) = set {
            self.sess.last_insert_id = v;
            return v;
        }
        let v = self.ctx.last_insert_id.unwrap_or(self.sess.last_insert_id);
        self.used.last_insert_id = Some(v);
        v
    }

    fn now_us(&mut self) -> i64 {
        self.ctx.now_us + self.tz_offset_us
    }

    fn nondeterministic(&mut self, name: &str) -> Result<()> {
        if self.is_write {
            return Err(Error::sql(
                1592,
                "HY000",
                format!("Statement is unsafe for statement-based replication: {name} cannot be replayed from the statement text; refused in a write"),
            ));
        }
        Ok(())
    }

    fn subquery(&mut self, q: &Subquery, outer: Vec<Value>) -> Result<Vec<Vec<Value>>> {
        let mut key = vec![];
        for v in &outer {
            group_key(&mut key, v);
        }
        let key = (q as *const Subquery as usize, key);
        if let Some(rows) = self.subq_cache.get(&key) {
            return Ok(rows.clone());
        }
        let rs = if q.outer.is_empty() {
            self.query(&q.query)?
        } else {
            let mut query = q.query.clone();
            let _ = ast::visit_expressions_mut(&mut query, |e| {
                if let Expr::CompoundIdentifier(parts) = e {
                    if parts.len() == 2 {
                        if let Some(i) = q
                            .outer
                            .iter()
                            .position(|(t, c, _)| *t == parts[0].value && *c == parts[1].value)
                        {
                            *e = value_expr(&outer[i]);
                        }
                    }
                }
                std::ops::ControlFlow::<()>::Continue(())
            });
            let saved = std::mem::take(&mut self.src);
            let r = self.query(&query);
            self.src = saved;
            r?
        };
        if rs.columns.len() != 1 {
            return Err(Error::sql(1241, "21000", "Operand should contain 1 column(s)"));
        }
        self.subq_cache.insert(key, rs.rows.clone());
        Ok(rs.rows)
    }

    fn info(&mut self, f: Func) -> Value {
        match f {
            Func::Database => match &self.sess.current_db {
                Some(d) => Value::Bytes(d.clone().into_bytes()),
                None => Value::Null,
            },
            Func::Version => super::vars::get_var(self.view.inner, self.sess, "version", false)
                .unwrap_or(Value::Null),
            Func::User => {
                Value::Bytes(format!("{}@{}", self.sess.user, self.sess.host).into_bytes())
            }
            Func::ConnectionId => Value::UInt(self.sess.connection_id as u64),
            Func::RowCount => Value::Int(self.sess.row_count),
            _ => Value::Null,
        }
    }

    fn found_rows(&mut self) -> Result<u64> {
        let n = self.sess.found_rows;
        if self.is_write {
            if !self.dml {
                self.nondeterministic("FOUND_ROWS()")?;
            }
            self.used.found_rows = Some(n);
        }
        Ok(n)
    }
}

fn err_no_db() -> Error {
    Error::sql(1046, "3D000", "No database selected")
}

fn err_no_table(db: &str, t: &str) -> Error {
    Error::sql(1146, "42S02", format!("Table '{db}.{t}' doesn't exist"))
}

/// (db, table) from an object name.
fn obj_name(n: &ast::ObjectName, cur: Option<&str>) -> Result<(String, String)> {
    let parts: Vec<String> =
        n.0.iter()
            .map(|p| match p {
                ast::ObjectNamePart::Identifier(i) => i.value.clone(),
                other => other.to_string(),
            })
            .collect();
    match parts.as_slice() {
        [t] => Ok((cur.ok_or_else(err_no_db)?.to_string(), t.clone())),
        [d, t] => Ok((d.clone(), t.clone())),
        _ => Err(Error::sql(1064, "42000", format!("bad table name {n}"))),
    }
}

fn ident_name(n: &ast::ObjectName) -> String {
    n.0.last()
        .map(|p| match p {
            ast::ObjectNamePart::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default()
}

/// Text of a value for error messages.
fn show_val(v: &Value) -> String {
    String::from_utf8_lossy(&v.to_text().unwrap_or_else(|| b"NULL".to_vec())).into_owned()
}

impl<'a> Exec<'a> {
    /// A new executor.
    pub fn new(
        view: View<'a>,
        sess: &'a mut Session,
        ctx: &'a ExecContext,
        is_write: bool,
    ) -> Result<Exec<'a>> {
        let sql_mode = sql_mode_bits(&sess.sql_mode)?;
        let tz = tz_offset(&sess.time_zone)? * 1_000_000;
        Ok(Exec {
            view,
            sess,
            ctx,
            used: Consumed::default(),
            is_write,
            warnings: 0,
            rand: None,
            seeded: HashMap::new(),
            next_forced_id: ctx.insert_id,
            sql_mode,
            tz_offset_us: tz,
            cur_row: 1,
            derived: vec![],
            subq_cache: HashMap::new(),
            reuse_id: None,
            row_gen_id: None,
            gen_count: 0,
            src: String::new(),
            calc_found: None,
            dml: false,
        })
    }

    fn strict(&self) -> bool {
        self.sql_mode & (MODE_STRICT_TRANS | MODE_STRICT_ALL) != 0
    }

    fn table(&self, db: &str, name: &str) -> Result<Arc<TableDef>> {
        self.view.table(db, name)?.ok_or_else(|| err_no_table(db, name))
    }

    fn table_of(&self, n: &ast::ObjectName) -> Result<Arc<TableDef>> {
        let (db, t) = obj_name(n, self.sess.current_db.as_deref())?;
        self.table(&db, &t)
    }

    /// Runs a parsed statement.
    pub fn run(&mut self, st: &Statement, text: &str) -> Result<Outcome> {
        self.src =
            super::parse::strip_leading(&super::parse::expand_version_comments(text)).to_string();
        self.dml = matches!(st, Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_));
        let out = match st {
            Statement::Query(q) => {
                // SQL_CALC_FOUND_ROWS on the query's SELECT, or on the first SELECT of a UNION
                // (then the count is the UNION's rows before its LIMIT).
                let mut first = &*q.body;
                while let ast::SetExpr::SetOperation { left, .. } = first {
                    first = left;
                }
                if let ast::SetExpr::Select(s) = first {
                    if s.select_modifiers.as_ref().is_some_and(|m| m.sql_calc_found_rows) {
                        let addr = if std::ptr::eq(first, &*q.body) {
                            &**s as *const ast::Select as usize
                        } else {
                            &*q.body as *const ast::SetExpr as usize
                        };
                        self.calc_found = Some((addr, None));
                    }
                }
                Outcome::Rows(self.query(q)?)
            }
            Statement::Insert(ins) => self.insert(ins)?,
            Statement::Update(u) => self.update(u)?,
            Statement::Delete(d) => self.delete(d)?,
            _ => super::ddl::run_other(self, st, text)?,
        };
        if let Outcome::Rows(rs) = &out {
            if !self.is_write {
                let calc = self.calc_found.take().and_then(|(_, n)| n);
                self.sess.found_rows = calc.unwrap_or(rs.rows.len() as u64);
            }
        }
        if let Some(n) = self.used.found_rows {
            self.used.sql = Some(super::parse::replace_found_rows(text, n).ok_or_else(|| {
                Error::sql(
                    1592,
                    "HY000",
                    "Statement is unsafe for statement-based replication: FOUND_ROWS() cannot be replaced by its value in this statement's text; refused in a write",
                )
            })?);
        }
        Ok(out)
    }

    // ---------------------------------------------------------------- queries

    /// Evaluates a constant expression (no row).
    pub fn eval_const(&mut self, e: &Expr) -> Result<Value> {
        let scope = Scope::default();
        let mut c = Compiler::new(&scope, "field list");
        let ce = c.compile(e)?;
        eval(&ce, &[], &[], self)
    }

    /// Runs a query.
    pub fn query(&mut self, q: &ast::Query) -> Result<ResultSet> {
        if q.with.is_some() {
            return Err(Error::sql(1064, "42000", "WITH is not supported"));
        }
        let (limit, offset) = self.limits(q)?;
        let order = match &q.order_by {
            Some(ast::OrderBy { kind: ast::OrderByKind::Expressions(v), .. }) => v.as_slice(),
            Some(_) => return Err(Error::sql(1064, "42000", "ORDER BY ALL is not supported")),
            None => &[],
        };
        match &*q.body {
            ast::SetExpr::Select(s) => self.select(s, order, limit, offset),
            ast::SetExpr::Query(inner) if order.is_empty() && limit.is_none() => self.query(inner),
            ast::SetExpr::Values(v) => {
                let mut rs = ResultSet::default();
                for (ri, row) in v.rows.iter().enumerate() {
                    let mut out = vec![];
                    for (i, e) in row.content.iter().enumerate() {
                        let v = self.eval_const(e)?;
                        if ri == 0 {
                            rs.columns
                                .push(col_info(&format!("column_{}", i), &TypeInfo::string(255)));
                        }
                        out.push(v);
                    }
                    rs.rows.push(out);
                }
                Ok(rs)
            }
            ast::SetExpr::SetOperation {
                left,
                op: ast::SetOperator::Union,
                set_quantifier,
                right,
            } => {
                let l = self.query(&ast::Query { body: left.clone(), ..q.clone_shallow() })?;
                let r = self.query(&ast::Query { body: right.clone(), ..q.clone_shallow() })?;
                if l.columns.len() != r.columns.len() {
                    return Err(Error::sql(
                        1222,
                        "21000",
                        "The used SELECT statements have a different number of columns",
                    ));
                }
                let mut rs = l;
                rs.rows.extend(r.rows);
                if !matches!(set_quantifier, ast::SetQuantifier::All) {
                    dedupe(&mut rs.rows);
                }
                if !order.is_empty() {
                    let names: Vec<String> = rs.columns.iter().map(|c| c.name.clone()).collect();
                    let mut keys = vec![];
                    for o in order {
                        let idx = match &o.expr {
                            Expr::Value(v) => match literal(&v.value)? {
                                Value::Int(n) if n >= 1 && (n as usize) <= names.len() => {
                                    n as usize - 1
                                }
                                _ => {
                                    return Err(Error::sql(
                                        1054,
                                        "42S22",
                                        "Unknown column in 'order clause'",
                                    ))
                                }
                            },
                            Expr::Identifier(i) => names
                                .iter()
                                .position(|n| n.eq_ignore_ascii_case(&i.value))
                                .ok_or_else(|| {
                                    Error::sql(
                                        1054,
                                        "42S22",
                                        format!("Unknown column '{}' in 'order clause'", i.value),
                                    )
                                })?,
                            _ => {
                                return Err(Error::sql(
                                    1064,
                                    "42000",
                                    "unsupported ORDER BY on UNION",
                                ))
                            }
                        };
                        keys.push((idx, matches!(o.options.sort, Some(ast::OrderBySort::Desc))));
                    }
                    rs.rows.sort_by(|a, b| {
                        for (i, desc) in &keys {
                            let o = sort_cmp(&a[*i], &b[*i], true);
                            let o = if *desc { o.reverse() } else { o };
                            if o != Ordering::Equal {
                                return o;
                            }
                        }
                        Ordering::Equal
                    });
                }
                let addr = &*q.body as *const ast::SetExpr as usize;
                if matches!(self.calc_found, Some((a, None)) if a == addr) {
                    self.calc_found = Some((addr, Some(rs.rows.len() as u64)));
                }
                apply_limit(&mut rs.rows, limit, offset);
                Ok(rs)
            }
            _ => Err(Error::sql(1064, "42000", "unsupported query form")),
        }
    }

    fn limits(&mut self, q: &ast::Query) -> Result<(Option<u64>, u64)> {
        let mut num = |e: &Expr| -> Result<u64> {
            match self.eval_const(e)? {
                Value::Int(i) if i >= 0 => Ok(i as u64),
                Value::UInt(u) => Ok(u),
                _ => Err(Error::sql(1064, "42000", "LIMIT needs a non-negative integer")),
            }
        };
        Ok(match &q.limit_clause {
            None => (None, 0),
            Some(ast::LimitClause::LimitOffset { limit, offset, .. }) => {
                let l = match limit {
                    Some(e) => Some(num(e)?),
                    None => None,
                };
                let o = match offset {
                    Some(o) => num(&o.value)?,
                    None => 0,
                };
                (l, o)
            }
            Some(ast::LimitClause::OffsetCommaLimit { offset, limit }) => {
                (Some(num(limit)?), num(offset)?)
            }
        })
    }

    fn resolve_from(&mut self, from: &[ast::TableWithJoins]) -> Result<(Scope, Joins)> {
        let mut scope = Scope::default();
        let mut joins = vec![];
        let add = |this: &mut Self, scope: &mut Scope, f: &ast::TableFactor| -> Result<usize> {
            match f {
                ast::TableFactor::Table { name, alias, .. }
                    if obj_name(name, this.sess.current_db.as_deref())
                        .is_ok_and(|(d, _)| d.eq_ignore_ascii_case("information_schema")) =>
                {
                    let (_, tn) = obj_name(name, this.sess.current_db.as_deref())?;
                    let rs = super::ddl::information_schema(this, &tn)?
                        .ok_or_else(|| err_no_table("information_schema", &tn))?;
                    let alias = alias.as_ref().map(|a| a.name.value.clone()).unwrap_or(tn);
                    let def = derived_def(&alias, &rs);
                    let offset = scope.width();
                    this.derived.push((scope.tables.len(), rs.rows));
                    scope.tables.push(ScopeTable { alias, def: Arc::new(def), offset });
                    Ok(scope.tables.len() - 1)
                }
                ast::TableFactor::Table { name, alias, .. } => {
                    let def = this.table_of(name)?;
                    let alias = alias
                        .as_ref()
                        .map(|a| a.name.value.clone())
                        .unwrap_or_else(|| def.name.clone());
                    if scope.tables.iter().any(|t| t.alias == alias) {
                        return Err(Error::sql(
                            1066,
                            "42000",
                            format!("Not unique table/alias: '{alias}'"),
                        ));
                    }
                    let offset = scope.width();
                    scope.tables.push(ScopeTable { alias, def, offset });
                    Ok(scope.tables.len() - 1)
                }
                ast::TableFactor::Derived { subquery, alias, .. } => {
                    let rs = this.query(subquery)?;
                    let alias = alias.as_ref().map(|a| a.name.value.clone()).ok_or_else(|| {
                        Error::sql(1248, "42000", "Every derived table must have its own alias")
                    })?;
                    let def = derived_def(&alias, &rs);
                    let offset = scope.width();
                    this.derived.push((scope.tables.len(), rs.rows));
                    scope.tables.push(ScopeTable { alias, def: Arc::new(def), offset });
                    Ok(scope.tables.len() - 1)
                }
                _ => Err(Error::sql(1064, "42000", "unsupported table reference")),
            }
        };
        for (n, twj) in from.iter().enumerate() {
            let idx = add(self, &mut scope, &twj.relation)?;
            if n > 0 {
                joins.push((idx, JoinKind::Inner, None));
            }
            for j in &twj.joins {
                let idx = add(self, &mut scope, &j.relation)?;
                let (kind, cons) = match &j.join_operator {
                    ast::JoinOperator::Join(c) | ast::JoinOperator::Inner(c) => {
                        (JoinKind::Inner, Some(c))
                    }
                    ast::JoinOperator::Left(c) | ast::JoinOperator::LeftOuter(c) => {
                        (JoinKind::Left, Some(c))
                    }
                    ast::JoinOperator::CrossJoin(c) => (JoinKind::Inner, Some(c)),
                    _ => return Err(Error::sql(1064, "42000", "unsupported join type")),
                };
                let on = match cons {
                    Some(ast::JoinConstraint::On(e)) => {
                        let mut c = Compiler::new(&scope, "on clause");
                        Some(c.compile(e)?)
                    }
                    Some(ast::JoinConstraint::None) | None => None,
                    Some(ast::JoinConstraint::Using(cols)) => {
                        let right = &scope.tables[idx];
                        let mut cond: Option<CExpr> = None;
                        for c in cols {
                            let name = ident_name(c);
                            let r =
                                scope.resolve(Some(&right.alias.clone()), &name, "from clause")?;
                            let l = scope.tables[..idx]
                                .iter()
                                .find_map(|t| t.def.col(&name).map(|i| t.offset + i))
                                .ok_or_else(|| {
                                    Error::sql(
                                        1054,
                                        "42S22",
                                        format!("Unknown column '{name}' in 'from clause'"),
                                    )
                                })?;
                            let eq = CExpr::Cmp(
                                CmpOp::Eq,
                                Box::new(CExpr::Col(l)),
                                Box::new(CExpr::Col(r)),
                                true,
                            );
                            cond = Some(match cond {
                                Some(c) => CExpr::And(Box::new(c), Box::new(eq)),
                                None => eq,
                            });
                        }
                        cond
                    }
                    _ => return Err(Error::sql(1064, "42000", "unsupported join constraint")),
                };
                joins.push((idx, kind, on));
            }
        }
        Ok((scope, joins))
    }

    /// Rows of one table through an access path chosen from `filter`, calling `f(row_key, row)`.
    fn scan_rows(
        &mut self,
        t: &TableDef,
        filter: Option<&CExpr>,
        offset: usize,
        mut f: impl FnMut(&mut Self, Vec<u8>, Vec<Value>) -> Result<bool>,
    ) -> Result<()> {
        let access = plan_access(t, filter, offset);
        let ncols = t.columns.len();
        match access {
            Access::Points(keys) => {
                for k in keys {
                    if let Some(b) = self.view.get(&k)? {
                        let row = catalog::decode_row(&b, ncols)?;
                        if !f(self, k, row)? {
                            break;
                        }
                    }
                }
            }
            Access::Full => {
                let p = catalog::tid_key(K_ROW, t.id);
                let mut rows = vec![];
                self.view.scan(&p, None, &p, |k, v| {
                    rows.push((k.to_vec(), catalog::decode_row(v, ncols)?));
                    Ok(true)
                })?;
                for (k, r) in rows {
                    if !f(self, k, r)? {
                        break;
                    }
                }
            }
            Access::Ranges(None, ranges) => {
                let mut rows = vec![];
                for (s, e, p) in ranges {
                    self.view.scan(&s, e.as_deref(), &p, |k, v| {
                        rows.push((k.to_vec(), catalog::decode_row(v, ncols)?));
                        Ok(true)
                    })?;
                }
                for (k, r) in rows {
                    if !f(self, k, r)? {
                        break;
                    }
                }
            }
            Access::Ranges(Some(_), ranges) => {
                let mut keys = vec![];
                for (s, e, p) in ranges {
                    self.view.scan(&s, e.as_deref(), &p, |_, v| {
                        let mut k = catalog::tid_key(K_ROW, t.id);
                        k.extend_from_slice(v);
                        keys.push(k);
                        Ok(true)
                    })?;
                }
                for k in keys {
                    if let Some(b) = self.view.get(&k)? {
                        let row = catalog::decode_row(&b, ncols)?;
                        if !f(self, k, row)? {
                            break;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn all_rows(&mut self, scope: &Scope, i: usize) -> Result<Vec<Vec<Value>>> {
        if let Some((_, rows)) = self.derived.iter().find(|(n, _)| *n == i) {
            return Ok(rows.clone());
        }
        let t = scope.tables[i].def.clone();
        let mut out = vec![];
        self.scan_rows(&t, None, 0, |_, _, r| {
            out.push(r);
            Ok(true)
        })?;
        Ok(out)
    }

    /// Produces the (joined) source rows passing `filter`, calling `f(row)` until it returns false.
    fn source_rows(
        &mut self,
        scope: &Scope,
        joins: &[(usize, JoinKind, Option<CExpr>)],
        filter: Option<&CExpr>,
        mut f: impl FnMut(&mut Self, Vec<Value>) -> Result<bool>,
    ) -> Result<()> {
        if scope.tables.is_empty() {
            let pass = match filter {
                Some(w) => eval(w, &[], &[], self)?.truth() == Some(true),
                None => true,
            };
            if pass {
                f(self, vec![])?;
            }
            return Ok(());
        }
        if scope.tables.len() == 1 && self.derived.is_empty() {
            let t = scope.tables[0].def.clone();
            return self.scan_rows(&t, filter, 0, |this, _, row| {
                if let Some(w) = filter {
                    if eval(w, &row, &[], this)?.truth() != Some(true) {
                        return Ok(true);
                    }
                }
                f(this, row)
            });
        }
        // Nested loops over materialized tables; a stored inner table with an equality on a key
        // column (`right.col = left.col` in ON, or in WHERE for comma and inner joins) is probed
        // through its primary key or index for each outer row instead.
        let mut acc: Vec<Vec<Value>> = self.all_rows(scope, 0)?;
        for (idx, kind, on) in joins {
            let st = &scope.tables[*idx];
            let derived = self.derived.iter().any(|(n, _)| n == idx);
            let probes = if derived {
                vec![]
            } else {
                let mut v = join_probes(on.as_ref(), st.offset, st.def.columns.len());
                if *kind == JoinKind::Inner {
                    v.extend(join_probes(filter, st.offset, st.def.columns.len()));
                }
                v
            };
            if !probes.is_empty() && !matches!(plan_probe(&st.def, &probes), Access::Full) {
                let def = st.def.clone();
                let width = def.columns.len();
                let mut next = vec![];
                for l in &acc {
                    let mut cond: Option<CExpr> = None;
                    let mut null_key = false;
                    for (rc, left, ci) in &probes {
                        let v = match left {
                            CExpr::Col(q) => l.get(*q).cloned().unwrap_or(Value::Null),
                            other => const_value(other).unwrap_or(Value::Null),
                        };
                        null_key |= v.is_null();
                        let eq = CExpr::Cmp(
                            CmpOp::Eq,
                            Box::new(CExpr::Col(*rc)),
                            Box::new(CExpr::Lit(v)),
                            *ci,
                        );
                        cond = Some(match cond {
                            Some(c) => CExpr::And(Box::new(c), Box::new(eq)),
                            None => eq,
                        });
                    }
                    let mut found = vec![];
                    if !null_key {
                        self.scan_rows(&def, cond.as_ref(), 0, |this, _, r| {
                            if let Some(c) = &cond {
                                if eval(c, &r, &[], this)?.truth() != Some(true) {
                                    return Ok(true);
                                }
                            }
                            found.push(r);
                            Ok(true)
                        })?;
                    }
                    self.join_step(l, found, on.as_ref(), *kind, width, &mut next)?;
                }
                acc = next;
                continue;
            }
            let right = self.all_rows(scope, *idx)?;
            let width = scope.tables[*idx].def.columns.len();
            let mut next = vec![];
            for l in &acc {
                self.join_step(l, right.iter().cloned(), on.as_ref(), *kind, width, &mut next)?;
            }
            acc = next;
        }
        for row in acc {
            if let Some(w) = filter {
                if eval(w, &row, &[], self)?.truth() != Some(true) {
                    continue;
                }
            }
            if !f(self, row)? {
                break;
            }
        }
        Ok(())
    }

    fn select(
        &mut self,
        s: &ast::Select,
        order: &[ast::OrderByExpr],
        limit: Option<u64>,
        offset: u64,
    ) -> Result<ResultSet> {
        if s.into.is_some() {
            return Err(Error::sql(1064, "42000", "SELECT ... INTO is not supported"));
        }
        let saved_derived = std::mem::take(&mut self.derived);
        let (scope, joins) = self.resolve_from(&s.from)?;
        let result = self.select_in(s, &scope, &joins, order, limit, offset);
        self.derived = saved_derived;
        result
    }

    fn select_in(
        &mut self,
        s: &ast::Select,
        scope: &Scope,
        joins: &[(usize, JoinKind, Option<CExpr>)],
        order: &[ast::OrderByExpr],
        limit: Option<u64>,
        offset: u64,
    ) -> Result<ResultSet> {
        let filter = match &s.selection {
            Some(w) => Some(Compiler::new(scope, "where clause").compile(w)?),
            None => None,
        };
        // Projection.
        let mut aggs: Vec<AggSpec> = vec![];
        let mut proj: Vec<CExpr> = vec![];
        let mut cols: Vec<ColumnInfo> = vec![];
        let mut aliases: Vec<(String, CExpr)> = vec![];
        for item in &s.projection {
            match item {
                ast::SelectItem::Wildcard(_) => {
                    if scope.tables.is_empty() {
                        return Err(Error::sql(1096, "HY000", "No tables used"));
                    }
                    for t in &scope.tables {
                        push_table_cols(t, &mut proj, &mut cols);
                    }
                }
                ast::SelectItem::QualifiedWildcard(
                    ast::SelectItemQualifiedWildcardKind::ObjectName(n),
                    _,
                ) => {
                    let name = ident_name(n);
                    let t = scope.tables.iter().find(|t| t.alias == name).ok_or_else(|| {
                        Error::sql(1051, "42S02", format!("Unknown table '{name}'"))
                    })?;
                    push_table_cols(t, &mut proj, &mut cols);
                }
                ast::SelectItem::UnnamedExpr(e)
                | ast::SelectItem::ExprWithAlias { expr: e, .. } => {
                    let mut c = Compiler::new(scope, "field list");
                    c.aggs = Some(&mut aggs);
                    let ce = c.compile(e)?;
                    let name = match item {
                        ast::SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
                        _ => self.label(e),
                    };
                    let ti = type_of(&ce, scope, Some(&aggs));
                    let mut info = col_info(&name, &ti);
                    if let CExpr::Col(i) = &ce {
                        if let Some((t, ci)) = scope.column_at(*i) {
                            info.schema = t.def.db.clone();
                            info.table = t.alias.clone();
                            info.org_table = t.def.name.clone();
                            info.org_name = t.def.columns[ci].name.clone();
                        }
                    }
                    if matches!(item, ast::SelectItem::ExprWithAlias { .. }) {
                        aliases.push((name.clone(), ce.clone()));
                    }
                    cols.push(info);
                    proj.push(ce);
                }
                _ => return Err(Error::sql(1064, "42000", "unsupported select item")),
            }
        }
        // GROUP BY.
        let mut group: Vec<CExpr> = vec![];
        if let ast::GroupByExpr::Expressions(exprs, _) = &s.group_by {
            for e in exprs {
                group.push(self.order_expr(
                    e,
                    scope,
                    &proj,
                    &aliases,
                    &mut aggs,
                    "group statement",
                )?);
            }
        } else {
            return Err(Error::sql(1064, "42000", "GROUP BY ALL is not supported"));
        }
        let having = match &s.having {
            Some(h) => {
                let mut c = Compiler::new(scope, "having clause");
                c.aggs = Some(&mut aggs);
                c.aliases = aliases.clone();
                Some(c.compile(h)?)
            }
            None => None,
        };
        let mut keys: Vec<(CExpr, bool, bool)> = vec![];
        for o in order {
            let ce = self.order_expr(&o.expr, scope, &proj, &aliases, &mut aggs, "order clause")?;
            let ci = !super::expr::is_binary_type(&type_of(&ce, scope, Some(&aggs)));
            keys.push((ce, matches!(o.options.sort, Some(ast::OrderBySort::Desc)), ci));
        }
        let distinct = matches!(s.distinct, Some(ast::Distinct::Distinct));
        let aggregate = !aggs.is_empty() || !group.is_empty();
        // Rows: (projected values, sort keys).
        let mut out: Vec<(Vec<Value>, Vec<Value>)> = vec![];
        let calc = matches!(self.calc_found,
            Some((addr, None)) if addr == s as *const ast::Select as usize);
        let early = if keys.is_empty() && !distinct && !aggregate && !calc {
            limit.map(|l| l + offset)
        } else {
            None
        };
        if !aggregate {
            self.source_rows(scope, joins, filter.as_ref(), |this, row| {
                let mut vals = Vec::with_capacity(proj.len());
                for p in &proj {
                    vals.push(eval(p, &row, &[], this)?);
                }
                let mut ks = Vec::with_capacity(keys.len());
                for (k, _, _) in &keys {
                    ks.push(eval(k, &row, &[], this)?);
                }
                out.push((vals, ks));
                Ok(early.is_none_or(|n| (out.len() as u64) < n))
            })?;
        } else {
            let mut groups: Vec<(Vec<Value>, Vec<Acc>)> = vec![];
            let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
            let mut err = None;
            self.source_rows(scope, joins, filter.as_ref(), |this, row| {
                let mut gk = vec![];
                for g in &group {
                    let v = eval(g, &row, &[], this)?;
                    group_key(&mut gk, &v);
                }
                let gi = match index.get(&gk) {
                    Some(i) => *i,
                    None => {
                        groups.push((row.clone(), aggs.iter().map(Acc::new).collect()));
                        index.insert(gk, groups.len() - 1);
                        groups.len() - 1
                    }
                };
                for (ai, spec) in aggs.iter().enumerate() {
                    let v = match &spec.arg {
                        Some(a) => eval(a, &row, &[], this)?,
                        None => Value::Int(1),
                    };
                    if let Err(e) = groups[gi].1[ai].add(spec, v) {
                        err = Some(e);
                        return Ok(false);
                    }
                }
                Ok(true)
            })?;
            if let Some(e) = err {
                return Err(e);
            }
            if groups.is_empty() && group.is_empty() {
                groups
                    .push((vec![Value::Null; scope.width()], aggs.iter().map(Acc::new).collect()));
            }
            for (row, accs) in groups {
                let av: Vec<Value> =
                    accs.into_iter().zip(aggs.iter()).map(|(a, s)| a.finish(s)).collect();
                if let Some(h) = &having {
                    if eval(h, &row, &av, self)?.truth() != Some(true) {
                        continue;
                    }
                }
                let mut vals = Vec::with_capacity(proj.len());
                for p in &proj {
                    vals.push(eval(p, &row, &av, self)?);
                }
                let mut ks = Vec::with_capacity(keys.len());
                for (k, _, _) in &keys {
                    ks.push(eval(k, &row, &av, self)?);
                }
                out.push((vals, ks));
            }
        }
        if distinct {
            let mut seen = std::collections::HashSet::new();
            out.retain(|(v, _)| {
                let mut k = vec![];
                for x in v {
                    group_key(&mut k, x);
                }
                seen.insert(k)
            });
        }
        if !keys.is_empty() {
            out.sort_by(|a, b| {
                for (i, (_, desc, ci)) in keys.iter().enumerate() {
                    let o = sort_cmp(&a.1[i], &b.1[i], *ci);
                    let o = if *desc { o.reverse() } else { o };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            });
        }
        let mut rows: Vec<Vec<Value>> = out.into_iter().map(|(v, _)| v).collect();
        if calc {
            self.calc_found = Some((s as *const ast::Select as usize, Some(rows.len() as u64)));
        }
        apply_limit(&mut rows, limit, offset);
        // Fix up metadata of aggregate columns now that aggregates are typed.
        for (i, p) in proj.iter().enumerate() {
            if let CExpr::Agg(_) = p {
                let ti = type_of(p, scope, Some(&aggs));
                let name = cols[i].name.clone();
                cols[i] = col_info(&name, &ti);
            }
        }
        Ok(ResultSet { columns: cols, rows })
    }

    /// The label MySQL gives an unaliased select expression: its text as written.
    fn label(&self, e: &Expr) -> String {
        use sqlparser::ast::Spanned;
        if matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Value(_)) {
            return expr_label(e);
        }
        // Spans refer to the parsed text: the normalized template for cached statements.
        let body = super::parse::strip_leading(&super::parse::expand_version_comments(&self.src))
            .to_string();
        let (src, lits) = match self.view.inner.stmt_cache.is_template(self.src.trim()) {
            Some(n) => (n.key, n.lits.into_iter().map(|(t, _)| t).collect::<Vec<_>>()),
            None => (body, vec![]),
        };
        let sp = e.span();
        let (Some(a), Some(b)) = (
            offset_of(&src, sp.start.line, sp.start.column),
            offset_of(&src, sp.end.line, sp.end.column),
        ) else {
            return expr_label(e);
        };
        if a >= b || b > src.len() {
            return expr_label(e);
        }
        let mut end = b;
        let mut a = a;
        let bytes = src.as_bytes();
        // Spans of function calls stop at the name; of unary operators, at the operand.
        let rest = src[end..].trim_start();
        if rest.starts_with('(') && src[..end].ends_with(|c: char| c.is_alphanumeric() || c == '_')
        {
            end = src.len() - rest.len() + 1;
        }
        if matches!(
            e,
            Expr::IsNull(_)
                | Expr::IsNotNull(_)
                | Expr::IsTrue(_)
                | Expr::IsNotTrue(_)
                | Expr::IsFalse(_)
                | Expr::IsNotFalse(_)
                | Expr::IsUnknown(_)
                | Expr::IsNotUnknown(_)
        ) {
            let mut words = src[end..].split_whitespace();
            let mut take = 0;
            if words.next().is_some_and(|w| w.eq_ignore_ascii_case("IS")) {
                take = 2;
                if words.next().is_some_and(|w| w.eq_ignore_ascii_case("NOT")) {
                    take = 3;
                }
            }
            let mut p = end;
            for _ in 0..take {
                let r = &src[p..];
                let skip = r.len() - r.trim_start().len();
                let w = r
                    .trim_start()
                    .split(|c: char| c.is_whitespace() || c == ',' || c == ')')
                    .next()
                    .unwrap_or("");
                p += skip + w.len();
            }
            end = p;
        }
        if let Expr::UnaryOp { .. } = e {
            let before = src[..a].trim_end();
            if before.ends_with(['-', '+', '!', '~']) {
                a = before.len() - 1;
            } else if before.to_ascii_uppercase().ends_with("NOT") {
                a = before.len() - 3;
            }
        }
        // Spans of special forms (SUBSTRING, CAST, FLOOR, TRIM, ...) and of expressions starting with
        // one, or with a unary minus, start inside: move back over `NAME(` and a leading sign.
        loop {
            let before = src[..a].trim_end();
            let item_start = |t: &str| {
                let u = t.trim_end().to_ascii_uppercase();
                u.is_empty()
                    || u.ends_with(',')
                    || u.ends_with('(')
                    || u.ends_with("SELECT")
                    || u.ends_with("DISTINCT")
            };
            if let Some(b) = before.strip_suffix('(') {
                let name_len = b.len()
                    - b.trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_').len();
                if name_len > 0 && item_start(&b[..b.len() - name_len]) {
                    a = b.len() - name_len;
                    continue;
                }
            }
            let upper = before.to_ascii_uppercase();
            if let Some(w) = ["LEADING", "TRAILING", "BOTH"].iter().find(|w| upper.ends_with(*w)) {
                if before[..before.len() - w.len()].trim_end().ends_with('(') {
                    a = before.len() - w.len();
                    continue;
                }
            }
            if let Some(b) = before.strip_suffix(['-', '+']) {
                if item_start(b) && depth_of(&src[a..end]) >= 0 {
                    a = b.len();
                    continue;
                }
            }
            break;
        }
        // `INTERVAL n UNIT`: the span ends at n.
        if src[a..end].to_ascii_uppercase().contains("INTERVAL") {
            let rest = &src[end..];
            let word = rest.trim_start();
            let w =
                word.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or("");
            const UNITS: [&str; 9] = [
                "MICROSECOND",
                "SECOND",
                "MINUTE",
                "HOUR",
                "DAY",
                "WEEK",
                "MONTH",
                "QUARTER",
                "YEAR",
            ];
            if UNITS.iter().any(|u| u.eq_ignore_ascii_case(w)) {
                end += rest.len() - word.len() + w.len();
            }
        }
        let depth = |s: &str| s.matches('(').count() as i64 - s.matches(')').count() as i64;
        while depth(&src[a..end]) > 0 && end < bytes.len() {
            end += 1;
            while end < bytes.len() && !src.is_char_boundary(end) {
                end += 1;
            }
        }
        let text = src[a..end].trim();
        if text.is_empty() || depth(text) != 0 {
            return expr_label(e);
        }
        let mut out = text.to_string();
        for (i, lit) in lits.iter().enumerate().rev() {
            out = out.replace(&format!("?{}", i + 1), lit);
        }
        out
    }

    /// Compiles an ORDER BY / GROUP BY item: a position, a select alias, or an expression.
    fn order_expr(
        &mut self,
        e: &Expr,
        scope: &Scope,
        proj: &[CExpr],
        aliases: &[(String, CExpr)],
        aggs: &mut Vec<AggSpec>,
        clause: &'static str,
    ) -> Result<CExpr> {
        if let Expr::Value(v) = e {
            if let Value::Int(n) = literal(&v.value)? {
                if n < 1 || n as usize > proj.len() {
                    return Err(Error::sql(
                        1054,
                        "42S22",
                        format!("Unknown column '{n}' in '{clause}'"),
                    ));
                }
                return Ok(proj[n as usize - 1].clone());
            }
        }
        if let Expr::Identifier(i) = e {
            if let Some((_, ce)) = aliases.iter().find(|(a, _)| a.eq_ignore_ascii_case(&i.value)) {
                return Ok(ce.clone());
            }
        }
        let mut c = Compiler::new(scope, clause);
        c.aggs = Some(aggs);
        c.compile(e)
    }

    // ---------------------------------------------------------------- writes

    /// Converts a value for storage in column `c` (strict-mode errors, warnings otherwise).
    pub fn coerce(&mut self, t: &TableDef, ci: usize, v: Value) -> Result<Value> {
        let c = &t.columns[ci];
        let row = self.cur_row;
        let strict = self.strict();
        // A number rounded to a DECIMAL column's scale is a note (1265), not an error, even in
        // strict mode.
        let rounded = match (&c.ty, &v) {
            (SqlType::Decimal(_, s), Value::Decimal(_) | Value::Double(_)) => {
                let d = v.as_dec();
                d.scale > *s && d.scale - *s < 38 && d.mant % 10i128.pow(d.scale - *s) != 0
            }
            _ => false,
        };
        match convert(&c.ty, v, &c.name, &t.db, &t.name, row) {
            Ok((v, warn)) => {
                if rounded && !warn {
                    self.warnings += 1;
                }
                if warn {
                    if strict {
                        return Err(Error::sql(
                            1265,
                            "01000",
                            format!("Data truncated for column '{}' at row {row}", c.name),
                        ));
                    }
                    self.warnings += 1;
                }
                Ok(v)
            }
            Err(ConvErr { err, fallback }) => {
                if strict {
                    Err(err)
                } else {
                    self.warnings += 1;
                    Ok(fallback)
                }
            }
        }
    }

    /// The value an UPDATE's `SET col = v` stores: NULL into a NOT NULL column is 1048 in strict mode
    /// and the type's implicit default (with a warning) otherwise; anything else is coerced.
    fn assigned_value(&mut self, t: &TableDef, ci: usize, v: Value) -> Result<Value> {
        if !v.is_null() {
            return self.coerce(t, ci, v);
        }
        if t.columns[ci].nullable {
            return Ok(v);
        }
        if self.strict() {
            return Err(Error::sql(
                1048,
                "23000",
                format!("Column '{}' cannot be null", t.columns[ci].name),
            ));
        }
        self.warnings += 1;
        Ok(implicit_default(&t.columns[ci].ty))
    }

    /// One outer row `l` of a join against its candidate inner rows: every combination that passes
    /// `on` goes to `next`; a LEFT join with none adds `l` padded with `width` NULLs.
    fn join_step(
        &mut self,
        l: &[Value],
        candidates: impl IntoIterator<Item = Vec<Value>>,
        on: Option<&CExpr>,
        kind: JoinKind,
        width: usize,
        next: &mut Vec<Vec<Value>>,
    ) -> Result<()> {
        let mut matched = false;
        for r in candidates {
            let mut row = l.to_vec();
            row.extend(r);
            let ok = match on {
                Some(c) => eval(c, &row, &[], self)?.truth() == Some(true),
                None => true,
            };
            if ok {
                matched = true;
                next.push(row);
            }
        }
        if !matched && kind == JoinKind::Left {
            let mut row = l.to_vec();
            row.extend(std::iter::repeat_n(Value::Null, width));
            next.push(row);
        }
        Ok(())
    }

    fn next_autoinc(&mut self, t: &TableDef) -> Result<u64> {
        if let Some(id) = self.reuse_id.take() {
            return Ok(id);
        }
        self.gen_count += 1;
        let key = catalog::tid_key(K_AUTOINC, t.id);
        let stored = self.autoinc_of(t.id)?;
        let v = match self.next_forced_id {
            Some(f) => {
                self.next_forced_id = Some(f + 1);
                f
            }
            None => {
                // Allocation and the high-water mark's move are one step, under the counter's lock:
                // concurrent writers (row locking) never get the same value, and one statement's
                // values are consecutive.
                self.view.lock_for_write(&key)?;
                let mut m = self
                    .view
                    .inner
                    .autoinc
                    .lock()
                    .map_err(|_| Error::Abort("auto-increment lock poisoned".into()))?;
                let hw = m.entry(t.id).or_insert(0);
                let v = stored.max(*hw).max(1);
                *hw = v.saturating_add(1);
                v
            }
        };
        self.bump_autoinc(t, v)?;
        if self.used.insert_id.is_none() {
            self.used.insert_id = Some(v);
        }
        Ok(v)
    }

    fn bump_autoinc(&mut self, t: &TableDef, used: u64) -> Result<()> {
        // A forced INSERT_ID (replay) covers the interval [id, inf) as in MySQL: once the statement has
        // generated a value, an explicit value at or past the cursor moves it on, exactly as the
        // table's counter moved on the primary (adjust_next_insert_id_after_explicit_value).
        if let Some(forced) = self.next_forced_id {
            if self.used.insert_id.is_some() && used >= forced {
                self.next_forced_id = Some(used.saturating_add(1));
            }
        }
        let key = catalog::tid_key(K_AUTOINC, t.id);
        let stored = self.autoinc_of(t.id)?;
        let next = used.saturating_add(1);
        if next > stored {
            // Another transaction moving the counter makes this statement wait (discarded).
            self.view.lock_for_write(&key)?;
            self.view.put(key, next.to_be_bytes().to_vec());
        }
        if let Ok(mut m) = self.view.inner.autoinc.lock() {
            let e = m.entry(t.id).or_insert(0);
            *e = (*e).max(next);
        }
        Ok(())
    }

    fn hidden_rowid(&mut self, t: &TableDef) -> Result<u64> {
        let key = catalog::tid_key(K_HIDDEN, t.id);
        let n = match self.view.get(&key)? {
            Some(b) if b.len() == 8 => u64::from_be_bytes(b[..8].try_into().unwrap_or([0; 8])),
            _ => 1,
        };
        self.view.put(key, (n + 1).to_be_bytes().to_vec());
        Ok(n)
    }

    /// Primary-key row key of a full row (hidden row id tables: `None`).
    fn pk_key(&self, t: &TableDef, row: &[Value]) -> Option<Vec<u8>> {
        if t.pk.is_empty() {
            return None;
        }
        let vals: Vec<&Value> = t.pk.iter().map(|i| &row[*i]).collect();
        Some(catalog::row_key(t, &vals))
    }

    fn index_key(t: &TableDef, idx: &IndexDef, row: &[Value]) -> Vec<u8> {
        let mut k = catalog::index_prefix(t.id, idx.id);
        for c in &idx.cols {
            catalog::encode_key_value(&mut k, &row[*c], &t.columns[*c].ty);
        }
        k
    }

    fn dup_entry(t: &TableDef, cols: &[usize], row: &[Value], key: &str) -> Error {
        let v: Vec<String> = cols.iter().map(|c| show_val(&row[*c])).collect();
        let _ = t;
        Error::sql(1062, "23000", format!("Duplicate entry '{}' for key '{key}'", v.join("-")))
    }

    /// Finds the row key of an existing row conflicting with `row` on the primary key or a unique index.
    fn conflict(&self, t: &TableDef, row: &[Value], own_key: Option<&[u8]>) -> Result<Conflict> {
        if let Some(k) = self.pk_key(t, row) {
            if Some(k.as_slice()) != own_key && self.view.exists(&k)? {
                return Ok(Some((k, "PRIMARY".into(), t.pk.clone())));
            }
        }
        for idx in t.indexes.iter().filter(|i| i.unique) {
            if idx.cols.iter().any(|c| row[*c].is_null()) {
                continue;
            }
            let p = Self::index_key(t, idx, row);
            let mut hit = None;
            self.view.scan(&p, None, &p, |_, v| {
                let mut rk = catalog::tid_key(K_ROW, t.id);
                rk.extend_from_slice(v);
                if Some(rk.as_slice()) != own_key {
                    hit = Some(rk);
                    return Ok(false);
                }
                Ok(true)
            })?;
            if let Some(rk) = hit {
                return Ok(Some((rk, idx.name.clone(), idx.cols.clone())));
            }
        }
        Ok(None)
    }

    fn write_row(&mut self, t: &TableDef, key: Vec<u8>, row: &[Value]) {
        let suffix = key[9..].to_vec();
        for idx in &t.indexes {
            let mut ik = Self::index_key(t, idx, row);
            ik.extend_from_slice(&suffix);
            self.view.put(ik, suffix.clone());
        }
        self.view.put(key, catalog::encode_row(row));
    }

    fn remove_row(&mut self, t: &TableDef, key: &[u8], row: &[Value]) {
        let suffix = &key[9..];
        for idx in &t.indexes {
            let mut ik = Self::index_key(t, idx, row);
            ik.extend_from_slice(suffix);
            self.view.delete(ik);
        }
        self.view.delete(key.to_vec());
    }

    fn insert(&mut self, ins: &ast::Insert) -> Result<Outcome> {
        let ast::TableObject::TableName(name) = &ins.table else {
            return Err(Error::sql(1064, "42000", "INSERT into a table function is not supported"));
        };
        let t = self.table_of(name)?;
        let cols: Vec<usize> = if ins.columns.is_empty() && ins.assignments.is_empty() {
            (0..t.columns.len()).collect()
        } else {
            let mut v = vec![];
            for c in &ins.columns {
                let n = ident_name(c);
                let i = t.col(&n).ok_or_else(|| {
                    Error::sql(1054, "42S22", format!("Unknown column '{n}' in 'field list'"))
                })?;
                v.push(i);
            }
            for a in &ins.assignments {
                let ast::AssignmentTarget::ColumnName(n) = &a.target else {
                    return Err(Error::sql(1064, "42000", "bad assignment"));
                };
                let n = ident_name(n);
                v.push(t.col(&n).ok_or_else(|| {
                    Error::sql(1054, "42S22", format!("Unknown column '{n}' in 'field list'"))
                })?);
            }
            v
        };
        // Source rows as expressions (VALUES / SET) or values (SELECT).
        let mut rows: Vec<Vec<Option<Value>>> = vec![];
        let scope = Scope::single(t.clone(), &t.name);
        if !ins.assignments.is_empty() {
            let mut r = vec![];
            for a in &ins.assignments {
                r.push(self.insert_value(&a.value, &scope)?);
            }
            rows.push(r);
        } else {
            let src = ins
                .source
                .as_ref()
                .ok_or_else(|| Error::sql(1064, "42000", "INSERT without values"))?;
            match &*src.body {
                ast::SetExpr::Values(vals) => {
                    for (ri, row) in vals.rows.iter().enumerate() {
                        if row.content.len() != cols.len()
                            && !(row.content.is_empty() && ins.columns.is_empty())
                        {
                            return Err(Error::sql(
                                1136,
                                "21S01",
                                format!("Column count doesn't match value count at row {}", ri + 1),
                            ));
                        }
                        let mut r = vec![];
                        for e in &row.content {
                            r.push(self.insert_value(e, &scope)?);
                        }
                        if r.is_empty() {
                            r = vec![None; cols.len()];
                        }
                        rows.push(r);
                    }
                }
                _ => {
                    let rs = self.query(src)?;
                    if rs.columns.len() != cols.len() {
                        return Err(Error::sql(
                            1136,
                            "21S01",
                            "Column count doesn't match value count at row 1",
                        ));
                    }
                    rows = rs.rows.into_iter().map(|r| r.into_iter().map(Some).collect()).collect();
                }
            }
        }
        let upsert = match &ins.on {
            Some(ast::OnInsert::DuplicateKeyUpdate(a)) => Some(a.clone()),
            None => None,
            Some(_) => return Err(Error::sql(1064, "42000", "unsupported ON clause")),
        };
        let mut affected = 0u64;
        let mut first_id = 0u64;
        let mut explicit_id = 0u64;
        let mut dups = 0u64;
        let mut updated_id = 0u64;
        let mut other_dups = 0u64;
        let from_values =
            matches!(ins.source.as_ref().map(|s| &*s.body), Some(ast::SetExpr::Values(_)) | None);
        let nrows = rows.len() as u64;
        let autoinc_col = t.columns.iter().position(|c| c.auto_inc);
        for (ri, vals) in rows.into_iter().enumerate() {
            self.cur_row = ri as u64 + 1;
            self.row_gen_id = None;
            let mut row_explicit = 0;
            let row = self.build_row(&t, &cols, vals, &mut first_id, &mut row_explicit)?;
            let conflict = self.conflict(&t, &row, None)?;
            if row_explicit != 0 && (conflict.is_none() || ins.replace_into) {
                explicit_id = row_explicit;
            }
            if let Some(g) = self.row_gen_id {
                if conflict.is_none() || ins.replace_into {
                    // The row is inserted: its value is the statement's first insert id if first.
                    if first_id == 0 {
                        first_id = g;
                    }
                } else {
                    // Not inserted (ignored or updated): the next row reuses the value.
                    self.reuse_id = Some(g);
                }
            }
            match conflict {
                None => {
                    let key = match self.pk_key(&t, &row) {
                        Some(k) => k,
                        None => {
                            let id = self.hidden_rowid(&t)?;
                            let mut k = catalog::tid_key(K_ROW, t.id);
                            catalog::encode_key_value(
                                &mut k,
                                &Value::UInt(id),
                                &SqlType::Int { bytes: 8, unsigned: true },
                            );
                            k
                        }
                    };
                    self.write_row(&t, key, &row);
                    affected += 1;
                }
                Some((old_key, key_name, kcols)) => {
                    if ins.replace_into {
                        // REPLACE: delete every conflicting row, then insert.
                        let mut guard = 0;
                        let mut conflict = Some((old_key, key_name, kcols));
                        while let Some((k, _, _)) = conflict {
                            guard += 1;
                            if guard > 64 {
                                break;
                            }
                            if let Some(b) = self.view.get(&k)? {
                                let old = catalog::decode_row(&b, t.columns.len())?;
                                self.remove_row(&t, &k, &old);
                                affected += 1;
                                other_dups += 1;
                            }
                            conflict = self.conflict(&t, &row, None)?;
                        }
                        let key =
                            self.pk_key(&t, &row).unwrap_or_else(|| catalog::tid_key(K_ROW, t.id));
                        self.write_row(&t, key, &row);
                        affected += 1;
                    } else if let Some(assign) = &upsert {
                        let Some(b) = self.view.get(&old_key)? else { continue };
                        let old = catalog::decode_row(&b, t.columns.len())?;
                        let changed = self.upsert_row(&t, &old_key, old, &row, assign)?;
                        affected += if changed { 2 } else { 0 };
                        other_dups += changed as u64;
                        if changed {
                            if let Some(ai) = autoinc_col {
                                // The row as updated holds the value MySQL reports.
                                updated_id = self.upserted_autoinc(&t, &old_key, ai)?;
                            }
                        }
                    } else if ins.ignore {
                        dups += 1;
                        self.warnings += 1;
                    } else {
                        return Err(Self::dup_entry(&t, &kcols, &row, &key_name));
                    }
                }
            }
        }
        // InnoDB (innodb_autoinc_lock_mode=1) reserves the values of a statement at once: as many as
        // VALUES rows, or for INSERT ... SELECT intervals of 1, 2, 4, .. values.
        if let Some(f) = self.used.insert_id {
            let reserved = if from_values {
                nrows.max(self.gen_count)
            } else {
                let mut r = 0u64;
                let mut step = 1u64;
                while r < self.gen_count {
                    r += step;
                    step = (step * 2).min(65536);
                }
                r
            };
            if reserved > 0 {
                let start = self.ctx.insert_id.unwrap_or(f);
                self.bump_autoinc(&t, start.saturating_add(reserved - 1))?;
            }
        }
        let id = if first_id != 0 {
            first_id
        } else if explicit_id != 0 {
            explicit_id
        } else {
            updated_id
        };
        if first_id != 0 {
            self.sess.last_insert_id = first_id;
        }
        let nrows = self.cur_row;
        let info = if nrows > 1 || !from_values {
            let d = if ins.ignore { dups } else { other_dups };
            format!("Records: {}  Duplicates: {}  Warnings: {}", nrows, d, self.warnings)
        } else {
            String::new()
        };
        Ok(Outcome::Ok {
            affected_rows: affected,
            last_insert_id: id,
            warnings: self.warnings,
            info,
        })
    }

    /// The auto-increment column's value of the row at `key` (after an ON DUPLICATE KEY UPDATE).
    fn upserted_autoinc(&mut self, t: &TableDef, key: &[u8], ai: usize) -> Result<u64> {
        Ok(match self.view.get(key)? {
            Some(b) => {
                let row = catalog::decode_row(&b, t.columns.len())?;
                row[ai].as_i128().max(0) as u64
            }
            None => 0,
        })
    }

    /// One VALUES item: `None` for DEFAULT.
    fn insert_value(&mut self, e: &Expr, scope: &Scope) -> Result<Option<Value>> {
        if let Expr::Identifier(i) = e {
            if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("DEFAULT") {
                return Ok(None);
            }
        }
        let _ = scope;
        let empty = Scope::default();
        let mut c = Compiler::new(&empty, "field list");
        let ce = c.compile(e)?;
        Ok(Some(eval(&ce, &[], &[], self)?))
    }

    fn build_row(
        &mut self,
        t: &TableDef,
        cols: &[usize],
        vals: Vec<Option<Value>>,
        first_id: &mut u64,
        explicit_id: &mut u64,
    ) -> Result<Vec<Value>> {
        let n = t.columns.len();
        let mut given: Vec<Option<Option<Value>>> = vec![None; n];
        for (c, v) in cols.iter().zip(vals) {
            given[*c] = Some(v);
        }
        let mut row = Vec::with_capacity(n);
        for (i, c) in t.columns.iter().enumerate() {
            let v = match given[i].take() {
                Some(Some(v)) => Some(v),
                _ => None,
            };
            let v = if c.auto_inc {
                let zero_means_next = self.sql_mode & MODE_NO_AUTO_VALUE_ON_ZERO == 0;
                match v {
                    None | Some(Value::Null) => None,
                    Some(v) if zero_means_next && v.as_f64() == 0.0 && v.is_numeric() => None,
                    Some(v) => Some(v),
                }
                .map(Ok::<Value, Error>)
                .unwrap_or_else(|| {
                    let id = self.next_autoinc(t)?;
                    self.row_gen_id = Some(id);
                    Ok(Value::UInt(id))
                })?
            } else {
                match v {
                    Some(v) => v,
                    None => self.default_of(t, i)?,
                }
            };
            if v.is_null() {
                if !c.nullable {
                    let err =
                        Error::sql(1048, "23000", format!("Column '{}' cannot be null", c.name));
                    if self.strict() || t.pk.contains(&i) {
                        return Err(err);
                    }
                    self.warnings += 1;
                    row.push(implicit_default(&c.ty));
                    continue;
                }
                row.push(Value::Null);
                continue;
            }
            let v = self.coerce(t, i, v)?;
            if c.auto_inc {
                let id = v.as_i128();
                if id > 0 {
                    self.bump_autoinc(t, id as u64)?;
                    if *first_id == 0 && self.row_gen_id.is_none() {
                        *explicit_id = id as u64;
                    }
                }
            }
            row.push(v);
        }
        Ok(row)
    }

    fn default_of(&mut self, t: &TableDef, i: usize) -> Result<Value> {
        let c = &t.columns[i];
        if c.default_now {
            let us = self.now_us();
            let fsp = match c.ty {
                SqlType::DateTime(f) | SqlType::Timestamp(f) => f,
                _ => 0,
            };
            let trunc = 10i64.pow(6 - fsp.min(6));
            return Ok(Value::DateTime(us - us.rem_euclid(trunc)));
        }
        match &c.default {
            Some(v) => Ok(v.clone()),
            None if c.nullable => Ok(Value::Null),
            None => {
                if self.strict() {
                    Err(Error::sql(
                        1364,
                        "HY000",
                        format!("Field '{}' doesn't have a default value", c.name),
                    ))
                } else {
                    self.warnings += 1;
                    Ok(implicit_default(&c.ty))
                }
            }
        }
    }

    fn upsert_row(
        &mut self,
        t: &TableDef,
        key: &[u8],
        old: Vec<Value>,
        inserted: &[Value],
        assign: &[ast::Assignment],
    ) -> Result<bool> {
        let scope = Scope::single(Arc::new(t.clone()), &t.name);
        let mut new = old.clone();
        for a in assign {
            let ast::AssignmentTarget::ColumnName(n) = &a.target else { continue };
            let name = ident_name(n);
            let ci = t.col(&name).ok_or_else(|| {
                Error::sql(1054, "42S22", format!("Unknown column '{name}' in 'field list'"))
            })?;
            let e = values_to_literals(&a.value, t, inserted);
            let ce = Compiler::new(&scope, "field list").compile(&e)?;
            let v = eval(&ce, &new, &[], self)?;
            new[ci] = if v.is_null() { v } else { self.coerce(t, ci, v)? };
        }
        self.replace_row(t, key, &old, new)
    }

    /// Replaces `old` at `key` by `new`; false if nothing changed.
    fn replace_row(
        &mut self,
        t: &TableDef,
        key: &[u8],
        old: &[Value],
        mut new: Vec<Value>,
    ) -> Result<bool> {
        if new.as_slice() == old {
            return Ok(false);
        }
        for (i, c) in t.columns.iter().enumerate() {
            if c.on_update_now && new[i] == old[i] {
                new[i] = self.default_now_value(c);
            }
            if new[i].is_null() && !c.nullable {
                return Err(Error::sql(
                    1048,
                    "23000",
                    format!("Column '{}' cannot be null", c.name),
                ));
            }
        }
        if let Some((_, name, cols)) = self.conflict(t, &new, Some(key))? {
            return Err(Self::dup_entry(t, &cols, &new, &name));
        }
        self.remove_row(t, key, old);
        let nk = self.pk_key(t, &new).unwrap_or_else(|| key.to_vec());
        self.write_row(t, nk, &new);
        Ok(true)
    }

    fn default_now_value(&mut self, c: &ColumnDef) -> Value {
        let us = self.now_us();
        let fsp = match c.ty {
            SqlType::DateTime(f) | SqlType::Timestamp(f) => f,
            _ => 0,
        };
        let trunc = 10i64.pow(6 - fsp.min(6));
        Value::DateTime(us - us.rem_euclid(trunc))
    }

    fn target_rows(
        &mut self,
        t: &Arc<TableDef>,
        alias: &str,
        selection: Option<&Expr>,
        order: &[ast::OrderByExpr],
        limit: Option<&Expr>,
    ) -> Result<(Scope, KeyedRows)> {
        let scope = Scope::single(t.clone(), alias);
        let filter = match selection {
            Some(w) => Some(Compiler::new(&scope, "where clause").compile(w)?),
            None => None,
        };
        let limit = match limit {
            Some(e) => match self.eval_const(e)? {
                Value::Int(i) if i >= 0 => Some(i as usize),
                Value::UInt(u) => Some(u as usize),
                _ => return Err(Error::sql(1064, "42000", "LIMIT needs a non-negative integer")),
            },
            None => None,
        };
        let mut keys = vec![];
        for o in order {
            let ce = Compiler::new(&scope, "order clause").compile(&o.expr)?;
            keys.push((ce, matches!(o.options.sort, Some(ast::OrderBySort::Desc))));
        }
        let mut rows: Vec<(Vec<u8>, Vec<Value>, Vec<Value>)> = vec![];
        let early = if keys.is_empty() { limit } else { None };
        self.scan_rows(t, filter.as_ref(), 0, |this, k, row| {
            if let Some(w) = &filter {
                if eval(w, &row, &[], this)?.truth() != Some(true) {
                    return Ok(true);
                }
            }
            let mut ks = vec![];
            for (e, _) in &keys {
                ks.push(eval(e, &row, &[], this)?);
            }
            rows.push((k, row, ks));
            Ok(early.is_none_or(|n| rows.len() < n))
        })?;
        if !keys.is_empty() {
            rows.sort_by(|a, b| {
                for (i, (_, desc)) in keys.iter().enumerate() {
                    let o = sort_cmp(&a.2[i], &b.2[i], true);
                    let o = if *desc { o.reverse() } else { o };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            });
        }
        if let Some(l) = limit {
            rows.truncate(l);
        }
        Ok((scope, rows.into_iter().map(|(k, r, _)| (k, r)).collect()))
    }

    fn update(&mut self, u: &ast::Update) -> Result<Outcome> {
        if !u.table.joins.is_empty() || u.from.is_some() {
            let saved = std::mem::take(&mut self.derived);
            let r = self.multi_update(u);
            self.derived = saved;
            return r;
        }
        let ast::TableFactor::Table { name, alias, .. } = &u.table.relation else {
            return Err(Error::sql(1064, "42000", "unsupported UPDATE target"));
        };
        let t = self.table_of(name)?;
        let alias = alias.as_ref().map(|a| a.name.value.clone()).unwrap_or_else(|| t.name.clone());
        let (scope, rows) =
            self.target_rows(&t, &alias, u.selection.as_ref(), &u.order_by, u.limit.as_ref())?;
        let mut assigns = vec![];
        for a in &u.assignments {
            let ast::AssignmentTarget::ColumnName(n) = &a.target else {
                return Err(Error::sql(1064, "42000", "tuple assignment is not supported"));
            };
            let cname = ident_name(n);
            let ci = t.col(&cname).ok_or_else(|| {
                Error::sql(1054, "42S22", format!("Unknown column '{cname}' in 'field list'"))
            })?;
            let is_default = matches!(&a.value, Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("DEFAULT"));
            let ce = if is_default {
                None
            } else {
                Some(Compiler::new(&scope, "field list").compile(&a.value)?)
            };
            assigns.push((ci, ce));
        }
        let (mut matched, mut changed) = (0u64, 0u64);
        for (n, (key, old)) in rows.into_iter().enumerate() {
            self.cur_row = n as u64 + 1;
            matched += 1;
            let mut new = old.clone();
            for (ci, ce) in &assigns {
                let v = match ce {
                    Some(ce) => eval(ce, &new, &[], self)?,
                    None => self.default_of(&t, *ci)?,
                };
                new[*ci] = self.assigned_value(&t, *ci, v)?;
            }
            if self.replace_row(&t, &key, &old, new)? {
                changed += 1;
            }
        }
        Ok(Outcome::Ok {
            affected_rows: changed,
            last_insert_id: 0,
            warnings: self.warnings,
            info: format!(
                "Rows matched: {matched}  Changed: {changed}  Warnings: {}",
                self.warnings
            ),
        })
    }

    /// Multi-table UPDATE (`UPDATE a JOIN b ON .. SET a.x = b.y WHERE ..`): every row of an updated
    /// table is changed at most once, by the first joined row that matches it, as in MySQL. Updated
    /// tables need a primary key (rows are found again by it).
    fn multi_update(&mut self, u: &ast::Update) -> Result<Outcome> {
        if !u.order_by.is_empty() || u.limit.is_some() {
            return Err(Error::sql(1221, "HY000", "Incorrect usage of UPDATE and ORDER BY"));
        }
        let mut from = vec![u.table.clone()];
        match &u.from {
            Some(ast::UpdateTableFromKind::BeforeSet(v))
            | Some(ast::UpdateTableFromKind::AfterSet(v)) => from.extend(v.iter().cloned()),
            None => {}
        }
        let (scope, joins) = self.resolve_from(&from)?;
        // (scope table, column, value expression or None for DEFAULT)
        let mut assigns: Vec<(usize, usize, Option<CExpr>)> = vec![];
        for a in &u.assignments {
            let ast::AssignmentTarget::ColumnName(n) = &a.target else {
                return Err(Error::sql(1064, "42000", "tuple assignment is not supported"));
            };
            let parts: Vec<String> =
                n.0.iter()
                    .map(|p| match p {
                        ast::ObjectNamePart::Identifier(i) => i.value.clone(),
                        other => other.to_string(),
                    })
                    .collect();
            let (qual, name) = match parts.as_slice() {
                [c] => (None, c.as_str()),
                [t, c] | [_, t, c] => (Some(t.as_str()), c.as_str()),
                _ => return Err(Error::sql(1064, "42000", format!("bad column {n}"))),
            };
            let pos = scope.resolve(qual, name, "field list")?;
            let ti = scope
                .tables
                .iter()
                .position(|t| pos >= t.offset && pos < t.offset + t.def.columns.len())
                .ok_or_else(|| Error::sql(1054, "42S22", format!("Unknown column '{n}'")))?;
            let st = &scope.tables[ti];
            if self.derived.iter().any(|(i, _)| *i == ti) {
                return Err(Error::sql(
                    1288,
                    "HY000",
                    format!("The target table {} of the UPDATE is not updatable", st.alias),
                ));
            }
            if st.def.pk.is_empty() {
                return Err(Error::sql(
                    1064,
                    "42000",
                    format!(
                        "multi-table UPDATE of a table without a primary key ({}) is not supported",
                        st.def.name
                    ),
                ));
            }
            let is_default = matches!(&a.value, Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("DEFAULT"));
            let ce = if is_default {
                None
            } else {
                Some(Compiler::new(&scope, "field list").compile(&a.value)?)
            };
            assigns.push((ti, pos - st.offset, ce));
        }
        let filter = match &u.selection {
            Some(w) => Some(Compiler::new(&scope, "where clause").compile(w)?),
            None => None,
        };
        let mut joined = vec![];
        self.source_rows(&scope, &joins, filter.as_ref(), |_, row| {
            joined.push(row);
            Ok(true)
        })?;
        let mut targets: Vec<usize> = assigns.iter().map(|a| a.0).collect();
        targets.dedup();
        targets.sort_unstable();
        targets.dedup();
        let mut seen: std::collections::HashSet<(usize, Vec<u8>)> = Default::default();
        let (mut matched, mut changed) = (0u64, 0u64);
        for row in joined {
            for &ti in &targets {
                let st = scope.tables[ti].clone();
                let t = st.def.clone();
                let part = &row[st.offset..st.offset + t.columns.len()];
                let Some(key) = self.pk_key(&t, part) else { continue };
                if !seen.insert((ti, key.clone())) {
                    continue;
                }
                let Some(b) = self.view.get(&key)? else { continue };
                let old = catalog::decode_row(&b, t.columns.len())?;
                matched += 1;
                self.cur_row = matched;
                let mut new = old.clone();
                for (ati, ci, ce) in &assigns {
                    if *ati != ti {
                        continue;
                    }
                    let v = match ce {
                        Some(ce) => eval(ce, &row, &[], self)?,
                        None => self.default_of(&t, *ci)?,
                    };
                    new[*ci] = self.assigned_value(&t, *ci, v)?;
                }
                if self.replace_row(&t, &key, &old, new)? {
                    changed += 1;
                }
            }
        }
        Ok(Outcome::Ok {
            affected_rows: changed,
            last_insert_id: 0,
            warnings: self.warnings,
            info: format!(
                "Rows matched: {matched}  Changed: {changed}  Warnings: {}",
                self.warnings
            ),
        })
    }

    fn delete(&mut self, d: &ast::Delete) -> Result<Outcome> {
        let from = match &d.from {
            ast::FromTable::WithFromKeyword(v) | ast::FromTable::WithoutKeyword(v) => v,
        };
        if from.len() != 1 || !from[0].joins.is_empty() || !d.tables.is_empty() || d.using.is_some()
        {
            let saved = std::mem::take(&mut self.derived);
            let r = self.multi_delete(d, from);
            self.derived = saved;
            return r;
        }
        let ast::TableFactor::Table { name, alias, .. } = &from[0].relation else {
            return Err(Error::sql(1064, "42000", "unsupported DELETE target"));
        };
        let t = self.table_of(name)?;
        let alias = alias.as_ref().map(|a| a.name.value.clone()).unwrap_or_else(|| t.name.clone());
        let (_, rows) =
            self.target_rows(&t, &alias, d.selection.as_ref(), &d.order_by, d.limit.as_ref())?;
        let n = rows.len() as u64;
        for (k, row) in rows {
            self.remove_row(&t, &k, &row);
        }
        Ok(Outcome::Ok {
            affected_rows: n,
            last_insert_id: 0,
            warnings: self.warnings,
            info: String::new(),
        })
    }

    /// Multi-table DELETE: `DELETE a[, b] FROM a JOIN b .. WHERE ..` or
    /// `DELETE FROM a[, b] USING a JOIN b .. WHERE ..`. Deleted tables need a primary key.
    fn multi_delete(&mut self, d: &ast::Delete, from: &[ast::TableWithJoins]) -> Result<Outcome> {
        if !d.order_by.is_empty() || d.limit.is_some() {
            return Err(Error::sql(1221, "HY000", "Incorrect usage of DELETE and ORDER BY"));
        }
        let (targets, source): (Vec<String>, &[ast::TableWithJoins]) = match &d.using {
            Some(using) => (
                from.iter()
                    .map(|t| match &t.relation {
                        ast::TableFactor::Table { name, .. } => ident_name(name),
                        other => other.to_string(),
                    })
                    .collect(),
                using,
            ),
            None => (d.tables.iter().map(ident_name).collect(), from),
        };
        let (scope, joins) = self.resolve_from(source)?;
        let mut tis = vec![];
        for name in &targets {
            let ti = scope.tables.iter().position(|t| &t.alias == name).ok_or_else(|| {
                Error::sql(1109, "42S02", format!("Unknown table '{name}' in MULTI DELETE"))
            })?;
            if self.derived.iter().any(|(i, _)| *i == ti) {
                return Err(Error::sql(
                    1288,
                    "HY000",
                    format!("The target table {name} of the DELETE is not updatable"),
                ));
            }
            if scope.tables[ti].def.pk.is_empty() {
                return Err(Error::sql(
                    1064,
                    "42000",
                    format!(
                        "multi-table DELETE from a table without a primary key ({}) is not supported",
                        scope.tables[ti].def.name
                    ),
                ));
            }
            tis.push(ti);
        }
        let filter = match &d.selection {
            Some(w) => Some(Compiler::new(&scope, "where clause").compile(w)?),
            None => None,
        };
        let mut joined = vec![];
        self.source_rows(&scope, &joins, filter.as_ref(), |_, row| {
            joined.push(row);
            Ok(true)
        })?;
        let mut seen: std::collections::HashSet<(usize, Vec<u8>)> = Default::default();
        let mut n = 0u64;
        for row in joined {
            for &ti in &tis {
                let st = &scope.tables[ti];
                let t = st.def.clone();
                let part = &row[st.offset..st.offset + t.columns.len()];
                let Some(key) = self.pk_key(&t, part) else { continue };
                if !seen.insert((ti, key.clone())) {
                    continue;
                }
                if let Some(b) = self.view.get(&key)? {
                    let old = catalog::decode_row(&b, t.columns.len())?;
                    self.remove_row(&t, &key, &old);
                    n += 1;
                }
            }
        }
        Ok(Outcome::Ok {
            affected_rows: n,
            last_insert_id: 0,
            warnings: self.warnings,
            info: String::new(),
        })
    }

    /// Drops every row of a table by marker (used by DROP/TRUNCATE/ALTER).
    pub fn drop_storage(&mut self, tid: u64) {
        self.view.put(catalog::tid_key(K_DROP, tid), vec![]);
        self.view.delete(catalog::tid_key(K_AUTOINC, tid));
        self.view.delete(catalog::tid_key(K_HIDDEN, tid));
    }

    /// Reads the whole table (for rebuilds and CHECKSUM).
    pub fn read_all(&mut self, t: &TableDef) -> Result<Vec<(Vec<u8>, Vec<Value>)>> {
        let p = catalog::tid_key(K_ROW, t.id);
        let mut rows = vec![];
        let n = t.columns.len();
        self.view.scan(&p, None, &p, |k, v| {
            rows.push((k.to_vec(), catalog::decode_row(v, n)?));
            Ok(true)
        })?;
        Ok(rows)
    }

    /// Writes a row into a (new) table, checking uniqueness.
    pub fn store_new_row(&mut self, t: &TableDef, row: Vec<Value>) -> Result<()> {
        if let Some((_, name, cols)) = self.conflict(t, &row, None)? {
            return Err(Self::dup_entry(t, &cols, &row, &name));
        }
        let key = match self.pk_key(t, &row) {
            Some(k) => k,
            None => {
                let id = self.hidden_rowid(t)?;
                let mut k = catalog::tid_key(K_ROW, t.id);
                catalog::encode_key_value(
                    &mut k,
                    &Value::UInt(id),
                    &SqlType::Int { bytes: 8, unsigned: true },
                );
                k
            }
        };
        self.write_row(t, key, &row);
        Ok(())
    }

    /// Adds the entries of a new index over existing rows (checking uniqueness).
    pub fn build_index(&mut self, t: &TableDef, idx: &IndexDef) -> Result<()> {
        let rows = self.read_all(t)?;
        for (k, row) in rows {
            let suffix = k[9..].to_vec();
            let p = Self::index_key(t, idx, &row);
            if idx.unique && !idx.cols.iter().any(|c| row[*c].is_null()) {
                let mut dup = false;
                self.view.scan(&p, None, &p, |_, _| {
                    dup = true;
                    Ok(false)
                })?;
                if dup {
                    return Err(Self::dup_entry(t, &idx.cols, &row, &idx.name));
                }
            }
            let mut ik = p;
            ik.extend_from_slice(&suffix);
            self.view.put(ik, suffix);
        }
        Ok(())
    }

    /// Removes an index's entries.
    pub fn drop_index_entries(&mut self, t: &TableDef, idx: &IndexDef) -> Result<()> {
        let p = catalog::index_prefix(t.id, idx.id);
        let mut keys = vec![];
        self.view.scan(&p, None, &p, |k, _| {
            keys.push(k.to_vec());
            Ok(true)
        })?;
        for k in keys {
            self.view.delete(k);
        }
        Ok(())
    }

    /// Auto-increment counter of a table (next value).
    pub fn autoinc_of(&self, tid: u64) -> Result<u64> {
        Ok(match self.view.get(&catalog::tid_key(K_AUTOINC, tid))? {
            Some(b) if b.len() == 8 => u64::from_be_bytes(b[..8].try_into().unwrap_or([0; 8])),
            _ => 1,
        })
    }

    /// Sets the auto-increment counter of a table.
    pub fn set_autoinc(&mut self, tid: u64, next: u64) {
        self.view.put(catalog::tid_key(K_AUTOINC, tid), next.to_be_bytes().to_vec());
    }

    /// Sets the current row number for error messages.
    pub fn set_row(&mut self, n: u64) {
        self.cur_row = n;
    }
}

/// Replaces `VALUES(col)` in ON DUPLICATE KEY UPDATE by the inserted value.
fn values_to_literals(e: &Expr, t: &TableDef, inserted: &[Value]) -> Expr {
    let s = e.to_string();
    if !s.to_ascii_uppercase().contains("VALUES(") {
        return e.clone();
    }
    let mut e = e.clone();
    fn walk(e: &mut Expr, t: &TableDef, inserted: &[Value]) {
        match e {
            Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("VALUES") => {
                if let ast::FunctionArguments::List(l) = &f.args {
                    if let Some(ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(
                        Expr::Identifier(i),
                    ))) = l.args.first()
                    {
                        if let Some(ci) = t.col(&i.value) {
                            let lit = match &inserted[ci] {
                                Value::Null => ast::Value::Null,
                                v => ast::Value::SingleQuotedString(
                                    String::from_utf8_lossy(&v.to_text().unwrap_or_default())
                                        .into_owned(),
                                ),
                            };
                            *e = Expr::value(lit);
                        }
                    }
                }
            }
            Expr::BinaryOp { left, right, .. } => {
                walk(left, t, inserted);
                walk(right, t, inserted);
            }
            Expr::Nested(x) | Expr::UnaryOp { expr: x, .. } => walk(x, t, inserted),
            Expr::Function(f) => {
                if let ast::FunctionArguments::List(l) = &mut f.args {
                    for a in &mut l.args {
                        if let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) = a {
                            walk(x, t, inserted);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    walk(&mut e, t, inserted);
    e
}

/// Join kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    /// INNER / CROSS / comma.
    Inner,
    /// LEFT [OUTER].
    Left,
}

fn push_table_cols(t: &ScopeTable, proj: &mut Vec<CExpr>, cols: &mut Vec<ColumnInfo>) {
    for (i, c) in t.def.columns.iter().enumerate() {
        proj.push(CExpr::Col(t.offset + i));
        let ti = TypeInfo::of_column(&c.ty, t.def.col_flags(i));
        let mut info = col_info(&c.name, &ti);
        info.schema = t.def.db.clone();
        info.table = t.alias.clone();
        info.org_table = t.def.name.clone();
        info.org_name = c.name.clone();
        cols.push(info);
    }
}

/// Column metadata from type info.
pub fn col_info(name: &str, t: &TypeInfo) -> ColumnInfo {
    ColumnInfo {
        schema: String::new(),
        table: String::new(),
        org_table: String::new(),
        name: name.to_string(),
        org_name: String::new(),
        column_type: t.ct,
        length: t.len,
        flags: t.flags,
        decimals: t.dec,
        charset: t.charset,
    }
}

/// A result column label as MySQL shows it: the expression text as written.
pub fn expr_label(e: &Expr) -> String {
    match e {
        Expr::Identifier(i) => i.value.clone(),
        Expr::CompoundIdentifier(p) => {
            let last = p.last().map(|i| i.value.clone()).unwrap_or_default();
            if p.first().is_some_and(|f| f.value.starts_with("@@")) {
                p.iter().map(|i| i.value.clone()).collect::<Vec<_>>().join(".")
            } else {
                last
            }
        }
        Expr::Value(v) => {
            let bound = match &v.value {
                ast::Value::Placeholder(p) => super::compile::bound_param(p),
                _ => None,
            };
            match bound.as_ref().unwrap_or(&v.value) {
                ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => s.clone(),
                ast::Value::Null => "NULL".into(),
                other => other.to_string(),
            }
        }
        other => super::compile::resolve_placeholders(other.to_string()),
    }
}

/// Byte offset of a 1-based (line, column) location in `src`.
fn offset_of(src: &str, line: u64, col: u64) -> Option<usize> {
    if line == 0 || col == 0 {
        return None;
    }
    let mut off = 0;
    for (n, l) in src.split_inclusive('\n').enumerate() {
        if n as u64 + 1 == line {
            return Some(
                off + l.char_indices().nth(col as usize - 1).map(|(i, _)| i).unwrap_or(l.len()),
            );
        }
        off += l.len();
    }
    if line as usize == src.split_inclusive('\n').count() + 1 && col == 1 {
        return Some(src.len());
    }
    None
}

fn apply_limit(rows: &mut Vec<Vec<Value>>, limit: Option<u64>, offset: u64) {
    if offset > 0 {
        let o = (offset as usize).min(rows.len());
        rows.drain(..o);
    }
    if let Some(l) = limit {
        rows.truncate(l as usize);
    }
}

fn dedupe(rows: &mut Vec<Vec<Value>>) {
    let mut seen = std::collections::HashSet::new();
    rows.retain(|r| {
        let mut k = vec![];
        for v in r {
            group_key(&mut k, v);
        }
        seen.insert(k)
    });
}

/// Appends a grouping/distinct key of `v` (numbers by value, text by collation weight).
pub fn group_key(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(0),
        Value::Bytes(b) => {
            out.push(1);
            let w = collate_key(b);
            out.extend_from_slice(&(w.len() as u32).to_be_bytes());
            out.extend_from_slice(&w);
        }
        Value::Int(_) | Value::UInt(_) | Value::Decimal(_) => {
            out.push(2);
            let d = v.as_dec().normalize();
            out.extend_from_slice(d.to_string().as_bytes());
            out.push(0);
        }
        Value::Double(d) => {
            out.push(2);
            match Dec::from_f64(*d) {
                Some(x) => out.extend_from_slice(x.normalize().to_string().as_bytes()),
                None => out.extend_from_slice(&d.to_bits().to_be_bytes()),
            }
            out.push(0);
        }
        Value::Date(..) | Value::DateTime(_) => {
            out.push(3);
            out.extend_from_slice(&v.to_text().unwrap_or_default());
            out.push(0);
        }
    }
}

fn derived_def(alias: &str, rs: &ResultSet) -> TableDef {
    let columns = rs
        .columns
        .iter()
        .map(|c| ColumnDef {
            name: c.name.clone(),
            ty: match c.column_type {
                super::api::ColumnType::Double | super::api::ColumnType::Float => SqlType::Double,
                super::api::ColumnType::NewDecimal => SqlType::Decimal(65, c.decimals as u32),
                super::api::ColumnType::Tiny
                | super::api::ColumnType::Short
                | super::api::ColumnType::Long
                | super::api::ColumnType::Int24
                | super::api::ColumnType::LongLong => {
                    SqlType::Int { bytes: 8, unsigned: c.flags & 32 != 0 }
                }
                super::api::ColumnType::Date => SqlType::Date,
                super::api::ColumnType::DateTime | super::api::ColumnType::Timestamp => {
                    SqlType::DateTime(6)
                }
                _ => {
                    if c.charset == 63 {
                        SqlType::Blob(u32::MAX as u64)
                    } else {
                        SqlType::Text(u32::MAX as u64)
                    }
                }
            },
            nullable: true,
            default: None,
            default_now: false,
            on_update_now: false,
            auto_inc: false,
        })
        .collect();
    TableDef {
        id: 0,
        db: String::new(),
        name: alias.to_string(),
        columns,
        pk: vec![],
        indexes: vec![],
        next_index_id: 1,
        engine: String::new(),
    }
}

/// Aggregate accumulator.
enum Acc {
    Count(i64, Option<std::collections::HashSet<Vec<u8>>>),
    Sum(Option<Value>, Option<std::collections::HashSet<Vec<u8>>>, i64),
    MinMax(Option<Value>),
    Concat(Vec<Vec<u8>>),
}

impl Acc {
    fn new(spec: &AggSpec) -> Acc {
        let set = if spec.distinct { Some(Default::default()) } else { None };
        match spec.func {
            AggFunc::CountStar | AggFunc::Count => Acc::Count(0, set),
            AggFunc::Sum | AggFunc::Avg => Acc::Sum(None, set, 0),
            AggFunc::Min | AggFunc::Max => Acc::MinMax(None),
            AggFunc::GroupConcat => Acc::Concat(vec![]),
        }
    }

    fn add(&mut self, spec: &AggSpec, v: Value) -> Result<()> {
        if v.is_null() && spec.func != AggFunc::CountStar {
            return Ok(());
        }
        match self {
            Acc::Count(n, set) => {
                if let Some(s) = set {
                    let mut k = vec![];
                    group_key(&mut k, &v);
                    if !s.insert(k) {
                        return Ok(());
                    }
                }
                *n += 1;
            }
            Acc::Sum(sum, set, n) => {
                if let Some(s) = set {
                    let mut k = vec![];
                    group_key(&mut k, &v);
                    if !s.insert(k) {
                        return Ok(());
                    }
                }
                *n += 1;
                let dbl = spec.ty.ct == super::api::ColumnType::Double;
                *sum = Some(match sum.take() {
                    None => {
                        if dbl {
                            Value::Double(v.as_f64())
                        } else {
                            Value::Decimal(v.as_dec().to_string())
                        }
                    }
                    Some(Value::Double(d)) => Value::Double(d + v.as_f64()),
                    Some(s) => Value::Decimal(
                        Dec::add(s.as_dec(), v.as_dec())
                            .ok_or_else(|| {
                                Error::sql(1690, "22003", "DECIMAL value is out of range in SUM")
                            })?
                            .to_string(),
                    ),
                });
            }
            Acc::MinMax(cur) => {
                let replace = match cur {
                    None => true,
                    Some(c) => {
                        let o = super::value::compare(&v, c, spec.ci).unwrap_or(Ordering::Equal);
                        (spec.func == AggFunc::Min && o == Ordering::Less)
                            || (spec.func == AggFunc::Max && o == Ordering::Greater)
                    }
                };
                if replace {
                    *cur = Some(v);
                }
            }
            Acc::Concat(parts) => parts.push(v.as_bytes().into_owned()),
        }
        Ok(())
    }

    fn finish(self, spec: &AggSpec) -> Value {
        match self {
            Acc::Count(n, _) => Value::Int(n),
            Acc::Sum(None, _, _) => Value::Null,
            Acc::Sum(Some(s), _, n) => {
                if spec.func == AggFunc::Sum {
                    return s;
                }
                match s {
                    Value::Double(d) => Value::Double(d / n as f64),
                    s => {
                        let d = s.as_dec();
                        match Dec::div(d, Dec::from_i128(n as i128)) {
                            Some(q) => Value::Decimal(q.round(spec.ty.dec as u32).to_string()),
                            None => Value::Null,
                        }
                    }
                }
            }
            Acc::MinMax(v) => v.unwrap_or(Value::Null),
            Acc::Concat(p) => {
                if p.is_empty() {
                    Value::Null
                } else {
                    Value::Bytes(p.join(&b","[..]))
                }
            }
        }
    }
}

/// The implicit default of a type (non-strict mode).
pub fn implicit_default(ty: &SqlType) -> Value {
    match ty {
        SqlType::Int { unsigned: true, .. } => Value::UInt(0),
        SqlType::Int { .. } => Value::Int(0),
        SqlType::Float | SqlType::Double => Value::Double(0.0),
        SqlType::Decimal(_, s) => Value::Decimal(Dec { mant: 0, scale: *s }.to_string()),
        SqlType::Date => Value::Date(0, 0, 0),
        SqlType::DateTime(_) | SqlType::Timestamp(_) => {
            Value::DateTime(super::value::make_datetime(0, 1, 1, 0, 0, 0, 0))
        }
        _ => Value::Bytes(vec![]),
    }
}

/// A conversion failure: the strict-mode error and the non-strict fallback value.
pub struct ConvErr {
    /// Error in strict mode.
    pub err: Error,
    /// Value stored in non-strict mode (with a warning).
    pub fallback: Value,
}

fn int_range(bytes: u8, unsigned: bool) -> (i128, i128) {
    let bits = bytes as u32 * 8;
    if unsigned {
        (0, (1i128 << bits) - 1)
    } else {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    }
}

/// Converts `v` to column type `ty`: Ok((value, truncated_warning)) or a [`ConvErr`].
pub fn convert(
    ty: &SqlType,
    v: Value,
    col: &str,
    db: &str,
    table: &str,
    row: u64,
) -> std::result::Result<(Value, bool), ConvErr> {
    let incorrect = |kind: &str, v: &Value, fallback: Value| ConvErr {
        err: Error::sql(
            1366,
            "22007",
            format!(
                "Incorrect {kind} value: '{}' for column `{db}`.`{table}`.`{col}` at row {row}",
                show_val(v)
            ),
        ),
        fallback,
    };
    let out_of_range = |fallback: Value| ConvErr {
        err: Error::sql(
            1264,
            "22003",
            format!("Out of range value for column '{col}' at row {row}"),
        ),
        fallback,
    };
    let too_long = |fallback: Value| ConvErr {
        err: Error::sql(1406, "22001", format!("Data too long for column '{col}' at row {row}")),
        fallback,
    };
    match ty {
        SqlType::Int { bytes, unsigned } => {
            let (lo, hi) = int_range(*bytes, *unsigned);
            let mut warn = false;
            let n: i128 = match &v {
                Value::Bytes(b) => {
                    let (f, used) = parse_num_prefix(b);
                    if used == 0 {
                        let trimmed = String::from_utf8_lossy(b);
                        if trimmed.trim().is_empty() {
                            return Err(incorrect("integer", &v, Value::Int(0)));
                        }
                        return Err(incorrect(
                            "integer",
                            &v,
                            if *unsigned { Value::UInt(0) } else { Value::Int(0) },
                        ));
                    }
                    if !is_full_number(b) {
                        warn = true;
                    }
                    let s = String::from_utf8_lossy(&b[..used]).trim().to_string();
                    s.parse::<i128>().unwrap_or_else(|_| Value::Double(f).as_i128())
                }
                other => other.as_i128(),
            };
            let fix =
                |n: i128| if *unsigned { Value::UInt(n as u64) } else { Value::Int(n as i64) };
            if n < lo {
                return Err(out_of_range(fix(lo)));
            }
            if n > hi {
                return Err(out_of_range(fix(hi)));
            }
            Ok((fix(n), warn))
        }
        SqlType::Float | SqlType::Double => {
            let (d, warn) = match &v {
                Value::Bytes(b) => {
                    let (f, used) = parse_num_prefix(b);
                    if used == 0 {
                        return Err(incorrect("double", &v, Value::Double(0.0)));
                    }
                    (f, !is_full_number(b))
                }
                other => (other.as_f64(), false),
            };
            if !d.is_finite() || (*ty == SqlType::Float && d.abs() > f32::MAX as f64) {
                return Err(out_of_range(Value::Double(0.0)));
            }
            let d = if *ty == SqlType::Float { super::expr::float_store(d) } else { d };
            Ok((Value::Double(d), warn))
        }
        SqlType::Decimal(p, s) => {
            let (d, warn) = match &v {
                Value::Bytes(b) => {
                    let (_, used) = parse_num_prefix(b);
                    if used == 0 {
                        return Err(incorrect(
                            "decimal",
                            &v,
                            Value::Decimal(Dec { mant: 0, scale: *s }.to_string()),
                        ));
                    }
                    let txt = String::from_utf8_lossy(&b[..used]).trim().to_string();
                    (Dec::parse(&txt).unwrap_or(Dec::from_i128(0)), !is_full_number(b))
                }
                other => (other.as_dec(), false),
            };
            let r = d.round(*s);
            let max_int = p.saturating_sub(*s).min(38);
            if r.int_digits() > max_int {
                let nines = Dec { mant: 10i128.pow((*p).min(38)) - 1, scale: *s };
                let lim = if d.mant < 0 { Dec { mant: -nines.mant, scale: *s } } else { nines };
                return Err(out_of_range(Value::Decimal(lim.to_string())));
            }
            Ok((Value::Decimal(r.to_string()), warn))
        }
        SqlType::Char(_) | SqlType::VarChar(_) | SqlType::Text(_) => {
            let n = match ty {
                SqlType::Char(n) | SqlType::VarChar(n) => *n,
                _ => 0,
            };
            let b = match v {
                Value::Bytes(b) => b,
                other => other.to_text().unwrap_or_default(),
            };
            let s = String::from_utf8_lossy(&b);
            let b = if std::str::from_utf8(&b).is_ok() { b } else { s.as_bytes().to_vec() };
            let (limit_chars, limit_bytes) = match ty {
                SqlType::Text(max) => (usize::MAX, *max as usize),
                _ => (n as usize, usize::MAX),
            };
            let chars = if limit_chars == usize::MAX {
                0
            } else {
                String::from_utf8_lossy(&b).chars().count()
            };
            let too = (limit_chars != usize::MAX && chars > limit_chars) || b.len() > limit_bytes;
            let mut b = b;
            if too {
                let s = String::from_utf8_lossy(&b).into_owned();
                let cut: String = if limit_chars != usize::MAX {
                    s.chars().take(limit_chars).collect()
                } else {
                    let mut end = limit_bytes.min(s.len());
                    while !s.is_char_boundary(end) {
                        end -= 1;
                    }
                    s[..end].to_string()
                };
                let rest = &s[cut.len()..];
                if rest.bytes().all(|c| c == b' ') {
                    b = cut.into_bytes();
                } else {
                    return Err(too_long(Value::Bytes(cut.into_bytes())));
                }
            }
            if matches!(ty, SqlType::Char(_)) {
                while b.last() == Some(&b' ') {
                    b.pop();
                }
            }
            Ok((Value::Bytes(b), false))
        }
        SqlType::Binary(n) | SqlType::VarBinary(n) => {
            let b = v.as_bytes().into_owned();
            if b.len() > *n as usize {
                return Err(too_long(Value::Bytes(b[..*n as usize].to_vec())));
            }
            let mut b = b;
            if matches!(ty, SqlType::Binary(_)) {
                b.resize(*n as usize, 0);
            }
            Ok((Value::Bytes(b), false))
        }
        SqlType::Blob(max) => {
            let b = v.as_bytes().into_owned();
            if b.len() as u64 > *max {
                return Err(too_long(Value::Bytes(b[..*max as usize].to_vec())));
            }
            Ok((Value::Bytes(b), false))
        }
        SqlType::Date | SqlType::DateTime(_) | SqlType::Timestamp(_) => {
            let bad = || ConvErr {
                err: Error::sql(
                    1292,
                    "22007",
                    format!(
                        "Incorrect {} value: '{}' for column `{db}`.`{table}`.`{col}` at row {row}",
                        if *ty == SqlType::Date { "date" } else { "datetime" },
                        show_val(&v)
                    ),
                ),
                fallback: implicit_default(ty),
            };
            let us = match &v {
                Value::DateTime(us) => *us,
                Value::Date(y, m, d) => super::value::make_datetime(*y, *m, *d, 0, 0, 0, 0),
                Value::Bytes(b) => {
                    let s = String::from_utf8_lossy(b);
                    let Some((y, mo, d, h, mi, sec, f, _)) = parse_datetime_str(&s) else {
                        return Err(bad());
                    };
                    if y == 0 && mo == 0 {
                        return Err(bad());
                    }
                    super::value::make_datetime(y, mo, d, h, mi, sec, f)
                }
                Value::Int(_) | Value::UInt(_) => match super::expr::to_datetime(&v) {
                    Some(us) => us,
                    None => return Err(bad()),
                },
                _ => return Err(bad()),
            };
            Ok(match ty {
                SqlType::Date => {
                    let (y, m, d, h, mi, s, f) = super::value::split_datetime(us);
                    (Value::Date(y, m, d), h + mi + s + f != 0)
                }
                SqlType::DateTime(fsp) | SqlType::Timestamp(fsp) => {
                    let unit = 10i64.pow(6 - (*fsp).min(6));
                    let r = us.rem_euclid(unit);
                    let rounded = if r * 2 >= unit { us - r + unit } else { us - r };
                    (Value::DateTime(rounded), false)
                }
                _ => (v.clone(), false),
            })
        }
    }
}

/// Encodes a constant for a key comparison against a column of type `ty`, if it converts exactly.
fn key_value(ty: &SqlType, v: &Value) -> Option<Value> {
    if v.is_null() {
        return None;
    }
    match ty {
        SqlType::Int { bytes, unsigned } => {
            let n: i128 = match v {
                Value::Int(i) => *i as i128,
                Value::UInt(u) => *u as i128,
                Value::Decimal(_) => {
                    let d = v.as_dec();
                    if d.round(0).rescale(d.scale).map(|r| r.mant) != Some(d.mant) {
                        return None;
                    }
                    d.round(0).mant
                }
                Value::Double(d) if d.fract() == 0.0 && d.abs() < 9e18 => *d as i128,
                Value::Bytes(b) if is_full_number(b) => {
                    let s = String::from_utf8_lossy(b);
                    s.trim().parse::<i128>().ok()?
                }
                _ => return None,
            };
            let (lo, hi) = int_range(*bytes, *unsigned);
            if n < lo || n > hi {
                return None;
            }
            Some(if *unsigned { Value::UInt(n as u64) } else { Value::Int(n as i64) })
        }
        SqlType::Char(_) | SqlType::VarChar(_) | SqlType::Text(_) => match v {
            Value::Bytes(_) => Some(v.clone()),
            _ => None,
        },
        SqlType::Binary(_) | SqlType::VarBinary(_) | SqlType::Blob(_) => match v {
            Value::Bytes(_) if !matches!(ty, SqlType::Binary(_)) => Some(v.clone()),
            _ => None,
        },
        SqlType::Double => match v {
            Value::Int(_) | Value::UInt(_) | Value::Double(_) | Value::Decimal(_) => {
                Some(Value::Double(v.as_f64()))
            }
            _ => None,
        },
        SqlType::Decimal(_, s) => match v {
            Value::Int(_) | Value::UInt(_) | Value::Decimal(_) => {
                let d = v.as_dec();
                let r = d.round(*s);
                (Dec::cmp(&r, &d) == Ordering::Equal).then(|| Value::Decimal(r.to_string()))
            }
            _ => None,
        },
        SqlType::Date => match v {
            Value::Date(..) => Some(v.clone()),
            Value::Bytes(b) => {
                let (y, m, d, h, mi, s, f, _) = parse_datetime_str(&String::from_utf8_lossy(b))?;
                (h + mi + s + f == 0).then_some(Value::Date(y, m, d))
            }
            _ => None,
        },
        SqlType::DateTime(_) | SqlType::Timestamp(_) => match v {
            Value::DateTime(_) => Some(v.clone()),
            Value::Bytes(b) => {
                let (y, m, d, h, mi, s, f, _) = parse_datetime_str(&String::from_utf8_lossy(b))?;
                Some(Value::DateTime(super::value::make_datetime(y, m, d, h, mi, s, f)))
            }
            _ => None,
        },
        SqlType::Float => None,
    }
}

/// The smallest key greater than every key starting with `p`.
fn prefix_end(p: &[u8]) -> Option<Vec<u8>> {
    let mut v = p.to_vec();
    while let Some(last) = v.pop() {
        if last < 0xff {
            v.push(last + 1);
            return Some(v);
        }
    }
    None
}

#[derive(Default, Debug)]
struct ColCond {
    eq: Option<Vec<Value>>,
    lo: Option<Value>,
    hi: Option<(Value, bool)>,
}

/// Chooses an access path for table `t` (columns at `offset` in the row) from `filter`.
/// Equalities usable to probe the inner table of a join: (column of the inner table, relative to
/// it; the outer side: a column before `offset` or a constant; collation flag).
fn join_probes(cond: Option<&CExpr>, offset: usize, width: usize) -> Vec<(usize, CExpr, bool)> {
    let Some(c) = cond else { return vec![] };
    let mut cs = vec![];
    conjuncts(c, &mut cs);
    let inner = |e: &CExpr| match e {
        CExpr::Col(p) if *p >= offset && *p < offset + width => Some(*p - offset),
        _ => None,
    };
    let outer = |e: &CExpr| match e {
        CExpr::Col(q) if *q < offset => true,
        CExpr::Lit(v) => !v.is_null(),
        _ => false,
    };
    let mut out = vec![];
    for c in cs {
        if let CExpr::Cmp(CmpOp::Eq, a, b, ci) = c {
            if let (Some(p), true) = (inner(a), outer(b)) {
                out.push((p, (**b).clone(), *ci));
            } else if let (Some(p), true) = (inner(b), outer(a)) {
                out.push((p, (**a).clone(), *ci));
            }
        }
    }
    out
}

/// The access path probing with `probes` would take (with placeholder values of the right kind).
fn plan_probe(t: &TableDef, probes: &[(usize, CExpr, bool)]) -> Access {
    // Only the shape matters: a key column compared for equality gives a point or prefix access.
    let key_cols: Vec<usize> = probes.iter().map(|(c, _, _)| *c).collect();
    let pk_ok = !t.pk.is_empty() && t.pk.iter().all(|c| key_cols.contains(c));
    let ix_ok = t.indexes.iter().any(|ix| ix.cols.first().is_some_and(|c| key_cols.contains(c)));
    let pk_prefix = t.pk.first().is_some_and(|c| key_cols.contains(c));
    if pk_ok || ix_ok || pk_prefix {
        Access::Points(vec![])
    } else {
        Access::Full
    }
}

fn plan_access(t: &TableDef, filter: Option<&CExpr>, offset: usize) -> Access {
    let Some(f) = filter else { return Access::Full };
    let mut cs = vec![];
    conjuncts(f, &mut cs);
    let mut conds: HashMap<usize, ColCond> = HashMap::new();
    for c in cs {
        let (col, op, val) = match c {
            CExpr::Cmp(op, a, b, _) => match (&**a, &**b) {
                (CExpr::Col(i), other) => match const_value(other) {
                    Some(v) => (*i, *op, vec![v]),
                    None => continue,
                },
                (other, CExpr::Col(i)) => match const_value(other) {
                    Some(v) => {
                        let flipped = match op {
                            CmpOp::Lt => CmpOp::Gt,
                            CmpOp::Le => CmpOp::Ge,
                            CmpOp::Gt => CmpOp::Lt,
                            CmpOp::Ge => CmpOp::Le,
                            o => *o,
                        };
                        (*i, flipped, vec![v])
                    }
                    None => continue,
                },
                _ => continue,
            },
            CExpr::In(x, list, false, _) => match &**x {
                CExpr::Col(i) => {
                    let vals: Option<Vec<Value>> = list.iter().map(const_value).collect();
                    match vals {
                        Some(v) => (*i, CmpOp::NullEq, v),
                        None => continue,
                    }
                }
                _ => continue,
            },
            CExpr::Between(x, lo, hi, false, _) => match (&**x, const_value(lo), const_value(hi)) {
                (CExpr::Col(i), Some(l), Some(h)) => {
                    if *i < offset || *i >= offset + t.columns.len() {
                        continue;
                    }
                    let ty = &t.columns[*i - offset].ty;
                    if let (Some(l), Some(h)) = (key_value(ty, &l), key_value(ty, &h)) {
                        let e = conds.entry(*i - offset).or_default();
                        e.lo = Some(l);
                        e.hi = Some((h, true));
                    }
                    continue;
                }
                _ => continue,
            },
            _ => continue,
        };
        if col < offset || col >= offset + t.columns.len() {
            continue;
        }
        let ci = col - offset;
        let ty = &t.columns[ci].ty;
        let keyed: Option<Vec<Value>> = val.iter().map(|v| key_value(ty, v)).collect();
        let Some(keyed) = keyed else { continue };
        let e = conds.entry(ci).or_default();
        match op {
            CmpOp::Eq | CmpOp::NullEq => e.eq = Some(keyed),
            CmpOp::Gt | CmpOp::Ge => e.lo = keyed.into_iter().next(),
            CmpOp::Lt => e.hi = keyed.into_iter().next().map(|v| (v, false)),
            CmpOp::Le => e.hi = keyed.into_iter().next().map(|v| (v, true)),
            CmpOp::Ne => {}
        }
    }
    if conds.is_empty() {
        return Access::Full;
    }
    // Primary key: all columns equal -> points.
    if !t.pk.is_empty() && t.pk.iter().all(|c| conds.get(c).is_some_and(|x| x.eq.is_some())) {
        let mut keys: Vec<Vec<u8>> = vec![catalog::tid_key(K_ROW, t.id)];
        for c in &t.pk {
            let vals = conds[c].eq.as_deref().unwrap_or(&[]);
            let mut next = vec![];
            for k in &keys {
                for v in vals {
                    let mut k2 = k.clone();
                    catalog::encode_key_value(&mut k2, v, &t.columns[*c].ty);
                    next.push(k2);
                }
            }
            keys = next;
            if keys.len() > 10_000 {
                return Access::Full;
            }
        }
        keys.sort();
        keys.dedup();
        return Access::Points(keys);
    }
    let prefix_ranges = |prefix: Vec<u8>, ty: &SqlType, cond: &ColCond| -> Option<Vec<KeyRange>> {
        if let Some(vals) = &cond.eq {
            let mut out: Vec<_> = vals
                .iter()
                .map(|v| {
                    let mut k = prefix.clone();
                    catalog::encode_key_value(&mut k, v, ty);
                    (k.clone(), None, k)
                })
                .collect();
            out.sort();
            out.dedup();
            return Some(out);
        }
        if cond.lo.is_none() && cond.hi.is_none() {
            return None;
        }
        let start = match &cond.lo {
            Some(v) => {
                let mut k = prefix.clone();
                catalog::encode_key_value(&mut k, v, ty);
                k
            }
            None => {
                let mut k = prefix.clone();
                k.push(1);
                k
            }
        };
        let end = match &cond.hi {
            Some((v, incl)) => {
                let mut k = prefix.clone();
                catalog::encode_key_value(&mut k, v, ty);
                if *incl {
                    prefix_end(&k)
                } else {
                    Some(k)
                }
            }
            None => None,
        };
        Some(vec![(start, end, prefix)])
    };
    if let Some(&c0) = t.pk.first() {
        if let Some(cond) = conds.get(&c0) {
            if let Some(r) = prefix_ranges(catalog::tid_key(K_ROW, t.id), &t.columns[c0].ty, cond) {
                return Access::Ranges(None, r);
            }
        }
    }
    for idx in &t.indexes {
        let c0 = idx.cols[0];
        if let Some(cond) = conds.get(&c0) {
            if let Some(r) =
                prefix_ranges(catalog::index_prefix(t.id, idx.id), &t.columns[c0].ty, cond)
            {
                return Access::Ranges(Some(idx.id), r);
            }
        }
    }
    let _ = K_INDEX;
    Access::Full
}

/// Shallow copy helpers for building sub-queries of a UNION.
trait CloneShallow {
    fn clone_shallow(&self) -> Self;
}

impl CloneShallow for ast::Query {
    fn clone_shallow(&self) -> ast::Query {
        let mut q = self.clone();
        q.order_by = None;
        q.limit_clause = None;
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_sql_mode_bits_match_the_names() {
        // Lower case takes the general path.
        let parsed = sql_mode_bits(&DEFAULT_SQL_MODE.to_ascii_lowercase()).unwrap();
        assert_eq!(parsed, DEFAULT_SQL_MODE_BITS);
        assert_eq!(sql_mode_bits(DEFAULT_SQL_MODE).unwrap(), parsed);
        assert_eq!(sql_mode_from_bits(parsed), DEFAULT_SQL_MODE);
    }
}
