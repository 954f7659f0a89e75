//! `langsmith-proxy service install|uninstall`: the proxy as a background service of the current
//! user, a systemd user unit on Linux or a launchd agent on macOS. The files are written under
//! the injected `HOME` (and `XDG_CONFIG_HOME`), so tests never touch a real home.

mod launchd;
mod spec;
mod systemd;

use std::path::{Path, PathBuf};

pub use spec::{ServiceSpec, SpecInputs};

use crate::config::{Config, Sources};
use crate::env::Env;
use crate::secret::KeySource;

/// The unit's and the agent's name (and label).
pub const NAME: &str = "langsmith-proxy";

/// Which service manager to write for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetOs {
    /// A systemd user unit.
    Linux,
    /// A launchd agent.
    Macos,
}

impl TargetOs {
    /// The one asked for, else this machine's.
    pub fn resolve(asked: Option<Self>) -> Result<Self, ServiceError> {
        asked
            .or(if cfg!(target_os = "macos") {
                Some(Self::Macos)
            } else if cfg!(target_os = "linux") {
                Some(Self::Linux)
            } else {
                None
            })
            .ok_or(ServiceError::UnsupportedOs)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("services exist for Linux (systemd) and macOS (launchd) only; pass --os linux or --os macos with --print to see one")]
    UnsupportedOs,
    #[error("HOME is not set (or not an absolute path): it says where user services live; run as the user the service is for")]
    NoHome,
    /// `what` names the setting (`NAME=…`), never its value: it may hold a secret.
    #[error("cannot write {what} into a service file: {problem}")]
    Unwritable { what: String, problem: String },
    #[error("cannot write {}: {error}", path.display())]
    Write { path: PathBuf, error: std::io::Error },
    #[error("cannot find this binary or the working directory: {0}")]
    Locate(std::io::Error),
    #[error("cannot remove {}: {error}", path.display())]
    Remove { path: PathBuf, error: std::io::Error },
}

/// Where the service's files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    Systemd {
        unit: PathBuf,
    },
    /// launchd appends the proxy's output to `log` (systemd has the journal).
    Launchd {
        plist: PathBuf,
        log: PathBuf,
    },
}

impl Layout {
    /// `$XDG_CONFIG_HOME/systemd/user` (default `~/.config`), or `~/Library/LaunchAgents`.
    pub fn for_user(os: TargetOs, env: &Env) -> Result<Self, ServiceError> {
        let absolute = |name| env.get(name).map(PathBuf::from).filter(|path| path.is_absolute());
        let home = absolute("HOME").ok_or(ServiceError::NoHome)?;
        Ok(match os {
            TargetOs::Linux => {
                let config = absolute("XDG_CONFIG_HOME").unwrap_or_else(|| home.join(".config"));
                Self::Systemd {
                    unit: config.join("systemd/user").join(format!("{NAME}.service")),
                }
            }
            TargetOs::Macos => Self::Launchd {
                plist: home.join("Library/LaunchAgents").join(format!("{NAME}.plist")),
                log: home.join("Library/Logs").join(format!("{NAME}.log")),
            },
        })
    }

    /// The unit or property list.
    pub fn file(&self) -> &Path {
        match self {
            Self::Systemd { unit } => unit,
            Self::Launchd { plist, .. } => plist,
        }
    }

    /// The service file's text.
    pub fn render(&self, spec: &ServiceSpec) -> Result<String, ServiceError> {
        match self {
            Self::Systemd { .. } => systemd::unit(spec),
            Self::Launchd { log, .. } => launchd::plist(spec, log),
        }
    }
}

/// What `install` printed, and what it warns about (for standard error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub output: String,
    pub warnings: Vec<String>,
}

/// [`install`] for this process: its binary, working directory and environment.
pub fn install_here(
    config: &Config,
    sources: &Sources,
    env: &Env,
    os: Option<TargetOs>,
    print: bool,
) -> Result<Outcome, ServiceError> {
    let executable = std::env::current_exe().map_err(ServiceError::Locate)?;
    let cwd = std::env::current_dir().map_err(ServiceError::Locate)?;
    let spec = ServiceSpec::from_config(&SpecInputs {
        config,
        sources,
        env,
        executable: &executable,
        cwd: &cwd,
    });
    install(TargetOs::resolve(os)?, &spec, env, print)
}

