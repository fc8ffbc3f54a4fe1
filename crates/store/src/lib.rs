//! All SQL of the platform, in one place.
//!
//! The store speaks to a database through the small [`Db`] trait, so the same
//! statements run on Spin's SQLite inside a component and on a native SQLite
//! in tests. Every write of an order change goes through one transaction that
//! also writes its audit record and its outbox events.

mod codec;
mod db;
mod error;
mod idempotency;
mod migrate;
mod orders;
mod saga;
#[cfg(feature = "native-sqlite")]
mod native_sqlite;
#[cfg(feature = "spin")]
mod spin_sqlite;

pub use db::{Cell, Db, DbError, Dialect, Param, Row, Rows};
pub use error::StoreError;
pub use idempotency::{Claim, IdempotencyRecord};
pub use migrate::{latest as latest_migration, MIGRATIONS};
pub use orders::{AuditRecord, ListFilter, OutboxRow, Store};
pub use saga::{Job, JobState, SealedCredentials};
#[cfg(feature = "native-sqlite")]
pub use native_sqlite::NativeSqlite;
#[cfg(feature = "spin")]
pub use spin_sqlite::SpinSqlite;
