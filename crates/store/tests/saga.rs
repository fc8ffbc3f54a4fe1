//! The saga tables' contract: jobs are inserted once, claimed under a lease,
//! chained, and reclaimed when a worker dies; webhook events are recorded
//! once; payment intents lead back to their order. Every test runs once per
//! backend (`sqlite::…`, and `postgres::…` as the application role under
//! row-level security, where the worker's cross-tenant lookups go through
//! the SECURITY DEFINER functions of migration 4).

mod support;

use chrono::{DateTime, Duration, TimeZone, Utc};
use orderflow_core::*;
use orderflow_store::{Db, JobState, TenantDelivery};
use uuid::Uuid;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

use support::{Backend, Fixture};

fn draft(tenant: &str, n: u128) -> Order {
    support::draft(tenant, n, now())
}

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

fn item(n: u128) -> ItemId {
    ItemId::from_uuid(Uuid::from_u128(77_000 + n))
}

fn the_same_jobs_inserted_twice_exist_once(f: Fixture) {
    let jobs = jobs_for(
        f.order.id,
        2,
        &[Effect::Provision { item: item(1) }, Effect::Provision { item: item(2) }],
    );
    f.store.write(|s| s.insert_jobs(&f.order.tenant, &jobs, now())).unwrap();
    f.store.write(|s| s.insert_jobs(&f.order.tenant, &jobs, now())).unwrap();
    assert_eq!(f.store.jobs_of(&f.order.tenant, f.order.id).unwrap().len(), 2);
}

fn a_claimed_job_is_not_claimed_again_until_its_lease_runs_out(f: Fixture) {
    let jobs = jobs_for(f.order.id, 2, &[Effect::Provision { item: item(1) }]);
    f.store.write(|s| s.insert_jobs(&f.order.tenant, &jobs, now())).unwrap();
    let lease = Duration::seconds(30);
    let first = f.store.claim_due_jobs(now(), lease, 10, None).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].state, first[0].attempts), (JobState::Running, 1));
    assert!(f
        .store
        .claim_due_jobs(now() + Duration::seconds(29), lease, 10, None)
        .unwrap()
        .is_empty());
    // The worker died: after the lease, another takes it, counting a second attempt.
    let again = f
        .store
        .claim_due_jobs(now() + Duration::seconds(30), lease, 10, None)
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
}

fn a_retried_job_waits_for_its_time_and_a_finished_one_never_returns(f: Fixture) {
    let jobs = jobs_for(f.order.id, 2, &[Effect::Provision { item: item(1) }]);
    f.store.write(|s| s.insert_jobs(&f.order.tenant, &jobs, now())).unwrap();
    let job = f
        .store
        .claim_due_jobs(now(), Duration::seconds(30), 1, None)
        .unwrap()
        .remove(0);
    f.store
        .write(|s| s.retry_job(&job, now() + Duration::seconds(2), "503", now()))
        .unwrap();
    assert!(f
        .store
        .claim_due_jobs(now() + Duration::milliseconds(1999), Duration::seconds(30), 1, None)
        .unwrap()
        .is_empty());
    let job = f
        .store
        .claim_due_jobs(now() + Duration::seconds(2), Duration::seconds(30), 1, None)
        .unwrap()
        .remove(0);
    assert_eq!(job.last_error.as_deref(), Some("503"));
    f.store.write(|s| s.finish_job(&job, now())).unwrap();
    assert!(f
        .store
        .claim_due_jobs(now() + Duration::days(1), Duration::seconds(30), 10, None)
        .unwrap()
        .is_empty());
}

fn chained_compensations_run_one_after_another(f: Fixture) {
    let jobs = jobs_for(
        f.order.id,
        5,
        &[Effect::Deprovision {
            items: vec![item(3), item(2)],
        }],
    );
    f.store.write(|s| s.insert_jobs(&f.order.tenant, &jobs, now())).unwrap();
    let first = f.store.claim_due_jobs(now(), Duration::seconds(30), 10, None).unwrap();
    assert_eq!(first.iter().map(|j| j.item).collect::<Vec<_>>(), [Some(item(3))]);
    f.store.write(|s| s.finish_job(&first[0], now())).unwrap();
    let second = f.store.claim_due_jobs(now(), Duration::seconds(30), 10, None).unwrap();
    assert_eq!(second.iter().map(|j| j.item).collect::<Vec<_>>(), [Some(item(2))]);
}

