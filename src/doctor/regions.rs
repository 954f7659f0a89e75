//! Where the app's key works: asked of LangSmith itself when the endpoint is a region's API
//! host, so `doctor` can say "this key belongs to eu". A trait, so tests stay off the network.

use crate::client::{self, OutboundProxy};
use crate::config::Timeouts;
use crate::env::Env;
use crate::key_check::regions_accepting;
use crate::secret::ApiKey;
use crate::upstream::{Upstream, REGIONS};

pub trait RegionCheck {
    /// The regions that accept `key`; `None` when that could not be found out.
    fn accepting(&self, key: &ApiKey) -> Option<Vec<String>>;
}

/// Asks nobody: for runs that must not touch the network.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRegionCheck;

impl RegionCheck for NoRegionCheck {
    fn accepting(&self, _key: &ApiKey) -> Option<Vec<String>> {
        None
    }
}

/// Checks the key against every configured region (`regions.<name>`), concurrently.
pub struct LangSmithRegionCheck {
    pub regions: Vec<(String, Upstream)>,
    pub timeouts: Timeouts,
    /// The corporate proxy the app's environment names (`HTTPS_PROXY`): where the app's calls
    /// go, LangSmith may be reachable only through it.
    pub outbound_proxy: Option<OutboundProxy>,
}

impl LangSmithRegionCheck {
    /// LangSmith's own regions, never `regions` overrides: `doctor` sends the app's key, and
    /// runs in the app's directory, whose config file nobody may have vetted. Through the
    /// outbound proxy `env` names, as `check` goes (one the proxy cannot use: none).
    pub fn builtin(timeouts: Timeouts, env: &Env) -> Self {
        let regions = Upstream::regions(REGIONS.iter().copied()).unwrap_or_default();
        let outbound_proxy = regions
            .first()
            .and_then(|(_, upstream)| OutboundProxy::from_env(env, upstream).ok().flatten());
        Self {
            regions,
            timeouts,
            outbound_proxy,
        }
    }
}

impl RegionCheck for LangSmithRegionCheck {
    fn accepting(&self, key: &ApiKey) -> Option<Vec<String>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        runtime.block_on(async {
            let client = client::build(None, self.outbound_proxy.as_ref(), &self.timeouts).ok()?;
            regions_accepting(&client, key.header_value(), &self.regions, &self.timeouts).await
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_builtin_check_asks_langsmith_hosts_only() {
        let second = Duration::from_secs(1);
        let timeouts = Timeouts {
            connect: second,
            response_header: second,
            pool_idle: second,
            shutdown_grace: second,
            shutdown_delay: second,
        };
        let check = LangSmithRegionCheck::builtin(timeouts, &Env::default());
        let asked: Vec<_> = check
            .regions
            .iter()
            .map(|(name, upstream)| (name.as_str(), upstream.url()))
            .collect();
        assert_eq!(asked, REGIONS.to_vec());
        assert!(asked.iter().all(|(_, url)| url.ends_with(".smith.langchain.com")));
    }
}
