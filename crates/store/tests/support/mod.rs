//! What the store's test suites share: the throwaway PostgreSQL cluster,
//! either native backend behind one type, and a migrated database holding
//! one draft order. Each suite is its own crate and uses part of this.
#![allow(dead_code)]

#[path = "../../../../tests/src/pg_cluster.rs"]
pub mod pg_cluster;

use chrono::{DateTime, Utc};
use orderflow_core::*;
use orderflow_store::{NativePg, NativeSqlite, Store};
use serde_json::json;
use uuid::Uuid;

/// Either native backend (the store's own).
pub use orderflow_store::NativeDb as AnyDb;

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A migrated database holding one draft order.
pub struct Fixture {
    _dir: tempfile::TempDir,
    /// As the application (PostgreSQL: the app role, under row-level security).
    pub store: Store<AnyDb>,
    pub order: Order,
    /// Opens another connection to the same database, as the application.
    pub connect: Box<dyn Fn() -> Store<AnyDb> + Send + Sync>,
}

/// A three-item monthly VPS draft of `tenant`: order `n`, items
/// `n * 1000 + 1` … `n * 1000 + 3`.
pub fn draft(tenant: &str, n: u128, now: DateTime<Utc>) -> Order {
    let spec = parse_item(
        &Catalog::standard(),
        &json!({"product":"vps","billing_cycle":"monthly","config":{"region":"lj-1","plan":"core","os_image":"debian-12"}}),
        "",
    )
    .unwrap();
    let items = (1..=3)
        .map(|k| (ItemId::from_uuid(Uuid::from_u128(n * 1000 + k)), spec.clone()))
        .collect();
    Order::draft(
        &Catalog::standard(),
        OrderId::from_uuid(Uuid::from_u128(n)),
        tenant.parse().unwrap(),
        items,
        now,
    )
    .unwrap()
    .delivering_to(EmailAddress::parse("buyer@acme.example").unwrap())
}

/// A database of `backend` migrated at `now`, holding one draft of tenant
/// `acme` (order 77, whose items are 77001…77003). `hint` names the
/// PostgreSQL database.
pub fn fixture(backend: Backend, hint: &str, now: DateTime<Utc>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let connect: Box<dyn Fn() -> Store<AnyDb> + Send + Sync> = match backend {
        Backend::Sqlite => {
            let path = dir.path().join("db.sqlite");
            Box::new(move || Store::new(AnyDb::Sqlite(NativeSqlite::open(&path).unwrap())))
        }
        Backend::Postgres => {
            let db = pg_cluster::fresh_database(hint, |owner| {
                Store::new(NativePg::connect(owner).unwrap()).migrate(now).unwrap();
            });
            Box::new(move || Store::new(AnyDb::Postgres(Box::new(NativePg::connect(&db.app_url).unwrap()))))
        }
    };
    let store = connect();
    store.migrate(now).unwrap();
    let order = draft("acme", 77, now);
    store
        .write(|s| s.insert_order(&order, &created_event(&order), Actor::Customer, "u"))
        .unwrap();
    Fixture {
        _dir: dir,
        store,
        order,
        connect,
    }
}