fn a_parked_compensation_does_not_hold_back_the_one_chained_after_it(f: Fixture) {
    let jobs = jobs_for(
        f.order.id,
        5,
        &[Effect::Deprovision {
            items: vec![item(3), item(2)],
        }],
    );
    f.store.write(|s| s.insert_jobs(&f.order.tenant, &jobs, now())).unwrap();
    let first = f.store.claim_due_jobs(now(), Duration::seconds(30), 10, None).unwrap();
    assert_eq!(first.iter().map(|j| j.item).collect::<Vec<_>>(), [Some(item(3))]);
    // Still running: the next waits.
    assert!(f
        .store
        .claim_due_jobs(now(), Duration::seconds(30), 10, None)
        .unwrap()
        .is_empty());
    f.store
        .write(|s| s.park_job(&first[0], "keeps failing", now()))
        .unwrap();
    let second = f.store.claim_due_jobs(now(), Duration::seconds(30), 10, None).unwrap();
    assert_eq!(second.iter().map(|j| j.item).collect::<Vec<_>>(), [Some(item(2))]);
    // An operator's retry sends the parked one back to work, attempts afresh.
    assert!(f
        .store
        .write(|s| s.unpark_job(&f.order.tenant, &first[0].id, now()))
        .unwrap());
    assert!(!f
        .store
        .write(|s| s.unpark_job(&f.order.tenant, &first[0].id, now()))
        .unwrap());
    let again = f.store.claim_due_jobs(now(), Duration::seconds(30), 10, None).unwrap();
    assert_eq!(
        (again.len(), again[0].id.as_str(), again[0].attempts),
        (1, first[0].id.as_str(), 1)
    );
}

fn deprovisioning_waits_while_the_item_is_still_being_provisioned(f: Fixture) {
    let provision = jobs_for(f.order.id, 3, &[Effect::Provision { item: item(1) }]);
    let deprovision = jobs_for(f.order.id, 4, &[Effect::Deprovision { items: vec![item(1)] }]);
    f.store
        .write(|s| s.insert_jobs(&f.order.tenant, &provision, now()))
        .unwrap();
    f.store
        .write(|s| s.insert_jobs(&f.order.tenant, &deprovision, now() + Duration::seconds(1)))
        .unwrap();
    let claimed = f
        .store
        .claim_due_jobs(now() + Duration::seconds(1), Duration::seconds(30), 10, None)
        .unwrap();
    assert_eq!(claimed.iter().map(|j| j.kind).collect::<Vec<_>>(), [JobKind::Provision]);
    f.store.write(|s| s.finish_job(&claimed[0], now())).unwrap();
    let next = f
        .store
        .claim_due_jobs(now() + Duration::seconds(1), Duration::seconds(30), 10, None)
        .unwrap();
    assert_eq!(next.iter().map(|j| j.kind).collect::<Vec<_>>(), [JobKind::Deprovision]);
}

fn a_webhook_event_is_recorded_once(f: Fixture) {
    assert!(f
        .store
        .write(|s| s.record_webhook(
            "simpay",
            "evt_1",
            "payment_intent.succeeded",
            Some(f.order.id),
            "applied",
            now()
        ))
        .unwrap());
    assert!(!f
        .store
        .write(|s| s.record_webhook(
            "simpay",
            "evt_1",
            "payment_intent.succeeded",
            Some(f.order.id),
            "applied",
            now()
        ))
        .unwrap());
    assert!(f
        .store
        .write(|s| s.record_webhook("otherpay", "evt_1", "x", None, "ignored", now()))
        .unwrap());
}

fn a_payment_intent_leads_back_to_its_order_and_tenant(f: Fixture) {
    f.store
        .write(|s| s.save_payment_intent(&f.order.tenant, f.order.id, "simpay", "pi_1", &f.order.total, now()))
        .unwrap();
    assert_eq!(
        f.store.order_of_intent("pi_1").unwrap(),
        Some((f.order.tenant.clone(), f.order.id))
    );
    assert_eq!(
        f.store
            .payment_intent_of(&f.order.tenant, f.order.id)
            .unwrap()
            .as_deref(),
        Some("pi_1")
    );
    assert_eq!(f.store.order_of_intent("pi_2").unwrap(), None);
}

