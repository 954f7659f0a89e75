//! `service install|uninstall`: the systemd user unit and the launchd agent match the committed
//! examples, validate (systemd-analyze, a plist parser), carry the effective settings and key
//! source, and are written and removed under an injected HOME only.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use langsmith_proxy::config::Sources;
use langsmith_proxy::env::Env;
use langsmith_proxy::service::{self, Layout, ServiceSpec, SpecInputs, TargetOs};
use support::{load_config, run_binary, sources, TEST_KEY};

const BINARY: &str = env!("CARGO_BIN_EXE_langsmith-proxy");

/// The spec `service install` builds from these flags and environment, run as `executable` in `cwd`.
fn spec_for(flags: &[(&'static str, &str)], env: &Env, executable: &Path, cwd: &Path) -> ServiceSpec {
    let config = load_config(flags, env).expect("config");
    spec_with_sources(&config, &sources(flags), env, executable, cwd)
}

fn spec_with_sources(
    config: &langsmith_proxy::config::Config,
    sources: &Sources,
    env: &Env,
    executable: &Path,
    cwd: &Path,
) -> ServiceSpec {
    ServiceSpec::from_config(&SpecInputs {
        config,
        sources,
        env,
        executable,
        cwd,
    })
}

/// The service file for these flags and environment, run as `executable` from `/`.
fn rendered(os: TargetOs, flags: &[(&'static str, &str)], env: &Env, executable: &str) -> String {
    let spec = spec_for(flags, env, Path::new(executable), Path::new("/"));
    Layout::for_user(os, env)
        .expect("layout")
        .render(&spec)
        .expect("render")
}

/// The committed examples: a binary from `cargo install`, the key in a file in the user's home.
fn example(os: TargetOs) -> String {
    let home = match os {
        TargetOs::Linux => "/home/you",
        TargetOs::Macos => "/Users/you",
    };
    let env = Env::from_pairs([("HOME", home)]);
    let key_file = format!("file:{home}/.config/langsmith-proxy/key");
    let executable = format!("{home}/.cargo/bin/langsmith-proxy");
    rendered(os, &[("key.source", &key_file)], &env, &executable)
}

/// Compares with the committed file; `UPDATE_EXAMPLES=1` rewrites it instead.
fn assert_committed(path: &str, generated: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if std::env::var_os("UPDATE_EXAMPLES").is_some() {
        std::fs::write(&path, generated).expect("write example");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} differs from what `service install` writes; regenerate it with \
         UPDATE_EXAMPLES=1 cargo test --test service_units. Generated:\n{generated}",
        path.display()
    );
}

#[test]
fn committed_examples_are_what_install_writes() {
    assert_committed("config/systemd/langsmith-proxy.service", &example(TargetOs::Linux));
    assert_committed("config/launchd/langsmith-proxy.plist", &example(TargetOs::Macos));
}

#[test]
fn the_unit_notifies_restarts_and_is_hardened() {
    let unit = example(TargetOs::Linux);
    for line in [
        "Type=notify",
        "ExecStart=/home/you/.cargo/bin/langsmith-proxy serve",
        "Environment=\"LANGSMITH_PROXY_KEY__SOURCE=file:/home/you/.config/langsmith-proxy/key\"",
        "Restart=on-failure",
        "RestartPreventExitStatus=2",
        "TimeoutStopSec=35s",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "SystemCallFilter=@system-service",
        "WantedBy=default.target",
    ] {
        assert!(unit.lines().any(|l| l == line), "missing `{line}` in:\n{unit}");
    }
    // Nothing to write without a unix socket.
    assert!(!unit.lines().any(|l| l.starts_with("ReadWritePaths=")), "{unit}");
}

/// `systemd-analyze verify` in user mode: exit 0 and not a single complaint.
fn systemd_verify(unit: &str, name: &str) -> Option<Output> {
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("SKIPPED systemd-analyze verify: systemd-analyze is not installed here");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, unit).expect("write unit");
    let output = Command::new("systemd-analyze")
        .args(["--user", "verify"])
        .arg(&path)
        // A user manager needs a runtime directory; the test process's own stays untouched.
        .env("XDG_RUNTIME_DIR", dir.path())
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .expect("run systemd-analyze");
    Some(output)
}

#[test]
fn systemd_analyze_accepts_the_unit() {
    let flags = [
        (
            "key.source",
            "command:op read \"op://Private/LangSmith/credential\" # 100% $HOME",
        ),
        ("listen", "unix:/tmp/langsmith proxy/proxy.sock"),
    ];
    let unit = rendered(
        TargetOs::Linux,
        &flags,
        &Env::from_pairs([("HOME", "/home/you")]),
        BINARY,
    );
    let Some(output) = systemd_verify(&unit, "langsmith-proxy.service") else {
        return;
    };
    let complaints = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && complaints.trim().is_empty(),
        "systemd-analyze verify: {}\n{complaints}\n{unit}",
        output.status
    );
    // The check has teeth: a misspelt option is reported.
    let misspelt = unit.replace("NoNewPrivileges=yes", "NoNewPrivilege=yes");
    let output = systemd_verify(&misspelt, "langsmith-proxy.service").expect("ran before");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("NoNewPrivilege"),
        "a misspelt option went unnoticed"
    );
}

