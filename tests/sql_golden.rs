//! Data-driven golden scripts for the SQL engine: fixtures/sql/golden/*.test.
//!
//! Each file is a sequence of blocks separated by blank lines: the statement text (optionally prefixed by
//! `[name] ` to run it in another session), a line `---`, and the expected output. Output forms:
//! result sets print a header of column names then one tab-separated line per row (`NULL` for NULL,
//! `''` for a row that would print empty); OK packets print `ok affected=N [id=N] [warnings=N] [info]`;
//! errors print `error CODE (SQLSTATE): message`. Every file starts with a fresh in-memory engine; all
//! statements run with now = 2024-01-01 00:00:00 UTC and session RAND seeds (1, 2); finished commits are
//! published and applied immediately. Regenerate with `UPDATE_GOLDENFILES=1 cargo test --test sql_golden`
//! and review the diff.

use repld::sql::{Engine, ExecContext, Outcome, Session};
use std::collections::BTreeMap;
use std::path::Path;

struct Runner {
    engine: Engine,
    sessions: BTreeMap<String, Session>,
    seq: u64,
}

fn new_session() -> Session {
    let mut s = Session::new();
    s.rand_seeds = (1, 2);
    s.connection_id = 1;
    s
}

impl Runner {
    fn new() -> Runner {
        let engine = Engine::open_temporary().unwrap();
        Runner { engine, sessions: BTreeMap::new(), seq: 0 }
    }

    fn run(&mut self, text: &str) -> String {
        let (name, sql) = match text.strip_prefix('[') {
            Some(rest) => match rest.split_once("] ") {
                Some((n, sql)) => (n.to_string(), sql.to_string()),
                None => ("main".to_string(), text.to_string()),
            },
            None => ("main".to_string(), text.to_string()),
        };
        let session = self.sessions.entry(name).or_insert_with(new_session);
        let ctx = ExecContext { now_us: 1_704_067_200_000_000, ..Default::default() };
        let stmts = match self.engine.parse(&sql) {
            Ok(s) => s,
            Err(e) => {
                let (c, st, m) = e.to_mysql();
                return format!("error {c} ({st}): {m}");
            }
        };
        let mut out = vec![];
        for st in stmts {
            let r = self.engine.execute(session, &st, &ctx);
            for c in session.take_commits() {
                self.seq = self.engine.publish(&c).unwrap();
                self.engine.apply(self.seq, &[]).unwrap();
            }
            match r {
                Ok(Outcome::Rows(rs)) => {
                    out.push(
                        rs.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>().join("\t"),
                    );
                    for row in rs.rows {
                        let line = row
                            .iter()
                            .zip(&rs.columns)
                            .map(|(v, c)| match repld::wire::text_value(v, c) {
                                None => "NULL".to_string(),
                                Some(b) => String::from_utf8_lossy(&b).into_owned(),
                            })
                            .collect::<Vec<_>>()
                            .join("\t");
                        out.push(if line.trim().is_empty() { "''".into() } else { line });
                    }
                }
                Ok(Outcome::Ok { affected_rows, last_insert_id, warnings, info }) => {
                    let mut s = format!("ok affected={affected_rows}");
                    if last_insert_id != 0 {
                        s.push_str(&format!(" id={last_insert_id}"));
                    }
                    if warnings != 0 {
                        s.push_str(&format!(" warnings={warnings}"));
                    }
                    if !info.is_empty() {
                        s.push_str(&format!(" [{info}]"));
                    }
                    out.push(s);
                }
                Err(e) => {
                    let (c, st, m) = e.to_mysql();
                    out.push(format!("error {c} ({st}): {m}"));
                    break;
                }
            }
        }
        out.join("\n")
    }
}

fn run_file(path: &Path) -> (String, String) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut r = Runner::new();
    let mut produced = String::new();
    for block in text.split("\n\n").map(|b| b.trim_matches('\n')).filter(|b| !b.is_empty()) {
        let (stmt, _) = block.split_once("\n---").unwrap_or((block, ""));
        let comments: Vec<&str> = stmt.lines().take_while(|l| l.starts_with('#')).collect();
        let sql: String = stmt.lines().skip(comments.len()).collect::<Vec<_>>().join("\n");
        let result = r.run(&sql);
        for c in comments {
            produced.push_str(c);
            produced.push('\n');
        }
        produced.push_str(&format!("{sql}\n---\n{result}\n\n"));
    }
    (text, produced)
}

#[test]
fn golden_scripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sql/golden");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty());
    let update = std::env::var("UPDATE_GOLDENFILES").is_ok_and(|v| v == "1");
    let mut failed = vec![];
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "test")) {
        let (want, got) = run_file(f);
        if want.trim_end() != got.trim_end() {
            if update {
                std::fs::write(f, got.trim_end().to_string() + "\n").unwrap();
            } else {
                let diff: Vec<String> = want
                    .lines()
                    .zip(got.lines())
                    .filter(|(a, b)| a != b)
                    .take(5)
                    .map(|(a, b)| format!("  want: {a}\n   got: {b}"))
                    .collect();
                failed.push(format!("{}:\n{}", f.display(), diff.join("\n")));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "golden mismatches (UPDATE_GOLDENFILES=1 to regenerate):\n{}",
        failed.join("\n")
    );
}
