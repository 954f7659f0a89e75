//! Where the SDK sends requests: not a URL, the web app, LangSmith directly, a loopback
//! address where nothing listens or something other than the proxy answers, or https:// to
//! the proxy's plain-HTTP port.
//!
//! When the endpoint is a region's API host, `doctor::examine` asks LangSmith which regions
//! accept the key (`Facts::key_regions`): a mismatch is the classic "403 from the wrong region".

use super::Facts;
use crate::doctor::endpoint::EndpointKind;
use crate::doctor::finding::{Code, Finding};
use crate::doctor::probe::Answer;
use crate::doctor::sdk_env::Origin;

pub fn check(f: &Facts<'_>) -> Vec<Finding> {
    let endpoint = &f.effective.endpoint;
    let value = f.effective.shown_endpoint();
    let origin = &endpoint.origin;
    let mut findings = Vec::new();
    if let (EndpointKind::Region(region), Some(accepting)) = (f.endpoint, f.key_regions) {
        if !accepting.iter().any(|name| name == region) {
            findings.push(region_mismatch(region, accepting, &value));
        }
    }
    if let EndpointKind::Loopback { uri, answer } = f.endpoint {
        let proxy_port = f
            .proxy_endpoint
            .parse::<http::Uri>()
            .ok()
            .and_then(|proxy| proxy.port_u16());
        // The proxy answered the probe in plain HTTP there, or it is where this proxy listens
        // (which may be stopped now).
        let at_the_proxy = *answer == Answer::Proxy || uri.port_u16().is_some_and(|port| Some(port) == proxy_port);
        if uri.scheme_str() == Some("https") && at_the_proxy {
            findings.push(Finding::new(
                Code::EndpointHttpsToProxy,
                format!("The endpoint {value} (from {origin}) says https:// at langsmith-proxy's address, where the proxy speaks plain HTTP: every SDK call fails in the TLS handshake and traces are dropped."),
                [format!("export LANGSMITH_ENDPOINT={}", f.proxy_endpoint)],
            ));
            return findings;
        }
    }
    let finding = match f.endpoint {
        EndpointKind::Invalid(reason) => Finding::new(
            Code::EndpointInvalid,
            format!("The endpoint {value:?} (from {origin}) is not usable: {reason}."),
            [format!("export LANGSMITH_ENDPOINT={}", f.proxy_endpoint)],
        ),
        EndpointKind::WebUi { api_url } => Finding::new(
            Code::EndpointIsWebUi,
            format!(
                "The endpoint {value} (from {origin}) is the LangSmith web app, not its API: requests get 405 or an HTML page."
            ),
            [
                f.use_proxy_fix(),
                format!("or, without the proxy: export LANGSMITH_ENDPOINT={api_url}"),
            ],
        ),
        EndpointKind::Region(region) => {
            let summary = match origin {
                Origin::Default => format!(
                    "No endpoint is set, so the SDKs talk to {value} (region {region}) directly, not through langsmith-proxy."
                ),
                _ => format!(
                    "The endpoint {value} (from {origin}) is LangSmith's {region} API: the app talks to LangSmith directly, not through langsmith-proxy."
                ),
            };
            Finding::new(
                Code::EndpointIsRegionHost,
                summary,
                [
                    f.use_proxy_fix(),
                    match f.key_regions.and_then(|accepting| home_region(region, accepting)) {
                        // LangSmith said where the key works: no contradiction with that finding.
                        Some(home) => format!("run the proxy with --upstream {home}, where the key works"),
                        None => format!("run the proxy with --upstream {region} (or the region your key belongs to)"),
                    },
                ],
            )
        }
        EndpointKind::Loopback { answer: Answer::Nothing, .. } => {
            let mut fix = vec![format!(
                "start langsmith-proxy (with its current settings it listens at {})",
                f.proxy_endpoint
            )];
            if endpoint.value.trim_end_matches('/') != f.proxy_endpoint {
                fix.push(format!("or point the app where it listens: export LANGSMITH_ENDPOINT={}", f.proxy_endpoint));
            }
            Finding::new(
                Code::ProxyNotListening,
                format!("The endpoint {value} (from {origin}) is a loopback address where nothing listens: the SDK cannot connect and drops traces."),
                fix,
            )
        }
        // Over https the probe cannot tell a TLS server in front of the proxy from anything else.
        EndpointKind::Loopback {
            answer: Answer::Other,
            uri,
        } if uri.scheme_str() == Some("http") => {
            let port = uri.port_u16().unwrap_or(80);
            let holder = format!("see what holds the port: ss -ltnp | grep :{port}, or lsof -i :{port}");
            // At the proxy's own address: another program has its port, or the proxy is too
            // busy to answer (all its connections taken).
            let fix = if endpoint.value.trim_end_matches('/') == f.proxy_endpoint {
                vec![holder, "if it is langsmith-proxy, it did not answer within 1 s: see its log for too_many_connections".to_owned()]
            } else {
                vec![format!("point the app at langsmith-proxy: export LANGSMITH_ENDPOINT={}", f.proxy_endpoint), format!("or {holder}")]
            };
            Finding::new(
                Code::EndpointNotTheProxy,
                format!("Something other than langsmith-proxy answers at {value} (from {origin}): SDK calls go to it, not through the proxy. Right if it is a self-hosted LangSmith or another proxy on purpose."),
                fix,
            )
        }
        EndpointKind::Loopback { .. } | EndpointKind::Other => return findings,
    };
    findings.push(finding);
    findings
}

