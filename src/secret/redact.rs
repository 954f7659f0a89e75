//! Blanks secrets out of text the proxy quotes back (a command's stderr, a configuration value,
//! a config file's parse error): anything shaped like a LangSmith key, and a URL's password.

/// What every LangSmith key starts with (`lsv2_pt_`, `lsv2_sk_`, the legacy `ls__`).
pub const KEY_PREFIXES: [&str; 2] = ["lsv2_", "ls__"];

const REDACTED: &str = "[key redacted]";

/// `text` with each key-shaped token (from a key prefix to the next space, quote or
/// separator) replaced by `[key redacted]`; the rest is kept as it was.
pub fn redact_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = first_prefix(rest) {
        out.push_str(&rest[..start]);
        let token = &rest[start..];
        let end = token.find(ends_token).unwrap_or(token.len());
        out.push_str(REDACTED);
        rest = &token[end..];
    }
    out.push_str(rest);
    out
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
