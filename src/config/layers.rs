//! Builds the layered configuration (defaults < file < env < flags) with config-rs, and keeps
//! each layer on its own so an error can name the source of the offending value.

use std::fmt;
use std::path::PathBuf;

use config::{Config as ConfigRs, Environment, File, FileFormat};
use serde_json::Value as Json;

use super::schema::Settings;
use super::ConfigError;
use crate::env::Env;

pub const ENV_PREFIX: &str = "LANGSMITH_PROXY";

/// Added to an unknown-name error from the environment: a secret kept in a variable such as
/// `LANGSMITH_PROXY_CLIENT_TOKEN` is read as a setting too, and stops the start.
const ENV_PREFIX_NOTE: &str = "; variables starting with LANGSMITH_PROXY_ are read as settings, so keep a secret \
     (a client token, a key) in a variable with another name, e.g. `client_token.source = \"env:PROXY_CLIENT_TOKEN\"`";

/// A setting given on the command line.
#[derive(Debug, Clone)]
pub struct FlagValue {
    pub key: String,
    pub flag: &'static str,
    pub value: String,
}

/// Where the settings come from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `--config PATH`: must exist.
    pub file: Option<PathBuf>,
    /// Read when present and no `--config` was given.
    pub default_file: Option<PathBuf>,
    pub flags: Vec<FlagValue>,
}

/// The source of one setting's effective value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Env(String),
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("the built-in default"),
            Self::File(path) => write!(f, "config file {}", path.display()),
            Self::Env(var) => write!(f, "environment variable {var}"),
            Self::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// The merged settings plus each layer, for [`Layers::origin`].
pub struct Layers {
    pub settings: Settings,
    file: Option<(PathBuf, Json)>,
    env: Json,
    flags: Vec<FlagValue>,
}

impl Layers {
    pub fn load(sources: &Sources, env: &Env) -> Result<Self, ConfigError> {
        let file_path = match (&sources.file, &sources.default_file) {
            (Some(path), _) if !path.exists() => return Err(ConfigError::FileNotFound { path: path.clone() }),
            (Some(path), _) => Some(path.clone()),
            (None, Some(path)) if path.is_file() => Some(path.clone()),
            (None, _) => None,
        };
        // Read once: the same text feeds the file's own layer and the merge, and a pipe
        // (`--config <(...)`) can be read only once.
        let file_read = match file_path {
            Some(path) => match std::fs::read_to_string(&path) {
                Ok(text) => Some((path, text)),
                Err(error) => {
                    return Err(ConfigError::Unreadable {
                        origin: Origin::File(path),
                        message: error.to_string(),
                    })
                }
            },
            None => None,
        };
        let file = match &file_read {
            Some((path, text)) => Some((
                path.clone(),
                layer_json(file_source(text), &Origin::File(path.clone()))?,
            )),
            None => None,
        };
        refuse_names_differing_in_case(env)?;
        refuse_values_not_text(env)?;
        refuse_nameless_variable(env)?;
        let env_layer = layer_json(env_source(env), &Origin::Env(ENV_PREFIX.to_owned() + "_*"))?;

        let known = known_keys();
        if let Some((path, json)) = &file {
            reject_unknown(json, &known, |_| Origin::File(path.clone()))?;
            reject_loose_types(json, &Origin::File(path.clone()))?;
        }
        reject_unknown(&env_layer, &known, |key| Origin::Env(env_var_name(key)))?;
        let mut layers = Self {
            settings: Settings::default(),
            file,
            env: env_layer,
            flags: sources.flags.clone(),
        };

        let mut builder =
            ConfigRs::builder().add_source(ConfigRs::try_from(&Settings::default()).map_err(ConfigError::internal)?);
        if let Some((_, text)) = &file_read {
            builder = builder.add_source(file_source(text));
        }
        builder = builder.add_source(env_source(env));
        for flag in &sources.flags {
            builder = builder
                .set_override(flag.key.as_str(), flag.value.clone())
                .map_err(ConfigError::internal)?;
        }
        layers.settings = builder
            .build()
            .and_then(|merged| merged.try_deserialize::<Settings>())
            .map_err(|error| layers.wrong_type(error))?;
        Ok(layers)
    }

    /// A value of the wrong type (a table where a string belongs), blamed on its layer.
    fn wrong_type(&self, error: config::ConfigError) -> ConfigError {
        match error {
            config::ConfigError::Type {
                key: Some(key),
                unexpected,
                expected,
                ..
            } => ConfigError::WrongType {
                origin: self.origin(&key),
                key,
                problem: format!("expected {expected}, found {unexpected}"),
            },
            other => ConfigError::internal(other),
        }
    }

