//! The component host code: what a component needs of Spin, split by
//! concern. [`variables`]: the Spin variables, parsed once per request into
//! typed values; [`clock`]: the application's clock brought in line;
//! [`roles`]: the one credential and role check; [`store`]: the store, a
//! request's context and the saga's environment; [`outbound`]: provider
//! calls over `wasi:http`; [`chain`]: service chaining, the kick and the
//! step components' hand-over; [`tick`]: the saga's scheduler; [`ops`]: the
//! health check and the metrics route; [`entry`]: the entry point's
//! response, sent before the work queued after it.

pub mod chain;
pub mod clock;
pub mod entry;
pub mod ops;
pub mod outbound;
pub mod roles;
pub mod store;
pub mod tick;
pub mod variables;

pub use chain::{chain, drive_order, hand_over, internal_url, kick, run_handed_job, KICK_PATH};
pub use clock::{advance_clock, sync_clock};
pub use entry::after_response;
pub use outbound::SpinOutbound;
pub use roles::{principal, require, require_service};
pub use store::{context, open_store, saga_env, Needs};
pub use tick::tick;
pub use variables::{
    database_url, payment_provider, renewal_lead, token_verifier, variable, variables, webhook_secrets, Variables,
    WebhookSaga,
};

/// This request's correlation id: the caller's `x-correlation-id` when it
/// sent a well-formed one, else a fresh UUIDv7 ([`crate::observe`]).
pub fn correlation_id() -> String {
    crate::observe::correlation_id()
}
