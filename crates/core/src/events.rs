//! Domain events (SPEC §8): their types, stable ids, Kafka topics, and the
//! routing matrix saying which downstream service consumes which event.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::closed_set::closed_set;
use crate::ids::{OrderId, TenantId};

closed_set!(
    /// Every event type we publish. Names are `<family>.<what-happened>`.
    EventType, "event type" {
        /// A draft order was created.
        OrderCreated = "order.created",
        /// A draft's items were changed.
        OrderUpdated = "order.updated",
        /// The customer submitted the order for payment.
        OrderSubmitted = "order.submitted",
        /// The payment provider confirmed payment.
        OrderPaymentConfirmed = "order.payment-confirmed",
        /// An operator reverted a confirmed payment.
        OrderPaymentReverted = "order.payment-reverted",
        /// Validation against capacity and quotas began.
        OrderValidationStarted = "order.validation-started",
        /// Every item is valid; the saga provisions them.
        OrderProvisioningStarted = "order.provisioning-started",
        /// One item is running at its provider.
        OrderItemProvisioned = "order.item-provisioned",
        /// One item failed for good; its compensation starts.
        OrderItemFailed = "order.item-failed",
        /// One item was deprovisioned; its refund is requested with it.
        OrderItemRolledBack = "order.item-rolled-back",
        /// Some items active, others not.
        OrderPartiallyFulfilled = "order.partially-fulfilled",
        /// Every item active.
        OrderFulfilled = "order.fulfilled",
        /// The order was cancelled.
        OrderCancelled = "order.cancelled",
        /// Nothing could be provisioned.
        OrderFailed = "order.failed",
        /// An operator restored a cancelled order to view.
        OrderRestored = "order.restored",
        /// An item's credentials were delivered to the customer.
        OrderServiceDelivered = "order.service-delivered",
        /// The address the order's access details go to was changed
        /// (data: both addresses masked).
        OrderDeliveryAddressChanged = "order.delivery-address-changed",
        /// Money is to go back to the customer.
        BillingRefundRequested = "billing.refund-requested",
        /// The payment provider returned the money (its signed webhook, or its answer).
        BillingRefunded = "billing.refunded",
        /// The payment provider could not return the money: an operator must act.
        BillingRefundFailed = "billing.refund-failed",
        /// An active item started its subscription (period 1 from activation).
        SubscriptionStarted = "subscription.started",
        /// A renewal was paid: the subscription runs one period more.
        SubscriptionRenewed = "subscription.renewed",
        /// A renewal charge was declined; a retry may follow.
        SubscriptionRenewalFailed = "subscription.renewal-failed",
        /// The period ended unpaid: the service is suspended.
        SubscriptionSuspended = "subscription.suspended",
        /// A suspended subscription was paid: the service runs again.
        SubscriptionResumed = "subscription.resumed",
        /// The customer cancelled: it ends at period end, without renewal.
        SubscriptionCancellationScheduled = "subscription.cancellation-scheduled",
        /// The subscription ended (at period end, or its item was rolled back).
        SubscriptionCancelled = "subscription.cancelled",
    }
);

closed_set!(
    /// The downstream services that consume our events.
    Consumer, "consumer" {
        /// Invoices, refunds, revenue recognition.
        Billing = "billing",
        /// Infrastructure orchestration and inventory.
        Provisioning = "provisioning",
        /// Customer e-mail and in-app notices.
        Notification = "notification",
        /// Dashboards and reporting.
        Analytics = "analytics",
        /// The customer portal's live progress view.
        Portal = "portal",
    }
);

