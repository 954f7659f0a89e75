//! Worker threads: connections are handed to the workers in turn, each worker keeps its own
//! upstream pool, and a drain waits for responses streaming on any of them.

mod support;

use support::*;

/// Each `get` opens a new client connection; requests run one after another, so each worker's
/// pool reuses its one upstream connection and the upstream sees one connection per worker.
#[tokio::test]
async fn connections_take_turns_over_the_workers_each_with_its_own_pool() {
    for (workers, connections) in [("1", 1), ("3", 3)] {
        let upstream = FakeUpstream::start(|_| Reply::ok()).await;
        let proxy = start_proxy_with(&upstream.url, &[("workers", workers)], env_with_key()).await;
        assert_eq!(proxy.app.workers().to_string(), workers);
        for _ in 0..9 {
            let (response, _) = get(&proxy.url("/info")).await;
            assert_eq!(response.status(), 200);
        }
        assert_eq!(upstream.requests().len(), 9);
        assert_eq!(
            upstream.connections(),
            connections,
            "{workers} worker(s): one pooled upstream connection each"
        );
        proxy.stop().await;
    }
}

/// The second connection goes to the second worker's thread: shutting down waits for its
/// streaming response, then stops the worker and returns.
#[tokio::test]
async fn shutdown_waits_for_a_response_streaming_on_a_worker_thread() {
    let (upstream_url, chunks_tx) = streaming_upstream().await;
    let env = env_with_key();
    let config = load_config(
        &[("key.check", "false"), ("upstream", &upstream_url), ("workers", "2")],
        &env,
    )
    .expect("config");
    let app = langsmith_proxy::App::from_config(&config, &env).expect("app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(langsmith_proxy::serve(listener, app.clone(), async {
        let _ = stopped.await;
    }));

    // Worker 0 takes the first connection, which the proxy answers itself (the streaming
    // upstream serves one request only): a Host it does not answer to.
    let refused = raw_exchange(
        addr,
        b"GET /info HTTP/1.1\r\nHost: elsewhere.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    let body = open_stream(addr, &chunks_tx).await;

    stop.send(()).expect("stop");
    wait_until_draining(&app).await;
    finish_stream(chunks_tx, body).await;
    served.await.expect("join").expect("serve returns Ok");
}
