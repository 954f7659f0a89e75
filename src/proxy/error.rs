//! Errors the proxy answers itself, and the one place they become responses.

use std::error::Error as StdError;
use std::time::Duration;

use http::{Response, StatusCode};
use rustls::CertificateError;

use super::report::report;
use super::{ProxyBody, RequestFacts, Shared};
use crate::config::Timeouts;
use crate::diagnosis::{proxy_made_response, Code, Diagnosis};
use crate::secret::TokenProblem;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("no LangSmith API key is loaded")]
    KeyMissing,
    #[error("the request carried its own {header} header, which client_credentials = reject forbids")]
    ClientCredentialsNotAllowed { header: &'static str },
    #[error("cannot reach the upstream: {cause}")]
    Unreachable { cause: String },
    #[error("the upstream accepted the connection but closed it without answering ({cause})")]
    ClosedWithoutAnswer { cause: String },
    #[error("the upstream answered, but not with an HTTP response the proxy can read ({cause})")]
    UnreadableAnswer { cause: String },
    #[error("the upstream did not accept a connection within {} (timeouts.connect: TCP connect, proxy tunnel and TLS handshake)", humantime::format_duration(*after))]
    ConnectTimeout { after: Duration },
    #[error("the upstream did not send response headers within {} of the request's end (connecting included)", humantime::format_duration(*after))]
    ResponseTimeout { after: Duration },
    #[error("the upstream took no more of the request body for {} (timeouts.response_header) while the client had more to send", humantime::format_duration(*after))]
    UploadStalled { after: Duration },
    #[error("TLS handshake with the upstream failed: {problem}{}", match cause { TlsCause::PlainHttp => PLAIN_HTTP, _ => "" })]
    Tls { problem: String, cause: TlsCause },
    #[error("{}", host_refusal(host.as_deref()))]
    HostNotAllowed { host: Option<String> },
    #[error("the request carries {count} Host headers; HTTP/1.1 allows exactly one")]
    HostRepeated { count: usize },
    #[error("a web page ({origin}) sent this request from a browser; only allowed_origins may")]
    OriginNotAllowed { origin: String },
    #[error("{}: this proxy requires {expected}", match problem { TokenProblem::Missing => "no client token", TokenProblem::Wrong => "wrong client token" })]
    ClientTokenRequired { problem: TokenProblem, expected: String },
    #[error("{what}: langsmith-proxy forwards only to its own upstream and is not a forward (open) proxy")]
    NotAReverseProxyRequest {
        what: String,
        /// `langsmith-proxy doctor` asking who answers here: answered alike, never reported.
        doctor_probe: bool,
    },
    #[error("this request already passed through this proxy ({via}): the upstream leads back to the proxy itself")]
    ProxyLoop { via: String },
    #[error("{limit} connections are open, the most limits.max_connections allows")]
    TooManyConnections { limit: usize },
    #[error("the request body broke off before its end ({cause}); nothing of it was completed upstream")]
    ClientBodyIncomplete { cause: String },
    #[error("the request head is too large: {what}")]
    HeaderTooLarge { what: String },
}

fn host_refusal(host: Option<&str>) -> String {
    match host {
        Some(host) => format!("the request is addressed to host {host:?}, which is not one of this proxy's names"),
        None => "the request carries no Host header".to_owned(),
    }
}

/// The TLS problems that each have their own fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsCause {
    UnknownIssuer,
    WrongName,
    Expired,
    /// Valid only from a time still ahead: most often this machine's clock runs behind.
    NotValidYet,
    /// The server answered in plain HTTP: an `https://` upstream for a plain-HTTP install.
    PlainHttp,
    /// The server's own certificate is a CA certificate (`openssl req -x509` makes one), which
    /// rustls refuses as a server's even when `upstream_ca_file` trusts it.
    CaAsServerCertificate,
    Other,
}

const PLAIN_HTTP: &str = "; the server answered in plain HTTP, not TLS";

