//! Not an open proxy: requests for other hosts (absolute-form, as sent to a forward proxy) and
//! CONNECT are refused, and upstream redirects go back to the client instead of being followed
//! with the key.

mod support;

use support::*;

/// Sends `request` to a fresh proxy; checks it was refused as a forward-proxy request that
/// never reached the upstream, and returns the answer.
async fn refused_as_not_a_reverse_proxy_request(request: &str) -> String {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy(&upstream.url).await;
    let response = raw_exchange(proxy.addr, request.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("x-langsmith-proxy-error: not_a_reverse_proxy_request"),
        "{response}"
    );
    assert!(upstream.requests().is_empty());
    response
}

#[tokio::test]
async fn an_absolute_form_request_for_another_host_is_refused() {
    let response = refused_as_not_a_reverse_proxy_request(
        "GET http://example.com/steal HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(response.contains("http://example.com/steal"), "{response}");
    assert!(response.contains("HTTP_PROXY"), "{response}");
}

/// The same form naming the proxy itself is legal HTTP/1.1 and is served.
#[tokio::test]
async fn an_absolute_form_request_for_the_proxy_itself_is_served() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy(&upstream.url).await;
    let request = format!(
        "GET http://127.0.0.1:{port}/info?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n",
        port = proxy.addr.port()
    );

    let response = raw_exchange(proxy.addr, request.as_bytes()).await;

    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert_eq!(upstream.last().target, "/info?x=1");
}

/// `GET host:port` is the CONNECT form on another method: not forwarded as `GET /`.
#[tokio::test]
async fn an_authority_form_get_is_refused() {
    refused_as_not_a_reverse_proxy_request("GET localhost:80 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await;
}

#[tokio::test]
async fn connect_is_refused() {
    let response = refused_as_not_a_reverse_proxy_request(
        "CONNECT api.smith.langchain.com:443 HTTP/1.1\r\nHost: api.smith.langchain.com:443\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(response.contains("CONNECT api.smith.langchain.com:443"), "{response}");
}

/// A redirect must never make the proxy send the key to the redirect's target.
#[tokio::test]
async fn upstream_redirects_reach_the_client_unfollowed() {
    let elsewhere = FakeUpstream::start(|_| Reply::ok()).await;
    let location = format!("{}/collect", elsewhere.url);
    let redirect_to = location.clone();
    let upstream = FakeUpstream::start(move |_| Reply::json(302, "{}").with_header("location", &redirect_to)).await;
    let proxy = start_proxy(&upstream.url).await;

    let (response, _) = get(&proxy.url("/runs")).await;

    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], location.as_str());
    assert_eq!(upstream.requests().len(), 1);
    assert!(elsewhere.requests().is_empty(), "the proxy followed the redirect");
}
