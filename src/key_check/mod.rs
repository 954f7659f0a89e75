//! Validates the key against LangSmith: at start, lazily when older than `key.refresh`, and
//! right after a 401/403 (at most once per 30 s). When the key is rejected by a SaaS region, the
//! other regions are probed to spot a wrong-region setup; that verdict is cached per key.

mod health;
mod probe;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use http::HeaderValue;
use tokio::task::JoinHandle;

pub use health::{rfc3339, CheckRecord, Health, RegionVerdict, Workspace};

use crate::background::Background;
use crate::client::UpstreamClient;
use crate::config::Timeouts;
use crate::secret::{KeyStore, LoadedKey};
use crate::upstream::Upstream;

/// A 401/403 triggers a re-check at most this often.
pub const RECHECK_AFTER_REJECTION: Duration = Duration::from_secs(30);
/// While readiness waits on a key not yet checked, or last found unreachable, readiness probes
/// re-check it at most this often.
pub const RECHECK_FOR_READINESS: Duration = Duration::from_secs(2);

pub struct KeyCheck {
    keys: Arc<KeyStore>,
    client: UpstreamClient,
    upstream: Upstream,
    /// The other SaaS regions, probed when the configured one rejects the key.
    other_regions: Vec<(String, Upstream)>,
    workspace_id: Option<HeaderValue>,
    timeouts: Timeouts,
    ttl: Duration,
    record: ArcSwap<CheckRecord>,
    /// Single flight: concurrent callers wait for the check in progress instead of repeating it.
    running: tokio::sync::Mutex<()>,
    region_verdicts: Mutex<HashMap<String, RegionVerdict>>,
    background: Arc<Background>,
}

impl std::fmt::Debug for KeyCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCheck")
            .field("record", &self.record.load())
            .finish_non_exhaustive()
    }
}

pub struct KeyCheckSettings {
    pub upstream: Upstream,
    pub other_regions: Vec<(String, Upstream)>,
    pub workspace_id: Option<HeaderValue>,
    pub timeouts: Timeouts,
    pub ttl: Duration,
}

impl KeyCheck {
    pub fn new(
        keys: Arc<KeyStore>,
        client: UpstreamClient,
        settings: KeyCheckSettings,
        background: Arc<Background>,
    ) -> Self {
        let fingerprint = keys
            .snapshot()
            .map(|k| k.key.fingerprint().to_owned())
            .unwrap_or_default();
        Self {
            keys,
            client,
            upstream: settings.upstream,
            other_regions: settings.other_regions,
            workspace_id: settings.workspace_id,
            timeouts: settings.timeouts,
            ttl: settings.ttl,
            record: ArcSwap::from_pointee(CheckRecord::unknown(&fingerprint)),
            running: tokio::sync::Mutex::new(()),
            region_verdicts: Mutex::new(HashMap::new()),
            background,
        }
    }

    /// The latest record for `key`; `Unknown` when the key changed since the last check.
    pub fn record_for(&self, key: &LoadedKey) -> Arc<CheckRecord> {
        let record = self.record.load_full();
        if record.fingerprint == key.key.fingerprint() {
            record
        } else {
            Arc::new(CheckRecord::unknown(key.key.fingerprint()))
        }
    }

    /// Starts a background check when the last one is older than the TTL. Cheap when fresh.
    pub fn refresh_in_background_if_stale(self: &Arc<Self>) {
        let Some(key) = self.keys.snapshot() else { return };
        if self.record_for(&key).is_fresh(self.ttl) || self.running.try_lock().is_err() {
            return;
        }
        drop(self.refresh_in_background(self.ttl));
    }

    /// For readiness waiting on the key: a key not checked yet (new after a rotation) or last
    /// found unreachable is checked again in the background, so that readiness follows without
    /// waiting for proxied traffic (which a not-ready pod does not get) or the TTL. A verdict
    /// from LangSmith itself is checked again once older than the TTL, as traffic would.
    pub fn recheck_for_readiness(self: &Arc<Self>) {
        let Some(key) = self.keys.snapshot() else { return };
        let record = self.record_for(&key);
        if !matches!(record.health, Health::Unknown | Health::Unreachable { .. }) {
            self.refresh_in_background_if_stale();
            return;
        }
        if record.is_fresh(RECHECK_FOR_READINESS) || self.running.try_lock().is_err() {
            return;
        }
        drop(self.refresh_in_background(RECHECK_FOR_READINESS));
    }

    /// [`Self::refresh`] on the background runtime: it finishes even if the caller stops waiting.
    pub fn refresh_in_background(self: &Arc<Self>, max_age: Duration) -> JoinHandle<Option<Arc<CheckRecord>>> {
        let check = self.clone();
        self.background.spawn(async move { check.refresh(max_age).await })
    }

