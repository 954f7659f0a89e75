//! `timeouts.response_header` counts from the end of the request body, as nginx's and HAProxy's
//! server timeouts do: a large trace batch over a slow uplink takes as long as it takes, and an
//! upload that stalls is caught by the connection's idle timeout instead.

use std::future::Future;
use std::time::Duration;

use http::Request;
use http_body::Body;
use http_body_util::BodyExt;
use tokio::sync::oneshot;

use super::counted_body::ObservedBody;
use super::ProxyBody;

/// Resolves when the request body has been sent, failed or been dropped; `None` for a request
/// without one, whose timer starts at once.
pub struct UploadEnd(Option<oneshot::Receiver<()>>);

/// Wraps the body of `request` so its end can be awaited.
pub fn watch(request: Request<ProxyBody>) -> (Request<ProxyBody>, UploadEnd) {
    if request.body().is_end_stream() {
        return (request, UploadEnd(None));
    }
    let (ended, end) = oneshot::channel();
    let request = request.map(|body| {
        ObservedBody::new(body, move |_, _| {
            let _ = ended.send(());
        })
        .boxed()
    });
    (request, UploadEnd(Some(end)))
}

/// `response`'s output, or `None` when it takes longer than `timeout` after the upload ended.
/// An answer that comes before the upload ends (a refusal on the headers alone) is taken at once.
pub async fn answer_within<F: Future>(timeout: Duration, upload: UploadEnd, response: F) -> Option<F::Output> {
    let mut response = std::pin::pin!(response);
    if let Some(end) = upload.0 {
        tokio::select! {
            biased;
            output = &mut response => return Some(output),
            // Sent or dropped: either way nothing more goes upstream.
            _ = end => {}
        }
    }
    tokio::time::timeout(timeout, response).await.ok()
}
