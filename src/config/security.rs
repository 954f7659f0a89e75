//! Typed settings for who may use the proxy and how much a client may ask of it.

use std::time::Duration;

use http::HeaderName;

use super::schema::Settings;
use super::validate::Check;
use super::ConfigError;
use crate::listener::ListenAddr;
use crate::proxy::allowlist;
use crate::secret::KeySource;

/// Who may spend the key (README "Local security").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    pub allow_remote: bool,
    /// Extra host names the proxy answers to, normalized; loopback names are always allowed.
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed to send requests, normalized (`http://localhost:3000`).
    pub allowed_origins: Vec<String>,
    pub client_token: Option<ClientTokenConfig>,
    pub unix_socket_mode: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTokenConfig {
    pub source: KeySource,
    pub header: HeaderName,
}

/// Bounds on what one client can hold of the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// hyper refuses a smaller HTTP/1 read buffer, which is what bounds the header size.
const MIN_HEADER_BYTES: usize = 8192;

/// Headers the proxy sets or reads itself, so a client token cannot travel in them.
const RESERVED_HEADERS: [&str; 4] = ["host", "x-api-key", "x-tenant-id", "x-request-id"];

pub(super) fn security(check: &Check<'_>, s: &Settings, listen: &ListenAddr) -> Result<Security, ConfigError> {
    let allowed_hosts = s
        .allowed_hosts
        .iter()
        .map(|entry| check.parse("allowed_hosts", entry, allowlist::parse_host_entry))
        .collect::<Result<_, _>>()?;
    let allowed_origins = s
        .allowed_origins
        .iter()
        .map(|entry| check.parse("allowed_origins", entry, allowlist::parse_origin_entry))
        .collect::<Result<_, _>>()?;
    let token_source = s
        .client_token
        .source
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            check.parse("client_token.source", v, |v| {
                v.parse::<KeySource>().map_err(|e| e.to_string())
            })
        })
        .transpose()?;
    let client_token = match token_source {
        Some(source) => Some(ClientTokenConfig {
            source,
            header: check.parse("client_token.header", &s.client_token.header, parse_token_header)?,
        }),
        None => None,
    };
    if listen.is_remote() && !s.allow_remote && client_token.is_none() {
        return Err(check.invalid(
            "listen",
            &s.listen,
            "not a loopback address: anything that can reach it could spend the LangSmith key. Listen on \
             127.0.0.1, or accept the exposure with allow_remote = true (flag --allow-remote), or require a \
             client token (client_token.source = \"env:NAME\" or \"file:PATH\")"
                .to_owned(),
        ));
    }
    Ok(Security {
        allow_remote: s.allow_remote,
        allowed_hosts,
        allowed_origins,
        client_token,
        unix_socket_mode: check.parse("unix_socket_mode", &s.unix_socket_mode, parse_mode)?,
    })
}

pub(super) fn limits(check: &Check<'_>, s: &Settings) -> Result<Limits, ConfigError> {
    let l = &s.limits;
    Ok(Limits {
        max_header_bytes: check.parse("limits.max_header_bytes", &l.max_header_bytes, |v| {
            count(v, MIN_HEADER_BYTES, u32::MAX as usize)
        })?,
        max_headers: check.parse("limits.max_headers", &l.max_headers, |v| count(v, 1, 10_000))?,
        header_read_timeout: check.duration_at_least(
            "limits.header_read_timeout",
            &l.header_read_timeout,
            Duration::ZERO,
            "every client would be closed before it could send a request",
        )?,
        idle_timeout: check.duration_at_least(
            "limits.idle_timeout",
            &l.idle_timeout,
            Duration::ZERO,
            "every connection would be closed as soon as it falls idle",
        )?,
        max_connections: check.parse("limits.max_connections", &l.max_connections, |v| count(v, 1, 1_000_000))?,
    })
}

fn count(value: &str, min: usize, max: usize) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from {min} to {max}")),
    }
}

/// Octal file permissions such as 0600 or 660.
fn parse_mode(value: &str) -> Result<u32, String> {
    u32::from_str_radix(value.trim(), 8)
        .ok()
        .filter(|mode| *mode <= 0o777)
        .ok_or_else(|| "expected octal permissions such as 0600 (owner only) or 0660 (owner and group)".to_owned())
}

fn parse_token_header(value: &str) -> Result<HeaderName, String> {
    let name = HeaderName::from_bytes(value.trim().as_bytes())
        .map_err(|_| "expected a header name such as proxy-authorization or x-proxy-token".to_owned())?;
    if RESERVED_HEADERS.contains(&name.as_str()) {
        return Err(format!(
            "{name} is used by the proxy itself; pick another header such as x-proxy-token"
        ));
    }
    Ok(name)
}
