//! A validated API key that cannot leak through Debug, Display or an error message.

use std::fmt;

use http::HeaderValue;
use sha2::{Digest, Sha256};

/// What the key's prefix says it is (reference/langsmith-api.md §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    PersonalAccessToken,
    ServiceKey,
    Legacy,
    Unrecognized,
}

impl KeyKind {
    fn of(key: &str) -> Self {
        if key.starts_with("lsv2_pt_") {
            Self::PersonalAccessToken
        } else if key.starts_with("lsv2_sk_") {
            Self::ServiceKey
        } else if key.starts_with("ls__") {
            Self::Legacy
        } else {
            Self::Unrecognized
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PersonalAccessToken => "personal_access_token",
            Self::ServiceKey => "service_key",
            Self::Legacy => "legacy",
            Self::Unrecognized => "unrecognized",
        }
    }

    /// The prefix shown in hints; nothing of an unrecognized key's start is revealed.
    fn visible_prefix(self) -> &'static str {
        match self {
            Self::PersonalAccessToken => "lsv2_pt_",
            Self::ServiceKey => "lsv2_sk_",
            Self::Legacy => "ls__",
            Self::Unrecognized => "",
        }
    }
}

/// Why a key was refused at load. Messages name the problem and its position, never the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    #[error("the key is empty")]
    Empty,
    #[error("the key is wrapped in quotes; store the bare key without \" or '")]
    Quoted,
    #[error("the key contains whitespace at character {position}; a LangSmith key is one word")]
    InnerWhitespace { position: usize },
    #[error(
        "the key contains a byte that is not printable ASCII at character {position}; it cannot be sent in a header"
    )]
    InvalidByte { position: usize },
    #[error(
        "the key is `proxy-managed`, the placeholder an app is given so that the proxy supplies the real key (`eval \"$(langsmith-proxy env)\"` exports it): this environment was set up for an app. Give the proxy the real key: run it from another shell, or point key.source at it (file:, command:, keyring:)"
    )]
    Placeholder,
    #[error(
        "the source holds an assignment (`{name}=…`), as in a .env file, not the bare key: keep only what follows `=`"
    )]
    Assignment { name: String },
}

/// A LangSmith API key, trimmed and checked to be sendable as a header.
#[derive(Clone)]
pub struct ApiKey {
    header: HeaderValue,
    kind: KeyKind,
    fingerprint: String,
    hint: String,
}

impl ApiKey {
    /// Trims surrounding whitespace (a trailing newline from `echo` or a secret mount) and
    /// refuses anything else that would make the key unusable.
    pub fn parse(raw: &str) -> Result<Self, KeyFormatError> {
        let key = raw.trim();
        if key.is_empty() {
            return Err(KeyFormatError::Empty);
        }
        if key == super::PLACEHOLDER_KEY {
            return Err(KeyFormatError::Placeholder);
        }
        if let Some(name) = assigned_name(key) {
            return Err(KeyFormatError::Assignment { name: name.to_owned() });
        }
        if key.starts_with(['"', '\'']) || key.ends_with(['"', '\'']) {
            return Err(KeyFormatError::Quoted);
        }
        for (position, ch) in key.chars().enumerate() {
            if ch.is_whitespace() {
                return Err(KeyFormatError::InnerWhitespace { position });
            }
            if !ch.is_ascii_graphic() {
                return Err(KeyFormatError::InvalidByte { position });
            }
        }
        let mut header = HeaderValue::from_str(key).map_err(|_| KeyFormatError::InvalidByte { position: 0 })?;
        header.set_sensitive(true);
        let kind = KeyKind::of(key);
        Ok(Self {
            header,
            kind,
            fingerprint: fingerprint(key),
            hint: hint(key, kind),
        })
    }

    pub fn header_value(&self) -> &HeaderValue {
        &self.header
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// `sha256:` and the first 12 hex digits of the key's SHA-256: enough to tell keys apart
    /// in logs and metrics, useless for recovering the key.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Known prefix, an ellipsis and the last four characters, e.g. `lsv2_sk_…abcd`.
    pub fn hint(&self) -> &str {
        &self.hint
    }

    /// Why this key looks wrong before LangSmith is even asked, if it does.
    pub fn suspicion(&self) -> Option<&'static str> {
        match self.kind {
            KeyKind::Legacy => Some("it is a legacy ls__ key; LangSmith stopped accepting those on 2024-10-22: create an lsv2_ key"),
            KeyKind::Unrecognized => Some("it does not start with lsv2_pt_ or lsv2_sk_ like LangSmith keys do: check that the right key was pasted"),
            KeyKind::PersonalAccessToken | KeyKind::ServiceKey if !has_key_shape(self.header.as_bytes()) => {
                Some("it is shorter than LangSmith keys or has unexpected characters: it may be truncated")
            }
            _ => None,
        }
    }

    /// Whether `value` is this key, for telling the proxy's key from a client's.
    pub fn matches(&self, value: &[u8]) -> bool {
        self.header.as_bytes() == value
    }
}

