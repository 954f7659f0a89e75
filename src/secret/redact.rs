//! Blanks secrets out of text the proxy quotes back (a command's stderr, a configuration value,
//! a config file's parse error): anything shaped like a LangSmith key, and a URL's password.

/// What every LangSmith key starts with (`lsv2_pt_`, `lsv2_sk_`, the legacy `ls__`).
pub const KEY_PREFIXES: [&str; 2] = ["lsv2_", "ls__"];

const REDACTED: &str = "[key redacted]";

/// Key prefixes as LangSmith's own messages name them, with nothing of a key after them.
const BARE_PREFIXES: [&str; 6] = ["ls__", "lsv2_", "lsv2_pt", "lsv2_pt_", "lsv2_sk", "lsv2_sk_"];

/// `text` with each key-shaped token (from a key prefix, in any case and not inside a word, to
/// the next space, quote or separator) replaced by `[key redacted]`; the rest is kept as it was. A prefix alone (LangSmith's
/// own "create an lsv2_pt_ key") is not a key and is kept.
pub fn redact_keys(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    let mut from = 0;
    while let Some(start) = first_prefix(&lower[from..]).map(|at| from + at) {
        // Inside a word (`tools__list`) it is no key: keys start a token.
        if lower[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        {
            from = start + 1;
            continue;
        }
        let end = lower[start..].find(ends_token).map_or(text.len(), |len| start + len);
        if BARE_PREFIXES.contains(&&lower[start..end]) {
            from = end;
            continue;
        }
        out.push_str(&text[done..start]);
        out.push_str(REDACTED);
        done = end;
        from = end;
    }
    out.push_str(&text[done..]);
    out
}

/// `text` with `sent` (a key the proxy sent, whatever its shape) and every key-shaped token
/// blanked: an upstream that echoes the request must not make the proxy repeat a key that does
/// not look like a LangSmith key.
pub fn redact_sent_key(text: &str, sent: &[u8]) -> String {
    match std::str::from_utf8(sent) {
        Ok(sent) if !sent.is_empty() && text.contains(sent) => redact_keys(&text.replace(sent, REDACTED)),
        _ => redact_keys(text),
    }
}

/// Up to `max` bytes of `body` as text, to quote in a response or a log: blanked before it is
/// cut, so that a cut through the key cannot leave the part a match would have needed.
pub fn quote_redacted(body: &[u8], sent: &[u8], max: usize) -> String {
    let mut text = redact_sent_key(String::from_utf8_lossy(body).trim(), sent);
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// `text` with the user and password of every `scheme://user:password@host` replaced by `…`:
/// everything from `://` to the last `@` before a space or quote, since a password may hold
/// `/`, `?` or `#` itself.
pub fn redact_url_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("://") {
        let (head, tail) = rest.split_at(start + 3);
        out.push_str(head);
        let url_end = tail.find([' ', '"', '\'', '`']).unwrap_or(tail.len());
        match tail[..url_end].rfind('@') {
            Some(at) => {
                out.push('…');
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

fn first_prefix(text: &str) -> Option<usize> {
    KEY_PREFIXES.iter().filter_map(|prefix| text.find(prefix)).min()
}

fn ends_token(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '`' | ',' | ';' | ')' | ']' | '}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_blanked_and_the_rest_kept() {
        assert_eq!(
            redact_keys("source = lsv2_pt_abc_123\n  | ^ expected `\"`"),
            "source = [key redacted]\n  | ^ expected `\"`"
        );
        assert_eq!(
            redact_keys("\"ls__old\", x=lsv2_sk_1;"),
            "\"[key redacted]\", x=[key redacted];"
        );
        assert_eq!(redact_keys("no key here, lsv2 alone"), "no key here, lsv2 alone");
        assert_eq!(redact_keys("LSV2_PT_ABC_123 x"), "[key redacted] x");
        // Inside a word it is no key.
        assert_eq!(redact_keys("</tools__list>; rel=next"), "</tools__list>; rel=next");
        assert_eq!(redact_keys("key:lsv2_pt_abc_123"), "key:[key redacted]");
    }

    #[test]
    fn prefixes_alone_are_kept() {
        let message = "API keys starting with ls__ are retired; create an lsv2_pt_ or lsv2_sk_ key";
        assert_eq!(redact_keys(message), message);
        assert_eq!(redact_keys("ls__ ls__x"), "ls__ [key redacted]");
    }

    #[test]
    fn the_sent_key_is_blanked_whatever_its_shape() {
        assert_eq!(
            redact_sent_key("got sk-proj-abc123 and lsv2_sk_9", b"sk-proj-abc123"),
            "got [key redacted] and [key redacted]"
        );
        assert_eq!(redact_sent_key("nothing", b""), "nothing");
    }

    #[test]
    fn a_quote_is_blanked_before_it_is_cut() {
        // The cut falls inside the key: cut first, the key's start would be quoted.
        let body = format!("{}bad key sk-proj-abcdefghijklmnop", "x".repeat(1010));
        let quoted = quote_redacted(body.as_bytes(), b"sk-proj-abcdefghijklmnop", 1024);
        assert_eq!(quoted.len(), 1024);
        assert!(quoted.ends_with("bad key [key r"), "{quoted}");
        assert_eq!(quote_redacted("é".repeat(10).as_bytes(), b"", 5), "éé");
    }

    #[test]
    fn url_credentials_are_blanked() {
        assert_eq!(
            redact_url_credentials("`https://admin:hunter2@host/api` and http://h:1/x"),
            "`https://…@host/api` and http://h:1/x"
        );
        assert_eq!(redact_url_credentials("https://u:pa/s?s#w@host"), "https://…@host");
        assert_eq!(redact_url_credentials("no url"), "no url");
    }
}
