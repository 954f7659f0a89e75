//! `log.level`: a level or a tracing filter. A bare word that is not a level parses as a target
//! name (`warning` would mean "everything from target `warning`") and silently hides every other
//! line, so bare words must be levels.

const LEVELS: [&str; 12] = [
    "error", "warn", "info", "debug", "trace", "off", "0", "1", "2", "3", "4", "5",
];

/// Words people write for a level, and the level they mean.
const ALIASES: [(&str, &str); 9] = [
    ("warning", "warn"),
    ("err", "error"),
    ("fatal", "error"),
    ("critical", "error"),
    ("information", "info"),
    ("verbose", "debug"),
    ("none", "off"),
    ("quiet", "off"),
    ("silent", "off"),
];

/// The level for everything a filter names no level for: `access=warn` alone would otherwise
/// silence every other line, the start line and errors included.
const DEFAULT_LEVEL: &str = "info";

/// The filter without stray spaces (tracing would read ` info` as a target), with
/// [`DEFAULT_LEVEL`] first when it names targets only, or why it would not log what its writer
/// meant.
pub fn check(filter: &str) -> Result<String, String> {
    let mut directives: Vec<&str> = filter.split(',').map(str::trim).filter(|d| !d.is_empty()).collect();
    if directives.is_empty() {
        return Err(
            "no level given (an empty filter logs nothing); use error, warn, info, debug, trace or off".to_owned(),
        );
    }
    for directive in &directives {
        // `target=level`, `target[span]=level` and `[span]` name their target on purpose.
        let bare_word = !directive.contains(['=', '[']);
        if bare_word && !LEVELS.iter().any(|level| level.eq_ignore_ascii_case(directive)) {
            return Err(format!(
                "`{directive}` is not a level{}; a bare word would be read as a target name and hide every other log line. \
                 Use error, warn, info, debug, trace or off, or target=level such as info,access=warn",
                meant(directive).map(|level| format!(" (did you mean `{level}`?)")).unwrap_or_default()
            ));
        }
    }
    if !directives.iter().any(|directive| !directive.contains(['=', '['])) {
        directives.insert(0, DEFAULT_LEVEL);
    }
    let filter = directives.join(",");
    tracing_subscriber::EnvFilter::try_new(&filter)
        .map(|_| filter)
        .map_err(|e| format!("{e}; use error, warn, info, debug, trace or a filter such as info,access=warn"))
}

fn meant(word: &str) -> Option<&'static str> {
    let word = word.to_ascii_lowercase();
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == word)
        .map(|(_, level)| *level)
        // A slip of one letter in a level's name (numeric levels are no names to misspell).
        .or_else(|| {
            LEVELS
                .into_iter()
                .find(|level| level.len() > 1 && strsim::osa_distance(level, &word) <= 1)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_target_filters_pass() {
        for filter in ["info", "WARN", "off", "3", "info,access=warn", "warn,[request]=trace"] {
            assert_eq!(check(filter).as_deref(), Ok(filter), "{filter}");
        }
    }

    #[test]
    fn targets_alone_keep_everything_else_at_info() {
        assert_eq!(check("access=warn").as_deref(), Ok("info,access=warn"));
        assert_eq!(
            check("langsmith_proxy=debug").as_deref(),
            Ok("info,langsmith_proxy=debug")
        );
    }

    #[test]
    fn stray_spaces_are_dropped_and_an_empty_filter_is_refused() {
        assert_eq!(check(" access=warn, info ").as_deref(), Ok("access=warn,info"));
        for empty in ["", " ", ","] {
            assert!(check(empty).expect_err(empty).contains("no level given"), "{empty:?}");
        }
    }

    #[test]
    fn a_bare_word_that_is_no_level_is_refused_with_the_level_meant() {
        for (filter, meant) in [
            ("warning", Some("warn")),
            ("verbose", Some("debug")),
            ("info,Warning", Some("warn")),
            ("inof", Some("info")),
            ("langsmith_proxy", None),
        ] {
            let error = check(filter).expect_err(filter);
            assert!(
                error.contains("is not a level") && error.contains("target=level"),
                "{error}"
            );
            match meant {
                Some(level) => assert!(error.contains(&format!("did you mean `{level}`")), "{error}"),
                None => assert!(!error.contains("did you mean"), "{error}"),
            }
        }
    }

    #[test]
    fn a_malformed_filter_is_refused() {
        let error = check("access=loud").expect_err("not a level");
        assert!(error.contains("use error, warn"), "{error}");
    }
}
