//! The optional client token: with one configured, only requests carrying it may spend the key,
//! and the token itself never travels upstream.

mod support;

use http::Request;
use langsmith_proxy::env::Env;
use support::*;

const TOKEN: &str = "5f0c9a7e31d24b8e9a6f4c2d1b0e8f7a";

fn env_with_token() -> Env {
    Env::from_pairs([("LANGSMITH_API_KEY", TEST_KEY), ("PROXY_TOKEN", TOKEN)])
}

fn request_with(proxy: &ProxyHandle, header: Option<(&str, &str)>) -> Request<TestBody> {
    let mut request = Request::post(proxy.url("/runs")).header("x-api-key", "proxy-managed");
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    request.body(full("{}")).expect("request")
}

#[tokio::test]
async fn missing_wrong_and_right_tokens() {
    let logs = CapturedLogs::global();
    let upstream = FakeUpstream::requiring_key().await;
    let proxy = start_proxy_with(
        &upstream.url,
        &[("client_token.source", "env:PROXY_TOKEN")],
        env_with_token(),
    )
    .await;
    let wrong = format!("Bearer {}", TOKEN.replace('5', "6"));
    let right = format!("Bearer {TOKEN}");

    for (header, problem) in [
        (None, "no client token"),
        (Some(("proxy-authorization", wrong.as_str())), "wrong client token"),
        (Some(("proxy-authorization", TOKEN)), "no client token"),
        (Some(("authorization", right.as_str())), "no client token"),
    ] {
        let (response, body) = send(request_with(&proxy, header)).await;
        assert_eq!(response.status(), 401, "{header:?}");
        assert_eq!(response.headers()["x-langsmith-proxy-error"], "client_token_required");
        assert_eq!(response.headers()["x-should-retry"], "false");
        let detail = json(&body)["detail"].as_str().unwrap_or_default().to_owned();
        assert!(detail.starts_with(problem), "{header:?}: {detail}");
        assert!(detail.contains("proxy-authorization: Bearer <token>"), "{detail}");
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains(TOKEN) && !text.contains(TEST_KEY_HINT), "{text}");
    }
    assert!(upstream.requests().is_empty());

    let (response, _) = send(request_with(&proxy, Some(("proxy-authorization", &right)))).await;
    assert_eq!(response.status(), 200);
    let logged = logs.text();
    assert!(logged.contains("client_token_required"), "the refusals are logged");
    assert!(!logged.contains(&TOKEN[4..]), "the client token reached the logs");
    let seen = upstream.last();
    assert_eq!(seen.header("x-api-key"), Some(TEST_KEY));
    assert!(seen.headers.get("proxy-authorization").is_none());
    assert!(
        seen.headers
            .values()
            .all(|value| !value.as_bytes().windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes())),
        "the token reached the upstream: {:?}",
        seen.headers
    );
}

/// A custom header carries the bare token, read here from a file; it is stripped as well.
#[tokio::test]
async fn a_custom_header_and_a_token_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).expect("write token");
    let source = format!("file:{}", file.display());
    let upstream = FakeUpstream::requiring_key().await;
    let proxy = start_proxy_with(
        &upstream.url,
        &[
            ("client_token.source", &source),
            ("client_token.header", "X-Proxy-Token"),
        ],
        env_with_key(),
    )
    .await;

    let (response, _) = send(request_with(
        &proxy,
        Some(("proxy-authorization", &format!("Bearer {TOKEN}"))),
    ))
    .await;
    assert_eq!(response.status(), 401);
    let (response, _) = send(request_with(&proxy, Some(("x-proxy-token", TOKEN)))).await;
    assert_eq!(response.status(), 200);
    assert!(upstream.last().headers.get("x-proxy-token").is_none());
}

#[test]
fn an_unusable_token_stops_the_start() {
    let env = Env::from_pairs([("LANGSMITH_API_KEY", TEST_KEY), ("PROXY_TOKEN", "hunter2")]);
    let config = load_config(&[("client_token.source", "env:PROXY_TOKEN")], &env).expect("config");
    let error = langsmith_proxy::App::from_config(&config, &env)
        .err()
        .expect("a short token is refused");
    let message = error.to_string();
    assert!(
        message.contains("env:PROXY_TOKEN") && message.contains("openssl rand"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");

    let config = load_config(&[("client_token.source", "env:UNSET")], &env).expect("config");
    let error = langsmith_proxy::App::from_config(&config, &env)
        .err()
        .expect("an unset token is refused");
    assert!(error.to_string().contains("UNSET is not set"), "{error}");

    let error = load_config(
        &[
            ("client_token.source", "env:PROXY_TOKEN"),
            ("client_token.header", "x-api-key"),
        ],
        &env,
    )
    .expect_err("x-api-key carries the LangSmith key");
    assert!(error.to_string().contains("client_token.header"), "{error}");
}
