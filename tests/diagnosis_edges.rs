//! The edges of diagnosis: answers that must not be explained (a gateway's HTML page), an
//! upstream that stalls mid-error-body, a key the check found to need a workspace, a key that
//! is cut short.

mod support;

use std::time::Duration;

use http::{Method, Request};
use http_body_util::BodyExt;
use langsmith_proxy::env::Env;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Generous bound on answers that must come quickly: a hang fails the test instead of blocking it.
const PROMPTLY: Duration = Duration::from_secs(20);

/// `GET /sessions` through a fresh proxy to `upstream`, which answers a 403 the proxy cannot
/// pin down.
async fn unexplained_403_through_a_proxy_to(upstream: &str) -> (http::Response<()>, bytes::Bytes) {
    let proxy = start_proxy(upstream).await;
    let (response, body) = get(&proxy.url("/sessions")).await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["x-langsmith-proxy-diagnosis"],
        "forbidden_unexplained"
    );
    (response, body)
}

#[tokio::test]
async fn gateway_html_error_passes_through_untouched() {
    let page = "<html><body><h1>502 Bad Gateway</h1></body></html>";
    let upstream = FakeUpstream::start(move |_| Reply::json(502, page).with_header("content-type", "text/html")).await;
    let proxy = start_proxy(&upstream.url).await;
    let (response, body) = get(&proxy.url("/runs/query")).await;
    assert_eq!(response.status(), 502);
    assert_eq!(body, page.as_bytes(), "the page is passed on as it came");
    assert!(response.headers().get("x-langsmith-proxy-diagnosis").is_none());
    assert!(
        response.headers().get("x-should-retry").is_none(),
        "clients may retry a gateway error"
    );
}

#[tokio::test]
async fn firewall_html_403_is_not_taken_for_the_web_app() {
    let upstream = FakeUpstream::start(|_| {
        Reply::json(403, "<html><body>Request blocked</body></html>").with_header("content-type", "text/html")
    })
    .await;
    let (_, body) = unexplained_403_through_a_proxy_to(&upstream.url).await;
    let parsed = json(&body);
    assert!(parsed["upstream_body"]
        .as_str()
        .expect("wrapped")
        .contains("Request blocked"));
}

/// A 403 with a body too large to be an error LangSmith wrote still gets the diagnosis in its
/// head; the body goes out byte for byte, under its own length.
#[tokio::test]
async fn an_oversized_error_body_passes_through_with_the_diagnosis_in_the_head() {
    let page = "x".repeat(200 * 1024);
    let sent = page.clone();
    let upstream =
        FakeUpstream::start(move |_| Reply::json(403, &sent).with_header("content-type", "text/plain")).await;
    let (response, body) = unexplained_403_through_a_proxy_to(&upstream.url).await;
    assert_eq!(response.headers()["x-should-retry"], "false");
    assert_eq!(body.len(), page.len());
    assert_eq!(body, page.as_bytes());
}

