//! Configuration: layering (defaults < file < env < flags), errors that name the setting and
//! where its value came from, key loading errors, the shipped example file, and the binary.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use langsmith_proxy::config::{self, Config, ConfigError, FlagValue, Origin, Settings, Sources};
use langsmith_proxy::env::Env;
use langsmith_proxy::App;
use support::TEST_KEY_HINT;
use support::{run_binary, run_binary_into, run_binary_with_stdin, TEST_KEY};
use tempfile::TempDir;

fn write_file(dir: &TempDir, name: &str, contents: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, contents).expect("write");
    path
}

fn flag(key: &'static str, flag: &'static str, value: &str) -> FlagValue {
    FlagValue {
        key: key.to_owned(),
        flag,
        value: value.to_owned(),
    }
}

fn load(file: Option<&Path>, env: &[(&str, &str)], flags: Vec<FlagValue>) -> Result<Config, ConfigError> {
    let sources = Sources {
        file: file.map(Path::to_path_buf),
        default_file: None,
        flags,
    };
    config::load(&sources, &Env::from_pairs(env.iter().copied()))
}

fn load_err(file: Option<&Path>, env: &[(&str, &str)], flags: Vec<FlagValue>) -> ConfigError {
    match load(file, env, flags) {
        Ok(_) => panic!("the configuration was accepted"),
        Err(error) => error,
    }
}

fn start_error(config: &Config, env: &Env) -> String {
    match App::from_config(config, env) {
        Ok(_) => panic!("the proxy started"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn each_layer_overrides_the_one_below() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_file(
        &dir,
        "proxy.toml",
        "listen = \"127.0.0.1:1001\"\n[timeouts]\nconnect = \"1s\"\n",
    );
    let env = [
        ("LANGSMITH_PROXY_LISTEN", "127.0.0.1:1002"),
        ("LANGSMITH_PROXY_TIMEOUTS__CONNECT", "2s"),
    ];
    let flags = || {
        vec![
            flag("listen", "--listen", "127.0.0.1:1003"),
            flag("timeouts.connect", "--connect-timeout", "3s"),
        ]
    };

    let defaults = load(None, &[], vec![]).expect("defaults");
    assert_eq!(defaults.listen.to_string(), "127.0.0.1:7878");
    assert_eq!(defaults.timeouts.connect, Duration::from_secs(10));

    let from_file = load(Some(&file), &[], vec![]).expect("file");
    assert_eq!(from_file.listen.to_string(), "127.0.0.1:1001");
    assert_eq!(from_file.timeouts.connect, Duration::from_secs(1));

    let from_env = load(Some(&file), &env, vec![]).expect("env");
    assert_eq!(from_env.listen.to_string(), "127.0.0.1:1002");
    assert_eq!(from_env.timeouts.connect, Duration::from_secs(2));

    let from_flags = load(Some(&file), &env, flags()).expect("flags");
    assert_eq!(from_flags.listen.to_string(), "127.0.0.1:1003");
    assert_eq!(from_flags.timeouts.connect, Duration::from_secs(3));
    // Layers only override what they set.
    assert_eq!(from_flags.timeouts.response_header, Duration::from_secs(120));
}

#[test]
fn unknown_key_in_a_file_names_the_key_and_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (contents, key, meant) in [
        (
            "[timeouts]\nconect = \"5s\"\n",
            "timeouts.conect",
            "did you mean `timeouts.connect`?",
        ),
        ("upstrem = \"eu\"\n", "upstrem", "did you mean `upstream`?"),
        (
            "[timeout]\nconnect = \"5s\"\n",
            "timeout.connect",
            "did you mean `timeouts.connect`?",
        ),
        ("LISTEN = \"127.0.0.1:1\"\n", "LISTEN", "did you mean `listen`?"),
        ("source = \"env:K\"\n", "source", "`key.source`"),
    ] {
        let file = write_file(&dir, "typo.toml", contents);
        let error = load_err(Some(&file), &[], vec![]);
        let message = error.to_string();
        assert!(message.contains(&format!("`{key}`")), "{message}");
        assert!(message.contains(meant), "{message}");
        assert!(
            message.contains("`langsmith-proxy config` prints every setting"),
            "{message}"
        );
        assert!(message.contains(&file.display().to_string()), "{message}");
        assert!(
            matches!(&error, ConfigError::UnknownKey { origin: Origin::File(path), .. } if *path == file),
            "{error:?}"
        );
    }
}

#[test]
fn unknown_environment_variable_is_named() {
    let error = load_err(None, &[("LANGSMITH_PROXY_FOO", "1")], vec![]);
    let message = error.to_string();
    assert!(message.contains("LANGSMITH_PROXY_FOO"), "{message}");
    assert!(message.contains("`foo`"), "{message}");

    let message = load_err(None, &[("LANGSMITH_PROXY_", "1")], vec![]).to_string();
    assert!(message.contains("LANGSMITH_PROXY_ alone names no setting"), "{message}");

    let error = load_err(None, &[("LANGSMITH_PROXY_TIMEOUTS__CONECT", "1s")], vec![]);
    assert!(
        error.to_string().contains("LANGSMITH_PROXY_TIMEOUTS__CONECT"),
        "{error}"
    );
}

/// A region beyond the built-in four is named alike in a file, a variable and a flag, so that
/// `config` output and a service unit (which carry it as a variable) load back.
#[test]
fn new_regions_are_named_alike_in_every_layer() {
    const URL: &str = "https://staging.example.com/api/v1";
    let env = [
        ("LANGSMITH_PROXY_REGIONS__STAGING", URL),
        ("LANGSMITH_PROXY_UPSTREAM", "staging"),
    ];
    let config = load(None, &env, vec![]).expect("a region from the environment");
    assert_eq!(config.upstream.url(), URL);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_file(
        &dir,
        "ok.toml",
        &format!("upstream = \"staging\"\n[regions]\nstaging = \"{URL}\"\n"),
    );
    assert_eq!(load(Some(&file), &[], vec![]).expect("file").upstream.url(), URL);
    let upper = write_file(&dir, "upper.toml", &format!("[regions]\nStaging = \"{URL}\"\n"));
    let message = load_err(Some(&upper), &[], vec![]).to_string();
    assert!(message.contains("write `staging`"), "{message}");
    // A dotted name is still blamed on the file it came from.
    let dotted = write_file(&dir, "dotted.toml", &format!("[regions]\n\"x.y\" = \"{URL}\"\n"));
    let message = load_err(Some(&dotted), &[], vec![]).to_string();
    assert!(
        message.contains("write `x_y`") && message.contains("dotted.toml"),
        "{message}"
    );

    // A flag's name is lower-cased like a variable's; `config` output loads back.
    let key = [("LANGSMITH_API_KEY", TEST_KEY)];
    let flag = format!("STAGING={URL}");
    let shown = run_binary(&["config", "--region-url", &flag, "--upstream", "staging"], &key);
    assert!(shown.status.success(), "{}", String::from_utf8_lossy(&shown.stderr));
    let text = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(text.contains(&format!("staging = \"{URL}\"")), "{text}");
    let saved = write_file(&dir, "saved.toml", &text);
    let path = saved.to_str().expect("utf-8");
    let again = run_binary(&["config", "--config", path], &key);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let dashed = run_binary(&["config", "--region-url", "staging-eu=https://x.example.com"], &key);
    assert!(dashed.status.success(), "{}", String::from_utf8_lossy(&dashed.stderr));
    let bad = run_binary(&["config", "--region-url", "a.b=https://x.example.com"], &key);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("write `a_b`"));
}

