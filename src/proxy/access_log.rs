//! One structured event per request on the `access` target, emitted when the response body has
//! been sent (so it can tell bytes and whether the client stayed), plus the request metrics.
//! With the `access` target disabled, only the metrics remain: no body wrapping, no allocation.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use http::header::USER_AGENT;
use http::{HeaderValue, Method, Request, Response, Uri};
use http_body_util::BodyExt;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::counted_body::{CountedBody, ObservedBody};
use super::{ClientAddr, ProxyBody, Shared};
use crate::diagnosis::{DIAGNOSIS_HEADER, ERROR_HEADER};
use crate::secret::LoadedKey;

#[derive(Clone)]
pub struct AccessLogLayer {
    shared: Arc<Shared>,
}

impl AccessLogLayer {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessLog {
            inner,
            shared: self.shared.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AccessLog<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// What the event needs from the request, taken before the request moves on.
struct Entry {
    method: Method,
    uri: Uri,
    request_id: Option<HeaderValue>,
    user_agent: Option<HeaderValue>,
    client: Option<ClientAddr>,
    key: Option<Arc<LoadedKey>>,
    bytes_in: Arc<AtomicU64>,
}

impl<S, B> Service<Request<B>> for AccessLog<S>
where
    S: Service<Request<CountedBody<B>>, Response = Response<ProxyBody>>,
{
    type Response = Response<ProxyBody>;
    type Error = S::Error;
    type Future = AccessLogFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.shared.metrics.in_flight().inc();
        let entry = tracing::enabled!(target: "access", tracing::Level::INFO).then(|| Entry {
            method: request.method().clone(),
            uri: request.uri().clone(),
            request_id: request.headers().get("x-request-id").cloned(),
            user_agent: request.headers().get(USER_AGENT).cloned(),
            client: request.extensions().get::<ClientAddr>().copied(),
            key: self.shared.keys.snapshot(),
            bytes_in: Arc::default(),
        });
        let method = request.method().clone();
        let counter = entry.as_ref().map(|e| e.bytes_in.clone());
        let request = request.map(|body| CountedBody::new(body, counter));
        AccessLogFuture {
            inner: self.inner.call(request),
            shared: self.shared.clone(),
            method,
            start: Instant::now(),
            entry,
            in_flight: true,
        }
    }
}

pin_project! {
    pub struct AccessLogFuture<F> {
        #[pin]
        inner: F,
        shared: Arc<Shared>,
        method: Method,
        start: Instant,
        entry: Option<Entry>,
        in_flight: bool,
    }

    impl<F> PinnedDrop for AccessLogFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if *this.in_flight {
                this.shared.metrics.in_flight().dec();
            }
        }
    }
}

impl<F, E> Future for AccessLogFuture<F>
where
    F: Future<Output = Result<Response<ProxyBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        *this.in_flight = false;
        this.shared.metrics.in_flight().dec();
        this.shared.metrics.request(this.method, response.status());
        let Some(entry) = this.entry.take() else {
            return Poll::Ready(Ok(response));
        };
        let start = *this.start;
        let headers_ms = millis(start);
        let status = response.status().as_u16();
        let text = |value: Option<&HeaderValue>| value.and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let code = text(
            response
                .headers()
                .get(DIAGNOSIS_HEADER)
                .or_else(|| response.headers().get(ERROR_HEADER)),
        );
        let proxy_made = response.headers().contains_key(ERROR_HEADER);
        Poll::Ready(Ok(response.map(move |body| {
            ObservedBody::new(body, move |bytes_out, completed| {
                tracing::info!(
                    target: "access",
                    request_id = %text(entry.request_id.as_ref()),
                    client = %entry.client.map(|c| c.0.to_string()).unwrap_or_default(),
                    method = %entry.method,
                    path = entry.uri.path(),
                    status,
                    upstream_status = (!proxy_made).then_some(status),
                    headers_ms,
                    duration_ms = millis(start),
                    bytes_in = entry.bytes_in.load(Ordering::Relaxed),
                    bytes_out,
                    completed,
                    key_source = %entry.key.as_ref().map(|k| k.source.to_string()).unwrap_or_default(),
                    key_fingerprint = entry.key.as_ref().map(|k| k.key.fingerprint()).unwrap_or(""),
                    user_agent = %text(entry.user_agent.as_ref()),
                    diagnosis = %code,
                );
            })
            .boxed()
        })))
    }
}

fn millis(since: Instant) -> f64 {
    since.elapsed().as_micros() as f64 / 1000.0
}
