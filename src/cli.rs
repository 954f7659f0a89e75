//! Command line: `serve` (the default), and `config` to print the effective settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{FlagValue, Sources};

pub const DEFAULT_CONFIG_FILE: &str = "config/langsmith-proxy.toml";

#[derive(Debug, Parser)]
#[command(
    name = "langsmith-proxy",
    version,
    about = "Local authenticating reverse proxy for the LangSmith API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: SettingFlags,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy (what happens without a subcommand).
    Serve,
    /// Print the effective settings (the key itself is never printed) and where the key comes from.
    Config,
    /// Check the key against LangSmith (and the other regions if it is rejected); exit 0 when it works.
    Check {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the exports that point an app at this proxy: eval "$(langsmith-proxy env)".
    Env(EnvArgs),
    /// Run in the app's shell: find what would make its LangSmith SDK fail, and say how to fix it.
    Doctor(DoctorArgs),
    /// Manage the key in the OS keychain (needs a build with `--features keyring`).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Ask a running proxy whether it is ready (GET /ready on admin_listen): exit 0 when ready,
    /// 1 otherwise, with the reason. For container health checks and exec probes.
    Health(HealthArgs),
    /// Run the proxy in the background for this user: a systemd user unit (Linux) or a launchd
    /// agent (macOS), with the effective settings and key source.
    #[command(subcommand)]
    Service(ServiceCommand),
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// How long to wait for the answer.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Write the service file with the settings in effect here (flags, LANGSMITH_PROXY_*
    /// variables, config file) and say how to start, stop and read its logs.
    Install(ServiceInstallArgs),
    /// Remove the service file that `service install` wrote.
    Uninstall(ServiceTarget),
}

#[derive(Debug, Args)]
pub struct ServiceTarget {
    /// For the current user (the default, and the only kind: a systemd user unit or a launchd
    /// agent; no root needed).
    #[arg(long)]
    pub user: bool,
    /// The service manager to write for: linux (systemd) or macos (launchd). Default: this machine's.
    #[arg(long, value_enum, value_name = "OS")]
    pub os: Option<crate::service::TargetOs>,
}

#[derive(Debug, Args)]
pub struct ServiceInstallArgs {
    #[command(flatten)]
    pub target: ServiceTarget,
    /// Print the file instead of writing it.
    #[arg(long)]
    pub print: bool,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    /// The shell that evaluates the output.
    #[arg(long, value_enum, default_value = "sh")]
    pub shell: crate::shell_env::Shell,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Store a key in the OS keychain, read from the terminal without echo or from a pipe;
    /// then use key.source = "keyring:SERVICE/ACCOUNT".
    Set {
        #[arg(long, value_name = "SERVICE", default_value = crate::secret::keyring::DEFAULT_SERVICE)]
        service: String,
        #[arg(long, value_name = "ACCOUNT", default_value = crate::secret::keyring::DEFAULT_ACCOUNT)]
        account: String,
    },
}

