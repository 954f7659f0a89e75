//! Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are never forwarded.

use http::header::{CONNECTION, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName};

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

const FIXED: [HeaderName; 9] = [
    CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
];

/// Removes the fixed hop-by-hop headers and every header that `Connection` names.
pub fn strip(headers: &mut HeaderMap) {
    // Collect first: the names live inside the map being edited. The usual tokens are not
    // parsed into names (which would allocate): `keep-alive` is in FIXED, and `close` is
    // removed by a look-up that allocates nothing.
    let mut named = Vec::new();
    let mut names_close = false;
    let tokens = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim);
    for token in tokens {
        if token.eq_ignore_ascii_case("close") {
            names_close = true;
        } else if !token.is_empty() && !token.eq_ignore_ascii_case("keep-alive") {
            named.extend(HeaderName::from_bytes(token.as_bytes()).ok());
        }
    }
    if names_close {
        headers.remove("close");
    }
    for name in named.iter().chain(FIXED.iter()) {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_fixed_and_connection_named_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, "keep-alive, X-Secret-Hop".parse().expect("value"));
        headers.append(CONNECTION, "Close".parse().expect("value"));
        headers.insert("x-secret-hop", "1".parse().expect("value"));
        headers.insert("close", "1".parse().expect("value"));
        headers.insert("keep-alive", "timeout=5".parse().expect("value"));
        headers.insert(TE, "trailers".parse().expect("value"));
        headers.insert("proxy-authorization", "Basic x".parse().expect("value"));
        headers.insert("x-kept", "1".parse().expect("value"));
        strip(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-kept"));
    }
}
