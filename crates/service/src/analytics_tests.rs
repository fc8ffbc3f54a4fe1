//! The analytics figures and their cache: periods in UTC, exact money,
//! the conversion ratio, and a per-tenant cache that expires after five
//! minutes of the application's clock.

use std::cell::RefCell;
use std::collections::HashMap;

use chrono::TimeZone;
use orderflow_core::{created_event, parse_item, Actor, Catalog, ItemId, Order, OrderId};
use orderflow_http::Principal;
use orderflow_store::{NativeSqlite, PaidOrder, Store};
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use uuid::Uuid;

use super::*;

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

fn eur(amount: Decimal) -> Money {
    Money::eur(amount)
}

#[test]
fn periods_start_at_utc_midnight_on_the_day_the_iso_monday_and_the_first() {
    // A Wednesday.
    let p = Periods::containing(at(2026, 11, 25, 15, 30, 0));
    assert_eq!(p.today, at(2026, 11, 25, 0, 0, 0));
    assert_eq!(p.this_week, at(2026, 11, 23, 0, 0, 0));
    assert_eq!(p.this_month, at(2026, 11, 1, 0, 0, 0));
    // A Sunday belongs to the week that began six days before.
    assert_eq!(
        Periods::containing(at(2026, 11, 29, 23, 59, 59)).this_week,
        at(2026, 11, 23, 0, 0, 0)
    );
    // A Monday at midnight starts its own week.
    assert_eq!(
        Periods::containing(at(2026, 11, 30, 0, 0, 0)).this_week,
        at(2026, 11, 30, 0, 0, 0)
    );
    // A week may begin in the previous month (and year).
    let p = Periods::containing(at(2027, 1, 1, 8, 0, 0));
    assert_eq!(p.this_week, at(2026, 12, 28, 0, 0, 0));
    assert_eq!(p.this_month, at(2027, 1, 1, 0, 0, 0));
}

fn sample_rows() -> AnalyticsRows {
    AnalyticsRows {
        created_since: vec![2, 5, 9],
        by_state: vec![(OrderState::Draft, 3), (OrderState::Fulfilled, 1)],
        submitted: 3,
        converted: 2,
        paid: vec![
            PaidOrder {
                paid: eur(dec!(30.10)),
                refunded: eur(dec!(0.00)),
                refund_pending: eur(dec!(0.00)),
            },
            PaidOrder {
                paid: eur(dec!(66.60)),
                refunded: eur(dec!(56.60)),
                refund_pending: eur(dec!(0.00)),
            },
            PaidOrder {
                paid: eur(dec!(96.00)),
                refunded: eur(dec!(96.00)),
                refund_pending: eur(dec!(0.00)),
            },
        ],
    }
}

#[test]
fn figures_are_exact_decimals_with_the_average_rounded_to_cents_and_the_ratio_to_four_places() {
    let periods = Periods::containing(at(2026, 11, 25, 12, 0, 0));
    let f = figures(periods, &sample_rows()).unwrap();
    assert_eq!(f.orders_created.today.count, 2);
    assert_eq!(f.orders_created.this_week.count, 5);
    assert_eq!(f.orders_created.this_month.count, 9);
    assert_eq!(f.orders_created.this_week.since, periods.this_week);
    // Every state is listed, zero or not.
    assert_eq!(f.by_status.len(), 9);
    assert_eq!(f.by_status["draft"], 3);
    assert_eq!(f.by_status["fulfilled"], 1);
    assert_eq!(f.by_status["cancelled"], 0);
    // 192.70 / 3 = 64.2333… → 64.23.
    assert_eq!(f.average_order_value.amount, Some(eur(dec!(64.23))));
    assert_eq!(f.average_order_value.orders, 3);
    assert_eq!(f.total_revenue.paid, eur(dec!(192.70)));
    assert_eq!(f.total_revenue.refunded, eur(dec!(152.60)));
    assert_eq!(f.total_revenue.refunds_pending, eur(dec!(0.00)));
    assert_eq!(f.total_revenue.amount, eur(dec!(40.10)));
    // 2 / 3 = 0.66666… → 0.6667, sent as a string.
    assert_eq!(f.conversion.rate, Some(dec!(0.6667)));
    let wire = serde_json::to_value(&f).unwrap();
    assert_eq!(wire["conversion"]["rate"], "0.6667");
    assert_eq!(
        wire["total_revenue"]["amount"],
        json!({"amount": "40.10", "currency": "EUR"})
    );
}

