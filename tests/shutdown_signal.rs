//! The binary under SIGTERM: systemd hears READY then STOPPING, a streaming request in flight
//! completes (and is logged) while new connections are refused, and the process exits 0. And
//! the binary with a log reader that stops reading: requests go on.

mod support;

use std::io::BufRead;
use std::process::{Command, Stdio};

use support::*;
use tokio::net::UnixDatagram;

/// Lines of the child's stderr, forwarded from a reader thread.
fn stderr_lines(stderr: std::process::ChildStderr) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// Kills the proxy if the test fails before it exits on its own.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
        }
    }
}

async fn wait_for_line(lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>, needle: &str) -> String {
    within_a_minute(async {
        while let Some(line) = lines.recv().await {
            if line.contains(needle) {
                return line;
            }
        }
        panic!("the proxy exited before logging `{needle}`");
    })
    .await
}

/// Generous: a stuck proxy fails the test instead of hanging the suite.
async fn within_a_minute<T>(waiting: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(60), waiting)
        .await
        .expect("the proxy did not get there within a minute")
}

/// The proxy on free loopback ports in front of `upstream`, with the test key, the key check
/// off, `log_format`, and stderr piped; not on the terminal's stdin (in a terminal, SIGHUP
/// would stop the proxy rather than reload).
fn proxy_command(dir: &std::path::Path, upstream: &str, log_format: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_langsmith-proxy"));
    command
        .stdin(Stdio::null())
        .env_clear()
        .env("LANGSMITH_API_KEY", TEST_KEY)
        .env("LANGSMITH_PROXY_KEY__CHECK", "false")
        .current_dir(dir)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .args(["--upstream", upstream, "--log-format", log_format])
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    command
}

#[tokio::test]
async fn sigterm_drains_a_streaming_request_and_exits_zero() {
    let (upstream_url, chunks_tx) = streaming_upstream().await;

    let dir = tempfile::tempdir().expect("tempdir");
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).expect("notify socket");
    let mut child = proxy_command(dir.path(), &upstream_url, "json")
        .env("NOTIFY_SOCKET", &notify_path)
        .args(["--key-env", "LANGSMITH_API_KEY"])
        .spawn()
        .expect("start the proxy");
    let mut lines = stderr_lines(child.stderr.take().expect("stderr"));
    let pid = child.id();
    let mut guard = KillOnDrop(Some(child));
    let banner = wait_for_line(&mut lines, "langsmith-proxy ready").await;
    assert!(!banner.contains(TEST_KEY));
    let banner: serde_json::Value = serde_json::from_str(&banner).expect("json banner");
    let addr: std::net::SocketAddr = banner["listen"].as_str().expect("listen").parse().expect("addr");
    // The banner tells the user what to export and which key and upstream are in use.
    let message = banner["message"].as_str().expect("message");
    assert!(
        message.contains(&format!(
            "export LANGSMITH_ENDPOINT=http://{addr} LANGSMITH_API_KEY=proxy-managed"
        )),
        "{message}"
    );
    assert_eq!(banner["upstream"], upstream_url.as_str());
    assert_eq!(banner["key_source"], "env:LANGSMITH_API_KEY");
    assert_eq!(banner["key_hint"], TEST_KEY_HINT);
    assert_eq!(banner["key_kind"], "personal_access_token");
    let mut datagram = [0u8; 256];
    let n = within_a_minute(notify.recv(&mut datagram)).await.expect("READY");
    assert_eq!(datagram[..n].trim_ascii(), b"READY=1");

    let body = open_stream(addr, &chunks_tx).await;

    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let n = within_a_minute(notify.recv(&mut datagram)).await.expect("STOPPING");
    assert_eq!(datagram[..n].trim_ascii(), b"STOPPING=1");
    wait_for_line(&mut lines, "draining connections").await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "new connections are refused while draining"
    );

    finish_stream(chunks_tx, body).await;
    // The binary's access line (a formatter of its own): flat JSON like every other line.
    let access = wait_for_line(&mut lines, "\"target\":\"access\"").await;
    assert!(!access.contains(TEST_KEY), "{access}");
    let access: serde_json::Value = serde_json::from_str(&access).expect("json access line");
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["method"], "GET");
    assert_eq!(access["path"], "/runs/stream");
    assert_eq!(access["status"], 200);
    assert_eq!(access["bytes_out"], "one;two".len());
    assert_eq!(access["completed"], true);
    assert_eq!(access["key_source"], "env:LANGSMITH_API_KEY");
    assert!(access["client"].as_str().is_some_and(|c| c.starts_with("127.0.0.1:")));
    humantime::parse_rfc3339(access["timestamp"].as_str().expect("timestamp")).expect("RFC 3339");
    let mut child = guard.0.take().expect("child");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
}

