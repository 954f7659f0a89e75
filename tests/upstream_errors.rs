//! Errors the proxy makes when the upstream fails, the self-hosted path mapping, and request ids.

mod support;

use std::time::Duration;

use http::{Request, Response};
use support::*;

/// A loopback address where nothing listens: bound, then released.
async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

fn header<'a>(response: &'a Response<()>, name: &str) -> Option<&'a str> {
    header_of(response, name)
}

fn header_of<'a, B>(response: &'a Response<B>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn upstream_down_is_a_502_with_the_full_diagnosis() {
    let proxy = start_proxy(&closed_port_url().await).await;
    let request = Request::post(proxy.url("/runs/multipart?x=1"))
        .body(full("{}"))
        .expect("request");
    let (response, body) = send(request).await;
    assert_eq!(response.status(), 502);
    assert_eq!(
        header(&response, "x-langsmith-proxy-error"),
        Some("upstream_unreachable")
    );
    assert_eq!(header(&response, "content-type"), Some("application/json"));

    let body = json(&body);
    assert_eq!(body["error"], "upstream_unreachable");
    let member = &body["langsmith_proxy"];
    assert_eq!(member["code"], "upstream_unreachable");
    assert!(member["summary"].as_str().is_some_and(|s| !s.is_empty()), "{body}");
    assert!(
        member["fix"].as_array().is_some_and(|steps| !steps.is_empty()),
        "{body}"
    );
    assert_eq!(member["request"]["method"], "POST");
    assert_eq!(member["request"]["path"], "/runs/multipart");
    let id = header(&response, "x-request-id").expect("x-request-id on a proxy-made error");
    assert_eq!(member["request"]["id"], id);
    assert_eq!(member["key"]["hint"], TEST_KEY_HINT);
    assert_eq!(member["key"]["source"], "env:LANGSMITH_API_KEY");
    assert!(!body.to_string().contains(TEST_KEY));
}

#[tokio::test]
async fn upstream_that_hangs_up_is_a_502() {
    let url = raw_upstream(Then::Close).await;
    let proxy = start_proxy(&url).await;
    let (response, body) = get(&proxy.url("/info")).await;
    assert_eq!(response.status(), 502);
    assert_eq!(
        header(&response, "x-langsmith-proxy-error"),
        Some("upstream_unreachable")
    );
    let member = &json(&body)["langsmith_proxy"];
    assert_eq!(member["upstream"]["url"], url);
    assert!(
        member["summary"]
            .as_str()
            .is_some_and(|s| s.contains("closed it without answering")),
        "{member}"
    );
}

/// A TLS upstream that drops the connection without TLS's close_notify (a crashed server, a
/// load balancer cutting it): the proxy reached it, so no network path is blamed.
#[tokio::test]
async fn a_tls_upstream_that_drops_the_connection_is_not_called_unreachable() {
    use tokio::io::AsyncReadExt;
    let ca = TestCa::new();
    let acceptor = tokio_rustls::TlsAcceptor::from(ca.server_config());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("https://localhost:{}", listener.local_addr().expect("addr").port());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(stream).await {
                    let mut head = [0u8; 4096];
                    let _ = tls.read(&mut head).await;
                }
                // Dropped: the TCP connection closes with no close_notify.
            });
        }
    });
    let proxy = start_proxy_trusting(&ca, &url).await;
    let (response, body) = get(&proxy.url("/info")).await;
    assert_eq!(response.status(), 502);
    let member = &json(&body)["langsmith_proxy"];
    assert_eq!(member["code"], "upstream_unreachable");
    let summary = member["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("closed it without answering"), "{member}");
    assert!(!member["fix"].to_string().contains("DNS"), "{member}");
}

/// What a raw upstream does once it has read the start of a request.
#[derive(Clone)]
enum Then {
    /// Closes without answering.
    Close,
    /// Sends these bytes.
    Answer(bytes::Bytes),
    /// Keeps the connection and reads no more.
    Hold,
}

