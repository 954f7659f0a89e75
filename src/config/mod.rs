//! Configuration: one schema, layered defaults < file < env (`LANGSMITH_PROXY_*`) < flags.

mod layers;
mod log_filter;
mod schema;
mod security;
mod validate;

use std::path::PathBuf;

use crate::secret::{names_a_kind, redact_keys, redact_url_credentials, CommandSource, KeySource};

pub use layers::{env_var_name, FlagValue, Origin, Sources, ENV_PREFIX};
pub use schema::Settings;
pub use security::{ClientTokenConfig, Limits, Security};
pub use validate::{check_region_name, ClientCredentials, Config, LogFormat, StartOrigins, Timeouts};

use crate::env::Env;

/// A configuration problem. Each message names the setting and where its value came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {} (given with --config) does not exist", path.display())]
    FileNotFound { path: PathBuf },
    #[error("cannot read settings from {origin}: {message}")]
    Unreadable { origin: Origin, message: String },
    #[error("unknown setting `{key}` in {origin}; {}`langsmith-proxy config` prints every setting{env_note}", did_you_mean(.close))]
    UnknownKey {
        key: String,
        origin: Origin,
        /// Known settings whose names are close: a typo, or a setting of another group.
        close: Vec<String>,
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

fn did_you_mean(close: &[String]) -> String {
    match close {
        [] => String::new(),
        close => format!(
            "did you mean {}? ",
            close
                .iter()
                .map(|key| format!("`{key}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    }
}

impl ConfigError {
    fn internal(error: config::ConfigError) -> Self {
        Self::Malformed {
            message: redact_keys(&error.to_string()),
        }
    }

    /// `Invalid`, with the value as it may be shown: a source setting through its label (a
    /// `command:` without its arguments; a value that is no source at all may be a secret pasted
    /// in its place, so it is not shown), a URL without its password, and anything shaped like
    /// a key blanked.
    fn invalid(key: &str, value: &str, origin: Origin, problem: String) -> Self {
        let shown = if key.ends_with("source") {
            shown_source(value)
        } else {
            redact_url_credentials(value)
        };
        // Parse errors quote the value they refused, in backticks.
        let problem = if value.is_empty() || shown == value {
            problem
        } else {
            problem.replace(&format!("`{value}`"), &format!("`{shown}`"))
        };
        Self::Invalid {
            key: key.to_owned(),
            value: redact_keys(&shown),
            origin,
            problem: redact_keys(&problem),
        }
    }
}

impl Settings {
    /// Whether a source is a command, which [`Settings::redacted`] shows without its arguments:
    /// printed settings then need the whole command put back before they load.
    pub fn has_command_source(&self) -> bool {
        [
            Some(&self.key.source),
            self.workspace_id_source.as_ref(),
            self.client_token.source.as_ref(),
        ]
        .into_iter()
        .flatten()
        .any(|source| source.trim_start().starts_with("command:"))
    }

    /// The settings as `langsmith-proxy config` prints them: each source through
    /// [`shown_source`], so a command's arguments stay out of the terminal and pasted issues.
    pub fn redacted(&self) -> Self {
        let mut shown = self.clone();
        shown.upstream = redact_url_credentials(&shown.upstream);
        for url in shown.regions.values_mut() {
            *url = redact_url_credentials(url);
        }
        shown.key.source = shown_source(&shown.key.source);
        shown.upstream_ca_file = shown.upstream_ca_file.as_deref().map(redact_keys);
        for source in [&mut shown.workspace_id_source, &mut shown.client_token.source]
            .into_iter()
            .flatten()
        {
            *source = shown_source(source);
        }
        shown
    }
}

/// What `config` would print, so a Debug print in a log or a panic shows no pasted secret.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match serde_json::to_string(&self.redacted()) {
            Ok(shown) => write!(f, "Settings {shown}"),
            Err(_) => f.write_str("Settings { .. }"),
        }
    }
}

/// A source setting through [`KeySource`]'s own label; a value that is not a source at all may
/// be a secret pasted in its place.
fn shown_source(value: &str) -> String {
    let value = value.trim();
    if value.is_empty() {
        return String::new();
    }
    match value.parse::<KeySource>() {
        // An `env:` name or `file:` path may be a key pasted in the wrong place.
        Ok(source) => redact_keys(&source.to_string()),
        // `keyring:` on a build without it, `env:` with no name: a source, written wrong, and
        // still shown as a source (a command by its label).
        Err(_) if names_a_kind(value) => {
            if let Some(command) = value.strip_prefix("command:").filter(|c| !c.trim().is_empty()) {
                return format!("command:{}", CommandSource::new(command.to_owned()).label());
            }
            // `env:NAME=value`: the value may be the secret itself.
            match value.split_once('=') {
                Some((name, _)) => format!("{}=…", redact_keys(name)),
                None => redact_keys(value),
            }
        }
        Err(_) => "(not shown: it may be a secret pasted in place of a source)".to_owned(),
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
