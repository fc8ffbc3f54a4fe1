//! The saga tables' contract: jobs are inserted once, claimed under a lease,
//! chained, and reclaimed when a worker dies; webhook events are recorded once.

use chrono::{DateTime, Duration, TimeZone, Utc};
use orderflow_core::*;
use orderflow_store::{JobState, NativeSqlite, Store};
use serde_json::json;
use uuid::Uuid;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store<NativeSqlite>,
    order: Order,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(NativeSqlite::open(&dir.path().join("db.sqlite")).unwrap());
    store.migrate(now()).unwrap();
    let spec = parse_item(
        &Catalog::standard(),
        &json!({"product":"vps","billing_cycle":"monthly","config":{"region":"lj-1","plan":"core","os_image":"debian-12"}}),
        "",
    )
    .unwrap();
    let items = (1..=3).map(|n| (ItemId::from_uuid(Uuid::from_u128(n)), spec.clone())).collect();
    let order = Order::draft(&Catalog::standard(), OrderId::from_uuid(Uuid::from_u128(77)), "acme".parse().unwrap(), items, now()).unwrap();
    store.write(|s| s.insert_order(&order, &created_event(&order), Actor::Customer, "u")).unwrap();
    Fixture { _dir: dir, store, order }
}

fn item(n: u128) -> ItemId {
    ItemId::from_uuid(Uuid::from_u128(n))
}

#[test]
fn the_same_jobs_inserted_twice_exist_once() {
    let f = fixture();
    let jobs = jobs_for(f.order.id, 2, &[Effect::Provision { item: item(1) }, Effect::Provision { item: item(2) }]);
    f.store.write(|s| s.insert_jobs(&f.order.tenant, &jobs, now())).unwrap();
    f.store.write(|s| s.insert_jobs(&f.order.tenant, &jobs, now())).unwrap();
    assert_eq!(f.store.jobs_of(&f.order.tenant, f.order.id).unwrap().len(), 2);
}

#[test]
fn a_claimed_job_is_not_claimed_again_until_its_lease_runs_out() {
    let f = fixture();
    let jobs = jobs_for(f.order.id, 2, &[Effect::Provision { item: item(1) }]);
    f.store.write(|s| s.insert_jobs(&f.order.tenant, &jobs, now())).unwrap();
    let lease = Duration::seconds(30);
    let first = f.store.claim_due_jobs(now(), lease, 10, None).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].state, first[0].attempts), (JobState::Running, 1));
    assert!(f.store.claim_due_jobs(now() + Duration::seconds(29), lease, 10, None).unwrap().is_empty());
    // The worker died: after the lease, another takes it, counting a second attempt.
    let again = f.store.claim_due_jobs(now() + Duration::seconds(30), lease, 10, None).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
}

#[test]
fn a_retried_job_waits_for_its_time_and_a_finished_one_never_returns() {
    let f = fixture();
    let jobs = jobs_for(f.order.id, 2, &[Effect::Provision { item: item(1) }]);
    f.store.write(|s| s.insert_jobs(&f.order.tenant, &jobs, now())).unwrap();
    let job = f.store.claim_due_jobs(now(), Duration::seconds(30), 1, None).unwrap().remove(0);
    f.store.write(|s| s.retry_job(&job.id, now() + Duration::seconds(2), "503", now())).unwrap();
    assert!(f.store.claim_due_jobs(now() + Duration::milliseconds(1999), Duration::seconds(30), 1, None).unwrap().is_empty());
    let job = f.store.claim_due_jobs(now() + Duration::seconds(2), Duration::seconds(30), 1, None).unwrap().remove(0);
    assert_eq!(job.last_error.as_deref(), Some("503"));
    f.store.write(|s| s.finish_job(&job.id, now())).unwrap();
    assert!(f.store.claim_due_jobs(now() + Duration::days(1), Duration::seconds(30), 10, None).unwrap().is_empty());
}

#[test]
fn chained_compensations_run_one_after_another() {
    let f = fixture();
    let jobs = jobs_for(f.order.id, 5, &[Effect::Deprovision { items: vec![item(3), item(2)] }]);
    f.store.write(|s| s.insert_jobs(&f.order.tenant, &jobs, now())).unwrap();
    let first = f.store.claim_due_jobs(now(), Duration::seconds(30), 10, None).unwrap();
    assert_eq!(first.iter().map(|j| j.item).collect::<Vec<_>>(), [Some(item(3))]);
    f.store.write(|s| s.finish_job(&first[0].id, now())).unwrap();
    let second = f.store.claim_due_jobs(now(), Duration::seconds(30), 10, None).unwrap();
    assert_eq!(second.iter().map(|j| j.item).collect::<Vec<_>>(), [Some(item(2))]);
}

#[test]
fn deprovisioning_waits_while_the_item_is_still_being_provisioned() {
    let f = fixture();
    let provision = jobs_for(f.order.id, 3, &[Effect::Provision { item: item(1) }]);
    let deprovision = jobs_for(f.order.id, 4, &[Effect::Deprovision { items: vec![item(1)] }]);
    f.store.write(|s| s.insert_jobs(&f.order.tenant, &provision, now())).unwrap();
    f.store.write(|s| s.insert_jobs(&f.order.tenant, &deprovision, now() + Duration::seconds(1))).unwrap();
    let claimed = f.store.claim_due_jobs(now() + Duration::seconds(1), Duration::seconds(30), 10, None).unwrap();
    assert_eq!(claimed.iter().map(|j| j.kind).collect::<Vec<_>>(), [JobKind::Provision]);
    f.store.write(|s| s.finish_job(&claimed[0].id, now())).unwrap();
    let next = f.store.claim_due_jobs(now() + Duration::seconds(1), Duration::seconds(30), 10, None).unwrap();
    assert_eq!(next.iter().map(|j| j.kind).collect::<Vec<_>>(), [JobKind::Deprovision]);
}

#[test]
fn a_webhook_event_is_recorded_once() {
    let f = fixture();
    assert!(f.store.write(|s| s.record_webhook("simpay", "evt_1", "payment_intent.succeeded", Some(f.order.id), "applied", now())).unwrap());
    assert!(!f.store.write(|s| s.record_webhook("simpay", "evt_1", "payment_intent.succeeded", Some(f.order.id), "applied", now())).unwrap());
    assert!(f.store.write(|s| s.record_webhook("otherpay", "evt_1", "x", None, "ignored", now())).unwrap());
}

#[test]
fn a_payment_intent_leads_back_to_its_order_and_tenant() {
    let f = fixture();
    f.store.write(|s| s.save_payment_intent(&f.order.tenant, f.order.id, "simpay", "pi_1", &f.order.total, now())).unwrap();
    assert_eq!(f.store.order_of_intent("pi_1").unwrap(), Some((f.order.tenant.clone(), f.order.id)));
    assert_eq!(f.store.payment_intent_of(&f.order.tenant, f.order.id).unwrap().as_deref(), Some("pi_1"));
    assert_eq!(f.store.order_of_intent("pi_2").unwrap(), None);
}
