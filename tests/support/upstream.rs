//! A fake LangSmith upstream on 127.0.0.1:0, plain or TLS, that records what it receives and
//! answers through a handler. Bodies are hashed as they stream, never collected.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::TestCa;

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    /// Path and query exactly as they arrived.
    pub target: String,
    pub version: Version,
    pub headers: HeaderMap,
    pub body_len: u64,
    pub body_sha256: String,
    /// The first 4 KiB of the body, for content assertions on small bodies.
    pub body_start: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub enum ReplyBody {
    Bytes(Bytes),
    /// `len` bytes of the deterministic pattern from [`pattern_chunk`].
    Generated(u64),
    /// Never send response headers (a hung upstream).
    Hang,
    /// The bytes, once as many requests as the barrier counts have reached it: proof that
    /// requests were in flight together.
    Gated(Arc<tokio::sync::Barrier>, Bytes),
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: ReplyBody,
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Self {
        Self {
            status: StatusCode::from_u16(status).expect("status"),
            headers: vec![("content-type".into(), "application/json".into())],
            body: ReplyBody::Bytes(Bytes::copy_from_slice(body.as_bytes())),
        }
    }

    pub fn ok() -> Self {
        Self::json(200, "{\"ok\":true}")
    }

    /// Never answers: a hung upstream.
    pub fn hang() -> Self {
        Self {
            status: StatusCode::OK,
            headers: vec![],
            body: ReplyBody::Hang,
        }
    }

    /// 200 with `len` bytes of the pattern from [`pattern_chunk`], streamed.
    pub fn generated(len: u64) -> Self {
        Self {
            status: StatusCode::OK,
            headers: vec![],
            body: ReplyBody::Generated(len),
        }
    }

    /// Holds this answer until `gate` is reached by as many requests as it counts.
    pub fn gated(mut self, gate: Arc<tokio::sync::Barrier>) -> Self {
        self.body = match self.body {
            ReplyBody::Bytes(bytes) => ReplyBody::Gated(gate, bytes),
            other => other,
        };
        self
    }

    /// Sets `name`, replacing any value it had (`json` sets a content type).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .retain(|(existing, _)| !existing.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }
}

pub type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

pub struct FakeUpstream {
    pub addr: SocketAddr,
    pub url: String,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    connections: Arc<AtomicUsize>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl FakeUpstream {
    /// Plain HTTP upstream answering with `handler`.
    pub async fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_inner(Arc::new(handler), None).await
    }

    /// HTTPS upstream with a certificate for localhost/127.0.0.1 signed by `ca`.
    pub async fn start_tls(ca: &TestCa, handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_tls_with(ca.server_config(), handler).await
    }

    /// HTTPS upstream with the given TLS settings (e.g. other ALPN protocols).
    pub async fn start_tls_with(
        config: Arc<rustls::ServerConfig>,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> Self {
        Self::start_inner(Arc::new(handler), Some(TlsAcceptor::from(config))).await
    }

    /// An upstream that accepts only [`super::TEST_KEY`] like LangSmith does, 200 otherwise.
    pub async fn requiring_key() -> Self {
        Self::start(|req| {
            if req.header("x-api-key") == Some(super::TEST_KEY) {
                Reply::ok()
            } else {
                Reply::json(401, "{\"detail\":\"Invalid token\"}")
            }
        })
        .await
    }

    async fn start_inner(handler: Handler, tls: Option<TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind upstream");
        let addr = listener.local_addr().expect("addr");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let host = if tls.is_some() { "localhost" } else { "127.0.0.1" };
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let (rec, conns) = (recorded.clone(), connections.clone());
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
                    _ = &mut stopped => return,
                };
                conns.fetch_add(1, Ordering::SeqCst);
                let (handler, rec, tls) = (handler.clone(), rec.clone(), tls.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| respond(req, handler.clone(), rec.clone()));
                    let builder = auto::Builder::new(TokioExecutor::new());
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                });
            }
        });
        Self {
            addr,
            url: format!("{scheme}://{host}:{}", addr.port()),
            recorded,
            connections,
            _stop: stop,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.recorded.lock().expect("lock").clone()
    }

    pub fn last(&self) -> Recorded {
        self.requests().pop().expect("the upstream received no request")
    }

    /// TCP connections accepted so far (for connection-reuse assertions).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn respond(
    request: Request<Incoming>,
    handler: Handler,
    recorded: Arc<Mutex<Vec<Recorded>>>,
) -> Result<Response<BoxBody<Bytes, Infallible>>, Infallible> {
    let (parts, mut body) = request.into_parts();
    let mut hasher = Sha256::new();
    let mut body_len = 0u64;
    let mut body_start = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Ok(data) = frame.into_data() {
            body_len += data.len() as u64;
            hasher.update(&data);
            let room = 4096usize.saturating_sub(body_start.len());
            body_start.extend_from_slice(&data[..room.min(data.len())]);
        }
    }
    let seen = Recorded {
        method: parts.method,
        target: parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str().to_owned())
            .unwrap_or_default(),
        version: parts.version,
        headers: parts.headers,
        body_len,
        body_sha256: hex(&hasher.finalize()),
        body_start: Bytes::from(body_start),
    };
    let reply = handler(&seen);
    recorded.lock().expect("lock").push(seen);
    let body = match reply.body {
        ReplyBody::Bytes(bytes) => Full::new(bytes).boxed(),
        ReplyBody::Generated(len) => generated_body(len),
        ReplyBody::Hang => std::future::pending().await,
        ReplyBody::Gated(gate, bytes) => {
            gate.wait().await;
            Full::new(bytes).boxed()
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = reply.status;
    for (name, value) in reply.headers {
        response.headers_mut().append(
            http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            http::HeaderValue::from_str(&value).expect("value"),
        );
    }
    Ok(response)
}

pub const CHUNK: usize = 64 * 1024;

/// Chunk `index` of the deterministic body pattern (16 distinct chunks, so reordering shows).
pub fn pattern_chunk(index: u64) -> Bytes {
    static CHUNKS: std::sync::OnceLock<Vec<Bytes>> = std::sync::OnceLock::new();
    let chunks = CHUNKS.get_or_init(|| {
        (0..16u64)
            .map(|i| {
                let mut state = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                let chunk: Vec<u8> = (0..CHUNK)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        state as u8
                    })
                    .collect();
                Bytes::from(chunk)
            })
            .collect()
    });
    chunks[(index % 16) as usize].clone()
}

/// A streamed body of `len` pattern bytes, produced chunk by chunk.
pub fn generated_body<E: Send + Sync + 'static>(len: u64) -> BoxBody<Bytes, E> {
    let chunks = len.div_ceil(CHUNK as u64);
    let stream = futures_util::stream::iter((0..chunks).map(move |i| {
        let mut chunk = pattern_chunk(i);
        let remaining = len - i * CHUNK as u64;
        if remaining < CHUNK as u64 {
            chunk.truncate(remaining as usize);
        }
        Ok(Frame::data(chunk))
    }));
    StreamBody::new(stream).boxed()
}

/// SHA-256 of what [`generated_body`] produces.
pub fn generated_sha256(len: u64) -> String {
    let mut hasher = Sha256::new();
    let mut left = len;
    let mut i = 0;
    while left > 0 {
        let chunk = pattern_chunk(i);
        let take = left.min(CHUNK as u64) as usize;
        hasher.update(&chunk[..take]);
        left -= take as u64;
        i += 1;
    }
    hex(&hasher.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
