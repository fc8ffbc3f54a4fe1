//! Retention: what the periodic tick removes or masks once no one needs it,
//! a bounded batch at a time (oldest first), so a purge never holds the
//! write lock for long. Idempotency records and webhook events have theirs
//! in `idempotency.rs`; the audit logs, payments and refunds are kept.
//!
//! On PostgreSQL the rows are tenant data under row-level security and a
//! purge crosses tenants, so each is a `SECURITY DEFINER` function of
//! migration 13 that the application role may only execute; on SQLite the
//! same statement runs directly.

use chrono::{DateTime, Utc};

use crate::db::{Db, Dialect, Param};
use crate::error::StoreError;
use crate::orders::Store;

impl<D: Db> Store<D> {
    /// Runs one bounded purge: `sqlite` (returning one row per row touched)
    /// or the PostgreSQL function `function` (returning the count).
    fn purge(&self, sqlite: &str, function: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        let n = match self.db().dialect() {
            Dialect::Sqlite => self.write(|s| s.run(sqlite, params).map(|r| r.len()))?,
            Dialect::Postgres => {
                let r = self.run(function, params)?;
                let n = r.first().map(|r| r.int("gone")).transpose()?.unwrap_or(0);
                usize::try_from(n).unwrap_or(0)
            }
        };
        Ok(n as u64)
    }

    /// Deletes at most `max_rows` outbox rows the relay published before
    /// `before`; unpublished rows are never touched.
    pub fn purge_published_outbox(&self, before: DateTime<Utc>, max_rows: u32) -> Result<u64, StoreError> {
        self.purge(
            "DELETE FROM outbox WHERE seq IN (
                 SELECT seq FROM outbox WHERE published_at IS NOT NULL AND published_at < $1
                  ORDER BY published_at LIMIT $2)
             RETURNING 1 AS gone",
            "SELECT orderflow_purge_outbox($1, $2) AS gone",
            &[before.into(), Param::Int(i64::from(max_rows))],
        )
    }

    /// Deletes at most `max_rows` saga jobs that finished (`done`) before
    /// `before`; pending, running and parked jobs are never touched.
    pub fn purge_finished_jobs(&self, before: DateTime<Utc>, max_rows: u32) -> Result<u64, StoreError> {
        self.purge(
            "DELETE FROM saga_jobs WHERE id IN (
                 SELECT id FROM saga_jobs WHERE state = 'done' AND updated_at < $1
                  ORDER BY updated_at LIMIT $2)
             RETURNING 1 AS gone",
            "SELECT orderflow_purge_jobs($1, $2) AS gone",
            &[before.into(), Param::Int(i64::from(max_rows))],
        )
    }

    /// Deletes at most `max_rows` sealed credentials of items whose resource
    /// is gone (rolled back, or its deprovisioning done): nothing can use
    /// them any more, and kept they would stay decryptable.
    pub fn purge_released_credentials(&self, max_rows: u32) -> Result<u64, StoreError> {
        self.purge(
            "DELETE FROM credentials WHERE item_id IN (
                 SELECT c.item_id FROM credentials c JOIN order_items i ON i.id = c.item_id
                  WHERE i.state = 'rolled_back'
                     OR EXISTS (SELECT 1 FROM saga_jobs j
                                 WHERE j.item_id = c.item_id AND j.kind = 'deprovision' AND j.state = 'done')
                  ORDER BY c.created_at LIMIT $1)
             RETURNING 1 AS gone",
            "SELECT orderflow_purge_credentials($1) AS gone",
            &[Param::Int(i64::from(max_rows))],
        )
    }

    /// Masks the delivery address (`j***@example.com`, as responses show
    /// it) of at most `max_rows` orders cancelled before `before`: personal
    /// data kept no longer than needed.
    pub fn mask_cancelled_addresses(&self, before: DateTime<Utc>, max_rows: u32) -> Result<u64, StoreError> {
        self.purge(
            "UPDATE orders
                SET delivery_email = substr(delivery_email, 1, 1) || '***@'
                                     || substr(delivery_email, instr(delivery_email, '@') + 1)
              WHERE id IN (
                 SELECT id FROM orders
                  WHERE state = 'cancelled' AND updated_at < $1
                    AND delivery_email IS NOT NULL AND delivery_email NOT LIKE '%***@%'
                  ORDER BY updated_at LIMIT $2)
             RETURNING 1 AS gone",
            "SELECT orderflow_mask_cancelled_addresses($1, $2) AS gone",
            &[before.into(), Param::Int(i64::from(max_rows))],
        )
    }
}
