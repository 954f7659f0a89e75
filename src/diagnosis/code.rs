//! The stable diagnosis codes (DESIGN.md §4). Never rename one: users grep logs and alert on them.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    KeyMissing,
    KeyMalformed,
    KeyLegacy,
    KeyRejected,
    KeyRevoked,
    KeyWrongRegion,
    WorkspaceRequired,
    WorkspaceDenied,
    PermissionDenied,
    ClientKeyRejected,
    UpstreamIsWebUi,
    RateLimited,
    ForbiddenUnexplained,
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
    ClientBodyIncomplete,
    HeaderTooLarge,
}

impl Code {
    /// Every code, so that a metric can start each at 0 (an alert on `increase()` then sees
    /// the first one).
    pub const ALL: [Code; 25] = [
        Self::KeyMissing,
        Self::KeyMalformed,
        Self::KeyLegacy,
        Self::KeyRejected,
        Self::KeyRevoked,
        Self::KeyWrongRegion,
        Self::WorkspaceRequired,
        Self::WorkspaceDenied,
        Self::PermissionDenied,
        Self::ClientKeyRejected,
        Self::UpstreamIsWebUi,
        Self::RateLimited,
        Self::ForbiddenUnexplained,
        Self::ClientCredentialsNotAllowed,
        Self::UpstreamUnreachable,
        Self::UpstreamTimeout,
        Self::UpstreamTlsError,
        Self::HostNotAllowed,
        Self::OriginNotAllowed,
        Self::ClientTokenRequired,
        Self::NotAReverseProxyRequest,
        Self::ProxyLoop,
        Self::TooManyConnections,
        Self::ClientBodyIncomplete,
        Self::HeaderTooLarge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeyMissing => "key_missing",
            Self::KeyMalformed => "key_malformed",
            Self::KeyLegacy => "key_legacy",
            Self::KeyRejected => "key_rejected",
            Self::KeyRevoked => "key_revoked",
            Self::KeyWrongRegion => "key_wrong_region",
            Self::WorkspaceRequired => "workspace_required",
            Self::WorkspaceDenied => "workspace_denied",
            Self::PermissionDenied => "permission_denied",
            Self::ClientKeyRejected => "client_key_rejected",
            Self::UpstreamIsWebUi => "upstream_is_web_ui",
            Self::RateLimited => "rate_limited",
            Self::ForbiddenUnexplained => "forbidden_unexplained",
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
            Self::ClientBodyIncomplete => "client_body_incomplete",
            Self::HeaderTooLarge => "header_too_large",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
