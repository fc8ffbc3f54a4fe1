//! The use cases behind the HTTP API, shared by the components.
//!
//! Each use case decodes a request, asks the core for a decision, writes it
//! through the store in one transaction (with its idempotency record) and
//! renders the response. Components only wire Spin to these functions.

pub mod analytics;
pub mod clock;
mod component;
mod context;
pub mod delivery;
mod errors;
mod idempotent;
pub mod observe;
mod openapi;
mod orders;
mod products;
mod router;
pub mod saga;
#[cfg(feature = "spin")]
pub mod spin;
mod subscriptions;
mod views;
#[cfg(any(test, feature = "world"))]
pub mod world;

pub use analytics::{get_analytics, FigureCache};
pub use context::Ctx;
pub use delivery::{get_tenant_delivery, put_tenant_delivery};
pub use errors::{from_rejection, from_store, from_violations};
pub use idempotent::{write_idempotently, Prepared};
pub use openapi::{route_drift, OPENAPI};
pub use orders::{
    audit_trail, cancel_order, change_delivery_address, create_order, edit_order, get_order, list_orders, order_jobs,
    redeliver_item, restore_order, retry_parked_job, revert_payment, submit_order,
};
pub use products::{list_products, quote};
pub use router::{dispatch, Params, Route};
pub use subscriptions::{
    apply_renewal_payment, cancel_subscription, list_subscriptions, run_renewals, subscription_view, RenewReport,
    RenewalOutcome, SubscriptionView,
};
pub use views::{audit_for, order_view, Audience, OrderView, Progress, PROVIDER_TROUBLE, PROVIDER_TROUBLE_RETRYING};
