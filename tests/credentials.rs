//! Credentials: the proxy's key is injected, client credentials follow the configured policy,
//! X-Tenant-Id follows `workspace_id`, and the key never comes back to the client.

mod support;

use bytes::Bytes;
use http::{Request, Response};
use langsmith_proxy::env::Env;
use support::*;

const CLIENT_KEY: &str = "lsv2_pt_client0000000000000000000000000000_9999999999";
const WORKSPACE: &str = "6f1c2f3e-8a9b-4c5d-9e0f-112233445566";

/// Sends a GET with the given headers to `/runs/query`.
async fn request_with(proxy: &ProxyHandle, headers: &[(&str, &str)]) -> (Response<()>, Bytes) {
    let mut builder = Request::get(proxy.url("/runs/query"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let (response, body) = send(builder.body(empty()).expect("request")).await;
    assert_key_not_leaked(&response, &body);
    (response, body)
}

fn assert_key_not_leaked(response: &Response<()>, body: &Bytes) {
    let secret = TEST_KEY.as_bytes();
    assert!(
        !body.windows(secret.len()).any(|w| w == secret),
        "the key leaked into a response body"
    );
    for (name, value) in response.headers() {
        assert!(
            !value.as_bytes().windows(secret.len()).any(|w| w == secret),
            "the key leaked into response header {name}"
        );
    }
}

fn error_header(response: &Response<()>) -> Option<&str> {
    response
        .headers()
        .get("x-langsmith-proxy-error")
        .and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn key_is_injected_as_x_api_key() {
    let upstream = FakeUpstream::requiring_key().await;
    let proxy = start_proxy(&upstream.url).await;
    let (response, _) = request_with(&proxy, &[]).await;
    assert_eq!(response.status(), 200);
    let seen = upstream.last();
    assert_eq!(seen.header("x-api-key"), Some(TEST_KEY));
    assert!(seen.headers.get("authorization").is_none());
}

#[tokio::test]
async fn replace_drops_client_credentials_and_the_placeholder() {
    let upstream = FakeUpstream::requiring_key().await;
    let proxy = start_proxy(&upstream.url).await;
    let cases: [&[(&str, &str)]; 4] = [
        &[("x-api-key", CLIENT_KEY)],
        &[("authorization", "Bearer some-client-token")],
        &[("x-service-key", "some-service-key")],
        &[("x-api-key", "proxy-managed")],
    ];
    for headers in cases {
        let (response, _) = request_with(&proxy, headers).await;
        assert_eq!(response.status(), 200, "{headers:?}");
        let seen = upstream.last();
        assert_eq!(
            seen.headers.get_all("x-api-key").iter().collect::<Vec<_>>(),
            [TEST_KEY],
            "{headers:?}"
        );
        assert!(seen.headers.get("authorization").is_none(), "{headers:?}");
        assert!(seen.headers.get("x-service-key").is_none(), "{headers:?}");
    }
}

#[tokio::test]
async fn keep_if_present_forwards_the_clients_key_and_injects_otherwise() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy_with(
        &upstream.url,
        &[("client_credentials", "keep-if-present")],
        env_with_key(),
    )
    .await;

    let (response, _) = request_with(&proxy, &[("x-api-key", CLIENT_KEY)]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.last().header("x-api-key"), Some(CLIENT_KEY));

    let (response, _) = request_with(&proxy, &[("authorization", "Bearer client-token")]).await;
    assert_eq!(response.status(), 200);
    let seen = upstream.last();
    assert_eq!(seen.header("authorization"), Some("Bearer client-token"));
    assert!(
        seen.headers.get("x-api-key").is_none(),
        "the proxy's key went along too"
    );

    // No key, the placeholder, or a blank one (a key variable set but empty): the proxy's goes.
    for headers in [
        &[][..],
        &[("x-api-key", "proxy-managed")][..],
        &[("x-api-key", "")][..],
        &[("x-api-key", " "), ("authorization", "")][..],
    ] {
        let (response, _) = request_with(&proxy, headers).await;
        assert_eq!(response.status(), 200);
        let seen = upstream.last();
        assert_eq!(seen.header("x-api-key"), Some(TEST_KEY), "{headers:?}");
        assert!(seen.headers.get("authorization").is_none(), "{headers:?}");
    }
}

#[tokio::test]
async fn reject_refuses_client_credentials_before_the_upstream() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy_with(&upstream.url, &[("client_credentials", "reject")], env_with_key()).await;
    for (name, value) in [
        ("x-api-key", CLIENT_KEY),
        ("authorization", "Bearer client-token"),
        ("x-service-key", "client-service-key"),
    ] {
        let (response, body) = request_with(&proxy, &[(name, value)]).await;
        assert_eq!(response.status(), 400, "{name}");
        assert_eq!(error_header(&response), Some("client_credentials_not_allowed"));
        let body = json(&body);
        assert_eq!(body["error"], "client_credentials_not_allowed");
        assert_eq!(body["langsmith_proxy"]["code"], "client_credentials_not_allowed");
        assert!(
            body["detail"].as_str().unwrap_or("").contains(name),
            "detail should name {name}: {body}"
        );
    }
    assert!(
        upstream.requests().is_empty(),
        "a rejected request reached the upstream"
    );

    // The placeholder is not a credential: the proxy's key goes instead.
    let (response, _) = request_with(&proxy, &[("x-api-key", "proxy-managed")]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.last().header("x-api-key"), Some(TEST_KEY));
}

#[tokio::test]
async fn workspace_id_sets_x_tenant_id_over_the_clients() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy_with(&upstream.url, &[("workspace_id", WORKSPACE)], env_with_key()).await;
    let other = "00000000-0000-0000-0000-000000000001";
    for headers in [&[][..], &[("x-tenant-id", other)][..]] {
        let (response, _) = request_with(&proxy, headers).await;
        assert_eq!(response.status(), 200);
        let seen = upstream.last();
        assert_eq!(
            seen.headers.get_all("x-tenant-id").iter().collect::<Vec<_>>(),
            [WORKSPACE],
            "{headers:?}"
        );
    }
}

