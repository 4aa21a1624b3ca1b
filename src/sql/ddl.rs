//! DDL (databases, tables, indexes, ALTER, TRUNCATE), session statements (SET, USE) and SHOW commands.
//!
//! DDL writes the catalog keys into the statement write set like any other change, so a DDL transaction
//! is logged, published and applied exactly like DML. Rebuilding operations (ALTER ADD/DROP COLUMN,
//! TRUNCATE) copy the table under a fresh table id and drop the old id with a marker.

use super::api::{ColumnInfo, Outcome, ResultSet, UserVarValue, Value};
use super::catalog::{self, ColumnDef, IndexDef, SqlType, TableDef, K_TABLE};
use super::compile::{Compiler, Scope};
use super::exec::{col_info, convert, sql_mode_bits, sql_mode_from_bits, tz_offset, Exec};
use super::expr::{eval, like, TypeInfo};
use super::vars;
use crate::error::{Error, Result};
use sqlparser::ast::{self as ast, Expr, Statement};
use std::sync::Arc;

fn ok(affected: u64) -> Outcome {
    Outcome::Ok { affected_rows: affected, last_insert_id: 0, warnings: 0, info: String::new() }
}

fn name_of(n: &ast::ObjectName) -> String {
    n.0.last()
        .map(|p| match p {
            ast::ObjectNamePart::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default()
}

fn db_table(x: &Exec, n: &ast::ObjectName) -> Result<(String, String)> {
    let parts: Vec<String> =
        n.0.iter()
            .map(|p| match p {
                ast::ObjectNamePart::Identifier(i) => i.value.clone(),
                other => other.to_string(),
            })
            .collect();
    match parts.as_slice() {
        [t] => Ok((
            x.sess
                .current_db
                .clone()
                .ok_or_else(|| Error::sql(1046, "3D000", "No database selected"))?,
            t.clone(),
        )),
        [d, t] => Ok((d.clone(), t.clone())),
        _ => Err(Error::sql(1064, "42000", format!("bad name {n}"))),
    }
}

fn db_exists(x: &Exec, db: &str) -> Result<bool> {
    x.view.exists(&catalog::db_key(db))
}

fn need_db(x: &Exec, db: &str) -> Result<()> {
    if !db_exists(x, db)? {
        return Err(Error::sql(1049, "42000", format!("Unknown database '{db}'")));
    }
    Ok(())
}

fn new_table_id(x: &mut Exec) -> Result<u64> {
    let n = match x.view.get(catalog::K_NEXT_TID)? {
        Some(b) if b.len() == 8 => u64::from_be_bytes(b[..8].try_into().unwrap_or([0; 8])),
        _ => 1,
    };
    x.view.put(catalog::K_NEXT_TID.to_vec(), (n + 1).to_be_bytes().to_vec());
    Ok(n)
}

fn put_def(x: &mut Exec, t: &TableDef) {
    x.view.put(catalog::table_key(&t.db, &t.name), catalog::encode_def(t));
}

/// Tables of a database (names).
pub fn tables_of(x: &Exec, db: &str) -> Result<Vec<String>> {
    let mut p = vec![K_TABLE];
    p.extend_from_slice(db.as_bytes());
    p.push(0);
    let mut out = vec![];
    x.view.scan(&p, None, &p, |k, _| {
        out.push(String::from_utf8_lossy(&k[p.len()..]).into_owned());
        Ok(true)
    })?;
    Ok(out)
}

/// Database names.
pub fn databases(x: &Exec) -> Result<Vec<String>> {
    let p = vec![catalog::K_DB];
    let mut out = vec![];
    x.view.scan(&p, None, &p, |k, _| {
        out.push(String::from_utf8_lossy(&k[1..]).into_owned());
        Ok(true)
    })?;
    Ok(out)
}

/// Maps a sqlparser type to a column type.
pub fn sql_type(dt: &ast::DataType) -> Result<SqlType> {
    use ast::DataType as D;
    let char_len = |l: &Option<ast::CharacterLength>, default: Option<u32>| -> Result<u32> {
        match l {
            Some(ast::CharacterLength::IntegerLength { length, .. }) => {
                if *length > 65535 {
                    return Err(Error::sql(
                        1074,
                        "42000",
                        "Column length too big (max = 16383); use BLOB or TEXT instead",
                    ));
                }
                Ok(*length as u32)
            }
            Some(ast::CharacterLength::Max) => Ok(16383),
            None => default.ok_or_else(|| Error::sql(1064, "42000", "VARCHAR needs a length")),
        }
    };
    let dec = |i: &ast::ExactNumberInfo| -> Result<(u32, u32)> {
        let (p, s) = match i {
            ast::ExactNumberInfo::None => (10, 0),
            ast::ExactNumberInfo::Precision(p) => (*p as u32, 0),
            ast::ExactNumberInfo::PrecisionAndScale(p, s) => (*p as u32, (*s).max(0) as u32),
        };
        if p > 65 {
            return Err(Error::sql(
                1426,
                "42000",
                format!("Too big precision {p} specified. Maximum is 65"),
            ));
        }
        if s > 30 {
            return Err(Error::sql(
                1425,
                "42000",
                format!("Too big scale {s} specified. Maximum is 30"),
            ));
        }
        if s > p {
            return Err(Error::sql(
                1427,
                "42000",
                "For float(M,D), double(M,D) or decimal(M,D), M must be >= D",
            ));
        }
        Ok((p.max(1), s))
    };
    let int = |bytes: u8, unsigned: bool| SqlType::Int { bytes, unsigned };
    Ok(match dt {
        D::TinyInt(_) | D::Bool | D::Boolean => int(1, false),
        D::TinyIntUnsigned(_) | D::UTinyInt => int(1, true),
        D::SmallInt(_) | D::Int2(_) => int(2, false),
        D::SmallIntUnsigned(_) | D::Int2Unsigned(_) | D::USmallInt => int(2, true),
        D::MediumInt(_) => int(3, false),
        D::MediumIntUnsigned(_) => int(3, true),
        D::Int(_) | D::Integer(_) | D::Int4(_) => int(4, false),
        D::IntUnsigned(_) | D::IntegerUnsigned(_) | D::Int4Unsigned(_) => int(4, true),
        D::BigInt(_) | D::Int8(_) => int(8, false),
        D::BigIntUnsigned(_) | D::Int8Unsigned(_) | D::UBigInt => int(8, true),
        D::Float(i) | D::FloatUnsigned(i) => match i {
            ast::ExactNumberInfo::Precision(p) if *p > 24 => SqlType::Double,
            _ => SqlType::Float,
        },
        D::Float4 => SqlType::Float,
        D::Double(_)
        | D::DoubleUnsigned(_)
        | D::DoublePrecision
        | D::DoublePrecisionUnsigned
        | D::Float8
        | D::Real
        | D::RealUnsigned
        | D::Float64 => SqlType::Double,
        D::Decimal(i) | D::DecimalUnsigned(i) | D::Numeric(i) | D::Dec(i) | D::DecUnsigned(i) => {
            let (p, s) = dec(i)?;
            SqlType::Decimal(p, s)
        }
        D::Char(l) | D::Character(l) => SqlType::Char(char_len(l, Some(1))?),
        D::Varchar(l) | D::Nvarchar(l) | D::CharVarying(l) | D::CharacterVarying(l) => {
            SqlType::VarChar(char_len(l, None)?)
        }
        D::Text => SqlType::Text(65535),
        D::TinyText => SqlType::Text(255),
        D::MediumText => SqlType::Text(16777215),
        D::LongText | D::JSON => SqlType::Text(4294967295),
        D::Binary(n) => SqlType::Binary(n.unwrap_or(1) as u32),
        D::Varbinary(n) => match n {
            Some(ast::BinaryLength::IntegerLength { length }) => SqlType::VarBinary(*length as u32),
            _ => return Err(Error::sql(1064, "42000", "VARBINARY needs a length")),
        },
        D::Blob(_) | D::Bytea => SqlType::Blob(65535),
        D::TinyBlob => SqlType::Blob(255),
        D::MediumBlob => SqlType::Blob(16777215),
        D::LongBlob => SqlType::Blob(4294967295),
        D::Date => SqlType::Date,
        D::Datetime(p) => SqlType::DateTime(fsp(*p)?),
        D::Timestamp(p, _) => SqlType::Timestamp(fsp(*p)?),
        D::Enum(members, _) => SqlType::VarChar(
            members
                .iter()
                .map(|m| match m {
                    ast::EnumMember::Name(n) => n.chars().count() as u32,
                    ast::EnumMember::NamedValue(n, _) => n.chars().count() as u32,
                })
                .max()
                .unwrap_or(1),
        ),
        other => return Err(Error::sql(1064, "42000", format!("unsupported column type {other}"))),
    })
}

fn fsp(p: Option<u64>) -> Result<u32> {
    match p {
        None => Ok(0),
        Some(p) if p <= 6 => Ok(p as u32),
        Some(p) => {
            Err(Error::sql(1426, "42000", format!("Too big precision {p} specified. Maximum is 6")))
        }
    }
}

fn is_now(e: &Expr) -> bool {
    match e {
        Expr::Function(f) => {
            let n = f.name.to_string().to_ascii_uppercase();
            matches!(n.as_str(), "NOW" | "CURRENT_TIMESTAMP" | "LOCALTIMESTAMP" | "LOCALTIME")
        }
        Expr::Identifier(i) => matches!(
            i.value.to_ascii_uppercase().as_str(),
            "CURRENT_TIMESTAMP" | "LOCALTIMESTAMP" | "LOCALTIME"
        ),
        _ => false,
    }
}

/// Builds a column definition; returns it and whether it declared PRIMARY KEY / UNIQUE inline.
fn column_def(
    x: &mut Exec,
    c: &ast::ColumnDef,
    db: &str,
    table: &str,
) -> Result<(ColumnDef, bool, bool)> {
    let ty = sql_type(&c.data_type)?;
    let mut col = ColumnDef {
        name: c.name.value.clone(),
        ty,
        nullable: true,
        default: None,
        default_now: false,
        on_update_now: false,
        auto_inc: false,
    };
    let (mut pk, mut uniq) = (false, false);
    let mut default_expr = None;
    let mut explicit_null = false;
    for o in &c.options {
        match &o.option {
            ast::ColumnOption::Null => explicit_null = true,
            ast::ColumnOption::NotNull => col.nullable = false,
            ast::ColumnOption::Default(e) => default_expr = Some(e.clone()),
            ast::ColumnOption::PrimaryKey(_) => pk = true,
            ast::ColumnOption::Unique(_) => uniq = true,
            ast::ColumnOption::OnUpdate(e) if is_now(e) => col.on_update_now = true,
            ast::ColumnOption::DialectSpecific(toks) => {
                let s: String = toks
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_ascii_uppercase();
                if s.contains("AUTO_INCREMENT") {
                    col.auto_inc = true;
                }
            }
            _ => {}
        }
    }
    if pk {
        col.nullable = false;
    }
    let _ = explicit_null;
    if let Some(e) = default_expr {
        if is_now(&e) {
            if !matches!(col.ty, SqlType::DateTime(_) | SqlType::Timestamp(_)) {
                return Err(Error::sql(
                    1067,
                    "42000",
                    format!("Invalid default value for '{}'", col.name),
                ));
            }
            col.default_now = true;
        } else {
            let v = x.eval_const(&e).map_err(|_| {
                Error::sql(1067, "42000", format!("Invalid default value for '{}'", col.name))
            })?;
            if v.is_null() {
                if !col.nullable {
                    return Err(Error::sql(
                        1067,
                        "42000",
                        format!("Invalid default value for '{}'", col.name),
                    ));
                }
                col.default = Some(Value::Null);
            } else {
                let (cv, _) = convert(&col.ty, v, &col.name, db, table, 1).map_err(|_| {
                    Error::sql(1067, "42000", format!("Invalid default value for '{}'", col.name))
                })?;
                col.default = Some(cv);
            }
        }
    }
    if col.auto_inc && !matches!(col.ty, SqlType::Int { .. } | SqlType::Float | SqlType::Double) {
        return Err(Error::sql(
            1063,
            "42000",
            format!("Incorrect column specifier for column '{}'", col.name),
        ));
    }
    Ok((col, pk, uniq))
}

fn index_cols(t: &TableDef, cols: &[ast::IndexColumn]) -> Result<Vec<usize>> {
    let mut out = vec![];
    for c in cols {
        let name = match &c.column.expr {
            Expr::Identifier(i) => i.value.clone(),
            Expr::Function(f) => f.name.to_string(),
            other => other.to_string(),
        };
        let i = t.col(&name).ok_or_else(|| {
            Error::sql(1072, "42000", format!("Key column '{name}' doesn't exist in table"))
        })?;
        out.push(i);
    }
    Ok(out)
}

fn add_index(
    t: &mut TableDef,
    name: Option<String>,
    cols: Vec<usize>,
    unique: bool,
) -> Result<IndexDef> {
    let base = name.unwrap_or_else(|| t.columns[cols[0]].name.clone());
    let mut nm = base.clone();
    let mut n = 2;
    while t.indexes.iter().any(|i| i.name.eq_ignore_ascii_case(&nm)) {
        nm = format!("{base}_{n}");
        n += 1;
    }
    let idx = IndexDef { name: nm, id: t.next_index_id, cols, unique };
    t.next_index_id += 1;
    t.indexes.push(idx.clone());
    Ok(idx)
}

fn create_table(x: &mut Exec, ct: &ast::CreateTable) -> Result<Outcome> {
    let (db, name) = db_table(x, &ct.name)?;
    need_db(x, &db)?;
    if name.is_empty() || name.len() > 64 {
        return Err(Error::sql(1103, "42000", format!("Incorrect table name '{name}'")));
    }
    if x.view.table(&db, &name)?.is_some() {
        if ct.if_not_exists {
            return Ok(Outcome::Ok {
                affected_rows: 0,
                last_insert_id: 0,
                warnings: 1,
                info: String::new(),
            });
        }
        return Err(Error::sql(1050, "42S01", format!("Table '{name}' already exists")));
    }
    if let Some(like) = &ct.like {
        let src_name = match like {
            ast::CreateTableLikeKind::Parenthesized(l) | ast::CreateTableLikeKind::Plain(l) => {
                &l.name
            }
        };
        let (sdb, sname) = db_table(x, src_name)?;
        let src = x.view.table(&sdb, &sname)?.ok_or_else(|| {
            Error::sql(1146, "42S02", format!("Table '{sdb}.{sname}' doesn't exist"))
        })?;
        let mut t = (*src).clone();
        t.id = new_table_id(x)?;
        t.db = db;
        t.name = name;
        put_def(x, &t);
        return Ok(ok(0));
    }
    let mut t = TableDef {
        id: 0,
        db: db.clone(),
        name: name.clone(),
        columns: vec![],
        pk: vec![],
        indexes: vec![],
        next_index_id: 1,
        engine: "InnoDB".into(),
    };
    let mut inline_unique = vec![];
    for c in &ct.columns {
        if t.col(&c.name.value).is_some() {
            return Err(Error::sql(
                1060,
                "42S21",
                format!("Duplicate column name '{}'", c.name.value),
            ));
        }
        let (col, pk, uniq) = column_def(x, c, &db, &name)?;
        let i = t.columns.len();
        t.columns.push(col);
        if pk {
            if !t.pk.is_empty() {
                return Err(Error::sql(1068, "42000", "Multiple primary key defined"));
            }
            t.pk = vec![i];
        }
        if uniq {
            inline_unique.push(i);
        }
    }
    if t.columns.is_empty() && ct.query.is_none() {
        return Err(Error::sql(1113, "42000", "A table must have at least 1 column"));
    }
    for i in inline_unique {
        add_index(&mut t, None, vec![i], true)?;
    }
    for c in &ct.constraints {
        match c {
            ast::TableConstraint::PrimaryKey(p) => {
                if !t.pk.is_empty() {
                    return Err(Error::sql(1068, "42000", "Multiple primary key defined"));
                }
                t.pk = index_cols(&t, &p.columns)?;
                for &i in &t.pk.clone() {
                    t.columns[i].nullable = false;
                }
            }
            ast::TableConstraint::Unique(u) => {
                let cols = index_cols(&t, &u.columns)?;
                add_index(
                    &mut t,
                    u.name.as_ref().or(u.index_name.as_ref()).map(|i| i.value.clone()),
                    cols,
                    true,
                )?;
            }
            ast::TableConstraint::Index(ix) => {
                let cols = index_cols(&t, &ix.columns)?;
                add_index(&mut t, ix.name.as_ref().map(|i| i.value.clone()), cols, false)?;
            }
            _ => {}
        }
    }
    let autos: Vec<usize> =
        t.columns.iter().enumerate().filter(|(_, c)| c.auto_inc).map(|(i, _)| i).collect();
    if autos.len() > 1
        || autos.iter().any(|a| {
            t.pk.first() != Some(a) && !t.indexes.iter().any(|ix| ix.cols.first() == Some(a))
        })
    {
        return Err(Error::sql(1075, "42000", "Incorrect table definition; there can be only one auto column and it must be defined as a key"));
    }
    if let Some(q) = &ct.query {
        // CREATE TABLE ... SELECT: the selected columns follow the declared ones (a declared column of
        // the same name takes the value); a column read straight from a table keeps its type,
        // nullability and default. The statement is logged as is: the replica runs the same SELECT.
        let rs = x.query(q)?;
        let mut targets = vec![];
        for c in &rs.columns {
            if let Some(i) = t.col(&c.name) {
                targets.push(i);
                continue;
            }
            let src = if c.org_table.is_empty() {
                None
            } else {
                x.view
                    .table(&c.schema, &c.org_table)?
                    .and_then(|st| st.col(&c.org_name).map(|i| st.columns[i].clone()))
            };
            let col = match src {
                Some(mut sc) => {
                    sc.name = c.name.clone();
                    if sc.auto_inc {
                        sc.default = Some(super::exec::implicit_default(&sc.ty));
                    }
                    sc.auto_inc = false;
                    sc.on_update_now = false;
                    sc
                }
                None => ColumnDef {
                    name: c.name.clone(),
                    ty: result_sql_type(c),
                    nullable: true,
                    default: None,
                    default_now: false,
                    on_update_now: false,
                    auto_inc: false,
                },
            };
            t.columns.push(col);
            targets.push(t.columns.len() - 1);
        }
        if t.columns.is_empty() {
            return Err(Error::sql(1113, "42000", "A table must have at least 1 column"));
        }
        t.id = new_table_id(x)?;
        put_def(x, &t);
        let n = rs.rows.len() as u64;
        for (ri, r) in rs.rows.into_iter().enumerate() {
            x.set_row(ri as u64 + 1);
            let mut row: Vec<Value> = t
                .columns
                .iter()
                .map(|c| match &c.default {
                    Some(v) => v.clone(),
                    None if c.nullable => Value::Null,
                    None => super::exec::implicit_default(&c.ty),
                })
                .collect();
            for (v, &i) in r.into_iter().zip(&targets) {
                row[i] = if v.is_null() {
                    if !t.columns[i].nullable {
                        return Err(Error::sql(
                            1048,
                            "23000",
                            format!("Column '{}' cannot be null", t.columns[i].name),
                        ));
                    }
                    v
                } else {
                    x.coerce(&t, i, v)?
                };
            }
            x.store_new_row(&t, row)?;
        }
        return Ok(alter_ok(n));
    }
    t.id = new_table_id(x)?;
    put_def(x, &t);
    Ok(ok(0))
}

fn drop_table(x: &mut Exec, db: &str, name: &str) -> Result<bool> {
    let Some(t) = x.view.table(db, name)? else { return Ok(false) };
    x.view.delete(catalog::table_key(db, name));
    x.drop_storage(t.id);
    Ok(true)
}

/// Rebuilds `old` as `new_def` (fresh id), mapping each new column to an old position or a default.
fn rebuild(
    x: &mut Exec,
    old: &TableDef,
    mut new_def: TableDef,
    map: &[Option<usize>],
) -> Result<u64> {
    new_def.id = new_table_id(x)?;
    let ai = x.autoinc_of(old.id)?;
    let rows = x.read_all(old)?;
    let count = rows.len() as u64;
    for (n, (_, row)) in rows.into_iter().enumerate() {
        x.set_row(n as u64 + 1);
        let mut nr = Vec::with_capacity(new_def.columns.len());
        for (i, m) in map.iter().enumerate() {
            let v = match m {
                Some(o) => row[*o].clone(),
                None => {
                    let c = &new_def.columns[i];
                    match &c.default {
                        Some(v) => v.clone(),
                        None if c.nullable => Value::Null,
                        None => super::exec::implicit_default(&c.ty),
                    }
                }
            };
            let v = if v.is_null() { v } else { x.coerce(&new_def, i, v)? };
            if v.is_null() && !new_def.columns[i].nullable {
                return Err(Error::sql(
                    1048,
                    "23000",
                    format!("Column '{}' cannot be null", new_def.columns[i].name),
                ));
            }
            nr.push(v);
        }
        x.store_new_row(&new_def, nr)?;
    }
    x.drop_storage(old.id);
    x.set_autoinc(new_def.id, ai);
    put_def(x, &new_def);
    Ok(count)
}

fn alter_table(x: &mut Exec, at: &ast::AlterTable) -> Result<Outcome> {
    let (db, name) = db_table(x, &at.name)?;
    let old = x
        .view
        .table(&db, &name)?
        .ok_or_else(|| Error::sql(1146, "42S02", format!("Table '{db}.{name}' doesn't exist")))?;
    let mut t = (*old).clone();
    let mut map: Vec<Option<usize>> = (0..t.columns.len()).map(Some).collect();
    let mut needs_rebuild = false;
    // Whether MariaDB would copy the rows (and report them as affected).
    let mut copy = false;
    let mut new_indexes = vec![];
    let mut dropped_indexes = vec![];
    for op in &at.operations {
        match op {
            ast::AlterTableOperation::AddColumn {
                column_def: c,
                column_position,
                if_not_exists,
                ..
            } => {
                if t.col(&c.name.value).is_some() {
                    if *if_not_exists {
                        continue;
                    }
                    return Err(Error::sql(
                        1060,
                        "42S21",
                        format!("Duplicate column name '{}'", c.name.value),
                    ));
                }
                let (col, pk, uniq) = column_def(x, c, &db, &name)?;
                let pos = match column_position {
                    Some(ast::MySQLColumnPosition::First) => 0,
                    Some(ast::MySQLColumnPosition::After(a)) => {
                        t.col(&a.value).ok_or_else(|| {
                            Error::sql(
                                1054,
                                "42S22",
                                format!("Unknown column '{}' in '{name}'", a.value),
                            )
                        })? + 1
                    }
                    None => t.columns.len(),
                };
                t.columns.insert(pos, col);
                map.insert(pos, None);
                shift_cols(&mut t, pos, 1);
                if pk {
                    if !t.pk.is_empty() {
                        return Err(Error::sql(1068, "42000", "Multiple primary key defined"));
                    }
                    t.pk = vec![pos];
                }
                if uniq {
                    add_index(&mut t, None, vec![pos], true)?;
                }
                needs_rebuild = true;
            }
            ast::AlterTableOperation::DropColumn { column_names, if_exists, .. } => {
                for cn in column_names {
                    let Some(i) = t.col(&cn.value) else {
                        if *if_exists {
                            continue;
                        }
                        return Err(Error::sql(
                            1091,
                            "42000",
                            format!("Can't DROP COLUMN `{}`; check that it exists", cn.value),
                        ));
                    };
                    if t.columns.len() == 1 {
                        return Err(Error::sql(
                            1090,
                            "42000",
                            "You can't delete all columns with ALTER TABLE; use DROP TABLE instead",
                        ));
                    }
                    t.columns.remove(i);
                    map.remove(i);
                    t.pk.retain(|c| *c != i);
                    for ix in &mut t.indexes {
                        ix.cols.retain(|c| *c != i);
                    }
                    t.indexes.retain(|ix| !ix.cols.is_empty());
                    shift_cols(&mut t, i + 1, -1);
                    needs_rebuild = true;
                }
            }
            ast::AlterTableOperation::AddConstraint { constraint, .. } => match constraint {
                ast::TableConstraint::Index(ix) => {
                    let cols = index_cols(&t, &ix.columns)?;
                    new_indexes.push(add_index(
                        &mut t,
                        ix.name.as_ref().map(|i| i.value.clone()),
                        cols,
                        false,
                    )?);
                }
                ast::TableConstraint::Unique(u) => {
                    let cols = index_cols(&t, &u.columns)?;
                    new_indexes.push(add_index(
                        &mut t,
                        u.name.as_ref().or(u.index_name.as_ref()).map(|i| i.value.clone()),
                        cols,
                        true,
                    )?);
                }
                ast::TableConstraint::PrimaryKey(p) => {
                    if !t.pk.is_empty() {
                        return Err(Error::sql(1068, "42000", "Multiple primary key defined"));
                    }
                    t.pk = index_cols(&t, &p.columns)?;
                    needs_rebuild = true;
                }
                _ => {}
            },
            ast::AlterTableOperation::DropIndex { name: iname } => {
                let pos = t
                    .indexes
                    .iter()
                    .position(|i| i.name.eq_ignore_ascii_case(&iname.value))
                    .ok_or_else(|| {
                        Error::sql(
                            1091,
                            "42000",
                            format!("Can't DROP INDEX `{}`; check that it exists", iname.value),
                        )
                    })?;
                dropped_indexes.push(t.indexes.remove(pos));
            }
            ast::AlterTableOperation::DropPrimaryKey { .. } => {
                if t.pk.is_empty() {
                    return Err(Error::sql(
                        1091,
                        "42000",
                        "Can't DROP INDEX `PRIMARY`; check that it exists",
                    ));
                }
                t.pk.clear();
                needs_rebuild = true;
                copy = true;
            }
            ast::AlterTableOperation::AutoIncrement { value, .. } => {
                let v = super::compile::literal(&value.value)?.as_i128().max(1) as u64;
                let cur = x.autoinc_of(t.id)?;
                x.set_autoinc(t.id, v.max(cur));
            }
            ast::AlterTableOperation::ModifyColumn {
                col_name,
                data_type,
                options,
                column_position,
            } => {
                copy |= change_column(
                    x,
                    &mut t,
                    &mut map,
                    (&db, &name),
                    col_name,
                    col_name,
                    data_type,
                    options,
                    column_position.as_ref(),
                )?;
                needs_rebuild = true;
            }
            ast::AlterTableOperation::ChangeColumn {
                old_name,
                new_name,
                data_type,
                options,
                column_position,
            } => {
                copy |= change_column(
                    x,
                    &mut t,
                    &mut map,
                    (&db, &name),
                    old_name,
                    new_name,
                    data_type,
                    options,
                    column_position.as_ref(),
                )?;
                needs_rebuild = true;
            }
            ast::AlterTableOperation::RenameColumn { old_column_name, new_column_name } => {
                let i = t.col(&old_column_name.value).ok_or_else(|| {
                    Error::sql(
                        1054,
                        "42S22",
                        format!("Unknown column '{}' in '{name}'", old_column_name.value),
                    )
                })?;
                if t.col(&new_column_name.value).is_some_and(|j| j != i) {
                    return Err(Error::sql(
                        1060,
                        "42S21",
                        format!("Duplicate column name '{}'", new_column_name.value),
                    ));
                }
                t.columns[i].name = new_column_name.value.clone();
            }
            ast::AlterTableOperation::Algorithm { .. } | ast::AlterTableOperation::Lock { .. } => {}
            other => {
                return Err(Error::sql(
                    1064,
                    "42000",
                    format!("unsupported ALTER TABLE operation: {other}"),
                ))
            }
        }
    }
    let rows = if needs_rebuild {
        rebuild(x, &old, t, &map)?
    } else {
        for ix in &dropped_indexes {
            x.drop_index_entries(&old, ix)?;
        }
        for ix in &new_indexes {
            x.build_index(&t, ix)?;
        }
        put_def(x, &t);
        0
    };
    Ok(alter_ok(if copy { rows } else { 0 }))
}

/// The OK of ALTER TABLE (and CREATE/DROP INDEX): rows copied, with MariaDB's info text.
fn alter_ok(rows: u64) -> Outcome {
    Outcome::Ok {
        affected_rows: rows,
        last_insert_id: 0,
        warnings: 0,
        info: format!("Records: {rows}  Duplicates: 0  Warnings: 0"),
    }
}

/// MODIFY / CHANGE COLUMN: replaces the definition of `old_name` (renamed to `new_name`), moved if a
/// position is given. True if the rows must be copied (type or nullability changed).
#[allow(clippy::too_many_arguments)]
fn change_column(
    x: &mut Exec,
    t: &mut TableDef,
    map: &mut Vec<Option<usize>>,
    (db, table): (&str, &str),
    old_name: &ast::Ident,
    new_name: &ast::Ident,
    data_type: &ast::DataType,
    options: &[ast::ColumnOption],
    pos: Option<&ast::MySQLColumnPosition>,
) -> Result<bool> {
    let i = t.col(&old_name.value).ok_or_else(|| {
        Error::sql(1054, "42S22", format!("Unknown column '{}' in '{table}'", old_name.value))
    })?;
    if t.col(&new_name.value).is_some_and(|j| j != i) {
        return Err(Error::sql(
            1060,
            "42S21",
            format!("Duplicate column name '{}'", new_name.value),
        ));
    }
    let cd = ast::ColumnDef {
        name: new_name.clone(),
        data_type: data_type.clone(),
        options: options
            .iter()
            .map(|o| ast::ColumnOptionDef { name: None, option: o.clone() })
            .collect(),
    };
    let (mut col, pk, uniq) = column_def(x, &cd, db, table)?;
    if t.pk.contains(&i) {
        col.nullable = false;
    }
    let copy = col.ty != t.columns[i].ty || col.nullable != t.columns[i].nullable;
    t.columns[i] = col;
    if pk {
        if !t.pk.is_empty() && t.pk != [i] {
            return Err(Error::sql(1068, "42000", "Multiple primary key defined"));
        }
        t.pk = vec![i];
    }
    if uniq {
        add_index(t, None, vec![i], true)?;
    }
    let to = match pos {
        None => return Ok(copy),
        Some(ast::MySQLColumnPosition::First) => 0,
        Some(ast::MySQLColumnPosition::After(a)) => {
            let j = t.col(&a.value).ok_or_else(|| {
                Error::sql(1054, "42S22", format!("Unknown column '{}' in '{table}'", a.value))
            })?;
            if j < i {
                j + 1
            } else {
                j
            }
        }
    };
    // Move column i to position `to`, renumbering key columns.
    let mut order: Vec<usize> = (0..t.columns.len()).collect();
    let c = order.remove(i);
    order.insert(to, c);
    let new_pos = |old: usize| order.iter().position(|&o| o == old).unwrap_or(old);
    let cols = std::mem::take(&mut t.columns);
    t.columns = order.iter().map(|&o| cols[o].clone()).collect();
    *map = order.iter().map(|&o| map[o]).collect();
    for k in &mut t.pk {
        *k = new_pos(*k);
    }
    for ix in &mut t.indexes {
        for k in &mut ix.cols {
            *k = new_pos(*k);
        }
    }
    Ok(true)
}

fn shift_cols(t: &mut TableDef, from: usize, by: isize) {
    let f = |c: &mut usize| {
        if *c >= from {
            *c = (*c as isize + by) as usize;
        }
    };
    if by > 0 {
        // Positions at or after the inserted column move right, except the new column itself.
        for c in &mut t.pk {
            if *c >= from {
                *c += 1;
            }
        }
        for ix in &mut t.indexes {
            for c in &mut ix.cols {
                if *c >= from {
                    *c += 1;
                }
            }
        }
        return;
    }
    for c in &mut t.pk {
        f(c);
    }
    for ix in &mut t.indexes {
        for c in &mut ix.cols {
            f(c);
        }
    }
}

/// SHOW [GLOBAL|SESSION] STATUS [LIKE 'pat' | WHERE expr]: the server's counters, sorted by name.
fn show_status(x: &mut Exec, text: &str) -> Result<Outcome> {
    use sqlparser::{dialect::MySqlDialect, parser::Parser};
    let filter = match Parser::parse_sql(&MySqlDialect {}, text) {
        Ok(mut v) if v.len() == 1 => match v.pop() {
            Some(Statement::ShowStatus { filter, .. }) => filter,
            _ => None,
        },
        _ => {
            return Err(Error::sql(
                1064,
                "42000",
                "You have an error in your SQL syntax; check the SHOW STATUS filter",
            ))
        }
    };
    let source = x.view.inner.status.read().ok().and_then(|s| s.clone());
    let mut all: Vec<(String, Value)> = source.map(|f| f()).unwrap_or_default();
    all.sort_by_key(|a| a.0.to_ascii_lowercase());
    let rows: Vec<Vec<Value>> = all
        .iter()
        .filter(|(n, _)| filter_like(&filter, n))
        .map(|(n, v)| vec![t(n), v.clone()])
        .collect();
    let names = ["Variable_name", "Value"];
    let rows = filter_where(x, &filter, &names, rows)?;
    Ok(show_rows(&names, rows))
}

fn show_rows(names: &[&str], rows: Vec<Vec<Value>>) -> Outcome {
    let columns: Vec<ColumnInfo> =
        names.iter().map(|n| col_info(n, &TypeInfo::string(256))).collect();
    Outcome::Rows(ResultSet { columns, rows })
}

fn t(s: &str) -> Value {
    Value::Bytes(s.as_bytes().to_vec())
}

fn filter_like(filter: &Option<ast::ShowStatementFilter>, name: &str) -> bool {
    match filter {
        Some(ast::ShowStatementFilter::Like(p))
        | Some(ast::ShowStatementFilter::ILike(p))
        | Some(ast::ShowStatementFilter::NoKeyword(p)) => {
            like(name.as_bytes(), p.as_bytes(), b'\\', true)
        }
        _ => true,
    }
}

fn filter_where(
    x: &mut Exec,
    filter: &Option<ast::ShowStatementFilter>,
    names: &[&str],
    rows: Vec<Vec<Value>>,
) -> Result<Vec<Vec<Value>>> {
    let Some(ast::ShowStatementFilter::Where(w)) = filter else { return Ok(rows) };
    let def = TableDef {
        id: 0,
        db: String::new(),
        name: "show".into(),
        columns: names
            .iter()
            .map(|n| ColumnDef {
                name: n.to_string(),
                ty: SqlType::VarChar(1024),
                nullable: true,
                default: None,
                default_now: false,
                on_update_now: false,
                auto_inc: false,
            })
            .collect(),
        pk: vec![],
        indexes: vec![],
        next_index_id: 1,
        engine: String::new(),
    };
    let scope = Scope::single(Arc::new(def), "show");
    let ce = Compiler::new(&scope, "where clause").compile(w)?;
    let mut out = vec![];
    for r in rows {
        if eval(&ce, &r, &[], x)?.truth() == Some(true) {
            out.push(r);
        }
    }
    Ok(out)
}

fn show_filter(opts: &ast::ShowStatementOptions) -> Option<ast::ShowStatementFilter> {
    match &opts.filter_position {
        Some(ast::ShowStatementFilterPosition::Infix(f))
        | Some(ast::ShowStatementFilterPosition::Suffix(f)) => Some(f.clone()),
        None => None,
    }
}

fn describe(x: &mut Exec, tdef: &TableDef, full: bool) -> Outcome {
    let mut rows = vec![];
    for (i, c) in tdef.columns.iter().enumerate() {
        let key = column_key(tdef, i);
        let default = if c.default_now {
            t("current_timestamp()")
        } else {
            match &c.default {
                Some(Value::Null) | None => Value::Null,
                Some(v) => v.to_text().map(Value::Bytes).unwrap_or(Value::Null),
            }
        };
        let extra = if c.auto_inc {
            "auto_increment"
        } else if c.on_update_now {
            "on update current_timestamp()"
        } else {
            ""
        };
        let mut r = vec![t(&c.name), t(&c.ty.sql_name())];
        if full {
            r.push(if c.ty.is_text() { t("utf8mb4_general_ci") } else { Value::Null });
        }
        r.extend([t(if c.nullable { "YES" } else { "NO" }), t(key), default, t(extra)]);
        if full {
            r.extend([t("select,insert,update,references"), t("")]);
        }
        rows.push(r);
    }
    let _ = x;
    if full {
        show_rows(
            &[
                "Field",
                "Type",
                "Collation",
                "Null",
                "Key",
                "Default",
                "Extra",
                "Privileges",
                "Comment",
            ],
            rows,
        )
    } else {
        show_rows(&["Field", "Type", "Null", "Key", "Default", "Extra"], rows)
    }
}

/// A column type for a computed result column of CREATE TABLE ... SELECT.
fn result_sql_type(c: &ColumnInfo) -> SqlType {
    use super::api::ColumnType as C;
    match c.column_type {
        C::Tiny | C::Short | C::Int24 | C::Long => SqlType::Int { bytes: 4, unsigned: false },
        C::LongLong => SqlType::Int { bytes: 8, unsigned: c.flags & 32 != 0 },
        C::Float => SqlType::Float,
        C::Double => SqlType::Double,
        C::NewDecimal => {
            let s = c.decimals.min(30) as u32;
            SqlType::Decimal((c.length.saturating_sub(2)).clamp(s.max(1), 65), s)
        }
        C::Date => SqlType::Date,
        C::DateTime | C::Timestamp => SqlType::DateTime(0),
        _ if c.charset == 63 => SqlType::VarBinary(c.length.clamp(1, 65532)),
        _ => {
            let n = (c.length / 4).max(1);
            if n > 16383 {
                SqlType::Text(65535)
            } else {
                SqlType::VarChar(n)
            }
        }
    }
}

/// The Key of DESCRIBE / information_schema.COLUMNS: PRI, UNI (a one-column unique key), MUL (first
/// column of another key) or empty.
fn column_key(tdef: &TableDef, i: usize) -> &'static str {
    if tdef.pk.contains(&i) {
        "PRI"
    } else if tdef.indexes.iter().any(|ix| ix.unique && ix.cols == [i]) {
        "UNI"
    } else if tdef.indexes.iter().any(|ix| ix.cols.first() == Some(&i)) {
        "MUL"
    } else {
        ""
    }
}

/// The rows of `information_schema.<table>` (TABLES, COLUMNS, SCHEMATA), `None` for other tables.
/// Only the columns tools commonly ask for are provided.
pub fn information_schema(x: &mut Exec, table: &str) -> Result<Option<ResultSet>> {
    let str_col = |n: &str| col_info(n, &TypeInfo::string(256));
    let int_col = |n: &str| col_info(n, &TypeInfo::int(21));
    let up = table.to_ascii_uppercase();
    let mut dbs = databases(x)?;
    dbs.sort();
    let mut rows = vec![];
    let columns: Vec<ColumnInfo> = match up.as_str() {
        "SCHEMATA" => {
            for d in &dbs {
                rows.push(vec![t("def"), t(d), t("utf8mb4"), t("utf8mb4_general_ci"), Value::Null]);
            }
            [
                "CATALOG_NAME",
                "SCHEMA_NAME",
                "DEFAULT_CHARACTER_SET_NAME",
                "DEFAULT_COLLATION_NAME",
                "SQL_PATH",
            ]
            .iter()
            .map(|n| str_col(n))
            .collect()
        }
        "TABLES" => {
            for d in &dbs {
                let mut names = tables_of(x, d)?;
                names.sort();
                for n in names {
                    let Some(tdef) = x.view.table(d, &n)? else { continue };
                    let nrows = x.read_all(&tdef)?.len() as i64;
                    let ai = match tdef.auto_col() {
                        Some(_) => Value::UInt(x.autoinc_of(tdef.id)?.max(1)),
                        None => Value::Null,
                    };
                    rows.push(vec![
                        t("def"),
                        t(d),
                        t(&n),
                        t("BASE TABLE"),
                        t(if tdef.engine.is_empty() { "InnoDB" } else { &tdef.engine }),
                        Value::Int(10),
                        t("Dynamic"),
                        Value::Int(nrows),
                        ai,
                        Value::Null,
                        Value::Null,
                        t("utf8mb4_general_ci"),
                        t(""),
                    ]);
                }
            }
            let mut c: Vec<ColumnInfo> =
                ["TABLE_CATALOG", "TABLE_SCHEMA", "TABLE_NAME", "TABLE_TYPE", "ENGINE"]
                    .iter()
                    .map(|n| str_col(n))
                    .collect();
            c.push(int_col("VERSION"));
            c.push(str_col("ROW_FORMAT"));
            c.push(int_col("TABLE_ROWS"));
            c.push(int_col("AUTO_INCREMENT"));
            c.push(col_info("CREATE_TIME", &TypeInfo::datetime()));
            c.push(col_info("UPDATE_TIME", &TypeInfo::datetime()));
            c.push(str_col("TABLE_COLLATION"));
            c.push(str_col("TABLE_COMMENT"));
            c
        }
        "COLUMNS" => {
            for d in &dbs {
                let mut names = tables_of(x, d)?;
                names.sort();
                for n in names {
                    let Some(tdef) = x.view.table(d, &n)? else { continue };
                    for (i, c) in tdef.columns.iter().enumerate() {
                        let full = c.ty.sql_name();
                        let base = full.split(['(', ' ']).next().unwrap_or("").to_string();
                        let (char_len, octet_len) = match &c.ty {
                            SqlType::Char(n) | SqlType::VarChar(n) => {
                                (Value::Int(*n as i64), Value::Int(*n as i64 * 4))
                            }
                            SqlType::Binary(n) | SqlType::VarBinary(n) => {
                                (Value::Int(*n as i64), Value::Int(*n as i64))
                            }
                            SqlType::Text(m) => (Value::Int(*m as i64), Value::Int(*m as i64)),
                            SqlType::Blob(m) => (Value::Int(*m as i64), Value::Int(*m as i64)),
                            _ => (Value::Null, Value::Null),
                        };
                        let (prec, scale) = match &c.ty {
                            SqlType::Int { bytes, unsigned } => (
                                Value::Int(match (bytes, unsigned) {
                                    (1, _) => 3,
                                    (2, _) => 5,
                                    (3, _) => 7,
                                    (4, _) => 10,
                                    (_, false) => 19,
                                    (_, true) => 20,
                                }),
                                Value::Int(0),
                            ),
                            SqlType::Decimal(p, s) => {
                                (Value::Int(*p as i64), Value::Int(*s as i64))
                            }
                            SqlType::Float => (Value::Int(12), Value::Null),
                            SqlType::Double => (Value::Int(22), Value::Null),
                            _ => (Value::Null, Value::Null),
                        };
                        let dt_prec = match &c.ty {
                            SqlType::DateTime(f) | SqlType::Timestamp(f) => Value::Int(*f as i64),
                            _ => Value::Null,
                        };
                        let default = if c.default_now {
                            t("current_timestamp()")
                        } else {
                            match &c.default {
                                None if c.auto_inc || !c.nullable => Value::Null,
                                Some(Value::Null) | None => t("NULL"),
                                Some(
                                    v @ (Value::Int(_)
                                    | Value::UInt(_)
                                    | Value::Double(_)
                                    | Value::Decimal(_)),
                                ) => v.to_text().map(Value::Bytes).unwrap_or(Value::Null),
                                Some(v) => t(&format!(
                                    "'{}'",
                                    String::from_utf8_lossy(&v.to_text().unwrap_or_default())
                                        .replace('\'', "''")
                                )),
                            }
                        };
                        let text = c.ty.is_text();
                        rows.push(vec![
                            t("def"),
                            t(d),
                            t(&n),
                            t(&c.name),
                            Value::Int(i as i64 + 1),
                            default,
                            t(if c.nullable { "YES" } else { "NO" }),
                            t(&base),
                            char_len,
                            octet_len,
                            prec,
                            scale,
                            dt_prec,
                            if text { t("utf8mb4") } else { Value::Null },
                            if text { t("utf8mb4_general_ci") } else { Value::Null },
                            t(&full),
                            t(column_key(&tdef, i)),
                            t(if c.auto_inc {
                                "auto_increment"
                            } else if c.on_update_now {
                                "on update current_timestamp()"
                            } else {
                                ""
                            }),
                            t("select,insert,update,references"),
                            t(""),
                            t("NEVER"),
                            Value::Null,
                        ]);
                    }
                }
            }
            let mut c: Vec<ColumnInfo> =
                ["TABLE_CATALOG", "TABLE_SCHEMA", "TABLE_NAME", "COLUMN_NAME"]
                    .iter()
                    .map(|n| str_col(n))
                    .collect();
            c.push(int_col("ORDINAL_POSITION"));
            c.extend(["COLUMN_DEFAULT", "IS_NULLABLE", "DATA_TYPE"].iter().map(|n| str_col(n)));
            c.extend(
                [
                    "CHARACTER_MAXIMUM_LENGTH",
                    "CHARACTER_OCTET_LENGTH",
                    "NUMERIC_PRECISION",
                    "NUMERIC_SCALE",
                    "DATETIME_PRECISION",
                ]
                .iter()
                .map(|n| int_col(n)),
            );
            c.extend(
                [
                    "CHARACTER_SET_NAME",
                    "COLLATION_NAME",
                    "COLUMN_TYPE",
                    "COLUMN_KEY",
                    "EXTRA",
                    "PRIVILEGES",
                    "COLUMN_COMMENT",
                    "IS_GENERATED",
                    "GENERATION_EXPRESSION",
                ]
                .iter()
                .map(|n| str_col(n)),
            );
            c
        }
        _ => return Ok(None),
    };
    Ok(Some(ResultSet { columns, rows }))
}

/// SHOW CREATE TABLE text.
pub fn create_table_text(tdef: &TableDef, autoinc: u64) -> String {
    let mut lines = vec![];
    for c in &tdef.columns {
        let mut l = format!("  `{}` {}", c.name, c.ty.sql_name());
        if !c.nullable {
            l.push_str(" NOT NULL");
        }
        if c.auto_inc {
            l.push_str(" AUTO_INCREMENT");
        } else if c.default_now {
            l.push_str(" DEFAULT current_timestamp()");
        } else {
            match &c.default {
                Some(Value::Null) => l.push_str(" DEFAULT NULL"),
                Some(
                    v @ (Value::Int(_) | Value::UInt(_) | Value::Double(_) | Value::Decimal(_)),
                ) => l.push_str(&format!(
                    " DEFAULT {}",
                    String::from_utf8_lossy(&v.to_text().unwrap_or_default())
                )),
                Some(v) => l.push_str(&format!(
                    " DEFAULT '{}'",
                    String::from_utf8_lossy(&v.to_text().unwrap_or_default()).replace('\'', "''")
                )),
                None if c.nullable => l.push_str(" DEFAULT NULL"),
                None => {}
            }
        }
        if c.on_update_now {
            l.push_str(" ON UPDATE current_timestamp()");
        }
        lines.push(l);
    }
    let cols = |v: &[usize]| {
        v.iter().map(|i| format!("`{}`", tdef.columns[*i].name)).collect::<Vec<_>>().join(",")
    };
    if !tdef.pk.is_empty() {
        lines.push(format!("  PRIMARY KEY ({})", cols(&tdef.pk)));
    }
    for ix in show_order(tdef) {
        lines.push(format!(
            "  {}KEY `{}` ({})",
            if ix.unique { "UNIQUE " } else { "" },
            ix.name,
            cols(&ix.cols)
        ));
    }
    let ai = if tdef.auto_col().is_some() && autoinc > 1 {
        format!(" AUTO_INCREMENT={autoinc}")
    } else {
        String::new()
    };
    format!(
        "CREATE TABLE `{}` (\n{}\n) ENGINE={}{} DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
        tdef.name,
        lines.join(",\n"),
        if tdef.engine.is_empty() { "InnoDB" } else { &tdef.engine },
        ai
    )
}

/// Secondary indexes in the order MariaDB shows them: unique keys on NOT NULL columns, other unique
/// keys, then the rest, each group in creation order.
fn show_order(tdef: &TableDef) -> Vec<&super::catalog::IndexDef> {
    let rank = |ix: &super::catalog::IndexDef| {
        if !ix.unique {
            2
        } else if ix.cols.iter().all(|c| !tdef.columns[*c].nullable) {
            0
        } else {
            1
        }
    };
    let mut v: Vec<_> = tdef.indexes.iter().collect();
    v.sort_by_key(|ix| rank(ix));
    v
}

/// Executes SET.
fn set(x: &mut Exec, s: &ast::Set) -> Result<Outcome> {
    match s {
        ast::Set::SingleAssignment { scope, variable, values, .. } => {
            let global = matches!(scope, Some(ast::ContextModifier::Global));
            let v = values.first().ok_or_else(|| Error::sql(1064, "42000", "SET needs a value"))?;
            set_one(x, variable, v, global)?;
        }
        ast::Set::MultipleAssignments { assignments } => {
            for a in assignments {
                set_one(x, &a.name, &a.value, false)?;
            }
        }
        ast::Set::ParenthesizedAssignments { variables, values } => {
            for (n, v) in variables.iter().zip(values) {
                set_one(x, n, v, false)?;
            }
        }
        ast::Set::SetNames { charset_name, collation_name } => {
            let (id, _, _) = vars::charset_info(&charset_name.value).ok_or_else(|| {
                Error::sql(
                    1115,
                    "42000",
                    format!("Unknown character set: '{}'", charset_name.value),
                )
            })?;
            let coll = match collation_name {
                Some(c) if c.eq_ignore_ascii_case("utf8mb4_bin") => 46,
                Some(c) if c.eq_ignore_ascii_case("utf8mb4_unicode_ci") => 224,
                _ => id,
            };
            x.sess.charset = (id, coll, x.sess.charset.2);
        }
        ast::Set::SetNamesDefault {} => x.sess.charset = (45, 45, x.sess.charset.2),
        ast::Set::SetTimeZone { value, .. } => {
            let v = x.eval_const(value)?;
            let tz = String::from_utf8_lossy(&v.as_bytes()).into_owned();
            tz_offset(&tz)?;
            x.sess.time_zone = tz;
        }
        ast::Set::SetTransaction { .. } => {}
        _ => return Err(Error::sql(1064, "42000", "unsupported SET form")),
    }
    Ok(ok(0))
}

fn set_one(x: &mut Exec, var: &ast::ObjectName, e: &Expr, global: bool) -> Result<()> {
    let parts: Vec<String> = var
        .0
        .iter()
        .map(|p| match p {
            ast::ObjectNamePart::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        })
        .collect();
    if parts.len() == 1 && parts[0].starts_with('@') && !parts[0].starts_with("@@") {
        let name = parts[0][1..].trim_matches('`').to_ascii_lowercase();
        let v = x.eval_const(e)?;
        let uv = match v {
            Value::Null => UserVarValue::Null,
            Value::Int(i) => UserVarValue::Int(i, false),
            Value::UInt(u) => UserVarValue::Int(u as i64, true),
            Value::Double(d) => UserVarValue::Real(d),
            Value::Decimal(s) => UserVarValue::Decimal(s),
            other => UserVarValue::String(other.to_text().unwrap_or_default(), 45),
        };
        x.sess.user_vars.insert(name, uv);
        return Ok(());
    }
    let (name, g) = match super::compile::sysvar_name(&parts) {
        Some((n, g)) => (n, g || global),
        None => {
            let joined = parts.join(".").to_ascii_lowercase();
            (joined, global)
        }
    };
    // `SET x = ON/OFF/DEFAULT` arrive as identifiers.
    let v = match e {
        Expr::Identifier(i) if i.quote_style.is_none() => {
            let up = i.value.to_ascii_uppercase();
            if up == "DEFAULT" {
                match vars::DEFAULTS.iter().find(|(n, _)| *n == name) {
                    Some((_, d)) => t(d),
                    None => Value::Null,
                }
            } else {
                t(&i.value)
            }
        }
        _ => x.eval_const(e)?,
    };
    set_var(x, &name, v, g)
}

fn set_var(x: &mut Exec, name: &str, v: Value, global: bool) -> Result<()> {
    if global {
        if let Ok(mut g) = x.view.inner.globals.write() {
            g.insert(name.to_string(), v);
        }
        return Ok(());
    }
    match name {
        "autocommit" => {
            let on = vars::bool_value(name, &v)?;
            x.sess.autocommit = on;
        }
        "sql_mode" => {
            let s = match &v {
                Value::Int(_) | Value::UInt(_) => sql_mode_from_bits(v.as_i128() as u64),
                v => String::from_utf8_lossy(&v.as_bytes()).to_ascii_uppercase(),
            };
            let bits = sql_mode_bits(&s)?;
            x.sess.sql_mode = sql_mode_from_bits(bits);
        }
        "time_zone" => {
            let tz = String::from_utf8_lossy(&v.as_bytes()).into_owned();
            tz_offset(&tz)?;
            x.sess.time_zone = tz;
        }
        "character_set_client" => {
            let (id, _, _) = vars::charset_info(&String::from_utf8_lossy(&v.as_bytes()))
                .ok_or_else(|| Error::sql(1115, "42000", "Unknown character set"))?;
            x.sess.charset.0 = id;
        }
        "character_set_connection" | "collation_connection" | "character_set_results" => {
            if let Some((id, _, _)) = vars::charset_info(&String::from_utf8_lossy(&v.as_bytes())) {
                x.sess.charset.1 = id;
            }
        }
        "last_insert_id" => {
            x.sess.last_insert_id = v.as_i128().max(0) as u64;
        }
        // The RAND() generator state of the session, as a replayed RAND event sets it.
        "rand_seed1" => x.sess.rand_seeds.0 = v.as_i128().max(0) as u64,
        "rand_seed2" => x.sess.rand_seeds.1 = v.as_i128().max(0) as u64,
        // Kept for the server layer: TIMESTAMP fixes "now", INSERT_ID forces the next statement's first
        // auto-increment value (both as mariadb-binlog output replays them).
        "timestamp" | "insert_id" | "pseudo_thread_id" | "pseudo_slave_mode" => {
            x.sess.vars.insert(name.to_string(), v);
        }
        _ => {
            if vars::get_var(x.view.inner, x.sess, name, false).is_err() && !name.contains('.') {
                // Unknown names are accepted quietly only for a few client-side knobs.
                let tolerated = [
                    "tmp_table_size",
                    "max_heap_table_size",
                    "net_write_timeout",
                    "net_read_timeout",
                    "wait_timeout",
                    "interactive_timeout",
                    "sql_select_limit",
                    "max_execution_time",
                    "session_track_schema",
                    "session_track_state_change",
                    "session_track_system_variables",
                    "group_concat_max_len",
                    "sql_safe_updates",
                    "transaction_isolation",
                    "tx_isolation",
                    "sql_log_bin",
                    "names",
                    "optimizer_switch",
                    "div_precision_increment",
                    "max_join_size",
                    "sql_big_selects",
                    "lc_time_names",
                    "skip_parallel_replication",
                    "gtid_domain_id",
                    "server_id",
                    "gtid_seq_no",
                    "max_delayed_threads",
                    "completion_type",
                    "check_constraint_checks",
                    "system_versioning_insert_history",
                    "sql_if_exists",
                    "collation_database",
                    "collation_server",
                    "character_set_server",
                    "character_set_database",
                    "slave_connect_state",
                    "master_binlog_checksum",
                    "master_heartbeat_period",
                    "rpl_semi_sync_slave",
                    "foreign_key_checks",
                    "unique_checks",
                    "sql_auto_is_null",
                    "auto_increment_increment",
                    "auto_increment_offset",
                    "explicit_defaults_for_timestamp",
                    "in_predicate_conversion_threshold",
                    "sql_warnings",
                    "sql_notes",
                    "query_cache_type",
                    "innodb_lock_wait_timeout",
                    "lock_wait_timeout",
                    "long_query_time",
                    "profiling",
                    "big_tables",
                    "default_storage_engine",
                    "storage_engine",
                    "sort_buffer_size",
                    "join_buffer_size",
                    "read_buffer_size",
                    "sql_quote_show_create",
                    "old_passwords",
                    "old_alter_table",
                    "tx_read_only",
                    "transaction_read_only",
                    "sql_buffer_result",
                    "low_priority_updates",
                    "sql_low_priority_updates",
                    "wsrep_sync_wait",
                    "statement_timeout",
                    "max_statement_time",
                    "time_format",
                    "date_format",
                    "datetime_format",
                    "debug_sync",
                ];
                if !tolerated.contains(&name) {
                    return Err(Error::sql(
                        1193,
                        "HY000",
                        format!("Unknown system variable '{name}'"),
                    ));
                }
            }
            x.sess.vars.insert(name.to_string(), v);
        }
    }
    Ok(())
}

/// Executes every statement that is not a query or DML.
pub fn run_other(x: &mut Exec, st: &Statement, text: &str) -> Result<Outcome> {
    match st {
        Statement::CreateDatabase { db_name, if_not_exists, .. }
        | Statement::CreateSchema {
            schema_name: ast::SchemaName::Simple(db_name),
            if_not_exists,
            ..
        } => {
            let db = name_of(db_name);
            if db.is_empty() || db.len() > 64 {
                return Err(Error::sql(1102, "42000", format!("Incorrect database name '{db}'")));
            }
            if db_exists(x, &db)? {
                if *if_not_exists {
                    return Ok(Outcome::Ok {
                        affected_rows: 0,
                        last_insert_id: 0,
                        warnings: 1,
                        info: String::new(),
                    });
                }
                return Err(Error::sql(
                    1007,
                    "HY000",
                    format!("Can't create database '{db}'; database exists"),
                ));
            }
            x.view.put(catalog::db_key(&db), vec![]);
            Ok(ok(1))
        }
        Statement::Drop { object_type, if_exists, names, table, .. } => match object_type {
            ast::ObjectType::Database | ast::ObjectType::Schema => {
                let db = names.first().map(name_of).unwrap_or_default();
                if !db_exists(x, &db)? {
                    if *if_exists {
                        return Ok(Outcome::Ok {
                            affected_rows: 0,
                            last_insert_id: 0,
                            warnings: 1,
                            info: String::new(),
                        });
                    }
                    return Err(Error::sql(
                        1008,
                        "HY000",
                        format!("Can't drop database '{db}'; database doesn't exist"),
                    ));
                }
                let tables = tables_of(x, &db)?;
                for tn in &tables {
                    drop_table(x, &db, tn)?;
                }
                x.view.delete(catalog::db_key(&db));
                if x.sess.current_db.as_deref() == Some(db.as_str()) {
                    x.sess.current_db = None;
                }
                Ok(ok(tables.len() as u64))
            }
            ast::ObjectType::Table | ast::ObjectType::View => {
                let mut missing = vec![];
                for n in names {
                    let (db, tn) = db_table(x, n)?;
                    if !drop_table(x, &db, &tn)? {
                        missing.push(format!("{db}.{tn}"));
                    }
                }
                if !missing.is_empty() && !*if_exists {
                    return Err(Error::sql(
                        1051,
                        "42S02",
                        format!("Unknown table '{}'", missing.join(",")),
                    ));
                }
                Ok(Outcome::Ok {
                    affected_rows: 0,
                    last_insert_id: 0,
                    warnings: missing.len() as u16,
                    info: String::new(),
                })
            }
            ast::ObjectType::Index => {
                let tn = table
                    .as_ref()
                    .ok_or_else(|| Error::sql(1064, "42000", "DROP INDEX needs ON table"))?;
                let (db, tname) = db_table(x, tn)?;
                let old = x.view.table(&db, &tname)?.ok_or_else(|| {
                    Error::sql(1146, "42S02", format!("Table '{db}.{tname}' doesn't exist"))
                })?;
                let iname = names.first().map(name_of).unwrap_or_default();
                if iname.eq_ignore_ascii_case("PRIMARY") {
                    let mut tdef = (*old).clone();
                    tdef.pk.clear();
                    let map: Vec<Option<usize>> = (0..tdef.columns.len()).map(Some).collect();
                    let n = rebuild(x, &old, tdef, &map)?;
                    return Ok(alter_ok(n));
                }
                let mut tdef = (*old).clone();
                let pos = tdef
                    .indexes
                    .iter()
                    .position(|i| i.name.eq_ignore_ascii_case(&iname))
                    .ok_or_else(|| {
                        Error::sql(
                            1091,
                            "42000",
                            format!("Can't DROP INDEX `{iname}`; check that it exists"),
                        )
                    })?;
                let ix = tdef.indexes.remove(pos);
                x.drop_index_entries(&old, &ix)?;
                put_def(x, &tdef);
                Ok(alter_ok(0))
            }
            other => Err(Error::sql(1064, "42000", format!("DROP {other} is not supported"))),
        },
        Statement::CreateTable(ct) => create_table(x, ct),
        Statement::CreateIndex(ci) => {
            let (db, tname) = db_table(x, &ci.table_name)?;
            let old = x.view.table(&db, &tname)?.ok_or_else(|| {
                Error::sql(1146, "42S02", format!("Table '{db}.{tname}' doesn't exist"))
            })?;
            let mut tdef = (*old).clone();
            let iname = ci.name.as_ref().map(name_of);
            if let Some(n) = &iname {
                if tdef.indexes.iter().any(|i| i.name.eq_ignore_ascii_case(n)) {
                    if ci.if_not_exists {
                        return Ok(ok(0));
                    }
                    return Err(Error::sql(1061, "42000", format!("Duplicate key name '{n}'")));
                }
            }
            let cols = index_cols(&tdef, &ci.columns)?;
            let ix = add_index(&mut tdef, iname, cols, ci.unique)?;
            x.build_index(&tdef, &ix)?;
            put_def(x, &tdef);
            Ok(alter_ok(0))
        }
        Statement::AlterTable(at) => alter_table(x, at),
        Statement::Truncate(tr) => {
            for tt in &tr.table_names {
                let (db, tname) = db_table(x, &tt.name)?;
                let old = x.view.table(&db, &tname)?.ok_or_else(|| {
                    Error::sql(1146, "42S02", format!("Table '{db}.{tname}' doesn't exist"))
                })?;
                let mut tdef = (*old).clone();
                x.drop_storage(old.id);
                tdef.id = new_table_id(x)?;
                put_def(x, &tdef);
            }
            Ok(ok(0))
        }
        Statement::RenameTable(rs) => {
            for r in rs {
                let (db, tname) = db_table(x, &r.old_name)?;
                let (ndb, nname) = db_table(x, &r.new_name)?;
                let old = x.view.table(&db, &tname)?.ok_or_else(|| {
                    Error::sql(1146, "42S02", format!("Table '{db}.{tname}' doesn't exist"))
                })?;
                need_db(x, &ndb)?;
                if x.view.table(&ndb, &nname)?.is_some() {
                    return Err(Error::sql(
                        1050,
                        "42S01",
                        format!("Table '{nname}' already exists"),
                    ));
                }
                let mut tdef = (*old).clone();
                tdef.db = ndb;
                tdef.name = nname;
                x.view.delete(catalog::table_key(&db, &tname));
                put_def(x, &tdef);
            }
            Ok(ok(0))
        }
        Statement::Set(s) => set(x, s),
        Statement::Use(u) => {
            let db = match u {
                ast::Use::Object(n) | ast::Use::Database(n) | ast::Use::Schema(n) => name_of(n),
                _ => return Err(Error::sql(1064, "42000", "unsupported USE")),
            };
            need_db(x, &db)?;
            x.sess.current_db = Some(db);
            Ok(ok(0))
        }
        Statement::ShowVariables { filter, global, .. } => {
            let all = vars::all_vars(x.view.inner, x.sess, *global);
            let rows: Vec<Vec<Value>> = all
                .iter()
                .filter(|(n, _)| filter_like(filter, n))
                .map(|(n, v)| vec![t(n), vars::show_value(n, v)])
                .collect();
            let names = ["Variable_name", "Value"];
            let rows = filter_where(x, filter, &names, rows)?;
            Ok(show_rows(&names, rows))
        }
        Statement::ShowDatabases { show_options, .. }
        | Statement::ShowSchemas { show_options, .. } => {
            let f = show_filter(show_options);
            let mut dbs = databases(x)?;
            dbs.push("information_schema".into());
            dbs.sort();
            let rows = dbs.iter().filter(|d| filter_like(&f, d)).map(|d| vec![t(d)]).collect();
            let label = match &f {
                Some(ast::ShowStatementFilter::Like(p)) => format!("Database ({p})"),
                _ => "Database".to_string(),
            };
            Ok(show_rows(&[&label], rows))
        }
        Statement::ShowTables { show_options, full, .. } => {
            let f = show_filter(show_options);
            let db = match &show_options.show_in {
                Some(ast::ShowStatementIn { parent_name: Some(n), .. }) => name_of(n),
                _ => x
                    .sess
                    .current_db
                    .clone()
                    .ok_or_else(|| Error::sql(1046, "3D000", "No database selected"))?,
            };
            need_db(x, &db)?;
            let mut names = tables_of(x, &db)?;
            names.sort();
            let label = format!("Tables_in_{db}");
            let rows: Vec<Vec<Value>> = names
                .iter()
                .filter(|n| filter_like(&f, n))
                .map(|n| if *full { vec![t(n), t("BASE TABLE")] } else { vec![t(n)] })
                .collect();
            if *full {
                Ok(show_rows(&[&label, "Table_type"], rows))
            } else {
                Ok(show_rows(&[&label], rows))
            }
        }
        Statement::ShowColumns { full, show_options, .. } => {
            let n = match &show_options.show_in {
                Some(ast::ShowStatementIn { parent_name: Some(n), .. }) => n.clone(),
                _ => return Err(Error::sql(1064, "42000", "SHOW COLUMNS needs FROM table")),
            };
            let (db, tname) = db_table(x, &n)?;
            let tdef = x.view.table(&db, &tname)?.ok_or_else(|| {
                Error::sql(1146, "42S02", format!("Table '{db}.{tname}' doesn't exist"))
            })?;
            let out = describe(x, &tdef, *full);
            let f = show_filter(show_options);
            match out {
                Outcome::Rows(mut rs) => {
                    rs.rows.retain(|r| match &r[0] {
                        Value::Bytes(b) => filter_like(&f, &String::from_utf8_lossy(b)),
                        _ => true,
                    });
                    let names: Vec<String> = rs.columns.iter().map(|c| c.name.clone()).collect();
                    let names: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
                    rs.rows = filter_where(x, &f, &names, rs.rows)?;
                    Ok(Outcome::Rows(rs))
                }
                other => Ok(other),
            }
        }
        Statement::ExplainTable { table_name, .. } => {
            let (db, tname) = db_table(x, table_name)?;
            let tdef = x.view.table(&db, &tname)?.ok_or_else(|| {
                Error::sql(1146, "42S02", format!("Table '{db}.{tname}' doesn't exist"))
            })?;
            Ok(describe(x, &tdef, false))
        }
        Statement::ShowCreate { obj_type: ast::ShowCreateObject::Table, obj_name } => {
            let (db, tname) = db_table(x, obj_name)?;
            let tdef = x.view.table(&db, &tname)?.ok_or_else(|| {
                Error::sql(1146, "42S02", format!("Table '{db}.{tname}' doesn't exist"))
            })?;
            let ai = x.autoinc_of(tdef.id)?;
            Ok(show_rows(
                &["Table", "Create Table"],
                vec![vec![t(&tdef.name), t(&create_table_text(&tdef, ai))]],
            ))
        }
        Statement::ShowVariable { variable } => {
            let words: Vec<String> =
                variable.iter().map(|i| i.value.to_ascii_uppercase()).collect();
            match words.first().map(|s| s.as_str()) {
                Some("WARNINGS") | Some("ERRORS") => {
                    Ok(show_rows(&["Level", "Code", "Message"], vec![]))
                }
                _ => {
                    Err(Error::sql(1064, "42000", format!("unsupported SHOW {}", words.join(" "))))
                }
            }
        }
        Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. }
        | Statement::Rollback { .. } => Ok(ok(0)),
        Statement::Explain { .. } => Ok(show_rows(
            &[
                "id",
                "select_type",
                "table",
                "type",
                "possible_keys",
                "key",
                "key_len",
                "ref",
                "rows",
                "Extra",
            ],
            vec![],
        )),
        _ => {
            let _ = text;
            Err(Error::sql(
                1064,
                "42000",
                format!(
                    "This statement is not supported: {}",
                    text.chars().take(60).collect::<String>()
                ),
            ))
        }
    }
}

