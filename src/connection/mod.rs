//! One accepted connection: HTTP/1.1 or h2c with the configured limits, closed when idle or when
//! the server drains, and counted when a limit ends it.

mod activity;
mod linger;
mod streams;

use std::convert::Infallible;
use std::error::Error as StdError;
use std::sync::Arc;

use http::{HeaderName, Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::sync::watch;

use activity::{Activity, Tracked};
use streams::GuardedResponse;

use crate::config::Limits;
use crate::limit_counters::{LimitCounters, LimitEvent};
use crate::listener::{Peer, Stream};
use crate::proxy::{new_request_id, ProxyBody, ProxyError, RequestFacts, Shared};

type BoxError = Box<dyn StdError + Send + Sync>;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Connections over the limit answered with a 503 at once; past this many, the next ones are
/// closed without an answer, so a flood cannot pile up tasks.
pub const MAX_REFUSING: usize = 64;

/// hyper's own default; setting any value moves the header array to the heap, so it is only
/// set when the configuration differs.
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// The most an HTTP/1.1 connection buffers from its client (hyper grows the buffer to it only
/// while reads keep filling it), and, the same hyper setting, for a client that reads slowly.
const READ_BUFFER_MAX: usize = 256 * 1024;

/// Accepts HTTP/1.1 and h2c on one port, with the header limits applied.
pub fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let read_buffer = limits.max_header_bytes.max(READ_BUFFER_MAX);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    let mut http1 = builder.http1();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // The read buffer also carries request bodies: at 256 KiB a 64 KiB trace batch and its
        // head arrive in one read instead of two. Heads over max_header_bytes are answered by
        // the guard; hyper answers 431 only past the buffer.
        .max_buf_size(read_buffer);
    if limits.max_headers != HYPER_DEFAULT_MAX_HEADERS {
        http1.max_headers(limits.max_headers);
    }
    builder
        .http2()
        .timer(TokioTimer::new())
        // As for HTTP/1.1, the guard applies the head limits and explains its 431; h2 counts
        // 32 bytes more per field, so its own limit would answer first, bare.
        .max_header_list_size(u32::try_from(read_buffer).unwrap_or(u32::MAX));
    builder
}

/// What a connection needs besides its stream and service.
#[derive(Clone)]
pub struct Context {
    pub builder: auto::Builder<TokioExecutor>,
    pub limits: Limits,
    pub counters: Arc<LimitCounters>,
    /// Changes (or closes) when the server starts draining.
    pub drain: watch::Receiver<()>,
    /// Slots for answering connections over `limits.max_connections` ([`MAX_REFUSING`]).
    pub refusing: Arc<tokio::sync::Semaphore>,
    /// How much longer than `limits.idle_timeout` a connection may stay silent after it was
    /// asked to close before it is dropped: a response body that stalls, or a client that stops
    /// reading, must not keep its slot forever.
    pub stall_grace: std::time::Duration,
}

/// Serves one connection to the end, then records which limit, if any, ended it.
pub async fn serve<S>(stream: Stream, peer: Peer, service: S, mut ctx: Context)
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<ProxyBody>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    let activity = Activity::new();
    let io = TokioIo::new(Tracked::new(stream, activity.clone()));
    let service = NotingRequests {
        inner: service,
        activity: activity.clone(),
    };
    let connection = ctx.builder.serve_connection(io, service);
    tokio::pin!(connection);
    // hyper bounds each HTTP/1.1 request head, but not an h2c client that trickles its preface
    // or first HEADERS frame: every connection must bring a whole request head in time.
    let first_request = tokio::time::sleep(ctx.limits.header_read_timeout);
    tokio::pin!(first_request);
    // A branch's condition is read when select! starts waiting, not when the timer fires: a
    // connection busy with its first request may still see it, so the branch looks again.
    let mut first_request_seen = false;
    let mut closing = false;
    let mut draining = false;
    let mut idle_closing = false;
    let stalled_after = ctx.limits.idle_timeout.saturating_add(ctx.stall_grace);
    let result = loop {
        tokio::select! {
            result = connection.as_mut() => break result,
            () = &mut first_request, if !closing && !first_request_seen => {
                if activity.had_request() {
                    first_request_seen = true;
                    continue;
                }
                if activity.request_started() {
                    ctx.counters.record(LimitEvent::HeaderTimeout);
                    tracing::warn!(%peer, "no whole request head within limits.header_read_timeout: connection closed");
                } else {
                    ctx.counters.record(LimitEvent::IdleClosed);
                    tracing::debug!(%peer, "closed a connection that sent nothing within limits.header_read_timeout");
                }
                return;
            }
            changed = ctx.drain.changed() => {
                // The first change starts the drain; a second one (or the server gone) ends its
                // grace period, and what is left of the connection is dropped.
                if draining || changed.is_err() {
                    return;
                }
                draining = true;
                if !closing {
                    closing = true;
                    activity.note_close_asked();
                    connection.as_mut().graceful_shutdown();
                }
            }
            () = idle_or_no_new_request(&activity, ctx.limits.idle_timeout), if !closing => {
                closing = true;
                idle_closing = true;
                ctx.counters.record(LimitEvent::IdleClosed);
                tracing::debug!(%peer, "closing a connection idle past limits.idle_timeout");
                activity.note_close_asked();
                connection.as_mut().graceful_shutdown();
            }
            // After the idle close an h2c connection serving no stream holds no request: what
            // still arrives (a request head trickled a byte at a time) does not keep it.
            () = activity.without_streams(ctx.limits.header_read_timeout), if idle_closing => {
                ctx.counters.record(LimitEvent::HeaderTimeout);
                tracing::warn!(%peer, "an h2c client sent no whole request head within limits.header_read_timeout after the idle close: connection closed");
                return;
            }
            () = activity.idle(stalled_after), if idle_closing => {
                ctx.counters.record(LimitEvent::Stalled);
                tracing::warn!(
                    %peer,
                    silent_for = %humantime::format_duration(stalled_after),
                    "dropped a connection that moved no byte for limits.idle_timeout + twice timeouts.response_header + key.command_timeout (a stalled upstream body, or a client that stopped reading or sending)"
                );
                return;
            }
        }
    };
    // Recorded while the connection still holds the socket, so whoever sees it close also sees
    // the count.
    if let Err(error) = result {
        record_end(&error, &activity, &ctx.counters, peer);
    }
}

