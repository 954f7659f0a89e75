//! `doctor` against injected environments: one test per finding, and none on a clean setup.
//! Each run gets its own home directory (a tempdir) so no real profile file is read, and every
//! rendering is checked for keys.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;

use langsmith_proxy::config::ClientCredentials;
use langsmith_proxy::doctor::{self, Answer, Code, Inputs, Probe, Report, TcpProbe};
use langsmith_proxy::env::Env;

mod support;

use support::{answering_with, proxy_stand_in, start_proxy, FakeUpstream, Reply};

const PAT: &str = "lsv2_pt_11111111111111111111111111111111_aaaa1111";
const PAT_HINT: &str = "lsv2_pt_…1111";
const OTHER_PAT: &str = "lsv2_pt_22222222222222222222222222222222_bbbb2222";
const OTHER_PAT_HINT: &str = "lsv2_pt_…2222";
const SERVICE_KEY: &str = "lsv2_sk_33333333333333333333333333333333_cccc3333";
const LEGACY_KEY: &str = "ls__4444444444444444444444444444";
const WORKSPACE: &str = "0b0e2c6a-8e71-4c35-9a3b-4d6b1f0e9a11";

/// An address where nothing listens: bound, then released.
fn stopped_proxy() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    url
}

fn listen() -> SocketAddr {
    "127.0.0.1:7878".parse().expect("addr")
}

/// Examines `vars` with `home` as the home directory, and checks that neither rendering
/// shows any key that is among the values.
fn examine_in(home: &Path, vars: &[(&str, &str)]) -> Report {
    examine_under(home, vars, ClientCredentials::Replace)
}

/// [`examine_in`], for a proxy with the client credential policy `policy`.
fn examine_under(home: &Path, vars: &[(&str, &str)], policy: ClientCredentials) -> Report {
    let home = home.to_str().expect("utf-8 path").to_owned();
    let env = Env::from_pairs(
        vars.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .chain([("HOME".to_owned(), home)]),
    );
    let report = doctor::examine(
        &Inputs {
            env: &env,
            proxy_listen: listen(),
            client_credentials: policy,
        },
        &TcpProbe::default(),
    );
    let rendered = format!("{}{}{report:?}", doctor::human(&report), doctor::json(&report));
    for key in [PAT, OTHER_PAT, SERVICE_KEY, LEGACY_KEY] {
        assert!(
            !rendered.contains(&key[8..]),
            "a key leaked into the report:\n{rendered}"
        );
    }
    report
}

fn examine(vars: &[(&str, &str)]) -> Report {
    let home = tempfile::tempdir().expect("tempdir");
    examine_in(home.path(), vars)
}

/// An app pointed at `url` with the placeholder key, plus `extra`.
fn via(url: &str, extra: &[(&str, &str)]) -> Report {
    let base = [("LANGSMITH_ENDPOINT", url), ("LANGSMITH_API_KEY", "proxy-managed")];
    let vars: Vec<(&str, &str)> = base.iter().chain(extra).copied().collect();
    examine(&vars)
}

fn summary(report: &Report, code: Code) -> String {
    report
        .findings
        .iter()
        .find(|f| f.code == code)
        .map(|f| format!("{} | {}", f.summary, f.fix.join(" | ")))
        .unwrap_or_else(|| panic!("no {code} in {:?}", report.codes()))
}

#[test]
fn clean_setup_has_no_findings() {
    let url = proxy_stand_in();
    let report = via(
        &url,
        &[
            ("LANGSMITH_TRACING", "true"),
            ("LANGSMITH_PROJECT", "demo"),
            ("HTTP_PROXY", "http://corp.example:3128"),
            ("NO_PROXY", "127.0.0.1,localhost"),
            ("OPENAI_API_KEY", "sk-unrelated"),
        ],
    );
    assert_eq!(report.codes(), [], "{}", doctor::human(&report));
    assert!(report.is_ok());
    assert!(doctor::human(&report).contains("No problems found."));
    assert_eq!(doctor::json(&report)["ok"], true);
    assert_eq!(doctor::json(&report)["effective"]["tracing"]["on"], true);
}

