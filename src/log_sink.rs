//! Where the binary's log lines go: stderr, in batches, written by a thread of their own. A
//! busy proxy formats an access line per request; writing each with its own `write` system call
//! (and, under a container runtime, a wake-up of the log reader per line) costs as much as
//! formatting it. Lines are collected whole, in order, and the writer thread sends them when a
//! batch fills, when a tokio worker runs out of work (so a quiet proxy shows each line at once),
//! every [`FLUSH_EVERY`] at the latest, before a panic aborts the process, and at exit.
//!
//! Serving threads never write to stderr themselves: if the log reader stalls (a full pipe, a
//! stuck logging driver) only the writer thread waits, requests go on, and lines beyond
//! [`MAX_PENDING`] are dropped and counted instead of holding up traffic or memory.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// A batch this large wakes the writer at once.
const FLUSH_AT: usize = 32 * 1024;
/// While the writer is stuck, lines queue up to this much; later ones are dropped and counted.
const MAX_PENDING: usize = 4 * 1024 * 1024;
/// The longest a line waits while every worker stays busy.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// At exit, the longest the process waits for its last lines to be written.
const EXIT_WAIT: Duration = Duration::from_secs(1);
const EXIT_POLL: Duration = Duration::from_millis(2);

/// Lines waiting for the sink, in the order they were written, and how many were dropped.
struct Pending {
    lines: Vec<u8>,
    dropped: u64,
    /// Set when the writer should not wait for the timer: it may be busy when woken, and a
    /// notification nobody waits for is lost.
    wanted: bool,
}

/// Lines waiting for `sink`.
pub struct Batch<W> {
    pending: Mutex<Pending>,
    sink: Mutex<W>,
    /// Wakes the writer thread: a full batch, or a worker with nothing left to do.
    wake: Condvar,
    /// Whether a writer thread runs; without one, [`Self::flush`] writes itself.
    writer_started: AtomicBool,
    /// The writer thread holds a batch it has not finished writing.
    writing: AtomicBool,
    /// The longest a line waits for a wake-up ([`FLUSH_EVERY`]).
    period: Duration,
}

impl<W: Write> Batch<W> {
    pub const fn new(sink: W) -> Self {
        Self {
            pending: Mutex::new(Pending {
                lines: Vec::new(),
                dropped: 0,
                wanted: false,
            }),
            sink: Mutex::new(sink),
            wake: Condvar::new(),
            writer_started: AtomicBool::new(false),
            writing: AtomicBool::new(false),
            period: FLUSH_EVERY,
        }
    }

    /// Queues one whole line (tracing writes each event with one call). Never waits for the
    /// sink.
    pub fn push(&self, line: &[u8]) {
        let mut pending = lock(&self.pending);
        if pending.lines.len() + line.len() > MAX_PENDING {
            pending.dropped += 1;
            return;
        }
        pending.lines.extend_from_slice(line);
        // Once per batch: a writer that lags must not cost every line a wake-up.
        if pending.lines.len() >= FLUSH_AT && !pending.wanted {
            pending.wanted = true;
            self.wake.notify_one();
        }
    }

    /// Asks the writer thread to write out what is queued, if anything is.
    pub fn wake(&self) {
        let mut pending = lock(&self.pending);
        if !pending.lines.is_empty() && !pending.wanted {
            pending.wanted = true;
            self.wake.notify_one();
        }
    }

    /// Before exit: has the writer thread write out what is queued and waits for it, at most
    /// `wait`, since a stalled log reader must not keep the process from exiting. Without a
    /// writer thread, writes from this one.
    pub fn flush(&self, wait: Duration) {
        if !self.writer_started.load(Ordering::Acquire) {
            self.write_out(lock(&self.pending));
            return;
        }
        let deadline = Instant::now() + wait;
        loop {
            {
                let mut pending = lock(&self.pending);
                let idle = pending.lines.is_empty() && pending.dropped == 0;
                if idle && !self.writing.load(Ordering::Acquire) {
                    return;
                }
                if !idle {
                    pending.wanted = true;
                    self.wake.notify_one();
                }
            }
            if Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(EXIT_POLL);
        }
    }

    /// Like [`Self::flush`], unless another thread holds the queue or the sink: for a panicking
    /// thread, which must not wait on a lock it may hold itself.
    pub fn try_flush(&self) {
        let (Ok(mut pending), Ok(mut sink)) = (self.pending.try_lock(), self.sink.try_lock()) else {
            return;
        };
        let (lines, dropped) = take(&mut pending);
        drop(pending);
        write_batch(&mut *sink, &lines, dropped);
    }

    /// The writer thread: writes whenever woken, and every `period` regardless.
    fn run_writer(&self) -> ! {
        self.writer_started.store(true, Ordering::Release);
        loop {
            let pending = lock(&self.pending);
            let (pending, _) = self
                .wake
                .wait_timeout_while(pending, self.period, |pending| !pending.wanted)
                .unwrap_or_else(PoisonError::into_inner);
            self.write_out(pending);
        }
    }

    /// Takes the queue while holding the sink, so batches leave in the order they were queued,
    /// then lets pushers go on while the (possibly slow) write runs.
    fn write_out(&self, mut pending: MutexGuard<'_, Pending>) {
        if pending.lines.is_empty() && pending.dropped == 0 {
            pending.wanted = false;
            return;
        }
        let mut sink = lock(&self.sink);
        let (lines, dropped) = take(&mut pending);
        self.writing.store(true, Ordering::Release);
        drop(pending);
        write_batch(&mut *sink, &lines, dropped);
        self.writing.store(false, Ordering::Release);
    }
}