impl ProxyError {
    /// Sorts a client error by walking its causes: TLS, timeout, or unreachable.
    pub fn from_client_error(error: &hyper_util::client::legacy::Error, timeouts: &Timeouts) -> Self {
        let mut cause: Option<&(dyn StdError + 'static)> = error.source();
        let mut innermost = error.to_string();
        while let Some(current) = cause {
            // hyper reports the request body's own failure as a user error with that failure as
            // its source: the client stopped sending (or sent a broken chunk), not the upstream.
            if let Some(body) = current.downcast_ref::<hyper::Error>().filter(|e| e.is_user()) {
                if let Some(source) = body.source() {
                    return Self::ClientBodyIncomplete {
                        cause: source.to_string(),
                    };
                }
            }
            // Past the connect, hyper's own errors say what the upstream did instead of answering.
            if let Some(hyper) = current.downcast_ref::<hyper::Error>().filter(|_| !error.is_connect()) {
                let cause = current.to_string();
                if hyper.is_parse() {
                    return Self::UnreadableAnswer { cause };
                }
                if hyper.is_incomplete_message() {
                    return Self::ClosedWithoutAnswer { cause };
                }
            }
            if let Some(tls) = current.downcast_ref::<rustls::Error>() {
                return Self::Tls {
                    problem: tls.to_string(),
                    cause: tls_cause(tls),
                };
            }
            if let Some(io) = current.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::TimedOut {
                    return Self::ConnectTimeout {
                        after: timeouts.connect,
                    };
                }
            }
            innermost = current.to_string();
            cause = next_cause(current);
        }
        // Connected, then the connection went away before an answer: a close without TLS
        // close_notify, a reset, an HTTP/2 GOAWAY. Not a network path to check.
        if !error.is_connect() && closed_before_answer(error) {
            return Self::ClosedWithoutAnswer { cause: innermost };
        }
        Self::Unreachable { cause: innermost }
    }

    /// For `check`: the steps for a cause beyond the network path, where the generic "check
    /// DNS, firewall, VPN" would mislead. Empty for the rest.
    pub fn fix_beyond_network(&self, upstream: &str) -> Vec<String> {
        match self {
            Self::Tls { cause, .. } => tls_fix(*cause, upstream),
            _ => Vec::new(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::KeyMissing => StatusCode::UNAUTHORIZED,
            Self::ClientCredentialsNotAllowed { .. } => StatusCode::BAD_REQUEST,
            Self::Unreachable { .. }
            | Self::ClosedWithoutAnswer { .. }
            | Self::UnreadableAnswer { .. }
            | Self::Tls { .. } => StatusCode::BAD_GATEWAY,
            Self::ConnectTimeout { .. } | Self::ResponseTimeout { .. } | Self::UploadStalled { .. } => {
                StatusCode::GATEWAY_TIMEOUT
            }
            Self::HostNotAllowed { .. } | Self::OriginNotAllowed { .. } => StatusCode::FORBIDDEN,
            Self::HostRepeated { .. } => StatusCode::BAD_REQUEST,
            Self::ClientTokenRequired { .. } => StatusCode::UNAUTHORIZED,
            Self::NotAReverseProxyRequest { .. } => StatusCode::BAD_REQUEST,
            Self::ProxyLoop { .. } => StatusCode::LOOP_DETECTED,
            Self::TooManyConnections { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::ClientBodyIncomplete { .. } => StatusCode::BAD_REQUEST,
            Self::HeaderTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        }
    }

    /// A refusal of a caller the proxy does not trust: its response names no key source and no
    /// workspace, since it may be read by the web page or process that was refused. A connection
    /// over the limit and an oversized head are answered before the host, origin and
    /// client-token checks, so they are ones.
    fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::HostNotAllowed { .. }
                | Self::HostRepeated { .. }
                | Self::OriginNotAllowed { .. }
                | Self::ClientTokenRequired { .. }
                | Self::NotAReverseProxyRequest { .. }
                | Self::TooManyConnections { .. }
                | Self::HeaderTooLarge { .. }
        )
    }

