//! `repld sandbox`: a primary and N replicas on local ports, in one command.
//!
//! The sandbox starts this same executable as child processes: `repld primary` on the base port (3306 by
//! default) and `repld replica --source 127.0.0.1:<base>` on the following ports, each with its own data
//! directory under the sandbox directory, which is kept between runs (a second start resumes where the first
//! stopped). It writes `<dir>/servers` (one `host:port` a line) so that `replctl status` without arguments
//! finds them, prints how to connect, and on Ctrl-C (or SIGTERM) stops every child cleanly with SIGTERM.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What to start.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Directory holding every server's data dir, logs and the `servers` file.
    pub dir: PathBuf,
    /// Number of replicas.
    pub replicas: u32,
    /// Port of the primary; replicas take the next ones.
    pub base_port: u16,
}

/// A started sandbox; stopping it (or dropping it) stops every server.
pub struct Sandbox {
    children: Vec<(String, Child)>,
    /// `host:port` of every server, primary first.
    pub servers: Vec<String>,
}

impl Sandbox {
    /// Starts the primary and the replicas and waits until each accepts connections.
    pub fn start(cfg: &SandboxConfig) -> Result<Sandbox> {
        let exe = std::env::current_exe()?;
        std::fs::create_dir_all(&cfg.dir)?;
        let mut sandbox = Sandbox { children: Vec::new(), servers: Vec::new() };
        let primary_addr = format!("127.0.0.1:{}", cfg.base_port);
        for i in 0..=cfg.replicas {
            let port = cfg
                .base_port
                .checked_add(i as u16)
                .ok_or_else(|| Error::InvalidInput("port overflow".into()))?;
            let addr = format!("127.0.0.1:{port}");
            let name = if i == 0 { "primary".to_string() } else { format!("replica{i}") };
            let mut cmd = Command::new(&exe);
            if i == 0 {
                cmd.arg("primary");
            } else {
                cmd.arg("replica").arg("--source").arg(&primary_addr);
            }
            cmd.arg("--data-dir")
                .arg(cfg.dir.join(&name))
                .arg("--listen")
                .arg(&addr)
                .arg("--server-id")
                .arg((i + 1).to_string());
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(cfg.dir.join(format!("{name}.log")))?;
            cmd.stdout(Stdio::from(log.try_clone()?)).stderr(Stdio::from(log)).stdin(Stdio::null());
            let child = cmd.spawn()?;
            sandbox.children.push((name.clone(), child));
            wait_listening(
                &addr,
                &mut sandbox.children.last_mut().expect("just pushed").1,
                &cfg.dir,
                &name,
            )?;
            sandbox.servers.push(addr);
        }
        std::fs::write(cfg.dir.join("servers"), sandbox.servers.join("\n") + "\n")?;
        Ok(sandbox)
    }

    /// Sends SIGTERM to every server (replicas first) and waits for them to exit.
    pub fn stop(&mut self) {
        while let Some((_, mut child)) = self.children.pop() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop();
    }
}

fn wait_listening(addr: &str, child: &mut Child, dir: &Path, name: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::InvalidInput(format!(
                "{name} exited with {status} before listening on {addr}; see {}",
                dir.join(format!("{name}.log")).display()
            )));
        }
        if Instant::now() > deadline {
            return Err(Error::Abort(format!("{name} did not listen on {addr} within 60 s")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the sandbox until Ctrl-C or SIGTERM: starts it, prints how to connect, waits, stops it.
pub async fn run(cfg: SandboxConfig) -> Result<()> {
    // Starting and stopping wait on child processes: off the (current-thread) runtime.
    let start_cfg = cfg.clone();
    let sandbox = tokio::task::spawn_blocking(move || Sandbox::start(&start_cfg))
        .await
        .map_err(|e| Error::Abort(format!("sandbox start: {e}")))??;
    println!("repld sandbox running in {}", cfg.dir.display());
    for (i, s) in sandbox.servers.iter().enumerate() {
        let (host, port) = s.rsplit_once(':').unwrap_or((s, ""));
        let role = if i == 0 { "primary" } else { "replica" };
        println!("  {role:<8} {s:<16} mariadb -h{host} -P{port} -uroot");
    }
    println!("  status   replctl status --sandbox {}", cfg.dir.display());
    println!("Ctrl-C stops all servers; the data stays for the next start.");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    let mut sandbox = sandbox;
    tokio::task::spawn_blocking(move || sandbox.stop())
        .await
        .map_err(|e| Error::Abort(format!("sandbox stop: {e}")))?;
    println!("stopped");
    Ok(())
}
