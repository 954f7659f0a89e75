//! DNS rebinding: a page on attacker.example whose name now resolves to 127.0.0.1 reaches the
//! proxy with `Host: attacker.example`. Only the proxy's own names may pass.

mod support;

use http::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::*;

fn get_with_host(host: &str) -> String {
    format!("GET /info HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

#[tokio::test]
async fn a_rebinding_host_is_refused_before_anything_is_forwarded() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let workspace = "11111111-2222-3333-4444-555555555555";
    let proxy = start_proxy_with(&upstream.url, &[("workspace_id", workspace)], env_with_key()).await;
    let host = format!("attacker.example:{}", proxy.addr.port());

    let response = raw_exchange(proxy.addr, get_with_host(&host).as_bytes()).await;

    assert!(
        response.starts_with("HTTP/1.1 403 Forbidden (langsmith-proxy: host_not_allowed"),
        "{response}"
    );
    let lower = response.to_ascii_lowercase();
    assert!(
        lower.contains("x-langsmith-proxy-error: host_not_allowed"),
        "{response}"
    );
    assert!(!lower.contains("access-control-allow-origin"), "{response}");
    assert!(response.contains("allowed_hosts"), "{response}");
    // The refused page learns nothing about the key or the workspace.
    for secret in [TEST_KEY, TEST_KEY_HINT, "LANGSMITH_API_KEY", workspace] {
        assert!(!response.contains(secret), "{secret} leaked: {response}");
    }
    // Withheld, not claimed absent: the proxy has a key.
    assert!(response.contains(r#""key":{"source":"withheld"}"#), "{response}");
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn loopback_names_on_any_port_and_configured_hosts_pass() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy_with(
        &upstream.url,
        &[("allowed_hosts", "proxy.lan, Other.Example")],
        env_with_key(),
    )
    .await;
    for host in [
        "localhost",
        "LocalHost:1",
        "127.0.0.1:8080",
        "[::1]:7878",
        "proxy.lan",
        "other.example:443",
    ] {
        let response = raw_exchange(proxy.addr, get_with_host(host).as_bytes()).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{host}: {response}");
    }
    assert_eq!(upstream.requests().len(), 6);
}

#[tokio::test]
async fn lookalike_and_missing_hosts_are_refused() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy(&upstream.url).await;
    for host in [
        "localhost.attacker.example",
        "127.0.0.1.nip.io",
        "user@localhost",
        "0x7f000001",
    ] {
        let response = raw_exchange(proxy.addr, get_with_host(host).as_bytes()).await;
        assert!(response.starts_with("HTTP/1.1 403"), "{host}: {response}");
        assert!(
            response
                .to_ascii_lowercase()
                .contains("x-langsmith-proxy-error: host_not_allowed"),
            "{host}: {response}"
        );
    }
    let response = raw_exchange(proxy.addr, b"GET /info HTTP/1.0\r\n\r\n").await;
    assert!(
        response.starts_with("HTTP/1.0 403") || response.starts_with("HTTP/1.1 403"),
        "{response}"
    );
    assert!(response.contains("no Host header"), "{response}");
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn a_second_host_header_is_refused_even_when_both_name_the_proxy() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy(&upstream.url).await;
    // An absolute target makes the Host header moot, but not two of them.
    for (target, second) in [
        ("/info", "attacker.example"),
        ("/info", "localhost"),
        ("http://localhost/info", "localhost"),
    ] {
        let request =
            format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nHost: {second}\r\nConnection: close\r\n\r\n");
        let response = raw_exchange(proxy.addr, request.as_bytes()).await;
        assert!(response.starts_with("HTTP/1.1 400"), "{second}: {response}");
        assert!(
            response
                .to_ascii_lowercase()
                .contains("x-langsmith-proxy-error: host_not_allowed"),
            "{response}"
        );
        assert!(response.contains("2 Host headers"), "{response}");
        assert!(!response.contains(TEST_KEY_HINT), "{response}");
    }
    assert!(upstream.requests().is_empty());
}

/// HTTP/2 carries the host in `:authority`; the same rule applies.
#[tokio::test]
async fn an_h2c_authority_for_another_host_is_refused() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy(&upstream.url).await;
    let stream = tokio::net::TcpStream::connect(proxy.addr).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .expect("h2 handshake");
    tokio::spawn(connection);

    let mut seen = Vec::new();
    // A Host header beside `:authority` must name the proxy too.
    for (uri, host) in [
        ("http://attacker.example/info", None),
        ("http://localhost/info", Some("attacker.example")),
        ("http://localhost/info", Some("localhost")),
        ("http://localhost/info", None),
    ] {
        let mut request = Request::get(uri);
        if let Some(host) = host {
            request = request.header("host", host);
        }
        let response = sender
            .send_request(request.body(empty()).expect("request"))
            .await
            .expect("response");
        let code = response.headers().get("x-langsmith-proxy-error").cloned();
        seen.push((response.status().as_u16(), code));
    }
    let refused = (403, Some(http::HeaderValue::from_static("host_not_allowed")));
    assert_eq!(seen, [refused.clone(), refused, (200, None), (200, None)]);
    assert_eq!(upstream.requests().len(), 2);
}
