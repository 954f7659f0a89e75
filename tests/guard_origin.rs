//! A web page in the user's browser must not spend the key: requests that carry `Origin` or a
//! cross-site `Sec-Fetch-Site` are refused unless the origin is allowlisted, preflights included.

mod support;

use http::{Method, Request};
use support::*;

/// What a browser sends for `fetch("http://127.0.0.1:PORT/runs", {method: "POST", ...})` from
/// another site.
fn cross_origin_post(proxy: &ProxyHandle, origin: &str) -> Request<TestBody> {
    Request::post(proxy.url("/runs"))
        .header("origin", origin)
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-mode", "cors")
        .header("sec-fetch-dest", "empty")
        .header("content-type", "application/json")
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
        )
        .body(full(r#"{"name":"spent by a web page"}"#))
        .expect("request")
}

fn assert_refused(response: &http::Response<()>, body: &bytes::Bytes) {
    assert_eq!(response.status(), 403);
    assert_eq!(response.headers()["x-langsmith-proxy-error"], "origin_not_allowed");
    let cors: Vec<_> = response
        .headers()
        .keys()
        .filter(|name| name.as_str().starts_with("access-control-"))
        .collect();
    assert!(cors.is_empty(), "CORS headers on a refusal: {cors:?}");
    assert_eq!(json(body)["error"], "origin_not_allowed");
}

#[tokio::test]
async fn a_browser_cross_origin_request_is_refused() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy(&upstream.url).await;

    let (response, body) = send(cross_origin_post(&proxy, "https://evil.example")).await;

    assert_refused(&response, &body);
    assert!(String::from_utf8_lossy(&body).contains("allowed_origins"));
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn a_preflight_gets_the_refusal_not_a_cors_answer() {
    let upstream = FakeUpstream::start(|_| Reply::ok().with_header("access-control-allow-origin", "*")).await;
    let proxy = start_proxy(&upstream.url).await;
    let preflight = Request::builder()
        .method(Method::OPTIONS)
        .uri(proxy.url("/runs"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type,x-api-key")
        .header("sec-fetch-mode", "cors")
        .body(empty())
        .expect("request");

    let (response, body) = send(preflight).await;

    assert_refused(&response, &body);
    assert!(upstream.requests().is_empty());
}

/// `<img src>` and other no-cors requests carry no `Origin`, but `Sec-Fetch-Site` tells.
#[tokio::test]
async fn cross_site_and_same_site_fetch_metadata_is_refused() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy(&upstream.url).await;
    for (site, status) in [
        ("cross-site", 403),
        ("same-site", 403),
        ("same-origin", 200),
        ("none", 200),
    ] {
        let request = Request::get(proxy.url("/info"))
            .header("sec-fetch-site", site)
            .header("sec-fetch-mode", "no-cors")
            .body(empty())
            .expect("request");
        let (response, body) = send(request).await;
        if status == 403 {
            assert_refused(&response, &body);
        } else {
            assert_eq!(response.status(), status, "Sec-Fetch-Site: {site}");
        }
    }
    assert_eq!(upstream.requests().len(), 2);
}

#[tokio::test]
async fn an_allowlisted_origin_is_forwarded() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy_with(
        &upstream.url,
        &[("allowed_origins", "http://localhost:3000,https://app.example")],
        env_with_key(),
    )
    .await;

    let (response, _) = send(cross_origin_post(&proxy, "http://localhost:3000")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.last().header("origin"), Some("http://localhost:3000"));
    assert_eq!(upstream.last().header("x-api-key"), Some(TEST_KEY));

    let (response, body) = send(cross_origin_post(&proxy, "http://localhost:3001")).await;
    assert_refused(&response, &body);
    assert_eq!(upstream.requests().len(), 1);
}
