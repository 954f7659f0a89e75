//! The key the SDK would send: missing, unusable, legacy, a placeholder nobody replaces, or a
//! service key without a workspace.

use super::Facts;
use crate::config::ClientCredentials;
use crate::doctor::effective::KeyValue;
use crate::doctor::endpoint::EndpointKind;
use crate::doctor::finding::{Code, Finding};
use crate::doctor::probe::Answer;
use crate::doctor::sdk_env::printable;
use crate::secret::{KeyKind, PLACEHOLDER_KEY};

pub fn check(f: &Facts<'_>) -> Vec<Finding> {
    let Some(key) = &f.effective.key else {
        return vec![unset(f)];
    };
    let origin = &key.origin;
    let finding = match &key.value {
        // Refused before LangSmith sees it, whatever else is wrong with it.
        KeyValue::Key(api_key)
            if f.client_credentials == ClientCredentials::Reject
                && matches!(f.endpoint, EndpointKind::Loopback { answer: Answer::Proxy, .. }) =>
        {
            Finding::new(
                Code::ClientKeyRefused,
                format!(
                    "{origin} holds a key of its own ({}), and langsmith-proxy refuses keys from apps (client_credentials = reject): every call gets 400 client_credentials_not_allowed.",
                    api_key.hint()
                ),
                [format!("export LANGSMITH_API_KEY={PLACEHOLDER_KEY} (the proxy adds its own key)")],
            )
        }
        KeyValue::Malformed(problem) => Finding::new(
            Code::KeyMalformed,
            format!("The key in {origin} cannot be used: {problem}."),
            [format!(
                "store the bare key in {origin}: no quotes, no spaces (the Python SDK strips quotes, the JS SDK sends them)"
            )],
        ),
        KeyValue::Key(api_key) if api_key.kind() == KeyKind::Legacy => Finding::new(
            Code::KeyLegacy,
            format!(
                "{origin} holds a legacy key ({}); LangSmith stopped accepting ls__ keys on 2024-10-22.",
                api_key.hint()
            ),
            ["create a personal access token (lsv2_pt_) or service key (lsv2_sk_) in LangSmith → Settings → API Keys".to_owned()],
        ),
        KeyValue::Key(api_key) if api_key.kind() == KeyKind::ServiceKey && f.effective.workspace_id.is_none() => {
            Finding::new(
                Code::WorkspaceMissing,
                format!(
                    "{origin} holds a service key ({}) and no workspace id is set: an organization-scoped key gets 403 org_scoped_key_requires_workspace without one.",
                    api_key.hint()
                ),
                [
                    "export LANGSMITH_WORKSPACE_ID=<workspace UUID> (LangSmith → Settings → Workspaces; SDK ≥ 0.4.20)".to_owned(),
                    "or, through langsmith-proxy, set its `workspace_id`: it sends X-Tenant-Id for every SDK version".to_owned(),
                ],
            )
        }
        KeyValue::Placeholder if f.effective.tracing_on() && placeholder_unreplaced(f.endpoint) => placeholder(f),
        _ => return Vec::new(),
    };
    vec![finding]
}

/// X-Tenant-Id must be a workspace's UUID; a name or slug is refused by LangSmith.
pub fn workspace(f: &Facts<'_>) -> Vec<Finding> {
    let Some(workspace) = f.effective.workspace_id.as_ref() else {
        return Vec::new();
    };
    let value = workspace.value.trim();
    if value.is_empty() || uuid::Uuid::try_parse(value).is_ok() {
        return Vec::new();
    }
    vec![Finding::new(
        Code::WorkspaceNotUuid,
        format!(
            "The workspace id {:?} (from {}) is not a UUID: the SDKs send it as X-Tenant-Id, and LangSmith takes only a workspace's UUID there.",
            printable(value),
            workspace.origin
        ),
        ["use the workspace's ID from LangSmith → Settings → Workspaces (a UUID such as 0b0e2c6a-8e71-4c35-9a3b-4d6b1f0e9a11), not its name".to_owned()],
    )]
}

fn unset(f: &Facts<'_>) -> Finding {
    let summary = if matches!(f.endpoint, EndpointKind::Loopback { .. }) {
        "No API key is set (LANGSMITH_API_KEY, LANGCHAIN_API_KEY or a profile): langsmith-proxy adds the real one, but the Python SDK's v2 client and its OTel exporter refuse to start without some key."
    } else {
        "No API key is set (LANGSMITH_API_KEY, LANGCHAIN_API_KEY or a profile): LangSmith answers 401/403 and traces are dropped."
    };
    Finding::new(
        Code::KeyUnset,
        summary,
        [
            f.use_proxy_fix(),
            format!("or set the placeholder yourself: export LANGSMITH_API_KEY={PLACEHOLDER_KEY}"),
        ],
    )
}

/// The placeholder only works when langsmith-proxy answers: it means nothing to LangSmith.
fn placeholder_unreplaced(endpoint: &EndpointKind) -> bool {
    matches!(
        endpoint,
        EndpointKind::Region(_)
            | EndpointKind::Loopback {
                answer: Answer::Nothing,
                ..
            }
    )
}

fn placeholder(f: &Facts<'_>) -> Finding {
    let endpoint = f.effective.shown_endpoint();
    let why = match f.endpoint {
        EndpointKind::Region(_) => {
            format!("the endpoint {endpoint} is LangSmith itself, which rejects the placeholder (401/403)")
        }
        _ => format!("nothing listens at {endpoint} to replace it"),
    };
    let tracing_var = f
        .effective
        .tracing
        .as_ref()
        .map(|t| t.origin.to_string())
        .unwrap_or_default();
    Finding::new(
        Code::TracingPlaceholderWithoutProxy,
        format!("Tracing is on ({tracing_var}=true) with the placeholder key {PLACEHOLDER_KEY}, but {why}: every trace is dropped."),
        [
            format!("start langsmith-proxy, then: {}", f.use_proxy_fix()),
            format!("or unset {tracing_var} until the app has a real key or a running proxy"),
        ],
    )
}
