//! Zero-downtime key rotation: a Kubernetes-style secret mount swapped under load, and the
//! re-read and retry after LangSmith rejects a key that has been replaced at its source.
#![cfg(unix)]

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use langsmith_proxy::env::Env;
use langsmith_proxy::secret::{ReloadCounts, ReloadReason};
use support::*;
use tempfile::TempDir;

/// A secret volume written the way the kubelet does it: each version in a new timestamped
/// directory, a `..data_tmp` symlink to it renamed over `..data`, the old directory removed,
/// and `key` a symlink to `..data/key` that itself never changes.
struct KubernetesSecret {
    dir: TempDir,
    version: usize,
    current: Option<PathBuf>,
}

impl KubernetesSecret {
    fn new(first: &str) -> Self {
        let mut secret = Self {
            dir: tempfile::tempdir().expect("tempdir"),
            version: 0,
            current: None,
        };
        secret.write(first);
        std::os::unix::fs::symlink("..data/key", secret.key_path()).expect("key symlink");
        secret
    }

    fn key_path(&self) -> PathBuf {
        self.dir.path().join("key")
    }

    fn write(&mut self, key: &str) {
        self.version += 1;
        let name = format!("..2025_06_01_12_00_00.{:09}", self.version);
        let version_dir = self.dir.path().join(&name);
        std::fs::create_dir(&version_dir).expect("version dir");
        std::fs::write(version_dir.join("key"), format!("{key}\n")).expect("write key");
        let tmp = self.dir.path().join("..data_tmp");
        std::os::unix::fs::symlink(&name, &tmp).expect("..data_tmp");
        std::fs::rename(&tmp, self.dir.path().join("..data")).expect("rename over ..data");
        if let Some(old) = self.current.replace(version_dir) {
            std::fs::remove_dir_all(old).expect("remove old version");
        }
    }
}

fn counts(proxy: &ProxyHandle) -> ReloadCounts {
    proxy.app.shared().key_reloads.snapshot()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_secret_swapped_under_load_fails_no_request() {
    const SWAPS: usize = 200;
    const WORKERS: usize = 4;
    const REQUESTS_PER_SWAP: usize = 5;

    let mut secret = KubernetesSecret::new(&numbered_key(0));
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let source = format!("file:{}", secret.key_path().display());
    let proxy = start_proxy_with(&upstream.url, &[("key.source", &source)], Env::default()).await;

    let (progress, mut completed) = tokio::sync::watch::channel(0usize);
    let progress = Arc::new(progress);
    let stop = Arc::new(AtomicBool::new(false));
    let url = proxy.url("/info");
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (progress, stop, url) = (progress.clone(), stop.clone(), url.clone());
            tokio::spawn(async move {
                let client = http_client(false);
                let mut failures = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let request = Request::get(&url).body(empty()).expect("request");
                    match client.request(request).await {
                        Ok(response) if response.status() == 200 => {}
                        Ok(response) => failures.push(format!("status {}", response.status())),
                        Err(error) => failures.push(error.to_string()),
                    }
                    progress.send_modify(|n| *n += 1);
                }
                failures
            })
        })
        .collect();

    let rotation = async {
        for n in 1..=SWAPS {
            secret.write(&numbered_key(n));
            // A steady stream between swaps: wait for requests, not for time.
            let target = *completed.borrow() + REQUESTS_PER_SWAP;
            completed.wait_for(|done| *done >= target).await.expect("workers alive");
        }
        // The watch follows the last swap too.
        while upstream.keys_seen().last().map(String::as_str) != Some(numbered_key(SWAPS).as_str()) {
            let target = *completed.borrow() + 1;
            completed.wait_for(|done| *done >= target).await.expect("workers alive");
        }
    };
    tokio::time::timeout(Duration::from_secs(60), rotation)
        .await
        .expect("the proxy picked up the last key within 60 s");
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for worker in workers {
        failures.extend(worker.await.expect("worker"));
    }

    assert!(failures.is_empty(), "failed requests: {failures:?}");
    let issued: HashSet<String> = (0..=SWAPS).map(numbered_key).collect();
    let seen = upstream.keys_seen();
    assert!(seen.len() >= SWAPS * REQUESTS_PER_SWAP, "{} requests", seen.len());
    for sent in &seen {
        assert!(
            issued.contains(sent),
            "the upstream got {sent:?}, not one of the issued keys"
        );
    }
    // How many of the versions requests saw depends on scheduling; each one they saw was
    // loaded by a reload (the first at start).
    let distinct: HashSet<&String> = seen.iter().collect();
    let counts = counts(&proxy);
    assert!(distinct.len() >= 2, "{counts:?}");
    assert!(counts.reloaded >= distinct.len() as u64 - 1, "{counts:?}");
    proxy.stop().await;
}

