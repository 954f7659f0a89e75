//! What classify looks at: the upstream's answer, the credential sent, and what the key check
//! learned. Plain data, so classify stays a pure function.

use http::{Method, StatusCode};
use serde_json::{Map, Value as Json};

use crate::key_check::CheckRecord;
use crate::secret::{quote_redacted, redact_sent_key, KeyKind};

/// An upstream error body, read up to a bound. LangSmith answers `{"detail": ...}` (older,
/// FastAPI) or `{"error": ...}\n` (newer, Go); anything else is kept as text.
#[derive(Debug, Clone, Default)]
pub struct UpstreamBody {
    pub json: Option<Map<String, Json>>,
    pub text: String,
    pub is_html: bool,
}

/// How much of a non-JSON body is quoted back.
pub const QUOTED_BODY: usize = 1024;

impl UpstreamBody {
    /// `sent_key` is the key that went upstream (empty when it was not the proxy's): quoted in
    /// the summary, logs and the response, a body that echoes the request (headers nested in a
    /// debug member, say) must not make the proxy repeat it, nor any other key.
    pub fn parse(bytes: &[u8], content_type: Option<&str>, sent_key: &[u8]) -> Self {
        let json = match serde_json::from_slice::<Json>(bytes) {
            Ok(Json::Object(mut map)) => {
                map.values_mut().for_each(|value| redact_strings(value, sent_key));
                Some(map)
            }
            _ => None,
        };
        let text = quote_redacted(bytes, sent_key, QUOTED_BODY);
        let looks_html = text.starts_with('<') && text.to_ascii_lowercase().contains("<html");
        let is_html = json.is_none() && (content_type.is_some_and(|ct| ct.contains("text/html")) || looks_html);
        Self { json, text, is_html }
    }

    fn field(&self, name: &str) -> Option<&str> {
        self.json.as_ref()?.get(name)?.as_str()
    }

    pub fn error(&self) -> Option<&str> {
        self.field("error")
    }

    /// The server's message: `detail`, else `error`, else the text.
    pub fn message(&self) -> &str {
        self.field("detail")
            .or_else(|| self.field("error"))
            .unwrap_or(&self.text)
    }
}

/// Blanks keys in every string of `value`, however deeply nested.
fn redact_strings(value: &mut Json, sent_key: &[u8]) {
    match value {
        Json::String(text) => *text = redact_sent_key(text, sent_key),
        Json::Array(items) => items.iter_mut().for_each(|item| redact_strings(item, sent_key)),
        Json::Object(map) => map.values_mut().for_each(|item| redact_strings(item, sent_key)),
        Json::Null | Json::Bool(_) | Json::Number(_) => {}
    }
}

/// Which credential went upstream.
#[derive(Debug, Clone)]
pub enum CredentialEvidence<'a> {
    Proxy {
        source: String,
        kind: KeyKind,
        hint: String,
        /// Why the key looks wrong before LangSmith is asked (prefix, length, characters).
        suspicion: Option<&'static str>,
        check: Option<&'a CheckRecord>,
        /// The hint of the key the proxy holds now, when its source has replaced the one this
        /// request went out with (a rotation between sending and explaining).
        replaced_by: Option<String>,
    },
    Client,
    None,
}

#[derive(Debug, Clone)]
pub struct Evidence<'a> {
    pub status: StatusCode,
    pub method: &'a Method,
    pub path: &'a str,
    pub body: &'a UpstreamBody,
    pub credential: CredentialEvidence<'a>,
    /// The X-Tenant-Id that went upstream, if any.
    pub workspace_sent: Option<&'a str>,
    /// The workspace sent is the proxy's `workspace_id`, which replaces any the app sent.
    pub workspace_from_proxy: bool,
    pub upstream_url: &'a str,
    pub upstream_region: Option<&'a str>,
    pub retry_after: Option<&'a str>,
}
