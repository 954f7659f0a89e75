//! Accepts connections (HTTP/1.1 and h2c on the same port) and drains them on shutdown.

use std::future::Future;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::proxy::{self, ClientAddr};
use crate::App;

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and lets the
/// connections in flight finish within the configured grace period.
pub async fn serve(listener: TcpListener, app: App, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    if let Some(check) = app.key_check() {
        check.refresh_in_background_if_stale();
    }
    // Lives as long as the server: a rotated key file is picked up until shutdown.
    let _key_watch = app.watch_key_file();
    let service = proxy::stack(app.shared().clone(), app.client().clone());
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: keep serving what we have.
                    tracing::error!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let per_connection = service.clone().map_request(move |mut request: http::Request<_>| {
            request.extensions_mut().insert(ClientAddr(peer));
            request
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(per_connection))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
        });
    }

    drop(listener);
    let grace = app.shared().timeouts.shutdown_grace;
    tracing::info!(in_flight = graceful.count(), grace = %humantime::format_duration(grace), "draining connections");
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("grace period ended before every connection finished; closing the rest");
    }
    Ok(())
}
