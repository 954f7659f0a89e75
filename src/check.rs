//! `langsmith-proxy check`: validates the key against the upstream (and the other regions when
//! it is rejected), prints a report, and exits with a code scripts can branch on.

use std::process::ExitCode;
use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::json;

use crate::diagnosis::{classify, Code, CredentialEvidence, Diagnosis, Evidence, UpstreamBody};
use crate::key_check::{CheckRecord, Health, RegionVerdict};
use crate::secret::LoadedKey;
use crate::App;

/// Exit codes, documented in the README. 2 (configuration) comes from `main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Valid = 0,
    KeyRejected = 3,
    WrongRegion = 4,
    Unreachable = 5,
    Workspace = 6,
}

pub struct Report {
    pub verdict: Verdict,
    pub diagnosis: Option<Diagnosis>,
    pub record: CheckRecord,
}

/// Runs a fresh check of the app's current key. `None` when no key is loaded.
pub async fn run(app: &App) -> Option<(Report, std::sync::Arc<LoadedKey>)> {
    let key = app.keys().snapshot()?;
    let check = app.key_check()?;
    let record = check.refresh(Duration::ZERO).await?;
    let shared = app.shared();
    let configured_workspace = shared.workspace_id.as_ref().and_then(|v| v.to_str().ok());
    let (status, body) = match &record.health {
        Health::Rejected { status, body } => (
            StatusCode::from_u16(*status).unwrap_or(StatusCode::UNAUTHORIZED),
            body.clone(),
        ),
        // A valid key that cannot reach the configured workspace: what LangSmith would answer.
        Health::Valid { workspaces }
            if configured_workspace.is_some_and(|id| !workspaces.iter().any(|w| w.id.eq_ignore_ascii_case(id))) =>
        {
            (StatusCode::FORBIDDEN, r#"{"detail":"Forbidden"}"#.to_owned())
        }
        Health::Valid { .. } => return Some((report(Verdict::Valid, None, &record), key)),
        Health::Unreachable { .. } | Health::Unknown => {
            return Some((report(Verdict::Unreachable, None, &record), key))
        }
    };
    let upstream_body = UpstreamBody::parse(body.as_bytes(), None, key.key.header_value().as_bytes());
    let diagnosis = classify(&Evidence {
        status,
        method: &Method::GET,
        path: "/api/v1/workspaces",
        body: &upstream_body,
        credential: CredentialEvidence::Proxy {
            source: key.source.to_string(),
            kind: key.key.kind(),
            hint: key.key.hint().to_owned(),
            suspicion: key.key.suspicion(),
            check: Some(&record),
            replaced_by: None,
        },
        workspace_sent: configured_workspace,
        workspace_from_proxy: configured_workspace.is_some(),
        upstream_url: shared.upstream.url(),
        upstream_region: shared.upstream.region(),
        retry_after: None,
    });
    let verdict = match diagnosis.code {
        Code::KeyWrongRegion => Verdict::WrongRegion,
        Code::WorkspaceRequired | Code::WorkspaceDenied => Verdict::Workspace,
        Code::UpstreamIsWebUi => Verdict::Unreachable,
        _ => Verdict::KeyRejected,
    };
    Some((report(verdict, Some(diagnosis), &record), key))
}

fn report(verdict: Verdict, diagnosis: Option<Diagnosis>, record: &CheckRecord) -> Report {
    Report {
        verdict,
        diagnosis,
        record: record.clone(),
    }
}

impl Report {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.verdict as u8)
    }

    pub fn to_json(&self, key: &LoadedKey, app: &App) -> serde_json::Value {
        json!({
            "ok": self.verdict == Verdict::Valid,
            "exit_code": self.verdict as u8,
            "key": {
                "source": key.source.to_string(),
                "kind": key.key.kind().as_str(),
                "hint": key.key.hint(),
                "fingerprint": key.key.fingerprint(),
                "suspicion": key.key.suspicion(),
            },
            "upstream": { "url": app.shared().upstream.url(), "region": app.shared().upstream.region() },
            "check": self.record,
            "diagnosis": self.diagnosis.as_ref().map(|d| json!({ "code": d.code.as_str(), "summary": d.summary, "fix": d.fix })),
        })
    }

    pub fn to_text(&self, key: &LoadedKey, app: &App) -> String {
        let upstream = &app.shared().upstream;
        let mut out = String::new();
        let mut line = |label: &str, value: String| out.push_str(&format!("{label:<11}{value}\n"));
        line(
            "key",
            format!(
                "{} {} ({}, {})",
                key.source,
                key.key.hint(),
                key.key.kind().as_str(),
                key.key.fingerprint()
            ),
        );
        if let Some(why) = key.key.suspicion() {
            line("warning", format!("the key looks wrong: {why}"));
        }
        line("upstream", upstream.to_string());
        match &self.record.health {
            Health::Valid { workspaces } => {
                line("reachable", "yes".to_owned());
                line("valid", format!("yes, {} workspace(s)", workspaces.len()));
                for w in workspaces {
                    let role = w.role_name.as_deref().unwrap_or("unknown role");
                    let read_only = if w.read_only { ", read-only" } else { "" };
                    line("", format!("{} ({}): {role}{read_only}", w.name, w.id));
                }
            }
            Health::Rejected { status, body } => {
                line("reachable", "yes".to_owned());
                line("valid", format!("no: LangSmith answered {status} {body}"));
            }
            Health::Unreachable {
                error,
                answered: Some(_),
                ..
            } => line(
                "reachable",
                format!("yes, but not as the LangSmith API answers: {error}"),
            ),
            Health::Unreachable { error, .. } => line("reachable", format!("no: {error}")),
            Health::Unknown => line("reachable", "unknown".to_owned()),
        }
        match &self.record.region {
            RegionVerdict::NotProbed => {}
            RegionVerdict::AcceptedIn { region, url } => line("region", format!("the key works in {region} ({url})")),
            RegionVerdict::RejectedEverywhere => line("region", "no other region accepts the key".to_owned()),
            RegionVerdict::Inconclusive => line("region", "some regions could not be reached".to_owned()),
        }
        match (&self.diagnosis, self.verdict) {
            (_, Verdict::Valid) => line("result", "OK: the key works".to_owned()),
            (Some(diagnosis), _) => {
                line("result", format!("{}: {}", diagnosis.code, diagnosis.summary));
                for step in &diagnosis.fix {
                    line("fix", step.clone());
                }
            }
            (None, _)
                if matches!(
                    self.record.health,
                    Health::Unreachable {
                        answered: Some(429),
                        ..
                    }
                ) =>
            {
                line("result", "LangSmith is rate-limiting the check (429)".to_owned());
                line(
                    "fix",
                    "try again in a minute; the SDKs' own traffic counts against the same limit".to_owned(),
                );
            }
            (None, _) if matches!(self.record.health, Health::Unreachable { answered: Some(_), .. }) => {
                line(
                    "result",
                    "the upstream answered, but not as the LangSmith API does".to_owned(),
                );
                line(
                    "fix",
                    format!(
                        "check that upstream ({}) is the LangSmith API: a region (us, eu, apac, aws) or, self-hosted, https://HOST/api/v1",
                        upstream.url()
                    ),
                );
                line(
                    "fix",
                    "if it is, the server had an error: try again later (SaaS: https://status.smith.langchain.com)"
                        .to_owned(),
                );
            }
            (None, _) if matches!(&self.record.health, Health::Unreachable { fix, .. } if !fix.is_empty()) => {
                line("result", "the TLS handshake with the upstream failed".to_owned());
                if let Health::Unreachable { fix, .. } = &self.record.health {
                    for step in fix {
                        line("fix", step.clone());
                    }
                }
            }
            (None, _) => {
                line("result", "LangSmith could not be reached".to_owned());
                line(
                    "fix",
                    format!(
                        "check the network path to {} (DNS, firewall, VPN, HTTPS_PROXY) and the upstream setting",
                        upstream.url()
                    ),
                );
            }
        }
        out
    }
}