/// A JSON 405 is the API's own answer to a wrong method, not the web app: passed on untouched.
/// The web app's page on an address that is already the API's points at the ingress instead.
#[tokio::test]
async fn a_json_405_passes_and_a_page_from_an_api_address_names_the_ingress() {
    let upstream = FakeUpstream::start(|req| {
        if req.target.contains("json") {
            Reply::json(405, r#"{"detail":"Method Not Allowed"}"#)
        } else {
            Reply::json(405, "<html><title>405 Not Allowed</title></html>").with_header("content-type", "text/html")
        }
    })
    .await;
    let proxy = start_proxy(&format!("{}/api/v1", upstream.url)).await;
    let (response, body) = get(&proxy.url("/json")).await;
    assert_eq!(response.status(), 405);
    assert!(response.headers().get("x-langsmith-proxy-diagnosis").is_none());
    assert_eq!(body, r#"{"detail":"Method Not Allowed"}"#.as_bytes());

    let (response, body) = get(&proxy.url("/page")).await;
    assert_eq!(response.headers()["x-langsmith-proxy-diagnosis"], "upstream_is_web_ui");
    let member = &json(&body)["langsmith_proxy"];
    assert!(
        member["summary"].as_str().expect("summary").contains("ingress"),
        "{member}"
    );
}

/// An upstream that echoes the request's headers in its error text (a debugging server, a
/// misconfigured gateway) must not make the proxy quote the key it injected.
#[tokio::test]
async fn an_upstream_echoing_the_key_is_not_quoted() {
    let logs = CapturedLogs::global();
    let upstream = FakeUpstream::start(|req| {
        let echoed = format!("denied: x-api-key={}", req.header("x-api-key").unwrap_or_default());
        Reply::json(401, &echoed).with_header("content-type", "text/plain")
    })
    .await;
    let proxy = start_proxy(&upstream.url).await;
    let (response, body) = get(&proxy.url("/sessions")).await;
    assert_eq!(response.status(), 401);
    let quoted = json(&body)["upstream_body"].as_str().expect("wrapped").to_owned();
    assert_eq!(quoted, "denied: x-api-key=[key redacted]");
    let text = String::from_utf8_lossy(&body).into_owned() + &logs.text();
    assert!(!text.contains(&TEST_KEY[8..]), "the key was quoted back");

    // The same in a JSON error's fields, which the summary quotes and the response keeps, however
    // deeply the echo is nested.
    let upstream = FakeUpstream::start(|req| {
        let key = req.header("x-api-key").unwrap_or_default();
        let echo = serde_json::json!({
            "detail": format!("bad key {key}"),
            "debug": { "request": { "x-api-key": key }, "headers": [["x-api-key", key]] },
        });
        Reply::json(403, &echo.to_string())
    })
    .await;
    let proxy = start_proxy(&upstream.url).await;
    let (response, body) = get(&proxy.url("/sessions")).await;
    assert_eq!(response.status(), 403);
    let body_json = json(&body);
    assert_eq!(body_json["detail"], "bad key [key redacted]");
    assert_eq!(body_json["debug"]["request"]["x-api-key"], "[key redacted]");
    assert_eq!(body_json["debug"]["headers"][0][1], "[key redacted]");
    let text = String::from_utf8_lossy(&body).into_owned() + &logs.text();
    assert!(
        !text.contains(&TEST_KEY[8..]),
        "the key was quoted back from a JSON field"
    );
}

/// A key of another shape (pasted from another service, or a self-hosted token) is blanked from
/// echoes as surely as an `lsv2_` one: in the response, the diagnosis, and the key check's log.
#[tokio::test]
async fn an_echoed_key_of_any_shape_is_not_quoted() {
    const ODD_KEY: &str = "sk-proj-abcdefghijklmnopqrstuvwxyz123456";
    let logs = CapturedLogs::global();
    let upstream = FakeUpstream::start(|req| {
        let key = req.header("x-api-key").unwrap_or_default();
        let echo = serde_json::json!({ "detail": format!("bad key {key}"), "debug": { "x-api-key": key } });
        // Headers echo it too: one as it came, one in a challenge.
        Reply::json(403, &echo.to_string())
            .with_header("x-echo-api-key", key)
            .with_header("www-authenticate", &format!("ApiKey error=\"invalid\", key=\"{key}\""))
    })
    .await;
    let env = Env::from_pairs([("LANGSMITH_API_KEY", ODD_KEY)]);
    let proxy = start_proxy_with(&upstream.url, &[("key.check", "true")], env).await;
    let check = proxy.app.key_check().expect("key check on");
    // The key check gets the same echo from /api/v1/workspaces, and logs what it quotes of it.
    let record = check.refresh(Duration::MAX).await.expect("a key is loaded");
    let checked = format!("{:?}", record.health);
    assert!(checked.contains("[key redacted]"), "{checked}");
    let (response, body) = get(&proxy.url("/sessions")).await;
    assert_eq!(response.status(), 403);
    let body_json = json(&body);
    assert_eq!(body_json["detail"], "bad key [key redacted]");
    assert_eq!(body_json["debug"]["x-api-key"], "[key redacted]");
    assert_eq!(response.headers()["x-echo-api-key"], "[key redacted]");
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"ApiKey error="invalid", key="[key redacted]""#
    );
    let text = format!(
        "{checked}{:?}{}{}",
        response.headers(),
        String::from_utf8_lossy(&body),
        logs.text()
    );
    assert!(!text.contains("abcdefghijklmnop"), "the key was quoted back");
}

/// A JSON 405 the proxy reads (its content type did not say JSON, so it might have been the
/// web app's page) passes on as it came, unless it echoes the key: then the key is blanked, as
/// in every answer the proxy reads.
#[tokio::test]
async fn a_json_405_read_for_its_diagnosis_does_not_echo_the_key() {
    let upstream = FakeUpstream::start(|req| {
        let echo = serde_json::json!({ "detail": "Method Not Allowed", "x-api-key": req.header("x-api-key") });
        Reply::json(405, &echo.to_string()).with_header("content-type", "text/plain")
    })
    .await;
    let proxy = start_proxy(&upstream.url).await;
    let (response, body) = get(&proxy.url("/runs/multipart")).await;
    assert_eq!(response.status(), 405);
    assert_eq!(json(&body)["x-api-key"], "[key redacted]");
    assert!(!String::from_utf8_lossy(&body).contains(&TEST_KEY[8..]));
    assert!(
        response.headers().get("x-langsmith-proxy-diagnosis").is_none(),
        "the API's own answer"
    );
}

/// An upstream that sends `head` and the start of a 100-byte body, then nothing more while the
/// connection stays open. Returns its URL.
async fn upstream_that_stalls(head: &'static str, start: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let mut request = [0u8; 4096];
        let _ = socket.read(&mut request).await;
        let _ = socket.write_all(head.as_bytes()).await;
        let _ = socket.write_all(start).await;
        // Never sends the rest; keeps the connection open until the test ends.
        let _ = socket.read(&mut request).await;
    });
    format!("http://{addr}")
}