    /// Checks the current key unless a check newer than `max_age` exists; returns the record.
    pub async fn refresh(&self, max_age: Duration) -> Option<Arc<CheckRecord>> {
        let _running = self.running.lock().await;
        let key = self.keys.snapshot()?;
        let previous = self.record_for(&key);
        if previous.is_fresh(max_age) {
            return Some(previous);
        }
        let health = probe::probe(
            &self.client,
            &self.upstream,
            key.key.header_value(),
            self.workspace_id.as_ref(),
            &self.timeouts,
        )
        .await;
        let now = SystemTime::now();
        // A key that only lacks a workspace is in the right region.
        let region = match &health {
            Health::Rejected { .. } if !health.needs_workspace() => self.region_verdict(&key).await,
            _ => RegionVerdict::NotProbed,
        };
        let record = Arc::new(CheckRecord {
            fingerprint: key.key.fingerprint().to_owned(),
            last_valid_at: if health.key_recognised() {
                Some(now)
            } else {
                previous.last_valid_at
            },
            // An org-scoped key that only lacks a workspace is a key LangSmith knows: requests
            // that name a workspace (X-Tenant-Id from the app) work with it.
            validated: match health {
                Health::Valid { .. } => true,
                Health::Rejected { .. } => health.needs_workspace(),
                Health::Unreachable { .. } | Health::Unknown => previous.validated,
            },
            health,
            checked_at: Some(now),
            region,
        });
        log_outcome(&key, &record, &self.upstream);
        self.record.store(record.clone());
        Some(record)
    }

    /// Where else the key works; probed once per key fingerprint, then cached.
    async fn region_verdict(&self, key: &LoadedKey) -> RegionVerdict {
        if self.upstream.region().is_none() || self.other_regions.is_empty() {
            return RegionVerdict::NotProbed;
        }
        let fingerprint = key.key.fingerprint();
        if let Some(verdict) = self
            .region_verdicts
            .lock()
            .ok()
            .and_then(|cache| cache.get(fingerprint).cloned())
        {
            return verdict;
        }
        let probes = self.other_regions.iter().map(|(name, upstream)| async move {
            let health = probe::probe(
                &self.client,
                upstream,
                key.key.header_value(),
                self.workspace_id.as_ref(),
                &self.timeouts,
            )
            .await;
            (name, upstream, health)
        });
        let results = futures_util::future::join_all(probes).await;
        let verdict = match results.iter().find(|(_, _, health)| health.key_recognised()) {
            Some((name, upstream, _)) => RegionVerdict::AcceptedIn {
                region: (*name).clone(),
                url: upstream.url().to_owned(),
            },
            None if results
                .iter()
                .any(|(_, _, health)| matches!(health, Health::Unreachable { .. })) =>
            {
                RegionVerdict::Inconclusive
            }
            None => RegionVerdict::RejectedEverywhere,
        };
        // Only a definite verdict is worth keeping; an unreachable region may answer later.
        if verdict != RegionVerdict::Inconclusive {
            if let Ok(mut cache) = self.region_verdicts.lock() {
                cache.insert(fingerprint.to_owned(), verdict.clone());
            }
        }
        verdict
    }
}

/// Which of `regions` accept `key` (used by `doctor`, which has no proxy running to ask).
/// `None` when a region could not be reached and none accepted the key: no verdict.
pub async fn regions_accepting(
    client: &UpstreamClient,
    key: &HeaderValue,
    regions: &[(String, Upstream)],
    timeouts: &Timeouts,
) -> Option<Vec<String>> {
    let probes = regions.iter().map(|(name, upstream)| async move {
        (name.clone(), probe::probe(client, upstream, key, None, timeouts).await)
    });
    let answers = futures_util::future::join_all(probes).await;
    let accepted: Vec<String> = answers
        .iter()
        .filter(|(_, health)| health.key_recognised())
        .map(|(name, _)| name.clone())
        .collect();
    let unreachable = answers
        .iter()
        .any(|(_, health)| matches!(health, Health::Unreachable { .. }));
    (!accepted.is_empty() || !unreachable).then_some(accepted)
}

fn log_outcome(key: &LoadedKey, record: &CheckRecord, upstream: &Upstream) {
    let fingerprint = key.key.fingerprint();
    let hint = key.key.hint();
    match &record.health {
        Health::Valid { workspaces } => tracing::info!(
            key_source = %key.source, key_hint = hint, key_fingerprint = fingerprint, upstream = upstream.url(),
            workspaces = workspaces.len(),
            roles = %workspaces.iter().filter_map(|w| w.role_name.as_deref()).collect::<Vec<_>>().join(","),
            "key check: the key is valid"
        ),
        Health::Rejected { status, body } if record.health.needs_workspace() => tracing::warn!(
            key_source = %key.source, key_hint = hint, key_fingerprint = fingerprint, upstream = upstream.url(),
            status, body = %body,
            "key check: LangSmith knows the key but wants a workspace with it (org-scoped key): set workspace_id (flag --workspace-id)"
        ),
        Health::Rejected { status, body } => tracing::error!(
            key_source = %key.source, key_hint = hint, key_fingerprint = fingerprint, upstream = upstream.url(),
            status, body = %body, region = ?record.region,
            "key check: LangSmith rejects the key"
        ),
        Health::Unreachable { error, .. } => tracing::warn!(
            key_source = %key.source, key_hint = hint, key_fingerprint = fingerprint, upstream = upstream.url(),
            %error, "key check: could not reach LangSmith"
        ),
        Health::Unknown => {}
    }
}
