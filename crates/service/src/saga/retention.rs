//! What the database keeps, and for how long: idempotency records for the
//! 24 hours in which a key replays its first response, processed webhook
//! events for as long as the provider may still deliver the event again.
//! The periodic tick purges older ones, a bounded batch per tick, so the
//! purge never holds the write lock for long.

use chrono::{DateTime, Duration, Utc};
use orderflow_http::RECORD_TTL_SECS;
use orderflow_store::{Db, Store, StoreError};

/// How long a processed webhook event is remembered for deduplication: a
/// provider redelivers an event (freshly signed, so the timestamp check
/// passes) for up to three days; a week covers that with margin.
pub fn webhook_dedup_window() -> Duration {
    Duration::days(7)
}

/// How many records of each kind one tick deletes at most.
pub const PURGE_BATCH: u32 = 500;

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Purged {
    /// Idempotency records older than 24 hours.
    pub idempotency_keys: u64,
    /// Webhook dedup records older than [`webhook_dedup_window`].
    pub webhook_events: u64,
}

/// Deletes one batch of each kind of expired record.
pub fn purge_expired<D: Db>(store: &Store<D>, now: DateTime<Utc>) -> Result<Purged, StoreError> {
    Ok(Purged {
        idempotency_keys: store.purge_idempotency_keys(now - Duration::seconds(RECORD_TTL_SECS), PURGE_BATCH)?,
        webhook_events: store.purge_webhook_events(now - webhook_dedup_window(), PURGE_BATCH)?,
    })
}
