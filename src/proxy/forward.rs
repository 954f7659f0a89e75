//! The innermost service: maps the request onto the upstream and streams both bodies through.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{HeaderMap, HeaderValue, HOST, LOCATION, VIA};
use http::{HeaderName, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use tower::Service;

use super::error;
use super::retry::Replay;
use super::upload_end::Waited;
use super::{access_log, hop_by_hop, upload_end, Arrival, ProxyBody, ProxyError, RequestFacts, Shared};
use crate::client::UpstreamClient;
use crate::diagnosis;
use crate::upstream::Upstream;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Cloned for every request (hyper's service calls take `&self`): both fields are shared
/// pointers, so a clone is two reference-count increments rather than a copy of the client.
#[derive(Clone)]
pub struct Forward {
    shared: Arc<Shared>,
    client: Arc<UpstreamClient>,
}

impl Forward {
    pub fn new(shared: Arc<Shared>, client: UpstreamClient) -> Self {
        Self {
            shared,
            client: Arc::new(client),
        }
    }
}

impl Service<Request<ProxyBody>> for Forward {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The pooled client queues internally; readiness is per request.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<ProxyBody>) -> Self::Future {
        let shared = self.shared.clone();
        let client = self.client.clone();
        Box::pin(async move { Ok(forward(&shared, &client, request).await) })
    }
}

async fn forward(shared: &Shared, client: &UpstreamClient, request: Request<ProxyBody>) -> Response<ProxyBody> {
    let facts = RequestFacts::of(&request);
    let upstream_request = upstream_request(shared, request);
    let resend = Replay::for_upstream(&upstream_request);
    let (upstream_request, upload, client_body) = upload_end::watch(upstream_request);
    let timeout = shared.timeouts.response_header;
    let started = tokio::time::Instant::now();
    // Connecting counts; the connector's own connect timeout fires first when shorter.
    let mut sent = upload_end::answer_within(timeout, upload, client.request(upstream_request)).await;
    // A pooled connection the upstream closed as the request went out (its idle timeout met
    // ours in flight) fails with no answer; a request that is harmless to send twice goes
    // once more, on another connection, as nginx and HAProxy do, within the same time.
    if let (Waited::Answer(Err(error)), Some(resend)) = (&sent, resend) {
        if error::closed_before_answer(error) {
            tracing::debug!(error = %error, "the upstream connection failed under a request that is harmless to send twice: sent again");
            let left = timeout.saturating_sub(started.elapsed());
            sent = match tokio::time::timeout(left, client.request(resend.into_request())).await {
                Ok(answer) => Waited::Answer(answer),
                Err(_) => Waited::HeadersLate,
            };
        }
    }
    let latency = started.elapsed();
    match sent {
        // The proxy strips Upgrade, so it never asks to switch protocols: an upstream that does
        // anyway would leave the client with a bare 101 and a closed connection.
        Waited::Answer(Ok(response)) if response.status() == StatusCode::SWITCHING_PROTOCOLS => {
            ProxyError::UnreadableAnswer {
                cause: "101 Switching Protocols to a request that asked for no protocol switch".to_owned(),
            }
            .into_response(&facts, shared)
        }
        Waited::Answer(Ok(response)) => {
            shared.metrics.upstream_response(latency.as_secs_f64());
            let (mut parts, body) = response.into_parts();
            if access_log::enabled() {
                parts.extensions.insert(access_log::UpstreamLatency(latency));
            }
            // The downstream connection has its own protocol; an HTTP/1.0 upstream must not
            // turn our answer into an HTTP/1.0 one.
            parts.version = Version::HTTP_11;
            hop_by_hop::strip(&mut parts.headers);
            keep_upstream_request_id_apart(&mut parts.headers, facts.id.as_ref());
            if parts.status.is_redirection() || parts.status == StatusCode::CREATED {
                point_back_at_the_proxy(&shared.upstream, &mut parts.headers);
            }
            if diagnosis::wants(parts.status, &parts.headers) {
                // Only answers the Diagnose layer explains carry the request's facts back.
                parts.extensions.insert(facts);
            }
            Response::from_parts(parts, body.boxed())
        }
        Waited::Answer(Err(error)) => match client_body.failure() {
            Some(cause) => ProxyError::ClientBodyIncomplete { cause },
            None => ProxyError::from_client_error(&error, &shared.timeouts),
        }
        .into_response(&facts, shared),
        Waited::HeadersLate => ProxyError::ResponseTimeout { after: timeout }.into_response(&facts, shared),
        Waited::UploadStalled => ProxyError::UploadStalled { after: timeout }.into_response(&facts, shared),
    }
}

/// The upstream's own `x-request-id` (its server's or a gateway's), when it differs from the
/// proxy's: the response would carry it instead of the id the app, the access line and the
/// diagnosis share, so it moves to `x-upstream-request-id`.
fn keep_upstream_request_id_apart(headers: &mut HeaderMap, ours: Option<&HeaderValue>) {
    if let Some(theirs) = headers.remove(X_REQUEST_ID) {
        if ours != Some(&theirs) {
            headers.insert(X_UPSTREAM_REQUEST_ID, theirs);
        }
    }
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_UPSTREAM_REQUEST_ID: HeaderName = HeaderName::from_static("x-upstream-request-id");

fn upstream_request(shared: &Shared, request: Request<ProxyBody>) -> Request<ProxyBody> {
    let (mut parts, body) = request.into_parts();
    let root = http::uri::PathAndQuery::from_static("/");
    parts.uri = shared.upstream.target(parts.uri.path_and_query().unwrap_or(&root));
    // The client picks HTTP/2 or HTTP/1.1 per upstream connection, whatever the client spoke.
    parts.version = Version::HTTP_11;
    // The client's hop-by-hop headers are gone already (the credentials step strips them before
    // injecting the key); Host is rebuilt by the client from the upstream URI.
    parts.headers.remove(HOST);
    if let Some(client) = parts
        .extensions
        .get::<Arrival>()
        .and_then(|arrival| arrival.client.as_ref())
    {
        append_forwarded_for(&mut parts.headers, &client.forwarded_for);
    }
    parts
        .headers
        .insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    parts.headers.append(VIA, shared.via.header_value().clone());
    Request::from_parts(parts, body)
}

/// A `Location` naming the upstream by its absolute URL (web frameworks write redirects so) is
/// made relative to the proxy, as nginx's `proxy_redirect default` does: a client following it
/// would otherwise leave the proxy and reach LangSmith without the key.
fn point_back_at_the_proxy(upstream: &Upstream, headers: &mut http::HeaderMap) {
    let mut values = headers.get_all(LOCATION).iter();
    // Two Locations are the upstream's mistake, passed on as they came.
    let (Some(only), None) = (values.next(), values.next()) else {
        return;
    };
    let local = only
        .to_str()
        .ok()
        .and_then(|url| upstream.local_path(url))
        .and_then(|path| HeaderValue::from_str(path).ok());
    if let Some(path) = local {
        headers.insert(LOCATION, path);
    }
}

/// Appends the client to an existing `X-Forwarded-For` chain rather than replacing it.
fn append_forwarded_for(headers: &mut http::HeaderMap, ip: &HeaderValue) {
    let chained = match headers.get(X_FORWARDED_FOR) {
        None => Some(ip.clone()),
        Some(existing) => {
            let mut value = Vec::with_capacity(existing.len() + 2 + ip.len());
            value.extend_from_slice(existing.as_bytes());
            value.extend_from_slice(b", ");
            value.extend_from_slice(ip.as_bytes());
            HeaderValue::from_bytes(&value).ok()
        }
    };
    if let Some(value) = chained {
        headers.insert(X_FORWARDED_FOR, value);
    }
}
