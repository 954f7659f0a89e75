//! The admin listener (default 127.0.0.1:7879, apart from the proxy port): `/live`, `/ready`,
//! `/metrics` (Prometheus) and `/status` (JSON, or HTML for a browser).

mod status;

use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;

use bytes::Bytes;
use http::header::{ACCEPT, ALLOW, CONTENT_TYPE, HOST};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::connection;
use crate::limit_counters::LimitEvent;
use crate::proxy::allowlist::host_of;
use crate::proxy::ReceivedHead;
use crate::server::ACCEPT_RETRY;
use crate::App;

/// Serves the admin endpoints until `shutdown` resolves. Answers are instant, so connections
/// are not drained: they end with the process.
pub async fn serve_admin(listener: TcpListener, app: App, shutdown: impl Future<Output = ()>) {
    warn_if_remote(&listener);
    // HTTP/1 only (probes and scrapers speak it), so the header timeout runs from the first
    // moment: a client that never sends a request head cannot hold a connection.
    let builder = connection::builder(app.limits()).http1_only();
    let hosts = AdminHosts::for_listener(&listener);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(%error, "admin accept failed");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let (app, builder) = (app.clone(), builder.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let oversized = app.shared().head_limits.exceeded_by(ReceivedHead::of(&request));
                let response = if let Some(what) = oversized {
                    app.limit_counters().record(LimitEvent::HeaderTooLarge);
                    tracing::warn!("admin request head too large: {what}; answered 431");
                    text(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, HEAD_TOO_LARGE)
                } else if hosts.allows(&app, &request) {
                    route(&app, &request)
                } else {
                    text(StatusCode::FORBIDDEN, HOST_REFUSED)
                };
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

const HEAD_TOO_LARGE: &str = "request head too large: over limits.max_header_bytes or limits.max_headers\n";

const HOST_REFUSED: &str = "host not allowed: on a loopback address the admin endpoints answer only to \
localhost names, so a web page cannot read them through DNS rebinding; use http://127.0.0.1:PORT or \
http://localhost:PORT\n";

/// Which `Host` the admin endpoints answer to. On a loopback address, the proxy's own list
/// (loopback names, `allowed_hosts`) and the admin address: a web page whose domain re-resolves
/// to 127.0.0.1 must not read `/status`. On any other address (a Kubernetes pod, where probes
/// and scrapers name the pod IP) every host, as the start-up warning says.
#[derive(Clone, Copy)]
enum AdminHosts {
    Local(IpAddr),
    Any,
}

impl AdminHosts {
    fn for_listener(listener: &TcpListener) -> Self {
        match listener.local_addr() {
            Ok(addr) if addr.ip().is_loopback() => Self::Local(addr.ip()),
            _ => Self::Any,
        }
    }

    /// A request without `Host` passes: browsers always send one, and plain HTTP/1.0 health
    /// checks (HAProxy's `option httpchk`, `printf | nc` scripts) often do not.
    /// Every name the request carries must pass: an absolute target's too, and two `Host`
    /// headers never do.
    fn allows<B>(self, app: &App, request: &Request<B>) -> bool {
        let Self::Local(own) = self else { return true };
        let hosts = &app.shared().guard.hosts;
        let allowed = |value: &[u8]| {
            hosts.allows_host_header(value)
                || host_of(value).is_some_and(|host| hosts.allows(&host) || host.parse() == Ok(own))
        };
        let mut values = request.headers().get_all(HOST).iter();
        let (header, second) = (values.next(), values.next());
        second.is_none()
            && header.is_none_or(|value| allowed(value.as_bytes()))
            && request
                .uri()
                .authority()
                .is_none_or(|target| allowed(target.as_str().as_bytes()))
    }
}

/// `/status` shows the key's hint, source and fingerprint, the workspace and recent requests.
fn warn_if_remote(listener: &TcpListener) {
    if let Ok(addr) = listener.local_addr() {
        if !addr.ip().is_loopback() {
            tracing::warn!(admin_listen = %addr, "the admin endpoints listen on a non-loopback address: anyone who can reach it can read /status (key hint and source, workspace, recent requests) and /metrics");
        }
    }
}

fn route(app: &App, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut refused = text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
        refused
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return refused;
    }
    let shared = app.shared();
    match request.uri().path() {
        "/live" => text(StatusCode::OK, "live\n"),
        "/ready" => {
            let readiness = shared.readiness();
            let status = if readiness.ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            json(status, &serde_json::to_value(readiness).unwrap_or_default())
        }
        "/metrics" => {
            let body = shared.metrics.encode(
                shared.key_state(),
                &app.limit_counters().snapshot(),
                &shared.key_reloads.snapshot(),
            );
            respond(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                body,
            )
        }
        "/status" => {
            let report = status::report(app);
            let wants_html = request
                .headers()
                .get(ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|accept| accept.contains("text/html"));
            if wants_html {
                respond(StatusCode::OK, "text/html; charset=utf-8", status::html(&report))
            } else {
                json(StatusCode::OK, &report)
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /live, /ready, /metrics or /status\n",
        ),
    }
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    respond(status, "text/plain; charset=utf-8", body.to_owned())
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    respond(status, "application/json", format!("{value:#}\n"))
}
