//! The request path. [`stack`] is the one place that orders the layers, top to bottom.

mod access_log;
pub(crate) mod allowlist;
pub(crate) mod counted_body;
mod credentials;
mod decompress;
mod diagnose;
mod error;
mod facts;
mod forward;
mod gate;
mod guard;
mod head_limit;
mod health;
mod hop_by_hop;
mod report;
mod request_id;
mod retry;
mod upload_end;
mod via;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION};
use http::{HeaderName, HeaderValue, Request, Response};
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use tower::{Service, ServiceBuilder};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

pub use error::ProxyError;
pub use facts::{Credential, RequestFacts};
pub use guard::GuardPolicy;
pub use head_limit::{HeadLimits, ReceivedHead};
pub use health::Readiness;
pub use request_id::new_request_id;
pub use via::ProxyVia;

use crate::client::UpstreamClient;
use crate::config::{ClientCredentials, Timeouts};
use crate::diagnosis::Journal;
use crate::key_check::KeyCheck;
use crate::limit_counters::LimitCounters;
use crate::metrics::Metrics;
use crate::secret::{KeyReloader, KeyStore, ReloadCounters};
use crate::upstream::Upstream;

/// Every body the proxy sends or receives: streamed from the peer, or a small one it made.
pub type ProxyBody = BoxBody<Bytes, hyper::Error>;

pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
pub const X_TENANT_ID: HeaderName = HeaderName::from_static("x-tenant-id");
/// The SDK's alternative credential for write replicas (LangGraph platform internals): a client
/// credential like the others, which LangSmith could prefer to the injected key.
pub const X_SERVICE_KEY: HeaderName = HeaderName::from_static("x-service-key");

/// What the server knows of a request as it arrives, before the request path: the one
/// extension it adds (one, so the request's extension map does not grow twice).
#[derive(Debug, Clone)]
pub struct Arrival {
    /// `None` on a unix socket.
    pub client: Option<ClientAddr>,
    pub head: ReceivedHead,
}

/// The address of the downstream client in the forms requests need it, formatted once per
/// connection by the server.
#[derive(Debug, Clone)]
pub struct ClientAddr {
    /// The IP as an `X-Forwarded-For` entry.
    pub forwarded_for: HeaderValue,
    /// `ip:port` for the access line.
    pub text: HeaderValue,
}

impl ClientAddr {
    pub fn new(addr: SocketAddr) -> Self {
        let forwarded_for =
            HeaderValue::try_from(addr.ip().to_string()).expect("an IP address in text is a valid header value");
        let text = HeaderValue::try_from(addr.to_string()).expect("a socket address in text is a valid header value");
        Self { forwarded_for, text }
    }
}

/// What every layer reads: the key store and the fixed routing settings.
#[derive(Debug)]
pub struct Shared {
    pub keys: Arc<KeyStore>,
    pub upstream: Upstream,
    pub workspace_id: Option<http::HeaderValue>,
    pub client_credentials: ClientCredentials,
    pub timeouts: Timeouts,
    /// `None` when `key.check = false`.
    pub key_check: Option<Arc<KeyCheck>>,
    pub journal: Journal,
    pub metrics: Metrics,
    /// Set when shutdown begins: `/ready` turns unready.
    pub draining: AtomicBool,
    /// Set when the drain's grace period ends with requests still in flight: what is cut then
    /// was cut by the shutdown, not by its client.
    pub drain_expired: AtomicBool,
    pub started_at: SystemTime,
    pub ready_requires_valid_key: bool,
    pub guard: GuardPolicy,
    /// This instance's `Via` entry, for loop detection.
    pub via: ProxyVia,
    /// Re-reads the key source: on file changes, when older than `key.refresh`, after a 401.
    pub key_reloader: Arc<KeyReloader>,
    /// Key reloads by result (reloaded / unchanged / failed).
    pub key_reloads: Arc<ReloadCounters>,
    /// `limits.max_header_bytes` and `limits.max_headers`, checked by the guard.
    pub head_limits: HeadLimits,
    /// How often each connection limit was hit (the guard counts oversized heads).
    pub limit_counters: Arc<LimitCounters>,
    /// The outbound proxy upstream connections go through, as shown in errors.
    pub outbound_proxy: Option<String>,
}

/// Credential headers, and the client token's header when one is configured.
fn sensitive_headers(shared: &Shared) -> Vec<HeaderName> {
    let token = shared.guard.token.as_ref().map(|token| token.header().clone());
    [X_API_KEY, AUTHORIZATION, X_SERVICE_KEY, PROXY_AUTHORIZATION, COOKIE]
        .into_iter()
        .chain(token)
        .collect()
}

/// The proxy's request path, outermost layer first.
pub fn stack(
    shared: Arc<Shared>,
    client: UpstreamClient,
) -> impl Service<Request<Incoming>, Response = Response<ProxyBody>, Error = Infallible, Future: Send> + Clone + Send + 'static
{
    ServiceBuilder::new()
        // Before anything can log a header.
        .layer(SetSensitiveRequestHeadersLayer::new(sensitive_headers(&shared)))
        .layer(SetRequestIdLayer::x_request_id(request_id::RandomRequestId))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(access_log::AccessLogLayer::new(shared.clone()))
        .layer(guard::GuardLayer::new(shared.clone()))
        .layer(diagnose::DiagnoseLayer::new(shared.clone()))
        .layer(retry::RetryLayer::new(shared.clone()))
        .layer(credentials::CredentialsLayer::new(shared.clone()))
        .service(forward::Forward::new(shared, client))
}
