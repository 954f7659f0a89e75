//! Where the SDK sends requests: not a URL, the web app, LangSmith directly, or a loopback
//! address where nothing listens.
//!
//! The "region that does not match where the key works" check belongs here once the key check
//! exists: gather `(key, endpoint) -> accepted regions` in `doctor::examine`, keep the answer
//! in `Facts`, and compare it with `EndpointKind::Region` below.

use super::Facts;
use crate::doctor::endpoint::EndpointKind;
use crate::doctor::finding::{Code, Finding};
use crate::doctor::sdk_env::{printable, Origin};

pub fn check(f: &Facts<'_>) -> Vec<Finding> {
    let endpoint = &f.effective.endpoint;
    let value = printable(&endpoint.value);
    let origin = &endpoint.origin;
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
                    format!("run the proxy with --upstream {region} (or the region your key belongs to)"),
                ],
            )
        }
        EndpointKind::Loopback { listening: false, .. } => {
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
        EndpointKind::Loopback { listening: true, .. } | EndpointKind::Other => return Vec::new(),
    };
    vec![finding]
}