fn every_tenants_due_jobs_are_claimed_read_by_id_and_finished_by_one_worker(f: Fixture) {
    let other = draft("globex", 88);
    f.store
        .write(|s| s.insert_order(&other, &created_event(&other), Actor::Customer, "u"))
        .unwrap();
    let ours = jobs_for(f.order.id, 2, &[Effect::Provision { item: item(1) }]);
    let theirs = jobs_for(
        other.id,
        2,
        &[Effect::Provision {
            item: other.items[0].id,
        }],
    );
    f.store.write(|s| s.insert_jobs(&f.order.tenant, &ours, now())).unwrap();
    f.store
        .write(|s| s.insert_jobs(&other.tenant, &theirs, now() + Duration::seconds(1)))
        .unwrap();

    let claimed = f
        .store
        .claim_due_jobs(now() + Duration::seconds(1), Duration::seconds(30), 10, None)
        .unwrap();
    let tenants: Vec<&str> = claimed.iter().map(|j| j.tenant.as_str()).collect();
    assert_eq!(tenants, ["acme", "globex"]);
    assert!(claimed.iter().all(|j| j.state == JobState::Running && j.attempts == 1));

    // A handed-over job is found by its id alone, whatever its tenant.
    let handed = f.store.job(&claimed[1].id).unwrap().expect("the job is found by id");
    assert_eq!((handed.tenant.as_str(), handed.state), ("globex", JobState::Running));
    assert_eq!(f.store.job("no-such-job").unwrap(), None);

    // Bookkeeping by id reaches the job in its own tenant.
    f.store.write(|s| s.finish_job(&claimed[1], now())).unwrap();
    f.store
        .write(|s| s.retry_job(&claimed[0], now() + Duration::seconds(5), "503", now()))
        .unwrap();
    assert_eq!(
        f.store.jobs_of(&other.tenant, other.id).unwrap()[0].state,
        JobState::Done
    );
    let retried = &f.store.jobs_of(&f.order.tenant, f.order.id).unwrap()[0];
    assert_eq!(
        (retried.state, retried.last_error.as_deref()),
        (JobState::Pending, Some("503"))
    );
    // Each tenant sees only its own jobs.
    assert_eq!(f.store.jobs_of(&f.order.tenant, other.id).unwrap(), []);
}

fn only_the_named_orders_jobs_are_claimed_when_an_order_is_given(f: Fixture) {
    let other = draft("globex", 88);
    f.store
        .write(|s| s.insert_order(&other, &created_event(&other), Actor::Customer, "u"))
        .unwrap();
    let ours = jobs_for(f.order.id, 2, &[Effect::Provision { item: item(1) }]);
    let theirs = jobs_for(
        other.id,
        2,
        &[Effect::Provision {
            item: other.items[0].id,
        }],
    );
    f.store.write(|s| s.insert_jobs(&f.order.tenant, &ours, now())).unwrap();
    f.store.write(|s| s.insert_jobs(&other.tenant, &theirs, now())).unwrap();
    let claimed = f
        .store
        .claim_due_jobs(now(), Duration::seconds(30), 10, Some(other.id))
        .unwrap();
    assert_eq!(claimed.iter().map(|j| j.order).collect::<Vec<_>>(), [other.id]);
}

