//! The relay's counters, printed as one line per interval:
//! `metrics published=<total> errors=<total> backlog=<rows> lag_ms=<age of the oldest unpublished event>`,
//! and served as OpenMetrics text (`--metrics-listen`, see
//! [`crate::exposition`]) from the same counters and the backlog last read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use orderflow_store::Backlog;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::prometheus`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Counters since start.
#[derive(Debug, Default)]
pub struct Metrics {
    published: AtomicU64,
    errors: AtomicU64,
    /// The backlog as last read, and when.
    last_backlog: Mutex<Option<(Backlog, DateTime<Utc>)>>,
}

impl Metrics {
    /// Counts `n` acknowledged and marked events.
    pub fn published(&self, n: usize) {
        self.published
            .fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Counts one error (a failed delivery or a failed round).
    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Events published so far.
    pub fn published_total(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// Errors so far.
    pub fn errors_total(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Keeps `backlog`, read at `at`, for the Prometheus text.
    pub fn observe(&self, backlog: Backlog, at: DateTime<Utc>) {
        *self
            .last_backlog
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((backlog, at));
    }

    /// The text exposition at `now` (OpenMetrics 1.0, which Prometheus
    /// scrapes as it does its own format), encoded by `prometheus-client`:
    /// the counters, and the backlog as last read (every metrics interval),
    /// its oldest event's age counted to `now`.
    pub fn prometheus(&self, now: DateTime<Utc>) -> String {
        let last = *self
            .last_backlog
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (rows, age, read_age) = match last {
            Some((b, at)) => (
                b.rows,
                b.oldest.map_or(0, |t| (now - t).num_seconds().max(0)),
                (now - at).num_seconds().max(0),
            ),
            None => (0, 0, -1),
        };
        let mut registry = Registry::default();
        let counter = |n: u64| {
            let c: Counter = Counter::default();
            c.inc_by(n);
            c
        };
        let gauge = |v: i64| {
            let g: Gauge = Gauge::default();
            g.set(v);
            g
        };
        registry.register(
            "orderflow_relay_published",
            "Events published to Kafka and marked, since start",
            counter(self.published_total()),
        );
        registry.register(
            "orderflow_relay_errors",
            "Failed deliveries and failed rounds, since start",
            counter(self.errors_total()),
        );
        registry.register(
            "orderflow_outbox_backlog",
            "Outbox events not yet published, as last read",
            gauge(rows),
        );
        registry.register(
            "orderflow_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished event (0: none)",
            gauge(age),
        );
        registry.register(
            "orderflow_relay_backlog_read_age_seconds",
            "How long ago the backlog was read (-1: not yet)",
            gauge(read_age),
        );
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &registry);
        text
    }

    /// The metrics line for `backlog` at `now`.
    pub fn line(&self, backlog: &Backlog, now: DateTime<Utc>) -> String {
        let lag_ms = backlog.oldest.map_or(0, |t| (now - t).num_milliseconds().max(0));
        format!(
            "metrics published={} errors={} backlog={} lag_ms={lag_ms}",
            self.published_total(),
            self.errors_total(),
            backlog.rows
        )
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    #[test]
    fn the_prometheus_text_carries_the_counters_and_the_last_backlog() {
        let m = Metrics::default();
        let now = Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap();
        assert!(m
            .prometheus(now)
            .contains("orderflow_relay_backlog_read_age_seconds -1\n"));
        m.published(5);
        m.error();
        m.observe(
            Backlog {
                rows: 12,
                oldest: Some(now - Duration::seconds(30)),
            },
            now - Duration::seconds(2),
        );
        let text = m.prometheus(now);
        for expected in [
            "orderflow_relay_published_total 5\n",
            "orderflow_relay_errors_total 1\n",
            "orderflow_outbox_backlog 12\n",
            "orderflow_outbox_oldest_unpublished_age_seconds 30\n",
            "orderflow_relay_backlog_read_age_seconds 2\n",
            "# TYPE orderflow_relay_published counter\n",
            "# EOF\n",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }
}
