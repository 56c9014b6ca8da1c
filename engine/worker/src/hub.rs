//! In-process coordination between the HTTP layer and the embedded worker: wake the worker
//! when a run is queued, tell event streams that a run moved, and cancel a local run at once.
//!
//! Everything here is a shortcut, never the source of truth: the store is. A worker in
//! another process learns of new runs by polling and of cancel requests by its heartbeat;
//! event streams fall back to polling the store for runs that other processes execute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

/// How many "run changed" notices may wait for a slow subscriber before it lags (a lagging
/// subscriber re-reads the store, so nothing is lost).
const CHANGE_BACKLOG: usize = 4096;

pub struct RunHub {
    queued: Notify,
    changed: broadcast::Sender<Arc<str>>,
    running: Mutex<HashMap<String, CancellationToken>>,
}

impl std::fmt::Debug for RunHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunHub").finish_non_exhaustive()
    }
}

impl Default for RunHub {
    fn default() -> Self {
        RunHub { queued: Notify::new(), changed: broadcast::channel(CHANGE_BACKLOG).0, running: Mutex::default() }
    }
}

impl RunHub {
    pub fn new() -> Arc<Self> {
        Arc::new(RunHub::default())
    }

    /// A run was queued (or requeued): wake the worker. A wake-up with no worker waiting is
    /// kept, so one that is about to wait does not miss it.
    pub fn run_queued(&self) {
        self.queued.notify_one();
    }

    pub(crate) async fn wait_for_queued(&self) {
        self.queued.notified().await;
    }

    /// The run has new events or a new state.
    pub fn run_changed(&self, run_id: &str) {
        // No subscribers is fine: nobody is watching.
        let _ = self.changed.send(Arc::from(run_id));
    }

    /// Notices of runs that changed, for event streams.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.changed.subscribe()
    }

    /// Cancels the run if this process is executing it; false if it is not.
    pub fn cancel_local(&self, run_id: &str) -> bool {
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        running.get(run_id).map(CancellationToken::cancel).is_some()
    }

    /// Runs this process is executing now.
    pub fn running_count(&self) -> usize {
        self.running.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub(crate) fn register(&self, run_id: &str, cancel: CancellationToken) {
        self.running.lock().unwrap_or_else(PoisonError::into_inner).insert(run_id.to_owned(), cancel);
    }

    pub(crate) fn unregister(&self, run_id: &str) {
        self.running.lock().unwrap_or_else(PoisonError::into_inner).remove(run_id);
    }
}