#[test]
fn unset_key() {
    let url = proxy_stand_in();
    let report = examine(&[("LANGSMITH_ENDPOINT", url.as_str())]);
    assert_eq!(report.codes(), [Code::KeyUnset]);
    assert!(summary(&report, Code::KeyUnset).contains("LANGSMITH_API_KEY=proxy-managed"));
    let json = doctor::json(&report);
    assert_eq!(json["ok"], false);
    assert_eq!(json["findings"][0]["code"], "key_unset");
    assert_eq!(json["findings"][0]["severity"], "error");
}

#[test]
fn near_miss_names() {
    let url = proxy_stand_in();
    for (name, how) in [
        ("LANGSMITH_APIKEY", "underscores"),
        ("LANGSMITH_API_TOKEN", "another word"),
        ("langsmith_api_key", "letter case"),
        ("LANGSMTIH_API_KEY", "spelled"),
    ] {
        let report = examine(&[("LANGSMITH_ENDPOINT", url.as_str()), (name, PAT)]);
        assert_eq!(report.codes(), [Code::KeyUnset, Code::VariableNearMiss], "{name}");
        let text = summary(&report, Code::VariableNearMiss);
        assert!(text.contains(&format!("{name} is set")), "{text}");
        assert!(text.contains("Did you mean LANGSMITH_API_KEY?"), "{text}");
        assert!(text.contains(how), "{text}");
    }
    let report = via(
        &url,
        &[("LANGSMITH_PROJECT_NAME", "demo"), ("LANGCHAIN_PROFILE", "work")],
    );
    assert_eq!(report.codes(), [Code::VariableNearMiss, Code::VariableNearMiss]);
    let all: Vec<&str> = report.findings.iter().map(|f| f.summary.as_str()).collect();
    assert!(all[0].contains("Did you mean LANGSMITH_PROFILE?"), "{all:?}");
    assert!(all[1].contains("Did you mean LANGSMITH_PROJECT?"), "{all:?}");
}

#[test]
fn langsmith_prefix_shadows_langchain() {
    let url = proxy_stand_in();
    let report = examine(&[
        ("LANGSMITH_ENDPOINT", url.as_str()),
        ("LANGSMITH_API_KEY", PAT),
        ("LANGCHAIN_API_KEY", OTHER_PAT),
    ]);
    assert_eq!(report.codes(), [Code::PrefixShadowed]);
    let text = summary(&report, Code::PrefixShadowed);
    assert!(text.contains(&format!("use LANGSMITH_API_KEY ({PAT_HINT}")), "{text}");
    assert!(
        text.contains(&format!("ignore LANGCHAIN_API_KEY ({OTHER_PAT_HINT}")),
        "{text}"
    );
    assert_eq!(
        report.effective.key.as_ref().map(|k| k.origin.to_string()).as_deref(),
        Some("LANGSMITH_API_KEY")
    );

    // The same value under both names is fine.
    let report = examine(&[
        ("LANGSMITH_ENDPOINT", url.as_str()),
        ("LANGCHAIN_ENDPOINT", url.as_str()),
        ("LANGSMITH_API_KEY", "proxy-managed"),
    ]);
    assert_eq!(report.codes(), []);
}

#[test]
fn blank_langsmith_variable_falls_back_to_langchain() {
    let url = proxy_stand_in();
    let report = examine(&[
        ("LANGSMITH_ENDPOINT", url.as_str()),
        ("LANGSMITH_API_KEY", ""),
        ("LANGCHAIN_API_KEY", "proxy-managed"),
    ]);
    assert_eq!(report.codes(), [Code::VariableBlank]);
    assert!(summary(&report, Code::VariableBlank).contains("treat it as unset and use LANGCHAIN_API_KEY"));
    assert_eq!(
        report.effective.key.as_ref().map(|k| k.origin.to_string()).as_deref(),
        Some("LANGCHAIN_API_KEY")
    );

    let report = examine(&[
        ("LANGSMITH_ENDPOINT", url.as_str()),
        ("LANGSMITH_API_KEY", " "),
        ("LANGCHAIN_API_KEY", "proxy-managed"),
    ]);
    assert!(summary(&report, Code::VariableBlank).contains("the JS SDK uses it as is"));
}

