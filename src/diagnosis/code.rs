//! The stable diagnosis codes (DESIGN.md §4). Never rename one: users grep logs and alert on them.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    KeyMissing,
    ClientCredentialsNotAllowed,
    UpstreamUnreachable,
    UpstreamTimeout,
    UpstreamTlsError,
    HostNotAllowed,
    OriginNotAllowed,
    ClientTokenRequired,
    NotAReverseProxyRequest,
    ProxyLoop,
    TooManyConnections,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeyMissing => "key_missing",
            Self::ClientCredentialsNotAllowed => "client_credentials_not_allowed",
            Self::UpstreamUnreachable => "upstream_unreachable",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::UpstreamTlsError => "upstream_tls_error",
            Self::HostNotAllowed => "host_not_allowed",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::ClientTokenRequired => "client_token_required",
            Self::NotAReverseProxyRequest => "not_a_reverse_proxy_request",
            Self::ProxyLoop => "proxy_loop",
            Self::TooManyConnections => "too_many_connections",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
