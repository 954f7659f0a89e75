//! Where requests go: region aliases, and the self-hosted `/api/v1` path mapping
//! (reference/langsmith-api.md §8.3).

use std::fmt;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::Uri;

use crate::secret::redact_url_credentials;

/// The LangSmith SaaS regions and their API hosts (defaults of the `regions` table).
pub const REGIONS: &[(&str, &str)] = &[
    ("us", "https://api.smith.langchain.com"),
    ("eu", "https://eu.api.smith.langchain.com"),
    ("apac", "https://apac.api.smith.langchain.com"),
    ("aws", "https://aws.api.smith.langchain.com"),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("`{0}` is neither a region (us, eu, apac, aws) nor an http(s):// URL")]
    NotAUrl(String),
    #[error("`{0}` must use http:// or https://")]
    Scheme(String),
    #[error("`{0}` must not carry a user or password: LangSmith takes the API key, which the proxy sends itself; remove the part up to `@`")]
    Credentials(String),
    #[error("`{0}` must not carry a query or fragment")]
    Query(String),
    #[error("`{0}` has port {1}, which is not a TCP port: give one from 1 to 65535, or none for the scheme's default (443 for https://)")]
    Port(String, String),
}

/// The port of `authority` when it names one that is no TCP port (`:99999`, `:0`): `http`
/// keeps such a port, and reads it as none, the scheme's default.
pub fn unusable_port(authority: &Authority) -> Option<&str> {
    let port = authority.as_str().get(authority.host().len()..)?.strip_prefix(':')?;
    let usable = port.is_empty() || port.parse::<u16>().is_ok_and(|port| port != 0);
    (!usable).then_some(port)
}

#[derive(Debug, Clone)]
pub struct Upstream {
    scheme: Scheme,
    authority: Authority,
    /// `""` for SaaS, e.g. `/api/v1` for a self-hosted base.
    base_path: String,
    region: Option<String>,
    url: String,
}

impl Upstream {
    /// Accepts a region alias from `regions` (name → URL) or a base URL; a trailing `/` is
    /// ignored. A URL that is one of the regions' is that region.
    pub fn parse(value: &str, regions: &[(String, Upstream)]) -> Result<Self, UpstreamError> {
        let value = value.trim();
        if let Some((_, region)) = regions.iter().find(|(name, _)| name.eq_ignore_ascii_case(value)) {
            return Ok(region.clone());
        }
        let mut upstream = Self::parse_url(value)?;
        upstream.region = regions
            .iter()
            .find(|(_, region)| region.authority == upstream.authority && region.base_path == upstream.base_path)
            .map(|(name, _)| name.clone());
        Ok(upstream)
    }

    /// The region table: each name with its URL, parsed.
    pub fn regions<'a>(
        table: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Vec<(String, Upstream)>, (String, UpstreamError)> {
        table
            .into_iter()
            .map(|(name, url)| {
                let mut upstream = Self::parse_url(url).map_err(|e| (name.to_owned(), e))?;
                upstream.region = Some(name.to_owned());
                Ok((name.to_owned(), upstream))
            })
            .collect()
    }

