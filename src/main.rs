//! The binary: parse, load, run, and map errors to exit codes (2 = configuration).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use langsmith_proxy::admin::serve_admin;
use langsmith_proxy::cli::{Cli, Command, DoctorArgs, KeyCommand, ServiceCommand};
use langsmith_proxy::config::{self, Config, LogFormat};
use langsmith_proxy::env::Env;
use langsmith_proxy::listener::ListenAddr;
use langsmith_proxy::{
    doctor, health_probe, log_sink, open_files, secret, serve, service, shell_env, telemetry, App, Listener,
};
use sd_notify::NotifyState;

const EXIT_RUNTIME: u8 = 1;
const EXIT_CONFIG: u8 = 2;
/// A second SIGINT/SIGTERM during the drain: like a shell's 128 + SIGINT.
const EXIT_FORCED: u8 = 130;
/// How long blocking tasks still running after the drain may take before the process exits.
const RUNTIME_SHUTDOWN: std::time::Duration = std::time::Duration::from_secs(1);

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Docker reserves exit status 2 in health checks, clap's status for a bad command line.
        Err(error) if error.use_stderr() && asked_for_health() => {
            let _ = error.print();
            return ExitCode::from(EXIT_RUNTIME);
        }
        Err(error) => error.exit(),
    };
    // Storing a key needs no configuration (and must work while the configured source is empty).
    if let Some(Command::Key(KeyCommand::Set { service, account })) = &cli.command {
        return match langsmith_proxy::secret::keyring::set_from_stdin(service, account) {
            Ok(confirmation) => output(&format!("{confirmation}\n"), ExitCode::SUCCESS),
            Err(error) => fail(EXIT_CONFIG, &error),
        };
    }
    let env = Env::from_process();
    // Removing the service needs no configuration (and must work while it is broken).
    if let Some(Command::Service(ServiceCommand::Uninstall(target))) = &cli.command {
        return match service::TargetOs::resolve(target.os).and_then(|os| service::uninstall(os, &env)) {
            Ok(report) => output(&report.to_string(), ExitCode::SUCCESS),
            Err(error) => fail(EXIT_RUNTIME, &error),
        };
    }
    // Docker reserves exit status 2 in health checks: `health` fails with 1 whatever the cause.
    if let Some(Command::Health(args)) = &cli.command {
        let probed = config::admin_listen(&cli.settings.sources(), &env)
            .map_err(|error| error.to_string())
            .and_then(|admin| health_probe::check(admin, args.timeout).map_err(|error| error.to_string()));
        return match probed {
            Ok(report) => output(&format!("{report}\n"), ExitCode::SUCCESS),
            Err(error) => fail(EXIT_RUNTIME, &error),
        };
    }
    let config = match config::load(&cli.settings.sources(), &env) {
        Ok(config) => config,
        Err(error) => return fail(EXIT_CONFIG, &error),
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Config => print_config(&config, &env),
        Command::Check { json } => check(&config, &env, json),
        Command::Serve => run(&config, &env),
        Command::Env(args) => match tcp_listen(&config) {
            Ok(listen) if listen.port() == 0 => fail(
                EXIT_CONFIG,
                &format!("listen is {listen}: port 0 takes a free port when the proxy starts, and apps need the one it took; give `env` that port (--listen {}:PORT; the proxy's start line names it)", listen.ip()),
            ),
            Ok(listen) => match shell_env::refuse_unmergeable(&env) {
                Ok(()) => output(&shell_env::script(args.shell, listen, &env), ExitCode::SUCCESS),
                Err(problem) => fail(EXIT_CONFIG, &problem),
            },
            Err(code) => code,
        },
        Command::Doctor(args) => match tcp_listen(&config) {
            Ok(listen) => run_doctor(&args, &config, listen, &env),
            Err(code) => code,
        },
        Command::Service(ServiceCommand::Install(args)) => {
            let sources = cli.settings.sources();
            match service::install_here(&config, &sources, &env, args.target.os, args.print) {
                Ok(outcome) => {
                    for warning in &outcome.warnings {
                        to_stderr(&format!("warning: {warning}"));
                    }
                    output(&outcome.output, ExitCode::SUCCESS)
                }
                Err(error) => fail(EXIT_RUNTIME, &error),
            }
        }
        // Handled above, before the configuration is loaded.
        Command::Key(_) | Command::Health(_) | Command::Service(ServiceCommand::Uninstall(_)) => ExitCode::SUCCESS,
    }
}

