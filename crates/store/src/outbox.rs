//! The relay's side of the outbox: every tenant's unpublished rows, in write
//! order, claimed so that concurrent relays never publish one row twice in
//! normal operation and a dead relay's claims are taken over.
//!
//! - PostgreSQL: a round is one transaction. It claims the oldest unpublished
//!   rows with `FOR UPDATE SKIP LOCKED`, publishes them while holding the row
//!   locks, marks the acknowledged ones and commits. A relay that dies loses
//!   its locks with its connection. Rows of an order whose earlier row is held
//!   by another relay are left for later, so one order's events are published
//!   in order even with several relays. Runs as the `orderflow_relay` role,
//!   whose policy sees every tenant's outbox rows (and nothing else).
//! - SQLite (one relay): a round claims rows with a lease (`claimed_by`,
//!   `claimed_until`) in a short write transaction, publishes without holding
//!   the database lock (the application keeps writing while the broker is
//!   slow or down), then marks the acknowledged rows and releases the rest.
//!   A relay that dies leaves leases that expire.
//!
//! Either way a row is marked published only after the broker acknowledged
//! it, so a crash causes at most a re-publication (same event id), never a loss.

use chrono::{DateTime, Duration, Utc};

use crate::codec::parse_time;
use crate::db::{Db, Dialect, Param, Row};
use crate::error::StoreError;
use crate::orders::Store;

/// Who is relaying, and how much at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// This relay's id (for leases and diagnostics), unique per process.
    pub id: String,
    /// At most this many rows per round.
    pub batch: u32,
    /// How long a SQLite claim is this relay's own (unused on PostgreSQL,
    /// where claims are row locks that die with the connection).
    pub lease: Duration,
}

/// One outbox row, as the relay publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayRow {
    /// Write order.
    pub seq: i64,
    /// Stable event id (the CloudEvents `id`).
    pub event_id: String,
    /// Event type name (the CloudEvents `type`).
    pub event_type: String,
    /// Kafka topic.
    pub topic: String,
    /// Kafka key: the order id (the CloudEvents `subject`).
    pub key: String,
    /// Whose event.
    pub tenant: String,
    /// The order version the event belongs to.
    pub order_version: i64,
    /// When the change was decided (the CloudEvents `time`).
    pub occurred_at: DateTime<Utc>,
    /// The event body: JSON text, published byte for byte.
    pub data: String,
}

/// What the outbox holds that is not published yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// Unpublished rows.
    pub rows: i64,
    /// When the oldest unpublished event occurred.
    pub oldest: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "seq, event_id, event_type, topic, message_key, tenant_id, order_version, occurred_at, data";

impl<D: Db> Store<D> {
    /// One relay round: claims up to `relay.batch` rows in write order, hands
    /// them to `publish`, which returns the seqs the broker acknowledged, and
    /// marks exactly those published at `now()`. Returns the rows marked.
    ///
    /// `publish` must preserve the order of one key's rows and acknowledge a
    /// key's rows as a prefix (a row after a failed one of the same key is not
    /// acknowledged); rows not acknowledged are claimed again next round.
    pub fn relay_round(
        &self,
        relay: &Relay,
        now: impl Fn() -> DateTime<Utc>,
        mut publish: impl FnMut(&[RelayRow]) -> Vec<i64>,
    ) -> Result<Vec<RelayRow>, StoreError> {
        match self.db().dialect() {
            Dialect::Postgres => self.write(|s| {
                let rows = s.claim_locked(relay.batch)?;
                if rows.is_empty() {
                    return Ok(rows);
                }
                let acked = publish(&rows);
                s.mark_published(&acked, now())?;
                Ok(rows.into_iter().filter(|r| acked.contains(&r.seq)).collect())
            }),
            Dialect::Sqlite => {
                let rows = self.write(|s| s.claim_leased(relay, now()))?;
                if rows.is_empty() {
                    return Ok(rows);
                }
                let acked = publish(&rows);
                self.write(|s| {
                    s.mark_published(&acked, now())?;
                    s.release_leases(&relay.id)
                })?;
                Ok(rows.into_iter().filter(|r| acked.contains(&r.seq)).collect())
            }
        }
    }

    /// The unpublished backlog, for the relay's lag metric.
    pub fn backlog(&self) -> Result<Backlog, StoreError> {
        let rows = self.run(
            "SELECT count(*) AS n, min(occurred_at) AS oldest FROM outbox WHERE published_at IS NULL",
            &[],
        )?;
        let r = rows
            .first()
            .ok_or_else(|| StoreError::Corrupt("no backlog row".into()))?;
        Ok(Backlog {
            rows: r.int("n")?,
            oldest: r.opt_text("oldest")?.map(parse_time).transpose()?,
        })
    }

