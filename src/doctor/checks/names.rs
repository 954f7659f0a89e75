//! Variable names: near misses no SDK reads, both prefixes set to different values, and SDK
//! variables set to a blank value.

use super::Facts;
use crate::doctor::effective::KeyValue;
use crate::doctor::finding::{Code, Finding};
use crate::doctor::sdk_env::{expected_names, is_known, shown, PAIRED_STEMS, PREFIXES, TRACING_STEMS};
use crate::near_miss::{distance, resemblance};

/// `LANGSMITH_APIKEY`, `langsmith_api_key`, `LANGSMITH_API_TOKEN`, ...: set, but never read.
pub fn near_misses(f: &Facts<'_>) -> Vec<Finding> {
    let expected: Vec<String> = expected_names().collect();
    f.env
        .names()
        .filter(|name| !is_known(name))
        .filter_map(|name| {
            let (how, _, target) = expected
                .iter()
                .filter_map(|target| Some((resemblance(target, name)?, distance(target, name), target)))
                .min()?;
            let fix = if f.env.get(target).is_some() {
                format!("unset {name} ({target} is set already)")
            } else {
                format!("rename it: export {target}=\"${name}\" && unset {name} (or fix the name in your .env file)")
            };
            Some(Finding::new(
                Code::VariableNearMiss,
                format!("{name} is set, but no LangSmith SDK reads it. Did you mean {target}? (the name {how})"),
                [fix],
            ))
        })
        .collect()
}

/// `LANGSMITH_X` and `LANGCHAIN_X` both set and different: `LANGSMITH_X` wins silently.
pub fn shadowed(f: &Facts<'_>) -> Vec<Finding> {
    PAIRED_STEMS
        .iter()
        .filter_map(|stem| {
            let [winner, loser] = PREFIXES.map(|prefix| format!("{prefix}{stem}"));
            let (Some(won), Some(lost)) = (f.env.get(&winner), f.env.get(&loser)) else {
                return None;
            };
            if won.trim().is_empty() || lost.trim().is_empty() || won.trim() == lost.trim() {
                return None;
            }
            let (won, lost) = if *stem == "API_KEY" {
                (KeyValue::read(won).describe(), KeyValue::read(lost).describe())
            } else {
                (shown(won), shown(lost))
            };
            Some(Finding::new(
                Code::PrefixShadowed,
                format!(
                    "{winner} and {loser} are both set and differ: the SDKs use {winner} ({won}) and ignore {loser} ({lost})."
                ),
                [format!("unset {loser}, or set {winner} to the value you mean: one variable, one value")],
            ))
        })
        .collect()
}

/// Set but blank: both SDKs skip an empty value; a whitespace-only one only Python skips.
pub fn blanks(f: &Facts<'_>) -> Vec<Finding> {
    PREFIXES
        .iter()
        .flat_map(|prefix| PAIRED_STEMS.iter().chain(&TRACING_STEMS).map(move |stem| (prefix, stem)))
        .filter_map(|(prefix, stem)| {
            let name = format!("{prefix}{stem}");
            let value = f.env.get(&name).filter(|v| v.trim().is_empty())?;
            let fallback = format!("LANGCHAIN_{stem}");
            let falls_back = *prefix == PREFIXES[0] && f.env.get(&fallback).is_some_and(|v| !v.trim().is_empty());
            let instead = if falls_back { format!(" and use {fallback} instead") } else { String::new() };
            let summary = if value.is_empty() {
                format!("{name} is set but empty: the SDKs treat it as unset{instead}.")
            } else {
                format!("{name} holds only whitespace: the Python SDK treats it as unset{instead}, the JS SDK uses it as is.")
            };
            Some(Finding::new(Code::VariableBlank, summary, [format!("unset {name}")]))
        })
        .collect()
}
