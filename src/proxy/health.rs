//! Readiness and the key's state, as the admin endpoints and metrics report them.

use std::sync::atomic::Ordering;

use serde::Serialize;

use super::Shared;
use crate::config::ClientCredentials;
use crate::key_check::Health;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub reason: &'static str,
}

impl Shared {
    /// Ready once a key is loaded (and, if configured, validated), or at once under
    /// keep-if-present, and until draining starts.
    /// Never tied to LangSmith being up: a sidecar that flaps with LangSmith hurts the app.
    pub fn readiness(&self) -> Readiness {
        let not = |reason| Readiness { ready: false, reason };
        if self.draining.load(Ordering::Acquire) {
            return not("shutting down");
        }
        if self.keys.snapshot().is_none() {
            // Clients that bring their own key are served all the same.
            if self.client_credentials == ClientCredentials::KeepIfPresent && !self.ready_requires_valid_key {
                return Readiness {
                    ready: true,
                    reason: "no key of its own loaded; clients that send theirs are served (client_credentials = keep-if-present)",
                };
            }
            return not("no key loaded");
        }
        if self.ready_requires_valid_key && !self.key_validated() {
            // Probes keep asking: each may re-check the key (see `recheck_for_readiness`).
            if let Some(check) = &self.key_check {
                check.recheck_for_readiness();
            }
            return not(match self.key_state() {
                "unreachable" => "the key is not (or no longer) validated, and LangSmith could not be reached to check it (ready_requires_valid_key = true)",
                "rejected" => "LangSmith rejected the key (ready_requires_valid_key = true)",
                _ => "the key has not been validated yet (ready_requires_valid_key = true)",
            });
        }
        Readiness {
            ready: true,
            reason: "key loaded",
        }
    }

    /// The current key was validated and not rejected since; LangSmith being unreachable
    /// in between changes nothing.
    fn key_validated(&self) -> bool {
        match (self.keys.snapshot(), &self.key_check) {
            (Some(key), Some(check)) => check.record_for(&key).validated,
            _ => false,
        }
    }

    /// One of [`crate::metrics::KEY_STATES`].
    pub fn key_state(&self) -> &'static str {
        let Some(key) = self.keys.snapshot() else {
            return "missing";
        };
        let Some(check) = &self.key_check else {
            return "unchecked";
        };
        let record = check.record_for(&key);
        match &record.health {
            Health::Unknown => "unchecked",
            Health::Valid { .. } => "valid",
            health @ Health::Rejected { .. } if health.needs_workspace() => "needs_workspace",
            Health::Rejected { .. } => "rejected",
            Health::Unreachable { .. } => "unreachable",
        }
    }

    pub fn begin_drain(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// The grace period is over: the connections left are about to be dropped.
    pub fn expire_drain(&self) {
        self.drain_expired.store(true, Ordering::Release);
    }

    pub fn drain_expired(&self) -> bool {
        self.drain_expired.load(Ordering::Acquire)
    }
}
