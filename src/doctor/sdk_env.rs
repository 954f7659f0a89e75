//! The variables the LangSmith SDKs read, and how they pick one when both prefixes are set
//! (reference/langsmith-api.md §2.1, §2.2).

use std::fmt;
use std::path::PathBuf;

use crate::env::Env;

/// Read in this order: `LANGSMITH_X` wins over `LANGCHAIN_X`.
pub const PREFIXES: [&str; 2] = ["LANGSMITH_", "LANGCHAIN_"];

/// Settings whose two spellings `doctor` compares.
pub const PAIRED_STEMS: [&str; 4] = ["API_KEY", "ENDPOINT", "WORKSPACE_ID", "PROJECT"];

/// The tracing switches, in the order the Python SDK consults them.
pub const TRACING_STEMS: [&str; 2] = ["TRACING_V2", "TRACING"];

/// Names a misspelling is compared against (both prefixes), plus the profile selectors.
const EXPECTED_STEMS: [&str; 6] = [
    "API_KEY",
    "ENDPOINT",
    "WORKSPACE_ID",
    "PROJECT",
    "TRACING",
    "TRACING_V2",
];
const PROFILE_VARS: [&str; 2] = ["LANGSMITH_CONFIG_FILE", "LANGSMITH_PROFILE"];

/// Every other stem an SDK or its generated client reads, so a real variable is never taken
/// for a misspelling of another (`LANGSMITH_TRACING_V2` is not a typo of `LANGSMITH_TRACING`).
const OTHER_KNOWN_STEMS: &[&str] = &[
    "SESSION",
    "TRACING_MODE",
    "RUNS_ENDPOINTS",
    "DISABLE_RUN_COMPRESSION",
    "RUN_COMPRESSION_LEVEL",
    "TRACING_SAMPLING_RATE",
    "FAILED_TRACES_DIR",
    "FAILED_TRACES_MAX_MB",
    "USE_DAEMON",
    "TENANT_ID",
    "BASE_URL",
    "CUSTOM_HEADERS",
    "LOG",
    "DISABLE_MULTIPART_STREAMING",
    "TRACING_BACKGROUND",
    "CALLBACKS_BACKGROUND",
    "DEBUG",
    "OTEL_ENABLED",
    "OTEL_ONLY",
    "HIDE_INPUTS",
    "HIDE_OUTPUTS",
    "HIDE_METADATA",
    "TEST_CACHE",
];

/// The names misspellings are compared against.
pub fn expected_names() -> impl Iterator<Item = String> {
    PREFIXES
        .iter()
        .flat_map(|prefix| EXPECTED_STEMS.iter().map(move |stem| format!("{prefix}{stem}")))
        .chain(PROFILE_VARS.iter().map(|name| (*name).to_owned()))
}

/// Whether an SDK reads `name` (exact spelling).
pub fn is_known(name: &str) -> bool {
    PROFILE_VARS.contains(&name)
        || PREFIXES.iter().any(|prefix| {
            name.strip_prefix(prefix)
                .is_some_and(|stem| EXPECTED_STEMS.contains(&stem) || OTHER_KNOWN_STEMS.contains(&stem))
        })
}

/// A variable's value as `doctor` may print it: anything that looks like a key pasted into the
/// wrong variable is withheld, and long values are cut.
/// A variable's value as reports show it: [`printable`], and a URL without its user or password
/// (`https://…@host`).
pub fn shown(value: &str) -> String {
    printable(&crate::secret::redact_url_credentials(value))
}

pub fn printable(value: &str) -> String {
    const MAX_CHARS: usize = 100;
    if value.contains("lsv2_") || value.contains("ls__") {
        return "<withheld: looks like an API key>".to_owned();
    }
    match value.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_owned(),
    }
}

/// Where a value an SDK uses comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Var(String),
    Profile {
        name: String,
        path: PathBuf,
    },
    /// The SDK's built-in default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Var(name) => f.write_str(name),
            Self::Profile { name, path } => write!(f, "profile `{name}` in {}", path.display()),
            Self::Default => f.write_str("SDK default"),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved<T> {
    pub value: T,
    pub origin: Origin,
}

/// Stands for a value that is not UTF-8 text: U+FFFD, as a lossy decoding shows it.
const NOT_TEXT: &str = "\u{FFFD}";

/// The value of `LANGSMITH_<stem>`, else `LANGCHAIN_<stem>`, skipping blank values as the
/// Python SDK does.
pub fn lookup<'a>(env: &'a Env, stem: &str) -> Option<Resolved<&'a str>> {
    PREFIXES.iter().find_map(|prefix| {
        let name = format!("{prefix}{stem}");
        let value = match env.is_not_text(&name) {
            // The SDKs see bytes here; reported as an unusable value, not as none.
            true => NOT_TEXT,
            false => env.get(&name).filter(|value| !value.trim().is_empty())?,
        };
        Some(Resolved {
            value,
            origin: Origin::Var(name),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn langsmith_prefix_wins_and_blank_values_are_skipped() {
        let env = Env::from_pairs([("LANGSMITH_ENDPOINT", "a"), ("LANGCHAIN_ENDPOINT", "b")]);
        assert_eq!(lookup(&env, "ENDPOINT").map(|r| r.value), Some("a"));
        let env = Env::from_pairs([("LANGSMITH_ENDPOINT", " "), ("LANGCHAIN_ENDPOINT", "b")]);
        let found = lookup(&env, "ENDPOINT").expect("found");
        assert_eq!(
            (found.value, found.origin),
            ("b", Origin::Var("LANGCHAIN_ENDPOINT".into()))
        );
        assert_eq!(lookup(&Env::default(), "ENDPOINT"), None);
    }

    #[test]
    fn withholds_keys_in_printed_values() {
        assert_eq!(printable("http://127.0.0.1:7878"), "http://127.0.0.1:7878");
        assert_eq!(printable("x lsv2_pt_abc"), "<withheld: looks like an API key>");
        assert_eq!(printable(&"a".repeat(150)).chars().count(), 101);
    }

    #[test]
    fn knows_real_names() {
        for name in [
            "LANGSMITH_TRACING_V2",
            "LANGCHAIN_API_KEY",
            "LANGSMITH_PROFILE",
            "LANGCHAIN_BASE_URL",
        ] {
            assert!(is_known(name), "{name}");
        }
        for name in ["LANGSMITH_APIKEY", "langsmith_api_key", "LANGCHAIN_PROFILE"] {
            assert!(!is_known(name), "{name}");
        }
    }
}
