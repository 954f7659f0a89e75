//! Renders a diagnosis into the response contract of DESIGN.md §4.

use bytes::Bytes;
use http::header::{HeaderName, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::ext::ReasonPhrase;
use serde_json::{json, Value as Json};

use super::Code;
use crate::key_check::rfc3339;
use crate::proxy::ProxyBody;
use crate::secret::LoadedKey;

/// Marks a response the proxy made itself, so nobody mistakes it for LangSmith's.
pub const ERROR_HEADER: HeaderName = HeaderName::from_static("x-langsmith-proxy-error");
/// The diagnosis of an upstream 401/403/405/429.
pub const DIAGNOSIS_HEADER: HeaderName = HeaderName::from_static("x-langsmith-proxy-diagnosis");
/// `<source> <hint>` of the key that was sent.
pub const KEY_HEADER: HeaderName = HeaderName::from_static("x-langsmith-proxy-key");
const SHOULD_RETRY: HeaderName = HeaderName::from_static("x-should-retry");
const DOCS: &str = "https://github.com/langsmith-proxy/langsmith-proxy#diagnosis-codes";

/// Which cause it is, in one sentence, and the steps that fix it.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    pub code: Code,
    pub summary: String,
    pub fix: Vec<String>,
}

/// Everything about the request a diagnosis reports alongside the cause.
#[derive(Debug, Clone)]
pub struct DiagnosisContext<'a> {
    pub request_id: Option<&'a HeaderValue>,
    pub method: &'a Method,
    pub path: &'a str,
    pub key_source: String,
    pub key: Option<std::sync::Arc<LoadedKey>>,
    pub last_valid_at: Option<std::time::SystemTime>,
    pub workspace_id: Option<&'a HeaderValue>,
    pub upstream_url: &'a str,
    pub upstream_status: Option<StatusCode>,
}

/// `key.source` in a diagnosis when the app's own key went upstream.
pub const CLIENT_KEY_SOURCE: &str = "client";
/// `key.source` in a refusal: the refused caller learns nothing of the key.
pub const WITHHELD_KEY_SOURCE: &str = "withheld";

impl Diagnosis {
    /// The `langsmith_proxy` JSON member.
    pub fn member(&self, ctx: &DiagnosisContext<'_>) -> Json {
        let key = ctx.key.as_ref().map(|loaded| {
            json!({
                "source": ctx.key_source,
                "kind": loaded.key.kind().as_str(),
                "hint": loaded.key.hint(),
                "fingerprint": loaded.key.fingerprint(),
                "loaded_at": rfc3339(loaded.loaded_at),
                "last_valid_at": ctx.last_valid_at.map(rfc3339),
            })
        });
        json!({
            "code": self.code.as_str(),
            "summary": self.summary,
            "fix": self.fix,
            // `loaded: false` only when the proxy has no key: not for the app's key, nor a refusal.
            "key": key.unwrap_or_else(|| match ctx.key_source.as_str() {
                CLIENT_KEY_SOURCE | WITHHELD_KEY_SOURCE => json!({ "source": ctx.key_source }),
                _ => json!({ "source": ctx.key_source, "loaded": false }),
            }),
            "workspace_id": ctx.workspace_id.and_then(|v| v.to_str().ok()),
            "upstream": { "url": ctx.upstream_url, "status": ctx.upstream_status.map(|s| s.as_u16()) },
            "request": {
                "id": ctx.request_id.and_then(|v| v.to_str().ok()),
                "method": ctx.method.as_str(),
                "path": ctx.path,
            },
            "docs": DOCS,
        })
    }

    /// `Forbidden (langsmith-proxy: key_missing: <first fix step>)`, for SDKs that print only
    /// the status line. Characters a reason phrase cannot carry are dropped.
    pub fn reason_phrase(&self, status: StatusCode) -> Option<ReasonPhrase> {
        let first_fix = self.fix.first().map(String::as_str).unwrap_or(&self.summary);
        let text = format!(
            "{} (langsmith-proxy: {}: {first_fix})",
            status.canonical_reason().unwrap_or("Error"),
            self.code
        );
        // A reason phrase is ASCII: spell out the two non-ASCII signs the texts use, drop others.
        let mut clean = String::with_capacity(text.len());
        for c in text.chars() {
            match c {
                '…' => clean.push_str("..."),
                '→' => clean.push('>'),
                c if c == ' ' || c.is_ascii_graphic() => clean.push(c),
                _ => {}
            }
        }
        ReasonPhrase::try_from(clean.into_bytes()).ok()
    }
}

