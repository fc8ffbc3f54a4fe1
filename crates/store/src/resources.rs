//! What the saga records of the cloud: each item's provider resource (so
//! a deprovisioning knows what to delete) and its access details, sealed
//! with the id of the key that sealed them (so keys rotate).

use chrono::{DateTime, Utc};
use orderflow_core::{ItemId, OrderId, TenantId};

use crate::db::{Db, Param};
use crate::error::StoreError;
use crate::orders::Store;

/// An item's credentials as stored: encrypted, with the id of the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedCredentials {
    /// Which key sealed them.
    pub key_id: String,
    /// The nonce used.
    pub nonce: Vec<u8>,
    /// The sealed bytes.
    pub ciphertext: Vec<u8>,
}

impl<D: Db> Store<D> {
    /// Records the provider resource created for an item (once).
    pub fn save_resource(
        &self,
        tenant: &TenantId,
        order: OrderId,
        item: ItemId,
        provider: &str,
        resource_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.in_tenant(tenant, |s| {
            s.run(
                "INSERT INTO item_resources (item_id, order_id, tenant_id, provider, resource_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (item_id) DO NOTHING",
                &[
                    item.to_string().into(),
                    order.to_string().into(),
                    tenant.as_str().into(),
                    provider.into(),
                    resource_id.into(),
                    Param::Time(now),
                ],
            )
        })?;
        Ok(())
    }

    /// The provider resource of an item, if one was created.
    pub fn resource_of(&self, tenant: &TenantId, item: ItemId) -> Result<Option<String>, StoreError> {
        let rows = self.in_tenant(tenant, |s| {
            s.run(
                "SELECT resource_id FROM item_resources WHERE tenant_id = $1 AND item_id = $2",
                &[tenant.as_str().into(), item.to_string().into()],
            )
        })?;
        Ok(rows
            .first()
            .map(|r| r.text("resource_id").map(str::to_owned))
            .transpose()?)
    }

    /// Stores an item's encrypted credentials (replacing older ones).
    #[allow(clippy::too_many_arguments)]
    pub fn save_credentials(
        &self,
        tenant: &TenantId,
        order: OrderId,
        item: ItemId,
        key_id: &str,
        nonce: &[u8],
        ciphertext: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.in_tenant(tenant, |s| {
            s.run(
                "INSERT INTO credentials (item_id, order_id, tenant_id, key_id, nonce, ciphertext, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (item_id) DO UPDATE SET key_id = excluded.key_id, nonce = excluded.nonce,
                 ciphertext = excluded.ciphertext, created_at = excluded.created_at",
                &[
                    item.to_string().into(),
                    order.to_string().into(),
                    tenant.as_str().into(),
                    key_id.into(),
                    Param::Blob(nonce.into()),
                    Param::Blob(ciphertext.into()),
                    Param::Time(now),
                ],
            )
        })?;
        Ok(())
    }

    /// An item's encrypted credentials.
    pub fn credentials_of(&self, tenant: &TenantId, item: ItemId) -> Result<Option<SealedCredentials>, StoreError> {
        let rows = self.in_tenant(tenant, |s| {
            s.run(
                "SELECT key_id, nonce, ciphertext FROM credentials WHERE tenant_id = $1 AND item_id = $2",
                &[tenant.as_str().into(), item.to_string().into()],
            )
        })?;
        rows.first()
            .map(|r| {
                Ok(SealedCredentials {
                    key_id: r.text("key_id")?.to_owned(),
                    nonce: r.opt_blob("nonce")?.unwrap_or_default().to_vec(),
                    ciphertext: r.opt_blob("ciphertext")?.unwrap_or_default().to_vec(),
                })
            })
            .transpose()
    }
}
