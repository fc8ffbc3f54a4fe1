//! The saga definition's own rules, read as sentences. The decisions over
//! real stored jobs and fake providers are tabled in the service's
//! `saga/decision_tests.rs`.

use super::decisions::quota_zip;
use super::*;
use crate::catalog::Quota;
use crate::ids::ItemId;
use crate::order::Compensation;
use crate::state::ItemState;

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
        handoff_url(JobKind::Deprovision, "o:3:0", 7),
        "http://provision-step.spin.internal/v1/internal/jobs/provision/o:3:0?claim=7"
    );
    assert_eq!(
        handoff_url(JobKind::CancelPaymentIntent, "j", 1),
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
    let readme = include_str!("../../../../README.md");
    assert!(
        readme.contains(&describe()),
        "README.md's saga section must show orderflow_core::saga::describe() verbatim:\n{}",
        describe()
    );
}

// The decisions as handlers: feed an outcome, read the actions.

mod decisions {
    use super::super::fixture::{self, item, now};
    use super::super::*;
    use crate::catalog::{Catalog, Quota};
    use crate::lifecycle::Command;
    use crate::order::{Order, Payment};
    use chrono::Duration;
    use serde_json::json;

    fn ctx() -> StepContext {
        StepContext {
            now: now(),
            poll_interval: Duration::seconds(1),
            provision_deadline: Duration::minutes(30),
            can_seal: true,
        }
    }

    /// A paid one-item order, as far as `through` takes it.
    fn order(through: &[Command]) -> Order {
        let total = fixture::order(&[]).total;
        let paid = Command::ConfirmPayment(Payment {
            provider: "fake".into(),
            reference: "pi".into(),
            amount: total,
            paid_at: now(),
        });
        let mut commands = vec![Command::Submit { shown_total: total }, paid];
        commands.extend(through.iter().cloned());
        fixture::order(&commands)
    }

    fn provisioning() -> Order {
        order(&[Command::StartValidation, Command::PassValidation])
    }

    fn job(kind: JobKind, attempts: u32, resource: Option<&str>) -> SagaJob {
        SagaJob {
            kind,
            item: Some(item()),
            attempts,
            payload: match kind {
                JobKind::Provision => JobPayload::Provision(ProvisionPayload {
                    resource_id: resource.map(str::to_owned),
                    creating_since: resource.map(|_| now()),
                }),
                _ => JobPayload::Empty,
            },
        }
    }

    #[test]
    fn a_new_item_is_created_then_asked_about_in_the_same_run() {
        let order = provisioning();
        let job = job(JobKind::Provision, 1, None);
        assert_eq!(call_for(&order, &job), Call::CreateResource { item: item() });
        let actions = next(&order, &job, Outcome::Created { resource: "r1".into() }, ctx());
        assert_eq!(
            actions,
            [Action::Call(Call::ResourceStatus {
                item: item(),
                resource: "r1".into(),
                fresh: true
            })]
        );
    }

    #[test]
    fn a_resource_that_runs_at_once_is_recorded_sealed_and_activated_in_one_go() {
        let order = provisioning();
        let access = json!({"host": "h"});
        let polled = Outcome::Polled {
            resource: "r1".into(),
            fresh: true,
            status: Ok(ResourceState::Ready(access.clone())),
        };
        assert_eq!(
            next(&order, &job(JobKind::Provision, 1, None), polled, ctx()),
            [
                Action::SaveResource {
                    item: item(),
                    resource: "r1".into()
                },
                Action::SaveCredentials { item: item(), access },
                Action::Apply(Command::ActivateItem { item: item() }),
                Action::StartSubscription { item: item() },
                Action::Finish,
            ]
        );
    }

    #[test]
    fn waiting_for_a_resource_is_not_failing() {
        let order = provisioning();
        let job = job(JobKind::Provision, 3, Some("r1"));
        let polled = Outcome::Polled {
            resource: "r1".into(),
            fresh: false,
            status: Ok(ResourceState::Creating),
        };
        assert_eq!(
            next(&order, &job, polled, ctx()),
            [Action::Advance {
                payload: job.payload.clone(),
                due: now() + Duration::seconds(1)
            }]
        );
    }