/// The variable a `.env`-style line assigns (`LANGSMITH_API_KEY=…`, `export NAME=…`): an upper
/// case name, `=`, and a value. A token never looks like that (base64 pads only at its end).
fn assigned_name(text: &str) -> Option<&str> {
    let line = text.strip_prefix("export ").map_or(text, str::trim_start);
    let (name, value) = line.split_once('=')?;
    let is_name = name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    (is_name && !value.trim_matches('=').is_empty()).then_some(name)
}

/// `lsv2_(pt|sk)_` then 32 or more alphanumerics, then `_`-separated alphanumeric groups: the
/// shape the SDKs' own redaction pattern expects.
fn has_key_shape(key: &[u8]) -> bool {
    let Some(body) = key.get(8..) else { return false };
    let mut groups = body.split(|b| *b == b'_');
    let first_ok = groups
        .next()
        .is_some_and(|g| g.len() >= 32 && g.iter().all(u8::is_ascii_alphanumeric));
    first_ok && groups.all(|g| !g.is_empty() && g.iter().all(u8::is_ascii_alphanumeric))
}

fn fingerprint(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn hint(key: &str, kind: KeyKind) -> String {
    let prefix = kind.visible_prefix();
    let rest = &key[prefix.len()..];
    // Showing the last four of a very short secret would reveal too much of it.
    if rest.len() < 12 {
        return format!("{prefix}…");
    }
    format!("{prefix}…{}", &rest[rest.len() - 4..])
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("kind", &self.kind)
            .field("hint", &self.hint)
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAT: &str = "lsv2_pt_0123456789abcdef0123456789abcdef_0123456789";

    #[test]
    fn trims_and_classifies() {
        let key = ApiKey::parse(&format!("  {PAT}\n")).expect("valid");
        assert_eq!(key.kind(), KeyKind::PersonalAccessToken);
        assert_eq!(key.hint(), "lsv2_pt_…6789");
        assert!(key.fingerprint().starts_with("sha256:"));
        assert_eq!(key.header_value().as_bytes(), PAT.as_bytes());
        assert_eq!(
            ApiKey::parse("lsv2_sk_abcdefghijklmnopqrstuvwxyz").map(|k| k.kind()),
            Ok(KeyKind::ServiceKey)
        );
        assert_eq!(
            ApiKey::parse("ls__abcdefghijklmnop").map(|k| k.kind()),
            Ok(KeyKind::Legacy)
        );
        assert_eq!(
            ApiKey::parse("sk-abcdefghijklmnopqrstuv").map(|k| k.kind()),
            Ok(KeyKind::Unrecognized)
        );
    }

    #[test]
    fn refuses_unusable_keys() {
        assert_eq!(ApiKey::parse(" \n").err(), Some(KeyFormatError::Empty));
        assert_eq!(
            ApiKey::parse("proxy-managed\n").err(),
            Some(KeyFormatError::Placeholder)
        );
        assert_eq!(ApiKey::parse(&format!("\"{PAT}\"")).err(), Some(KeyFormatError::Quoted));
        assert_eq!(
            ApiKey::parse("lsv2_pt_abc def").err(),
            Some(KeyFormatError::InnerWhitespace { position: 11 })
        );
        assert_eq!(
            ApiKey::parse("lsv2_pt_abcé").err(),
            Some(KeyFormatError::InvalidByte { position: 11 })
        );
    }

    #[test]
    fn a_dotenv_line_is_refused_naming_only_the_variable() {
        for line in [
            format!("LANGSMITH_API_KEY={PAT}"),
            format!("export LANGSMITH_API_KEY={PAT}"),
            format!("LANGCHAIN_API_KEY=\"{PAT}\""),
        ] {
            let error = ApiKey::parse(&line).expect_err("refused").to_string();
            assert!(error.contains("`LANG") && error.contains("=…`"), "{error}");
            assert!(!error.contains(&PAT[8..]), "{error}");
        }
        // Base64 padding is no assignment.
        assert!(ApiKey::parse("QUJDREVGRw==").is_ok());
        assert!(ApiKey::parse("ABCD1234==").is_ok());
        assert!(ApiKey::parse("abc=def").is_ok());
    }

    #[test]
    fn suspicions() {
        assert_eq!(ApiKey::parse(PAT).expect("valid").suspicion(), None);
        assert!(ApiKey::parse("lsv2_pt_abc")
            .expect("valid")
            .suspicion()
            .is_some_and(|s| s.contains("truncated")));
        assert!(ApiKey::parse("ls__abcdefghijklmnop")
            .expect("valid")
            .suspicion()
            .is_some_and(|s| s.contains("legacy")));
        assert!(ApiKey::parse("sk-proj-abcdefghijklmnop")
            .expect("valid")
            .suspicion()
            .is_some_and(|s| s.contains("lsv2_pt_")));
    }

    #[test]
    fn never_prints_the_key() {
        let key = ApiKey::parse(PAT).expect("valid");
        let debug = format!("{key:?}");
        assert!(!debug.contains(PAT));
        assert!(!debug.contains("0123456789abcdef"));
        let short = ApiKey::parse("lsv2_pt_short").expect("valid");
        assert_eq!(short.hint(), "lsv2_pt_…");
    }
}
