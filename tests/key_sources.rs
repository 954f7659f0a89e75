//! Key sources: `command:` (TTL re-run, failures, timeout), `file:` keeping the old key when
//! the new file is empty, `keyring:` (behind its feature, with keyring's mock store), and the
//! workspace id read from a source.
#![cfg(unix)]

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use langsmith_proxy::env::Env;
use langsmith_proxy::secret::{ReloadCounts, ReloadOutcome, ReloadReason};
use langsmith_proxy::App;
use support::*;
use tempfile::TempDir;

/// A shell script in a tempdir; `command:sh SCRIPT` runs it.
struct Script {
    dir: TempDir,
}

impl Script {
    fn new(body: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("key.sh"), body).expect("write script");
        Self { dir }
    }

    /// Prints `numbered_key(n)` where n counts its runs (kept in `runs` beside it).
    fn counter() -> Self {
        Self::new(
            r#"d=$(dirname "$0"); n=$(cat "$d/runs" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$d/runs"
printf 'lsv2_pt_%032d_%010d\n' $n $n
"#,
        )
    }

    fn spec(&self) -> String {
        format!("command:sh '{}'", self.dir.path().join("key.sh").display())
    }

    fn runs(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("runs"))
            .map(|text| text.trim().parse().expect("count"))
            .unwrap_or(0)
    }
}

