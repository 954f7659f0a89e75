//! The binary: parse, load, run, and map errors to exit codes (2 = configuration).

use std::process::ExitCode;

use clap::Parser;
use langsmith_proxy::cli::{Cli, Command};
use langsmith_proxy::config::{self, Config};
use langsmith_proxy::env::Env;
use langsmith_proxy::{serve, telemetry, App, Listener};

const EXIT_RUNTIME: u8 = 1;
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = Env::from_process();
    let config = match config::load(&cli.settings.sources(), &env) {
        Ok(config) => config,
        Err(error) => return fail(EXIT_CONFIG, &error),
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Config => print_config(&config, &env),
        Command::Serve => run(&config, &env),
    }
}

fn fail(code: u8, error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("langsmith-proxy: {error}");
    ExitCode::from(code)
}

fn print_config(config: &Config, env: &Env) -> ExitCode {
    match toml::to_string_pretty(&config.settings) {
        Ok(text) => print!("{text}"),
        Err(error) => return fail(EXIT_RUNTIME, &error),
    }
    match config.key_source.read(env) {
        Ok(key) => println!(
            "\n# key: {} {} ({}, {})",
            config.key_source,
            key.hint(),
            key.kind().as_str(),
            key.fingerprint()
        ),
        Err(error) => println!("\n# key: not loaded: {error}"),
    }
    ExitCode::SUCCESS
}

fn run(config: &Config, env: &Env) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return fail(EXIT_RUNTIME, &error),
    };
    runtime.block_on(async {
        telemetry::init(config);
        let app = match App::from_config(config, env) {
            Ok(app) => app,
            Err(error) => return fail(EXIT_CONFIG, &error),
        };
        let listener = match Listener::bind(&config.listen, config.security.unix_socket_mode).await {
            Ok(listener) => listener,
            Err(error) => return fail(EXIT_RUNTIME, &error),
        };
        telemetry::banner(
            config,
            app.keys(),
            &listener.local_addr().unwrap_or(config.listen.clone()),
        );
        match serve(listener, app, shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => fail(EXIT_RUNTIME, &error),
        }
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
