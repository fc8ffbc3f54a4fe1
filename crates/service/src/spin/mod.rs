//! The component host code: what a component needs of Spin, split by
//! concern. [`config`]: the variables, parsed once per request into typed
//! values; [`roles`]: the one credential and role check; [`store`]: the
//! clock, the store and the saga's environment; [`outbound`]: provider
//! calls over `wasi:http`; [`chain`]: service chaining, the kick and the
//! step components' hand-over; [`tick`]: the saga's scheduler; [`entry`]:
//! the entry point's response, sent before the work queued after it.

pub mod chain;
pub mod config;
pub mod entry;
pub mod outbound;
pub mod roles;
pub mod store;
pub mod tick;

pub use chain::{chain, drive_order, hand_over, internal_url, kick, run_handed_job, KICK_PATH};
pub use config::{
    config, database_url, payment_provider, renewal_lead, token_verifier, variable, webhook_secrets, Config,
    WebhookSaga,
};
pub use entry::after_response;
pub use outbound::SpinOutbound;
pub use roles::{principal, require, require_service};
pub use store::{advance_clock, context, open_store, saga_env, sync_clock, Needs};
pub use tick::tick;

/// This request's correlation id: the caller's `x-correlation-id` when it
/// sent a well-formed one, else a fresh UUIDv7 ([`crate::observe`]).
pub fn correlation_id() -> String {
    crate::observe::correlation_id()
}
