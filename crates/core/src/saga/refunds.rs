//! Refunds: planned by the order's decisions, executed at the payment
//! provider by the saga's `refund` job (issue 16).
//!
//! A refund is decided by the order's state machine (a failed item, a
//! cancelled paid order, a failed validation, an operator's revert) as an
//! [`Effect::Refund`](crate::Effect) carrying a [`PlannedRefund`]. The shell
//! records it, in the decision's transaction, as a [`Refund`] in state
//! `requested`, and the saga's `refund` job asks the provider for it under
//! an idempotency key derived from the refund id (itself derived from what
//! is refunded), so a job that runs twice refunds once. What the provider
//! then reports (its answer, its signed webhooks, in any order and any
//! number of times) moves the refund forward only: [`Refund::observe`].
//!
//! Never more refunded than paid: [`check_refund_bounds`] is the invariant,
//! checked before every provider call; the database holds the same bounds
//! as constraints.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use serde_json::Value;

use super::ids::RefundId;
use crate::closed_set::closed_set;
use crate::events::{Event, EventId, EventType};
use crate::ids::{ItemId, OrderId, TenantId};
use crate::money::{Money, MoneyError};
use crate::order::{Order, Payment};
use crate::subscription::Subscription;

closed_set!(
    /// Where a refund is.
    RefundState, "refund state" {
        /// Decided and recorded; the provider has not been asked yet.
        Requested = "requested",
        /// The provider accepted it; its outcome is awaited.
        Pending = "pending",
        /// The provider returned the money (final).
        Refunded = "refunded",
        /// The provider could not return it (final; an operator must act).
        Failed = "failed",
    }
);

closed_set!(
    /// What a refund gives back.
    RefundScope, "refund scope" {
        /// What is left of an order's payment (cancelled, or failed validation).
        Order = "order",
        /// One rolled-back item's price.
        Item = "item",
        /// A payment an operator reverted.
        Revert = "revert",
        /// A payment that arrived for something no longer sold (an ended
        /// subscription's renewal, an order no longer awaiting payment).
        LatePayment = "late_payment",
        /// What a payment brought above the order's total.
        Overpayment = "overpayment",
    }
);

impl RefundState {
    /// Whether nothing changes it any more.
    pub fn is_final(self) -> bool {
        matches!(self, RefundState::Refunded | RefundState::Failed)
    }

    /// Whether its money counts as returned (analytics' confirmed refunds)
    /// or as on its way back (pending).
    pub fn is_open(self) -> bool {
        matches!(self, RefundState::Requested | RefundState::Pending)
    }

    fn rank(self) -> u8 {
        match self {
            RefundState::Requested => 0,
            RefundState::Pending => 1,
            RefundState::Refunded | RefundState::Failed => 2,
        }
    }
}

/// A refund as the state machine decides it: what to give back, against
/// which payment, and at most how much.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedRefund {
    /// Derived from what is refunded ([`RefundId`]). Unique: the same
    /// thing is refunded once.
    pub id: RefundId,
    /// What it gives back.
    pub scope: RefundScope,
    /// The item, for item refunds.
    pub item: Option<ItemId>,
    /// How much.
    pub amount: Money,
    /// The most this refund may be (the item's price, or the payment).
    pub cap: Money,
    /// The payment it gives back from: the provider's reference and amount.
    pub payment_reference: String,
    /// What was paid.
    pub paid: Money,
    /// Why, for the records.
    pub reason: String,
}

impl PlannedRefund {
    /// The data of its `billing.refund-requested` event, the one place it
    /// is built (an order decision's refund and a late renewal's alike).
    pub fn requested_data(&self) -> Value {
        let mut data = json!({ "refund_id": self.id, "scope": self.scope, "amount": self.amount,
                               "reason": self.reason, "payment_reference": self.payment_reference });
        if let Some(item) = self.item {
            data["item_id"] = json!(item);
        }
        data
    }

