//! Watches the bytes moving on a connection: when it last moved any, whether the client has
//! started a request the proxy has not answered yet, and whether any request head ever arrived.
//! Its close lingers while the client may still be sending (see [`super::linger`]).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::linger::Linger;

/// The first byte of every TLS connection (a handshake record).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

#[derive(Debug)]
pub struct Activity {
    start: Instant,
    /// Milliseconds after `start` when bytes last moved either way.
    last_ms: AtomicU64,
    /// The client sent bytes after the proxy last wrote: a request is under way.
    read_since_write: AtomicBool,
    /// A whole request head reached the service (HTTP/1.1 or HTTP/2).
    had_request: AtomicBool,
    /// Milliseconds after `start` when the latest request head reached the service.
    last_request_ms: AtomicU64,
    /// The connection speaks HTTP/2 (h2c).
    http2: AtomicBool,
    /// HTTP/2 streams being served (request in, response body not yet ended or dropped), and
    /// how many were ever opened.
    streams_open: AtomicUsize,
    streams_opened: AtomicUsize,
    /// The proxy asked the connection to close (idle, or draining) while no request was under
    /// way: hyper closes it with nothing unread, so the close need not linger.
    closed_between_requests: AtomicBool,
    /// The connection's first byte plus one; 0 until it arrives.
    first_byte: AtomicU16,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            read_since_write: AtomicBool::new(false),
            had_request: AtomicBool::new(false),
            last_request_ms: AtomicU64::new(0),
            http2: AtomicBool::new(false),
            streams_open: AtomicUsize::new(0),
            streams_opened: AtomicUsize::new(0),
            closed_between_requests: AtomicBool::new(false),
            first_byte: AtomicU16::new(0),
        })
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last_ms.store(self.elapsed_ms(), Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }

    pub fn request_started(&self) -> bool {
        self.read_since_write.load(Ordering::Relaxed)
    }

    pub fn note_request(&self, http2: bool) {
        self.had_request.store(true, Ordering::Relaxed);
        // Only HTTP/2 idles by requests ([`Self::no_new_request`]): HTTP/1.1 skips the clock.
        if http2 {
            self.last_request_ms.store(self.elapsed_ms(), Ordering::Relaxed);
            self.http2.store(true, Ordering::Relaxed);
        }
    }

    pub fn had_request(&self) -> bool {
        self.had_request.load(Ordering::Relaxed)
    }

    /// Whether the client opened with a TLS handshake record: an `https://` URL pointed at
    /// this plain-HTTP port.
    pub fn opened_with_tls(&self) -> bool {
        self.first_byte.load(Ordering::Relaxed) == u16::from(TLS_HANDSHAKE_RECORD) + 1
    }

    /// The proxy asks the connection to close. A client idle in a pool may not notice the FIN
    /// until it next uses the connection, so lingering for it would only hold up a drain.
    pub fn note_close_asked(&self) {
        if !self.request_started() {
            self.closed_between_requests.store(true, Ordering::Relaxed);
        }
    }

    /// On HTTP/2, resolves once no new request head has arrived for `timeout`: bytes alone do
    /// not count there, since a client can keep them coming (PINGs, a request head trickled a
    /// byte at a time) without making a request. Closing is graceful, so streams in flight
    /// finish. Never resolves on HTTP/1.1, where hyper bounds every head and bytes are requests.
    pub async fn no_new_request(&self, timeout: Duration) {
        loop {
            let since = Duration::from_millis(
                self.elapsed_ms()
                    .saturating_sub(self.last_request_ms.load(Ordering::Relaxed)),
            );
            match self.http2.load(Ordering::Relaxed) {
                true if since >= timeout => return,
                true => tokio::time::sleep(timeout - since).await,
                false => tokio::time::sleep(timeout).await,
            }
        }
    }

    /// Counts an HTTP/2 stream as served until the returned guard drops (with its response body).
    pub fn stream_opened(self: &Arc<Self>) -> StreamGuard {
        self.streams_open.fetch_add(1, Ordering::Relaxed);
        self.streams_opened.fetch_add(1, Ordering::Relaxed);
        StreamGuard(self.clone())
    }

    /// Resolves once an HTTP/2 connection has served no stream for `grace`: after an idle close,
    /// whatever still arrives then (a request head trickled a byte at a time) is no request.
    /// Never resolves on HTTP/1.1.
    pub async fn without_streams(&self, grace: Duration) {
        loop {
            let opened = self.streams_opened.load(Ordering::Relaxed);
            tokio::time::sleep(grace).await;
            let quiet =
                self.streams_open.load(Ordering::Relaxed) == 0 && self.streams_opened.load(Ordering::Relaxed) == opened;
            if quiet && self.http2.load(Ordering::Relaxed) {
                return;
            }
        }
    }

    /// Resolves once no byte has moved for `timeout`.
    pub async fn idle(&self, timeout: Duration) {
        loop {
            let quiet = self.quiet_for();
            if quiet >= timeout {
                return;
            }
            tokio::time::sleep(timeout - quiet).await;
        }
    }
}

