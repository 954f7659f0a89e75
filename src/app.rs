//! Builds everything the proxy needs from a validated configuration.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::SystemTime;

use crate::client::{self, ClientBuildError, OutboundProxy, UpstreamClient};
use crate::config::{ClientCredentials, Config, Limits};
use crate::diagnosis::Journal;
use crate::env::Env;
use crate::key_check::{KeyCheck, KeyCheckSettings};
use crate::limit_counters::LimitCounters;
use crate::metrics::Metrics;
use crate::proxy::allowlist::{HostAllowlist, OriginAllowlist};
use crate::proxy::{GuardPolicy, ProxyVia, Shared};
use crate::secret::{ClientToken, ClientTokenError, FileWatch, KeyLoadError, KeyReloader, KeyStore, ReloadCounters};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Key(#[from] KeyLoadError),
    #[error("{0}")]
    Client(#[from] ClientBuildError),
    #[error("{0}")]
    ClientToken(#[from] ClientTokenError),
}

/// A ready-to-serve proxy: key store, upstream client and settings.
#[derive(Clone)]
pub struct App {
    shared: Arc<Shared>,
    client: UpstreamClient,
    outbound_proxy: Option<OutboundProxy>,
    limits: Limits,
    limit_counters: Arc<LimitCounters>,
}

impl App {
    /// Loads the key and builds the upstream client. A missing key is fatal unless clients may
    /// bring their own (`client_credentials = keep-if-present`); a malformed key always is.
    pub fn from_config(config: &Config, env: &Env) -> Result<Self, StartError> {
        let key = match config.key_source.read(env) {
            Ok(key) => Some(key),
            // Apps may bring their own key under keep-if-present: an absent key is a warning.
            Err(error @ (KeyLoadError::EnvNotSet { .. } | KeyLoadError::FileUnreadable { .. }))
                if config.client_credentials == ClientCredentials::KeepIfPresent =>
            {
                tracing::warn!("no key loaded; only requests that bring their own key will work: {error}");
                None
            }
            Err(error) => return Err(error.into()),
        };
        let keys = Arc::new(KeyStore::new(config.key_source.clone(), key));
        let key_reloads = Arc::new(ReloadCounters::default());
        let key_reloader = Arc::new(KeyReloader::new(
            keys.clone(),
            env.clone(),
            config.key_refresh,
            key_reloads.clone(),
        ));
        let outbound_proxy = OutboundProxy::from_env(env, &config.upstream)?;
        let client = client::build(
            config.upstream_ca_file.as_deref(),
            outbound_proxy.as_ref(),
            &config.timeouts,
        )?;
        let key_check = config.key_check.then(|| {
            Arc::new(KeyCheck::new(
                keys.clone(),
                client.clone(),
                KeyCheckSettings {
                    upstream: config.upstream.clone(),
                    other_regions: config
                        .regions
                        .iter()
                        .filter(|(name, _)| Some(name.as_str()) != config.upstream.region())
                        .cloned()
                        .collect(),
                    workspace_id: config.workspace_id.clone(),
                    timeouts: config.timeouts,
                    ttl: config.key_refresh,
                },
            ))
        });
        let security = &config.security;
        let token = security
            .client_token
            .as_ref()
            .map(|token| ClientToken::load(&token.source, token.header.clone(), env))
            .transpose()?;
        let guard = GuardPolicy {
            hosts: HostAllowlist::new(&config.listen, &security.allowed_hosts),
            origins: OriginAllowlist::new(&security.allowed_origins),
            token,
        };
        let shared = Arc::new(Shared {
            keys,
            upstream: config.upstream.clone(),
            workspace_id: config.workspace_id.clone(),
            client_credentials: config.client_credentials,
            timeouts: config.timeouts,
            key_check,
            journal: Journal::new(config.alert_auth_failures, config.alert_window),
            metrics: Metrics::default(),
            draining: AtomicBool::new(false),
            started_at: SystemTime::now(),
            ready_requires_valid_key: config.ready_requires_valid_key,
            guard,
            via: ProxyVia::random(),
            key_reloader,
            key_reloads,
        });
        Ok(Self {
            shared,
            client,
            outbound_proxy,
            limits: config.limits,
            limit_counters: Arc::default(),
        })
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn keys(&self) -> &Arc<KeyStore> {
        &self.shared.keys
    }

    /// Starts following the key file through rotation (`file:` sources); watching stops when
    /// the returned guard is dropped. Call inside a tokio runtime.
    pub fn watch_key_file(&self) -> Option<FileWatch> {
        FileWatch::start(&self.shared.key_reloader)
    }

    pub fn key_check(&self) -> Option<&Arc<KeyCheck>> {
        self.shared.key_check.as_ref()
    }

    pub fn outbound_proxy(&self) -> Option<&OutboundProxy> {
        self.outbound_proxy.as_ref()
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How often each connection limit was hit.
    pub fn limit_counters(&self) -> &Arc<LimitCounters> {
        &self.limit_counters
    }

    pub(crate) fn client(&self) -> &UpstreamClient {
        &self.client
    }
}
