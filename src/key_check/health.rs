//! What the proxy knows about its key from checking it against LangSmith.

use std::time::SystemTime;

use serde::Serialize;

/// A workspace the key can reach, from `GET /api/v1/workspaces`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub role_name: Option<String>,
    pub read_only: bool,
    pub permissions: Vec<String>,
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Health {
    /// Not checked yet (or the key changed since).
    Unknown,
    Valid {
        workspaces: Vec<Workspace>,
    },
    Rejected {
        status: u16,
        /// The start of LangSmith's answer, for the report.
        body: String,
    },
    /// No answer, or an answer that is not the LangSmith API's.
    Unreachable {
        error: String,
        /// The status of an answer that came but was not the API's (an error page, a 500):
        /// the network path works, the upstream setting or the server does not.
        #[serde(skip_serializing_if = "Option::is_none")]
        answered: Option<u16>,
        /// Steps for a cause that is not the network path (a TLS certificate), for `check`.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        fix: Vec<String>,
    },
}

impl Health {
    /// LangSmith knows the key but will not answer without a workspace: an org-scoped key, or
    /// one that reaches several workspaces.
    pub fn needs_workspace(&self) -> bool {
        matches!(self, Health::Rejected { status: 403, body } if body.contains("org_scoped_key_requires_workspace"))
    }

    /// The upstream recognises the key (whether or not it also wants a workspace).
    pub fn key_recognised(&self) -> bool {
        matches!(self, Health::Valid { .. }) || self.needs_workspace()
    }
}

/// Where else the key works, when the configured region rejects it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum RegionVerdict {
    /// The upstream is not a SaaS region, or the key was not rejected.
    NotProbed,
    AcceptedIn {
        region: String,
        url: String,
    },
    RejectedEverywhere,
    /// Some region could not be reached, and none accepted the key.
    Inconclusive,
}

/// The latest check of one key (by fingerprint).
#[derive(Debug, Clone, Serialize)]
pub struct CheckRecord {
    pub fingerprint: String,
    pub health: Health,
    #[serde(serialize_with = "serialize_time")]
    pub checked_at: Option<SystemTime>,
    /// The last time this key was seen valid: a later 401 means revoked, not mistyped.
    #[serde(serialize_with = "serialize_time")]
    pub last_valid_at: Option<SystemTime>,
    /// LangSmith's last definite answer (valid or rejected) was "valid": an unreachable
    /// LangSmith keeps the earlier verdict, so readiness never follows LangSmith's uptime.
    pub validated: bool,
    pub region: RegionVerdict,
}

impl CheckRecord {
    pub fn unknown(fingerprint: &str) -> Self {
        Self {
            fingerprint: fingerprint.to_owned(),
            health: Health::Unknown,
            checked_at: None,
            last_valid_at: None,
            validated: false,
            region: RegionVerdict::NotProbed,
        }
    }

    /// Checked more recently than `max_age` ago, by the wall clock (which, unlike a monotonic
    /// clock, keeps running while a laptop sleeps).
    pub fn is_fresh(&self, max_age: std::time::Duration) -> bool {
        self.checked_at
            .and_then(|at| SystemTime::now().duration_since(at).ok())
            .is_some_and(|age| age < max_age)
    }
}

pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

fn serialize_time<S: serde::Serializer>(time: &Option<SystemTime>, serializer: S) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => serializer.serialize_some(&rfc3339(*time)),
        None => serializer.serialize_none(),
    }
}
