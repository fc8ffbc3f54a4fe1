//! The operational figures' contract: after a known set of orders, jobs and
//! events in two tenants, `ops_metrics` counts exactly them — on SQLite, and
//! on PostgreSQL as the application role under row-level security (where
//! the figures come through the SECURITY DEFINER function of migration 7).

mod support;

use chrono::{DateTime, Duration, TimeZone, Utc};
use orderflow_core::*;
use orderflow_store::{OpsMetrics, Store};
use uuid::Uuid;

use support::{AnyDb, Backend, Fixture};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

macro_rules! metrics_contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(support::fixture(super::Backend::Sqlite, stringify!($name), super::now())) } )*
            use super::support;
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(support::fixture(super::Backend::Postgres, stringify!($name), super::now())) } )*
            use super::support;
        }
    };
}

metrics_contract!(
    an_empty_queue_reports_zeros_and_every_state,
    jobs_are_counted_by_what_a_tick_would_do_with_them,
    parked_orders_states_and_the_outbox_backlog_span_every_tenant,
    a_subscription_running_past_its_paid_period_unsuspended_is_a_renewal_past_its_deadline,
);

fn a_subscription_running_past_its_paid_period_unsuspended_is_a_renewal_past_its_deadline(f: Fixture) {
    let lead = Duration::days(3);
    let start = |k: usize| {
        let s = Subscription::start(f.order.tenant.clone(), f.order.id, &f.order.items[k], now(), lead);
        assert!(f.store.write(|st| st.start_subscription(&s)).unwrap());
        s
    };
    // One renewal awaiting the provider (charge accepted, webhook never came),
    // one cancelled at period end, one suspended at its period's end.
    let awaiting = start(0);
    let change = awaiting.charge_accepted(2, now() + Duration::days(28)).unwrap();
    f.store
        .write(|s| s.apply_subscription(awaiting.version, &change))
        .unwrap();
    let cancelling = start(1);
    let change = cancelling.request_cancel(now()).unwrap().unwrap();
    f.store
        .write(|s| s.apply_subscription(cancelling.version, &change))
        .unwrap();
    let suspended = start(2);
    let period_end = suspended.current_period_end;
    let change = suspended.suspend(period_end).unwrap();
    f.store
        .write(|s| s.apply_subscription(suspended.version, &change))
        .unwrap();

    let before = f.store.ops_metrics(period_end - Duration::seconds(1)).unwrap();
    assert_eq!(before.renewals_past_deadline, 0, "every period still runs");
    let after = f.store.ops_metrics(period_end + Duration::minutes(5)).unwrap();
    assert_eq!(
        after.renewals_past_deadline, 1,
        "only the unconfirmed renewal: the cancelled one ends, the suspended one is suspended"
    );
}

fn state(m: &OpsMetrics, s: OrderState) -> u64 {
    m.orders_by_state.iter().find(|(k, _)| *k == s).map_or(0, |(_, n)| *n)
}

fn an_empty_queue_reports_zeros_and_every_state(f: Fixture) {
    let m = f.store.ops_metrics(now()).unwrap();
    assert_eq!(
        (m.jobs_due, m.jobs_running, m.jobs_waiting, m.jobs_parked),
        (0, 0, 0, 0)
    );
    assert_eq!((m.oldest_due, m.oldest_due_age_secs()), (None, 0));
    assert_eq!(
        m.orders_by_state.len(),
        OrderState::ALL.len(),
        "all nine states are listed"
    );
    assert_eq!(state(&m, OrderState::Draft), 1, "the fixture's draft");
    assert_eq!(m.orders_needing_operator, 0);
}