#[test]
fn the_plist_parses_and_carries_program_environment_and_logs() {
    let env = Env::from_pairs([("HOME", "/Users/you"), ("LANGSMITH_PROXY_UPSTREAM", "eu")]);
    let flags = [(
        "key.source",
        "command:security find-generic-password -w -s 'LangSmith & <co>' \"x\"",
    )];
    let text = rendered(
        TargetOs::Macos,
        &flags,
        &env,
        "/Applications/Lang Smith/langsmith-proxy",
    );
    let parsed = plist::Value::from_reader_xml(text.as_bytes()).expect("an XML property list");
    let dict = parsed.as_dictionary().expect("a dictionary");
    let string = |key: &str| dict.get(key).and_then(plist::Value::as_string).map(str::to_owned);
    assert_eq!(string("Label").as_deref(), Some("langsmith-proxy"));
    let arguments: Vec<&str> = dict
        .get("ProgramArguments")
        .and_then(plist::Value::as_array)
        .expect("ProgramArguments")
        .iter()
        .filter_map(plist::Value::as_string)
        .collect();
    assert_eq!(arguments, ["/Applications/Lang Smith/langsmith-proxy", "serve"]);
    let environment = dict
        .get("EnvironmentVariables")
        .and_then(plist::Value::as_dictionary)
        .expect("EnvironmentVariables");
    assert_eq!(
        environment
            .get("LANGSMITH_PROXY_KEY__SOURCE")
            .and_then(plist::Value::as_string),
        Some("command:security find-generic-password -w -s 'LangSmith & <co>' \"x\"")
    );
    assert_eq!(
        environment
            .get("LANGSMITH_PROXY_UPSTREAM")
            .and_then(plist::Value::as_string),
        Some("eu")
    );
    assert_eq!(dict.get("RunAtLoad").and_then(plist::Value::as_boolean), Some(true));
    assert_eq!(
        dict.get("ExitTimeOut").and_then(plist::Value::as_unsigned_integer),
        Some(35)
    );
    for key in ["StandardOutPath", "StandardErrorPath"] {
        assert_eq!(
            string(key).as_deref(),
            Some("/Users/you/Library/Logs/langsmith-proxy.log")
        );
    }
}

/// Run from a checkout, the default config file is the repository's example, all comments: the
/// service does not depend on it (it would fail once the checkout is gone). One that sets
/// something is carried.
#[test]
fn the_default_config_file_is_carried_only_when_it_sets_something() {
    let cwd = tempfile::tempdir().expect("cwd");
    std::fs::create_dir(cwd.path().join("config")).expect("config dir");
    let default = cwd.path().join("config/langsmith-proxy.toml");
    let env = Env::from_pairs([("HOME", "/home/you"), ("LANGSMITH_API_KEY", TEST_KEY)]);
    let spec_here = || {
        let config = load_config(&[], &env).expect("config");
        let mut sources = sources(&[]);
        sources.default_file = Some(PathBuf::from("config/langsmith-proxy.toml"));
        spec_with_sources(
            &config,
            &sources,
            &env,
            Path::new("/usr/bin/langsmith-proxy"),
            cwd.path(),
        )
    };
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/langsmith-proxy.toml");
    let example = std::fs::read_to_string(shipped).expect("the shipped example");
    std::fs::write(&default, example).expect("copy");
    assert_eq!(spec_here().config_file, None, "the example sets nothing");
    std::fs::write(&default, "upstream = \"eu\"\n").expect("config");
    assert_eq!(spec_here().config_file, Some(default));
}

