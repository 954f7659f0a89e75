//! Logging setup and the start banner.

use std::io::IsTerminal;

use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::access_json::{self, AccessJson};

use crate::config::{Config, LogFormat};
use crate::listener::ListenAddr;
use crate::log_sink;
use crate::secret::KeyStore;

/// Installs the global subscriber: pretty on a terminal, JSON otherwise, unless configured.
/// Lines go to stderr in batches ([`log_sink`]): run [`log_sink::wake`] when a tokio worker
/// parks, and [`log_sink::flush`] before the process exits.
pub fn init(config: &Config) {
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let format = config.log_format.unwrap_or(if std::io::stderr().is_terminal() {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    let registry = tracing_subscriber::registry().with(filter);
    let lines = tracing_subscriber::fmt::layer().with_writer(log_sink::BatchedStderr);
    let installed = match format {
        LogFormat::Pretty => registry.with(lines.compact()).try_init(),
        // The access event, one per request, has a formatter of its own.
        LogFormat::Json => registry
            .with(
                lines
                    .json()
                    .flatten_event(true)
                    .with_filter(filter_fn(|meta| meta.target() != access_json::TARGET)),
            )
            .with(
                AccessJson::new(log_sink::BatchedStderr)
                    .with_filter(filter_fn(|meta| meta.target() == access_json::TARGET)),
            )
            .try_init(),
    };
    if installed.is_ok() {
        log_sink::start();
    }
}

/// One event that tells the user what to export in the app's shell. Never the key.
/// `admin` is where the admin endpoints listen, as bound (a port 0 in the settings is resolved).
pub fn banner(config: &Config, keys: &KeyStore, listen: &ListenAddr, admin: std::net::SocketAddr) {
    let snapshot = keys.snapshot();
    if let Some(why) = snapshot.as_ref().and_then(|loaded| loaded.key.suspicion()) {
        tracing::warn!(
            key_source = %keys.source(),
            key_hint = snapshot.as_ref().map(|k| k.key.hint()).unwrap_or(""),
            "the key looks wrong: {why}"
        );
    }
    let endpoint = match listen {
        ListenAddr::Tcp(addr) => format!("http://{addr}"),
        // Clients reach a unix socket through their HTTP library's socket option; the URL's host
        // must be one the proxy answers to.
        ListenAddr::Unix(_) => "http://localhost".to_owned(),
    };
    tracing::info!(
        listen = %listen,
        admin = %admin,
        upstream = %config.upstream,
        workers = config.workers,
        key_source = %keys.source(),
        key_kind = snapshot.as_ref().map(|k| k.key.kind().as_str()).unwrap_or("none"),
        key_hint = snapshot.as_ref().map(|k| k.key.hint()).unwrap_or("none"),
        key_fingerprint = snapshot.as_ref().map(|k| k.key.fingerprint()).unwrap_or("none"),
        workspace_id = config.workspace_id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or(""),
        "langsmith-proxy ready; in the app's shell: export LANGSMITH_ENDPOINT={endpoint} LANGSMITH_API_KEY=proxy-managed NO_PROXY=127.0.0.1,localhost,$NO_PROXY"
    );
}
