//! `langsmith-proxy env`: the exports that point an app's LangSmith SDK at this proxy, written
//! for the shell that evaluates them (`eval "$(langsmith-proxy env)"`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::env::Env;
use crate::secret::PLACEHOLDER_KEY;

/// The shells `env` writes for. sh, bash and zsh share one syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Sh,
    Bash,
    Zsh,
    Fish,
    #[value(alias = "pwsh")]
    Powershell,
}

/// Loopback names every NO_PROXY we write starts with.
const LOOPBACK_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// The URL apps use to reach a proxy listening on `listen`; a wildcard address is reached
/// through loopback.
pub fn proxy_endpoint(listen: SocketAddr) -> String {
    format!("http://{}", connect_addr(listen))
}

fn connect_addr(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// The variables to set, in order. Both spellings of NO_PROXY: Python's `requests` and curl
/// read `no_proxy` first, Go and others `NO_PROXY`; each keeps what the shell already had.
pub fn exports(listen: SocketAddr, env: &Env) -> Vec<(&'static str, String)> {
    let no_proxy = no_proxy(connect_addr(listen).ip(), env);
    vec![
        ("LANGSMITH_ENDPOINT", proxy_endpoint(listen)),
        ("LANGSMITH_API_KEY", PLACEHOLDER_KEY.to_owned()),
        ("NO_PROXY", no_proxy.clone()),
        ("no_proxy", no_proxy),
    ]
}

/// Loopback first, then the existing entries of `NO_PROXY` and `no_proxy`, each once.
fn no_proxy(ip: IpAddr, env: &Env) -> String {
    let ip = ip.to_string();
    let existing = ["NO_PROXY", "no_proxy"]
        .into_iter()
        .filter_map(|name| env.get(name))
        .flat_map(|value| value.split(','))
        .map(str::trim);
    let mut entries: Vec<&str> = Vec::new();
    for entry in LOOPBACK_NAMES.into_iter().chain([ip.as_str()]).chain(existing) {
        if !entry.is_empty() && !entries.iter().any(|seen| seen.eq_ignore_ascii_case(entry)) {
            entries.push(entry);
        }
    }
    entries.join(",")
}

/// The existing `NO_PROXY`/`no_proxy` is merged into the script's: one whose value is not
/// UTF-8 text cannot be, and leaving it out would take the shell's proxy exemptions away.
pub fn refuse_unmergeable(env: &Env) -> Result<(), String> {
    match ["NO_PROXY", "no_proxy"].into_iter().find(|name| env.is_not_text(name)) {
        Some(name) => Err(format!(
            "{name} is set, but its value is not UTF-8 text, so `env` cannot add to it without dropping its entries: set it again as text (or unset it), then run `env`"
        )),
        None => Ok(()),
    }
}

/// The script for `shell`: a comment saying what it does, then one assignment per line.
pub fn script(shell: Shell, listen: SocketAddr, env: &Env) -> String {
    let mut out = format!(
        "# langsmith-proxy env: LangSmith SDKs in this shell go through the proxy at {}\n",
        proxy_endpoint(listen)
    );
    for (name, value) in exports(listen, env) {
        out.push_str(&assignment(shell, name, &value));
        out.push('\n');
    }
    out
}

/// One assignment; the value is always single-quoted with that shell's escaping, so an
/// existing NO_PROXY holding `'`, `$` or `\` survives `eval` unchanged.
fn assignment(shell: Shell, name: &str, value: &str) -> String {
    match shell {
        Shell::Sh | Shell::Bash | Shell::Zsh => format!("export {name}='{}'", value.replace('\'', r"'\''")),
        Shell::Fish => format!("set -gx {name} '{}'", value.replace('\\', r"\\").replace('\'', r"\'")),
        Shell::Powershell => format!("$Env:{name} = '{}'", powershell_single_quoted(value)),
    }
}

/// PowerShell ends a single-quoted string on the typographic single quotes too (U+2018 to
/// U+201B); each is escaped, like `'`, by doubling it.
fn powershell_single_quoted(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        if matches!(c, '\'' | '\u{2018}'..='\u{201B}') {
            quoted.push(c);
        }
        quoted.push(c);
    }
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen(addr: &str) -> SocketAddr {
        addr.parse().expect("socket address")
    }

    #[test]
    fn wildcard_listen_is_reached_through_loopback() {
        assert_eq!(proxy_endpoint(listen("0.0.0.0:7878")), "http://127.0.0.1:7878");
        assert_eq!(proxy_endpoint(listen("[::]:7878")), "http://[::1]:7878");
        assert_eq!(proxy_endpoint(listen("127.0.0.1:9000")), "http://127.0.0.1:9000");
    }

    #[test]
    fn no_proxy_keeps_existing_entries_once() {
        let env = Env::from_pairs([
            ("NO_PROXY", "corp.example, localhost"),
            ("no_proxy", "10.0.0.0/8,corp.example"),
        ]);
        assert_eq!(
            no_proxy(listen("127.0.0.1:1").ip(), &env),
            "127.0.0.1,localhost,corp.example,10.0.0.0/8"
        );
        assert_eq!(
            no_proxy(listen("[::1]:1").ip(), &Env::default()),
            "127.0.0.1,localhost,::1"
        );
    }

    #[test]
    fn quotes_for_each_shell() {
        let value = r"a'b\c$d";
        assert_eq!(assignment(Shell::Bash, "X", value), r"export X='a'\''b\c$d'");
        assert_eq!(assignment(Shell::Fish, "X", value), r"set -gx X 'a\'b\\c$d'");
        assert_eq!(assignment(Shell::Powershell, "X", value), r"$Env:X = 'a''b\c$d'");
        // `’` closes a PowerShell string as `'` does: doubled, the rest cannot run.
        assert_eq!(
            assignment(Shell::Powershell, "X", "x\u{2019}; Write-Host pwned; #"),
            "$Env:X = 'x\u{2019}\u{2019}; Write-Host pwned; #'"
        );
    }

    /// A NO_PROXY that is not text cannot be merged: refused, not dropped from the script.
    #[cfg(unix)]
    #[test]
    fn a_no_proxy_that_is_not_text_is_refused_not_dropped() {
        use std::os::unix::ffi::OsStringExt;
        let env = Env::from_os_pairs([(
            "NO_PROXY".into(),
            std::ffi::OsString::from_vec(b"corp,caf\xe9".to_vec()),
        )]);
        let problem = refuse_unmergeable(&env).expect_err("not text");
        assert!(
            problem.contains("NO_PROXY") && problem.contains("not UTF-8"),
            "{problem}"
        );
        assert!(refuse_unmergeable(&Env::from_pairs([("NO_PROXY", "corp")])).is_ok());
    }

    #[test]
    fn script_sets_endpoint_placeholder_and_no_proxy() {
        let script = script(Shell::Sh, listen("127.0.0.1:7878"), &Env::default());
        assert!(script.contains("export LANGSMITH_ENDPOINT='http://127.0.0.1:7878'\n"));
        assert!(script.contains("export LANGSMITH_API_KEY='proxy-managed'\n"));
        assert!(script.contains("export NO_PROXY='127.0.0.1,localhost'\n"));
        assert!(script.contains("export no_proxy='127.0.0.1,localhost'\n"));
    }
}
