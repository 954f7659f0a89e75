//! `langsmith-proxy doctor`: run in an app's shell, it finds the causes of LangSmith 401/403
//! that live there, where the proxy cannot see them (reference/langsmith-api.md §2, §6): the key
//! variable unset or misspelled, the other prefix winning, the endpoint at the web app or past
//! the proxy, a profile file supplying settings, outbound proxies, tracing switches.
//!
//! `examine` gathers the facts (the injected `Env`, the profile file, one TCP probe of a
//! loopback endpoint), then runs pure checks over them.

mod checks;
mod effective;
mod endpoint;
mod finding;
mod probe;
mod profile;
mod regions;
mod render;
mod sdk_env;

use std::net::SocketAddr;

pub use effective::{Effective, KeyValue};
pub use endpoint::EndpointKind;
pub use finding::{Code, Finding, Severity};
pub use probe::{Answer, Probe, TcpProbe, PROBE_TARGET};
pub use profile::{Profile, ProfileState};
pub use regions::{LangSmithRegionCheck, NoRegionCheck, RegionCheck};
pub use render::{human, json};
pub use sdk_env::{Origin, Resolved};

use crate::config::ClientCredentials;
use crate::env::Env;
use crate::shell_env::proxy_endpoint;

/// What `doctor` looks at.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The app's environment.
    pub env: &'a Env,
    /// Where this proxy listens (its effective `listen` setting), named in fixes.
    pub proxy_listen: SocketAddr,
    /// What this proxy does with a key the app sends itself.
    pub client_credentials: ClientCredentials,
}

#[derive(Debug)]
pub struct Report {
    pub profile: ProfileState,
    pub effective: Effective,
    pub endpoint: EndpointKind,
    pub proxy_endpoint: String,
    /// Errors first, then warnings.
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.findings.is_empty()
    }

    pub fn codes(&self) -> Vec<Code> {
        self.findings.iter().map(|finding| finding.code).collect()
    }
}

/// Examines without asking LangSmith where the key works.
pub fn examine(inputs: &Inputs<'_>, probe: &dyn Probe) -> Report {
    examine_with(inputs, probe, &NoRegionCheck)
}

pub fn examine_with(inputs: &Inputs<'_>, probe: &dyn Probe, regions: &dyn RegionCheck) -> Report {
    let profile = profile::load(inputs.env);
    let effective = Effective::resolve(inputs.env, &profile);
    let endpoint = endpoint::classify(&effective.endpoint.value, probe);
    // Only a real key sent straight to a region can be in the wrong one.
    let key_regions = match (&endpoint, effective.key.as_ref().map(|k| &k.value)) {
        (EndpointKind::Region(_), Some(KeyValue::Key(key))) => regions.accepting(key),
        _ => None,
    };
    let proxy_endpoint = proxy_endpoint(inputs.proxy_listen);
    let mut findings = checks::run(&checks::Facts {
        env: inputs.env,
        profile: &profile,
        effective: &effective,
        endpoint: &endpoint,
        proxy_endpoint: &proxy_endpoint,
        client_credentials: inputs.client_credentials,
        key_regions: key_regions.as_deref(),
    });
    findings.sort_by_key(Finding::severity);
    Report {
        profile,
        effective,
        endpoint,
        proxy_endpoint,
        findings,
    }
}