/// `GET /sessions` through a proxy (with a 300 ms `timeouts.response_header`, so the error
/// body wait ends quickly) in front of `upstream`; the whole answer must come promptly.
async fn get_through_proxy_to(upstream: &str) -> (http::Response<()>, bytes::Bytes) {
    let proxy = start_proxy_with(upstream, &[("timeouts.response_header", "300ms")], env_with_key()).await;
    tokio::time::timeout(PROMPTLY, get(&proxy.url("/sessions")))
        .await
        .expect("the proxy answered instead of waiting for the rest of the body")
}

#[tokio::test]
async fn stalled_error_body_is_explained_with_what_arrived() {
    let head = "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n";
    let upstream = upstream_that_stalls(head, b"{\"detail\":").await;
    let (response, body) = get_through_proxy_to(&upstream).await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["x-langsmith-proxy-diagnosis"],
        "forbidden_unexplained"
    );
    assert!(json(&body)["upstream_body"]
        .as_str()
        .expect("what arrived is quoted")
        .contains("detail"));
}

/// A compressed error body is passed on as it came; cut short, it goes out with its own length,
/// not the upstream's longer Content-Length, so the client is not left waiting for the rest.
#[tokio::test]
async fn a_stalled_compressed_error_body_goes_out_with_its_own_length() {
    let head = "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: 100\r\n\r\n";
    let upstream = upstream_that_stalls(head, b"\x1f\x8b\x08\x00gzipped").await;
    let (response, body) = get_through_proxy_to(&upstream).await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["x-langsmith-proxy-diagnosis"], "key_rejected");
    assert_eq!(&body[..], b"\x1f\x8b\x08\x00gzipped");
    assert_eq!(response.headers()["content-length"], "11");
}

/// A gzip error body (an upstream honouring the app's `Accept-Encoding: gzip`, which Python's
/// requests sends by default) is explained and redacted as a plain one, and goes out decoded.
#[tokio::test]
async fn a_gzip_error_body_is_explained_and_its_echo_redacted() {
    use std::io::Write;
    let upstream = FakeUpstream::start(|req| {
        let key = req.header("x-api-key").unwrap_or_default();
        let body = serde_json::json!({ "error": "org_scoped_key_requires_workspace", "echo": key }).to_string();
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(body.as_bytes()).expect("gzip");
        let gzip = gzip.finish().expect("gzip");
        let mut reply = Reply::json(403, "").with_header("content-encoding", "gzip");
        reply.body = ReplyBody::Bytes(gzip.into());
        reply
    })
    .await;
    let proxy = start_proxy(&upstream.url).await;
    let request = Request::get(proxy.url("/runs/multipart"))
        .header("accept-encoding", "gzip")
        .body(empty())
        .expect("request");
    let (response, body) = send(request).await;
    assert_eq!(response.status(), 403);
    assert_eq!(response.headers()["x-langsmith-proxy-diagnosis"], "workspace_required");
    assert!(
        response.headers().get("content-encoding").is_none(),
        "{:?}",
        response.headers()
    );
    let body = json(&body);
    assert_eq!(body["error"], "org_scoped_key_requires_workspace");
    assert_eq!(body["langsmith_proxy"]["code"], "workspace_required");
    assert_eq!(body["echo"], "[key redacted]");
}

