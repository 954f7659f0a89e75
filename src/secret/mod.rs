//! The LangSmith API key: its redacted representation, where it comes from, and the store that
//! hands a consistent snapshot to every request.

mod api_key;
mod client_token;
mod command;
mod file_watch;
pub mod keyring;
mod process_group;
mod redact;
mod reload;
mod source;
mod store;

pub use api_key::{ApiKey, KeyFormatError, KeyKind};
pub use client_token::{ClientToken, ClientTokenError, TokenProblem};
pub use command::{CommandError, CommandSource, DEFAULT_COMMAND_TIMEOUT};
pub use file_watch::FileWatch;
pub use process_group::kill_running_commands;
pub use redact::{quote_redacted, redact_keys, redact_sent_key, redact_url_credentials, KEY_PREFIXES};
pub use reload::{KeyReloader, ReloadCounters, ReloadCounts, ReloadOutcome, ReloadReason, REREAD_AFTER_REJECTION};
pub use source::{names_a_kind, KeyLoadError, KeySource, KeySourceParseError, SourceReadError};
pub use store::{KeyStore, LoadedKey};

/// The documented placeholder apps put in `LANGSMITH_API_KEY` so SDK code paths that insist on
/// a non-empty key are satisfied; the proxy never treats it as a client credential.
pub const PLACEHOLDER_KEY: &str = "proxy-managed";
