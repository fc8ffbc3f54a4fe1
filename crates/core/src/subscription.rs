//! Subscriptions and renewals (SPEC §10): every item that becomes active
//! starts a subscription that renews, period after period, through the same
//! payment path as the order; a renewal that keeps failing suspends the
//! service at period end, a later payment resumes it, and a cancelled
//! subscription runs to the end of the period it paid for.
//!
//! Pure, like the order lifecycle: time comes in as arguments, and every
//! change returns the new subscription with the events to write in the same
//! transaction. The renewal component and the payment webhook only persist
//! what these functions decide.
//!
//! Periods are calendar months (or years) from the activation instant, in
//! UTC, each computed from the anchor rather than from the previous period,
//! so a subscription activated on 31 January renews on 28/29 February and
//! then on 31 March again.

use chrono::{DateTime, Duration, Months, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::catalog::{BillingCycle, ProductType};
use crate::closed_set::closed_set;
use crate::events::{Event, EventId, EventType};
use crate::ids::{ItemId, OrderId, TenantId};
use crate::money::Money;
use crate::order::OrderItem;

closed_set!(
    /// Where a subscription is in its life. The database `CHECK` lists the same names.
    SubscriptionStatus, "subscription status" {
        /// Paid up; the service runs.
        Active = "active",
        /// The next period's renewal failed; retries are scheduled and the
        /// service still runs until the period ends.
        PastDue = "past_due",
        /// The period ended unpaid; the service is suspended at the provider
        /// until the renewal is paid.
        Suspended = "suspended",
        /// Ended: cancelled at period end (or its item was rolled back). Final.
        Cancelled = "cancelled",
    }
);

closed_set!(
    /// Where the renewal of one period is. One renewal per subscription and
    /// period (a unique constraint in the database).
    RenewalState, "renewal state" {
        /// Claimed: its payment intent is being created or charged.
        Pending = "pending",
        /// The provider accepted the charge; its signed webhook confirms it.
        Confirming = "confirming",
        /// The last charge attempt was declined; a retry is scheduled (or
        /// the customer pays the open intent).
        Declined = "declined",
        /// Confirmed by the webhook; the period was extended. Final.
        Paid = "paid",
    }
);

/// A subscription's identity: derived from its item (one subscription per
/// item), so starting it twice names the same row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SubscriptionId(Uuid);

impl SubscriptionId {
    /// The subscription of `item`.
    pub fn for_item(item: ItemId) -> SubscriptionId {
        let digest = Sha256::digest(format!("subscription:{item}"));
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        SubscriptionId(uuid::Builder::from_custom_bytes(bytes).into_uuid())
    }

    /// Wraps a stored UUID.
    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The UUID inside.
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl std::str::FromStr for SubscriptionId {
    type Err = crate::ids::ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 36 {
            return Err(crate::ids::ParseIdError::NotUuid);
        }
        Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| crate::ids::ParseIdError::NotUuid)
    }
}

impl std::fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// How many calendar months one period of `cycle` lasts.
pub const fn months_per_period(cycle: BillingCycle) -> u32 {
    match cycle {
        BillingCycle::Monthly => 1,
        BillingCycle::Annual => 12,
    }
}

/// The end of period `n` (1-based) of a subscription anchored at `anchor`:
/// `anchor + n` months (or years), clamped to the end of a shorter month.
/// Period 0 "ends" at the anchor. Each end is computed from the anchor, so
/// a clamped month does not shift the ones after it.
pub fn period_end(anchor: DateTime<Utc>, cycle: BillingCycle, n: u32) -> DateTime<Utc> {
    let months = months_per_period(cycle).saturating_mul(n);
    anchor
        .checked_add_months(Months::new(months))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `[start, end)` of period `n` (1-based).
pub fn period_bounds(anchor: DateTime<Utc>, cycle: BillingCycle, n: u32) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        period_end(anchor, cycle, n.saturating_sub(1)),
        period_end(anchor, cycle, n),
    )
}

/// When the renewal of the period after `[start, end)` is charged: `lead`
/// before `end`, but never before the period began.
pub fn renewal_due(start: DateTime<Utc>, end: DateTime<Utc>, lead: Duration) -> DateTime<Utc> {
    (end - lead).max(start)
}

/// Delays before each retry of a declined renewal: six hours, a day, two
/// days. After them the intent stays open for the customer to pay; the
/// period's end suspends the service meanwhile. The shell may scale them
/// (`retry_delay_scale`), like the saga's.
pub const RENEWAL_RETRY_DELAYS_SECS: [i64; 3] = [6 * 3600, 24 * 3600, 48 * 3600];