/// Writes the service file (or, with `print`, only returns it) and says how to run it.
pub fn install(os: TargetOs, spec: &ServiceSpec, env: &Env, print: bool) -> Result<Outcome, ServiceError> {
    let layout = Layout::for_user(os, env)?;
    let contents = layout.render(spec)?;
    let warnings = warnings(spec, &layout);
    if print {
        return Ok(Outcome {
            output: contents,
            warnings,
        });
    }
    let file = layout.file();
    let write_error = |error| ServiceError::Write {
        path: file.to_owned(),
        error,
    };
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(write_error)?;
    }
    write_private(file, &contents).map_err(write_error)?;
    let output = match &layout {
        Layout::Systemd { unit } => systemd::how_to(unit),
        Layout::Launchd { plist, log } => launchd::how_to(plist, log),
    } + &spec.point_apps();
    Ok(Outcome { output, warnings })
}

/// Writes the unit readable by its owner only: it carries the settings, the key source among
/// them (a `command:` with its arguments). A unit written before is made private again.
#[cfg(unix)]
fn write_private(file: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(file)?;
    written.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    written.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(file: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(file, contents)
}

/// Removes what `install` wrote (and systemd's enablement link); says how to stop a running one.
pub fn uninstall(os: TargetOs, env: &Env) -> Result<String, ServiceError> {
    let layout = Layout::for_user(os, env)?;
    let removed = remove(layout.file())?;
    Ok(match &layout {
        _ if !removed => format!("Nothing to remove: {} does not exist\n", layout.file().display()),
        Layout::Systemd { unit } => {
            if let Some(dir) = unit.parent() {
                remove(&dir.join("default.target.wants").join(format!("{NAME}.service")))?;
            }
            systemd::after_removal(unit)
        }
        Layout::Launchd { plist, .. } => launchd::after_removal(plist),
    })
}

/// Removes a file or link; `false` when there was none.
fn remove(path: &Path) -> Result<bool, ServiceError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(ServiceError::Remove {
            path: path.to_owned(),
            error,
        }),
    }
}

/// What would stop the service from working as it works in this shell.
fn warnings(spec: &ServiceSpec, layout: &Layout) -> Vec<String> {
    let mut warnings = Vec::new();
    match &spec.key_source {
        KeySource::Env(var) => {
            let own = match layout {
                Layout::Systemd { .. } => {
                    format!("`systemctl --user edit {NAME}`, then [Service] Environment={var}=lsv2_...")
                }
                Layout::Launchd { plist, .. } => {
                    format!("add {var} to EnvironmentVariables in {}", plist.display())
                }
            };
            warnings.push(format!(
                "key.source is env:{var}, but a service does not see this shell's environment: {var} will be unset there. \
                 Install again with a source the service reads itself: --key-file PATH (a file only you can read), \
                 or LANGSMITH_PROXY_KEY__SOURCE='command:op read op://Private/LangSmith/credential' (a password manager), \
                 or LANGSMITH_PROXY_KEY__SOURCE='keyring:{NAME}/default' (a build with --features keyring; store the key with \
                 `langsmith-proxy key set`). Or give the service the variable in plain text: {own}"
            ));
        }
        KeySource::File(path) if !path.exists() => warnings.push(format!(
            "the key file {} does not exist yet: create it (readable only by you: chmod 600) before starting the service",
            path.display()
        )),
        _ => {}
    }
    // A socket right in /tmp is made again at each start: only what must last is warned about.
    let lasting = spec
        .in_temporary_dirs
        .iter()
        .filter(|path| !(path.as_path() == Path::new("/tmp") || path.as_path() == Path::new("/var/tmp")));
    for path in lasting {
        warnings.push(format!(
            "the service uses {}, under a temporary directory that a reboot may clear: the service would then fail to start. Move it somewhere lasting (~/.config/langsmith-proxy/) and install again",
            path.display()
        ));
    }
    let built_by_cargo = spec
        .executable
        .components()
        .zip(spec.executable.components().skip(1))
        .any(|(a, b)| a.as_os_str() == "target" && (b.as_os_str() == "debug" || b.as_os_str() == "release"));
    if built_by_cargo {
        warnings.push(format!(
            "the service runs {}, inside a cargo build directory: the next build replaces it and `cargo clean` removes it. \
             Install the binary (cargo install --locked --path .) and run its `service install` instead",
            spec.executable.display()
        ));
    }
    warnings
}

/// What an [`ServiceError::Unwritable`] shows of a value: the variable it sets, if it is an
/// environment entry (`NAME=value`), never the value.
fn unwritable(text: &str, problem: String) -> ServiceError {
    let name = text
        .split_once('=')
        .map(|(name, _)| name)
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    ServiceError::Unwritable {
        what: name.map_or_else(|| "a value".to_owned(), |name| format!("{name}=…")),
        problem,
    }
}
