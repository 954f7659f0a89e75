//! The words: for each cause, a one-sentence summary and the steps that fix it, naming the exact
//! setting, flag or variable to change.

use super::classify::Cause;
use super::evidence::{CredentialEvidence, Evidence};
use super::{Code, Diagnosis};
use crate::key_check::{rfc3339, Workspace};

const KEYS_PAGE: &str = "LangSmith → Settings → API Keys";

pub fn describe(cause: &Cause<'_>, evidence: &Evidence<'_>) -> Diagnosis {
    let key = KeyFacts::of(evidence);
    let (source, hint) = (key.source.as_str(), key.hint.as_str());
    let upstream = evidence.upstream_url;
    let (code, summary, fix) = match cause {
        Cause::RateLimited { likely_limit } => (
            Code::RateLimited,
            format!("LangSmith is rate-limiting this key (429); the likely limit is {likely_limit}."),
            vec![
                match evidence.retry_after {
                    // Retry-After is seconds or an HTTP date.
                    Some(after) if after.trim().parse::<u64>().is_ok() => {
                        format!("Wait {} s before retrying (Retry-After); the SDKs do this themselves", after.trim())
                    }
                    Some(after) => format!("Wait until {after} before retrying (Retry-After); the SDKs do this themselves"),
                    None => "Back off and retry later; the SDKs retry 429 with a delay".to_owned(),
                },
                "Send fewer, larger batches: keep SDK batching on rather than one request per run".to_owned(),
                "Check usage and limits in LangSmith → Settings → Usage and billing".to_owned(),
            ],
        ),
        Cause::WebUi if is_api_url(upstream) => (
            Code::UpstreamIsWebUi,
            format!("{upstream} answered {} {} with a web page, although it is an API address: something in front of LangSmith (an ingress, a gateway) sends this path to the web app.", evidence.status, evidence.path),
            vec![
                "Self-hosted: route /api/v1 (and /api/v2) to the LangSmith backend in the ingress or gateway".to_owned(),
                format!("Check the path the app uses: {} {}", evidence.method, evidence.path),
            ],
        ),
        Cause::WebUi => (
            Code::UpstreamIsWebUi,
            format!("{upstream} answered {} with a web page: it is the LangSmith web app, not the API.", evidence.status),
            vec![
                format!("Set upstream to the API: {} (flag --upstream, env LANGSMITH_PROXY_UPSTREAM)", api_for_web_ui(upstream)),
                "The API hosts are api.smith.langchain.com, eu.api…, apac.api…, aws.api…; self-hosted: https://HOST/api/v1".to_owned(),
            ],
        ),
        Cause::Missing => (
            Code::KeyMissing,
            "No API key reached LangSmith: the proxy has none loaded and the app sent none.".to_owned(),
            vec![
                format!("Give the proxy a key: {}", reload_step(source)),
                "Or, under client_credentials = keep-if-present, set the app's LANGSMITH_API_KEY to a real key".to_owned(),
            ],
        ),
        Cause::ClientKeyRejected => (
            Code::ClientKeyRejected,
            format!("LangSmith answered {} to the app's own key, which the proxy forwarded (client_credentials = keep-if-present).", evidence.status),
            vec![
                "Fix the key the app sends (its LANGSMITH_API_KEY), or set it to proxy-managed so the proxy's key is used".to_owned(),
                "Or make the proxy always use its own key: client_credentials = \"replace\" (flag --client-credentials replace)".to_owned(),
            ],
        ),
        Cause::Legacy => (
            Code::KeyLegacy,
            format!("The key from {source} ({hint}) is a legacy key; LangSmith stopped accepting ls__ and v1 keys on 2024-10-22."),
            vec![
                format!("Create a new key in {KEYS_PAGE}: it starts with lsv2_pt_ (personal) or lsv2_sk_ (service)"),
                reload_step(source),
            ],
        ),
        Cause::WorkspaceRequired { reachable } if evidence.workspace_sent.is_some() => (
            Code::WorkspaceRequired,
            format!(
                "LangSmith says the key from {source} ({hint}) needs a workspace, although X-Tenant-Id {} was sent: something between the proxy and LangSmith dropped it, or it is not a workspace UUID.",
                evidence.workspace_sent.unwrap_or_default()
            ),
            [
                "Self-hosted: let the ingress or gateway pass the X-Tenant-Id header through to LangSmith".to_owned(),
                "Check the id against LangSmith → Settings → Workspaces (workspace_id, or the app's LANGSMITH_WORKSPACE_ID)".to_owned(),
            ]
            .into_iter()
            .chain(reachable.map(|list| format!("Workspaces this key can reach: {}", list_workspaces(list))))
            .collect(),
        ),
        Cause::WorkspaceRequired { reachable } => (
            Code::WorkspaceRequired,
            format!("The key from {source} ({hint}) needs a workspace: it is organization-scoped or reaches several workspaces, and no X-Tenant-Id was sent."),
            [
                "Set the proxy's workspace_id to the workspace UUID (flag --workspace-id, env LANGSMITH_PROXY_WORKSPACE_ID)".to_owned(),
                "Or set LANGSMITH_WORKSPACE_ID in the app (Python SDK ≥ 0.4.20 and the JS SDK send it as X-Tenant-Id)".to_owned(),
            ]
            .into_iter()
            .chain(reachable.map(|list| format!("Workspaces this key can reach: {}", list_workspaces(list))))
            .collect(),
        ),
        Cause::WrongRegion { region, url } => (
            Code::KeyWrongRegion,
            format!(
                "The key from {source} ({hint}) is rejected by {upstream}{} but accepted by the {region} region ({url}).",
                evidence.upstream_region.map(|r| format!(" ({r})")).unwrap_or_default()
            ),
            vec![
                format!("Set upstream = \"{region}\" (flag --upstream {region}, env LANGSMITH_PROXY_UPSTREAM={region}) and restart the proxy"),
                format!("Apps keep LANGSMITH_ENDPOINT at the proxy; without the proxy they would need LANGSMITH_ENDPOINT={url}"),
            ],
        ),
        Cause::Malformed { why } => (
            Code::KeyMalformed,
            format!("LangSmith rejected the key from {source} ({hint}), which does not look like a LangSmith key: {why}."),
            vec![
                format!("Copy the key again from {KEYS_PAGE}; check that nothing else (another service's key) was pasted"),
                reload_step(source),
            ],
        ),
        Cause::WorkspaceDenied { requested, reachable } => (
            Code::WorkspaceDenied,
            format!(
                "{} {requested}, which the key from {source} ({hint}) cannot reach.",
                if evidence.workspace_from_proxy {
                    "The proxy's workspace_id is"
                } else {
                    "The app asked for workspace"
                }
            ),
            vec![
                format!("Use a workspace the key can reach: {}", list_workspaces(reachable)),
                if evidence.workspace_from_proxy {
                    "Set it as the proxy's workspace_id (flag --workspace-id, env LANGSMITH_PROXY_WORKSPACE_ID); it replaces any workspace the app sends".to_owned()
                } else {
                    "Set it as the app's LANGSMITH_WORKSPACE_ID (sent as X-Tenant-Id), or as the proxy's workspace_id (flag --workspace-id)".to_owned()
                },
                format!("Or give the key access to {requested} in LangSmith → Settings → Workspaces"),
            ],
        ),
        Cause::PermissionDenied { workspace } => (
            Code::PermissionDenied,
            format!(
                "The key from {source} ({hint}) is valid, but {} may not {} {}.",
                workspace.map(role_phrase).unwrap_or_else(|| "its role".to_owned()),
                evidence.method,
                evidence.path
            ),
            vec![
                "Ask a workspace admin for a role that allows this (LangSmith → Settings → Members and roles)".to_owned(),
                "Or use a key whose role may write: a read-only workspace or Viewer role only reads".to_owned(),
            ],
        ),
        Cause::Revoked { last_valid_at } => (
            Code::KeyRevoked,
            format!(
                "LangSmith rejected the key from {source} ({hint}), which was valid at {}: it has been revoked or has expired since.",
                rfc3339(*last_valid_at)
            ),
            vec![format!("Create a new key in {KEYS_PAGE}"), reload_step(source)],
        ),
        Cause::Replaced { current_hint } => (
            Code::KeyRevoked,
            format!(
                "LangSmith rejected the key from {source} ({hint}) that this request carried; the source has since given the proxy another key ({current_hint}), so the old one was most likely revoked in a rotation."
            ),
            vec![
                "Send the request again: the proxy now sends the new key".to_owned(),
                "If the new key is rejected too, run `langsmith-proxy check`".to_owned(),
            ],
        ),
        Cause::Rejected => (
            Code::KeyRejected,
            format!("LangSmith rejected the key from {source} ({hint}): it is wrong, revoked or expired; {}", never_accepted(evidence)),
            vec![
                format!("Check the key in {KEYS_PAGE}; create a new one if it is gone or expired"),
                reload_step(source),
                "If your organization lives in another region, set upstream (flag --upstream eu|apac|aws); `langsmith-proxy check` probes them".to_owned(),
            ],
        ),
        Cause::Unexplained => (
            Code::ForbiddenUnexplained,
            format!("LangSmith answered {} to {} {} for a reason the proxy cannot pin down: {}", evidence.status, evidence.method, evidence.path, evidence.body.message()),
            vec![
                "Run `langsmith-proxy check` to validate the key, region and workspace".to_owned(),
                "Check the key's role and workspace in LangSmith → Settings".to_owned(),
                "If everything fails at once, check https://status.smith.langchain.com".to_owned(),
            ],
        ),
    };
    Diagnosis { code, summary, fix }
}

