//! Every diagnosis — of an upstream answer or of the proxy's own error — is logged at WARN with
//! the request context and recorded in the journal (counts and recent list).

use std::time::SystemTime;

use http::StatusCode;

use super::{RequestFacts, Shared};
use crate::diagnosis::{Diagnosis, DiagnosisContext, JournalEntry};

pub fn report(
    shared: &Shared,
    facts: &RequestFacts,
    status: StatusCode,
    diagnosis: &Diagnosis,
    ctx: &DiagnosisContext<'_>,
) {
    let request_id = ctx.request_id.and_then(|v| v.to_str().ok()).unwrap_or("");
    tracing::warn!(
        code = diagnosis.code.as_str(),
        status = status.as_u16(),
        request_id,
        method = %facts.method,
        path = facts.uri.path(),
        key_source = %ctx.key_source,
        key_fingerprint = ctx.key.as_ref().map(|k| k.key.fingerprint()).unwrap_or(""),
        workspace_id = ctx.workspace_id.and_then(|v| v.to_str().ok()).unwrap_or(""),
        upstream = ctx.upstream_url,
        upstream_status = ctx.upstream_status.map(|s| s.as_u16()),
        fix = %diagnosis.fix.join(" | "),
        "{}",
        diagnosis.summary
    );
    shared.metrics.diagnosis(diagnosis.code.as_str());
    let burst = shared.journal.record(JournalEntry {
        at: SystemTime::now(),
        code: diagnosis.code.as_str(),
        status: status.as_u16(),
        request_id: request_id.to_owned(),
        method: facts.method.to_string(),
        path: facts.uri.path().to_owned(),
    });
    if let Some(alert) = burst {
        shared.metrics.auth_failure_burst();
        let breakdown: Vec<String> = alert.by_code.iter().map(|(code, n)| format!("{code}={n}")).collect();
        tracing::error!(
            failures = alert.failures,
            window_seconds = alert.window_seconds,
            by_code = %breakdown.join(","),
            "burst of auth failures: {} rejected requests within {} s ({}); check the key, its permissions and who is calling",
            alert.failures,
            alert.window_seconds,
            breakdown.join(", ")
        );
    }
}
