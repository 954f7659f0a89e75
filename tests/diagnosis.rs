//! Every upstream 401/403/405/429 is explained: through the proxy, against fake LangSmith
//! upstreams, one test per cause. The key appears in no response and no log line.

mod support;

use std::time::Duration;

use http::{Method, Request};
use langsmith_proxy::env::Env;
use support::*;

/// Starts a proxy with the key check on and waits until the start check has finished.
async fn start_checked(upstream: &str, flags: &[(&'static str, &str)], env: Env) -> ProxyHandle {
    let mut all = vec![("key.check", "true")];
    all.extend_from_slice(flags);
    let proxy = start_proxy_with(upstream, &all, env).await;
    let check = proxy.app.key_check().expect("key check on");
    check.refresh(Duration::MAX).await;
    proxy
}

/// Asserts the diagnosis contract on an upstream answer and returns the `langsmith_proxy` member.
fn assert_diagnosed(response: &http::Response<()>, body: &bytes::Bytes, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(response.status(), status, "{}", String::from_utf8_lossy(body));
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        header("x-langsmith-proxy-diagnosis").as_deref(),
        Some(code),
        "{}",
        String::from_utf8_lossy(body)
    );
    assert!(
        header("x-langsmith-proxy-error").is_none(),
        "an upstream answer is not a proxy error"
    );
    assert!(header("x-request-id").is_some());
    let text = String::from_utf8_lossy(body);
    assert!(!text.contains(TEST_KEY), "the key leaked into the body");
    for value in response.headers().values() {
        assert!(
            !value.to_str().unwrap_or("").contains(TEST_KEY),
            "the key leaked into a header"
        );
    }
    let member = json(body)["langsmith_proxy"].clone();
    assert_eq!(member["code"], code);
    assert!(!member["fix"].as_array().expect("fix").is_empty());
    assert_eq!(member["upstream"]["status"], status);
    assert!(member["request"]["id"].is_string());
    member
}

#[tokio::test]
async fn a_proxy_made_answer_reports_when_the_loaded_key_was_last_valid() {
    let (upstream, _) = LangSmith::default().start().await;
    let proxy = start_checked(&upstream.url, &[("client_credentials", "reject")], env_with_key()).await;
    let request = Request::get(proxy.url("/sessions"))
        .header("x-api-key", "lsv2_pt_client-own-key")
        .body(empty())
        .expect("request");
    let (response, body) = send(request).await;
    assert_eq!(response.status(), 400);
    let member = &json(&body)["langsmith_proxy"];
    assert_eq!(member["key"]["hint"], TEST_KEY_HINT, "{member}");
    assert!(member["key"]["last_valid_at"].is_string(), "{member}");
}

#[tokio::test]
async fn revoked_key_valid_at_start_then_401() {
    let logs = CapturedLogs::global();
    let (upstream, langsmith) = LangSmith::default().start().await;
    let proxy = start_checked(&upstream.url, &[], env_with_key()).await;
    let (response, _) = get(&proxy.url("/sessions")).await;
    assert_eq!(response.status(), 200);

    langsmith.revoke();
    let (response, body) = get(&proxy.url("/sessions?limit=1")).await;
    let member = assert_diagnosed(&response, &body, 401, "key_revoked");
    assert_eq!(json(&body)["detail"], "Invalid token", "upstream fields are kept");
    assert_eq!(response.headers()["x-should-retry"], "false");
    assert_eq!(
        response.headers()["x-langsmith-proxy-key"],
        "env:LANGSMITH_API_KEY lsv2_pt_...7890"
    );
    assert_eq!(member["key"]["hint"], TEST_KEY_HINT);
    assert_eq!(member["key"]["source"], "env:LANGSMITH_API_KEY");
    assert_eq!(member["key"]["kind"], "personal_access_token");
    assert!(member["key"]["last_valid_at"].is_string());
    assert_eq!(member["request"]["method"], "GET");
    assert_eq!(member["request"]["path"], "/sessions");

    // The reason phrase carries the code for SDKs that only print the status line.
    let raw = raw_exchange(
        proxy.addr,
        b"GET /sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    let status_line = raw.lines().next().expect("status line");
    assert!(
        status_line.starts_with("HTTP/1.1 401 Unauthorized (langsmith-proxy: key_revoked: "),
        "{status_line}"
    );

    let request_id = response.headers()["x-request-id"].to_str().expect("id").to_owned();
    let logs = logs.text();
    let logged = logs
        .lines()
        .any(|line| line.contains("key_revoked") && line.contains(&request_id));
    assert!(logged, "the diagnosis is logged with the request id");
    assert!(!logs.contains(TEST_KEY), "the key leaked into the logs");
}

#[tokio::test]
async fn wrong_region_names_the_region_that_accepts_the_key() {
    let logs = CapturedLogs::global();
    let us = LangSmith::refusing_test_key((403, "{\"error\":\"Forbidden\"}\n"));
    let (us, _) = us.start().await;
    let (eu, _) = LangSmith::default().start().await;
    let flags = [
        ("regions.us", us.url.as_str()),
        ("regions.eu", eu.url.as_str()),
        ("regions.apac", us.url.as_str()),
        ("regions.aws", us.url.as_str()),
    ];
    let proxy = start_checked("us", &flags, env_with_key()).await;
    let (response, body) = send(
        Request::post(proxy.url("/runs/multipart"))
            .body(full("x"))
            .expect("request"),
    )
    .await;
    let member = assert_diagnosed(&response, &body, 403, "key_wrong_region");
    let fix = member["fix"].to_string();
    assert!(fix.contains("--upstream eu"), "{fix}");
    assert!(fix.contains(&format!("LANGSMITH_ENDPOINT={}", eu.url)), "{fix}");
    assert_eq!(json(&body)["error"], "Forbidden");
    assert!(
        eu.requests().iter().all(|r| r.target == "/api/v1/workspaces"),
        "only the probe went to eu"
    );
    assert!(!logs.text().contains(TEST_KEY));
}

#[tokio::test]
async fn org_scoped_key_without_workspace() {
    let service_key = SERVICE_KEY;
    let (upstream, _) = LangSmith::org_scoped().start().await;
    let env = Env::from_pairs([("LANGSMITH_API_KEY", service_key)]);
    let proxy = start_checked(&upstream.url, &[], env).await;
    let (response, body) = get(&proxy.url("/sessions")).await;
    assert_diagnosed(&response, &body, 403, "workspace_required");
    let parsed = json(&body);
    assert_eq!(
        parsed["error"], "org_scoped_key_requires_workspace",
        "SDKs branch on this field"
    );
    assert!(parsed["langsmith_proxy"]["fix"].to_string().contains("--workspace-id"));
    assert!(!String::from_utf8_lossy(&body).contains(service_key));

    // With the workspace configured, the same key works.
    let fixed = start_proxy_with(
        &upstream.url,
        &[("workspace_id", WS_A)],
        Env::from_pairs([("LANGSMITH_API_KEY", service_key)]),
    )
    .await;
    let (response, _) = get(&fixed.url("/sessions")).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn permission_denied_names_role_and_read_only() {
    let (upstream, _) = LangSmith {
        workspaces: vec![(WS_A, "Production", "Viewer", true)],
        forbidden: Some((Method::POST, "/datasets")),
        ..LangSmith::default()
    }
    .start()
    .await;
    let proxy = start_checked(&upstream.url, &[], env_with_key()).await;
    let (response, _) = get(&proxy.url("/datasets")).await;
    assert_eq!(response.status(), 200);
    let (response, body) = send(Request::post(proxy.url("/datasets")).body(full("{}")).expect("request")).await;
    let member = assert_diagnosed(&response, &body, 403, "permission_denied");
    let summary = member["summary"].as_str().expect("summary");
    assert!(
        summary.contains("Viewer") && summary.contains("read-only") && summary.contains("POST /datasets"),
        "{summary}"
    );
}

#[tokio::test]
async fn workspace_denied_lists_reachable_workspaces() {
    let (upstream, _) = LangSmith::default().start().await;
    let proxy = start_checked(&upstream.url, &[], env_with_key()).await;
    let request = Request::get(proxy.url("/sessions"))
        .header("x-tenant-id", WS_B)
        .body(empty())
        .expect("request");
    let (response, body) = send(request).await;
    let member = assert_diagnosed(&response, &body, 403, "workspace_denied");
    assert_eq!(member["workspace_id"], WS_B);
    let fix = member["fix"].to_string();
    assert!(fix.contains(WS_A) && fix.contains("Production"), "{fix}");
}

#[tokio::test]
async fn web_ui_upstream_is_recognised_and_html_wrapped() {
    let upstream = FakeUpstream::start(|req| {
        let page = "<html><head><title>405 Not Allowed</title></head><body>nginx</body></html>";
        let status = if req.method == Method::GET { 200 } else { 405 };
        Reply::json(status, page).with_header("content-type", "text/html")
    })
    .await;
    let proxy = start_checked(&upstream.url, &[], env_with_key()).await;
    let (response, body) = send(
        Request::post(proxy.url("/runs/multipart"))
            .body(full("x"))
            .expect("request"),
    )
    .await;
    let member = assert_diagnosed(&response, &body, 405, "upstream_is_web_ui");
    let parsed = json(&body);
    assert_eq!(parsed["error"], "upstream_is_web_ui");
    assert!(parsed["upstream_body"]
        .as_str()
        .expect("wrapped")
        .contains("405 Not Allowed"));
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(member["fix"].to_string().contains("--upstream"));
}

#[tokio::test]
async fn legacy_key() {
    let legacy = "ls__0123456789abcdef0123456789abcdef";
    let upstream = FakeUpstream::start(|_| {
        Reply::json(
            401,
            r#"{"detail":"Using legacy API key. Please generate a new API key."}"#,
        )
    })
    .await;
    let proxy = start_proxy_with(&upstream.url, &[], Env::from_pairs([("LANGSMITH_API_KEY", legacy)])).await;
    let (response, body) = get(&proxy.url("/sessions")).await;
    assert_eq!(response.headers()["x-langsmith-proxy-diagnosis"], "key_legacy");
    assert!(json(&body)["langsmith_proxy"]["summary"]
        .as_str()
        .expect("summary")
        .contains("2024-10-22"));
    assert!(!String::from_utf8_lossy(&body).contains(legacy));
}

#[tokio::test]
async fn client_key_kept_and_rejected() {
    let (upstream, _) = LangSmith::default().start().await;
    let proxy = start_proxy_with(
        &upstream.url,
        &[("client_credentials", "keep-if-present")],
        env_with_key(),
    )
    .await;
    let request = Request::get(proxy.url("/sessions"))
        .header("x-api-key", "lsv2_pt_the_apps_own_wrong_key_000000000000000")
        .body(empty())
        .expect("request");
    let (response, body) = send(request).await;
    let member = assert_diagnosed(&response, &body, 401, "client_key_rejected");
    assert_eq!(member["key"]["source"], "client");
    assert!(member["key"].get("loaded").is_none(), "{member}");
    assert!(member["fix"].to_string().contains("--client-credentials replace"));
}

#[tokio::test]
async fn missing_key_is_answered_by_the_proxy() {
    let upstream = FakeUpstream::requiring_key().await;
    let proxy = start_proxy_without_key(&upstream.url).await;
    let (response, body) = get(&proxy.url("/sessions")).await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["x-langsmith-proxy-error"], "key_missing");
    assert!(json(&body)["langsmith_proxy"]["fix"]
        .to_string()
        .contains("LANGSMITH_API_KEY"));
    assert!(upstream.requests().is_empty(), "nothing goes upstream without a key");
}

#[tokio::test]
async fn never_validated_key_is_rejected_not_revoked() {
    let (upstream, _) = LangSmith::refusing_test_key((401, r#"{"detail":"Invalid token"}"#))
        .start()
        .await;
    let proxy = start_checked(&upstream.url, &[], env_with_key()).await;
    let (response, body) = get(&proxy.url("/sessions")).await;
    let member = assert_diagnosed(&response, &body, 401, "key_rejected");
    assert!(member["key"]["last_valid_at"].is_null());
}

#[tokio::test]
async fn rate_limit_keeps_retry_after_and_names_the_limit() {
    let upstream =
        FakeUpstream::start(|_| Reply::json(429, r#"{"detail":"Too many requests"}"#).with_header("retry-after", "17"))
            .await;
    let proxy = start_proxy(&upstream.url).await;
    let (response, body) = send(
        Request::post(proxy.url("/runs/multipart"))
            .body(full("x"))
            .expect("request"),
    )
    .await;
    let member = assert_diagnosed(&response, &body, 429, "rate_limited");
    assert_eq!(response.headers()["retry-after"], "17");
    assert!(
        response.headers().get("x-should-retry").is_none(),
        "a 429 may be retried"
    );
    assert!(member["summary"]
        .as_str()
        .expect("summary")
        .contains("5,000 POST/PATCH /runs"));
}

#[tokio::test]
async fn unexplained_403_still_has_full_context() {
    let upstream = FakeUpstream::start(|_| Reply::json(403, "{\"error\":\"Forbidden\"}\n")).await;
    let proxy = start_proxy(&upstream.url).await;
    let (response, body) = get(&proxy.url("/annotation-queues?x=1")).await;
    let member = assert_diagnosed(&response, &body, 403, "forbidden_unexplained");
    assert_eq!(member["request"]["path"], "/annotation-queues");
    assert_eq!(
        member["key"]["fingerprint"].as_str().map(|f| f.starts_with("sha256:")),
        Some(true)
    );
}

#[tokio::test]
async fn successful_answers_pass_untouched() {
    let upstream = FakeUpstream::start(|_| Reply::json(200, r#"{"id":"r1"}"#)).await;
    let proxy = start_proxy(&upstream.url).await;
    let (response, body) = get(&proxy.url("/runs/r1")).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("x-langsmith-proxy-diagnosis").is_none());
    assert!(response.headers().get("x-should-retry").is_none());
    assert!(response.headers().get("x-langsmith-proxy-key").is_none());
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(&body[..], br#"{"id":"r1"}"#);
}
