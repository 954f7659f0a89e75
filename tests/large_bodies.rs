//! 1 GiB up and 1 GiB down through the proxy, checksummed, while the process's peak memory
//! stays bounded: proof that bodies stream rather than collect. The only test in this binary,
//! because the peak (VmHWM) is per process.

mod support;

use http::{Method, Request};
use support::*;

const LEN: u64 = 1024 * 1024 * 1024;
/// Half the 64 MiB the core issue allows, for the whole test process (client and upstream too).
const MAX_GROWTH_KIB: u64 = 32 * 1024;

/// Peak resident set size in KiB, where /proc exists.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_each_way_streams_with_bounded_memory() {
    let upstream = FakeUpstream::start(|req| {
        if req.method == Method::GET && req.target == "/download" {
            Reply::generated(LEN)
        } else {
            Reply::ok()
        }
    })
    .await;
    let proxy = start_proxy(&upstream.url).await;
    let expected = generated_sha256(LEN);
    // Warm up connections and buffers so the baseline includes them.
    let (warm, _) = get(&proxy.url("/info")).await;
    assert_eq!(warm.status(), 200);
    let before = peak_rss_kib();

    let upload = Request::post(proxy.url("/runs/multipart"))
        .body(generated_body(LEN))
        .expect("request");
    let (response, _) = send(upload).await;
    assert_eq!(response.status(), 200);
    let seen = upstream.last();
    assert_eq!(seen.body_len, LEN);
    assert_eq!(seen.body_sha256, expected);

    let (status, received, sha256) = download(&proxy.url("/download")).await;
    assert_eq!(status, 200);
    assert_eq!(received, LEN);
    assert_eq!(sha256, expected);

    match (before, peak_rss_kib()) {
        (Some(before), Some(after)) => {
            let growth = after.saturating_sub(before);
            eprintln!("peak RSS {before} KiB -> {after} KiB (+{growth} KiB) for 2 GiB through the proxy");
            assert!(
                growth < MAX_GROWTH_KIB,
                "peak RSS grew by {growth} KiB moving 2 GiB: bodies are being buffered"
            );
        }
        _ => eprintln!("no /proc/self/status here: checksums checked, memory bound not measured"),
    }
}
