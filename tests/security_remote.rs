//! Loopback by default: a non-loopback `listen` address needs `allow_remote = true` or a client
//! token, and the binary refuses to start otherwise (exit status 2, naming the fix).

mod support;

use langsmith_proxy::env::Env;
use langsmith_proxy::listener::ListenAddr;
use support::*;

#[test]
fn a_non_loopback_address_needs_allow_remote_or_a_client_token() {
    let env = env_with_key();
    for listen in ["0.0.0.0:7878", "[::]:7878", "192.168.1.20:7878"] {
        let error = load_config(&[("listen", listen)], &env).expect_err(listen);
        let message = error.to_string();
        for fix in [
            "`listen`",
            "127.0.0.1",
            "allow_remote = true",
            "--allow-remote",
            "client_token.source",
        ] {
            assert!(message.contains(fix), "{listen}: {fix} missing from: {message}");
        }
        let allowed = load_config(&[("listen", listen), ("allow_remote", "true")], &env).expect("allow_remote");
        assert!(allowed.listen.is_remote());
        load_config(&[("listen", listen), ("client_token.source", "env:PROXY_TOKEN")], &env).expect("client token");
    }
}

#[test]
fn loopback_and_unix_sockets_need_nothing() {
    let env = env_with_key();
    for listen in [
        "127.0.0.1:0",
        "[::1]:7878",
        "127.0.0.2:7878",
        "unix:/run/user/1000/langsmith-proxy.sock",
    ] {
        let config = load_config(&[("listen", listen)], &env).expect(listen);
        assert!(!config.listen.is_remote(), "{listen}");
    }
    let config = load_config(&[], &env).expect("defaults");
    assert_eq!(config.listen, "127.0.0.1:7878".parse::<ListenAddr>().expect("addr"));
    assert!(!config.security.allow_remote);
    let error = load_config(&[("listen", "unix:relative.sock")], &env).expect_err("relative path");
    assert!(error.to_string().contains("absolute path"), "{error}");
}

#[test]
fn the_environment_sets_the_security_settings() {
    let env = Env::from_pairs([
        ("LANGSMITH_API_KEY", TEST_KEY),
        ("LANGSMITH_PROXY_LISTEN", "0.0.0.0:7878"),
        ("LANGSMITH_PROXY_ALLOW_REMOTE", "true"),
        ("LANGSMITH_PROXY_ALLOWED_HOSTS", "proxy.lan,10.0.0.5"),
        ("LANGSMITH_PROXY_ALLOWED_ORIGINS", "http://localhost:3000"),
        ("LANGSMITH_PROXY_UNIX_SOCKET_MODE", "0660"),
    ]);
    let config = load_config(&[], &env).expect("config");
    assert!(config.security.allow_remote);
    assert_eq!(config.security.allowed_hosts, ["proxy.lan", "10.0.0.5"]);
    assert_eq!(config.security.allowed_origins, ["http://localhost:3000"]);
    assert_eq!(config.security.unix_socket_mode, 0o660);

    let env = Env::from_pairs([("LANGSMITH_PROXY_ALLOWED_HOSTS", "proxy.lan:7878")]);
    let error = load_config(&[], &env).expect_err("port in allowed_hosts");
    let message = error.to_string();
    assert!(
        message.contains("LANGSMITH_PROXY_ALLOWED_HOSTS") && message.contains("port"),
        "{message}"
    );
}

#[test]
fn the_binary_exits_2_and_names_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_langsmith-proxy"))
        .args(["--listen", "0.0.0.0:0"])
        .env_clear()
        .env("LANGSMITH_API_KEY", TEST_KEY)
        .current_dir(dir.path())
        .output()
        .expect("run the binary");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--allow-remote") && stderr.contains("client_token.source"),
        "{stderr}"
    );
}

#[tokio::test]
async fn serving_on_a_non_loopback_address_warns_at_every_start() {
    let logs = CapturedLogs::global();
    let upstream = FakeUpstream::requiring_key().await;
    let env = env_with_key();
    let config = load_config(&[("upstream", upstream.url.as_str()), ("allow_remote", "true")], &env).expect("config");
    let app = langsmith_proxy::App::from_config(&config, &env).expect("app");
    // Every interface; the test itself only connects over loopback.
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let proxy = start_app_on(listener, app);
    let (response, _) = get(&format!("http://127.0.0.1:{port}/info")).await;
    assert_eq!(response.status(), 200);
    let text = logs.text();
    let warning = text
        .lines()
        .find(|line| line.contains(&format!("0.0.0.0:{port}")) && line.contains("WITHOUT a client token"))
        .unwrap_or_else(|| panic!("no warning for 0.0.0.0:{port} in:\n{text}"));
    assert!(warning.contains("WARN"), "{warning}");
    proxy.stop().await;
}

/// A plain http:// upstream on another machine carries the key unencrypted: warned at start.
/// (192.0.2.0/24 is reserved for documentation; nothing is sent there, no request is made.)
#[tokio::test]
async fn a_plain_http_upstream_elsewhere_is_warned_about() {
    let logs = CapturedLogs::global();
    let remote = "http://192.0.2.10:8080";
    let proxy = start_proxy(remote).await;
    let local = FakeUpstream::start(|_| Reply::ok()).await;
    let quiet = start_proxy(&local.url).await;
    // Once serve has returned, its start-up warnings have been written.
    proxy.stop().await;
    quiet.stop().await;
    let text = logs.text();
    let warned = |url: &str| {
        text.lines()
            .any(|line| line.contains(url) && line.contains("travels unencrypted") && line.contains("WARN"))
    };
    assert!(warned(remote), "no warning for {remote} in:\n{text}");
    assert!(!warned(&local.url), "a loopback upstream was warned about");
}
