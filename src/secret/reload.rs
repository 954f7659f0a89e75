//! Re-reads the key source and swaps the key in the [`KeyStore`]: when the watched file
//! changes, when the last read is older than `key.refresh` (checked lazily on the wall clock,
//! like the key check, so no timer misfires after a laptop sleeps), and after an upstream 401
//! (at most once per [`REREAD_AFTER_REJECTION`]). A read that fails or finds nothing keeps the
//! current key: the proxy never swaps to nothing.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::{BoxFuture, FutureExt, Shared};
use serde::Serialize;

use super::{ApiKey, KeySource, KeyStore, LoadedKey};
use crate::background::Background;
use crate::env::Env;

/// A re-read after a 401, awaited by every request rejected while it runs.
type Reread = Shared<BoxFuture<'static, ()>>;

/// A 401 makes the proxy re-read its source at most this often.
pub const REREAD_AFTER_REJECTION: Duration = Duration::from_secs(30);
/// Beyond the source's own time limit, how long a rejected request waits for its re-read.
const REREAD_WAIT_MARGIN: Duration = Duration::from_secs(1);

/// Why a reload ran; logged with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadReason {
    /// The last read is older than `key.refresh`.
    Refresh,
    /// The key file's directory changed.
    FileChanged,
    /// LangSmith answered 401 to the current key.
    Rejected,
    /// The proxy got SIGHUP.
    Signal,
}

impl ReloadReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refresh => "refresh",
            Self::FileChanged => "file_changed",
            Self::Rejected => "rejected",
            Self::Signal => "sighup",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// A different key was read and is now in use.
    Reloaded,
    /// The source holds the key already in use.
    Unchanged,
    /// The source could not be read or held no usable key; the current key stays.
    Failed,
}

impl ReloadOutcome {
    /// As the `key_reloads_total` metric's `result` label names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reloaded => "reloaded",
            Self::Unchanged => "unchanged",
            Self::Failed => "failed",
        }
    }
}

