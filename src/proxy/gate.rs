//! A layer that checks or adjusts each request before passing it on; a failed check is
//! answered by the proxy itself and goes no further.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{Either, Ready};
use http::{Request, Response};
use tower::{Layer, Service};

use super::{ProxyBody, ProxyError, RequestFacts, Shared};

/// One step of the request path that can refuse a request; built from the shared settings.
pub trait Check: From<Arc<Shared>> + Clone {
    fn check<B>(&self, request: &mut Request<B>) -> Result<(), ProxyError>;
}

#[derive(Clone)]
pub struct GateLayer<C> {
    shared: Arc<Shared>,
    check: C,
}

impl<C: Check> GateLayer<C> {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            check: C::from(shared.clone()),
            shared,
        }
    }
}

impl<S, C: Check> Layer<S> for GateLayer<C> {
    type Service = Gate<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        Gate {
            inner,
            shared: self.shared.clone(),
            check: self.check.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Gate<S, C> {
    inner: S,
    shared: Arc<Shared>,
    check: C,
}

impl<S, C, B> Service<Request<B>> for Gate<S, C>
where
    S: Service<Request<B>, Response = Response<ProxyBody>, Error = Infallible>,
    C: Check,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response<ProxyBody>, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        match self.check.check(&mut request) {
            Ok(()) => Either::Right(self.inner.call(request)),
            Err(error) => {
                let facts = RequestFacts::of(&request);
                Either::Left(futures_util::future::ready(Ok(
                    error.into_response(&facts, &self.shared)
                )))
            }
        }
    }
}
