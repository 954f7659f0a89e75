//! Environment variable names that nearly match an expected one: `LANGSMITH_APIKEY`,
//! `langsmith_api_key`, `LANGSMITH_API_TOKEN`, `LANGCHAIN_API_KEY` for `LANGSMITH_API_KEY`.
//! Shared by the proxy's start-up error ("did you mean ...?") and `langsmith-proxy doctor`.

use std::fmt;

/// The two prefixes the LangSmith SDKs read (reference/langsmith-api.md §2.1).
const SDK_PREFIXES: [&str; 2] = ["LANGSMITH", "LANGCHAIN"];

/// Other words people use for a setting, compared without separators. Only stems whose
/// misnaming has been seen in the wild; a real SDK variable never belongs here.
const SYNONYMS: &[(&str, &[&str])] = &[
    (
        "APIKEY",
        &[
            "APITOKEN",
            "TOKEN",
            "KEY",
            "SECRET",
            "APISECRET",
            "SECRETKEY",
            "ACCESSTOKEN",
            "AUTHTOKEN",
        ],
    ),
    (
        "ENDPOINT",
        &[
            "URL",
            "APIURL",
            "HOST",
            "APIHOST",
            "APIENDPOINT",
            "ENDPOINTURL",
            "SERVER",
        ],
    ),
    ("WORKSPACEID", &["WORKSPACE", "WORKSPACEUUID"]),
    ("PROJECT", &["PROJECTNAME"]),
    ("TRACING", &["TRACE", "TRACINGENABLED", "ENABLETRACING"]),
    ("TRACINGV2", &["TRACEV2"]),
];

/// How a name resembles the expected one, closest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resemblance {
    /// `langsmith_api_key`
    Case,
    /// `LANGSMITH_APIKEY`, `LANGSMITH-API-KEY`
    Separators,
    /// `LANGCHAIN_API_KEY` where `LANGSMITH_API_KEY` is expected
    OtherPrefix,
    /// `LANGSMITH_API_TOKEN`
    Synonym,
    /// `LANGSMTIH_API_KEY`: a small edit distance
    Spelling,
}

impl fmt::Display for Resemblance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Case => "differs only in letter case",
            Self::Separators => "differs only in underscores",
            Self::OtherPrefix => "has the other SDK prefix",
            Self::Synonym => "uses another word for the same setting",
            Self::Spelling => "is spelled slightly differently",
        })
    }
}

/// How `candidate` resembles `expected`, or `None` when it is the same name or unrelated.
pub fn resemblance(expected: &str, candidate: &str) -> Option<Resemblance> {
    if candidate == expected {
        return None;
    }
    if candidate.eq_ignore_ascii_case(expected) {
        return Some(Resemblance::Case);
    }
    let (expected, candidate) = (canonical(expected), canonical(candidate));
    if expected == candidate {
        return Some(Resemblance::Separators);
    }
    if let (Some((e_prefix, e_stem)), Some((c_prefix, c_stem))) = (split_prefix(&expected), split_prefix(&candidate)) {
        if e_stem == c_stem && e_prefix != c_prefix {
            return Some(Resemblance::OtherPrefix);
        }
        let synonym = SYNONYMS
            .iter()
            .any(|(stem, words)| *stem == e_stem && words.contains(&c_stem));
        if synonym {
            return Some(Resemblance::Synonym);
        }
    }
    (strsim::osa_distance(&expected, &candidate) <= allowed_edits(&expected)).then_some(Resemblance::Spelling)
}

/// The set names that nearly match `expected`, closest first.
pub fn near_misses<'a>(expected: &str, names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut found: Vec<(Resemblance, usize, &str)> = names
        .into_iter()
        .filter_map(|name| {
            let how = resemblance(expected, name)?;
            Some((how, distance(expected, name), name))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, _, name)| name).collect()
}

/// Edit distance between two names compared without case or separators, to rank ties.
pub fn distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(&canonical(a), &canonical(b))
}

/// Upper case, letters and digits only: `langsmith-api_key` → `LANGSMITHAPIKEY`.
fn canonical(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn split_prefix(canonical: &str) -> Option<(&'static str, &str)> {
    SDK_PREFIXES
        .iter()
        .find_map(|prefix| Some((*prefix, canonical.strip_prefix(prefix)?)))
        .filter(|(_, stem)| !stem.is_empty())
}

/// Short names get fewer edits, or every three-letter variable would look like a typo.
fn allowed_edits(canonical: &str) -> usize {
    match canonical.len() {
        0..=4 => 0,
        5..=9 => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_usual_mistakes() {
        let key = "LANGSMITH_API_KEY";
        assert_eq!(resemblance(key, key), None);
        assert_eq!(resemblance(key, "langsmith_api_key"), Some(Resemblance::Case));
        assert_eq!(resemblance(key, "LANGSMITH_APIKEY"), Some(Resemblance::Separators));
        assert_eq!(resemblance(key, "LANGCHAIN_API_KEY"), Some(Resemblance::OtherPrefix));
        assert_eq!(resemblance(key, "langchain_api_key"), Some(Resemblance::OtherPrefix));
        assert_eq!(resemblance(key, "LANGSMITH_API_TOKEN"), Some(Resemblance::Synonym));
        assert_eq!(resemblance(key, "LANGSMTIH_API_KEY"), Some(Resemblance::Spelling));
        assert_eq!(resemblance(key, "LANGSMITH_API_KEYS"), Some(Resemblance::Spelling));
        assert_eq!(
            resemblance("LANGSMITH_PROJECT", "LANGSMITH_PROJECT_NAME"),
            Some(Resemblance::Synonym)
        );
    }

    #[test]
    fn leaves_unrelated_names_alone() {
        let key = "LANGSMITH_API_KEY";
        for name in [
            "OPENAI_API_KEY",
            "LANGSMITH_ENDPOINT",
            "LANGSMITH_PROXY_LISTEN",
            "PATH",
            "HOME",
        ] {
            assert_eq!(resemblance(key, name), None, "{name}");
        }
        assert_eq!(resemblance("KEY", "KEX"), None, "short names need an exact match");
        assert_eq!(resemblance("MY_KEY", "MY_KEX"), Some(Resemblance::Spelling));
    }

    #[test]
    fn ranks_the_closest_first() {
        let names = ["LANGSMITH_API_TOKEN", "PATH", "LANGCHAIN_API_KEY", "langsmith_api_key"];
        assert_eq!(
            near_misses("LANGSMITH_API_KEY", names),
            ["langsmith_api_key", "LANGCHAIN_API_KEY", "LANGSMITH_API_TOKEN"]
        );
    }
}
