//! Subscriptions and their renewals (SPEC §10).
//!
//! A subscription is written with its outbox events in one transaction,
//! guarded by its version like an order. The renewal component claims due
//! subscriptions under a lease (`lease_until`), so two runs at once do not
//! work on one subscription, and a run that dies loses its claim when the
//! lease ends. A renewal row per (subscription, period) is unique in the
//! database: however often the renewal of a period is started, there is one
//! row, one payment intent and one charge.
//!
//! On PostgreSQL the two cross-tenant questions — which subscriptions are
//! due, whose renewal a payment intent pays — go through SECURITY DEFINER
//! functions (migration 5) that return only ids; the work runs in the tenant.

use chrono::{DateTime, Duration, Utc};
use orderflow_core::{
    Currency, ItemId, Money, RenewalState, Subscription, SubscriptionChange, SubscriptionId, TenantId,
};

use crate::codec::{parse, parse_decimal, parse_time};
use crate::db::{Db, Dialect, Param, Row};
use crate::error::StoreError;
use crate::orders::Store;

/// The renewal of one period of a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewal {
    /// Stable id: `<subscription>:<period>`.
    pub id: String,
    /// Whose subscription.
    pub tenant: TenantId,
    /// The subscription.
    pub subscription: SubscriptionId,
    /// The period it pays for.
    pub period: u32,
    /// What it charges (the subscription's price).
    pub amount: Money,
    /// Where it is.
    pub state: RenewalState,
    /// Charge attempts so far.
    pub attempts: u32,
    /// The payment intent at the provider, once created.
    pub intent_id: Option<String>,
    /// The last decline or error.
    pub last_error: Option<String>,
    /// When the webhook confirmed it.
    pub paid_at: Option<DateTime<Utc>>,
}

fn flag(r: &Row<'_>, column: &str) -> Result<bool, StoreError> {
    Ok(r.int(column)? != 0)
}

fn subscription_from_row(r: &Row<'_>) -> Result<Subscription, StoreError> {
    let currency = Currency::from_code(r.text("currency")?).ok_or_else(|| StoreError::Corrupt("currency".into()))?;
    let count = |c: &str| -> Result<u32, StoreError> {
        u32::try_from(r.int(c)?).map_err(|_| StoreError::Corrupt(format!("{c} out of range")))
    };
    Ok(Subscription {
        id: parse("subscription id", r.text("id")?)?,
        tenant: parse("tenant id", r.text("tenant_id")?)?,
        order: parse("order id", r.text("order_id")?)?,
        item: parse("item id", r.text("item_id")?)?,
        product: parse("product", r.text("product")?)?,
        billing_cycle: parse("billing cycle", r.text("billing_cycle")?)?,
        price: Money {
            amount: parse_decimal(r.text("price")?)?,
            currency,
        },
        status: parse("subscription status", r.text("status")?)?,
        anchor: parse_time(r.text("anchor_at")?)?,
        period: count("period_number")?,
        current_period_start: parse_time(r.text("current_period_start")?)?,
        current_period_end: parse_time(r.text("current_period_end")?)?,
        renewal_lead_secs: r.int("renewal_lead_secs")?,
        cancel_at_period_end: flag(r, "cancel_at_period_end")?,
        renewal_failures: count("renewal_failures")?,
        next_renewal_at: r.opt_text("next_renewal_at")?.map(parse_time).transpose()?,
        awaiting_payment: flag(r, "awaiting_payment")?,
        service_suspended: flag(r, "service_suspended")?,
        version: r.int("version")?,
        created_at: parse_time(r.text("created_at")?)?,
        updated_at: parse_time(r.text("updated_at")?)?,
    })
}

