//! The store's contract, on a real SQLite file: migrations, the version
//! guard, one-transaction writes of order + audit + outbox, listing, and
//! idempotency claims. The PostgreSQL backend must pass the same suite.

use chrono::{DateTime, Duration, TimeZone, Utc};
use orderflow_core::*;
use orderflow_store::{Claim, Db, ListFilter, NativeSqlite, Store, StoreError};
use rust_decimal_macros::dec;
use serde_json::json;
use uuid::Uuid;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let f = Fixture { _dir: dir, path };
        f.store().migrate(now()).unwrap();
        f
    }

    fn store(&self) -> Store<NativeSqlite> {
        Store::new(NativeSqlite::open(&self.path).unwrap())
    }
}

fn tenant(s: &str) -> TenantId {
    s.parse().unwrap()
}

fn new_order(store: &Store<NativeSqlite>, t: &str, n: u128, at: DateTime<Utc>) -> Order {
    let spec = parse_item(
        &Catalog::standard(),
        &json!({"product":"vps","billing_cycle":"annual","config":{"region":"lj-1","plan":"business","os_image":"debian-12"}}),
        "",
    )
    .unwrap();
    let order = Order::draft(
        &Catalog::standard(),
        OrderId::from_uuid(Uuid::from_u128(n)),
        tenant(t),
        vec![(ItemId::from_uuid(Uuid::from_u128(n * 100)), spec)],
        at,
    )
    .unwrap();
    store.write(|s| s.insert_order(&order, &created_event(&order), Actor::Customer, "user-1")).unwrap();
    order
}

fn count(store: &Store<NativeSqlite>, table: &str) -> i64 {
    let rows = store.db().run(&format!("SELECT count(*) AS n FROM {table}"), &[]).unwrap();
    rows.first().unwrap().int("n").unwrap()
}

fn schema(store: &Store<NativeSqlite>) -> Vec<String> {
    let rows = store
        .db()
        .run("SELECT type || ' ' || name || ' ' || coalesce(sql, '') AS s FROM sqlite_master ORDER BY name", &[])
        .unwrap();
    rows.iter().map(|r| r.text("s").unwrap().to_owned()).collect()
}

#[test]
fn migrating_twice_changes_nothing() {
    let f = Fixture::new();
    let before = schema(&f.store());
    f.store().migrate(now()).unwrap();
    assert_eq!(schema(&f.store()), before);
    assert_eq!(count(&f.store(), "schema_migrations"), orderflow_store::MIGRATIONS.len() as i64);
}

#[test]
fn concurrent_first_migrations_do_not_race() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || Store::new(NativeSqlite::open(&path).unwrap()).migrate(now()))
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    let store = Store::new(NativeSqlite::open(&path).unwrap());
    assert_eq!(count(&store, "schema_migrations"), orderflow_store::MIGRATIONS.len() as i64);
}

#[test]
fn the_schema_checks_list_exactly_the_domain_names() {
    let f = Fixture::new();
    let store = f.store();
    let check_of = |table: &str, column: &str| -> Vec<String> {
        let rows = store
            .db()
            .run("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1", &[table.into()])
            .unwrap();
        let ddl = rows.first().unwrap().text("sql").unwrap().to_owned();
        let start = ddl.find(&format!("{column} IN (")).unwrap_or_else(|| panic!("no CHECK on {table}.{column}"));
        let rest = &ddl[start + column.len() + 5..];
        let end = rest.find(')').unwrap();
        rest[..end].split(',').map(|s| s.split_whitespace().collect::<String>().trim_matches('\'').to_owned()).collect()
    };
    assert_eq!(check_of("orders", "state"), OrderState::names());
    assert_eq!(check_of("order_items", "state"), ItemState::names());
    assert_eq!(check_of("order_items", "product"), ProductType::names());
    assert_eq!(check_of("order_items", "billing_cycle"), BillingCycle::names());
}

