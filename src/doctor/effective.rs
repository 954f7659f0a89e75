//! What an SDK started in this shell would use: endpoint, key, workspace and tracing switch,
//! each with where it came from (environment first, then the profile, then the SDK default).

use super::profile::{Profile, ProfileState};
use super::sdk_env::{lookup, shown, Origin, Resolved, TRACING_STEMS};
use crate::env::Env;
use crate::secret::{ApiKey, KeyFormatError, PLACEHOLDER_KEY};

/// The SDKs' `DEFAULT_API_URL`, used when neither the environment nor a profile sets one.
pub const DEFAULT_ENDPOINT: &str = "https://api.smith.langchain.com";

/// A key as far as `doctor` keeps it: redacted from the moment it is read.
#[derive(Debug, Clone)]
pub enum KeyValue {
    /// `proxy-managed`: meaningful only to langsmith-proxy.
    Placeholder,
    Key(ApiKey),
    Malformed(KeyFormatError),
    /// No key, but the profile's OAuth token (`Authorization: Bearer`).
    OAuthToken,
}

impl KeyValue {
    pub fn read(raw: &str) -> Self {
        if raw.trim() == PLACEHOLDER_KEY {
            return Self::Placeholder;
        }
        match ApiKey::parse(raw) {
            Ok(key) => Self::Key(key),
            Err(problem) => Self::Malformed(problem),
        }
    }

    /// A hint and kind, safe to print: `lsv2_pt_…abcd (personal_access_token)`.
    pub fn describe(&self) -> String {
        match self {
            Self::Placeholder => format!("{PLACEHOLDER_KEY} (placeholder)"),
            Self::Key(key) => format!("{} ({})", key.hint(), key.kind().as_str()),
            Self::Malformed(problem) => format!("unusable: {problem}"),
            Self::OAuthToken => "OAuth token (Authorization: Bearer)".to_owned(),
        }
    }
}

#[derive(Debug)]
pub struct Effective {
    pub endpoint: Resolved<String>,
    pub key: Option<Resolved<KeyValue>>,
    pub workspace_id: Option<Resolved<String>>,
    /// The variable that decides whether tracing is on, and its value.
    pub tracing: Option<Resolved<String>>,
}

impl Effective {
    /// The endpoint as reports show it: without a user or password (`https://…@host`).
    pub fn shown_endpoint(&self) -> String {
        shown(&self.endpoint.value)
    }

    pub fn resolve(env: &Env, profile: &ProfileState) -> Self {
        let profile = profile.selected();
        let from_profile = |value: Option<&String>| {
            let profile = profile?;
            Some(Resolved {
                value: value?.clone(),
                origin: Origin::Profile {
                    name: profile.name.clone(),
                    path: profile.path.clone(),
                },
            })
        };
        let from_env = |stem: &str| {
            lookup(env, stem).map(|found| Resolved {
                value: found.value.to_owned(),
                origin: found.origin,
            })
        };
        let endpoint = from_env("ENDPOINT")
            .or_else(|| from_profile(profile.and_then(|p| p.api_url.as_ref())))
            .unwrap_or_else(|| Resolved {
                value: DEFAULT_ENDPOINT.to_owned(),
                origin: Origin::Default,
            });
        let key = lookup(env, "API_KEY")
            .map(|found| Resolved {
                value: KeyValue::read(found.value),
                origin: found.origin,
            })
            .or_else(|| profile_key(profile?));
        Self {
            endpoint,
            key,
            workspace_id: from_env("WORKSPACE_ID")
                .or_else(|| from_profile(profile.and_then(|p| p.workspace_id.as_ref()))),
            tracing: TRACING_STEMS.iter().find_map(|stem| from_env(stem)),
        }
    }

    /// The SDKs trace only when the deciding variable is exactly `true`.
    pub fn tracing_on(&self) -> bool {
        self.tracing.as_ref().is_some_and(|t| t.value == "true")
    }
}

/// The profile's key, else its OAuth token (a profile key wins over its token, SDK PR #3295).
fn profile_key(profile: &Profile) -> Option<Resolved<KeyValue>> {
    let origin = Origin::Profile {
        name: profile.name.clone(),
        path: profile.path.clone(),
    };
    let value = match &profile.api_key {
        Some(key) => key.clone(),
        None if profile.oauth => KeyValue::OAuthToken,
        None => return None,
    };
    Some(Resolved { value, origin })
}
