//! Prometheus metrics. Per-request metrics are resolved to plain atomic handles once, at start,
//! so counting a request costs an atomic add, not a label lookup.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use http::{Method, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::diagnosis::Code;
use crate::limit_counters::LimitCounts;
use crate::secret::ReloadCounts;

const METHODS: [&str; 8] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "other"];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabel {
    limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

/// The key check states exported as `langsmith_proxy_key_health{state}` (one of them is 1).
pub const KEY_STATES: [&str; 6] = [
    "missing",
    "unchecked",
    "valid",
    "needs_workspace",
    "rejected",
    "unreachable",
];

pub struct Metrics {
    registry: Registry,
    requests: [[Counter; CLASSES.len()]; METHODS.len()],
    diagnoses: Family<CodeLabel, Counter>,
    upstream_seconds: Histogram,
    in_flight: Gauge<i64, AtomicI64>,
    key_reloads: Family<ResultLabel, Counter>,
    key_health: Family<StateLabel, Gauge<i64, AtomicI64>>,
    auth_failure_bursts: Counter<u64, AtomicU64>,
    limits_hit: Family<LimitLabel, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("langsmith_proxy");
        let family = Family::<RequestLabels, Counter>::default();
        let requests = METHODS.map(|method| {
            CLASSES.map(|status_class| family.get_or_create_owned(&RequestLabels { method, status_class }))
        });
        registry.register("requests", "Requests answered, by method and status class", family);
        let diagnoses = Family::<CodeLabel, Counter>::default();
        for code in Code::ALL {
            let _ = diagnoses.get_or_create(&CodeLabel { code: code.as_str() });
        }
        registry.register(
            "diagnoses",
            "Diagnoses made (upstream 401/403/405/429 and proxy errors), by code",
            diagnoses.clone(),
        );
        // 1 ms to ~65 s: loopback fakes at the bottom, slow trace uploads at the top.
        let upstream_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 17));
        registry.register(
            "upstream_response_seconds",
            "Time from sending a request upstream to its response headers",
            upstream_seconds.clone(),
        );
        let in_flight = Gauge::<i64, AtomicI64>::default();
        registry.register("in_flight_requests", "Requests being served now", in_flight.clone());
        let key_reloads = Family::<ResultLabel, Counter>::default();
        registry.register("key_reloads", "Key source re-reads, by result", key_reloads.clone());
        let key_health = Family::<StateLabel, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "key_health",
            "The key's state from the last check (1 for the current state)",
            key_health.clone(),
        );
        let auth_failure_bursts = Counter::<u64, AtomicU64>::default();
        registry.register(
            "auth_failure_bursts",
            "Bursts of 401/403 diagnoses over the alert threshold",
            auth_failure_bursts.clone(),
        );
        let limits_hit = Family::<LimitLabel, Counter>::default();
        registry.register("limit_exceeded", "Connection limits hit, by limit", limits_hit.clone());
        registry.register(
            "build",
            "Build information",
            Info::new(VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        Self {
            registry,
            requests,
            diagnoses,
            upstream_seconds,
            in_flight,
            key_reloads,
            key_health,
            auth_failure_bursts,
            limits_hit,
        }
    }
}

impl Metrics {
    pub fn request(&self, method: &Method, status: StatusCode) {
        let method = METHODS
            .iter()
            .position(|m| *m == method.as_str())
            .unwrap_or(METHODS.len() - 1);
        let class = usize::from(status.as_u16() / 100)
            .saturating_sub(1)
            .min(CLASSES.len() - 1);
        self.requests[method][class].inc();
    }

    pub fn diagnosis(&self, code: &'static str) {
        self.diagnoses.get_or_create(&CodeLabel { code }).inc();
    }

    pub fn upstream_response(&self, seconds: f64) {
        self.upstream_seconds.observe(seconds);
    }

    pub fn in_flight(&self) -> &Gauge<i64, AtomicI64> {
        &self.in_flight
    }

    pub fn auth_failure_burst(&self) {
        self.auth_failure_bursts.inc();
    }

    /// Requests answered so far, all methods and statuses.
    pub fn requests_total(&self) -> u64 {
        self.requests.iter().flatten().map(Counter::get).sum()
    }

    pub fn in_flight_now(&self) -> i64 {
        self.in_flight.get()
    }

    /// Prometheus text format. What other parts count (key state, one of [`KEY_STATES`], and
    /// the connection limits) is read at scrape time.
    pub fn encode(&self, key_state: &'static str, limits: &LimitCounts, reloads: &ReloadCounts) -> String {
        for state in KEY_STATES {
            self.key_health
                .get_or_create(&StateLabel { state })
                .set(i64::from(state == key_state));
        }
        let hits = [
            ("header_too_large", limits.header_too_large),
            ("header_timeout", limits.header_timeout),
            ("idle_closed", limits.idle_closed),
            ("max_connections", limits.connections_refused),
            ("stalled", limits.stalled),
            ("not_http", limits.not_http),
        ];
        for (result, count) in [
            ("reloaded", reloads.reloaded),
            ("unchanged", reloads.unchanged),
            ("failed", reloads.failed),
        ] {
            self.key_reloads
                .get_or_create(&ResultLabel { result })
                .inner()
                .store(count, Ordering::Relaxed);
        }
        for (limit, count) in hits {
            self.limits_hit
                .get_or_create(&LimitLabel { limit })
                .inner()
                .store(count, Ordering::Relaxed);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
