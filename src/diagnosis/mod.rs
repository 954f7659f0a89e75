//! Diagnoses: stable codes, their explanations and fixes, and how they are rendered into a
//! response (headers, reason phrase, the `langsmith_proxy` JSON member).

mod code;
mod render;

pub use code::Code;
pub use render::{proxy_made_response, Diagnosis, DiagnosisContext, ERROR_HEADER};
