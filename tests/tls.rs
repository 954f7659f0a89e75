//! TLS to the upstream: a private CA via `upstream_ca_file`, HTTP/2 by ALPN, a clear error
//! without the CA, and the corporate `HTTPS_PROXY` / `NO_PROXY` settings.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http::Version;
use langsmith_proxy::env::Env;
use langsmith_proxy::App;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn env_with(pairs: &[(&str, &str)]) -> Env {
    let mut all = vec![("LANGSMITH_API_KEY", TEST_KEY)];
    all.extend_from_slice(pairs);
    Env::from_pairs(all)
}

#[tokio::test]
async fn private_ca_is_trusted_and_http2_negotiated() {
    let ca = TestCa::new();
    let upstream = FakeUpstream::start_tls(&ca, |_| Reply::ok()).await;
    let proxy = start_proxy_trusting(&ca, &upstream.url).await;
    for _ in 0..3 {
        let (response, body) = get(&proxy.url("/info")).await;
        assert_eq!(response.status(), 200, "{}", String::from_utf8_lossy(&body));
    }
    let seen = upstream.last();
    assert_eq!(seen.version, Version::HTTP_2, "ALPN should pick h2");
    assert_eq!(seen.header("x-api-key"), Some(TEST_KEY));
    assert_eq!(upstream.connections(), 1, "one multiplexed HTTP/2 connection");
}

/// Over HTTP/2 hyper reports a client body that broke off as a stream reset "sent by user":
/// it is still the client's fault, a 400, not an unreachable upstream.
#[tokio::test]
async fn a_broken_client_body_over_http2_is_the_clients_not_the_upstreams() {
    let ca = TestCa::new();
    let upstream = FakeUpstream::start_tls(&ca, |_| Reply::ok()).await;
    let proxy = start_proxy_trusting(&ca, &upstream.url).await;
    post_with_a_malformed_chunk(proxy.addr).await;
    let (response, _) = get(&proxy.url("/info")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        upstream.last().version,
        Version::HTTP_2,
        "the broken upload went over h2"
    );
}

#[tokio::test]
async fn unknown_issuer_is_a_502_that_names_the_fix() {
    let ca = TestCa::new();
    let upstream = FakeUpstream::start_tls(&ca, |_| Reply::ok()).await;
    let proxy = start_proxy(&upstream.url).await;
    let (response, body) = get(&proxy.url("/info")).await;
    assert_eq!(response.status(), 502);
    assert_eq!(
        response
            .headers()
            .get("x-langsmith-proxy-error")
            .and_then(|v| v.to_str().ok()),
        Some("upstream_tls_error")
    );
    let body = json(&body);
    let member = &body["langsmith_proxy"];
    assert_eq!(member["code"], "upstream_tls_error");
    let summary = member["summary"].as_str().unwrap_or("");
    assert!(summary.contains("UnknownIssuer"), "summary: {summary}");
    let fixes = member["fix"].to_string();
    assert!(fixes.contains("upstream_ca_file"), "fix: {fixes}");
    assert!(upstream.requests().is_empty());
}

/// A certificate out of its validity period points at the clock, whichever side it is on: a
/// machine whose clock runs behind sees certificates "not valid yet".
#[tokio::test]
async fn a_certificate_out_of_its_dates_points_at_the_clock() {
    let ca = TestCa::new();
    for (from, to, finding) in [(2000, 2001, "certificate expired"), (2090, 2091, "not valid yet")] {
        let upstream = FakeUpstream::start_tls_with(ca.server_config_valid(from, to), |_| Reply::ok()).await;
        let proxy = start_proxy_trusting(&ca, &upstream.url).await;
        let (response, body) = get(&proxy.url("/info")).await;
        assert_eq!(response.status(), 502);
        let member = &json(&body)["langsmith_proxy"];
        assert_eq!(member["code"], "upstream_tls_error");
        assert!(
            member["summary"].as_str().unwrap_or_default().contains(finding),
            "{member}"
        );
        let fix = member["fix"][0].as_str().unwrap_or_default();
        assert!(fix.contains("clock") && fix.contains("system time"), "{finding}: {fix}");
    }
}

