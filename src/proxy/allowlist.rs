//! The host names the proxy answers to and the browser origins it trusts.

use std::net::Ipv6Addr;

use http::uri::{Authority, Scheme};
use http::Uri;

use crate::listener::ListenAddr;

/// Names every local client may use, whatever the configuration.
const LOOPBACK: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Host names without port, lower case, IPv6 without brackets.
#[derive(Debug, Clone)]
pub struct HostAllowlist {
    names: Vec<String>,
}

impl HostAllowlist {
    /// The loopback names, the listen address's host, and the configured extras.
    pub fn new(listen: &ListenAddr, extra: &[String]) -> Self {
        let mut names: Vec<String> = LOOPBACK.iter().map(|name| (*name).to_owned()).collect();
        if let ListenAddr::Tcp(addr) = listen {
            names.push(addr.ip().to_string());
        }
        names.extend(extra.iter().cloned());
        names.sort();
        names.dedup();
        Self { names }
    }

    /// Whether `host` (as in a URI or `Host` header, without port) is one of ours.
    pub fn allows(&self, host: &str) -> bool {
        let host = trim_host(host);
        self.names.iter().any(|name| name.eq_ignore_ascii_case(host))
    }

    /// Whether a `Host` header value is exactly `NAME` or `NAME:PORT` for one of ours, with a
    /// name of plain host-name characters or a bracketed IPv6 address. Checked on every request,
    /// so it allocates nothing; whatever it does not accept goes through [`host_of`], which also
    /// words the refusal.
    pub fn allows_host_header(&self, value: &[u8]) -> bool {
        let Ok(value) = std::str::from_utf8(value) else {
            return false;
        };
        let (host, rest) = if let Some(bracketed) = value.strip_prefix('[') {
            let Some(end) = bracketed.find(']') else {
                return false;
            };
            let address = &bracketed[..end];
            if !address
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))
            {
                return false;
            }
            value.split_at(end + 2)
        } else {
            let end = value.find(':').unwrap_or(value.len());
            let name = &value[..end];
            if !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
            {
                return false;
            }
            value.split_at(end)
        };
        let port_ok = rest.is_empty()
            || rest
                .strip_prefix(':')
                .is_some_and(|port| (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit()));
        port_ok && self.allows(host)
    }
}

/// Origins as browsers serialize them: `scheme://host[:port]`, lower case.
#[derive(Debug, Clone, Default)]
pub struct OriginAllowlist {
    origins: Vec<String>,
}

impl OriginAllowlist {
    pub fn new(origins: &[String]) -> Self {
        Self {
            origins: origins.to_vec(),
        }
    }

    pub fn allows(&self, origin: &[u8]) -> bool {
        self.origins
            .iter()
            .any(|allowed| allowed.as_bytes().eq_ignore_ascii_case(origin))
    }
}

/// The host part of a `Host` header value, if it is well formed.
pub fn host_of(value: &[u8]) -> Option<String> {
    let authority = Authority::try_from(value).ok()?;
    // `user@host` is legal in a URI authority but never in a Host header.
    if authority.as_str().contains('@') {
        return None;
    }
    Some(authority.host().to_owned())
}

/// A host without IPv6 brackets and the trailing dot of a fully qualified name.
fn trim_host(host: &str) -> &str {
    host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.')
}

fn normalize(host: &str) -> String {
    trim_host(host).to_ascii_lowercase()
}

/// A quote in a list entry: most likely `["a","b"]` in an environment variable, split at its comma.
const JSON_LIST: &str =
    "; a list in an environment variable is comma-separated (a,b), not JSON; in the config file it is a TOML array";

/// Checks one `allowed_hosts` entry: a host name or IP address, without scheme or port.
pub fn parse_host_entry(entry: &str) -> Result<String, String> {
    let entry = entry.trim();
    if entry.contains('"') {
        return Err(format!("expected a bare host name{JSON_LIST}"));
    }
    if let Some(inner) = entry.strip_prefix('[') {
        return match inner.strip_suffix(']').map(str::parse::<Ipv6Addr>) {
            Some(Ok(ip)) => Ok(ip.to_string()),
            _ => Err("expected an IPv6 address in brackets such as [::1], without a port".to_owned()),
        };
    }
    if let Ok(ip) = entry.parse::<Ipv6Addr>() {
        return Ok(ip.to_string());
    }
    if entry.contains("://") || entry.contains('/') {
        return Err("expected a bare host name such as myhost.local, without scheme or path".to_owned());
    }
    if entry.contains(':') {
        return Err("leave out the port: the proxy accepts its host names on any port".to_owned());
    }
    let valid = !entry.is_empty()
        && entry
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if valid {
        Ok(normalize(entry))
    } else {
        Err("expected a host name or IP address such as myhost.local or 192.168.1.20".to_owned())
    }
}

