//! Counts of diagnoses by code and the most recent ones, for metrics and the status page.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;

use super::burst::{BurstAlert, BurstDetector};
use super::Code;

const RECENT: usize = 50;

#[derive(Debug, Clone, Serialize)]
pub struct JournalEntry {
    #[serde(serialize_with = "as_rfc3339")]
    pub at: SystemTime,
    pub code: &'static str,
    pub status: u16,
    pub request_id: String,
    pub method: String,
    pub path: String,
}

#[derive(Debug)]
pub struct Journal {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    counts: BTreeMap<&'static str, u64>,
    recent: VecDeque<JournalEntry>,
    bursts: BurstDetector,
}

impl Journal {
    /// `burst_threshold` auth failures within `burst_window` raise one alert (0: never).
    pub fn new(burst_threshold: usize, burst_window: std::time::Duration) -> Self {
        Self {
            inner: Mutex::new(Inner {
                counts: BTreeMap::new(),
                recent: VecDeque::new(),
                bursts: BurstDetector::new(burst_threshold, burst_window),
            }),
        }
    }

    /// Records a diagnosis; returns an alert when this auth failure completes a burst.
    pub fn record(&self, entry: JournalEntry) -> Option<BurstAlert> {
        // Diagnoses are the error path; a short lock here costs the hot path nothing.
        let Ok(mut inner) = self.inner.lock() else { return None };
        *inner.counts.entry(entry.code).or_default() += 1;
        let auth_failure = entry.status == 401 || entry.status == 403;
        let code = entry.code;
        if inner.recent.len() == RECENT {
            inner.recent.pop_front();
        }
        inner.recent.push_back(entry);
        auth_failure
            .then(|| inner.bursts.record(code, std::time::Instant::now()))
            .flatten()
    }

    pub fn alerts(&self) -> Vec<BurstAlert> {
        self.inner.lock().map(|inner| inner.bursts.alerts()).unwrap_or_default()
    }

    pub fn count(&self, code: Code) -> u64 {
        self.inner
            .lock()
            .map(|inner| inner.counts.get(code.as_str()).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.inner.lock().map(|inner| inner.counts.clone()).unwrap_or_default()
    }

    /// Newest first.
    pub fn recent(&self) -> Vec<JournalEntry> {
        self.inner
            .lock()
            .map(|inner| inner.recent.iter().rev().cloned().collect())
            .unwrap_or_default()
    }
}

pub(super) fn as_rfc3339<S: serde::Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&humantime::format_rfc3339_seconds(*time).to_string())
}