/// A self-signed server certificate that is a CA itself (`openssl req -x509`'s default) is
/// refused even when trusted: the fix says to reissue it, not to trust a CA.
#[tokio::test]
async fn a_ca_certificate_serving_as_the_servers_own_is_named() {
    let (config, pem) = ca_as_server_certificate();
    let upstream = FakeUpstream::start_tls_with(config, |_| Reply::ok()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("server.pem");
    std::fs::write(&ca_file, pem).expect("pem");
    let flags = [("upstream_ca_file", ca_file.to_str().expect("utf-8 path"))];
    let proxy = start_proxy_with(&upstream.url, &flags, env_with(&[])).await;
    let (response, body) = get(&proxy.url("/info")).await;
    assert_eq!(response.status(), 502);
    let member = &json(&body)["langsmith_proxy"];
    assert_eq!(member["code"], "upstream_tls_error");
    assert!(member["fix"][0].as_str().expect("fix").contains("CA:FALSE"), "{member}");
}

/// `https://` written for a plain-HTTP install (a local or self-hosted LangSmith without TLS).
#[tokio::test]
async fn an_https_upstream_that_speaks_plain_http_is_named() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let https = upstream.url.replacen("http://", "https://", 1);
    let proxy = start_proxy(&https).await;
    let (response, body) = get(&proxy.url("/info")).await;
    assert_eq!(response.status(), 502);
    let member = &json(&body)["langsmith_proxy"];
    assert_eq!(member["code"], "upstream_tls_error");
    let summary = member["summary"].as_str().unwrap_or("");
    assert!(summary.contains("answered in plain HTTP"), "summary: {summary}");
    let fixes = member["fix"].to_string();
    assert!(fixes.contains("write the upstream as http://"), "fix: {fixes}");
}

#[tokio::test]
async fn ca_file_that_is_not_pem_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("not-a-ca.pem");
    std::fs::write(&path, "this is not a certificate\n").expect("write");
    let env = env_with_key();
    let config = load_config(&[("upstream_ca_file", path.to_str().expect("utf-8 path"))], &env).expect("config");
    let Err(error) = App::from_config(&config, &env) else {
        panic!("a CA file without certificates was accepted");
    };
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("PEM"), "{message}");
}

#[tokio::test]
async fn https_proxy_tunnels_to_the_upstream() {
    let ca = TestCa::new();
    let upstream = FakeUpstream::start_tls(&ca, |_| Reply::ok()).await;
    let connect_proxy = ConnectProxy::start().await;
    let ca_file = ca.pem_file();
    let proxy_url = format!("http://user:pass@{}", connect_proxy.addr);
    let proxy = start_proxy_with(
        &upstream.url,
        &[("upstream_ca_file", ca_file.to_str().expect("utf-8 path"))],
        env_with(&[("HTTPS_PROXY", proxy_url.as_str()), ("NO_PROXY", "example.com")]),
    )
    .await;
    let (response, _) = get(&proxy.url("/info")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.last().header("x-api-key"), Some(TEST_KEY));

    let heads = connect_proxy.heads();
    assert_eq!(heads.len(), 1, "one tunnel: {heads:?}");
    let host = upstream.url.trim_start_matches("https://");
    assert!(
        heads[0].starts_with(&format!("CONNECT {host} HTTP/1.1\r\n")),
        "{}",
        heads[0]
    );
    assert!(
        heads[0]
            .to_ascii_lowercase()
            .contains("proxy-authorization: basic dxnlcjpwyxnz"),
        "user:pass@ should become Proxy-Authorization: {}",
        heads[0]
    );
}