#[test]
fn a_ratio_and_a_mean_keep_their_places_and_an_undefined_one_is_null() {
    let periods = Periods::containing(at(2026, 11, 25, 12, 0, 0));
    let mut rows = sample_rows();
    rows.submitted = 5;
    rows.paid.truncate(1);
    let f = figures(periods, &rows).unwrap();
    assert_eq!(serde_json::to_value(f.conversion.rate).unwrap(), "0.4000");
    assert_eq!(f.average_order_value.amount.unwrap().amount.to_string(), "30.10");

    let empty = AnalyticsRows {
        created_since: vec![0, 0, 0],
        by_state: Vec::new(),
        submitted: 0,
        converted: 0,
        paid: Vec::new(),
    };
    let f = figures(periods, &empty).unwrap();
    assert_eq!(f.average_order_value.amount, None);
    assert_eq!(f.conversion.rate, None);
    assert_eq!(f.total_revenue.amount.amount.to_string(), "0.00");
}

/// An in-memory cache, shared by every tenant like the key-value store.
#[derive(Debug, Default)]
struct MemoryCache(RefCell<HashMap<String, Vec<u8>>>);

impl FigureCache for MemoryCache {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(self.0.borrow().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        self.0.borrow_mut().insert(key.to_owned(), value.to_vec());
        Ok(())
    }
}

struct World {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    cache: MemoryCache,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        Store::new(NativeSqlite::open(&path).unwrap())
            .migrate(at(2026, 11, 25, 0, 0, 0))
            .unwrap();
        World {
            _dir: dir,
            path,
            cache: MemoryCache::default(),
        }
    }

    fn ctx(&self, tenant: &str, role: Role, now: DateTime<Utc>) -> Ctx<NativeSqlite> {
        Ctx {
            store: Store::new(NativeSqlite::open(&self.path).unwrap()),
            catalog: Catalog::standard(),
            principal: Principal {
                subject: format!("{tenant}-user"),
                tenant: tenant.parse().unwrap(),
                role,
                scopes: Vec::new(),
            },
            now,
            new_id: Uuid::now_v7,
            correlation_id: "test".into(),
        }
    }

    fn draft(&self, tenant: &str, created: DateTime<Utc>) {
        let spec = parse_item(
            &Catalog::standard(),
            &json!({"product":"vps","billing_cycle":"monthly","config":{"region":"lj-1","plan":"core","os_image":"debian-12"}}),
            "",
        )
        .unwrap();
        let order = Order::draft(
            &Catalog::standard(),
            OrderId::from_uuid(Uuid::now_v7()),
            tenant.parse().unwrap(),
            vec![(ItemId::from_uuid(Uuid::now_v7()), spec)],
            created,
        )
        .unwrap();
        Store::new(NativeSqlite::open(&self.path).unwrap())
            .write(|s| s.insert_order(&order, &created_event(&order), Actor::Customer, "user"))
            .unwrap();
    }

    fn get(&self, tenant: &str, now: DateTime<Utc>) -> Value {
        let response = get_analytics(&self.ctx(tenant, Role::Customer, now), &self.cache).unwrap();
        assert_eq!(response.status, 200);
        serde_json::from_slice(&response.body).unwrap()
    }
}

