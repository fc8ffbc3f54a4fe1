//! The analytics rows' contract: creation counts per period with exact
//! boundaries, counts per state, submissions and conversions, and the paid
//! orders with their refunds — for one tenant only, on SQLite and on
//! PostgreSQL as the application role under row-level security
//! (`sqlite::…` and `postgres::…`).

mod support;

use chrono::{DateTime, Duration, TimeZone, Utc};
use orderflow_core::*;
use orderflow_store::{AnalyticsRows, NativePg, NativeSqlite, PaidOrder, Store};
use rust_decimal_macros::dec;
use serde_json::json;
use uuid::Uuid;

/// Wednesday 25 November 2026, noon UTC.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

use support::{pg_cluster, AnyDb};

/// A migrated database of one backend, and the store on it as the application.
struct Fixture {
    _dir: Option<tempfile::TempDir>,
    _pg: Option<pg_cluster::TestDatabase>,
    store: Store<AnyDb>,
}

impl Fixture {
    fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(AnyDb::Sqlite(
            NativeSqlite::open(&dir.path().join("db.sqlite")).unwrap(),
        ));
        store.migrate(now()).unwrap();
        Fixture {
            _dir: Some(dir),
            _pg: None,
            store,
        }
    }

    fn postgres(hint: &str) -> Fixture {
        let db = pg_cluster::fresh_database(hint, |owner| {
            Store::new(NativePg::connect(owner).unwrap()).migrate(now()).unwrap();
        });
        let store = Store::new(AnyDb::Postgres(Box::new(NativePg::connect(&db.app_url).unwrap())));
        Fixture {
            _dir: None,
            _pg: Some(db),
            store,
        }
    }
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
    figures_count_each_period_from_its_utc_start_and_only_the_tenants_own_orders,
    a_tenant_without_orders_has_zero_everything,
);

fn tenant(s: &str) -> TenantId {
    s.parse().unwrap()
}

/// A one-item draft (VPS business, annual: €192.96) created at `created`.
fn draft(store: &Store<AnyDb>, t: &str, n: u128, created: DateTime<Utc>) -> Order {
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
        created,
    )
    .unwrap();
    store
        .write(|s| s.insert_order(&order, &created_event(&order), Actor::Customer, "user-1"))
        .unwrap();
    order
}

/// Applies `commands` in turn, as the lifecycle decides them; returns the order after them.
fn drive(store: &Store<AnyDb>, mut order: Order, commands: Vec<(Command, Actor)>) -> Order {
    let mut time = order.created_at;
    for (command, actor) in commands {
        time += Duration::seconds(1);
        let d = decide(&order, command, actor, &Catalog::standard(), time).unwrap();
        store.write(|s| s.apply(order.version, &d, "user-1")).unwrap();
        order = d.order;
    }
    order
}

fn submit(order: &Order) -> (Command, Actor) {
    (
        Command::Submit {
            shown_total: order.total,
        },
        Actor::Customer,
    )
}

fn pay(order: &Order) -> (Command, Actor) {
    (
        Command::ConfirmPayment(Payment {
            provider: "simpay".into(),
            reference: format!("pi_{}", order.id),
            amount: order.total,
            paid_at: order.created_at,
        }),
        Actor::System,
    )
}

fn rows(store: &Store<AnyDb>, t: &str) -> AnalyticsRows {
    let monday = at(2026, 11, 23, 0, 0, 0);
    let first = at(2026, 11, 1, 0, 0, 0);
    let today = at(2026, 11, 25, 0, 0, 0);
    store
        .analytics_rows(&tenant(t), &[today, monday, first], now())
        .unwrap()
}