/// An upstream that reads the start of each request, then does `then`. Returns its URL.
async fn raw_upstream(then: Then) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let then = then.clone();
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head).await;
                match then {
                    Then::Close => {}
                    Then::Answer(answer) => {
                        let _ = stream.write_all(&answer).await;
                    }
                    Then::Hold => std::future::pending::<()>().await,
                }
            });
        }
    });
    url
}

async fn upstream_answering(answer: impl Into<bytes::Bytes>) -> String {
    raw_upstream(Then::Answer(answer.into())).await
}

#[tokio::test]
async fn an_upstream_answering_in_something_other_than_http_is_named_as_such() {
    let garbage = upstream_answering(&b"SSH-2.0-OpenSSH_9.6\r\n\r\n"[..]).await;
    let many_headers = (0..150).fold(String::from("HTTP/1.1 200 OK\r\n"), |head, n| {
        head + &format!("x-h{n}: v\r\n")
    }) + "content-length: 0\r\n\r\n";
    let crowded = upstream_answering(many_headers).await;
    let switching = upstream_answering(
        &b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"[..],
    )
    .await;
    for url in [garbage, crowded, switching] {
        let proxy = start_proxy(&url).await;
        let (response, body) = get(&proxy.url("/info")).await;
        assert_eq!(response.status(), 502, "{url}");
        assert_eq!(
            header(&response, "x-langsmith-proxy-error"),
            Some("upstream_unreachable")
        );
        let member = &json(&body)["langsmith_proxy"];
        let summary = member["summary"].as_str().unwrap_or_default();
        assert!(summary.contains("not with an HTTP response"), "{url}: {member}");
        assert!(!summary.contains("cannot reach"), "{url}: {member}");
        assert!(
            member["fix"][0]
                .as_str()
                .is_some_and(|s| s.contains("Check the upstream setting")),
            "{member}"
        );
        proxy.stop().await;
    }
}

/// Framed by Transfer-Encoding, a body's Content-Length is void (RFC 9112 §6.3); passed on, it
/// would cut the body short for an HTTP/1.1 client and break an h2c one.
#[tokio::test]
async fn a_content_length_beside_transfer_encoding_is_not_passed_on() {
    let url = upstream_answering(
        &b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"[..],
    )
    .await;
    let proxy = start_proxy(&url).await;
    for h2c in [false, true] {
        let request = Request::get(proxy.url("/info")).body(empty()).expect("request");
        let response = http_client(h2c).request(request).await.expect("response");
        assert_eq!(response.status(), 200);
        assert_ne!(header_of(&response, "content-length"), Some("3"), "h2c {h2c}");
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("the whole body, in its own framing")
            .to_bytes();
        assert_eq!(&body[..], b"hello", "h2c {h2c}");
    }
}

/// GET `url` from a proxy configured with a 300 ms timeout: the answer comes no sooner, and
/// within 10 s rather than never.
async fn get_after_a_timeout(url: &str) -> (Response<()>, bytes::Bytes) {
    let started = std::time::Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(10), get(url))
        .await
        .expect("the proxy answered within 10 s instead of hanging");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "answered before the timeout"
    );
    answer
}

#[tokio::test]
async fn hung_upstream_is_a_504_after_the_response_header_timeout() {
    let upstream = FakeUpstream::start(|_| Reply::hang()).await;
    let proxy = start_proxy_with(&upstream.url, &[("timeouts.response_header", "300ms")], env_with_key()).await;
    let (response, body) = get_after_a_timeout(&proxy.url("/runs/query")).await;
    assert_eq!(response.status(), 504);
    assert_eq!(header(&response, "x-langsmith-proxy-error"), Some("upstream_timeout"));
    let body = json(&body);
    assert_eq!(body["langsmith_proxy"]["code"], "upstream_timeout");
    assert!(
        body["detail"].as_str().unwrap_or("").contains("300ms"),
        "the detail should say how long it waited: {body}"
    );
    assert_eq!(upstream.requests().len(), 1, "the request did reach the upstream");

    // With a body the timer starts when the upload ends, and still fires.
    let started = std::time::Instant::now();
    let post = Request::post(proxy.url("/runs/batch"))
        .body(full("{}"))
        .expect("request");
    let (response, _) = tokio::time::timeout(Duration::from_secs(10), send(post))
        .await
        .expect("the proxy answered within 10 s instead of hanging");
    assert_eq!(response.status(), 504);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(upstream.last().body_len, 2);
}

