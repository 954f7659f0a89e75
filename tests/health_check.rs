//! `langsmith-proxy health`: ready, not ready (with the reason), nobody listening, a listener that
//! never answers, something else on the port; and the binary's exit codes (0 or 1, never
//! Docker's reserved 2).

mod support;

use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use langsmith_proxy::health_probe::{probe, HealthError};
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

const TIMEOUT: Duration = Duration::from_secs(5);

fn addr(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().expect("admin address")
}

#[tokio::test]
async fn ready_then_draining() {
    let upstream = FakeUpstream::requiring_key().await;
    let proxy = start_proxy(&upstream.url).await;
    let admin = addr(&start_admin(&proxy.app).await);
    assert_eq!(probe(admin, TIMEOUT).await.expect("ready"), "ready: key loaded");

    proxy.app.shared().begin_drain();
    let error = probe(admin, TIMEOUT).await.expect_err("draining");
    assert!(matches!(error, HealthError::NotReady { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("not ready: shutting down (http://{admin}/ready answered 503 Service Unavailable)")
    );
}

#[tokio::test]
async fn not_ready_without_a_key() {
    let upstream = FakeUpstream::requiring_key().await;
    // Without a key of its own, a keep-if-present proxy is ready unless it must have a valid one.
    let flags = [
        ("client_credentials", "keep-if-present"),
        ("ready_requires_valid_key", "true"),
        ("key.check", "true"),
    ];
    let proxy = start_proxy_with(&upstream.url, &flags, langsmith_proxy::env::Env::default()).await;
    let admin = addr(&start_admin(&proxy.app).await);
    let error = probe(admin, TIMEOUT).await.expect_err("no key");
    assert!(error.to_string().starts_with("not ready: no key loaded"), "{error}");
}

#[tokio::test]
async fn nobody_listening_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let free = listener.local_addr().expect("addr");
    drop(listener);
    let error = probe(free, TIMEOUT).await.expect_err("nobody there");
    assert!(matches!(error, HealthError::Unreachable { .. }), "{error:?}");
    assert!(error.to_string().contains("--admin-listen"), "{error}");
}

#[tokio::test]
async fn a_silent_listener_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let silent = listener.local_addr().expect("addr");
    // Accepts and holds the connection without answering.
    let holder = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        std::future::pending::<()>().await;
        drop(stream);
    });
    let error = probe(silent, Duration::from_millis(300)).await.expect_err("silent");
    assert!(matches!(error, HealthError::TimedOut { .. }), "{error:?}");
    assert!(error.to_string().contains("within 300ms"), "{error}");
    holder.abort();
}

#[tokio::test]
async fn another_program_on_the_port_is_not_healthy() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let other = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            .await;
    });
    let error = probe(other, TIMEOUT).await.expect_err("not the proxy");
    assert!(error.to_string().contains("another program holds this port"), "{error}");
}

fn health(args: &[&str], env: &[(&str, &str)]) -> Output {
    run_binary(&[&["health"], args].concat(), env)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_exits_0_when_ready_and_1_otherwise() {
    let upstream = FakeUpstream::requiring_key().await;
    let proxy = start_proxy(&upstream.url).await;
    let admin = addr(&start_admin(&proxy.app).await).to_string();

    let ready = tokio::task::spawn_blocking({
        let admin = admin.clone();
        move || health(&["--admin-listen", &admin], &[])
    })
    .await
    .expect("run");
    assert_eq!(ready.status.code(), Some(0), "{ready:?}");
    assert_eq!(String::from_utf8_lossy(&ready.stdout), "ready: key loaded\n");

    // Only the admin address is read: a source only the proxy needs (here a workspace id
    // command that fails) is not run by every container health check.
    let light = tokio::task::spawn_blocking({
        let admin = admin.clone();
        move || {
            health(
                &["--admin-listen", &admin],
                &[("LANGSMITH_PROXY_WORKSPACE_ID_SOURCE", "command:false")],
            )
        }
    })
    .await
    .expect("run");
    assert_eq!(light.status.code(), Some(0), "{light:?}");

    // The setting's variable works as for `serve`, so a container's environment applies to both.
    proxy.app.shared().begin_drain();
    let draining = tokio::task::spawn_blocking({
        let admin = admin.clone();
        move || health(&[], &[("LANGSMITH_PROXY_ADMIN_LISTEN", &admin)])
    })
    .await
    .expect("run");
    assert_eq!(draining.status.code(), Some(1), "{draining:?}");
    assert!(String::from_utf8_lossy(&draining.stderr).contains("not ready: shutting down"));

    // A configuration error too is 1: Docker reserves 2.
    let misconfigured = tokio::task::spawn_blocking(|| health(&["--admin-listen", "nowhere"], &[]))
        .await
        .expect("run");
    assert_eq!(misconfigured.status.code(), Some(1), "{misconfigured:?}");
    assert!(String::from_utf8_lossy(&misconfigured.stderr).contains("admin_listen"));
}

/// Docker reserves exit status 2, clap's status for a bad command line: `health` fails with 1.
#[test]
fn a_bad_health_command_line_exits_1_not_2() {
    for args in [&["--timeout", "soon"][..], &["--bogus"]] {
        let output = health(args, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("error:"), "{stderr}");
    }
    // Other commands keep clap's 2, even with `health` as an option's value.
    assert_eq!(run_binary(&["--bogus"], &[]).status.code(), Some(2));
    assert_eq!(
        run_binary(&["--config", "health", "--bogus"], &[]).status.code(),
        Some(2)
    );
}
