//! Every decision of the saga at unit speed: the real worker, over a real
//! (native SQLite) store, against fake providers that can answer each call
//! ok, retryably, permanently, "already exists", or crash after acting but
//! before the worker recorded anything (the worker's process dies: its
//! claim lapses and the job runs again). Each row drives one order through
//! the whole saga with one fault at one step and reads what it ended as.

use std::panic::AssertUnwindSafe;

use chrono::{DateTime, Duration, Utc};
use orderflow_core::saga::{WhenExhausted, SAGA};
use orderflow_core::{
    created_event, decide, parse_item, Actor, Catalog, Command, EmailAddress, ItemId, JobKind, Order, OrderId, Payment,
    Quota, TenantId,
};
use orderflow_store::{JobState, NativeSqlite, Store};
use uuid::Uuid;

use super::worker::{drive, record_failed_hand_over, run_due_jobs, run_job, SagaEnv};
use crate::world::clock::{self, now as clock};
use crate::world::{quiet_crashes, Crashed, Fakes, Fault, Op};

fn start() -> DateTime<Utc> {
    clock::reset();
    clock()
}

/// One order of `items` VPS items, the saga's worker, and the fakes.
struct World {
    env: SagaEnv<NativeSqlite, Fakes>,
    tenant: TenantId,
    order: OrderId,
}

fn item_id(n: u128) -> ItemId {
    ItemId::from_uuid(Uuid::from_u128(1000 + n))
}

impl World {
    fn new(items: u128) -> World {
        quiet_crashes();
        start();
        // In memory: the same SQL and transactions as on disk, without the
        // fsyncs (the decisions, not the disk, are under test here).
        let store = Store::new(NativeSqlite::open(std::path::Path::new(":memory:")).unwrap());
        store.migrate(clock()).unwrap();
        let catalog = Catalog::standard();
        let spec = parse_item(&catalog, &crate::world::vps_item(), "").unwrap();
        let tenant: TenantId = "acme".parse().unwrap();
        let order = Order::draft(
            &catalog,
            OrderId::from_uuid(Uuid::from_u128(9)),
            tenant.clone(),
            (1..=items).map(|n| (item_id(n), spec.clone())).collect(),
            clock(),
        )
        .unwrap()
        .delivering_to(EmailAddress::parse("buyer@example.test").unwrap());
        store
            .write(|s| s.insert_order(&order, &created_event(&order), Actor::Customer, "test"))
            .unwrap();
        let env = crate::world::fake_saga(store);
        let world = World {
            env,
            tenant,
            order: order.id,
        };
        world.command(
            Command::Submit {
                shown_total: order.total,
            },
            Actor::Customer,
        );
        world
    }

