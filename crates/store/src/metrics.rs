//! Operational figures for `GET /v1/internal/metrics`: the saga's job queue,
//! the orders waiting for an operator, the outbox backlog, the orders per
//! state and the renewals past their deadline, across every tenant, in one
//! statement that always returns exactly one row (aggregates; Spin
//! 4.0.0–4.0.2 never return from a query with no rows).
//!
//! On SQLite the statement reads the tables. On PostgreSQL the application
//! role sees only its current tenant's rows (row-level security), so the
//! same figures come from `orderflow_metrics(at)`, a `SECURITY DEFINER`
//! function that returns nothing but counts and two instants
//! (migrations/postgres/0007_metrics.sql).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use orderflow_core::OrderState;

use crate::codec::{parse, parse_time};
use crate::db::{Db, Dialect, Param};
use crate::error::StoreError;
use crate::orders::Store;

/// The figures at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpsMetrics {
    /// When they were read.
    pub at: DateTime<Utc>,
    /// Jobs a tick would claim now: pending and due, or running with an
    /// expired lease (their worker died).
    pub jobs_due: u64,
    /// Jobs running under a live lease.
    pub jobs_running: u64,
    /// Jobs waiting for a later attempt (retry backoff).
    pub jobs_waiting: u64,
    /// Jobs parked for an operator.
    pub jobs_parked: u64,
    /// Since when the oldest due job has been due (`None`: nothing due).
    pub oldest_due: Option<DateTime<Utc>>,
    /// Orders flagged for an operator (`needs_operator`).
    pub orders_needing_operator: u64,
    /// Outbox rows not yet published.
    pub outbox_backlog: u64,
    /// When the oldest unpublished event occurred (`None`: none).
    pub outbox_oldest: Option<DateTime<Utc>>,
    /// Orders per state, every state listed (zero included), cancelled
    /// (soft-deleted) orders included.
    pub orders_by_state: Vec<(OrderState, u64)>,
    /// Subscriptions still running after their paid period ended, neither
    /// renewed nor suspended (nor cancelled at period end): a renewal that
    /// reached no outcome by its deadline.
    pub renewals_past_deadline: u64,
}

impl OpsMetrics {
    /// How long the oldest due job has waited, in whole seconds (0: none).
    pub fn oldest_due_age_secs(&self) -> i64 {
        age(self.oldest_due, self.at)
    }

    /// How old the oldest unpublished event is, in whole seconds (0: none).
    pub fn outbox_oldest_age_secs(&self) -> i64 {
        age(self.outbox_oldest, self.at)
    }
}

fn age(since: Option<DateTime<Utc>>, at: DateTime<Utc>) -> i64 {
    since.map_or(0, |t| (at - t).num_seconds().max(0))
}

/// The SQLite statement; `orderflow_metrics` on PostgreSQL has the same
/// columns and conditions.
const SQLITE_METRICS: &str = "SELECT
    (SELECT count(*) FROM saga_jobs WHERE (state = 'pending' AND next_attempt_at <= $1)
                                       OR (state = 'running' AND lease_until <= $1)) AS jobs_due,
    (SELECT count(*) FROM saga_jobs WHERE state = 'running' AND lease_until > $1) AS jobs_running,
    (SELECT count(*) FROM saga_jobs WHERE state = 'pending' AND next_attempt_at > $1) AS jobs_waiting,
    (SELECT count(*) FROM saga_jobs WHERE state = 'parked') AS jobs_parked,
    (SELECT min(CASE WHEN state = 'pending' THEN next_attempt_at ELSE lease_until END) FROM saga_jobs
      WHERE (state = 'pending' AND next_attempt_at <= $1) OR (state = 'running' AND lease_until <= $1)) AS oldest_due,
    (SELECT count(*) FROM orders WHERE needs_operator) AS orders_needing_operator,
    (SELECT count(*) FROM outbox WHERE published_at IS NULL) AS outbox_backlog,
    (SELECT min(occurred_at) FROM outbox WHERE published_at IS NULL) AS outbox_oldest,
    (SELECT coalesce(json_group_object(state, n), '{}')
       FROM (SELECT state, count(*) AS n FROM orders GROUP BY state)) AS orders_by_state,
    (SELECT count(*) FROM subscriptions
      WHERE status IN ('active', 'past_due') AND NOT cancel_at_period_end AND current_period_end <= $1)
      AS renewals_past_deadline";

const POSTGRES_METRICS: &str = "SELECT * FROM orderflow_metrics($1)";

fn count(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative count {n}")))
}

impl<D: Db> Store<D> {
    /// Every tenant's operational figures at `at`.
    pub fn ops_metrics(&self, at: DateTime<Utc>) -> Result<OpsMetrics, StoreError> {
        let sql = match self.db().dialect() {
            Dialect::Sqlite => SQLITE_METRICS,
            Dialect::Postgres => POSTGRES_METRICS,
        };
        let rows = self.run(sql, &[Param::Time(at)])?;
        let r = rows
            .first()
            .ok_or_else(|| StoreError::Corrupt("no metrics row".into()))?;
        let time = |column: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
            r.opt_text(column)?.map(parse_time).transpose()
        };
        let by_state: BTreeMap<String, i64> = serde_json::from_str(r.text("orders_by_state")?)?;
        let orders_by_state = OrderState::ALL
            .iter()
            .map(|s| Ok((*s, count(by_state.get(s.as_str()).copied().unwrap_or(0))?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        // A state the code does not know is corrupt data, not a zero.
        for name in by_state.keys() {
            parse::<OrderState>("order state", name)?;
        }
        Ok(OpsMetrics {
            at,
            jobs_due: count(r.int("jobs_due")?)?,
            jobs_running: count(r.int("jobs_running")?)?,
            jobs_waiting: count(r.int("jobs_waiting")?)?,
            jobs_parked: count(r.int("jobs_parked")?)?,
            oldest_due: time("oldest_due")?,
            orders_needing_operator: count(r.int("orders_needing_operator")?)?,
            outbox_backlog: count(r.int("outbox_backlog")?)?,
            outbox_oldest: time("outbox_oldest")?,
            orders_by_state,
            renewals_past_deadline: count(r.int("renewals_past_deadline")?)?,
        })
    }
}
