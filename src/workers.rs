//! Extra worker threads, each with its own current-thread runtime: accepted connections are
//! handed to them in turn, so a connection's socket, its tasks and its upstream pool stay on one
//! thread (no work stealing, no cross-thread wake-ups per request). Worker 0 is the runtime that
//! calls `serve`.

use std::future::Future;
use std::io;
use std::thread;
use std::time::Duration;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

use crate::listener::Stream;
use crate::log_sink;

/// After the drain, how long a worker's leftover tasks (a key read stuck on a keychain, say)
/// may hold up its exit.
const WORKER_SHUTDOWN: Duration = Duration::from_secs(1);

/// One extra worker: where to spawn, and how to stop it.
struct Worker {
    handle: Handle,
    stop: oneshot::Sender<()>,
    stopped: oneshot::Receiver<()>,
}

/// The extra workers, stopped by [`Workers::stop`] (or when dropped, without waiting).
pub struct Workers {
    extra: Vec<Worker>,
}

impl Workers {
    /// Starts `count - 1` threads besides the caller's runtime.
    pub fn start(count: usize) -> io::Result<Self> {
        let extra = (1..count).map(start_worker).collect::<io::Result<_>>()?;
        Ok(Self { extra })
    }

    /// How many workers serve connections, the caller's runtime included.
    pub fn count(&self) -> usize {
        self.extra.len() + 1
    }

    /// Runs `serve(stream)` on worker `index` (0: the caller's runtime). The socket first moves
    /// to that worker's reactor, so its readiness wakes only that thread. A connection that
    /// cannot move is closed (dropping `serve` releases what it holds).
    pub fn serve_connection<F, Fut>(&self, index: usize, stream: Stream, serve: F)
    where
        F: FnOnce(Stream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(worker) = index.checked_sub(1).and_then(|extra| self.extra.get(extra)) else {
            tokio::spawn(serve(stream));
            return;
        };
        let detached = match stream.detach() {
            Ok(detached) => detached,
            Err(error) => return tracing::error!(%error, "cannot hand a connection to a worker; closing it"),
        };
        worker.handle.spawn(async move {
            match detached.attach() {
                Ok(stream) => serve(stream).await,
                Err(error) => tracing::error!(%error, "a worker cannot take a connection; closing it"),
            }
        });
    }

    /// Stops every worker, cancelling what still runs there, and waits for their threads; not
    /// forever: a thread stuck in a blocking call is left behind.
    pub async fn stop(self) {
        let mut stopped = Vec::with_capacity(self.extra.len());
        for worker in self.extra {
            let _ = worker.stop.send(());
            stopped.push(worker.stopped);
        }
        let all_stopped = async {
            for done in stopped {
                let _ = done.await;
            }
        };
        if tokio::time::timeout(WORKER_SHUTDOWN * 2, all_stopped).await.is_err() {
            tracing::warn!("a worker thread did not stop in time; leaving it behind");
        }
    }
}

fn start_worker(index: usize) -> io::Result<Worker> {
    let named = |error: io::Error| {
        io::Error::new(
            error.kind(),
            format!("cannot start worker thread {index} (setting `workers`): {error}; lower `workers` or raise the thread limit"),
        )
    };
    // A worker with nothing left to do writes out the batched log lines first.
    let runtime = Builder::new_current_thread()
        .enable_all()
        .on_thread_park(log_sink::wake)
        .build()
        .map_err(named)?;
    let handle = runtime.handle().clone();
    let (stop, stop_requested) = oneshot::channel::<()>();
    let (report_stopped, stopped) = oneshot::channel();
    thread::Builder::new()
        .name(format!("worker-{index}"))
        .spawn(move || {
            // Stops when asked, or when the server is gone without asking.
            let _ = runtime.block_on(stop_requested);
            runtime.shutdown_timeout(WORKER_SHUTDOWN);
            let _ = report_stopped.send(());
        })
        .map_err(named)?;
    Ok(Worker { handle, stop, stopped })
}
