//! The checks: pure functions from the gathered facts to findings. Each file covers one
//! area; a new check is one more entry in `CHECKS`.

mod endpoint;
mod key;
mod names;
mod network;
mod profile;
mod tracing;

use super::effective::Effective;
use super::endpoint::EndpointKind;
use super::finding::Finding;
use super::profile::ProfileState;
use crate::config::ClientCredentials;
use crate::env::Env;

/// Everything a check may look at. Gathering them (file, network) happens before, in
/// `doctor::examine`, so the checks themselves are deterministic.
pub struct Facts<'a> {
    pub env: &'a Env,
    pub profile: &'a ProfileState,
    pub effective: &'a Effective,
    pub endpoint: &'a EndpointKind,
    /// The URL apps should use for this proxy (from its `listen` setting), for fixes.
    pub proxy_endpoint: &'a str,
    /// What this proxy does with a key the app sends itself.
    pub client_credentials: ClientCredentials,
    /// The regions that accept the app's key, when the endpoint is a region and LangSmith said.
    pub key_regions: Option<&'a [String]>,
}

impl Facts<'_> {
    /// The fix that points an app at this proxy.
    fn use_proxy_fix(&self) -> String {
        format!(
            "point the app at langsmith-proxy: eval \"$(langsmith-proxy env)\" (sets LANGSMITH_ENDPOINT={} and the placeholder key)",
            self.proxy_endpoint
        )
    }
}

type Check = fn(&Facts<'_>) -> Vec<Finding>;

const CHECKS: &[Check] = &[
    key::check,
    key::workspace,
    endpoint::check,
    endpoint::replicas,
    network::check,
    names::near_misses,
    names::shadowed,
    names::blanks,
    profile::check,
    tracing::check,
    tracing::shadowed,
];

pub fn run(facts: &Facts<'_>) -> Vec<Finding> {
    CHECKS.iter().flat_map(|check| check(facts)).collect()
}
