//! Counts of diagnoses by code and the most recent ones, for metrics and the status page.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;

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

#[derive(Debug, Default)]
pub struct Journal {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    counts: BTreeMap<&'static str, u64>,
    recent: VecDeque<JournalEntry>,
}

impl Journal {
    pub fn record(&self, entry: JournalEntry) {
        // Diagnoses are the error path; a short lock here costs the hot path nothing.
        let Ok(mut inner) = self.inner.lock() else { return };
        *inner.counts.entry(entry.code).or_default() += 1;
        if inner.recent.len() == RECENT {
            inner.recent.pop_front();
        }
        inner.recent.push_back(entry);
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

fn as_rfc3339<S: serde::Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&humantime::format_rfc3339_seconds(*time).to_string())
}
