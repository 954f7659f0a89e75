//! The settings as written in files, environment variables and flags: one schema, the same
//! names everywhere. Values stay strings here; `validate` turns them into typed settings and
//! can then say which source a bad value came from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::upstream::REGIONS;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// SaaS region name → API URL; overridable (tests point them at fake upstreams).
    pub regions: BTreeMap<String, String>,
    pub key: KeySettings,
    pub timeouts: TimeoutSettings,
    pub log: LogSettings,
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: String,
    pub level: String,
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
            regions: REGIONS
                .iter()
                .map(|(name, url)| (name.to_string(), url.to_string()))
                .collect(),
            key: KeySettings::default(),
            timeouts: TimeoutSettings::default(),
            log: LogSettings::default(),
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
