//! A pause switch shared by one node's cluster loops (membership, renewals, balancing, the
//! self-fence watchdog). Paused, they stop where they are, like a process under SIGSTOP, and
//! resume together. Tests use it to freeze a node inside one process; fault drills may too.

use tokio::sync::watch;

#[derive(Clone)]
pub struct Gate(watch::Sender<bool>);

impl Default for Gate {
    fn default() -> Self {
        Gate(watch::channel(false).0)
    }
}

impl Gate {
    pub fn pause(&self) {
        self.0.send_replace(true);
    }

    pub fn resume(&self) {
        self.0.send_replace(false);
    }

    pub fn is_paused(&self) -> bool {
        *self.0.borrow()
    }

    /// Returns at once when open; otherwise when resumed.
    pub async fn passable(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives in `self`, so `wait_for` cannot fail while we wait.
        let _ = rx.wait_for(|paused| !*paused).await;
    }
}