#[test]
fn endpoint_is_web_ui() {
    let report = examine(&[
        ("LANGSMITH_ENDPOINT", "https://eu.smith.langchain.com/"),
        ("LANGSMITH_API_KEY", PAT),
    ]);
    assert_eq!(report.codes(), [Code::EndpointIsWebUi]);
    let text = summary(&report, Code::EndpointIsWebUi);
    assert!(text.contains("web app"), "{text}");
    assert!(
        text.contains("LANGSMITH_ENDPOINT=https://eu.api.smith.langchain.com"),
        "{text}"
    );
    assert!(text.contains("LANGSMITH_ENDPOINT=http://127.0.0.1:7878"), "{text}");
}

#[test]
fn endpoint_is_a_region_host_or_the_default() {
    let report = examine(&[
        ("LANGSMITH_ENDPOINT", "https://eu.api.smith.langchain.com"),
        ("LANGSMITH_API_KEY", PAT),
    ]);
    assert_eq!(report.codes(), [Code::EndpointIsRegionHost]);
    assert!(summary(&report, Code::EndpointIsRegionHost).contains("--upstream eu"));

    let report = examine(&[("LANGSMITH_API_KEY", PAT)]);
    assert_eq!(report.codes(), [Code::EndpointIsRegionHost]);
    assert!(summary(&report, Code::EndpointIsRegionHost).contains("No endpoint is set"));
}

#[test]
fn endpoint_invalid() {
    let report = examine(&[
        ("LANGSMITH_ENDPOINT", "127.0.0.1:7878"),
        ("LANGSMITH_API_KEY", "proxy-managed"),
    ]);
    assert_eq!(report.codes(), [Code::EndpointInvalid]);
    assert!(summary(&report, Code::EndpointInvalid).contains("http://"));
}

#[test]
fn nothing_listens_at_the_proxy_address() {
    let url = stopped_proxy();
    let report = examine(&[
        ("LANGSMITH_ENDPOINT", url.as_str()),
        ("LANGSMITH_API_KEY", "proxy-managed"),
    ]);
    assert_eq!(report.codes(), [Code::ProxyNotListening]);
    let text = summary(&report, Code::ProxyNotListening);
    assert!(text.contains("nothing listens"), "{text}");
    assert!(
        text.contains("export LANGSMITH_ENDPOINT=http://127.0.0.1:7878"),
        "{text}"
    );
}

#[test]
fn https_at_the_proxy_address() {
    for endpoint in ["https://127.0.0.1:7878", "https://localhost:7878/"] {
        let report = via(endpoint, &[]);
        assert_eq!(report.codes(), [Code::EndpointHttpsToProxy], "{endpoint}");
        let text = summary(&report, Code::EndpointHttpsToProxy);
        assert!(
            text.contains("plain HTTP") && text.contains("export LANGSMITH_ENDPOINT=http://127.0.0.1:7878"),
            "{text}"
        );
    }
    // The proxy answering in plain HTTP on another port: https:// there fails the same way.
    let url = proxy_stand_in();
    let report = via(&url.replace("http://", "https://"), &[]);
    assert_eq!(report.codes(), [Code::EndpointHttpsToProxy]);
    // https:// to something else on a loopback port may be a TLS terminator in front of it.
    let url = answering_with(b"\x15\x03\x03\x00\x02\x02\x46");
    let report = via(&url.replace("http://", "https://"), &[]);
    assert!(report.codes().is_empty(), "{:?}", report.codes());
}