/// Executes the reads kept as text (no parse tree): CHECKSUM TABLE, SHOW WARNINGS, ...
pub fn run_text(x: &mut Exec, text: &str) -> Result<Outcome> {
    let expanded = super::parse::expand_version_comments(text);
    let body = super::parse::strip_leading(&expanded);
    if body.is_empty() {
        return Ok(ok(0));
    }
    let words = super::parse::leading_words(body, 4);
    let w: Vec<&str> = words.iter().map(|s| s.as_str()).collect();
    match w.as_slice() {
        ["CHECKSUM", "TABLE" | "TABLES", ..] => {
            let rest = body.trim_end_matches(';');
            let idx = rest.to_ascii_uppercase().find("TABLE").map(|i| i + 5).unwrap_or(rest.len());
            let mut rest = rest[idx..].trim_start();
            if !rest.is_empty() && rest.as_bytes()[0].eq_ignore_ascii_case(&b's') {
                rest = &rest[1..];
            }
            let upper = rest.to_ascii_uppercase();
            let list = match upper.rfind(" QUICK").or_else(|| upper.rfind(" EXTENDED")) {
                Some(i) => &rest[..i],
                None => rest,
            };
            let mut rows = vec![];
            for name in list.split(',').map(|s| s.trim()).filter(|s| !s.is_empty()) {
                let parts: Vec<String> =
                    name.split('.').map(|p| p.trim().trim_matches('`').to_string()).collect();
                let (db, tn) = match parts.as_slice() {
                    [tn] => (
                        x.sess
                            .current_db
                            .clone()
                            .ok_or_else(|| Error::sql(1046, "3D000", "No database selected"))?,
                        tn.clone(),
                    ),
                    [d, tn] => (d.clone(), tn.clone()),
                    _ => return Err(super::parse::syntax_error(name)),
                };
                let label = format!("{db}.{tn}");
                match x.view.table(&db, &tn)? {
                    Some(tdef) => {
                        let rowsv = x.read_all(&tdef)?;
                        let sum = super::checksum::table_checksum(
                            &tdef,
                            rowsv.iter().map(|(_, r)| r.as_slice()),
                        );
                        rows.push(vec![t(&label), Value::UInt(sum)]);
                    }
                    None => rows.push(vec![t(&label), Value::Null]),
                }
            }
            if rows.is_empty() {
                return Err(super::parse::syntax_error(""));
            }
            let mut cols = vec![
                col_info("Table", &TypeInfo::string(256)),
                col_info("Checksum", &TypeInfo::int(21)),
            ];
            cols[1].flags |= 32;
            Ok(Outcome::Rows(ResultSet { columns: cols, rows }))
        }
        ["SHOW", "WARNINGS" | "ERRORS", ..] => Ok(show_rows(&["Level", "Code", "Message"], vec![])),
        ["SHOW", "COUNT", ..] => {
            Ok(show_rows(&["@@session.warning_count"], vec![vec![Value::Int(0)]]))
        }
        ["SHOW", "ENGINES", ..] => Ok(show_rows(
            &["Engine", "Support", "Comment", "Transactions", "XA", "Savepoints"],
            vec![vec![
                t("InnoDB"),
                t("DEFAULT"),
                t("repld store (sled)"),
                t("YES"),
                t("NO"),
                t("NO"),
            ]],
        )),
        ["SHOW", "STATUS", ..] | ["SHOW", "GLOBAL" | "SESSION", "STATUS", ..] => {
            show_status(x, text)
        }
        ["SHOW", "GRANTS", ..] => {
            Ok(show_rows(&["Grants"], vec![vec![t("GRANT ALL PRIVILEGES ON *.* TO `root`@`%`")]]))
        }
        ["SHOW", "CHARACTER" | "CHARSET", ..] => Ok(show_rows(
            &["Charset", "Description", "Default collation", "Maxlen"],
            vec![
                vec![t("utf8mb4"), t("UTF-8 Unicode"), t("utf8mb4_general_ci"), Value::Int(4)],
                vec![t("utf8mb3"), t("UTF-8 Unicode"), t("utf8mb3_general_ci"), Value::Int(3)],
                vec![t("latin1"), t("cp1252 West European"), t("latin1_swedish_ci"), Value::Int(1)],
                vec![t("binary"), t("Binary pseudo charset"), t("binary"), Value::Int(1)],
            ],
        )),
        ["SHOW", "COLLATION", ..] => Ok(show_rows(
            &["Collation", "Charset", "Id", "Default", "Compiled", "Sortlen"],
            vec![
                vec![
                    t("utf8mb4_general_ci"),
                    t("utf8mb4"),
                    Value::Int(45),
                    t("Yes"),
                    t("Yes"),
                    Value::Int(1),
                ],
                vec![
                    t("utf8mb4_bin"),
                    t("utf8mb4"),
                    Value::Int(46),
                    t(""),
                    t("Yes"),
                    Value::Int(1),
                ],
                vec![t("binary"), t("binary"), Value::Int(63), t("Yes"), t("Yes"), Value::Int(1)],
            ],
        )),
        ["SHOW", "CREATE", "DATABASE" | "SCHEMA", ..] => {
            let name = body.split_whitespace().last().unwrap_or("").trim_matches('`').to_string();
            need_db(x, &name)?;
            Ok(show_rows(
                &["Database", "Create Database"],
                vec![vec![t(&name), t(&format!("CREATE DATABASE `{name}` /*!40100 DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci */"))]],
            ))
        }
        ["SHOW", "INDEX" | "INDEXES" | "KEYS", ..] => {
            let toks: Vec<&str> = body.split_whitespace().collect();
            let tn = toks
                .iter()
                .position(|w| w.eq_ignore_ascii_case("FROM") || w.eq_ignore_ascii_case("IN"))
                .and_then(|i| toks.get(i + 1))
                .ok_or_else(|| super::parse::syntax_error(body))?;
            let parts: Vec<String> =
                tn.split('.').map(|p| p.trim_matches('`').to_string()).collect();
            let (db, tname) = match parts.as_slice() {
                [tn] => (
                    x.sess
                        .current_db
                        .clone()
                        .ok_or_else(|| Error::sql(1046, "3D000", "No database selected"))?,
                    tn.clone(),
                ),
                [d, tn] => (d.clone(), tn.clone()),
                _ => return Err(super::parse::syntax_error(body)),
            };
            let tdef = x.view.table(&db, &tname)?.ok_or_else(|| {
                Error::sql(1146, "42S02", format!("Table '{db}.{tname}' doesn't exist"))
            })?;
            let mut rows = vec![];
            // Cardinality: InnoDB's estimate, which for small tables is the row count.
            let card = x.read_all(&tdef)?.len() as i64;
            let mut add = |name: &str, unique: bool, cols: &[usize]| {
                for (seq, c) in cols.iter().enumerate() {
                    rows.push(vec![
                        t(&tdef.name),
                        Value::Int(!unique as i64),
                        t(name),
                        Value::Int(seq as i64 + 1),
                        t(&tdef.columns[*c].name),
                        t("A"),
                        Value::Int(card),
                        Value::Null,
                        Value::Null,
                        t(if tdef.columns[*c].nullable { "YES" } else { "" }),
                        t("BTREE"),
                        t(""),
                        t(""),
                        t("NO"),
                    ]);
                }
            };
            if !tdef.pk.is_empty() {
                add("PRIMARY", true, &tdef.pk);
            }
            for ix in show_order(&tdef) {
                add(&ix.name, ix.unique, &ix.cols);
            }
            Ok(show_rows(
                &[
                    "Table",
                    "Non_unique",
                    "Key_name",
                    "Seq_in_index",
                    "Column_name",
                    "Collation",
                    "Cardinality",
                    "Sub_part",
                    "Packed",
                    "Null",
                    "Index_type",
                    "Comment",
                    "Index_comment",
                    "Ignored",
                ],
                rows,
            ))
        }
        ["SHOW", "TABLE", "STATUS", ..] => {
            let db = x
                .sess
                .current_db
                .clone()
                .ok_or_else(|| Error::sql(1046, "3D000", "No database selected"))?;
            let mut names = tables_of(x, &db)?;
            names.sort();
            Ok(show_rows(
                &["Name", "Engine"],
                names.iter().map(|n| vec![t(n), t("InnoDB")]).collect(),
            ))
        }
        ["ANALYZE" | "OPTIMIZE" | "REPAIR" | "CHECK", "TABLE", ..] => {
            let op = w[0].to_ascii_lowercase();
            let tn = body.split_whitespace().nth(2).unwrap_or("").trim_matches('`').to_string();
            Ok(show_rows(
                &["Table", "Op", "Msg_type", "Msg_text"],
                vec![vec![t(&tn), t(&op), t("status"), t("OK")]],
            ))
        }
        ["SET", ..] => {
            // SET TIMESTAMP / INSERT_ID / LAST_INSERT_ID / pseudo_thread_id, as mysqlbinlog output contains.
            let rest = body[3..].trim();
            let (name, val) =
                rest.split_once('=').ok_or_else(|| super::parse::syntax_error(rest))?;
            let name = name
                .trim()
                .trim_start_matches("@@session.")
                .trim_start_matches("@@SESSION.")
                .to_ascii_lowercase();
            let val = val.trim().trim_end_matches(';');
            let v = super::compile::number_literal(val)
                .unwrap_or(Value::Bytes(val.as_bytes().to_vec()));
            set_var(x, &name, v, false)?;
            Ok(ok(0))
        }
        _ => Err(super::parse::syntax_error(body)),
    }
}
