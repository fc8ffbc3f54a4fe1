//! Idempotency records: one row per `(tenant, principal, key)` — a key is
//! the caller's own, not shared with the rest of its tenant — claimed by inserting it
//! (the unique key makes concurrent duplicates wait for and see each other)
//! or, for an expired or abandoned record, by updating it under its row lock.
//!
//! The decision what to do with an existing record (replay, mismatch, still
//! in flight) is the HTTP shell's; the store only claims, completes and
//! releases rows, atomically.

use chrono::{DateTime, Duration, Utc};
use orderflow_core::TenantId;

use crate::codec::parse_time;
use crate::db::{Db, Param};
use crate::error::StoreError;
use crate::orders::Store;

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// Fingerprint of the request that claimed the key.
    pub fingerprint: String,
    /// The saved response, once the first request finished.
    pub response: Option<Vec<u8>>,
    /// When the key was claimed.
    pub created_at: DateTime<Utc>,
}

/// The outcome of claiming a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is ours: proceed, then complete or release it.
    Claimed,
    /// Someone holds it (in flight, or done with a saved response).
    Existing(IdempotencyRecord),
}

impl<D: Db> Store<D> {
    /// Claims `principal`'s `key` for a request with `fingerprint`. A record
    /// older than `ttl`, or an in-flight record older than `abandon_after`
    /// (its request died without finishing), is taken over.
    #[allow(clippy::too_many_arguments)]
    pub fn claim_key(
        &self,
        tenant: &TenantId,
        principal: &str,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
        ttl: Duration,
        abandon_after: Duration,
    ) -> Result<Claim, StoreError> {
        self.write(|s| {
            s.in_tenant(tenant, |s| {
                // Insert first: of concurrent claims of a new key exactly one
                // inserts (the others wait for it on the unique key, then see it).
                let inserted = s.run(
                    "INSERT INTO idempotency_keys (tenant_id, principal, idem_key, fingerprint, state, response, created_at)
                     VALUES ($1, $5, $2, $3, 'in_flight', NULL, $4)
                     ON CONFLICT (tenant_id, principal, idem_key) DO NOTHING
                     RETURNING idem_key",
                    &[tenant.as_str().into(), key.into(), fingerprint.into(), now.into(), principal.into()],
                )?;
                if !inserted.is_empty() {
                    return Ok(Claim::Claimed);
                }
                let rows = s.run(
                    "SELECT fingerprint, state, response, created_at FROM idempotency_keys
                      WHERE tenant_id = $1 AND principal = $3 AND idem_key = $2 FOR UPDATE",
                    &[tenant.as_str().into(), key.into(), principal.into()],
                )?;
                let r = rows
                    .first()
                    .ok_or_else(|| StoreError::Corrupt("idempotency key vanished".into()))?;
                let created_at = parse_time(r.text("created_at")?)?;
                let done = r.text("state")? == "done";
                let expired = now - created_at >= ttl;
                let abandoned = !done && now - created_at >= abandon_after;
                if !expired && !abandoned {
                    return Ok(Claim::Existing(IdempotencyRecord {
                        fingerprint: r.text("fingerprint")?.to_owned(),
                        response: r.opt_blob("response")?.map(<[u8]>::to_vec),
                        created_at,
                    }));
                }
                s.run(
                    "UPDATE idempotency_keys SET fingerprint = $3, state = 'in_flight', response = NULL, created_at = $4
                      WHERE tenant_id = $1 AND principal = $5 AND idem_key = $2",
                    &[tenant.as_str().into(), key.into(), fingerprint.into(), now.into(), principal.into()],
                )?;
                Ok(Claim::Claimed)
            })
        })
    }

    /// Saves the response of the request that claimed `key`. Call inside the
    /// transaction that commits the request's effects, so both or neither persist.
    pub fn complete_key(
        &self,
        tenant: &TenantId,
        principal: &str,
        key: &str,
        response: &[u8],
    ) -> Result<(), StoreError> {
        self.in_tenant(tenant, |s| {
            s.run(
                "UPDATE idempotency_keys SET state = 'done', response = $3
                  WHERE tenant_id = $1 AND principal = $4 AND idem_key = $2",
                &[
                    tenant.as_str().into(),
                    key.into(),
                    Param::Blob(response.into()),
                    principal.into(),
                ],
            )
        })?;
        Ok(())
    }

    /// Gives a claimed key back (the request failed in a way worth retrying).
    pub fn release_key(&self, tenant: &TenantId, principal: &str, key: &str) -> Result<(), StoreError> {
        self.in_tenant(tenant, |s| {
            s.run(
                "DELETE FROM idempotency_keys
                  WHERE tenant_id = $1 AND principal = $3 AND idem_key = $2 AND state = 'in_flight'",
                &[tenant.as_str().into(), key.into(), principal.into()],
            )
        })?;
        Ok(())
    }
}

impl<D: Db> Store<D> {
    /// Deletes at most `max_rows` idempotency records (of every tenant)
    /// created before `before`, oldest first; returns how many went. The
    /// tick calls it with `before` = now − 24 h, in bounded batches. On
    /// PostgreSQL the records are under row-level security, so the delete
    /// runs in `orderflow_purge_idempotency` (SECURITY DEFINER, migration 8).
    pub fn purge_idempotency_keys(&self, before: DateTime<Utc>, max_rows: u32) -> Result<u64, StoreError> {
        let rows = match self.db().dialect() {
            crate::db::Dialect::Sqlite => self.write(|s| {
                s.run(
                    "DELETE FROM idempotency_keys
                      WHERE (tenant_id, principal, idem_key) IN (
                            SELECT tenant_id, principal, idem_key FROM idempotency_keys
                             WHERE created_at < $1 ORDER BY created_at LIMIT $2)
                     RETURNING 1 AS gone",
                    &[before.into(), Param::Int(i64::from(max_rows))],
                )
                .map(|r| r.len())
            })?,
            crate::db::Dialect::Postgres => {
                let r = self.run(
                    "SELECT orderflow_purge_idempotency($1, $2) AS gone",
                    &[before.into(), Param::Int(i64::from(max_rows))],
                )?;
                let n = r.first().map(|r| r.int("gone")).transpose()?.unwrap_or(0);
                usize::try_from(n).unwrap_or(0)
            }
        };
        Ok(rows as u64)
    }

    /// Deletes at most `max_rows` processed-webhook records received before
    /// `before`, oldest first; returns how many went. Not tenant data (a
    /// webhook names its order only after the lookup), so no row-level
    /// security is involved.
    pub fn purge_webhook_events(&self, before: DateTime<Utc>, max_rows: u32) -> Result<u64, StoreError> {
        let delete = "DELETE FROM webhook_events
                       WHERE (provider, event_id) IN (
                             SELECT provider, event_id FROM webhook_events
                              WHERE received_at < $1 ORDER BY received_at LIMIT $2)
                      RETURNING 1 AS gone";
        let params = [before.into(), Param::Int(i64::from(max_rows))];
        let gone = self.write(|s| s.run(delete, &params).map(|r| r.len()))?;
        Ok(gone as u64)
    }
}