    /// A refund of `order`'s payment, capped by `cap` (an item's price) or
    /// the payment; `None` when nothing was paid.
    fn of_payment(
        order: &Order,
        id: RefundId,
        scope: RefundScope,
        item: Option<ItemId>,
        amount: Money,
        cap: Option<Money>,
        why: &str,
    ) -> Option<PlannedRefund> {
        let payment = order.payment.as_ref()?;
        Some(PlannedRefund {
            id,
            scope,
            item,
            amount,
            cap: cap.unwrap_or(payment.amount),
            payment_reference: payment.reference.clone(),
            paid: payment.amount,
            reason: why.to_owned(),
        })
    }

    /// A payment that can no longer be accepted (`payment`, for `order`
    /// or one of its subscriptions' renewals) goes back whole; the order's
    /// own payment and refunds are untouched.
    fn of_unaccepted(order: OrderId, payment: &str, amount: Money, why: String) -> PlannedRefund {
        PlannedRefund {
            id: RefundId::late(order, payment),
            scope: RefundScope::LatePayment,
            item: None,
            amount,
            cap: amount,
            payment_reference: payment.to_owned(),
            paid: amount,
            reason: why,
        }
    }
}

/// Refund planning: what each decision that gives money back refunds, how
/// much, under which id. Each moves `order.refunded` where the money is
/// the order's own, so the sum never passes the payment.
pub mod plan {
    use super::*;

    /// Everything paid and not yet refunded (a cancelled paid order, a
    /// failed validation); `None` when nothing is left.
    pub fn whole_payment(order: &mut Order, why: &str) -> Result<Option<PlannedRefund>, MoneyError> {
        let amount = order.refundable()?;
        if amount.amount.is_zero() {
            return Ok(None);
        }
        order.refunded = order.refunded.checked_add(amount)?;
        let id = RefundId::order(order.id);
        Ok(PlannedRefund::of_payment(
            order,
            id,
            RefundScope::Order,
            None,
            amount,
            None,
            why,
        ))
    }

    /// An operator reverted the payment: all of it that is not refunded
    /// yet goes back, under a refund id of its own per revert (`order` is
    /// the order at its new version).
    pub fn reverted_payment(order: &Order, why: &str) -> Result<Option<PlannedRefund>, MoneyError> {
        let amount = order.refundable()?;
        if amount.amount.is_zero() {
            return Ok(None);
        }
        let id = RefundId::revert(order.id, order.version);
        Ok(PlannedRefund::of_payment(
            order,
            id,
            RefundScope::Revert,
            None,
            amount,
            None,
            why,
        ))
    }

    /// What a payment brought above the order's total goes back at once;
    /// the rest is the order's, refundable as any payment.
    pub fn overpayment(order: &mut Order, excess: Money) -> Result<Option<PlannedRefund>, MoneyError> {
        let reference = order.payment.as_ref().map(|p| p.reference.clone()).unwrap_or_default();
        order.refunded = order.refunded.checked_add(excess)?;
        let id = RefundId::overpaid(order.id, &reference);
        let why = format!("paid {excess} above the order total");
        Ok(PlannedRefund::of_payment(
            order,
            id,
            RefundScope::Overpayment,
            None,
            excess,
            Some(excess),
            &why,
        ))
    }

    /// One rolled-back item's price, never more than is left of the
    /// payment; `None` when nothing is left (or the item is unknown).
    pub fn item(order: &mut Order, item: ItemId) -> Result<Option<PlannedRefund>, MoneyError> {
        let Some(price) = order.item(item).map(|i| i.price.period_total) else {
            return Ok(None);
        };
        let left = order.refundable()?;
        let amount = if price.amount <= left.amount { price } else { left };
        if amount.amount.is_zero() {
            return Ok(None);
        }
        order.refunded = order.refunded.checked_add(amount)?;
        let id = RefundId::item(order.id, item);
        Ok(PlannedRefund::of_payment(
            order,
            id,
            RefundScope::Item,
            Some(item),
            amount,
            Some(price),
            "item rolled back",
        ))
    }