/// No byte moved, or (h2c) no new request arrived, for `timeout`.
async fn idle_or_no_new_request(activity: &Activity, timeout: std::time::Duration) {
    tokio::select! {
        () = activity.idle(timeout) => {}
        () = activity.no_new_request(timeout) => {}
    }
}

/// Tells the connection's [`Activity`] when a request head has arrived.
struct NotingRequests<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> hyper::service::Service<Request<Incoming>> for NotingRequests<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<ProxyBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = GuardedResponse<S::Future>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let http2 = request.version() == http::Version::HTTP_2;
        self.activity.note_request(http2);
        let guard = http2.then(|| self.activity.stream_opened());
        GuardedResponse::new(self.inner.call(request), guard)
    }
}

fn record_end(error: &BoxError, activity: &Activity, counters: &LimitCounters, peer: Peer) {
    let request_started = activity.request_started();
    match error.downcast_ref::<hyper::Error>() {
        Some(error) if error.is_parse_too_large() => {
            counters.record(LimitEvent::HeaderTooLarge);
            tracing::warn!(
                %peer,
                "request head over limits.max_headers, or over the read buffer ({} KiB, or limits.max_header_bytes if larger): answered 431 (414 for a request target over 64 KiB) and closed",
                READ_BUFFER_MAX / 1024
            );
        }
        Some(error) if error.is_timeout() && request_started => {
            counters.record(LimitEvent::HeaderTimeout);
            tracing::warn!(%peer, "request headers did not arrive within limits.header_read_timeout: connection closed");
        }
        // hyper's header timer also runs while an HTTP/1.1 connection waits for its next request.
        Some(error) if error.is_timeout() => {
            counters.record(LimitEvent::IdleClosed);
            tracing::debug!(%peer, "closed an idle keep-alive connection");
        }
        // Logged before counted: whoever sees the count sees the line.
        Some(error) if error.is_parse() && activity.opened_with_tls() => {
            tracing::warn!(%peer, "a client spoke TLS to this plain-HTTP port: its endpoint says https:// where it must say http:// (LANGSMITH_ENDPOINT=http://HOST:PORT; `langsmith-proxy doctor` in the app's shell checks it)");
            counters.record(LimitEvent::NotHttp);
        }
        Some(error) if error.is_parse() => {
            tracing::info!(%error, %peer, "a client sent something that is not HTTP/1.1 or h2c: answered 400 and closed");
            counters.record(LimitEvent::NotHttp);
        }
        _ => tracing::debug!(%error, %peer, "connection ended with an error"),
    }
}

/// Answers a connection over `limits.max_connections` with 503 `too_many_connections` and
/// closes it, lingering like any other close so that a client still uploading reads the 503
/// rather than a reset; it holds no slot and lives at most one header timeout.
pub fn refuse(stream: Stream, peer: Peer, shared: Arc<Shared>, ctx: &Context) {
    let limit = ctx.limits.max_connections;
    ctx.counters.record(LimitEvent::ConnectionRefused);
    let Ok(refusing) = ctx.refusing.clone().try_acquire_owned() else {
        tracing::warn!(%peer, limit, "connection over limits.max_connections while {MAX_REFUSING} others are being answered 503: closed");
        return;
    };
    tracing::warn!(%peer, limit, "connection over limits.max_connections: answering 503");
    let mut builder = ctx.builder.clone();
    builder.http1().keep_alive(false);
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        // An id like any other answer's, so the 503 can be found in the log by it.
        let id = request.headers().get(X_REQUEST_ID).cloned().or_else(new_request_id);
        if let Some(id) = &id {
            request.headers_mut().insert(X_REQUEST_ID, id.clone());
        }
        let mut response = ProxyError::TooManyConnections { limit }.into_response(&RequestFacts::of(&request), &shared);
        if let Some(id) = id {
            response.headers_mut().insert(X_REQUEST_ID, id);
        }
        std::future::ready(Ok::<_, Infallible>(response))
    });
    let bound = ctx.limits.header_read_timeout;
    tokio::spawn(async move {
        let io = TokioIo::new(Tracked::new(stream, Activity::new()));
        let _ = tokio::time::timeout(bound, builder.serve_connection(io, service)).await;
        drop(refusing);
    });
}
