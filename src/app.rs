//! Builds everything the proxy needs from a validated configuration.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::SystemTime;

use crate::background::Background;
use crate::client::{self, ClientBuildError, OutboundProxy, UpstreamClient, UpstreamConnect};
use crate::config::{ClientCredentials, Config, Limits, Origin};
use crate::diagnosis::Journal;
use crate::env::Env;
use crate::key_check::{KeyCheck, KeyCheckSettings};
use crate::limit_counters::LimitCounters;
use crate::metrics::Metrics;
use crate::proxy::allowlist::{HostAllowlist, OriginAllowlist};
use crate::proxy::{GuardPolicy, HeadLimits, ProxyVia, Shared};
use crate::secret::{
    ClientToken, ClientTokenError, FileWatch, KeyFormatError, KeyLoadError, KeyReloader, KeyStore, ReloadCounters,
};

/// What stops the proxy from starting once the configuration is valid. Errors about a source
/// or a file say which setting named it and where that setting came from.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{error} (setting `key.source`, from {origin})")]
    Key { error: KeyLoadError, origin: Origin },
    #[error("{error} (setting `upstream_ca_file`, from {origin})")]
    CaFile { error: ClientBuildError, origin: Origin },
    #[error("{0}")]
    Client(#[from] ClientBuildError),
    #[error("{error} (setting `client_token.source`, from {origin})")]
    ClientToken { error: ClientTokenError, origin: Origin },
}

/// A ready-to-serve proxy: key store, upstream client and settings.
#[derive(Clone)]
pub struct App {
    shared: Arc<Shared>,
    /// Worker 0's pool, also used by the key check.
    client: UpstreamClient,
    connector: UpstreamConnect,
    workers: usize,
    background: Arc<Background>,
    outbound_proxy: Option<OutboundProxy>,
    limits: Limits,
}

impl App {
    /// Loads the key and builds the upstream client. A missing key is fatal unless clients may
    /// bring their own (`client_credentials = keep-if-present`); a malformed key always is.
    pub fn from_config(config: &Config, env: &Env) -> Result<Self, StartError> {
        let key = match config.key_source.read(env) {
            Ok(key) => Some(key),
            // Apps may bring their own key under keep-if-present: an absent key is a warning.
            // The app's placeholder (a shell set up for an app) holds no key either.
            Err(
                error @ (KeyLoadError::EnvNotSet { .. }
                | KeyLoadError::FileUnreadable { .. }
                | KeyLoadError::Format {
                    problem: KeyFormatError::Placeholder,
                    ..
                }),
            ) if config.client_credentials == ClientCredentials::KeepIfPresent => {
                tracing::warn!("no key loaded; only requests that bring their own key will work: {error}");
                None
            }
            Err(error) => {
                return Err(StartError::Key {
                    error,
                    origin: config.origins.key_source.clone(),
                })
            }
        };
        let keys = Arc::new(KeyStore::new(config.key_source.clone(), key));
        let key_reloads = Arc::new(ReloadCounters::default());
        let background = Arc::new(Background::default());
        let key_reloader = Arc::new(KeyReloader::new(
            keys.clone(),
            env.clone(),
            config.key_refresh,
            config.key_read_timeout,
            key_reloads.clone(),
            background.clone(),
        ));
        let outbound_proxy = OutboundProxy::from_env(env, &config.upstream)?;
        let connector = client::connector(
            config.upstream_ca_file.as_deref(),
            outbound_proxy.as_ref(),
            &config.timeouts,
        )
        .map_err(|error| match error {
            ClientBuildError::CaFile { .. } | ClientBuildError::CaFileEmpty { .. } => StartError::CaFile {
                error,
                origin: config.origins.upstream_ca_file.clone(),
            },
            other => StartError::Client(other),
        })?;
        let client = client::pooled(connector.clone(), &config.timeouts);
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
                background.clone(),
            ))
        });
        let security = &config.security;
        let token = security
            .client_token
            .as_ref()
            .map(|token| ClientToken::load(&token.source, token.header.clone(), env))
            .transpose()
            .map_err(|error| StartError::ClientToken {
                error,
                origin: config.origins.client_token.clone(),
            })?;
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
            drain_expired: AtomicBool::new(false),
            started_at: SystemTime::now(),
            ready_requires_valid_key: config.ready_requires_valid_key,
            guard,
            via: ProxyVia::random(),
            key_reloader,
            key_reloads,
            head_limits: HeadLimits {
                max_bytes: config.limits.max_header_bytes,
                max_headers: config.limits.max_headers,
            },
            limit_counters: Arc::default(),
            outbound_proxy: outbound_proxy.as_ref().map(OutboundProxy::shown),
        });
        Ok(Self {
            shared,
            client,
            connector,
            workers: config.workers,
            background,
            outbound_proxy,
            limits: config.limits,
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
        &self.shared.limit_counters
    }

    pub(crate) fn client(&self) -> &UpstreamClient {
        &self.client
    }

    /// A client with a pool of its own, for a worker thread.
    pub(crate) fn new_pool(&self) -> UpstreamClient {
        client::pooled(self.connector.clone(), &self.shared.timeouts)
    }

    /// Where key checks and key re-reads run ([`Background`]).
    pub fn background(&self) -> &Background {
        &self.background
    }

    /// How many threads serve connections (setting `workers`).
    pub fn workers(&self) -> usize {
        self.workers
    }
}
