//! The store's contract, on a real SQLite file and on a real PostgreSQL
//! (as the application role, under row-level security): migrations, the
//! version guard, one-transaction writes of order + audit + outbox, listing,
//! and idempotency claims. Every test runs once per backend
//! (`sqlite::…` and `postgres::…`).

mod support;

use chrono::{DateTime, Duration, TimeZone, Utc};
use orderflow_core::*;
use orderflow_store::{Claim, Db, ListFilter, NativePg, NativeSqlite, Store, StoreError};
use rust_decimal_macros::dec;
use serde_json::json;
use uuid::Uuid;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

use support::{pg_cluster, AnyDb};

/// A fresh, migrated database of one backend.
enum Fixture {
    Sqlite {
        _dir: std::sync::Arc<tempfile::TempDir>,
        path: std::path::PathBuf,
    },
    Postgres(pg_cluster::TestDatabase),
}

impl Fixture {
    fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let f = Fixture::Sqlite {
            _dir: std::sync::Arc::new(dir),
            path,
        };
        f.owner().migrate(now()).unwrap();
        f
    }

    fn postgres(hint: &str) -> Fixture {
        Fixture::Postgres(pg_cluster::fresh_database(hint, |owner| {
            Store::new(NativePg::connect(owner).unwrap()).migrate(now()).unwrap();
        }))
    }

    /// An unmigrated database of the same backend, for migration tests.
    fn empty_like(&self, hint: &str) -> Fixture {
        match self {
            Fixture::Sqlite { .. } => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("db.sqlite");
                Fixture::Sqlite {
                    _dir: std::sync::Arc::new(dir),
                    path,
                }
            }
            Fixture::Postgres(_) => Fixture::Postgres(pg_cluster::fresh_database(hint, |_| {})),
        }
    }

    fn clone_handle(&self) -> Fixture {
        match self {
            Fixture::Sqlite { _dir, path } => Fixture::Sqlite {
                _dir: _dir.clone(),
                path: path.clone(),
            },
            Fixture::Postgres(db) => Fixture::Postgres(db.clone()),
        }
    }

    /// The store as the application uses it (PostgreSQL: the app role).
    fn store(&self) -> Store<AnyDb> {
        match self {
            Fixture::Sqlite { path, .. } => Store::new(AnyDb::Sqlite(NativeSqlite::open(path).unwrap())),
            Fixture::Postgres(db) => Store::new(AnyDb::Postgres(Box::new(NativePg::connect(&db.app_url).unwrap()))),
        }
    }

    /// The store as the schema owner (migrations).
    fn owner(&self) -> Store<AnyDb> {
        match self {
            Fixture::Sqlite { .. } => self.store(),
            Fixture::Postgres(db) => Store::new(AnyDb::Postgres(Box::new(NativePg::connect(&db.owner_url).unwrap()))),
        }
    }

    /// A connection that sees every row (PostgreSQL: the superuser), for assertions.
    fn inspector(&self) -> AnyDb {
        match self {
            Fixture::Sqlite { path, .. } => AnyDb::Sqlite(NativeSqlite::open(path).unwrap()),
            Fixture::Postgres(db) => AnyDb::Postgres(Box::new(NativePg::connect(&db.superuser_url).unwrap())),
        }
    }

    fn count(&self, table: &str) -> i64 {
        let rows = self
            .inspector()
            .run(&format!("SELECT count(*) AS n FROM {table}"), &[])
            .unwrap();
        rows.first().unwrap().int("n").unwrap()
    }

    /// Every table, index, constraint and policy, as text.
    fn schema(&self) -> Vec<String> {
        let sql = match self {
            Fixture::Sqlite { .. } => {
                "SELECT type || ' ' || name || ' ' || coalesce(sql, '') AS s FROM sqlite_master ORDER BY name"
            }
            Fixture::Postgres(_) => {
                "SELECT s FROM (
                   SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type AS s FROM information_schema.columns WHERE table_schema = 'public'
                   UNION ALL SELECT 'index ' || indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
                   UNION ALL SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace
                   UNION ALL SELECT 'policy ' || tablename || ' ' || policyname || ' ' || coalesce(qual, '') FROM pg_policies WHERE schemaname = 'public'
                 ) x ORDER BY s"
            }
        };
        let rows = self.inspector().run(sql, &[]).unwrap();
        rows.iter().map(|r| r.text("s").unwrap().to_owned()).collect()
    }

    /// The list inside `CHECK (column IN (…))` of `table`.
    fn check_of(&self, table: &str, column: &str) -> Vec<String> {
        let ddl = match self {
            Fixture::Sqlite { .. } => {
                let rows = self
                    .inspector()
                    .run(
                        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
                        &[table.into()],
                    )
                    .unwrap();
                rows.first().unwrap().text("sql").unwrap().to_owned()
            }
            Fixture::Postgres(_) => {
                let rows = self
                    .inspector()
                    .run(
                        "SELECT string_agg(pg_get_constraintdef(oid), ' ') AS sql FROM pg_constraint
                          WHERE conrelid = to_regclass($1) AND contype = 'c'",
                        &[table.into()],
                    )
                    .unwrap();
                rows.first().unwrap().text("sql").unwrap().to_owned()
            }
        };
        names_in_check(&ddl, column).unwrap_or_else(|| panic!("no CHECK on {table}.{column} in {ddl}"))
    }
}