#[test]
fn the_spec_carries_flags_environment_config_file_and_absolute_key_path() {
    let cwd = tempfile::tempdir().expect("cwd");
    std::fs::write(cwd.path().join("proxy.toml"), "upstream = \"apac\"\n").expect("config");
    let env = Env::from_pairs([
        ("HOME", "/home/you"),
        ("LANGSMITH_PROXY_LOG__LEVEL", "debug"),
        ("LANGSMITH_PROXY_UPSTREAM", "us"),
        ("LANGSMITH_API_KEY", TEST_KEY),
    ]);
    let flags = [
        ("upstream", "eu"),
        ("key.source", "file:secrets/key"),
        ("timeouts.shutdown_grace", "20s"),
        ("timeouts.shutdown_delay", "3s"),
    ];
    let config = load_config(&flags, &env).expect("config");
    let mut sources = sources(&flags);
    sources.file = Some(PathBuf::from("proxy.toml"));
    let spec = spec_with_sources(&config, &sources, &env, Path::new("bin/langsmith-proxy"), cwd.path());

    assert_eq!(spec.executable, cwd.path().join("bin/langsmith-proxy"));
    assert_eq!(spec.config_file, Some(cwd.path().join("proxy.toml")));
    let carried = |name: &str| spec.environment.get(name).map(String::as_str);
    assert_eq!(
        carried("LANGSMITH_PROXY_UPSTREAM"),
        Some("eu"),
        "the flag wins over the variable"
    );
    assert_eq!(carried("LANGSMITH_PROXY_LOG__LEVEL"), Some("debug"));
    let key_file = format!("file:{}", cwd.path().join("secrets/key").display());
    assert_eq!(carried("LANGSMITH_PROXY_KEY__SOURCE"), Some(key_file.as_str()));
    assert_eq!(spec.stop_timeout.as_secs(), 20 + 3 + 5);
    assert!(
        spec.environment.values().all(|value| !value.contains(TEST_KEY)),
        "only LANGSMITH_PROXY_* settings travel, never the key"
    );
    assert!(!spec.environment.contains_key("LANGSMITH_API_KEY"));
    assert_eq!(
        spec.arguments(),
        [
            cwd.path().join("bin/langsmith-proxy").display().to_string(),
            "serve".into(),
            "--config".into(),
            cwd.path().join("proxy.toml").display().to_string(),
        ]
    );
}

/// The service starts in another directory: every relative path a setting holds (from a flag,
/// a variable or the config file) travels made absolute, outranking the file's own value.
#[test]
fn relative_paths_in_settings_travel_absolute() {
    let cwd = tempfile::tempdir().expect("cwd");
    let config_file = cwd.path().join("proxy.toml");
    std::fs::write(&config_file, "upstream_ca_file = \"certs/ca.pem\"\n").expect("config");
    let env = Env::from_pairs([
        ("HOME", "/home/you"),
        ("LANGSMITH_API_KEY", TEST_KEY),
        ("LANGSMITH_PROXY_CLIENT_TOKEN__SOURCE", "file:secrets/token"),
    ]);
    let mut sources = sources(&[]);
    sources.file = Some(config_file);
    let mut config = langsmith_proxy::config::load(&sources, &env).expect("config");
    // Read at load from this process's directory; the spec only rewrites where it points.
    config.settings.workspace_id_source = Some("file:secrets/workspace".to_owned());
    let spec = spec_with_sources(
        &config,
        &sources,
        &env,
        Path::new("/usr/bin/langsmith-proxy"),
        cwd.path(),
    );

    let carried = |name: &str| spec.environment.get(name).cloned();
    let under_cwd = |relative: &str| cwd.path().join(relative).display().to_string();
    assert_eq!(
        carried("LANGSMITH_PROXY_UPSTREAM_CA_FILE"),
        Some(under_cwd("certs/ca.pem"))
    );
    assert_eq!(
        carried("LANGSMITH_PROXY_CLIENT_TOKEN__SOURCE"),
        Some(format!("file:{}", under_cwd("secrets/token")))
    );
    assert_eq!(
        carried("LANGSMITH_PROXY_WORKSPACE_ID_SOURCE"),
        Some(format!("file:{}", under_cwd("secrets/workspace")))
    );

    // Absolute paths and other sources are left alone: nothing is added for them.
    let plain = spec_for(
        &[("upstream_ca_file", "/etc/ca.pem")],
        &Env::from_pairs([("LANGSMITH_API_KEY", TEST_KEY)]),
        Path::new("/usr/bin/langsmith-proxy"),
        cwd.path(),
    );
    assert_eq!(
        plain
            .environment
            .get("LANGSMITH_PROXY_UPSTREAM_CA_FILE")
            .map(String::as_str),
        Some("/etc/ca.pem")
    );
    assert!(!plain.environment.contains_key("LANGSMITH_PROXY_WORKSPACE_ID_SOURCE"));
}

