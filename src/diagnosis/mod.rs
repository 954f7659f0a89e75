//! Diagnoses: stable codes, the evidence, the pure `classify`, the catalogue of explanations and
//! fixes, and how a diagnosis is rendered into a response (headers, reason phrase, JSON member).

mod burst;
mod catalogue;
mod classify;
mod code;
mod evidence;
mod journal;
mod render;

pub use burst::BurstAlert;
pub use classify::{cause, classify, Cause};
pub use code::Code;
pub use evidence::{CredentialEvidence, Evidence, UpstreamBody};
pub use journal::{Journal, JournalEntry};
pub use render::{
    annotate_head, annotate_upstream, body_for, proxy_made_response, Diagnosis, DiagnosisContext, CLIENT_KEY_SOURCE,
    DIAGNOSIS_HEADER, ERROR_HEADER, KEY_HEADER, WITHHELD_KEY_SOURCE,
};

use http::{HeaderMap, StatusCode};

/// Whether an upstream response is one the Diagnose layer explains. An HTML 404 is the web
/// app answering an API path; other HTML errors (a gateway's 502 page, an HTML 413) pass
/// through untouched, so clients still retry what is worth retrying.
pub fn wants(status: StatusCode, headers: &HeaderMap) -> bool {
    match status.as_u16() {
        401 | 403 | 429 => true,
        // A JSON 405 is the API's own answer to a wrong method; the web app's is a page.
        405 => !headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|ct| ct.as_bytes().starts_with(b"application/json")),
        404 => headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|ct| ct.as_bytes().starts_with(b"text/html")),
        _ => false,
    }
}