/// Parses the names of `column IN ('a', 'b')` (SQLite) or
/// `column = ANY (ARRAY['a'::text, 'b'::text])` (PostgreSQL's rendering).
fn names_in_check(ddl: &str, column: &str) -> Option<Vec<String>> {
    let clean = |s: &str| -> String {
        let s = s.split("::").next().unwrap_or(s);
        s.split_whitespace().collect::<String>().trim_matches('\'').to_owned()
    };
    if let Some(start) = ddl.find(&format!("{column} IN (")) {
        let rest = &ddl[start + column.len() + 5..];
        let end = rest.find(')')?;
        return Some(rest[..end].split(',').map(clean).collect());
    }
    let start = ddl.find(&format!("({column} = ANY (ARRAY["))?;
    let rest = &ddl[start + column.len() + 15..];
    let end = rest.find(']')?;
    Some(rest[..end].split(',').map(clean).collect())
}

fn tenant(s: &str) -> TenantId {
    s.parse().unwrap()
}

/// The customer submits `order` at its own total.
fn submit(order: &Order) -> Decision {
    decide(
        order,
        Command::Submit {
            shown_total: order.total,
        },
        Actor::Customer,
        &Catalog::standard(),
        now(),
    )
    .unwrap()
}

fn new_order(store: &Store<AnyDb>, t: &str, n: u128, at: DateTime<Utc>) -> Order {
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
    .unwrap()
    .delivering_to(EmailAddress::parse("buyer@acme.example").unwrap());
    store
        .write(|s| s.insert_order(&order, &created_event(&order), Actor::Customer, "user-1"))
        .unwrap();
    order
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::Fixture::sqlite()) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(super::Fixture::postgres(stringify!($name))) } )*
        }
    };
}

contract!(
    migrating_twice_changes_nothing,
    concurrent_first_migrations_do_not_race,
    the_schema_checks_list_exactly_the_domain_names,
    an_order_round_trips_with_its_snapshots,
    a_changed_delivery_address_is_stored_audited_and_version_guarded,
    another_tenants_order_is_invisible,
    creation_writes_one_audit_record_and_one_outbox_event,
    a_decision_commits_order_audit_and_events_together,
    a_stale_version_changes_nothing,
    concurrent_writers_with_one_version_produce_exactly_one_winner,
    listing_is_newest_first_pages_by_cursor_and_hides_deleted,
    operators_can_list_only_the_orders_parked_for_them,
    an_idempotency_key_is_claimed_once_completed_and_then_replayed,
    an_abandoned_in_flight_key_is_taken_over,
    concurrent_claims_of_one_key_have_exactly_one_winner,
    an_idempotency_key_belongs_to_its_principal_not_to_the_whole_tenant,
    the_purge_removes_idempotency_records_older_than_a_day_in_bounded_batches,
    the_purge_removes_webhook_records_older_than_their_window_in_bounded_batches,
    the_application_cannot_change_or_remove_the_audit_log,
    free_capacity_is_each_pools_capacity_less_its_reservations,
    reads_in_one_snapshot_never_see_a_commit_that_lands_between_them,
    the_refund_and_job_checks_list_exactly_the_domain_names,
    a_cancelled_paid_order_records_its_refund_and_its_job_with_the_decision,
    the_database_refuses_more_refunded_than_paid_and_a_refund_decided_twice_is_recorded_once,
    a_refund_moves_forward_under_its_version,
    orders_unpaid_past_the_window_are_found_across_tenants_oldest_first,
);

