//! The binary: parse, load, run, and map errors to exit codes (2 = configuration).

use std::process::ExitCode;

use clap::Parser;
use langsmith_proxy::cli::{Cli, Command, KeyCommand};
use langsmith_proxy::config::{self, Config};
use langsmith_proxy::env::Env;
use langsmith_proxy::{serve, telemetry, App};

const EXIT_RUNTIME: u8 = 1;
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Storing a key needs no configuration (and must work while the configured source is empty).
    if let Some(Command::Key(KeyCommand::Set { service, account })) = &cli.command {
        return match langsmith_proxy::secret::keyring::set_from_stdin(service, account) {
            Ok(confirmation) => {
                println!("{confirmation}");
                ExitCode::SUCCESS
            }
            Err(error) => fail(EXIT_CONFIG, &error),
        };
    }
    let env = Env::from_process();
    let config = match config::load(&cli.settings.sources(), &env) {
        Ok(config) => config,
        Err(error) => return fail(EXIT_CONFIG, &error),
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Config => print_config(&config, &env),
        Command::Check { json } => check(&config, &env, json),
        Command::Serve => run(&config, &env),
        // Handled above, before the configuration is loaded.
        Command::Key(_) => ExitCode::SUCCESS,
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

fn check(config: &Config, env: &Env, json: bool) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(EXIT_RUNTIME, &error),
    };
    let mut config = config.clone();
    config.key_check = true;
    runtime.block_on(async {
        let app = match App::from_config(&config, env) {
            Ok(app) => app,
            Err(error) => return fail(EXIT_CONFIG, &error),
        };
        let Some((report, key)) = langsmith_proxy::check::run(&app).await else {
            return fail(
                EXIT_CONFIG,
                &"no key is loaded: set the key source (see `langsmith-proxy config`)",
            );
        };
        if json {
            println!("{:#}", report.to_json(&key, &app));
        } else {
            print!("{}", report.to_text(&key, &app));
        }
        report.exit_code()
    })
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
        let listener = match tokio::net::TcpListener::bind(config.listen).await {
            Ok(listener) => listener,
            Err(error) => {
                let message = format!("cannot listen on {} (setting `listen`): {error}", config.listen);
                return fail(EXIT_RUNTIME, &message);
            }
        };
        telemetry::banner(config, app.keys(), listener.local_addr().unwrap_or(config.listen));
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