/// `Connection` names the client's hop-by-hop headers: it cannot make the proxy drop the key
/// and workspace it injects, nor its own forwarding headers.
#[tokio::test]
async fn a_connection_header_cannot_strip_what_the_proxy_injects() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy_with(&upstream.url, &[("workspace_id", WORKSPACE)], env_with_key()).await;
    let named = "x-api-key, x-tenant-id, via, x-forwarded-for, x-forwarded-proto, x-hop";
    let (response, _) = request_with(&proxy, &[("connection", named), ("x-hop", "1")]).await;
    assert_eq!(response.status(), 200);
    let seen = upstream.last();
    assert_eq!(seen.header("x-api-key"), Some(TEST_KEY));
    assert_eq!(seen.header("x-tenant-id"), Some(WORKSPACE));
    assert!(seen.header("via").is_some_and(|via| via.contains("langsmith-proxy")));
    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    assert!(
        seen.header("x-hop").is_none(),
        "a header the client named is still hop-by-hop"
    );
    assert!(seen.header("connection").is_none_or(|c| !c.contains("x-api-key")));
}

#[tokio::test]
async fn clients_x_tenant_id_passes_through_without_workspace_id() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy(&upstream.url).await;
    let tenant = "00000000-0000-0000-0000-000000000002";
    let (response, _) = request_with(&proxy, &[("x-tenant-id", tenant)]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.last().header("x-tenant-id"), Some(tenant));

    let (_, _) = request_with(&proxy, &[]).await;
    assert!(upstream.last().headers.get("x-tenant-id").is_none());
}

#[tokio::test]
async fn keep_if_present_without_a_key_answers_key_missing() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy_with(
        &upstream.url,
        &[("client_credentials", "keep-if-present")],
        Env::default(),
    )
    .await;
    assert!(proxy.app.keys().snapshot().is_none());

    let (response, body) = request_with(&proxy, &[("x-api-key", "proxy-managed")]).await;
    assert_eq!(response.status(), 401);
    assert_eq!(error_header(&response), Some("key_missing"));
    let body = json(&body);
    assert_eq!(body["error"], "key_missing");
    assert_eq!(body["langsmith_proxy"]["key"]["source"], "env:LANGSMITH_API_KEY");
    assert!(
        body["langsmith_proxy"]["fix"]
            .as_array()
            .is_some_and(|steps| !steps.is_empty()),
        "{body}"
    );
    assert!(upstream.requests().is_empty());

    // An app that brings its own key is still served.
    let (response, _) = request_with(&proxy, &[("x-api-key", CLIENT_KEY)]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.last().header("x-api-key"), Some(CLIENT_KEY));
}

/// A 401 from LangSmith keeps its body and still carries nothing of the key.
#[tokio::test]
async fn upstream_errors_do_not_reveal_the_key() {
    let upstream = FakeUpstream::start(|_| Reply::json(401, "{\"detail\":\"Invalid token\"}")).await;
    let proxy = start_proxy(&upstream.url).await;
    let (response, body) = request_with(&proxy, &[]).await;
    assert_eq!(response.status(), 401);
    assert_eq!(json(&body)["detail"], "Invalid token");
}
