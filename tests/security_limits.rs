//! Limits on what one client can hold of the proxy: slow or oversized request heads, idle
//! connections, and too many connections. Each is answered (431, 503) or closed, and counted.

mod support;

use std::time::{Duration, Instant};

use http::Request;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use langsmith_proxy::limit_counters::LimitCounts;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Short limits keep the tests quick; `BOUND` only fails a test that would otherwise hang.
const HEADER_TIMEOUT: Duration = Duration::from_millis(300);
const BOUND: Duration = Duration::from_secs(10);

async fn wait_for(counts: &mut watch::Receiver<LimitCounts>, reached: impl FnMut(&LimitCounts) -> bool) {
    tokio::time::timeout(BOUND, counts.wait_for(reached))
        .await
        .expect("the limit was not counted")
        .expect("counters dropped");
}

/// A proxy in front of a fake upstream, with [`HEADER_TIMEOUT`] as `limits.header_read_timeout`.
async fn proxy_with_short_header_timeout() -> (FakeUpstream, ProxyHandle) {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let timeout = format!("{}ms", HEADER_TIMEOUT.as_millis());
    let proxy = start_proxy_with(
        &upstream.url,
        &[("limits.header_read_timeout", &timeout)],
        env_with_key(),
    )
    .await;
    (upstream, proxy)
}

