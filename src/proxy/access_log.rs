//! One structured event per request on the `access` target, emitted when the response body has
//! been sent (so it can tell bytes and whether the client stayed), or, for a client that left
//! before the response headers, when its request is dropped; plus the request metrics. With the
//! `access` target disabled, only the metrics remain: no body wrapping, no allocation.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use http::header::USER_AGENT;
use http::{HeaderValue, Method, Request, Response, Uri};
use http_body_util::BodyExt;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::counted_body::{CountedBody, ObservedBody};
use super::{Arrival, ProxyBody, Shared};
use crate::access_json;
use crate::diagnosis::{DIAGNOSIS_HEADER, ERROR_HEADER};
use crate::secret::LoadedKey;

/// How long the upstream took to answer with headers (connecting included), set by
/// [`super::forward`] on the response only when the access log is on.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamLatency(pub Duration);

/// Whether access events are wanted: decides whether anything is collected for them.
pub fn enabled() -> bool {
    tracing::enabled!(target: access_json::TARGET, tracing::Level::INFO)
}

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
    client: Option<HeaderValue>,
    key: Option<Arc<LoadedKey>>,
    bytes_in: Arc<AtomicU64>,
    /// For the drain's state when the request ends.
    shared: Arc<Shared>,
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
        let entry = enabled().then(|| Entry {
            method: request.method().clone(),
            uri: request.uri().clone(),
            request_id: request.headers().get("x-request-id").cloned(),
            user_agent: request.headers().get(USER_AGENT).cloned(),
            client: request
                .extensions()
                .get::<Arrival>()
                .and_then(|arrival| arrival.client.as_ref())
                .map(|client| client.text.clone()),
            key: self.shared.keys.snapshot(),
            bytes_in: Arc::default(),
            shared: self.shared.clone(),
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
            // Still here: dropped before a response, the client having closed its connection
            // (a response takes the entry, and its body logs instead).
            if let Some(entry) = this.entry.take() {
                entry.log(*this.start, None, 0, false);
            }
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
        let response = match ready!(this.inner.poll(cx)) {
            Ok(response) => response,
            Err(error) => {
                // No response to log, but no client that left either.
                this.entry.take();
                return Poll::Ready(Err(error));
            }
        };
        *this.in_flight = false;
        this.shared.metrics.in_flight().dec();
        this.shared.metrics.request(this.method, response.status());
        let Some(entry) = this.entry.take() else {
            return Poll::Ready(Ok(response));
        };
        let start = *this.start;
        let answer = Answer {
            status: response.status().as_u16(),
            proxy_made: response.headers().contains_key(ERROR_HEADER),
            headers_ms: millis(start),
            upstream_ms: response.extensions().get::<UpstreamLatency>().map(|l| ms(l.0)),
            diagnosis: header_text(
                response
                    .headers()
                    .get(DIAGNOSIS_HEADER)
                    .or_else(|| response.headers().get(ERROR_HEADER)),
            )
            .into_owned(),
        };
        Poll::Ready(Ok(response.map(move |body| {
            ObservedBody::new(body, move |bytes_out, completed| {
                entry.log(start, Some(&answer), bytes_out, completed)
            })
            .boxed()
        })))
    }
}

/// What the event needs from the response, once its headers are there.
struct Answer {
    status: u16,
    /// The proxy answered itself (an error it rendered): no upstream status.
    proxy_made: bool,
    headers_ms: f64,
    upstream_ms: Option<f64>,
    diagnosis: String,
}

impl Entry {
    /// The access event; without an answer the client closed before the response headers.
    fn log(&self, start: Instant, answer: Option<&Answer>, bytes_out: u64, completed: bool) {
        let status = answer.map(|a| a.status);
        let (request_id, user_agent) = (
            header_text(self.request_id.as_ref()),
            header_text(self.user_agent.as_ref()),
        );
        tracing::info!(
            target: access_json::TARGET,
            request_id = &*request_id,
            client = &*header_text(self.client.as_ref()),
            method = self.method.as_str(),
            path = self.uri.path(),
            status,
            upstream_status = answer.filter(|a| !a.proxy_made).and(status),
            headers_ms = answer.map(|a| a.headers_ms),
            upstream_ms = answer.and_then(|a| a.upstream_ms),
            duration_ms = millis(start),
            bytes_in = self.bytes_in.load(Ordering::Relaxed),
            bytes_out,
            completed,
            outcome = self.outcome(answer.is_some(), completed),
            key_source = self.key.as_ref().map_or("", |k| &*k.source_text),
            key_fingerprint = self.key.as_ref().map(|k| k.key.fingerprint()).unwrap_or(""),
            user_agent = &*user_agent,
            diagnosis = answer.map_or("", |a| a.diagnosis.as_str()),
        );
    }
}

/// A header as logged: up to [`LOGGED_HEADER_MAX`] bytes (then `…`), and bytes beyond ASCII as
/// UTF-8 where they are (U+FFFD where not), so that a client cannot make a line long enough for
/// a log driver to split, and an id or agent in any bytes can still be found. Borrowed, and so
/// free, in the usual case.
#[inline]
fn header_text(value: Option<&HeaderValue>) -> Cow<'_, str> {
    match value.map(|value| (value, value.to_str())) {
        None => Cow::Borrowed(""),
        Some((_, Ok(text))) if text.len() <= LOGGED_HEADER_MAX => Cow::Borrowed(text),
        Some((value, _)) => Cow::Owned(unusual_header_text(value.as_bytes())),
    }
}

/// [`header_text`] for a long value, or one with bytes beyond visible ASCII.
#[cold]
fn unusual_header_text(bytes: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(&bytes[..bytes.len().min(LOGGED_HEADER_MAX)]).into_owned();
    if bytes.len() > LOGGED_HEADER_MAX {
        text.push('…');
    }
    text
}

/// Longer than any SDK's user agent or a UUID request id; far below the 16 KiB at which
/// Docker's json-file driver splits a line.
const LOGGED_HEADER_MAX: usize = 512;

impl Entry {
    /// Why a request ended early: the shutdown cut it, or its client left. Nothing for one that
    /// completed.
    fn outcome(&self, answered: bool, completed: bool) -> Option<&'static str> {
        match (answered, completed) {
            (true, true) => None,
            _ if self.shared.drain_expired() => Some("shutdown"),
            (false, _) => Some("client_closed"),
            (true, false) => None,
        }
    }
}

fn millis(since: Instant) -> f64 {
    ms(since.elapsed())
}

fn ms(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_headers_are_bounded_and_keep_what_is_not_ascii() {
        let logged = |bytes: &[u8]| header_text(HeaderValue::from_bytes(bytes).ok().as_ref()).into_owned();
        assert_eq!(logged(b"langsmith-py/0.15.1"), "langsmith-py/0.15.1");
        assert_eq!(logged("café-client/1".as_bytes()), "café-client/1");
        assert_eq!(logged(b"id-\xff"), "id-\u{fffd}");
        let long = logged(&[b'a'; 60_000]);
        assert_eq!(long.len(), LOGGED_HEADER_MAX + '…'.len_utf8());
        assert!(long.ends_with('…'));
        assert_eq!(header_text(None), "");
    }
}
