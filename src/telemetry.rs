//! Logging setup and the start banner.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};
use crate::listener::ListenAddr;
use crate::log_sink;
use crate::secret::KeyStore;

/// Installs the global subscriber: pretty on a terminal, JSON otherwise, unless configured.
/// Lines go to stderr in batches ([`log_sink`]): run [`log_sink::flush`] when a tokio worker
/// parks and before the process exits.
pub fn init(config: &Config) {
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let format = config.log_format.unwrap_or(if std::io::stderr().is_terminal() {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(log_sink::BatchedStderr);
    let installed = match format {
        LogFormat::Pretty => builder.compact().try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if installed.is_ok() {
        log_sink::start();
    }
}

/// One event that tells the user what to export in the app's shell. Never the key.
pub fn banner(config: &Config, keys: &KeyStore, listen: &ListenAddr) {
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
