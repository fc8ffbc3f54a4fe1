//! The outbox relay: reads the outbox of SQLite or PostgreSQL in write order
//! and publishes every event to Kafka, at least once, one order's events in
//! the order they were written.
//!
//! - Claims: see `orderflow_store::Store::relay_round` (PostgreSQL: `FOR
//!   UPDATE SKIP LOCKED` inside the transaction that marks the rows, so
//!   several relays may run; SQLite: a lease, one relay).
//! - Publishing: `rdkafka` with the idempotent producer (`acks=all`, at most
//!   5 requests in flight, so retries keep order), key = order id, so one
//!   order's events land on one partition in order. A row is marked published
//!   only after the broker acknowledged it; a crash re-publishes at most
//!   (same event id, for consumer dedup).
//! - Events: CloudEvents 1.0, Kafka protocol binding, binary mode
//!   ([`cloudevents`]). Topics per event family: `orderflow.order.v1`,
//!   `orderflow.billing.v1`, `orderflow.subscription.v1` (`EventType::topic`).
//! - Metrics: published, errors and lag (age of the oldest unpublished
//!   event), printed to stdout as one `metrics …` line per interval, and
//!   served as Prometheus text on `--metrics-listen` ([`exposition`]).

mod cloudevents;
mod database;
pub mod exposition;
mod metrics;
mod publisher;
mod runner;
pub mod schedule;

pub use cloudevents::{headers, CE_SOURCE};
pub use database::{open, AnyDb, OpenError};
pub use metrics::Metrics;
pub use publisher::{Publisher, PublisherConfig, PublisherError};
pub use runner::{run, RelayConfig, RelayError};
