//! What a payment provider's webhook told us, parsed once at the edge into
//! the few changes the domain acts on. Every provider module turns its own
//! wire format into a [`PaymentEvent`]; the webhook handler only matches on
//! [`PaymentChange`], and hands the core its [`PaymentReport`] to interpret.

use chrono::{DateTime, Utc};
use orderflow_core::saga::{PaymentReport, Reported};
use orderflow_core::Money;

/// A verified event from the payment provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentEvent {
    /// The provider's event id: the key for deduplication.
    pub id: String,
    /// The provider's name for the event type, kept in the webhook record.
    pub kind: String,
    /// When the provider says it happened, if it says.
    pub created: Option<DateTime<Utc>>,
    /// What changed.
    pub change: PaymentChange,
}

/// The domain's reading of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentChange {
    /// The payment intent was paid: `amount` received (an error when the
    /// event's currency is not one we bill in).
    Succeeded {
        /// The payment intent.
        intent: String,
        /// What was paid.
        amount: Result<Money, String>,
    },
    /// An attempt to pay was declined; the intent stays open.
    Failed {
        /// The payment intent.
        intent: String,
        /// The provider's reason.
        reason: String,
    },
    /// The intent was cancelled or expired: it can no longer be paid.
    Canceled {
        /// The payment intent.
        intent: String,
    },
    /// Money was refunded on the intent's payment (in total so far, when
    /// the provider says).
    Refunded {
        /// The payment intent.
        intent: String,
        /// The refunded total, if the event carries it.
        amount: Option<Result<Money, String>>,
    },
    /// One refund's state at the provider (created, updated, failed): moves
    /// the refund it names forward.
    RefundUpdated {
        /// The refunded payment intent.
        intent: String,
        /// The provider's refund id.
        refund: String,
        /// The provider's status (`pending`, `succeeded`, `failed`, `canceled`).
        status: String,
        /// Our refund id, from the refund's metadata (`refund_id`).
        refund_key: Option<String>,
        /// Why it failed, when it did.
        failure_reason: Option<String>,
    },
    /// An event type the domain does not act on: acknowledged and recorded.
    Other,
}

impl PaymentChange {
    /// The payment intent the change concerns, if any.
    pub fn intent(&self) -> Option<&str> {
        match self {
            PaymentChange::Succeeded { intent, .. }
            | PaymentChange::Failed { intent, .. }
            | PaymentChange::Canceled { intent }
            | PaymentChange::Refunded { intent, .. }
            | PaymentChange::RefundUpdated { intent, .. } => Some(intent),
            PaymentChange::Other => None,
        }
    }
}

impl PaymentEvent {
    /// What the event reports of its payment intent, for the core to
    /// interpret (`orderflow_core::saga::interpret_payment`); `None` when it
    /// names no intent. Paid at the provider's time, else at `now`.
    pub fn report(&self, provider: &str, now: DateTime<Utc>) -> Option<PaymentReport> {
        let reported = match &self.change {
            PaymentChange::Succeeded { amount, .. } => Reported::Paid(amount.clone()),
            PaymentChange::Failed { .. } => Reported::Declined,
            PaymentChange::Canceled { .. } => Reported::Canceled,
            PaymentChange::Refunded { .. } | PaymentChange::RefundUpdated { .. } | PaymentChange::Other => {
                Reported::Other
            }
        };
        Some(PaymentReport {
            provider: provider.to_owned(),
            intent: self.change.intent()?.to_owned(),
            reported,
            at: self.created.unwrap_or(now),
        })
    }
}
