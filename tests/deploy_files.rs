//! The deployment files agree with the binary: the Dockerfile (no container engine runs here, so
//! this is its lint beside hadolint in CI) and the Kubernetes examples, whose ports, probe paths,
//! flags and settings are checked against the clap definition, the config loader and a running
//! admin listener.

mod support;

use std::path::Path;

use clap::{CommandFactory, Parser};
use langsmith_proxy::cli::Cli;
use langsmith_proxy::config::{self, Config, Settings};
use langsmith_proxy::env::Env;
use langsmith_proxy::secret::{KeySource, PLACEHOLDER_KEY};
use serde_json::Value;
use support::*;

const BINARY_NAME: &str = env!("CARGO_PKG_NAME");
/// The user the image runs as (distroless's `nonroot`).
const IMAGE_USER: u64 = 65532;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

// ---------------------------------------------------------------- Dockerfile

/// One instruction: its keyword in upper case and the rest, continuation lines joined.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    rest: String,
}

/// The Dockerfile's stages, each a list of instructions starting with its FROM.
fn dockerfile_stages() -> Vec<Vec<Instruction>> {
    let text = read("Dockerfile");
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stages: Vec<Vec<Instruction>> = Vec::new();
    for line in logical {
        let (keyword, rest) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let instruction = Instruction {
            keyword: keyword.to_ascii_uppercase(),
            rest: rest.trim().to_owned(),
        };
        if instruction.keyword == "FROM" || stages.is_empty() {
            stages.push(Vec::new());
        }
        stages.last_mut().expect("a stage").push(instruction);
    }
    stages
}

fn find<'a>(stage: &'a [Instruction], keyword: &str) -> Vec<&'a str> {
    stage
        .iter()
        .filter(|i| i.keyword == keyword)
        .map(|i| i.rest.as_str())
        .collect()
}

/// An exec-form (JSON array) command; `None` for the shell form, which needs a shell.
fn exec_form(text: &str) -> Option<Vec<String>> {
    serde_json::from_str(text).ok()
}

#[test]
fn dockerfile_builds_in_one_stage_and_runs_on_distroless() {
    let stages = dockerfile_stages();
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage");
    let build_from = find(&stages[0], "FROM")[0];
    assert!(
        build_from.starts_with("rust:") && build_from.ends_with(" AS build"),
        "{build_from}"
    );
    let runtime_from = find(&stages[1], "FROM")[0];
    assert_eq!(runtime_from, "gcr.io/distroless/cc-debian12:nonroot");
    // The build command is the one this repository builds with outside containers too.
    assert_eq!(find(&stages[0], "RUN"), ["cargo build --release --locked"]);
}

#[test]
fn dockerfile_runtime_is_non_root_without_a_shell() {
    let stages = dockerfile_stages();
    let runtime = &stages[1];
    assert_eq!(find(runtime, "USER"), [format!("{IMAGE_USER}:{IMAGE_USER}")]);
    assert!(find(runtime, "RUN").is_empty(), "distroless has no shell to RUN with");

    let workdir = find(&stages[0], "WORKDIR")[0];
    let copies = find(runtime, "COPY");
    assert_eq!(copies.len(), 1, "{copies:?}");
    let copy: Vec<&str> = copies[0].split_whitespace().collect();
    assert_eq!(copy[0], "--from=build");
    assert_eq!(copy[1], format!("{workdir}/target/release/{BINARY_NAME}"));
    let binary = copy[2];

    let entrypoint = exec_form(find(runtime, "ENTRYPOINT")[0]).expect("ENTRYPOINT in exec form");
    assert_eq!(entrypoint, [binary]);
    for command in find(runtime, "CMD") {
        assert!(exec_form(command).is_some(), "CMD in shell form: {command}");
    }

    let healthcheck = find(runtime, "HEALTHCHECK");
    assert_eq!(healthcheck.len(), 1);
    let (options, command) = healthcheck[0].split_once("CMD").expect("HEALTHCHECK ... CMD");
    assert!(options.contains("--timeout="), "{options}");
    let command = exec_form(command.trim()).expect("HEALTHCHECK CMD in exec form");
    assert_eq!(command, [binary, "health"]);
    assert!(
        Cli::try_parse_from(command).is_ok(),
        "`health` is a subcommand of the binary"
    );

    let defaults = Settings::default();
    let exposed = find(runtime, "EXPOSE").join(" ");
    for address in [defaults.listen, defaults.admin_listen] {
        let port = address.rsplit(':').next().expect("port");
        assert!(
            exposed.split_whitespace().any(|p| p == port),
            "{port} not in EXPOSE {exposed}"
        );
    }
}

