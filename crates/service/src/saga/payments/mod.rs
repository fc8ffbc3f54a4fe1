//! The payment provider, chosen by the `payment_provider` variable. The saga
//! and the webhook use only the typed operations here (create an order's
//! payment intent, read it, cancel it, charge a renewal off-session, refund,
//! open a hosted checkout) and the typed [`PaymentEvent`]; each provider is
//! one module that speaks its own wire format. A third provider is a new
//! module and a new [`PaymentProvider`] variant, nothing else.

mod event;
mod form;
mod minor;
pub mod stripe;

use orderflow_core::{Money, OrderId, Subscription, TenantId};
use orderflow_http::{ApiError, RequestParts, WebhookSecrets};

pub use event::{PaymentChange, PaymentEvent};
pub use minor::{from_minor_units, minor_exponent, to_minor_units};

use super::outbound::Outbound;
use super::providers::{CallError, Charge};

/// The configured payment provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentProvider {
    /// Stripe's API (or anything speaking it, such as `crates/sims`).
    Stripe(stripe::Stripe),
}

/// The payment provider's settings, from Spin variables.
#[derive(Clone, PartialEq, Eq)]
pub struct PaymentConfig {
    /// `payment_provider`: which provider (`stripe`).
    pub provider: String,
    /// `payment_api_url`: the API's base URL, no trailing slash.
    pub api_url: String,
    /// `payment_api_key`: the secret API key.
    pub api_key: String,
    /// `payment_api_version`: the API version pinned on every request
    /// (empty: the account's default).
    pub api_version: String,
}

impl std::fmt::Debug for PaymentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentConfig")
            .field("provider", &self.provider)
            .field("api_url", &self.api_url)
            .field("api_version", &self.api_version)
            .finish_non_exhaustive()
    }
}

/// The providers `payment_provider` may name.
pub const PAYMENT_PROVIDERS: &[&str] = &["stripe"];

/// An order's (or a renewal's) payment intent to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentRequest {
    /// What to charge.
    pub amount: Money,
    /// Shown on the customer's statement and in the dashboard.
    pub description: String,
    /// Key-value pairs stored with the intent (order, tenant, …).
    pub metadata: Vec<(String, String)>,
    /// Whose saved payment method to charge (a renewal), if known.
    pub saved: Option<SavedMethod>,
    /// Ask the provider to keep the payment method for later off-session
    /// charges (an order whose items renew).
    pub save_for_renewals: bool,
    /// The idempotency key: the same key always yields the same intent.
    pub idempotency_key: String,
}

/// A customer's payment method saved at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedMethod {
    /// The provider's customer.
    pub customer: Option<String>,
    /// The payment method.
    pub payment_method: String,
}

/// A payment intent as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentInfo {
    /// Its id.
    pub id: String,
    /// Where it is.
    pub status: IntentStatus,
    /// What it asks for.
    pub amount: Result<Money, String>,
    /// The payment method that paid it, if saved for reuse.
    pub saved: Option<SavedMethod>,
}

/// A payment intent's state, as the domain needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntentStatus {
    /// Waiting for the customer (or a payment method, or an action).
    Open,
    /// Being processed.
    Processing,
    /// Paid.
    Succeeded,
    /// Cancelled or expired.
    Canceled,
}

/// A refund to request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    /// The paid payment intent.
    pub intent: String,
    /// How much (`None`: what is left to refund).
    pub amount: Option<Money>,
    /// Key-value pairs stored with the refund.
    pub metadata: Vec<(String, String)>,
    /// The idempotency key: the same key refunds once.
    pub idempotency_key: String,
}

/// A refund as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundInfo {
    /// Its id.
    pub id: String,
    /// `succeeded`, `pending`, `failed` or `canceled`, as the provider says.
    pub status: String,
    /// How much.
    pub amount: Result<Money, String>,
}

/// A hosted checkout to open for an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRequest {
    /// What to charge.
    pub amount: Money,
    /// The line shown to the customer.
    pub description: String,
    /// Stored with the payment intent the checkout creates.
    pub metadata: Vec<(String, String)>,
    /// Where the provider sends the customer after paying.
    pub success_url: String,
    /// Where the provider sends the customer who gives up.
    pub cancel_url: String,
    /// The idempotency key.
    pub idempotency_key: String,
}

/// An open hosted checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    /// Its id.
    pub id: String,
    /// Where to send the customer.
    pub url: String,
}

