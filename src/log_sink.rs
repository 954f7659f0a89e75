//! Where the binary's log lines go: stderr, in batches. A busy proxy formats an access line per
//! request; writing each with its own `write` system call (and, under a container runtime, a
//! wake-up of the log reader per line) costs as much as formatting it. Lines are collected
//! whole, in order, and leave together when a batch fills, when a tokio worker runs out of work
//! (so a quiet proxy shows each line at once), every [`FLUSH_EVERY`] at the latest, before a
//! panic aborts the process, and at exit.

use std::io::{self, Write};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// A batch this large leaves at once.
const FLUSH_AT: usize = 32 * 1024;
/// The longest a line waits while every worker stays busy.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Lines waiting for `sink`, in the order they were written.
pub struct Batch<W> {
    pending: Mutex<Vec<u8>>,
    sink: Mutex<W>,
}

impl<W: Write> Batch<W> {
    pub const fn new(sink: W) -> Self {
        Self {
            pending: Mutex::new(Vec::new()),
            sink: Mutex::new(sink),
        }
    }

    /// Queues one whole line (tracing writes each event with one call).
    pub fn push(&self, line: &[u8]) {
        let mut pending = lock(&self.pending);
        pending.extend_from_slice(line);
        if pending.len() >= FLUSH_AT {
            self.write_out(&mut pending);
        }
    }

    /// Writes out what is queued.
    pub fn flush(&self) {
        self.write_out(&mut lock(&self.pending));
    }

    /// Like [`Self::flush`], unless another thread holds the queue: for a panicking thread,
    /// which must not wait on a lock it may hold itself.
    pub fn try_flush(&self) {
        if let Ok(mut pending) = self.pending.try_lock() {
            self.write_out(&mut pending);
        }
    }

    /// Under the queue's lock, so batches leave in order.
    fn write_out(&self, pending: &mut Vec<u8>) {
        if pending.is_empty() {
            return;
        }
        let mut sink = lock(&self.sink);
        // A log that cannot be written has nowhere to report it; the lines are dropped
        // rather than kept growing.
        let _ = sink.write_all(pending).and_then(|()| sink.flush());
        pending.clear();
        // A burst may have grown the buffer far past a batch: give the memory back.
        pending.shrink_to(FLUSH_AT);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The process's stderr, reachable from a `static` (`io::stderr()` is not a constant).
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        io::stderr().write(bytes)
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        io::stderr().lock().write_all(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// The process's stderr batch.
static STDERR: Batch<Stderr> = Batch::new(Stderr);

/// tracing's writer for [`STDERR`].
#[derive(Clone, Copy, Default)]
pub struct BatchedStderr;

impl<'a> MakeWriter<'a> for BatchedStderr {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter
    }
}

/// Hands each line to the batch.
pub struct LineWriter;

impl Write for LineWriter {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        STDERR.push(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes out the queued lines: from a tokio worker about to park, a timer, and at exit.
pub fn flush() {
    STDERR.flush();
}

/// Starts the backstop timer and makes a panic write out the queued lines before its message
/// (the release build aborts on panic). Call once, when installing [`BatchedStderr`].
pub fn start() {
    let _ = std::thread::Builder::new().name("log-flush".to_owned()).spawn(|| loop {
        std::thread::sleep(FLUSH_EVERY);
        STDERR.flush();
    });
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        STDERR.try_flush();
        report(info);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_leave_whole_and_in_order_when_flushed_or_a_batch_fills() {
        let batch = Batch::new(Vec::new());
        batch.push(b"one\n");
        batch.push(b"two\n");
        assert!(lock(&batch.sink).is_empty(), "held until flushed");
        batch.flush();
        assert_eq!(lock(&batch.sink).as_slice(), b"one\ntwo\n");

        let line = vec![b'x'; 1000];
        for _ in 0..FLUSH_AT / line.len() {
            batch.push(&line);
        }
        assert_eq!(lock(&batch.sink).len(), 8, "not yet a full batch");
        batch.push(&line);
        assert_eq!(lock(&batch.sink).len(), 8 + line.len() * (FLUSH_AT / line.len() + 1));
        assert!(lock(&batch.pending).is_empty());
    }

    #[test]
    fn try_flush_gives_way_to_a_holder() {
        let batch = Batch::new(Vec::new());
        batch.push(b"held\n");
        let pending = lock(&batch.pending);
        batch.try_flush();
        drop(pending);
        assert!(lock(&batch.sink).is_empty());
        batch.try_flush();
        assert_eq!(lock(&batch.sink).as_slice(), b"held\n");
    }
}
