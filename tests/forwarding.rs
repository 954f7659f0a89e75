//! Forwarding: paths, methods, headers and bodies pass through as they should.

mod support;

use bytes::Bytes;
use http::{Method, Request, Version};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use support::*;

#[tokio::test]
async fn path_and_query_are_byte_exact_for_every_method() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy(&upstream.url).await;
    let target = "/runs/query/a%2Fb/%7E?name=x%20y&tag=a+b&empty=&dup=1&dup=2&%C3%A9=%zz";
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] {
        let request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(proxy.url(target))
            .body(empty())
            .expect("request");
        let (response, _) = send(request).await;
        assert_eq!(response.status(), 200, "{method}");
        let seen = upstream.last();
        assert_eq!(seen.method.as_str(), method);
        assert_eq!(seen.target, target, "{method} changed the path or query");
    }
}

#[tokio::test]
async fn hop_by_hop_headers_are_dropped_and_forwarding_headers_added() {
    let upstream = FakeUpstream::start(|_| {
        Reply::ok()
            .with_header("connection", "x-upstream-hop")
            .with_header("x-upstream-hop", "1")
            .with_header("keep-alive", "timeout=5")
            .with_header("x-upstream-kept", "yes")
    })
    .await;
    let proxy = start_proxy(&upstream.url).await;
    let request = format!(
        "GET /info HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close, X-Client-Hop\r\nX-Client-Hop: secret\r\n\
         Keep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-Checksum\r\nUpgrade: websocket\r\n\
         Proxy-Authorization: Basic dXNlcjpwYXNz\r\nProxy-Connection: keep-alive\r\nX-Forwarded-For: 10.0.0.1\r\n\
         X-End-To-End: kept\r\n\r\n",
        port = proxy.addr.port()
    );
    let response = raw_exchange(proxy.addr, request.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let lower = response.to_ascii_lowercase();
    assert!(lower.contains("x-upstream-kept: yes"));
    assert!(!lower.contains("x-upstream-hop"), "{response}");
    assert!(!lower.contains("keep-alive: timeout"), "{response}");

    let seen = upstream.last();
    for hop in [
        "x-client-hop",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
    ] {
        assert!(seen.headers.get(hop).is_none(), "{hop} was forwarded");
    }
    // The client's Connection header ends at the proxy; hyper may add its own keep-alive one.
    let connection = seen.header("connection").unwrap_or_default().to_ascii_lowercase();
    assert!(
        !connection.contains("close") && !connection.contains("x-client-hop"),
        "{connection}"
    );
    assert_eq!(seen.header("x-end-to-end"), Some("kept"));
    assert_eq!(seen.header("host"), Some(upstream.url.trim_start_matches("http://")));
    assert_eq!(seen.header("x-forwarded-for"), Some("10.0.0.1, 127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    let via = seen.header("via").unwrap_or_default();
    assert!(
        via.starts_with("1.1 langsmith-proxy-") && via.len() == "1.1 langsmith-proxy-".len() + 16,
        "{via}"
    );
}

/// The app's id (or the one the proxy minted) stays the response's `x-request-id`, the one the
/// access line and diagnoses name; an upstream's own id is kept beside it.
#[tokio::test]
async fn the_upstreams_request_id_does_not_replace_the_proxys() {
    let upstream = FakeUpstream::start(|req| {
        let echo = req.header("x-request-id") == Some("echoed");
        Reply::ok().with_header("x-request-id", if echo { "echoed" } else { "upstream-rid-1" })
    })
    .await;
    let proxy = start_proxy(&upstream.url).await;
    let with_id = |id: &str| {
        Request::get(proxy.url("/info"))
            .header("x-request-id", id)
            .body(empty())
            .expect("request")
    };
    let (response, _) = send(with_id("client-rid-9")).await;
    assert_eq!(response.headers()["x-request-id"], "client-rid-9");
    assert_eq!(response.headers()["x-upstream-request-id"], "upstream-rid-1");
    assert_eq!(upstream.last().header("x-request-id"), Some("client-rid-9"));

    let (response, _) = send(with_id("echoed")).await;
    assert_eq!(response.headers()["x-request-id"], "echoed");
    assert!(response.headers().get("x-upstream-request-id").is_none());
    assert_eq!(response.headers().get_all("x-request-id").iter().count(), 1);
}

#[tokio::test]
async fn compressed_multipart_passes_untouched() {
    let upstream = FakeUpstream::start(|req| {
        Reply::json(202, "{}").with_header("x-echo-content-type", req.header("content-type").unwrap_or(""))
    })
    .await;
    let proxy = start_proxy(&upstream.url).await;
    // Bytes that are not valid zstd: a proxy that decoded or re-encoded would fail or change them.
    let body = Bytes::from_static(b"\x28\xb5\x2f\xfd--boundary-7MA4YWxkTrZu0gW\r\nnot really zstd\xff\x00");
    let content_type = "multipart/form-data; boundary=boundary-7MA4YWxkTrZu0gW";
    let request = Request::post(proxy.url("/runs/multipart"))
        .header("content-type", content_type)
        .header("content-encoding", "zstd")
        .header("x-pre-compressed-size", "1234")
        .header("x-post-compressed-size", body.len().to_string())
        .body(full(body.clone()))
        .expect("request");
    let (response, _) = send(request).await;
    assert_eq!(response.status(), 202);
    let seen = upstream.last();
    assert_eq!(seen.body_start, body);
    assert_eq!(seen.header("content-encoding"), Some("zstd"));
    assert_eq!(seen.header("content-type"), Some(content_type));
    assert_eq!(seen.header("x-pre-compressed-size"), Some("1234"));
}

#[tokio::test]
async fn chunked_upload_without_content_length() {
    let upstream = FakeUpstream::start(|_| Reply::json(202, "{}")).await;
    let proxy = start_proxy(&upstream.url).await;
    let len = 5 * CHUNK as u64 + 123;
    let request = Request::post(proxy.url("/runs/multipart"))
        .header("content-encoding", "gzip")
        .body(generated_body(len))
        .expect("request");
    let (response, _) = send(request).await;
    assert_eq!(response.status(), 202);
    let seen = upstream.last();
    assert_eq!(seen.body_len, len);
    assert_eq!(seen.body_sha256, generated_sha256(len));
    // Streamed as it came: chunked, not buffered to learn its length.
    assert!(seen.headers.get("content-length").is_none());
    assert_eq!(seen.header("transfer-encoding"), Some("chunked"));
}

#[tokio::test]
async fn large_bodies_both_ways_keep_their_checksums() {
    const LEN: u64 = 64 * 1024 * 1024 + 17;
    let upstream = FakeUpstream::start(|req| {
        if req.method == Method::GET {
            Reply::generated(LEN)
        } else {
            Reply::ok()
        }
    })
    .await;
    let proxy = start_proxy(&upstream.url).await;

    let upload = Request::post(proxy.url("/datasets/upload"))
        .body(generated_body(LEN))
        .expect("request");
    let (response, _) = send(upload).await;
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.last().body_len, LEN);
    assert_eq!(upstream.last().body_sha256, generated_sha256(LEN));

    let (status, received, sha256) = download(&proxy.url("/download")).await;
    assert_eq!(status, 200);
    assert_eq!(received, LEN);
    assert_eq!(sha256, generated_sha256(LEN));
}

/// The upstream must see the first chunk while the client still holds back the second: proof
/// that the proxy streams instead of collecting the body.
#[tokio::test]
async fn request_body_streams_before_the_client_finishes() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let upstream_url = format!("http://{}", listener.local_addr().expect("addr"));
    let (first_seen_tx, first_seen_rx) = tokio::sync::oneshot::channel::<Bytes>();
    let first_seen_tx = std::sync::Mutex::new(Some(first_seen_tx));
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let tx = first_seen_tx.lock().expect("lock").take();
            async move {
                let mut body = req.into_body();
                let mut total = 0usize;
                let mut tx = tx;
                while let Some(frame) = body.frame().await {
                    if let Ok(data) = frame.expect("frame").into_data() {
                        total += data.len();
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(data);
                        }
                    }
                }
                Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(Bytes::from(
                    total.to_string(),
                ))))
            }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
            .await;
    });
    let proxy = start_proxy(&upstream_url).await;

    let (chunks_tx, chunks_rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::convert::Infallible>>(1);
    let body = StreamBody::new(receiver_stream(chunks_rx)).boxed();
    let request = Request::post(proxy.url("/runs/multipart")).body(body).expect("request");
    let response = tokio::spawn(send(request));
    chunks_tx
        .send(Ok(Frame::data(Bytes::from_static(b"first"))))
        .await
        .expect("send first");
    let first = first_seen_rx
        .await
        .expect("upstream saw the first chunk while the upload was open");
    assert_eq!(&first[..], b"first");
    chunks_tx
        .send(Ok(Frame::data(Bytes::from_static(b"second"))))
        .await
        .expect("send second");
    drop(chunks_tx);
    let (response, body) = response.await.expect("join");
    assert_eq!(response.status(), 200);
    assert_eq!(&body[..], b"11");
}

/// The client must receive the first chunk while the upstream still holds back the rest.
#[tokio::test]
async fn response_body_streams_before_the_upstream_finishes() {
    let (upstream_url, chunks_tx) = streaming_upstream().await;
    let proxy = start_proxy(&upstream_url).await;
    let body = open_stream(proxy.addr, &chunks_tx).await;
    finish_stream(chunks_tx, body).await;
}

#[tokio::test]
async fn h2c_clients_are_served_and_upstream_connections_reused() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    // One worker, so both client connections share one pool (each worker has its own).
    let proxy = start_proxy_with(&upstream.url, &[("workers", "1")], env_with_key()).await;
    for h2c in [true, false] {
        let client = http_client(h2c);
        for _ in 0..20 {
            let response = client
                .request(Request::get(proxy.url("/info")).body(empty()).expect("request"))
                .await
                .expect("response");
            assert_eq!(response.status(), 200);
            assert_eq!(response.version(), if h2c { Version::HTTP_2 } else { Version::HTTP_11 });
            response.into_body().collect().await.expect("body");
        }
    }
    assert_eq!(upstream.requests().len(), 40);
    assert_eq!(
        upstream.connections(),
        1,
        "the proxy should keep one pooled upstream connection"
    );
}
