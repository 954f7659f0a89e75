//! Explains upstream 401/403/405/429 answers (and HTML error pages). Other responses pass
//! through untouched, without an allocation.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, BodyStream, Full, StreamBody};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::{Credential, ProxyBody, RequestFacts, Shared};
use crate::diagnosis::{
    annotate_head, annotate_upstream, body_for, classify, CredentialEvidence, Evidence, UpstreamBody,
};
use crate::key_check::RECHECK_AFTER_REJECTION;
use crate::secret::redact_sent_key;

/// An error body larger than this is not a LangSmith error body: it passes through unexplained.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// How long a failing request may wait for a fresh key check to sharpen its diagnosis.
const CHECK_WAIT: Duration = Duration::from_secs(10);
/// How long an error body may take to arrive (at most `timeouts.response_header`): an upstream
/// that sends a 403's headers and stalls gets explained with what it sent.
const ERROR_BODY_WAIT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct DiagnoseLayer {
    shared: Arc<Shared>,
}

impl DiagnoseLayer {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl<S> Layer<S> for DiagnoseLayer {
    type Service = Diagnose<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Diagnose {
            inner,
            shared: self.shared.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Diagnose<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, B> Service<Request<B>> for Diagnose<S>
where
    S: Service<Request<B>, Response = Response<ProxyBody>>,
{
    type Response = Response<ProxyBody>;
    type Error = S::Error;
    type Future = DiagnoseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        DiagnoseFuture {
            inner: self.inner.call(request),
            shared: self.shared.clone(),
            explaining: None,
        }
    }
}

type Explaining = Pin<Box<dyn Future<Output = Response<ProxyBody>> + Send>>;

pin_project! {
    pub struct DiagnoseFuture<F> {
        #[pin]
        inner: F,
        shared: Arc<Shared>,
        explaining: Option<Explaining>,
    }
}

impl<F, E> Future for DiagnoseFuture<F>
where
    F: Future<Output = Result<Response<ProxyBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            if let Some(explaining) = this.explaining.as_mut() {
                return explaining.as_mut().poll(cx).map(Ok);
            }
            let mut response = ready!(this.inner.as_mut().poll(cx))?;
            // Forward attaches the facts only to answers worth explaining.
            let Some(facts) = response.extensions_mut().remove::<RequestFacts>() else {
                return Poll::Ready(Ok(response));
            };
            *this.explaining = Some(Box::pin(explain(this.shared.clone(), facts, response)));
        }
    }
}

async fn explain(shared: Arc<Shared>, facts: RequestFacts, response: Response<ProxyBody>) -> Response<ProxyBody> {
    let (mut parts, body) = response.into_parts();
    let wait = ERROR_BODY_WAIT.min(shared.timeouts.response_header);
    // An oversized body is no error body LangSmith wrote: it goes out as it came, and its first
    // part is enough to explain the status in the head.
    let (raw, passthrough) = match read_bounded(body, wait).await {
        Ok(raw) => (decoded(&mut parts.headers, raw), None),
        Err(Oversized { head, body }) => (head, Some(body)),
    };
    let status = parts.status;
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let sent_key = match &facts.credential {
        Credential::Proxy(loaded) => loaded.key.header_value().as_bytes(),
        Credential::Client | Credential::None => &[],
    };
    let upstream_body = UpstreamBody::parse(&raw, content_type, sent_key);
    redact_headers(&mut parts.headers, sent_key);
    if let (StatusCode::METHOD_NOT_ALLOWED, Some(fields)) = (parts.status, &upstream_body.json) {
        // The API's own answer to a wrong method, whatever its content type said: passed on,
        // as it came unless it quoted a key (then as parsed, with the key blanked).
        let body = match passthrough {
            Some(body) => body,
            None if quotes_a_key(&raw, fields) => {
                parts.headers.remove(CONTENT_LENGTH);
                let redacted = serde_json::to_vec(fields).unwrap_or_default();
                Full::new(Bytes::from(redacted)).map_err(|never| match never {}).boxed()
            }
            None => Full::new(raw).map_err(|never| match never {}).boxed(),
        };
        return Response::from_parts(parts, body);
    }

    let rejected = status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN;
    if let (true, Credential::Proxy(_), Some(check)) = (rejected, &facts.credential, &shared.key_check) {
        // Fresh facts make a sharper diagnosis; rate-limited, and never holds the answer long.
        // The check runs on its own task, so one slower than the wait (a region probe on a
        // slow network) still finishes and informs the next diagnosis.
        let running = check.refresh_in_background(RECHECK_AFTER_REJECTION);
        let _ = tokio::time::timeout(CHECK_WAIT, running).await;
    }
    let record = facts.check_record(&shared);
    let credential = match &facts.credential {
        Credential::Proxy(loaded) => CredentialEvidence::Proxy {
            source: loaded.source.to_string(),
            kind: loaded.key.kind(),
            hint: loaded.key.hint().to_owned(),
            suspicion: loaded.key.suspicion(),
            check: record.as_deref(),
            replaced_by: shared
                .keys
                .snapshot()
                .filter(|current| current.key.fingerprint() != loaded.key.fingerprint())
                .map(|current| current.key.hint().to_owned()),
        },
        Credential::Client => CredentialEvidence::Client,
        Credential::None => CredentialEvidence::None,
    };
    let evidence = Evidence {
        status,
        method: &facts.method,
        path: facts.uri.path(),
        body: &upstream_body,
        credential,
        workspace_sent: facts.workspace_sent.as_ref().and_then(|v| v.to_str().ok()),
        workspace_from_proxy: shared.workspace_id.is_some(),
        upstream_url: shared.upstream.url(),
        upstream_region: shared.upstream.region(),
        retry_after: parts
            .headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
    };
    let diagnosis = classify(&evidence);
    let ctx = facts.diagnosis_context(&shared, Some(status));
    super::report::report(&shared, &facts, status, &diagnosis, &ctx);
    if let Some(body) = passthrough {
        annotate_head(&mut parts, &diagnosis, &ctx);
        return Response::from_parts(parts, body);
    }
    let body = annotate_upstream(&mut parts, raw, &upstream_body, &diagnosis, &ctx);
    let body = body_for(&facts.method, &mut parts.headers, body);
    Response::from_parts(parts, body)
}

