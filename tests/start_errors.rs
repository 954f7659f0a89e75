//! Errors found when the proxy starts (a key file that cannot be read, a missing CA file or
//! client token) name the setting and the layer it came from, like configuration errors do.

mod support;

use langsmith_proxy::env::Env;
use langsmith_proxy::App;
use support::*;

fn start_error(flags: &[(&'static str, &str)], env: &Env) -> String {
    let config = load_config(flags, env).expect("a valid configuration");
    match App::from_config(&config, env) {
        Ok(_) => panic!("started with {flags:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn unreadable_key_file_names_key_source_and_its_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing-key");
    let source = format!("file:{}", missing.display());
    let message = start_error(
        &[("key.source", source.as_str())],
        &Env::from_pairs([] as [(&str, &str); 0]),
    );
    assert!(
        message.contains("setting `key.source`, from flag --test-flag"),
        "{message}"
    );
}

#[test]
fn unset_key_variable_names_the_default_as_its_origin() {
    let message = start_error(&[], &Env::from_pairs([] as [(&str, &str); 0]));
    assert!(message.contains("LANGSMITH_API_KEY is not set"), "{message}");
    assert!(message.contains("from the built-in default"), "{message}");
}

/// Started in a shell set up for an app (`eval "$(langsmith-proxy env)"`), the proxy would send
/// the app's placeholder to LangSmith as its key.
/// A variable set to bytes that are not UTF-8 is not "unset": the message says what it is, and a
/// setting given so is refused rather than replaced by its default.
#[cfg(unix)]
#[test]
fn variables_that_are_not_text_are_named_not_taken_for_unset() {
    use std::os::unix::ffi::OsStringExt;
    let not_text = || std::ffi::OsString::from_vec(vec![0xff, 0xfe]);
    let env = Env::from_os_pairs([("LANGSMITH_API_KEY".into(), not_text())]);
    let message = start_error(&[], &env);
    assert!(
        message.contains("LANGSMITH_API_KEY is set, but its value is not UTF-8"),
        "{message}"
    );

    let env = Env::from_os_pairs([
        ("LANGSMITH_API_KEY".into(), TEST_KEY.into()),
        ("LANGSMITH_PROXY_LISTEN".into(), not_text()),
    ]);
    let message = load_config(&[], &env)
        .expect_err("a setting that is not text")
        .to_string();
    assert!(
        message.contains("LANGSMITH_PROXY_LISTEN") && message.contains("not UTF-8"),
        "{message}"
    );
    // Setting names are read in any case.
    let env = Env::from_os_pairs([
        ("LANGSMITH_API_KEY".into(), TEST_KEY.into()),
        ("langsmith_proxy_listen".into(), not_text()),
    ]);
    let message = load_config(&[], &env)
        .expect_err("a setting that is not text")
        .to_string();
    assert!(message.contains("langsmith_proxy_listen"), "{message}");
}

#[test]
fn the_apps_placeholder_is_not_taken_for_the_key() {
    let env = Env::from_pairs([("LANGSMITH_API_KEY", "proxy-managed")]);
    let message = start_error(&[], &env);
    assert!(message.contains("placeholder"), "{message}");
    assert!(message.contains("env:LANGSMITH_API_KEY"), "{message}");
    // Where apps may bring their own key, the proxy starts without one, as with no variable.
    let config = load_config(&[("client_credentials", "keep-if-present")], &env).expect("config");
    let app = App::from_config(&config, &env).expect("starts without a key of its own");
    assert!(app.keys().snapshot().is_none());
}

#[test]
fn missing_ca_file_names_the_environment_variable_that_set_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("ca.pem");
    let env = Env::from_pairs([
        ("LANGSMITH_API_KEY", TEST_KEY),
        ("LANGSMITH_PROXY_UPSTREAM_CA_FILE", missing.to_str().expect("utf-8")),
    ]);
    let message = start_error(&[], &env);
    assert!(
        message.contains("setting `upstream_ca_file`, from environment variable LANGSMITH_PROXY_UPSTREAM_CA_FILE"),
        "{message}"
    );
}

#[test]
fn unset_client_token_variable_names_client_token_source() {
    let message = start_error(&[("client_token.source", "env:PROXY_CLIENT_TOKEN")], &env_with_key());
    assert!(message.contains("PROXY_CLIENT_TOKEN"), "{message}");
    assert!(
        message.contains("setting `client_token.source`, from flag --test-flag"),
        "{message}"
    );
}

/// A key pasted where a variable name or a path belongs is not printed back, in the start
/// error or in `config`.
#[test]
fn a_key_pasted_into_a_source_or_path_setting_stays_unprinted() {
    let pasted = [
        ("client_token.source", format!("env:{TEST_KEY}")),
        ("client_token.source", format!("file:/tmp/{TEST_KEY}")),
        ("upstream_ca_file", format!("/etc/{TEST_KEY}")),
    ];
    for (setting, value) in &pasted {
        let flags = [(*setting, value.as_str())];
        let message = start_error(&flags, &env_with_key());
        assert!(message.contains("[key redacted]"), "{message}");
        assert!(!message.contains(&TEST_KEY[8..]), "{message}");
        let shown = format!("{:?}", load_config(&flags, &env_with_key()).expect("valid").settings);
        assert!(!shown.contains(&TEST_KEY[8..]), "{shown}");
    }
}

#[test]
fn key_file_that_is_not_text_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("key");
    std::fs::write(&path, [0xff, 0xfe, 0x00, 0x6c]).expect("write");
    let source = format!("file:{}", path.display());
    let message = start_error(
        &[("key.source", source.as_str())],
        &Env::from_pairs([] as [(&str, &str); 0]),
    );
    assert!(
        message.contains("is not text") && message.contains("plain text"),
        "{message}"
    );
    assert!(!message.contains("permissions"), "not a permission problem: {message}");
}

/// A file named by mistake (a log, `/dev/zero`) is not read whole into memory.
#[test]
fn key_file_far_longer_than_a_key_is_refused_unread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("key");
    std::fs::write(&path, vec![b'a'; 64 * 1024 + 1]).expect("write");
    for path in [path.as_path(), std::path::Path::new("/dev/zero")] {
        let source = format!("file:{}", path.display());
        let message = start_error(
            &[("key.source", source.as_str())],
            &Env::from_pairs([] as [(&str, &str); 0]),
        );
        assert!(
            message.contains("more than 65536 bytes") && message.contains("right file"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn a_port_in_use_says_what_to_do() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = langsmith_proxy::listener::ListenAddr::Tcp(taken.local_addr().expect("addr"));
    let error = langsmith_proxy::Listener::bind(&addr, 0o600)
        .await
        .expect_err("the port is taken");
    let message = error.to_string();
    assert!(
        message.contains(&format!("cannot listen on {addr} (setting `listen`")),
        "{message}"
    );
    assert!(message.contains("another process listens there"), "{message}");
    assert!(message.contains("choose another port"), "{message}");
}
