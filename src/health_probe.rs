//! `langsmith-proxy health`: asks a running proxy whether it is ready (`GET /ready` on its admin
//! listener). For a container `HEALTHCHECK` or an exec probe, where the image has no curl.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http::header::HOST;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;

/// Far more than any `/ready` answer; a larger body is not the proxy's.
const MAX_BODY: usize = 16 * 1024;

/// Why the proxy is not healthy. Each message names the URL asked.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("not ready: {reason} ({url} answered {status})")]
    NotReady {
        url: String,
        status: StatusCode,
        reason: String,
    },
    #[error(
        "no answer from {url}: {error}; is the proxy running, and is this its admin_listen (flag --admin-listen)?"
    )]
    Unreachable { url: String, error: String },
    #[error("no answer from {url} within {}: the proxy is stuck or overloaded", humantime::format_duration(*timeout))]
    TimedOut { url: String, timeout: Duration },
    #[error("cannot start the probe: {0}")]
    Runtime(std::io::Error),
}

/// The readiness report `/ready` answers with.
#[derive(Deserialize)]
struct Readiness {
    ready: bool,
    reason: String,
}

/// Asks `admin` within `timeout`; `Ok` carries a line saying why it is ready.
pub fn check(admin: SocketAddr, timeout: Duration) -> Result<String, HealthError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(HealthError::Runtime)?
        .block_on(probe(admin, timeout))
}

/// Like [`check`], inside a running tokio runtime.
pub async fn probe(admin: SocketAddr, timeout: Duration) -> Result<String, HealthError> {
    let target = reachable(admin);
    let url = format!("http://{target}/ready");
    let (status, body) = match tokio::time::timeout(timeout, ask(target)).await {
        Err(_) => return Err(HealthError::TimedOut { url, timeout }),
        Ok(Err(error)) => return Err(HealthError::Unreachable { url, error }),
        Ok(Ok(answer)) => answer,
    };
    match serde_json::from_slice::<Readiness>(&body) {
        Ok(report) if report.ready && status == StatusCode::OK => Ok(format!("ready: {}", report.reason)),
        Ok(report) => Err(HealthError::NotReady {
            url,
            status,
            reason: report.reason,
        }),
        Err(_) => Err(HealthError::NotReady {
            url,
            status,
            reason: "the answer is not a langsmith-proxy readiness report: another program holds this port".into(),
        }),
    }
}

/// A proxy listening on every address (`0.0.0.0`, `::`) is asked on loopback.
fn reachable(admin: SocketAddr) -> SocketAddr {
    match admin.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), admin.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), admin.port()),
        _ => admin,
    }
}

async fn ask(target: SocketAddr) -> Result<(StatusCode, Bytes), String> {
    let stream = TcpStream::connect(target).await.map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = Request::get("/ready")
        .header(HOST, target.to_string())
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_address_is_asked_on_loopback() {
        let asked = |addr: &str| reachable(addr.parse().expect("addr")).to_string();
        assert_eq!(asked("0.0.0.0:7879"), "127.0.0.1:7879");
        assert_eq!(asked("[::]:7879"), "[::1]:7879");
        assert_eq!(asked("10.0.0.5:7879"), "10.0.0.5:7879");
    }
}
