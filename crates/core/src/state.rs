//! The closed sets of states an order and its items move through (SPEC §2).

use crate::closed_set::closed_set;

closed_set!(
    /// The nine order states. Exactly these; the database `CHECK` lists the same names.
    OrderState, "order state" {
        /// Created, items configured, not yet submitted.
        Draft = "draft",
        /// Submitted; awaiting the payment provider's confirmation.
        PendingPayment = "pending_payment",
        /// Paid; validation starts automatically.
        PaymentConfirmed = "payment_confirmed",
        /// Items are being checked against capacity, quotas and images.
        Validating = "validating",
        /// The saga is provisioning items.
        Provisioning = "provisioning",
        /// Some items active; others still provisioning, or failed and rolled back.
        PartiallyFulfilled = "partially_fulfilled",
        /// Every item active or delivered.
        Fulfilled = "fulfilled",
        /// Cancelled; refunded if it was paid.
        Cancelled = "cancelled",
        /// Nothing could be provisioned; everything rolled back and refunded.
        Failed = "failed",
    }
);

impl OrderState {
    /// Whether a customer may still change the order's items.
    pub const fn is_editable(self) -> bool {
        matches!(self, OrderState::Draft)
    }

    /// States after which the payment has been taken and not yet given back.
    pub const fn is_paid(self) -> bool {
        matches!(
            self,
            OrderState::PaymentConfirmed
                | OrderState::Validating
                | OrderState::Provisioning
                | OrderState::PartiallyFulfilled
                | OrderState::Fulfilled
        )
    }

    /// Whether the saga is working on the order's items.
    pub const fn is_provisioning(self) -> bool {
        matches!(self, OrderState::Provisioning | OrderState::PartiallyFulfilled)
    }
}

closed_set!(
    /// The life of one order item.
    ///
    /// `pending → provisioning → active → delivered`, or
    /// `… → failed → rolled_back` (deprovisioned and refunded).
    ItemState, "item state" {
        /// Waiting for validation and its provisioning step.
        Pending = "pending",
        /// The provider is creating it (retries included).
        Provisioning = "provisioning",
        /// Running at the provider.
        Active = "active",
        /// Running, and its credentials were delivered to the customer.
        Delivered = "delivered",
        /// Failed for good; its compensation is under way.
        Failed = "failed",
        /// Deprovisioned and refunded: nothing of it remains.
        RolledBack = "rolled_back",
        /// Its subscription ended and its resource was deleted at the
        /// provider: it holds no capacity and counts against no quota. Final.
        Ended = "ended",
    }
);

impl ItemState {
    /// Running at the provider (`active` or `delivered`).
    pub const fn is_live(self) -> bool {
        matches!(self, ItemState::Active | ItemState::Delivered)
    }

    /// No more forward progress will happen to it.
    pub const fn is_settled(self) -> bool {
        matches!(
            self,
            ItemState::Active | ItemState::Delivered | ItemState::RolledBack | ItemState::Ended
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_exactly_nine_order_states() {
        assert_eq!(OrderState::ALL.len(), 9);
    }

    #[test]
    fn every_order_state_round_trips_through_its_wire_name() {
        for s in OrderState::ALL {
            assert_eq!(s.as_str().parse::<OrderState>(), Ok(*s));
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<OrderState>(&json).unwrap(), *s);
        }
    }

    #[test]
    fn every_item_state_round_trips_through_its_wire_name() {
        for s in ItemState::ALL {
            assert_eq!(s.as_str().parse::<ItemState>(), Ok(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }

    #[test]
    fn an_unknown_state_names_the_set_and_the_value() {
        let err = "paid".parse::<OrderState>().unwrap_err();
        assert_eq!(err.to_string(), "unknown order state `paid`");
        assert_eq!(err.kind, "order state");
    }
}