/// How soon to ask the provider again about a renewal charge it still
/// reports as processing (a bank debit can take days), once its
/// confirmation is overdue.
pub const RENEWAL_RECHECK_SECS: i64 = 6 * 3600;

/// Given `failures` declined attempts so far (counting this one), when to
/// try again, or `None` when the retries are used up.
pub fn after_renewal_failure(failures: u32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    usize::try_from(failures)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| RENEWAL_RETRY_DELAYS_SECS.get(i))
        .map(|&secs| now + Duration::seconds(secs))
}

/// A subscription: one per activated item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Identity (derived from the item).
    pub id: SubscriptionId,
    /// Whose.
    pub tenant: TenantId,
    /// The order the item was sold in; the Kafka key of its events.
    pub order: OrderId,
    /// The item it keeps running.
    pub item: ItemId,
    /// Which product.
    pub product: ProductType,
    /// Monthly or annual.
    pub billing_cycle: BillingCycle,
    /// What one period costs: the item's price snapshot, never re-priced.
    pub price: Money,
    /// Where it is.
    pub status: SubscriptionStatus,
    /// The activation instant every period is computed from.
    pub anchor: DateTime<Utc>,
    /// The current (last paid) period, 1-based.
    pub period: u32,
    /// Start of the current period.
    pub current_period_start: DateTime<Utc>,
    /// End of the current period (exclusive).
    pub current_period_end: DateTime<Utc>,
    /// How long before a period ends its renewal is charged, in seconds
    /// (the configuration when it started; kept so every period renews alike).
    pub renewal_lead_secs: i64,
    /// Cancelled by the customer: ends at `current_period_end`, no renewal.
    pub cancel_at_period_end: bool,
    /// Declined attempts at renewing the next period so far.
    pub renewal_failures: u32,
    /// When the next renewal attempt is due; `None` while none is scheduled
    /// (a charge awaiting its webhook, retries used up, cancelled).
    pub next_renewal_at: Option<DateTime<Utc>>,
    /// The provider accepted the next period's charge; its webhook is awaited
    /// (no retry, and no suspension, meanwhile).
    pub awaiting_payment: bool,
    /// Whether the provider last confirmed the service suspended. The
    /// renewal component brings it in line with the status (a provider call).
    pub service_suspended: bool,
    /// Bumped by every change; guards concurrent writes.
    pub version: i64,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A change to a subscription: the new subscription and the events for the
/// outbox, written together in one transaction (version-guarded).
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionChange {
    /// The subscription after the change (version + 1).
    pub subscription: Subscription,
    /// What happened, for the outbox.
    pub events: Vec<Event>,
}

/// What the renewal component must do for a subscription now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum DueAction {
    /// Nothing is due (or a charge awaits its webhook).
    Nothing,
    /// Cancelled at period end, and the period has ended.
    Cancel,
    /// The period ended unpaid: suspend the service.
    Suspend,
    /// Charge the renewal of `period`, attempt `attempt`.
    Charge {
        /// The period being paid for.
        period: u32,
        /// 1 for the first attempt.
        attempt: u32,
    },
    /// A charge the provider accepted was not confirmed by its deadline
    /// (the period's end, then every [`RENEWAL_RECHECK_SECS`]): retrieve
    /// the renewal's intent at the provider and let its answer decide
    /// ([`Subscription::intent_checked`]).
    CheckIntent {
        /// The period being paid for.
        period: u32,
    },
    /// Bring the provider in line with the status (suspend or resume the
    /// service; `suspend` says which).
    SyncService {
        /// Whether the service must end up suspended.
        suspend: bool,
    },
}

/// What the provider says of a renewal's intent when asked (its
/// confirmation being overdue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentCheck {
    /// Paid, this much.
    Paid(Money),
    /// It failed, was cancelled, or waits for the customer again (why).
    Failed(String),
    /// Still being processed (a bank debit).
    Processing,
}

/// A change the subscription refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionRejection {
    /// It has ended; nothing more can happen to it.
    #[error("the subscription is {0}")]
    Ended(SubscriptionStatus),
    /// A payment for a period other than the next one.
    #[error("a payment for period {got} does not renew period {current}")]
    WrongPeriod {
        /// The current period.
        current: u32,
        /// The period paid for.
        got: u32,
    },
}