/// Flags that override settings; each names the setting it sets.
#[derive(Debug, Args, Default)]
pub struct SettingFlags {
    /// Config file (TOML). Default: config/langsmith-proxy.toml when it exists.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Address to listen on (setting `listen`).
    #[arg(long, global = true, value_name = "IP:PORT|unix:PATH")]
    pub listen: Option<String>,
    /// Accept connections from other machines on a non-loopback `listen` address, even without
    /// a client token (setting `allow_remote`).
    #[arg(long, global = true)]
    pub allow_remote: bool,
    /// Admin endpoints address (setting `admin_listen`).
    #[arg(long, global = true, value_name = "IP:PORT")]
    pub admin_listen: Option<String>,
    /// us, eu, apac, aws, or a base URL such as https://langsmith.example.com/api/v1 (setting `upstream`).
    #[arg(long, global = true, value_name = "REGION|URL")]
    pub upstream: Option<String>,
    /// Extra CA bundle (PEM) trusted for the upstream (setting `upstream_ca_file`).
    #[arg(long, global = true, value_name = "PATH")]
    pub upstream_ca_file: Option<String>,
    /// Read the key from this environment variable (setting `key.source` = env:NAME).
    #[arg(long, global = true, value_name = "NAME", conflicts_with = "key_file")]
    pub key_env: Option<String>,
    /// Read the key from this file (setting `key.source` = file:PATH).
    #[arg(long, global = true, value_name = "PATH")]
    pub key_file: Option<String>,
    /// Workspace UUID sent as X-Tenant-Id (setting `workspace_id`).
    #[arg(long, global = true, value_name = "UUID")]
    pub workspace_id: Option<String>,
    /// replace, keep-if-present or reject (setting `client_credentials`).
    #[arg(long, global = true, value_name = "POLICY")]
    pub client_credentials: Option<String>,
    /// Threads serving connections: auto (one per CPU) or a number (setting `workers`).
    #[arg(long, global = true, value_name = "N|auto")]
    pub workers: Option<String>,
    /// Override a region's URL, NAME=URL (setting `regions.NAME`); repeatable.
    #[arg(long = "region-url", global = true, value_name = "NAME=URL", value_parser = region_url)]
    pub region_urls: Vec<(String, String)>,
    /// auto, pretty or json (setting `log.format`).
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// error, warn, info, debug, trace or a tracing filter (setting `log.level`).
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

impl SettingFlags {
    /// The config sources these flags describe.
    pub fn sources(&self) -> Sources {
        let mut flags = Vec::new();
        let mut set = |key: &str, flag: &'static str, value: Option<String>| {
            if let Some(value) = value {
                flags.push(FlagValue {
                    key: key.to_owned(),
                    flag,
                    value,
                });
            }
        };
        set("listen", "--listen", self.listen.clone());
        set(
            "allow_remote",
            "--allow-remote",
            self.allow_remote.then(|| "true".to_owned()),
        );
        set("admin_listen", "--admin-listen", self.admin_listen.clone());
        set("upstream", "--upstream", self.upstream.clone());
        set("upstream_ca_file", "--upstream-ca-file", self.upstream_ca_file.clone());
        set(
            "key.source",
            "--key-env",
            self.key_env.as_ref().map(|name| format!("env:{name}")),
        );
        set(
            "key.source",
            "--key-file",
            self.key_file.as_ref().map(|path| format!("file:{path}")),
        );
        set("workspace_id", "--workspace-id", self.workspace_id.clone());
        set(
            "client_credentials",
            "--client-credentials",
            self.client_credentials.clone(),
        );
        set("workers", "--workers", self.workers.clone());
        for (name, url) in &self.region_urls {
            set(&format!("regions.{name}"), "--region-url", Some(url.clone()));
        }
        set("log.format", "--log-format", self.log_format.clone());
        set("log.level", "--log-level", self.log_level.clone());
        Sources {
            file: self.config.clone(),
            default_file: Some(PathBuf::from(DEFAULT_CONFIG_FILE)),
            flags,
        }
    }
}

/// `--region-url NAME=URL`, split, the name in lower case as the other layers read it (an
/// environment variable's name arrives lower-cased); the URL is checked with the other settings.
fn region_url(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((name, url)) if !name.trim().is_empty() && !url.trim().is_empty() => {
            let name = name.trim().to_ascii_lowercase();
            crate::config::check_region_name(&name)?;
            Ok((name, url.trim().to_owned()))
        }
        _ => Err("expected NAME=URL, e.g. --region-url eu=https://eu.api.smith.langchain.com".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::region_url;

    #[test]
    fn a_region_url_needs_a_name_and_a_url() {
        assert_eq!(
            region_url("eu=http://127.0.0.1:9/"),
            Ok(("eu".to_owned(), "http://127.0.0.1:9/".to_owned()))
        );
        for bad in ["foo", "=http://x", "eu="] {
            assert!(region_url(bad).unwrap_err().contains("NAME=URL"), "{bad}");
        }
    }
}
