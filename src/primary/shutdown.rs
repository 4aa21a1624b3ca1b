//! Shutdown notice for long-running tasks (mini-redis `src/shutdown.rs`).
//!
//! The server holds a `broadcast::Sender<()>`; every connection task owns a [`Shutdown`] made from a
//! receiver of it. Sending (or dropping the sender) tells every task to stop: a task finishes the command
//! or commit it is in, then returns. Each task also holds a clone of an `mpsc::Sender<()>` it never sends
//! on; when every clone is dropped the server knows all tasks are gone.

use tokio::sync::broadcast;

/// Listens for the server's shutdown notice. Cheap; one per task.
#[derive(Debug)]
pub struct Shutdown {
    /// True once the notice has been received.
    is_shutdown: bool,
    /// The receiving half of the notice channel.
    notify: broadcast::Receiver<()>,
}

impl Shutdown {
    /// Wraps a receiver of the server's shutdown channel.
    pub fn new(notify: broadcast::Receiver<()>) -> Shutdown {
        Shutdown { is_shutdown: false, notify }
    }

    /// True once the notice has been received.
    pub fn is_shutdown(&self) -> bool {
        self.is_shutdown
    }

    /// Waits for the notice (returns at once if it was already received). Cancel-safe.
    pub async fn recv(&mut self) {
        if self.is_shutdown {
            return;
        }
        // A lagged or closed channel also means "shut down": only one value is ever sent.
        let _ = self.notify.recv().await;
        self.is_shutdown = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn notice_reaches_every_receiver_and_sticks() {
        let (tx, _) = broadcast::channel(1);
        let mut a = Shutdown::new(tx.subscribe());
        let mut b = Shutdown::new(tx.subscribe());
        assert!(!a.is_shutdown());
        tx.send(()).unwrap();
        a.recv().await;
        b.recv().await;
        assert!(a.is_shutdown() && b.is_shutdown());
        a.recv().await; // returns at once
        let mut c = Shutdown::new(tx.subscribe());
        drop(tx);
        c.recv().await; // a dropped sender is a notice too
        assert!(c.is_shutdown());
    }
}