/// A proxy whose key comes from `key` in a fresh directory, holding `numbered_key(0)`, in
/// front of an upstream that accepts any key.
async fn start_with_key_file() -> (TempDir, PathBuf, FakeUpstream, ProxyHandle) {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_path = dir.path().join("key");
    std::fs::write(&key_path, numbered_key(0)).expect("key");
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let source = format!("file:{}", key_path.display());
    let proxy = start_proxy_with(&upstream.url, &[("key.source", &source)], Env::default()).await;
    (dir, key_path, upstream, proxy)
}

/// Sends requests until the upstream gets `key`: the watch has picked it up.
async fn until_sent(upstream: &FakeUpstream, proxy: &ProxyHandle, key: &str) {
    let sending = async {
        while upstream.keys_seen().last().map(String::as_str) != Some(key) {
            get(&proxy.url("/info")).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), sending)
        .await
        .expect("the new key was picked up");
}

/// A file written beside the key (the proxy's own log under `nohup`, say) is not the key: each
/// write used to re-read the key, and a failing re-read's log line then caused the next one.
#[tokio::test]
async fn writes_beside_the_key_file_do_not_reread_it() {
    let (dir, key_path, upstream, proxy) = start_with_key_file().await;
    let log = dir.path().join("proxy.log");
    for n in 0..20 {
        std::fs::write(&log, format!("line {n}\n")).expect("log");
        // A request between writes gives the watch time to act on each.
        let (response, _) = get(&proxy.url("/info")).await;
        assert_eq!(response.status(), 200);
    }
    std::fs::write(&key_path, numbered_key(1)).expect("new key");
    until_sent(&upstream, &proxy, &numbered_key(1)).await;
    let counts = counts(&proxy);
    assert_eq!(counts.reloaded, 1, "{counts:?}");
    // At most the one read as the watch began.
    assert!(counts.unchanged <= 1, "{counts:?}");
    proxy.stop().await;
}

/// A key file rewritten in place, in pieces, is read once its writer closes it: never half
/// written (a truncated key sent upstream fails every request), never empty. The watcher reports
/// closes on Linux; elsewhere a write is all it sees.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_key_file_written_in_pieces_is_read_when_complete() {
    use std::io::Write;

    let (_dir, key_path, upstream, proxy) = start_with_key_file().await;
    // The watch reads once as it begins; that read must not meet the half-written key.
    let watching = async {
        while counts(&proxy).unchanged == 0 {
            get(&proxy.url("/info")).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), watching)
        .await
        .expect("the watch began");
    let new_key = numbered_key(1);
    let (first, rest) = new_key.split_at(20);
    let mut writer = std::fs::File::create(&key_path).expect("truncated");
    for piece in [first, rest] {
        writer.write_all(piece.as_bytes()).expect("piece");
        writer.flush().expect("flushed");
        for _ in 0..5 {
            let (response, _) = get(&proxy.url("/info")).await;
            assert_eq!(response.status(), 200);
        }
    }
    drop(writer);
    until_sent(&upstream, &proxy, &new_key).await;
    for sent in upstream.keys_seen() {
        assert!(sent == numbered_key(0) || sent == new_key, "sent {sent:?}");
    }
    let counts = counts(&proxy);
    assert_eq!((counts.reloaded, counts.failed), (1, 0), "{counts:?}");
    proxy.stop().await;
}

/// A `command:` source printing what `file` holds, so a test can change the key at its source
/// without the file watch (which only `file:` sources have) noticing.
struct CommandKey {
    dir: TempDir,
}

