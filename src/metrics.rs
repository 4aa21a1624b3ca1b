//! Process-wide metrics and an optional Prometheus `/metrics` endpoint.
//!
//! Every figure is a lock-free atomic in the static [`METRICS`], so the hot paths (commit, fsync, apply)
//! pay one relaxed atomic add. [`render`] writes them in the Prometheus text exposition format and
//! [`serve`] answers `GET /metrics` on a listener of its own (enabled with `--metrics-listen`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// A zero counter.
    pub const fn new() -> Self {
        Counter(AtomicU64::new(0))
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down; negative means "unknown" (NULL) and is not exported.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// An unknown gauge.
    pub const fn new() -> Self {
        Gauge(AtomicI64::new(-1))
    }
    /// Sets the value; `None` makes it unknown.
    pub fn set(&self, v: Option<i64>) {
        self.0.store(v.unwrap_or(-1), Ordering::Relaxed);
    }
    /// The value, if known.
    pub fn get(&self) -> Option<i64> {
        let v = self.0.load(Ordering::Relaxed);
        (v >= 0).then_some(v)
    }
}

/// Upper bounds (seconds) of the latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 12] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// A latency histogram with fixed buckets ([`LATENCY_BUCKETS`]).
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub const fn new() -> Self {
        #[allow(clippy::declare_interior_mutable_const)]
        const ZERO: AtomicU64 = AtomicU64::new(0);
        Histogram {
            buckets: [ZERO; LATENCY_BUCKETS.len()],
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }
    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// Every metric repld exports.
#[derive(Debug)]
pub struct Metrics {
    /// Transactions committed to the binary log.
    pub commits: Counter,
    /// Commits that synced and applied on their session's own thread (they came alone, see
    /// [`crate::primary::commit`]), not through the syncer thread.
    pub commits_synced_inline: Counter,
    /// Bytes appended to the binary log.
    pub binlog_bytes: Counter,
    /// fsync latency of the binary log.
    pub fsync_latency: Histogram,
    /// Transactions applied by a replica's SQL thread.
    pub replica_applied: Counter,
    /// Bytes received by a replica's IO thread.
    pub replica_received_bytes: Counter,
    /// Reconnects of a replica's IO thread.
    pub replica_reconnects: Counter,
    /// Seconds_Behind_Master (unknown while the IO thread is down).
    pub replica_lag_seconds: Gauge,
    /// Client connections accepted.
    pub connections: Counter,
}

/// The process's metrics.
pub static METRICS: Metrics = Metrics {
    commits: Counter::new(),
    commits_synced_inline: Counter::new(),
    binlog_bytes: Counter::new(),
    fsync_latency: Histogram::new(),
    replica_applied: Counter::new(),
    replica_received_bytes: Counter::new(),
    replica_reconnects: Counter::new(),
    replica_lag_seconds: Gauge::new(),
    connections: Counter::new(),
};

/// Reads the replica's current lag (seconds; `None` while unknown) at scrape time.
pub type LagSource = Box<dyn Fn() -> Option<i64> + Send + Sync>;

static LAG_SOURCE: std::sync::OnceLock<LagSource> = std::sync::OnceLock::new();

/// Registers where [`render`] reads `repld_replica_lag_seconds` from (the replica role, once).
pub fn set_lag_source(source: LagSource) {
    let _ = LAG_SOURCE.set(source);
}

/// The metrics in Prometheus text format.
pub fn render() -> String {
    let m = &METRICS;
    if let Some(lag) = LAG_SOURCE.get() {
        m.replica_lag_seconds.set(lag());
    }
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, v: u64| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"));
    };
    counter("repld_commits_total", "Transactions committed to the binary log.", m.commits.get());
    counter(
        "repld_commits_synced_inline_total",
        "Commits that came alone and synced on their session's thread, not the syncer's.",
        m.commits_synced_inline.get(),
    );
    // Every group-commit fsync is observed by the latency histogram: its count is the fsync count.
    counter(
        "repld_binlog_fsyncs_total",
        "fsyncs of the binary log (commits / fsyncs = group commit size).",
        m.fsync_latency.count(),
    );
    counter("repld_binlog_bytes_total", "Bytes appended to the binary log.", m.binlog_bytes.get());
    counter(
        "repld_replica_applied_total",
        "Transactions applied by the SQL thread.",
        m.replica_applied.get(),
    );
    counter(
        "repld_replica_received_bytes_total",
        "Bytes received by the IO thread.",
        m.replica_received_bytes.get(),
    );
    counter(
        "repld_replica_reconnects_total",
        "Reconnects of the IO thread.",
        m.replica_reconnects.get(),
    );
    counter("repld_connections_total", "Client connections accepted.", m.connections.get());
    out.push_str("# HELP repld_binlog_fsync_seconds fsync latency of the binary log.\n");
    out.push_str("# TYPE repld_binlog_fsync_seconds histogram\n");
    let mut cumulative = 0;
    for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
        cumulative += m.fsync_latency.buckets[i].load(Ordering::Relaxed);
        out.push_str(&format!("repld_binlog_fsync_seconds_bucket{{le=\"{le}\"}} {cumulative}\n"));
    }
    let count = m.fsync_latency.count();
    out.push_str(&format!("repld_binlog_fsync_seconds_bucket{{le=\"+Inf\"}} {count}\n"));
    let sum = m.fsync_latency.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
    out.push_str(&format!(
        "repld_binlog_fsync_seconds_sum {sum}\nrepld_binlog_fsync_seconds_count {count}\n"
    ));
    if let Some(lag) = m.replica_lag_seconds.get() {
        out.push_str("# HELP repld_replica_lag_seconds Seconds_Behind_Master.\n# TYPE repld_replica_lag_seconds gauge\n");
        out.push_str(&format!("repld_replica_lag_seconds {lag}\n"));
    }
    out
}

/// Serves `GET /metrics` on `listener` until `shutdown` completes. Anything else gets 404.
pub async fn serve(listener: TcpListener, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut shutdown => return,
        };
        let Ok((mut stream, _)) = accepted else { continue };
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
            let Ok(Ok(n)) = read else { return };
            let request = String::from_utf8_lossy(&buf[..n]);
            let (status, body) = if request.starts_with("GET /metrics ") {
                ("200 OK", render())
            } else {
                ("404 Not Found", "not found\n".to_string())
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(resp.as_bytes()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn endpoint_serves_prometheus_text() {
        METRICS.commits.add(3);
        METRICS.fsync_latency.observe(Duration::from_micros(300));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, async move {
            let _ = rx.await;
        }));
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).await.unwrap();
        assert!(resp.starts_with("HTTP/1.1 200 OK"));
        assert!(resp.contains("# TYPE repld_commits_total counter\n"));
        let commits: u64 = resp
            .lines()
            .find_map(|l| l.strip_prefix("repld_commits_total "))
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert!(commits >= 3);
        assert!(resp.contains("repld_binlog_fsync_seconds_bucket{le=\"0.0005\"} "));
        assert!(!resp.contains("repld_replica_lag_seconds "), "unknown lag is not exported");
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /other HTTP/1.1\r\n\r\n").await.unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).await.unwrap();
        assert!(resp.starts_with("HTTP/1.1 404"));
        tx.send(()).unwrap();
        server.await.unwrap();
    }
}
