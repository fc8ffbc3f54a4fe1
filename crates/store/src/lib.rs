//! All SQL of the platform, in one place.
//!
//! The store speaks to a database through the small [`Db`] trait, so the same
//! statements run on Spin's SQLite or PostgreSQL inside a component and on a
//! native SQLite or PostgreSQL in tests and tools. Every write of an order
//! change goes through one transaction that also writes its audit record and
//! its outbox events; the relay reads the outbox through [`Store::relay_round`].

mod analytics;
mod capacity;
mod codec;
mod db;
mod delivery;
mod ending;
mod error;
mod idempotency;
mod metrics;
mod migrate;
#[cfg(all(feature = "native-sqlite", feature = "native-pg"))]
mod native;
#[cfg(feature = "native-pg")]
mod native_pg;
#[cfg(feature = "native-sqlite")]
mod native_sqlite;
pub mod one_row;
mod orders;
mod outbox;
mod payments;
mod refunds;
mod resources;
mod retention;
mod saga;
#[cfg(feature = "spin")]
mod spin_db;
#[cfg(feature = "spin")]
mod spin_pg;
#[cfg(feature = "spin")]
mod spin_sqlite;
mod subscriptions;

pub use analytics::{AnalyticsRows, PaidOrder};
pub use db::{Cell, Db, DbError, Dialect, Param, Row, Rows, SqliteValue};
pub use delivery::{TenantAuditRecord, TenantDelivery};
pub use error::StoreError;
pub use idempotency::{Claim, IdempotencyRecord};
pub use metrics::OpsMetrics;
pub use migrate::{latest as latest_migration, migrations, MIGRATIONS, POSTGRES_MIGRATIONS};
#[cfg(all(feature = "native-sqlite", feature = "native-pg"))]
pub use native::NativeDb;
#[cfg(feature = "native-pg")]
pub use native_pg::NativePg;
#[cfg(feature = "native-sqlite")]
pub use native_sqlite::NativeSqlite;
pub use orders::{AuditRecord, ListFilter, OutboxRow, Store};
pub use outbox::{Backlog, Relay, RelayRow};
pub use resources::SealedCredentials;
pub use saga::{Job, JobState};
#[cfg(feature = "spin")]
pub use spin_db::SpinDb;
#[cfg(feature = "spin")]
pub use spin_pg::SpinPg;
#[cfg(feature = "spin")]
pub use spin_sqlite::SpinSqlite;
pub use subscriptions::Renewal;
