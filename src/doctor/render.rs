//! The report for people (`doctor`) and for scripts (`doctor --json`). Keys appear as hints.

use std::fmt::Write as _;

use serde_json::{json, Value as Json};

use super::endpoint::EndpointKind;
use super::finding::Severity;
use super::probe::Answer;
use super::profile::ProfileState;
use super::sdk_env::{printable, Resolved};
use super::Report;

pub fn human(report: &Report) -> String {
    let effective = &report.effective;
    let mut out = String::from("What a LangSmith SDK started in this shell would use:\n");
    let mut line = |label: &str, text: String| {
        let _ = writeln!(out, "  {label:<10} {text}");
    };
    line(
        "endpoint",
        format!(
            "{} ({}) — {}",
            effective.shown_endpoint(),
            effective.endpoint.origin,
            endpoint_kind(&report.endpoint).1
        ),
    );
    line(
        "api key",
        effective.key.as_ref().map_or("not set".to_owned(), |key| {
            format!("{} ({})", key.value.describe(), key.origin)
        }),
    );
    line("workspace", optional(effective.workspace_id.as_ref()));
    line(
        "tracing",
        match &effective.tracing {
            Some(t) => format!(
                "{} ({}={})",
                on_off(effective.tracing_on()),
                t.origin,
                printable(&t.value)
            ),
            None => "off (no LANGSMITH_TRACING)".to_owned(),
        },
    );
    line("profile", profile_note(&report.profile));
    out.push('\n');
    if report.findings.is_empty() {
        out.push_str("No problems found.\n");
        return out;
    }
    let errors = report
        .findings
        .iter()
        .filter(|f| f.severity() == Severity::Error)
        .count();
    let _ = writeln!(
        out,
        "{} problem(s): {errors} error(s), {} warning(s)\n",
        report.findings.len(),
        report.findings.len() - errors
    );
    for finding in &report.findings {
        let _ = writeln!(
            out,
            "{}[{}] {}",
            finding.severity().as_str(),
            finding.code,
            finding.summary
        );
        for step in &finding.fix {
            let _ = writeln!(out, "  fix: {step}");
        }
        out.push('\n');
    }
    out
}

pub fn json(report: &Report) -> Json {
    let effective = &report.effective;
    let setting = |resolved: Option<&Resolved<String>>| {
        resolved.map(|r| json!({"value": printable(&r.value), "source": r.origin.to_string()}))
    };
    json!({
        "ok": report.is_ok(),
        "proxy_endpoint": report.proxy_endpoint,
        "effective": {
            "endpoint": {
                "value": effective.shown_endpoint(),
                "source": effective.endpoint.origin.to_string(),
                "kind": endpoint_kind(&report.endpoint).0,
            },
            "api_key": effective.key.as_ref().map(|key| json!({
                "hint": key.value.describe(),
                "source": key.origin.to_string(),
            })),
            "workspace_id": setting(effective.workspace_id.as_ref()),
            "tracing": {
                "on": effective.tracing_on(),
                "source": effective.tracing.as_ref().map(|t| t.origin.to_string()),
            },
            "profile": profile_note(&report.profile),
        },
        "findings": report.findings.iter().map(|finding| json!({
            "code": finding.code.as_str(),
            "severity": finding.severity().as_str(),
            "summary": finding.summary,
            "fix": finding.fix,
        })).collect::<Vec<_>>(),
    })
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

fn optional(resolved: Option<&Resolved<String>>) -> String {
    resolved.map_or("not set".to_owned(), |r| {
        format!("{} ({})", printable(&r.value), r.origin)
    })
}

/// A code for scripts and a note for people.
fn endpoint_kind(kind: &EndpointKind) -> (String, String) {
    let (code, note) = match kind {
        EndpointKind::Invalid(reason) => ("invalid", format!("not usable: {reason}")),
        EndpointKind::WebUi { .. } => ("web_ui", "the web app, not the API".to_owned()),
        EndpointKind::Region(region) => return (format!("region:{region}"), format!("LangSmith {region}, directly")),
        EndpointKind::Loopback {
            answer: Answer::Proxy, ..
        } => ("loopback_listening", "loopback, langsmith-proxy answers".to_owned()),
        EndpointKind::Loopback {
            answer: Answer::Other, ..
        } => (
            "loopback_not_the_proxy",
            "loopback, something other than langsmith-proxy answers".to_owned(),
        ),
        EndpointKind::Loopback {
            answer: Answer::Nothing,
            ..
        } => ("loopback_not_listening", "loopback, nothing listens".to_owned()),
        EndpointKind::Other => ("other", "not LangSmith SaaS (self-hosted or a remote proxy)".to_owned()),
    };
    (code.to_owned(), note)
}

fn profile_note(state: &ProfileState) -> String {
    match state {
        ProfileState::NoFile { path: Some(path) } => format!("none ({} does not exist)", path.display()),
        ProfileState::NoFile { path: None } => "none (no home directory)".to_owned(),
        ProfileState::Missing { path } => format!("none ({} does not exist)", path.display()),
        ProfileState::Unreadable { path, .. } => format!("none ({} is unusable)", path.display()),
        ProfileState::NoneSelected { path } => format!("none selected in {}", path.display()),
        ProfileState::NotFound { path, name, .. } => format!("none (`{name}` is not in {})", path.display()),
        ProfileState::Selected(profile) => format!("`{}` in {}", profile.name, profile.path.display()),
    }
}
