//! A saga step component claims the due jobs of its order that are its own
//! to run, and leaves the others due for their owners. Every test runs once
//! per backend (`sqlite::…`, and `postgres::…` as the application role under
//! row-level security).

mod support;

use chrono::{DateTime, Duration, TimeZone, Utc};
use orderflow_core::*;
use uuid::Uuid;

use support::{Backend, Fixture};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

fn fixture(backend: Backend, hint: &str) -> Fixture {
    support::fixture(backend, hint, now())
}

fn item(n: u128) -> ItemId {
    ItemId::from_uuid(Uuid::from_u128(77_000 + n))
}

macro_rules! claim_contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::fixture(super::Backend::Sqlite, stringify!($name))) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(super::fixture(super::Backend::Postgres, stringify!($name))) } )*
        }
    };
}

claim_contract!(only_jobs_of_the_given_kinds_are_claimed_and_the_others_stay_due);

fn only_jobs_of_the_given_kinds_are_claimed_and_the_others_stay_due(f: Fixture) {
    // given a due validation and two due provisionings of one order
    let jobs = jobs_for(
        f.order.id,
        2,
        &[
            Effect::StartValidation,
            Effect::Provision { item: item(1) },
            Effect::Provision { item: item(2) },
        ],
    );
    f.store.write(|s| s.insert_jobs(&f.order.tenant, &jobs, now())).unwrap();
    let lease = Duration::seconds(30);
    // when the provisioning component claims its own kinds
    let own = [JobKind::Provision, JobKind::Deprovision];
    let claimed = f
        .store
        .claim_due_jobs_of(now(), lease, 10, Some(f.order.id), &own)
        .unwrap();
    // then it has both provisionings, and only those
    assert_eq!(claimed.len(), 2, "{claimed:?}");
    assert!(claimed.iter().all(|j| j.kind == JobKind::Provision), "{claimed:?}");
    assert!(f
        .store
        .claim_due_jobs_of(now(), lease, 10, Some(f.order.id), &own)
        .unwrap()
        .is_empty());
    // and the validation is still due for its owner
    let rest = f.store.claim_due_jobs(now(), lease, 10, Some(f.order.id)).unwrap();
    assert_eq!(rest.iter().map(|j| j.kind).collect::<Vec<_>>(), vec![JobKind::Validate]);
}