#[tokio::test]
async fn no_proxy_bypasses_https_proxy() {
    let ca = TestCa::new();
    let upstream = FakeUpstream::start_tls(&ca, |_| Reply::ok()).await;
    let connect_proxy = ConnectProxy::start().await;
    let ca_file = ca.pem_file();
    let proxy_url = format!("http://{}", connect_proxy.addr);
    let proxy = start_proxy_with(
        &upstream.url,
        &[("upstream_ca_file", ca_file.to_str().expect("utf-8 path"))],
        env_with(&[
            ("https_proxy", proxy_url.as_str()),
            ("no_proxy", "example.com,localhost"),
        ]),
    )
    .await;
    assert!(proxy.app.outbound_proxy().is_none());
    let (response, _) = get(&proxy.url("/info")).await;
    assert_eq!(response.status(), 200);
    assert!(connect_proxy.heads().is_empty(), "the proxy was used despite NO_PROXY");
}

/// When connections go through an outbound proxy, a failure names that proxy first (never its
/// credentials), rather than only the upstream it could not reach.
#[tokio::test]
async fn an_outbound_proxy_that_fails_is_named_in_the_fix() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = listener.local_addr().expect("addr");
    drop(listener);
    let proxy_url = format!("http://alice:s3cret@{dead}");
    let env = env_with(&[("HTTPS_PROXY", proxy_url.as_str())]);
    let proxy = start_proxy_with("https://langsmith.example.com/api/v1", &[], env).await;
    let (response, body) = get(&proxy.url("/info")).await;
    assert_eq!(response.status(), 502);
    let member = &json(&body)["langsmith_proxy"];
    let first = member["fix"][0].as_str().expect("fix");
    assert!(
        first.contains(&format!("outbound proxy {dead} (from HTTPS_PROXY)")),
        "{member}"
    );
    assert!(!body.iter().as_slice().windows(6).any(|w| w == b"s3cret"), "{member}");
}

/// `NO_PROXY=*` bypasses the proxy for every upstream, one given by IP address included.
#[test]
fn no_proxy_star_covers_ip_upstreams_too() {
    let env = env_with(&[("HTTPS_PROXY", "http://127.0.0.1:3128"), ("NO_PROXY", "*")]);
    let config = load_config(&[("upstream", "https://10.0.0.5/api/v1")], &env).expect("config");
    let app = App::from_config(&config, &env).expect("app");
    assert!(app.outbound_proxy().is_none());
}

/// Only http:// outbound proxies are supported; the error names the variable that set one.
#[test]
fn a_socks_proxy_is_refused_naming_its_variable() {
    for (var, value) in [
        ("ALL_PROXY", "socks5h://u:p@ss@127.0.0.1:1080"),
        ("https_proxy", "https://proxy.example:3128"),
    ] {
        let env = env_with(&[(var, value)]);
        let config = load_config(&[("upstream", "https://api.smith.langchain.com")], &env).expect("config");
        let error = match App::from_config(&config, &env) {
            Ok(_) => panic!("started with {var}={value}"),
            Err(error) => error.to_string(),
        };
        assert!(error.contains(&format!("the proxy in {var} ")), "{error}");
        assert!(error.contains("must be an http:// URL"), "{error}");
        assert!(!error.contains("ss@") && !error.contains("u:p"), "{error}");
    }
}

/// A minimal HTTP CONNECT proxy: records each request head, then tunnels bytes both ways.
struct ConnectProxy {
    addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let heads = Arc::new(Mutex::new(Vec::new()));
        let recorded = heads.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(tunnel(client, recorded.clone()));
            }
        });
        Self { addr, heads }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().expect("lock").clone()
    }
}

async fn tunnel(mut client: TcpStream, heads: Arc<Mutex<Vec<String>>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte so nothing after the head (the TLS hello) is consumed here.
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    heads.lock().expect("lock").push(head.clone());
    let target = head.split_whitespace().nth(1).unwrap_or("").to_owned();
    let Ok(mut upstream) = TcpStream::connect(target.as_str()).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await
        .is_ok()
    {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    }
}