/// Whether the command line, however malformed, names the `health` command.
fn asked_for_health() -> bool {
    Cli::command()
        .ignore_errors(true)
        .try_get_matches()
        .is_ok_and(|matches| matches.subcommand_name() == Some("health"))
}

/// The TCP address apps use; SDKs cannot reach a unix socket through LANGSMITH_ENDPOINT.
fn tcp_listen(config: &Config) -> Result<std::net::SocketAddr, ExitCode> {
    match &config.listen {
        ListenAddr::Tcp(addr) => Ok(*addr),
        ListenAddr::Unix(path) => Err(fail(
            EXIT_CONFIG,
            &format!(
                "listen is the unix socket {}; LANGSMITH_ENDPOINT needs an HTTP address: run a proxy with --listen 127.0.0.1:PORT for SDK apps",
                path.display()
            ),
        )),
    }
}

/// Exit 0 when nothing is wrong, 1 when `doctor` found something.
fn run_doctor(args: &DoctorArgs, config: &Config, proxy_listen: std::net::SocketAddr, env: &Env) -> ExitCode {
    let inputs = doctor::Inputs {
        env,
        proxy_listen,
        client_credentials: config.client_credentials,
    };
    let regions = doctor::LangSmithRegionCheck::builtin(config.timeouts, env);
    let report = doctor::examine_with(&inputs, &doctor::TcpProbe::default(), &regions);
    let text = if args.json {
        format!("{:#}\n", doctor::json(&report))
    } else {
        doctor::human(&report)
    };
    let code = if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_RUNTIME)
    };
    output(&text, code)
}

/// Writes a command's output, then exits with `code`. A reader that has gone (`| head -1`) is
/// no error: the command's own result stands. Any other failure (a full disk under
/// `config > file`) is, since the output is incomplete.
fn output(text: &str, code: ExitCode) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => code,
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => code,
        Err(error) => fail(EXIT_RUNTIME, &format!("cannot write the output: {error}")),
    }
}

fn fail(code: u8, error: &dyn std::fmt::Display) -> ExitCode {
    // After the log lines written before it, not among them.
    log_sink::flush();
    to_stderr(&error.to_string());
    ExitCode::from(code)
}

/// One line on stderr. A stderr nobody reads (a closed pipe) loses the line, not the exit
/// status: `eprintln!` would panic, and a panic aborts.
fn to_stderr(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "langsmith-proxy: {line}");
}

fn print_config(config: &Config, env: &Env) -> ExitCode {
    let mut text = match toml::to_string_pretty(&config.settings.redacted()) {
        Ok(text) => text,
        Err(error) => return fail(EXIT_RUNTIME, &error),
    };
    let key = match config.key_source.read(env) {
        Ok(key) => format!(
            "{} {} ({}, {})",
            config.key_source,
            key.hint(),
            key.kind().as_str(),
            key.fingerprint()
        ),
        Err(error) => format!("not loaded: {error}"),
    };
    // One comment line, whatever the path or the error holds: the output must load back.
    let key: String = key
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            }
        })
        .collect();
    text.push_str(&format!("\n# key: {key}\n"));
    if config.settings.has_command_source() {
        text.push_str("# command: sources are shown without their arguments (they may hold a token): put each whole command back before loading this output\n");
    }
    output(&text, ExitCode::SUCCESS)
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
        let text = if json {
            format!("{:#}\n", report.to_json(&key, &app))
        } else {
            report.to_text(&key, &app)
        };
        output(&text, report.exit_code())
    })
}

