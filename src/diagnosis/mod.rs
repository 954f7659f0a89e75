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
    annotate_upstream, proxy_made_response, Diagnosis, DiagnosisContext, DIAGNOSIS_HEADER, ERROR_HEADER, KEY_HEADER,
};

use http::{HeaderMap, StatusCode};

/// Whether an upstream response is one the Diagnose layer explains.
pub fn wants(status: StatusCode, headers: &HeaderMap) -> bool {
    matches!(status.as_u16(), 401 | 403 | 405 | 429)
        || (status.is_client_error() || status.is_server_error())
            && headers
                .get(http::header::CONTENT_TYPE)
                .is_some_and(|ct| ct.as_bytes().starts_with(b"text/html"))
}