/// The queued lines and the dropped count, leaving both empty; a burst that grew the buffer far
/// past a batch gives the memory back.
fn take(pending: &mut Pending) -> (Vec<u8>, u64) {
    pending.wanted = false;
    let lines = std::mem::replace(&mut pending.lines, Vec::with_capacity(FLUSH_AT));
    (lines, std::mem::take(&mut pending.dropped))
}

fn write_batch(sink: &mut impl Write, lines: &[u8], dropped: u64) {
    // A log that cannot be written has nowhere to report it; the lines are dropped rather
    // than kept growing.
    let _ = sink.write_all(lines);
    if dropped > 0 {
        let note =
            format!("langsmith-proxy: {dropped} log lines dropped: the log reader did not keep up with the proxy\n");
        let _ = sink.write_all(note.as_bytes());
    }
    let _ = sink.flush();
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

/// Asks the writer thread to write out the queued lines: from a tokio worker about to park.
pub fn wake() {
    STDERR.wake();
}

/// Writes out the queued lines before the process exits, waiting at most a second.
pub fn flush() {
    STDERR.flush(EXIT_WAIT);
}

/// Starts the writer thread and makes a panic write out the queued lines before its message
/// (the release build aborts on panic). Call once, when installing [`BatchedStderr`]. Without
/// a writer thread (it could not be started) lines are still written at exit.
pub fn start() {
    let _ = std::thread::Builder::new()
        .name("log-writer".to_owned())
        .spawn(|| STDERR.run_writer());
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        STDERR.try_flush();
        report(info);
    }));
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::sync::Arc;

    use super::*;

    /// A sink whose writes wait until the test lets them through, and that tells what it got.
    struct Gate {
        open: mpsc::Receiver<()>,
        written: mpsc::Sender<Vec<u8>>,
    }

    impl Write for Gate {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let _ = self.open.recv();
            let _ = self.written.send(bytes.to_vec());
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    const WAIT: Duration = Duration::from_secs(10);

    #[test]
    fn lines_leave_whole_and_in_order_when_flushed() {
        let batch = Batch::new(Vec::new());
        batch.push(b"one\n");
        batch.push(b"two\n");
        assert!(lock(&batch.sink).is_empty(), "held until flushed");
        batch.flush(WAIT);
        assert_eq!(lock(&batch.sink).as_slice(), b"one\ntwo\n");
    }

    #[test]
    fn the_writer_thread_writes_when_woken() {
        let (open, gate) = mpsc::channel();
        let (written, wrote) = mpsc::channel();
        // No timer to fall back on: only the wake-up can make it write.
        let batch: &'static Batch<Gate> = Box::leak(Box::new(Batch {
            period: Duration::from_secs(3600),
            ..Batch::new(Gate { open: gate, written })
        }));
        std::thread::spawn(|| batch.run_writer());
        batch.push(b"line\n");
        batch.wake();
        open.send(()).expect("gate");
        assert_eq!(wrote.recv_timeout(WAIT).expect("written"), b"line\n");
    }

    /// A stalled log reader holds up the writer thread only: pushing never waits, and what does
    /// not fit is counted and reported once the reader moves again.
    #[test]
    fn a_stalled_sink_never_blocks_pushers_and_drops_past_the_bound() {
        let (open, gate) = mpsc::channel();
        let (written, wrote) = mpsc::channel();
        let batch = Arc::new(Batch::new(Gate { open: gate, written }));
        batch.push(b"first\n");
        let writer = Arc::clone(&batch);
        // Stuck in the sink's write, as on a full pipe, once it has taken the queue.
        std::thread::spawn(move || writer.flush(WAIT));
        let started = std::time::Instant::now();
        while !lock(&batch.pending).lines.is_empty() {
            assert!(started.elapsed() < WAIT, "the writer never took the queue");
            std::thread::yield_now();
        }
        let pusher = Arc::clone(&batch);
        let line = vec![b'x'; 1023].into_iter().chain([b'\n']).collect::<Vec<u8>>();
        let lines = MAX_PENDING / line.len() + 10;
        let (pushed, done) = mpsc::channel();
        std::thread::spawn(move || {
            for _ in 0..lines {
                pusher.push(&line);
            }
            let _ = pushed.send(());
        });
        done.recv_timeout(WAIT)
            .expect("pushing went on while the sink was stuck");
        assert_eq!(lock(&batch.pending).dropped, 10);

        open.send(()).expect("gate");
        assert_eq!(wrote.recv_timeout(WAIT).expect("first batch"), b"first\n");
        let flusher = Arc::clone(&batch);
        std::thread::spawn(move || flusher.flush(WAIT));
        open.send(()).expect("gate");
        assert_eq!(
            wrote.recv_timeout(WAIT).expect("queued lines").len(),
            MAX_PENDING / 1024 * 1024
        );
        open.send(()).expect("gate");
        let note = String::from_utf8(wrote.recv_timeout(WAIT).expect("note")).expect("text");
        assert!(note.contains("10 log lines dropped"), "{note}");
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