/// `LANGSMITH_RUNS_ENDPOINTS` (write replicas, each URL with its own key) beside an endpoint:
/// both SDKs refuse the pair when a client is made (reference/langsmith-api.md §2.1).
pub fn replicas(f: &Facts<'_>) -> Vec<Finding> {
    let endpoint = &f.effective.endpoint;
    if endpoint.origin == Origin::Default {
        return Vec::new();
    }
    let replicas = "LANGSMITH_RUNS_ENDPOINTS";
    if f.env.get(replicas).is_none_or(|value| value.trim().is_empty()) {
        return Vec::new();
    }
    vec![Finding::new(
        Code::RunsEndpointsConflict,
        format!(
            "{replicas} is set beside the endpoint {} (from {}): the SDKs refuse the two together (Python raises LangSmithUserError, JS ConflictingEndpointsError), so no client starts; and the replicas it lists are sent their own keys directly, not through langsmith-proxy.",
            f.effective.shown_endpoint(),
            endpoint.origin
        ),
        [format!("unset {replicas}: through langsmith-proxy, LANGSMITH_ENDPOINT alone says where traces go")],
    )]
}

/// The region the key works in, when it is not `region`.
fn home_region<'a>(region: &str, accepting: &'a [String]) -> Option<&'a str> {
    match accepting.iter().any(|name| name == region) {
        true => None,
        false => accepting.first().map(String::as_str),
    }
}

fn region_mismatch(region: &str, accepting: &[String], endpoint: &str) -> Finding {
    match accepting.first() {
        Some(home) => Finding::new(
            Code::KeyRegionMismatch,
            format!(
                "The endpoint {endpoint} is LangSmith's {region} region, but the key works in {}: every call gets 401/403.",
                accepting.join(", ")
            ),
            [
                format!("run langsmith-proxy with --upstream {home} and point the app at it"),
                format!("or, without the proxy, use the {home} API host as LANGSMITH_ENDPOINT"),
            ],
        ),
        None => Finding::new(
            Code::KeyRegionMismatch,
            format!("The endpoint {endpoint} is LangSmith's {region} region, and no region accepts the key: it is wrong, revoked or expired."),
            ["create a new key in LangSmith → Settings → API Keys and set it where the app (or the proxy) reads it".to_owned()],
        ),
    }
}