/// A log reader that stops reading (a full pipe, a stuck logging driver) must not stop traffic,
/// nor keep the process from exiting: the proxy drops log lines rather than wait for them.
/// Far more access lines than a pipe holds.
#[tokio::test]
async fn a_log_reader_that_stops_reading_does_not_stop_requests() {
    use tokio::io::AsyncBufReadExt;
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = tokio::process::Command::from(proxy_command(dir.path(), &upstream.url, "json"))
        .kill_on_drop(true)
        .spawn()
        .expect("start the proxy");
    // Read up to the banner, then never again; the pipe stays open (dropping it would make
    // writes fail at once instead of block).
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut banner = String::new();
    while !banner.contains("langsmith-proxy ready") {
        banner.clear();
        let read = within_a_minute(stderr.read_line(&mut banner)).await;
        assert!(read.expect("stderr") > 0, "the proxy exited");
    }
    let banner: serde_json::Value = serde_json::from_str(&banner).expect("json banner");
    let addr = banner["listen"].as_str().expect("listen").to_owned();

    let requests = async {
        for _ in 0..3_000 {
            let (response, _) = get(&format!("http://{addr}/info")).await;
            assert_eq!(response.status(), 200);
        }
    };
    within_a_minute(requests).await;
    assert_eq!(upstream.requests().len(), 3_000);

    let pid = child.id().expect("running").to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    assert!(killed.success());
    let exited = within_a_minute(child.wait()).await.expect("wait");
    assert!(exited.success(), "{exited}");
    drop(stderr);
}

/// SIGHUP reads the key source again (a command's new output here, which no file watch would
/// see) instead of stopping the proxy.
#[tokio::test]
async fn sighup_rereads_the_key_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("current-key");
    std::fs::write(&key_file, numbered_key(1)).expect("key");
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let mut child = proxy_command(dir.path(), &upstream.url, "json")
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(
            "LANGSMITH_PROXY_KEY__SOURCE",
            format!("command:cat {}", key_file.display()),
        )
        .spawn()
        .expect("start the proxy");
    let mut lines = stderr_lines(child.stderr.take().expect("stderr"));
    let pid = child.id().to_string();
    let _guard = KillOnDrop(Some(child));
    let banner = wait_for_line(&mut lines, "langsmith-proxy ready").await;
    let banner: serde_json::Value = serde_json::from_str(&banner).expect("json banner");
    let addr = banner["listen"].as_str().expect("listen").to_owned();
    assert!(banner["admin"].as_str().is_some_and(|a| !a.ends_with(":0")), "{banner}");

    std::fs::write(&key_file, numbered_key(2)).expect("new key");
    let hangup = Command::new("kill").args(["-HUP", &pid]).status().expect("kill");
    assert!(hangup.success());
    let reloaded = wait_for_line(&mut lines, "key reloaded").await;
    assert!(reloaded.contains("sighup"), "{reloaded}");
    let reread = wait_for_line(&mut lines, "SIGHUP: the key source was read again").await;
    assert!(
        reread.contains(r#""outcome":"reloaded""#),
        "the metric's spelling: {reread}"
    );
    let (response, _) = get(&format!("http://{addr}/info")).await;
    assert_eq!(response.status(), 200, "still serving after SIGHUP");
    assert_eq!(upstream.keys_seen(), [numbered_key(2)]);
}

/// `--log-format pretty` into a pipe (a file, the journal): plain text, no colour codes.
#[tokio::test]
async fn pretty_logs_off_a_terminal_have_no_colour_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let child = proxy_command(dir.path(), "http://127.0.0.1:9", "pretty")
        .spawn()
        .expect("start the proxy");
    let mut guard = KillOnDrop(Some(child));
    let stderr = guard.0.as_mut().and_then(|child| child.stderr.take()).expect("stderr");
    let mut lines = stderr_lines(stderr);
    let banner = wait_for_line(&mut lines, "langsmith-proxy ready").await;
    assert!(banner.contains(" INFO "), "{banner}");
    assert!(!banner.contains('\u{1b}'), "colour codes in: {banner:?}");
}
