//! What clients see of an order. Built from the domain, never from rows, and
//! never carrying a credential.

use orderflow_core::{
    BillingCycle, ItemState, JobKind, Money, Order, OrderState, PriceSnapshot, ProductConfig, Refund, RefundScope,
    RefundState,
};
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
    /// Where its access details are e-mailed, masked (`j***@example.com`):
    /// the full address never leaves the server in a response.
    pub delivery_email_masked: Option<String>,
    /// The payment intent to pay, once created (single-order reads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_intent: Option<String>,
    /// Where the customer pays that intent: the provider's checkout page
    /// (single-order reads only, when the deployment configures one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_checkout_url: Option<String>,
    /// Every refund and where it is at the payment provider (single-order
    /// reads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refunds: Option<Vec<RefundView>>,
}

/// A refund as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefundView {
    /// The refund id (derived from what is refunded).
    pub id: String,
    /// What it gives back.
    pub scope: RefundScope,
    /// The item, for an item's refund.
    pub item_id: Option<String>,
    /// How much.
    pub amount: Money,
    /// `requested` (not yet at the provider), `pending`, `refunded` or `failed`.
    pub state: RefundState,
    /// Why it failed: the provider's reason for operators, a plain sentence for customers.
    pub failure_reason: Option<String>,
    /// When it was decided.
    pub requested_at: String,
    /// When it last changed.
    pub updated_at: String,
}

/// An item's refund, on the item (single-order reads only).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemRefund {
    /// The refund id.
    pub id: String,
    /// How much.
    pub amount: Money,
    /// Where it is at the payment provider.
    pub state: RefundState,
}

/// What a customer reads of a refund the provider could not make.
pub const REFUND_FAILED: &str = "the payment provider could not refund; an operator is looking into it";

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
    /// Its refund, once it was rolled back (single-order reads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund: Option<ItemRefund>,
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

/// What a customer reads where a provider's error was recorded: the detail
/// (internal URLs, the provider's own words) is for operators only.
pub const PROVIDER_TROUBLE_RETRYING: &str = "the provider had a problem; we retry";

/// The same, once the step stopped retrying.
pub const PROVIDER_TROUBLE: &str = "the provider had a problem";

/// Who reads a view: customers get plain reasons, operators (and the
/// platform's services) the recorded detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// A customer of the tenant.
    Customer,
    /// An operator or a service: sees provider error detail.
    Staff,
}

impl Audience {
    /// The audience of a caller with `role`.
    pub fn of(role: orderflow_http::Role) -> Self {
        match role {
            orderflow_http::Role::Customer => Audience::Customer,
            orderflow_http::Role::Operator | orderflow_http::Role::Service => Audience::Staff,
        }
    }
}

/// The audit record as `audience` reads it: the saga worker's failure
/// records (an item failed, an order parked for an operator) carry the
/// provider's answer in their reason, which a customer reads as a plain
/// sentence instead. Reasons the platform wrote itself (a payment webhook
/// of the wrong amount, say) stay as written.
pub fn audit_for(mut record: orderflow_store::AuditRecord, audience: Audience) -> orderflow_store::AuditRecord {
    if audience == Audience::Customer && record.actor == "system" && record.subject == crate::saga::SAGA_SUBJECT {
        match record.command.as_str() {
            "fail an item of" => record.reason = PROVIDER_TROUBLE.to_owned(),
            "park" => record.reason = format!("{PROVIDER_TROUBLE}; an operator is looking into it"),
            _ => {}
        }
    }
    record
}

impl<'a> OrderView<'a> {
    /// Adds each item's progress from its latest provisioning job; a
    /// customer reads a plain sentence where a provider error was recorded.
    #[must_use]
    pub fn with_progress(mut self, jobs: &[Job], audience: Audience) -> Self {
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
                    last_error: match audience {
                        Audience::Staff => j.last_error.clone(),
                        Audience::Customer => j.last_error.as_ref().map(|_| {
                            if matches!(j.state, JobState::Pending | JobState::Running) {
                                PROVIDER_TROUBLE_RETRYING.to_owned()
                            } else {
                                PROVIDER_TROUBLE.to_owned()
                            }
                        }),
                    },
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

    /// Adds the order's refunds, and each item's own on the item.
    #[must_use]
    pub fn with_refunds(mut self, refunds: &[Refund], audience: Audience) -> Self {
        for item in &mut self.items {
            item.refund = refunds
                .iter()
                .find(|r| r.planned.item.is_some_and(|i| i.to_string() == item.id))
                .map(|r| ItemRefund {
                    id: r.planned.id.to_string(),
                    amount: r.planned.amount,
                    state: r.state,
                });
        }
        self.refunds = Some(
            refunds
                .iter()
                .map(|r| RefundView {
                    id: r.planned.id.to_string(),
                    scope: r.planned.scope,
                    item_id: r.planned.item.map(|i| i.to_string()),
                    amount: r.planned.amount,
                    state: r.state,
                    failure_reason: r.failure_reason.as_ref().map(|why| match audience {
                        Audience::Staff => why.clone(),
                        Audience::Customer => REFUND_FAILED.to_owned(),
                    }),
                    requested_at: time(r.requested_at),
                    updated_at: time(r.updated_at),
                })
                .collect(),
        );
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
                refund: None,
            })
            .collect(),
        created_at: time(order.created_at),
        updated_at: time(order.updated_at),
        deleted_at: order.deleted_at.map(time),
        delivery_email_masked: order.delivery_email.as_ref().map(orderflow_core::EmailAddress::masked),
        payment_intent: None,
        payment_checkout_url: None,
        refunds: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed_item_record() -> orderflow_store::AuditRecord {
        orderflow_store::AuditRecord {
            order_version: 7,
            actor: "system".into(),
            subject: "saga".into(),
            command: "fail an item of".into(),
            from: Some("provisioning".into()),
            to: "partially_fulfilled".into(),
            reason: "retryable: POST http://10.0.0.7:4020/v1/resources answered 500: {\"trace\":\"db01 down\"}".into(),
            at: "2026-11-22T10:00:00.000000Z".into(),
        }
    }

    #[test]
    fn a_customer_reads_a_plain_reason_where_the_provider_failed() {
        let seen = audit_for(failed_item_record(), Audience::Customer);
        assert_eq!(seen.reason, PROVIDER_TROUBLE);
        assert!(!seen.reason.contains("http"));
    }

    #[test]
    fn an_operator_reads_the_providers_detail() {
        let seen = audit_for(failed_item_record(), Audience::of(orderflow_http::Role::Operator));
        assert!(seen.reason.contains("answered 500"));
    }

    #[test]
    fn a_reason_the_platform_wrote_itself_is_left_as_written() {
        let mut record = failed_item_record();
        record.subject = "webhook:simpay".into();
        record.command = "park".into();
        record.reason = "payment of 9.99 EUR does not match the order total 10.00 EUR".into();
        assert!(audit_for(record, Audience::Customer).reason.contains("does not match"));
    }

    #[test]
    fn a_customers_own_reason_is_left_as_written() {
        let mut record = failed_item_record();
        record.actor = "customer".into();
        record.command = "cancel".into();
        record.reason = "changed my mind".into();
        assert_eq!(audit_for(record, Audience::Customer).reason, "changed my mind");
    }
}