struct KeyFacts {
    source: String,
    hint: String,
}

impl KeyFacts {
    fn of(evidence: &Evidence<'_>) -> Self {
        match &evidence.credential {
            CredentialEvidence::Proxy { source, hint, .. } => Self {
                source: source.clone(),
                hint: hint.clone(),
            },
            CredentialEvidence::Client => Self {
                source: "the client".to_owned(),
                hint: "client key".to_owned(),
            },
            CredentialEvidence::None => Self {
                source: "nowhere".to_owned(),
                hint: "no key".to_owned(),
            },
        }
    }
}

/// How to put a new key where the proxy reads it.
fn reload_step(source: &str) -> String {
    match source.split_once(':') {
        Some(("env", var)) => {
            format!("Set {var} in the proxy's environment to the new key and restart the proxy (key.source = {source})")
        }
        Some(("file", path)) => {
            format!("Write the new key to {path}: the proxy watches the file and swaps keys without a restart")
        }
        Some(("command", _)) => format!(
            "Update the key where the command reads it ({source}): the proxy re-runs it after a 401 and every key.refresh"
        ),
        Some(("keyring", entry)) => {
            let (service, account) = entry.split_once('/').unwrap_or((entry, ""));
            format!(
                "Store the new key with `langsmith-proxy key set --service {service} --account {account}` (a build with the keyring feature): the proxy re-reads it after a 401"
            )
        }
        _ => format!("Update the key at its source ({source})"),
    }
}

