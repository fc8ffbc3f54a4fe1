//! What a tenant's analytics are computed from: order counts per creation
//! period and per state, submissions and conversions, counted in SQL; and
//! the confirmed payments with what was refunded of each (confirmed by the
//! payment provider, or still on its way: the `refunds` table), read as exact
//! decimals and summed by the caller (SQLite keeps money as text, and its
//! `SUM` would turn it into a float).
//!
//! Every statement is tenant-scoped and runs inside one [`Store::snapshot`], so
//! on PostgreSQL row-level security applies as well.

use chrono::{DateTime, Utc};
use orderflow_core::{Currency, Money, OrderState, Payment, RefundState, TenantId};
use rust_decimal::Decimal;

use crate::codec::{parse, parse_decimal};
use crate::db::{Db, Param};
use crate::error::StoreError;
use crate::orders::Store;

/// One paid order's money: what the provider confirmed, how much of it the
/// provider has refunded since, and how much is requested but not yet
/// confirmed refunded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaidOrder {
    /// The confirmed payment's amount.
    pub paid: Money,
    /// Refunds of the payment the provider confirmed (`refunded`).
    pub refunded: Money,
    /// Refunds requested and not yet confirmed or failed: the domain's
    /// requested total less the confirmed and the failed ones (a refund
    /// requested before refunds were executed at the provider stays here).
    pub refund_pending: Money,
}

/// A tenant's orders, counted and read for analytics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyticsRows {
    /// For each `since` asked for, in the same order: orders created at or
    /// after it and at or before `until`.
    pub created_since: Vec<u64>,
    /// How many orders are in each state (states with none are absent).
    pub by_state: Vec<(OrderState, u64)>,
    /// Orders ever submitted (those with a submission time).
    pub submitted: u64,
    /// Of those, how many are now fulfilled or partially fulfilled.
    pub converted: u64,
    /// Every order with a confirmed payment on record, oldest first. A
    /// payment an operator reverted is no longer on record.
    pub paid: Vec<PaidOrder>,
}

fn count(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative count {n}")))
}

impl<D: Db> Store<D> {
    /// The tenant's analytics rows as of `until`: soft-deleted (cancelled)
    /// orders included, since they were created and may have been paid.
    pub fn analytics_rows(
        &self,
        tenant: &TenantId,
        since: &[DateTime<Utc>],
        until: DateTime<Utc>,
    ) -> Result<AnalyticsRows, StoreError> {
        // One snapshot: the figures never mix states before and after a commit.
        self.snapshot(tenant, |s| {
            let mut created_since = Vec::with_capacity(since.len());
            for at in since {
                let rows = s.run(
                    "SELECT count(*) AS n FROM orders WHERE tenant_id = $1 AND created_at >= $2 AND created_at <= $3",
                    &[tenant.as_str().into(), Param::Time(*at), Param::Time(until)],
                )?;
                created_since.push(count(rows.first().map_or(Ok(0), |r| r.int("n"))?)?);
            }

            let rows = s.run(
                "SELECT state, count(*) AS n FROM orders WHERE tenant_id = $1 GROUP BY state ORDER BY state",
                &[tenant.as_str().into()],
            )?;
            let by_state = rows
                .iter()
                .map(|r| Ok((parse("order state", r.text("state")?)?, count(r.int("n")?)?)))
                .collect::<Result<Vec<_>, StoreError>>()?;

            let rows = s.run(
                "SELECT count(*) AS submitted,
                        count(CASE WHEN state IN ('fulfilled', 'partially_fulfilled') THEN 1 END) AS converted
                   FROM orders WHERE tenant_id = $1 AND submitted_at IS NOT NULL",
                &[tenant.as_str().into()],
            )?;
            let (submitted, converted) = match rows.first() {
                Some(r) => (count(r.int("submitted")?)?, count(r.int("converted")?)?),
                None => (0, 0),
            };

            // (order, payment, state, amount) of every refund of the tenant.
            let refund_rows = s.run(
                "SELECT order_id, payment_reference, state, amount FROM refunds WHERE tenant_id = $1",
                &[tenant.as_str().into()],
            )?;
            let mut refunds: Vec<(String, String, RefundState, Decimal)> = Vec::with_capacity(refund_rows.len());
            for r in refund_rows.iter() {
                refunds.push((
                    r.text("order_id")?.to_owned(),
                    r.text("payment_reference")?.to_owned(),
                    parse("refund state", r.text("state")?)?,
                    parse_decimal(r.text("amount")?)?,
                ));
            }
            let rows = s.run(
                "SELECT id, payment, refunded, currency FROM orders
                  WHERE tenant_id = $1 AND payment IS NOT NULL
                  ORDER BY created_at, id",
                &[tenant.as_str().into()],
            )?;
            let paid = rows
                .iter()
                .map(|r| {
                    let payment: Payment = serde_json::from_str(r.text("payment")?)?;
                    let currency = Currency::from_code(r.text("currency")?)
                        .ok_or_else(|| StoreError::Corrupt("currency".into()))?;
                    let id = r.text("id")?;
                    let requested = parse_decimal(r.text("refunded")?)?;
                    let sum = |state: RefundState| -> Decimal {
                        refunds
                            .iter()
                            .filter(|(o, p, s, _)| o == id && *p == payment.reference && *s == state)
                            .map(|(_, _, _, a)| *a)
                            .sum()
                    };
                    let (confirmed, failed) = (sum(RefundState::Refunded), sum(RefundState::Failed));
                    let pending = (requested - confirmed - failed).max(Decimal::ZERO);
                    Ok(PaidOrder {
                        paid: payment.amount,
                        refunded: Money {
                            amount: confirmed,
                            currency,
                        },
                        refund_pending: Money {
                            amount: pending,
                            currency,
                        },
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;

            Ok(AnalyticsRows {
                created_since,
                by_state,
                submitted,
                converted,
                paid,
            })
        })
    }
}
