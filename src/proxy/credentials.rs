//! Applies the client-credential policy, injects the proxy's key and the workspace id.

use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{HeaderMap, Request};

use super::gate::{Check, GateLayer};
use super::{hop_by_hop, Credential, ProxyError, Shared, X_API_KEY, X_SERVICE_KEY, X_TENANT_ID};
use crate::config::ClientCredentials;
use crate::secret::PLACEHOLDER_KEY;

/// The credentials step of the request path.
pub type CredentialsLayer = GateLayer<Credentials>;

#[derive(Clone)]
pub struct Credentials {
    shared: Arc<Shared>,
}

impl From<Arc<Shared>> for Credentials {
    fn from(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl Check for Credentials {
    fn check<B>(&self, request: &mut Request<B>) -> Result<(), ProxyError> {
        let credential = self.apply(request.headers_mut())?;
        request.extensions_mut().insert(credential);
        Ok(())
    }
}

impl Credentials {
    fn apply(&self, headers: &mut HeaderMap) -> Result<Credential, ProxyError> {
        // The client's hop-by-hop headers end here, before the proxy adds any: a `Connection`
        // naming x-api-key or x-tenant-id must not remove what is injected below.
        hop_by_hop::strip(headers);
        let client_header = client_credential(headers);
        let keep_client = match (self.shared.client_credentials, client_header) {
            (ClientCredentials::Reject, Some(header)) => {
                return Err(ProxyError::ClientCredentialsNotAllowed { header });
            }
            (ClientCredentials::KeepIfPresent, Some(_)) => true,
            _ => false,
        };
        if let Some(workspace) = &self.shared.workspace_id {
            headers.insert(X_TENANT_ID, workspace.clone());
        }
        if keep_client {
            if client_header != Some("x-api-key") {
                // Only placeholders can be in x-api-key then; they must not reach LangSmith.
                headers.remove(X_API_KEY);
            }
            return Ok(Credential::Client);
        }
        headers.remove(X_API_KEY);
        headers.remove(AUTHORIZATION);
        headers.remove(X_SERVICE_KEY);
        self.shared.key_reloader.refresh_in_background_if_stale();
        let loaded = self.shared.keys.snapshot().ok_or(ProxyError::KeyMissing)?;
        if let Some(check) = &self.shared.key_check {
            check.refresh_in_background_if_stale();
        }
        headers.insert(X_API_KEY, loaded.key.header_value().clone());
        Ok(Credential::Proxy(loaded))
    }
}

/// The credential header the client sent itself; the documented placeholder does not count,
/// and neither does an empty value (an SDK whose key variable is set but blank).
fn client_credential(headers: &HeaderMap) -> Option<&'static str> {
    let sent = |name| {
        headers.get_all(name).iter().any(|value| {
            let value = value.as_bytes().trim_ascii();
            !value.is_empty() && value != PLACEHOLDER_KEY.as_bytes()
        })
    };
    if sent(X_API_KEY) {
        Some("x-api-key")
    } else if sent(AUTHORIZATION) {
        Some("authorization")
    } else if sent(X_SERVICE_KEY) {
        Some("x-service-key")
    } else {
        None
    }
}