    fn diagnosis(&self, shared: &Shared) -> Diagnosis {
        let upstream = shared.upstream.url();
        let (code, fix) = match self {
            Self::KeyMissing => (
                Code::KeyMissing,
                vec![
                    format!("Make the key available where the proxy reads it ({}), then restart the proxy", shared.keys.source()),
                    "Or point the proxy at the key with --key-env NAME or --key-file PATH".to_owned(),
                    "Run `langsmith-proxy config` to see where the proxy looks".to_owned(),
                ],
            ),
            Self::ClientCredentialsNotAllowed { .. } => (
                Code::ClientCredentialsNotAllowed,
                vec![
                    "Set LANGSMITH_API_KEY=proxy-managed in the app's environment so the app sends no real key".to_owned(),
                    "Or let the proxy replace client keys: client_credentials = \"replace\" (flag --client-credentials replace)".to_owned(),
                ],
            ),
            // Through an outbound proxy, that proxy is the first thing to check.
            Self::Unreachable { .. } => (
                Code::UpstreamUnreachable,
                outbound_proxy_step(shared, upstream)
                    .into_iter()
                    .chain([
                        format!("Check that {upstream} resolves and is reachable from this machine (DNS, firewall, VPN)"),
                        match &shared.outbound_proxy {
                            Some(_) => "Or, if the upstream should be reached directly, add its host to NO_PROXY".to_owned(),
                            None => "Behind a corporate proxy, set HTTPS_PROXY (and NO_PROXY) in the proxy's environment".to_owned(),
                        },
                        "Check the upstream setting (--upstream us|eu|apac|aws|URL; self-hosted: https://HOST/api/v1)".to_owned(),
                    ])
                    .collect(),
            ),
            Self::ClosedWithoutAnswer { .. } => (
                Code::UpstreamUnreachable,
                outbound_proxy_step(shared, upstream)
                    .into_iter()
                    .chain([
                        "Retry: the upstream, or a load balancer in front of it, may have restarted or closed an idle connection".to_owned(),
                        format!("If it repeats, check that {upstream} is the LangSmith API and that what listens there speaks HTTP (a TLS port needs https://)"),
                    ])
                    .collect(),
            ),
            Self::UnreadableAnswer { .. } => (
                Code::UpstreamUnreachable,
                outbound_proxy_step(shared, upstream)
                    .into_iter()
                    .chain([
                        format!("Check the upstream setting: what answers at {upstream} does not speak HTTP as the LangSmith API does (us, eu, apac, aws or https://HOST/api/v1)"),
                        "Self-hosted behind a gateway: a response head over about 400 KiB or 100 headers is refused; check what the gateway adds".to_owned(),
                    ])
                    .collect(),
            ),
            Self::ConnectTimeout { .. } => (
                Code::UpstreamTimeout,
                outbound_proxy_step(shared, upstream)
                    .into_iter()
                    .chain([
                        format!("Check the network path to {upstream}; a firewall that drops packets looks like this"),
                        "Raise timeouts.connect (env LANGSMITH_PROXY_TIMEOUTS__CONNECT) if the network is just slow".to_owned(),
                    ])
                    .collect(),
            ),
            Self::ResponseTimeout { .. } => (
                Code::UpstreamTimeout,
                vec![
                    "Retry later: LangSmith may be slow or degraded (https://status.smith.langchain.com)".to_owned(),
                    "Raise timeouts.response_header (env LANGSMITH_PROXY_TIMEOUTS__RESPONSE_HEADER) for slow large uploads".to_owned(),
                ],
            ),
            Self::UploadStalled { .. } => (
                Code::UpstreamTimeout,
                outbound_proxy_step(shared, upstream)
                    .into_iter()
                    .chain([
                        "Retry: the connection to the upstream may have gone dead under the upload (a network change, a laptop waking from sleep); the retry opens a fresh one".to_owned(),
                        "Raise timeouts.response_header (env LANGSMITH_PROXY_TIMEOUTS__RESPONSE_HEADER) if the upstream is just slow to take large uploads".to_owned(),
                    ])
                    .collect(),
            ),
            Self::Tls { cause, .. } => (Code::UpstreamTlsError, tls_fix(*cause, upstream)),
            Self::HostNotAllowed { .. } => (
                Code::HostNotAllowed,
                vec![
                    "Point the app at http://127.0.0.1:PORT or http://localhost:PORT".to_owned(),
                    "If the proxy is reached under this name on purpose, add it to allowed_hosts (env LANGSMITH_PROXY_ALLOWED_HOSTS)".to_owned(),
                    "Otherwise a web page may be trying DNS rebinding against the proxy; nothing was forwarded".to_owned(),
                ],
            ),
            Self::HostRepeated { .. } => (
                Code::HostNotAllowed,
                vec![
                    "Send one Host header: an HTTP client library or middleware between the app and the proxy adds a second one; nothing was forwarded".to_owned(),
                ],
            ),
            Self::OriginNotAllowed { .. } => (
                Code::OriginNotAllowed,
                vec![
                    "The proxy does not lend the LangSmith key to web pages; nothing was forwarded".to_owned(),
                    "If the page is yours, add its origin (e.g. http://localhost:3000) to allowed_origins (env LANGSMITH_PROXY_ALLOWED_ORIGINS)".to_owned(),
                ],
            ),
            Self::ClientTokenRequired { expected, .. } => (
                Code::ClientTokenRequired,
                vec![
                    format!("Send the token from the proxy's client_token.source with every request: {expected}"),
                    "Ask whoever runs the proxy for the token; it is not the LangSmith API key".to_owned(),
                ],
            ),
            Self::NotAReverseProxyRequest { .. } => (
                Code::NotAReverseProxyRequest,
                vec![
                    "Set LANGSMITH_ENDPOINT=http://127.0.0.1:PORT and send plain requests such as POST /runs".to_owned(),
                    "Do not use langsmith-proxy as HTTP_PROXY or HTTPS_PROXY".to_owned(),
                ],
            ),
            Self::ProxyLoop { .. } => (
                Code::ProxyLoop,
                vec![
                    format!("`upstream` ({upstream}) points at a langsmith-proxy: set it to LangSmith (us, eu, apac, aws or https://HOST/api/v1)"),
                    "If upstream was copied from LANGSMITH_ENDPOINT: in an app's shell that variable points at the proxy itself".to_owned(),
                ],
            ),
            Self::TooManyConnections { .. } => (
                Code::TooManyConnections,
                vec![
                    "Retry shortly; connections are answered again as soon as others close".to_owned(),
                    "If this many clients are expected, raise limits.max_connections (env LANGSMITH_PROXY_LIMITS__MAX_CONNECTIONS)".to_owned(),
                ],
            ),
            Self::ClientBodyIncomplete { .. } => (
                Code::ClientBodyIncomplete,
                vec![
                    "The app stopped sending its request body (it closed the connection, was cancelled or timed out), or sent a malformed chunk: LangSmith got no complete request; retry it".to_owned(),
                    "If this repeats for large uploads, look for a timeout in the app or an HTTP client between the app and the proxy".to_owned(),
                ],
            ),
            Self::HeaderTooLarge { .. } => (
                Code::HeaderTooLarge,
                vec![
                    "Send fewer or shorter headers: large cookies or tracing baggage are the usual cause".to_owned(),
                    "If such heads are expected, raise limits.max_header_bytes or limits.max_headers (env LANGSMITH_PROXY_LIMITS__MAX_HEADER_BYTES, LANGSMITH_PROXY_LIMITS__MAX_HEADERS)".to_owned(),
                ],
            ),
        };
        Diagnosis {
            code,
            summary: format!("{self} ({upstream})"),
            fix,
        }
    }

