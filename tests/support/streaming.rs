//! An upstream whose one response body the test feeds chunk by chunk: proof that bodies stream
//! and that a drain waits for a response still in flight.

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio::sync::mpsc;

pub type Chunks = mpsc::Sender<Result<Frame<Bytes>, std::convert::Infallible>>;

/// Starts the upstream on 127.0.0.1:0; returns its URL and the sender of its body's chunks.
/// Dropping the sender ends the body.
pub async fn streaming_upstream() -> (String, Chunks) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (chunks, receiver) = mpsc::channel(1);
    let receiver = std::sync::Mutex::new(Some(receiver));
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let service = hyper::service::service_fn(move |_request: Request<hyper::body::Incoming>| {
            let receiver = receiver.lock().expect("lock").take().expect("one request");
            async move { Ok::<_, std::convert::Infallible>(http::Response::new(StreamBody::new(receiver_stream(receiver)))) }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
            .await;
    });
    (url, chunks)
}

/// An mpsc receiver as a Stream, without pulling in tokio-stream.
pub fn receiver_stream<T: Send + 'static>(
    receiver: mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
}

/// Sends one chunk of the streamed body.
pub async fn send_chunk(chunks: &Chunks, data: &'static [u8]) {
    chunks
        .send(Ok(Frame::data(Bytes::from_static(data))))
        .await
        .expect("the upstream takes the chunk");
}

/// Starts `GET /runs/stream` through the proxy at `addr` and sees its first chunk arrive: the
/// response is then in flight. Returns the rest of the body.
pub async fn open_stream(addr: std::net::SocketAddr, chunks: &Chunks) -> hyper::body::Incoming {
    open_stream_over(addr, chunks, false).await
}

/// [`open_stream`], over h2c when `h2c`.
pub async fn open_stream_over(addr: std::net::SocketAddr, chunks: &Chunks, h2c: bool) -> hyper::body::Incoming {
    let response = super::http_client(h2c)
        .request(
            Request::get(format!("http://{addr}/runs/stream"))
                .body(super::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    let mut body = response.into_body();
    send_chunk(chunks, b"one;").await;
    let first = body
        .frame()
        .await
        .expect("frame")
        .expect("ok")
        .into_data()
        .expect("data");
    assert_eq!(&first[..], b"one;");
    body
}

/// Sends the last chunk, ends the upstream's body, and checks the rest arrives: the streaming
/// request in flight completed.
pub async fn finish_stream(chunks: Chunks, body: hyper::body::Incoming) {
    send_chunk(&chunks, b"two").await;
    drop(chunks);
    let rest = body
        .collect()
        .await
        .expect("the streaming request completes")
        .to_bytes();
    assert_eq!(&rest[..], b"two");
}