/// A response made by the proxy itself: JSON with top-level `error`/`detail` like LangSmith's,
/// the `langsmith_proxy` member, and the `x-langsmith-proxy-error` header.
pub fn proxy_made_response(
    status: StatusCode,
    diagnosis: &Diagnosis,
    ctx: &DiagnosisContext<'_>,
) -> Response<ProxyBody> {
    let body = json!({
        "error": diagnosis.code.as_str(),
        "detail": diagnosis.summary,
        "langsmith_proxy": diagnosis.member(ctx),
    });
    let mut bytes = serde_json::to_vec(&body).unwrap_or_default();
    bytes.push(b'\n');
    let mut response = Response::new(Empty::new().map_err(|never| match never {}).boxed());
    *response.body_mut() = body_for(ctx.method, response.headers_mut(), Bytes::from(bytes));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ERROR_HEADER, HeaderValue::from_static(diagnosis.code.as_str()));
    if status.is_client_error() {
        headers.insert(SHOULD_RETRY, HeaderValue::from_static("false"));
    }
    if let Some(reason) = diagnosis.reason_phrase(status) {
        response.extensions_mut().insert(reason);
    }
    response
}

/// The body of an answer the proxy wrote. A HEAD gets the head a GET would get, its length
/// included, and no body: hyper's HTTP/2 server would send one, which the client must reject.
pub fn body_for(method: &Method, headers: &mut http::HeaderMap, bytes: Bytes) -> ProxyBody {
    if method == Method::HEAD {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        return Empty::new().map_err(|never| match never {}).boxed();
    }
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

/// The diagnosis in the head alone (headers and reason phrase), for an answer whose body goes
/// out as it came: too large to be an error body LangSmith wrote, or compressed.
pub fn annotate_head(parts: &mut http::response::Parts, diagnosis: &Diagnosis, ctx: &DiagnosisContext<'_>) {
    let headers = &mut parts.headers;
    headers.insert(DIAGNOSIS_HEADER, HeaderValue::from_static(diagnosis.code.as_str()));
    if parts.status != StatusCode::TOO_MANY_REQUESTS {
        headers.insert(SHOULD_RETRY, HeaderValue::from_static("false"));
    }
    let key_hint = ctx
        .key
        .as_ref()
        .map(|loaded| format!("{} {}", ctx.key_source, loaded.key.hint()));
    if let Some(value) = key_hint.and_then(|hint| HeaderValue::from_str(&hint.replace('…', "...")).ok()) {
        headers.insert(KEY_HEADER, value);
    }
    if let Some(reason) = diagnosis.reason_phrase(parts.status) {
        parts.extensions.insert(reason);
    }
}

/// Annotates an upstream 401/403/405/429: status and upstream JSON fields stay, headers, reason
/// phrase and the `langsmith_proxy` member are added. Returns the new body.
pub fn annotate_upstream(
    parts: &mut http::response::Parts,
    raw: Bytes,
    upstream_body: &super::UpstreamBody,
    diagnosis: &Diagnosis,
    ctx: &DiagnosisContext<'_>,
) -> Bytes {
    annotate_head(parts, diagnosis, ctx);
    let headers = &mut parts.headers;
    // Whatever is sent, hyper sets the length from the body: a body cut short at the wait must
    // not go out under the upstream's longer Content-Length.
    headers.remove(http::header::CONTENT_LENGTH);
    // A compressed body cannot be edited without re-encoding it: headers carry the diagnosis.
    if headers
        .get(http::header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes() != b"identity")
    {
        return raw;
    }
    let body = match &upstream_body.json {
        Some(fields) => {
            let mut fields = fields.clone();
            fields.insert("langsmith_proxy".to_owned(), diagnosis.member(ctx));
            Json::Object(fields)
        }
        None => json!({
            "error": diagnosis.code.as_str(),
            "detail": diagnosis.summary,
            "upstream_body": upstream_body.text,
            "langsmith_proxy": diagnosis.member(ctx),
        }),
    };
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let mut bytes = serde_json::to_vec(&body).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}