    fn fakes(&self) -> std::cell::RefMut<'_, crate::world::FakeState> {
        self.env.providers.0.borrow_mut()
    }

    /// The next `times` calls of `op` (on `target`, or any) answer `fault`.
    fn fail(&self, op: Op, target: Option<String>, fault: Fault, times: usize) {
        let mut fakes = self.fakes();
        let queue = fakes.faults.entry(op).or_default();
        queue.extend(std::iter::repeat_n((target, fault), times));
    }

    fn order(&self) -> Order {
        self.env.store.order(&self.tenant, self.order).unwrap().unwrap()
    }

    fn command(&self, command: Command, actor: Actor) {
        let current = self.order();
        let decision = decide(&current, command, actor, &self.env.catalog, clock()).unwrap();
        self.env
            .store
            .write(|s| s.apply(current.version, &decision, "test"))
            .unwrap();
    }

    fn pay(&self) {
        self.fakes().paid.insert("pi_0".into());
        let total = self.order().total;
        self.command(
            Command::ConfirmPayment(Payment {
                provider: "fake".into(),
                reference: "pi_0".into(),
                amount: total,
                paid_at: clock(),
            }),
            Actor::System,
        );
    }

    /// Runs what is due now; a crash fault ends the run as a dead process would.
    fn run(&self) {
        let run = std::panic::catch_unwind(AssertUnwindSafe(|| run_due_jobs(&self.env, 100, None)));
        match run {
            Ok(report) => {
                report.unwrap();
            }
            Err(panic) if panic.is::<Crashed>() => {}
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Runs jobs, moving the clock past every retry delay and lease, until
    /// no job is left to run.
    fn settle(&self) {
        for _ in 0..40 {
            self.run();
            let open = self
                .jobs()
                .iter()
                .any(|(_, state, _)| matches!(state, JobState::Pending | JobState::Running));
            if !open {
                return;
            }
            crate::world::advance(Duration::seconds(301));
        }
        panic!("the saga did not settle: {:?}", self.jobs());
    }

    /// Ends the item's subscription as a cancellation at period end does,
    /// with (`open_renewal`) a renewal charged through an intent nobody paid.
    fn end_subscription(&self, open_renewal: bool) {
        let now = clock();
        self.env
            .store
            .write(|s| {
                let sub = s
                    .subscription_of_item(&self.tenant, item_id(1))?
                    .expect("a subscription");
                if open_renewal {
                    let renewal = s.start_renewal(&sub, sub.period + 1, true, now)?;
                    s.link_renewal_intent(&renewal, "fake", "pi_renewal", now)?;
                }
                let change = sub.end("cancelled at period end", now).expect("it ends");
                s.apply_subscription(sub.version, &change)?;
                super::subscription_end::schedule_end(s, &change.subscription, now)
            })
            .unwrap();
    }

    fn jobs(&self) -> Vec<(JobKind, JobState, u32)> {
        let jobs = self.env.store.jobs_of(&self.tenant, self.order).unwrap();
        jobs.iter().map(|j| (j.kind, j.state, j.attempts)).collect()
    }

    /// What the order ended as, and what the providers hold.
    fn summary(&self) -> String {
        let order = self.order();
        let items: Vec<&str> = order.items.iter().map(|i| i.state.as_str()).collect();
        let parked = self.jobs().iter().filter(|(_, s, _)| *s == JobState::Parked).count();
        let fakes = self.env.providers.0.borrow();
        format!(
            "{}{} [{}] refunded {} (at the provider {}); intents {} cancelled {}; resources {} deleted {}; e-mails {}; parked jobs {parked}",
            order.state.as_str(),
            if order.needs_operator { " (needs operator)" } else { "" },
            items.join(","),
            order.refunded.amount,
            fakes.refunds.len(),
            fakes.intents.len(),
            fakes.cancelled.len(),
            fakes.resources.len(),
            fakes.deleted.len(),
            fakes.emails.len(),
        )
    }
}

/// A node of the saga a fault can hit: one provider call of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    CreateIntent,
    Validate,
    CreateResource,
    PollResource,
    Deliver,
    CancelIntent,
    Deprovision,
    Refund,
    DeprovisionSubscription,
    VoidRenewalIntent,
}

/// The nodes of `kind`'s step: the provider calls a fault can hit. The
/// match is exhaustive, so a new step of `SAGA` does not compile until it
/// has its nodes, and the table below then runs it under every fault.
fn nodes(kind: JobKind) -> &'static [At] {
    match kind {
        JobKind::CreatePaymentIntent => &[At::CreateIntent],
        // Validation calls no provider: its one failure is an order that
        // no longer fits (the other faults have nothing to hit).
        JobKind::Validate => &[At::Validate],
        JobKind::Provision => &[At::CreateResource, At::PollResource],
        JobKind::Deliver => &[At::Deliver],
        JobKind::CancelPaymentIntent => &[At::CancelIntent],
        JobKind::Deprovision => &[At::Deprovision],
        JobKind::Refund => &[At::Refund],
        JobKind::DeprovisionSubscription => &[At::DeprovisionSubscription],
        JobKind::VoidRenewalIntent => &[At::VoidRenewalIntent],
    }
}