fn migrating_twice_changes_nothing(f: Fixture) {
    let before = f.schema();
    f.owner().migrate(now()).unwrap();
    assert_eq!(f.schema(), before);
    assert_eq!(f.count("schema_migrations"), orderflow_store::MIGRATIONS.len() as i64);
}

fn concurrent_first_migrations_do_not_race(f: Fixture) {
    let empty = f.empty_like("concurrent_first_migrations");
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let f = empty.clone_handle();
            std::thread::spawn(move || f.owner().migrate(now()))
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    assert_eq!(
        empty.count("schema_migrations"),
        orderflow_store::MIGRATIONS.len() as i64
    );
}

fn the_schema_checks_list_exactly_the_domain_names(f: Fixture) {
    assert_eq!(f.check_of("orders", "state"), OrderState::names());
    assert_eq!(f.check_of("order_items", "state"), ItemState::names());
    assert_eq!(f.check_of("order_items", "product"), ProductType::names());
    assert_eq!(f.check_of("order_items", "billing_cycle"), BillingCycle::names());
}

fn an_order_round_trips_with_its_snapshots(f: Fixture) {
    let store = f.store();
    let order = new_order(&store, "acme", 1, now());
    let loaded = store.order(&tenant("acme"), order.id).unwrap().unwrap();
    assert_eq!(loaded, order);
    assert_eq!(loaded.total, Money::eur(dec!(192.96)));
}

fn a_changed_delivery_address_is_stored_audited_and_version_guarded(f: Fixture) {
    let store = f.store();
    let order = new_order(&store, "acme", 1, now());
    let address = EmailAddress::parse("jane@example.org").unwrap();
    let change = || Command::ChangeDeliveryAddress {
        address: address.clone(),
    };
    let d = decide(&order, change(), Actor::Customer, &Catalog::standard(), now()).unwrap();
    store.write(|s| s.apply(order.version, &d, "user-1")).unwrap();
    let loaded = store.order(&tenant("acme"), order.id).unwrap().unwrap();
    assert_eq!(loaded.delivery_email.as_ref(), Some(&address));
    assert_eq!(loaded.version, order.version + 1);
    let audit = store.audit(&tenant("acme"), order.id).unwrap();
    assert_eq!(audit.last().unwrap().reason, "delivery address set to j***@example.org");
    let events = store.outbox_of(&tenant("acme"), order.id).unwrap();
    assert_eq!(events.last().unwrap().event_type, "order.delivery-address-changed");
    // The same change against the version it was decided on is stale now.
    let stale = store.write(|s| s.apply(order.version, &d, "user-1"));
    assert!(matches!(stale, Err(StoreError::VersionConflict { .. })), "{stale:?}");
    assert_eq!(store.order(&tenant("acme"), order.id).unwrap().unwrap(), loaded);
}

fn another_tenants_order_is_invisible(f: Fixture) {
    let store = f.store();
    let order = new_order(&store, "acme", 1, now());
    assert_eq!(store.order(&tenant("globex"), order.id).unwrap(), None);
    assert!(store
        .list_orders(
            &tenant("globex"),
            &ListFilter {
                limit: 10,
                ..Default::default()
            }
        )
        .unwrap()
        .is_empty());
}

fn creation_writes_one_audit_record_and_one_outbox_event(f: Fixture) {
    let store = f.store();
    let order = new_order(&store, "acme", 1, now());
    let audit = store.audit(&tenant("acme"), order.id).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (
            audit[0].command.as_str(),
            audit[0].to.as_str(),
            audit[0].from.as_deref()
        ),
        ("create", "draft", None)
    );
    let outbox = store.outbox_of(&tenant("acme"), order.id).unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].event_type, "order.created");
    assert_eq!(outbox[0].key, order.id.to_string());
}

fn a_decision_commits_order_audit_and_events_together(f: Fixture) {
    let store = f.store();
    let order = new_order(&store, "acme", 1, now());
    let d = submit(&order);
    store.write(|s| s.apply(order.version, &d, "user-1")).unwrap();
    let loaded = store.order(&tenant("acme"), order.id).unwrap().unwrap();
    assert_eq!(loaded.state, OrderState::PendingPayment);
    assert_eq!(loaded.version, 2);
    assert_eq!(store.audit(&tenant("acme"), order.id).unwrap().len(), 2);
    let types: Vec<String> = store
        .outbox_of(&tenant("acme"), order.id)
        .unwrap()
        .into_iter()
        .map(|r| r.event_type)
        .collect();
    assert_eq!(types, ["order.created", "order.submitted"]);
}

