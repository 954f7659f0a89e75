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
/// parks, and [`log_sink::flush`] before the process exits. Returns the format chosen.
pub fn init(config: &Config) -> LogFormat {
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let format = config.log_format.unwrap_or(if std::io::stderr().is_terminal() {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    let registry = tracing_subscriber::registry().with(filter);
    // Colours only for a terminal: in a file or the journal the escape codes are noise.
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(log_sink::BatchedStderr)
        .with_ansi(std::io::stderr().is_terminal());
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
    format
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
        "langsmith-proxy ready; {}",
        how_to_use(listen)
    );
}

/// What the start line tells whoever starts the proxy to do with it.
fn how_to_use(listen: &ListenAddr) -> String {
    match listen {
        ListenAddr::Tcp(addr) => format!(
            "in the app's shell: export LANGSMITH_ENDPOINT=http://{addr} LANGSMITH_API_KEY=proxy-managed NO_PROXY=127.0.0.1,localhost,$NO_PROXY"
        ),
        // The SDKs take no unix socket in LANGSMITH_ENDPOINT: only clients that can dial one
        // (curl --unix-socket, an HTTP library's socket option) use this proxy.
        ListenAddr::Unix(path) => format!(
            "clients reach it through the socket (curl --unix-socket {} http://localhost/info); for SDK apps, which need an HTTP address, run a proxy with --listen 127.0.0.1:PORT",
            path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_line_points_sdks_only_at_an_http_address() {
        let tcp = how_to_use(&ListenAddr::Tcp("127.0.0.1:7878".parse().expect("addr")));
        assert!(
            tcp.contains("export LANGSMITH_ENDPOINT=http://127.0.0.1:7878 "),
            "{tcp}"
        );
        let unix = how_to_use(&ListenAddr::Unix("/run/lsp.sock".into()));
        assert!(!unix.contains("LANGSMITH_ENDPOINT=http"), "{unix}");
        assert!(
            unix.contains("--unix-socket /run/lsp.sock") && unix.contains("--listen 127.0.0.1:PORT"),
            "{unix}"
        );
    }
}
