//! What the saga records of the payment provider: the payment intent each
//! order is paid through (and, across tenants, whose order an intent pays),
//! and the webhook events already processed (de-duplication by event id, in
//! the transaction that applies the event).

use chrono::{DateTime, Utc};
use orderflow_core::{OrderId, TenantId};

use crate::codec::parse;
use crate::db::{Db, Dialect, Param};
use crate::error::StoreError;
use crate::orders::Store;

impl<D: Db> Store<D> {
    /// Records the payment intent created for an order (once).
    pub fn save_payment_intent(
        &self,
        tenant: &TenantId,
        order: OrderId,
        provider: &str,
        intent_id: &str,
        amount: &orderflow_core::Money,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.in_tenant(tenant, |s| {
            s.run(
                "INSERT INTO payment_intents (order_id, tenant_id, provider, intent_id, amount, currency, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (order_id) DO NOTHING",
                &[
                    order.to_string().into(),
                    tenant.as_str().into(),
                    provider.into(),
                    intent_id.into(),
                    Param::Decimal(amount.amount),
                    amount.currency.code().into(),
                    Param::Time(now),
                ],
            )
        })?;
        Ok(())
    }

    /// The order's payment intent id, if one was created.
    pub fn payment_intent_of(&self, tenant: &TenantId, order: OrderId) -> Result<Option<String>, StoreError> {
        let rows = self.in_tenant(tenant, |s| {
            s.run(
                "SELECT intent_id FROM payment_intents WHERE tenant_id = $1 AND order_id = $2",
                &[tenant.as_str().into(), order.to_string().into()],
            )
        })?;
        Ok(rows
            .first()
            .map(|r| r.text("intent_id").map(str::to_owned))
            .transpose()?)
    }

    /// The order and tenant a payment intent belongs to. Webhooks arrive
    /// without a tenant credential; the intent id is what identifies them.
    /// On PostgreSQL the answer comes from `orderflow_intent_owner`, which
    /// returns only these two ids; the caller then works in that tenant.
    pub fn order_of_intent(&self, intent_id: &str) -> Result<Option<(TenantId, OrderId)>, StoreError> {
        let sql = match self.db().dialect() {
            Dialect::Sqlite => "SELECT tenant_id, order_id FROM payment_intents WHERE intent_id = $1",
            Dialect::Postgres => "SELECT tenant_id, order_id FROM orderflow_intent_owner($1)",
        };
        let rows = self.run(sql, &[intent_id.into()])?;
        rows.first()
            .map(|r| {
                Ok((
                    parse("tenant id", r.text("tenant_id")?)?,
                    parse("order id", r.text("order_id")?)?,
                ))
            })
            .transpose()
    }

    /// Records that `event_id` from `provider` was processed. `false` when it
    /// already was: the caller acknowledges and does nothing. Call inside the
    /// [`Store::write`] that applies the event, so both or neither persist.
    pub fn record_webhook(
        &self,
        provider: &str,
        event_id: &str,
        event_type: &str,
        order: Option<OrderId>,
        outcome: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let rows = self.run(
            "INSERT INTO webhook_events (provider, event_id, event_type, order_id, outcome, received_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (provider, event_id) DO NOTHING
             RETURNING event_id",
            &[
                provider.into(),
                event_id.into(),
                event_type.into(),
                order.map(|o| o.to_string()).into(),
                outcome.into(),
                Param::Time(now),
            ],
        )?;
        Ok(!rows.is_empty())
    }
}
