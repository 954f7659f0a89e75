//! Loop detection: when `upstream` leads back to a langsmith-proxy (itself, or another that
//! forwards back), the request is stopped with 508 `proxy_loop` at once instead of circling.

mod support;

use std::time::Duration;

use support::*;
use tokio::net::TcpListener;

/// Generous: a detected loop answers in milliseconds; an undetected one never answers.
const BOUND: Duration = Duration::from_secs(10);

async fn proxy_in_front_of(listener: TcpListener, upstream: &str) -> ProxyHandle {
    let env = env_with_key();
    // No key check: its own request would circle too, beside the ones the tests count.
    let flags = [("upstream", upstream), ("key.check", "false"), ("workers", "2")];
    let config = load_config(&flags, &env).expect("config");
    start_app_on(listener, langsmith_proxy::App::from_config(&config, &env).expect("app"))
}

fn assert_loop(response: &http::Response<()>, body: &bytes::Bytes) {
    assert_eq!(response.status(), 508);
    assert_eq!(response.headers()["x-langsmith-proxy-error"], "proxy_loop");
    let text = String::from_utf8_lossy(body);
    assert!(
        text.contains("LANGSMITH_ENDPOINT") && text.contains("`upstream`"),
        "{text}"
    );
}

#[tokio::test]
async fn two_proxies_pointing_at_each_other_answer_508() {
    let listener_a = TcpListener::bind("127.0.0.1:0").await.expect("bind a");
    let listener_b = TcpListener::bind("127.0.0.1:0").await.expect("bind b");
    let url_a = format!("http://127.0.0.1:{}", listener_a.local_addr().expect("addr").port());
    let url_b = format!("http://127.0.0.1:{}", listener_b.local_addr().expect("addr").port());
    let proxy_a = proxy_in_front_of(listener_a, &url_b).await;
    let _proxy_b = proxy_in_front_of(listener_b, &url_a).await;

    let (response, body) = tokio::time::timeout(BOUND, get(&proxy_a.url("/runs")))
        .await
        .expect("the loop was not detected");

    assert_loop(&response, &body);
}

#[tokio::test]
async fn a_proxy_pointing_at_itself_answers_508() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://127.0.0.1:{}", listener.local_addr().expect("addr").port());
    let proxy = proxy_in_front_of(listener, &url).await;

    let (response, body) = tokio::time::timeout(BOUND, get(&proxy.url("/info")))
        .await
        .expect("the loop was not detected");

    assert_loop(&response, &body);
}

/// Another proxy's `Via` entry, or a generic one, is not a loop.
#[tokio::test]
async fn foreign_via_entries_pass() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy(&upstream.url).await;
    let request = http::Request::get(proxy.url("/info"))
        .header("via", "1.1 langsmith-proxy, 1.1 langsmith-proxy-0123456789abcdef")
        .body(empty())
        .expect("request");

    let (response, _) = send(request).await;

    assert_eq!(response.status(), 200);
    let seen = upstream.last();
    let via: Vec<&str> = seen
        .headers
        .get_all("via")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let via = via.join(", ");
    assert!(
        via.starts_with("1.1 langsmith-proxy, 1.1 langsmith-proxy-0123456789abcdef, 1.1 langsmith-proxy-"),
        "{via}"
    );
}

#[test]
fn the_apps_endpoint_variables_never_become_the_upstream() {
    // In the app's shell LANGSMITH_ENDPOINT points at the proxy; reading it would loop.
    let env = langsmith_proxy::env::Env::from_pairs([
        ("LANGSMITH_API_KEY", TEST_KEY),
        ("LANGSMITH_ENDPOINT", "http://127.0.0.1:7878"),
        ("LANGCHAIN_ENDPOINT", "http://127.0.0.1:7878"),
    ]);
    let config = load_config(&[], &env).expect("config");
    assert_eq!(config.upstream.url(), "https://api.smith.langchain.com");
}