#[test]
fn a_unix_socket_directory_stays_writable() {
    let env = Env::from_pairs([("HOME", "/home/you")]);
    let listening = |socket| rendered(TargetOs::Linux, &[("listen", socket)], &env, "/usr/bin/langsmith-proxy");
    let unit = listening("unix:/run/user/1000/langsmith-proxy.sock");
    assert!(unit.lines().any(|l| l == "ReadWritePaths=/run/user/1000"), "{unit}");
    assert!(unit.lines().any(|l| l == "PrivateTmp=yes"), "{unit}");

    // In a private /tmp, apps would not see the socket.
    let unit = listening("unix:/tmp/langsmith-proxy.sock");
    assert!(unit.lines().any(|l| l == "PrivateTmp=no"), "{unit}");
}

/// A key, config or CA file under /tmp would be hidden by a private /tmp: the unit keeps the
/// real one, and the install warns that a reboot may clear it.
#[test]
fn files_under_tmp_keep_tmp_shared_and_are_warned_about() {
    let env = Env::from_pairs([("HOME", "/home/you")]);
    for flag in [("key.source", "file:/tmp/k"), ("upstream_ca_file", "/var/tmp/ca.pem")] {
        let unit = rendered(TargetOs::Linux, &[flag], &env, "/usr/bin/langsmith-proxy");
        assert!(unit.lines().any(|l| l == "PrivateTmp=no"), "{flag:?}: {unit}");
    }
    let (_home, installed) = installed_in_a_new_home(
        TargetOs::Linux,
        &[("key.source", "file:/tmp/k")],
        "/usr/bin/langsmith-proxy",
    );
    assert!(
        installed
            .warnings
            .iter()
            .any(|w| w.contains("/tmp/k") && w.contains("reboot")),
        "{:?}",
        installed.warnings
    );
    let unit = rendered(
        TargetOs::Linux,
        &[("key.source", "file:/etc/langsmith/key")],
        &env,
        "/usr/bin/langsmith-proxy",
    );
    assert!(unit.lines().any(|l| l == "PrivateTmp=yes"), "{unit}");
    // A socket right in /tmp is made again at each start: nothing to warn about.
    let (_home, installed) = installed_in_a_new_home(
        TargetOs::Linux,
        &[
            ("listen", "unix:/tmp/lsp.sock"),
            ("key.source", "file:/etc/langsmith/key"),
        ],
        "/usr/bin/langsmith-proxy",
    );
    assert!(
        !installed.warnings.iter().any(|w| w.contains("reboot")),
        "{:?}",
        installed.warnings
    );
}