/// Drives a one-item order through the saga with `fault` at `at` and
/// returns what it ended as.
fn outcome(at: At, fault: Fault) -> String {
    let mut w = World::new(1);
    let item = Some(item_id(1).to_string());
    let times = if fault == Fault::Retryable { 2 } else { 1 };
    match at {
        At::CreateIntent => w.fail(Op::CreateIntent, None, fault, times),
        At::CancelIntent => {
            w.settle();
            w.command(
                Command::Cancel {
                    reason: "changed my mind".into(),
                },
                Actor::Customer,
            );
            w.fail(Op::CancelIntent, None, fault, times);
        }
        At::Validate => {
            if fault == Fault::Permanent {
                // The tenant's quota no longer allows the order.
                w.env.catalog.default_quota = Quota::default();
            }
        }
        At::CreateResource => w.fail(Op::CreateResource, item, fault, times),
        At::PollResource => {
            // The poll right after creating says "creating"; the next one
            // answers with the fault.
            w.fakes().creating_polls = 1;
            w.fail(Op::ResourceStatus, None, Fault::Ok, 1);
            w.fail(Op::ResourceStatus, None, fault, times);
        }
        At::Deliver => w.fail(Op::SendEmail, None, fault, times),
        At::Deprovision => {
            // The resource is created, then fails at the provider for good.
            fail_after_creating(&w);
            w.fail(Op::DeleteResource, None, fault, times);
        }
        At::Refund => {
            // The item cannot be created; its price goes back.
            w.fail(Op::CreateResource, item, Fault::Permanent, 1);
            w.fail(Op::CreateRefund, None, fault, times);
        }
        At::DeprovisionSubscription | At::VoidRenewalIntent => {
            // The order is fulfilled and its item's subscription runs; it
            // ends (with a renewal charged but not paid, for the void).
            w.settle();
            w.pay();
            w.settle();
            w.end_subscription(at == At::VoidRenewalIntent);
            let op = if at == At::VoidRenewalIntent {
                Op::CancelIntent
            } else {
                Op::DeleteResource
            };
            w.fail(op, None, fault, times);
            w.settle();
            return w.summary();
        }
    }
    // Without an intent (or once cancelled) nobody can pay.
    let unpaid = at == At::CancelIntent || (at, fault) == (At::CreateIntent, Fault::Permanent);
    if !unpaid {
        w.settle();
        w.pay();
    }
    w.settle();
    w.summary()
}

/// The item's resource is created, then its provider gives up on it.
fn fail_after_creating(w: &World) {
    w.fakes().creating_polls = 1;
    w.fail(Op::ResourceStatus, None, Fault::Ok, 1);
    w.fail(Op::ResourceStatus, None, Fault::Permanent, 1);
}

const FULFILLED: &str =
    "fulfilled [delivered] refunded 0.00 (at the provider 0); intents 1 cancelled 0; resources 1 deleted 0; e-mails 1; parked jobs 0";
const ROLLED_BACK_UNCREATED: &str =
    "failed [rolled_back] refunded 10.00 (at the provider 1); intents 1 cancelled 0; resources 0 deleted 0; e-mails 0; parked jobs 0";
const ROLLED_BACK_DELETED: &str =
    "failed [rolled_back] refunded 10.00 (at the provider 1); intents 1 cancelled 0; resources 1 deleted 1; e-mails 0; parked jobs 0";
const CANCELLED: &str =
    "cancelled [pending] refunded 0.00 (at the provider 0); intents 1 cancelled 1; resources 0 deleted 0; e-mails 0; parked jobs 0";

/// What the order ends as once the step at `at` has done its work, however
/// many retryable failures, lost answers ("already exists") and crashes
/// after acting it took: the same as if nothing had gone wrong.
fn mended(at: At) -> &'static str {
    match at {
        At::CreateIntent | At::Validate | At::CreateResource | At::PollResource | At::Deliver => FULFILLED,
        At::CancelIntent => CANCELLED,
        At::Deprovision => ROLLED_BACK_DELETED,
        At::Refund => ROLLED_BACK_UNCREATED,
        // The resource is gone: the item has ended (its capacity freed).
        At::DeprovisionSubscription => {
            "fulfilled [ended] refunded 0.00 (at the provider 0); intents 1 cancelled 0; resources 1 deleted 1; e-mails 1; parked jobs 0"
        }
        At::VoidRenewalIntent => {
            "fulfilled [ended] refunded 0.00 (at the provider 0); intents 1 cancelled 1; resources 1 deleted 1; e-mails 1; parked jobs 0"
        }
    }
}

