//! Simulated external providers for tests and local development: a
//! payment provider speaking Stripe's wire format, our own cloud API that
//! provisions asynchronously, Hetzner Cloud's API v1, and an email API that
//! records what it is asked to send.
//!
//! They are deliberately **outside the product**: the platform talks to them
//! over HTTP exactly as it would to the real providers, configured by base
//! URL and credentials. Each one has a `/_sim/...` control surface for tests
//! (driving the "customer", injecting faults, inspecting what was received).
//!
//! The `sims` binary starts them all; [`start`] does the same in-process.
//! [`sign`] produces a `Stripe-Signature` header so tests can craft webhooks.

mod app;
mod checkout;
mod clock;
mod cloud;
mod email;
mod faults;
mod form;
mod hetzner;
mod idempotency;
mod ids;
mod payments;
mod signature;
mod webhooks;

pub mod client;
pub mod server;

pub use app::{start, Config, Running, DEFAULT_WEBHOOK_SECRET};
pub use payments::API_VERSION;
pub use signature::{sign, verify};
pub use webhooks::{Delivery, DeliveryOptions};
