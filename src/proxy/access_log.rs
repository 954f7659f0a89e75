//! One structured event per request on the `access` target.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use http::header::USER_AGENT;
use http::{HeaderValue, Method, Request, Response, Uri};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::ClientAddr;
use crate::diagnosis::ERROR_HEADER;

#[derive(Clone, Copy)]
pub struct AccessLogLayer;

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessLog { inner }
    }
}

#[derive(Clone)]
pub struct AccessLog<S> {
    inner: S,
}

/// What the event needs from the request, taken before the request moves on.
struct Entry {
    start: Instant,
    method: Method,
    uri: Uri,
    request_id: Option<HeaderValue>,
    user_agent: Option<HeaderValue>,
    client: Option<ClientAddr>,
}

impl<S, B, RB> Service<Request<B>> for AccessLog<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = AccessLogFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let entry = Entry {
            start: Instant::now(),
            method: request.method().clone(),
            uri: request.uri().clone(),
            request_id: request.headers().get("x-request-id").cloned(),
            user_agent: request.headers().get(USER_AGENT).cloned(),
            client: request.extensions().get::<ClientAddr>().copied(),
        };
        AccessLogFuture {
            inner: self.inner.call(request),
            entry: Some(entry),
        }
    }
}

pin_project! {
    pub struct AccessLogFuture<F> {
        #[pin]
        inner: F,
        entry: Option<Entry>,
    }
}

impl<F, RB, E> Future for AccessLogFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let (Some(entry), Ok(response)) = (this.entry.take(), &result) {
            let text = |value: Option<&HeaderValue>| value.and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            tracing::info!(
                target: "access",
                request_id = %text(entry.request_id.as_ref()),
                client = %entry.client.map(|c| c.0.to_string()).unwrap_or_default(),
                method = %entry.method,
                path = entry.uri.path(),
                status = response.status().as_u16(),
                duration_ms = entry.start.elapsed().as_micros() as f64 / 1000.0,
                user_agent = %text(entry.user_agent.as_ref()),
                proxy_error = %text(response.headers().get(ERROR_HEADER)),
            );
        }
        Poll::Ready(result)
    }
}
