//! `keyring:SERVICE/ACCOUNT`: the key in the OS keychain (macOS Keychain, Windows Credential
//! Manager, the Secret Service on Linux), and `langsmith-proxy key set` to put it there.
//! Behind the cargo feature `keyring`; without it, such a source is a configuration error that
//! says how to build with it.

use std::fmt;
use std::time::Duration;

/// What `langsmith-proxy key set` uses when no `--service`/`--account` is given.
pub const DEFAULT_SERVICE: &str = "langsmith-proxy";
pub const DEFAULT_ACCOUNT: &str = "default";

/// Why the keychain gave no key. Never carries a stored value.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("this build has no OS keychain support; rebuild with the `keyring` feature (`cargo install --locked --path . --features keyring`), or use an env:, file: or command: source")]
    NotBuilt,
    #[error("nothing is stored for service `{service}`, account `{account}`; store the key with `langsmith-proxy key set --service {service} --account {account}`")]
    NoEntry { service: String, account: String },
    #[error("cannot reach the OS keychain ({0}); on Linux a Secret Service (GNOME Keyring, KWallet, KeePassXC) must be running and unlocked in this session")]
    Unavailable(String),
    #[error("{0} keychain entries match this service and account; delete the duplicates and store the key again")]
    Ambiguous(usize),
    #[error("the stored value is not UTF-8 text; store the key again with `langsmith-proxy key set`")]
    NotText,
    #[error("the OS keychain did not answer within {} (key.command_timeout); it may be locked and waiting for an unlock: unlock it or answer its prompt, or raise key.command_timeout", humantime::format_duration(*after))]
    TimedOut { after: Duration },
    #[error("an earlier read of the OS keychain is still waiting for an answer (a locked keychain waiting for an unlock?); unlock it and the next reload reads the key")]
    StillWaiting,
    #[error("the OS keychain refused: {0}")]
    Refused(String),
    #[error("cannot read the key from standard input: {0}")]
    Input(std::io::Error),
    #[error("the key was not stored: {0}")]
    Malformed(super::KeyFormatError),
}

/// `SERVICE/ACCOUNT`, split at the first `/` (an account may contain one, a service may not).
pub fn parse_spec(spec: &str) -> Option<(&str, &str)> {
    spec.split_once('/')
        .filter(|(service, account)| !service.is_empty() && !account.is_empty())
}

#[derive(Clone)]
pub struct KeyringSource {
    service: String,
    account: String,
    #[cfg(feature = "keyring")]
    entry: std::sync::Arc<::keyring::Entry>,
    /// How long a read may wait for the keychain (`key.command_timeout`).
    #[cfg(feature = "keyring")]
    timeout: Duration,
    /// Set while a read's thread waits for the keychain, even after the caller gave up on it.
    #[cfg(feature = "keyring")]
    reading: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Without the feature no source can be made, so reading one needs no code.
    #[cfg(not(feature = "keyring"))]
    unbuildable: std::convert::Infallible,
}

impl KeyringSource {
    pub fn service(&self) -> &str {
        &self.service
    }

    pub fn account(&self) -> &str {
        &self.account
    }
}

#[cfg(not(feature = "keyring"))]
impl KeyringSource {
    pub fn new(_service: &str, _account: &str) -> Result<Self, KeyringError> {
        Err(KeyringError::NotBuilt)
    }

    pub fn read(&self) -> Result<String, KeyringError> {
        match self.unbuildable {}
    }

    pub fn with_timeout(self, _timeout: Duration) -> Self {
        match self.unbuildable {}
    }
}

/// `langsmith-proxy key set` in a build without the feature.
#[cfg(not(feature = "keyring"))]
pub fn set_from_stdin(_service: &str, _account: &str) -> Result<String, KeyringError> {
    Err(KeyringError::NotBuilt)
}