impl Subscription {
    /// The subscription `item` starts when it becomes active at
    /// `activated_at`: period 1 from then, priced from its snapshot, its
    /// first renewal due `lead` before the period ends.
    pub fn start(
        tenant: TenantId,
        order: OrderId,
        item: &OrderItem,
        activated_at: DateTime<Utc>,
        lead: Duration,
    ) -> Subscription {
        let cycle = item.price.billing_cycle;
        let (start, end) = period_bounds(activated_at, cycle, 1);
        Subscription {
            id: SubscriptionId::for_item(item.id),
            tenant,
            order,
            item: item.id,
            product: item.product.product,
            billing_cycle: cycle,
            price: item.price.period_total,
            status: SubscriptionStatus::Active,
            anchor: activated_at,
            period: 1,
            current_period_start: start,
            current_period_end: end,
            renewal_lead_secs: lead.num_seconds(),
            cancel_at_period_end: false,
            renewal_failures: 0,
            next_renewal_at: Some(renewal_due(start, end, lead)),
            awaiting_payment: false,
            service_suspended: false,
            version: 1,
            created_at: activated_at,
            updated_at: activated_at,
        }
    }

    /// The event its start writes (at version 1).
    pub fn started_event(&self) -> Event {
        self.event(EventType::SubscriptionStarted, 0, self.created_at, json!({}))
    }

    /// When the renewal component must next look at it: the next renewal
    /// attempt, the period's end (to suspend an unpaid service or end a
    /// cancelled one), at once while the provider is out of line, or never.
    pub fn next_action_at(&self) -> Option<DateTime<Utc>> {
        if self.service_suspended != (self.status == SubscriptionStatus::Suspended) {
            return Some(self.updated_at);
        }
        match self.status {
            SubscriptionStatus::Cancelled => None,
            _ if self.cancel_at_period_end => Some(self.current_period_end),
            // A charge awaits its webhook: until its confirmation deadline.
            _ if self.awaiting_payment => Some(self.confirm_by()),
            SubscriptionStatus::Suspended => self.next_renewal_at,
            SubscriptionStatus::Active | SubscriptionStatus::PastDue => Some(
                self.next_renewal_at
                    .map_or(self.current_period_end, |at| at.min(self.current_period_end)),
            ),
        }
    }

    /// What is due at `now`. `renewal` is the state of the next period's
    /// renewal, if one was started.
    pub fn due(&self, renewal: Option<RenewalState>, now: DateTime<Utc>) -> DueAction {
        if self.service_suspended != (self.status == SubscriptionStatus::Suspended) {
            return DueAction::SyncService {
                suspend: self.status == SubscriptionStatus::Suspended,
            };
        }
        if self.status == SubscriptionStatus::Cancelled {
            return DueAction::Nothing;
        }
        if self.cancel_at_period_end {
            return if now >= self.current_period_end {
                DueAction::Cancel
            } else {
                DueAction::Nothing
            };
        }
        if renewal == Some(RenewalState::Paid) {
            return DueAction::Nothing;
        }
        if self.awaiting_payment || renewal == Some(RenewalState::Confirming) {
            // The webhook is awaited until the deadline; then the provider
            // is asked (a lost webhook, a debit that failed days later).
            return if now >= self.confirm_by() {
                DueAction::CheckIntent {
                    period: self.period + 1,
                }
            } else {
                DueAction::Nothing
            };
        }
        if now >= self.current_period_end && self.status != SubscriptionStatus::Suspended {
            return DueAction::Suspend;
        }
        match self.next_renewal_at {
            Some(at) if at <= now => DueAction::Charge {
                period: self.period + 1,
                attempt: self.renewal_failures + 1,
            },
            _ => DueAction::Nothing,
        }
    }

    /// The customer cancels: the subscription runs to the end of the paid
    /// period and is not renewed. Cancelling again changes nothing (`None`).
    pub fn request_cancel(&self, now: DateTime<Utc>) -> Result<Option<SubscriptionChange>, SubscriptionRejection> {
        if self.status == SubscriptionStatus::Cancelled || self.cancel_at_period_end {
            return Ok(None);
        }
        let mut next = self.bumped(now);
        next.cancel_at_period_end = true;
        next.next_renewal_at = None;
        let data = json!({ "cancel_at": self.current_period_end });
        let event = next.event(EventType::SubscriptionCancellationScheduled, 0, now, data);
        Ok(Some(SubscriptionChange {
            subscription: next,
            events: vec![event],
        }))
    }