#[test]
fn dockerfile_context_holds_what_the_build_copies_and_no_target_dir() {
    let stages = dockerfile_stages();
    let ignore = read(".dockerignore");
    let allowed: Vec<&str> = ignore
        .lines()
        .filter_map(|line| line.trim().strip_prefix('!'))
        .map(|path| path.trim_end_matches('/'))
        .collect();
    assert!(
        ignore.lines().any(|line| line.trim() == "*"),
        "an allowlist: everything else out"
    );
    let mut sources = Vec::new();
    for copy in find(&stages[0], "COPY") {
        let words: Vec<&str> = copy.split_whitespace().collect();
        sources.extend_from_slice(&words[..words.len() - 1]);
    }
    for source in &sources {
        assert!(
            allowed.contains(source),
            "{source} is copied but .dockerignore leaves it out"
        );
        assert!(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(source).exists(),
            "{source} does not exist"
        );
    }
    for needed in ["Cargo.toml", "Cargo.lock", "src"] {
        assert!(sources.contains(&needed), "the build needs {needed}");
    }
}

// ---------------------------------------------------------------- Kubernetes

fn manifest(name: &str) -> Value {
    yaml_serde::from_str(&read(&format!("config/kubernetes/{name}")))
        .unwrap_or_else(|e| panic!("{name} is not YAML: {e}"))
}

fn pod_spec(manifest: &Value) -> &Value {
    &manifest["spec"]["template"]["spec"]
}

fn named<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .and_then(|items| items.iter().find(|item| item["name"] == name))
        .unwrap_or_else(|| panic!("nothing named {name} in {list}"))
}

