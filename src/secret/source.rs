//! Where the key comes from: `env:NAME`, `file:PATH`, `command:CMD` or `keyring:SERVICE/ACCOUNT`.
//! The same forms name where the workspace id comes from (`workspace_id_source`).

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use super::api_key::{ApiKey, KeyFormatError};
use super::command::{CommandError, CommandSource};
use super::keyring::{self, KeyringError, KeyringSource};
use crate::env::Env;
use crate::near_miss::near_misses;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Env(String),
    File(PathBuf),
    Command(CommandSource),
    Keyring(KeyringSource),
}

/// Why no key could be loaded. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    #[error("environment variable {var} is not set{}; export {var}=lsv2_... in the proxy's environment, or pick another source with --key-env NAME or --key-file PATH", did_you_mean(.near_miss.as_deref()))]
    EnvNotSet {
        var: String,
        /// A set variable whose name nearly matches (`LANGSMITH_APIKEY`), most likely a typo.
        near_miss: Option<String>,
    },
    #[error("environment variable {var} is set, but its value is not UTF-8 text, which no key is: export it again (export {var}=lsv2_...)")]
    EnvNotText { var: String },
    #[error("cannot read key file {path}: {error}; check the path and its permissions, or pick another source with --key-env NAME")]
    FileUnreadable { path: PathBuf, error: std::io::Error },
    #[error(
        "key file {path} is not text (it holds bytes that are not UTF-8): write the key alone into it, as plain text"
    )]
    FileNotText { path: PathBuf },
    #[error("key file {path} holds more than {MAX_SOURCE_BYTES} bytes, which is not a key: is it the right file? Write the key alone into it")]
    FileTooLarge { path: PathBuf },
    #[error("key from {source_label} refused: {problem}")]
    Format {
        source_label: String,
        problem: KeyFormatError,
    },
    /// `command` is the [`CommandSource::label`]: the program, without its arguments.
    #[error("the key command `{command}` gave no key: {problem}")]
    Command { command: String, problem: CommandError },
    #[error("no key from {source_label}: {problem}")]
    Keyring {
        source_label: String,
        problem: KeyringError,
    },
}

fn did_you_mean(near_miss: Option<&str>) -> String {
    near_miss
        .map(|name| {
            format!(" (did you mean {name}? It is set: rename it to the expected name, or start with --key-env {name})")
        })
        .unwrap_or_default()
}

/// Why a source could not be read; the caller says what the value was for.
#[derive(Debug, thiserror::Error)]
pub enum SourceReadError {
    #[error("environment variable {var} is not set")]
    EnvNotSet { var: String },
    #[error("environment variable {var} is set, but its value is not UTF-8 text")]
    EnvNotText { var: String },
    #[error("cannot read file {}: {error}", path.display())]
    FileUnreadable { path: PathBuf, error: std::io::Error },
    #[error("file {} is not text (it holds bytes that are not UTF-8)", path.display())]
    FileNotText { path: PathBuf },
    #[error("file {} holds more than {MAX_SOURCE_BYTES} bytes, which is not a secret", path.display())]
    FileTooLarge { path: PathBuf },
    #[error("the command `{command}` failed: {problem}")]
    Command { command: String, problem: CommandError },
    #[error("{source_label}: {problem}")]
    Keyring {
        source_label: String,
        problem: KeyringError,
    },
}

impl KeySource {
    /// Reads and validates the key. Never returns or logs the raw value on failure. Blocks
    /// while a command runs (up to its timeout) or the keychain answers.
    pub fn read(&self, env: &Env) -> Result<ApiKey, KeyLoadError> {
        let raw = self.read_text(env).map_err(|error| match error {
            SourceReadError::EnvNotSet { var } => KeyLoadError::EnvNotSet {
                near_miss: near_misses(&var, env.names()).first().map(|name| (*name).to_owned()),
                var,
            },
            SourceReadError::EnvNotText { var } => KeyLoadError::EnvNotText { var },
            SourceReadError::FileUnreadable { path, error } => KeyLoadError::FileUnreadable { path, error },
            SourceReadError::FileNotText { path } => KeyLoadError::FileNotText { path },
            SourceReadError::FileTooLarge { path } => KeyLoadError::FileTooLarge { path },
            SourceReadError::Command { command, problem } => KeyLoadError::Command { command, problem },
            SourceReadError::Keyring { source_label, problem } => KeyLoadError::Keyring { source_label, problem },
        })?;
        ApiKey::parse(&raw).map_err(|problem| KeyLoadError::Format {
            source_label: self.to_string(),
            problem,
        })
    }

