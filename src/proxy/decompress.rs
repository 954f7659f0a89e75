//! Undoes the content coding of an error body, so that a gzip-compressed 401/403 (an upstream
//! honours the app's `Accept-Encoding`) is explained, and its echoed key redacted, like a plain
//! one. Bounded: a few bytes of gzip can expand to gigabytes.

use std::io::Read;

use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use http::HeaderValue;

/// `raw` decoded, when `coding` is gzip or deflate, the data is whole and the decoded body is
/// at most `limit` bytes. Anything else (br, zstd, a body cut short) stays as it came.
pub fn decode(coding: &HeaderValue, raw: &[u8], limit: usize) -> Option<Vec<u8>> {
    let coding = coding.to_str().ok()?.trim();
    let is = |name: &str| coding.eq_ignore_ascii_case(name);
    if is("gzip") || is("x-gzip") {
        read_within(MultiGzDecoder::new(raw), limit)
    } else if is("deflate") {
        // HTTP's deflate is zlib-wrapped (RFC 9110 §8.4.1.2); some servers send it raw.
        read_within(ZlibDecoder::new(raw), limit).or_else(|| read_within(DeflateDecoder::new(raw), limit))
    } else {
        None
    }
}

fn read_within(decoder: impl Read, limit: usize) -> Option<Vec<u8>> {
    let mut decoded = Vec::new();
    let read = decoder
        .take(u64::try_from(limit).ok()?.saturating_add(1))
        .read_to_end(&mut decoded)
        .ok()?;
    (read <= limit).then_some(decoded)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::{GzEncoder, ZlibEncoder};
    use flate2::Compression;

    use super::*;

    const BODY: &[u8] = br#"{"error":"org_scoped_key_requires_workspace"}"#;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(data).expect("gzip");
        encoder.finish().expect("gzip")
    }

    #[test]
    fn gzip_and_deflate_bodies_are_decoded() {
        let gzip_header = HeaderValue::from_static("gzip");
        assert_eq!(decode(&gzip_header, &gzip(BODY), 1024).as_deref(), Some(BODY));
        let mut zlib = ZlibEncoder::new(Vec::new(), Compression::default());
        zlib.write_all(BODY).expect("zlib");
        let zlib = zlib.finish().expect("zlib");
        assert_eq!(
            decode(&HeaderValue::from_static("Deflate"), &zlib, 1024).as_deref(),
            Some(BODY)
        );
    }

    #[test]
    fn what_cannot_be_decoded_safely_is_left_alone() {
        let gzip_header = HeaderValue::from_static("gzip");
        let whole = gzip(BODY);
        assert_eq!(decode(&gzip_header, &whole[..whole.len() / 2], 1024), None, "cut short");
        assert_eq!(decode(&gzip_header, BODY, 1024), None, "not gzip at all");
        assert_eq!(
            decode(&HeaderValue::from_static("br"), &whole, 1024),
            None,
            "another coding"
        );
        assert_eq!(
            decode(&HeaderValue::from_static("gzip, br"), &whole, 1024),
            None,
            "two codings"
        );
        let bomb = gzip(&vec![b'a'; 1 << 20]);
        assert!(bomb.len() < 4096, "{}", bomb.len());
        assert_eq!(decode(&gzip_header, &bomb, 64 * 1024), None, "expands past the limit");
    }
}
