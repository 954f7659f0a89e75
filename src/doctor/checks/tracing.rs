//! Tracing switches: the SDKs trace only when the value is exactly `true`, so `True`, `1` or
//! `yes` silently mean off.

use super::Facts;
use crate::doctor::finding::{Code, Finding};
use crate::doctor::sdk_env::{printable, PREFIXES, TRACING_STEMS};

pub fn check(f: &Facts<'_>) -> Vec<Finding> {
    PREFIXES
        .iter()
        .flat_map(|prefix| TRACING_STEMS.iter().map(move |stem| format!("{prefix}{stem}")))
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
