//! Runs the built binary in an empty directory with exactly the given environment.

use std::process::{Command, Output};

pub fn run_binary(args: &[&str], env: &[(&str, &str)]) -> Output {
    let cwd = tempfile::tempdir().expect("cwd");
    Command::new(env!("CARGO_BIN_EXE_langsmith-proxy"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(cwd.path())
        .output()
        .expect("run langsmith-proxy")
}