impl EventType {
    /// The family before the dot (`order`, `billing`, `subscription`).
    pub fn family(self) -> &'static str {
        self.as_str().split('.').next().unwrap_or("")
    }

    /// The Kafka topic: one per family, so per-order ordering holds within it.
    pub fn topic(self) -> String {
        format!("orderflow.{}.v1", self.family())
    }

    /// Who consumes this event.
    pub fn consumers(self) -> &'static [Consumer] {
        use Consumer::*;
        use EventType::*;
        match self {
            OrderCreated | OrderUpdated | OrderRestored => &[Analytics],
            OrderSubmitted => &[Billing, Analytics],
            OrderPaymentConfirmed => &[Billing, Provisioning, Notification, Analytics],
            OrderPaymentReverted => &[Billing, Notification, Analytics],
            OrderValidationStarted => &[Portal, Analytics],
            OrderProvisioningStarted => &[Provisioning, Notification, Portal, Analytics],
            OrderItemProvisioned => &[Portal, Analytics],
            OrderItemFailed => &[Notification, Portal, Analytics],
            OrderItemRolledBack => &[Provisioning, Portal, Analytics],
            OrderPartiallyFulfilled => &[Notification, Portal, Analytics],
            OrderFulfilled => &[Billing, Notification, Portal, Analytics],
            OrderCancelled => &[Billing, Provisioning, Notification, Portal, Analytics],
            OrderFailed => &[Billing, Notification, Portal, Analytics],
            OrderServiceDelivered => &[Notification, Portal, Analytics],
            // Notification tells the tenant's people that an order's
            // deliveries moved (a hijacked account cannot redirect
            // credentials silently); only masked addresses reach Kafka.
            OrderDeliveryAddressChanged => &[Notification, Portal],
            BillingRefundRequested => &[Billing, Notification, Analytics],
            BillingRefunded => &[Billing, Notification, Portal, Analytics],
            BillingRefundFailed => &[Billing, Notification, Portal],
            SubscriptionStarted => &[Billing, Portal, Analytics],
            SubscriptionRenewed => &[Billing, Notification, Portal, Analytics],
            SubscriptionRenewalFailed => &[Billing, Notification, Portal],
            SubscriptionSuspended => &[Billing, Provisioning, Notification, Portal, Analytics],
            SubscriptionResumed => &[Billing, Provisioning, Notification, Portal],
            SubscriptionCancellationScheduled => &[Billing, Notification, Portal],
            SubscriptionCancelled => &[Billing, Provisioning, Notification, Portal, Analytics],
        }
    }
}

/// The routing matrix as data: every event type with its consumers.
pub fn routing_matrix() -> Vec<(EventType, &'static [Consumer])> {
    EventType::ALL.iter().map(|&t| (t, t.consumers())).collect()
}

/// An event's identity, stable across retries: derived from the order, the
/// order version the event belongs to, and its position in that change, so a
/// re-run of the same decision yields the same ids and consumers can dedup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(Uuid);

impl EventId {
    /// The id of the `index`th event written with order version `version`.
    pub fn derive(order: OrderId, version: i64, index: usize) -> EventId {
        let digest = Sha256::digest(format!("{order}:{version}:{index}"));
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        EventId(uuid::Builder::from_custom_bytes(bytes).into_uuid())
    }

    /// The id of the `index`th event written at `version` of something
    /// other than an order (`subject` names it, e.g. `subscription:<id>`),
    /// so its ids never collide with an order's.
    pub fn derive_for(subject: &str, version: i64, index: usize) -> EventId {
        let digest = Sha256::digest(format!("{subject}:{version}:{index}"));
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        EventId(uuid::Builder::from_custom_bytes(bytes).into_uuid())
    }

    /// The UUID inside.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// One event, ready for the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Stable id for consumer dedup.
    pub id: EventId,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The order it concerns; the Kafka key.
    pub order_id: OrderId,
    /// Whose order.
    pub tenant: TenantId,
    /// The order version after the change.
    pub order_version: i64,
    /// When the change was decided.
    pub occurred_at: DateTime<Utc>,
    /// The event body.
    pub data: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_events_the_spec_names_all_exist() {
        for name in [
            "order.created",
            "order.payment-confirmed",
            "order.provisioning-started",
            "order.fulfilled",
            "order.cancelled",
            "order.failed",
            "order.service-delivered",
            "billing.refund-requested",
        ] {
            assert!(name.parse::<EventType>().is_ok(), "{name} missing");
        }
    }

    #[test]
    fn every_event_has_at_least_one_consumer_and_a_topic() {
        for (t, consumers) in routing_matrix() {
            assert!(!consumers.is_empty(), "{t} reaches nobody");
            assert!(t.topic().starts_with("orderflow."));
        }
        assert_eq!(EventType::BillingRefundRequested.topic(), "orderflow.billing.v1");
        assert_eq!(EventType::OrderFulfilled.topic(), "orderflow.order.v1");
        assert_eq!(EventType::SubscriptionRenewed.topic(), "orderflow.subscription.v1");
    }

    #[test]
    fn refunds_reach_billing() {
        assert!(EventType::BillingRefundRequested
            .consumers()
            .contains(&Consumer::Billing));
    }

    #[test]
    fn event_ids_are_stable_and_distinct() {
        let order = OrderId::from_uuid(Uuid::from_u128(7));
        assert_eq!(EventId::derive(order, 3, 0), EventId::derive(order, 3, 0));
        assert_ne!(EventId::derive(order, 3, 0), EventId::derive(order, 3, 1));
        assert_ne!(EventId::derive(order, 3, 0), EventId::derive(order, 4, 0));
    }
}