/// Checks one `allowed_origins` entry and writes it the way browsers send `Origin`.
pub fn parse_origin_entry(entry: &str) -> Result<String, String> {
    if entry.contains('"') {
        return Err(format!("expected an origin such as http://localhost:3000{JSON_LIST}"));
    }
    let problem =
        || "expected an origin such as http://localhost:3000 (scheme, host, optional port; no path)".to_owned();
    let uri: Uri = entry.trim().parse().map_err(|_| problem())?;
    let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
        return Err(problem());
    };
    let has_path = !matches!(uri.path(), "" | "/") || uri.query().is_some();
    if has_path || authority.as_str().contains('@') || (*scheme != Scheme::HTTP && *scheme != Scheme::HTTPS) {
        return Err(problem());
    }
    // Read as no port, `:99999` would allow the scheme's default port instead.
    if let Some(port) = crate::upstream::unusable_port(authority) {
        return Err(format!("port {port} is not a TCP port (1 to 65535)"));
    }
    let default_port = if *scheme == Scheme::HTTP { 80 } else { 443 };
    let host = authority.host().to_ascii_lowercase();
    Ok(match authority.port_u16() {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_without_port_and_case() {
        let listen: ListenAddr = "192.168.1.20:7878".parse().expect("addr");
        let hosts = HostAllowlist::new(&listen, &["proxy.lan".to_owned()]);
        for host in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "[::1]",
            "192.168.1.20",
            "proxy.lan",
            "localhost.",
        ] {
            assert!(hosts.allows(host), "{host}");
        }
        for host in ["evil.example", "localhost.evil.example", "127.0.0.2", ""] {
            assert!(!hosts.allows(host), "{host}");
        }
        assert_eq!(host_of(b"[::1]:7878").as_deref(), Some("[::1]"));
        assert_eq!(host_of(b"user@localhost"), None);
    }

    /// The allocation-free check accepts only what the full parse accepts too.
    #[test]
    fn host_headers_are_checked_without_parsing() {
        let listen: ListenAddr = "127.0.0.1:7878".parse().expect("addr");
        let hosts = HostAllowlist::new(&listen, &["proxy.lan".to_owned()]);
        let slow = |value: &[u8]| host_of(value).is_some_and(|host| hosts.allows(&host));
        for value in [
            "localhost",
            "LocalHost:7878",
            "127.0.0.1:7878",
            "[::1]:7878",
            "[::1]",
            "proxy.lan:80",
        ] {
            assert!(hosts.allows_host_header(value.as_bytes()), "{value}");
            assert!(slow(value.as_bytes()), "{value}");
        }
        let refused = [
            "::1",
            "localhost]",
            "localhost]:7878",
            "[[localhost]",
            "[localhost]",
            "localhost.]",
            "[::1]]",
            "localhost:",
            "localhost:x",
            "localhost:7878:1",
            "localhost:123456",
            "user@localhost",
            "localhost/evil",
            "evil.example:7878",
            "[::1",
            "[::1]x",
            "",
        ];
        for value in refused {
            assert!(!hosts.allows_host_header(value.as_bytes()), "{value}");
        }
        assert!(!hosts.allows_host_header(b"local\xffhost"));
        // Whatever the fast check accepts, the full parse accepts: every mix of the pieces above.
        let pieces = ["localhost", "[::1]", "[", "]", ".", ":", "7878", "@", "proxy.lan", "x"];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let value = format!("{a}{b}{c}");
                    if hosts.allows_host_header(value.as_bytes()) {
                        assert!(slow(value.as_bytes()), "{value}");
                    }
                }
            }
        }
    }

    #[test]
    fn entries_are_checked() {
        assert_eq!(parse_host_entry("Proxy.LAN"), Ok("proxy.lan".to_owned()));
        assert_eq!(parse_host_entry("[::1]"), Ok("::1".to_owned()));
        assert!(parse_host_entry("proxy.lan:7878").unwrap_err().contains("port"));
        assert!(parse_host_entry("http://proxy.lan").is_err());
        // LANGSMITH_PROXY_ALLOWED_HOSTS='["a.local","b.local"]', split at its comma.
        for half in ["[\"a.local\"", "\"b.local\"]"] {
            assert!(
                parse_host_entry(half).unwrap_err().contains("comma-separated"),
                "{half}"
            );
        }
        assert!(parse_origin_entry("[\"http://localhost:3000\"")
            .unwrap_err()
            .contains("comma-separated"));
        assert_eq!(
            parse_origin_entry("HTTP://LocalHost:3000/"),
            Ok("http://localhost:3000".to_owned())
        );
        assert_eq!(
            parse_origin_entry("https://app.example:443"),
            Ok("https://app.example".to_owned())
        );
        assert!(parse_origin_entry("localhost:3000").is_err());
        assert!(parse_origin_entry("http://localhost:3000/app").is_err());
        assert!(parse_origin_entry("*").is_err());
        let error = parse_origin_entry("http://a.example:99999").expect_err("no such port");
        assert!(error.contains("99999") && error.contains("1 to 65535"), "{error}");
    }
}