    /// The raw text at the source, untrimmed and unchecked: for the key, the workspace id or
    /// the client token. The caller says what the value was for.
    pub fn read_text(&self, env: &Env) -> Result<String, SourceReadError> {
        Ok(match self {
            Self::Env(var) if env.is_not_text(var) => return Err(SourceReadError::EnvNotText { var: var.clone() }),
            Self::Env(var) => env
                .get(var)
                .ok_or_else(|| SourceReadError::EnvNotSet { var: var.clone() })?
                .to_owned(),
            Self::File(path) => read_file(path)?,
            Self::Command(command) => command.run_blocking().map_err(|problem| SourceReadError::Command {
                command: command.label(),
                problem,
            })?,
            Self::Keyring(entry) => entry.read().map_err(|problem| SourceReadError::Keyring {
                source_label: self.to_string(),
                problem,
            })?,
        })
    }

    /// Sets how long a `command:` source may run, or a `keyring:` read may wait for the
    /// keychain (`key.command_timeout`); others are unchanged.
    pub fn with_command_timeout(self, timeout: Duration) -> Self {
        match self {
            Self::Command(command) => Self::Command(command.with_timeout(timeout)),
            Self::Keyring(entry) => Self::Keyring(entry.with_timeout(timeout)),
            other => other,
        }
    }

    /// Whether reading again can give another value: not for `env:`, whose snapshot is taken
    /// once at start.
    pub fn can_change(&self) -> bool {
        !matches!(self, Self::Env(_))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeySourceParseError {
    #[error("`{0}` is not a source; use env:NAME, file:PATH, command:CMD or keyring:SERVICE/ACCOUNT")]
    Unknown(String),
    #[error(
        "`{0}` does not name a keychain entry; write keyring:SERVICE/ACCOUNT, e.g. keyring:langsmith-proxy/default"
    )]
    KeyringSpec(String),
    #[error("{0}")]
    Keyring(KeyringError),
    #[error("`{kind}:` names nothing: write {kind}:{what}")]
    Empty { kind: &'static str, what: &'static str },
    #[error("`env:` takes a variable's name, which holds no `=`, space or control character: write env:NAME, and put the value in that variable")]
    EnvName,
    #[error(
        "`{0}` is how langsmith-proxy shows a command without its arguments (they may hold a token): \
         write the whole command, e.g. command:op read op://Private/LangSmith/credential"
    )]
    ShownCommand(String),
}

/// A secret is a few dozen bytes: a source that gives more is not read further (`/dev/zero`,
/// a log file named by mistake), nor kept in memory.
pub const MAX_SOURCE_BYTES: u64 = 64 * 1024;

fn read_file(path: &Path) -> Result<String, SourceReadError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_SOURCE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|error| SourceReadError::FileUnreadable {
            path: path.to_owned(),
            error,
        })?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(SourceReadError::FileTooLarge { path: path.to_owned() });
    }
    String::from_utf8(bytes).map_err(|_| SourceReadError::FileNotText { path: path.to_owned() })
}

/// The kinds of source, and what each names after its colon.
const KINDS: [(&str, &str); 4] = [
    ("env", "NAME"),
    ("file", "PATH"),
    ("command", "CMD"),
    ("keyring", "SERVICE/ACCOUNT"),
];

/// Whether a command is the label `config` prints for one: `…`, or a program and `…`.
fn is_shown_label(command: &str) -> bool {
    let words: Vec<&str> = command.split_whitespace().collect();
    matches!(words.as_slice(), ["…"] | [_, "…"])
}

/// Whether `spec` starts with a source kind (`env:`, `file:`, ...), however the rest is written:
/// such a value is a source setting, never a secret pasted in its place.
pub fn names_a_kind(spec: &str) -> bool {
    spec.split_once(':')
        .is_some_and(|(kind, _)| KINDS.iter().any(|(known, _)| *known == kind))
}

