//! Request ids for `X-Request-Id`: random UUIDs (v4), written straight into a stack buffer.
//! tower-http's own `MakeRequestUuid` formats through `to_string` and then copies the text into
//! the header value: two allocations and the formatting machinery on every request.

use http::{HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};
use uuid::Uuid;

#[derive(Clone, Copy, Default)]
pub struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        new_request_id().map(RequestId::new)
    }
}

/// A new id, for answers made outside the request path (a connection over the limit).
pub fn new_request_id() -> Option<HeaderValue> {
    let mut text = Uuid::encode_buffer();
    let text = Uuid::new_v4().hyphenated().encode_lower(&mut text);
    let mut value = HeaderValue::from_str(text).ok()?;
    // A value new on every request would only churn an HTTP/2 connection's HPACK table (each
    // one inserted, evicting reusable entries); "never indexed" sends it as a plain literal.
    value.set_sensitive(true);
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_lowercase_v4_uuids() {
        let request = Request::new(());
        let mut make = RandomRequestId;
        let ids: Vec<String> = (0..100)
            .map(|_| {
                let id = make.make_request_id(&request).expect("an id");
                id.header_value().to_str().expect("text").to_owned()
            })
            .collect();
        for id in &ids {
            let parsed = Uuid::parse_str(id).expect("a UUID");
            assert_eq!(parsed.get_version_num(), 4, "{id}");
            assert_eq!(id, &parsed.hyphenated().to_string(), "lowercase, hyphenated: {id}");
        }
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
    }

    #[test]
    fn ids_stay_out_of_the_hpack_table() {
        let id = RandomRequestId.make_request_id(&Request::new(())).expect("an id");
        assert!(id.header_value().is_sensitive());
    }
}
