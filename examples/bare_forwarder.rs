//! The floor for the benchmark (bench/run.sh): the least a proxy on this stack (hyper 1,
//! hyper-util, tokio) can do. It accepts HTTP/1.1 or h2c, sets `x-api-key` and forwards over a
//! pooled client, with no checks, diagnosis, logs or metrics. Run beside langsmith-proxy, it
//! shows how much of the cost per request is the stack's own.
//!
//! Usage: bare_forwarder LISTEN UPSTREAM WORKERS
//!   e.g. bare_forwarder 127.0.0.1:7900 http://127.0.0.1:8080 1
//! The key comes from LANGSMITH_API_KEY.

use std::error::Error;
use std::net::SocketAddr;

use http::header::HOST;
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Request, Uri};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

type BoxError = Box<dyn Error + Send + Sync>;

const USAGE: &str = "usage: bare_forwarder LISTEN UPSTREAM WORKERS (key in LANGSMITH_API_KEY)";

fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream), Some(workers)) = (args.next(), args.next(), args.next()) else {
        return Err(USAGE.into());
    };
    let listen: SocketAddr = listen.parse().map_err(|e| format!("LISTEN: {e}; {USAGE}"))?;
    let upstream: Uri = upstream.parse().map_err(|e| format!("UPSTREAM: {e}; {USAGE}"))?;
    let workers: usize = workers.parse().map_err(|e| format!("WORKERS: {e}; {USAGE}"))?;
    let key = std::env::var("LANGSMITH_API_KEY").map_err(|e| format!("LANGSMITH_API_KEY: {e}"))?;
    let key = HeaderValue::try_from(key)?;
    let (Some(scheme), Some(authority)) = (upstream.scheme().cloned(), upstream.authority().cloned()) else {
        return Err(format!("UPSTREAM must be an absolute http:// URL; {USAGE}").into());
    };
    let target = Target { scheme, authority, key };
    let listener = std::net::TcpListener::bind(listen)?;
    listener.set_nonblocking(true)?;
    // One thread per worker, each with its own runtime, listener handle and upstream pool, as
    // langsmith-proxy's workers: no work stealing, no wake-ups across threads.
    let threads = (0..workers.max(1))
        .map(|_| {
            let (listener, target) = (listener.try_clone()?, target.clone());
            Ok(std::thread::spawn(move || -> Result<(), String> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                runtime.block_on(serve(listener, target)).map_err(|e| e.to_string())
            }))
        })
        .collect::<Result<Vec<_>, std::io::Error>>()?;
    for thread in threads {
        thread.join().map_err(|_| "a worker thread panicked")??;
    }
    Ok(())
}

/// Where requests go, and the key they carry.
#[derive(Clone)]
struct Target {
    scheme: Scheme,
    authority: Authority,
    key: HeaderValue,
}

async fn serve(listener: std::net::TcpListener, target: Target) -> Result<(), BoxError> {
    let listener = TcpListener::from_std(listener)?;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<_, Incoming> = Client::builder(TokioExecutor::new()).build(connector);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let (client, target) = (client.clone(), target.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let (client, target) = (client.clone(), target.clone());
                async move {
                    let request = forwarded(request, &target).map_err(std::io::Error::other)?;
                    client.request(request).await.map_err(std::io::Error::other)
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The request with the upstream's address and the key.
fn forwarded(request: Request<Incoming>, target: &Target) -> Result<Request<Incoming>, http::Error> {
    let (mut parts, body) = request.into_parts();
    let mut uri = Uri::builder()
        .scheme(target.scheme.clone())
        .authority(target.authority.clone());
    if let Some(path_and_query) = parts.uri.path_and_query() {
        uri = uri.path_and_query(path_and_query.clone());
    }
    parts.uri = uri.build()?;
    parts.version = http::Version::HTTP_11;
    parts.headers.remove(HOST);
    parts.headers.insert("x-api-key", target.key.clone());
    Ok(Request::from_parts(parts, body))
}