fn jobs_are_counted_by_what_a_tick_would_do_with_them(f: Fixture) {
    let item = |n: u128| ItemId::from_uuid(Uuid::from_u128(77_000 + n));
    let effects: Vec<Effect> = (1..=4).map(|n| Effect::Provision { item: item(n) }).collect();
    let jobs = jobs_for(f.order.id, 2, &effects);
    f.store.write(|s| s.insert_jobs(&f.order.tenant, &jobs, now())).unwrap();

    // One claimed under a 30 s lease, one retried in 100 s, one parked, one left due.
    let lease = Duration::seconds(30);
    // (Retrying and parking are writes of a claimed job: claim three, keep one.)
    let claimed = f.store.claim_due_jobs(now(), lease, 3, None).unwrap();
    assert_eq!(claimed.len(), 3);
    f.store
        .write(|s| s.retry_job(&claimed[1], now() + Duration::seconds(100), "provider down", now()))
        .unwrap();
    f.store
        .write(|s| s.park_job(&claimed[2], "keeps failing", now()))
        .unwrap();

    let m = f.store.ops_metrics(now() + Duration::seconds(10)).unwrap();
    assert_eq!(
        (m.jobs_due, m.jobs_running, m.jobs_waiting, m.jobs_parked),
        (1, 1, 1, 1)
    );
    assert_eq!(m.oldest_due, Some(now()));
    assert_eq!(m.oldest_due_age_secs(), 10);

    // The worker died: after its lease the claimed job is due again.
    let m = f.store.ops_metrics(now() + Duration::seconds(40)).unwrap();
    assert_eq!(
        (m.jobs_due, m.jobs_running, m.jobs_waiting, m.jobs_parked),
        (2, 0, 1, 1)
    );
    assert_eq!(m.oldest_due_age_secs(), 40);

    // The retry's time comes: three due, the oldest still the first.
    let m = f.store.ops_metrics(now() + Duration::seconds(100)).unwrap();
    assert_eq!((m.jobs_due, m.jobs_waiting), (3, 0));
    assert_eq!(m.oldest_due_age_secs(), 100);
}

fn add_order(store: &Store<AnyDb>, tenant: &str, n: u128, at: DateTime<Utc>) -> Order {
    let order = support::draft(tenant, n, at);
    store
        .write(|s| s.insert_order(&order, &created_event(&order), Actor::Customer, "u"))
        .unwrap();
    order
}

fn parked_orders_states_and_the_outbox_backlog_span_every_tenant(f: Fixture) {
    let globex = add_order(&f.store, "globex", 78, now() + Duration::seconds(1));
    let parked = decide(
        &globex,
        Command::ParkForOperator {
            reason: "deprovisioning keeps failing".into(),
        },
        Actor::System,
        &Catalog::standard(),
        now() + Duration::seconds(2),
    )
    .unwrap();
    f.store.write(|s| s.apply(1, &parked, "saga")).unwrap();
    let cancelled_order = add_order(&f.store, "initech", 79, now() + Duration::seconds(3));
    let cancelled = decide(
        &cancelled_order,
        Command::Cancel {
            reason: "changed my mind".into(),
        },
        Actor::Customer,
        &Catalog::standard(),
        now() + Duration::seconds(4),
    )
    .unwrap();
    f.store.write(|s| s.apply(1, &cancelled, "u")).unwrap();

    let m = f.store.ops_metrics(now() + Duration::seconds(60)).unwrap();
    assert_eq!(
        m.orders_needing_operator, 1,
        "globex's parked order, seen from no tenant in particular"
    );
    assert_eq!(state(&m, OrderState::Draft), 2, "acme's and globex's drafts");
    assert_eq!(state(&m, OrderState::Cancelled), 1, "soft-deleted orders are counted");
    assert_eq!(m.orders_by_state.iter().map(|(_, n)| n).sum::<u64>(), 3);

    let events: usize = [
        (&f.order.tenant, f.order.id),
        (&globex.tenant, globex.id),
        (&cancelled_order.tenant, cancelled_order.id),
    ]
    .into_iter()
    .map(|(t, id)| f.store.outbox_of(t, id).unwrap().len())
    .sum();
    assert!(events >= 4, "three creations and a cancellation at least");
    assert_eq!(m.outbox_backlog, events as u64, "nothing published yet");
    assert_eq!(m.outbox_oldest, Some(now()), "the fixture's order.created");
    assert_eq!(m.outbox_oldest_age_secs(), 60);
}
