//! The order-lifecycle domain, pure: no I/O, no clock, no randomness.
//!
//! Time and identifiers are passed in by the caller, so every function here is
//! deterministic and tested natively. The shells (Spin components, the relay)
//! decode input, call into this crate, and persist what it decides.

mod capacity;
mod catalog;
mod closed_set;
mod config;
mod delivery;
mod events;
mod ids;
mod lifecycle;
mod money;
mod order;
mod pricing;
mod quota;
pub mod saga;
mod state;
mod subscription;
mod violation;

#[cfg(test)]
mod lifecycle_tests;

pub use capacity::{capacity_units, check_capacity};
pub use catalog::{
    BillingCycle, Catalog, ClusterSize, DbEngine, DbPlan, Framework, GpuModel, Limits, OsImage, ProductType, Quota,
    Rates, Region, RegionOffer, Replication, StorageClass, StorageTier, VpsPlan, VpsPlanSpec,
};
pub use closed_set::{ClosedSet, UnknownName};
pub use config::{
    parse_item, parse_items, Autoscaling, DatabaseConfig, GpuConfig, ItemSpec, KubernetesConfig, ObjectStorageConfig,
    PrivateCloudConfig, ProductConfig, VpsConfig,
};
pub use delivery::{
    access_details_message, order_delivery_address, AccessMessage, EmailAddress, EmailError, NoDeliveryAddress,
    MAX_EMAIL_LEN,
};
pub use events::{routing_matrix, Consumer, Event, EventId, EventType};
pub use ids::{ItemId, OrderId, ParseIdError, TenantId};
pub use lifecycle::{created_event, decide, Actor, Audit, Command, Decision, Effect, Rejection, ALLOWED_TRANSITIONS};
pub use money::{Currency, Money, MoneyError};
pub use order::{Compensation, Order, OrderItem, Payment, ProductSnapshot};
pub use pricing::{check_shown_total, order_total, price_item, PriceLine, PriceMismatch, PriceSnapshot, TOLERANCE_EUR};
pub use quota::{check_quota, demand};
// The saga's vocabulary, used across the shells; the rest is reached as
// `orderflow_core::saga::...`.
pub use saga::{
    check_refund_bounds, jobs_for, refund_state_of_provider_status, JobId, JobKind, JobPayload, NewJob, ObservedRefund,
    PlannedRefund, Refund, RefundBoundViolation, RefundChange, RefundId, RefundScope, RefundState, SagaJob, SAGA,
};
pub use state::{ItemState, OrderState};
pub use subscription::{
    after_renewal_failure, months_per_period, period_bounds, period_end, renewal_due, DueAction, IntentCheck,
    RenewalState, Subscription, SubscriptionChange, SubscriptionId, SubscriptionRejection, SubscriptionStatus,
    RENEWAL_RECHECK_SECS, RENEWAL_RETRY_DELAYS_SECS,
};
pub use violation::{pointer_join, Rule, Violation};