fn start_error(flags: &[(&'static str, &str)]) -> String {
    let config = load_config(flags, &Env::default()).expect("config");
    match App::from_config(&config, &Env::default()) {
        Ok(_) => panic!("the proxy started"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test]
async fn command_runs_once_while_the_key_is_fresh() {
    let script = Script::counter();
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let spec = script.spec();
    let proxy = start_proxy_with(
        &upstream.url,
        &[("key.source", &spec), ("key.refresh", "1h")],
        Env::default(),
    )
    .await;
    for _ in 0..3 {
        let (response, _) = get(&proxy.url("/info")).await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(
        upstream.keys_seen(),
        [numbered_key(1), numbered_key(1), numbered_key(1)]
    );
    assert_eq!(script.runs(), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn command_is_run_again_when_older_than_key_refresh() {
    let script = Script::counter();
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let spec = script.spec();
    // A request that finds the key older than 1 s starts one background re-run.
    let proxy = start_proxy_with(
        &upstream.url,
        &[("key.source", &spec), ("key.refresh", "1s")],
        Env::default(),
    )
    .await;
    // Polled every 50 ms: the re-run is due only after a second.
    let mut poll = tokio::time::interval(Duration::from_millis(50));
    let newer = async {
        loop {
            poll.tick().await;
            let (response, _) = get(&proxy.url("/info")).await;
            assert_eq!(response.status(), 200);
            if upstream.keys_seen().last() != Some(&numbered_key(1)) {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), newer)
        .await
        .expect("a re-run key within 20 s");
    let seen = upstream.keys_seen();
    let runs: Vec<usize> = seen
        .iter()
        .map(|sent| {
            (1..=script.runs())
                .find(|n| numbered_key(*n) == *sent)
                .expect("a key the script printed")
        })
        .collect();
    assert!(runs.windows(2).all(|w| w[0] <= w[1]), "keys went back: {runs:?}");
    assert!(proxy.app.shared().key_reloads.snapshot().reloaded >= 1);
    proxy.stop().await;
}

#[tokio::test]
async fn a_command_is_shown_by_its_program_only() {
    let logs = CapturedLogs::global();
    let script = Script::counter();
    let secret = "hvs.do-not-show-1234";
    let spec = format!(
        "command:VAULT_TOKEN={secret} {}",
        script.spec().trim_start_matches("command:")
    );
    let upstream = FakeUpstream::start(|_| Reply::json(401, r#"{"detail":"Invalid token"}"#)).await;
    let proxy = start_proxy_with(&upstream.url, &[("key.source", &spec)], Env::default()).await;

    let (response, body) = get(&proxy.url("/sessions")).await;
    assert_eq!(response.status(), 401);
    let shown = response.headers()["x-langsmith-proxy-key"].to_str().expect("text");
    // Headers are ASCII: the ellipsis is written "...", as in the key hint.
    assert!(shown.starts_with("command:sh ... lsv2_pt_"), "{shown}");
    assert_eq!(json(&body)["langsmith_proxy"]["key"]["source"], "command:sh …");
    let (_, status) = get(&format!("{}/status", start_admin(&proxy.app).await)).await;
    let status = String::from_utf8_lossy(&status);
    assert!(status.contains("command:sh …"), "{status}");

    let script_path = script.dir.path().display().to_string();
    for (what, text) in [
        ("header", shown.to_owned()),
        ("body", String::from_utf8_lossy(&body).into_owned()),
        ("/status", status.into_owned()),
        ("logs", logs.text()),
    ] {
        assert!(!text.contains(secret), "the command's assignment shows in the {what}");
        assert!(
            !text.contains(&script_path),
            "the command's argument shows in the {what}"
        );
    }
    proxy.stop().await;
}

#[tokio::test]
async fn a_failing_command_shows_its_exit_status_and_stderr_but_not_its_output() {
    let script = Script::new("echo lsv2_pt_half_a_key_0000; echo 'vault: permission denied' >&2; exit 2\n");
    let error = start_error(&[("key.source", &script.spec())]);
    assert!(error.contains("exit status: 2"), "{error}");
    assert!(error.contains("vault: permission denied"), "{error}");
    assert!(!error.contains("half_a_key"), "{error}");
    assert!(error.contains("the key command `sh …` gave no key"), "{error}");
    assert!(
        !error.contains("key.sh"),
        "the command's arguments are not shown: {error}"
    );
}

#[tokio::test]
async fn a_command_printing_nothing_is_an_error() {
    let script = Script::new("echo 'not signed in' >&2\n");
    let error = start_error(&[("key.source", &script.spec())]);
    assert!(error.contains("printed nothing on standard output"), "{error}");
    assert!(error.contains("not signed in"), "{error}");
}

#[tokio::test]
async fn a_hanging_command_is_stopped_at_its_timeout_with_what_it_started() {
    let script = Script::new("sleep 30 & echo $! > \"$(dirname \"$0\")/pid\"; wait\n");
    let started = Instant::now();
    let error = start_error(&[("key.source", &script.spec()), ("key.command_timeout", "300ms")]);
    assert!(error.contains("did not finish within 300ms"), "{error}");
    assert!(error.contains("key.command_timeout"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );

    #[cfg(target_os = "linux")]
    killed(&script).await;
}

/// Waits until the process whose id the script wrote to `pid` has been killed.
#[cfg(target_os = "linux")]
async fn killed(script: &Script) {
    let pid = std::fs::read_to_string(script.dir.path().join("pid")).expect("pid");
    let stat = format!("/proc/{}/stat", pid.trim());
    // Killed is gone, or a zombie (state Z) until init reaps it.
    let gone = || std::fs::read_to_string(&stat).map_or(true, |s| s.contains(") Z "));
    let waiting = async {
        while !gone() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the command's child was killed too");
}

/// A command that prints the key and leaves something running in the background (holding its
/// output open) is done when its shell exits: the key is used at once, not after the timeout,
/// and what it left is stopped rather than outliving every re-read.
#[tokio::test]
async fn a_command_is_done_when_its_shell_exits() {
    let script = Script::new(&format!(
        "sleep 30 & echo $! > \"$(dirname \"$0\")/pid\"; echo {}\n",
        numbered_key(3)
    ));
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let flags = [("key.source", script.spec()), ("key.command_timeout", "20s".to_owned())];
    let flags: Vec<(&'static str, &str)> = flags.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let started = Instant::now();
    let proxy = start_proxy_with(&upstream.url, &flags, Env::default()).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    get(&proxy.url("/info")).await;
    assert_eq!(upstream.keys_seen(), [numbered_key(3)]);
    #[cfg(target_os = "linux")]
    killed(&script).await;
    proxy.stop().await;
}

#[tokio::test]
async fn a_failed_reload_keeps_the_current_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("current");
    std::fs::write(&path, numbered_key(1)).expect("write");
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let spec = format!("command:cat '{}'", path.display());
    let proxy = start_proxy_with(
        &upstream.url,
        &[("key.source", &spec), ("key.refresh", "1h")],
        Env::default(),
    )
    .await;
    let reloader = &proxy.app.shared().key_reloader;

    std::fs::write(&path, "").expect("empty");
    assert_eq!(reloader.reload(ReloadReason::Refresh).await, ReloadOutcome::Failed);
    std::fs::remove_file(&path).expect("remove");
    assert_eq!(reloader.reload(ReloadReason::Refresh).await, ReloadOutcome::Failed);
    // The key in use hides the broken source from requests; `/status` shows it.
    let admin = start_admin(&proxy.app).await;
    let report = json(&get(&format!("{admin}/status")).await.1);
    assert!(
        report["key"]["source_error"]
            .as_str()
            .is_some_and(|error| error.contains("gave no key")),
        "{report}"
    );
    let (response, _) = get(&proxy.url("/info")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.keys_seen(), [numbered_key(1)]);

    std::fs::write(&path, numbered_key(2)).expect("write");
    assert_eq!(reloader.reload(ReloadReason::Refresh).await, ReloadOutcome::Reloaded);
    assert_eq!(reloader.reload(ReloadReason::Refresh).await, ReloadOutcome::Unchanged);
    assert_eq!(reloader.last_failure(), None, "a good read clears it");
    let (response, _) = get(&proxy.url("/info")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.keys_seen(), [numbered_key(1), numbered_key(2)]);
    assert_eq!(
        proxy.app.shared().key_reloads.snapshot(),
        ReloadCounts {
            reloaded: 1,
            unchanged: 1,
            failed: 2,
        }
    );
    proxy.stop().await;
}

/// Waits (bounded) until the reload counters satisfy `done`, sending nothing.
async fn wait_for_reloads(proxy: &ProxyHandle, done: impl Fn(ReloadCounts) -> bool) {
    let waiting = async {
        while !done(proxy.app.shared().key_reloads.snapshot()) {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .unwrap_or_else(|_| panic!("reloads: {:?}", proxy.app.shared().key_reloads.snapshot()));
}

#[tokio::test]
async fn an_emptied_key_file_keeps_the_old_key_and_logs_why() {
    let logs = CapturedLogs::global();
    let dir = tempfile::tempdir().expect("tempdir");
    let path: PathBuf = dir.path().join("key");
    std::fs::write(&path, format!("{}\n", numbered_key(1))).expect("write");
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let spec = format!("file:{}", path.display());
    let proxy = start_proxy_with(&upstream.url, &[("key.source", &spec)], Env::default()).await;

    std::fs::write(&path, "").expect("truncate");
    wait_for_reloads(&proxy, |c| c.failed >= 1).await;
    // The same failure again is logged once at ERROR, then at debug: a watch firing on a broken
    // file must not flood the log.
    std::fs::write(&path, "").expect("truncate again");
    wait_for_reloads(&proxy, |c| c.failed >= 2).await;
    let (response, _) = get(&proxy.url("/info")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.keys_seen(), [numbered_key(1)]);

    // Written whole and renamed into place, as a careful writer does.
    let next = dir.path().join("key.new");
    std::fs::write(&next, format!("{}\n", numbered_key(2))).expect("write");
    std::fs::rename(&next, &path).expect("rename");
    wait_for_reloads(&proxy, |c| c.reloaded >= 1).await;
    let (response, _) = get(&proxy.url("/info")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.keys_seen(), [numbered_key(1), numbered_key(2)]);

    let text = logs.text();
    let this_file = |line: &&str| line.contains(&spec);
    let errors = text
        .lines()
        .filter(this_file)
        .filter(|l| l.contains("\"ERROR\""))
        .count();
    assert_eq!(errors, 1, "{text}");
    assert!(
        text.lines()
            .filter(this_file)
            .any(|l| l.contains("failed again, the same way")),
        "{text}"
    );
    assert!(text.contains("key reload failed"), "{text}");
    assert!(text.contains("the key is empty"), "{text}");
    assert!(text.contains("key reloaded"), "{text}");
    assert!(
        !text.contains(&numbered_key(1)) && !text.contains(&numbered_key(2)),
        "a key leaked into the logs"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn the_workspace_id_can_come_from_a_file() {
    const WORKSPACE: &str = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b";
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("workspace");
    std::fs::write(&path, format!("{WORKSPACE}\n")).expect("write");
    let spec = format!("file:{}", path.display());
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy_with(&upstream.url, &[("workspace_id_source", &spec)], env_with_key()).await;
    let (response, _) = get(&proxy.url("/info")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.last().header("x-tenant-id"), Some(WORKSPACE));
    proxy.stop().await;

    std::fs::write(&path, "Production workspace\n").expect("write");
    let error = load_config(&[("workspace_id_source", &spec)], &env_with_key())
        .expect_err("not a UUID")
        .to_string();
    assert!(error.contains("`workspace_id_source`"), "{error}");
    assert!(error.contains("expected a workspace UUID"), "{error}");
    assert!(!error.contains("Production"), "{error}");

    let error = load_config(
        &[("workspace_id_source", &spec), ("workspace_id", WORKSPACE)],
        &env_with_key(),
    )
    .expect_err("both")
    .to_string();
    assert!(error.contains("set one of them"), "{error}");

    let error = load_config(&[("workspace_id_source", "env:MY_WORKSPACE")], &env_with_key())
        .expect_err("unset")
        .to_string();
    assert!(error.contains("MY_WORKSPACE is not set"), "{error}");
}

#[test]
fn unknown_source_forms_name_every_form() {
    let error = load_config(&[("key.source", "vault:secret/langsmith")], &Env::default())
        .expect_err("unknown")
        .to_string();
    for form in ["env:NAME", "file:PATH", "command:CMD", "keyring:SERVICE/ACCOUNT"] {
        assert!(error.contains(form), "{error}");
    }
}

#[cfg(not(feature = "keyring"))]
#[test]
fn without_the_keyring_feature_a_keyring_source_says_how_to_build_it() {
    let error = load_config(&[("key.source", "keyring:langsmith-proxy/default")], &Env::default())
        .expect_err("not built")
        .to_string();
    assert!(error.contains("`key.source`"), "{error}");
    assert!(error.contains("--features keyring"), "{error}");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_langsmith-proxy"))
        .args(["key", "set"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run binary");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--features keyring"));
}

/// keyring's mock store keeps a value in the entry itself, so each test reads back through the
/// entry its configured source holds.
#[cfg(feature = "keyring")]
mod keyring_source {
    use super::*;
    use langsmith_proxy::secret::KeySource;

    use keyring::credential::{Credential, CredentialApi, CredentialBuilderApi};

    /// Entries of this service behave like a locked keychain: a read never answers.
    const LOCKED_SERVICE: &str = "langsmith-proxy-test-locked";

    /// keyring's mock store, bar [`LOCKED_SERVICE`]. Every test installs this same builder, so
    /// tests running in parallel cannot swap each other's store.
    struct TestStore(Box<keyring::credential::CredentialBuilder>);

    impl CredentialBuilderApi for TestStore {
        fn build(&self, target: Option<&str>, service: &str, user: &str) -> keyring::Result<Box<Credential>> {
            if service == LOCKED_SERVICE {
                return Ok(Box::new(LockedKeychain));
            }
            self.0.build(target, service, user)
        }

        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    #[derive(Debug)]
    struct LockedKeychain;

    impl CredentialApi for LockedKeychain {
        fn set_secret(&self, _: &[u8]) -> keyring::Result<()> {
            Ok(())
        }

        /// Waits for an unlock that never comes.
        fn get_secret(&self) -> keyring::Result<Vec<u8>> {
            loop {
                std::thread::park();
            }
        }

        fn delete_credential(&self) -> keyring::Result<()> {
            Ok(())
        }

        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    fn use_mock_store() {
        keyring::set_default_credential_builder(Box::new(TestStore(keyring::mock::default_credential_builder())));
    }

    /// No key check, and the fake upstream: nothing leaves loopback.
    fn keyring_config(spec: &str, upstream: &FakeUpstream) -> langsmith_proxy::config::Config {
        keyring_config_with(spec, upstream, &[])
    }

    fn keyring_config_with(
        spec: &str,
        upstream: &FakeUpstream,
        extra: &[(&'static str, &str)],
    ) -> langsmith_proxy::config::Config {
        let mut flags = vec![
            ("key.check", "false"),
            ("upstream", upstream.url.as_str()),
            ("key.source", spec),
        ];
        flags.extend_from_slice(extra);
        load_config(&flags, &Env::default()).expect("config")
    }

    /// A keychain that never answers (locked, its unlock prompt unseen) fails the read after
    /// key.command_timeout instead of holding the start or the reload lock; while that read still
    /// waits, the next one fails at once rather than leaving another thread behind.
    #[tokio::test]
    async fn a_keychain_that_never_answers_times_out() {
        use_mock_store();
        let upstream = FakeUpstream::start(|_| Reply::ok()).await;
        let spec = format!("keyring:{LOCKED_SERVICE}/ci");
        let config = keyring_config_with(&spec, &upstream, &[("key.command_timeout", "200ms")]);
        let started = Instant::now();
        let error = match App::from_config(&config, &Env::default()) {
            Ok(_) => panic!("started without a key"),
            Err(error) => error.to_string(),
        };
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        assert!(error.contains("did not answer within 200ms"), "{error}");
        assert!(error.contains("unlock"), "{error}");

        // With an hour to wait, only an answer at once can beat the bound.
        let patient = entry(&config).clone().with_timeout(Duration::from_secs(3600));
        // A thread of its own, not the runtime's blocking pool: the runtime would wait for a
        // stuck read at the end of the test, so a regression would hang instead of failing.
        let (answer, answered) = std::sync::mpsc::channel();
        std::thread::spawn(move || answer.send(patient.read()));
        let error = answered
            .recv_timeout(Duration::from_secs(10))
            .expect("failed at once instead of waiting for the keychain again")
            .expect_err("still locked")
            .to_string();
        assert!(error.contains("still waiting"), "{error}");
    }

    fn entry(config: &langsmith_proxy::config::Config) -> &langsmith_proxy::secret::keyring::KeyringSource {
        match &config.key_source {
            KeySource::Keyring(entry) => entry,
            other => panic!("not a keyring source: {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_empty_entry_says_how_to_store_a_key() {
        use_mock_store();
        let upstream = FakeUpstream::start(|_| Reply::ok()).await;
        let config = keyring_config("keyring:langsmith-proxy-test/nobody", &upstream);
        let error = match App::from_config(&config, &Env::default()) {
            Ok(_) => panic!("started without a key"),
            Err(error) => error.to_string(),
        };
        assert!(
            error.contains("langsmith-proxy key set --service langsmith-proxy-test --account nobody"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_stored_key_is_used_and_a_replaced_one_is_reloaded() {
        use_mock_store();
        let upstream = FakeUpstream::start(|_| Reply::ok()).await;
        let config = keyring_config("keyring:langsmith-proxy-test/ci", &upstream);
        let stored = entry(&config).store(&format!("{}\n", numbered_key(1))).expect("store");
        assert_eq!(stored.hint(), "lsv2_pt_…0001");
        assert!(
            entry(&config).store("\"lsv2_pt_quoted\"").is_err(),
            "a malformed key is refused"
        );

        let app = App::from_config(&config, &Env::default()).expect("app");
        let proxy = start_app(app).await;
        let (response, _) = get(&proxy.url("/info")).await;
        assert_eq!(response.status(), 200);

        entry(&config).entry().set_password(&numbered_key(2)).expect("replace");
        let reloader = &proxy.app.shared().key_reloader;
        assert_eq!(reloader.reload(ReloadReason::Refresh).await, ReloadOutcome::Reloaded);
        let (response, _) = get(&proxy.url("/info")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(upstream.keys_seen(), [numbered_key(1), numbered_key(2)]);
        proxy.stop().await;
    }
}