fn run(config: &Config, env: &Env) -> ExitCode {
    // Worker 0, which also accepts: `serve` starts the other workers, each on its own thread.
    // A worker with nothing left to do writes out the batched log lines first.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_park(log_sink::wake)
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => return fail(EXIT_RUNTIME, &error),
    };
    let code = runtime.block_on(async {
        let format = telemetry::init(config);
        // Once logs are JSON, a log collector parses every line: the reason the proxy stopped
        // is one more JSON line, not the only plain one.
        // A log level that hides errors (`off`) must not hide why the proxy stopped.
        let stop = |code: u8, error: &dyn std::fmt::Display| match format {
            LogFormat::Json if tracing::enabled!(tracing::Level::ERROR) => {
                tracing::error!(exit_code = code, "langsmith-proxy stopped: {error}");
                log_sink::flush();
                ExitCode::from(code)
            }
            LogFormat::Json | LogFormat::Pretty => fail(code, error),
        };
        open_files::raise().report(config.limits.max_connections);
        let app = match App::from_config(config, env) {
            Ok(app) => app,
            Err(error) => return stop(EXIT_CONFIG, &error),
        };
        let listener = match Listener::bind(&config.listen, config.security.unix_socket_mode).await {
            Ok(listener) => listener,
            Err(error) => return stop(EXIT_RUNTIME, &error),
        };
        // The admin port sees a probe or a scrape at a time: the usual backlog of 128 is plenty.
        let admin = match tokio::net::TcpListener::bind(config.admin_listen).await {
            Ok(admin) => admin,
            Err(error) => {
                let message = format!(
                    "cannot listen on {} (setting `admin_listen`, flag --admin-listen): {error}{}",
                    config.admin_listen,
                    langsmith_proxy::listener::bind_fix(&error)
                );
                return stop(EXIT_RUNTIME, &message);
            }
        };
        let admin_addr = admin.local_addr().unwrap_or(config.admin_listen);
        tokio::spawn(serve_admin(admin, app.clone(), std::future::pending()));
        // In a terminal, SIGHUP means the terminal went away: stop as on Ctrl-C. In the
        // background (a service manager, a container, nohup) it asks for a key re-read.
        let interactive = std::io::stderr().is_terminal() || std::io::stdin().is_terminal();
        #[cfg(unix)]
        if !interactive {
            reload_on_hangup(&app);
        }
        telemetry::banner(
            config,
            app.keys(),
            &listener.local_addr().unwrap_or(config.listen.clone()),
            admin_addr,
        );
        if let Some(outbound) = app.outbound_proxy() {
            tracing::info!(outbound_proxy = %outbound.shown(), "upstream connections go through an outbound proxy (NO_PROXY exempts hosts)");
        }
        let _ = sd_notify::notify(false, &[NotifyState::Ready]);
        let drained = drain_on_signal(app.clone(), config.timeouts.shutdown_delay, interactive);
        match serve(listener, app, drained).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => stop(EXIT_RUNTIME, &error),
        }
    });
    // Dropping the runtime would wait for every blocking task, a key read stuck on a keychain
    // or a hung network mount included: after the drain, give them a moment, not forever.
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    // A key read still running on the blocking pool (a reload) is abandoned; what its command
    // started must not outlive the proxy.
    secret::kill_running_commands();
    log_sink::flush();
    code
}

/// Resolves when accepting should stop: on the first SIGTERM/SIGINT, `/ready` turns unready at
/// once and accepting goes on for `delay` (so load balancers stop routing here first). A second
/// signal exits at once, whatever is in flight.
async fn drain_on_signal(app: App, delay: std::time::Duration, interactive: bool) {
    let mut signals = Signals::new(interactive);
    signals.next().await;
    app.shared().begin_drain();
    let _ = sd_notify::notify(false, &[NotifyState::Stopping]);
    tracing::info!(delay = %humantime::format_duration(delay), "shutting down: unready now, then draining; a second signal exits at once");
    tokio::spawn(async move {
        signals.next().await;
        tracing::warn!("second signal: exiting without waiting for requests in flight");
        secret::kill_running_commands();
        log_sink::flush();
        std::process::exit(EXIT_FORCED.into());
    });
    tokio::time::sleep(delay).await;
}

/// SIGHUP re-reads the key source at once, as daemons conventionally reload on it, instead of
/// the default action: exiting without a drain.
#[cfg(unix)]
fn reload_on_hangup(app: &App) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot handle SIGHUP; it would stop the proxy");
        return;
    };
    let reloader = app.shared().key_reloader.clone();
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            if reloader.source().can_change() {
                let outcome = reloader.reload(langsmith_proxy::secret::ReloadReason::Signal).await;
                tracing::info!(key_source = %reloader.source(), outcome = outcome.as_str(), "SIGHUP: the key source was read again");
            } else {
                tracing::warn!(
                    key_source = %reloader.source(),
                    "SIGHUP: an env: key cannot change while the proxy runs; restart it to use a new key"
                );
            }
        }
    });
}

/// SIGINT and SIGTERM (and SIGHUP in a terminal), as a stream that can be awaited more than once.
struct Signals {
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new(with_hangup: bool) -> Self {
        #[cfg(unix)]
        let listen = |kind| tokio::signal::unix::signal(kind).ok();
        #[cfg(not(unix))]
        let _ = with_hangup;
        Self {
            #[cfg(unix)]
            terminate: listen(tokio::signal::unix::SignalKind::terminate()),
            #[cfg(unix)]
            hangup: with_hangup
                .then(|| listen(tokio::signal::unix::SignalKind::hangup()))
                .flatten(),
        }
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        {
            let terminate = async {
                match self.terminate.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            let hangup = async {
                match self.hangup.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate => {}
                _ = hangup => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