/// config-rs reads variable names in lower case: two that differ only in case would race.
#[test]
fn variables_differing_only_in_case_are_refused() {
    let env = [
        ("LANGSMITH_PROXY_LISTEN", "127.0.0.1:2222"),
        ("LANGSMITH_PROXY_listen", "127.0.0.1:1111"),
    ];
    let message = load_err(None, &env, vec![]).to_string();
    assert!(
        message.contains("LANGSMITH_PROXY_LISTEN") && message.contains("LANGSMITH_PROXY_listen"),
        "{message}"
    );
    assert!(message.contains("differ only in case"), "{message}");
}

/// The same address for both would fail at start as "in use", which a service manager retries.
#[test]
fn listen_and_admin_listen_must_differ() {
    let env = [
        ("LANGSMITH_PROXY_LISTEN", "127.0.0.1:19400"),
        ("LANGSMITH_PROXY_ADMIN_LISTEN", "127.0.0.1:19400"),
    ];
    let message = load_err(None, &env, vec![]).to_string();
    assert!(
        message.contains("admin_listen") && message.contains("`listen`"),
        "{message}"
    );
    assert!(message.contains("127.0.0.1:19401"), "{message}");

    // 0.0.0.0 takes the port on every address, the other's included.
    for (listen, admin) in [
        ("127.0.0.1:19400", "0.0.0.0:19400"),
        ("0.0.0.0:19400", "127.0.0.1:19400"),
    ] {
        let env = [
            ("LANGSMITH_PROXY_LISTEN", listen),
            ("LANGSMITH_PROXY_ADMIN_LISTEN", admin),
            ("LANGSMITH_PROXY_ALLOW_REMOTE", "true"),
        ];
        let message = load_err(None, &env, vec![]).to_string();
        assert!(
            message.contains("takes the port of `listen`"),
            "{listen} {admin}: {message}"
        );
    }
    let env = [
        ("LANGSMITH_PROXY_LISTEN", "127.0.0.1:19400"),
        ("LANGSMITH_PROXY_ADMIN_LISTEN", "127.0.0.2:19400"),
    ];
    assert!(
        load(None, &env, vec![]).is_ok(),
        "two loopback addresses may share a port"
    );
}

