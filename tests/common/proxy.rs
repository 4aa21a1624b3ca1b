//! A loopback TCP proxy for network-fault tests: it sits between a replica and its primary and can pass
//! traffic, reset every connection and refuse new ones, stall (hold bytes without closing), or slow the link.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Forward bytes both ways.
    Pass = 0,
    /// Close every open connection and refuse (close at once) new ones.
    Refuse = 1,
    /// Keep connections open but forward nothing.
    Stall = 2,
    /// Forward in small chunks with a delay between them.
    Slow = 3,
}

/// A running proxy; dropping it stops it.
pub struct Proxy {
    /// The port to connect to instead of the target.
    pub port: u16,
    mode: Arc<AtomicU8>,
    /// Bumped at every mode change, so live connections notice at once.
    change_tx: watch::Sender<u64>,
    /// Connections accepted so far.
    pub accepted: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy on a free loopback port forwarding to 127.0.0.1:`target_port`.
    pub async fn start(target_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(Mode::Pass as u8));
        let (change_tx, change_rx) = watch::channel(0u64);
        let accepted = Arc::new(AtomicU64::new(0));
        let (m, a) = (mode.clone(), accepted.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { continue };
                a.fetch_add(1, Ordering::SeqCst);
                if m.load(Ordering::SeqCst) == Mode::Refuse as u8 {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)).await else {
                    continue;
                };
                tokio::spawn(pipe(client, server, m.clone(), change_rx.clone()));
            }
        });
        Proxy { port, mode, change_tx, accepted, task }
    }

    /// Switches the mode; `Refuse` also cuts every open connection.
    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
        self.change_tx.send_modify(|v| *v += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pipe(
    client: TcpStream,
    server: TcpStream,
    mode: Arc<AtomicU8>,
    change: watch::Receiver<u64>,
) {
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = tokio::spawn(copy(cr, sw, mode.clone(), change.clone()));
    let down = tokio::spawn(copy(sr, cw, mode, change));
    let _ = tokio::join!(up, down);
}

async fn copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mode: Arc<AtomicU8>,
    mut change: watch::Receiver<u64>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let current = mode.load(Ordering::SeqCst);
        if current == Mode::Refuse as u8 {
            return;
        }
        if current == Mode::Stall as u8 {
            if change.changed().await.is_err() {
                return;
            }
            continue;
        }
        let n = tokio::select! {
            r = from.read(&mut buf) => match r { Ok(0) | Err(_) => return, Ok(n) => n },
            r = change.changed() => { if r.is_err() { return } continue }
        };
        if current == Mode::Slow as u8 {
            for chunk in buf[..n].chunks(512) {
                tokio::time::sleep(Duration::from_millis(5)).await;
                if to.write_all(chunk).await.is_err() {
                    return;
                }
            }
        } else if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