impl FromStr for KeySource {
    type Err = KeySourceParseError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let invalid = || KeySourceParseError::Unknown(spec.to_owned());
        let (kind, rest) = spec.split_once(':').ok_or_else(invalid)?;
        let &(kind, what) = KINDS.iter().find(|(known, _)| *known == kind).ok_or_else(invalid)?;
        if rest.trim().is_empty() {
            return Err(KeySourceParseError::Empty { kind, what });
        }
        match kind {
            "env" if rest.contains(|c: char| c == '=' || c.is_whitespace() || c.is_control()) => {
                Err(KeySourceParseError::EnvName)
            }
            "env" => Ok(Self::Env(rest.to_owned())),
            "file" => Ok(Self::File(PathBuf::from(rest))),
            // The label `config` prints (`op …`), copied back as if it were the command.
            "command" if is_shown_label(rest) => Err(KeySourceParseError::ShownCommand(spec.to_owned())),
            "command" => Ok(Self::Command(CommandSource::new(rest.to_owned()))),
            "keyring" => {
                let (service, account) =
                    keyring::parse_spec(rest).ok_or_else(|| KeySourceParseError::KeyringSpec(spec.to_owned()))?;
                KeyringSource::new(service, account)
                    .map(Self::Keyring)
                    .map_err(KeySourceParseError::Keyring)
            }
            _ => Err(invalid()),
        }
    }
}

impl KeySource {
    /// The source written back in full, as the configuration takes it (for service units).
    /// Everything else shows the [`Display`](fmt::Display) label, which hides a command's
    /// arguments.
    pub fn spec(&self) -> String {
        match self {
            Self::Command(command) => format!("command:{}", command.command()),
            other => other.to_string(),
        }
    }
}

/// The label logs, headers, errors and `/status` show.
impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(var) => write!(f, "env:{var}"),
            Self::File(path) => write!(f, "file:{}", path.display()),
            Self::Command(command) => write!(f, "command:{}", command.label()),
            Self::Keyring(entry) => write!(f, "keyring:{}/{}", entry.service(), entry.account()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        assert_eq!(
            "env:MY_KEY".parse::<KeySource>().ok(),
            Some(KeySource::Env("MY_KEY".into()))
        );
        assert_eq!(
            "file:/run/secrets/key".parse::<KeySource>().ok(),
            Some(KeySource::File("/run/secrets/key".into()))
        );
        assert_eq!(
            "command:op read op://vault/langsmith/key".parse::<KeySource>().ok(),
            Some(KeySource::Command(CommandSource::new(
                "op read op://vault/langsmith/key".into()
            )))
        );
        assert!("keyring:langsmith-proxy".parse::<KeySource>().is_err());
        assert!("command: ".parse::<KeySource>().is_err());
        assert!("env:".parse::<KeySource>().is_err());
        assert!("vault:x".parse::<KeySource>().is_err());
        assert!("LANGSMITH_API_KEY".parse::<KeySource>().is_err());
    }

    #[test]
    fn an_empty_source_and_a_shown_command_say_what_to_write() {
        let error = |spec: &str| spec.parse::<KeySource>().expect_err(spec).to_string();
        assert_eq!(error("env:"), "`env:` names nothing: write env:NAME");
        assert_eq!(error("file: "), "`file:` names nothing: write file:PATH");
        for shown in ["command:op …", "command:…"] {
            assert!(error(shown).contains("write the whole command"), "{shown}");
        }
        // A real command may end in an ellipsis.
        assert!("command:cat /keys/LangSmith…".parse::<KeySource>().is_ok());
        assert!("command:op read x …".parse::<KeySource>().is_ok());
        assert!(names_a_kind("keyring:x") && names_a_kind("env:") && !names_a_kind("lsv2_pt_x:y"));
    }

    #[test]
    fn reads_from_injected_env() {
        let env = Env::from_pairs([("K", "lsv2_pt_abcdefghijklmnopqrstuvwxyz\n")]);
        let key = KeySource::Env("K".into()).read(&env).expect("key");
        assert_eq!(key.hint(), "lsv2_pt_…wxyz");
        let missing = KeySource::Env("NOPE".into()).read(&env).expect_err("missing");
        assert!(missing.to_string().contains("NOPE is not set;"));
    }

    #[test]
    fn names_a_near_miss_without_its_value() {
        let env = Env::from_pairs([("LANGSMITH_APIKEY", "lsv2_pt_abcdefghijklmnopqrstuvwxyz")]);
        let error = KeySource::Env("LANGSMITH_API_KEY".into())
            .read(&env)
            .expect_err("missing");
        let message = error.to_string();
        assert!(
            message.contains("LANGSMITH_API_KEY is not set (did you mean LANGSMITH_APIKEY?"),
            "{message}"
        );
        assert!(message.contains("--key-env LANGSMITH_APIKEY"), "{message}");
        assert!(!message.contains("abcdefghijklmnop"), "{message}");
    }
}