fn figures_count_each_period_from_its_utc_start_and_only_the_tenants_own_orders(f: Fixture) {
    let s = &f.store;
    // Given acme's orders:
    // a draft created this morning;
    draft(s, "acme", 1, at(2026, 11, 25, 9, 0, 0));
    // one submitted at the very start of the week (Monday 00:00), unpaid;
    let o = draft(s, "acme", 2, at(2026, 11, 23, 0, 0, 0));
    drive(s, o.clone(), vec![submit(&o)]);
    // one paid and fulfilled, created earlier this month;
    let o = draft(s, "acme", 3, at(2026, 11, 5, 10, 0, 0));
    let item = o.items[0].id;
    let fulfilled = drive(
        s,
        o.clone(),
        vec![
            submit(&o),
            pay(&o),
            (Command::StartValidation, Actor::System),
            (Command::PassValidation, Actor::System),
            (Command::ActivateItem { item }, Actor::System),
        ],
    );
    assert_eq!(fulfilled.state, OrderState::Fulfilled);
    // one paid, then cancelled and refunded, created a moment before Monday;
    let o = draft(s, "acme", 4, at(2026, 11, 22, 23, 59, 59));
    let cancelled = drive(
        s,
        o.clone(),
        vec![
            submit(&o),
            pay(&o),
            (
                Command::Cancel {
                    reason: "changed mind".into(),
                },
                Actor::Customer,
            ),
        ],
    );
    assert_eq!(cancelled.refunded.amount, dec!(192.96));
    // one paid whose payment an operator reverted, at the very start of the month;
    let o = draft(s, "acme", 5, at(2026, 11, 1, 0, 0, 0));
    drive(
        s,
        o.clone(),
        vec![
            submit(&o),
            pay(&o),
            (
                Command::RevertPayment {
                    reason: "chargeback".into(),
                },
                Actor::Operator,
            ),
        ],
    );
    // and a draft from a moment before the month began.
    draft(s, "acme", 6, at(2026, 10, 31, 23, 59, 59));
    // Another tenant's paid order, created today.
    let o = draft(s, "globex", 7, at(2026, 11, 25, 8, 0, 0));
    drive(s, o.clone(), vec![submit(&o), pay(&o)]);

    // When acme's rows are read,
    let r = rows(s, "acme");

    // then each period counts from its start, inclusive,
    assert_eq!(r.created_since, [1, 2, 5]);
    // every state is counted, cancelled (soft-deleted) orders too,
    assert_eq!(
        r.by_state,
        [
            (OrderState::Cancelled, 1),
            (OrderState::Draft, 2),
            (OrderState::Fulfilled, 1),
            (OrderState::PendingPayment, 2),
        ]
    );
    // four were ever submitted and one of them converted,
    assert_eq!((r.submitted, r.converted), (4, 1));
    // and the paid orders are the fulfilled one and the refunded one (the
    // reverted payment is no longer on record), oldest first.
    let eur = |a| Money::eur(a);
    assert_eq!(
        r.paid,
        [
            PaidOrder {
                paid: eur(dec!(192.96)),
                refunded: eur(dec!(0.00)),
                refund_pending: eur(dec!(0.00)),
            },
            // Requested, not yet confirmed by the payment provider: pending.
            PaidOrder {
                paid: eur(dec!(192.96)),
                refunded: eur(dec!(0.00)),
                refund_pending: eur(dec!(192.96)),
            },
        ]
    );

    // Once the payment provider confirms the refund, it counts as refunded.
    let refund = s.refunds_of(&tenant("acme"), cancelled.id).unwrap().remove(0);
    let seen = ObservedRefund {
        provider_refund_id: "re_1".into(),
        state: RefundState::Refunded,
        failure_reason: None,
    };
    let change = refund.observe("stripe", &seen, now()).unwrap();
    s.write(|w| w.apply_refund_change(refund.version, &change)).unwrap();
    let r = rows(s, "acme");
    assert_eq!(
        (r.paid[1].refunded, r.paid[1].refund_pending),
        (eur(dec!(192.96)), eur(dec!(0.00)))
    );

    // The other tenant sees only its own order.
    let g = rows(s, "globex");
    assert_eq!(g.created_since, [1, 1, 1]);
    assert_eq!(g.by_state, [(OrderState::PaymentConfirmed, 1)]);
    assert_eq!((g.submitted, g.converted), (1, 0));
    assert_eq!(g.paid.len(), 1);
}

fn a_tenant_without_orders_has_zero_everything(f: Fixture) {
    draft(&f.store, "acme", 1, now());
    let r = rows(&f.store, "initech");
    assert_eq!(
        r,
        AnalyticsRows {
            created_since: vec![0, 0, 0],
            by_state: Vec::new(),
            submitted: 0,
            converted: 0,
            paid: Vec::new(),
        }
    );
}
