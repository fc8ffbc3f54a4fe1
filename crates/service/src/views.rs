//! What clients see of an order. Built from the domain, never from rows, and
//! never carrying a credential.

use orderflow_core::{BillingCycle, ItemState, JobKind, Money, Order, OrderState, PriceSnapshot, ProductConfig};
use orderflow_store::{Job, JobState};
use serde::Serialize;

/// An order as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderView<'a> {
    /// Identity.
    pub id: String,
    /// Lifecycle state.
    pub state: OrderState,
    /// The version `ETag` and `If-Match` carry.
    pub version: i64,
    /// What is charged.
    pub total: Money,
    /// What was refunded.
    pub refunded: Money,
    /// The confirmed payment.
    pub payment: Option<&'a orderflow_core::Payment>,
    /// A compensation kept failing; an operator must look.
    pub needs_operator: bool,
    /// Items, in order.
    pub items: Vec<ItemView<'a>>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// When it was cancelled and hidden, if it was.
    pub deleted_at: Option<String>,
    /// The payment intent to pay, once created (single-order reads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_intent: Option<String>,
    /// Where the customer pays that intent: the provider's checkout page
    /// (single-order reads only, when the deployment configures one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_checkout_url: Option<String>,
}

/// One item as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemView<'a> {
    /// Identity.
    pub id: String,
    /// Its lifecycle state.
    pub state: ItemState,
    /// Product and configuration as ordered.
    #[serde(flatten)]
    pub config: &'a ProductConfig,
    /// Billing cycle.
    pub billing_cycle: BillingCycle,
    /// The product as sold.
    pub summary: &'a str,
    /// The price as sold.
    pub price: &'a PriceSnapshot,
    /// Where its provisioning is (single-order reads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
}

/// An item's provisioning progress, from its saga job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Failed attempts of the current step so far.
    pub attempts: u32,
    /// When the next attempt is due, while one is pending.
    pub next_attempt_at: Option<String>,
    /// The last provider error, if any.
    pub last_error: Option<String>,
}

impl<'a> OrderView<'a> {
    /// Adds each item's progress from its latest provisioning job.
    #[must_use]
    pub fn with_progress(mut self, jobs: &[Job]) -> Self {
        for item in &mut self.items {
            let latest = jobs
                .iter()
                .rev()
                .find(|j| j.kind == JobKind::Provision && j.item.is_some_and(|i| i.to_string() == item.id));
            item.progress = Some(match latest {
                Some(j) => Progress {
                    attempts: if j.state == JobState::Running {
                        j.attempts.saturating_sub(1)
                    } else {
                        j.attempts
                    },
                    next_attempt_at: (j.state == JobState::Pending).then(|| time(j.next_attempt_at)),
                    last_error: j.last_error.clone(),
                },
                None => Progress {
                    attempts: 0,
                    next_attempt_at: None,
                    last_error: None,
                },
            });
        }
        self
    }

    /// Adds the payment intent.
    #[must_use]
    pub fn with_payment_intent(mut self, intent: Option<String>) -> Self {
        self.payment_intent = intent;
        self
    }

    /// Adds the checkout page of the payment intent: `template` with
    /// `{intent}` replaced by the intent's id (URL-safe: provider ids are
    /// alphanumeric with `_`). Nothing without an intent or a template.
    #[must_use]
    pub fn with_checkout_url(mut self, template: Option<&str>) -> Self {
        self.payment_checkout_url = match (&self.payment_intent, template) {
            (Some(intent), Some(t))
                if !t.is_empty() && intent.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
            {
                Some(t.replace("{intent}", intent))
            }
            _ => None,
        };
        self
    }
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The view of `order`.
pub fn order_view(order: &Order) -> OrderView<'_> {
    OrderView {
        id: order.id.to_string(),
        state: order.state,
        version: order.version,
        total: order.total,
        refunded: order.refunded,
        payment: order.payment.as_ref(),
        needs_operator: order.needs_operator,
        items: order
            .items
            .iter()
            .map(|i| ItemView {
                id: i.id.to_string(),
                state: i.state,
                config: &i.spec.config,
                billing_cycle: i.spec.billing_cycle,
                summary: &i.product.summary,
                price: &i.price,
                progress: None,
            })
            .collect(),
        created_at: time(order.created_at),
        updated_at: time(order.updated_at),
        deleted_at: order.deleted_at.map(time),
        payment_intent: None,
        payment_checkout_url: None,
    }
}