    /// The response for this error; also logs it at WARN with the request context.
    pub fn into_response(self, facts: &RequestFacts, shared: &Shared) -> Response<ProxyBody> {
        let status = self.status();
        let diagnosis = self.diagnosis(shared);
        let mut ctx = facts.diagnosis_context(shared, None);
        if matches!(self, Self::NotAReverseProxyRequest { doctor_probe: true, .. }) {
            // `langsmith-proxy doctor` asking who answers here: no misuse to alert on.
            tracing::debug!("answered the probe of langsmith-proxy doctor");
        } else {
            report(shared, facts, status, &diagnosis, &ctx);
        }
        if self.is_refusal() {
            // A refused caller (a web page, a stranger) learns nothing about the key or workspace.
            ctx.key_source = crate::diagnosis::WITHHELD_KEY_SOURCE.to_owned();
            ctx.key = None;
            ctx.workspace_id = None;
        }
        proxy_made_response(status, &diagnosis, &ctx)
    }
}

/// Whether an upstream request failed because its connection went away before any answer: a
/// close or reset under it, an HTTP/2 stream the upstream refused or a GOAWAY. Not an answer
/// hyper could not parse, nor a timeout, nor the client's own body failing.
pub fn closed_before_answer(error: &hyper_util::client::legacy::Error) -> bool {
    let closed = |io: &std::io::Error| {
        use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
        matches!(
            io.kind(),
            ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
        )
    };
    let mut cause: Option<&(dyn StdError + 'static)> = error.source();
    while let Some(current) = cause {
        if let Some(hyper) = current.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message() || hyper.is_canceled() {
                return true;
            }
            if hyper.is_parse() || hyper.is_timeout() || hyper.is_user() {
                return false;
            }
        }
        if let Some(h2) = current.downcast_ref::<h2::Error>() {
            return h2.reason() == Some(h2::Reason::REFUSED_STREAM)
                || h2.is_go_away()
                || h2.get_io().is_some_and(closed);
        }
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return closed(io);
        }
        cause = next_cause(current);
    }
    false
}