    /// [`Self::origin`] of the entry `name` of the table `table` (`regions`): a name the user
    /// picks may hold a dot, which a dotted key would split.
    pub fn origin_in_table(&self, table: &str, name: &str) -> Origin {
        let key = format!("{table}.{name}");
        if let Some(flag) = self.flags.iter().rev().find(|f| f.key == key) {
            return Origin::Flag(flag.flag);
        }
        let entry = |json: &Json| lookup(json, table).and_then(|entries| entries.get(name)).is_some();
        if entry(&self.env) {
            return Origin::Env(env_var_name(&key));
        }
        match &self.file {
            Some((path, json)) if entry(json) => Origin::File(path.clone()),
            _ => Origin::Default,
        }
    }

    /// Which layer supplied the effective value of `key` (dotted, e.g. `timeouts.connect`).
    pub fn origin(&self, key: &str) -> Origin {
        if let Some(flag) = self.flags.iter().rev().find(|f| f.key == key) {
            return Origin::Flag(flag.flag);
        }
        if lookup(&self.env, key).is_some() {
            return Origin::Env(env_var_name(key));
        }
        match &self.file {
            Some((path, json)) if lookup(json, key).is_some() => Origin::File(path.clone()),
            _ => Origin::Default,
        }
    }
}

/// `timeouts.connect` → `LANGSMITH_PROXY_TIMEOUTS__CONNECT`.
pub fn env_var_name(key: &str) -> String {
    format!("{ENV_PREFIX}_{}", key.replace('.', "__").to_ascii_uppercase())
}

fn file_source(text: &str) -> File<config::FileSourceString, FileFormat> {
    File::from_str(text, FileFormat::Toml)
}

fn env_source(env: &Env) -> Environment {
    let vars = env
        .with_prefix(&format!("{ENV_PREFIX}_"))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Environment::with_prefix(ENV_PREFIX)
        .prefix_separator("_")
        .separator("__")
        .source(Some(vars))
}

/// `LANGSMITH_PROXY_listen` and `LANGSMITH_PROXY_LISTEN` name the same setting (config-rs reads
/// names in lower case), and which one won would be down to chance.
fn refuse_names_differing_in_case(env: &Env) -> Result<(), ConfigError> {
    let mut seen: std::collections::HashMap<String, &str> = std::collections::HashMap::new();
    for (name, _) in env.with_prefix(&format!("{ENV_PREFIX}_")) {
        if let Some(first) = seen.insert(name.to_ascii_lowercase(), name) {
            return Err(ConfigError::Unreadable {
                origin: Origin::Env(name.to_owned()),
                message: format!(
                    "{first} is set too, and the two differ only in case: they name the same setting; unset one"
                ),
            });
        }
    }
    Ok(())
}

/// `LANGSMITH_PROXY_` alone names no setting; config-rs would report an unknown field named
/// nothing.
fn refuse_nameless_variable(env: &Env) -> Result<(), ConfigError> {
    let prefix = format!("{ENV_PREFIX}_");
    match env.names().find(|name| name.eq_ignore_ascii_case(&prefix)) {
        Some(name) => Err(ConfigError::Unreadable {
            origin: Origin::Env(name.to_owned()),
            message: format!("{prefix} alone names no setting: unset it, or add the setting's name ({prefix}LISTEN)"),
        }),
        None => Ok(()),
    }
}

/// A setting whose value is not UTF-8 would be left out, and the default used in its place.
fn refuse_values_not_text(env: &Env) -> Result<(), ConfigError> {
    let prefix = format!("{ENV_PREFIX}_");
    // Names are read in any case.
    let is_setting = |name: &&str| {
        name.get(..prefix.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(&prefix))
    };
    match env.names_not_text().find(is_setting) {
        Some(name) => Err(ConfigError::Unreadable {
            origin: Origin::Env(name.to_owned()),
            message: "its value is not UTF-8 text (settings are text): set it again".to_owned(),
        }),
        None => Ok(()),
    }
}

fn layer_json(source: impl config::Source + Send + Sync + 'static, origin: &Origin) -> Result<Json, ConfigError> {
    ConfigRs::builder()
        .add_source(source)
        .build()
        .and_then(|layer| layer.try_deserialize::<Json>())
        .map_err(|error| ConfigError::Unreadable {
            origin: origin.clone(),
            message: without_quoted_lines(&error.to_string()),
        })
}

