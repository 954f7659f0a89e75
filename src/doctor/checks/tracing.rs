//! Tracing switches: the SDKs trace only when the value is exactly `true`, so `True`, `1` or
//! `yes` silently mean off.

use super::Facts;
use crate::doctor::finding::{Code, Finding};
use crate::doctor::sdk_env::{printable, PREFIXES, TRACING_STEMS};

/// The tracing variables in the order the SDKs consult them: `TRACING_V2` before `TRACING`,
/// `LANGSMITH_` before `LANGCHAIN_` (reference/langsmith-api.md §2.1).
fn in_sdk_order() -> impl Iterator<Item = String> {
    TRACING_STEMS
        .iter()
        .flat_map(|stem| PREFIXES.iter().map(move |prefix| format!("{prefix}{stem}")))
}

pub fn check(f: &Facts<'_>) -> Vec<Finding> {
    in_sdk_order()
        .filter_map(|name| {
            let value = f.env.get(&name)?;
            // Blank values are reported as such; `false` says what it means.
            if value == "true" || value == "false" || value.trim().is_empty() {
                return None;
            }
            Some(Finding::new(
                Code::TracingValueNotTrue,
                format!(
                    "{name}={:?}: the SDKs turn tracing on only for exactly `true`, so this means off.",
                    printable(value)
                ),
                [format!("export {name}=true (or {name}=false to say off)")],
            ))
        })
        .collect()
}

/// Several tracing variables set to different values: the first the SDKs consult decides, and
/// the others are silently ignored (`LANGSMITH_TRACING=false` does not win over
/// `LANGCHAIN_TRACING_V2=true`).
pub fn shadowed(f: &Facts<'_>) -> Vec<Finding> {
    let set: Vec<(String, &str)> = in_sdk_order()
        .filter_map(|name| {
            let value = f.env.get(&name)?.trim();
            (!value.is_empty()).then_some((name, value))
        })
        .collect();
    let Some(((winner, value), rest)) = set.split_first() else {
        return Vec::new();
    };
    let ignored: Vec<String> = rest
        .iter()
        .filter(|(_, other)| other != value)
        .map(|(name, other)| format!("{name}={}", printable(other)))
        .collect();
    if ignored.is_empty() {
        return Vec::new();
    }
    // The JS SDK (isTracingEnabled) traces when any of the four is exactly `true`.
    let js = if set.iter().any(|(_, value)| *value == "true") {
        "The JS SDK traces here all the same: any of them set to true turns it on."
    } else {
        "The JS SDK, which traces when any of them is true, does not trace here either."
    };
    vec![Finding::new(
        Code::PrefixShadowed,
        format!(
            "{winner}={} decides whether the Python SDK traces; it ignores {} (it reads TRACING_V2 before TRACING, LANGSMITH_ before LANGCHAIN_). {js}",
            printable(value),
            ignored.join(", ")
        ),
        [format!("keep one tracing variable: unset the others, or set {winner} to the value you mean")],
    )]
}