#[test]
fn an_order_round_trips_with_its_snapshots() {
    let f = Fixture::new();
    let store = f.store();
    let order = new_order(&store, "acme", 1, now());
    let loaded = store.order(&tenant("acme"), order.id).unwrap().unwrap();
    assert_eq!(loaded, order);
    assert_eq!(loaded.total, Money::eur(dec!(192.96)));
}

#[test]
fn another_tenants_order_is_invisible() {
    let f = Fixture::new();
    let store = f.store();
    let order = new_order(&store, "acme", 1, now());
    assert_eq!(store.order(&tenant("globex"), order.id).unwrap(), None);
    assert!(store.list_orders(&tenant("globex"), &ListFilter { limit: 10, ..Default::default() }).unwrap().is_empty());
}

#[test]
fn creation_writes_one_audit_record_and_one_outbox_event() {
    let f = Fixture::new();
    let store = f.store();
    let order = new_order(&store, "acme", 1, now());
    let audit = store.audit(&tenant("acme"), order.id).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!((audit[0].command.as_str(), audit[0].to.as_str(), audit[0].from.as_deref()), ("create", "draft", None));
    let outbox = store.outbox_of(&tenant("acme"), order.id).unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].event_type, "order.created");
    assert_eq!(outbox[0].key, order.id.to_string());
}

#[test]
fn a_decision_commits_order_audit_and_events_together() {
    let f = Fixture::new();
    let store = f.store();
    let order = new_order(&store, "acme", 1, now());
    let d = decide(&order, Command::Submit { shown_total: order.total }, Actor::Customer, &Catalog::standard(), now())
        .unwrap();
    store.write(|s| s.apply(order.version, &d, "user-1")).unwrap();
    let loaded = store.order(&tenant("acme"), order.id).unwrap().unwrap();
    assert_eq!(loaded.state, OrderState::PendingPayment);
    assert_eq!(loaded.version, 2);
    assert_eq!(store.audit(&tenant("acme"), order.id).unwrap().len(), 2);
    let types: Vec<String> = store.outbox_of(&tenant("acme"), order.id).unwrap().into_iter().map(|r| r.event_type).collect();
    assert_eq!(types, ["order.created", "order.submitted"]);
}

#[test]
fn a_stale_version_changes_nothing() {
    let f = Fixture::new();
    let store = f.store();
    let order = new_order(&store, "acme", 1, now());
    let submit = decide(&order, Command::Submit { shown_total: order.total }, Actor::Customer, &Catalog::standard(), now())
        .unwrap();
    let cancel = decide(&order, Command::Cancel { reason: "x".into() }, Actor::Customer, &Catalog::standard(), now())
        .unwrap();
    store.write(|s| s.apply(order.version, &submit, "u")).unwrap();
    let (audit, outbox) = (count(&store, "audit_log"), count(&store, "outbox"));
    let err = store.write(|s| s.apply(order.version, &cancel, "u")).unwrap_err();
    assert_eq!(err, StoreError::VersionConflict { expected: 1 });
    assert_eq!((count(&store, "audit_log"), count(&store, "outbox")), (audit, outbox));
    assert_eq!(store.order(&tenant("acme"), order.id).unwrap().unwrap().state, OrderState::PendingPayment);
}

#[test]
fn concurrent_writers_with_one_version_produce_exactly_one_winner() {
    let f = Fixture::new();
    let order = new_order(&f.store(), "acme", 1, now());
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let path = f.path.clone();
            let order = order.clone();
            std::thread::spawn(move || {
                let store = Store::new(NativeSqlite::open(&path).unwrap());
                let d = decide(&order, Command::Cancel { reason: "x".into() }, Actor::Customer, &Catalog::standard(), now())
                    .unwrap();
                store.write(|s| s.apply(order.version, &d, "u")).is_ok()
            })
        })
        .collect();
    let wins = handles.into_iter().map(|h| h.join().unwrap()).filter(|w| *w).count();
    assert_eq!(wins, 1);
    assert_eq!(count(&f.store(), "audit_log"), 2);
}

