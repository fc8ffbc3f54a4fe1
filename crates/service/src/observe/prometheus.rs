//! The operational figures (`orderflow_store::OpsMetrics`) as the
//! Prometheus text exposition of `GET /v1/internal/metrics`.

use orderflow_store::OpsMetrics;

/// The Prometheus text exposition (version 0.0.4) of `m`.
pub fn prometheus_text(m: &OpsMetrics) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut family = |name: &str, help: &str, samples: &[(Option<(&str, &str)>, String)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (label, value) in samples {
            match label {
                Some((key, v)) => {
                    let _ = writeln!(out, "{name}{{{key}=\"{v}\"}} {value}");
                }
                None => {
                    let _ = writeln!(out, "{name} {value}");
                }
            }
        }
    };
    family(
        "orderflow_saga_jobs",
        "Saga jobs by what a tick would do with them: due (claimable now), running (under a live lease), waiting (retry backoff), parked (for an operator).",
        &[
            (Some(("state", "due")), m.jobs_due.to_string()),
            (Some(("state", "running")), m.jobs_running.to_string()),
            (Some(("state", "waiting")), m.jobs_waiting.to_string()),
            (Some(("state", "parked")), m.jobs_parked.to_string()),
        ],
    );
    family(
        "orderflow_saga_oldest_due_job_age_seconds",
        "How long the oldest due saga job has been due (0: none due).",
        &[(None, m.oldest_due_age_secs().to_string())],
    );
    family(
        "orderflow_orders_needing_operator",
        "Orders parked for an operator (needs_operator).",
        &[(None, m.orders_needing_operator.to_string())],
    );
    family(
        "orderflow_outbox_backlog",
        "Outbox events not yet published to Kafka.",
        &[(None, m.outbox_backlog.to_string())],
    );
    family(
        "orderflow_outbox_oldest_unpublished_age_seconds",
        "Age of the oldest unpublished outbox event (0: none).",
        &[(None, m.outbox_oldest_age_secs().to_string())],
    );
    let states: Vec<(Option<(&str, &str)>, String)> = m
        .orders_by_state
        .iter()
        .map(|(s, n)| (Some(("state", s.as_str())), n.to_string()))
        .collect();
    family("orderflow_orders", "Orders by state, cancelled ones included.", &states);
    family(
        "orderflow_renewals_past_deadline",
        "Subscriptions still running after their paid period ended, neither renewed nor suspended.",
        &[(None, m.renewals_past_deadline.to_string())],
    );
    out
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};
    use orderflow_core::OrderState;

    use super::*;

    #[test]
    fn the_metrics_text_has_one_gauge_family_per_figure_and_every_state() {
        let at = Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap();
        let m = OpsMetrics {
            at,
            jobs_due: 3,
            jobs_running: 1,
            jobs_waiting: 2,
            jobs_parked: 0,
            oldest_due: Some(at - Duration::seconds(42)),
            orders_needing_operator: 1,
            outbox_backlog: 7,
            outbox_oldest: Some(at - Duration::seconds(5)),
            orders_by_state: OrderState::ALL
                .iter()
                .map(|s| (*s, u64::from(*s == OrderState::Fulfilled) * 4))
                .collect(),
            renewals_past_deadline: 2,
        };
        let text = prometheus_text(&m);
        for expected in [
            "orderflow_saga_jobs{state=\"due\"} 3\n",
            "orderflow_saga_jobs{state=\"running\"} 1\n",
            "orderflow_saga_jobs{state=\"waiting\"} 2\n",
            "orderflow_saga_jobs{state=\"parked\"} 0\n",
            "orderflow_saga_oldest_due_job_age_seconds 42\n",
            "orderflow_orders_needing_operator 1\n",
            "orderflow_outbox_backlog 7\n",
            "orderflow_outbox_oldest_unpublished_age_seconds 5\n",
            "orderflow_orders{state=\"fulfilled\"} 4\n",
            "orderflow_orders{state=\"draft\"} 0\n",
            "orderflow_renewals_past_deadline 2\n",
            "# TYPE orderflow_orders gauge\n",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert_eq!(text.matches("orderflow_orders{").count(), 9);
    }
}