    #[test]
    fn a_resource_still_being_created_past_the_deadline_rolls_the_item_back() {
        let order = provisioning();
        let polling = job(JobKind::Provision, 1, Some("r1"));
        let creating = || Outcome::Polled {
            resource: "r1".into(),
            fresh: false,
            status: Ok(ResourceState::Creating),
        };
        // (minutes since the first poll, what follows)
        let cases = [(0, false), (29, false), (30, true), (240, true)];
        for (minutes, rolled_back) in cases {
            let at = StepContext {
                now: now() + Duration::minutes(minutes),
                ..ctx()
            };
            let actions = next(&order, &polling, creating(), at);
            if rolled_back {
                let reason = format!("permanent: resource r1 still being created after {minutes} minutes");
                assert_eq!(
                    actions,
                    [
                        Action::Apply(Command::FailItem {
                            item: item(),
                            reason: reason.clone()
                        }),
                        Action::GiveUp { error: reason },
                    ],
                    "{minutes} min"
                );
            } else {
                assert_eq!(
                    actions,
                    [Action::Advance {
                        payload: polling.payload.clone(),
                        due: at.now + Duration::seconds(1)
                    }],
                    "{minutes} min: polled again, the first poll's time kept"
                );
            }
        }
        // A fresh resource starts the count at its first poll.
        let fresh = Outcome::Polled {
            resource: "r2".into(),
            fresh: true,
            status: Ok(ResourceState::Creating),
        };
        let actions = next(&order, &job(JobKind::Provision, 1, None), fresh, ctx());
        assert_eq!(
            actions[1],
            Action::Advance {
                payload: JobPayload::Provision(ProvisionPayload {
                    resource_id: Some("r2".into()),
                    creating_since: Some(now()),
                }),
                due: now()
            }
        );
    }

    #[test]
    fn the_fifth_failure_retries_in_30_seconds_and_the_sixth_rolls_the_item_back() {
        let order = provisioning();
        let failed = || Outcome::Failed(Failure::Retryable("503".into()));
        assert_eq!(
            next(&order, &job(JobKind::Provision, 5, None), failed(), ctx()),
            [Action::RetryAt {
                at: now() + Duration::seconds(30),
                error: "retryable: 503".into()
            }]
        );
        assert_eq!(
            next(&order, &job(JobKind::Provision, 6, None), failed(), ctx()),
            [
                Action::Apply(Command::FailItem {
                    item: item(),
                    reason: "retryable: 503".into()
                }),
                Action::GiveUp {
                    error: "retryable: 503".into()
                },
            ]
        );
    }

    #[test]
    fn a_compensation_refused_for_good_parks_the_order_with_a_reason_naming_the_item() {
        let order = order(&[
            Command::StartValidation,
            Command::PassValidation,
            Command::FailItem {
                item: item(),
                reason: "x".into(),
            },
        ]);
        let job = job(JobKind::Deprovision, 1, None);
        assert_eq!(call_for(&order, &job), Call::DeleteResource { item: item() });
        let actions = next(&order, &job, Outcome::Failed(Failure::Permanent("400".into())), ctx());
        assert_eq!(
            actions,
            [
                Action::Park {
                    error: "permanent: 400".into()
                },
                Action::Apply(Command::ParkForOperator {
                    reason: format!("deprovision of item {} keeps failing: permanent: 400", item())
                }),
            ]
        );
    }

    #[test]
    fn a_deprovisioned_item_is_rolled_back_its_capacity_freed_and_its_subscription_ended() {
        let order = provisioning();
        assert_eq!(
            next(&order, &job(JobKind::Deprovision, 1, None), Outcome::Done, ctx()),
            [
                Action::Apply(Command::RollBackItem { item: item() }),
                Action::ReleaseCapacity { item: item() },
                Action::EndSubscription { item: item() },
                Action::Finish,
            ]
        );
    }

