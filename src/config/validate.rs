//! Turns the string settings into typed ones; every error names the key and its origin.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::HeaderValue;

use super::layers::{Layers, Origin};
use super::log_filter;
use super::schema::Settings;
use super::security::{self, Limits, Security};
use super::ConfigError;
use crate::env::Env;
use crate::listener::ListenAddr;
use crate::secret::{KeySource, KEY_PREFIXES};
use crate::upstream::Upstream;

/// What to do with credentials the client sends itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCredentials {
    /// Drop the client's `x-api-key`/`Authorization` and send the proxy's key.
    Replace,
    /// Forward the client's own credential when it sends one; otherwise inject.
    KeepIfPresent,
    /// Refuse requests that carry their own credential (400).
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub response_header: Duration,
    pub pool_idle: Duration,
    pub shutdown_grace: Duration,
    pub shutdown_delay: Duration,
}

/// Longer than any timeout or period needs, and short enough that adding it to a clock reading
/// cannot overflow. humantime's year (`1y`), 365.25 days.
const MAX_DURATION: Duration = Duration::from_secs(31_557_600);
/// `key.refresh` is also the key check's TTL: below this, LangSmith would be asked on nearly
/// every request.
const MIN_KEY_REFRESH: Duration = Duration::from_secs(1);

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: ListenAddr,
    pub admin_listen: SocketAddr,
    pub upstream: Upstream,
    pub upstream_ca_file: Option<PathBuf>,
    pub workspace_id: Option<HeaderValue>,
    pub client_credentials: ClientCredentials,
    /// Threads serving connections, `auto` resolved.
    pub workers: usize,
    pub key_source: KeySource,
    pub key_refresh: Duration,
    /// `key.command_timeout`: how long a key source may take to answer.
    pub key_read_timeout: Duration,
    pub key_check: bool,
    /// Every SaaS region by name, including the configured upstream's own.
    pub regions: Vec<(String, Upstream)>,
    pub timeouts: Timeouts,
    pub ready_requires_valid_key: bool,
    pub alert_auth_failures: usize,
    pub alert_window: Duration,
    /// `None` means: pretty on a terminal, JSON otherwise.
    pub log_format: Option<LogFormat>,
    pub log_level: String,
    pub security: Security,
    pub limits: Limits,
    /// The effective settings as strings, for `langsmith-proxy config`.
    pub settings: Settings,
    /// Where the settings read at start (not at load) came from, for their errors.
    pub origins: StartOrigins,
}

/// The layers that set the sources and files the proxy reads when it starts.
#[derive(Debug, Clone)]
pub struct StartOrigins {
    pub key_source: Origin,
    pub upstream_ca_file: Origin,
    pub client_token: Origin,
}

pub(super) struct Check<'a> {
    layers: &'a Layers,
}

impl Check<'_> {
    pub(super) fn parse<T>(
        &self,
        key: &'static str,
        value: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        parse(value).map_err(|problem| self.invalid(key, value, problem))
    }

    pub(super) fn invalid(&self, key: &str, value: &str, problem: String) -> ConfigError {
        ConfigError::invalid(key, value, self.layers.origin(key), problem)
    }

    pub(super) fn duration(&self, key: &'static str, value: &str) -> Result<Duration, ConfigError> {
        self.parse(key, value, |v| {
            let duration =
                humantime::parse_duration(v).map_err(|e| format!("{e}; write a duration such as 500ms, 10s or 5m"))?;
            if duration > MAX_DURATION {
                return Err("longer than a year; write a duration such as 500ms, 10s or 5m".to_owned());
            }
            Ok(duration)
        })
    }

    /// [`Self::duration`], refused when zero or shorter than `min`; `why` says what such a
    /// value would do.
    pub(super) fn duration_at_least(
        &self,
        key: &'static str,
        value: &str,
        min: Duration,
        why: &str,
    ) -> Result<Duration, ConfigError> {
        let duration = self.duration(key, value)?;
        if duration.is_zero() || duration < min {
            let bound = if min.is_zero() {
                "longer than 0".to_owned()
            } else {
                format!("at least {}", humantime::format_duration(min))
            };
            return Err(self.invalid(key, value, format!("must be {bound}: {why}")));
        }
        Ok(duration)
    }

    /// `env:NAME` or `file:PATH`. A key pasted in place of the source is refused without
    /// echoing it: the message goes to a terminal or a log.
    fn key_source(&self, value: &str) -> Result<KeySource, ConfigError> {
        let named = value.split_once(':').map_or(value, |(_, rest)| rest);
        if [value, named]
            .iter()
            .any(|v| KEY_PREFIXES.iter().any(|prefix| v.trim().starts_with(prefix)))
        {
            return Err(ConfigError::KeyAsSource {
                origin: self.layers.origin("key.source"),
            });
        }
        self.parse("key.source", value, |v| {
            v.parse::<KeySource>().map_err(|e| e.to_string())
        })
    }

    fn socket_addr(&self, key: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
        self.parse(key, value, |v| {
            v.parse::<SocketAddr>()
                .map_err(|_| "expected IP:PORT such as 127.0.0.1:7878 or [::1]:7878".to_owned())
        })
    }
}

