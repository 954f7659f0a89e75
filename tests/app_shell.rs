//! The binary in an app's shell: `env` evaluated by real shells, `doctor`'s exit status and
//! JSON, and the start-up error for a misspelled key variable. Each child gets its own
//! environment (`env_clear`) and a tempdir as working directory, so no config file is read.

use std::path::Path;
use std::process::{Command, Output};

mod support;

const BIN: &str = env!("CARGO_BIN_EXE_langsmith-proxy");

fn run(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("HOME", dir)
        .envs(vars.iter().copied())
        .output()
        .expect("run langsmith-proxy")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `eval "$(langsmith-proxy env)"` in `shell`, printing what the app would then see.
fn eval_in(shell: &str, no_proxy: &str) -> Option<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = format!(
        r#"eval "$("{BIN}" env --listen 127.0.0.1:9123)" && printf '%s\n' "$LANGSMITH_ENDPOINT" "$LANGSMITH_API_KEY" "$NO_PROXY" "$no_proxy""#
    );
    let output = Command::new(shell)
        .args(["-c", &script])
        .current_dir(dir.path())
        .env_clear()
        .env("NO_PROXY", no_proxy)
        .output()
        .ok()?;
    assert!(
        output.status.success(),
        "{shell}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(stdout(&output))
}

#[test]
fn env_output_survives_eval_in_posix_shells() {
    let awkward = r#"corp.example,it's,$HOME,`x`,a\b,"q""#;
    let mut ran = 0;
    for shell in ["sh", "bash", "zsh"] {
        let Some(seen) = eval_in(shell, awkward) else {
            continue; // shell not installed here
        };
        ran += 1;
        let merged = format!("127.0.0.1,localhost,{awkward}");
        assert_eq!(
            seen,
            format!("http://127.0.0.1:9123\nproxy-managed\n{merged}\n{merged}\n"),
            "{shell}"
        );
    }
    assert!(ran > 0, "no POSIX shell found to evaluate the output");
}

#[test]
fn doctor_exit_status_and_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = support::proxy_stand_in();

    let clean = run(
        dir.path(),
        &["doctor"],
        &[("LANGSMITH_ENDPOINT", &url), ("LANGSMITH_API_KEY", "proxy-managed")],
    );
    assert!(clean.status.success(), "{}", stdout(&clean));
    assert!(stdout(&clean).contains("No problems found."));

    let key = "lsv2_pt_55555555555555555555555555555555_dddd5555";
    let broken = run(
        dir.path(),
        &["doctor", "--json"],
        &[
            ("LANGSMITH_ENDPOINT", "https://smith.langchain.com"),
            ("LANGSMITH_APIKEY", key),
        ],
    );
    assert_eq!(broken.status.code(), Some(1));
    let text = stdout(&broken);
    assert!(!text.contains(&key[8..]), "key leaked: {text}");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON report");
    let codes: Vec<&str> = json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert_eq!(codes, ["key_unset", "endpoint_is_web_ui", "variable_near_miss"]);
    assert_eq!(json["ok"], false);
}

#[test]
fn start_error_names_a_near_miss() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = "lsv2_pt_66666666666666666666666666666666_eeee6666";
    let output = run(dir.path(), &[], &[("LANGSMITH_API_TOKEN", key)]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("LANGSMITH_API_KEY is not set (did you mean LANGSMITH_API_TOKEN?"),
        "{stderr}"
    );
    assert!(!stderr.contains(&key[8..]), "key leaked: {stderr}");
}

/// `env` prints an endpoint apps can use, or refuses: port 0 only names "any free port".
#[test]
fn env_refuses_a_port_it_cannot_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = run(dir.path(), &["env", "--listen", "127.0.0.1:0"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("port 0") && stderr.contains("--listen 127.0.0.1:PORT"),
        "{stderr}"
    );
}
