//! Applies the client-credential policy, injects the proxy's key and the workspace id.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{Either, Ready};
use http::header::AUTHORIZATION;
use http::{HeaderMap, Request, Response};
use tower::{Layer, Service};

use super::{Credential, ProxyBody, ProxyError, RequestFacts, Shared, X_API_KEY, X_TENANT_ID};
use crate::config::ClientCredentials;
use crate::secret::PLACEHOLDER_KEY;

#[derive(Clone)]
pub struct CredentialsLayer {
    shared: Arc<Shared>,
}

impl CredentialsLayer {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl<S> Layer<S> for CredentialsLayer {
    type Service = Credentials<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Credentials {
            inner,
            shared: self.shared.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Credentials<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, B> Service<Request<B>> for Credentials<S>
where
    S: Service<Request<B>, Response = Response<ProxyBody>, Error = Infallible>,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response<ProxyBody>, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        match self.apply(request.headers_mut()) {
            Ok(credential) => {
                request.extensions_mut().insert(credential);
                Either::Right(self.inner.call(request))
            }
            Err(error) => {
                let facts = RequestFacts::of(&request);
                Either::Left(futures_util::future::ready(Ok(
                    error.into_response(&facts, &self.shared)
                )))
            }
        }
    }
}

impl<S> Credentials<S> {
    fn apply(&self, headers: &mut HeaderMap) -> Result<Credential, ProxyError> {
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
            if client_header == Some("authorization") {
                // Only placeholders can be in x-api-key then; they must not reach LangSmith.
                headers.remove(X_API_KEY);
            }
            return Ok(Credential::Client);
        }
        headers.remove(X_API_KEY);
        headers.remove(AUTHORIZATION);
        self.shared.key_reloader.refresh_in_background_if_stale();
        let loaded = self.shared.keys.snapshot().ok_or(ProxyError::KeyMissing)?;
        if let Some(check) = &self.shared.key_check {
            check.refresh_in_background_if_stale();
        }
        headers.insert(X_API_KEY, loaded.key.header_value().clone());
        Ok(Credential::Proxy(loaded))
    }
}

/// The credential header the client sent itself; the documented placeholder does not count.
fn client_credential(headers: &HeaderMap) -> Option<&'static str> {
    let real_key = headers
        .get_all(X_API_KEY)
        .iter()
        .any(|value| value.as_bytes().trim_ascii() != PLACEHOLDER_KEY.as_bytes());
    if real_key {
        Some("x-api-key")
    } else if headers.contains_key(AUTHORIZATION) {
        Some("authorization")
    } else {
        None
    }
}
