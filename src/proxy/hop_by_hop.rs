//! Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are never forwarded.

use http::header::{
    CONNECTION, CONTENT_LENGTH, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, HeaderName};

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

const FIXED_COUNT: usize = 9;
const TRANSFER_ENCODING_AT: usize = 7;
// A static, not a const: a const array would be built and dropped at every use.
static FIXED: [HeaderName; FIXED_COUNT] = [
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
    // Usually there are none, or only `Connection: keep-alive` on a response: one scan of the
    // few names present costs far less than a look-up per hop-by-hop name.
    let mut present = [false; FIXED_COUNT];
    for name in headers.keys() {
        if let Some(index) = fixed_index(name) {
            present[index] = true;
        }
    }
    if !present.contains(&true) {
        return;
    }
    // A message framed by Transfer-Encoding ignores a Content-Length it also carries (RFC 9112
    // §6.3); passed on without the first, the second would cut the body short or overrun it.
    if present[TRANSFER_ENCODING_AT] {
        headers.remove(CONTENT_LENGTH);
    }
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
    for name in &named {
        headers.remove(name);
    }
    for (name, _) in FIXED.iter().zip(present).filter(|(_, present)| *present) {
        headers.remove(name);
    }
}

/// Where `name` is in FIXED. Matching its text (a length switch, then one comparison) costs a
/// fraction of comparing it with each `HeaderName` in turn, and it runs for every header of
/// every request and response.
fn fixed_index(name: &HeaderName) -> Option<usize> {
    let index = match name.as_str() {
        "connection" => 0,
        "keep-alive" => 1,
        "proxy-connection" => 2,
        "proxy-authenticate" => 3,
        "proxy-authorization" => 4,
        "te" => 5,
        "trailer" => 6,
        "transfer-encoding" => 7,
        "upgrade" => 8,
        _ => return None,
    };
    Some(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_encoding_takes_content_length_with_it() {
        assert_eq!(FIXED[TRANSFER_ENCODING_AT], TRANSFER_ENCODING);
        let mut headers = HeaderMap::new();
        headers.insert(TRANSFER_ENCODING, "chunked".parse().expect("value"));
        headers.insert(CONTENT_LENGTH, "3".parse().expect("value"));
        strip(&mut headers);
        assert!(headers.is_empty(), "{headers:?}");
        headers.insert(CONTENT_LENGTH, "3".parse().expect("value"));
        strip(&mut headers);
        assert_eq!(headers.len(), 1);
    }

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

    #[test]
    fn the_text_match_agrees_with_the_fixed_list() {
        for (index, name) in FIXED.iter().enumerate() {
            assert_eq!(fixed_index(name), Some(index), "{name}");
        }
        assert_eq!(fixed_index(&http::header::HOST), None);
    }

    #[test]
    fn each_fixed_name_alone_is_removed() {
        for name in FIXED.iter() {
            let mut headers = HeaderMap::new();
            headers.insert(name.clone(), "1".parse().expect("value"));
            headers.insert("x-kept", "1".parse().expect("value"));
            strip(&mut headers);
            assert!(!headers.contains_key(name), "{name}");
            assert!(headers.contains_key("x-kept"), "{name}");
        }
    }

    #[test]
    fn headers_without_hop_by_hop_names_are_left_alone() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1".parse().expect("value"));
        headers.insert("close", "1".parse().expect("value"));
        headers.insert("x-api-key", "k".parse().expect("value"));
        let before = headers.clone();
        strip(&mut headers);
        assert_eq!(headers, before);
    }
}
