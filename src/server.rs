//! Accepts connections (HTTP/1.1 and h2c on the same port) and drains them on shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::service::TowerToHyperService;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

use crate::connection;
use crate::listener::{Listener, Peer};
use crate::proxy::{self, Arrival, ClientAddr, ReceivedHead};
use crate::workers::Workers;
use crate::App;

/// How long accepting pauses after an accept error (out of file descriptors and the like).
pub const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// How long connections cut at the end of the grace period get to go (and log their requests).
const CUT_WAIT: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` (a tokio `TcpListener` or a [`Listener`]) until `shutdown`
/// resolves, then stops accepting and lets the connections in flight finish within the
/// configured grace period.
pub async fn serve(listener: impl Into<Listener>, app: App, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    let listener = listener.into();
    warn_if_remote(&listener, &app);
    warn_if_plaintext(&app);
    app.background().run_here();
    if let Some(check) = app.key_check() {
        check.refresh_in_background_if_stale();
    }
    // Lives as long as the server: a rotated key file is picked up until shutdown.
    let _key_watch = app.watch_key_file();
    let workers = Workers::start(app.workers())?;
    // One stack per worker, each over its own upstream pool: worker 0 uses the app's.
    let stacks: Vec<_> = (0..workers.count())
        .map(|index| {
            let client = if index == 0 {
                app.client().clone()
            } else {
                app.new_pool()
            };
            proxy::stack(app.shared().clone(), client)
        })
        .collect();
    let mut next_worker = 0;
    let limits = *app.limits();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (drain, draining) = watch::channel(());
    let ctx = connection::Context {
        builder: connection::builder(&limits),
        limits,
        counters: app.limit_counters().clone(),
        drain: draining,
        refusing: Arc::new(Semaphore::new(connection::MAX_REFUSING)),
        stall_grace: stall_grace(&app),
    };
    tokio::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: keep serving what we have.
                    tracing::error!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            connection::refuse(stream, peer, app.shared().clone(), &ctx);
            continue;
        };
        let worker = next_worker;
        next_worker = (next_worker + 1) % stacks.len();
        let client = match peer {
            Peer::Tcp(addr) => Some(ClientAddr::new(addr)),
            Peer::Unix => None,
        };
        let per_connection = stacks[worker]
            .clone()
            .map_request(move |mut request: http::Request<_>| {
                let arrival = Arrival {
                    client: client.clone(),
                    // Measured before any layer adds a header of its own.
                    head: ReceivedHead::of(&request),
                };
                request.extensions_mut().insert(arrival);
                request
            });
        let ctx = ctx.clone();
        workers.serve_connection(worker, stream, move |stream| async move {
            connection::serve(stream, peer, TowerToHyperService::new(per_connection), ctx).await;
            drop(slot);
        });
    }

    drop(listener);
    app.shared().begin_drain();
    // Each connection holds a receiver; the count left besides our own is the number in flight.
    let connections = drain.receiver_count().saturating_sub(1);
    drop(ctx);
    let _ = drain.send(());
    let grace = app.shared().timeouts.shutdown_grace;
    tracing::info!(connections, grace = %humantime::format_duration(grace), "draining connections");
    if tokio::time::timeout(grace, drain.closed()).await.is_err() {
        app.shared().expire_drain();
        let connections = drain.receiver_count();
        tracing::warn!(connections, "timeouts.shutdown_grace ended before every connection finished; closing the rest (their access lines say outcome \"shutdown\")");
        // A second change cuts the connections left; each logs its request as it goes.
        let _ = drain.send(());
        let _ = tokio::time::timeout(CUT_WAIT, drain.closed()).await;
    }
    workers.stop().await;
    Ok(())
}

/// How long a connection closed for idleness may then stay silent before it is dropped: longer
/// than the slowest answer a request can legitimately wait for (the upstream's, a 401's key
/// re-read, and the retry's).
fn stall_grace(app: &App) -> std::time::Duration {
    let shared = app.shared();
    shared
        .timeouts
        .response_header
        .saturating_mul(2)
        .saturating_add(shared.key_reloader.rejection_wait())
}

/// Over plain http:// to another machine, the key crosses the network readable by anyone on
/// the path: say so at every start (a local or in-cluster upstream may be meant).
fn warn_if_plaintext(app: &App) {
    let upstream = &app.shared().upstream;
    if upstream.is_tls() || upstream.is_loopback() {
        return;
    }
    tracing::warn!(upstream = upstream.url(), "the upstream is plain http:// on another machine: the API key travels unencrypted; use https:// unless the network path is private");
}

/// A proxy reachable from other machines lends the key to them: say so at every start.
fn warn_if_remote(listener: &Listener, app: &App) {
    let Ok(addr) = listener.local_addr() else { return };
    if !addr.is_remote() {
        return;
    }
    if app.shared().guard.token.is_some() {
        tracing::warn!(listen = %addr, "listening on a non-loopback address; every request must carry the client token");
    } else {
        tracing::warn!(listen = %addr, "listening on a non-loopback address WITHOUT a client token (allow_remote = true): anyone who can reach it can spend the LangSmith key");
    }
}
