//! Starts the proxy in-process through the library's `serve(...)` on 127.0.0.1:0.

use std::net::SocketAddr;

use langsmith_proxy::config::{self, Config, ConfigError, FlagValue, Sources};
use langsmith_proxy::env::Env;
use langsmith_proxy::{serve, App};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct ProxyHandle {
    pub addr: SocketAddr,
    pub app: App,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl ProxyHandle {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Signals shutdown and waits for `serve` to return.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("serve task").expect("serve result");
        }
    }
}

/// Flags as `(setting key, value)`, e.g. `("upstream", url)`.
pub fn sources(flags: &[(&'static str, &str)]) -> Sources {
    Sources {
        file: None,
        default_file: None,
        flags: flags
            .iter()
            .map(|(key, value)| FlagValue {
                key: (*key).to_owned(),
                flag: "--test-flag",
                value: (*value).to_owned(),
            })
            .collect(),
    }
}

pub fn load_config(flags: &[(&'static str, &str)], env: &Env) -> Result<Config, ConfigError> {
    config::load(&sources(flags), env)
}

/// The environment a proxy normally runs with: the test key in LANGSMITH_API_KEY.
pub fn env_with_key() -> Env {
    Env::from_pairs([("LANGSMITH_API_KEY", super::TEST_KEY)])
}

/// Starts a proxy in front of `upstream` with extra flags and the given environment. The key
/// check is off unless a test turns it on with `("key.check", "true")`: it would add requests
/// the forwarding tests do not expect. Two workers, whatever the machine: connections cross
/// threads on a one-CPU machine too, and tests running side by side on a large one do not
/// start a thread per CPU each.
pub async fn start_proxy_with(upstream: &str, flags: &[(&'static str, &str)], env: Env) -> ProxyHandle {
    let mut all = vec![("key.check", "false"), ("upstream", upstream), ("workers", "2")];
    all.extend_from_slice(flags);
    let config = load_config(&all, &env).expect("config");
    let app = App::from_config(&config, &env).expect("app");
    start_app(app).await
}

pub async fn start_proxy(upstream: &str) -> ProxyHandle {
    start_proxy_with(upstream, &[], env_with_key()).await
}

pub async fn start_app(app: App) -> ProxyHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    start_app_on(listener, app)
}

/// A proxy with no key of its own (`keep-if-present`: it starts, and clients may bring one).
pub async fn start_proxy_without_key(upstream: &str) -> ProxyHandle {
    start_proxy_with(upstream, &[("client_credentials", "keep-if-present")], Env::default()).await
}

/// A proxy in front of the TLS `upstream`, trusting `ca` through `upstream_ca_file`, with one
/// worker: each worker keeps its own upstream pool, and the TLS tests count one pool's
/// connections.
pub async fn start_proxy_trusting(ca: &super::TestCa, upstream: &str) -> ProxyHandle {
    let ca_file = ca.pem_file();
    let ca_path = ca_file.to_str().expect("utf-8 path");
    start_proxy_with(
        upstream,
        &[("upstream_ca_file", ca_path), ("workers", "1")],
        env_with_key(),
    )
    .await
}

/// Serves `app` on a listener bound beforehand (to know its address before configuring).
pub fn start_app_on(listener: TcpListener, app: App) -> ProxyHandle {
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let served = app.clone();
    let task = tokio::spawn(async move {
        serve(listener, served, async {
            let _ = stopped.await;
        })
        .await
    });
    ProxyHandle {
        addr,
        app,
        stop: Some(stop),
        task: Some(task),
    }
}

/// Starts the admin endpoints of `app` on 127.0.0.1:0; returns their base URL.
pub async fn start_admin(app: &App) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind admin");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(langsmith_proxy::admin::serve_admin(
        listener,
        app.clone(),
        std::future::pending(),
    ));
    format!("http://{addr}")
}

/// Waits until `app` reports not ready: its server has begun to drain. Bounded, so a drain that
/// never begins fails the test instead of hanging it.
pub async fn wait_until_draining(app: &App) {
    let draining = async {
        while app.shared().readiness().ready {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), draining)
        .await
        .expect("the drain began");
}