#[test]
fn install_writes_under_the_injected_home_and_says_how_to_run_it() {
    let home = tempfile::tempdir().expect("home");
    let env = Env::from_pairs([("HOME", home.path().to_str().expect("utf-8"))]);
    let key = home.path().join("key");
    std::fs::write(&key, TEST_KEY).expect("key file");
    let key_source = format!("file:{}", key.display());
    let spec = spec_for(
        &[("key.source", &key_source)],
        &env,
        Path::new("/usr/bin/langsmith-proxy"),
        Path::new("/"),
    );

    let printed = service::install(TargetOs::Linux, &spec, &env, true).expect("print");
    let unit_path = home.path().join(".config/systemd/user/langsmith-proxy.service");
    assert!(!unit_path.exists(), "--print writes nothing");
    assert!(printed
        .output
        .starts_with("# langsmith-proxy as a systemd user service"));
    // The test's home may itself be under /tmp, which is warned about (see below); nothing else is.
    let other_warnings = printed.warnings.iter().filter(|w| !w.contains("temporary directory"));
    assert_eq!(other_warnings.count(), 0, "{:?}", printed.warnings);

    let installed = service::install(TargetOs::Linux, &spec, &env, false).expect("install");
    assert_eq!(std::fs::read_to_string(&unit_path).expect("unit"), printed.output);
    // The unit carries the key source (a command with its arguments): its owner's only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&unit_path).expect("unit").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "unit mode {mode:o}");
    }
    for command in [
        "systemctl --user enable --now langsmith-proxy",
        "systemctl --user stop langsmith-proxy",
        "journalctl --user -u langsmith-proxy -f",
        "eval \"$(langsmith-proxy env)\"",
    ] {
        assert!(
            installed.output.contains(command),
            "missing `{command}` in:\n{}",
            installed.output
        );
    }
    assert!(!installed.output.contains(TEST_KEY) && !printed.output.contains(TEST_KEY));

    // Enabled by systemctl: uninstall removes the link too.
    let wants = home.path().join(".config/systemd/user/default.target.wants");
    std::fs::create_dir_all(&wants).expect("wants dir");
    std::os::unix::fs::symlink(&unit_path, wants.join("langsmith-proxy.service")).expect("link");
    let removed = service::uninstall(TargetOs::Linux, &env).expect("uninstall");
    assert!(removed.contains("Removed"), "{removed}");
    assert!(!unit_path.exists());
    assert!(std::fs::symlink_metadata(wants.join("langsmith-proxy.service")).is_err());
    let again = service::uninstall(TargetOs::Linux, &env).expect("uninstall again");
    assert!(again.starts_with("Nothing to remove"), "{again}");
}

