//! Client helpers: a hyper client for well-formed requests, raw TCP for odd ones.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub type TestBody = BoxBody<Bytes, std::convert::Infallible>;

pub fn empty() -> TestBody {
    Empty::new().boxed()
}

pub fn full(bytes: impl Into<Bytes>) -> TestBody {
    Full::new(bytes.into()).boxed()
}

/// An HTTP/1.1 client; `h2c` switches to prior-knowledge HTTP/2 over plain TCP.
pub fn http_client(h2c: bool) -> Client<hyper_util::client::legacy::connect::HttpConnector, TestBody> {
    Client::builder(TokioExecutor::new()).http2_only(h2c).build_http()
}

/// Sends a request and collects the (small) response body.
pub async fn send(request: Request<TestBody>) -> (Response<()>, Bytes) {
    let response = http_client(false).request(request).await.expect("request to the proxy");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("response body").to_bytes();
    (Response::from_parts(parts, ()), bytes)
}

pub async fn get(url: &str) -> (Response<()>, Bytes) {
    send(Request::get(url).body(empty()).expect("request")).await
}

pub fn json(bytes: &Bytes) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// GETs `url` and hashes the response body as it streams: (status, length, SHA-256 hex).
pub async fn download(url: &str) -> (http::StatusCode, u64, String) {
    let response = http_client(false)
        .request(Request::get(url).body(empty()).expect("request"))
        .await
        .expect("download");
    let status = response.status();
    let mut body = response.into_body();
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("frame").into_data() {
            received += data.len() as u64;
            hasher.update(&data);
        }
    }
    (status, received, super::hex(&hasher.finalize()))
}

/// Writes raw bytes and reads until the server closes; for requests a client library would fix up.
pub async fn raw_exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

/// A chunked POST to the proxy at `addr` whose second chunk-size line is no size: the proxy
/// must answer it 400 `client_body_incomplete`. Returns the answer.
pub async fn post_with_a_malformed_chunk(addr: std::net::SocketAddr) -> String {
    let request =
        format!("POST /runs/batch HTTP/1.1\r\nHost: {addr}\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{{}}\r\r\nzz\r\n");
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        raw_exchange(addr, request.as_bytes()),
    )
    .await
    .expect("answered");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("x-langsmith-proxy-error: client_body_incomplete"),
        "{answer}"
    );
    answer
}

/// On `client`, starts a 64 MiB upload and sends its first 64 KiB; returns the answer the proxy
/// gave before the end and closed with, then checks that its close lingers: 16 MiB more are read
/// and dropped (far more than socket buffers hold), not answered with a reset.
pub async fn early_answer_to_an_upload(client: &mut TcpStream, addr: std::net::SocketAddr) -> String {
    const BOUND: std::time::Duration = std::time::Duration::from_secs(20);
    let head = format!(
        "POST /runs/multipart HTTP/1.1\r\nHost: {addr}\r\ncontent-length: {}\r\n\r\n",
        64 * 1024 * 1024
    );
    client.write_all(head.as_bytes()).await.expect("head sent");
    client
        .write_all(&[b'x'; 64 * 1024])
        .await
        .expect("some of the body sent");
    let mut answer = Vec::new();
    tokio::time::timeout(BOUND, client.read_to_end(&mut answer))
        .await
        .expect("the proxy answered and sent its FIN")
        .expect("the answer arrived, not a reset");
    tokio::time::timeout(BOUND, client.write_all(&vec![b'x'; 16 * 1024 * 1024]))
        .await
        .expect("the proxy went on reading")
        .expect("the proxy went on reading, no reset");
    String::from_utf8_lossy(&answer).into_owned()
}

/// A loopback port where something answers each connection with `answer` (whatever it was
/// asked), on a thread of its own. Returns its URL.
pub fn answering_with(answer: &'static [u8]) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(answer);
        }
    });
    url
}

/// A stand-in for a running langsmith-proxy as `doctor` sees it: it answers as the proxy
/// answers doctor's probe. Returns its URL.
pub fn proxy_stand_in() -> String {
    answering_with(
        b"HTTP/1.1 400 Bad Request\r\nx-langsmith-proxy-error: not_a_reverse_proxy_request\r\ncontent-length: 0\r\n\r\n",
    )
}