fn concurrent_workers_never_claim_the_same_job(f: Fixture) {
    let items: Vec<Effect> = (1..=3).map(|n| Effect::Provision { item: item(n) }).collect();
    let jobs = jobs_for(f.order.id, 2, &items);
    f.store.write(|s| s.insert_jobs(&f.order.tenant, &jobs, now())).unwrap();
    let connect = &f.connect;
    let claimed: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(move || {
                    let store = connect();
                    let mut mine = Vec::new();
                    while let Some(job) = store
                        .claim_due_jobs(now(), Duration::seconds(30), 1, None)
                        .unwrap()
                        .into_iter()
                        .next()
                    {
                        mine.push(job.id);
                    }
                    mine
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    let mut unique = claimed.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((claimed.len(), unique.len()), (3, 3), "{claimed:?}");
}

fn credentials_and_resources_are_kept_per_tenant(f: Fixture) {
    let t = &f.order.tenant;
    f.store
        .write(|s| s.save_resource(t, f.order.id, item(1), "simcloud", "res-1", now()))
        .unwrap();
    f.store
        .write(|s| s.save_credentials(t, f.order.id, item(1), "k1", b"nonce", b"sealed", now()))
        .unwrap();
    assert_eq!(f.store.resource_of(t, item(1)).unwrap().as_deref(), Some("res-1"));
    let sealed = f.store.credentials_of(t, item(1)).unwrap().expect("credentials");
    assert_eq!(
        (sealed.key_id.as_str(), sealed.ciphertext.as_slice()),
        ("k1", b"sealed".as_slice())
    );
    let stranger: TenantId = "globex".parse().unwrap();
    assert_eq!(f.store.resource_of(&stranger, item(1)).unwrap(), None);
    assert_eq!(f.store.credentials_of(&stranger, item(1)).unwrap(), None);
    // Delivery settings: none until an operator sets them, then exactly
    // those, replaced as a whole, and never another tenant's.
    assert_eq!(f.store.tenant_delivery(t).unwrap(), TenantDelivery::default());
    let settings = TenantDelivery {
        default_email: Some("ops@acme.example".into()),
        key: Some("age1qqqq".into()),
    };
    f.store.write(|s| s.set_tenant_delivery(t, &settings, now())).unwrap();
    assert_eq!(f.store.tenant_delivery(t).unwrap(), settings);
    let replaced = TenantDelivery {
        default_email: Some("new@acme.example".into()),
        key: None,
    };
    f.store.write(|s| s.set_tenant_delivery(t, &replaced, now())).unwrap();
    assert_eq!(f.store.tenant_delivery(t).unwrap(), replaced);
    assert_eq!(f.store.tenant_delivery(&stranger).unwrap(), TenantDelivery::default());
}

saga_contract!(
    the_same_jobs_inserted_twice_exist_once,
    a_claimed_job_is_not_claimed_again_until_its_lease_runs_out,
    a_retried_job_waits_for_its_time_and_a_finished_one_never_returns,
    chained_compensations_run_one_after_another,
    a_parked_compensation_does_not_hold_back_the_one_chained_after_it,
    deprovisioning_waits_while_the_item_is_still_being_provisioned,
    a_webhook_event_is_recorded_once,
    a_payment_intent_leads_back_to_its_order_and_tenant,
    every_tenants_due_jobs_are_claimed_read_by_id_and_finished_by_one_worker,
    only_the_named_orders_jobs_are_claimed_when_an_order_is_given,
    concurrent_workers_never_claim_the_same_job,
    credentials_and_resources_are_kept_per_tenant,
    a_worker_whose_lease_ran_out_can_no_longer_write_its_job,
    a_late_retry_cannot_resurrect_a_finished_job,
    a_released_job_is_due_again_without_an_attempt_counted,
    a_writer_that_locked_the_order_makes_the_next_one_wait_and_read_its_change,
);

fn a_worker_whose_lease_ran_out_can_no_longer_write_its_job(f: Fixture) {
    let jobs = jobs_for(f.order.id, 2, &[Effect::Provision { item: item(1) }]);
    f.store.write(|s| s.insert_jobs(&f.order.tenant, &jobs, now())).unwrap();
    let lease = Duration::seconds(30);
    // given a slow worker's claim, whose lease ran out, and a second claim
    let slow = f.store.claim_due_jobs(now(), lease, 1, None).unwrap().remove(0);
    let fresh = f
        .store
        .claim_due_jobs(now() + Duration::seconds(31), lease, 1, None)
        .unwrap()
        .remove(0);
    assert_eq!(fresh.id, slow.id);
    assert_eq!(fresh.claim, slow.claim + 1);
    // when the slow worker records its outcome, every write is refused
    let late = now() + Duration::seconds(40);
    for attempt in [
        f.store.write(|s| s.finish_job(&slow, late)),
        f.store.write(|s| s.retry_job(&slow, late, "503", late)),
        f.store
            .write(|s| s.advance_job(&slow, &serde_json::json!({}), late, late)),
        f.store.write(|s| s.park_job(&slow, "gave up", late)),
        f.store.write(|s| s.give_up_job(&slow, "gave up", late)),
    ] {
        assert!(
            matches!(attempt, Err(orderflow_store::StoreError::ClaimLost(_))),
            "{attempt:?}"
        );
    }
    // then the job is still the second worker's, which finishes it
    let job = &f.store.jobs_of(&f.order.tenant, f.order.id).unwrap()[0];
    assert_eq!((job.state, job.claim), (JobState::Running, fresh.claim));
    f.store.write(|s| s.finish_job(&fresh, late)).unwrap();
}

fn a_late_retry_cannot_resurrect_a_finished_job(f: Fixture) {
    let jobs = jobs_for(f.order.id, 2, &[Effect::Provision { item: item(1) }]);
    f.store.write(|s| s.insert_jobs(&f.order.tenant, &jobs, now())).unwrap();
    let job = f
        .store
        .claim_due_jobs(now(), Duration::seconds(30), 1, None)
        .unwrap()
        .remove(0);
    f.store.write(|s| s.finish_job(&job, now())).unwrap();
    // A retry under the same (now finished) claim is refused and changes nothing.
    let retried = f.store.write(|s| s.retry_job(&job, now(), "late", now()));
    assert!(
        matches!(retried, Err(orderflow_store::StoreError::ClaimLost(_))),
        "{retried:?}"
    );
    assert_eq!(
        f.store.jobs_of(&f.order.tenant, f.order.id).unwrap()[0].state,
        JobState::Done
    );
    assert!(f
        .store
        .claim_due_jobs(now() + Duration::days(1), Duration::seconds(30), 10, None)
        .unwrap()
        .is_empty());
}

fn a_released_job_is_due_again_without_an_attempt_counted(f: Fixture) {
    let jobs = jobs_for(f.order.id, 2, &[Effect::Provision { item: item(1) }]);
    f.store.write(|s| s.insert_jobs(&f.order.tenant, &jobs, now())).unwrap();
    let lease = Duration::seconds(30);
    let job = f.store.claim_due_jobs(now(), lease, 1, None).unwrap().remove(0);
    assert_eq!(job.attempts, 1);
    // when its hand-over fails, it is released, due a second later (not after the lease)
    f.store
        .write(|s| s.release_job(&job, now() + Duration::seconds(1), now()))
        .unwrap();
    assert!(f.store.claim_due_jobs(now(), lease, 1, None).unwrap().is_empty());
    let again = f
        .store
        .claim_due_jobs(now() + Duration::seconds(1), lease, 1, None)
        .unwrap()
        .remove(0);
    assert_eq!((again.id.as_str(), again.attempts), (job.id.as_str(), 1));
}

fn a_writer_that_locked_the_order_makes_the_next_one_wait_and_read_its_change(f: Fixture) {
    let connect = &f.connect;
    let (tenant, id) = (f.order.tenant.clone(), f.order.id);
    let seen = std::thread::scope(|scope| {
        // given a writer (an item's outcome) holding the order
        let other = f
            .store
            .write(|s| {
                let current = s.order_for_update(&tenant, id)?.expect("the order");
                // when a second writer reads the same order for its own change
                let other = scope.spawn(|| {
                    connect()
                        .write(|s| s.order_for_update(&tenant, id))
                        .unwrap()
                        .expect("the order")
                        .version
                });
                // (PostgreSQL: wait until it queues on the row lock, or has read)
                if s.db().dialect() == orderflow_store::Dialect::Postgres {
                    let probe = connect();
                    let waiting = "SELECT count(*) AS n FROM pg_stat_activity
                                    WHERE datname = current_database() AND wait_event_type = 'Lock'";
                    while !other.is_finished()
                        && probe.db().run(waiting, &[]).unwrap().first().unwrap().int("n").unwrap() == 0
                    {
                        std::thread::yield_now();
                    }
                }
                let cancel = Command::Cancel {
                    reason: "changed my mind".into(),
                };
                let decision = decide(&current, cancel, Actor::Customer, &Catalog::standard(), now()).expect("cancel");
                s.apply(current.version, &decision, "u")?;
                Ok(other)
            })
            .unwrap();
        other.join().unwrap()
    });
    // then it waited for the first to commit and read its change, instead of
    // reading the old version and losing on the version guard later
    assert_eq!(seen, f.order.version + 1);
}