#[test]
fn a_missing_config_file_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.toml");
    let message = load_err(Some(&missing), &[], vec![]).to_string();
    assert!(message.contains(&missing.display().to_string()), "{message}");
}

/// A duration so long that adding it to a clock reading would overflow (and panic) is refused.
#[test]
fn durations_longer_than_a_year_are_refused() {
    for (var, key) in [
        ("LANGSMITH_PROXY_TIMEOUTS__CONNECT", "`timeouts.connect`"),
        ("LANGSMITH_PROXY_KEY__REFRESH", "`key.refresh`"),
        ("LANGSMITH_PROXY_TIMEOUTS__SHUTDOWN_GRACE", "`timeouts.shutdown_grace`"),
    ] {
        let message = load_err(None, &[(var, "18446744073709551615s")], vec![]).to_string();
        assert!(
            message.contains(key) && message.contains("longer than a year"),
            "{message}"
        );
    }
    // "At most a year" takes the year as humantime writes it.
    for year in ["365d", "1y"] {
        assert!(
            load(None, &[("LANGSMITH_PROXY_KEY__REFRESH", year)], vec![]).is_ok(),
            "{year}"
        );
    }
    assert!(load_err(None, &[("LANGSMITH_PROXY_KEY__REFRESH", "367d")], vec![])
        .to_string()
        .contains("longer than a year"));
}

/// A duration that would make every request or read fail at once, or ask LangSmith on nearly
/// every request, is refused with what it would do.
#[test]
fn durations_too_short_to_work_are_refused() {
    for (var, value, expected) in [
        ("LANGSMITH_PROXY_TIMEOUTS__CONNECT", "0s", "`timeouts.connect`"),
        (
            "LANGSMITH_PROXY_TIMEOUTS__RESPONSE_HEADER",
            "0ms",
            "`timeouts.response_header`",
        ),
        ("LANGSMITH_PROXY_KEY__COMMAND_TIMEOUT", "0s", "`key.command_timeout`"),
        ("LANGSMITH_PROXY_LIMITS__IDLE_TIMEOUT", "0s", "`limits.idle_timeout`"),
        ("LANGSMITH_PROXY_ALERTS__WINDOW", "0s", "`alerts.window`"),
    ] {
        let message = load_err(None, &[(var, value)], vec![]).to_string();
        assert!(
            message.contains(expected) && message.contains("longer than 0") && message.contains(var),
            "{message}"
        );
    }
    let message = load_err(None, &[("LANGSMITH_PROXY_KEY__REFRESH", "500ms")], vec![]).to_string();
    assert!(
        message.contains("`key.refresh`") && message.contains("at least 1s"),
        "{message}"
    );
    assert!(message.contains("nearly every request"), "{message}");
    assert!(load(None, &[("LANGSMITH_PROXY_KEY__REFRESH", "1s")], vec![]).is_ok());
}

#[test]
fn invalid_values_name_the_setting_and_their_origin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_file(
        &dir,
        "bad.toml",
        "client_credentials = \"sometimes\"\nupstream = \"europe\"\n",
    );

    let message = load_err(Some(&file), &[("LANGSMITH_PROXY_CLIENT_CREDENTIALS", "reject")], vec![]).to_string();
    assert!(message.contains("`upstream`"), "{message}");
    assert!(message.contains("\"europe\""), "{message}");
    assert!(
        message.contains(&format!("config file {}", file.display())),
        "{message}"
    );

    let fixed_upstream = [
        ("LANGSMITH_PROXY_UPSTREAM", "eu"),
        ("LANGSMITH_PROXY_TIMEOUTS__CONNECT", "soon"),
    ];
    let message = load_err(
        Some(&file),
        &fixed_upstream,
        vec![flag("client_credentials", "--client-credentials", "reject")],
    )
    .to_string();
    assert!(message.contains("`timeouts.connect`"), "{message}");
    assert!(
        message.contains("environment variable LANGSMITH_PROXY_TIMEOUTS__CONNECT"),
        "{message}"
    );

    let message = load_err(
        Some(&file),
        &[("LANGSMITH_PROXY_CLIENT_CREDENTIALS", "reject")],
        vec![flag("upstream", "--upstream", "ftp://example.com")],
    )
    .to_string();
    assert!(message.contains("`upstream`"), "{message}");
    assert!(message.contains("flag --upstream"), "{message}");
    assert!(
        !message.contains("europe"),
        "the overridden file value was blamed: {message}"
    );

    let message = load_err(None, &[], vec![flag("workspace_id", "--workspace-id", "my-team")]).to_string();
    assert!(message.contains("`workspace_id`"), "{message}");
    assert!(message.contains("flag --workspace-id"), "{message}");

    for workers in ["0", "many", "257"] {
        let message = load_err(None, &[("LANGSMITH_PROXY_WORKERS", workers)], vec![]).to_string();
        assert!(message.contains("`workers`"), "{message}");
        assert!(
            message.contains("environment variable LANGSMITH_PROXY_WORKERS"),
            "{message}"
        );
        assert!(
            message.contains("auto (one per CPU) or a whole number from 1 to 256"),
            "{message}"
        );
    }
    let auto = load(None, &[], vec![flag("workers", "--workers", "AUTO")]).expect("auto is accepted");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(auto.workers, cpus.min(4));
}