/// What the order ends as when the step at `at` fails for good (the test
/// also checks it is what the step's `when_exhausted` says).
fn exhausted(at: At) -> &'static str {
    match at {
        // No intent, no payment: the order waits for an operator.
        At::CreateIntent => {
            "pending_payment (needs operator) [pending] refunded 0.00 (at the provider 0); intents 0 cancelled 0; resources 0 deleted 0; e-mails 0; parked jobs 1"
        }
        // An order that no longer fits fails and is refunded in full.
        At::Validate => {
            "failed [pending] refunded 10.00 (at the provider 1); intents 1 cancelled 0; resources 0 deleted 0; e-mails 0; parked jobs 0"
        }
        At::CreateResource => ROLLED_BACK_UNCREATED,
        // The resource exists: the item's deprovisioning deletes it.
        At::PollResource => ROLLED_BACK_DELETED,
        // The resource runs and is paid for; the e-mail waits for a person.
        At::Deliver => {
            "fulfilled (needs operator) [active] refunded 0.00 (at the provider 0); intents 1 cancelled 0; resources 1 deleted 0; e-mails 0; parked jobs 1"
        }
        // Compensations are parked instead of given up.
        At::CancelIntent => {
            "cancelled (needs operator) [pending] refunded 0.00 (at the provider 0); intents 1 cancelled 0; resources 0 deleted 0; e-mails 0; parked jobs 1"
        }
        // Still running at the provider: not refunded, an operator decides.
        At::Deprovision => {
            "provisioning (needs operator) [failed] refunded 0.00 (at the provider 0); intents 1 cancelled 0; resources 1 deleted 0; e-mails 0; parked jobs 1"
        }
        // Refused by the provider: the money is still the customer's, and
        // a person must look (the refund is never sent twice).
        At::Refund => {
            "failed (needs operator) [rolled_back] refunded 10.00 (at the provider 0); intents 1 cancelled 0; resources 0 deleted 0; e-mails 0; parked jobs 1"
        }
        At::DeprovisionSubscription => {
            "fulfilled (needs operator) [delivered] refunded 0.00 (at the provider 0); intents 1 cancelled 0; resources 1 deleted 0; e-mails 1; parked jobs 1"
        }
        At::VoidRenewalIntent => {
            "fulfilled (needs operator) [ended] refunded 0.00 (at the provider 0); intents 1 cancelled 0; resources 1 deleted 1; e-mails 1; parked jobs 1"
        }
    }
}

/// Whether `summary` is what `rule` says a failure that retries cannot
/// mend does.
fn follows(rule: WhenExhausted, summary: &str) -> bool {
    match rule {
        WhenExhausted::Park => summary.contains("(needs operator)") && summary.ends_with("parked jobs 1"),
        WhenExhausted::RollBackItem => summary.contains("[rolled_back]") && summary.ends_with("parked jobs 0"),
        WhenExhausted::FailOrderAndRefund => summary.starts_with("failed [") && !summary.contains("refunded 0.00"),
    }
}

