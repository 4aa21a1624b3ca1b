//! `repld`: the server binary. Argument parsing and wiring only; the server is [`repld::primary`].
//!
//! ```text
//! repld primary --data-dir DIR [--listen 127.0.0.1:3306] [--server-id 1] [...]
//! repld replica --data-dir DIR --source HOST:PORT [--listen 127.0.0.1:3307] [--server-id 2] [...]
//! repld --config FILE [primary|replica] [flags]
//! ```
//!
//! Exits 0 after a clean shutdown on SIGINT/SIGTERM, 1 on any error (printed as `Error: ...`).

use clap::{Parser, Subcommand};
use repld::config::{resolve_config, Role, ServerConfig, ServerFlags};
use repld::control::ReplicaControl;
use repld::primary::Server;
use repld::sql::Engine;
use std::path::PathBuf;
use std::sync::Arc;

/// A MySQL-style binlog replication server.
#[derive(Parser, Debug)]
#[command(name = "repld", version, about)]
struct Cli {
    /// TOML configuration file (see fixtures/config/primary.toml); flags override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The role to start in; with --config it may be omitted (the file's `role` applies).
    #[command(subcommand)]
    role: Option<RoleCommand>,
}

#[derive(Subcommand, Debug)]
enum RoleCommand {
    /// Serve clients and stream the binary log to replicas.
    Primary {
        #[command(flatten)]
        flags: ServerFlags,
    },
    /// Replicate from a source; read-only for clients.
    Replica {
        #[command(flatten)]
        flags: ServerFlags,
    },
    /// Start a local primary and N replicas on consecutive ports; Ctrl-C stops them all.
    Sandbox {
        /// Number of replicas.
        #[arg(long, default_value_t = 1)]
        replicas: u32,
        /// Directory for every server's data and logs (kept for the next start).
        #[arg(long, default_value = "repld-sandbox")]
        dir: PathBuf,
        /// Port of the primary; replicas take the following ones.
        #[arg(long, default_value_t = 3306)]
        port: u16,
    },
}

fn main() {
    let cli = Cli::parse();
    let (role, flags) = match cli.role {
        Some(RoleCommand::Primary { flags }) => (Some(Role::Primary), flags),
        Some(RoleCommand::Replica { flags }) => (Some(Role::Replica), flags),
        Some(RoleCommand::Sandbox { replicas, dir, port }) => {
            init_tracing("info");
            let cfg = repld::sandbox::SandboxConfig { dir, replicas, base_port: port };
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(repld::Error::from)
                .and_then(|rt| rt.block_on(repld::sandbox::run(cfg)));
            if let Err(e) = result {
                eprintln!("Error: {e}");
                std::process::exit(1);
            }
            return;
        }
        None if cli.config.is_some() => (None, ServerFlags::default()),
        None => {
            eprintln!(
                "Error: give a role (`repld primary ...` / `repld replica ...`) or --config FILE"
            );
            std::process::exit(2);
        }
    };
    let config = match resolve_config(role, cli.config.as_deref(), &flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e}");
            std::process::exit(1);
        }
    };
    init_tracing(&config.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(serve(config)) {
        tracing::error!(cause = %e, "server failed");
        eprintln!("Error: {e}");
        std::process::exit(1);
    }
}

/// Subscriber on stderr; `RUST_LOG` wins over the configured level.
fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

async fn serve(config: ServerConfig) -> repld::Result<()> {
    let addr = config.listen_addr()?;
    std::fs::create_dir_all(&config.data_dir)?;
    let engine = Engine::open(&config.store_dir())?;
    let metrics_addr = config.metrics_listen.clone();
    let control = replica_role(&config, &engine).await?;
    let server = Server::open(config, engine, control)?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    if let Some(m) = &metrics_addr {
        let metrics = tokio::net::TcpListener::bind(m).await?;
        tracing::info!(addr = %m, "metrics endpoint listening");
        tokio::spawn(repld::metrics::serve(metrics, std::future::pending()));
    }
    server.run(listener, shutdown_signal()).await
}

/// The replica role's control seam: for a replica, starts the IO and SQL threads over `engine`
/// ([`repld::replica::start`]) and returns their [`ReplicaControl`]; a primary has none.
async fn replica_role(
    config: &ServerConfig,
    engine: &Engine,
) -> repld::Result<Option<Arc<dyn ReplicaControl>>> {
    match config.role {
        Role::Primary => Ok(None),
        Role::Replica => {
            let addr = config.listen_addr()?;
            let source = match &config.replica.source {
                Some(s) => Some(repld::replica::ReplicaConfig::parse_source(s)?),
                None => None,
            };
            let rc = repld::replica::ReplicaConfig {
                server_id: config.server_id,
                source,
                user: Some(config.replica.source_user.clone()),
                password: Some(config.replica.source_password.clone()),
                read_only: config.replica.read_only,
                report_host: Some(addr.ip().to_string()),
                report_port: addr.port(),
                connect_retry: config.replica.connect_retry,
                heartbeat_period: config.replica.heartbeat_period,
                ..Default::default()
            };
            let handle = repld::replica::start(rc, engine.clone(), &config.data_dir).await?;
            let weak = Arc::downgrade(&handle);
            repld::metrics::set_lag_source(Box::new(move || {
                weak.upgrade()?.status().seconds_behind_master.map(|s| s as i64)
            }));
            Ok(Some(handle as Arc<dyn ReplicaControl>))
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
