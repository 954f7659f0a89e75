//! `timeouts.response_header` counts from the end of the request body, as nginx's and HAProxy's
//! server timeouts do: a large trace batch over a slow uplink takes as long as it takes. While
//! the body goes up, the same time bounds each wait for the upstream to take more of it (nginx's
//! `proxy_send_timeout`): a dead pooled connection stops taking it. A client that is slow to send
//! is not the upstream's fault; the connection's idle rules bound it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::counted_body::inner_hints;
use super::ProxyBody;

/// How the wait for the upstream's answer ended.
pub enum Waited<T> {
    Answer(T),
    /// No response headers within the time after the request's end.
    HeadersLate,
    /// The upstream took no more of the request body for that time.
    UploadStalled,
}

/// The request body's progress upstream, shared by the body (polled by the upstream client)
/// and the wait for the answer.
struct Progress {
    started: Instant,
    /// When a piece of the body last went upstream, in ms after `started`.
    last_ms: AtomicU64,
    /// The client has not sent the next piece yet: a stall is its own, not the upstream's.
    waiting_on_client: AtomicBool,
    /// Why the client's body broke off, if it did. Over HTTP/1.1 hyper hands this error back;
    /// over HTTP/2 it resets the stream and reports only the reset, which would blame the
    /// upstream.
    client_failed: OnceLock<String>,
}

impl Progress {
    fn moved(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(now, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.started + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// The request body's end and progress; `None` for a request without a body, whose timer
/// starts at once.
pub struct UploadEnd(Option<(oneshot::Receiver<()>, Arc<Progress>)>);

/// Whether the client's request body broke off, asked once the upstream client gave up.
pub struct ClientBody(Option<Arc<Progress>>);

impl ClientBody {
    /// Why the client's body failed, if it did: then the request failed on the client's side.
    pub fn failure(&self) -> Option<String> {
        self.0
            .as_ref()
            .and_then(|progress| progress.client_failed.get().cloned())
    }
}

/// Wraps the body of `request` so its progress, end and failure can be watched.
pub fn watch(request: Request<ProxyBody>) -> (Request<ProxyBody>, UploadEnd, ClientBody) {
    if request.body().is_end_stream() {
        return (request, UploadEnd(None), ClientBody(None));
    }
    let (ended, end) = oneshot::channel();
    let progress = Arc::new(Progress {
        started: Instant::now(),
        last_ms: AtomicU64::new(0),
        waiting_on_client: AtomicBool::new(false),
        client_failed: OnceLock::new(),
    });
    let watched = progress.clone();
    let request = request.map(|inner| {
        WatchedBody {
            inner,
            progress: watched,
            ended: Some(ended),
        }
        .boxed()
    });
    (
        request,
        UploadEnd(Some((end, progress.clone()))),
        ClientBody(Some(progress)),
    )
}

/// Waits for `response`: while the body goes up, for at most `timeout` without progress; then
/// for at most `timeout` after its end. An answer that comes before the upload ends (a refusal
/// on the headers alone) is taken at once.
pub async fn answer_within<F: Future>(timeout: Duration, upload: UploadEnd, response: F) -> Waited<F::Output> {
    let mut response = std::pin::pin!(response);
    if let Some((mut end, progress)) = upload.0 {
        let mut deadline = progress.started + timeout;
        loop {
            tokio::select! {
                biased;
                output = &mut response => return Waited::Answer(output),
                // Sent or dropped: either way nothing more goes upstream.
                _ = &mut end => break,
                () = tokio::time::sleep_until(deadline) => {
                    let now = Instant::now();
                    deadline = if progress.last() + timeout > now {
                        progress.last() + timeout
                    } else if progress.waiting_on_client.load(Ordering::Relaxed) {
                        now + timeout
                    } else {
                        return Waited::UploadStalled;
                    };
                }
            }
        }
    }
    match tokio::time::timeout(timeout, response).await {
        Ok(output) => Waited::Answer(output),
        Err(_) => Waited::HeadersLate,
    }
}

/// The request body as the upstream client polls it: each piece it takes is progress, and a
/// poll the client cannot answer yet means the client is the slow side.
struct WatchedBody {
    inner: ProxyBody,
    progress: Arc<Progress>,
    ended: Option<oneshot::Sender<()>>,
}

impl WatchedBody {
    fn end(&mut self) {
        if let Some(ended) = self.ended.take() {
            let _ = ended.send(());
        }
    }
}

impl Body for WatchedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let waiting = polled.is_pending();
        self.progress.waiting_on_client.store(waiting, Ordering::Relaxed);
        match &polled {
            Poll::Ready(Some(Ok(_))) => {
                self.progress.moved();
                if self.inner.is_end_stream() {
                    self.end();
                }
            }
            Poll::Ready(Some(Err(error))) => {
                let _ = self.progress.client_failed.set(error.to_string());
                self.end();
            }
            Poll::Ready(None) => self.end(),
            Poll::Pending => {}
        }
        polled
    }

    inner_hints!();
}

impl Drop for WatchedBody {
    fn drop(&mut self) {
        self.end();
    }
}
