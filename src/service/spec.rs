//! What a background service must carry to run the proxy as configured here: the binary, the
//! config file, the settings given by flags and `LANGSMITH_PROXY_*` variables, and the key source.
//! A service starts in another directory with another environment, so paths become absolute and
//! every setting travels as a `LANGSMITH_PROXY_*` variable (flags > environment > file holds:
//! the variables outrank the config file, as the flags they replace did).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{env_var_name, Config, Settings, Sources, ENV_PREFIX};
use crate::env::Env;
use crate::listener::ListenAddr;
use crate::secret::KeySource;

/// Time for the process to exit after its drain, before the service manager kills it.
const STOP_MARGIN: Duration = Duration::from_secs(5);

/// Everything a service file says about the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Absolute path of the binary to run.
    pub executable: PathBuf,
    /// Absolute path of the config file in effect, if any.
    pub config_file: Option<PathBuf>,
    /// `LANGSMITH_PROXY_*` variables by name (settings, never a key: keys come from sources).
    pub environment: BTreeMap<String, String>,
    /// `timeouts.shutdown_delay` + `timeouts.shutdown_grace` + a margin.
    pub stop_timeout: Duration,
    /// The directory of a unix socket the proxy creates: the only place it writes.
    pub socket_dir: Option<PathBuf>,
    /// The effective key source, with a relative file path made absolute.
    pub key_source: KeySource,
    /// Where the service listens, for the hint on pointing apps at it.
    pub listen: ListenAddr,
    /// Files and directories the proxy uses under `/tmp` or `/var/tmp` (the key, config, CA,
    /// token, workspace files, the socket's directory): a private /tmp would hide them, and a
    /// reboot may clear them.
    pub in_temporary_dirs: Vec<PathBuf>,
}

/// The inputs of [`ServiceSpec::from_config`]; the process's own are injected for tests.
pub struct SpecInputs<'a> {
    pub config: &'a Config,
    pub sources: &'a Sources,
    pub env: &'a Env,
    pub executable: &'a Path,
    /// The directory relative paths are resolved against.
    pub cwd: &'a Path,
}

impl ServiceSpec {
    pub fn from_config(inputs: &SpecInputs<'_>) -> Self {
        let absolute = |path: &Path| inputs.cwd.join(path);
        let mut environment: BTreeMap<String, String> = inputs
            .env
            .with_prefix(&format!("{ENV_PREFIX}_"))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        for flag in &inputs.sources.flags {
            environment.insert(env_var_name(&flag.key), flag.value.clone());
        }
        let key_source = absolute_file_source(&inputs.config.key_source, inputs.cwd);
        environment.insert(env_var_name("key.source"), key_source.spec());
        // Other relative paths, from any layer (a config file's too): the variable outranks it.
        for (key, value) in relative_paths_made_absolute(inputs.config, inputs.cwd) {
            environment.insert(env_var_name(key), value);
        }
        let config_file = match (&inputs.sources.file, &inputs.sources.default_file) {
            (Some(file), _) => Some(absolute(file)),
            (None, Some(default)) if holds_settings(&absolute(default)) => Some(absolute(default)),
            (None, _) => None,
        };
        let timeouts = inputs.config.timeouts;
        let socket_dir = match &inputs.config.listen {
            ListenAddr::Unix(path) => absolute(path).parent().map(Path::to_path_buf),
            ListenAddr::Tcp(_) => None,
        };
        let workspace_source = parsed_source(inputs.config.settings.workspace_id_source.as_deref());
        let in_temporary_dirs = [
            file_of(&key_source),
            config_file.clone(),
            inputs.config.upstream_ca_file.as_deref().map(absolute),
            workspace_source.as_ref().and_then(file_of),
            inputs
                .config
                .security
                .client_token
                .as_ref()
                .and_then(|token| file_of(&token.source)),
            socket_dir.clone(),
        ]
        .into_iter()
        .flatten()
        .map(|path| absolute(&path))
        .filter(|path| path.starts_with("/tmp") || path.starts_with("/var/tmp"))
        .collect();
        Self {
            executable: absolute(inputs.executable),
            config_file,
            environment,
            stop_timeout: timeouts.shutdown_delay + timeouts.shutdown_grace + STOP_MARGIN,
            socket_dir,
            key_source,
            listen: inputs.config.listen.clone(),
            in_temporary_dirs,
        }
    }