impl CommandKey {
    fn new(first: &str) -> Self {
        let source = Self {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        source.set(first);
        source
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("current")
    }

    fn set(&self, key: &str) {
        std::fs::write(self.path(), key).expect("write key");
    }

    fn spec(&self) -> String {
        format!("command:cat '{}'", self.path().display())
    }
}

/// An upstream that takes only `valid` and answers 401 otherwise, like LangSmith.
async fn accepting(valid: String) -> FakeUpstream {
    FakeUpstream::start(move |req| {
        if req.header("x-api-key") == Some(valid.as_str()) {
            Reply::ok()
        } else {
            Reply::json(401, r#"{"detail":"Invalid token"}"#)
        }
    })
    .await
}

async fn start_with_command(upstream: &FakeUpstream, source: &CommandKey) -> ProxyHandle {
    let spec = source.spec();
    start_proxy_with(
        &upstream.url,
        &[("key.source", &spec), ("key.refresh", "1h")],
        Env::default(),
    )
    .await
}

/// The proxy started with `old` from a command; then LangSmith accepts only `new`, which the
/// command prints from now on (as after a rotation the proxy has not noticed yet).
struct RotatedAtSource {
    old: String,
    new: String,
    upstream: FakeUpstream,
    proxy: ProxyHandle,
    _source: CommandKey,
}

impl RotatedAtSource {
    async fn start() -> Self {
        let (old, new) = (numbered_key(1), numbered_key(2));
        let source = CommandKey::new(&old);
        let upstream = accepting(new.clone()).await;
        let proxy = start_with_command(&upstream, &source).await;
        source.set(&new);
        Self {
            old,
            new,
            upstream,
            proxy,
            _source: source,
        }
    }
}

#[tokio::test]
async fn a_401_rereads_the_source_and_retries_a_get_with_the_new_key() {
    let t = RotatedAtSource::start().await;

    let (response, body) = get(&t.proxy.url("/sessions?limit=1")).await;
    assert_eq!(response.status(), 200, "{}", String::from_utf8_lossy(&body));
    assert!(response.headers().get("x-langsmith-proxy-diagnosis").is_none());
    assert_eq!(t.upstream.keys_seen(), [t.old, t.new.clone()]);
    let retried = t.upstream.last();
    assert_eq!(retried.method, "GET");
    assert_eq!(retried.target, "/sessions?limit=1");
    assert_eq!(
        counts(&t.proxy),
        ReloadCounts {
            reloaded: 1,
            ..ReloadCounts::default()
        }
    );
    assert_eq!(
        t.proxy.app.keys().snapshot().map(|k| k.key.fingerprint().to_owned()),
        langsmith_proxy::secret::ApiKey::parse(&t.new)
            .ok()
            .map(|k| k.fingerprint().to_owned())
    );
    t.proxy.stop().await;
}

#[tokio::test]
async fn a_post_with_a_body_is_not_retried_but_the_next_request_has_the_new_key() {
    let t = RotatedAtSource::start().await;

    let request = Request::post(t.proxy.url("/runs"))
        .header("content-type", "application/json")
        .body(full(r#"{"name":"run"}"#))
        .expect("request");
    let (response, body) = send(request).await;
    assert_eq!(response.status(), 401);
    // Explained as the rotation it is, not as a key that was never accepted.
    assert_eq!(
        response
            .headers()
            .get("x-langsmith-proxy-diagnosis")
            .map(|v| v.as_bytes()),
        Some(&b"key_revoked"[..])
    );
    let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let summary = json["langsmith_proxy"]["summary"].as_str().expect("summary");
    let new_hint = format!("{}…{}", &t.new[..8], &t.new[t.new.len() - 4..]);
    assert!(summary.contains(&new_hint) && summary.contains("rotation"), "{summary}");
    assert!(
        json["langsmith_proxy"]["fix"][0]
            .as_str()
            .unwrap_or("")
            .contains("Send the request again"),
        "{json}"
    );
    assert_eq!(t.upstream.keys_seen(), [t.old.as_str()], "the POST went upstream once");
    assert_eq!(counts(&t.proxy).reloaded, 1, "the source was re-read all the same");

    let (response, _) = get(&t.proxy.url("/sessions")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(t.upstream.keys_seen(), [t.old, t.new]);
    t.proxy.stop().await;
}

#[tokio::test]
async fn rereads_after_a_401_are_rate_limited() {
    let source = CommandKey::new(&numbered_key(1));
    let upstream = accepting(numbered_key(9)).await;
    let proxy = start_with_command(&upstream, &source).await;

    let (response, _) = get(&proxy.url("/sessions")).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        counts(&proxy),
        ReloadCounts {
            unchanged: 1,
            ..ReloadCounts::default()
        }
    );
    // Changed at the source, but within the rate limit: no second read, no retry.
    source.set(&numbered_key(9));
    let (response, _) = get(&proxy.url("/sessions")).await;
    assert_eq!(response.status(), 401);
    assert_eq!(counts(&proxy).unchanged + counts(&proxy).reloaded, 1);
    assert_eq!(upstream.requests().len(), 2);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_rejected_together_share_one_reread_and_are_all_retried() {
    const TOGETHER: usize = 8;
    let (old, new) = (numbered_key(1), numbered_key(2));
    let source = CommandKey::new(&old);
    // The old key's 401s are held until all of them have arrived: the requests are rejected
    // together, not one after another.
    let gate = Arc::new(tokio::sync::Barrier::new(TOGETHER));
    let accepted = new.clone();
    let upstream = FakeUpstream::start(move |req| {
        if req.header("x-api-key") == Some(accepted.as_str()) {
            Reply::ok()
        } else {
            Reply::json(401, r#"{"detail":"Invalid token"}"#).gated(gate.clone())
        }
    })
    .await;
    let proxy = start_with_command(&upstream, &source).await;
    source.set(&new);

    let url = proxy.url("/sessions");
    let requests = futures_util::future::join_all((0..TOGETHER).map(|_| get(&url)));
    let answers = tokio::time::timeout(Duration::from_secs(30), requests)
        .await
        .expect("the rejected requests were in flight together");
    for (response, _) in answers {
        assert_eq!(response.status(), 200);
    }
    assert_eq!(
        counts(&proxy),
        ReloadCounts {
            reloaded: 1,
            ..ReloadCounts::default()
        }
    );
    let seen = upstream.keys_seen();
    assert_eq!(seen.iter().filter(|k| **k == old).count(), TOGETHER, "{seen:?}");
    assert_eq!(seen.iter().filter(|k| **k == new).count(), TOGETHER, "{seen:?}");
    proxy.stop().await;
}

/// A key file that stops answering (here a FIFO nobody writes to, as a file on a dead network
/// mount): a request rejected with 401 gets its answer after `key.command_timeout`, not never;
/// and once the file is fixed, the next read finds it instead of queueing behind the stuck one.
#[test]
fn a_hanging_key_file_does_not_hold_rejected_requests_or_later_reads() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(a_hanging_key_file_scenario());
    }));
    // A read can still be blocked opening the FIFO after the test, as on a dead mount; dropping
    // the runtime would wait for it forever (and a late one can find the FIFO gone with its
    // directory, so no writer ever comes). Leave such threads behind.
    runtime.shutdown_background();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn a_hanging_key_file_scenario() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("key");
    std::fs::write(&path, format!("{TEST_KEY}\n")).expect("write key");
    let upstream = accepting(numbered_key(9)).await;
    let spec = format!("file:{}", path.display());
    let flags = [
        ("key.source", spec.as_str()),
        ("key.refresh", "1h"),
        ("key.command_timeout", "200ms"),
    ];
    let proxy = start_proxy_with(&upstream.url, &flags, Env::default()).await;

    std::fs::remove_file(&path).expect("remove key");
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo failed");
    let answered = tokio::time::timeout(Duration::from_secs(30), get(&proxy.url("/sessions"))).await;
    let (response, _) = answered.expect("a rejected request waited for a hanging key file");
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["x-langsmith-proxy-diagnosis"], "key_rejected");

    // The key file is fixed, the FIFO kept aside so its blocked reads can be let go later.
    let fifo = dir.path().join("stuck.fifo");
    std::fs::rename(&path, &fifo).expect("move the FIFO aside");
    let fixed = dir.path().join("key.new");
    std::fs::write(&fixed, format!("{}\n", numbered_key(9))).expect("write key");
    std::fs::rename(&fixed, &path).expect("put the new key in place");
    let reloader = proxy.app.shared().key_reloader.clone();
    tokio::time::timeout(Duration::from_secs(30), reloader.reload(ReloadReason::Signal))
        .await
        .expect("a SIGHUP read waited behind the read stuck on the FIFO");
    let (response, _) = get(&proxy.url("/sessions")).await;
    assert_eq!(response.status(), 200, "the fixed key file was not read");

    // Let the reads still blocked on the FIFO finish (each open pairs with one writer), so the
    // proxy's own shutdown is not slowed by them; a writer left waiting after the last read is a
    // parked thread.
    std::thread::spawn(move || loop {
        let Ok(mut writer) = std::fs::OpenOptions::new().write(true).open(&fifo) else {
            return;
        };
        let _ = std::io::Write::write_all(&mut writer, TEST_KEY.as_bytes());
    });
    proxy.stop().await;
}

/// A key named through `..data` itself (`--key-file /etc/secret/..data/key`) follows every
/// swap, not only the first: the watch is on the mount, not on the version `..data` named.
#[tokio::test]
async fn a_key_path_through_the_data_link_follows_every_swap() {
    let mut secret = KubernetesSecret::new(&numbered_key(1));
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let source = format!("file:{}", secret.dir.path().join("..data").join("key").display());
    let proxy = start_proxy_with(&upstream.url, &[("key.source", &source)], Env::default()).await;
    for n in 2..=4 {
        secret.write(&numbered_key(n));
        until_sent(&upstream, &proxy, &numbered_key(n)).await;
    }
    proxy.stop().await;
}

/// Keeps the helper honest: the kubelet layout resolves through both symlinks.
#[test]
fn kubernetes_layout_resolves_to_the_latest_key() {
    let mut secret = KubernetesSecret::new(&numbered_key(1));
    secret.write(&numbered_key(2));
    let read = std::fs::read_to_string(secret.key_path()).expect("read");
    assert_eq!(read.trim(), numbered_key(2));
    assert!(Path::new(&secret.key_path()).is_symlink());
    assert_eq!(
        std::fs::read_dir(secret.dir.path()).expect("dir").count(),
        3,
        "key, ..data and one version"
    );
}
