//! The pooled upstream client: rustls with webpki and platform roots plus an optional extra CA,
//! HTTP/2 by ALPN else HTTP/1.1, and an `HTTPS_PROXY` CONNECT tunnel when the environment asks.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderValue, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tower::Service;

use crate::config::Timeouts;
use crate::env::Env;
use crate::proxy::ProxyBody;
use crate::upstream::Upstream;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type UpstreamConnect = ConnectTimeout<HttpsConnector<UpstreamConnector>>;
pub type UpstreamClient = Client<UpstreamConnect, ProxyBody>;

/// A path as error messages show it: a key pasted in place of the path stays unprinted.
fn shown_path(path: &std::path::Path) -> String {
    crate::secret::redact_keys(&path.display().to_string())
}

#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error(
        "cannot read upstream_ca_file {}: {problem}; give a PEM file with one or more CERTIFICATE blocks",
        shown_path(path)
    )]
    CaFile { path: PathBuf, problem: String },
    #[error(
        "upstream_ca_file {} holds no PEM certificate; give a PEM file with one or more CERTIFICATE blocks",
        shown_path(path)
    )]
    CaFileEmpty { path: PathBuf },
    #[error("TLS setup failed: {0}")]
    Tls(#[from] rustls::Error),
    #[error("the proxy in {var} ({uri}) must be an http:// URL: https:// and socks proxies are not supported")]
    ProxyScheme { var: String, uri: String },
}

/// The corporate proxy the environment asks for, if any, for this upstream.
#[derive(Debug, Clone)]
pub struct OutboundProxy {
    pub uri: Uri,
    auth: Option<HeaderValue>,
    /// The variable it came from (`HTTPS_PROXY`, `https_proxy`, `ALL_PROXY`...).
    pub var: String,
}

impl OutboundProxy {
    /// `host:port (from HTTPS_PROXY)`, without any credentials, for errors and logs.
    pub fn shown(&self) -> String {
        let host = self.uri.host().unwrap_or("?");
        let port = self.uri.port_u16().unwrap_or(80);
        format!("{host}:{port} (from {})", self.var)
    }

    /// Reads `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY` (either case) like curl does.
    pub fn from_env(env: &Env, upstream: &Upstream) -> Result<Option<Self>, ClientBuildError> {
        // The spelling that is set, upper case first, for naming it in an error.
        let named = |name: &'static str| {
            let lower = name.to_ascii_lowercase();
            match env.get(name).filter(|v| !v.is_empty()) {
                Some(value) => Some((name.to_owned(), value)),
                None => env.get(&lower).filter(|v| !v.is_empty()).map(|value| (lower, value)),
            }
        };
        let var = |name: &'static str| named(name).map_or("", |(_, value)| value);
        // `*` alone bypasses every proxy, for IP addresses too (hyper-util's matcher reads it as
        // covering domain names only).
        if var("NO_PROXY").trim() == "*" {
            return Ok(None);
        }
        let matcher = Matcher::builder()
            .all(var("ALL_PROXY").to_owned())
            .http(var("HTTP_PROXY").to_owned())
            .https(var("HTTPS_PROXY").to_owned())
            .no(var("NO_PROXY").to_owned())
            .build();
        let target = upstream.target(&http::uri::PathAndQuery::from_static("/"));
        let Some(intercept) = matcher.intercept(&target) else {
            return Ok(None);
        };
        let scheme_var = if upstream.is_tls() { "HTTPS_PROXY" } else { "HTTP_PROXY" };
        let var = named(scheme_var)
            .or_else(|| named("ALL_PROXY"))
            .map_or_else(|| scheme_var.to_owned(), |(name, _)| name);
        if intercept.uri().scheme_str() != Some("http") {
            // Scheme, host and port only: a password with an `@` in it may survive in the URI.
            let uri = intercept.uri();
            let port = uri.port_u16().map(|port| format!(":{port}")).unwrap_or_default();
            return Err(ClientBuildError::ProxyScheme {
                var,
                uri: format!(
                    "{}://{}{port}",
                    uri.scheme_str().unwrap_or("?"),
                    uri.host().unwrap_or("?")
                ),
            });
        }
        Ok(Some(Self {
            uri: intercept.uri().clone(),
            auth: intercept.basic_auth().cloned(),
            var,
        }))
    }
}

/// Connects directly, or through a CONNECT tunnel when an outbound proxy is configured.
#[derive(Clone)]
pub struct UpstreamConnector {
    direct: HttpConnector,
    tunnel: Option<Tunnel<HttpConnector>>,
}