fn list_workspaces(list: &[Workspace]) -> String {
    if list.is_empty() {
        return "none".to_owned();
    }
    list.iter()
        .map(|w| format!("{} ({})", if w.name.is_empty() { "unnamed" } else { &w.name }, w.id))
        .collect::<Vec<_>>()
        .join(", ")
}

fn role_phrase(workspace: &Workspace) -> String {
    let role = workspace.role_name.as_deref().unwrap_or("unknown");
    let read_only = if workspace.read_only { ", read-only" } else { "" };
    format!(
        "its role {role} in workspace {} ({}{read_only})",
        workspace.name, workspace.id
    )
}

/// What the proxy knows of a rejected key's past.
fn never_accepted(evidence: &Evidence<'_>) -> &'static str {
    match &evidence.credential {
        CredentialEvidence::Proxy { check: None, .. } => {
            "the key check is off (key.check = false), so the proxy cannot tell whether it ever worked."
        }
        CredentialEvidence::Proxy {
            check: Some(record), ..
        } if record.checked_at.is_none() || matches!(record.health, crate::key_check::Health::Unreachable { .. }) => {
            "the proxy could not check it with LangSmith yet, so it cannot tell whether it ever worked."
        }
        _ => "it has not been accepted since it was loaded.",
    }
}

/// An API address already: a SaaS API host, or a URL ending in `/api/v1`.
fn is_api_url(upstream: &str) -> bool {
    let rest = upstream.split_once("://").map_or(upstream, |(_, rest)| rest);
    let host = rest.split('/').next().unwrap_or("");
    host.ends_with("api.smith.langchain.com") || rest.trim_end_matches('/').ends_with("/api/v1")
}

/// The API URL for a web-app URL: `https://eu.smith.langchain.com` → `eu`; a self-hosted
/// one keeps its scheme (a plain-http install stays plain http).
fn api_for_web_ui(upstream: &str) -> String {
    let (scheme, rest) = upstream.split_once("://").unwrap_or(("https", upstream));
    let host = rest.split('/').next().unwrap_or("");
    match host {
        "smith.langchain.com" => "us".to_owned(),
        "eu.smith.langchain.com" => "eu".to_owned(),
        "apac.smith.langchain.com" => "apac".to_owned(),
        "aws.smith.langchain.com" => "aws".to_owned(),
        _ => format!("{scheme}://{host}/api/v1"),
    }
}

#[cfg(test)]
mod tests {
    use super::{api_for_web_ui, is_api_url};

    #[test]
    fn the_api_for_a_web_ui_keeps_the_scheme_of_a_self_hosted_one() {
        assert_eq!(api_for_web_ui("https://eu.smith.langchain.com"), "eu");
        assert_eq!(api_for_web_ui("https://smith.langchain.com/"), "us");
        assert_eq!(
            api_for_web_ui("https://ls.example.com"),
            "https://ls.example.com/api/v1"
        );
        assert_eq!(api_for_web_ui("http://127.0.0.1:8080/"), "http://127.0.0.1:8080/api/v1");
    }

    #[test]
    fn api_urls_are_told_from_web_app_urls() {
        assert!(is_api_url("https://eu.api.smith.langchain.com"));
        assert!(is_api_url("https://ls.example.com/api/v1/"));
        assert!(!is_api_url("https://eu.smith.langchain.com"));
        assert!(!is_api_url("https://ls.example.com"));
    }
}