/// Installs for `os` with `flags` in a fresh home directory, kept as long as the result.
fn installed_in_a_new_home(
    os: TargetOs,
    flags: &[(&'static str, &str)],
    executable: &str,
) -> (tempfile::TempDir, service::Outcome) {
    let home = tempfile::tempdir().expect("home");
    let env = Env::from_pairs([("HOME", home.path().to_str().expect("utf-8"))]);
    let spec = spec_for(flags, &env, Path::new(executable), Path::new("/"));
    let installed = service::install(os, &spec, &env, false).expect("install");
    (home, installed)
}

/// A service on another address: the hint hands that address to `env`, which would otherwise
/// name the default one.
#[test]
fn the_hint_for_apps_names_a_non_default_listen_address() {
    // Quoted, so that an IPv6 address is no glob pattern to the shell (zsh refuses one that
    // matches nothing).
    for listen in ["127.0.0.1:9100", "[::1]:9100"] {
        let (_home, installed) =
            installed_in_a_new_home(TargetOs::Linux, &[("listen", listen)], "/usr/bin/langsmith-proxy");
        assert!(
            installed
                .output
                .contains(&format!("eval \"$(langsmith-proxy env --listen '{listen}')\"")),
            "{}",
            installed.output
        );
    }
}

#[test]
fn launchd_agent_goes_to_library_launch_agents() {
    let (home, installed) = installed_in_a_new_home(
        TargetOs::Macos,
        &[("key.source", "command:security find-generic-password -w -s langsmith")],
        "/opt/homebrew/bin/langsmith-proxy",
    );
    let plist_path = home.path().join("Library/LaunchAgents/langsmith-proxy.plist");
    plist::Value::from_file(&plist_path).expect("a property list");
    for command in [
        "launchctl bootstrap gui/$(id -u)",
        "launchctl bootout gui/$(id -u)/langsmith-proxy",
        "tail -f",
    ] {
        assert!(
            installed.output.contains(command),
            "missing `{command}` in:\n{}",
            installed.output
        );
    }
    let env = Env::from_pairs([("HOME", home.path().to_str().expect("utf-8"))]);
    assert!(service::uninstall(TargetOs::Macos, &env)
        .expect("uninstall")
        .contains("Removed"));
    assert!(!plist_path.exists());
}

#[test]
fn xdg_config_home_is_honoured_and_home_is_required() {
    let env = Env::from_pairs([("HOME", "/home/you"), ("XDG_CONFIG_HOME", "/cfg")]);
    let layout = Layout::for_user(TargetOs::Linux, &env).expect("layout");
    assert_eq!(layout.file(), Path::new("/cfg/systemd/user/langsmith-proxy.service"));
    let error = Layout::for_user(TargetOs::Linux, &Env::default()).expect_err("no HOME");
    assert!(error.to_string().contains("HOME is not set"), "{error}");
}

#[test]
fn an_env_source_is_warned_about_with_the_alternatives() {
    let env = Env::from_pairs([("HOME", "/home/you"), ("LANGSMITH_API_KEY", TEST_KEY)]);
    let spec = spec_for(&[], &env, Path::new("/usr/bin/langsmith-proxy"), Path::new("/"));
    for os in [TargetOs::Linux, TargetOs::Macos] {
        let outcome = service::install(os, &spec, &env, true).expect("print");
        let warning = outcome.warnings.join("\n");
        for hint in ["env:LANGSMITH_API_KEY", "--key-file", "command:", "keyring:"] {
            assert!(warning.contains(hint), "missing `{hint}` in: {warning}");
        }
        assert!(!warning.contains(TEST_KEY) && !outcome.output.contains(TEST_KEY));
    }
}

#[test]
fn a_missing_key_file_and_a_cargo_build_binary_are_warned_about() {
    let env = Env::from_pairs([("HOME", "/home/you")]);
    let spec = spec_for(
        &[("key.source", "file:/nonexistent/key")],
        &env,
        Path::new("/src/langsmith-proxy/target/release/langsmith-proxy"),
        Path::new("/"),
    );
    let warnings = service::install(TargetOs::Linux, &spec, &env, true)
        .expect("print")
        .warnings;
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("/nonexistent/key does not exist"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[1].contains("cargo install --locked --path ."),
        "{}",
        warnings[1]
    );
}

#[test]
fn a_control_character_cannot_be_written_into_a_unit() {
    let env = Env::from_pairs([("HOME", "/home/you")]);
    let spec = spec_for(
        // A file name may hold a newline; written into the unit it would start a new directive.
        &[("key.source", "file:/run/key\nExecStartPre=/bin/evil")],
        &env,
        Path::new("/usr/bin/x"),
        Path::new("/"),
    );
    let error = service::install(TargetOs::Linux, &spec, &env, true).expect_err("newline");
    assert!(error.to_string().contains("control character"), "{error}");
    // The error names the setting, never its value: a command's arguments may hold a token.
    let spec = spec_for(
        &[("key.source", "command:op read --token SECRET\nx")],
        &env,
        Path::new("/usr/bin/x"),
        Path::new("/"),
    );
    for os in [TargetOs::Linux, TargetOs::Macos] {
        let error = service::install(os, &spec, &env, true)
            .expect_err("newline")
            .to_string();
        assert!(error.contains("LANGSMITH_PROXY_KEY__SOURCE=…"), "{error}");
        assert!(!error.contains("SECRET"), "{error}");
    }
}

#[test]
fn the_binary_installs_prints_and_uninstalls() {
    let home = tempfile::tempdir().expect("home");
    let home_str = home.path().to_str().expect("utf-8");
    let env = [("HOME", home_str)];
    let key = format!("{home_str}/key");

    let printed = run_binary(
        &["service", "install", "--print", "--os", "macos", "--key-file", &key],
        &env,
    );
    assert!(printed.status.success(), "{printed:?}");
    assert!(String::from_utf8_lossy(&printed.stdout).starts_with("<?xml"));
    assert!(!home.path().join("Library").exists());

    let installed = run_binary(
        &["service", "install", "--user", "--os", "linux", "--key-file", &key],
        &env,
    );
    assert!(installed.status.success(), "{installed:?}");
    let unit = std::fs::read_to_string(home.path().join(".config/systemd/user/langsmith-proxy.service"))
        .expect("unit written");
    assert!(
        unit.contains(&format!("LANGSMITH_PROXY_KEY__SOURCE=file:{key}")),
        "{unit}"
    );
    assert!(String::from_utf8_lossy(&installed.stderr).contains("does not exist yet"));

    // Uninstalling needs no valid configuration.
    let removed = run_binary(
        &["service", "uninstall", "--os", "linux"],
        &[("HOME", home_str), ("LANGSMITH_PROXY_UPSTREAM", "nowhere")],
    );
    assert!(removed.status.success(), "{removed:?}");
    assert!(!home
        .path()
        .join(".config/systemd/user/langsmith-proxy.service")
        .exists());
}
