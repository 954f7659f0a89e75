//! Body wrappers for the access log: one counts request bytes as they stream, the other counts
//! response bytes and emits the access event when the response ends (or the client goes away).

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};

/// A wrapper body's end and size are its inner body's (the field `inner`).
macro_rules! inner_hints {
    () => {
        fn is_end_stream(&self) -> bool {
            self.inner.is_end_stream()
        }

        fn size_hint(&self) -> http_body::SizeHint {
            self.inner.size_hint()
        }
    };
}
pub(crate) use inner_hints;

/// A request body that adds what passes to a shared counter (none when logging is off).
pub struct CountedBody<B> {
    inner: B,
    counter: Option<Arc<AtomicU64>>,
}

impl<B> CountedBody<B> {
    pub fn new(inner: B, counter: Option<Arc<AtomicU64>>) -> Self {
        Self { inner, counter }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for CountedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let (Poll::Ready(Some(Ok(frame))), Some(counter)) = (&polled, &self.counter) {
            if let Some(data) = frame.data_ref() {
                counter.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
        }
        polled
    }

    inner_hints!();
}

/// A response body that calls `on_end(bytes_sent, completed)` exactly once: when the body ends,
/// fails, or is dropped early because the client went away.
pub struct ObservedBody<B: Body, F: FnOnce(u64, bool)> {
    inner: B,
    sent: u64,
    on_end: Option<F>,
}

impl<B: Body, F: FnOnce(u64, bool)> ObservedBody<B, F> {
    pub fn new(inner: B, on_end: F) -> Self {
        Self {
            inner,
            sent: 0,
            on_end: Some(on_end),
        }
    }

    fn finish(&mut self, completed: bool) {
        if let Some(on_end) = self.on_end.take() {
            on_end(self.sent, completed);
        }
    }
}

impl<B, F> Body for ObservedBody<B, F>
where
    B: Body<Data = Bytes> + Unpin,
    F: FnOnce(u64, bool) + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                self.sent += frame.data_ref().map_or(0, |data| data.len() as u64);
                if self.inner.is_end_stream() {
                    self.finish(true);
                }
            }
            Poll::Ready(Some(Err(_))) => self.finish(false),
            Poll::Ready(None) => self.finish(true),
            Poll::Pending => {}
        }
        polled
    }

    inner_hints!();
}

impl<B: Body, F: FnOnce(u64, bool)> Drop for ObservedBody<B, F> {
    fn drop(&mut self) {
        // Dropped unfinished: the client went away, unless nothing was left to send (a HEAD).
        let completed = self.inner.is_end_stream();
        self.finish(completed);
    }
}