pub(super) fn admin_listen(layers: &Layers) -> Result<SocketAddr, ConfigError> {
    Check { layers }.socket_addr("admin_listen", &layers.settings.admin_listen)
}

pub(super) fn validate(layers: &Layers, env: &Env) -> Result<Config, ConfigError> {
    let s = &layers.settings;
    let check = Check { layers };
    let optional = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };

    if let Some((name, problem)) = s
        .regions
        .keys()
        .find_map(|name| check_region_name(name).err().map(|e| (name, e)))
    {
        let key = format!("regions.{name}");
        let value = s.regions.get(name).cloned().unwrap_or_default();
        return Err(ConfigError::invalid(
            &key,
            &value,
            layers.origin_in_table("regions", name),
            problem,
        ));
    }
    let regions = Upstream::regions(s.regions.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map_err(|(name, e)| {
        let key = format!("regions.{name}");
        let value = s.regions.get(&name).cloned().unwrap_or_default();
        ConfigError::invalid(&key, &value, layers.origin_in_table("regions", &name), e.to_string())
    })?;
    let upstream = check.parse("upstream", &s.upstream, |v| {
        Upstream::parse(v, &regions).map_err(|e| e.to_string())
    })?;
    let command_timeout = check.duration_at_least(
        "key.command_timeout",
        &s.key.command_timeout,
        Duration::ZERO,
        "every key read would time out at once",
    )?;
    let workspace_id = match (optional(&s.workspace_id), optional(&s.workspace_id_source)) {
        (Some(_), Some(spec)) => {
            return Err(ConfigError::invalid(
                "workspace_id_source",
                &spec,
                layers.origin("workspace_id_source"),
                "workspace_id is set too; set one of them".to_owned(),
            ))
        }
        (Some(id), None) => Some(check.parse("workspace_id", &id, parse_workspace_id)?),
        (None, Some(spec)) => Some(check.parse("workspace_id_source", &spec, |v| {
            read_workspace_id(v, command_timeout, env)
        })?),
        (None, None) => None,
    };
    let client_credentials = check.parse("client_credentials", &s.client_credentials, |v| match v {
        "replace" => Ok(ClientCredentials::Replace),
        "keep-if-present" => Ok(ClientCredentials::KeepIfPresent),
        "reject" => Ok(ClientCredentials::Reject),
        _ => Err("expected replace, keep-if-present or reject".to_owned()),
    })?;
    let log_format = check.parse("log.format", &s.log.format, |v| match v {
        "auto" => Ok(None),
        "pretty" => Ok(Some(LogFormat::Pretty)),
        "json" => Ok(Some(LogFormat::Json)),
        _ => Err("expected auto, pretty or json".to_owned()),
    })?;
    let log_level = check.parse("log.level", &s.log.level, log_filter::check)?;

    if s.ready_requires_valid_key && !s.key.check {
        return Err(ConfigError::invalid(
            "ready_requires_valid_key",
            "true",
            layers.origin("ready_requires_valid_key"),
            format!(
                "`key.check` is false (from {}), so the key is never validated and /ready would never be ready; \
                 set key.check = true or ready_requires_valid_key = false",
                layers.origin("key.check")
            ),
        ));
    }
    let listen = check.parse("listen", &s.listen, str::parse::<ListenAddr>)?;
    let admin_listen = check.socket_addr("admin_listen", &s.admin_listen)?;
    // A port of 0 is a different free port for each. An unspecified address takes the port on
    // every address of its family: 0.0.0.0 on IPv4, [::] on IPv6 and (dual-stack) IPv4 too.
    let covers = |wildcard: &SocketAddr, other: &SocketAddr| {
        wildcard.ip().is_unspecified() && (wildcard.is_ipv6() || wildcard.is_ipv4() == other.is_ipv4())
    };
    let overlaps = |addr: &SocketAddr| {
        addr.port() == admin_listen.port()
            && addr.port() != 0
            && (addr.ip() == admin_listen.ip() || covers(addr, &admin_listen) || covers(&admin_listen, addr))
    };
    if matches!(&listen, ListenAddr::Tcp(addr) if overlaps(addr)) {
        return Err(ConfigError::invalid(
            "admin_listen",
            &s.admin_listen,
            layers.origin("admin_listen"),
            format!(
                "it takes the port of `listen` ({listen}, from {}); give the admin endpoints a port of their own, e.g. {}:{}",
                layers.origin("listen"),
                admin_listen.ip(),
                admin_listen.port().wrapping_add(1).max(1)
            ),
        ));
    }
    let security = security::security(&check, s, &listen)?;
    let limits = security::limits(&check, s)?;

    Ok(Config {
        listen,
        admin_listen,
        upstream,
        upstream_ca_file: optional(&s.upstream_ca_file).map(PathBuf::from),
        workspace_id,
        client_credentials,
        workers: check.parse("workers", &s.workers, workers)?,
        key_source: check.key_source(&s.key.source)?.with_command_timeout(command_timeout),
        key_refresh: check.duration_at_least(
            "key.refresh",
            &s.key.refresh,
            MIN_KEY_REFRESH,
            "a shorter one re-reads the key and re-checks it with LangSmith on nearly every request",
        )?,
        key_read_timeout: command_timeout,
        key_check: s.key.check,
        regions,
        timeouts: Timeouts {
            connect: check.duration_at_least(
                "timeouts.connect",
                &s.timeouts.connect,
                Duration::ZERO,
                "every upstream connection would time out at once",
            )?,
            response_header: check.duration_at_least(
                "timeouts.response_header",
                &s.timeouts.response_header,
                Duration::ZERO,
                "every request would time out before LangSmith could answer",
            )?,
            pool_idle: check.duration("timeouts.pool_idle", &s.timeouts.pool_idle)?,
            shutdown_grace: check.duration("timeouts.shutdown_grace", &s.timeouts.shutdown_grace)?,
            shutdown_delay: check.duration("timeouts.shutdown_delay", &s.timeouts.shutdown_delay)?,
        },
        ready_requires_valid_key: s.ready_requires_valid_key,
        alert_auth_failures: s.alerts.auth_failures as usize,
        alert_window: check.duration_at_least(
            "alerts.window",
            &s.alerts.window,
            Duration::ZERO,
            "no failures would ever fall within it, so the burst alert would never fire (alerts.auth_failures = 0 turns it off)",
        )?,
        log_format,
        log_level,
        security,
        limits,
        settings: s.clone(),
        origins: StartOrigins {
            key_source: layers.origin("key.source"),
            upstream_ca_file: layers.origin("upstream_ca_file"),
            client_token: layers.origin("client_token.source"),
        },
    })
}