fn a_stale_version_changes_nothing(f: Fixture) {
    let store = f.store();
    let order = new_order(&store, "acme", 1, now());
    let submitted = submit(&order);
    let cancel = decide(
        &order,
        Command::Cancel { reason: "x".into() },
        Actor::Customer,
        &Catalog::standard(),
        now(),
    )
    .unwrap();
    store.write(|s| s.apply(order.version, &submitted, "u")).unwrap();
    let (audit, outbox) = (f.count("audit_log"), f.count("outbox"));
    let err = store.write(|s| s.apply(order.version, &cancel, "u")).unwrap_err();
    assert_eq!(err, StoreError::VersionConflict { expected: 1 });
    assert_eq!((f.count("audit_log"), f.count("outbox")), (audit, outbox));
    assert_eq!(
        store.order(&tenant("acme"), order.id).unwrap().unwrap().state,
        OrderState::PendingPayment
    );
}

fn concurrent_writers_with_one_version_produce_exactly_one_winner(f: Fixture) {
    let order = new_order(&f.store(), "acme", 1, now());
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let f = f.clone_handle();
            let order = order.clone();
            std::thread::spawn(move || {
                let store = f.store();
                let d = decide(
                    &order,
                    Command::Cancel { reason: "x".into() },
                    Actor::Customer,
                    &Catalog::standard(),
                    now(),
                )
                .unwrap();
                store.write(|s| s.apply(order.version, &d, "u")).is_ok()
            })
        })
        .collect();
    let wins = handles.into_iter().map(|h| h.join().unwrap()).filter(|w| *w).count();
    assert_eq!(wins, 1);
    assert_eq!(f.count("audit_log"), 2);
}