/// Another service on the endpoint's port (the proxy's admin port, a dev server) takes the
/// SDK's calls: a warning, since a local self-hosted LangSmith is there on purpose.
#[test]
fn another_service_at_the_endpoint_is_named() {
    let url = answering_with(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n");
    let report = via(&url, &[]);
    assert_eq!(report.codes(), [Code::EndpointNotTheProxy]);
    let text = summary(&report, Code::EndpointNotTheProxy);
    assert!(
        text.contains("other than langsmith-proxy") && text.contains("self-hosted"),
        "{text}"
    );
    // A socket that accepts and never answers is not the proxy either.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let report = via(&format!("http://{}", silent.local_addr().expect("addr")), &[]);
    assert_eq!(report.codes(), [Code::EndpointNotTheProxy]);
}

#[test]
fn tracing_with_placeholder_and_no_proxy() {
    let url = stopped_proxy();
    let report = via(&url, &[("LANGSMITH_TRACING", "true")]);
    assert_eq!(
        report.codes(),
        [Code::TracingPlaceholderWithoutProxy, Code::ProxyNotListening]
    );
    assert!(summary(&report, Code::TracingPlaceholderWithoutProxy).contains("unset LANGSMITH_TRACING"));

    let report = examine(&[("LANGSMITH_API_KEY", "proxy-managed"), ("LANGCHAIN_TRACING_V2", "true")]);
    assert_eq!(
        report.codes(),
        [Code::TracingPlaceholderWithoutProxy, Code::EndpointIsRegionHost]
    );
    assert!(summary(&report, Code::TracingPlaceholderWithoutProxy).contains("rejects the placeholder"));
}

#[test]
fn profile_supplies_key_endpoint_and_workspace() {
    let url = proxy_stand_in();
    let home = tempfile::tempdir().expect("tempdir");
    let dir = home.path().join(".langsmith");
    std::fs::create_dir(&dir).expect("mkdir");
    let file = format!(
        r#"{{"profiles": {{"default": {{"api_key": "{PAT}", "api_url": "{url}", "workspace_id": "{WORKSPACE}"}}}}}}"#
    );
    std::fs::write(dir.join("config.json"), file).expect("write");

    let report = examine_in(home.path(), &[]);
    assert_eq!(report.codes(), [Code::ProfileOverrides]);
    let text = summary(&report, Code::ProfileOverrides);
    for part in [
        format!("api_url {url}"),
        format!("the key {PAT_HINT}"),
        format!("workspace_id {WORKSPACE}"),
    ] {
        assert!(text.contains(&part), "{part} missing from {text}");
    }

    // The environment wins over the profile: nothing is supplied by it then.
    let report = examine_in(
        home.path(),
        &[
            ("LANGSMITH_ENDPOINT", url.as_str()),
            ("LANGSMITH_API_KEY", "proxy-managed"),
            ("LANGSMITH_WORKSPACE_ID", WORKSPACE),
        ],
    );
    assert_eq!(report.codes(), []);
}

#[test]
fn profile_selected_by_config_file_and_profile_variables() {
    let home = tempfile::tempdir().expect("tempdir");
    let path = home.path().join("elsewhere.json");
    std::fs::write(
        &path,
        r#"{"current_profile": "work", "profiles": {"work": {}, "eu": {"api_url": "https://eu.smith.langchain.com"}}}"#,
    )
    .expect("write");
    let path = path.to_str().expect("utf-8");
    let select = |profile: &str| {
        examine_in(
            home.path(),
            &[
                ("LANGSMITH_CONFIG_FILE", path),
                ("LANGSMITH_PROFILE", profile),
                ("LANGSMITH_API_KEY", PAT),
            ],
        )
    };

    let report = select("eu");
    assert_eq!(report.codes(), [Code::EndpointIsWebUi, Code::ProfileOverrides]);
    assert!(summary(&report, Code::EndpointIsWebUi).contains("from profile `eu`"));

    let report = select("ghost");
    assert_eq!(report.codes(), [Code::EndpointIsRegionHost, Code::ProfileNotFound]);
    assert!(summary(&report, Code::ProfileNotFound).contains("LANGSMITH_PROFILE selects profile `ghost`"));
}

#[test]
fn unusable_profile_files() {
    let home = tempfile::tempdir().expect("tempdir");
    let url = proxy_stand_in();
    let base = [
        ("LANGSMITH_ENDPOINT", url.as_str()),
        ("LANGSMITH_API_KEY", "proxy-managed"),
    ];

    let missing = home.path().join("missing.json");
    let missing = missing.to_str().expect("utf-8");
    let report = examine_in(home.path(), &[base[0], base[1], ("LANGSMITH_CONFIG_FILE", missing)]);
    assert_eq!(report.codes(), [Code::ProfileUnreadable]);
    assert!(summary(&report, Code::ProfileUnreadable).contains("does not exist"));

    let dir = home.path().join(".langsmith");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("config.json"), "{ not json").expect("write");
    let report = examine_in(home.path(), &base);
    assert_eq!(report.codes(), [Code::ProfileUnreadable]);
    assert!(summary(&report, Code::ProfileUnreadable).contains("not valid JSON"));
}