    /// How an app's shell is pointed at the service: `env` names the default address itself,
    /// any other one must be given to it.
    pub fn point_apps(&self) -> String {
        match &self.listen {
            // The setting's default, which `env` uses when given nothing else.
            listen if Settings::default().listen.parse().as_ref() == Ok(listen) => "Point an app at it:  eval \"$(langsmith-proxy env)\"\n".to_owned(),
            // Quoted: `[::1]:7001` unquoted is a glob pattern to the shell.
            ListenAddr::Tcp(addr) => format!("Point an app at it:  eval \"$(langsmith-proxy env --listen '{addr}')\"\n"),
            ListenAddr::Unix(path) => format!(
                "Clients reach it through the socket {} (curl --unix-socket); SDK apps need a proxy listening on 127.0.0.1:PORT\n",
                path.display()
            ),
        }
    }

    /// The command line: the binary, `serve`, and the config file when one is in effect.
    pub fn arguments(&self) -> Vec<String> {
        let mut arguments = vec![self.executable.display().to_string(), "serve".to_owned()];
        if let Some(file) = &self.config_file {
            arguments.extend(["--config".to_owned(), file.display().to_string()]);
        }
        arguments
    }
}

/// `file:PATH` with a relative path resolved against `cwd`; other sources as they are.
fn absolute_file_source(source: &KeySource, cwd: &Path) -> KeySource {
    match source {
        KeySource::File(path) => KeySource::File(cwd.join(path)),
        other => other.clone(),
    }
}

/// Whether the default config file exists and sets anything: run from a checkout, it is the
/// repository's example, all comments, which the service need not depend on (and would fail
/// without once the checkout is gone). One that cannot be read or parsed counts as setting
/// something: the service then fails the way this shell would.
fn holds_settings(path: &Path) -> bool {
    match std::fs::read_to_string(path) {
        Ok(text) => text.parse::<toml::Table>().map_or(true, |table| sets_a_value(&table)),
        Err(_) => path.exists(),
    }
}

/// Whether a table holds a value, not only (empty) section headers.
fn sets_a_value(table: &toml::Table) -> bool {
    table.values().any(|value| match value {
        toml::Value::Table(inner) => sets_a_value(inner),
        _ => true,
    })
}

/// A `*_source` setting as a source; `None` when unset (or invalid: loading refused it already).
fn parsed_source(spec: Option<&str>) -> Option<KeySource> {
    spec.and_then(|spec| spec.trim().parse::<KeySource>().ok())
}

/// The file a `file:` source reads.
fn file_of(source: &KeySource) -> Option<PathBuf> {
    match source {
        KeySource::File(path) => Some(path.clone()),
        _ => None,
    }
}

/// The settings besides the key source that hold a relative path, with the path made absolute.
/// (`listen = "unix:PATH"` needs no entry: the configuration accepts only absolute paths.)
fn relative_paths_made_absolute(config: &Config, cwd: &Path) -> Vec<(&'static str, String)> {
    let relative_file = |source: &KeySource| {
        matches!(source, KeySource::File(path) if path.is_relative()).then(|| absolute_file_source(source, cwd).spec())
    };
    let workspace_source = parsed_source(config.settings.workspace_id_source.as_deref());
    [
        (
            "upstream_ca_file",
            config
                .upstream_ca_file
                .as_deref()
                .filter(|path| path.is_relative())
                .map(|path| cwd.join(path).display().to_string()),
        ),
        ("workspace_id_source", workspace_source.as_ref().and_then(relative_file)),
        (
            "client_token.source",
            config
                .security
                .client_token
                .as_ref()
                .and_then(|token| relative_file(&token.source)),
        ),
    ]
    .into_iter()
    .filter_map(|(key, value)| value.map(|value| (key, value)))
    .collect()
}
