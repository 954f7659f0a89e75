//! The `/status` report: what a person on call wants at a glance, as JSON and as a small page.

use std::fmt::Write;
use std::time::SystemTime;

use serde_json::{json, Value};

use crate::key_check::rfc3339;
use crate::App;

pub fn report(app: &App) -> Value {
    let shared = app.shared();
    let key = shared.keys.snapshot();
    let check = match (&key, &shared.key_check) {
        (Some(key), Some(check)) => serde_json::to_value(&*check.record_for(key)).unwrap_or_default(),
        _ => Value::Null,
    };
    let uptime = SystemTime::now().duration_since(shared.started_at).unwrap_or_default();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": rfc3339(shared.started_at),
        "uptime_seconds": uptime.as_secs(),
        "ready": shared.readiness(),
        "upstream": { "url": shared.upstream.url(), "region": shared.upstream.region() },
        "key": {
            "source": shared.keys.source().to_string(),
            "loaded": key.is_some(),
            "kind": key.as_ref().map(|k| k.key.kind().as_str()),
            "hint": key.as_ref().map(|k| k.key.hint()),
            "fingerprint": key.as_ref().map(|k| k.key.fingerprint()),
            "loaded_at": key.as_ref().map(|k| rfc3339(k.loaded_at)),
            "state": shared.key_state(),
            // The key in use stays when a re-read fails: this says the source is broken.
            "source_error": shared.key_reloader.last_failure(),
            "check": check,
        },
        "workspace_id": shared.workspace_id.as_ref().and_then(|v| v.to_str().ok()),
        "requests": { "total": shared.metrics.requests_total(), "in_flight": shared.metrics.in_flight_now() },
        "diagnoses": { "by_code": shared.journal.counts(), "recent": shared.journal.recent() },
        "alerts": shared.journal.alerts(),
    })
}

/// A dependency-free page; every value is escaped.
pub fn html(report: &Value) -> String {
    let field = |path: &[&str]| {
        let value = path.iter().fold(report, |node, key| &node[*key]);
        escape(&match value {
            Value::String(text) => text.clone(),
            Value::Null => "—".to_owned(),
            other => other.to_string(),
        })
    };
    let mut page = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>langsmith-proxy status</title>\
         <style>body{font:14px system-ui,sans-serif;margin:2em}td,th{padding:2px 10px;text-align:left}\
         th{background:#eee}.bad{color:#b00}</style></head><body><h1>langsmith-proxy</h1><table>",
    );
    let rows = [
        ("version", field(&["version"])),
        ("uptime", format!("{} s", field(&["uptime_seconds"]))),
        (
            "ready",
            format!("{} ({})", field(&["ready", "ready"]), field(&["ready", "reason"])),
        ),
        (
            "upstream",
            format!("{} {}", field(&["upstream", "url"]), field(&["upstream", "region"])),
        ),
        (
            "key",
            format!(
                "{} {} ({})",
                field(&["key", "source"]),
                field(&["key", "hint"]),
                field(&["key", "kind"])
            ),
        ),
        ("key health", field(&["key", "state"])),
        ("key source error", field(&["key", "source_error"])),
        ("workspace", field(&["workspace_id"])),
        (
            "requests",
            format!(
                "{} ({} in flight)",
                field(&["requests", "total"]),
                field(&["requests", "in_flight"])
            ),
        ),
        ("diagnoses", field(&["diagnoses", "by_code"])),
    ];
    for (name, value) in rows {
        let _ = write!(page, "<tr><th>{name}</th><td>{value}</td></tr>");
    }
    page.push_str("</table>");
    if let Some(alerts) = report["alerts"].as_array().filter(|a| !a.is_empty()) {
        page.push_str("<h2 class=\"bad\">Auth failure bursts</h2><ul>");
        for alert in alerts {
            let _ = write!(
                page,
                "<li>{}: {} failures in {} s: {}</li>",
                escape(alert["at"].as_str().unwrap_or("")),
                alert["failures"],
                alert["window_seconds"],
                escape(&alert["by_code"].to_string())
            );
        }
        page.push_str("</ul>");
    }
    page.push_str(
        "<h2>Last diagnoses</h2><table><tr><th>time</th><th>code</th><th>status</th><th>request</th><th>path</th></tr>",
    );
    for entry in report["diagnoses"]["recent"].as_array().into_iter().flatten() {
        let cell = |key: &str| {
            escape(
                &entry[key]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| entry[key].to_string()),
            )
        };
        let _ = write!(
            page,
            "<tr><td>{}</td><td class=\"bad\">{}</td><td>{}</td><td>{}</td><td>{} {}</td></tr>",
            cell("at"),
            cell("code"),
            cell("status"),
            cell("request_id"),
            cell("method"),
            cell("path")
        );
    }
    page.push_str("</table></body></html>\n");
    page
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}
