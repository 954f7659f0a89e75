//! A TLS upstream that offers only HTTP/1.1 by ALPN (as some corporate gateways in front of a
//! self-hosted LangSmith do): the proxy speaks HTTP/1.1 to it and reuses its connections.

mod support;

use std::sync::Arc;

use http::Version;
use support::*;

#[tokio::test]
async fn http1_only_tls_upstream_is_spoken_to_in_http1() {
    let ca = TestCa::new();
    let mut config = (*ca.server_config()).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let upstream = FakeUpstream::start_tls_with(Arc::new(config), |_| Reply::ok()).await;
    let proxy = start_proxy_trusting(&ca, &upstream.url).await;
    for _ in 0..3 {
        let (response, body) = get(&proxy.url("/info")).await;
        assert_eq!(response.status(), 200, "{}", String::from_utf8_lossy(&body));
    }
    let seen = upstream.requests();
    assert!(
        seen.iter().all(|r| r.version == Version::HTTP_11),
        "ALPN offered only http/1.1"
    );
    assert!(seen.iter().all(|r| r.header("x-api-key") == Some(TEST_KEY)));
    assert_eq!(
        upstream.connections(),
        1,
        "sequential requests reuse one pooled connection"
    );
}
