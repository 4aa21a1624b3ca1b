//! Transaction control and logging around one statement's execution.
//!
//! * Reads see the applied commits plus the session's own transaction (read your own writes); sessions
//!   that hold writes (and every Write/Ddl statement) also see the published-but-unapplied commits.
//! * Under [`LockMode::Rows`] a Write statement locks every row it touches as it runs; when another
//!   transaction holds one, or it needs the exclusive lock, its result is discarded, the session is
//!   put back as it was, and it fails with `Error::LockNeeded` so that the server waits and runs it
//!   again. Published commits are then only ever read through rows the statement holds.
//! * A Write runs into a fresh statement write set; on success the set is merged into the transaction and
//!   the statement is recorded as a [`LoggedStatement`] with the context it consumed; on failure it is
//!   dropped (statement atomicity). With autocommit on and no explicit transaction the transaction ends
//!   right away.
//! * DDL first commits an open transaction (implicit commit), then runs on its own and is queued as a
//!   standalone DDL commit.
//! * BEGIN commits an open transaction first; COMMIT queues it; ROLLBACK discards it. `SET autocommit=1`
//!   commits an open transaction, as MySQL does.

use super::api::{
    ExecContext, LockMode, LoggedStatement, Outcome, PendingCommit, Session, Stmt, StmtKind,
    TxnState, WriteSet,
};
use super::exec::{Consumed, Exec};
use super::store::{EngineInner, LockCheck, View, Visibility};
use crate::error::{Error, Result};
use std::sync::Arc;

fn ok() -> Outcome {
    Outcome::Ok { affected_rows: 0, last_insert_id: 0, warnings: 0, info: String::new() }
}

/// Queues the open transaction as a commit if it did anything, and closes it.
fn finish_txn(s: &mut Session) {
    if let Some(t) = s.txn.take() {
        if !t.statements.is_empty() || !t.writes.is_empty() {
            s.ready.push(PendingCommit {
                is_ddl: false,
                statements: t.statements,
                writes: Arc::new(t.writes),
            });
        }
    }
}

fn logged(
    s: &Session,
    text: &str,
    db: Option<String>,
    ctx: &ExecContext,
    used: Consumed,
) -> LoggedStatement {
    LoggedStatement {
        sql: used.sql.unwrap_or_else(|| text.to_string()),
        db,
        now_us: ctx.now_us,
        last_insert_id: used.last_insert_id,
        insert_id: used.insert_id,
        rand_seeds: used.rand_seeds,
        user_vars: used.user_vars,
        sql_mode: s.sql_mode_bits(),
        flags2: s.flags2(),
        time_zone: s.time_zone.clone(),
        charset: s.charset,
    }
}

/// Runs a statement: parsed, bound to a cached template (its literals as compile-time parameters),
/// or by text.
fn run_stmt(x: &mut Exec<'_>, stmt: &Stmt) -> Result<Outcome> {
    match (&stmt.parsed, &stmt.bound) {
        (Some(p), _) => x.run(p, &stmt.text),
        (None, Some(b)) => {
            let _params = super::compile::bind_params(b.params.clone());
            x.run(&b.tpl.st, &stmt.text)
        }
        (None, None) => super::ddl::run_text(x, &stmt.text),
    }
}