#[test]
fn outbound_proxy_without_no_proxy_for_loopback() {
    let url = proxy_stand_in();
    let with = |extra: &[(&str, &str)]| via(&url, extra).codes();
    assert_eq!(
        with(&[("HTTP_PROXY", "http://corp.example:3128")]),
        [Code::NoProxyMissingLoopback]
    );
    assert_eq!(
        with(&[
            ("https_proxy", "http://corp.example:3128"),
            ("ALL_PROXY", "http://corp.example:3128")
        ]),
        [Code::NoProxyMissingLoopback]
    );
    assert_eq!(
        with(&[
            ("HTTP_PROXY", "http://corp.example:3128"),
            ("NO_PROXY", "localhost,corp.example")
        ]),
        [Code::NoProxyMissingLoopback]
    );
    assert_eq!(
        with(&[("http_proxy", "http://corp.example:3128"), ("no_proxy", "127.0.0.0/8")]),
        []
    );
    assert_eq!(
        with(&[("HTTP_PROXY", "http://corp.example:3128"), ("NO_PROXY", "*")]),
        [],
        "* bypasses every proxy"
    );
    assert_eq!(
        with(&[("HTTPS_PROXY", "http://corp.example:3128")]),
        [],
        "https proxy, http endpoint"
    );
    // An empty lower-case variable is unset to requests, which then reads the upper-case one.
    assert_eq!(
        with(&[
            ("HTTP_PROXY", "http://corp.example:3128"),
            ("no_proxy", ""),
            ("NO_PROXY", "127.0.0.1,localhost")
        ]),
        []
    );
    // Another loopback address needs its own entry, and the fix names it.
    let url = url.replace("127.0.0.1", "127.0.0.2");
    let report = via(&url, &[("HTTP_PROXY", "http://corp.example:3128")]);
    assert!(
        report.codes().contains(&Code::NoProxyMissingLoopback),
        "{:?}",
        report.codes()
    );
    let text = summary(&report, Code::NoProxyMissingLoopback);
    assert!(
        text.contains("NO_PROXY=127.0.0.1,localhost,127.0.0.2,$NO_PROXY"),
        "{text}"
    );
}

#[test]
fn tracing_values_other_than_true() {
    let url = proxy_stand_in();
    let report = via(
        &url,
        &[
            ("LANGSMITH_TRACING_V2", "1"),
            ("LANGCHAIN_TRACING", "True"),
            ("LANGSMITH_TRACING", "false"),
        ],
    );
    let all: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.code == Code::TracingValueNotTrue)
        .map(|f| f.summary.as_str())
        .collect();
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all[0].contains("LANGSMITH_TRACING_V2=\"1\""), "{all:?}");
    assert!(all[1].contains("LANGCHAIN_TRACING=\"True\""), "{all:?}");
    assert!(!report.effective.tracing_on());
}