fn renewal_from_row(r: &Row<'_>) -> Result<Renewal, StoreError> {
    let currency = Currency::from_code(r.text("currency")?).ok_or_else(|| StoreError::Corrupt("currency".into()))?;
    Ok(Renewal {
        id: r.text("id")?.to_owned(),
        tenant: parse("tenant id", r.text("tenant_id")?)?,
        subscription: parse("subscription id", r.text("subscription_id")?)?,
        period: u32::try_from(r.int("period_number")?).map_err(|_| StoreError::Corrupt("period".into()))?,
        amount: Money {
            amount: parse_decimal(r.text("amount")?)?,
            currency,
        },
        state: parse("renewal state", r.text("state")?)?,
        attempts: u32::try_from(r.int("attempts")?).unwrap_or(u32::MAX),
        intent_id: r.opt_text("intent_id")?.map(str::to_owned),
        last_error: r.opt_text("last_error")?.map(str::to_owned),
        paid_at: r.opt_text("paid_at")?.map(parse_time).transpose()?,
    })
}

impl<D: Db> Store<D> {
    /// Starts `subscription` (an item just became active) with its
    /// `subscription.started` event; `false` when the item already has one,
    /// which is left alone. Call inside the [`Store::write`] that activates the item.
    pub fn start_subscription(&self, subscription: &Subscription) -> Result<bool, StoreError> {
        let s = subscription;
        self.in_tenant(&s.tenant, |st| {
            let inserted = st.run(
                "INSERT INTO subscriptions (id, tenant_id, order_id, item_id, product, billing_cycle, price, currency,
                                            status, anchor_at, period_number, current_period_start, current_period_end,
                                            renewal_lead_secs, cancel_at_period_end, renewal_failures, next_renewal_at, awaiting_payment,
                                            service_suspended, next_action_at, lease_until, version, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $23, $14, $15, $16, $17, $18, $19,
                         NULL, $20, $21, $22)
                 ON CONFLICT (item_id) DO NOTHING
                 RETURNING id",
                &[
                    s.id.to_string().into(),
                    s.tenant.as_str().into(),
                    s.order.to_string().into(),
                    s.item.to_string().into(),
                    s.product.as_str().into(),
                    s.billing_cycle.as_str().into(),
                    Param::Decimal(s.price.amount),
                    s.price.currency.code().into(),
                    s.status.as_str().into(),
                    Param::Time(s.anchor),
                    Param::Int(i64::from(s.period)),
                    Param::Time(s.current_period_start),
                    Param::Time(s.current_period_end),
                    s.cancel_at_period_end.into(),
                    Param::Int(i64::from(s.renewal_failures)),
                    s.next_renewal_at.into(),
                    s.awaiting_payment.into(),
                    s.service_suspended.into(),
                    s.next_action_at().into(),
                    Param::Int(s.version),
                    Param::Time(s.created_at),
                    Param::Time(s.updated_at),
                    Param::Int(s.renewal_lead_secs),
                ],
            )?;
            if inserted.is_empty() {
                return Ok(false);
            }
            st.insert_events(&[s.started_event()])?;
            Ok(true)
        })
    }

    /// The tenant's subscription `id`, or `None` (also when another tenant's).
    pub fn subscription(&self, tenant: &TenantId, id: SubscriptionId) -> Result<Option<Subscription>, StoreError> {
        let rows = self.in_tenant(tenant, |s| {
            s.run(
                "SELECT * FROM subscriptions WHERE tenant_id = $1 AND id = $2",
                &[tenant.as_str().into(), id.to_string().into()],
            )
        })?;
        rows.first().map(|r| subscription_from_row(&r)).transpose()
    }

    /// The subscription an item started, if any.
    pub fn subscription_of_item(&self, tenant: &TenantId, item: ItemId) -> Result<Option<Subscription>, StoreError> {
        let rows = self.in_tenant(tenant, |s| {
            s.run(
                "SELECT * FROM subscriptions WHERE tenant_id = $1 AND item_id = $2",
                &[tenant.as_str().into(), item.to_string().into()],
            )
        })?;
        rows.first().map(|r| subscription_from_row(&r)).transpose()
    }

    /// The tenant's subscriptions, newest first, after the `(created_at, id)`
    /// cursor if given, at most `limit`.
    pub fn list_subscriptions(
        &self,
        tenant: &TenantId,
        after: Option<(DateTime<Utc>, SubscriptionId)>,
        limit: u32,
    ) -> Result<Vec<Subscription>, StoreError> {
        let (after_time, after_id) = match &after {
            Some((t, id)) => (Param::Time(*t), Param::from(id.to_string())),
            None => (Param::Null, Param::Null),
        };
        let rows = self.in_tenant(tenant, |s| {
            s.run(
                "SELECT * FROM subscriptions
                  WHERE tenant_id = $1
                    AND (NOT $2 OR created_at < $3 OR (created_at = $3 AND id < $4))
                  ORDER BY created_at DESC, id DESC
                  LIMIT $5",
                &[
                    tenant.as_str().into(),
                    Param::Bool(after.is_some()),
                    after_time.clone(),
                    after_id.clone(),
                    Param::Int(i64::from(limit)),
                ],
            )
        })?;
        rows.iter().map(|r| subscription_from_row(&r)).collect()
    }

    /// Writes a decided change: the subscription (only if still at
    /// `expected_version`, else [`StoreError::VersionConflict`]) and its
    /// outbox events. Call inside [`Store::write`].
    pub fn apply_subscription(&self, expected_version: i64, change: &SubscriptionChange) -> Result<(), StoreError> {
        let s = &change.subscription;
        self.in_tenant(&s.tenant, |st| {
            let updated = st.run(
                "UPDATE subscriptions
                    SET status = $1, period_number = $2, current_period_start = $3, current_period_end = $4,
                        cancel_at_period_end = $5, renewal_failures = $6, next_renewal_at = $7, awaiting_payment = $8,
                        service_suspended = $9, next_action_at = $10, version = $11, updated_at = $12
                  WHERE id = $13 AND tenant_id = $14 AND version = $15
                 RETURNING version",
                &[
                    s.status.as_str().into(),
                    Param::Int(i64::from(s.period)),
                    Param::Time(s.current_period_start),
                    Param::Time(s.current_period_end),
                    s.cancel_at_period_end.into(),
                    Param::Int(i64::from(s.renewal_failures)),
                    s.next_renewal_at.into(),
                    s.awaiting_payment.into(),
                    s.service_suspended.into(),
                    s.next_action_at().into(),
                    Param::Int(s.version),
                    Param::Time(s.updated_at),
                    s.id.to_string().into(),
                    s.tenant.as_str().into(),
                    Param::Int(expected_version),
                ],
            )?;
            if updated.is_empty() {
                return Err(StoreError::VersionConflict {
                    expected: expected_version,
                });
            }
            st.insert_events(&change.events)
        })
    }

    /// Claims up to `limit` subscriptions that need the renewal component
    /// at `now` (and that no other run holds), each until `now + lease`.
    /// Every tenant's: on PostgreSQL the candidates come from
    /// `orderflow_due_subscriptions`, each claimed by a guarded update in
    /// its tenant; a candidate another run claimed first is skipped.
    pub fn claim_due_subscriptions(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<(TenantId, SubscriptionId)>, StoreError> {
        let candidates = match self.db().dialect() {
            Dialect::Sqlite => {
                "SELECT tenant_id, id FROM subscriptions
                                 WHERE next_action_at IS NOT NULL AND next_action_at <= $1
                                   AND (lease_until IS NULL OR lease_until <= $1)
                                 ORDER BY next_action_at, id LIMIT $2"
            }
            Dialect::Postgres => "SELECT tenant_id, id FROM orderflow_due_subscriptions($1, $2)",
        };
        let due = self.run(candidates, &[Param::Time(now), Param::Int(i64::from(limit))])?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let due = due
            .iter()
            .map(|r| {
                Ok((
                    parse::<TenantId>("tenant id", r.text("tenant_id")?)?,
                    parse::<SubscriptionId>("subscription id", r.text("id")?)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.write(|s| {
            let mut claimed = Vec::new();
            for (tenant, id) in &due {
                let won = s.in_tenant(tenant, |s| {
                    s.run(
                        "UPDATE subscriptions SET lease_until = $2
                          WHERE id = $1 AND next_action_at IS NOT NULL AND next_action_at <= $3
                            AND (lease_until IS NULL OR lease_until <= $3)
                          RETURNING id",
                        &[id.to_string().into(), Param::Time(now + lease), Param::Time(now)],
                    )
                })?;
                if !won.is_empty() {
                    claimed.push((tenant.clone(), *id));
                }
            }
            Ok(claimed)
        })
    }

    /// Gives up a claim (the run is done with the subscription).
    pub fn release_subscription(&self, tenant: &TenantId, id: SubscriptionId) -> Result<(), StoreError> {
        self.write(|s| {
            s.in_tenant(tenant, |s| {
                s.run(
                    "UPDATE subscriptions SET lease_until = NULL WHERE tenant_id = $1 AND id = $2",
                    &[tenant.as_str().into(), id.to_string().into()],
                )
            })
        })?;
        Ok(())
    }

    /// The renewal of `period`, started (state `pending`) if it was not:
    /// one row per (subscription, period), whoever asks and however often.
    /// Counts an attempt when `attempt` is set. Call inside [`Store::write`].
    pub fn start_renewal(
        &self,
        subscription: &Subscription,
        period: u32,
        attempt: bool,
        now: DateTime<Utc>,
    ) -> Result<Renewal, StoreError> {
        let sub = subscription;
        let id = format!("{}:{period}", sub.id);
        self.in_tenant(&sub.tenant, |s| {
            s.run(
                "INSERT INTO subscription_renewals (id, tenant_id, subscription_id, period_number, amount, currency, state,
                                                    attempts, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7)
                 ON CONFLICT (subscription_id, period_number) DO NOTHING",
                &[
                    id.as_str().into(),
                    sub.tenant.as_str().into(),
                    sub.id.to_string().into(),
                    Param::Int(i64::from(period)),
                    Param::Decimal(sub.price.amount),
                    sub.price.currency.code().into(),
                    Param::Time(now),
                ],
            )?;
            if attempt {
                s.run(
                    "UPDATE subscription_renewals SET attempts = attempts + 1, updated_at = $3
                      WHERE subscription_id = $1 AND period_number = $2 AND state IN ('pending', 'declined')",
                    &[sub.id.to_string().into(), Param::Int(i64::from(period)), Param::Time(now)],
                )?;
            }
            Ok(())
        })?;
        self.renewal(&sub.tenant, sub.id, period)?
            .ok_or_else(|| StoreError::Corrupt(format!("renewal {id} vanished")))
    }

    /// The renewal of `period` of a subscription, if started.
    pub fn renewal(
        &self,
        tenant: &TenantId,
        subscription: SubscriptionId,
        period: u32,
    ) -> Result<Option<Renewal>, StoreError> {
        let rows = self.in_tenant(tenant, |s| {
            s.run(
                "SELECT * FROM subscription_renewals WHERE tenant_id = $1 AND subscription_id = $2 AND period_number = $3",
                &[
                    tenant.as_str().into(),
                    subscription.to_string().into(),
                    Param::Int(i64::from(period)),
                ],
            )
        })?;
        rows.first().map(|r| renewal_from_row(&r)).transpose()
    }

    /// Every renewal of a subscription, oldest period first.
    pub fn renewals_of(&self, tenant: &TenantId, subscription: SubscriptionId) -> Result<Vec<Renewal>, StoreError> {
        let rows = self.in_tenant(tenant, |s| {
            s.run(
                "SELECT * FROM subscription_renewals WHERE tenant_id = $1 AND subscription_id = $2
                  ORDER BY period_number",
                &[tenant.as_str().into(), subscription.to_string().into()],
            )
        })?;
        rows.iter().map(|r| renewal_from_row(&r)).collect()
    }

    /// Links the renewal's payment intent (once: a second, different
    /// intent is refused by the unique constraint on the row's id guard).
    pub fn link_renewal_intent(
        &self,
        renewal: &Renewal,
        provider: &str,
        intent_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.in_tenant(&renewal.tenant, |s| {
            s.run(
                "UPDATE subscription_renewals SET intent_id = $2, provider = $3, updated_at = $4
                  WHERE id = $1 AND tenant_id = $5 AND intent_id IS NULL",
                &[
                    renewal.id.as_str().into(),
                    intent_id.into(),
                    provider.into(),
                    Param::Time(now),
                    renewal.tenant.as_str().into(),
                ],
            )
        })?;
        Ok(())
    }

    /// Moves a renewal that is not yet paid to `state` (with the error that
    /// caused it, if any). `false` when it was already paid: nothing changes.
    pub fn set_renewal_state(
        &self,
        renewal: &Renewal,
        state: RenewalState,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let rows = self.in_tenant(&renewal.tenant, |s| {
            s.run(
                "UPDATE subscription_renewals SET state = $2, last_error = $3, updated_at = $4,
                        paid_at = CASE WHEN $2 = 'paid' THEN $4 ELSE paid_at END
                  WHERE id = $1 AND tenant_id = $5 AND state <> 'paid'
                 RETURNING id",
                &[
                    renewal.id.as_str().into(),
                    state.as_str().into(),
                    error.into(),
                    Param::Time(now),
                    renewal.tenant.as_str().into(),
                ],
            )
        })?;
        Ok(!rows.is_empty())
    }

    /// Records on a renewal not yet paid a payment that could not be taken
    /// as it (another amount, another currency): kept with the renewal, not
    /// only in the webhook log, which is purged after its window. `false`
    /// when the renewal is paid already.
    pub fn note_renewal_problem(&self, renewal: &Renewal, why: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let rows = self.in_tenant(&renewal.tenant, |s| {
            s.run(
                "UPDATE subscription_renewals SET last_error = $2, updated_at = $3
                  WHERE id = $1 AND tenant_id = $4 AND state <> 'paid'
                 RETURNING id",
                &[
                    renewal.id.as_str().into(),
                    why.into(),
                    Param::Time(now),
                    renewal.tenant.as_str().into(),
                ],
            )
        })?;
        Ok(!rows.is_empty())
    }

    /// The renewal a payment intent pays, and whose it is. Webhooks carry
    /// no tenant; on PostgreSQL `orderflow_renewal_intent_owner` answers
    /// with the two ids, and the renewal is then read in its tenant.
    pub fn renewal_of_intent(&self, intent_id: &str) -> Result<Option<Renewal>, StoreError> {
        let sql = match self.db().dialect() {
            Dialect::Sqlite => "SELECT tenant_id, subscription_id FROM subscription_renewals WHERE intent_id = $1",
            Dialect::Postgres => "SELECT tenant_id, subscription_id FROM orderflow_renewal_intent_owner($1)",
        };
        let rows = self.run(sql, &[intent_id.into()])?;
        let Some(row) = rows.first() else { return Ok(None) };
        let tenant: TenantId = parse("tenant id", row.text("tenant_id")?)?;
        let rows = self.in_tenant(&tenant, |s| {
            s.run(
                "SELECT * FROM subscription_renewals WHERE tenant_id = $1 AND intent_id = $2",
                &[tenant.as_str().into(), intent_id.into()],
            )
        })?;
        rows.first().map(|r| renewal_from_row(&r)).transpose()
    }
}
