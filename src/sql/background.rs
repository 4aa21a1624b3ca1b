//! Background priority for the store's flush-behind threads.
//!
//! The idea: writing applied transactions to sled (our `store-flush` thread, and the threads sled
//! starts for its log and its I/O pool) is throughput work that no client waits for, while the
//! sessions and the binlog syncer are on the path of every acknowledged commit. When the CPUs are
//! busy, a session or syncer that wakes up should get a CPU at once rather than wait behind a
//! flusher's time slice, so the flush-behind threads run at the lowest priority, nice
//! [`BACKGROUND_NICE`] (on Linux nice is per thread, and any thread may lower its own priority or
//! that of another thread of its process without privileges). Measured with sysbench oltp_insert
//! at 8 threads, primary and replica on this 2-vCPU machine: +6 to +17% throughput for the same
//! CPU per transaction.
//!
//! sled gives no hook into its threads, so [`lower_sled_threads`] finds them by name in
//! `/proc/self/task`; the store flusher sweeps at start and then at most once per
//! [`SWEEP_EVERY`], since sled starts I/O threads on demand.
//!
//! Invariants: a lower priority never loses or stalls work: when the flusher falls behind, the
//! apply that finds it far behind flushes by itself at its own priority (the back-pressure of
//! [`super::store`]), so the overlay stays bounded whatever the scheduler does. Failures to change
//! a priority (another OS, a sandbox refusing `setpriority`) are ignored: priority is an
//! optimisation, never a condition for correctness.

use std::time::Duration;

/// The nice value of the flush-behind threads: the lowest priority of the normal scheduling class.
pub const BACKGROUND_NICE: i32 = 19;

/// How often the store flusher looks for new sled threads to lower.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Name prefixes of the threads sled starts: its I/O pool and its periodic log flusher.
const SLED_THREADS: [&str; 2] = ["sled-io", "log flusher"];

/// Lowers the calling thread to [`BACKGROUND_NICE`]; false if the system refused or has no such
/// notion.
pub fn lower_current_thread() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        set_nice(tid, BACKGROUND_NICE)
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// Lowers every thread of this process that sled started (by name) to [`BACKGROUND_NICE`]
/// (setting a thread to the value it has already changes nothing).
pub fn lower_sled_threads() {
    #[cfg(target_os = "linux")]
    {
        let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return };
        for entry in dir.flatten() {
            let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse::<libc::pid_t>().ok())
            else {
                continue;
            };
            let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else { continue };
            if SLED_THREADS.iter().any(|p| comm.starts_with(p)) {
                set_nice(tid, BACKGROUND_NICE);
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn set_nice(tid: libc::pid_t, nice: i32) -> bool {
    let Ok(who) = libc::id_t::try_from(tid) else { return false };
    // SAFETY: setpriority has no memory-safety preconditions; with PRIO_PROCESS and a thread id,
    // Linux changes that one thread.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, who, nice) == 0 }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The nice value of thread `tid` of this process (field 19 of its `stat`), if readable.
    fn thread_nice(tid: libc::pid_t) -> Option<i32> {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
        // The command name (field 2) is in parentheses and may hold spaces: count from after it.
        let rest = &stat[stat.rfind(')')? + 1..];
        rest.split_whitespace().nth(16)?.parse().ok()
    }

    fn own_nice() -> Option<i32> {
        // SAFETY: gettid has no preconditions.
        thread_nice(unsafe { libc::gettid() })
    }

    #[test]
    fn a_thread_lowers_its_own_priority_and_no_other() {
        let before = own_nice().expect("own nice");
        if before >= BACKGROUND_NICE {
            eprintln!("the test runs at nice {before} already: nothing to observe");
            return;
        }
        let lowered = std::thread::spawn(|| (lower_current_thread(), own_nice())).join().unwrap();
        assert_eq!(lowered, (true, Some(BACKGROUND_NICE)));
        assert_eq!(own_nice(), Some(before), "the spawning thread keeps its priority");
    }

    #[test]
    fn sled_threads_are_found_by_name_and_lowered() {
        if own_nice().is_none_or(|n| n >= BACKGROUND_NICE) {
            eprintln!("the test runs at the lowest priority already: nothing to observe");
            return;
        }
        // A thread named like sled's log flusher, waiting until the sweep has run.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let t = std::thread::Builder::new()
            .name("log flusher".into())
            .spawn(move || {
                // SAFETY: gettid has no preconditions.
                tid_tx.send(unsafe { libc::gettid() }).unwrap();
                rx.recv().ok();
            })
            .unwrap();
        let tid = tid_rx.recv().unwrap();
        // (A store flusher of a concurrent test may sweep first: the end state is what counts.)
        lower_sled_threads();
        assert_eq!(thread_nice(tid), Some(BACKGROUND_NICE));
        // This test's own thread is not sled's.
        assert!(own_nice().is_some_and(|n| n < BACKGROUND_NICE));
        tx.send(()).unwrap();
        t.join().unwrap();
    }
}