    fn parse_url(value: &str) -> Result<Self, UpstreamError> {
        // Before any other check, whose message would quote the URL with its password.
        if value.split_once("://").is_some_and(|(_, rest)| rest.contains('@')) {
            return Err(UpstreamError::Credentials(redact_url_credentials(value)));
        }
        let not_url = || UpstreamError::NotAUrl(value.to_owned());
        let uri: Uri = value.parse().map_err(|_| not_url())?;
        let scheme = uri.scheme().cloned().ok_or_else(not_url)?;
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(UpstreamError::Scheme(value.to_owned()));
        }
        let authority = uri.authority().cloned().ok_or_else(not_url)?;
        // The connector would dial the scheme's default port, with the key.
        if let Some(port) = unusable_port(&authority) {
            return Err(UpstreamError::Port(value.to_owned(), port.to_owned()));
        }
        if uri.query().is_some() || value.contains('#') {
            return Err(UpstreamError::Query(value.to_owned()));
        }
        let base_path = uri.path().trim_end_matches('/').to_owned();
        let url = format!("{scheme}://{authority}{base_path}");
        Ok(Self {
            scheme,
            authority,
            base_path,
            region: None,
            url,
        })
    }

    /// The SaaS region this upstream is, if any.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    pub fn is_tls(&self) -> bool {
        self.scheme == Scheme::HTTPS
    }

    /// Whether the upstream is this machine (`localhost` or a loopback address).
    pub fn is_loopback(&self) -> bool {
        let host = self.authority.host().trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The base URL as configured (normalised), for logs and diagnoses.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The upstream URI for a request's path and query, which are kept byte for byte.
    ///
    /// With a base path (self-hosted `https://host/api/v1`), paths already under `/api/` and
    /// SCIM's `/scim/` go to the origin; every other path goes under the base path. `OPTIONS *`
    /// asks about the server, not a resource, so its `*` is kept.
    pub fn target(&self, path_and_query: &PathAndQuery) -> Uri {
        let path_and_query = if self.goes_to_origin(path_and_query.path()) {
            path_and_query.clone()
        } else {
            let joined = format!("{}{}", self.base_path, path_and_query.as_str());
            // Both halves were valid path bytes already, so the join is too.
            PathAndQuery::try_from(joined).unwrap_or_else(|_| path_and_query.clone())
        };
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path_and_query);
        Uri::from_parts(parts).unwrap_or_default()
    }

    /// The proxy's own path for a URL on the upstream, the inverse of [`Self::target`]:
    /// `https://host/api/v1/runs?x` (or `/api/v1/runs?x`) → `/runs?x` under the base `/api/v1`.
    /// Either scheme counts, as a TLS-terminating ingress may write `http://`, and so does a
    /// scheme-relative `//host/…`. None for other hosts, for paths the proxy does not lead to (a
    /// web page outside the base path), and for any that a client would read as another host.
    pub fn local_path<'a>(&self, url: &'a str) -> Option<&'a str> {
        let path = if url.starts_with('/') && !url.starts_with("//") {
            url
        } else {
            self.path_on_this_host(url)?
        };
        // The proxy maps by the path alone, without the query or fragment.
        let origin_bound = |path: &str| self.goes_to_origin(&path[..path.find(['?', '#']).unwrap_or(path.len())]);
        let local = match path.strip_prefix(self.base_path.as_str()) {
            // Only where the proxy puts the base path back: `/api/v1/api/v2/x` is not `/api/v2/x`.
            Some(under_base) if under_base.starts_with('/') && !origin_bound(under_base) => under_base,
            _ => Some(path).filter(|path| origin_bound(path))?,
        };
        // `//x` and `/\x` are network-path references to host x for browsers and URL parsers,
        // which also drop tabs and line breaks (`/\t/x` is `//x`).
        Some(local).filter(|local| {
            !local.starts_with("//") && !local.starts_with("/\\") && !local.bytes().any(|b| b.is_ascii_control())
        })
    }

    /// The path of an absolute (or scheme-relative) URL naming this upstream's host and port,
    /// the port also when written out as the scheme's default.
    fn path_on_this_host<'a>(&self, url: &'a str) -> Option<&'a str> {
        let rest = match url.split_once("//") {
            Some(("", rest)) => rest,
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https:") || scheme.eq_ignore_ascii_case("http:") => {
                rest
            }
            _ => return None,
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let default_port = if self.scheme == Scheme::HTTPS { ":443" } else { ":80" };
        // The default port, written out or not, on either side.
        let plain = |authority: &'a str| authority.strip_suffix(default_port).unwrap_or(authority);
        let named = self.authority.as_str();
        let same = plain(authority).eq_ignore_ascii_case(named.strip_suffix(default_port).unwrap_or(named));
        match path {
            _ if !same => None,
            "" => Some("/"),
            // A bare query or fragment: not worth a rewrite.
            path if !path.starts_with('/') => None,
            path => Some(path),
        }
    }

    fn goes_to_origin(&self, path: &str) -> bool {
        self.base_path.is_empty()
            || path.starts_with("/api/")
            || path == "/api"
            || path.starts_with("/scim/")
            || path == "*"
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.region {
            Some(region) => write!(f, "{} ({region})", self.url),
            None => f.write_str(&self.url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_regions() -> Vec<(String, Upstream)> {
        Upstream::regions(REGIONS.iter().copied()).expect("regions")
    }

    fn parse(value: &str) -> Result<Upstream, UpstreamError> {
        Upstream::parse(value, &default_regions())
    }

    fn target(upstream: &str, pq: &str) -> String {
        let upstream = parse(upstream).expect("upstream");
        upstream.target(&PathAndQuery::try_from(pq).expect("pq")).to_string()
    }

    #[test]
    fn loopback_upstreams() {
        for url in ["http://127.0.0.1:9", "http://localhost", "http://[::1]:8080/api/v1"] {
            assert!(parse(url).expect(url).is_loopback(), "{url}");
        }
        for url in [
            "http://10.0.0.5",
            "http://langsmith.internal",
            "https://api.smith.langchain.com",
        ] {
            assert!(!parse(url).expect(url).is_loopback(), "{url}");
        }
    }

    #[test]
    fn region_aliases() {
        for (name, url) in REGIONS {
            let upstream = parse(name).expect("alias");
            assert_eq!(upstream.url(), *url);
            assert_eq!(upstream.region(), Some(*name));
        }
        assert_eq!(parse("EU").expect("alias").region(), Some("eu"));
        assert_eq!(
            parse("https://eu.api.smith.langchain.com/").expect("url").region(),
            Some("eu")
        );
    }

    #[test]
    fn upstream_urls_map_back_to_proxy_paths() {
        let saas = parse("us").expect("us");
        for (url, path) in [
            ("https://api.smith.langchain.com/runs?x=1", Some("/runs?x=1")),
            ("HTTP://API.smith.langchain.com/api/v1/info", Some("/api/v1/info")),
            ("https://api.smith.langchain.com.evil.example/runs", None),
            ("https://api.smith.langchain.com:8443/runs", None),
            ("https://smith.langchain.com/o/1", None),
            ("ftp://api.smith.langchain.com/runs", None),
            ("/runs", Some("/runs")),
            ("//evil.example/runs", None),
            ("//api.smith.langchain.com/runs", Some("/runs")),
            ("https://api.smith.langchain.com:443/runs", Some("/runs")),
            ("https://api.smith.langchain.com:4430/runs", None),
            ("https://api.smith.langchain.com//evil.example/runs", None),
            ("https://api.smith.langchain.com/\\evil.example", None),
            ("https://user@api.smith.langchain.com/runs", None),
            ("https://api.smith.langchain.com.:443/runs", None),
            ("https://api.smith.langchain.com", Some("/")),
        ] {
            assert_eq!(saas.local_path(url), path, "{url}");
        }
        let hosted = parse("https://ls.example.com/api/v1").expect("hosted");
        for (url, path) in [
            ("https://ls.example.com/api/v1/runs/", Some("/runs/")),
            ("https://ls.example.com/api/v2/x", Some("/api/v2/x")),
            ("https://ls.example.com/scim/v2/Users", Some("/scim/v2/Users")),
            ("https://ls.example.com/o/abc/projects", None),
            ("https://ls.example.com/api/v1x", Some("/api/v1x")),
            ("/api/v1/runs/1", Some("/runs/1")),
            ("/o/abc", None),
            ("/api/v1/api/v2/x", Some("/api/v1/api/v2/x")),
            ("/api/v1/scim/v2/Users", Some("/api/v1/scim/v2/Users")),
            ("/api/v1//evil.example/x", None),
            ("https://ls.example.com/api/v1/api?x=1", Some("/api/v1/api?x=1")),
            ("/api/v1/runs?next=/api/v2", Some("/runs?next=/api/v2")),
            ("/api/v1/\t/evil.example", None),
        ] {
            assert_eq!(hosted.local_path(url), path, "{url}");
        }
    }

    #[test]
    fn an_explicit_default_port_matches_none() {
        let explicit = parse("https://ls.example.com:443").expect("upstream");
        assert_eq!(explicit.local_path("https://ls.example.com/runs"), Some("/runs"));
        assert_eq!(explicit.local_path("https://ls.example.com:443/runs"), Some("/runs"));
        assert_eq!(explicit.local_path("https://ls.example.com:8443/runs"), None);
    }

    #[test]
    fn saas_paths_pass_verbatim() {
        assert_eq!(
            target("us", "/runs/multipart?a=%2F&b"),
            "https://api.smith.langchain.com/runs/multipart?a=%2F&b"
        );
        assert_eq!(
            target("us", "/api/v1/workspaces"),
            "https://api.smith.langchain.com/api/v1/workspaces"
        );
    }

    #[test]
    fn self_hosted_mapping() {
        let base = "https://ls.example.com/api/v1/";
        assert_eq!(
            target(base, "/runs/multipart"),
            "https://ls.example.com/api/v1/runs/multipart"
        );
        assert_eq!(target(base, "/info"), "https://ls.example.com/api/v1/info");
        assert_eq!(
            target(base, "/otel/v1/traces"),
            "https://ls.example.com/api/v1/otel/v1/traces"
        );
        assert_eq!(
            target(base, "/api/v2/runs?x=1"),
            "https://ls.example.com/api/v2/runs?x=1"
        );
        assert_eq!(
            target(base, "/api/v1/workspaces"),
            "https://ls.example.com/api/v1/workspaces"
        );
        assert_eq!(target(base, "/scim/v2/Users"), "https://ls.example.com/scim/v2/Users");
        assert_eq!(target(base, "/apis"), "https://ls.example.com/api/v1/apis");
        let asterisk = parse(base).expect("upstream").target(&PathAndQuery::from_static("*"));
        assert_eq!(asterisk.path_and_query().map(PathAndQuery::as_str), Some("*"));
    }

    #[test]
    fn refuses_bad_values() {
        assert!(matches!(parse("europe"), Err(UpstreamError::NotAUrl(_))));
        assert!(matches!(parse("ftp://x"), Err(UpstreamError::Scheme(_))));
        assert!(matches!(parse("https://x/?a=b"), Err(UpstreamError::Query(_))));
    }

    /// A port `http` keeps but cannot read would send the key to the scheme's default port.
    #[test]
    fn refuses_ports_that_are_no_tcp_port() {
        for bad in [
            "http://127.0.0.1:99999",
            "http://127.0.0.1:0",
            "https://[::1]:65536/api/v1",
            "http://h:00",
        ] {
            let error = parse(bad).expect_err(bad).to_string();
            assert!(
                error.contains("not a TCP port") && error.contains("1 to 65535"),
                "{error}"
            );
        }
        for good in [
            "http://127.0.0.1:65535",
            "https://[::1]:8443/api/v1",
            "https://h:/x",
            "https://h",
        ] {
            assert!(parse(good).is_ok(), "{good}");
        }
    }
}
