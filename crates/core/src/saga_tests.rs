//! The saga definition's own rules, read as sentences. The decisions over
//! real stored jobs and fake providers are tabled in the service's
//! `saga/decision_tests.rs`.

use super::*;

#[test]
fn every_job_kind_is_exactly_one_step_of_the_saga() {
    for kind in JobKind::ALL {
        assert_eq!(SAGA.iter().filter(|s| s.kind == *kind).count(), 1, "{kind}");
        assert_eq!(step(*kind).kind, *kind);
    }
    assert_eq!(SAGA.len(), JobKind::ALL.len());
}

#[test]
fn forward_steps_retry_after_2_4_8_16_30_seconds_and_compensations_longer() {
    let delays = |kind: JobKind| -> Vec<i64> {
        (1..)
            .map_while(|n| retry_delay(step(kind).retry_secs, n))
            .map(|d| d.num_seconds())
            .collect()
    };
    for kind in [
        JobKind::CreatePaymentIntent,
        JobKind::Validate,
        JobKind::Provision,
        JobKind::Deliver,
    ] {
        assert_eq!(delays(kind), [2, 4, 8, 16, 30], "{kind}");
        assert!(!step(kind).compensation);
    }
    for kind in [JobKind::CancelPaymentIntent, JobKind::Deprovision] {
        assert_eq!(delays(kind), [2, 4, 8, 16, 30, 60, 120, 300], "{kind}");
        assert!(step(kind).compensation);
        assert_eq!(step(kind).when_exhausted, WhenExhausted::Park);
    }
    assert_eq!(retry_delay(&RETRY_DELAYS_SECS, 0), None);
    assert_eq!(retry_delay(&RETRY_DELAYS_SECS, u32::MAX), None);
}

#[test]
fn a_failed_item_is_rolled_back_and_other_failures_park() {
    assert_eq!(step(JobKind::Provision).when_exhausted, WhenExhausted::RollBackItem);
    assert_eq!(
        step(JobKind::Validate).when_exhausted,
        WhenExhausted::FailOrderAndRefund
    );
    assert_eq!(step(JobKind::Deliver).when_exhausted, WhenExhausted::Park);
    assert_eq!(step(JobKind::CreatePaymentIntent).when_exhausted, WhenExhausted::Park);
}

#[test]
fn each_forward_step_names_its_undo() {
    assert_eq!(
        step(JobKind::CreatePaymentIntent).undo,
        Undo::Job {
            kind: JobKind::CancelPaymentIntent
        }
    );
    assert_eq!(step(JobKind::Validate).undo, Undo::RequestRefund);
    assert_eq!(
        step(JobKind::Provision).undo,
        Undo::Job {
            kind: JobKind::Deprovision
        }
    );
    assert!(matches!(step(JobKind::Deliver).undo, Undo::Nothing { .. }));
}

#[test]
fn a_job_is_handed_to_its_owners_private_route() {
    assert_eq!(
        hop_url(JobKind::Deprovision, "o:3:0", 7),
        "http://provision-step.spin.internal/v1/internal/jobs/provision/o:3:0?claim=7"
    );
    assert_eq!(
        hop_url(JobKind::CancelPaymentIntent, "j", 1),
        "http://pay.spin.internal/v1/internal/jobs/payment/j?claim=1"
    );
    assert_eq!(Owner::Validate.job_path("j", 2), "/v1/internal/jobs/validate/j?claim=2");
    assert_eq!(Owner::Deliver.component(), "deliver");
}

#[test]
fn the_printed_saga_shows_every_step_its_owner_retries_and_undo() {
    let text = describe();
    for s in SAGA {
        assert!(text.contains(&format!("{}  [", s.kind)), "{} missing:\n{text}", s.kind);
    }
    assert!(text.contains("2. validate  [per order] by validate at /v1/internal/jobs/validate/{id}"));
    assert!(text.contains("retries after 2, 4, 8, 16, 30 s; then: roll back the item"));
    assert!(text.contains("retries after 2, 4, 8, 16, 30, 60, 120, 300 s; then: park the order"));
    assert!(text.contains("undo: cancel_payment_intent"));
    assert!(text.contains("undo: request a refund"));
    assert!(text.contains("(compensation)"));
}

#[test]
fn a_provisioning_job_that_failed_before_recording_asks_again_for_what_it_may_have_created() {
    assert!(recreate_after_failure(ItemState::Failed, 2));
    assert!(!recreate_after_failure(ItemState::Failed, 1));
    assert!(!recreate_after_failure(ItemState::Active, 3));
}

#[test]
fn quota_arithmetic_saturates() {
    let one = Quota {
        vps_instances: 1,
        ..Quota::default()
    };
    let two = quota_zip(one, one, u32::saturating_add);
    assert_eq!(two.vps_instances, 2);
    assert_eq!(quota_minus(one, two).vps_instances, 0);
    assert_eq!(quota_minus(two, one).vps_instances, 1);
}

#[test]
fn the_stack_unwinds_newest_first() {
    let a = ItemId::from_uuid(uuid::Uuid::from_u128(1));
    let b = ItemId::from_uuid(uuid::Uuid::from_u128(2));
    let stack = vec![
        Compensation::RefundPayment,
        Compensation::Deprovision { item: a },
        Compensation::Deprovision { item: b },
    ];
    assert_eq!(
        unwind(&stack),
        vec![
            Compensation::Deprovision { item: b },
            Compensation::Deprovision { item: a },
            Compensation::RefundPayment
        ]
    );
}

#[test]
fn the_readme_shows_the_saga_as_printed() {
    let readme = include_str!("../../../README.md");
    assert!(
        readme.contains(&describe()),
        "README.md's saga section must show orderflow_core::saga::describe() verbatim:\n{}",
        describe()
    );
}