/// Runs one statement with a view over `txn` (taken out of the session while running).
fn run_in(
    inner: &EngineInner,
    s: &mut Session,
    txn: Option<&WriteSet>,
    with_published: bool,
    stmt: &Stmt,
    ctx: &ExecContext,
    is_write: bool,
) -> Result<(Outcome, WriteSet, Consumed)> {
    let vis = if with_published { Visibility::Published } else { Visibility::Applied };
    let check = match (&s.lock_mode, is_write && stmt.kind == StmtKind::Write) {
        (LockMode::Rows(locks), true) => Some(LockCheck {
            locks: locks.clone(),
            owner: s.connection_id,
            missing: Default::default(),
            exclusive: Default::default(),
        }),
        _ => None,
    };
    // Under row locking the statement's result counts only if it held every row it touched: what it
    // changed in the session (variables, LAST_INSERT_ID, the RAND() state) is put back otherwise, and
    // the caller waits for the locks and runs it again.
    let saved = check
        .as_ref()
        .map(|_| (s.user_vars.clone(), s.last_insert_id, s.rand_seeds, s.row_count, s.found_rows));
    let view = View { locks: check.as_ref(), inner, vis, txn, stmt: WriteSet::new() };
    let r = Exec::new(view, s, ctx, is_write).and_then(|mut x| {
        let out = run_stmt(&mut x, stmt)?;
        let Exec { view, used, .. } = x;
        Ok((out, view.stmt, used))
    });
    let (Some(check), Some(saved)) = (check, saved) else { return r };
    let mut keys = check.missing.into_inner();
    let exclusive = check.exclusive.get();
    if exclusive || !keys.is_empty() {
        (s.user_vars, s.last_insert_id, s.rand_seeds, s.row_count, s.found_rows) = saved;
        keys.sort();
        keys.dedup();
        return Err(Error::LockNeeded { keys, exclusive });
    }
    r
}

/// Executes one statement in a session (see the module docs).
pub fn execute(
    inner: &EngineInner,
    s: &mut Session,
    stmt: &Stmt,
    ctx: &ExecContext,
) -> Result<Outcome> {
    match stmt.kind {
        StmtKind::Admin => Err(Error::sql(
            1235,
            "42000",
            format!(
                "'{}' is answered by the server layer, not the SQL engine",
                stmt.text.chars().take(40).collect::<String>()
            ),
        )),
        StmtKind::Begin => {
            finish_txn(s);
            s.txn = Some(TxnState { explicit: true, ..Default::default() });
            Ok(ok())
        }
        StmtKind::Commit => {
            finish_txn(s);
            Ok(ok())
        }
        StmtKind::Rollback => {
            s.txn = None;
            Ok(ok())
        }
        StmtKind::Read | StmtKind::Session => {
            let txn = s.txn.take();
            let with_pub =
                txn.as_ref().is_some_and(|t| !t.writes.is_empty() || !t.statements.is_empty());
            let was_autocommit = s.autocommit;
            let r = run_in(inner, s, txn.as_ref().map(|t| &t.writes), with_pub, stmt, ctx, false);
            s.txn = txn;
            let (out, ws, _) = r?;
            debug_assert!(ws.is_empty() || stmt.kind == StmtKind::Session);
            if stmt.kind == StmtKind::Session && s.autocommit && !was_autocommit {
                finish_txn(s);
            }
            if stmt.kind == StmtKind::Read {
                s.row_count = -1;
            }
            Ok(out)
        }
        StmtKind::Write => {
            let mut txn = s.txn.take().unwrap_or_default();
            let db = s.current_db.clone();
            let r = run_in(inner, s, Some(&txn.writes), true, stmt, ctx, true);
            match r {
                Ok((out, ws, used)) => {
                    txn.writes.extend(ws);
                    let l = logged(s, &stmt.text, db, ctx, used);
                    txn.statements.push(l);
                    if let Outcome::Ok { affected_rows, .. } = &out {
                        s.row_count = *affected_rows as i64;
                    }
                    let end_now = s.autocommit && !txn.explicit;
                    s.txn = Some(txn);
                    if end_now {
                        finish_txn(s);
                    }
                    Ok(out)
                }
                Err(e) => {
                    let keep = txn.explicit || !s.autocommit || !txn.statements.is_empty();
                    if keep {
                        s.txn = Some(txn);
                    }
                    Err(e)
                }
            }
        }
        StmtKind::Ddl => {
            finish_txn(s);
            let db = s.current_db.clone();
            let (out, ws, used) = run_in(inner, s, None, true, stmt, ctx, true)?;
            let l = logged(s, &stmt.text, db, ctx, used);
            s.ready.push(PendingCommit { is_ddl: true, statements: vec![l], writes: Arc::new(ws) });
            s.row_count = 0;
            Ok(out)
        }
    }
}