impl PaymentProvider {
    /// The provider `config` names.
    ///
    /// # Errors
    /// An unknown provider name, listing the known ones.
    pub fn from_config(config: &PaymentConfig) -> Result<Self, String> {
        match config.provider.as_str() {
            "stripe" => Ok(PaymentProvider::Stripe(stripe::Stripe::new(
                &config.api_url,
                &config.api_key,
                &config.api_version,
            ))),
            other => Err(format!(
                "payment_provider `{other}` is not one of {}",
                PAYMENT_PROVIDERS.join(", ")
            )),
        }
    }

    /// Its name, as in the webhook route and the payment records.
    pub fn name(&self) -> &'static str {
        match self {
            PaymentProvider::Stripe(_) => "stripe",
        }
    }

    /// Creates (or, under the same key, finds) a payment intent; returns its id.
    pub fn create_intent(&self, out: &dyn Outbound, request: &IntentRequest) -> Result<String, CallError> {
        match self {
            PaymentProvider::Stripe(s) => s.create_intent(out, request),
        }
    }

    /// Reads a payment intent.
    pub fn retrieve_intent(&self, out: &dyn Outbound, intent: &str) -> Result<IntentInfo, CallError> {
        match self {
            PaymentProvider::Stripe(s) => s.retrieve_intent(out, intent),
        }
    }

    /// Cancels a payment intent; one already cancelled or unknown counts as cancelled.
    pub fn cancel_intent(&self, out: &dyn Outbound, intent: &str) -> Result<(), CallError> {
        match self {
            PaymentProvider::Stripe(s) => s.cancel_intent(out, intent),
        }
    }

    /// Charges an intent off-session with the saved payment method (a
    /// renewal). `key` makes one attempt idempotent; an intent is charged
    /// at most once.
    pub fn confirm_off_session(&self, out: &dyn Outbound, intent: &str, key: &str) -> Result<Charge, CallError> {
        match self {
            PaymentProvider::Stripe(s) => s.confirm_off_session(out, intent, key),
        }
    }

    /// Refunds (part of) a paid intent, once per key.
    pub fn create_refund(&self, out: &dyn Outbound, request: &RefundRequest) -> Result<RefundInfo, CallError> {
        match self {
            PaymentProvider::Stripe(s) => s.create_refund(out, request),
        }
    }

    /// Opens a hosted checkout page for a payment.
    pub fn create_checkout(&self, out: &dyn Outbound, request: &CheckoutRequest) -> Result<CheckoutSession, CallError> {
        match self {
            PaymentProvider::Stripe(s) => s.create_checkout(out, request),
        }
    }

    /// Verifies a webhook request (signature by one of `secrets`, time
    /// within tolerance of `now`, size) and parses its event: 400 or 413
    /// otherwise, and nothing is read from an unverified body.
    pub fn parse_webhook(
        &self,
        request: &RequestParts,
        secrets: &WebhookSecrets,
        now_unix: i64,
    ) -> Result<PaymentEvent, ApiError> {
        match self {
            PaymentProvider::Stripe(_) => stripe::parse_webhook(request, secrets, now_unix),
        }
    }
}

/// The order's payment intent request: its total, with the order and
/// tenant in the metadata, keyed by the order (one intent per order).
pub fn order_intent(tenant: &TenantId, order: OrderId, amount: &Money) -> IntentRequest {
    IntentRequest {
        amount: *amount,
        description: format!("Order {order}"),
        metadata: vec![
            ("order_id".into(), order.to_string()),
            ("tenant".into(), tenant.as_str().to_owned()),
        ],
        saved: None,
        // Every item of an order renews: keep the method for the renewals.
        save_for_renewals: true,
        idempotency_key: format!("intent-{order}"),
    }
}

/// The payment intent request of `subscription`'s renewal of `period`:
/// one per (subscription, period), charged to `saved` when known.
pub fn renewal_intent(subscription: &Subscription, period: u32, saved: Option<SavedMethod>) -> IntentRequest {
    IntentRequest {
        amount: subscription.price,
        description: format!("Renewal of subscription {}, period {period}", subscription.id),
        metadata: vec![
            ("subscription_id".into(), subscription.id.to_string()),
            ("period".into(), period.to_string()),
            ("order_id".into(), subscription.order.to_string()),
            ("tenant".into(), subscription.tenant.as_str().to_owned()),
        ],
        saved,
        save_for_renewals: false,
        idempotency_key: format!("renewal-{}-{period}", subscription.id),
    }
}
