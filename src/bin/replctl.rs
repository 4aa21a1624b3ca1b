//! `replctl`: reports on and steers repld (and MariaDB) servers over the MySQL protocol.
//!
//! Argument parsing and wiring only; the status model lives in `repld::status`.

use clap::{Parser, Subcommand};
use mysql_async::prelude::Queryable;
use repld::binlog_text;
use repld::status::{self, Health, ServerStatus};
use std::path::PathBuf;
use std::time::Duration;

/// Report on and steer repld servers.
#[derive(Parser, Debug)]
#[command(name = "replctl", version, about, disable_help_flag = true)]
struct Cli {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help, global = true)]
    help: Option<bool>,
    /// Server host (repeat -h/-P pairs for several servers).
    #[arg(short = 'h', long = "host", global = true, default_value = "127.0.0.1")]
    host: Vec<String>,
    /// Server port; give it several times for several servers. Default: the local sandbox's servers.
    #[arg(short = 'P', long = "port", global = true)]
    port: Vec<u16>,
    /// User name.
    #[arg(short = 'u', long = "user", global = true, default_value = "root")]
    user: String,
    /// Password.
    #[arg(short = 'p', long = "password", global = true, default_value = "")]
    password: String,
    /// Sandbox directory whose servers are used when no -P is given.
    /// (Also taken from $REPLD_SANDBOX.)
    #[arg(long, global = true, default_value = "repld-sandbox")]
    sandbox: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show role, positions, replicas, thread states, lag and errors. Exit 0 healthy, 1 unreachable, 2 broken.
    Status {
        /// Print JSON (stable schema, see docs/replctl-status.md).
        #[arg(long)]
        json: bool,
        /// Refresh in place every N seconds until interrupted.
        #[arg(long, value_name = "SECONDS")]
        watch: Option<f64>,
    },
    /// START REPLICA [IO_THREAD|SQL_THREAD] on the server.
    Start {
        /// `io` or `sql`; both when omitted.
        thread: Option<Thread>,
    },
    /// STOP REPLICA [IO_THREAD|SQL_THREAD] on the server.
    Stop {
        /// `io` or `sql`; both when omitted.
        thread: Option<Thread>,
    },
    /// CHANGE REPLICATION SOURCE TO the given source (replication must be stopped).
    ChangeSource {
        /// Source as HOST:PORT.
        source: String,
        /// Replication user on the source.
        #[arg(long, default_value = "root")]
        source_user: String,
        /// Its password.
        #[arg(long, default_value = "")]
        source_password: String,
    },
    /// Skip N transactions on a stopped SQL thread, then start it again (sql_slave_skip_counter).
    Skip {
        /// How many transactions.
        #[arg(default_value_t = 1)]
        count: u64,
    },
    /// PURGE BINARY LOGS TO the named file.
    Purge {
        /// First file to keep.
        to: String,
    },
    /// Decode binlog and relay log files (ours and MariaDB's) as SQL, like mariadb-binlog; the output
    /// can be piped into `mariadb` to replay a range (point-in-time recovery). Ranges select whole
    /// transactions: one is printed when it starts at or after --start-position (first file) and ends at
    /// or before --stop-position (last file), when its first event's time is in
    /// [--start-datetime, --stop-datetime) (UTC), and, with --gtid, when its GTID is listed.
    Binlog {
        /// The files, in log order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Offset in the first file: transactions starting before it are left out.
        #[arg(long)]
        start_position: Option<u64>,
        /// Offset in the last file: transactions ending after it are left out.
        #[arg(long)]
        stop_position: Option<u64>,
        /// `YYYY-MM-DD HH:MM:SS` (UTC): transactions older than this are left out.
        #[arg(long)]
        start_datetime: Option<String>,
        /// `YYYY-MM-DD HH:MM:SS` (UTC): transactions at or after this are left out.
        #[arg(long)]
        stop_datetime: Option<String>,
        /// `DOMAIN-SERVER-SEQ[,...]`: print only these transactions.
        #[arg(long)]
        gtid: Option<String>,
        /// Check every event's framing and CRC32 instead of printing SQL; exit 1 naming file:offset of
        /// each bad event.
        #[arg(long)]
        verify: bool,
    },
    /// Stop replication, wait until everything received is applied, make the server writable, and print
    /// the GTID position it continues from.
    Promote {
        /// Seconds to wait for the backlog to drain.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Thread {
    Io,
    Sql,
}

