//! Applies the client-credential policy, injects the proxy's key and the workspace id.

use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, Request};

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
        let sent = SentCredentials::of(headers);
        let keep_client = match (self.shared.client_credentials, sent.real) {
            (ClientCredentials::Reject, Some(header)) => {
                return Err(ProxyError::ClientCredentialsNotAllowed { header: header.name() });
            }
            (ClientCredentials::KeepIfPresent, Some(_)) => true,
            _ => false,
        };
        if let Some(workspace) = &self.shared.workspace_id {
            headers.insert(X_TENANT_ID, workspace.clone());
        }
        if keep_client {
            if sent.real != Some(CredentialHeader::ApiKey) && sent.present(CredentialHeader::ApiKey) {
                // Only placeholders can be in x-api-key then; they must not reach LangSmith.
                headers.remove(X_API_KEY);
            }
            return Ok(Credential::Client);
        }
        // x-api-key is replaced below; the others go, when there are any.
        for header in [CredentialHeader::Authorization, CredentialHeader::ServiceKey] {
            if sent.present(header) {
                headers.remove(header.header_name());
            }
        }
        self.shared.key_reloader.refresh_in_background_if_stale();
        let loaded = self.shared.keys.snapshot().ok_or(ProxyError::KeyMissing)?;
        if let Some(check) = &self.shared.key_check {
            check.refresh_in_background_if_stale();
        }
        headers.insert(X_API_KEY, loaded.key.header_value().clone());
        Ok(Credential::Proxy(loaded))
    }
}

/// The headers a client may carry its own credential in, most telling first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum CredentialHeader {
    ApiKey,
    Authorization,
    ServiceKey,
}

impl CredentialHeader {
    fn of(name: &HeaderName) -> Option<Self> {
        if *name == X_API_KEY {
            Some(Self::ApiKey)
        } else if *name == AUTHORIZATION {
            Some(Self::Authorization)
        } else if *name == X_SERVICE_KEY {
            Some(Self::ServiceKey)
        } else {
            None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::ApiKey => "x-api-key",
            Self::Authorization => "authorization",
            Self::ServiceKey => "x-service-key",
        }
    }

    fn header_name(self) -> HeaderName {
        match self {
            Self::ApiKey => X_API_KEY,
            Self::Authorization => AUTHORIZATION,
            Self::ServiceKey => X_SERVICE_KEY,
        }
    }
}

/// The credential headers of a request, found in one pass over its few headers (cheaper than a
/// look-up per name).
#[derive(Default)]
struct SentCredentials {
    /// Which of them are there at all, blank or placeholder included.
    present: [bool; 3],
    /// The most telling one holding a credential of the client's own: not empty (an SDK whose
    /// key variable is set but blank), and not the documented placeholder.
    real: Option<CredentialHeader>,
}

impl SentCredentials {
    fn of(headers: &HeaderMap) -> Self {
        let mut sent = Self::default();
        for (name, value) in headers {
            let Some(header) = CredentialHeader::of(name) else {
                continue;
            };
            sent.present[header as usize] = true;
            let value = value.as_bytes().trim_ascii();
            let real = !value.is_empty() && value != PLACEHOLDER_KEY.as_bytes();
            if real && sent.real.is_none_or(|found| header < found) {
                sent.real = Some(header);
            }
        }
        sent
    }

    fn present(&self, header: CredentialHeader) -> bool {
        self.present[header as usize]
    }
}