#[test]
fn tracing_variables_that_disagree_name_the_one_that_decides() {
    let url = proxy_stand_in();
    let report = via(
        &url,
        &[("LANGSMITH_TRACING", "false"), ("LANGCHAIN_TRACING_V2", "true")],
    );
    assert_eq!(report.codes(), [Code::PrefixShadowed], "{}", doctor::human(&report));
    let text = summary(&report, Code::PrefixShadowed);
    assert!(
        text.contains("LANGCHAIN_TRACING_V2=true decides whether the Python SDK traces")
            && text.contains("ignores LANGSMITH_TRACING=false"),
        "{text}"
    );
    assert!(report.effective.tracing_on());

    // The JS SDK traces when any of them is true, whatever the order says.
    let report = via(
        &url,
        &[("LANGSMITH_TRACING_V2", "false"), ("LANGSMITH_TRACING", "true")],
    );
    let text = summary(&report, Code::PrefixShadowed);
    assert!(text.contains("The JS SDK traces here all the same"), "{text}");

    // Agreeing variables are no problem.
    let report = via(&url, &[("LANGSMITH_TRACING", "true"), ("LANGCHAIN_TRACING_V2", "true")]);
    assert_eq!(report.codes(), [], "{}", doctor::human(&report));
}

#[test]
fn service_key_without_workspace() {
    let endpoint = ("LANGSMITH_ENDPOINT", "https://eu.api.smith.langchain.com");
    let report = examine(&[endpoint, ("LANGSMITH_API_KEY", SERVICE_KEY)]);
    assert_eq!(report.codes(), [Code::WorkspaceMissing, Code::EndpointIsRegionHost]);
    assert!(summary(&report, Code::WorkspaceMissing).contains("LANGSMITH_WORKSPACE_ID"));

    let report = examine(&[
        endpoint,
        ("LANGSMITH_API_KEY", SERVICE_KEY),
        ("LANGSMITH_WORKSPACE_ID", WORKSPACE),
    ]);
    assert_eq!(report.codes(), [Code::EndpointIsRegionHost]);
}

#[test]
fn malformed_and_legacy_keys() {
    let url = proxy_stand_in();
    let quoted = format!("\"{PAT}\"");
    let report = examine(&[
        ("LANGSMITH_ENDPOINT", url.as_str()),
        ("LANGSMITH_API_KEY", quoted.as_str()),
    ]);
    assert_eq!(report.codes(), [Code::KeyMalformed]);
    assert!(summary(&report, Code::KeyMalformed).contains("quotes"));

    let report = examine(&[("LANGSMITH_ENDPOINT", url.as_str()), ("LANGSMITH_API_KEY", LEGACY_KEY)]);
    assert_eq!(report.codes(), [Code::KeyLegacy]);
}

/// The probe tells the real proxy (which refuses it itself, never asking the upstream) from
/// another service, as [`proxy_stand_in`] pretends to.
#[tokio::test]
async fn a_real_proxy_is_told_from_another_service() {
    let upstream = FakeUpstream::start(|_| Reply::ok()).await;
    let proxy = start_proxy(&upstream.url).await;
    let port = proxy.addr.port();
    let answer = tokio::task::spawn_blocking(move || TcpProbe::default().probe("127.0.0.1", port))
        .await
        .expect("probe");
    assert_eq!(answer, Answer::Proxy);
    assert!(upstream.requests().is_empty(), "the probe reached the upstream");
    // Nothing to alert on: the probe is no misuse the proxy reports.
    assert!(
        proxy.app.shared().journal.recent().is_empty(),
        "the probe was reported as a diagnosis"
    );
    let other = upstream.addr.port();
    let answer = tokio::task::spawn_blocking(move || TcpProbe::default().probe("127.0.0.1", other))
        .await
        .expect("probe");
    assert_eq!(answer, Answer::Other);
    proxy.stop().await;
}

