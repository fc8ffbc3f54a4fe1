//! The fulfillment saga's shell: provider clients over an abstract outbound
//! HTTP, the credential vault, the payment webhook, and the worker that runs
//! due jobs and records each outcome as a decision.

pub mod clouds;
mod expiry;
pub mod mailers;
mod outbound;
pub mod payments;
mod providers;
mod refunds;
mod retention;
mod subscription_end;
mod vault;
mod webhook;
mod worker;

#[cfg(test)]
mod decision_tests;

pub use expiry::{expire_unpaid_orders, EXPIRY_BATCH};
pub use outbound::{OutRequest, OutResponse, Outbound};
pub use payments::{PaymentChange, PaymentConfig, PaymentEvent, PaymentProvider};
pub use providers::{
    CallError, Charge, CloudCalls, Endpoint, MailCalls, PaymentCalls, Providers, ResourceStatus, SagaProviders,
};
pub use retention::{purge_expired, webhook_dedup_window, Purged, PURGE_BATCH};
pub use subscription_end::{request_late_refund, schedule_end};
pub use vault::{Vault, VaultError, NONCE_LEN};
pub use webhook::{handle_payment_webhook, WebhookOutcome};
pub(crate) use worker::SUBJECT as SAGA_SUBJECT;
pub use worker::{
    drive, provider_timeout, record_failed_hand_over, run_claimed_job, run_due_jobs, run_handed_jobs, run_job, scaled,
    SagaEnv, TickReport, RELEASE_DELAY,
};