/// An upstream that stops taking an upload (a dead pooled connection, a half-open one after a
/// network change) gets a 504 once `timeouts.response_header` passes without progress, rather
/// than leaving the request to the client connection's idle rules.
#[tokio::test]
async fn an_upstream_that_stops_taking_an_upload_is_a_504() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = raw_upstream(Then::Hold).await;
    let proxy = start_proxy_with(&url, &[("timeouts.response_header", "300ms")], env_with_key()).await;
    let (mut reader, mut writer) = tokio::net::TcpStream::connect(proxy.addr)
        .await
        .expect("connect")
        .into_split();
    let head = format!(
        "POST /runs/multipart HTTP/1.1\r\nHost: localhost\r\ncontent-length: {}\r\n\r\n",
        256 << 20
    );
    writer.write_all(head.as_bytes()).await.expect("head");
    // A client with all of its body ready: it sends for as long as anything takes it.
    tokio::spawn(async move {
        let piece = vec![b'x'; 1 << 20];
        for _ in 0..256 {
            if writer.write_all(&piece).await.is_err() {
                break;
            }
        }
    });
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("took no more") {
        let n = tokio::time::timeout(Duration::from_secs(20), reader.read(&mut buf))
            .await
            .expect("answered instead of waiting for the idle rules")
            .expect("an answer, not a reset");
        assert!(n > 0, "closed without: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 504"), "{answer}");
    assert!(answer.contains("took no more of the request body"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

/// `timeouts.response_header` counts from the end of the request body: an upload that takes
/// longer than it (a large batch over a slow link) is answered, not cut with a 504.
#[tokio::test]
async fn an_upload_longer_than_the_response_header_timeout_is_answered() {
    use http_body_util::{BodyExt, StreamBody};
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy_with(&upstream.url, &[("timeouts.response_header", "300ms")], env_with_key()).await;
    let (chunks, paced) =
        tokio::sync::mpsc::channel::<Result<hyper::body::Frame<bytes::Bytes>, std::convert::Infallible>>(1);
    let request = Request::post(proxy.url("/runs/multipart"))
        .body(StreamBody::new(receiver_stream(paced)).boxed())
        .expect("request");
    let response = tokio::spawn(send(request));
    let started = std::time::Instant::now();
    // A slow client: five pieces over at least 1 s, the longest pause longer than the timeout:
    // a client slow to send is no upstream that stopped taking the body.
    for pause in [150, 150, 450, 150, 150] {
        chunks
            .send(Ok(hyper::body::Frame::data(bytes::Bytes::from_static(b"0123456789"))))
            .await
            .expect("the proxy takes the upload");
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    drop(chunks);
    let (response, _) = response.await.expect("join");
    assert!(started.elapsed() >= Duration::from_millis(1050));
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.last().body_len, 50);
}

/// `timeouts.connect` bounds the TLS handshake too: an upstream that accepts TCP and never
/// answers the ClientHello gets a 504 naming that setting, not a wait for response_header.
#[tokio::test]
async fn an_upstream_silent_after_tcp_connect_is_a_504_after_the_connect_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("https://localhost:{}", listener.local_addr().expect("addr").port());
    let (accepted, mut connected) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Keep every connection open and silent.
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
            let _ = accepted.send(());
        }
    });
    let proxy = start_proxy_with(&url, &[("timeouts.connect", "300ms")], env_with_key()).await;
    let (response, body) = get_after_a_timeout(&proxy.url("/runs/query")).await;
    assert!(connected.try_recv().is_ok(), "the TCP connection was accepted");
    assert_eq!(response.status(), 504);
    assert_eq!(header(&response, "x-langsmith-proxy-error"), Some("upstream_timeout"));
    let body = json(&body);
    assert_eq!(body["langsmith_proxy"]["code"], "upstream_timeout");
    let detail = body["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("300ms") && detail.contains("timeouts.connect"),
        "{body}"
    );
}