    #[test]
    fn an_ended_subscriptions_deleted_resource_ends_its_item_and_frees_its_capacity() {
        let order = provisioning();
        assert_eq!(
            next(
                &order,
                &job(JobKind::DeprovisionSubscription, 1, None),
                Outcome::Done,
                ctx()
            ),
            [
                Action::Apply(Command::EndItem { item: item() }),
                Action::ReleaseCapacity { item: item() },
                Action::Finish,
            ]
        );
    }

    #[test]
    fn an_item_no_longer_provisioning_needs_no_call_unless_a_lost_create_may_have_made_it() {
        let failed = order(&[
            Command::StartValidation,
            Command::PassValidation,
            Command::FailItem {
                item: item(),
                reason: "x".into(),
            },
        ]);
        assert_eq!(call_for(&failed, &job(JobKind::Provision, 1, None)), Call::Nothing);
        assert_eq!(
            call_for(&failed, &job(JobKind::Provision, 2, None)),
            Call::CreateResource { item: item() }
        );
        assert_eq!(
            call_for(&failed, &job(JobKind::Provision, 2, Some("r1"))),
            Call::Nothing
        );
    }

    #[test]
    fn validation_starts_on_a_paid_order_checks_a_validating_one_and_skips_the_rest() {
        assert_eq!(validation_stage(order(&[]).state), ValidationStage::Start);
        assert_eq!(
            validation_stage(order(&[Command::StartValidation]).state),
            ValidationStage::Check
        );
        assert_eq!(validation_stage(provisioning().state), ValidationStage::MovedOn);
    }

    #[test]
    fn a_valid_order_reserves_its_capacity_and_passes_an_invalid_one_fails_and_is_refunded() {
        let order = order(&[Command::StartValidation]);
        let job = SagaJob {
            kind: JobKind::Validate,
            item: None,
            attempts: 1,
            payload: JobPayload::Empty,
        };
        let pass = next(&order, &job, Outcome::Validated { problems: vec![] }, ctx());
        assert!(matches!(pass[0], Action::ReserveCapacity { units: 1, .. }), "{pass:?}");
        assert_eq!(pass[1..], [Action::Apply(Command::PassValidation), Action::Finish]);
        let problems = validation_problems(&Catalog::standard(), &order, &Quota::default(), &[], |_, _| 100);
        assert_eq!(problems.len(), 1, "a zero quota refuses the item: {problems:?}");
        let fail = next(
            &order,
            &job,
            Outcome::Validated {
                problems: problems.clone(),
            },
            ctx(),
        );
        assert_eq!(
            fail,
            [Action::Apply(Command::FailValidation { problems }), Action::Finish]
        );
    }
}

#[test]
fn unwinding_undoes_every_begun_step_newest_first_as_the_saga_defines_its_undo() {
    use crate::lifecycle::Command;
    use crate::order::Payment;
    let total = fixture::order(&[]).total;
    let paid = Command::ConfirmPayment(Payment {
        provider: "fake".into(),
        reference: "pi".into(),
        amount: total,
        paid_at: fixture::now(),
    });
    let item = fixture::item();
    let mut commands = vec![
        Command::Submit { shown_total: total },
        paid,
        Command::StartValidation,
        Command::PassValidation,
    ];
    let provisioning = fixture::order(&commands);
    // In flight: its provisioning begun, not completed; newest of all.
    let undo = unwinding(&provisioning);
    assert_eq!(
        undo.iter().map(|u| (u.step, u.item, u.undo)).collect::<Vec<_>>(),
        [
            (JobKind::Provision, Some(item), step(JobKind::Provision).undo),
            (JobKind::Validate, None, step(JobKind::Validate).undo),
        ]
    );
    // Active: its completed provisioning is on the stack, above the payment.
    commands.push(Command::ActivateItem { item });
    let done = fixture::order(&commands);
    let undo: Vec<(JobKind, Undo)> = unwinding(&done).iter().map(|u| (u.step, u.undo)).collect();
    assert_eq!(
        undo,
        [
            (
                JobKind::Provision,
                Undo::Job {
                    kind: JobKind::Deprovision
                }
            ),
            (JobKind::Validate, Undo::RequestRefund),
        ]
    );
}