impl Thread {
    fn sql(t: Option<Thread>) -> &'static str {
        match t {
            None => "",
            Some(Thread::Io) => " IO_THREAD",
            Some(Thread::Sql) => " SQL_THREAD",
        }
    }
}

impl Cli {
    /// The servers to talk to: -h/-P pairs, or the sandbox's list, or 127.0.0.1:3306 and :3307.
    fn servers(&self) -> Vec<(String, u16)> {
        if !self.port.is_empty() {
            return self
                .port
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    (self.host.get(i).or(self.host.last()).cloned().unwrap_or_default(), *p)
                })
                .collect();
        }
        let dir = std::env::var_os("REPLD_SANDBOX")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.sandbox.clone());
        if let Ok(text) = std::fs::read_to_string(dir.join("servers")) {
            let list: Vec<(String, u16)> = text
                .lines()
                .filter_map(|l| {
                    let (h, p) = l.trim().rsplit_once(':')?;
                    Some((h.to_string(), p.parse().ok()?))
                })
                .collect();
            if !list.is_empty() {
                return list;
            }
        }
        vec![("127.0.0.1".into(), 3306), ("127.0.0.1".into(), 3307)]
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = Cli::parse();
    let code = match run(&cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e}");
            1
        }
    };
    std::process::exit(code);
}