    /// PostgreSQL: locks the oldest unpublished rows nobody else holds, then
    /// drops each order's rows that come after a row held by another relay.
    fn claim_locked(&self, limit: u32) -> Result<Vec<RelayRow>, StoreError> {
        let rows = self.run(
            &format!(
                "SELECT {COLUMNS} FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED"
            ),
            &[Param::Int(i64::from(limit))],
        )?;
        let mut rows = rows.iter().map(|r| relay_row(&r)).collect::<Result<Vec<_>, _>>()?;
        if rows.is_empty() {
            return Ok(rows);
        }
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        let seqs: Vec<String> = rows.iter().map(|r| r.seq.to_string()).collect();
        let dialect = self.db().dialect();
        let foreign = self.run(
            &format!(
                "SELECT message_key, min(seq) AS first_foreign FROM outbox
                  WHERE published_at IS NULL AND message_key IN ({}) AND CAST(seq AS TEXT) NOT IN ({})
                  GROUP BY message_key",
                dialect.json_array_elements(1),
                dialect.json_array_elements(2)
            ),
            &[
                Param::Json(serde_json::to_string(&keys)?.into()),
                Param::Json(serde_json::to_string(&seqs)?.into()),
            ],
        )?;
        let mut first_foreign = std::collections::HashMap::new();
        for r in foreign.iter() {
            first_foreign.insert(r.text("message_key")?.to_owned(), r.int("first_foreign")?);
        }
        rows.retain(|r| first_foreign.get(&r.key).is_none_or(|first| r.seq < *first));
        Ok(rows)
    }

    /// SQLite: leases the oldest unpublished rows whose lease is free or
    /// expired, skipping an order's rows while an earlier row of it is still
    /// leased (a relay killed mid-batch leaves live leases behind; its
    /// successor must not publish that order's later events first).
    fn claim_leased(&self, relay: &Relay, now: DateTime<Utc>) -> Result<Vec<RelayRow>, StoreError> {
        let rows = self.run(
            &format!(
                "UPDATE outbox SET claimed_by = $1, claimed_until = $2
                  WHERE seq IN (SELECT seq FROM outbox o
                                 WHERE published_at IS NULL AND (claimed_until IS NULL OR claimed_until < $3)
                                   AND NOT EXISTS (SELECT 1 FROM outbox e
                                                    WHERE e.message_key = o.message_key AND e.seq < o.seq
                                                      AND e.published_at IS NULL AND e.claimed_until >= $3)
                                 ORDER BY seq LIMIT $4)
                 RETURNING {COLUMNS}"
            ),
            &[
                relay.id.as_str().into(),
                (now + relay.lease).into(),
                now.into(),
                Param::Int(i64::from(relay.batch)),
            ],
        )?;
        let mut rows = rows.iter().map(|r| relay_row(&r)).collect::<Result<Vec<_>, _>>()?;
        // RETURNING gives no order guarantee.
        rows.sort_by_key(|r| r.seq);
        Ok(rows)
    }

    fn mark_published(&self, seqs: &[i64], at: DateTime<Utc>) -> Result<(), StoreError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let seqs: Vec<String> = seqs.iter().map(i64::to_string).collect();
        self.run(
            &format!(
                "UPDATE outbox SET published_at = $1, attempts = attempts + 1, claimed_by = NULL, claimed_until = NULL
                  WHERE published_at IS NULL AND CAST(seq AS TEXT) IN ({})",
                self.db().dialect().json_array_elements(2)
            ),
            &[at.into(), Param::Json(serde_json::to_string(&seqs)?.into())],
        )?;
        Ok(())
    }

    fn release_leases(&self, relay_id: &str) -> Result<(), StoreError> {
        self.run(
            "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL, attempts = attempts + 1
              WHERE claimed_by = $1 AND published_at IS NULL",
            &[relay_id.into()],
        )?;
        Ok(())
    }
}

fn relay_row(r: &Row<'_>) -> Result<RelayRow, StoreError> {
    Ok(RelayRow {
        seq: r.int("seq")?,
        event_id: r.text("event_id")?.to_owned(),
        event_type: r.text("event_type")?.to_owned(),
        topic: r.text("topic")?.to_owned(),
        key: r.text("message_key")?.to_owned(),
        tenant: r.text("tenant_id")?.to_owned(),
        order_version: r.int("order_version")?,
        occurred_at: parse_time(r.text("occurred_at")?)?,
        data: r.text("data")?.to_owned(),
    })
}
