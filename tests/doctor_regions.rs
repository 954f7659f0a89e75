//! `doctor` asks LangSmith where the app's key works when the app talks to a region directly:
//! a key from another region (or none) is reported with the region to use.

mod support;

use std::time::Duration;

use langsmith_proxy::client::OutboundProxy;
use langsmith_proxy::config::Timeouts;
use langsmith_proxy::doctor::{self, Code, Inputs, LangSmithRegionCheck, RegionCheck, TcpProbe};
use langsmith_proxy::env::Env;
use langsmith_proxy::secret::ApiKey;
use langsmith_proxy::upstream::Upstream;
use support::*;

/// Answers as if LangSmith had been asked.
struct Answer(Option<Vec<String>>);

impl RegionCheck for Answer {
    fn accepting(&self, _key: &ApiKey) -> Option<Vec<String>> {
        self.0.clone()
    }
}

fn examine(endpoint: &str, key: &str, answer: Option<&[&str]>) -> doctor::Report {
    let home = tempfile::tempdir().expect("tempdir");
    let env = Env::from_pairs([
        ("LANGSMITH_ENDPOINT", endpoint),
        ("LANGSMITH_API_KEY", key),
        ("HOME", home.path().to_str().expect("utf-8")),
    ]);
    let inputs = Inputs {
        env: &env,
        proxy_listen: "127.0.0.1:7878".parse().expect("addr"),
        client_credentials: langsmith_proxy::config::ClientCredentials::Replace,
    };
    let answer = Answer(answer.map(|names| names.iter().map(|n| (*n).to_owned()).collect()));
    doctor::examine_with(&inputs, &TcpProbe::default(), &answer)
}

#[test]
fn key_from_another_region_is_named() {
    let report = examine("https://api.smith.langchain.com", TEST_KEY, Some(&["eu"]));
    let finding = report
        .findings
        .iter()
        .find(|f| f.code == Code::KeyRegionMismatch)
        .expect("mismatch found");
    let text = doctor::human(&report).to_string();
    assert!(text.contains("--upstream eu"), "{text}");
    // The region-host finding beside it names the same region, not the one the app uses.
    assert!(!text.contains("--upstream us"), "{text}");
    assert!(finding.summary.contains("works in eu"), "{}", finding.summary);
    assert!(!report.is_ok());
    assert!(!text.contains(TEST_KEY));
}

#[test]
fn key_accepted_nowhere_is_reported() {
    let report = examine("https://eu.api.smith.langchain.com", TEST_KEY, Some(&[]));
    let finding = report
        .findings
        .iter()
        .find(|f| f.code == Code::KeyRegionMismatch)
        .expect("finding");
    assert!(
        finding.summary.contains("no region accepts the key"),
        "{}",
        finding.summary
    );
}

#[test]
fn no_mismatch_when_the_key_belongs_there_or_nobody_could_tell() {
    for answer in [Some(&["us"][..]), None] {
        let report = examine("https://api.smith.langchain.com", TEST_KEY, answer);
        assert!(
            !report.codes().contains(&Code::KeyRegionMismatch),
            "{:?}",
            report.codes()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_real_check_asks_each_region() {
    let (us, _) = LangSmith::refusing_test_key((403, "{\"error\":\"Forbidden\"}\n"))
        .start()
        .await;
    let (eu, _) = LangSmith::default().start().await;
    let table = [("us", us.url.as_str()), ("eu", eu.url.as_str())];
    let regions = Upstream::regions(table).expect("regions");
    let check = |outbound_proxy| LangSmithRegionCheck {
        regions: regions.clone(),
        timeouts: Timeouts {
            connect: Duration::from_secs(5),
            response_header: Duration::from_secs(5),
            pool_idle: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(1),
            shutdown_delay: Duration::ZERO,
        },
        outbound_proxy,
    };
    // The check runs its own runtime, as `doctor` does: keep it off this one.
    let ask = |check: LangSmithRegionCheck| {
        tokio::task::spawn_blocking(move || check.accepting(&ApiKey::parse(TEST_KEY).expect("key")))
    };
    assert_eq!(ask(check(None)).await.expect("join"), Some(vec!["eu".to_owned()]));

    // Through the app's outbound proxy, as its calls go: here one that is down, so no region
    // can be asked.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let proxy_url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let env = Env::from_pairs([("HTTP_PROXY", proxy_url.as_str())]);
    let outbound = OutboundProxy::from_env(&env, &regions[0].1)
        .expect("proxy")
        .expect("applies");
    let accepting = ask(check(Some(outbound))).await.expect("join");
    assert_ne!(
        accepting,
        Some(vec!["eu".to_owned()]),
        "the outbound proxy was bypassed"
    );
}
