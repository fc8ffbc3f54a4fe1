//! The subscription tables' contract: one subscription per item, one renewal
//! per subscription and period (a database constraint, also under concurrent
//! starts), version-guarded changes with their outbox events, due
//! subscriptions claimed by one run under a lease, and a renewal's payment
//! intent leading back to it. Every test runs once per backend (`sqlite::…`,
//! and `postgres::…` as the application role under row-level security,
//! where the cross-tenant lookups go through migration 5's functions).

mod support;

use chrono::{DateTime, Duration, TimeZone, Utc};
use orderflow_core::*;
use orderflow_store::{Db, Dialect, Param, StoreError};
use serde_json::json;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 1, 31, 10, 0, 0).unwrap()
}
use support::{Backend, Fixture};

/// A migrated database holding one draft of tenant `acme` (order 77, whose
/// items are `item(1)`…`item(3)`).
fn fixture(backend: Backend, hint: &str) -> Fixture {
    support::fixture(backend, hint, now())
}

macro_rules! saga_contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::fixture(super::Backend::Sqlite, stringify!($name))) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(super::fixture(super::Backend::Postgres, stringify!($name))) } )*
        }
    };
}

fn lead() -> Duration {
    Duration::days(3)
}

fn started(f: &Fixture, k: usize) -> Subscription {
    let s = Subscription::start(f.order.tenant.clone(), f.order.id, &f.order.items[k], now(), lead());
    assert!(f.store.write(|st| st.start_subscription(&s)).unwrap());
    s
}

fn subscription_events(f: &Fixture) -> Vec<String> {
    f.store
        .outbox_of(&f.order.tenant, f.order.id)
        .unwrap()
        .into_iter()
        .filter(|r| r.topic == "orderflow.subscription.v1")
        .map(|r| r.event_type)
        .collect()
}

fn an_item_starts_one_subscription_however_often_it_is_started(f: Fixture) {
    let s = started(&f, 0);
    assert!(!f.store.write(|st| st.start_subscription(&s)).unwrap());
    let stored = f.store.subscription(&f.order.tenant, s.id).unwrap().unwrap();
    assert_eq!(stored, s);
    assert_eq!(f.store.subscription_of_item(&f.order.tenant, s.item).unwrap(), Some(s));
    assert_eq!(subscription_events(&f), ["subscription.started"]);
}

fn another_tenants_subscription_is_invisible(f: Fixture) {
    let s = started(&f, 0);
    let other: TenantId = "globex".parse().unwrap();
    assert_eq!(f.store.subscription(&other, s.id).unwrap(), None);
    assert!(f.store.list_subscriptions(&other, None, 10).unwrap().is_empty());
}

fn subscriptions_list_newest_first_and_page_by_cursor(f: Fixture) {
    let ids: Vec<_> = (0..3)
        .map(|k| {
            let s = Subscription::start(
                f.order.tenant.clone(),
                f.order.id,
                &f.order.items[k],
                now() + Duration::seconds(i64::try_from(k).unwrap()),
                lead(),
            );
            f.store.write(|st| st.start_subscription(&s)).unwrap();
            s.id
        })
        .collect();
    let first = f.store.list_subscriptions(&f.order.tenant, None, 2).unwrap();
    assert_eq!(first.iter().map(|s| s.id).collect::<Vec<_>>(), [ids[2], ids[1]]);
    let last = &first[1];
    let rest = f
        .store
        .list_subscriptions(&f.order.tenant, Some((last.created_at, last.id)), 2)
        .unwrap();
    assert_eq!(rest.iter().map(|s| s.id).collect::<Vec<_>>(), [ids[0]]);
}

fn a_change_is_written_with_its_events_and_a_stale_version_changes_nothing(f: Fixture) {
    let s = started(&f, 0);
    let change = s.request_cancel(now()).unwrap().unwrap();
    f.store.write(|st| st.apply_subscription(s.version, &change)).unwrap();
    let again = f.store.write(|st| st.apply_subscription(s.version, &change));
    assert_eq!(again, Err(StoreError::VersionConflict { expected: s.version }));
    let stored = f.store.subscription(&f.order.tenant, s.id).unwrap().unwrap();
    assert!(stored.cancel_at_period_end);
    assert_eq!(stored.version, 2);
    assert_eq!(
        subscription_events(&f),
        ["subscription.started", "subscription.cancellation-scheduled"]
    );
}

fn one_renewal_per_subscription_and_period_even_when_started_concurrently(f: Fixture) {
    let s = started(&f, 0);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let store = (f.connect)();
            let s = s.clone();
            std::thread::spawn(move || store.write(|st| st.start_renewal(&s, 2, true, now())).unwrap())
        })
        .collect();
    let renewals: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(renewals.iter().all(|r| r.id == renewals[0].id));
    let stored = f.store.renewals_of(&f.order.tenant, s.id).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].period, stored[0].attempts, stored[0].state),
        (2, 4, RenewalState::Pending)
    );
    assert_eq!(stored[0].amount, s.price);
    // The constraint itself refuses a second row for the period, whatever its id.
    let duplicate = f.store.write(|st| {
        st.in_tenant(&s.tenant, |st| {
            st.db()
                .run(
                    &st.db().dialect().sql(
                        "INSERT INTO subscription_renewals (id, tenant_id, subscription_id, period_number, amount,
                                                            currency, state, attempts, created_at, updated_at)
                         VALUES ('other', $1, $2, 2, 1, 'EUR', 'pending', 0, $3, $3)",
                    ),
                    &[s.tenant.as_str().into(), s.id.to_string().into(), Param::Time(now())],
                )
                .map_err(StoreError::from)
        })
    });
    assert!(matches!(duplicate, Err(StoreError::Duplicate(_))), "{duplicate:?}");
}

