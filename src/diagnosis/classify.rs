//! `classify`: a pure function from evidence to a diagnosis. Rules run in order; the first
//! that fits wins, so the most specific causes come first.

use std::time::SystemTime;

use http::{Method, StatusCode};

use super::catalogue;
use super::evidence::{CredentialEvidence, Evidence};
use super::Diagnosis;
use crate::key_check::{Health, RegionVerdict, Workspace};
use crate::secret::KeyKind;

/// The cause, with the facts its explanation needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Cause<'a> {
    RateLimited {
        likely_limit: &'static str,
    },
    WebUi,
    Missing,
    ClientKeyRejected,
    Legacy,
    WorkspaceRequired {
        reachable: Option<&'a [Workspace]>,
    },
    WrongRegion {
        region: &'a str,
        url: &'a str,
    },
    Malformed {
        why: &'static str,
    },
    WorkspaceDenied {
        requested: &'a str,
        reachable: &'a [Workspace],
    },
    PermissionDenied {
        workspace: Option<&'a Workspace>,
    },
    Revoked {
        last_valid_at: SystemTime,
    },
    /// Rejected, but the source has since given the proxy another key: a rotation.
    Replaced {
        current_hint: String,
    },
    Rejected,
    Unexplained,
}

pub fn classify(evidence: &Evidence<'_>) -> Diagnosis {
    catalogue::describe(&cause(evidence), evidence)
}

pub fn cause<'a>(evidence: &Evidence<'a>) -> Cause<'a> {
    let status = evidence.status;
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Cause::RateLimited {
            likely_limit: likely_limit(evidence),
        };
    }
    let web_page = evidence.body.json.is_none();
    if (status == StatusCode::METHOD_NOT_ALLOWED && web_page)
        || (status == StatusCode::NOT_FOUND && evidence.body.is_html)
    {
        return Cause::WebUi;
    }
    let org_scoped_error = evidence.body.error() == Some("org_scoped_key_requires_workspace");
    let (kind, suspicion, check, replaced_by) = match &evidence.credential {
        // The app's own key is fine there; only the workspace is missing.
        CredentialEvidence::Client if org_scoped_error => return Cause::WorkspaceRequired { reachable: None },
        CredentialEvidence::Client => return Cause::ClientKeyRejected,
        CredentialEvidence::Proxy {
            kind,
            suspicion,
            check,
            replaced_by,
            ..
        } => (Some(*kind), *suspicion, *check, replaced_by.as_deref()),
        CredentialEvidence::None => return Cause::Missing,
    };
    let message = evidence.body.message().to_ascii_lowercase();
    if kind == Some(KeyKind::Legacy) || message.contains("legacy") || message.contains("outdated v1") {
        return Cause::Legacy;
    }
    let workspaces = check.and_then(|record| match &record.health {
        Health::Valid { workspaces } => Some(workspaces.as_slice()),
        _ => None,
    });
    if org_scoped_error {
        return Cause::WorkspaceRequired { reachable: workspaces };
    }
    // The check's own findings come before any guess from the key's shape: a key rejected
    // here and accepted elsewhere is in the wrong region, whatever its kind.
    if let Some(RegionVerdict::AcceptedIn { region, url }) = check.map(|record| &record.region) {
        return Cause::WrongRegion { region, url };
    }
    // A bare 403 sent without a workspace is the org-scoped error unlabelled: for a key the
    // check found to need a workspace, or for a service key (which may be org-scoped) the
    // check has not shown to be rejected or limited to one workspace.
    let needs_workspace = match check.map(|record| &record.health) {
        Some(health) if health.needs_workspace() => true,
        Some(Health::Rejected { .. }) => false,
        Some(Health::Valid { workspaces }) if workspaces.len() == 1 => false,
        _ => kind == Some(KeyKind::ServiceKey),
    };
    if status == StatusCode::FORBIDDEN && needs_workspace && evidence.workspace_sent.is_none() && is_generic(&message) {
        return Cause::WorkspaceRequired { reachable: workspaces };
    }
    // A key not shaped like LangSmith's draws a 401 or a bare 403 (a placeholder does), unless
    // the check found LangSmith knows it. A 403 that names its reason is about something else.
    let recognised = check.is_some_and(|record| record.health.key_recognised());
    let rejection = status == StatusCode::UNAUTHORIZED || (status == StatusCode::FORBIDDEN && is_generic(&message));
    if let (false, true, Some(why)) = (recognised, rejection, suspicion) {
        return Cause::Malformed { why };
    }
    // A well-formed key its source has replaced since: the check's record (none for this key
    // any more) would call it never accepted.
    if let (StatusCode::UNAUTHORIZED, Some(current_hint)) = (status, replaced_by) {
        return Cause::Replaced {
            current_hint: current_hint.to_owned(),
        };
    }
    if let (true, Some(reachable)) = (status == StatusCode::FORBIDDEN, workspaces) {
        return match evidence.workspace_sent {
            Some(requested) if !reachable.iter().any(|w| w.id.eq_ignore_ascii_case(requested)) => {
                Cause::WorkspaceDenied { requested, reachable }
            }
            // Without a workspace sent, LangSmith used the key's only one, if it has one.
            requested => Cause::PermissionDenied {
                workspace: match requested {
                    Some(id) => reachable.iter().find(|w| w.id.eq_ignore_ascii_case(id)),
                    None if reachable.len() == 1 => reachable.first(),
                    None => None,
                },
            },
        };
    }
    // A key that only needs a workspace is known to LangSmith: not a rejection.
    let rejected_by_check = check
        .is_some_and(|record| matches!(record.health, Health::Rejected { .. }) && !record.health.needs_workspace());
    if status == StatusCode::UNAUTHORIZED || rejected_by_check {
        return match check.and_then(|record| record.last_valid_at) {
            Some(last_valid_at) => Cause::Revoked { last_valid_at },
            None => Cause::Rejected,
        };
    }
    Cause::Unexplained
}

/// "Forbidden" and friends: a 403 that names no reason.
fn is_generic(message: &str) -> bool {
    let message = message.trim();
    message.is_empty() || message == "forbidden" || message == "not authenticated"
}

/// The documented limit a 429 most likely hit (reference/langsmith-api.md §7).
fn likely_limit(evidence: &Evidence<'_>) -> &'static str {
    let message = evidence.body.message().to_ascii_lowercase();
    if message.contains("usage") || message.contains("quota") || message.contains("monthly") {
        return "a usage limit: your plan's trace events or data ingested per hour, monthly traces, or a limit an admin set";
    }
    let path = evidence.path.strip_prefix("/api/v1").unwrap_or(evidence.path);
    let method = evidence.method;
    if *method == Method::DELETE && path.starts_with("/sessions") {
        "30 DELETE /sessions requests per minute per key"
    } else if (*method == Method::POST || *method == Method::PATCH) && path.starts_with("/runs") {
        "5,000 POST/PATCH /runs requests per minute per key"
    } else if *method == Method::GET && is_single_run(path) {
        "30 GET /runs/{id} requests per minute per key"
    } else if *method == Method::POST && path.starts_with("/feedback") {
        "5,000 POST /feedback requests per minute per key"
    } else {
        "2,000 requests per minute per key (the limit for all other endpoints)"
    }
}

fn is_single_run(path: &str) -> bool {
    path.strip_prefix("/runs/").is_some_and(|rest| {
        !rest.is_empty() && !rest.contains('/') && !["query", "stats", "group", "batch", "multipart"].contains(&rest)
    })
}

#[cfg(test)]
mod tests;
