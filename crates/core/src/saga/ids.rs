//! The saga's identifiers, each built by one formula here and nowhere else.
//!
//! A job's id and a refund's id are derived from what caused them (the
//! decision's order version, the thing refunded, the subscription ended),
//! so writing the same cause twice finds the row already there instead of
//! adding a second: that is how a replayed decision or webhook stays a
//! no-op. The stored form is the plain string, as it always was.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{ItemId, OrderId};
use crate::subscription::SubscriptionId;

/// A saga job's id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// The `n`th job of the decision that brought `order` to `version`:
    /// `<order>:<version>:<n>`.
    pub fn of_decision(order: OrderId, version: i64, n: usize) -> Self {
        JobId(format!("{order}:{version}:{n}"))
    }

    /// A delivery asked for again by the request `request`:
    /// `<order>:redeliver:<request>`.
    pub fn redelivery(order: OrderId, request: &str) -> Self {
        JobId(format!("{order}:redeliver:{request}"))
    }

    /// The job that executes a refund decided outside an order decision:
    /// `refund:<refund>`.
    pub fn refund(refund: &RefundId) -> Self {
        JobId(format!("refund:{refund}"))
    }

    /// The deprovisioning of an ended subscription's resource:
    /// `subscription:<id>:deprovision`.
    pub fn subscription_deprovision(subscription: SubscriptionId) -> Self {
        JobId(format!("subscription:{subscription}:deprovision"))
    }

    /// The voiding of an ended subscription's open renewal intent:
    /// `subscription:<id>:void:<intent>`.
    pub fn renewal_void(subscription: SubscriptionId, intent: &str) -> Self {
        JobId(format!("subscription:{subscription}:void:{intent}"))
    }

    /// A stored id, as read back.
    pub fn stored(id: impl Into<String>) -> Self {
        JobId(id.into())
    }

    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A refund's id, derived from what is refunded. Unique: the same thing is
/// refunded once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RefundId(String);

impl RefundId {
    /// What is left of an order's payment: `<order>:order`.
    pub fn order(order: OrderId) -> Self {
        RefundId(format!("{order}:order"))
    }

    /// One rolled-back item's price: `<order>:item:<item>`.
    pub fn item(order: OrderId, item: ItemId) -> Self {
        RefundId(format!("{order}:item:{item}"))
    }

    /// A payment an operator reverted at order `version`:
    /// `<order>:revert:<version>`.
    pub fn revert(order: OrderId, version: i64) -> Self {
        RefundId(format!("{order}:revert:{version}"))
    }

    /// A payment (an order's or a renewal's) that arrived when it could no
    /// longer be accepted: `<order>:late:<payment>`.
    pub fn late(order: OrderId, payment: &str) -> Self {
        RefundId(format!("{order}:late:{payment}"))
    }

    /// What a payment brought above the order's total:
    /// `<order>:overpaid:<payment>`.
    pub fn overpaid(order: OrderId, payment: &str) -> Self {
        RefundId(format!("{order}:overpaid:{payment}"))
    }

    /// A stored id, as read back (or as a provider's metadata names it).
    pub fn stored(id: impl Into<String>) -> Self {
        RefundId(id.into())
    }

    /// The provider's idempotency key for it: the same refund id always
    /// asks for the same refund, however often its job runs.
    pub fn idempotency_key(&self) -> String {
        format!("refund-{}", self.0)
    }

    /// The subject its events' ids are derived from (`refund:<id>`).
    pub fn event_subject(&self) -> String {
        format!("refund:{}", self.0)
    }

    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RefundId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn ids_keep_the_stored_forms_they_always_had() {
        let order = OrderId::from_uuid(Uuid::from_u128(9));
        let item = ItemId::from_uuid(Uuid::from_u128(1));
        assert_eq!(JobId::of_decision(order, 3, 1).as_str(), format!("{order}:3:1"));
        assert_eq!(RefundId::item(order, item).as_str(), format!("{order}:item:{item}"));
        let late = RefundId::late(order, "pi_1");
        assert_eq!(JobId::refund(&late).as_str(), format!("refund:{order}:late:pi_1"));
        assert_eq!(late.idempotency_key(), format!("refund-{order}:late:pi_1"));
        assert_eq!(RefundId::stored(late.as_str()), late);
    }
}
