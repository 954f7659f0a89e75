//! Redirects and `201 Created` that name the upstream by its absolute URL come back pointing at
//! the proxy, so a client that follows them keeps going through it.

mod support;

use support::*;

/// Answers `/api/v1/moved` and `/moved` with a 307, `/made` with a 201, `/away` with a redirect
/// to another host, `/offsite` with one that reads as another host once relative, and `/plain`
/// with a 200 carrying a Location; each absolute on the upstream but `/away`'s.
fn redirecting(request: &Recorded) -> Reply {
    let host = request.header("host").unwrap_or_default();
    let path = request.target.as_str();
    let on_upstream = |to: &str| format!("http://{host}{to}");
    match path {
        "/api/v1/moved" => Reply::json(307, "{}").with_header("location", &on_upstream("/api/v1/runs/?limit=1")),
        "/moved" => Reply::json(307, "{}").with_header("location", &on_upstream("/runs/?limit=1")),
        "/made" => Reply::json(201, "{}").with_header("location", &on_upstream("/datasets/7")),
        "/away" => Reply::json(302, "{}").with_header("location", "https://smith.langchain.com/o/1"),
        // Built from a request path `//evil.example/runs`, as trailing-slash redirects are.
        "/offsite" => Reply::json(308, "{}").with_header("location", &on_upstream("//evil.example/runs/")),
        _ => Reply::ok().with_header("location", &on_upstream("/plain")),
    }
}

fn location(response: &http::Response<()>) -> Option<&str> {
    response.headers().get("location").and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn locations_on_the_upstream_are_made_relative_to_the_proxy() {
    let upstream = FakeUpstream::start(redirecting).await;
    let proxy = start_proxy(&upstream.url).await;

    let (moved, _) = get(&proxy.url("/moved")).await;
    assert_eq!(moved.status(), 307);
    assert_eq!(location(&moved), Some("/runs/?limit=1"));
    let (made, _) = get(&proxy.url("/made")).await;
    assert_eq!(made.status(), 201);
    assert_eq!(location(&made), Some("/datasets/7"));

    // Another host, and a Location on an answer that is not a redirect, pass as they came.
    let (away, _) = get(&proxy.url("/away")).await;
    assert_eq!(location(&away), Some("https://smith.langchain.com/o/1"));
    // Made relative, `//evil.example/runs/` would lead to evil.example: it stays absolute.
    let (offsite, _) = get(&proxy.url("/offsite")).await;
    assert_eq!(
        location(&offsite),
        Some(format!("http://{}//evil.example/runs/", upstream.addr).as_str())
    );
    let (plain, _) = get(&proxy.url("/plain")).await;
    assert_eq!(
        location(&plain),
        Some(format!("http://{}/plain", upstream.addr).as_str())
    );
}

#[tokio::test]
async fn a_self_hosted_base_path_is_taken_off_again() {
    let upstream = FakeUpstream::start(redirecting).await;
    let proxy = start_proxy(&format!("{}/api/v1", upstream.url)).await;

    let (moved, _) = get(&proxy.url("/moved")).await;
    assert_eq!(upstream.last().target, "/api/v1/moved");
    assert_eq!(location(&moved), Some("/runs/?limit=1"));
    // Followed, the relative Location leads through the proxy to the same upstream URL.
    let (followed, _) = get(&proxy.url("/runs/?limit=1")).await;
    assert_eq!(followed.status(), 200);
    assert_eq!(upstream.last().target, "/api/v1/runs/?limit=1");
    assert!(upstream.last().header("x-api-key").is_some());
}
