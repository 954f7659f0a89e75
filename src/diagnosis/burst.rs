//! Spots bursts of auth failures: N or more 401/403 diagnoses within a window raise one alert
//! (one ERROR event with the breakdown by code), then stay quiet until the window has passed.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

/// The alerts kept for the status page.
const KEPT_ALERTS: usize = 10;

#[derive(Debug, Clone, Serialize)]
pub struct BurstAlert {
    #[serde(serialize_with = "super::journal::as_rfc3339")]
    pub at: SystemTime,
    pub failures: usize,
    pub window_seconds: u64,
    pub by_code: BTreeMap<&'static str, u64>,
}

#[derive(Debug)]
pub struct BurstDetector {
    threshold: usize,
    window: Duration,
    recent: VecDeque<(Instant, &'static str)>,
    last_alert: Option<Instant>,
    alerts: VecDeque<BurstAlert>,
}

impl BurstDetector {
    pub fn new(threshold: usize, window: Duration) -> Self {
        Self {
            threshold,
            window,
            recent: VecDeque::new(),
            last_alert: None,
            alerts: VecDeque::new(),
        }
    }

    /// Records one auth failure at `now`; returns the alert when this one crosses the threshold.
    pub fn record(&mut self, code: &'static str, now: Instant) -> Option<BurstAlert> {
        if self.threshold == 0 {
            return None;
        }
        self.recent.push_back((now, code));
        while self
            .recent
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) >= self.window)
        {
            self.recent.pop_front();
        }
        let quiet = self.last_alert.is_none_or(|at| now.duration_since(at) >= self.window);
        if self.recent.len() < self.threshold || !quiet {
            return None;
        }
        self.last_alert = Some(now);
        let mut by_code = BTreeMap::new();
        for (_, code) in &self.recent {
            *by_code.entry(*code).or_default() += 1;
        }
        let alert = BurstAlert {
            at: SystemTime::now(),
            failures: self.recent.len(),
            window_seconds: self.window.as_secs(),
            by_code,
        };
        if self.alerts.len() == KEPT_ALERTS {
            self.alerts.pop_front();
        }
        self.alerts.push_back(alert.clone());
        Some(alert)
    }

    /// Newest first.
    pub fn alerts(&self) -> Vec<BurstAlert> {
        self.alerts.iter().rev().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_once_per_window_with_a_breakdown() {
        let mut detector = BurstDetector::new(3, Duration::from_secs(60));
        let start = Instant::now();
        assert!(detector.record("key_revoked", start).is_none());
        assert!(detector.record("key_revoked", start + Duration::from_secs(1)).is_none());
        let alert = detector
            .record("permission_denied", start + Duration::from_secs(2))
            .expect("third fires");
        assert_eq!(alert.failures, 3);
        assert_eq!(alert.by_code.get("key_revoked"), Some(&2));
        assert_eq!(alert.by_code.get("permission_denied"), Some(&1));
        for second in 3..30 {
            assert!(
                detector
                    .record("key_revoked", start + Duration::from_secs(second))
                    .is_none(),
                "quiet within the window"
            );
        }
        assert!(
            detector
                .record("key_revoked", start + Duration::from_secs(62))
                .is_some(),
            "a new window may fire again"
        );
        assert_eq!(detector.alerts().len(), 2);
    }

    #[test]
    fn old_failures_fall_out_of_the_window() {
        let mut detector = BurstDetector::new(2, Duration::from_secs(10));
        let start = Instant::now();
        assert!(detector.record("key_rejected", start).is_none());
        assert!(detector
            .record("key_rejected", start + Duration::from_secs(11))
            .is_none());
        assert!(
            BurstDetector::new(0, Duration::from_secs(1))
                .record("x", start)
                .is_none(),
            "0 turns it off"
        );
    }
}
