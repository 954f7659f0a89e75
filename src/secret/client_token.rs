//! The optional token clients must present before the proxy lends them the key.

use std::fmt;

use http::header::{AUTHORIZATION, PROXY_AUTHORIZATION};
use http::{HeaderMap, HeaderName};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::source::{KeySource, SourceReadError};
use crate::env::Env;

/// Short tokens can be guessed; this many characters of `openssl rand -hex 32` cannot.
const MIN_LEN: usize = 16;

/// Why the configured token could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ClientTokenError {
    #[error("cannot load the client token (client_token.source = {from}): {}; fix the source or remove client_token.source", super::redact_keys(&error.to_string()))]
    Unreadable { from: String, error: Box<SourceReadError> },
    #[error("the client token from {from} is unusable: {problem}")]
    Unusable { from: String, problem: &'static str },
}

/// Why a request's token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Missing,
    Wrong,
}

/// The token and the header it travels in. Debug shows neither the token nor its length.
#[derive(Clone)]
pub struct ClientToken {
    /// SHA-256 of the token: comparing digests of equal length takes the same time whatever
    /// the presented token's length, which a plain comparison would give away.
    digest: [u8; 32],
    header: HeaderName,
    /// `Authorization`-style headers carry `Bearer TOKEN`; any other header the bare token.
    bearer: bool,
}

impl ClientToken {
    pub fn load(source: &KeySource, header: HeaderName, env: &Env) -> Result<Self, ClientTokenError> {
        let text = source.read_text(env).map_err(|error| ClientTokenError::Unreadable {
            from: super::redact_keys(&source.to_string()),
            error: Box::new(error),
        })?;
        let token = text.trim();
        let unusable = |problem| ClientTokenError::Unusable {
            from: super::redact_keys(&source.to_string()),
            problem,
        };
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(unusable(
                "it contains spaces or characters that cannot travel in a header",
            ));
        }
        if token.len() < MIN_LEN {
            return Err(unusable(
                "it is shorter than 16 characters; make one with `openssl rand -hex 32`",
            ));
        }
        Ok(Self {
            digest: Sha256::digest(token.as_bytes()).into(),
            bearer: header == PROXY_AUTHORIZATION || header == AUTHORIZATION,
            header,
        })
    }

    pub fn header(&self) -> &HeaderName {
        &self.header
    }

    /// What a client must send, for error messages: never the token itself.
    pub fn expected_form(&self) -> String {
        if self.bearer {
            format!("{}: Bearer <token>", self.header)
        } else {
            format!("{}: <token>", self.header)
        }
    }

    /// Checks the request's token in constant time and removes the header either way, so it
    /// never reaches the upstream.
    pub fn verify_and_strip(&self, headers: &mut HeaderMap) -> Result<(), TokenProblem> {
        let verdict = match headers.get(&self.header).map(|value| self.presented(value.as_bytes())) {
            None | Some(None) => Err(TokenProblem::Missing),
            Some(Some(presented)) if bool::from(Sha256::digest(presented).ct_eq(&self.digest)) => Ok(()),
            Some(Some(_)) => Err(TokenProblem::Wrong),
        };
        headers.remove(&self.header);
        verdict
    }

    fn presented<'a>(&self, value: &'a [u8]) -> Option<&'a [u8]> {
        if !self.bearer {
            return Some(value.trim_ascii());
        }
        let (scheme, rest) = value.split_at_checked(7)?;
        scheme.eq_ignore_ascii_case(b"bearer ").then(|| rest.trim_ascii())
    }
}

impl fmt::Debug for ClientToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientToken")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn token(header: HeaderName) -> ClientToken {
        let env = Env::from_pairs([("T", format!("{TOKEN}\n"))]);
        ClientToken::load(&KeySource::Env("T".into()), header, &env).expect("token")
    }

    #[test]
    fn bearer_and_bare_forms() {
        let bearer = token(PROXY_AUTHORIZATION);
        let mut headers = HeaderMap::new();
        headers.insert(PROXY_AUTHORIZATION, format!("bearer {TOKEN}").parse().expect("value"));
        assert_eq!(bearer.verify_and_strip(&mut headers), Ok(()));
        assert!(headers.is_empty());
        headers.insert(PROXY_AUTHORIZATION, TOKEN.parse().expect("value"));
        assert_eq!(bearer.verify_and_strip(&mut headers), Err(TokenProblem::Missing));
        assert_eq!(bearer.verify_and_strip(&mut headers), Err(TokenProblem::Missing));

        let bare = token(HeaderName::from_static("x-proxy-token"));
        headers.insert(
            "x-proxy-token",
            "0123456789abcdef0123456789abcdeX".parse().expect("value"),
        );
        assert_eq!(bare.verify_and_strip(&mut headers), Err(TokenProblem::Wrong));
        assert!(headers.is_empty());
        assert!(!format!("{bare:?}").contains("0123"));
    }

    #[test]
    fn refuses_weak_or_missing_tokens() {
        let env = Env::from_pairs([("SHORT", "secret"), ("SPACE", "0123456789 abcdef0123")]);
        for var in ["SHORT", "SPACE", "UNSET"] {
            let error = ClientToken::load(&KeySource::Env(var.into()), PROXY_AUTHORIZATION, &env).expect_err(var);
            assert!(error.to_string().contains(&format!("env:{var}")), "{error}");
            assert!(!error.to_string().contains("secret"), "{error}");
        }
    }
}
