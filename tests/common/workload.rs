//! A seeded random workload for the convergence suite: DDL, multi-row DML, NOW(), RAND(), auto-increment,
//! user variables, transactions that commit or roll back, and statements that fail inside transactions.
//!
//! The same seed always produces the same statement list, so a failing seed can be replayed exactly.
#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One unit the client sends: a single statement or a transaction of several.
#[derive(Clone, Debug)]
pub enum Unit {
    /// An autocommit statement.
    Stmt(String),
    /// `BEGIN`, the statements, then `COMMIT` (true) or `ROLLBACK` (false).
    Txn(Vec<String>, bool),
}

/// Generates `n` units of workload for database `db` from `seed`. Table names are `t0`, `t1`, ...
pub fn generate(db: &str, seed: u64, n: usize) -> Vec<Unit> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut g = Gen { rng: &mut rng, tables: 0, extra_cols: vec![] };
    let mut units = vec![
        Unit::Stmt(format!("CREATE DATABASE IF NOT EXISTS {db}")),
        Unit::Stmt(format!("USE {db}")),
    ];
    units.push(Unit::Stmt(g.create_table()));
    for _ in 0..n {
        let roll: u32 = g.rng.gen_range(0..100);
        let unit = match roll {
            0..=3 if g.tables < 4 => Unit::Stmt(g.create_table()),
            4..=5 => Unit::Stmt(g.alter_table()),
            6..=9 => Unit::Stmt(g.set_user_var()),
            10..=39 => Unit::Stmt(g.dml()),
            40..=69 => {
                let k = g.rng.gen_range(1..5);
                let stmts = (0..k).map(|_| g.dml()).collect();
                Unit::Txn(stmts, g.rng.gen_bool(0.8))
            }
            _ => Unit::Stmt(g.insert()),
        };
        units.push(unit);
    }
    units
}

struct Gen<'a> {
    rng: &'a mut StdRng,
    tables: usize,
    /// Extra nullable INT columns added by ALTER TABLE, per table.
    extra_cols: Vec<usize>,
}

impl Gen<'_> {
    fn table(&mut self) -> usize {
        self.rng.gen_range(0..self.tables)
    }

    fn create_table(&mut self) -> String {
        let t = self.tables;
        self.tables += 1;
        self.extra_cols.push(0);
        format!(
            "CREATE TABLE t{t} (id INT AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL DEFAULT 0, \
             name VARCHAR(40) NOT NULL DEFAULT '', amount DECIMAL(12,2) NULL, ratio DOUBLE NULL, \
             at DATETIME NULL, UNIQUE KEY uk (name), KEY kk (k)) ENGINE=InnoDB"
        )
    }

    fn alter_table(&mut self) -> String {
        let t = self.table();
        let c = self.extra_cols[t];
        self.extra_cols[t] += 1;
        format!("ALTER TABLE t{t} ADD COLUMN x{c} INT NULL DEFAULT NULL")
    }

    fn set_user_var(&mut self) -> String {
        match self.rng.gen_range(0..3) {
            0 => format!("SET @v = {}", self.rng.gen_range(-1000..1000)),
            1 => format!("SET @s = 'u{}'", self.rng.gen_range(0..50)),
            _ => {
                format!("SET @v = {}.{:02}", self.rng.gen_range(0..100), self.rng.gen_range(0..100))
            }
        }
    }

    fn value_name(&mut self) -> String {
        // A small name space makes UNIQUE violations (failing statements) common.
        match self.rng.gen_range(0..10) {
            0 => "@s".to_string(),
            1 => format!("CONCAT('c', {})", self.rng.gen_range(0..300)),
            _ => format!("'n{}'", self.rng.gen_range(0..300)),
        }
    }

    fn row(&mut self) -> String {
        let id = if self.rng.gen_bool(0.15) {
            self.rng.gen_range(1..200).to_string()
        } else if self.rng.gen_bool(0.5) {
            "NULL".into()
        } else {
            "0".into()
        };
        let k = match self.rng.gen_range(0..4) {
            0 => "@v".to_string(),
            1 => "FLOOR(RAND() * 1000)".to_string(),
            _ => self.rng.gen_range(0..1000).to_string(),
        };
        let name = self.value_name();
        let amount = if self.rng.gen_bool(0.2) {
            "NULL".to_string()
        } else {
            format!("{}.{:02}", self.rng.gen_range(-500..5000), self.rng.gen_range(0..100))
        };
        let ratio = match self.rng.gen_range(0..3) {
            0 => "RAND()".to_string(),
            1 => "NULL".to_string(),
            _ => format!("{}.{}", self.rng.gen_range(0..100), self.rng.gen_range(0..1000)),
        };
        let at = if self.rng.gen_bool(0.5) { "NOW()" } else { "'2024-05-06 07:08:09'" };
        format!("({id}, {k}, {name}, {amount}, {ratio}, {at})")
    }

    fn insert(&mut self) -> String {
        let t = self.table();
        let n = self.rng.gen_range(1..6);
        let rows: Vec<String> = (0..n).map(|_| self.row()).collect();
        format!("INSERT INTO t{t} (id, k, name, amount, ratio, at) VALUES {}", rows.join(", "))
    }

    fn dml(&mut self) -> String {
        let t = self.table();
        match self.rng.gen_range(0..6) {
            0 | 1 => self.insert(),
            2 => format!(
                "UPDATE t{t} SET k = k + {}, amount = amount * 2 WHERE id BETWEEN {} AND {}",
                self.rng.gen_range(1..10),
                self.rng.gen_range(0..50),
                self.rng.gen_range(50..200)
            ),
            3 => format!(
                "UPDATE t{t} SET name = CONCAT(name, 'x'), at = NOW() WHERE k < {} ORDER BY id LIMIT {}",
                self.rng.gen_range(0..1000),
                self.rng.gen_range(1..5)
            ),
            4 => format!("DELETE FROM t{t} WHERE k > {} ORDER BY id LIMIT 2", self.rng.gen_range(500..1000)),
            _ => format!("UPDATE t{t} SET ratio = RAND() WHERE id = {}", self.rng.gen_range(1..100)),
        }
    }
}