    /// A payment the order can no longer accept (it is not awaiting one).
    pub fn unaccepted_payment(order: &Order, payment: &Payment) -> PlannedRefund {
        let why = format!("paid while the order was {}", order.state);
        PlannedRefund::of_unaccepted(order.id, &payment.reference, payment.amount, why)
    }

    /// A renewal (`renewal`, paid through `intent`) that arrived after its
    /// subscription ended.
    pub fn late_renewal(sub: &Subscription, renewal: &str, intent: &str, amount: Money) -> PlannedRefund {
        let why = format!("renewal {renewal} paid after subscription {} ended", sub.id);
        PlannedRefund::of_unaccepted(sub.order, intent, amount, why)
    }
}

/// A recorded refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refund {
    /// What was planned.
    pub planned: PlannedRefund,
    /// Whose.
    pub tenant: TenantId,
    /// The order.
    pub order: OrderId,
    /// Where it is.
    pub state: RefundState,
    /// The provider that holds it, once asked.
    pub provider: Option<String>,
    /// The provider's refund id, once known.
    pub provider_refund_id: Option<String>,
    /// The provider's reason, when it failed.
    pub failure_reason: Option<String>,
    /// Bumped by every change; writes are guarded by it.
    pub version: i64,
    /// When it was decided.
    pub requested_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// What the provider says of a refund (in its answer or a webhook).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedRefund {
    /// The provider's refund id.
    pub provider_refund_id: String,
    /// Its status, in the domain's terms.
    pub state: RefundState,
    /// The provider's reason, when it failed.
    pub failure_reason: Option<String>,
}

/// A provider's refund status in the domain's terms: `succeeded` is
/// refunded, `failed` and `canceled` failed, anything else (`pending`,
/// `requires_action`) still pending.
pub fn refund_state_of_provider_status(status: &str) -> RefundState {
    match status {
        "succeeded" => RefundState::Refunded,
        "failed" | "canceled" => RefundState::Failed,
        _ => RefundState::Pending,
    }
}

/// A refund that moved: the new record and the events for the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct RefundChange {
    /// The refund after the change (version one more).
    pub refund: Refund,
    /// `billing.refunded` or `billing.refund-failed` when it reached its end.
    pub events: Vec<Event>,
}

impl Refund {
    /// A planned refund, recorded as requested at `now`.
    pub fn requested(tenant: TenantId, order: OrderId, planned: PlannedRefund, now: DateTime<Utc>) -> Self {
        Refund {
            planned,
            tenant,
            order,
            state: RefundState::Requested,
            provider: None,
            provider_refund_id: None,
            failure_reason: None,
            version: 1,
            requested_at: now,
            updated_at: now,
        }
    }

    /// `billing.refund-requested` for a refund decided outside an order
    /// decision (a late payment of an ended subscription).
    pub fn requested_event(&self) -> Event {
        Event {
            id: EventId::derive_for(&self.planned.id.event_subject(), self.version, 0),
            event_type: EventType::BillingRefundRequested,
            order_id: self.order,
            tenant: self.tenant.clone(),
            order_version: self.version,
            occurred_at: self.requested_at,
            data: self.planned.requested_data(),
        }
    }