impl Service<Uri> for UpstreamConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match &mut self.tunnel {
            Some(tunnel) => tunnel.poll_ready(cx).map_err(Into::into),
            None => self.direct.poll_ready(cx).map_err(Into::into),
        }
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        match &mut self.tunnel {
            Some(tunnel) => {
                let connecting = tunnel.call(dst);
                Box::pin(async move { connecting.await.map_err(Into::into) })
            }
            None => {
                let connecting = self.direct.call(dst);
                Box::pin(async move { connecting.await.map_err(Into::into) })
            }
        }
    }
}

/// Bounds the whole connection setup by `timeouts.connect`: TCP connect, the CONNECT tunnel and
/// the TLS handshake (the TCP connector's own timeout covers only the first). Ends in an I/O
/// `TimedOut` error, which the proxy answers with 504 `upstream_timeout`.
#[derive(Clone)]
pub struct ConnectTimeout<C> {
    inner: C,
    after: Duration,
}

impl<C> Service<Uri> for ConnectTimeout<C>
where
    C: Service<Uri>,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let connecting = self.inner.call(dst);
        let after = self.after;
        Box::pin(async move {
            match tokio::time::timeout(after, connecting).await {
                Ok(connected) => connected.map_err(Into::into),
                Err(_elapsed) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "connecting (TCP, tunnel, TLS handshake) took longer than {} (timeouts.connect)",
                        humantime::format_duration(after)
                    ),
                )
                .into()),
            }
        })
    }
}

/// A client with its own connection pool.
pub fn build(
    ca_file: Option<&Path>,
    outbound_proxy: Option<&OutboundProxy>,
    timeouts: &Timeouts,
) -> Result<UpstreamClient, ClientBuildError> {
    Ok(pooled(connector(ca_file, outbound_proxy, timeouts)?, timeouts))
}

/// How upstream connections are made (TCP or tunnel, then TLS): cheap to clone, shared by
/// every pool.
pub fn connector(
    ca_file: Option<&Path>,
    outbound_proxy: Option<&OutboundProxy>,
    timeouts: &Timeouts,
) -> Result<UpstreamConnect, ClientBuildError> {
    let mut direct = HttpConnector::new();
    direct.enforce_http(false);
    direct.set_nodelay(true);
    direct.set_connect_timeout(Some(timeouts.connect));
    direct.set_keepalive(Some(Duration::from_secs(60)));
    let tunnel = outbound_proxy.map(|proxy| {
        let tunnel = Tunnel::new(proxy.uri.clone(), direct.clone());
        match &proxy.auth {
            Some(auth) => tunnel.with_auth(auth.clone()),
            None => tunnel,
        }
    });
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(tls_config(ca_file)?)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(UpstreamConnector { direct, tunnel });
    Ok(ConnectTimeout {
        inner: connector,
        after: timeouts.connect,
    })
}

/// A new connection pool over `connector`; one per worker keeps each pool on its thread.
const H2_PING_EVERY: Duration = Duration::from_secs(30);
const H2_PING_ANSWER_WITHIN: Duration = Duration::from_secs(20);

pub fn pooled(connector: UpstreamConnect, timeouts: &Timeouts) -> UpstreamClient {
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .pool_idle_timeout(timeouts.pool_idle)
        // An HTTP/2 connection to LangSmith can die without a word (a network change, a laptop
        // waking): pings find it within 50 s, idle in the pool or under a request.
        .http2_keep_alive_interval(H2_PING_EVERY)
        .http2_keep_alive_timeout(H2_PING_ANSWER_WITHIN)
        .http2_keep_alive_while_idle(true)
        .build(connector)
}

fn tls_config(ca_file: Option<&Path>) -> Result<ClientConfig, ClientBuildError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // Platform roots carry CAs that corporate networks install; unreadable ones are skipped.
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = ca_file {
        for cert in extra_ca_certs(path)? {
            roots.add(cert).map_err(|e| ClientBuildError::CaFile {
                path: path.to_owned(),
                problem: e.to_string(),
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn extra_ca_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ClientBuildError> {
    let unreadable = |problem: String| ClientBuildError::CaFile {
        path: path.to_owned(),
        problem,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| unreadable(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(e.to_string()))?;
    if certs.is_empty() {
        return Err(ClientBuildError::CaFileEmpty { path: path.to_owned() });
    }
    Ok(certs)
}
