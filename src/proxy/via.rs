//! The `Via` entry this proxy adds, with an id random per running instance, so a request that
//! comes back to the same proxy (a forwarding loop) is recognised.

use http::header::VIA;
use http::{HeaderMap, HeaderValue};

#[derive(Debug, Clone)]
pub struct ProxyVia {
    /// `langsmith-proxy-<16 hex>`, the received-by part of the entry.
    pseudonym: String,
    value: HeaderValue,
}

impl ProxyVia {
    pub fn random() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let pseudonym = format!("langsmith-proxy-{}", &id[..16]);
        let value =
            HeaderValue::from_str(&format!("1.1 {pseudonym}")).expect("ASCII letters and digits form a header value");
        Self { pseudonym, value }
    }

    /// `1.1 langsmith-proxy-<id>`, appended to `Via` on the way upstream.
    pub fn header_value(&self) -> &HeaderValue {
        &self.value
    }

    /// Whether a `Via` entry of this instance is already on the request.
    pub fn seen_in(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(VIA)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|entry| entry.split_whitespace().nth(1) == Some(self.pseudonym.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_only_its_own_entry() {
        let ours = ProxyVia::random();
        let other = ProxyVia::random();
        let mut headers = HeaderMap::new();
        headers.append(VIA, HeaderValue::from_static("1.1 varnish, 1.1 langsmith-proxy"));
        headers.append(VIA, other.header_value().clone());
        assert!(!ours.seen_in(&headers));
        headers.append(VIA, HeaderValue::from_static("1.0 squid"));
        let chained = format!("1.1 cdn (Cache), {}", ours.header_value().to_str().expect("ascii"));
        headers.append(VIA, chained.parse().expect("value"));
        assert!(ours.seen_in(&headers));
    }
}
