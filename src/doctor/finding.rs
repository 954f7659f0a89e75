//! The catalogue of what `doctor` can find. Codes are stable (scripts read `--json`); never
//! rename one.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Requests will fail or traces will be dropped.
    Error,
    /// Likely wrong, or right only for some SDKs or versions.
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// No key in the environment or the profile.
    KeyUnset,
    /// The key cannot be sent as is (quotes, whitespace, odd bytes).
    KeyMalformed,
    /// An `ls__` key: dead since 2024-10-22.
    KeyLegacy,
    /// A set variable no SDK reads whose name nearly matches one they do.
    VariableNearMiss,
    /// `LANGSMITH_X` and `LANGCHAIN_X` both set and different: `LANGSMITH_X` wins.
    PrefixShadowed,
    /// An SDK variable set to an empty or blank value.
    VariableBlank,
    /// The endpoint is not an http(s) URL.
    EndpointInvalid,
    /// The endpoint is the web app (`smith.langchain.com`), not the API.
    EndpointIsWebUi,
    /// The endpoint is a LangSmith region's API host: the app bypasses the proxy.
    EndpointIsRegionHost,
    /// The endpoint is a region's API host, and the key works only elsewhere (or nowhere).
    KeyRegionMismatch,
    /// The endpoint is a loopback address where nothing listens.
    ProxyNotListening,
    /// The endpoint is `https://` at the proxy's own address, which speaks plain HTTP.
    EndpointHttpsToProxy,
    /// Something other than langsmith-proxy answers at the loopback endpoint.
    EndpointNotTheProxy,
    /// `LANGSMITH_RUNS_ENDPOINTS` beside an endpoint: the SDKs refuse the pair.
    RunsEndpointsConflict,
    /// HTTP(S)_PROXY would send requests for the loopback endpoint to another proxy.
    NoProxyMissingLoopback,
    /// The SDK profile file supplies a setting because the environment does not.
    ProfileOverrides,
    /// The profile file exists but the SDKs cannot use it, or the named file is missing.
    ProfileUnreadable,
    /// `LANGSMITH_PROFILE` (or `current_profile`) names a profile the file lacks.
    ProfileNotFound,
    /// A tracing variable set to something other than exactly `true` (or `false`).
    TracingValueNotTrue,
    /// Tracing is on with the placeholder key, but no proxy will replace it.
    TracingPlaceholderWithoutProxy,
    /// A service key (possibly org-scoped) with no workspace id.
    WorkspaceMissing,
    /// The workspace id is not a UUID.
    WorkspaceNotUuid,
    /// The app sends a key of its own to a proxy that refuses app keys.
    ClientKeyRefused,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeyUnset => "key_unset",
            Self::KeyMalformed => "key_malformed",
            Self::KeyLegacy => "key_legacy",
            Self::VariableNearMiss => "variable_near_miss",
            Self::PrefixShadowed => "prefix_shadowed",
            Self::VariableBlank => "variable_blank",
            Self::EndpointInvalid => "endpoint_invalid",
            Self::EndpointIsWebUi => "endpoint_is_web_ui",
            Self::EndpointIsRegionHost => "endpoint_is_region_host",
            Self::ProxyNotListening => "proxy_not_listening",
            Self::EndpointHttpsToProxy => "endpoint_https_to_proxy",
            Self::EndpointNotTheProxy => "endpoint_not_the_proxy",
            Self::RunsEndpointsConflict => "runs_endpoints_conflict",
            Self::NoProxyMissingLoopback => "no_proxy_missing_loopback",
            Self::ProfileOverrides => "profile_overrides",
            Self::ProfileUnreadable => "profile_unreadable",
            Self::ProfileNotFound => "profile_not_found",
            Self::TracingValueNotTrue => "tracing_value_not_true",
            Self::TracingPlaceholderWithoutProxy => "tracing_placeholder_without_proxy",
            Self::WorkspaceMissing => "workspace_missing",
            Self::WorkspaceNotUuid => "workspace_not_uuid",
            Self::ClientKeyRefused => "client_key_refused",
            Self::KeyRegionMismatch => "key_region_mismatch",
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            Self::KeyUnset
            | Self::KeyMalformed
            | Self::KeyLegacy
            | Self::EndpointInvalid
            | Self::EndpointIsWebUi
            | Self::ProxyNotListening
            | Self::EndpointHttpsToProxy
            | Self::RunsEndpointsConflict
            | Self::NoProxyMissingLoopback
            | Self::KeyRegionMismatch
            | Self::ClientKeyRefused
            | Self::TracingPlaceholderWithoutProxy => Severity::Error,
            Self::VariableNearMiss
            | Self::PrefixShadowed
            | Self::VariableBlank
            | Self::EndpointIsRegionHost
            | Self::EndpointNotTheProxy
            | Self::ProfileOverrides
            | Self::ProfileUnreadable
            | Self::ProfileNotFound
            | Self::TracingValueNotTrue
            | Self::WorkspaceNotUuid
            | Self::WorkspaceMissing => Severity::Warning,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem: what is wrong, in a sentence, and the steps that fix it. Texts name variables
/// and show key hints only, never a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub code: Code,
    pub summary: String,
    pub fix: Vec<String>,
}

impl Finding {
    pub fn new(code: Code, summary: impl Into<String>, fix: impl IntoIterator<Item = String>) -> Self {
        Self {
            code,
            summary: summary.into(),
            fix: fix.into_iter().collect(),
        }
    }

    pub fn severity(&self) -> Severity {
        self.code.severity()
    }
}
