//! Operations: metrics after a known scenario, readiness, the status page, the burst alert, the
//! access log, and graceful shutdown with a streaming request in flight.

mod support;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use langsmith_proxy::secret::ApiKey;
use support::*;

async fn text(url: &str) -> (u16, String) {
    let (response, body) = get(url).await;
    (response.status().as_u16(), String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn metrics_after_a_known_scenario() {
    let (upstream, _) = LangSmith {
        forbidden: Some((http::Method::POST, "/datasets")),
        ..LangSmith::default()
    }
    .start()
    .await;
    let proxy = start_proxy(&upstream.url).await;
    let admin = start_admin(&proxy.app).await;
    for _ in 0..3 {
        assert_eq!(get(&proxy.url("/sessions")).await.0.status(), 200);
    }
    let (response, _) = send(Request::post(proxy.url("/datasets")).body(full("{}")).expect("request")).await;
    assert_eq!(response.status(), 403);

    let (status, metrics) = text(&format!("{admin}/metrics")).await;
    assert_eq!(status, 200);
    for line in [
        "langsmith_proxy_requests_total{method=\"GET\",status_class=\"2xx\"} 3",
        "langsmith_proxy_requests_total{method=\"POST\",status_class=\"4xx\"} 1",
        "langsmith_proxy_diagnoses_total{code=\"forbidden_unexplained\"} 1",
        // Every code is there from the start, so `increase()` sees the first one.
        "langsmith_proxy_diagnoses_total{code=\"key_revoked\"} 0",
        "langsmith_proxy_limit_exceeded_total{limit=\"not_http\"} 0",
        "langsmith_proxy_upstream_response_seconds_count 4",
        "langsmith_proxy_in_flight_requests 0",
        "langsmith_proxy_key_health{state=\"unchecked\"} 1",
        "langsmith_proxy_key_health{state=\"valid\"} 0",
        "langsmith_proxy_limit_exceeded_total{limit=\"max_connections\"} 0",
        "langsmith_proxy_limit_exceeded_total{limit=\"stalled\"} 0",
        "langsmith_proxy_key_reloads_total{result=\"failed\"} 0",
        "langsmith_proxy_build_info{version=\"",
    ] {
        assert!(metrics.contains(line), "missing `{line}` in:\n{metrics}");
    }
    assert!(!metrics.contains(TEST_KEY));
}

#[tokio::test]
async fn ready_once_the_key_is_loaded_and_live_always() {
    let upstream = FakeUpstream::requiring_key().await;
    // Under keep-if-present a proxy without a key of its own serves clients that bring theirs:
    // ready, unless it must wait for a valid key of its own.
    let flags = [
        ("client_credentials", "keep-if-present"),
        ("ready_requires_valid_key", "true"),
        ("key.check", "true"),
    ];
    let waiting = start_proxy_with(&upstream.url, &flags, langsmith_proxy::env::Env::default()).await;
    let waiting_admin = start_admin(&waiting.app).await;
    let (status, body) = text(&format!("{waiting_admin}/ready")).await;
    assert_eq!(status, 503);
    assert!(body.contains("no key loaded"), "{body}");

    let proxy = start_proxy_without_key(&upstream.url).await;
    let admin = start_admin(&proxy.app).await;
    assert_eq!(text(&format!("{admin}/live")).await.0, 200);
    let (status, body) = text(&format!("{admin}/ready")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("keep-if-present"), "{body}");
    proxy.app.keys().replace(ApiKey::parse(TEST_KEY).expect("key"));
    let (status, body) = text(&format!("{admin}/ready")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("key loaded"), "{body}");

    proxy.app.shared().begin_drain();
    let (status, body) = text(&format!("{admin}/ready")).await;
    assert_eq!(status, 503);
    assert!(body.contains("shutting down"));
}

#[tokio::test]
async fn ready_can_wait_for_a_valid_key_but_never_for_langsmith() {
    let (upstream, langsmith) = LangSmith::default().start().await;
    let flags = [("key.check", "true"), ("ready_requires_valid_key", "true")];
    let proxy = start_proxy_with(&upstream.url, &flags, env_with_key()).await;
    let admin = start_admin(&proxy.app).await;
    proxy.app.key_check().expect("check").refresh(Duration::MAX).await;
    assert_eq!(text(&format!("{admin}/ready")).await.0, 200);
    // Without that setting, a rejected key still leaves the proxy ready: it explains the 401s.
    langsmith.revoke();
    let plain = start_proxy_with(&upstream.url, &[("key.check", "true")], env_with_key()).await;
    let plain_admin = start_admin(&plain.app).await;
    plain.app.key_check().expect("check").refresh(Duration::MAX).await;
    assert_eq!(text(&format!("{plain_admin}/ready")).await.0, 200);
}

/// With `ready_requires_valid_key`, an outage of LangSmith after a valid check keeps the proxy
/// ready; only a rejection of the key (or a key never validated) makes it unready.
#[tokio::test]
async fn ready_keeps_a_valid_verdict_while_langsmith_is_unreachable() {
    const VALID: u8 = 0;
    const OUTAGE: u8 = 1;
    const REJECTED: u8 = 2;
    let answer = Arc::new(AtomicU8::new(OUTAGE));
    let state = answer.clone();
    let upstream = FakeUpstream::start(move |_| match state.load(Ordering::SeqCst) {
        VALID => Reply::json(200, "[]"),
        OUTAGE => Reply::json(503, "{\"detail\":\"maintenance\"}"),
        _ => Reply::json(401, "{\"detail\":\"Invalid token\"}"),
    })
    .await;
    let flags = [("key.check", "true"), ("ready_requires_valid_key", "true")];
    let proxy = start_proxy_with(&upstream.url, &flags, env_with_key()).await;
    let admin = start_admin(&proxy.app).await;
    let check = proxy.app.key_check().expect("check");
    let ready_after = |verdict: u8| {
        let (answer, check, admin) = (answer.clone(), check.clone(), admin.clone());
        async move {
            answer.store(verdict, Ordering::SeqCst);
            check.refresh(Duration::ZERO).await;
            text(&format!("{admin}/ready")).await
        }
    };
    let (status, body) = ready_after(OUTAGE).await;
    assert_eq!(status, 503, "never validated");
    assert!(body.contains("could not be reached"), "{body}");
    assert_eq!(ready_after(VALID).await.0, 200);
    assert_eq!(ready_after(OUTAGE).await.0, 200, "an outage keeps the valid verdict");
    let (status, body) = ready_after(REJECTED).await;
    assert_eq!(status, 503);
    assert!(body.contains("rejected"), "{body}");
    assert_eq!(ready_after(OUTAGE).await.0, 503, "an outage keeps the rejection too");
    assert_eq!(ready_after(VALID).await.0, 200);
}

/// Polls `/ready` (as a kubelet does) until it answers 200; a not-ready pod gets no proxied
/// traffic, so readiness must follow from the probes alone.
async fn ready_from_probes_alone(admin: &str) {
    let probing = async {
        while text(&format!("{admin}/ready")).await.0 != 200 {
            // A probe interval, not synchronisation: each probe may start a re-check.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), probing)
        .await
        .expect("ready without any proxied request");
}

/// With `ready_requires_valid_key`, a rotated key (not checked yet) and a key LangSmith could not
/// be reached for are checked again when readiness is asked, not only when a request comes.
#[tokio::test]
async fn readiness_probes_recheck_a_key_not_yet_validated() {
    const OUTAGE: u8 = 1;
    const VALID: u8 = 0;
    let answer = Arc::new(AtomicU8::new(OUTAGE));
    let state = answer.clone();
    let upstream = FakeUpstream::start(move |_| match state.load(Ordering::SeqCst) {
        VALID => Reply::json(200, "[]"),
        _ => Reply::json(503, "{\"detail\":\"maintenance\"}"),
    })
    .await;
    let flags = [("key.check", "true"), ("ready_requires_valid_key", "true")];
    let proxy = start_proxy_with(&upstream.url, &flags, env_with_key()).await;
    let admin = start_admin(&proxy.app).await;
    proxy.app.key_check().expect("check").refresh(Duration::MAX).await;
    assert_eq!(
        text(&format!("{admin}/ready")).await.0,
        503,
        "LangSmith was down at start"
    );

    answer.store(VALID, Ordering::SeqCst);
    ready_from_probes_alone(&admin).await;

    proxy.app.keys().replace(ApiKey::parse(&numbered_key(7)).expect("key"));
    ready_from_probes_alone(&admin).await;
    assert!(upstream
        .requests()
        .iter()
        .all(|r| r.target.starts_with("/api/v1/workspaces")));
    assert!(
        upstream.keys_seen().contains(&numbered_key(7)),
        "the new key was checked"
    );
}

/// An org-scoped key without a workspace is a key LangSmith knows: requests that name their
/// workspace work, so readiness does not wait on it; the key state says what it lacks.
#[tokio::test]
async fn an_org_scoped_key_without_a_workspace_is_ready() {
    let upstream = FakeUpstream::start(|_| Reply::json(403, r#"{"error":"org_scoped_key_requires_workspace"}"#)).await;
    let flags = [("key.check", "true"), ("ready_requires_valid_key", "true")];
    let proxy = start_proxy_with(&upstream.url, &flags, env_with_key()).await;
    let admin = start_admin(&proxy.app).await;
    proxy.app.key_check().expect("check").refresh(Duration::MAX).await;
    assert_eq!(text(&format!("{admin}/ready")).await.0, 200);
    let (_, metrics) = text(&format!("{admin}/metrics")).await;
    assert!(metrics.contains("key_health{state=\"needs_workspace\"} 1"), "{metrics}");
}

#[tokio::test]
async fn status_as_json_and_html() {
    let upstream = FakeUpstream::start(|_| Reply::json(403, "{\"error\":\"Forbidden\"}\n")).await;
    let proxy = start_proxy(&upstream.url).await;
    let admin = start_admin(&proxy.app).await;
    let (response, _) = get(&proxy.url("/sessions?x=1")).await;
    let request_id = response.headers()["x-request-id"].to_str().expect("id").to_owned();

    let (status, body) = text(&format!("{admin}/status")).await;
    assert_eq!(status, 200);
    let report: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(report["key"]["hint"], TEST_KEY_HINT);
    assert_eq!(report["key"]["source"], "env:LANGSMITH_API_KEY");
    assert_eq!(report["upstream"]["url"], upstream.url.as_str());
    assert_eq!(report["requests"]["total"], 1);
    assert_eq!(report["diagnoses"]["by_code"]["forbidden_unexplained"], 1);
    let recent = &report["diagnoses"]["recent"][0];
    assert_eq!(recent["code"], "forbidden_unexplained");
    assert_eq!(recent["request_id"], request_id.as_str());
    assert_eq!(recent["path"], "/sessions");
    assert!(report["version"].is_string() && report["uptime_seconds"].is_u64());

    let request = Request::get(format!("{admin}/status"))
        .header("accept", "text/html")
        .body(empty())
        .expect("request");
    let (response, body) = send(request).await;
    let page = String::from_utf8_lossy(&body);
    assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
    assert!(page.contains("forbidden_unexplained") && page.contains(&request_id) && page.contains(TEST_KEY_HINT));
    assert!(!page.contains(TEST_KEY) && !body.is_empty());
}

/// On loopback, the admin endpoints answer only to local names: a web page whose domain
/// re-resolves to 127.0.0.1 (DNS rebinding) cannot read `/status`.
#[tokio::test]
async fn admin_endpoints_refuse_foreign_host_names() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy(&upstream.url).await;
    let admin = start_admin(&proxy.app).await;
    let addr: std::net::SocketAddr = admin.trim_start_matches("http://").parse().expect("admin addr");

    let ask = |host: &str| format!("GET /status HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let refused = raw_exchange(addr, ask("rebound.example.com").as_bytes()).await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    assert!(refused.contains("http://127.0.0.1:PORT"), "{refused}");
    assert!(!refused.contains(TEST_KEY_HINT), "{refused}");
    // Browsers always name a host; a plain HTTP/1.0 health check may not, and passes.
    let probe = raw_exchange(addr, b"GET /live HTTP/1.0\r\n\r\n").await;
    assert!(
        probe.starts_with("HTTP/1.0 200") || probe.starts_with("HTTP/1.1 200"),
        "{probe}"
    );

    for host in [format!("localhost:{}", addr.port()), addr.to_string()] {
        let answered = raw_exchange(addr, ask(&host).as_bytes()).await;
        assert!(answered.starts_with("HTTP/1.1 200"), "{host}: {answered}");
        assert!(answered.contains(TEST_KEY_HINT), "{answered}");
    }
    // A foreign name behind a local one: a second Host, or an absolute target.
    for request in [
        "GET /status HTTP/1.1\r\nHost: localhost\r\nHost: rebound.example.com\r\nConnection: close\r\n\r\n",
        "GET http://rebound.example.com/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    ] {
        let refused = raw_exchange(addr, request.as_bytes()).await;
        assert!(refused.starts_with("HTTP/1.1 403"), "{request}: {refused}");
    }
    let post = raw_exchange(
        addr,
        b"POST /live HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    assert!(post.to_ascii_lowercase().contains("allow: get, head"), "{post}");
    proxy.stop().await;
}

#[tokio::test]
async fn auth_failure_burst_alerts_once_per_window() {
    let logs = CapturedLogs::global();
    let upstream = FakeUpstream::start(|_| Reply::json(401, r#"{"detail":"Invalid token"}"#)).await;
    let flags = [("alerts.auth_failures", "3"), ("alerts.window", "1h")];
    let proxy = start_proxy_with(&upstream.url, &flags, env_with_key()).await;
    let admin = start_admin(&proxy.app).await;
    for _ in 0..7 {
        assert_eq!(get(&proxy.url("/sessions")).await.0.status(), 401);
    }
    let alerts = logs
        .text()
        .lines()
        .filter(|line| line.contains("burst of auth failures"))
        .count();
    assert_eq!(alerts, 1, "one alert for the window, not one per request");
    let (_, body) = text(&format!("{admin}/status")).await;
    let report: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(report["alerts"].as_array().map(Vec::len), Some(1));
    assert_eq!(report["alerts"][0]["failures"], 3);
    assert_eq!(report["alerts"][0]["by_code"]["key_rejected"], 3);
    let (_, metrics) = text(&format!("{admin}/metrics")).await;
    assert!(
        metrics.contains("langsmith_proxy_auth_failure_bursts_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn access_log_has_the_request_context_and_never_the_key() {
    let logs = CapturedLogs::global();
    let upstream = FakeUpstream::start(|_| Reply::json(202, "{\"accepted\":true}")).await;
    let proxy = start_proxy(&upstream.url).await;
    let request = Request::post(proxy.url("/runs/multipart?trace=1"))
        .header("user-agent", "langsmith-py/0.15.1")
        .header("x-api-key", "proxy-managed")
        .body(full(vec![b'x'; 1000]))
        .expect("request");
    let (response, _) = send(request).await;
    let request_id = response.headers()["x-request-id"].to_str().expect("id").to_owned();
    let line = logs
        .text()
        .lines()
        .find(|line| line.contains("\"target\":\"access\"") && line.contains(&request_id))
        .map(str::to_owned)
        .expect("an access event for the request");
    let event: serde_json::Value = serde_json::from_str(&line).expect("json line");
    let fields = &event["fields"];
    assert_eq!(fields["method"], "POST");
    assert_eq!(fields["path"], "/runs/multipart");
    assert_eq!(fields["status"], 202);
    assert_eq!(fields["bytes_in"], 1000);
    assert_eq!(fields["bytes_out"], 17);
    assert_eq!(fields["completed"], true);
    assert!(fields.get("outcome").is_none(), "{line}");
    let upstream_ms = fields["upstream_ms"].as_f64().expect("upstream_ms");
    let headers_ms = fields["headers_ms"].as_f64().expect("headers_ms");
    assert!(upstream_ms > 0.0 && upstream_ms <= headers_ms, "{line}");
    assert_eq!(fields["user_agent"], "langsmith-py/0.15.1");
    assert_eq!(fields["key_source"], "env:LANGSMITH_API_KEY");
    assert!(fields["key_fingerprint"]
        .as_str()
        .is_some_and(|f| f.starts_with("sha256:")));
    assert!(fields["client"].as_str().is_some_and(|c| c.starts_with("127.0.0.1:")));
    assert!(!logs.text().contains(TEST_KEY), "the key leaked into the logs");
}

/// A client that hangs up while the upstream has not answered yet still gets its access event,
/// once, with no status and the outcome `client_closed`.
#[tokio::test]
async fn a_client_that_leaves_before_the_response_is_logged_once() {
    let logs = CapturedLogs::global();
    let (reached, mut upstream_reached) = tokio::sync::mpsc::unbounded_channel();
    let upstream = FakeUpstream::start(move |_| {
        let _ = reached.send(());
        Reply::hang()
    })
    .await;
    let proxy = start_proxy(&upstream.url).await;
    let request_id = format!("client-closed-{}", std::process::id());
    let mut client = tokio::net::TcpStream::connect(proxy.addr).await.expect("connect");
    let head = format!("GET /runs/slow HTTP/1.1\r\nhost: 127.0.0.1\r\nx-request-id: {request_id}\r\n\r\n");
    tokio::io::AsyncWriteExt::write_all(&mut client, head.as_bytes())
        .await
        .expect("write");
    upstream_reached.recv().await.expect("the upstream got the request");
    drop(client);

    let metrics = &proxy.app.shared().metrics;
    let dropped = async {
        while metrics.in_flight_now() != 0 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), dropped)
        .await
        .expect("the request is dropped when its client leaves");
    let text = logs.text();
    let events: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("\"target\":\"access\"") && line.contains(&request_id))
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    let event: serde_json::Value = serde_json::from_str(events[0]).expect("json line");
    let fields = &event["fields"];
    assert_eq!(fields["outcome"], "client_closed");
    assert_eq!(fields["completed"], false);
    assert_eq!(fields["path"], "/runs/slow");
    assert!(fields.get("status").is_none(), "{fields}");
    assert!(fields.get("upstream_ms").is_none(), "{fields}");
}

/// A streaming response in flight when shutdown starts: it completes, new connections are
/// refused meanwhile, and `serve` returns.
#[tokio::test]
async fn shutdown_lets_a_streaming_request_finish_and_refuses_new_ones() {
    let (upstream_url, chunks_tx) = streaming_upstream().await;
    let config = load_config(&[("key.check", "false"), ("upstream", &upstream_url)], &env_with_key()).expect("config");
    let app = langsmith_proxy::App::from_config(&config, &env_with_key()).expect("app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(langsmith_proxy::serve(listener, app.clone(), async {
        let _ = stopped.await;
    }));

    let body = open_stream(addr, &chunks_tx).await;

    stop.send(()).expect("stop");
    // Readiness flips as the drain starts; then the listener is gone.
    wait_until_draining(&app).await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "new connections are refused while draining"
    );

    finish_stream(chunks_tx, body).await;
    served.await.expect("join").expect("serve returns Ok");
}

/// A request still in flight when `timeouts.shutdown_grace` ends is cut by the shutdown, and its
/// access line says so rather than blaming the client.
#[tokio::test]
async fn a_request_cut_at_the_end_of_the_grace_period_is_logged_as_such() {
    let logs = CapturedLogs::global();
    let upstream = FakeUpstream::start(|_| Reply::hang()).await;
    let proxy = start_proxy_with(&upstream.url, &[("timeouts.shutdown_grace", "200ms")], env_with_key()).await;
    let request = Request::get(proxy.url("/runs/hanging"))
        .header("x-request-id", "cut-by-the-shutdown")
        .body(empty())
        .expect("request");
    let pending = tokio::spawn(http_client(false).request(request));
    while upstream.requests().is_empty() {
        tokio::task::yield_now().await;
    }
    proxy.stop().await;
    let _ = pending.await;
    let line = logs
        .text()
        .lines()
        .find(|line| line.contains("\"target\":\"access\"") && line.contains("cut-by-the-shutdown"))
        .map(str::to_owned)
        .expect("an access line for the cut request");
    let event: serde_json::Value = serde_json::from_str(&line).expect("json line");
    assert_eq!(event["fields"]["outcome"], "shutdown", "{line}");
}
