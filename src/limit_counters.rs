//! How often each connection limit was hit; read by tests now and by a metrics exporter later.

use tokio::sync::watch;

/// One limit being hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitEvent {
    /// Request headers over `limits.max_header_bytes` or `limits.max_headers` (431).
    HeaderTooLarge,
    /// A request started but its headers did not arrive within `limits.header_read_timeout`.
    HeaderTimeout,
    /// A connection idle past `limits.idle_timeout` (or, on HTTP/1.1, `header_read_timeout`).
    IdleClosed,
    /// A connection over `limits.max_connections` (503).
    ConnectionRefused,
    /// A connection closed for idleness that then stayed silent longer than any request may
    /// wait (a stalled upstream body, a client that stopped reading): dropped.
    Stalled,
    /// A connection whose bytes were not HTTP/1.1 or h2c (a TLS client on the plain port, a
    /// malformed head): hyper answered 400 and closed it.
    NotHttp,
}

/// The counts, published on a watch channel: a reader takes a snapshot or waits for a change.
/// Limits are hit rarely, so the channel's lock costs nothing that matters.
#[derive(Debug)]
pub struct LimitCounters {
    counts: watch::Sender<LimitCounts>,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitCounts {
    pub header_too_large: u64,
    pub header_timeout: u64,
    pub idle_closed: u64,
    pub connections_refused: u64,
    pub stalled: u64,
    pub not_http: u64,
}

impl Default for LimitCounters {
    fn default() -> Self {
        Self {
            counts: watch::Sender::new(LimitCounts::default()),
        }
    }
}

impl LimitCounters {
    pub fn record(&self, event: LimitEvent) {
        self.counts.send_modify(|counts| {
            let counter = match event {
                LimitEvent::HeaderTooLarge => &mut counts.header_too_large,
                LimitEvent::HeaderTimeout => &mut counts.header_timeout,
                LimitEvent::IdleClosed => &mut counts.idle_closed,
                LimitEvent::ConnectionRefused => &mut counts.connections_refused,
                LimitEvent::Stalled => &mut counts.stalled,
                LimitEvent::NotHttp => &mut counts.not_http,
            };
            *counter += 1;
        });
    }

    pub fn snapshot(&self) -> LimitCounts {
        *self.counts.borrow()
    }

    /// A receiver that sees every later change, e.g. to wait until a count is reached.
    pub fn subscribe(&self) -> watch::Receiver<LimitCounts> {
        self.counts.subscribe()
    }
}