/// Waiting for a valid key while never checking it would keep /ready at 503 forever.
#[test]
fn ready_requires_valid_key_needs_the_key_check() {
    let flags = vec![
        flag("ready_requires_valid_key", "--ready-flag", "true"),
        flag("key.check", "--check-flag", "false"),
    ];
    let message = load_err(None, &[], flags).to_string();
    for needed in [
        "`ready_requires_valid_key`",
        "`key.check`",
        "flag --ready-flag",
        "flag --check-flag",
        "set key.check = true or ready_requires_valid_key = false",
    ] {
        assert!(message.contains(needed), "missing {needed:?}: {message}");
    }
    let flags = vec![
        flag("ready_requires_valid_key", "--ready-flag", "true"),
        flag("key.check", "--check-flag", "true"),
    ];
    assert!(load(None, &[("LANGSMITH_API_KEY", TEST_KEY)], flags).is_ok());
}

/// A secret kept in a `LANGSMITH_PROXY_*` variable is read as a setting: the error says so and
/// how to fix it, and never shows the value.
#[test]
fn a_secret_in_a_prefixed_variable_is_explained() {
    let token = "tok-0123456789abcdef";
    for var in ["LANGSMITH_PROXY_CLIENT_TOKEN", "LANGSMITH_PROXY_TOKEN"] {
        let message = load_err(None, &[(var, token)], vec![]).to_string();
        assert!(message.contains(var), "{message}");
        assert!(
            message.contains("variables starting with LANGSMITH_PROXY_ are read as settings"),
            "{message}"
        );
        assert!(message.contains("env:PROXY_CLIENT_TOKEN"), "{message}");
        assert!(!message.contains(token), "the value leaked: {message}");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_file(&dir, "typo.toml", "token = \"x\"\n");
    let message = load_err(Some(&file), &[], vec![]).to_string();
    assert!(
        !message.contains("LANGSMITH_PROXY_ are read"),
        "only for variables: {message}"
    );
}

/// config-rs would turn `allow_remote = 2` into `true` (a security switch) and `1.5` failures
/// into 2: a number where a switch belongs, or a fraction or switch where a count belongs, is
/// refused. Quoted values are text, read as the environment's are.
#[test]
fn loosely_typed_values_in_a_file_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (contents, key, expected) in [
        (
            "allow_remote = 2\n",
            "`allow_remote`",
            "expected true or false, found 2",
        ),
        ("allow_remote = -1\n", "`allow_remote`", "expected true or false"),
        (
            "[alerts]\nauth_failures = 1.5\n",
            "`alerts.auth_failures`",
            "expected a whole number, found 1.5",
        ),
        (
            "[alerts]\nauth_failures = true\n",
            "`alerts.auth_failures`",
            "expected a whole number",
        ),
    ] {
        let file = write_file(&dir, "loose.toml", contents);
        let message = load_err(Some(&file), &[("LANGSMITH_API_KEY", TEST_KEY)], vec![]).to_string();
        assert!(
            message.contains(key) && message.contains(expected) && message.contains("loose.toml"),
            "{contents}: {message}"
        );
    }
    let file = write_file(&dir, "quoted.toml", "[key]\ncheck = \"false\"\n");
    assert!(load(Some(&file), &[("LANGSMITH_API_KEY", TEST_KEY)], vec![]).is_ok());
}

#[test]
fn values_of_the_wrong_shape_name_the_setting_and_their_origin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_file(&dir, "shape.toml", "[upstream]\nurl = \"https://example.com\"\n");
    let error = load_err(Some(&file), &[], vec![]);
    let message = error.to_string();
    assert!(message.contains("`upstream`"), "{message}");
    assert!(message.contains(&file.display().to_string()), "{message}");

    let file = write_file(&dir, "hosts.toml", "allowed_hosts = [1]\n");
    let message = load_err(Some(&file), &[], vec![]).to_string();
    assert!(
        message.contains("`allowed_hosts`") && message.contains("a list of names in quotes"),
        "{message}"
    );

    let message = load_err(None, &[("LANGSMITH_PROXY_TIMEOUTS", "5s")], vec![]).to_string();
    assert!(message.contains("LANGSMITH_PROXY_TIMEOUTS"), "{message}");
    assert!(
        message.contains("timeouts.connect"),
        "should list the settings of the group: {message}"
    );
}