fn listing_is_newest_first_pages_by_cursor_and_hides_deleted(f: Fixture) {
    let store = f.store();
    let orders: Vec<Order> = (1..=5)
        .map(|n| new_order(&store, "acme", n, now() + Duration::seconds(n as i64)))
        .collect();
    let cancelled = decide(
        &orders[2],
        Command::Cancel { reason: "x".into() },
        Actor::Customer,
        &Catalog::standard(),
        now(),
    )
    .unwrap();
    store.write(|s| s.apply(1, &cancelled, "u")).unwrap();

    let page1 = store
        .list_orders(
            &tenant("acme"),
            &ListFilter {
                limit: 2,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        page1.iter().map(|o| o.id).collect::<Vec<_>>(),
        [orders[4].id, orders[3].id]
    );
    let last = page1.last().unwrap();
    let page2 = store
        .list_orders(
            &tenant("acme"),
            &ListFilter {
                limit: 2,
                after: Some((last.created_at, last.id)),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        page2.iter().map(|o| o.id).collect::<Vec<_>>(),
        [orders[1].id, orders[0].id]
    );
    assert!(page2.iter().all(|o| o.items.len() == 1));

    let all = store
        .list_orders(
            &tenant("acme"),
            &ListFilter {
                limit: 10,
                include_deleted: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(all.len(), 5);
    let only_cancelled = store
        .list_orders(
            &tenant("acme"),
            &ListFilter {
                limit: 10,
                include_deleted: true,
                state: Some(OrderState::Cancelled),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(only_cancelled.iter().map(|o| o.id).collect::<Vec<_>>(), [orders[2].id]);
}

fn operators_can_list_only_the_orders_parked_for_them(f: Fixture) {
    let store = f.store();
    let orders: Vec<Order> = (1..=3)
        .map(|n| new_order(&store, "acme", n, now() + Duration::seconds(n as i64)))
        .collect();
    let parked = decide(
        &orders[1],
        Command::ParkForOperator {
            reason: "deprovisioning keeps failing".into(),
        },
        Actor::System,
        &Catalog::standard(),
        now(),
    )
    .unwrap();
    store.write(|s| s.apply(1, &parked, "saga")).unwrap();
    new_order(&store, "globex", 9, now());

    let needing = store
        .list_orders(
            &tenant("acme"),
            &ListFilter {
                limit: 10,
                needs_operator: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(needing.iter().map(|o| o.id).collect::<Vec<_>>(), [orders[1].id]);
    assert!(needing[0].needs_operator);
    let all = store
        .list_orders(
            &tenant("acme"),
            &ListFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(all.len(), 3);
}

fn an_idempotency_key_is_claimed_once_completed_and_then_replayed(f: Fixture) {
    let store = f.store();
    let t = tenant("acme");
    let (ttl, abandon) = (Duration::hours(24), Duration::seconds(30));
    assert_eq!(
        store.claim_key(&t, "alice", "k1", "fp", now(), ttl, abandon).unwrap(),
        Claim::Claimed
    );
    match store.claim_key(&t, "alice", "k1", "fp", now(), ttl, abandon).unwrap() {
        Claim::Existing(r) => assert_eq!(r.response, None),
        other => panic!("{other:?}"),
    }
    store.write(|s| s.complete_key(&t, "alice", "k1", b"saved")).unwrap();
    match store
        .claim_key(&t, "alice", "k1", "fp", now() + Duration::hours(23), ttl, abandon)
        .unwrap()
    {
        Claim::Existing(r) => assert_eq!(r.response.as_deref(), Some(&b"saved"[..])),
        other => panic!("{other:?}"),
    }
    // Another tenant's key space is separate.
    assert_eq!(
        store
            .claim_key(&tenant("globex"), "alice", "k1", "fp", now(), ttl, abandon)
            .unwrap(),
        Claim::Claimed
    );
    // After 24 hours the key is free again.
    assert_eq!(
        store
            .claim_key(&t, "alice", "k1", "fp2", now() + Duration::hours(24), ttl, abandon)
            .unwrap(),
        Claim::Claimed
    );
}

fn an_abandoned_in_flight_key_is_taken_over(f: Fixture) {
    let store = f.store();
    let t = tenant("acme");
    let (ttl, abandon) = (Duration::hours(24), Duration::seconds(30));
    assert_eq!(
        store.claim_key(&t, "alice", "k", "fp", now(), ttl, abandon).unwrap(),
        Claim::Claimed
    );
    assert!(matches!(
        store
            .claim_key(&t, "alice", "k", "fp", now() + Duration::seconds(29), ttl, abandon)
            .unwrap(),
        Claim::Existing(_)
    ));
    assert_eq!(
        store
            .claim_key(&t, "alice", "k", "fp", now() + Duration::seconds(30), ttl, abandon)
            .unwrap(),
        Claim::Claimed
    );
    store.release_key(&t, "alice", "k").unwrap();
    assert_eq!(
        store
            .claim_key(&t, "alice", "k", "fp", now() + Duration::seconds(31), ttl, abandon)
            .unwrap(),
        Claim::Claimed
    );
}

fn concurrent_claims_of_one_key_have_exactly_one_winner(f: Fixture) {
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let f = f.clone_handle();
            std::thread::spawn(move || {
                f.store()
                    .claim_key(
                        &tenant("acme"),
                        "alice",
                        "k",
                        "fp",
                        now(),
                        Duration::hours(24),
                        Duration::seconds(30),
                    )
                    .unwrap()
            })
        })
        .collect();
    let claims: Vec<Claim> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(claims.iter().filter(|c| **c == Claim::Claimed).count(), 1, "{claims:?}");
}

fn an_idempotency_key_belongs_to_its_principal_not_to_the_whole_tenant(f: Fixture) {
    let store = f.store();
    let t = tenant("acme");
    let (ttl, abandon) = (Duration::hours(24), Duration::seconds(30));
    // given alice's finished request under key k
    assert_eq!(
        store.claim_key(&t, "alice", "k", "fp", now(), ttl, abandon).unwrap(),
        Claim::Claimed
    );
    store
        .write(|s| s.complete_key(&t, "alice", "k", b"alice's answer"))
        .unwrap();
    // when bob, of the same tenant, sends another request with the same key
    let bob = store.claim_key(&t, "bob", "k", "fp", now(), ttl, abandon).unwrap();
    // then it is bob's own key: he neither replays alice's answer nor waits for her
    assert_eq!(bob, Claim::Claimed);
    store.release_key(&t, "bob", "k").unwrap();
    match store.claim_key(&t, "alice", "k", "fp", now(), ttl, abandon).unwrap() {
        Claim::Existing(r) => assert_eq!(r.response.as_deref(), Some(&b"alice's answer"[..])),
        other => panic!("bob's release touched alice's key: {other:?}"),
    }
}

fn the_purge_removes_idempotency_records_older_than_a_day_in_bounded_batches(f: Fixture) {
    let store = f.store();
    let (ttl, abandon) = (Duration::hours(24), Duration::seconds(30));
    // given five keys of two tenants from two days ago and one from now
    for (n, t) in ["acme", "globex", "acme", "globex", "acme"].iter().enumerate() {
        let key = format!("old-{n}");
        store
            .claim_key(&tenant(t), "u", &key, "fp", now() - Duration::days(2), ttl, abandon)
            .unwrap();
    }
    store
        .claim_key(&tenant("acme"), "u", "fresh", "fp", now(), ttl, abandon)
        .unwrap();
    // when the purge runs with a batch of 3, then again
    let cutoff = now() - Duration::hours(24);
    assert_eq!(store.purge_idempotency_keys(cutoff, 3).unwrap(), 3);
    assert_eq!(store.purge_idempotency_keys(cutoff, 3).unwrap(), 2);
    assert_eq!(store.purge_idempotency_keys(cutoff, 3).unwrap(), 0);
    // then only the fresh record is left
    assert_eq!(f.count("idempotency_keys"), 1);
}

fn the_purge_removes_webhook_records_older_than_their_window_in_bounded_batches(f: Fixture) {
    let store = f.store();
    for n in 0..4 {
        let at = if n < 3 { now() - Duration::days(40) } else { now() };
        store
            .write(|s| {
                s.record_webhook(
                    "simpay",
                    &format!("evt_{n}"),
                    "payment_intent.succeeded",
                    None,
                    "applied",
                    at,
                )
            })
            .unwrap();
    }
    let cutoff = now() - Duration::days(30);
    assert_eq!(store.purge_webhook_events(cutoff, 2).unwrap(), 2);
    assert_eq!(store.purge_webhook_events(cutoff, 2).unwrap(), 1);
    assert_eq!(f.count("webhook_events"), 1);
    // The kept record still deduplicates its event.
    assert!(!store
        .write(|s| s.record_webhook("simpay", "evt_3", "payment_intent.succeeded", None, "applied", now()))
        .unwrap());
}

fn the_application_cannot_change_or_remove_the_audit_log(f: Fixture) {
    let store = f.store();
    let order = support::draft("acme", 5, now());
    store
        .write(|s| s.insert_order(&order, &created_event(&order), Actor::Customer, "u"))
        .unwrap();
    let before = f.count("audit_log");
    assert_eq!(before, 1, "the draft's creation record");
    // PostgreSQL: the app role has no UPDATE or DELETE grant on the table;
    // SQLite: triggers refuse both.
    for sql in ["UPDATE audit_log SET reason = 'rewritten'", "DELETE FROM audit_log"] {
        let result = store.in_tenant(&tenant("acme"), |s| Ok(s.db().run(sql, &[])));
        match result.unwrap() {
            Err(e) => {
                let text = e.to_string();
                assert!(
                    text.contains("permission denied") || text.contains("append-only"),
                    "{sql}: {text}"
                );
            }
            Ok(rows) => panic!("{sql} was allowed: {rows:?}"),
        }
    }
    assert_eq!(f.count("audit_log"), before);
}

fn free_capacity_is_each_pools_capacity_less_its_reservations(f: Fixture) {
    let store = f.store();
    let pool: (Region, ProductType) = ("lj-1".parse().unwrap(), "vps".parse().unwrap());
    let free = |store: &Store<AnyDb>| store.free_capacity().unwrap()[&pool];
    assert_eq!(free(&store), 500, "the seeded capacity of lj-1 VPS");
    let item = ItemId::from_uuid(Uuid::from_u128(7));
    store
        .write(|s| s.reserve_capacity(item, pool.0, pool.1, 3, now()))
        .unwrap();
    assert_eq!(free(&store), 497);
    store
        .write(|s| s.reserve_capacity(item, pool.0, pool.1, 3, now()))
        .unwrap();
    assert_eq!(free(&store), 497, "an item reserves once");
    store.write(|s| s.release_capacity(item)).unwrap();
    assert_eq!(free(&store), 500);
}

fn reads_in_one_snapshot_never_see_a_commit_that_lands_between_them(f: Fixture) {
    // An order and its items are read in two statements: a commit landing
    // between them must not show a new order with old items, or the reverse.
    let (reader, writer) = (f.store(), f.store());
    let order = new_order(&writer, "acme", 1, now());
    let submitted = submit(&order);
    let (before, after) = reader
        .snapshot(&tenant("acme"), |s| {
            let before = s.order(&tenant("acme"), order.id)?.unwrap();
            writer.write(|w| w.apply(order.version, &submitted, "u")).unwrap();
            let after = s.order(&tenant("acme"), order.id)?.unwrap();
            Ok((before, after))
        })
        .unwrap();
    assert_eq!((before.state, after.state), (OrderState::Draft, OrderState::Draft));
    assert_eq!(
        reader.order(&tenant("acme"), order.id).unwrap().unwrap().state,
        OrderState::PendingPayment,
        "the next snapshot sees the commit"
    );
}

fn the_refund_and_job_checks_list_exactly_the_domain_names(f: Fixture) {
    assert_eq!(f.check_of("saga_jobs", "kind"), JobKind::names());
    assert_eq!(f.check_of("refunds", "state"), RefundState::names());
}

/// `order` submitted, paid in full (`pi_<n>`) and cancelled, written
/// decision by decision; returns the cancelled order and the cancellation.
fn paid_and_cancelled(store: &Store<AnyDb>, order: &Order) -> (Order, Decision) {
    let submitted = submit(order);
    store.write(|s| s.apply(order.version, &submitted, "u")).unwrap();
    let paid = decide(
        &submitted.order,
        Command::ConfirmPayment(Payment {
            provider: "stripe".into(),
            reference: format!("pi_{}", order.id),
            amount: submitted.order.total,
            paid_at: now(),
        }),
        Actor::System,
        &Catalog::standard(),
        now(),
    )
    .unwrap();
    store
        .write(|s| s.apply(submitted.order.version, &paid, "webhook"))
        .unwrap();
    let cancel = decide(
        &paid.order,
        Command::Cancel {
            reason: "changed my mind".into(),
        },
        Actor::Customer,
        &Catalog::standard(),
        now(),
    )
    .unwrap();
    (paid.order, cancel)
}

fn a_cancelled_paid_order_records_its_refund_and_its_job_with_the_decision(f: Fixture) {
    let store = f.store();
    let order = new_order(&store, "acme", 1, now());
    let (paid, cancel) = paid_and_cancelled(&store, &order);
    store.write(|s| s.apply(paid.version, &cancel, "u")).unwrap();
    let refunds = store.refunds_of(&tenant("acme"), order.id).unwrap();
    assert_eq!(refunds.len(), 1);
    let r = &refunds[0];
    assert_eq!(r.planned.id.as_str(), format!("{}:order", order.id));
    assert_eq!(
        (r.state, r.planned.amount, r.planned.paid),
        (RefundState::Requested, paid.total, paid.total)
    );
    assert_eq!(store.refund(&tenant("acme"), &r.planned.id).unwrap().as_ref(), Some(r));
    assert_eq!(store.refund(&tenant("globex"), &r.planned.id).unwrap(), None);
    let jobs = store.jobs_of(&tenant("acme"), order.id).unwrap();
    let refund_jobs: Vec<_> = jobs.iter().filter(|j| j.kind == JobKind::Refund).collect();
    assert_eq!(refund_jobs.len(), 1);
    assert_eq!(refund_jobs[0].payload["refund_id"], json!(r.planned.id));
}

fn the_database_refuses_more_refunded_than_paid_and_a_refund_decided_twice_is_recorded_once(f: Fixture) {
    let store = f.store();
    let order = new_order(&store, "acme", 1, now());
    let (paid, cancel) = paid_and_cancelled(&store, &order);
    // A decision whose refund is a cent above the payment: refused whole.
    let mut above = cancel.clone();
    for effect in &mut above.effects {
        if let Effect::Refund(r) = effect {
            r.amount = Money::eur(r.amount.amount + dec!(0.01));
        }
    }
    let err = store.write(|s| s.apply(paid.version, &above, "u")).unwrap_err();
    assert!(!matches!(err, StoreError::VersionConflict { .. }), "{err:?}");
    assert_eq!(
        store.order(&tenant("acme"), order.id).unwrap().unwrap().version,
        paid.version
    );
    assert_eq!(f.count("refunds"), 0);
    // The real one is recorded; a second refund of the same payment, under
    // another id, would exceed it: refused, whatever the domain decided.
    store.write(|s| s.apply(paid.version, &cancel, "u")).unwrap();
    let mut again = decide(
        &cancel.order,
        Command::ParkForOperator { reason: "x".into() },
        Actor::System,
        &Catalog::standard(),
        now(),
    )
    .unwrap();
    let Some(Effect::Refund(first)) = cancel.effects.iter().find(|e| matches!(e, Effect::Refund(_))).cloned() else {
        panic!("the cancellation requests no refund");
    };
    again.effects.push(Effect::Refund(PlannedRefund {
        id: orderflow_core::RefundId::stored(format!("{}:order-again", order.id)),
        amount: Money::eur(dec!(0.01)),
        ..first.clone()
    }));
    assert!(store.write(|s| s.apply(cancel.order.version, &again, "u")).is_err());
    // The same refund id again (a provider event delivered twice, decided
    // twice): the decision is written, the refund already recorded is left
    // as it was, not inserted twice.
    again.effects = vec![Effect::Refund(PlannedRefund {
        amount: Money::eur(dec!(0.01)),
        ..first.clone()
    })];
    store.write(|s| s.apply(cancel.order.version, &again, "u")).unwrap();
    assert_eq!(f.count("refunds"), 1);
    let kept = store.refund(&tenant("acme"), &first.id).unwrap().unwrap();
    assert_eq!(kept.planned.amount, first.amount, "the recorded refund is unchanged");
}

fn orders_unpaid_past_the_window_are_found_across_tenants_oldest_first(f: Fixture) {
    let store = f.store();
    let submitted_at = |order: &Order, at: DateTime<Utc>| {
        let d = decide(
            order,
            Command::Submit {
                shown_total: order.total,
            },
            Actor::Customer,
            &Catalog::standard(),
            at,
        )
        .unwrap();
        store.write(|s| s.apply(order.version, &d, "u")).unwrap();
        d.order
    };
    let second = submitted_at(&new_order(&store, "acme", 1, now()), now() + Duration::seconds(1));
    let first = submitted_at(&new_order(&store, "globex", 2, now()), now());
    // Submitted after the cut-off, never submitted, or paid: not listed.
    submitted_at(&new_order(&store, "acme", 3, now()), now() + Duration::hours(1));
    new_order(&store, "acme", 4, now());
    let paid = submitted_at(&new_order(&store, "initech", 5, now()), now());
    let confirmed = decide(
        &paid,
        Command::ConfirmPayment(Payment {
            provider: "stripe".into(),
            reference: "pi_5".into(),
            amount: paid.total,
            paid_at: now(),
        }),
        Actor::System,
        &Catalog::standard(),
        now(),
    )
    .unwrap();
    store.write(|s| s.apply(paid.version, &confirmed, "webhook")).unwrap();

    let cut_off = now() + Duration::seconds(10);
    assert_eq!(
        store.expired_payments(cut_off, 10).unwrap(),
        [(tenant("globex"), first.id), (tenant("acme"), second.id)]
    );
    assert_eq!(
        store.expired_payments(cut_off, 1).unwrap(),
        [(tenant("globex"), first.id)]
    );
    assert!(store
        .expired_payments(now() - Duration::seconds(1), 10)
        .unwrap()
        .is_empty());
}

fn a_refund_moves_forward_under_its_version(f: Fixture) {
    let store = f.store();
    let order = new_order(&store, "acme", 1, now());
    let (paid, cancel) = paid_and_cancelled(&store, &order);
    store.write(|s| s.apply(paid.version, &cancel, "u")).unwrap();
    let r = store.refunds_of(&tenant("acme"), order.id).unwrap().remove(0);
    let seen = ObservedRefund {
        provider_refund_id: "re_1".into(),
        state: RefundState::Refunded,
        failure_reason: None,
    };
    let change = r.observe("stripe", &seen, now()).unwrap();
    store.write(|s| s.apply_refund_change(r.version, &change)).unwrap();
    // A writer that read the old version loses.
    assert_eq!(
        store.write(|s| s.apply_refund_change(r.version, &change)).unwrap_err(),
        StoreError::VersionConflict { expected: r.version }
    );
    let now_ = store.refund(&tenant("acme"), &r.planned.id).unwrap().unwrap();
    assert_eq!(
        (now_.state, now_.provider_refund_id.as_deref()),
        (RefundState::Refunded, Some("re_1"))
    );
    let types: Vec<String> = store
        .outbox_of(&tenant("acme"), order.id)
        .unwrap()
        .into_iter()
        .map(|r| r.event_type)
        .collect();
    assert_eq!(types.last().map(String::as_str), Some("billing.refunded"));
}
