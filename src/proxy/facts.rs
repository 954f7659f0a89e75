//! What the proxy remembers about a request while it is in flight, for logs and diagnoses.

use std::sync::Arc;

use http::{HeaderValue, Method, Request, StatusCode, Uri};

use super::Shared;
use crate::diagnosis::DiagnosisContext;
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
}

impl RequestFacts {
    pub fn of<B>(request: &Request<B>) -> Self {
        Self {
            id: request.headers().get("x-request-id").cloned(),
            method: request.method().clone(),
            uri: request.uri().clone(),
            credential: request.extensions().get::<Credential>().cloned().unwrap_or_default(),
        }
    }

    pub fn diagnosis_context<'a>(
        &'a self,
        shared: &'a Shared,
        upstream_status: Option<StatusCode>,
    ) -> DiagnosisContext<'a> {
        let (key_source, key) = match &self.credential {
            Credential::Client => ("client".to_owned(), None),
            Credential::Proxy(loaded) => (loaded.source.to_string(), Some(loaded.as_ref())),
            Credential::None => (shared.keys.source().to_string(), None),
        };
        DiagnosisContext {
            request_id: self.id.as_ref(),
            method: &self.method,
            path: self.uri.path(),
            key_source,
            key,
            workspace_id: shared.workspace_id.as_ref(),
            upstream_url: shared.upstream.url(),
            upstream_status,
        }
    }
}
