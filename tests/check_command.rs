//! `langsmith-proxy check`: the binary against fake LangSmith upstreams; one exit code per verdict.

mod support;

use std::process::{Command, Output};

use support::*;

/// Runs the real binary with only the given environment and flags.
async fn check(key: &str, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_langsmith-proxy"));
    let cwd = tempfile::tempdir().expect("tempdir");
    command
        .env_clear()
        .env("LANGSMITH_API_KEY", key)
        .current_dir(cwd.path())
        .arg("check")
        .args(args);
    // The fake upstream runs on this test's runtime: wait for the child off that thread.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("run binary");
    drop(cwd);
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn valid_key_exits_zero_and_lists_workspaces() {
    let (upstream, _) = LangSmith::default().start().await;
    let output = check(TEST_KEY, &["--upstream", &upstream.url]).await;
    let text = stdout(&output);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("OK: the key works"), "{text}");
    assert!(
        text.contains("Production") && text.contains(WS_A) && text.contains("Admin"),
        "{text}"
    );
    assert!(text.contains(TEST_KEY_HINT));
    assert!(!text.contains(TEST_KEY));
}

#[tokio::test]
async fn rejected_key_exits_three_with_a_fix() {
    let (upstream, _) = LangSmith::refusing_test_key((401, r#"{"detail":"Invalid token"}"#))
        .start()
        .await;
    let output = check(TEST_KEY, &["--upstream", &upstream.url, "--json"]).await;
    assert_eq!(output.status.code(), Some(3));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json report");
    assert_eq!(report["ok"], false);
    assert_eq!(report["diagnosis"]["code"], "key_rejected");
    assert_eq!(report["key"]["hint"], TEST_KEY_HINT);
    assert!(report["diagnosis"]["fix"].to_string().contains("LANGSMITH_API_KEY"));
    assert!(!stdout(&output).contains(TEST_KEY));
}

#[tokio::test]
async fn wrong_region_exits_four_and_names_it() {
    let (us, _) = LangSmith::refusing_test_key((403, "{\"error\":\"Forbidden\"}\n"))
        .start()
        .await;
    let (eu, _) = LangSmith::default().start().await;
    let (us_url, eu_url) = (format!("us={}", us.url), format!("eu={}", eu.url));
    let (apac, aws) = (format!("apac={}", us.url), format!("aws={}", us.url));
    let args = [
        "--upstream",
        "us",
        "--region-url",
        &us_url,
        "--region-url",
        &eu_url,
        "--region-url",
        &apac,
        "--region-url",
        &aws,
    ];
    let output = check(TEST_KEY, &args).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(4), "{text}");
    assert!(
        text.contains("key_wrong_region") && text.contains("--upstream eu"),
        "{text}"
    );
}

#[tokio::test]
async fn unreachable_upstream_exits_five() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let output = check(TEST_KEY, &["--upstream", &dead]).await;
    assert_eq!(output.status.code(), Some(5), "{}", stdout(&output));
    assert!(stdout(&output).contains("reachable  no"), "{}", stdout(&output));
}

/// An upstream that answers, but not as the API does (a 500, an HTML page with 200), is not a
/// network problem: the report says so and points at the upstream setting.
#[tokio::test]
async fn an_upstream_answering_unlike_the_api_is_named_as_such() {
    for page in [false, true] {
        let upstream = FakeUpstream::start(move |_| match page {
            false => Reply::json(500, r#"{"detail":"Internal Server Error"}"#),
            true => Reply::json(200, "<html>app</html>").with_header("content-type", "text/html"),
        })
        .await;
        let output = check(TEST_KEY, &["--upstream", &upstream.url]).await;
        let text = stdout(&output);
        assert_eq!(output.status.code(), Some(5), "{text}");
        assert!(text.contains("answered, but not as the LangSmith API does"), "{text}");
        assert!(!text.contains("DNS, firewall"), "{text}");
    }
}

/// A certificate this machine does not trust is no network problem either: `check` gives the
/// TLS fix, as the proxy's own `upstream_tls_error` does.
#[tokio::test]
async fn an_untrusted_certificate_gets_the_tls_fix() {
    let ca = TestCa::new();
    let upstream = FakeUpstream::start_tls(&ca, |_| Reply::ok()).await;
    let output = check(TEST_KEY, &["--upstream", &upstream.url]).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(5), "{text}");
    assert!(text.contains("TLS handshake"), "{text}");
    assert!(text.contains("upstream_ca_file"), "{text}");
    assert!(!text.contains("DNS, firewall"), "{text}");
}

/// A 429 to the check is LangSmith rate-limiting it, not a sign of a wrong upstream.
#[tokio::test]
async fn a_rate_limited_check_says_so() {
    let upstream = FakeUpstream::start(|_| Reply::json(429, r#"{"detail":"Too many requests"}"#)).await;
    let output = check(TEST_KEY, &["--upstream", &upstream.url]).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(5), "{text}");
    assert!(text.contains("rate-limiting the check (429)"), "{text}");
}

#[tokio::test]
async fn org_scoped_key_without_workspace_exits_six() {
    let service_key = SERVICE_KEY;
    let (upstream, _) = LangSmith::org_scoped().start().await;
    let output = check(service_key, &["--upstream", &upstream.url]).await;
    assert_eq!(output.status.code(), Some(6), "{}", stdout(&output));
    assert!(stdout(&output).contains("workspace_required"));
    let output = check(service_key, &["--upstream", &upstream.url, "--workspace-id", WS_B]).await;
    assert_eq!(
        output.status.code(),
        Some(6),
        "a workspace the key cannot reach: {}",
        stdout(&output)
    );
    let output = check(service_key, &["--upstream", &upstream.url, "--workspace-id", WS_A]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[tokio::test]
async fn missing_key_is_a_configuration_error() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_langsmith-proxy"));
    let output = command
        .env_clear()
        .args(["check", "--upstream", "http://127.0.0.1:9"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("LANGSMITH_API_KEY is not set"));
}