fn a_renewal_intent_leads_back_to_its_renewal_and_a_paid_renewal_stays_paid(f: Fixture) {
    let s = started(&f, 0);
    let renewal = f.store.write(|st| st.start_renewal(&s, 2, true, now())).unwrap();
    f.store
        .write(|st| st.link_renewal_intent(&renewal, "simpay", "pi_renew_1", now()))
        .unwrap();
    // A second intent never replaces the first.
    f.store
        .write(|st| st.link_renewal_intent(&renewal, "simpay", "pi_renew_2", now()))
        .unwrap();
    let found = f.store.renewal_of_intent("pi_renew_1").unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.intent_id.as_deref()),
        (renewal.id.as_str(), Some("pi_renew_1"))
    );
    assert_eq!(f.store.renewal_of_intent("pi_renew_2").unwrap(), None);
    assert!(f
        .store
        .write(|st| st.set_renewal_state(&found, RenewalState::Paid, None, now()))
        .unwrap());
    assert!(!f
        .store
        .write(|st| st.set_renewal_state(&found, RenewalState::Declined, Some("late"), now()))
        .unwrap());
    let stored = f.store.renewal(&s.tenant, s.id, 2).unwrap().unwrap();
    assert_eq!((stored.state, stored.paid_at), (RenewalState::Paid, Some(now())));
}

fn a_payment_the_renewal_could_not_take_is_kept_with_it(f: Fixture) {
    let s = started(&f, 0);
    let renewal = f.store.write(|st| st.start_renewal(&s, 2, true, now())).unwrap();
    let why = "flagged: paid 5.00 EUR, the renewal is 20.10 EUR";
    assert!(f
        .store
        .write(|st| st.note_renewal_problem(&renewal, why, now()))
        .unwrap());
    let stored = f.store.renewal(&s.tenant, s.id, 2).unwrap().unwrap();
    assert_eq!((stored.state, stored.last_error.as_deref()), (renewal.state, Some(why)));
    // Once paid, a renewal's record is final.
    f.store
        .write(|st| st.set_renewal_state(&stored, RenewalState::Paid, None, now()))
        .unwrap();
    assert!(!f
        .store
        .write(|st| st.note_renewal_problem(&renewal, "another", now()))
        .unwrap());
}

fn a_due_subscription_is_claimed_by_one_run_until_its_lease_ends(f: Fixture) {
    let s = started(&f, 0);
    let due = s.next_renewal_at.unwrap();
    assert!(f
        .store
        .claim_due_subscriptions(due - Duration::seconds(1), Duration::seconds(30), 10)
        .unwrap()
        .is_empty());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let store = (f.connect)();
            std::thread::spawn(move || store.claim_due_subscriptions(due, Duration::seconds(30), 10).unwrap())
        })
        .collect();
    let claims: Vec<_> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert_eq!(claims, [(s.tenant.clone(), s.id)], "exactly one run wins");
    assert!(f
        .store
        .claim_due_subscriptions(due + Duration::seconds(29), Duration::seconds(30), 10)
        .unwrap()
        .is_empty());
    // The run died: after its lease another takes over.
    assert_eq!(
        f.store
            .claim_due_subscriptions(due + Duration::seconds(30), Duration::seconds(30), 10)
            .unwrap()
            .len(),
        1
    );
    f.store.release_subscription(&s.tenant, s.id).unwrap();
    assert_eq!(
        f.store
            .claim_due_subscriptions(due, Duration::seconds(30), 10)
            .unwrap()
            .len(),
        1
    );
}

fn the_schema_checks_list_exactly_the_subscription_states(f: Fixture) {
    let db = f.store.db();
    let sql = match db.dialect() {
        Dialect::Sqlite => "SELECT sql AS ddl FROM sqlite_master WHERE name = 'subscriptions'",
        Dialect::Postgres => {
            "SELECT string_agg(pg_get_constraintdef(oid), ' ') AS ddl FROM pg_constraint
              WHERE conrelid = 'subscriptions'::regclass AND contype = 'c'"
        }
    };
    let rows = db.run(sql, &[]).unwrap();
    let ddl = rows.first().unwrap().text("ddl").unwrap().to_owned();
    for status in SubscriptionStatus::names() {
        assert!(ddl.contains(&format!("'{status}'")), "{status} missing from {ddl}");
    }
    let _ = json!(null);
}

saga_contract!(
    an_item_starts_one_subscription_however_often_it_is_started,
    another_tenants_subscription_is_invisible,
    subscriptions_list_newest_first_and_page_by_cursor,
    a_change_is_written_with_its_events_and_a_stale_version_changes_nothing,
    one_renewal_per_subscription_and_period_even_when_started_concurrently,
    a_renewal_intent_leads_back_to_its_renewal_and_a_paid_renewal_stays_paid,
    a_payment_the_renewal_could_not_take_is_kept_with_it,
    a_due_subscription_is_claimed_by_one_run_until_its_lease_ends,
    the_schema_checks_list_exactly_the_subscription_states,
);
