//! `limits.max_header_bytes` and `limits.max_headers`, checked on the head as it arrived: the
//! server measures it before any layer adds a header (a minted `x-request-id` is not the
//! client's), and the guard answers with the usual diagnosis. The connection's read buffer (and
//! h2's header list limit) is larger than the limit because it also carries bodies; it only
//! bounds the raw bytes.

use http::Request;

use super::{Arrival, ProxyError, Shared};
use crate::limit_counters::LimitEvent;

/// The request head as it arrived, measured by the server before the request path.
#[derive(Debug, Clone, Copy)]
pub struct ReceivedHead {
    bytes: usize,
    headers: usize,
}

impl ReceivedHead {
    pub fn of<B>(request: &Request<B>) -> Self {
        Self {
            bytes: head_size(request),
            headers: request.headers().len(),
        }
    }
}

/// The size of the request head as HTTP/1.1 sends it: request line, header lines, blank line.
/// (httparse drops the spaces around values; the read buffer bounds those.)
fn head_size<B>(request: &Request<B>) -> usize {
    let target = request.uri().path_and_query().map_or(1, |target| target.as_str().len());
    let request_line = request.method().as_str().len() + 1 + target + " HTTP/1.1\r\n".len();
    let header_lines: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + ": \r\n".len() + value.len())
        .sum();
    request_line + header_lines + "\r\n".len()
}

/// Refuses a head over either limit, counting it.
pub fn check<B>(shared: &Shared, request: &Request<B>) -> Result<(), ProxyError> {
    let head = request
        .extensions()
        .get::<Arrival>()
        .map_or_else(|| ReceivedHead::of(request), |arrival| arrival.head);
    let Some(what) = shared.head_limits.exceeded_by(head) else {
        return Ok(());
    };
    shared.limit_counters.record(LimitEvent::HeaderTooLarge);
    Err(ProxyError::HeaderTooLarge { what })
}

/// The two limits, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    pub max_bytes: usize,
    pub max_headers: usize,
}

impl HeadLimits {
    /// Which limit `head` is over, in words; `None` within both.
    pub fn exceeded_by(&self, head: ReceivedHead) -> Option<String> {
        if head.bytes > self.max_bytes {
            Some(format!(
                "about {} bytes, over limits.max_header_bytes ({})",
                head.bytes, self.max_bytes
            ))
        } else if head.headers > self.max_headers {
            Some(format!(
                "{} header fields, over limits.max_headers ({})",
                head.headers, self.max_headers
            ))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_is_measured_as_http_1_1_sends_it() {
        let request = Request::get("/runs?limit=1")
            .header("host", "127.0.0.1:7878")
            .header("x-a", "1")
            .body(())
            .expect("request");
        let wire = "GET /runs?limit=1 HTTP/1.1\r\nhost: 127.0.0.1:7878\r\nx-a: 1\r\n\r\n";
        let head = ReceivedHead::of(&request);
        assert_eq!((head.bytes, head.headers), (wire.len(), 2));
    }
}
