//! What the database keeps, and for how long: idempotency records for the
//! 24 hours in which a key replays its first response, processed webhook
//! events for as long as the provider may still deliver the event again,
//! published outbox rows and finished saga jobs for their windows
//! ([`Windows`]), an item's sealed credentials until its resource is gone,
//! and a cancelled order's delivery address (masked after its window). The
//! audit logs, payments and refunds are kept. The periodic tick purges, a
//! bounded batch of each kind per tick, so the purge never holds the write
//! lock for long.

use chrono::{DateTime, Duration, Utc};
use orderflow_http::RECORD_TTL_SECS;
use orderflow_store::{Db, Store, StoreError};

/// How long a processed webhook event is remembered for deduplication: a
/// provider redelivers an event (freshly signed, so the timestamp check
/// passes) for up to three days; a week covers that with margin.
pub fn webhook_dedup_window() -> Duration {
    Duration::days(7)
}

/// How long what is past its use is kept (the Spin variables
/// `retention_outbox_days`, `retention_jobs_days`,
/// `retention_cancelled_days`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// A published outbox row (consumers re-read Kafka, not the outbox).
    pub outbox: Duration,
    /// A finished (`done`) saga job.
    pub jobs: Duration,
    /// A cancelled order's full delivery address (then masked).
    pub cancelled_address: Duration,
}

impl Default for Windows {
    /// 7 days, 30 days, 30 days.
    fn default() -> Self {
        Self {
            outbox: Duration::days(7),
            jobs: Duration::days(30),
            cancelled_address: Duration::days(30),
        }
    }
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
    /// Published outbox rows past [`Windows::outbox`].
    pub outbox: u64,
    /// Finished saga jobs past [`Windows::jobs`].
    pub jobs: u64,
    /// Sealed credentials of items whose resource is gone.
    pub credentials: u64,
    /// Delivery addresses of orders cancelled before [`Windows::cancelled_address`], masked.
    pub masked_addresses: u64,
}

/// Deletes one batch of each kind of expired record.
pub fn purge_expired<D: Db>(store: &Store<D>, now: DateTime<Utc>, windows: Windows) -> Result<Purged, StoreError> {
    Ok(Purged {
        idempotency_keys: store.purge_idempotency_keys(now - Duration::seconds(RECORD_TTL_SECS), PURGE_BATCH)?,
        webhook_events: store.purge_webhook_events(now - webhook_dedup_window(), PURGE_BATCH)?,
        outbox: store.purge_published_outbox(now - windows.outbox, PURGE_BATCH)?,
        jobs: store.purge_finished_jobs(now - windows.jobs, PURGE_BATCH)?,
        credentials: store.purge_released_credentials(PURGE_BATCH)?,
        masked_addresses: store.mask_cancelled_addresses(now - windows.cancelled_address, PURGE_BATCH)?,
    })
}
