//! `command:CMD`: the key is what a shell command prints (1Password `op read`, `vault kv get`,
//! `pass show`, a cloud CLI). The command runs with a timeout; its output never appears in an
//! error, its stderr does (shortened), because that is where such tools say what went wrong.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::process_group::ProcessGroup;

/// `key.command_timeout` unless configured.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_STDOUT: u64 = super::source::MAX_SOURCE_BYTES;
/// How much of stderr is kept, and how much of it an error shows.
const MAX_STDERR: u64 = 16 * 1024;
const SHOWN_STDERR: usize = 400;

#[derive(Clone, PartialEq, Eq)]
pub struct CommandSource {
    command: String,
    timeout: Duration,
}

/// The label, not the command: its arguments may hold a secret.
impl std::fmt::Debug for CommandSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandSource")
            .field("label", &self.label())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why a command gave no key. No variant carries the command's standard output.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("cannot start it with {shell}: {error}")]
    Spawn { shell: &'static str, error: std::io::Error },
    #[error("it did not finish within {} (key.command_timeout) and was stopped; if it waits for a password or an unlock prompt, sign in first or raise key.command_timeout", humantime::format_duration(*after))]
    TimedOut { after: Duration },
    #[error("it failed ({status}){}", stderr_suffix(stderr))]
    Failed { status: ExitStatus, stderr: String },
    #[error("it printed nothing on standard output{}", stderr_suffix(stderr))]
    Empty { stderr: String },
    #[error("it printed more than {MAX_STDOUT} bytes, which is not a key; make it print only the key")]
    TooLarge,
    #[error("its output is not UTF-8 text; make it print only the key")]
    NotText,
    #[error("reading its output failed: {0}")]
    Read(std::io::Error),
}

/// `NAME=value`, as a shell reads it before the program name.
fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; its stderr says: {stderr}")
    }
}

impl CommandSource {
    pub fn new(command: String) -> Self {
        Self {
            command,
            timeout: DEFAULT_COMMAND_TIMEOUT,
        }
    }

    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    pub fn command(&self) -> &str {
        &self.command
    }

    /// What logs, headers and `/status` show of the command: its program, never its arguments
    /// or leading `NAME=value` assignments, which may hold a token (`VAULT_TOKEN=… vault kv get`).
    pub fn label(&self) -> String {
        // A quoted assignment (`TOKEN='a b'`) may end anywhere: show nothing of it.
        let mut assignments = self.command.split_whitespace().take_while(|word| is_assignment(word));
        if assignments.any(|word| word.contains(['\'', '"'])) {
            return "…".to_owned();
        }
        let mut words = self.command.split_whitespace().skip_while(|word| is_assignment(word));
        match (words.next(), words.next()) {
            (Some(program), None) => program.to_owned(),
            (Some(program), Some(_)) => format!("{program} …"),
            (None, _) => "…".to_owned(),
        }
    }

    /// Runs the command to completion from synchronous code (start-up, `langsmith-proxy
    /// config`, a reload on the blocking pool), inside a tokio runtime or not: on a thread of
    /// its own with a private runtime, since a runtime cannot be blocked on from within one.
    pub fn run_blocking(&self) -> Result<String, CommandError> {
        std::thread::scope(|scope| {
            // Builder, not scope.spawn: a system out of threads is an error here, not a panic.
            let runner = std::thread::Builder::new()
                .name("key-command".to_owned())
                .spawn_scoped(scope, || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(CommandError::Read)?;
                    runtime.block_on(self.run())
                })
                .map_err(CommandError::Read)?;
            runner
                .join()
                .unwrap_or_else(|_| Err(CommandError::Read(std::io::Error::other("the command runner panicked"))))
        })
    }

    /// Runs the command; returns its standard output (untrimmed) when it exits 0 with some.
    pub async fn run(&self) -> Result<String, CommandError> {
        let (shell, flag) = shell();
        let mut command = tokio::process::Command::new(shell);
        command
            .arg(flag)
            .arg(&self.command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // A group of its own, so a timeout stops what the shell started too (`sh -c` does not
        // exec its last command). It also keeps the command off the terminal: no prompts.
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn().map_err(|error| CommandError::Spawn { shell, error })?;
        // Taken now: once the shell is reaped, the child no longer knows its id.
        let group = ProcessGroup::of(&child);
        let stdout = read_capped(child.stdout.take(), MAX_STDOUT);
        let stderr = read_capped(child.stderr.take(), MAX_STDERR);
        let waited = async {
            let status = child.wait().await;
            // What the shell left running (`… &`) would hold the output pipes open until the
            // timeout, and outlive the read: the command's work ends with its shell.
            group.kill();
            status
        };
        let finished = async {
            let (status, (stdout, stderr)) = tokio::join!(waited, async { tokio::join!(stdout, stderr) });
            (status, stdout, stderr)
        };
        let outcome = tokio::time::timeout(self.timeout, finished).await;
        let (status, stdout, stderr) = match outcome {
            Ok(done) => done,
            Err(_elapsed) => {
                group.kill();
                let _ = child.kill().await;
                return Err(CommandError::TimedOut { after: self.timeout });
            }
        };
        let status = status.map_err(CommandError::Read)?;
        let (stdout, stdout_truncated) = stdout.map_err(CommandError::Read)?;
        let stderr = stderr
            .map(|(bytes, _)| shown_stderr(&bytes, &stdout, &self.command))
            .unwrap_or_default();
        if !status.success() {
            return Err(CommandError::Failed { status, stderr });
        }
        if stdout_truncated {
            return Err(CommandError::TooLarge);
        }
        let text = String::from_utf8(stdout).map_err(|_| CommandError::NotText)?;
        if text.trim().is_empty() {
            return Err(CommandError::Empty { stderr });
        }
        Ok(text)
    }
}