    /// Applies what `provider` says of this refund. Refunds only move
    /// forward (requested → pending → refunded or failed), so a late or
    /// replayed report changes nothing (`None`); one that names another
    /// provider refund than the one recorded changes nothing either.
    pub fn observe(&self, provider: &str, seen: &ObservedRefund, now: DateTime<Utc>) -> Option<RefundChange> {
        if let Some(known) = &self.provider_refund_id {
            if *known != seen.provider_refund_id {
                return None;
            }
        }
        let forward = seen.state.rank() > self.state.rank();
        let learns_id = self.provider_refund_id.is_none();
        if !forward && !learns_id {
            return None;
        }
        let mut next = self.clone();
        next.provider = Some(provider.to_owned());
        next.provider_refund_id = Some(seen.provider_refund_id.clone());
        if forward {
            next.state = seen.state;
            if seen.state == RefundState::Failed {
                next.failure_reason = Some(
                    seen.failure_reason
                        .clone()
                        .unwrap_or_else(|| "the provider could not refund".into()),
                );
            }
        }
        next.version += 1;
        next.updated_at = now;
        let event = match next.state {
            RefundState::Refunded if forward => Some(EventType::BillingRefunded),
            RefundState::Failed if forward => Some(EventType::BillingRefundFailed),
            _ => None,
        };
        let events = event
            .map(|t| {
                vec![Event {
                    id: EventId::derive_for(&next.planned.id.event_subject(), next.version, 0),
                    event_type: t,
                    order_id: next.order,
                    tenant: next.tenant.clone(),
                    order_version: next.version,
                    occurred_at: now,
                    data: json!({
                        "refund_id": next.planned.id,
                        "scope": next.planned.scope,
                        "item_id": next.planned.item,
                        "amount": next.planned.amount,
                        "provider": next.provider,
                        "provider_refund_id": next.provider_refund_id,
                        "payment_reference": next.planned.payment_reference,
                        "failure_reason": next.failure_reason,
                    }),
                }]
            })
            .unwrap_or_default();
        Some(RefundChange { refund: next, events })
    }
}

/// What a provider's report of a refund (its answer to the `refund` job,
/// or a signed webhook) does.
#[derive(Debug, Clone, PartialEq)]
pub enum RefundVerdict {
    /// The refund moves: write `change`; when it failed at the provider,
    /// park its order for an operator with `park` (the money is still the
    /// customer's).
    Apply {
        /// The refund's change.
        change: Box<RefundChange>,
        /// Why the order is parked, when it is.
        park: Option<String>,
    },
    /// Nothing changes (why, for the webhook's record).
    Ignore(String),
}

impl RefundVerdict {
    /// Why, for the webhook's record.
    pub fn why(&self) -> String {
        match self {
            RefundVerdict::Apply { change, .. } => format!("applied: refund {}", change.refund.state),
            RefundVerdict::Ignore(why) => why.clone(),
        }
    }
}

/// The one interpretation of what `provider` reports of `refund` (`None`:
/// no refund of ours), at `now`.
pub fn interpret_refund_report(
    refund: Option<&Refund>,
    provider: &str,
    seen: &ObservedRefund,
    now: DateTime<Utc>,
) -> RefundVerdict {
    let Some(refund) = refund else {
        return RefundVerdict::Ignore("ignored: not a refund of ours".into());
    };
    let Some(change) = refund.observe(provider, seen, now) else {
        return RefundVerdict::Ignore(format!("ignored: refund already {}", refund.state));
    };
    let park = (change.refund.state == RefundState::Failed).then(|| {
        format!(
            "refund {} of {} failed at the provider: {}",
            change.refund.planned.id,
            change.refund.planned.amount,
            change.refund.failure_reason.as_deref().unwrap_or("no reason given")
        )
    });
    RefundVerdict::Apply {
        change: Box::new(change),
        park,
    }
}