/// The error `error` wraps. An `io::Error`'s `source()` skips the error it wraps (and
/// hyper-rustls wraps the rustls handshake error in two of them), so look inside it instead.
fn next_cause<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match error.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
        Some(inner) => Some(inner as &(dyn StdError + 'static)),
        None => error.source(),
    }
}

fn tls_cause(error: &rustls::Error) -> TlsCause {
    match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => TlsCause::UnknownIssuer,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => TlsCause::WrongName,
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => TlsCause::Expired,
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => TlsCause::NotValidYet,
            // webpki's own error, which rustls passes on only as an opaque one.
            CertificateError::Other(other) if format!("{other:?}").contains("CaUsedAsEndEntity") => {
                TlsCause::CaAsServerCertificate
            }
            _ => TlsCause::Other,
        },
        rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => TlsCause::PlainHttp,
        _ => TlsCause::Other,
    }
}

/// The outbound proxy, named, when connections go through one: "proxy authorization required"
/// means its credentials, "unsuccessful" that it refused the tunnel.
fn outbound_proxy_step(shared: &Shared, upstream: &str) -> Option<String> {
    shared.outbound_proxy.as_ref().map(|proxy| {
        format!(
            "Connections go through the outbound proxy {proxy}: check that it runs, allows CONNECT to {upstream}, and takes the user:pass in that variable"
        )
    })
}

fn tls_fix(cause: TlsCause, upstream: &str) -> Vec<String> {
    match cause {
        // The first step is what the reason phrase carries: the fix, not the finding.
        TlsCause::UnknownIssuer => vec![
            format!("Set upstream_ca_file (flag --upstream-ca-file) to the PEM bundle of the CA that signed the certificate of {upstream}: this machine does not trust it"),
            "That CA is your self-hosted LangSmith's, or a TLS-inspecting corporate proxy's".to_owned(),
        ],
        TlsCause::CaAsServerCertificate => vec![
            format!("The certificate of {upstream} is a CA certificate (CA:TRUE) serving as the server's own, which is refused even when trusted: issue the server a certificate signed by that CA (or one with CA:FALSE)"),
        ],
        TlsCause::WrongName => vec![format!(
            "The certificate does not cover the host in {upstream}: check the upstream setting, or a proxy is intercepting"
        )],
        TlsCause::Expired => vec!["The upstream certificate has expired, or this machine's clock is wrong: check the system time".to_owned()],
        TlsCause::NotValidYet => vec![
            "The upstream certificate is not valid yet: this machine's clock is most likely behind; check the system time (and that NTP runs)".to_owned(),
        ],
        TlsCause::PlainHttp => vec![format!(
            "{upstream} speaks plain HTTP on that port: if that is right (a local or self-hosted install without TLS), write the upstream as http://; otherwise check the port"
        )],
        TlsCause::Other => vec![format!("Check the TLS setup of {upstream}; upstream_ca_file adds a trusted CA")],
    }
}