/// Most threads `workers` may ask for: far more than one proxy can use.
const MAX_WORKERS: usize = 256;
/// Most threads `auto` picks: each worker has its own upstream pool, so each more is one more
/// connection (and TLS handshake) to LangSmith, and four carry far more than an app sends.
const MAX_AUTO_WORKERS: usize = 4;

/// `auto`: one per CPU this process may use (cgroup limits included), at most
/// [`MAX_AUTO_WORKERS`]; else a number.
fn workers(value: &str) -> Result<usize, String> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("auto") {
        return Ok(std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_AUTO_WORKERS)));
    }
    match value.parse::<usize>() {
        Ok(n) if (1..=MAX_WORKERS).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected auto (one per CPU) or a whole number from 1 to {MAX_WORKERS}"
        )),
    }
}

/// Reads the workspace id from a source at load, so every later step sees a plain setting.
/// The text read is never echoed: the source may be the wrong file, a key for instance.
fn read_workspace_id(spec: &str, command_timeout: std::time::Duration, env: &Env) -> Result<HeaderValue, String> {
    let source = spec
        .parse::<KeySource>()
        .map_err(|e| e.to_string())?
        .with_command_timeout(command_timeout);
    let text = source.read_text(env).map_err(|error| error.to_string())?;
    parse_workspace_id(text.trim()).map_err(|problem| format!("what {source} holds is not usable: {problem}"))
}

/// Workspace ids are UUIDs; catching a pasted name or URL here beats a 403 later.
fn parse_workspace_id(value: &str) -> Result<HeaderValue, String> {
    uuid::Uuid::parse_str(value)
        .map_err(|_| "expected a workspace UUID (LangSmith → Settings → Workspaces shows it)".to_owned())
        .and_then(|id| HeaderValue::from_str(&id.hyphenated().to_string()).map_err(|e| e.to_string()))
}

/// A region's name: the same in a file, a variable (`LANGSMITH_PROXY_REGIONS__NAME`, which
/// arrives lower-cased) and a flag, so lower-case letters, digits, `-` and `_` only.
pub fn check_region_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
    if !name.is_empty() && name.chars().all(allowed) {
        return Ok(());
    }
    Err(format!(
        "a region name is lower-case letters, digits, - and _ (it is also read from LANGSMITH_PROXY_REGIONS__NAME): write `{}`",
        name.to_ascii_lowercase().replace(|c: char| !allowed(c), "_")
    ))
}
