//! A tenant's delivery settings: its default delivery address
//! (`tenants.contact_email`) and the public key delivery e-mails are
//! encrypted to (`tenants.delivery_key`). A tenant has a row only once an
//! operator set something, so both read as `None` without one.
//!
//! Also what guards who may send an order's credentials where: the order's
//! creator (from its audit trail), when an item was last re-delivered (a
//! re-delivery is rate-limited per item), and the tenant's own audit log of
//! delivery-settings changes.

use chrono::{DateTime, Utc};
use orderflow_core::{ItemId, OrderId, TenantId};
use serde::Serialize;

use crate::codec::parse_time;
use crate::db::{Db, Param};
use crate::error::StoreError;
use crate::orders::Store;

/// A tenant's delivery settings as stored (text, parsed by the caller).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantDelivery {
    /// Where an order's access details go when the order names no address.
    pub default_email: Option<String>,
    /// The age recipient (`age1…`) the e-mails are encrypted to, if any.
    pub key: Option<String>,
}

/// One change of a tenant's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantAuditRecord {
    /// `customer`, `operator` or `system`.
    pub actor: String,
    /// The caller's subject.
    pub subject: String,
    /// What was changed: `delivery`.
    pub setting: String,
    /// What changed, as JSON: each changed field's old and new value.
    pub change: serde_json::Value,
    /// When, RFC 3339 UTC.
    pub at: String,
}

impl<D: Db> Store<D> {
    /// The subject that created the order (its first audit record), if the
    /// order is the tenant's.
    pub fn order_creator(&self, tenant: &TenantId, id: OrderId) -> Result<Option<String>, StoreError> {
        let rows = self.in_tenant(tenant, |s| {
            s.run(
                "SELECT actor_subject FROM audit_log
                  WHERE tenant_id = $1 AND order_id = $2 AND command = 'create'
                  ORDER BY id LIMIT 1",
                &[tenant.as_str().into(), id.to_string().into()],
            )
        })?;
        Ok(rows
            .first()
            .map(|r| r.text("actor_subject"))
            .transpose()?
            .map(str::to_owned))
    }

    /// When the item's latest re-delivery was queued (re-delivery jobs have
    /// ids `<order>:redeliver:<uuid>`), if ever.
    pub fn last_redelivery_at(
        &self,
        tenant: &TenantId,
        order: OrderId,
        item: ItemId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let rows = self.in_tenant(tenant, |s| {
            s.run(
                "SELECT created_at FROM saga_jobs
                  WHERE tenant_id = $1 AND order_id = $2 AND item_id = $3 AND kind = 'deliver' AND id LIKE $4
                  ORDER BY created_at DESC LIMIT 1",
                &[
                    tenant.as_str().into(),
                    order.to_string().into(),
                    item.to_string().into(),
                    format!("{order}:redeliver:%").into(),
                ],
            )
        })?;
        rows.first().map(|r| parse_time(r.text("created_at")?)).transpose()
    }

    /// Appends a record of a change of the tenant's settings. Call inside
    /// [`Store::write`], with the change itself.
    pub fn insert_tenant_audit(
        &self,
        tenant: &TenantId,
        actor_role: &str,
        subject: &str,
        setting: &str,
        change: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.in_tenant(tenant, |s| {
            s.run(
                "INSERT INTO tenant_audit_log (tenant_id, actor_role, actor_subject, setting, change, at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    tenant.as_str().into(),
                    actor_role.into(),
                    subject.into(),
                    setting.into(),
                    Param::Text(change.to_string().into()),
                    at.into(),
                ],
            )
        })?;
        Ok(())
    }

    /// The tenant's settings changes, oldest first.
    pub fn tenant_audit(&self, tenant: &TenantId) -> Result<Vec<TenantAuditRecord>, StoreError> {
        let rows = self.in_tenant(tenant, |s| {
            s.run(
                "SELECT * FROM tenant_audit_log WHERE tenant_id = $1 ORDER BY id",
                &[tenant.as_str().into()],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(TenantAuditRecord {
                    actor: r.text("actor_role")?.to_owned(),
                    subject: r.text("actor_subject")?.to_owned(),
                    setting: r.text("setting")?.to_owned(),
                    change: serde_json::from_str(r.text("change")?)
                        .map_err(|e| StoreError::Corrupt(format!("tenant_audit_log.change: {e}")))?,
                    at: parse_time(r.text("at")?)?.to_rfc3339(),
                })
            })
            .collect()
    }

    /// The tenant's delivery settings.
    pub fn tenant_delivery(&self, tenant: &TenantId) -> Result<TenantDelivery, StoreError> {
        let rows = self.in_tenant(tenant, |s| {
            s.run(
                "SELECT contact_email, delivery_key FROM tenants WHERE id = $1",
                &[tenant.as_str().into()],
            )
        })?;
        let Some(row) = rows.first() else {
            return Ok(TenantDelivery::default());
        };
        Ok(TenantDelivery {
            default_email: row.opt_text("contact_email")?.map(str::to_owned),
            key: row.opt_text("delivery_key")?.map(str::to_owned),
        })
    }

    /// Replaces the tenant's delivery settings, creating its row if it has
    /// none. Call inside [`Store::write`].
    pub fn set_tenant_delivery(
        &self,
        tenant: &TenantId,
        settings: &TenantDelivery,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.in_tenant(tenant, |s| {
            s.run(
                "INSERT INTO tenants (id, name, created_at, contact_email, delivery_key)
                 VALUES ($1, $1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET contact_email = excluded.contact_email,
                                                delivery_key = excluded.delivery_key
                 RETURNING id",
                &[
                    tenant.as_str().into(),
                    now.into(),
                    settings.default_email.as_deref().into(),
                    settings.key.as_deref().into(),
                ],
            )
        })?;
        Ok(())
    }
}
