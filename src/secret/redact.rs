//! Blanks anything shaped like a LangSmith key out of text the proxy quotes back: a command's
//! stderr, a configuration value, a config file's parse error.

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
}