fn strings(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|items| items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// The sidecar's configuration as the binary would load it: its args and its environment.
fn sidecar_config(sidecar: &Value) -> Config {
    let args = strings(&sidecar["args"]);
    let cli = Cli::try_parse_from(std::iter::once(BINARY_NAME.to_owned()).chain(args.clone()))
        .unwrap_or_else(|e| panic!("the sidecar's args {args:?} do not parse: {e}"));
    let env = Env::from_pairs(sidecar["env"].as_array().into_iter().flatten().map(|var| {
        (
            var["name"].as_str().expect("env name").to_owned(),
            var["value"].as_str().expect("env value (a string)").to_owned(),
        )
    }));
    let mut sources = cli.settings.sources();
    sources.default_file = None;
    config::load(&sources, &env).unwrap_or_else(|e| panic!("the sidecar's settings do not load: {e}"))
}

fn port_of(address: &str) -> u64 {
    address.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port")
}

/// Checks one pod's sidecar against the binary; returns the probe paths it uses.
fn check_sidecar(name: &str, manifest: &Value) -> Vec<String> {
    let pod = pod_spec(manifest);
    let sidecar = named(&pod["initContainers"], "langsmith-proxy");
    assert_eq!(sidecar["restartPolicy"], "Always", "{name}: a native sidecar");
    let image = sidecar["image"].as_str().expect("image");
    assert!(
        image.ends_with(&format!("/{BINARY_NAME}:{}", env!("CARGO_PKG_VERSION"))),
        "{name}: image {image} is not this version"
    );

    // Every flag is one the binary defines.
    let command = Cli::command();
    let longs: Vec<&str> = command.get_arguments().filter_map(|a| a.get_long()).collect();
    for arg in strings(&sidecar["args"]) {
        if let Some(flag) = arg.strip_prefix("--") {
            assert!(longs.contains(&flag), "{name}: --{flag} is not a flag of the binary");
        }
    }
    let config = sidecar_config(sidecar);
    let defaults = Settings::default();
    let listen = config.listen.to_string();
    assert_eq!(
        listen, defaults.listen,
        "{name}: apps reach the proxy on the pod's loopback"
    );
    assert_eq!(config.admin_listen.port() as u64, port_of(&defaults.admin_listen));

    let ports = &sidecar["ports"];
    assert_eq!(named(ports, "proxy")["containerPort"], port_of(&listen));
    assert_eq!(
        named(ports, "admin")["containerPort"],
        config.admin_listen.port() as u64
    );

    let mut paths = Vec::new();
    for (probe, path) in [
        ("startupProbe", "/ready"),
        ("readinessProbe", "/ready"),
        ("livenessProbe", "/live"),
    ] {
        let get = &sidecar[probe]["httpGet"];
        assert_eq!(get["path"], path, "{name}: {probe}");
        let port = &get["port"];
        let port = port.as_str().map_or(port.clone(), |port_name| {
            named(ports, port_name)["containerPort"].clone()
        });
        assert_eq!(
            port,
            config.admin_listen.port() as u64,
            "{name}: {probe} on the admin port"
        );
        paths.push(path.to_owned());
    }

    // The key comes from a whole Secret volume (a subPath mount would never see a rotation).
    let KeySource::File(key_file) = &config.key_source else {
        panic!("{name}: key source {} is not a file", config.key_source);
    };
    let mount = sidecar["volumeMounts"]
        .as_array()
        .and_then(|mounts| {
            mounts
                .iter()
                .find(|m| key_file.starts_with(m["mountPath"].as_str().unwrap_or("-")))
        })
        .unwrap_or_else(|| panic!("{name}: no volume holds {}", key_file.display()));
    assert!(mount.get("subPath").is_none(), "{name}: subPath mounts miss updates");
    let volume = named(&pod["volumes"], mount["name"].as_str().expect("mount name"));
    assert!(
        volume["secret"]["secretName"].is_string(),
        "{name}: the key volume is a Secret"
    );

    // Enough time to drain once the app has gone.
    let drain = config.timeouts.shutdown_grace + config.timeouts.shutdown_delay;
    let grace = pod["terminationGracePeriodSeconds"].as_u64().expect("grace period");
    assert!(
        grace > drain.as_secs(),
        "{name}: terminationGracePeriodSeconds {grace} leaves no time to drain ({drain:?})"
    );

    let security = &sidecar["securityContext"];
    assert_eq!(security["runAsNonRoot"], true, "{name}");
    assert_eq!(security["runAsUser"], IMAGE_USER, "{name}");
    assert_eq!(security["readOnlyRootFilesystem"], true, "{name}");
    assert_eq!(security["allowPrivilegeEscalation"], false, "{name}");
    assert_eq!(strings(&security["capabilities"]["drop"]), ["ALL"], "{name}");
    for bound in ["requests", "limits"] {
        assert!(
            sidecar["resources"][bound]["memory"].is_string(),
            "{name}: memory {bound}"
        );
    }

    // The app points at the proxy with the placeholder key, as `langsmith-proxy env` says.
    let app = &pod["containers"][0];
    assert_eq!(
        named(&app["env"], "LANGSMITH_ENDPOINT")["value"],
        format!("http://{listen}")
    );
    assert_eq!(named(&app["env"], "LANGSMITH_API_KEY")["value"], PLACEHOLDER_KEY);
    // A proxy a cluster injects must not take the calls meant for the sidecar.
    for no_proxy in ["NO_PROXY", "no_proxy"] {
        let value = named(&app["env"], no_proxy)["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let host = listen.rsplit_once(':').map_or(listen.as_str(), |(host, _)| host);
        assert!(
            value.split(',').any(|entry| entry == host),
            "{name}: {no_proxy}={value}"
        );
    }
    // One worker, whatever the node: `auto` would size it by the node's CPUs.
    assert_eq!(
        named(&sidecar["env"], "LANGSMITH_PROXY_WORKERS")["value"],
        "1",
        "{name}"
    );
    paths
}

#[tokio::test]
async fn kubernetes_examples_match_the_binary() {
    let deployment = manifest("deployment.yaml");
    assert_eq!(deployment["kind"], "Deployment");
    let job = manifest("job.yaml");
    assert_eq!(job["kind"], "Job");
    let restart = &pod_spec(&job)["restartPolicy"];
    assert!(restart == "Never" || restart == "OnFailure", "{restart}");

    let mut paths = check_sidecar("deployment.yaml", &deployment);
    paths.extend(check_sidecar("job.yaml", &job));

    // The probe paths answer 200 on a real admin listener with a key loaded.
    let upstream = FakeUpstream::requiring_key().await;
    let proxy = start_proxy(&upstream.url).await;
    let admin = start_admin(&proxy.app).await;
    for path in paths {
        let (response, body) = get(&format!("{admin}{path}")).await;
        assert_eq!(response.status(), 200, "{path}: {}", String::from_utf8_lossy(&body));
    }
}
