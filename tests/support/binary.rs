//! Runs the built binary in an empty directory with exactly the given environment.

use std::io::Write;
use std::process::{Command, Output, Stdio};

pub fn run_binary(args: &[&str], env: &[(&str, &str)]) -> Output {
    run_binary_with_stdin(args, env, &[])
}

/// As [`run_binary`], with `stdin` written to the binary's standard input (then closed).
pub fn run_binary_with_stdin(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    let cwd = tempfile::tempdir().expect("cwd");
    let mut child = binary(args, env, cwd.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run langsmith-proxy");
    let mut input = child.stdin.take().expect("stdin");
    // A binary that exits without reading leaves a broken pipe: what it printed tells why.
    let _ = input.write_all(stdin);
    drop(input);
    child.wait_with_output().expect("langsmith-proxy ran")
}

/// As [`run_binary`], with the binary's standard output going to `stdout`.
pub fn run_binary_into(args: &[&str], env: &[(&str, &str)], stdout: Stdio) -> Output {
    let cwd = tempfile::tempdir().expect("cwd");
    binary(args, env, cwd.path())
        .stdout(stdout)
        .output()
        .expect("run langsmith-proxy")
}

/// The binary in `cwd`, with only `env` in its environment.
fn binary(args: &[&str], env: &[(&str, &str)], cwd: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_langsmith-proxy"));
    command
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(cwd);
    command
}
