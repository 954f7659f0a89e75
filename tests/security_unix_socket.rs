//! `listen = "unix:/path"`: a socket only its owner can use (0600 unless configured), a stale
//! socket file replaced, a live one left alone.
#![cfg(unix)]

mod support;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use http::Request;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use langsmith_proxy::listener::BindError;
use langsmith_proxy::{serve, App, Listener};
use support::*;
use tokio::net::UnixStream;
use tokio::sync::oneshot;

struct UnixProxy {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn bind(path: &Path, upstream: &str, mode: Option<&str>) -> Result<(Listener, App), BindError> {
    let listen = format!("unix:{}", path.display());
    let mut flags = vec![
        ("listen", listen.as_str()),
        ("upstream", upstream),
        ("workers", "2"),
        // Its requests would share the upstream with the ones counted here.
        ("key.check", "false"),
    ];
    flags.extend(mode.map(|mode| ("unix_socket_mode", mode)));
    let env = env_with_key();
    let config = load_config(&flags, &env).expect("config");
    let app = App::from_config(&config, &env).expect("app");
    let listener = Listener::bind(&config.listen, config.security.unix_socket_mode).await?;
    Ok((listener, app))
}

fn start(listener: Listener, app: App) -> UnixProxy {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, app, async {
        let _ = stopped.await;
    }));
    UnixProxy { stop, task }
}

impl UnixProxy {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("serve task").expect("serve result");
    }
}

/// One HTTP/1.1 request over the socket, as an SDK's unix-socket transport would send it.
async fn get_over(path: &Path, target: &str) -> (http::StatusCode, bytes::Bytes) {
    let stream = UnixStream::connect(path).await.expect("connect to the socket");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let request = Request::get(target)
        .header("host", "localhost")
        .body(empty())
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    let status = response.status();
    (status, response.into_body().collect().await.expect("body").to_bytes())
}

fn mode_of(path: &Path) -> u32 {
    let meta = std::fs::symlink_metadata(path).expect("socket file");
    assert!(meta.file_type().is_socket());
    meta.permissions().mode() & 0o777
}

#[tokio::test]
async fn serves_on_a_socket_only_its_owner_can_use() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("proxy.sock");
    let (listener, app) = bind(&path, &upstream.url, None).await.expect("bind");
    assert_eq!(mode_of(&path), 0o600);
    let proxy = start(listener, app);

    // Two connections: the second is handed to the second worker's thread, which has its own
    // upstream pool.
    for _ in 0..2 {
        let (status, _) = get_over(&path, "/info").await;
        assert_eq!(status, 200);
    }
    assert_eq!(upstream.connections(), 2, "one upstream connection per worker");
    let seen = upstream.last();
    assert_eq!(seen.header("x-api-key"), Some(TEST_KEY));
    assert!(
        seen.headers.get("x-forwarded-for").is_none(),
        "a unix peer has no address to forward"
    );
    // The staging directory is gone: only the socket is left next to it.
    let entries: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert_eq!(entries.len(), 1);

    proxy.stop().await;
    assert!(!path.exists(), "the socket file outlived the proxy");
}

#[tokio::test]
async fn the_mode_is_configurable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("group.sock");
    let (_listener, _app) = bind(&path, "http://127.0.0.1:9", Some("0660")).await.expect("bind");
    assert_eq!(mode_of(&path), 0o660);
}

#[tokio::test]
async fn a_stale_socket_is_replaced() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("proxy.sock");
    // A crashed proxy leaves its socket file behind with nobody accepting on it.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind stale"));
    assert!(path.exists());

    let (listener, app) = bind(&path, &upstream.url, None)
        .await
        .expect("a stale socket is replaced");
    let proxy = start(listener, app);
    let (status, _) = get_over(&path, "/info").await;
    assert_eq!(status, 200);
    proxy.stop().await;
}

#[tokio::test]
async fn a_live_socket_and_other_files_are_left_alone() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("proxy.sock");
    let (listener, app) = bind(&path, &upstream.url, None).await.expect("bind");
    let proxy = start(listener, app);

    let error = bind(&path, &upstream.url, None)
        .await
        .err()
        .expect("a live socket must not be taken over");
    assert!(matches!(error, BindError::SocketInUse { .. }), "{error}");
    assert!(error.to_string().contains("choose another path"), "{error}");
    let (status, _) = get_over(&path, "/info").await;
    assert_eq!(status, 200, "the running proxy lost its socket");
    proxy.stop().await;

    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "keep me").expect("write");
    let error = bind(&file, &upstream.url, None)
        .await
        .err()
        .expect("a regular file must not be replaced");
    assert!(matches!(error, BindError::NotASocket { .. }), "{error}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "keep me");
}

/// A socket path at the length limit clients can connect to binds and serves (the private
/// directory it is first made in must not push it past the limit); one byte longer is refused
/// when the configuration is read, naming the limit, instead of binding a socket nobody can
/// reach. (Linux's limit; macOS's is 103.)
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_socket_path_at_the_length_limit_works_and_a_longer_one_is_refused() {
    const LIMIT: usize = 107;
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let name = "proxy.sock";
    let fill = LIMIT - dir.path().as_os_str().len() - 2 - name.len();
    let deep = dir.path().join("d".repeat(fill));
    std::fs::create_dir(&deep).expect("deep dir");
    let path = deep.join(name);
    assert_eq!(path.as_os_str().len(), LIMIT);
    let (listener, app) = bind(&path, &upstream.url, None).await.expect("bind at the limit");
    let proxy = start(listener, app);
    let (status, _) = get_over(&path, "/info").await;
    assert_eq!(status, 200);
    proxy.stop().await;

    let longer = format!("unix:{}x", path.display());
    let error = load_config(&[("listen", longer.as_str())], &env_with_key())
        .expect_err("a path clients cannot connect to")
        .to_string();
    assert!(error.contains("108 bytes") && error.contains("at most 107"), "{error}");
}

/// A socket directory that is missing or not writable names the fix.
#[tokio::test]
async fn an_unusable_socket_directory_names_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let error = bind(&dir.path().join("missing/proxy.sock"), "http://127.0.0.1:9", None)
        .await
        .err()
        .expect("no such directory")
        .to_string();
    assert!(
        error.contains("does not exist") && error.contains("mkdir -p"),
        "{error}"
    );
}
