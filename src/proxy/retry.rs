//! After LangSmith answers 401 to the proxy's key, re-reads the key source once (rate-limited)
//! and, when the key has changed, sends the request again with the new key — only if doing so
//! twice is harmless: an idempotent method with no body. Anything else gets the 401, which
//! Diagnose explains; the next request carries the new key.
//!
//! Why here, between Diagnose and Credentials: below Diagnose, the retry sees LangSmith's raw
//! 401 with the facts Forward attached (which key went out), and Diagnose explains only the
//! final answer; above Credentials, the second attempt goes through the same client-credential
//! policy and key injection with a fresh snapshot, rather than Forward patching a header. It is
//! also where the client's body becomes the boxed body the upstream client sends, so a retry can
//! send an empty one.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{Extensions, HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Empty};
use pin_project_lite::pin_project;
use tower::{Layer, Service, ServiceExt};

use super::{Credential, ProxyBody, RequestFacts, Shared};
use crate::secret::LoadedKey;

#[derive(Clone)]
pub struct RetryLayer {
    shared: Arc<Shared>,
}

impl RetryLayer {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = Retry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry {
            inner,
            shared: self.shared.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Retry<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, B> Service<Request<B>> for Retry<S>
where
    B: http_body::Body<Data = bytes::Bytes, Error = hyper::Error> + Send + Sync + 'static,
    S: Service<Request<ProxyBody>, Response = Response<ProxyBody>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = RetryFuture<S::Future, S>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // Copying the request head costs allocations: only when a retry could ever happen.
        let replay = if self.shared.key_reloader.source().can_change() {
            Replay::of(&request).map(|replay| (replay, self.inner.clone()))
        } else {
            None
        };
        RetryFuture {
            first: self.inner.call(request.map(|body| body.boxed())),
            shared: self.shared.clone(),
            replay,
            after_rejection: None,
        }
    }
}

type AfterRejection = Pin<Box<dyn Future<Output = Response<ProxyBody>> + Send>>;

pin_project! {
    pub struct RetryFuture<F, S> {
        #[pin]
        first: F,
        shared: Arc<Shared>,
        replay: Option<(Replay, S)>,
        after_rejection: Option<AfterRejection>,
    }
}

impl<F, S> Future for RetryFuture<F, S>
where
    F: Future<Output = Result<Response<ProxyBody>, Infallible>>,
    S: Service<Request<ProxyBody>, Response = Response<ProxyBody>, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Output = Result<Response<ProxyBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            if let Some(next) = this.after_rejection.as_mut() {
                return next.as_mut().poll(cx).map(Ok);
            }
            let response = ready!(this.first.as_mut().poll(cx))?;
            let Some(used) = rejected_proxy_key(&response) else {
                return Poll::Ready(Ok(response));
            };
            if !this.shared.key_reloader.source().can_change() {
                return Poll::Ready(Ok(response));
            }
            *this.after_rejection = Some(Box::pin(after_rejection(
                this.shared.clone(),
                used,
                response,
                this.replay.take(),
            )));
        }
    }
}

/// The proxy's key, when LangSmith rejected it with a 401.
fn rejected_proxy_key(response: &Response<ProxyBody>) -> Option<Arc<LoadedKey>> {
    if response.status() != StatusCode::UNAUTHORIZED {
        return None;
    }
    match &response.extensions().get::<RequestFacts>()?.credential {
        Credential::Proxy(loaded) => Some(loaded.clone()),
        Credential::Client | Credential::None => None,
    }
}

async fn after_rejection<S>(
    shared: Arc<Shared>,
    used: Arc<LoadedKey>,
    rejected: Response<ProxyBody>,
    replay: Option<(Replay, S)>,
) -> Response<ProxyBody>
where
    S: Service<Request<ProxyBody>, Response = Response<ProxyBody>, Error = Infallible>,
{
    let Some(current) = shared.key_reloader.after_rejection(&used.key).await else {
        return rejected;
    };
    let Some((replay, inner)) = replay else {
        tracing::info!(
            old_fingerprint = used.key.fingerprint(), new_fingerprint = current.key.fingerprint(),
            "LangSmith rejected a key that has been replaced since; the request is not retried (not idempotent, or it has a body)"
        );
        return rejected;
    };
    tracing::info!(
        method = %replay.method, path = replay.uri.path(),
        old_fingerprint = used.key.fingerprint(), old_hint = used.key.hint(),
        new_fingerprint = current.key.fingerprint(), new_hint = current.key.hint(),
        "LangSmith rejected a key that has been replaced since; retrying with the new key"
    );
    drop(rejected);
    match inner.oneshot(replay.into_request()).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The head of a request that may be sent twice: idempotent, and nothing in its body.
pub struct Replay {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    extensions: Extensions,
}

/// Whether sending `request` twice is harmless: an idempotent method and nothing in its body.
pub fn may_send_twice<B: http_body::Body>(request: &Request<B>) -> bool {
    let idempotent = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    );
    let headers = request.headers();
    idempotent
        && request.body().is_end_stream()
        && !headers.contains_key(TRANSFER_ENCODING)
        && headers.get(CONTENT_LENGTH).is_none_or(|length| length == "0")
}

impl Replay {
    fn of<B: http_body::Body>(request: &Request<B>) -> Option<Self> {
        may_send_twice(request).then(|| Self {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers: request.headers().clone(),
            extensions: request.extensions().clone(),
        })
    }

    /// The request again, with an empty body; `extensions` are what the layers below read.
    pub fn into_request(self) -> Request<ProxyBody> {
        let mut request = Request::new(Empty::new().map_err(|never| match never {}).boxed());
        *request.method_mut() = self.method;
        *request.uri_mut() = self.uri;
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers;
        *request.extensions_mut() = self.extensions;
        request
    }

    /// The head of `request` without its extensions (the upstream client reads none), for a
    /// resend on another connection after the first went away under it. Safe methods only: a PUT
    /// or DELETE the upstream acted on before the close would run twice.
    pub fn for_upstream(request: &Request<ProxyBody>) -> Option<Self> {
        let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        (safe && may_send_twice(request)).then(|| Self {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers: request.headers().clone(),
            extensions: Extensions::new(),
        })
    }
}
