//! Configuration: one schema, layered defaults < file < env (`LANGSMITH_PROXY_*`) < flags.

mod layers;
mod schema;
mod security;
mod validate;

use std::path::PathBuf;

pub use layers::{env_var_name, FlagValue, Origin, Sources, ENV_PREFIX};
pub use schema::Settings;
pub use security::{ClientTokenConfig, Limits, Security};
pub use validate::{ClientCredentials, Config, LogFormat, StartOrigins, Timeouts};

use crate::env::Env;

/// A configuration problem. Each message names the setting and where its value came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {} (given with --config) does not exist", path.display())]
    FileNotFound { path: PathBuf },
    #[error("cannot read settings from {origin}: {message}")]
    Unreadable { origin: Origin, message: String },
    #[error("unknown setting `{key}` in {origin}; config/langsmith-proxy.toml lists every setting{env_note}")]
    UnknownKey {
        key: String,
        origin: Origin,
        /// Empty unless the name came from the environment (see `layers::ENV_PREFIX_NOTE`).
        env_note: &'static str,
    },
    #[error("`{key}` in {origin} is a group of settings, not a value; set {settings} instead{env_note}")]
    NotAValue {
        key: String,
        origin: Origin,
        settings: String,
        env_note: &'static str,
    },
    #[error("invalid `{key}` (from {origin}): {problem}")]
    WrongType {
        key: String,
        origin: Origin,
        problem: String,
    },
    #[error("`key.source` (from {origin}) looks like an API key itself (not shown), not where to read one; give a variable name (--key-env LANGSMITH_API_KEY) or a file (--key-file PATH)")]
    KeyAsSource { origin: Origin },
    #[error("{message}")]
    Malformed { message: String },
    #[error("invalid `{key}` = {value:?} (from {origin}): {problem}")]
    Invalid {
        key: String,
        value: String,
        origin: Origin,
        problem: String,
    },
}

impl ConfigError {
    fn internal(error: config::ConfigError) -> Self {
        Self::Malformed {
            message: error.to_string(),
        }
    }
}

/// Loads, layers and validates the settings.
pub fn load(sources: &Sources, env: &Env) -> Result<Config, ConfigError> {
    let layers = layers::Layers::load(sources, env)?;
    validate::validate(&layers, env)
}

/// Only the admin address, for `health`: a container health check every few seconds must not
/// read sources (a `workspace_id_source` command, say) that only the proxy itself needs.
pub fn admin_listen(sources: &Sources, env: &Env) -> Result<std::net::SocketAddr, ConfigError> {
    let layers = layers::Layers::load(sources, env)?;
    validate::admin_listen(&layers)
}
