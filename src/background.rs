//! Where background work runs: key checks and key re-reads that a request starts on any worker
//! run on the runtime that called `serve` (worker 0). They then outlive the other workers, and
//! the key check's pooled upstream connections stay with one event loop.

use std::future::Future;
use std::sync::{Mutex, PoisonError};

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

#[derive(Debug, Default)]
pub struct Background {
    runtime: Mutex<Option<Handle>>,
}

impl Background {
    /// Makes the calling runtime the home of background work (`serve` calls this).
    pub fn run_here(&self) {
        *self.runtime.lock().unwrap_or_else(PoisonError::into_inner) = Some(Handle::current());
    }

    /// Spawns `task` there; before `serve` runs, on the current runtime.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let home = self.runtime.lock().unwrap_or_else(PoisonError::into_inner).clone();
        match home {
            Some(runtime) => runtime.spawn(task),
            None => tokio::spawn(task),
        }
    }
}
