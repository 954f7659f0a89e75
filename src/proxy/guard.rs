//! Decides whether a request may use the key at all: a head within the limits, the proxy's own
//! names only (DNS rebinding), no web pages unless allowed, the client token when one is configured, no
//! forward-proxy requests, and no request that has already passed through this proxy.

use std::sync::Arc;

use http::header::{HOST, ORIGIN};
use http::{HeaderName, Method, Request, Version};

use super::allowlist::{self, HostAllowlist, OriginAllowlist};
use super::gate::{Check, GateLayer};
use super::head_limit;
use super::{ProxyError, Shared};
use crate::secret::ClientToken;

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");
/// Hosts and targets are echoed in errors; a client may make them long.
const ECHO_MAX: usize = 100;

/// Who may use the proxy, from the configuration.
#[derive(Debug, Clone)]
pub struct GuardPolicy {
    pub hosts: HostAllowlist,
    pub origins: OriginAllowlist,
    pub token: Option<ClientToken>,
}

/// The guard step of the request path.
pub type GuardLayer = GateLayer<Guard>;

#[derive(Clone)]
pub struct Guard {
    shared: Arc<Shared>,
}

impl From<Arc<Shared>> for Guard {
    fn from(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl Check for Guard {
    fn check<B>(&self, request: &mut Request<B>) -> Result<(), ProxyError> {
        check(&self.shared, request)
    }
}

/// The checks, cheapest and most telling first. The loop check precedes the token check: a
/// looped request has lost its token on the first pass and would otherwise look unauthorised.
fn check<B>(shared: &Shared, request: &mut Request<B>) -> Result<(), ProxyError> {
    let policy = &shared.guard;
    head_limit::check(shared, request)?;
    if request.method() == Method::CONNECT {
        let target = request.uri().to_string();
        return Err(ProxyError::NotAReverseProxyRequest {
            doctor_probe: target == crate::doctor::PROBE_TARGET,
            what: format!("CONNECT {}", echo(&target)),
        });
    }
    if shared.via.seen_in(request.headers()) {
        return Err(ProxyError::ProxyLoop {
            via: shared.via.header_value().to_str().unwrap_or_default().to_owned(),
        });
    }
    check_host(&policy.hosts, request)?;
    check_origin(&policy.origins, request)?;
    if let Some(token) = &policy.token {
        token
            .verify_and_strip(request.headers_mut())
            .map_err(|problem| ProxyError::ClientTokenRequired {
                problem,
                expected: token.expected_form(),
            })?;
    }
    Ok(())
}

/// HTTP/2 names the host in `:authority`; HTTP/1 in `Host`, unless the target is absolute
/// (`GET http://host/path`), which is how clients talk to forward proxies. Every name a request
/// carries must be the proxy's: a `Host` beside `:authority` too (RFC 9113 §8.3.1).
fn check_host<B>(hosts: &HostAllowlist, request: &Request<B>) -> Result<(), ProxyError> {
    let mut values = request.headers().get_all(HOST).iter();
    let header = values.next();
    if values.next().is_some() {
        // RFC 9112 §3.2: which of them names the proxy is anyone's guess, so neither does.
        return Err(ProxyError::HostRepeated {
            count: request.headers().get_all(HOST).iter().count(),
        });
    }
    let uri = request.uri();
    let http1 = request.version() < Version::HTTP_2;
    if http1 && uri.scheme().is_none() && uri.authority().is_some() {
        // `GET host:port`: the authority form belongs to CONNECT alone.
        return Err(ProxyError::NotAReverseProxyRequest {
            what: format!("a request for {}", echo(&uri.to_string())),
            doctor_probe: false,
        });
    }
    if let Some(host) = uri.host() {
        if !hosts.allows(host) {
            return Err(if http1 {
                ProxyError::NotAReverseProxyRequest {
                    what: format!("a request for {}", echo(&uri.to_string())),
                    doctor_probe: false,
                }
            } else {
                ProxyError::HostNotAllowed { host: Some(echo(host)) }
            });
        }
        // An HTTP/1 absolute target overrides its Host header (RFC 9112 §3.2.2).
        if http1 || header.is_none() {
            return Ok(());
        }
    }
    if header.is_some_and(|value| hosts.allows_host_header(value.as_bytes())) {
        return Ok(());
    }
    match header.and_then(|value| allowlist::host_of(value.as_bytes())) {
        Some(host) if hosts.allows(&host) => Ok(()),
        Some(host) => Err(ProxyError::HostNotAllowed {
            host: Some(echo(&host)),
        }),
        None => Err(ProxyError::HostNotAllowed {
            host: header.map(|value| echo(&String::from_utf8_lossy(value.as_bytes()))),
        }),
    }
}

/// Browsers mark requests from web pages with `Origin` (cross-origin and most non-GET
/// requests) and `Sec-Fetch-Site` (all of them). The proxy serves no pages, so any page is
/// another site; even a preflight gets the refusal, never a permissive CORS answer.
fn check_origin<B>(origins: &OriginAllowlist, request: &Request<B>) -> Result<(), ProxyError> {
    let headers = request.headers();
    if let Some(origin) = headers.get(ORIGIN) {
        if origins.allows(origin.as_bytes()) {
            return Ok(());
        }
        return Err(ProxyError::OriginNotAllowed {
            origin: echo(&String::from_utf8_lossy(origin.as_bytes())),
        });
    }
    match headers.get(SEC_FETCH_SITE).map(|value| value.as_bytes()) {
        Some(site @ (b"cross-site" | b"same-site")) => Err(ProxyError::OriginNotAllowed {
            origin: format!("Sec-Fetch-Site: {}", String::from_utf8_lossy(site)),
        }),
        _ => Ok(()),
    }
}

fn echo(text: &str) -> String {
    match text.char_indices().nth(ECHO_MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