    /// A cancelled subscription reaches its period's end (or its item was
    /// rolled back: `reason` says which). Final.
    pub fn end(&self, reason: &str, now: DateTime<Utc>) -> Result<SubscriptionChange, SubscriptionRejection> {
        self.live()?;
        let mut next = self.bumped(now);
        next.status = SubscriptionStatus::Cancelled;
        next.next_renewal_at = None;
        let event = next.event(EventType::SubscriptionCancelled, 0, now, json!({ "reason": reason }));
        Ok(SubscriptionChange {
            subscription: next,
            events: vec![event],
        })
    }

    /// A suspended subscription still unpaid `grace` after its period ended
    /// ends, as a cancelled one does at its period's end (`None`: not yet,
    /// or not suspended).
    pub fn end_unpaid(&self, grace: Duration, now: DateTime<Utc>) -> Option<SubscriptionChange> {
        if self.status != SubscriptionStatus::Suspended || now < self.current_period_end + grace {
            return None;
        }
        self.end("unpaid after the grace period", now).ok()
    }

    /// The provider accepted the renewal charge; the webhook confirms it.
    /// No retry is due meanwhile. Not an event: nothing changed for anyone
    /// outside until the payment is confirmed.
    pub fn charge_accepted(
        &self,
        period: u32,
        now: DateTime<Utc>,
    ) -> Result<SubscriptionChange, SubscriptionRejection> {
        self.renews(period)?;
        let mut next = self.bumped(now);
        // Confirmed by the period's end, or asked about then (a charge
        // accepted after it: asked about a while later).
        next.next_renewal_at = Some(if now >= self.current_period_end {
            now + Duration::seconds(RENEWAL_RECHECK_SECS)
        } else {
            self.current_period_end
        });
        next.awaiting_payment = true;
        Ok(SubscriptionChange {
            subscription: next,
            events: Vec::new(),
        })
    }

