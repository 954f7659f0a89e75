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