/// A refund bound that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundBoundViolation {
    /// A refund above its own cap, or not positive.
    #[error("refund {id} of {amount} is outside (0, {cap}]")]
    AboveCap {
        /// The refund.
        id: RefundId,
        /// Its amount.
        amount: Money,
        /// Its cap.
        cap: Money,
    },
    /// A payment's refunds add up to more than was paid.
    #[error("refunds of payment {payment} add up to {refunded}, more than the {paid} paid")]
    AbovePayment {
        /// The payment reference.
        payment: String,
        /// What its refunds add up to.
        refunded: Money,
        /// What was paid.
        paid: Money,
    },
    /// Two refunds of one item.
    #[error("item {0} is refunded twice")]
    ItemTwice(ItemId),
    /// Arithmetic failed (mixed currencies).
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// Never more refunded than paid, per item and per payment: every refund is
/// positive and within its cap (an item's price), an item is refunded at
/// most once, and each payment's refunds add up to at most what was paid.
pub fn check_refund_bounds<'a>(
    refunds: impl IntoIterator<Item = &'a PlannedRefund>,
) -> Result<(), RefundBoundViolation> {
    let mut per_payment: Vec<(&str, Money, Money)> = Vec::new();
    let mut items: Vec<ItemId> = Vec::new();
    for r in refunds {
        if r.amount.amount <= rust_decimal::Decimal::ZERO
            || r.amount.checked_sub(r.cap)?.amount > rust_decimal::Decimal::ZERO
        {
            return Err(RefundBoundViolation::AboveCap {
                id: r.id.clone(),
                amount: r.amount,
                cap: r.cap,
            });
        }
        if let Some(item) = r.item {
            if items.contains(&item) {
                return Err(RefundBoundViolation::ItemTwice(item));
            }
            items.push(item);
        }
        match per_payment.iter_mut().find(|(p, _, _)| *p == r.payment_reference) {
            Some((_, sum, _)) => *sum = sum.checked_add(r.amount)?,
            None => per_payment.push((&r.payment_reference, r.amount, r.paid)),
        }
    }
    for (payment, refunded, paid) in per_payment {
        if refunded.checked_sub(paid)?.amount > rust_decimal::Decimal::ZERO {
            return Err(RefundBoundViolation::AbovePayment {
                payment: payment.to_owned(),
                refunded,
                paid,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use uuid::Uuid;

    fn planned(
        id: &str,
        item: Option<u128>,
        amount: rust_decimal::Decimal,
        cap: rust_decimal::Decimal,
    ) -> PlannedRefund {
        PlannedRefund {
            id: RefundId::stored(id),
            scope: if item.is_some() {
                RefundScope::Item
            } else {
                RefundScope::Order
            },
            item: item.map(|n| ItemId::from_uuid(Uuid::from_u128(n))),
            amount: Money::eur(amount),
            cap: Money::eur(cap),
            payment_reference: "pi_1".into(),
            paid: Money::eur(dec!(30.00)),
            reason: "test".into(),
        }
    }

    fn recorded() -> Refund {
        Refund::requested(
            "acme".parse::<TenantId>().unwrap(),
            OrderId::from_uuid(Uuid::from_u128(7)),
            planned("o:item:1", Some(1), dec!(10.00), dec!(10.00)),
            DateTime::<Utc>::UNIX_EPOCH,
        )
    }

    fn seen(id: &str, state: RefundState) -> ObservedRefund {
        ObservedRefund {
            provider_refund_id: id.into(),
            state,
            failure_reason: None,
        }
    }

    #[test]
    fn a_refund_within_the_payment_passes_and_one_more_than_paid_does_not() {
        let a = planned("a", Some(1), dec!(10.00), dec!(10.00));
        let b = planned("b", None, dec!(20.00), dec!(30.00));
        assert_eq!(check_refund_bounds([&a, &b]), Ok(()));
        let c = planned("c", Some(2), dec!(0.01), dec!(10.00));
        assert!(matches!(
            check_refund_bounds([&a, &b, &c]),
            Err(RefundBoundViolation::AbovePayment { .. })
        ));
    }

    #[test]
    fn an_item_is_refunded_at_most_its_price_and_once() {
        let above = planned("a", Some(1), dec!(10.01), dec!(10.00));
        assert!(matches!(
            check_refund_bounds([&above]),
            Err(RefundBoundViolation::AboveCap { .. })
        ));
        let a = planned("a", Some(1), dec!(5.00), dec!(10.00));
        let again = planned("a2", Some(1), dec!(5.00), dec!(10.00));
        assert!(matches!(
            check_refund_bounds([&a, &again]),
            Err(RefundBoundViolation::ItemTwice(_))
        ));
        let zero = planned("z", None, dec!(0.00), dec!(10.00));
        assert!(check_refund_bounds([&zero]).is_err());
    }

    #[test]
    fn the_provider_s_answer_moves_a_refund_forward_only() {
        let t = DateTime::<Utc>::UNIX_EPOCH;
        let pending = recorded()
            .observe("stripe", &seen("re_1", RefundState::Pending), t)
            .unwrap();
        assert_eq!(pending.refund.state, RefundState::Pending);
        assert_eq!(pending.refund.version, 2);
        assert!(pending.events.is_empty());
        let done = pending
            .refund
            .observe("stripe", &seen("re_1", RefundState::Refunded), t)
            .unwrap();
        assert_eq!(done.refund.state, RefundState::Refunded);
        assert_eq!(done.events.len(), 1);
        assert_eq!(done.events[0].event_type, EventType::BillingRefunded);
        // A replayed or late report changes nothing.
        assert_eq!(
            done.refund.observe("stripe", &seen("re_1", RefundState::Refunded), t),
            None
        );
        assert_eq!(
            done.refund.observe("stripe", &seen("re_1", RefundState::Pending), t),
            None
        );
        assert_eq!(
            done.refund.observe("stripe", &seen("re_1", RefundState::Failed), t),
            None
        );
    }

    #[test]
    fn a_webhook_before_the_job_recorded_its_answer_still_settles_the_refund() {
        let t = DateTime::<Utc>::UNIX_EPOCH;
        let failed = recorded()
            .observe(
                "stripe",
                &ObservedRefund {
                    provider_refund_id: "re_9".into(),
                    state: RefundState::Failed,
                    failure_reason: Some("expired_or_canceled_card".into()),
                },
                t,
            )
            .unwrap();
        assert_eq!(failed.refund.state, RefundState::Failed);
        assert_eq!(
            failed.refund.failure_reason.as_deref(),
            Some("expired_or_canceled_card")
        );
        assert_eq!(failed.events[0].event_type, EventType::BillingRefundFailed);
        // The job's late answer (pending, from the create call) changes nothing.
        assert_eq!(
            failed.refund.observe("stripe", &seen("re_9", RefundState::Pending), t),
            None
        );
        // Another provider refund is not this one.
        assert_eq!(
            recorded()
                .observe("stripe", &seen("re_1", RefundState::Pending), t)
                .map(|c| c.refund.version),
            Some(2)
        );
    }

    #[test]
    fn a_refund_report_moves_ours_parks_a_failure_and_ignores_the_rest() {
        let t = DateTime::<Utc>::UNIX_EPOCH;
        let ours = recorded();
        assert_eq!(
            interpret_refund_report(None, "stripe", &seen("re_1", RefundState::Refunded), t),
            RefundVerdict::Ignore("ignored: not a refund of ours".into())
        );
        let done = interpret_refund_report(Some(&ours), "stripe", &seen("re_1", RefundState::Refunded), t);
        assert!(matches!(&done, RefundVerdict::Apply { park: None, .. }), "{done:?}");
        assert_eq!(done.why(), "applied: refund refunded");
        let RefundVerdict::Apply { change, .. } = done else {
            unreachable!()
        };
        assert_eq!(
            interpret_refund_report(Some(&change.refund), "stripe", &seen("re_1", RefundState::Refunded), t).why(),
            "ignored: refund already refunded"
        );
        let failed = interpret_refund_report(Some(&ours), "stripe", &seen("re_1", RefundState::Failed), t);
        let RefundVerdict::Apply { park: Some(why), .. } = failed else {
            panic!("a failed refund parks its order: {failed:?}");
        };
        assert!(
            why.contains("failed at the provider: the provider could not refund"),
            "{why}"
        );
    }

    #[test]
    fn provider_statuses_map_to_refund_states() {
        assert_eq!(refund_state_of_provider_status("succeeded"), RefundState::Refunded);
        assert_eq!(refund_state_of_provider_status("failed"), RefundState::Failed);
        assert_eq!(refund_state_of_provider_status("canceled"), RefundState::Failed);
        assert_eq!(refund_state_of_provider_status("pending"), RefundState::Pending);
        assert_eq!(refund_state_of_provider_status("requires_action"), RefundState::Pending);
    }

    #[test]
    fn the_idempotency_key_is_derived_from_the_refund() {
        assert_eq!(RefundId::stored("o:item:1").idempotency_key(), "refund-o:item:1");
    }
}
