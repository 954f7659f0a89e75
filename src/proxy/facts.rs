//! What the proxy remembers about a request while it is in flight, for logs and diagnoses.

use std::sync::Arc;

use http::{HeaderValue, Method, Request, StatusCode, Uri};

use super::Shared;
use crate::diagnosis::DiagnosisContext;
use crate::key_check::CheckRecord;
use crate::secret::LoadedKey;

/// Which credential went upstream with the request.
#[derive(Debug, Clone, Default)]
pub enum Credential {
    /// The proxy's key, as it was when the request started.
    Proxy(Arc<LoadedKey>),
    /// The client's own key, kept under `client_credentials = keep-if-present`.
    Client,
    #[default]
    None,
}

#[derive(Debug, Clone)]
pub struct RequestFacts {
    pub id: Option<HeaderValue>,
    pub method: Method,
    pub uri: Uri,
    pub credential: Credential,
    /// The X-Tenant-Id sent upstream (the proxy's or the client's).
    pub workspace_sent: Option<HeaderValue>,
}

impl RequestFacts {
    pub fn of<B>(request: &Request<B>) -> Self {
        Self {
            id: request.headers().get("x-request-id").cloned(),
            method: request.method().clone(),
            uri: request.uri().clone(),
            credential: request.extensions().get::<Credential>().cloned().unwrap_or_default(),
            workspace_sent: request.headers().get(super::X_TENANT_ID).cloned(),
        }
    }

    /// The key check's record for the key this request used, if it used the proxy's.
    pub fn check_record(&self, shared: &Shared) -> Option<Arc<CheckRecord>> {
        match (&self.credential, &shared.key_check) {
            (Credential::Proxy(loaded), Some(check)) => Some(check.record_for(loaded)),
            _ => None,
        }
    }

    pub fn diagnosis_context<'a>(
        &'a self,
        shared: &'a Shared,
        upstream_status: Option<StatusCode>,
    ) -> DiagnosisContext<'a> {
        let (key_source, key) = match &self.credential {
            Credential::Client => (crate::diagnosis::CLIENT_KEY_SOURCE.to_owned(), None),
            Credential::Proxy(loaded) => (loaded.source.to_string(), Some(loaded.clone())),
            // Answered before a key was attached: report the loaded key, if any.
            Credential::None => (shared.keys.source().to_string(), shared.keys.snapshot()),
        };
        // For whichever key is reported: the loaded one for an answer made before a key was
        // attached (a refused client credential, say).
        let last_valid_at = match (&key, &shared.key_check) {
            (Some(loaded), Some(check)) => check.record_for(loaded).last_valid_at,
            _ => None,
        };
        DiagnosisContext {
            request_id: self.id.as_ref(),
            method: &self.method,
            path: self.uri.path(),
            key_source,
            key,
            last_valid_at,
            workspace_id: self.workspace_sent.as_ref(),
            upstream_url: shared.upstream.url(),
            upstream_status,
        }
    }
}
