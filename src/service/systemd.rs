//! The systemd user unit: `Type=notify` (the proxy reports READY once it listens, STOPPING when
//! it drains) and the sandboxing a user unit can have.

use std::path::Path;

use super::spec::ServiceSpec;
use super::{ServiceError, NAME};

/// The unit file for `spec`.
pub fn unit(spec: &ServiceSpec) -> Result<String, ServiceError> {
    let exec_start = spec
        .arguments()
        .iter()
        .map(|argument| word(argument))
        .collect::<Result<Vec<_>, _>>()?
        .join(" ");
    let mut environment = String::new();
    for (name, value) in &spec.environment {
        environment.push_str(&format!("Environment={}\n", quoted(&format!("{name}={value}"))?));
    }
    let writable = match &spec.socket_dir {
        Some(dir) => format!(
            "# The unix socket's directory is the one place the proxy writes.\nReadWritePaths={}\n",
            word(&dir.display().to_string())?
        ),
        None => String::new(),
    };
    // A private /tmp would hide the files the proxy reads there, and a socket it makes there
    // from the apps meant to use it.
    let private_tmp = if spec.in_temporary_dirs.is_empty() {
        "yes"
    } else {
        "no\n# (not private: the proxy uses files under /tmp or /var/tmp, named when it was installed)"
    };
    let stop_seconds = spec.stop_timeout.as_secs();
    Ok(format!(
        "\
# langsmith-proxy as a systemd user service, written by `langsmith-proxy service install`:
# install again to change it, `langsmith-proxy service uninstall` to remove it.
#   start:  systemctl --user daemon-reload && systemctl --user enable --now {NAME}
#   stop:   systemctl --user stop {NAME}
#   reload: systemctl --user reload {NAME}   (reads the key source again: SIGHUP)
#   logs:   journalctl --user -u {NAME} -f
[Unit]
Description=langsmith-proxy: authenticating proxy for the LangSmith API

[Service]
Type=notify
ExecStart={exec_start}
ExecReload=/bin/kill -HUP $MAINPID
# Settings (LANGSMITH_PROXY_*, above the config file), and where the key comes from: the key
# itself is never written here.
{environment}Restart=on-failure
RestartSec=5s
# Exit status 2 is a configuration error: restarting cannot fix it (journalctl says what).
RestartPreventExitStatus=2
# timeouts.shutdown_delay + timeouts.shutdown_grace, plus 5 s to exit.
TimeoutStopSec={stop_seconds}s
UMask=0077

# Hardening. In a user unit most of these run in a user namespace of their own (systemd sets
# PrivateUsers= for them); where unprivileged user namespaces are off, the unit fails with
# status 226/NAMESPACE: turn those options off with `systemctl --user edit {NAME}`.
# A command: key source runs under the same rules: a tool that writes its own files needs
# ReadWritePaths= for them, and one that relies on setuid/setgid (1Password's op with the
# desktop app) needs NoNewPrivileges=no. MemoryDenyWriteExecute= is left out: it breaks
# command: tools with a JIT (Node.js-based CLIs).
NoNewPrivileges=yes
ProtectSystem=strict
{writable}PrivateTmp={private_tmp}
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM

[Install]
WantedBy=default.target
"
    ))
}

/// What to run after writing `path`.
pub fn how_to(path: &Path) -> String {
    format!(
        "\
Wrote {path}
Start it now and at every login:
  systemctl --user daemon-reload && systemctl --user enable --now {NAME}
After installing again:  systemctl --user daemon-reload && systemctl --user restart {NAME}
Stop:     systemctl --user stop {NAME}
Status:   systemctl --user status {NAME}
Logs:     journalctl --user -u {NAME} -f
Keep it running after you log out:  loginctl enable-linger \"$USER\"
Remove:   systemctl --user disable --now {NAME} && langsmith-proxy service uninstall
",
        path = path.display()
    )
}

/// What to run after removing the unit.
pub fn after_removal(path: &Path) -> String {
    format!(
        "Removed {path}\nIf it still runs:  systemctl --user stop {NAME} && systemctl --user daemon-reload\n",
        path = path.display()
    )
}

/// One command-line word: specifiers (`%`) and variables (`$`) escaped, quoted when needed.
fn word(text: &str) -> Result<String, ServiceError> {
    let escaped = text.replace('%', "%%").replace('$', "$$");
    let plain = !escaped.is_empty()
        && !escaped
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | ';'));
    if plain {
        return Ok(escaped);
    }
    quoted(text).map(|q| q.replace('$', "$$"))
}

/// A double-quoted value with C-style escapes, as `Environment=` and `ExecStart=` read them.
fn quoted(text: &str) -> Result<String, ServiceError> {
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(super::unwritable(text, format!("it holds the control character {c:?}")));
    }
    let escaped = text.replace('\\', "\\\\").replace('"', "\\\"").replace('%', "%%");
    Ok(format!("\"{escaped}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_escaped_for_exec_start() {
        assert_eq!(
            word("/usr/bin/langsmith-proxy").ok(),
            Some("/usr/bin/langsmith-proxy".into())
        );
        assert_eq!(word("/opt/my app/bin").ok(), Some("\"/opt/my app/bin\"".into()));
        assert_eq!(word("/a/100%/$HOME").ok(), Some("/a/100%%/$$HOME".into()));
        assert_eq!(word("say \"hi\"\\").ok(), Some("\"say \\\"hi\\\"\\\\\"".into()));
        assert!(word("line\nbreak").is_err());
    }

    #[test]
    fn environment_values_keep_dollars_and_escape_specifiers() {
        assert_eq!(
            quoted("K=command:op read \"op://a/b\" 50% $X").ok(),
            Some("\"K=command:op read \\\"op://a/b\\\" 50%% $X\"".into())
        );
    }
}
