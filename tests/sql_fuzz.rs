//! Property test: at least 10^5 generated statements (valid shapes, mutated statements, token soup, huge
//! literals, deep nesting, invalid UTF-8-ish text) never panic the engine, and every failure carries a
//! MySQL error code.

use repld::sql::{Engine, ExecContext, Session};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len())]
    }
}

const TOKENS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "INSERT",
    "INTO",
    "VALUES",
    "UPDATE",
    "SET",
    "DELETE",
    "CREATE",
    "TABLE",
    "DROP",
    "INDEX",
    "ON",
    "ALTER",
    "ADD",
    "COLUMN",
    "PRIMARY",
    "KEY",
    "UNIQUE",
    "NOT",
    "NULL",
    "AND",
    "OR",
    "IN",
    "BETWEEN",
    "LIKE",
    "IS",
    "ORDER",
    "BY",
    "GROUP",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "DISTINCT",
    "COUNT(*)",
    "SUM(",
    "AVG(",
    "MIN(",
    "MAX(",
    "CONCAT(",
    "RAND()",
    "NOW()",
    "LAST_INSERT_ID()",
    "(",
    ")",
    ",",
    ";",
    "=",
    "<",
    ">",
    "<=",
    ">=",
    "<>",
    "+",
    "-",
    "*",
    "/",
    "%",
    "t",
    "u",
    "a",
    "b",
    "c",
    "id",
    "k",
    "1",
    "0",
    "-1",
    "2.5",
    "1e308",
    "'x'",
    "'It''s'",
    "NULL",
    "@v",
    "@@version",
    "@@nope",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "USE",
    "fz",
    "DATABASE",
    "INT",
    "VARCHAR(3)",
    "DECIMAL(5,2)",
    "DATETIME",
    "DEFAULT",
    "AUTO_INCREMENT",
    "TRUNCATE",
    "SHOW",
    "TABLES",
    "VARIABLES",
    "CHECKSUM",
    "JOIN",
    "LEFT",
    "AS",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "CAST(",
    "SIGNED",
    "UNION",
    "ALL",
    "/*!",
    "*/",
    "`",
    "'",
    "\"",
    "\\",
    "18446744073709551616",
    "99999999999999999999999999999999999999999",
    "X'4G'",
    "b'102'",
];

const VALID: &[&str] = &[
    "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, a INT, b VARCHAR(5), c DECIMAL(5,2), d DATETIME, KEY ka (a))",
    "CREATE TABLE u (x INT, y TEXT)",
    "INSERT INTO t (a, b, c, d) VALUES (1, 'x', 1.5, '2024-01-01 00:00:00'), (2, 'yy', -2, NOW())",
    "INSERT INTO t VALUES (0, 3, 'zzz', 999.99, NULL)",
    "INSERT INTO u VALUES (1, 'a'), (NULL, NULL)",
    "UPDATE t SET a = a + 1 WHERE id = 1",
    "UPDATE t SET b = CONCAT(b, 'q') WHERE a BETWEEN 1 AND 5",
    "DELETE FROM t WHERE id = 2",
    "SELECT * FROM t WHERE a IN (1, 2, 3) ORDER BY b DESC LIMIT 2",
    "SELECT a, COUNT(*), SUM(c) FROM t GROUP BY a HAVING COUNT(*) > 0",
    "SELECT DISTINCT b FROM t ORDER BY b",
    "SELECT t.a, u.y FROM t JOIN u ON u.x = t.a",
    "SELECT RAND(), LAST_INSERT_ID(), @v, @@version",
    "BEGIN", "COMMIT", "ROLLBACK",
    "ALTER TABLE u ADD COLUMN z INT DEFAULT 3",
    "CREATE INDEX kb ON t(b)",
    "DROP INDEX kb ON t",
    "CHECKSUM TABLE t, u",
    "TRUNCATE TABLE u",
    "SHOW TABLES",
    "SET @v = 'abc'",
    "SET autocommit = 0", "SET autocommit = 1",
    "SELECT CAST(b AS SIGNED) FROM t",
];

fn garbage(r: &mut Rng) -> String {
    let n = 1 + r.below(12);
    (0..n).map(|_| r.pick(TOKENS)).collect::<Vec<_>>().join(if r.below(4) == 0 { "" } else { " " })
}

fn mutate(r: &mut Rng, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    for _ in 0..1 + r.below(3) {
        if chars.is_empty() {
            break;
        }
        let i = r.below(chars.len());
        match r.below(4) {
            0 => {
                chars.remove(i);
            }
            1 => chars.insert(i, ['(', ')', '\'', ',', ';', ' ', 'é', '\0', '`'][r.below(9)]),
            2 => chars[i] = (b'a' + r.below(26) as u8) as char,
            _ => {
                let j = r.below(chars.len());
                chars.swap(i, j);
            }
        }
    }
    chars.into_iter().collect()
}

fn special(r: &mut Rng) -> String {
    match r.below(6) {
        0 => {
            let d = r.below(180);
            format!("SELECT {}1{}", "(".repeat(d), ")".repeat(d))
        }
        1 => format!("SELECT {}", "1+".repeat(r.below(150)) + "1"),
        2 => format!("SELECT '{}'", "x".repeat(r.below(20_000))),
        3 => format!("INSERT INTO t (b) VALUES ('{}')", "é".repeat(r.below(10))),
        4 => format!("SELECT {}", "9".repeat(1 + r.below(100))),
        _ => format!("SELECT * FROM t WHERE id = {}", r.next() as i64),
    }
}

#[test]
fn generated_statements_never_panic() {
    let engine = Engine::open_temporary().unwrap();
    let mut session = Session::new();
    for sql in ["CREATE DATABASE fz", "USE fz"] {
        for st in engine.parse(sql).unwrap() {
            engine.execute(&mut session, &st, &ExecContext::default()).unwrap();
            for c in session.take_commits() {
                engine.apply_commit(&c, &[]).unwrap();
            }
        }
    }
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut ok, mut err) = (0u64, 0u64);
    let ctx = ExecContext { now_us: 1_700_000_000_000_000, ..Default::default() };
    let total = 100_000;
    for n in 0..total {
        // Keep the tables small so that the run stays fast in debug builds.
        let sql = if n % 1000 == 999 { "TRUNCATE TABLE t".to_string() } else { String::new() };
        let sql = if !sql.is_empty() {
            sql
        } else {
            match r.below(10) {
                0..=2 => r.pick(VALID).to_string(),
                3..=5 => {
                    let v = r.pick(VALID);
                    mutate(&mut r, v)
                }
                6..=8 => garbage(&mut r),
                _ => special(&mut r),
            }
        };
        match engine.parse(&sql) {
            Err(e) => {
                assert!(e.to_mysql().0 > 0, "{sql}");
                err += 1;
            }
            Ok(stmts) => {
                for st in stmts {
                    match engine.execute(&mut session, &st, &ctx) {
                        Ok(_) => ok += 1,
                        Err(e) => {
                            let (code, state, _) = e.to_mysql();
                            assert!(code >= 1000 && state.len() == 5, "{sql}: {e:?}");
                            err += 1;
                        }
                    }
                    for c in session.take_commits() {
                        let seq = engine.publish(&c).unwrap();
                        engine.apply(seq, &[]).unwrap();
                    }
                }
            }
        }
        if n % 5000 == 0 && session.in_transaction() && r.below(2) == 0 {
            session = Session::new();
            session.current_db = Some("fz".into());
        }
    }
    assert!(ok > 1000 && err > 1000, "ok={ok} err={err}");
}