#[test]
fn every_step_of_the_saga_under_every_kind_of_answer_ends_as_the_saga_says() {
    use Fault::{AlreadyExists, Crash, Ok, Permanent, Retryable};
    let mut wrong = Vec::new();
    let mut covered = Vec::new();
    for def in SAGA {
        assert!(!nodes(def.kind).is_empty(), "{} has no node to fault", def.kind);
        for &at in nodes(def.kind) {
            // A retryable failure retries, a crash runs the step again with
            // one effect at the provider, a lost answer is found again.
            for fault in [Ok, Retryable, AlreadyExists, Crash, Permanent] {
                let got = outcome(at, fault);
                let expected = if fault == Permanent { exhausted(at) } else { mended(at) };
                if got != expected {
                    wrong.push(format!(
                        "{} at {at:?} × {fault:?}:\n  expected {expected}\n  got      {got}",
                        def.kind
                    ));
                }
                if fault == Permanent && !follows(def.when_exhausted, &got) {
                    wrong.push(format!("{} at {at:?}: {got} is not {:?}", def.kind, def.when_exhausted));
                }
            }
        }
        covered.push(def.kind);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(covered.len(), JobKind::ALL.len(), "every step of the saga is faulted");
}

#[test]
fn a_retryable_failure_waits_2_4_8_16_30_seconds_then_rolls_the_item_back() {
    let w = World::new(1);
    w.settle();
    w.pay();
    w.fail(Op::CreateResource, None, Fault::Retryable, 6);
    w.run();
    let mut waits = Vec::new();
    for _ in 0..5 {
        let due = w
            .env
            .store
            .jobs_of(&w.tenant, w.order)
            .unwrap()
            .into_iter()
            .find(|j| j.kind == JobKind::Provision)
            .unwrap()
            .next_attempt_at;
        waits.push((due - clock()).num_seconds());
        clock::set_now(due);
        w.run();
    }
    assert_eq!(waits, [2, 4, 8, 16, 30]);
    w.settle();
    assert_eq!(w.summary(), ROLLED_BACK_UNCREATED);
}

#[test]
fn an_item_that_fails_after_the_others_succeeded_is_rolled_back_alone() {
    let w = World::new(3);
    w.settle();
    w.pay();
    w.fail(Op::CreateResource, Some(item_id(2).to_string()), Fault::Permanent, 1);
    w.settle();
    assert_eq!(
        w.summary(),
        "partially_fulfilled [delivered,rolled_back,delivered] refunded 10.00 (at the provider 1); intents 1 cancelled 0; resources 2 deleted 0; e-mails 2; parked jobs 0"
    );
}

#[test]
fn an_intent_paid_before_it_could_be_voided_leaves_nothing_open_and_parks_nothing() {
    let w = World::new(1);
    w.settle();
    // The customer paid; the provider's webhook has not arrived when the
    // order is cancelled, and the provider refuses to void a paid intent.
    w.fakes().paid.insert("pi_0".into());
    w.command(
        Command::Cancel {
            reason: "changed my mind".into(),
        },
        Actor::Customer,
    );
    w.fail(Op::CancelIntent, None, Fault::Permanent, 1);
    w.settle();
    assert_eq!(
        w.summary(),
        "cancelled [pending] refunded 0.00 (at the provider 0); intents 1 cancelled 0; resources 0 deleted 0; e-mails 0; parked jobs 0"
    );
}

#[test]
fn a_cancellation_mid_saga_walks_the_compensations_back() {
    let w = World::new(2);
    w.settle();
    w.pay();
    // The first item runs; the second is still being created.
    w.fakes().creating_polls = 1;
    w.fail(Op::CreateResource, Some(item_id(2).to_string()), Fault::Retryable, 1);
    w.run();
    let states: Vec<_> = w.order().items.iter().map(|i| i.state.as_str()).collect();
    assert_eq!(states, ["delivered", "provisioning"]);
    w.command(
        Command::Cancel {
            reason: "operator stop".into(),
        },
        Actor::Operator,
    );
    w.settle();
    assert_eq!(
        w.summary(),
        "cancelled [rolled_back,rolled_back] refunded 20.00 (at the provider 2); intents 1 cancelled 0; resources 2 deleted 2; e-mails 1; parked jobs 0"
    );
}

#[test]
fn a_step_whose_hand_over_keeps_failing_counts_its_attempts_then_rolls_back_and_parks() {
    let w = World::new(1);
    w.settle();
    w.pay();
    // Every step runs here but provisioning and its undo, whose component
    // answers 500 every time it is handed a job (a deterministic trap).
    let tick = || {
        drive(&w.env.store, clock, w.env.lease, 100, None, |job| {
            if matches!(job.kind, JobKind::Provision | JobKind::Deprovision) {
                record_failed_hand_over(&w.env.store, &w.env.catalog, 1.0, job, "answered 500", clock())?;
                Ok(false)
            } else {
                run_job(&w.env, job)
            }
        })
        .unwrap()
    };
    let mut waits = Vec::new();
    for _ in 0..30 {
        tick();
        let provision = w
            .env
            .store
            .jobs_of(&w.tenant, w.order)
            .unwrap()
            .into_iter()
            .find(|j| j.kind == JobKind::Provision)
            .unwrap();
        if provision.state != JobState::Pending {
            break;
        }
        waits.push((provision.next_attempt_at - clock()).num_seconds());
        clock::set_now(provision.next_attempt_at);
    }
    assert_eq!(waits, [2, 4, 8, 16, 30], "the forward schedule, not every second");
    for _ in 0..12 {
        clock::advance(Duration::seconds(301));
        tick();
    }
    let jobs = w.jobs();
    let of = |kind| jobs.iter().find(|(k, _, _)| *k == kind).copied().unwrap();
    assert_eq!(
        of(JobKind::Provision),
        (JobKind::Provision, JobState::Done, 6),
        "given up"
    );
    assert_eq!(of(JobKind::Deprovision), (JobKind::Deprovision, JobState::Parked, 9));
    let order = w.order();
    assert!(order.needs_operator);
    assert_eq!(order.items[0].state.as_str(), "failed");
    assert!(w.fakes().resources.is_empty(), "no provider call was ever made");
}

#[test]
fn a_parked_deprovisioning_holds_back_neither_the_other_items_rollback_nor_their_refunds() {
    let w = World::new(3);
    w.settle();
    w.pay();
    // Two items run; the third is still being created when an operator cancels.
    w.fakes().creating_polls = 1;
    w.fail(Op::CreateResource, Some(item_id(3).to_string()), Fault::Retryable, 1);
    w.run();
    let states: Vec<_> = w.order().items.iter().map(|i| i.state.as_str()).collect();
    assert_eq!(states, ["delivered", "delivered", "provisioning"]);
    // The second item's resource cannot be deleted, ever.
    let second = w.fakes().resources[&item_id(2).to_string()].clone();
    w.fail(Op::DeleteResource, Some(second), Fault::Retryable, 1000);
    w.command(
        Command::Cancel {
            reason: "operator stop".into(),
        },
        Actor::Operator,
    );
    w.settle();
    // Its deprovisioning parks; the first item's, chained after it, still
    // runs: rolled back and refunded.
    let states: Vec<_> = w.order().items.iter().map(|i| i.state.as_str()).collect();
    assert_eq!(states, ["rolled_back", "failed", "rolled_back"], "{}", w.summary());
    assert!(w.order().needs_operator);
    assert_eq!(
        w.summary(),
        "cancelled (needs operator) [rolled_back,failed,rolled_back] refunded 20.00 (at the provider 2); intents 1 cancelled 0; resources 3 deleted 2; e-mails 2; parked jobs 1"
    );
}

#[test]
fn a_compensation_that_keeps_failing_parks_the_order_after_its_retries() {
    let w = World::new(1);
    fail_after_creating(&w);
    w.fail(Op::DeleteResource, None, Fault::Retryable, 100);
    w.settle();
    w.pay();
    w.settle();
    let deprovision = w
        .jobs()
        .into_iter()
        .find(|(k, _, _)| *k == JobKind::Deprovision)
        .unwrap();
    assert_eq!(deprovision, (JobKind::Deprovision, JobState::Parked, 9));
    assert!(w.order().needs_operator);
    assert_eq!(w.fakes().deleted.len(), 0);
}

#[test]
fn a_worker_without_the_credentials_key_rolls_the_running_item_back_instead_of_activating_it() {
    let mut w = World::new(1);
    w.env.vault = None;
    w.settle();
    w.pay();
    w.settle();
    assert_eq!(w.summary(), ROLLED_BACK_DELETED);
}