/// An HTTP/2 stream being served; see [`Activity::stream_opened`].
pub struct StreamGuard(Arc<Activity>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.streams_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An IO stream that reports to an [`Activity`].
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
    close: Close,
}

/// How far the proxy's own close has got.
enum Close {
    Open,
    Lingering(Linger),
    Done,
}

impl<S> Tracked<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self {
            inner,
            activity,
            close: Close::Open,
        }
    }

    fn wrote(&self, result: &Poll<io::Result<usize>>) {
        if matches!(result, Poll::Ready(Ok(n)) if *n > 0) {
            self.activity.touch();
            self.activity.read_since_write.store(false, Ordering::Relaxed);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
            self.activity.read_since_write.store(true, Ordering::Relaxed);
            if self.activity.first_byte.load(Ordering::Relaxed) == 0 {
                let first = buf.filled()[before];
                self.activity.first_byte.store(u16::from(first) + 1, Ordering::Relaxed);
            }
        }
        result
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(&result);
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(&result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// Sends the FIN, then lingers while the client may still be sending (a client that has
    /// closed its side ends the linger at its first read), unless the proxy closes the
    /// connection between requests.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match &mut this.close {
                Close::Open => {
                    ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
                    this.close = if this.activity.closed_between_requests.load(Ordering::Relaxed) {
                        Close::Done
                    } else {
                        Close::Lingering(Linger::start())
                    };
                }
                Close::Lingering(linger) => {
                    ready!(linger.poll_discard(&mut this.inner, cx));
                    this.close = Close::Done;
                }
                Close::Done => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::linger::LINGER_QUIET;
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};
    use tokio::time::Instant;

    /// How long the proxy side's shutdown takes, in paused time, while the client stays
    /// connected and silent.
    async fn shutdown_time(request_under_way: bool, close_asked: bool) -> Duration {
        let (mut client, proxy_side) = duplex(1024);
        let activity = Activity::new();
        let mut tracked = Tracked::new(proxy_side, activity.clone());
        if request_under_way {
            client.write_all(b"POST /runs HTTP/1.1\r\n").await.expect("sent");
            let mut head = [0u8; 64];
            let _ = tracked.read(&mut head).await.expect("read");
        }
        if close_asked {
            activity.note_close_asked();
        }
        let started = Instant::now();
        tracked.shutdown().await.expect("shut down");
        started.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn a_close_the_proxy_asks_for_between_requests_does_not_linger() {
        assert_eq!(shutdown_time(false, true).await, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_close_during_a_request_lingers() {
        assert_eq!(shutdown_time(true, true).await, LINGER_QUIET);
        assert_eq!(shutdown_time(true, false).await, LINGER_QUIET);
    }
}
