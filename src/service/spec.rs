//! What a background service must carry to run the proxy as configured here: the binary, the
//! config file, the settings given by flags and `LANGSMITH_PROXY_*` variables, and the key source.
//! A service starts in another directory with another environment, so paths become absolute and
//! every setting travels as a `LANGSMITH_PROXY_*` variable (flags > environment > file holds:
//! the variables outrank the config file, as the flags they replace did).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{env_var_name, Config, Sources, ENV_PREFIX};
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
        let key_source = match &inputs.config.key_source {
            KeySource::File(path) => KeySource::File(absolute(path)),
            other => other.clone(),
        };
        environment.insert(env_var_name("key.source"), key_source.to_string());
        let config_file = match (&inputs.sources.file, &inputs.sources.default_file) {
            (Some(file), _) => Some(absolute(file)),
            (None, Some(default)) if absolute(default).is_file() => Some(absolute(default)),
            (None, _) => None,
        };
        let timeouts = inputs.config.timeouts;
        Self {
            executable: absolute(inputs.executable),
            config_file,
            environment,
            stop_timeout: timeouts.shutdown_delay + timeouts.shutdown_grace + STOP_MARGIN,
            socket_dir: match &inputs.config.listen {
                ListenAddr::Unix(path) => absolute(path).parent().map(Path::to_path_buf),
                ListenAddr::Tcp(_) => None,
            },
            key_source,
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