#[cfg(feature = "keyring")]
impl KeyringSource {
    /// Creating the entry does not touch the keychain yet; reading does.
    pub fn new(service: &str, account: &str) -> Result<Self, KeyringError> {
        let entry = ::keyring::Entry::new(service, account).map_err(|e| keychain_error(e, service, account))?;
        Ok(Self {
            service: service.to_owned(),
            account: account.to_owned(),
            entry: std::sync::Arc::new(entry),
            timeout: super::command::DEFAULT_COMMAND_TIMEOUT,
            reading: std::sync::Arc::default(),
        })
    }

    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    /// Blocks until the keychain answers or the timeout passes. A locked keychain may wait for
    /// an unlock forever, and the caller may hold the reload lock, so the read runs on a thread
    /// of its own that is left behind on a timeout; until it ends, further reads fail at once,
    /// so a stuck keychain holds one thread, not one per attempt.
    pub fn read(&self) -> Result<String, KeyringError> {
        use std::sync::atomic::Ordering;
        use std::sync::mpsc::RecvTimeoutError;

        if self.reading.swap(true, Ordering::AcqRel) {
            return Err(KeyringError::StillWaiting);
        }
        let (entry, reading) = (self.entry.clone(), self.reading.clone());
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("keyring-read".to_owned())
            .spawn(move || {
                let read = entry.get_password();
                reading.store(false, Ordering::Release);
                let _ = answer.send(read);
            });
        if let Err(error) = spawned {
            self.reading.store(false, Ordering::Release);
            return Err(KeyringError::Unavailable(error.to_string()));
        }
        match answered.recv_timeout(self.timeout) {
            Ok(read) => read.map_err(|e| keychain_error(e, &self.service, &self.account)),
            Err(RecvTimeoutError::Timeout) => Err(KeyringError::TimedOut { after: self.timeout }),
            Err(RecvTimeoutError::Disconnected) => Err(KeyringError::Unavailable(
                "the keychain read stopped without an answer".to_owned(),
            )),
        }
    }

    /// Validates `raw` as a key and stores it, trimmed; returns the key for a confirmation.
    pub fn store(&self, raw: &str) -> Result<super::ApiKey, KeyringError> {
        let key = super::ApiKey::parse(raw).map_err(KeyringError::Malformed)?;
        let text = key
            .header_value()
            .to_str()
            .map_err(|_| KeyringError::Malformed(super::KeyFormatError::InvalidByte { position: 0 }))?;
        self.entry
            .set_password(text)
            .map_err(|e| keychain_error(e, &self.service, &self.account))?;
        Ok(key)
    }

    /// The keychain entry itself, for tests that use keyring's mock store.
    pub fn entry(&self) -> &::keyring::Entry {
        &self.entry
    }
}

/// `langsmith-proxy key set`: reads the key from the terminal without echo, or from a pipe
/// (`op read … | langsmith-proxy key set`), stores it, and says what to configure.
#[cfg(feature = "keyring")]
pub fn set_from_stdin(service: &str, account: &str) -> Result<String, KeyringError> {
    use std::io::{IsTerminal, Read};

    let source = KeyringSource::new(service, account)?;
    let raw = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("LangSmith API key (input hidden): ").map_err(KeyringError::Input)?
    } else {
        let mut raw = String::new();
        std::io::stdin().read_to_string(&mut raw).map_err(KeyringError::Input)?;
        raw
    };
    let key = source.store(&raw)?;
    let warning = key
        .suspicion()
        .map(|why| format!("\nwarning: the key looks wrong: {why}"))
        .unwrap_or_default();
    Ok(format!(
        "stored {} ({}, {}) for service `{service}`, account `{account}`; set key.source = \"keyring:{service}/{account}\"{warning}",
        key.hint(),
        key.kind().as_str(),
        key.fingerprint()
    ))
}

/// Maps keyring's errors to ours; an ambiguous match is reported by count, because keyring's
/// own message prints the matching credentials.
#[cfg(feature = "keyring")]
fn keychain_error(error: ::keyring::Error, service: &str, account: &str) -> KeyringError {
    match error {
        ::keyring::Error::NoEntry => KeyringError::NoEntry {
            service: service.to_owned(),
            account: account.to_owned(),
        },
        ::keyring::Error::NoStorageAccess(cause) | ::keyring::Error::PlatformFailure(cause) => {
            KeyringError::Unavailable(cause.to_string())
        }
        ::keyring::Error::Ambiguous(matches) => KeyringError::Ambiguous(matches.len()),
        ::keyring::Error::BadEncoding(_) => KeyringError::NotText,
        other => KeyringError::Refused(other.to_string()),
    }
}

impl PartialEq for KeyringSource {
    fn eq(&self, other: &Self) -> bool {
        self.service == other.service && self.account == other.account
    }
}

impl Eq for KeyringSource {}

/// Service and account only: a mock entry's Debug would print the stored value.
impl fmt::Debug for KeyringSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyringSource")
            .field("service", &self.service)
            .field("account", &self.account)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_service_and_account() {
        assert_eq!(
            parse_spec("langsmith-proxy/default"),
            Some(("langsmith-proxy", "default"))
        );
        assert_eq!(parse_spec("svc/me@example.com/x"), Some(("svc", "me@example.com/x")));
        assert_eq!(parse_spec("svc"), None);
        assert_eq!(parse_spec("/acct"), None);
        assert_eq!(parse_spec("svc/"), None);
    }

    #[cfg(not(feature = "keyring"))]
    #[test]
    fn without_the_feature_says_how_to_build_it() {
        let error = KeyringSource::new("s", "a").expect_err("not built");
        assert!(error.to_string().contains("--features keyring"), "{error}");
    }
}
