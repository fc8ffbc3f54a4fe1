//! A tenant's delivery settings: its default delivery address
//! (`tenants.contact_email`) and the public key delivery e-mails are
//! encrypted to (`tenants.delivery_key`). A tenant has a row only once an
//! operator set something, so both read as `None` without one.

use chrono::{DateTime, Utc};
use orderflow_core::TenantId;

use crate::db::Db;
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

impl<D: Db> Store<D> {
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
