//! Bodies that break halfway: a response the upstream stops sending, an upload the client
//! abandons. The other side must see a broken body, never one that looks complete: a short
//! response read as whole, or half a trace batch stored as if it were all of it.

mod support;

use std::time::Duration;

use http::Request;
use http_body_util::BodyExt;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Generous: a broken body is noticed in milliseconds; a hang fails the test instead.
const BOUND: Duration = Duration::from_secs(20);

/// An upstream that answers every request with `head` and `partial` and then closes the
/// connection, leaving the body short. Returns its URL.
async fn upstream_that_breaks_off(head: &'static str, partial: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(partial).await;
        }
    });
    url
}

/// Reads the response to `GET path` through the proxy to its end.
async fn read_through(proxy: &ProxyHandle, path: &str) -> (http::StatusCode, Result<bytes::Bytes, hyper::Error>) {
    let request = Request::get(proxy.url(path)).body(empty()).expect("request");
    let response = http_client(false).request(request).await.expect("response head");
    let status = response.status();
    let body = tokio::time::timeout(BOUND, response.into_body().collect())
        .await
        .expect("the body ended, one way or the other");
    (status, body.map(|collected| collected.to_bytes()))
}

#[tokio::test]
async fn a_response_cut_short_by_the_upstream_reaches_the_client_broken() {
    let logs = CapturedLogs::global();
    for (framing, head) in [
        (
            "content-length",
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n",
        ),
        (
            "chunked",
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
        ),
    ] {
        let partial: &'static [u8] = if framing == "chunked" {
            b"a\r\n{\"id\":\"r1\r\n"
        } else {
            b"{\"id\":\"r1"
        };
        let upstream = upstream_that_breaks_off(head, partial).await;
        let proxy = start_proxy(&upstream).await;
        let path = format!("/runs/{framing}");
        let (status, body) = read_through(&proxy, &path).await;
        assert_eq!(status, 200, "{framing}");
        assert!(
            body.is_err(),
            "{framing}: a short body arrived as if complete: {body:?}"
        );
        // Once serve has returned, every access line has been written.
        proxy.stop().await;
        let text = logs.text();
        let line = text
            .lines()
            .find(|line| line.contains("\"target\":\"access\"") && line.contains(&format!("\"path\":\"{path}\"")))
            .unwrap_or_else(|| panic!("{framing}: no access line in:\n{text}"));
        assert!(line.contains("\"completed\":false"), "{framing}: {line}");
    }
}

/// An upstream that records every byte of the one request it gets until the proxy closes the
/// connection, and never answers. `body_started` fires once the first body bytes arrived.
async fn recording_upstream() -> (String, oneshot::Receiver<()>, oneshot::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (started, body_started) = oneshot::channel();
    let (seen, received) = oneshot::channel();
    tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let mut bytes = Vec::new();
        let mut started = Some(started);
        let mut buffer = [0u8; 4096];
        while let Ok(n) = socket.read(&mut buffer).await {
            if n == 0 {
                break;
            }
            bytes.extend_from_slice(&buffer[..n]);
            if bytes.windows(3).any(|w| w == b"--b") {
                if let Some(started) = started.take() {
                    let _ = started.send(());
                }
            }
        }
        let _ = seen.send(bytes);
    });
    (url, body_started, received)
}

#[tokio::test]
async fn an_upload_the_client_abandons_never_looks_complete_upstream() {
    let logs = CapturedLogs::global();
    let (upstream, body_started, received) = recording_upstream().await;
    let proxy = start_proxy(&upstream).await;

    let mut client = TcpStream::connect(proxy.addr).await.expect("connect");
    let head = format!(
        "POST /runs/abandoned HTTP/1.1\r\nHost: {}\r\ncontent-type: multipart/form-data; boundary=b\r\ntransfer-encoding: chunked\r\n\r\n",
        proxy.addr
    );
    client.write_all(head.as_bytes()).await.expect("head");
    client.write_all(b"6\r\n--b\r\nx\r\n").await.expect("first chunk");
    tokio::time::timeout(BOUND, body_started)
        .await
        .expect("the first chunk reached the upstream")
        .expect("upstream running");
    // The client goes away halfway through its upload.
    drop(client);

    let bytes = tokio::time::timeout(BOUND, received)
        .await
        .expect("the proxy closed the upstream connection")
        .expect("recorded");
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("POST /runs/abandoned HTTP/1.1\r\n"), "{text}");
    assert!(text.contains("--b"), "{text}");
    assert!(!text.ends_with("0\r\n\r\n"), "the upstream saw a complete body: {text}");
    proxy.stop().await;
    // Logged as the client's doing, not blamed on the upstream.
    let logged = logs.text();
    let line = logged
        .lines()
        // The path is this test's own: the log capture is shared with the tests beside it.
        .find(|line| line.contains("\"target\":\"access\"") && line.contains("\"path\":\"/runs/abandoned\""))
        .unwrap_or_else(|| panic!("no access line in:\n{logged}"));
    assert!(line.contains("\"diagnosis\":\"client_body_incomplete\""), "{line}");
    assert!(line.contains("\"status\":400"), "{line}");
}

/// A chunk that is not one (a bad size line): the client is still there to read why.
#[tokio::test]
async fn a_malformed_chunk_is_answered_400_client_body_incomplete() {
    let (upstream, _body_started, received) = recording_upstream().await;
    let proxy = start_proxy(&upstream).await;
    post_with_a_malformed_chunk(proxy.addr).await;
    let bytes = tokio::time::timeout(BOUND, received)
        .await
        .expect("closed")
        .expect("recorded");
    assert!(!String::from_utf8_lossy(&bytes).ends_with("0\r\n\r\n"));
    proxy.stop().await;
}

/// An upstream that refuses every request on its head alone, as LangSmith does a revoked key,
/// and closes without reading the body. Returns its URL.
async fn upstream_refusing_on_the_head() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let upstream = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut head = [0u8; 4096];
            let _ = socket.read(&mut head).await;
            let body = r#"{"detail":"Invalid token"}"#;
            let answer = format!(
                "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(answer.as_bytes()).await;
            // A lingering close, as servers do: no more writes, then the unread body is read
            // and dropped, so the close does not reset the answer away.
            let _ = socket.shutdown().await;
            tokio::spawn(async move {
                let mut sink = [0u8; 64 * 1024];
                while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {}
            });
        }
    });
    upstream
}

/// The client, still sending, must get the explained 401 all the same.
#[tokio::test]
async fn an_early_401_reaches_a_client_still_uploading() {
    let proxy = start_proxy(&upstream_refusing_on_the_head().await).await;
    for _ in 0..5 {
        let request = Request::post(proxy.url("/runs/multipart"))
            .body(generated_body(16 * 1024 * 1024))
            .expect("request");
        let response = tokio::time::timeout(BOUND, http_client(false).request(request))
            .await
            .expect("answered")
            .expect("the 401 arrived, not a reset");
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["x-langsmith-proxy-diagnosis"], "key_rejected");
    }
    proxy.stop().await;
}

/// After answering early the proxy closes, but keeps reading (and dropping) what the client
/// still sends until the client closes too. Had it closed at once, the kernel would answer those
/// bytes with a reset, which can destroy the answer before the client reads it.
#[tokio::test]
async fn the_close_lingers_while_the_client_still_sends() {
    let proxy = start_proxy(&upstream_refusing_on_the_head().await).await;
    let mut client = TcpStream::connect(proxy.addr).await.expect("connect");
    let answer = early_answer_to_an_upload(&mut client, proxy.addr).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    drop(client);
    proxy.stop().await;
}
