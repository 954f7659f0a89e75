//! The launchd agent: a property list in ~/Library/LaunchAgents, started at login, restarted
//! when it fails, its output appended to a log file.

use std::path::Path;

use super::spec::ServiceSpec;
use super::{ServiceError, NAME};

/// The agent's property list for `spec`, logging to `log_file`.
pub fn plist(spec: &ServiceSpec, log_file: &Path) -> Result<String, ServiceError> {
    let mut arguments = String::new();
    for argument in spec.arguments() {
        arguments.push_str(&format!("\t\t<string>{}</string>\n", xml(&argument)?));
    }
    let mut environment = String::new();
    for (name, value) in &spec.environment {
        environment.push_str(&format!(
            "\t\t<key>{}</key>\n\t\t<string>{}</string>\n",
            xml(name)?,
            // Checked as `NAME=value`, so that an error names the variable.
            xml(&format!("{name}={value}")).and_then(|_| xml(value))?
        ));
    }
    let log = xml(&log_file.display().to_string())?;
    let exit_timeout = spec.stop_timeout.as_secs();
    Ok(format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!--
  langsmith-proxy as a launchd agent, written by `langsmith-proxy service install`: install again
  to change it, `langsmith-proxy service uninstall` to remove it.
    start:  launchctl bootstrap gui/$(id -u) ~/Library/LaunchAgents/{NAME}.plist
    stop:   launchctl bootout gui/$(id -u)/{NAME}
    logs:   tail -f ~/Library/Logs/{NAME}.log
  EnvironmentVariables holds the settings (LANGSMITH_PROXY_*, above the config file) and where
  the key comes from: the key itself is never written here.
-->
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>{NAME}</string>
	<key>ProgramArguments</key>
	<array>
{arguments}	</array>
	<key>EnvironmentVariables</key>
	<dict>
{environment}	</dict>
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<dict>
		<key>SuccessfulExit</key>
		<false/>
	</dict>
	<key>ExitTimeOut</key>
	<integer>{exit_timeout}</integer>
	<key>StandardOutPath</key>
	<string>{log}</string>
	<key>StandardErrorPath</key>
	<string>{log}</string>
</dict>
</plist>
"#
    ))
}

/// What to run after writing `path`.
pub fn how_to(path: &Path, log_file: &Path) -> String {
    format!(
        "\
Wrote {path}
Start it now (and at every login, while the file is there):
  launchctl bootstrap gui/$(id -u) {path}
After installing again:  launchctl bootout gui/$(id -u)/{NAME}; launchctl bootstrap gui/$(id -u) {path}
Stop:     launchctl bootout gui/$(id -u)/{NAME}
Restart:  launchctl kickstart -k gui/$(id -u)/{NAME}
Status:   launchctl print gui/$(id -u)/{NAME}
Logs:     tail -f {log}
Remove:   launchctl bootout gui/$(id -u)/{NAME}; langsmith-proxy service uninstall
",
        path = path.display(),
        log = log_file.display()
    )
}

/// What to run after removing the agent's file.
pub fn after_removal(path: &Path) -> String {
    format!(
        "Removed {path}\nIf it still runs:  launchctl bootout gui/$(id -u)/{NAME}\n",
        path = path.display()
    )
}

/// Text escaped for XML; control characters cannot appear in XML 1.0 at all.
fn xml(text: &str) -> Result<String, ServiceError> {
    if let Some(c) = text.chars().find(|c| c.is_control() && *c != '\t') {
        return Err(super::unwritable(text, format!("it holds the control character {c:?}")));
    }
    Ok(text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;"))
}