async fn run(cli: &Cli) -> Result<i32, String> {
    match &cli.command {
        Command::Status { json, watch } => {
            let Some(period) = watch else { return Ok(print_status(cli, *json, false).await) };
            let period = Duration::from_secs_f64(period.max(0.2));
            loop {
                print_status(cli, *json, true).await;
                tokio::select! {
                    _ = tokio::time::sleep(period) => {}
                    _ = tokio::signal::ctrl_c() => return Ok(0),
                }
            }
        }
        Command::Start { thread } => {
            exec(cli, &format!("START REPLICA{}", Thread::sql(*thread))).await
        }
        Command::Stop { thread } => {
            exec(cli, &format!("STOP REPLICA{}", Thread::sql(*thread))).await
        }
        Command::ChangeSource { source, source_user, source_password } => {
            let (host, port) = source.rsplit_once(':').ok_or("source must be HOST:PORT")?;
            let port: u16 = port.parse().map_err(|_| format!("bad port in {source}"))?;
            exec(
                cli,
                &format!(
                    "CHANGE MASTER TO MASTER_HOST='{}', MASTER_PORT={port}, MASTER_USER='{}', MASTER_PASSWORD='{}'",
                    escape(host),
                    escape(source_user),
                    escape(source_password)
                ),
            )
            .await
        }
        Command::Skip { count } => {
            let mut conn = connect(cli).await?;
            for sql in [
                "STOP REPLICA SQL_THREAD".to_string(),
                format!("SET GLOBAL sql_slave_skip_counter = {count}"),
                "START REPLICA SQL_THREAD".to_string(),
            ] {
                conn.query_drop(&sql).await.map_err(|e| format!("{sql}: {e}"))?;
            }
            println!("OK");
            Ok(0)
        }
        Command::Purge { to } => exec(cli, &format!("PURGE BINARY LOGS TO '{}'", escape(to))).await,
        Command::Promote { timeout } => promote(cli, Duration::from_secs(*timeout)).await,
        Command::Binlog {
            files,
            start_position,
            stop_position,
            start_datetime,
            stop_datetime,
            gtid,
            verify,
        } => {
            if *verify {
                return Ok(verify_binlogs(files));
            }
            let parse_dt = |s: &Option<String>| {
                s.as_deref().map(binlog_text::parse_datetime).transpose().map_err(|e| e.to_string())
            };
            let opts = binlog_text::Options {
                start_position: *start_position,
                stop_position: *stop_position,
                start_datetime: parse_dt(start_datetime)?,
                stop_datetime: parse_dt(stop_datetime)?,
                gtids: match gtid {
                    Some(g) => binlog_text::parse_gtid_list(g).map_err(|e| e.to_string())?,
                    None => Vec::new(),
                },
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            binlog_text::decode_files(files, &opts, &mut out).map_err(|e| e.to_string())?;
            Ok(0)
        }
    }
}

/// `replctl binlog --verify`: one summary line per file, each problem on its own line; 1 if any.
fn verify_binlogs(files: &[PathBuf]) -> i32 {
    let mut code = 0;
    for check in binlog_text::verify_files(files) {
        if check.errors.is_empty() {
            println!(
                "{}: OK, {} events, {} bytes, every CRC32 matches",
                check.path.display(),
                check.events,
                check.bytes
            );
        } else {
            code = 1;
            println!(
                "{}: {} problem(s) ({} good events, {} bytes)",
                check.path.display(),
                check.errors.len(),
                check.events,
                check.bytes
            );
            for e in &check.errors {
                println!("  {e}");
            }
        }
    }
    code
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

async fn print_status(cli: &Cli, json: bool, clear: bool) -> i32 {
    let mut all = Vec::new();
    for (host, port) in cli.servers() {
        all.push(status::collect(&host, port, &cli.user, &cli.password).await);
    }
    if clear {
        print!("\x1b[2J\x1b[H");
    }
    if json {
        let doc = serde_json::json!({ "schema_version": status::SCHEMA_VERSION, "servers": all });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        for (i, s) in all.iter().enumerate() {
            if i > 0 {
                println!();
            }
            print!("{s}");
        }
    }
    exit_code(&all)
}

/// 1 if any server is unreachable, else 2 if any replica is broken, else 0.
fn exit_code(all: &[ServerStatus]) -> i32 {
    let healths: Vec<Health> = all.iter().map(|s| s.health()).collect();
    if healths.contains(&Health::Unreachable) {
        1
    } else if healths.contains(&Health::Broken) {
        2
    } else {
        0
    }
}

async fn connect(cli: &Cli) -> Result<mysql_async::Conn, String> {
    let (host, port) = cli.servers().into_iter().next().ok_or("no server given")?;
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .user(Some(cli.user.clone()))
        .pass(if cli.password.is_empty() { None } else { Some(cli.password.clone()) })
        .prefer_socket(false);
    mysql_async::Conn::new(opts).await.map_err(|e| e.to_string())
}

async fn exec(cli: &Cli, sql: &str) -> Result<i32, String> {
    let mut conn = connect(cli).await?;
    conn.query_drop(sql).await.map_err(|e| e.to_string())?;
    println!("OK");
    Ok(0)
}

async fn promote(cli: &Cli, timeout: Duration) -> Result<i32, String> {
    let mut conn = connect(cli).await?;
    conn.query_drop("STOP REPLICA IO_THREAD").await.map_err(|e| e.to_string())?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let rows =
            status::query_maps(&mut conn, "SHOW SLAVE STATUS").await.map_err(|e| e.to_string())?;
        let Some(row) = rows.first() else { return Err("not a replica".into()) };
        let r = ServerStatus::replication_from_row(row);
        if let Some((code, msg)) = r.last_sql_error {
            return Err(format!("SQL thread failed ({code}: {msg}); fix or skip before promoting"));
        }
        if !r.received_gtid.is_empty() && r.received_gtid == r.applied_gtid
            || r.received_gtid.is_empty()
        {
            break;
        }
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "backlog not applied within {timeout:?}: received {}, applied {}",
                r.received_gtid, r.applied_gtid
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for sql in ["STOP REPLICA", "RESET REPLICA ALL", "SET GLOBAL read_only = 0"] {
        conn.query_drop(sql).await.map_err(|e| format!("{sql}: {e}"))?;
    }
    let gtid: Option<String> =
        conn.query_first("SELECT @@gtid_current_pos").await.map_err(|e| e.to_string())?;
    println!("promoted; continues from GTID {}", gtid.unwrap_or_default());
    Ok(0)
}
