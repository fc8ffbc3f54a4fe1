//! Refunds (migration 10): recorded in the transaction of the decision that
//! requests them, moved by the saga's `refund` job and the provider's
//! webhook, each write guarded by the refund's version.
//!
//! The database bounds them too (a CHECK per row, a trigger per payment:
//! never more refunded than paid), so even a bug in the domain cannot
//! record a refund above what was paid; amounts are kept in cents beside
//! the decimal so the database compares exact integers.

use chrono::{DateTime, Utc};
use orderflow_core::{
    Currency, Effect, Money, NewJob, OrderId, PlannedRefund, Refund, RefundChange, RefundId, RefundState, TenantId,
};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::codec::{parse, parse_decimal, parse_time};
use crate::db::{Db, Param, Row};
use crate::error::StoreError;
use crate::orders::Store;

/// An amount in cents, exact (money is kept in cents already).
fn cents(m: Money) -> Result<i64, StoreError> {
    let c = m.amount * Decimal::from(100);
    if !c.fract().is_zero() {
        return Err(StoreError::Corrupt(format!("{m} is finer than a cent")));
    }
    c.to_i64()
        .ok_or_else(|| StoreError::Corrupt(format!("{m} does not fit in cents")))
}

impl<D: Db> Store<D> {
    /// Records the refunds among a decision's effects, as requested. Called
    /// by [`Store::apply`] inside the decision's transaction and tenant. A
    /// refund id names what is refunded, so one already recorded is the
    /// same refund decided again (a provider event delivered twice): it is
    /// left as it is, not inserted twice (the insert would fail, and the
    /// provider would retry the event for days).
    pub(crate) fn insert_refunds(
        &self,
        tenant: &TenantId,
        order: OrderId,
        effects: &[Effect],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for effect in effects {
            if let Effect::Refund(planned) = effect {
                if self.refund(tenant, &planned.id)?.is_some() {
                    continue;
                }
                let refund = Refund::requested(tenant.clone(), order, planned.clone(), now);
                self.insert_refund(&refund)?;
            }
        }
        Ok(())
    }

    fn insert_refund(&self, r: &Refund) -> Result<(), StoreError> {
        let p = &r.planned;
        self.run(
            "INSERT INTO refunds (id, tenant_id, order_id, item_id, scope, reason, amount, currency, amount_cents,
                                  cap_cents, paid_cents, payment_reference, state, version, requested_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)",
            &[
                p.id.as_str().into(),
                r.tenant.as_str().into(),
                r.order.to_string().into(),
                p.item.map(|i| i.to_string()).into(),
                p.scope.as_str().into(),
                p.reason.as_str().into(),
                p.amount.amount.into(),
                p.amount.currency.code().into(),
                Param::Int(cents(p.amount)?),
                Param::Int(cents(p.cap)?),
                Param::Int(cents(p.paid)?),
                p.payment_reference.as_str().into(),
                r.state.as_str().into(),
                Param::Int(r.version),
                Param::Time(r.requested_at),
            ],
        )?;
        Ok(())
    }

    /// Records a refund decided outside an order decision (a late payment
    /// of an ended subscription), with its `billing.refund-requested` and
    /// the job that executes it. A refund already recorded is left alone,
    /// so a replay requests nothing twice. Call inside [`Store::write`].
    pub fn request_refund(&self, refund: &Refund, job: &NewJob) -> Result<bool, StoreError> {
        self.in_tenant(&refund.tenant, |s| {
            if s.refund(&refund.tenant, &refund.planned.id)?.is_some() {
                return Ok(false);
            }
            s.insert_refund(refund)?;
            s.insert_events(&[refund.requested_event()])?;
            s.insert_jobs(&refund.tenant, std::slice::from_ref(job), refund.requested_at)?;
            Ok(true)
        })
    }

    /// The tenant's refund `id`.
    pub fn refund(&self, tenant: &TenantId, id: &RefundId) -> Result<Option<Refund>, StoreError> {
        self.in_tenant(tenant, |s| {
            let rows = s.run(
                "SELECT * FROM refunds WHERE tenant_id = $1 AND id = $2",
                &[tenant.as_str().into(), id.as_str().into()],
            )?;
            rows.first().map(|r| refund_from_row(&r)).transpose()
        })
    }

    /// An order's refunds, oldest first.
    pub fn refunds_of(&self, tenant: &TenantId, order: OrderId) -> Result<Vec<Refund>, StoreError> {
        self.in_tenant(tenant, |s| {
            let rows = s.run(
                "SELECT * FROM refunds WHERE tenant_id = $1 AND order_id = $2 ORDER BY requested_at, id",
                &[tenant.as_str().into(), order.to_string().into()],
            )?;
            rows.iter().map(|r| refund_from_row(&r)).collect()
        })
    }

    /// Writes a refund's change (state, provider id) and its events, if
    /// nobody changed the refund since it was read. Call inside
    /// [`Store::write`].
    pub fn apply_refund_change(&self, expected_version: i64, change: &RefundChange) -> Result<(), StoreError> {
        let r = &change.refund;
        self.in_tenant(&r.tenant, |s| {
            let updated = s.run(
                "UPDATE refunds SET state = $1, provider = $2, provider_refund_id = $3, failure_reason = $4,
                        version = $5, updated_at = $6
                  WHERE tenant_id = $7 AND id = $8 AND version = $9
                 RETURNING version",
                &[
                    r.state.as_str().into(),
                    r.provider.as_deref().into(),
                    r.provider_refund_id.as_deref().into(),
                    r.failure_reason.as_deref().into(),
                    Param::Int(r.version),
                    Param::Time(r.updated_at),
                    r.tenant.as_str().into(),
                    r.planned.id.as_str().into(),
                    Param::Int(expected_version),
                ],
            )?;
            if updated.is_empty() {
                return Err(StoreError::VersionConflict {
                    expected: expected_version,
                });
            }
            s.insert_events(&change.events)
        })
    }
}

fn refund_from_row(r: &Row<'_>) -> Result<Refund, StoreError> {
    let currency =
        Currency::from_code(r.text("currency")?).ok_or_else(|| StoreError::Corrupt("refund currency".into()))?;
    let from_cents = |col: &str| -> Result<Money, StoreError> {
        Ok(Money {
            amount: Decimal::new(r.int(col)?, 2),
            currency,
        })
    };
    Ok(Refund {
        planned: PlannedRefund {
            id: RefundId::stored(r.text("id")?),
            scope: parse("refund scope", r.text("scope")?)?,
            item: r.opt_text("item_id")?.map(|s| parse("item id", s)).transpose()?,
            amount: Money {
                amount: parse_decimal(r.text("amount")?)?,
                currency,
            },
            cap: from_cents("cap_cents")?,
            payment_reference: r.text("payment_reference")?.to_owned(),
            paid: from_cents("paid_cents")?,
            reason: r.text("reason")?.to_owned(),
        },
        tenant: parse("tenant id", r.text("tenant_id")?)?,
        order: parse("order id", r.text("order_id")?)?,
        state: parse::<RefundState>("refund state", r.text("state")?)?,
        provider: r.opt_text("provider")?.map(str::to_owned),
        provider_refund_id: r.opt_text("provider_refund_id")?.map(str::to_owned),
        failure_reason: r.opt_text("failure_reason")?.map(str::to_owned),
        version: r.int("version")?,
        requested_at: parse_time(r.text("requested_at")?)?,
        updated_at: parse_time(r.text("updated_at")?)?,
    })
}