/// A HEAD gets the head a GET would get and no body, over HTTP/1.1 and h2c, whether the proxy
/// explains LangSmith's answer or answers itself: an HTTP/2 client takes a body on a HEAD
/// answer for a protocol error.
#[tokio::test]
async fn a_head_request_gets_the_diagnosis_without_a_body() {
    let upstream = FakeUpstream::start(|_| Reply::json(403, r#"{"detail":"Forbidden"}"#)).await;
    let proxy = start_proxy(&upstream.url).await;
    for h2c in [false, true] {
        let head = |host: &str| {
            Request::head(proxy.url("/sessions"))
                .header("host", host)
                .body(empty())
                .expect("request")
        };
        for (request, carrier, code) in [
            (
                head("localhost"),
                "x-langsmith-proxy-diagnosis",
                "forbidden_unexplained",
            ),
            (head("evil.example"), "x-langsmith-proxy-error", "host_not_allowed"),
        ] {
            let response = tokio::time::timeout(PROMPTLY, http_client(h2c).request(request))
                .await
                .expect("answered")
                .unwrap_or_else(|e| panic!("h2c {h2c}, {code}: {e:?}"));
            assert_eq!(response.status(), 403, "h2c {h2c}");
            assert_eq!(response.headers()[carrier], code, "h2c {h2c}");
            let length: usize = response.headers()["content-length"]
                .to_str()
                .ok()
                .and_then(|v| v.parse().ok())
                .expect("the length a GET would get");
            assert!(length > 100, "h2c {h2c}, {code}: {length}");
            let body = response
                .into_body()
                .collect()
                .await
                .unwrap_or_else(|e| panic!("h2c {h2c}, {code}: {e:?}"));
            assert!(body.to_bytes().is_empty(), "h2c {h2c}, {code}");
        }
    }
}

#[tokio::test]
async fn key_that_needs_a_workspace_is_not_sent_probing_other_regions() {
    let logs = CapturedLogs::global();
    // The check is told the key is org-scoped; later requests get a bare 403.
    let us = FakeUpstream::start(|req| {
        if req.target.starts_with("/api/v1/workspaces") {
            Reply::json(403, r#"{"error":"org_scoped_key_requires_workspace"}"#)
        } else {
            Reply::json(403, r#"{"detail":"Forbidden"}"#)
        }
    })
    .await;
    let eu = FakeUpstream::requiring_key().await;
    let flags = [
        ("key.check", "true"),
        ("regions.us", us.url.as_str()),
        ("regions.eu", eu.url.as_str()),
        ("regions.apac", eu.url.as_str()),
        ("regions.aws", eu.url.as_str()),
    ];
    let proxy = start_proxy_with("us", &flags, env_with_key()).await;
    let check = proxy.app.key_check().expect("key check on");
    let record = check.refresh(Duration::MAX).await.expect("a key is loaded");
    assert!(record.health.needs_workspace(), "{:?}", record.health);
    assert!(record.last_valid_at.is_some(), "LangSmith knows the key");

    let (response, body) = send(
        Request::builder()
            .method(Method::POST)
            .uri(proxy.url("/runs/multipart"))
            .body(full("x"))
            .expect("request"),
    )
    .await;
    assert_eq!(response.status(), 403);
    assert_eq!(response.headers()["x-langsmith-proxy-diagnosis"], "workspace_required");
    assert!(json(&body)["langsmith_proxy"]["fix"]
        .to_string()
        .contains("--workspace-id"));
    assert!(
        eu.requests().is_empty(),
        "no region probe for a key that only lacks a workspace"
    );
    let logs = logs.text();
    assert!(logs.contains("wants a workspace"), "{logs}");
    // Other tests in this binary log into the same capture: only this proxy's lines count.
    let rejected_here = logs
        .lines()
        .any(|line| line.contains("LangSmith rejects the key") && line.contains(&us.url));
    assert!(!rejected_here, "{logs}");
    assert!(!logs.contains(TEST_KEY));
}

#[tokio::test]
async fn truncated_key_is_called_malformed() {
    let truncated = "lsv2_pt_0123456789abcdef";
    let (upstream, _) = LangSmith::default().start().await;
    let proxy = start_proxy_with(&upstream.url, &[], Env::from_pairs([("LANGSMITH_API_KEY", truncated)])).await;
    let (response, body) = get(&proxy.url("/sessions")).await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["x-langsmith-proxy-diagnosis"], "key_malformed");
    let summary = json(&body)["langsmith_proxy"]["summary"].to_string();
    assert!(summary.contains("shorter than LangSmith keys"), "{summary}");
    assert!(!String::from_utf8_lossy(&body).contains(truncated));
}