/// Reloads by result, for metrics and `/status`.
#[derive(Debug, Default)]
pub struct ReloadCounters {
    reloaded: AtomicU64,
    unchanged: AtomicU64,
    failed: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReloadCounts {
    pub reloaded: u64,
    pub unchanged: u64,
    pub failed: u64,
}

impl ReloadCounters {
    pub fn snapshot(&self) -> ReloadCounts {
        ReloadCounts {
            reloaded: self.reloaded.load(Ordering::Relaxed),
            unchanged: self.unchanged.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }

    fn count(&self, outcome: ReloadOutcome) {
        let counter = match outcome {
            ReloadOutcome::Reloaded => &self.reloaded,
            ReloadOutcome::Unchanged => &self.unchanged,
            ReloadOutcome::Failed => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

pub struct KeyReloader {
    keys: Arc<KeyStore>,
    env: Arc<Env>,
    ttl: Duration,
    /// How long a rejected request waits for a re-read (`key.command_timeout`).
    read_wait: Duration,
    counters: Arc<ReloadCounters>,
    /// Wall-clock milliseconds of the last read (start-up's included); claimed with a
    /// compare-and-swap so one stale moment starts one background read.
    last_read_ms: AtomicU64,
    /// Single flight for reads; holds when a 401 last caused one.
    running: tokio::sync::Mutex<Option<SystemTime>>,
    /// The re-read a 401 started, and whether it has finished.
    reread: std::sync::Mutex<Option<(Reread, Arc<AtomicBool>)>>,
    background: Arc<Background>,
    /// The last failed read's error, logged once at ERROR: the same failure again (a watch
    /// firing repeatedly on a broken file) is logged at debug, so the log cannot flood.
    last_failure: std::sync::Mutex<Option<String>>,
    /// Reads of the source still running on the blocking pool, those given up on included.
    reads_running: Arc<AtomicUsize>,
}

impl std::fmt::Debug for KeyReloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyReloader")
            .field("source", self.keys.source())
            .field("ttl", &self.ttl)
            .field("counts", &self.counters.snapshot())
            .finish_non_exhaustive()
    }
}

impl KeyReloader {
    /// `keys` was just loaded from its source; the TTL counts from now.
    pub fn new(
        keys: Arc<KeyStore>,
        env: Env,
        ttl: Duration,
        read_wait: Duration,
        counters: Arc<ReloadCounters>,
        background: Arc<Background>,
    ) -> Self {
        Self {
            keys,
            env: Arc::new(env),
            ttl,
            read_wait,
            counters,
            last_read_ms: AtomicU64::new(now_ms()),
            running: tokio::sync::Mutex::new(None),
            reread: std::sync::Mutex::new(None),
            background,
            last_failure: std::sync::Mutex::new(None),
            reads_running: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn source(&self) -> &KeySource {
        self.keys.source()
    }

    /// Called on every request: cheap (one atomic load and a clock read) unless the last read
    /// is older than `key.refresh`, then one request starts a read in the background.
    pub fn refresh_in_background_if_stale(self: &Arc<Self>) {
        if !self.source().can_change() {
            return;
        }
        let last = self.last_read_ms.load(Ordering::Acquire);
        let now = now_ms();
        // A clock that went backwards counts as stale too.
        let stale = now
            .checked_sub(last)
            .is_none_or(|age| age >= self.ttl.as_millis() as u64);
        if !stale
            || self
                .last_read_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return;
        }
        let reloader = self.clone();
        drop(self.background.spawn(async move {
            reloader.reload(ReloadReason::Refresh).await;
        }));
    }

    /// Reads the source now and swaps the key if it changed.
    pub async fn reload(&self, reason: ReloadReason) -> ReloadOutcome {
        let _running = self.running.lock().await;
        self.read_and_swap(reason).await
    }

    /// After LangSmith answered 401 to `rejected`: the key to retry with, if a different one is
    /// in use by now — swapped by another reload meanwhile, or found by re-reading the source
    /// (rate-limited to once per [`REREAD_AFTER_REJECTION`]).
    ///
    /// The request waits for the re-read at most as long as the source may take to answer
    /// (`key.command_timeout`, plus a margin): a source that hangs, such as a key file on a dead
    /// network mount, must not hold every rejected request. The re-read goes on without it.
    pub async fn after_rejection(self: &Arc<Self>, rejected: &ApiKey) -> Option<Arc<LoadedKey>> {
        if !self.source().can_change() {
            return None;
        }
        if let Some(current) = self.replacing(rejected) {
            return Some(current);
        }
        let reread = self.join_or_start_reread(rejected);
        let wait = self.rejection_wait();
        if tokio::time::timeout(wait, reread).await.is_err() {
            tracing::warn!(
                source = %self.source(),
                waited = %humantime::format_duration(wait),
                "re-reading the key after a 401 is taking too long; answering with the 401 and letting the read finish in the background"
            );
        }
        self.replacing(rejected)
    }

    /// The re-read under way, or a new one. One at a time: while a source hangs, every later
    /// 401 waits on the same read instead of queueing a task of its own.
    fn join_or_start_reread(self: &Arc<Self>, rejected: &ApiKey) -> Reread {
        let mut current = self.reread.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((running, done)) = current.as_ref() {
            if !done.load(Ordering::Acquire) {
                return running.clone();
            }
        }
        let (reloader, rejected_key) = (self.clone(), rejected.clone());
        let done = Arc::new(AtomicBool::new(false));
        let finished = done.clone();
        let task = self.background.spawn(async move {
            reloader.reread_after_rejection(&rejected_key).await;
            finished.store(true, Ordering::Release);
        });
        let reread = async move {
            let _ = task.await;
        }
        .boxed()
        .shared();
        *current = Some((reread.clone(), done));
        reread
    }

    /// The longest a request LangSmith rejected waits for the key to be re-read.
    pub fn rejection_wait(&self) -> Duration {
        self.read_wait.saturating_add(REREAD_WAIT_MARGIN)
    }

    /// The key in use, if it is no longer `rejected`.
    fn replacing(&self, rejected: &ApiKey) -> Option<Arc<LoadedKey>> {
        self.keys
            .snapshot()
            .filter(|current| !current.key.matches(rejected.header_value().as_bytes()))
    }

    /// Requests rejected together wait here for one re-read, then all see its result.
    async fn reread_after_rejection(&self, rejected: &ApiKey) {
        let mut last_rejection = self.running.lock().await;
        // Another read (a refresh, the file watch) may have replaced the key meanwhile.
        if self.replacing(rejected).is_some() {
            return;
        }
        let now = SystemTime::now();
        let recent = last_rejection
            .and_then(|at| now.duration_since(at).ok())
            .is_some_and(|age| age < REREAD_AFTER_REJECTION);
        if recent {
            return;
        }
        *last_rejection = Some(now);
        self.read_and_swap(ReloadReason::Rejected).await;
    }

    /// Call with `running` held.
    async fn read_and_swap(&self, reason: ReloadReason) -> ReloadOutcome {
        let read = self.read_within_wait().await;
        self.last_read_ms.store(now_ms(), Ordering::Release);
        let outcome = self.swap(reason, read);
        self.counters.count(outcome);
        outcome
    }

    /// Reads the source on the blocking pool (commands and keychains block; a file may be a
    /// FIFO or sit on a dead network mount), waiting at most [`Self::rejection_wait`]: a read
    /// that never returns must not hold every later one (the file watch, `key.refresh`,
    /// SIGHUP) behind it. A read given up on runs on; a few may, then none starts until one ends.
    async fn read_within_wait(&self) -> Result<ApiKey, String> {
        let running = self.reads_running.load(Ordering::Acquire);
        if running >= MAX_READS_RUNNING {
            return Err(format!(
                "{running} earlier reads of the source have not returned (a FIFO nobody writes to, a file on a dead network mount, a hung keychain), and no new read starts until one of them ends: fix the source, then restart the proxy if they stay stuck"
            ));
        }
        let (source, env) = (self.source().clone(), self.env.clone());
        let read_ends = ReadEnds::start(self.reads_running.clone());
        let task = tokio::task::spawn_blocking(move || {
            let _ends = read_ends;
            source.read(&env)
        });
        let wait = self.rejection_wait();
        match tokio::time::timeout(wait, task).await {
            Ok(Ok(read)) => read.map_err(|error| error.to_string()),
            Ok(Err(failed)) => Err(format!("the reading task failed: {failed}")),
            Err(_) => Err(format!(
                "reading the source took longer than {}: a FIFO nobody writes to, a file on a dead network mount, a hung keychain? The read goes on; later reads try again",
                humantime::format_duration(wait)
            )),
        }
    }

    /// Why the latest read of the source failed; `None` once one succeeds. The key in use stays
    /// meanwhile, so only this shows that the source itself is broken.
    pub fn last_failure(&self) -> Option<String> {
        self.last_failure.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn swap(&self, reason: ReloadReason, read: Result<ApiKey, String>) -> ReloadOutcome {
        let source = self.source();
        let old = self.keys.snapshot();
        let old_fingerprint = old.as_ref().map_or("none", |k| k.key.fingerprint());
        let old_hint = old.as_ref().map_or("none", |k| k.key.hint());
        let repeated_failure = {
            let mut last = self.last_failure.lock().unwrap_or_else(PoisonError::into_inner);
            let failure = read.as_ref().err();
            // A re-read asked for by hand (SIGHUP) always says why it failed.
            let repeated = failure.is_some() && last.as_ref() == failure && reason != ReloadReason::Signal;
            last.clone_from(&failure.cloned());
            repeated
        };
        let keeps = if old.is_some() {
            "the proxy keeps using the current key"
        } else {
            "the proxy still has no key of its own"
        };
        match read {
            Err(error) if repeated_failure => {
                tracing::debug!(
                    key_source = %source, reason = reason.as_str(), key_hint = old_hint, error,
                    "key reload failed again, the same way; {keeps}"
                );
                ReloadOutcome::Failed
            }
            Err(error) => {
                tracing::error!(
                    key_source = %source, reason = reason.as_str(), key_fingerprint = old_fingerprint,
                    key_hint = old_hint, error,
                    "key reload failed; {keeps}"
                );
                ReloadOutcome::Failed
            }
            Ok(key)
                if old
                    .as_ref()
                    .is_some_and(|o| o.key.matches(key.header_value().as_bytes())) =>
            {
                tracing::debug!(
                    key_source = %source, reason = reason.as_str(), key_fingerprint = old_fingerprint,
                    "key reload: unchanged"
                );
                ReloadOutcome::Unchanged
            }
            Ok(key) => {
                tracing::info!(
                    key_source = %source, reason = reason.as_str(),
                    old_fingerprint, old_hint, new_fingerprint = key.fingerprint(), new_hint = key.hint(),
                    "key reloaded: {old_hint} ({old_fingerprint}) → {} ({})", key.hint(), key.fingerprint()
                );
                if let Some(why) = key.suspicion() {
                    tracing::warn!(key_source = %source, key_hint = key.hint(), "the new key looks wrong: {why}");
                }
                self.keys.replace(key);
                ReloadOutcome::Reloaded
            }
        }
    }
}

/// Reads given up on that may still be running before no new one starts: each holds a thread
/// of the blocking pool.
const MAX_READS_RUNNING: usize = 4;

/// Counts a read of the source as running until it returns, given up on or not.
struct ReadEnds(Arc<AtomicUsize>);

impl ReadEnds {
    fn start(running: Arc<AtomicUsize>) -> Self {
        running.fetch_add(1, Ordering::AcqRel);
        Self(running)
    }
}

impl Drop for ReadEnds {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}