/// A TOML error without the lines it quotes from the file (`2 | source = ...`), which may hold
/// a secret typed without quotes: the line and column it names are enough to find it.
fn without_quoted_lines(message: &str) -> String {
    let quoted = |line: &str| {
        let line = line.trim_start();
        let rest = line.trim_start_matches(|c: char| c.is_ascii_digit());
        rest.len() < line.len() && rest.trim_start().starts_with('|')
    };
    let kept: Vec<&str> = message.lines().filter(|line| !quoted(line)).collect();
    crate::secret::redact_keys(&kept.join("\n"))
}

/// The one table whose keys are names the user picks: regions beyond the built-in four.
const OPEN_TABLE: &str = "regions.";

/// Every dotted leaf key of the schema, from the serialized defaults.
fn known_keys() -> Vec<String> {
    let defaults = serde_json::to_value(Settings::default()).unwrap_or(Json::Null);
    let mut keys = Vec::new();
    leaf_keys(&defaults, "", &mut keys);
    keys
}

fn leaf_keys(value: &Json, prefix: &str, out: &mut Vec<String>) {
    match value {
        Json::Object(map) => {
            for (name, child) in map {
                let key = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                leaf_keys(child, &key, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

fn reject_unknown(layer: &Json, known: &[String], origin: impl Fn(&str) -> Origin) -> Result<(), ConfigError> {
    let mut keys = Vec::new();
    leaf_keys(layer, "", &mut keys);
    // A table given where a value belongs is caught by deserialization.
    let Some(key) = keys.iter().filter(|key| !key.is_empty()).find(|key| {
        !key.starts_with(OPEN_TABLE) && !known.iter().any(|k| k == *key || key.starts_with(&format!("{k}.")))
    }) else {
        return Ok(());
    };
    // `timeouts = "5s"`: a value where a group of settings belongs.
    let group: Vec<String> = known
        .iter()
        .filter(|k| k.starts_with(&format!("{key}.")))
        .cloned()
        .collect();
    let origin = origin(key);
    let env_note = match origin {
        Origin::Env(_) => ENV_PREFIX_NOTE,
        _ => "",
    };
    Err(if group.is_empty() {
        ConfigError::UnknownKey {
            close: close_keys(key, known),
            key: key.clone(),
            origin,
            env_note,
        }
    } else {
        ConfigError::NotAValue {
            key: key.clone(),
            origin,
            settings: group.join(", "),
            env_note,
        }
    })
}

/// The known settings an unknown `key` most likely meant: one or two edits away (`listn`,
/// `timeout.connect`), the same but for case, or the same last name in another group (`source`
/// for `key.source`). At most three.
fn close_keys(key: &str, known: &[String]) -> Vec<String> {
    let key = key.to_ascii_lowercase();
    let last = |name: &str| name.rsplit('.').next().unwrap_or_default().to_owned();
    known
        .iter()
        .filter(|candidate| {
            strsim::osa_distance(&key, candidate) <= 2 || (key.len() > 3 && last(candidate) == last(&key))
        })
        .take(3)
        .cloned()
        .collect()
}

/// A TOML number where a switch belongs (`allow_remote = 2`), or a fraction or a switch where
/// a numeric setting belongs (`auth_failures = 1.5`, `= true`): config-rs would convert them
/// silently, into `true` for a security switch. Settings kept as text (`workers`, the limits)
/// are parsed, and checked, as text. (Quoted values are text, as in the environment.)
fn reject_loose_types(layer: &Json, origin: &Origin) -> Result<(), ConfigError> {
    let defaults = serde_json::to_value(Settings::default()).unwrap_or(Json::Null);
    let mut keys = Vec::new();
    leaf_keys(layer, "", &mut keys);
    for key in keys {
        let (Some(default), Some(found)) = (lookup(&defaults, &key), lookup(layer, &key)) else {
            continue;
        };
        let whole_number = |value: &Json| value.is_u64() || value.is_i64();
        let expected = match default {
            Json::Bool(_) if found.is_number() => "true or false",
            number if whole_number(number) && (found.is_f64() || found.is_boolean()) => "a whole number",
            _ => continue,
        };
        return Err(ConfigError::WrongType {
            origin: origin.clone(),
            problem: format!("expected {expected}, found {found}"),
            key,
        });
    }
    Ok(())
}

fn lookup<'a>(json: &'a Json, key: &str) -> Option<&'a Json> {
    key.split('.')
        .try_fold(json, |node, part| node.get(part))
        .filter(|value| !value.is_null())
}
