//! Outbound proxies: with HTTP(S)_PROXY set and NO_PROXY not covering the loopback endpoint,
//! Python's `requests` sends the SDK's calls to the corporate proxy instead of langsmith-proxy.

use hyper_util::client::proxy::matcher::Matcher;

use super::Facts;
use crate::doctor::endpoint::EndpointKind;
use crate::doctor::finding::{Code, Finding};
use crate::env::Env;

pub fn check(f: &Facts<'_>) -> Vec<Finding> {
    let EndpointKind::Loopback { uri, .. } = f.endpoint else {
        return Vec::new();
    };
    let no_proxy = value(f.env, "NO_PROXY").unwrap_or_default();
    // `*` alone bypasses every proxy for requests and curl alike.
    if no_proxy.trim() == "*" {
        return Vec::new();
    }
    let matcher = Matcher::builder()
        .all(value(f.env, "ALL_PROXY").unwrap_or_default())
        .http(value(f.env, "HTTP_PROXY").unwrap_or_default())
        .https(value(f.env, "HTTPS_PROXY").unwrap_or_default())
        .no(no_proxy)
        .build();
    if matcher.intercept(uri).is_none() {
        return Vec::new();
    }
    let scheme_var = if uri.scheme_str() == Some("https") {
        "HTTPS_PROXY"
    } else {
        "HTTP_PROXY"
    };
    let proxy_var = [scheme_var, "ALL_PROXY"]
        .into_iter()
        .flat_map(|name| [name.to_ascii_lowercase(), name.to_owned()])
        .find(|name| f.env.get(name).is_some_and(|v| !v.is_empty()))
        .unwrap_or_else(|| scheme_var.to_owned());
    let host = uri.host().unwrap_or_default();
    // requests compares the host as written, without brackets: 127.0.0.2 or ::1 need an entry
    // of their own.
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    let entries = match bare_host {
        "127.0.0.1" | "localhost" => "127.0.0.1,localhost".to_owned(),
        other => format!("127.0.0.1,localhost,{other}"),
    };
    vec![Finding::new(
        Code::NoProxyMissingLoopback,
        format!(
            "{proxy_var} is set and NO_PROXY does not cover {host}: Python's requests sends the SDK's calls for {} to that proxy, not to langsmith-proxy.",
            f.effective.shown_endpoint()
        ),
        [
            format!("export NO_PROXY={entries},$NO_PROXY no_proxy={entries},$no_proxy"),
            "eval \"$(langsmith-proxy env)\" does this too".to_owned(),
        ],
    )]
}

/// A variable's value; the lower-case spelling first, as curl and Python's `requests` read it
/// (an empty one counts as unset: `requests` then reads the upper-case one).
fn value(env: &Env, upper: &str) -> Option<String> {
    env.get(&upper.to_ascii_lowercase())
        .filter(|value| !value.is_empty())
        .or_else(|| env.get(upper))
        .map(str::to_owned)
}
