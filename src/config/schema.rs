//! The settings as written in files, environment variables and flags: one schema, the same
//! names everywhere. Values stay strings here; `validate` turns them into typed settings and
//! can then say which source a bad value came from.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::upstream::REGIONS;

/// Debug shows [`Settings::redacted`] (in `config/mod.rs`): a source may carry a secret.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub listen: String,
    pub admin_listen: String,
    pub upstream: String,
    pub upstream_ca_file: Option<String>,
    pub workspace_id: Option<String>,
    /// Where to read the workspace id instead: env:NAME, file:PATH, command:CMD, keyring:S/A.
    pub workspace_id_source: Option<String>,
    pub client_credentials: String,
    /// Threads serving connections: `auto` (one per CPU) or a number.
    pub workers: String,
    // Plain values before tables: TOML output needs that order.
    /// `/ready` also waits for the key check to say valid (it never waits for LangSmith otherwise).
    pub ready_requires_valid_key: bool,
    pub allow_remote: bool,
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub allowed_hosts: Vec<String>,
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub allowed_origins: Vec<String>,
    pub unix_socket_mode: String,
    /// SaaS region name → API URL; overridable (tests point them at fake upstreams).
    pub regions: BTreeMap<String, String>,
    pub key: KeySettings,
    pub timeouts: TimeoutSettings,
    pub alerts: AlertSettings,
    pub log: LogSettings,
    pub client_token: ClientTokenSettings,
    pub limits: LimitSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// This many 401/403 diagnoses within `window` raise one ERROR alert (0: off).
    pub auth_failures: u32,
    pub window: String,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            auth_failures: 20,
            window: "1m".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeySettings {
    pub source: String,
    pub refresh: String,
    /// How long a `command:` source may run.
    pub command_timeout: String,
    /// Validate the key against LangSmith at start, on `refresh`, and after a 401/403.
    pub check: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutSettings {
    pub connect: String,
    pub response_header: String,
    pub pool_idle: String,
    pub shutdown_grace: String,
    /// After SIGTERM, keep accepting this long (unready) so load balancers stop sending first.
    pub shutdown_delay: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: String,
    pub level: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientTokenSettings {
    pub source: Option<String>,
    pub header: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    pub max_header_bytes: String,
    pub max_headers: String,
    pub header_read_timeout: String,
    pub idle_timeout: String,
    pub max_connections: String,
}

/// A list in a file, or one comma-separated string from the environment or a flag.
fn list_or_comma_separated<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(
        untagged,
        expecting = "expected a list of names in quotes, such as [\"proxy.lan\", \"10.0.0.5\"], or one comma-separated text"
    )]
    enum ListOrText {
        List(Vec<String>),
        Text(String),
    }
    Ok(match ListOrText::deserialize(deserializer)? {
        ListOrText::List(list) => list,
        ListOrText::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7878".into(),
            admin_listen: "127.0.0.1:7879".into(),
            upstream: "us".into(),
            upstream_ca_file: None,
            workspace_id: None,
            workspace_id_source: None,
            client_credentials: "replace".into(),
            workers: "auto".into(),
            regions: REGIONS
                .iter()
                .map(|(name, url)| (name.to_string(), url.to_string()))
                .collect(),
            ready_requires_valid_key: false,
            key: KeySettings::default(),
            timeouts: TimeoutSettings::default(),
            alerts: AlertSettings::default(),
            log: LogSettings::default(),
            allow_remote: false,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            unix_socket_mode: "0600".into(),
            client_token: ClientTokenSettings::default(),
            limits: LimitSettings::default(),
        }
    }
}

impl Default for ClientTokenSettings {
    fn default() -> Self {
        Self {
            source: None,
            header: "proxy-authorization".into(),
        }
    }
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_header_bytes: "65536".into(),
            max_headers: "100".into(),
            header_read_timeout: "30s".into(),
            idle_timeout: "30s".into(),
            max_connections: "1024".into(),
        }
    }
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            source: "env:LANGSMITH_API_KEY".into(),
            refresh: "10m".into(),
            command_timeout: "10s".into(),
            check: true,
        }
    }
}

impl Default for TimeoutSettings {
    fn default() -> Self {
        Self {
            connect: "10s".into(),
            response_header: "120s".into(),
            pool_idle: "90s".into(),
            shutdown_grace: "30s".into(),
            shutdown_delay: "0s".into(),
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: "auto".into(),
            level: "info".into(),
        }
    }
}