/// Write replicas beside an endpoint: the SDKs refuse to start a client, and the keys in the
/// replica list would go to LangSmith directly. The value (with its keys) is never shown.
#[test]
fn runs_endpoints_beside_an_endpoint() {
    let url = proxy_stand_in();
    let replicas = format!("{{\"https://api.smith.langchain.com\":\"{PAT}\"}}");
    let report = via(&url, &[("LANGSMITH_RUNS_ENDPOINTS", &replicas)]);
    assert_eq!(report.codes(), [Code::RunsEndpointsConflict]);
    let text = summary(&report, Code::RunsEndpointsConflict);
    assert!(
        text.contains("ConflictingEndpointsError") && text.contains("unset LANGSMITH_RUNS_ENDPOINTS"),
        "{text}"
    );
    // Without an endpoint the SDKs take the replicas alone: not this conflict.
    let report = examine(&[("LANGSMITH_RUNS_ENDPOINTS", &replicas), ("LANGSMITH_API_KEY", PAT)]);
    assert!(
        !report.codes().contains(&Code::RunsEndpointsConflict),
        "{:?}",
        report.codes()
    );
}

/// An app sending its own key to a proxy that refuses app keys gets 400 on every call.
#[test]
fn a_real_key_sent_to_a_proxy_that_refuses_app_keys() {
    let url = proxy_stand_in();
    let home = tempfile::tempdir().expect("tempdir");
    let vars = [("LANGSMITH_ENDPOINT", url.as_str()), ("LANGSMITH_API_KEY", PAT)];
    let report = examine_under(home.path(), &vars, ClientCredentials::Reject);
    assert_eq!(report.codes(), [Code::ClientKeyRefused]);
    assert!(summary(&report, Code::ClientKeyRefused).contains("LANGSMITH_API_KEY=proxy-managed"));
    // Replaced by the proxy's key, the app's own works (if it need not be there).
    let report = examine_under(home.path(), &vars, ClientCredentials::Replace);
    assert!(report.codes().is_empty(), "{:?}", report.codes());
}

/// X-Tenant-Id takes a workspace's UUID, not its name.
#[test]
fn a_workspace_id_that_is_no_uuid() {
    let url = proxy_stand_in();
    let report = via(&url, &[("LANGSMITH_WORKSPACE_ID", "my-workspace")]);
    assert_eq!(report.codes(), [Code::WorkspaceNotUuid]);
    assert!(summary(&report, Code::WorkspaceNotUuid).contains("Settings → Workspaces"));
    let report = via(&url, &[("LANGSMITH_WORKSPACE_ID", WORKSPACE)]);
    assert!(report.codes().is_empty(), "{:?}", report.codes());
}

/// A password in the endpoint is not repeated in the report.
#[test]
fn an_endpoint_password_is_not_shown() {
    let report = via(
        "https://bob:hunter2@smith.langchain.com",
        &[("LANGCHAIN_ENDPOINT", "https://eve:hunter3@eu.smith.langchain.com")],
    );
    let shown = format!("{}{}", doctor::human(&report), doctor::json(&report));
    assert!(report.codes().contains(&Code::PrefixShadowed), "{shown}");
    assert!(
        !shown.contains("hunter") && !shown.contains("bob:") && !shown.contains("eve:"),
        "{shown}"
    );
    assert!(shown.contains("https://…@smith.langchain.com"), "{shown}");
}

/// A variable set to bytes that are not UTF-8 is reported as unusable, not as unset.
#[cfg(unix)]
#[test]
fn values_that_are_not_text_are_unusable_not_unset() {
    use std::os::unix::ffi::OsStringExt;
    let home = tempfile::tempdir().expect("tempdir");
    let env = Env::from_os_pairs([
        ("HOME".into(), home.path().into()),
        ("LANGSMITH_ENDPOINT".into(), proxy_stand_in().into()),
        (
            "LANGSMITH_API_KEY".into(),
            std::ffi::OsString::from_vec(b"lsv2_pt_\xff".to_vec()),
        ),
    ]);
    let inputs = Inputs {
        env: &env,
        proxy_listen: listen(),
        client_credentials: ClientCredentials::Replace,
    };
    let report = doctor::examine(&inputs, &TcpProbe::default());
    assert_eq!(report.codes(), [Code::KeyMalformed], "{}", doctor::human(&report));
}