/// The client sends nothing more; the server must end the connection on its own, not before
/// the header timeout, with at most a 408.
async fn assert_closed_at_the_header_timeout(mut stream: TcpStream, since: Instant) {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(BOUND, stream.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the connection was held open past {BOUND:?}");
    assert!(since.elapsed() >= HEADER_TIMEOUT, "closed before the header timeout");
    let answer = String::from_utf8_lossy(&rest);
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn a_slowloris_client_is_closed_at_the_header_timeout() {
    let (upstream, proxy) = proxy_with_short_header_timeout().await;
    let mut counts = proxy.app.limit_counters().subscribe();
    // Taken before connecting: the proxy's timer cannot start earlier than this.
    let started = Instant::now();
    let mut stream = TcpStream::connect(proxy.addr).await.expect("connect");
    stream
        .write_all(b"GET /info HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
        .await
        .expect("write");

    // The client never finishes its headers.
    assert_closed_at_the_header_timeout(stream, started).await;
    wait_for(&mut counts, |c| c.header_timeout == 1).await;
    assert_eq!(proxy.app.limit_counters().snapshot().idle_closed, 0);
    assert!(upstream.requests().is_empty());
}

/// The admin port is held to the same header timeout, from the first moment: a client that
/// connects and never sends a byte is disconnected.
#[tokio::test]
async fn a_silent_admin_connection_is_closed_at_the_header_timeout() {
    let (_upstream, proxy) = proxy_with_short_header_timeout().await;
    let admin = start_admin(&proxy.app).await;
    let started = Instant::now();
    let stream = TcpStream::connect(admin.trim_start_matches("http://"))
        .await
        .expect("connect");
    assert_closed_at_the_header_timeout(stream, started).await;
    // The endpoints still answer.
    assert_eq!(get(&format!("{admin}/live")).await.0.status(), 200);
}

#[tokio::test]
async fn an_h2c_client_trickling_its_first_frames_is_closed_at_the_header_timeout() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy_with(
        &upstream.url,
        &[("limits.header_read_timeout", "300ms")],
        env_with_key(),
    )
    .await;
    let mut counts = proxy.app.limit_counters().subscribe();
    let started = Instant::now();
    let stream = TcpStream::connect(proxy.addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .expect("preface");
    // A SETTINGS frame announcing 600 bytes, sent one byte per 50 ms: every byte resets the
    // idle timer, and no request head ever completes.
    let trickle = tokio::spawn(async move {
        let mut frame = vec![0x00, 0x02, 0x58, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00];
        frame.resize(9 + 600, 0);
        for byte in frame {
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut rest = Vec::new();
    let read = tokio::time::timeout(BOUND, reader.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the trickling connection was held open past {BOUND:?}");
    assert!(started.elapsed() >= HEADER_TIMEOUT, "closed before the header timeout");
    wait_for(&mut counts, |c| c.header_timeout == 1).await;
    trickle.abort();
    assert!(upstream.requests().is_empty());
}

/// The header timeout bounds a request head, not a connection: keep-alive requests and a slow
/// response that together last several timeouts go through, on the one connection.
#[tokio::test]
async fn a_busy_connection_outlives_the_header_timeout() {
    let (upstream_url, chunks) = streaming_upstream().await;
    let timeout = format!("{}ms", HEADER_TIMEOUT.as_millis());
    let proxy = start_proxy_with(
        &upstream_url,
        &[("limits.header_read_timeout", &timeout)],
        env_with_key(),
    )
    .await;
    let stream = TcpStream::connect(proxy.addr).await.expect("connect");
    let (mut h1, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("h1 handshake");
    let connection = tokio::spawn(connection);
    let request = Request::get("/runs/stream")
        .header("host", "127.0.0.1")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("request");
    let response = h1.send_request(request).await.expect("headers");
    assert_eq!(response.status(), 200);
    // The scenario, not synchronisation: the answer keeps coming for three header timeouts.
    for _ in 0..6 {
        send_chunk(&chunks, b"x").await;
        tokio::time::sleep(HEADER_TIMEOUT / 2).await;
    }
    drop(chunks);
    let body = response.into_body().collect().await.expect("the whole body").to_bytes();
    assert_eq!(&body[..], b"xxxxxx");
    assert!(!connection.is_finished(), "the connection was closed");
    drop(h1);
    let _ = connection.await;
}

/// A proxy with heads limited to 8192 bytes and 20 fields.
async fn proxy_with_small_head_limits() -> (FakeUpstream, ProxyHandle) {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy_with(
        &upstream.url,
        &[("limits.max_header_bytes", "8192"), ("limits.max_headers", "20")],
        env_with_key(),
    )
    .await;
    (upstream, proxy)
}

#[tokio::test]
async fn oversized_request_heads_get_431() {
    let logs = CapturedLogs::global();
    let (upstream, proxy) = proxy_with_small_head_limits().await;
    let mut counts = proxy.app.limit_counters().subscribe();

    // Over max_header_bytes: answered by the proxy with its diagnosis, and logged.
    let big = format!(
        "GET /oversized HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(10_000)
    );
    let response = raw_exchange(proxy.addr, big.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
    assert!(
        response.contains("x-langsmith-proxy-error: header_too_large"),
        "{response}"
    );
    let body = &response[response.find("\r\n\r\n").expect("a body") + 4..];
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    assert_eq!(json["langsmith_proxy"]["code"], "header_too_large", "{json}");
    let fix = json["langsmith_proxy"]["fix"].to_string();
    assert!(fix.contains("limits.max_header_bytes"), "{fix}");
    let summary = json["langsmith_proxy"]["summary"].as_str().expect("summary");
    assert!(summary.contains("8192"), "{summary}");
    wait_for(&mut counts, |c| c.header_too_large == 1).await;
    // The access line is written when the response body ends, before the connection closes.
    let logged = logs.text();
    let access = logged
        .lines()
        .find(|line| line.contains("\"target\":\"access\"") && line.contains("\"path\":\"/oversized\""))
        .unwrap_or_else(|| panic!("no access line in:\n{logged}"));
    assert!(
        access.contains("\"status\":431") && access.contains("header_too_large"),
        "{access}"
    );

    // Past the read buffer too (hyper's own answer), and over max_headers: still 431, counted.
    let huge = format!(
        "GET /info HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: {}\r\n\r\n",
        "a".repeat(300 * 1024)
    );
    let response = raw_exchange(proxy.addr, huge.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
    wait_for(&mut counts, |c| c.header_too_large == 2).await;

    let many: String = (0..30).map(|i| format!("X-Header-{i}: {i}\r\n")).collect();
    let request = format!("GET /info HTTP/1.1\r\nHost: 127.0.0.1\r\n{many}\r\n");
    let response = raw_exchange(proxy.addr, request.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
    wait_for(&mut counts, |c| c.header_too_large == 3).await;

    // Within both limits, the request is served: up to the last byte, although the proxy adds
    // an x-request-id of its own before the guard looks.
    let head = |pad: usize| {
        format!(
            "GET /info HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Pad: {}\r\n\r\n",
            "b".repeat(pad)
        )
    };
    let exactly = head(8192 - head(0).len());
    assert_eq!(exactly.len(), 8192);
    let response = raw_exchange(proxy.addr, exactly.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert_eq!(upstream.requests().len(), 1);
    let response = raw_exchange(proxy.addr, head(8193 - head(0).len()).as_bytes()).await;
    assert!(response.contains("header_too_large"), "{response}");
    wait_for(&mut counts, |c| c.header_too_large == 4).await;
}

/// The admin port applies the same head limits.
/// An app whose endpoint says https:// sends a TLS ClientHello to the plain port: hyper answers
/// 400 and closes, and the proxy says why in the log and counts it, as for any head that is not
/// HTTP.
#[tokio::test]
async fn a_tls_client_on_the_plain_port_is_named() {
    let logs = CapturedLogs::global();
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy(&upstream.url).await;
    let mut counts = proxy.app.limit_counters().subscribe();
    // The start of a TLS 1.2 ClientHello record, as any https:// client sends it.
    let hello = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03GET / HTTP/1.1\r\n\r\n";
    let _ = raw_exchange(proxy.addr, hello).await;
    wait_for(&mut counts, |c| c.not_http == 1).await;
    assert!(
        logs.text().contains("spoke TLS to this plain-HTTP port"),
        "{}",
        logs.text()
    );

    let _ = raw_exchange(proxy.addr, b"GET /\x01 HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    wait_for(&mut counts, |c| c.not_http == 2).await;
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn the_admin_port_applies_the_head_limits() {
    let (_upstream, proxy) = proxy_with_small_head_limits().await;
    let mut counts = proxy.app.limit_counters().subscribe();
    let admin = start_admin(&proxy.app).await;
    let addr: std::net::SocketAddr = admin.trim_start_matches("http://").parse().expect("admin address");
    let big = format!(
        "GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(10_000)
    );
    let response = raw_exchange(addr, big.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
    assert!(response.contains("limits.max_header_bytes"), "{response}");
    wait_for(&mut counts, |c| c.header_too_large == 1).await;
    let fits = "GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    assert!(raw_exchange(addr, fits.as_bytes()).await.starts_with("HTTP/1.1 200"));
}

/// On h2c the same limits give the same explained 431, not h2's own bare refusal.
#[tokio::test]
async fn oversized_h2c_heads_get_the_explained_431() {
    let (upstream, proxy) = proxy_with_small_head_limits().await;
    let mut counts = proxy.app.limit_counters().subscribe();
    let stream = TcpStream::connect(proxy.addr).await.expect("connect");
    let (mut h2, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .expect("h2 handshake");
    let connection = tokio::spawn(connection);
    let big = Request::get(format!("http://127.0.0.1:{}/info", proxy.addr.port()))
        .header("x-big", "a".repeat(10_000))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("request");
    let mut many = Request::get(format!("http://127.0.0.1:{}/info", proxy.addr.port()));
    for i in 0..30 {
        many = many.header(format!("x-header-{i}"), i.to_string());
    }
    let many = many
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("request");
    for (request, limit) in [(big, "max_header_bytes"), (many, "max_headers")] {
        let response = h2.send_request(request).await.expect("an answer");
        assert_eq!(response.status(), 431);
        assert_eq!(
            response.headers().get("x-langsmith-proxy-error").map(|v| v.as_bytes()),
            Some(&b"header_too_large"[..])
        );
        let body = response.into_body().collect().await.expect("body").to_bytes();
        let summary = String::from_utf8_lossy(&body);
        assert!(summary.contains(limit), "{summary}");
    }
    wait_for(&mut counts, |c| c.header_too_large == 2).await;
    assert!(upstream.requests().is_empty());
    drop(h2);
    let _ = connection.await;
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy_with(&upstream.url, &[("limits.idle_timeout", "300ms")], env_with_key()).await;
    let mut counts = proxy.app.limit_counters().subscribe();

    // HTTP/1.1 keep-alive, then HTTP/2: after one request each, the client stays silent.
    let stream = TcpStream::connect(proxy.addr).await.expect("connect");
    let (mut h1, h1_connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("h1 handshake");
    let h1_connection = tokio::spawn(h1_connection);
    let stream = TcpStream::connect(proxy.addr).await.expect("connect");
    let (mut h2, h2_connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .expect("h2 handshake");
    let h2_connection = tokio::spawn(h2_connection);
    let request = || Request::get(proxy.url("/info")).body(empty()).expect("request");
    let started = Instant::now();
    assert_eq!(h1.send_request(request()).await.expect("h1 response").status(), 200);
    assert_eq!(h2.send_request(request()).await.expect("h2 response").status(), 200);

    for connection in [h1_connection, h2_connection] {
        let ended = tokio::time::timeout(BOUND, connection).await;
        assert!(ended.is_ok(), "an idle connection was held open past {BOUND:?}");
    }
    assert!(started.elapsed() >= Duration::from_millis(300));
    wait_for(&mut counts, |c| c.idle_closed == 2).await;
}

/// One HTTP/2 frame.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(payload.len()).expect("small frame").to_be_bytes();
    let mut frame = length[1..].to_vec();
    frame.extend([kind, flags]);
    frame.extend(stream.to_be_bytes());
    frame.extend(payload);
    frame
}

/// An h2c client that makes one request, then only pings (answering the proxy's pings and
/// settings as a live client does): its bytes never stop, but it brings no request, so its
/// slot goes after `limits.idle_timeout` as an idle HTTP/1.1 client's does.
#[tokio::test]
async fn an_h2c_client_that_only_pings_is_closed_after_the_idle_timeout() {
    const PING: u8 = 6;
    const SETTINGS: u8 = 4;
    const ACK: u8 = 1;
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy_with(&upstream.url, &[("limits.idle_timeout", "300ms")], env_with_key()).await;
    let mut counts = proxy.app.limit_counters().subscribe();
    let mut stream = TcpStream::connect(proxy.addr).await.expect("connect");
    // GET / on stream 1 (HPACK: :method GET, :scheme http, :path /, :authority 127.0.0.1).
    let mut head = vec![0x82, 0x86, 0x84, 0x41, 9];
    head.extend(b"127.0.0.1");
    let mut opening = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    opening.extend(h2_frame(SETTINGS, 0, 0, &[]));
    opening.extend(h2_frame(1, 0x5, 1, &head));
    stream.write_all(&opening).await.expect("request");
    let started = Instant::now();
    let pinging = async {
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            stream.write_all(&h2_frame(PING, 0, 0, b"12345678")).await?;
            let read = match tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buffer)).await {
                Ok(read) => read?,
                Err(_) => continue,
            };
            if read == 0 {
                return Ok::<(), std::io::Error>(());
            }
            received.extend_from_slice(&buffer[..read]);
            while received.len() >= 9 {
                let length = usize::from(received[0]) << 16 | usize::from(received[1]) << 8 | usize::from(received[2]);
                if received.len() < 9 + length {
                    break;
                }
                let (kind, flags) = (received[3], received[4]);
                let payload: Vec<u8> = received.drain(..9 + length).skip(9).collect();
                if (kind == PING || kind == SETTINGS) && flags & ACK == 0 {
                    stream
                        .write_all(&h2_frame(kind, ACK, 0, if kind == PING { &payload } else { &[] }))
                        .await?;
                }
            }
        }
    };
    // Closed (or reset) by the proxy, either way within the bound.
    let closed = tokio::time::timeout(BOUND, pinging).await;
    assert!(
        closed.is_ok(),
        "a client that only pings held its connection past {BOUND:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "closed before the idle timeout"
    );
    wait_for(&mut counts, |c| c.idle_closed == 1).await;
    assert_eq!(upstream.requests().len(), 1);
}

/// After one request, an h2c client that trickles its next request head a byte at a time
/// keeps bytes coming but brings no request: after the idle close it serves no stream, and is
/// dropped within `limits.header_read_timeout` instead of holding its slot.
#[tokio::test]
async fn an_h2c_client_trickling_a_later_request_head_is_dropped() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let flags = [
        ("limits.idle_timeout", "300ms"),
        ("limits.header_read_timeout", "300ms"),
    ];
    let proxy = start_proxy_with(&upstream.url, &flags, env_with_key()).await;
    let mut counts = proxy.app.limit_counters().subscribe();
    let stream = TcpStream::connect(proxy.addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    // GET / on stream 1 (HPACK: :method GET, :scheme http, :path /, :authority 127.0.0.1).
    let mut head = vec![0x82, 0x86, 0x84, 0x41, 9];
    head.extend(b"127.0.0.1");
    let mut opening = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    opening.extend(h2_frame(4, 0, 0, &[]));
    opening.extend(h2_frame(1, 0x5, 1, &head));
    writer.write_all(&opening).await.expect("request");
    // Stream 3's head, 600 bytes announced, one byte every 50 ms: 30 s to complete.
    let trickle = tokio::spawn(async move {
        let mut frame = h2_frame(1, 0x4, 3, &head);
        frame[..3].copy_from_slice(&[0x00, 0x02, 0x58]);
        frame.resize(9 + 600, 0);
        for byte in frame {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
        }
    });
    let mut rest = Vec::new();
    let read = tokio::time::timeout(BOUND, reader.read_to_end(&mut rest)).await;
    assert!(
        read.is_ok(),
        "a trickled request head held the connection past {BOUND:?}"
    );
    wait_for(&mut counts, |c| c.header_timeout == 1).await;
    assert_eq!(upstream.requests().len(), 1);
    trickle.abort();
}

/// A response whose body stops moving (and a client that stops reading looks the same) is
/// closed gracefully at the idle timeout, which waits for the response; once it has also moved
/// nothing for the longest a request may wait (twice `timeouts.response_header` and a key
/// re-read) more, the connection is dropped and its slot freed.
#[tokio::test]
async fn a_stalled_response_does_not_keep_its_slot() {
    a_stalled_response_frees_its_slot(false).await;
}

/// The same over h2c, where the idle close is a GOAWAY and its ping: answered, they must not
/// keep a stalled connection alive.
#[tokio::test]
async fn a_stalled_h2c_response_does_not_keep_its_slot() {
    a_stalled_response_frees_its_slot(true).await;
}

async fn a_stalled_response_frees_its_slot(h2c: bool) {
    let (upstream, chunks) = streaming_upstream().await;
    let flags = [
        ("limits.max_connections", "1"),
        ("limits.idle_timeout", "300ms"),
        ("timeouts.response_header", "300ms"),
        ("key.command_timeout", "100ms"),
    ];
    let proxy = start_proxy_with(&upstream, &flags, env_with_key()).await;
    let mut counts = proxy.app.limit_counters().subscribe();
    let started = Instant::now();
    let body = open_stream_over(proxy.addr, &chunks, h2c).await;

    wait_for(&mut counts, |c| c.idle_closed == 1).await;
    let rest = tokio::time::timeout(BOUND, body.collect())
        .await
        .expect("the stalled connection was dropped");
    assert!(rest.is_err(), "the body must end in an error, not look complete");
    wait_for(&mut counts, |c| c.stalled == 1).await;
    // 300 ms idle, then 2 × 300 ms + 100 ms + 1 s.
    assert!(started.elapsed() >= Duration::from_millis(2_000));

    // The slot is free again: a connection is served, not refused with 503. The worker frees
    // the slot just after the socket closes, so a reconnect may still meet it for a moment.
    let request = format!("GET /info HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", proxy.addr.port());
    let served = async {
        loop {
            let response = raw_exchange(proxy.addr, request.as_bytes()).await;
            if response.starts_with("HTTP/1.1 ") && !response.starts_with("HTTP/1.1 503") {
                break;
            }
        }
    };
    tokio::time::timeout(BOUND, served).await.expect("the slot was freed");
    drop(chunks);
}

#[tokio::test]
async fn connections_over_the_limit_get_503() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy_with(&upstream.url, &[("limits.max_connections", "1")], env_with_key()).await;
    let mut counts = proxy.app.limit_counters().subscribe();

    // The first connection takes the only slot (accepted first: the kernel queues in order).
    let holder = TcpStream::connect(proxy.addr).await.expect("connect");
    let request = format!("GET /info HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", proxy.addr.port());
    let response = raw_exchange(proxy.addr, request.as_bytes()).await;

    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    let lower = response.to_ascii_lowercase();
    assert!(
        lower.contains("x-langsmith-proxy-error: too_many_connections"),
        "{response}"
    );
    assert!(lower.contains("connection: close"), "{response}");
    assert!(lower.contains("x-request-id: "), "{response}");
    assert!(response.contains("limits.max_connections"), "{response}");
    // Answered before the host, origin and token checks: it says nothing about the key.
    assert!(!response.contains(TEST_KEY_HINT), "{response}");
    assert!(!response.contains("LANGSMITH_API_KEY"), "{response}");
    assert!(!lower.contains("x-langsmith-proxy-key"), "{response}");
    wait_for(&mut counts, |c| c.connections_refused == 1).await;
    assert!(upstream.requests().is_empty());
    drop(holder);
}

/// An SDK uploading a large batch on a connection over the limit must read the 503, not a reset:
/// the refusal closes lingering, reading and dropping what the client still sends.
#[tokio::test]
async fn a_503_over_the_limit_reaches_a_client_still_uploading() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy_with(&upstream.url, &[("limits.max_connections", "1")], env_with_key()).await;
    let holder = TcpStream::connect(proxy.addr).await.expect("connect");
    let mut counts = proxy.app.limit_counters().subscribe();
    let mut client = TcpStream::connect(proxy.addr).await.expect("connect");
    wait_for(&mut counts, |c| c.connections_refused == 1).await;
    let answer = early_answer_to_an_upload(&mut client, proxy.addr).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(upstream.requests().is_empty());
    drop((client, holder));
}

#[tokio::test]
async fn a_flood_over_the_limit_is_closed_without_piling_up() {
    use tokio::io::AsyncReadExt;
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let flags = [("limits.max_connections", "1"), ("limits.header_read_timeout", "60s")];
    let proxy = start_proxy_with(&upstream.url, &flags, env_with_key()).await;
    let mut counts = proxy.app.limit_counters().subscribe();
    let holder = TcpStream::connect(proxy.addr).await.expect("connect");
    // Silent connections over the limit: each waits (up to the header timeout) for its 503.
    let mut waiting = Vec::new();
    for _ in 0..langsmith_proxy::MAX_REFUSING {
        waiting.push(TcpStream::connect(proxy.addr).await.expect("connect"));
    }
    wait_for(&mut counts, |c| {
        c.connections_refused == langsmith_proxy::MAX_REFUSING as u64
    })
    .await;
    // One more is closed at once instead of waiting too.
    let mut extra = TcpStream::connect(proxy.addr).await.expect("connect");
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(std::time::Duration::from_secs(20), extra.read(&mut buffer))
        .await
        .expect("closed promptly, not held until the header timeout");
    assert!(matches!(read, Ok(0) | Err(_)), "closed without an answer: {read:?}");
    drop((holder, waiting));
}

#[test]
fn limits_are_validated() {
    let env = env_with_key();
    for (key, value, expected) in [
        ("limits.max_header_bytes", "4096", "8192"),
        ("limits.max_headers", "0", "from 1"),
        ("limits.max_connections", "lots", "whole number"),
        ("limits.header_read_timeout", "0s", "longer than 0"),
        ("limits.idle_timeout", "soon", "duration"),
    ] {
        let error = load_config(&[(key, value)], &env).expect_err(key);
        let message = error.to_string();
        assert!(message.contains(key) && message.contains(expected), "{message}");
    }
}

/// A burst of clients connecting at once (500 from a load test, a fleet restarting) waits in the
/// kernel's accept queue. With std's backlog of 128 the rest had their handshakes dropped, and
/// each of those clients waited a second or more, or saw a reset. Linux only: macOS and Windows
/// cap the backlog near 128 by default, whatever the proxy asks for.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_burst_of_connections_waits_for_accept() {
    let Some(somaxconn) = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|text| text.trim().parse::<usize>().ok())
    else {
        eprintln!("skipped: net.core.somaxconn is not readable");
        return;
    };
    let burst = 300.min(somaxconn);
    if burst <= 129 {
        eprintln!("skipped: net.core.somaxconn is {somaxconn}, no larger than std's backlog");
        return;
    }
    let addr: langsmith_proxy::listener::ListenAddr = "127.0.0.1:0".parse().expect("address");
    // Never accepts: every handshake has to be held by the kernel.
    let listener = langsmith_proxy::Listener::bind(&addr, 0o600).await.expect("bind");
    let langsmith_proxy::listener::ListenAddr::Tcp(bound) = listener.local_addr().expect("address") else {
        panic!("bound a TCP address");
    };
    let connects = (0..burst).map(|_| TcpStream::connect(bound));
    let connected = tokio::time::timeout(BOUND, futures_util::future::join_all(connects))
        .await
        .expect("every handshake completes without an accept (dropped SYNs retry after 1 s, 3 s, ...)");
    assert!(connected.iter().all(Result::is_ok), "all {burst} connected");
    drop(listener);
}