#[cfg(unix)]
fn shell() -> (&'static str, &'static str) {
    ("sh", "-c")
}

#[cfg(windows)]
fn shell() -> (&'static str, &'static str) {
    ("cmd", "/C")
}

/// Reads up to `limit` bytes; the flag says whether more was there (the rest is drained so the
/// command does not block on a full pipe).
async fn read_capped(pipe: Option<impl AsyncRead + Unpin>, limit: u64) -> std::io::Result<(Vec<u8>, bool)> {
    let Some(pipe) = pipe else {
        return Ok((Vec::new(), false));
    };
    let mut kept = Vec::new();
    let mut limited = pipe.take(limit);
    limited.read_to_end(&mut kept).await?;
    let rest = tokio::io::copy(&mut limited.into_inner(), &mut tokio::io::sink()).await?;
    Ok((kept, rest > 0))
}

/// The start of stderr as one line. Should a tool echo a key there, what it printed on stdout
/// (a partial key, say), or one of the command's own arguments (tools echo them, and they may
/// hold a token), that part is blanked.
fn shown_stderr(stderr: &[u8], stdout: &[u8], command: &str) -> String {
    let mut text = String::from_utf8_lossy(stderr).into_owned();
    let printed = String::from_utf8_lossy(stdout);
    let printed = printed.trim();
    if !printed.is_empty() {
        text = text.replace(printed, "[stdout redacted]");
    }
    for argument in hidden_arguments(command) {
        text = text.replace(argument, "…");
    }
    let line = super::redact_keys(&text.split_whitespace().collect::<Vec<_>>().join(" "));
    match line.char_indices().nth(SHOWN_STDERR) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// The parts of `command` never shown: every word after the program, and assignments' and
/// options' values. Short ones (`-f`, `kv`, `get`) are words a message uses too, and no secret.
fn hidden_arguments(command: &str) -> impl Iterator<Item = &str> {
    const SHORTEST_HIDDEN: usize = 8;
    let mut program_seen = false;
    command
        .split_whitespace()
        .filter(move |word| {
            let is_program = !program_seen && !is_assignment(word);
            program_seen |= is_program;
            !is_program
        })
        .flat_map(|word| [word, word.split_once('=').map_or("", |(_, value)| value)])
        .map(|part| part.trim_matches(['\'', '"']))
        .filter(|part| part.len() >= SHORTEST_HIDDEN)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn source(command: &str) -> CommandSource {
        CommandSource::new(command.to_owned()).with_timeout(Duration::from_secs(5))
    }

    #[tokio::test]
    async fn returns_stdout() {
        assert_eq!(
            source("printf 'lsv2_pt_x\\n'").run().await.ok().as_deref(),
            Some("lsv2_pt_x\n")
        );
    }

    #[tokio::test]
    async fn failure_shows_stderr_never_stdout() {
        let error = source("echo lsv2_pt_partial; echo 'not signed in' >&2; echo lsv2_pt_partial >&2; exit 3")
            .run()
            .await
            .expect_err("exit 3");
        let message = error.to_string();
        assert!(message.contains("exit status: 3"), "{message}");
        assert!(message.contains("not signed in"), "{message}");
        assert!(!message.contains("lsv2_pt_partial"), "{message}");
    }

    #[tokio::test]
    async fn empty_and_oversized_output_are_errors() {
        assert!(matches!(source("true").run().await, Err(CommandError::Empty { .. })));
        assert!(matches!(
            source("head -c 100000 /dev/zero | tr '\\0' a").run().await,
            Err(CommandError::TooLarge)
        ));
    }

    #[test]
    fn keys_in_stderr_are_blanked() {
        assert_eq!(
            shown_stderr(b"debug: token=lsv2_sk_secret1234 sk-other\n", b"sk-other", "tool"),
            "debug: token=[key redacted] [stdout redacted]"
        );
    }

    #[test]
    fn arguments_echoed_in_stderr_are_blanked() {
        assert_eq!(
            shown_stderr(
                b"error: bad token s.SECRETTOKEN123 for --token=SECRETARG9 (cannot read)\n",
                b"",
                "VAULT_TOKEN=s.SECRETTOKEN123 /usr/bin/vault read --token=SECRETARG9 -f kv"
            ),
            "error: bad token … for … (cannot read)"
        );
        // The program itself may be named.
        assert_eq!(
            shown_stderr(b"/usr/local/bin/op: not signed in", b"", "/usr/local/bin/op read x"),
            "/usr/local/bin/op: not signed in"
        );
    }

    #[test]
    fn label_shows_the_program_only() {
        let label = |command: &str| CommandSource::new(command.to_owned()).label();
        assert_eq!(label("op read op://Private/LangSmith/credential"), "op …");
        assert_eq!(
            label("VAULT_TOKEN=hvs.secret A_1=x vault kv get -field=key k"),
            "vault …"
        );
        assert_eq!(label("/usr/bin/pass"), "/usr/bin/pass");
        assert_eq!(label("  TOKEN=only  "), "…");
        assert_eq!(label("--flag=value prog"), "--flag=value …");
        assert_eq!(label("VAULT_TOKEN='hvs.a b' vault read"), "…");
        assert_eq!(label("TOKEN=\"x y\" op read"), "…");
    }

    #[test]
    fn long_stderr_is_shortened() {
        let shown = shown_stderr("e\n".repeat(1000).as_bytes(), b"", "tool");
        assert!(shown.ends_with('…'));
        assert!(shown.chars().count() <= SHOWN_STDERR + 1);
    }
}