/// A compressed error body decoded, its coding and length dropped from the headers: it is
/// read, explained and redacted as plain text, and goes out so. As it came when it cannot be
/// decoded (br, zstd, cut short), and then only the head carries the diagnosis.
fn decoded(headers: &mut http::HeaderMap, raw: Bytes) -> Bytes {
    let Some(coding) = headers.get(CONTENT_ENCODING) else {
        return raw;
    };
    match super::decompress::decode(coding, &raw, MAX_ERROR_BODY) {
        Some(plain) => {
            headers.remove(CONTENT_ENCODING);
            headers.remove(CONTENT_LENGTH);
            Bytes::from(plain)
        }
        None => raw,
    }
}

/// Whether the JSON in `raw` lost anything to redaction in `redacted` (its parsed fields).
fn quotes_a_key(raw: &[u8], redacted: &serde_json::Map<String, serde_json::Value>) -> bool {
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(raw).map_or(true, |fields| &fields != redacted)
}

/// Blanks keys out of the upstream's headers, as out of its body: an upstream that echoes the
/// request (a debugging gateway, a `WWW-Authenticate` quoting the credential) must not make the
/// proxy hand its key to the app.
fn redact_headers(headers: &mut http::HeaderMap, sent: &[u8]) {
    for value in headers.values_mut() {
        let Ok(text) = value.to_str() else {
            // Not text: only the exact key can be found in it, and the whole value goes.
            if !sent.is_empty() && value.as_bytes().windows(sent.len()).any(|window| window == sent) {
                *value = http::HeaderValue::from_static(REDACTED_HEADER);
            }
            continue;
        };
        let redacted = redact_sent_key(text, sent);
        if redacted != text {
            *value = http::HeaderValue::from_str(&redacted).unwrap_or(http::HeaderValue::from_static(REDACTED_HEADER));
        }
    }
}

const REDACTED_HEADER: &str = "[key redacted]";

/// An error body over [`MAX_ERROR_BODY`]: what was read, and the whole body to pass on.
struct Oversized {
    head: Bytes,
    body: ProxyBody,
}

/// Reads up to [`MAX_ERROR_BODY`] within `wait`. A longer body is handed back intact (what was
/// read, then the rest) for passing through; a body still arriving after `wait` is cut there.
async fn read_bounded(mut body: ProxyBody, wait: Duration) -> Result<Bytes, Oversized> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut buffer = BytesMut::new();
    while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, body.frame()).await {
        let Ok(frame) = frame else {
            // The upstream broke off mid-body: explain what arrived.
            break;
        };
        if let Ok(data) = frame.into_data() {
            buffer.extend_from_slice(&data);
        }
        if buffer.len() > MAX_ERROR_BODY {
            let head = buffer.freeze();
            let read = head.clone();
            let read = futures_util::stream::once(async move { Ok(http_body::Frame::data(read)) });
            let rest = BodyStream::new(body);
            let body = StreamBody::new(futures_util::StreamExt::chain(read, rest)).boxed();
            return Err(Oversized { head, body });
        }
    }
    Ok(buffer.freeze())
}
