//! A lingering close. When the proxy answers before the client has sent its whole request (an
//! early 401 to an upload, say) and then closes, unread bytes make the kernel reset the
//! connection, and a reset can destroy the answer before the client reads it. So after sending
//! its FIN the connection keeps reading and dropping what the client still sends, until the
//! client closes too or a bound passes.

use std::future::Future;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::{sleep_until, Instant, Sleep};

/// The longest a client may go without sending anything while the proxy lingers.
pub const LINGER_QUIET: Duration = Duration::from_secs(5);
/// The longest a lingering close lasts in all, however much the client still sends.
pub const LINGER_MAX: Duration = Duration::from_secs(30);

/// Read per wake-up while lingering; the bytes are dropped.
const DISCARD_CHUNK: usize = 16 * 1024;

/// The read side of a connection whose write side is already shut.
pub struct Linger {
    quiet_until: Instant,
    deadline: Instant,
    /// Made only if the client is still connected when the proxy starts lingering.
    timer: Option<Pin<Box<Sleep>>>,
}

impl Linger {
    pub fn start() -> Self {
        let now = Instant::now();
        Self {
            quiet_until: now + LINGER_QUIET,
            deadline: now + LINGER_MAX,
            timer: None,
        }
    }

    /// Reads and drops until the client's FIN, an error (a reset: nothing left to save), or a
    /// bound; ready then, never an error.
    pub fn poll_discard<S: AsyncRead + Unpin>(&mut self, stream: &mut S, cx: &mut Context<'_>) -> Poll<()> {
        let mut chunk = [MaybeUninit::<u8>::uninit(); DISCARD_CHUNK];
        loop {
            let mut buf = ReadBuf::uninit(&mut chunk);
            let read = Pin::new(&mut *stream).poll_read(cx, &mut buf);
            let ends_at = self.quiet_until.min(self.deadline);
            if Instant::now() >= ends_at {
                return Poll::Ready(());
            }
            match read {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(()),
                Poll::Ready(Ok(())) => self.quiet_until = Instant::now() + LINGER_QUIET,
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => {
                    let timer = self.timer.get_or_insert_with(|| Box::pin(sleep_until(ends_at)));
                    timer.as_mut().reset(ends_at);
                    ready!(timer.as_mut().poll(cx));
                    return Poll::Ready(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use tokio::io::{duplex, AsyncWriteExt, DuplexStream};

    /// How long a linger on `proxy_side` lasts, in paused (virtual) time.
    async fn linger_on(mut proxy_side: DuplexStream) -> Duration {
        let started = Instant::now();
        let mut linger = Linger::start();
        poll_fn(|cx| linger.poll_discard(&mut proxy_side, cx)).await;
        started.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_has_closed_ends_it_at_once() {
        let (client, proxy_side) = duplex(64);
        drop(client);
        assert_eq!(linger_on(proxy_side).await, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_let_go_after_the_quiet_bound() {
        let (_client, proxy_side) = duplex(64);
        assert_eq!(linger_on(proxy_side).await, LINGER_QUIET);
    }

    /// Writes 1 KiB each second, `seconds` times (forever if `None`), then closes; each write
    /// fills the pipe, so it only finishes if the linger reads.
    fn keep_sending(mut client: DuplexStream, seconds: Option<u32>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut sent = 0;
            while seconds.is_none_or(|limit| sent < limit) {
                client.write_all(&[b'x'; 1024]).await.expect("the linger reads");
                tokio::time::sleep(Duration::from_secs(1)).await;
                sent += 1;
            }
        })
    }

    #[tokio::test(start_paused = true)]
    async fn what_the_client_still_sends_is_dropped_until_it_closes() {
        let (client, proxy_side) = duplex(1024);
        let sender = keep_sending(client, Some(10));
        assert_eq!(linger_on(proxy_side).await, Duration::from_secs(10));
        sender.await.expect("every write was read");
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_never_stops_is_let_go_at_the_deadline() {
        let (client, proxy_side) = duplex(1024);
        let sender = keep_sending(client, None);
        assert_eq!(linger_on(proxy_side).await, LINGER_MAX);
        sender.abort();
    }
}