#[tokio::test]
async fn reason_phrase_carries_the_code() {
    let proxy = start_proxy(&closed_port_url().await).await;
    let request = format!(
        "GET /info HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
        proxy.addr.port()
    );
    let response = raw_exchange(proxy.addr, request.as_bytes()).await;
    let status_line = response.lines().next().unwrap_or("");
    assert!(
        status_line.starts_with("HTTP/1.1 502 Bad Gateway (langsmith-proxy: upstream_unreachable: "),
        "{status_line}"
    );
    assert!(status_line.ends_with(')'), "{status_line}");
}

#[tokio::test]
async fn self_hosted_base_maps_paths_like_the_sdks() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy(&format!("{}/api/v1", upstream.url)).await;
    for (sent, arrived) in [
        ("/runs/multipart", "/api/v1/runs/multipart"),
        ("/info?a=%2F", "/api/v1/info?a=%2F"),
        ("/api/v2/x?y=1", "/api/v2/x?y=1"),
        ("/api/v1/workspaces", "/api/v1/workspaces"),
    ] {
        let (response, _) = get(&proxy.url(sent)).await;
        assert_eq!(response.status(), 200, "{sent}");
        assert_eq!(upstream.last().target, arrived, "{sent}");
    }
}

#[tokio::test]
async fn request_id_is_kept_or_minted_and_echoed() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy(&upstream.url).await;

    let request = Request::get(proxy.url("/info"))
        .header("x-request-id", "client-chosen-id-42")
        .body(empty())
        .expect("request");
    let (response, _) = send(request).await;
    assert_eq!(header(&response, "x-request-id"), Some("client-chosen-id-42"));
    assert_eq!(upstream.last().header("x-request-id"), Some("client-chosen-id-42"));

    let mut minted = Vec::new();
    for _ in 0..2 {
        let (response, _) = get(&proxy.url("/info")).await;
        let id = header(&response, "x-request-id").expect("a minted id").to_owned();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "not a UUID: {id}");
        assert_eq!(upstream.last().header("x-request-id"), Some(id.as_str()));
        minted.push(id);
    }
    assert_ne!(minted[0], minted[1], "each request gets its own id");
}

/// An upstream that answers the first request on each connection, then closes the connection
/// when the next request arrives on it, unanswered: its idle timeout meeting a request in flight.
async fn upstream_closing_reused_connections() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let connections = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok";
                if stream.write_all(answer).await.is_err() {
                    return;
                }
                // The next request's first bytes, then the close.
                let _ = stream.read(&mut buf).await;
            });
        }
    });
    (url, connections)
}

/// The pooled connection the request went out on is closed under it with no answer: a GET is
/// sent again on a fresh connection and succeeds; a POST, which may have been acted on, is not.
#[tokio::test]
async fn a_get_on_a_connection_closed_under_it_is_sent_again_a_post_is_not() {
    let (url, connections) = upstream_closing_reused_connections().await;
    let proxy = start_proxy_with(&url, &[("workers", "1")], env_with_key()).await;
    let (first, _) = get(&proxy.url("/info")).await;
    assert_eq!(first.status(), 200);
    let (second, body) = get(&proxy.url("/info")).await;
    assert_eq!(second.status(), 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, "ok".as_bytes());
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "resent on a new connection"
    );

    let post = Request::post(proxy.url("/runs")).body(full("{}")).expect("request");
    let (response, _) = send(post).await;
    assert_eq!(response.status(), 502);
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "a POST is not resent"
    );
}