#[test]
fn listing_is_newest_first_pages_by_cursor_and_hides_deleted() {
    let f = Fixture::new();
    let store = f.store();
    let orders: Vec<Order> = (1..=5).map(|n| new_order(&store, "acme", n, now() + Duration::seconds(n as i64))).collect();
    let cancelled = decide(&orders[2], Command::Cancel { reason: "x".into() }, Actor::Customer, &Catalog::standard(), now())
        .unwrap();
    store.write(|s| s.apply(1, &cancelled, "u")).unwrap();

    let page1 = store.list_orders(&tenant("acme"), &ListFilter { limit: 2, ..Default::default() }).unwrap();
    assert_eq!(page1.iter().map(|o| o.id).collect::<Vec<_>>(), [orders[4].id, orders[3].id]);
    let last = page1.last().unwrap();
    let page2 = store
        .list_orders(&tenant("acme"), &ListFilter { limit: 2, after: Some((last.created_at, last.id)), ..Default::default() })
        .unwrap();
    assert_eq!(page2.iter().map(|o| o.id).collect::<Vec<_>>(), [orders[1].id, orders[0].id]);
    assert!(page2.iter().all(|o| o.items.len() == 1));

    let all = store.list_orders(&tenant("acme"), &ListFilter { limit: 10, include_deleted: true, ..Default::default() }).unwrap();
    assert_eq!(all.len(), 5);
    let only_cancelled = store
        .list_orders(
            &tenant("acme"),
            &ListFilter { limit: 10, include_deleted: true, state: Some(OrderState::Cancelled), ..Default::default() },
        )
        .unwrap();
    assert_eq!(only_cancelled.iter().map(|o| o.id).collect::<Vec<_>>(), [orders[2].id]);
}

#[test]
fn an_idempotency_key_is_claimed_once_completed_and_then_replayed() {
    let f = Fixture::new();
    let store = f.store();
    let t = tenant("acme");
    let (ttl, abandon) = (Duration::hours(24), Duration::seconds(30));
    assert_eq!(store.claim_key(&t, "k1", "fp", now(), ttl, abandon).unwrap(), Claim::Claimed);
    match store.claim_key(&t, "k1", "fp", now(), ttl, abandon).unwrap() {
        Claim::Existing(r) => assert_eq!(r.response, None),
        other => panic!("{other:?}"),
    }
    store.write(|s| s.complete_key(&t, "k1", b"saved")).unwrap();
    match store.claim_key(&t, "k1", "fp", now() + Duration::hours(23), ttl, abandon).unwrap() {
        Claim::Existing(r) => assert_eq!(r.response.as_deref(), Some(&b"saved"[..])),
        other => panic!("{other:?}"),
    }
    // Another tenant's key space is separate.
    assert_eq!(store.claim_key(&tenant("globex"), "k1", "fp", now(), ttl, abandon).unwrap(), Claim::Claimed);
    // After 24 hours the key is free again.
    assert_eq!(store.claim_key(&t, "k1", "fp2", now() + Duration::hours(24), ttl, abandon).unwrap(), Claim::Claimed);
}

#[test]
fn an_abandoned_in_flight_key_is_taken_over() {
    let f = Fixture::new();
    let store = f.store();
    let t = tenant("acme");
    let (ttl, abandon) = (Duration::hours(24), Duration::seconds(30));
    assert_eq!(store.claim_key(&t, "k", "fp", now(), ttl, abandon).unwrap(), Claim::Claimed);
    assert!(matches!(store.claim_key(&t, "k", "fp", now() + Duration::seconds(29), ttl, abandon).unwrap(), Claim::Existing(_)));
    assert_eq!(store.claim_key(&t, "k", "fp", now() + Duration::seconds(30), ttl, abandon).unwrap(), Claim::Claimed);
    store.release_key(&t, "k").unwrap();
    assert_eq!(store.claim_key(&t, "k", "fp", now() + Duration::seconds(31), ttl, abandon).unwrap(), Claim::Claimed);
}
