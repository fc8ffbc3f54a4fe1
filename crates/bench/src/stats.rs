//! Latency samples and their summary (percentiles in milliseconds).

use std::time::Duration;

use serde_json::{json, Value};

/// A summary of latency samples.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    /// How many samples.
    pub n: usize,
    /// Percentiles, milliseconds.
    pub p50: f64,
    /// 95th percentile, milliseconds.
    pub p95: f64,
    /// 99th percentile, milliseconds.
    pub p99: f64,
    /// The slowest sample, milliseconds.
    pub max: f64,
}

impl Latency {
    /// Summarises `samples` (nearest-rank percentiles); all zero when empty.
    pub fn of(samples: &[Duration]) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        let mut sorted = samples.to_vec();
        sorted.sort();
        let at = |p: f64| ms(sorted[rank(sorted.len(), p)]);
        Latency {
            n: sorted.len(),
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: ms(sorted[sorted.len() - 1]),
        }
    }

    /// As JSON (milliseconds).
    pub fn to_json(self) -> Value {
        json!({ "n": self.n, "p50_ms": self.p50, "p95_ms": self.p95, "p99_ms": self.p99, "max_ms": self.max })
    }
}

/// The index of the `p` nearest-rank percentile in a sorted list of `len`.
fn rank(len: usize, p: f64) -> usize {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let r = (p * len as f64).ceil() as usize;
    r.clamp(1, len) - 1
}

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::of(&samples);
        assert_eq!((l.n, l.p50, l.p95, l.p99, l.max), (100, 50.0, 95.0, 99.0, 100.0));
        assert_eq!(Latency::of(&[]).n, 0);
        assert!((Latency::of(&[Duration::from_millis(7)]).p99 - 7.0).abs() < 1e-9);
    }
}
