//! Holds an HTTP/2 stream's [`StreamGuard`] until its response body ends or is dropped, so the
//! connection knows whether it is still serving a request (see [`Activity::without_streams`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::Response;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use pin_project_lite::pin_project;

#[cfg(doc)]
use super::activity::Activity;
use super::activity::StreamGuard;
use crate::proxy::counted_body::inner_hints;
use crate::proxy::ProxyBody;

pin_project! {
    /// A response future that hands its guard on to the response body.
    pub struct GuardedResponse<F> {
        #[pin]
        inner: F,
        guard: Option<StreamGuard>,
    }
}

impl<F> GuardedResponse<F> {
    /// `guard` is `None` on HTTP/1.1, which needs no count: the response passes as it is.
    pub fn new(inner: F, guard: Option<StreamGuard>) -> Self {
        Self { inner, guard }
    }
}

impl<F, E> Future for GuardedResponse<F>
where
    F: Future<Output = Result<Response<ProxyBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        Poll::Ready(Ok(match this.guard.take() {
            Some(guard) => response.map(|inner| GuardedBody { inner, _guard: guard }.boxed()),
            None => response,
        }))
    }
}

/// A response body that keeps its stream counted while it lives.
struct GuardedBody {
    inner: ProxyBody,
    _guard: StreamGuard,
}

impl Body for GuardedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    inner_hints!();
}