    /// The renewal charge was declined: past due (the service runs until the
    /// period ends), retried at `retry_at` (`None`: retries used up; the
    /// customer may still pay the open intent).
    pub fn charge_declined(
        &self,
        period: u32,
        reason: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<SubscriptionChange, SubscriptionRejection> {
        self.renews(period)?;
        let mut next = self.bumped(now);
        next.renewal_failures = self.renewal_failures.saturating_add(1);
        next.next_renewal_at = retry_at;
        // A charge the provider had accepted, failed later: no longer awaited.
        next.awaiting_payment = false;
        if next.status == SubscriptionStatus::Active {
            next.status = SubscriptionStatus::PastDue;
        }
        let data = json!({
            "period": self.period + 1,
            "attempt": next.renewal_failures,
            "reason": reason,
            "next_attempt_at": retry_at,
        });
        let event = next.event(EventType::SubscriptionRenewalFailed, 0, now, data);
        Ok(SubscriptionChange {
            subscription: next,
            events: vec![event],
        })
    }

    /// The period ended unpaid: suspended (the renewal component then asks
    /// the provider to suspend the service).
    pub fn suspend(&self, now: DateTime<Utc>) -> Result<SubscriptionChange, SubscriptionRejection> {
        self.live()?;
        let mut next = self.bumped(now);
        next.status = SubscriptionStatus::Suspended;
        let data = json!({ "period_end": self.current_period_end, "unpaid_period": self.period + 1 });
        let event = next.event(EventType::SubscriptionSuspended, 0, now, data);
        Ok(SubscriptionChange {
            subscription: next,
            events: vec![event],
        })
    }

    /// The webhook confirmed the payment of `period`'s renewal: exactly one
    /// period more, anchored at activation; active again (resumed, if it was
    /// suspended); the next renewal due its lead time before the new end.
    pub fn renewal_paid(
        &self,
        period: u32,
        amount: Money,
        now: DateTime<Utc>,
    ) -> Result<SubscriptionChange, SubscriptionRejection> {
        self.renews(period)?;
        let (start, end) = period_bounds(self.anchor, self.billing_cycle, period);
        let mut next = self.bumped(now);
        next.period = period;
        next.current_period_start = start;
        next.current_period_end = end;
        next.renewal_failures = 0;
        next.awaiting_payment = false;
        next.status = SubscriptionStatus::Active;
        let lead = Duration::seconds(self.renewal_lead_secs);
        next.next_renewal_at = (!self.cancel_at_period_end).then(|| renewal_due(start, end, lead));
        let data = json!({
            "period": period,
            "period_start": start,
            "period_end": end,
            "amount": amount,
        });
        let mut events = vec![next.event(EventType::SubscriptionRenewed, 0, now, data)];
        if self.status == SubscriptionStatus::Suspended {
            events.push(next.event(EventType::SubscriptionResumed, 1, now, json!({ "period": period })));
        }
        Ok(SubscriptionChange {
            subscription: next,
            events,
        })
    }

    /// What the provider answered about a renewal charge whose confirmation
    /// is overdue ([`DueAction::CheckIntent`]): paid (a lost webhook) renews
    /// it; failed or cancelled is a decline (the dunning schedule, `retry_at`,
    /// then suspension at period end and the end after the grace period);
    /// still processing is asked about again in [`RENEWAL_RECHECK_SECS`],
    /// and once the period has ended the service is suspended meanwhile
    /// (a later confirmation renews and resumes it).
    pub fn intent_checked(
        &self,
        period: u32,
        check: IntentCheck,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<SubscriptionChange, SubscriptionRejection> {
        match check {
            IntentCheck::Paid(amount) => self.renewal_paid(period, amount, now),
            IntentCheck::Failed(reason) => self.charge_declined(period, &reason, retry_at, now),
            IntentCheck::Processing => {
                self.renews(period)?;
                let unpaid_period_over = now >= self.current_period_end && self.status != SubscriptionStatus::Suspended;
                let mut change = if unpaid_period_over {
                    self.suspend(now)?
                } else {
                    SubscriptionChange {
                        subscription: self.bumped(now),
                        events: Vec::new(),
                    }
                };
                change.subscription.awaiting_payment = true;
                change.subscription.next_renewal_at = Some(now + Duration::seconds(RENEWAL_RECHECK_SECS));
                Ok(change)
            }
        }
    }

    /// When a charge the provider accepted must be confirmed by: the
    /// deadline set when it was accepted (or the period's end).
    fn confirm_by(&self) -> DateTime<Utc> {
        self.next_renewal_at.unwrap_or(self.current_period_end)
    }

    /// The provider confirmed the service suspended (or running again).
    pub fn service_synced(&self, suspended: bool, now: DateTime<Utc>) -> SubscriptionChange {
        let mut next = self.bumped(now);
        next.service_suspended = suspended;
        SubscriptionChange {
            subscription: next,
            events: Vec::new(),
        }
    }

    fn live(&self) -> Result<(), SubscriptionRejection> {
        if self.status == SubscriptionStatus::Cancelled {
            Err(SubscriptionRejection::Ended(self.status))
        } else {
            Ok(())
        }
    }

    /// Refuses anything about a period other than the next one (a late
    /// answer for a period already paid), and anything once ended.
    fn renews(&self, period: u32) -> Result<(), SubscriptionRejection> {
        self.live()?;
        if period == self.period + 1 {
            Ok(())
        } else {
            Err(SubscriptionRejection::WrongPeriod {
                current: self.period,
                got: period,
            })
        }
    }

    fn bumped(&self, now: DateTime<Utc>) -> Subscription {
        let mut next = self.clone();
        next.version += 1;
        next.updated_at = now;
        next
    }

    /// An event of this subscription at its current version: keyed by its
    /// order (so one order's events stay in order), its id stable per
    /// (subscription, version, position) for consumer dedup.
    fn event(&self, event_type: EventType, index: usize, at: DateTime<Utc>, extra: serde_json::Value) -> Event {
        let mut data = json!({
            "subscription_id": self.id,
            "item_id": self.item,
            "product_type": self.product,
            "billing_cycle": self.billing_cycle,
            "price": self.price,
            "status": self.status,
            "period": self.period,
            "current_period_start": self.current_period_start,
            "current_period_end": self.current_period_end,
            "cancel_at_period_end": self.cancel_at_period_end,
        });
        if let (Some(map), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
            map.extend(extra);
        }
        Event {
            id: EventId::derive_for(&format!("subscription:{}", self.id), self.version, index),
            event_type,
            order_id: self.order,
            tenant: self.tenant.clone(),
            order_version: self.version,
            occurred_at: at,
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::config::parse_item;
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 10, 30, 0).unwrap()
    }

    fn item(cycle: &str) -> OrderItem {
        let catalog = Catalog::standard();
        let raw = json!({"product": "vps", "billing_cycle": cycle,
                         "config": {"region": "lj-1", "plan": "business", "os_image": "ubuntu-24.04"}});
        let spec = parse_item(&catalog, &raw, "/items/0").unwrap();
        OrderItem::new(&catalog, ItemId::from_uuid(Uuid::from_u128(5)), spec).unwrap()
    }

    fn started(cycle: &str, on: DateTime<Utc>) -> Subscription {
        Subscription::start(
            "acme".parse().unwrap(),
            OrderId::from_uuid(Uuid::from_u128(1)),
            &item(cycle),
            on,
            Duration::days(3),
        )
    }

    #[test]
    fn a_monthly_period_is_a_calendar_month_clamped_at_month_end_and_anchored_at_activation() {
        let anchor = at(2027, 1, 31);
        let ends: Vec<_> = (1..=4).map(|n| period_end(anchor, BillingCycle::Monthly, n)).collect();
        assert_eq!(
            ends,
            [at(2027, 2, 28), at(2027, 3, 31), at(2027, 4, 30), at(2027, 5, 31)]
        );
        // A leap year's February.
        assert_eq!(period_end(at(2028, 1, 31), BillingCycle::Monthly, 1), at(2028, 2, 29));
        assert_eq!(
            period_bounds(anchor, BillingCycle::Monthly, 2),
            (at(2027, 2, 28), at(2027, 3, 31))
        );
    }

    #[test]
    fn an_annual_period_is_a_calendar_year_and_29_february_clamps_to_28() {
        let anchor = at(2028, 2, 29);
        assert_eq!(period_end(anchor, BillingCycle::Annual, 1), at(2029, 2, 28));
        assert_eq!(period_end(anchor, BillingCycle::Annual, 4), at(2032, 2, 29));
        assert_eq!(period_bounds(anchor, BillingCycle::Annual, 1).0, anchor);
    }

    #[test]
    fn a_subscription_starts_at_activation_with_the_items_snapshot_price() {
        let s = started("monthly", at(2027, 1, 15));
        assert_eq!(s.price, Money::eur(dec!(20.10)));
        assert_eq!(
            (s.current_period_start, s.current_period_end),
            (at(2027, 1, 15), at(2027, 2, 15))
        );
        assert_eq!(s.next_renewal_at, Some(at(2027, 2, 12)));
        assert_eq!(s.id, SubscriptionId::for_item(s.item));
        let annual = started("annual", at(2027, 1, 15));
        assert_eq!(annual.price, Money::eur(dec!(192.96)));
        assert_eq!(annual.current_period_end, at(2028, 1, 15));
    }

    #[test]
    fn the_renewal_is_due_lead_time_before_the_end_but_never_before_the_start() {
        assert_eq!(
            renewal_due(at(2027, 1, 1), at(2027, 2, 1), Duration::days(3)),
            at(2027, 1, 29)
        );
        assert_eq!(
            renewal_due(at(2027, 1, 1), at(2027, 2, 1), Duration::days(90)),
            at(2027, 1, 1)
        );
    }

    #[test]
    fn renewal_extends_exactly_one_period_three_times_in_a_row() {
        let mut s = started("monthly", at(2027, 1, 31));
        for (period, end) in [(2, at(2027, 3, 31)), (3, at(2027, 4, 30)), (4, at(2027, 5, 31))] {
            let now = s.next_renewal_at.unwrap();
            assert_eq!(s.due(None, now), DueAction::Charge { period, attempt: 1 });
            s = s.charge_accepted(period, now).unwrap().subscription;
            // The webhook is awaited until the period's end, no longer.
            assert_eq!(
                s.next_action_at(),
                Some(s.current_period_end),
                "waiting for the webhook"
            );
            assert_eq!(
                s.due(
                    Some(RenewalState::Confirming),
                    s.current_period_end - Duration::seconds(1)
                ),
                DueAction::Nothing
            );
            assert_eq!(
                s.due(Some(RenewalState::Confirming), s.current_period_end),
                DueAction::CheckIntent { period }
            );
            let change = s.renewal_paid(period, s.price, now).unwrap();
            assert_eq!(change.events[0].event_type, EventType::SubscriptionRenewed);
            s = change.subscription;
            assert_eq!((s.period, s.current_period_end), (period, end));
            // The same confirmation again is not a second extension.
            assert!(s.renewal_paid(period, s.price, now).is_err());
        }
    }

    #[test]
    fn a_renewal_never_confirmed_is_asked_about_at_its_deadline_and_the_answer_decides() {
        let s = started("monthly", at(2027, 1, 10));
        let charged_at = s.next_renewal_at.unwrap();
        let awaiting = s.charge_accepted(2, charged_at).unwrap().subscription;
        let end = awaiting.current_period_end;
        let due_at = |sub: &Subscription, now| sub.due(Some(RenewalState::Confirming), now);
        assert_eq!(due_at(&awaiting, end), DueAction::CheckIntent { period: 2 });
        let retry = Some(end + Duration::hours(6));
        let recheck = end + Duration::seconds(RENEWAL_RECHECK_SECS);
        // (what the provider says at the deadline, then: status, awaiting,
        //  next look, failures, events)
        type Row = (
            IntentCheck,
            SubscriptionStatus,
            bool,
            Option<DateTime<Utc>>,
            u32,
            Vec<EventType>,
        );
        let rows: Vec<Row> = vec![
            // The webhook was lost: paid after all, renewed.
            (
                IntentCheck::Paid(awaiting.price),
                SubscriptionStatus::Active,
                false,
                Some(renewal_due(
                    end,
                    period_end(awaiting.anchor, awaiting.billing_cycle, 2),
                    Duration::days(3),
                )),
                0,
                vec![EventType::SubscriptionRenewed],
            ),
            // A debit that failed days later: a decline, on the dunning schedule.
            (
                IntentCheck::Failed("insufficient_funds".into()),
                SubscriptionStatus::PastDue,
                false,
                retry,
                1,
                vec![EventType::SubscriptionRenewalFailed],
            ),
            // Still processing when the period is over: the service is
            // suspended meanwhile, and the provider asked again later.
            (
                IntentCheck::Processing,
                SubscriptionStatus::Suspended,
                true,
                Some(recheck),
                0,
                vec![EventType::SubscriptionSuspended],
            ),
        ];
        for (check, status, still_awaiting, next_look, failures, events) in rows {
            let label = format!("{check:?}");
            let change = awaiting.intent_checked(2, check, retry, end).unwrap();
            let next = &change.subscription;
            assert_eq!(
                (
                    next.status,
                    next.awaiting_payment,
                    next.next_renewal_at,
                    next.renewal_failures
                ),
                (status, still_awaiting, next_look, failures),
                "{label}"
            );
            let types: Vec<EventType> = change.events.iter().map(|e| e.event_type).collect();
            assert_eq!(types, events, "{label}");
        }
        // A failed debit leaves nothing awaited: the period's end suspends it.
        let declined = awaiting
            .intent_checked(2, IntentCheck::Failed("x".into()), None, end - Duration::days(1))
            .unwrap()
            .subscription;
        assert_eq!(declined.due(Some(RenewalState::Declined), end), DueAction::Suspend);
        // Still processing, suspended: asked again at the recheck, and a
        // confirmation then renews and resumes it.
        let processing = awaiting
            .intent_checked(2, IntentCheck::Processing, None, end)
            .unwrap()
            .subscription;
        assert_eq!(due_at(&processing, end), DueAction::SyncService { suspend: true });
        let processing = processing.service_synced(true, end).subscription;
        assert_eq!(due_at(&processing, recheck - Duration::seconds(1)), DueAction::Nothing);
        assert_eq!(due_at(&processing, recheck), DueAction::CheckIntent { period: 2 });
        let resumed = processing
            .intent_checked(2, IntentCheck::Paid(processing.price), None, recheck)
            .unwrap();
        let types: Vec<EventType> = resumed.events.iter().map(|e| e.event_type).collect();
        assert_eq!(types, [EventType::SubscriptionRenewed, EventType::SubscriptionResumed]);
        // An answer about another period changes nothing.
        assert!(awaiting.intent_checked(3, IntentCheck::Processing, None, end).is_err());
    }

    #[test]
    fn declined_renewals_retry_then_the_period_end_suspends_and_a_payment_resumes() {
        let s = started("monthly", at(2027, 1, 10));
        let first = s.next_renewal_at.unwrap();
        let mut s = s
            .charge_declined(2, "card declined", after_renewal_failure(1, first), first)
            .unwrap()
            .subscription;
        assert_eq!(s.status, SubscriptionStatus::PastDue);
        assert_eq!(s.next_renewal_at, Some(first + Duration::hours(6)));
        assert_eq!(
            s.due(Some(RenewalState::Declined), first + Duration::hours(6)),
            DueAction::Charge { period: 2, attempt: 2 }
        );
        for n in 2..=4 {
            let now = s.next_renewal_at.unwrap_or(first);
            s = s
                .charge_declined(2, "card declined", after_renewal_failure(n, now), now)
                .unwrap()
                .subscription;
        }
        assert_eq!(s.next_renewal_at, None, "retries used up");
        assert_eq!(s.next_action_at(), Some(s.current_period_end));
        assert_eq!(
            s.due(Some(RenewalState::Declined), s.current_period_end),
            DueAction::Suspend
        );
        let suspended = s.suspend(s.current_period_end).unwrap();
        assert_eq!(suspended.events[0].event_type, EventType::SubscriptionSuspended);
        let s = suspended.subscription;
        assert_eq!(
            s.due(None, s.current_period_end),
            DueAction::SyncService { suspend: true }
        );
        let s = s.service_synced(true, s.current_period_end).subscription;
        assert_eq!(
            s.due(Some(RenewalState::Declined), s.current_period_end + Duration::days(5)),
            DueAction::Nothing
        );
        let paid = s.renewal_paid(2, s.price, s.current_period_end).unwrap();
        let types: Vec<_> = paid.events.iter().map(|e| e.event_type).collect();
        assert_eq!(types, [EventType::SubscriptionRenewed, EventType::SubscriptionResumed]);
        let s = paid.subscription;
        assert_eq!(
            (s.status, s.period, s.current_period_end),
            (SubscriptionStatus::Active, 2, at(2027, 3, 10))
        );
        assert_eq!(s.due(None, s.updated_at), DueAction::SyncService { suspend: false });
    }

    #[test]
    fn a_cancelled_subscription_runs_to_its_period_end_and_is_never_charged_again() {
        let s = started("monthly", at(2027, 1, 10));
        let change = s.request_cancel(at(2027, 1, 20)).unwrap().unwrap();
        let s = change.subscription;
        assert!(s.cancel_at_period_end);
        assert_eq!(
            s.request_cancel(at(2027, 1, 21)),
            Ok(None),
            "cancelling twice changes nothing"
        );
        assert_eq!(s.due(None, at(2027, 2, 9)), DueAction::Nothing, "no renewal charge");
        assert_eq!(s.next_action_at(), Some(at(2027, 2, 10)));
        assert_eq!(s.due(None, at(2027, 2, 10)), DueAction::Cancel);
        let ended = s.end("cancelled at period end", at(2027, 2, 10)).unwrap();
        assert_eq!(ended.events[0].event_type, EventType::SubscriptionCancelled);
        let s = ended.subscription;
        assert_eq!((s.status, s.next_action_at()), (SubscriptionStatus::Cancelled, None));
        assert!(s.end("again", at(2027, 2, 11)).is_err());
    }

    #[test]
    fn retries_follow_the_schedule_then_stop() {
        let now = at(2027, 1, 1);
        let delays: Vec<_> = (1..=3)
            .map(|n| (after_renewal_failure(n, now).unwrap() - now).num_hours())
            .collect();
        assert_eq!(delays, [6, 24, 48]);
        assert_eq!(after_renewal_failure(4, now), None);
        assert_eq!(after_renewal_failure(0, now), None);
    }

    #[test]
    fn event_ids_are_stable_per_subscription_version() {
        let s = started("monthly", at(2027, 1, 10));
        let a = s.request_cancel(at(2027, 1, 11)).unwrap().unwrap();
        let b = s.request_cancel(at(2027, 1, 12)).unwrap().unwrap();
        assert_eq!(a.events[0].id, b.events[0].id);
        assert_ne!(a.events[0].id, s.started_event().id);
        assert_eq!(a.events[0].event_type.topic(), "orderflow.subscription.v1");
    }

    #[test]
    fn a_suspended_subscription_ends_only_once_its_grace_period_is_over() {
        let s = started("monthly", at(2026, 1, 10));
        let grace = Duration::days(14);
        let end = s.current_period_end;
        assert!(
            s.end_unpaid(grace, end + Duration::days(30)).is_none(),
            "an active one never"
        );
        let suspended = s.suspend(end).unwrap().subscription;
        assert_eq!(suspended.status, SubscriptionStatus::Suspended);
        assert!(suspended.end_unpaid(grace, end + Duration::days(13)).is_none());
        let ended = suspended.end_unpaid(grace, end + grace).unwrap();
        assert_eq!(ended.subscription.status, SubscriptionStatus::Cancelled);
        assert_eq!(ended.events[0].event_type, EventType::SubscriptionCancelled);
        assert!(ended.subscription.end_unpaid(grace, end + grace).is_none(), "ends once");
    }

    #[test]
    fn every_status_round_trips_through_its_name() {
        for s in SubscriptionStatus::ALL {
            assert_eq!(s.as_str().parse::<SubscriptionStatus>(), Ok(*s));
        }
        for s in RenewalState::ALL {
            assert_eq!(s.as_str().parse::<RenewalState>(), Ok(*s));
        }
    }
}