/// `--key-env "$LANGSMITH_API_KEY"` or a key pasted as `key.source`: refused, never echoed.
#[test]
fn a_key_given_as_the_key_source_is_not_echoed() {
    for (value, origin) in [
        (format!("env:{TEST_KEY}"), "flag --key-env"),
        (TEST_KEY.to_owned(), "flag --key-env"),
        (format!("file:{TEST_KEY}"), "flag --key-env"),
    ] {
        let message = load_err(None, &[], vec![flag("key.source", "--key-env", &value)]).to_string();
        assert!(message.contains("`key.source`"), "{message}");
        assert!(message.contains(origin), "{message}");
        assert!(!message.contains(&TEST_KEY[8..]), "the key leaked: {message}");
    }
    let message = load_err(None, &[("LANGSMITH_PROXY_KEY__SOURCE", TEST_KEY)], vec![]).to_string();
    assert!(message.contains("LANGSMITH_PROXY_KEY__SOURCE"), "{message}");
    assert!(!message.contains(&TEST_KEY[8..]), "the key leaked: {message}");

    let output = run_binary(&["--key-env", TEST_KEY], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(!stderr(&output).contains(&TEST_KEY[8..]), "{}", stderr(&output));
}

/// A Debug print of the raw settings (a log line, a panic, a test failure) shows sources as
/// `config` does: a pasted key, a command's arguments and URL credentials stay out.
#[test]
fn settings_debug_shows_no_secret() {
    let mut settings = Settings::default();
    settings.key.source = TEST_KEY.to_owned();
    settings.workspace_id_source = Some("command:VAULT_TOKEN=s3cr3t vault kv get secret/ws".to_owned());
    settings.upstream = "https://user:pa55word@langsmith.example.com".to_owned();
    settings
        .regions
        .insert("eu".to_owned(), "https://user:pa55word@eu.example.com".to_owned());
    let shown = format!("{settings:?}");
    for secret in [&TEST_KEY[8..], "s3cr3t", "kv get", "pa55word"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    assert!(shown.contains("command:vault"), "{shown}");
    assert!(shown.contains("langsmith.example.com"), "{shown}");
}

/// Values a setting refuses are quoted back, except what may be a secret: a key anywhere, a
/// value that is no source at all where a source belongs, and a command's arguments.
#[test]
fn refused_values_never_show_secrets() {
    let secret = &TEST_KEY[8..TEST_KEY.len() - 4];
    let message = load_err(None, &[], vec![flag("workspace_id", "--workspace-id", TEST_KEY)]).to_string();
    assert!(message.contains("`workspace_id` = \"[key redacted]\""), "{message}");
    assert!(!message.contains(secret), "{message}");

    let token = "9f2c4d1e8b7a6f5e4d3c2b1a0f9e8d7c";
    let env = [("LANGSMITH_PROXY_CLIENT_TOKEN__SOURCE", token)];
    let message = load_err(None, &env, vec![]).to_string();
    assert!(message.contains("`client_token.source` = \"(not shown"), "{message}");
    assert!(!message.contains(token), "{message}");

    // `env:NAME=value`: a value where the name belongs is refused, and not shown.
    let message = load_err(
        None,
        &[],
        vec![flag("key.source", "--key-env", "env:TOKEN=hunter2-secret")],
    )
    .to_string();
    assert!(
        message.contains("`env:` takes a variable's name") && message.contains("env:TOKEN=…"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");

    let command = "command:VAULT_TOKEN=hvs.do-not-show exit 3";
    let message = load_err(None, &[("LANGSMITH_PROXY_WORKSPACE_ID_SOURCE", command)], vec![]).to_string();
    assert!(message.contains("command:exit …"), "{message}");
    assert!(!message.contains("hvs.do-not-show"), "{message}");

    // A password in the upstream URL is refused (the proxy sends the key) and never repeated.
    let url = "https://admin:hunter2@langsmith.example.com/api/v1";
    let message = load_err(None, &[], vec![flag("upstream", "--upstream", url)]).to_string();
    assert!(message.contains("must not carry a user or password"), "{message}");
    assert!(message.contains("https://…@langsmith.example.com/api/v1"), "{message}");
    assert!(!message.contains("hunter2") && !message.contains("admin"), "{message}");
    // Passwords with `/`, `?` or `#`, and URLs other checks would refuse first.
    for url in [
        " https://u:hun/ter2@h.example ",
        "https://u:hun?ter2@h.example",
        "ftp://u:hunter2@h.example",
    ] {
        let message = load_err(None, &[], vec![flag("upstream", "--upstream", url)]).to_string();
        assert!(
            message.contains("must not carry a user or password"),
            "{url}: {message}"
        );
        assert!(!message.contains("ter2"), "{url}: {message}");
    }

    // An unquoted key in the file makes the TOML parser quote the line.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_file(&dir, "proxy.toml", &format!("[key]\nsource = {TEST_KEY}\n"));
    let message = load_err(Some(&file), &[], vec![]).to_string();
    assert!(message.contains("line 2"), "{message}");
    assert!(!message.contains(secret), "{message}");
    let file = write_file(
        &dir,
        "proxy.toml",
        "[key]\nsource = command:TOKEN=hvs.do-not-show op read\n",
    );
    let message = load_err(Some(&file), &[], vec![]).to_string();
    assert!(message.contains("line 2"), "{message}");
    assert!(!message.contains("hvs.do-not-show"), "{message}");
}

#[test]
fn refused_key_files_never_show_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (head, tail) = TEST_KEY.split_at(20);
    for (contents, problem) in [
        (format!("\"{TEST_KEY}\"\n"), "quotes"),
        (format!("'{TEST_KEY}'"), "quotes"),
        (format!("{head} {tail}\n"), "whitespace"),
        (format!("{head}\u{e9}{tail}"), "printable ASCII"),
    ] {
        let path = write_file(&dir, "key", &contents);
        let key_source = format!("file:{}", path.display());
        let env = Env::default();
        let config = load(None, &[], vec![flag("key.source", "--key-file", &key_source)]).expect("config");
        let message = start_error(&config, &env);
        assert!(message.contains(problem), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(!message.contains(&head[8..]), "part of the key leaked: {message}");
        assert!(
            !message.contains(&tail[..tail.len() - 4]),
            "part of the key leaked: {message}"
        );
    }

    let path = write_file(&dir, "good-key", &format!("  {TEST_KEY}\n"));
    let config = load(
        None,
        &[],
        vec![flag("key.source", "--key-file", &format!("file:{}", path.display()))],
    )
    .expect("config");
    let app = App::from_config(&config, &Env::default()).expect("a trimmed key file is fine");
    let loaded = app.keys().snapshot().expect("key loaded");
    assert_eq!(loaded.key.header_value().as_bytes(), TEST_KEY.as_bytes());
    assert_eq!(loaded.key.hint(), TEST_KEY_HINT);
}

#[test]
fn unset_key_variable_is_named() {
    let config = load(None, &[], vec![]).expect("config");
    let message = start_error(&config, &Env::default());
    assert!(message.contains("LANGSMITH_API_KEY"), "{message}");

    let config = load(None, &[], vec![flag("key.source", "--key-env", "env:TEAM_LS_KEY")]).expect("config");
    let message = start_error(&config, &Env::from_pairs([("LANGSMITH_API_KEY", TEST_KEY)]));
    assert!(message.contains("TEAM_LS_KEY"), "{message}");
}

fn example_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/langsmith-proxy.toml")
}

#[test]
fn shipped_example_loads_as_the_defaults() {
    let config = load(Some(&example_file()), &[], vec![]).expect("example config");
    assert_eq!(config.settings, Settings::default());
}

/// `workspace_id_source` documents another way to set `workspace_id`; the two exclude each other.
const EXCLUSIVE_ALTERNATIVE: &str = "workspace_id_source";

/// Uncommenting every `# key = value` line of the example must give a valid file that names
/// every setting, with the defaults as values (bar the three examples of optional settings).
#[test]
fn shipped_example_documents_every_setting_with_its_default() {
    let text = std::fs::read_to_string(example_file()).expect("read example");
    let uncommented: String = text
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            // The one alternative to a setting above it: both at once is an error by design.
            Some(rest) if rest.starts_with(EXCLUSIVE_ALTERNATIVE) => line,
            Some(rest) if is_assignment(rest) => rest,
            _ => line,
        })
        .map(|line| format!("{line}\n"))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_file(&dir, "uncommented.toml", &uncommented);
    let config = load(Some(&file), &[], vec![]).expect("uncommented example");

    let mut expected = Settings {
        upstream_ca_file: config.settings.upstream_ca_file.clone(),
        workspace_id: config.settings.workspace_id.clone(),
        ..Settings::default()
    };
    expected.client_token.source = config.settings.client_token.source.clone();
    assert!(expected.upstream_ca_file.is_some() && expected.workspace_id.is_some());
    let token_source = expected.client_token.source.clone().unwrap_or_default();
    assert!(
        !token_source.starts_with(&format!("env:{}_", config::ENV_PREFIX)),
        "the example's variable would be read as a setting: {token_source}"
    );
    assert_eq!(config.settings, expected);

    let written: toml::Table = uncommented.parse().expect("toml");
    let schema = serde_json::to_value(Settings::default()).expect("json");
    for (name, value) in schema.as_object().expect("object") {
        match value.as_object() {
            Some(table) => {
                for child in table.keys() {
                    assert!(
                        written.get(name).and_then(|t| t.get(child)).is_some(),
                        "{name}.{child} is not documented"
                    );
                }
            }
            None if name == EXCLUSIVE_ALTERNATIVE => {
                assert!(text.contains(&format!("# {name} =")), "{name} is not documented")
            }
            None => assert!(written.contains_key(name), "{name} is not documented"),
        }
    }
}

/// `name = value` with a lower-case setting name.
fn is_assignment(line: &str) -> bool {
    line.split_once(" = ")
        .is_some_and(|(name, _)| !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn binary_exits_2_naming_the_setting_and_its_origin() {
    let output = run_binary(&[], &[("LANGSMITH_PROXY_UPSTREAM", "europe")]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("`upstream`"), "{message}");
    assert!(
        message.contains("environment variable LANGSMITH_PROXY_UPSTREAM"),
        "{message}"
    );

    let output = run_binary(&["--listen", "localhost"], &[("LANGSMITH_API_KEY", TEST_KEY)]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("`listen`"), "{message}");
    assert!(message.contains("flag --listen"), "{message}");

    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_file(&dir, "proxy.toml", "[log]\nlevle = \"debug\"\n");
    let output = run_binary(
        &["--config", file.to_str().expect("utf-8 path")],
        &[("LANGSMITH_API_KEY", TEST_KEY)],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("`log.levle`"), "{message}");
    assert!(message.contains(&file.display().to_string()), "{message}");
}

#[test]
fn binary_exits_2_when_the_key_is_missing_or_refused() {
    let output = run_binary(&[], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("LANGSMITH_API_KEY"), "{}", stderr(&output));

    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = write_file(&dir, "key", &format!("\"{TEST_KEY}\""));
    let output = run_binary(&["--key-file", key_file.to_str().expect("utf-8 path")], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("quotes"), "{message}");
    assert!(!message.contains(&TEST_KEY[8..]), "{message}");
}

/// Once logging is set up, a start error follows the log format: under JSON, a collector
/// parsing the stream gets the reason as one more JSON line.
#[test]
fn binary_start_errors_follow_the_log_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-key");
    let missing = missing.to_str().expect("utf-8 path");
    let args = |format| {
        [
            "--key-file",
            missing,
            "--log-format",
            format,
            "--admin-listen",
            "127.0.0.1:0",
        ]
    };

    let output = run_binary(&args("json"), &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    let last = message.lines().last().unwrap_or_default();
    let line: serde_json::Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {message}"));
    assert_eq!(line["level"], "ERROR", "{last}");
    assert_eq!(line["exit_code"], 2, "{last}");
    let text = line["message"].as_str().unwrap_or_default();
    assert!(text.starts_with("langsmith-proxy stopped: "), "{last}");
    assert!(text.contains("no-such-key") && text.contains("`key.source`"), "{last}");

    let output = run_binary(&args("pretty"), &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.starts_with("langsmith-proxy: "), "{message}");
    assert!(message.contains("no-such-key"), "{message}");

    // A log level that hides errors does not hide why the proxy stopped.
    let mut quiet = args("json").to_vec();
    quiet.extend(["--log-level", "off"]);
    let output = run_binary(&quiet, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no-such-key"), "{}", stderr(&output));
}

#[test]
fn binary_config_prints_a_command_source_without_its_arguments() {
    let source = format!("command:VAULT_TOKEN=hvs.do-not-show printf {TEST_KEY}");
    let output = run_binary(&["config"], &[("LANGSMITH_PROXY_KEY__SOURCE", source.as_str())]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("source = \"command:printf …\""), "{stdout}");
    assert!(stdout.contains(TEST_KEY_HINT), "the key was read: {stdout}");
    assert!(!stdout.contains("hvs.do-not-show"), "{stdout}");
}

#[test]
fn binary_config_prints_settings_and_the_hint_but_never_the_key() {
    let output = run_binary(
        &["config", "--upstream", "eu"],
        &[
            ("LANGSMITH_API_KEY", TEST_KEY),
            ("LANGSMITH_PROXY_TIMEOUTS__CONNECT", "4s"),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("upstream = \"eu\""), "{stdout}");
    assert!(stdout.contains("connect = \"4s\""), "{stdout}");
    assert!(stdout.contains("env:LANGSMITH_API_KEY"), "{stdout}");
    assert!(stdout.contains(TEST_KEY_HINT), "{stdout}");
    assert!(!stdout.contains(TEST_KEY), "{stdout}");
    assert!(!stdout.contains(&TEST_KEY[8..TEST_KEY.len() - 4]), "{stdout}");
    assert!(!stderr(&output).contains(&TEST_KEY[8..TEST_KEY.len() - 4]));
}

/// What `config` prints loads back as a config file, unchanged, even through a pipe
/// (`--config <(langsmith-proxy config)`, here /dev/stdin), which can be read only once.
#[test]
fn binary_config_output_loads_back_through_a_pipe() {
    let key = [("LANGSMITH_API_KEY", TEST_KEY)];
    let first = run_binary(
        &["config", "--upstream", "eu"],
        &[key[0], ("LANGSMITH_PROXY_TIMEOUTS__CONNECT", "4s")],
    );
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let second = run_binary_with_stdin(&["--config", "/dev/stdin", "config"], &key, &first.stdout);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let settings = |output: &Output| {
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| !line.starts_with('#'))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(settings(&second), settings(&first));
    assert!(settings(&second).iter().any(|line| line == "connect = \"4s\""));

    // The key comment stays one line whatever the source's path holds.
    let first = run_binary(&["config", "--key-file", "/nonexistent/k\nlisten = 5"], &[]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let second = run_binary_with_stdin(&["--config", "/dev/stdin", "config"], &key, &first.stdout);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(String::from_utf8_lossy(&first.stdout)
        .contains("# key: not loaded: cannot read key file /nonexistent/k\\nlisten = 5"));
}

/// `warning` parses as a tracing target and would silence every line: refused, with the level meant.
#[test]
fn a_log_level_that_is_no_level_is_refused() {
    let message = load_err(None, &[("LANGSMITH_PROXY_LOG__LEVEL", "warning")], vec![]).to_string();
    assert!(message.contains("`log.level`"), "{message}");
    assert!(
        message.contains("environment variable LANGSMITH_PROXY_LOG__LEVEL"),
        "{message}"
    );
    assert!(message.contains("did you mean `warn`"), "{message}");
}

/// `langsmith-proxy config | head -1`: a reader that has gone is no crash, and the command's
/// own exit status stands.
/// A pipe whose read end has closed: every write to it fails with EPIPE.
fn pipe_nobody_reads() -> std::process::ChildStdin {
    let mut reader = std::process::Command::new("true")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("run true");
    let pipe = reader.stdin.take().expect("pipe");
    reader.wait().expect("true exited");
    pipe
}

#[test]
fn output_into_a_pipe_nobody_reads_is_not_a_crash() {
    for args in [&["config"][..], &["env", "--shell", "fish"]] {
        let output = run_binary_into(args, &[("LANGSMITH_API_KEY", TEST_KEY)], pipe_nobody_reads().into());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// An error for a stderr nobody reads keeps its exit status (a panic would abort with 134).
#[test]
fn an_error_into_a_closed_stderr_keeps_its_exit_status() {
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_langsmith-proxy"))
        .args(["config", "--upstream", "europe"])
        .env_clear()
        .stderr(pipe_nobody_reads())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run langsmith-proxy");
    assert_eq!(status.code(), Some(2));
}

/// `langsmith-proxy config > proxy.toml` on a full disk: an incomplete file is an error.
#[test]
fn output_that_cannot_be_written_is_an_error() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let output = run_binary_into(&["config"], &[("LANGSMITH_API_KEY", TEST_KEY)], full.into());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot write the output"), "{stderr}");
}

/// `config` shows a command source by its program only; loaded back as it is, it is refused
/// with what to do, instead of running `cat …`.
#[test]
fn a_printed_command_source_is_marked_and_refused_when_loaded_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = write_file(&dir, "key.sh", &format!("#!/bin/sh\necho {TEST_KEY}\n"));
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
    let source = format!("command:{} --quiet", script.display());
    let printed = run_binary(&["config"], &[("LANGSMITH_PROXY_KEY__SOURCE", &source)]);
    let text = String::from_utf8_lossy(&printed.stdout);
    assert_eq!(
        printed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    assert!(text.contains(&format!("\"command:{} …\"", script.display())), "{text}");
    assert!(!text.contains("--quiet"), "{text}");
    assert!(text.contains("put each whole command back"), "{text}");

    let reloaded = run_binary_with_stdin(&["--config", "/dev/stdin", "config"], &[], text.as_bytes());
    let stderr = String::from_utf8_lossy(&reloaded.stderr);
    assert_eq!(reloaded.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`key.source`") && stderr.contains("write the whole command"),
        "{stderr}"
    );
}