#[test]
fn figures_are_served_from_the_cache_for_five_minutes_then_recomputed() {
    let w = World::new();
    let t0 = at(2026, 11, 25, 12, 0, 0);
    w.draft("acme", t0 - Duration::hours(1));

    let first = w.get("acme", t0);
    assert_eq!(first["cached"], false);
    assert_eq!(first["cache_age_secs"], 0);
    assert_eq!(first["by_status"]["draft"], 1);

    // A new order within the five minutes does not show yet.
    w.draft("acme", t0 + Duration::seconds(10));
    let later = w.get("acme", t0 + Duration::seconds(299));
    assert_eq!(later["cached"], true);
    assert_eq!(later["cache_age_secs"], 299);
    assert_eq!(later["computed_at"], first["computed_at"]);
    assert_eq!(later["by_status"], first["by_status"]);
    assert_eq!(later["orders_created"], first["orders_created"]);

    // At five minutes the figures are computed afresh and include it.
    let fresh = w.get("acme", t0 + Duration::seconds(300));
    assert_eq!(fresh["cached"], false);
    assert_eq!(fresh["by_status"]["draft"], 2);
    assert_eq!(fresh["orders_created"]["today"]["count"], 2);
    assert_ne!(fresh["computed_at"], first["computed_at"]);
}

#[test]
fn a_tenant_never_sees_another_tenants_figures_even_through_the_cache() {
    let w = World::new();
    let t0 = at(2026, 11, 25, 12, 0, 0);
    w.draft("acme", t0 - Duration::hours(1));
    w.draft("acme", t0 - Duration::hours(1));
    assert_eq!(w.get("acme", t0)["by_status"]["draft"], 2);

    // Globex, asking while acme's figures are cached, gets its own.
    let globex = w.get("globex", t0 + Duration::seconds(1));
    assert_eq!(globex["cached"], false);
    assert_eq!(globex["tenant"], "globex");
    assert_eq!(globex["by_status"]["draft"], 0);

    // Even an entry planted under globex's key is not served unless it is globex's own.
    let acme_entry = w.cache.get(&cache_key(&"acme".parse().unwrap())).unwrap().unwrap();
    w.cache
        .set(&cache_key(&"globex".parse().unwrap()), &acme_entry)
        .unwrap();
    let globex = w.get("globex", t0 + Duration::seconds(2));
    assert_eq!(globex["tenant"], "globex");
    assert_eq!(globex["cached"], false);
    assert_eq!(globex["by_status"]["draft"], 0);
}

#[test]
fn customers_and_operators_of_the_tenant_may_read_analytics_and_services_may_not() {
    let w = World::new();
    let now = at(2026, 11, 25, 12, 0, 0);
    for role in [Role::Customer, Role::Operator] {
        assert_eq!(get_analytics(&w.ctx("acme", role, now), &w.cache).unwrap().status, 200);
    }
    let refused = get_analytics(&w.ctx("acme", Role::Service, now), &w.cache).unwrap_err();
    assert_eq!(refused.status(), 403);
}

#[test]
fn a_cached_entry_from_the_future_is_stale() {
    let entry = CacheEntry {
        tenant: "acme".into(),
        computed_at: at(2026, 11, 25, 12, 0, 0),
        figures: figures(Periods::containing(at(2026, 11, 25, 12, 0, 0)), &sample_rows()).unwrap(),
    };
    let acme: TenantId = "acme".parse().unwrap();
    assert_eq!(entry.fresh_age(&acme, at(2026, 11, 25, 12, 4, 59)), Some(299));
    assert_eq!(entry.fresh_age(&acme, at(2026, 11, 25, 12, 5, 0)), None);
    assert_eq!(entry.fresh_age(&acme, at(2026, 11, 25, 11, 59, 59)), None);
    assert_eq!(
        entry.fresh_age(&"globex".parse().unwrap(), at(2026, 11, 25, 12, 0, 1)),
        None
    );
}
