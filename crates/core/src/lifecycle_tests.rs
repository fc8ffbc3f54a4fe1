//! The state machine, tested against SPEC §2's table: every listed
//! transition happens, nothing else does, and random command sequences never
//! leave the table.

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use rust_decimal_macros::dec;
use serde_json::json;
use uuid::Uuid;

use crate::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 9, 30, 0).unwrap()
}

fn vps_spec(plan: &str) -> ItemSpec {
    let raw = json!({"product":"vps","billing_cycle":"monthly",
        "config":{"region":"lj-1","plan":plan,"os_image":"ubuntu-24.04"}});
    parse_item(&Catalog::standard(), &raw, "").unwrap()
}

fn item_id(n: u128) -> ItemId {
    ItemId::from_uuid(Uuid::from_u128(1000 + n))
}

/// A draft with `n` core VPS items (€10 each).
fn draft(n: u128) -> Order {
    let items = (0..n).map(|i| (item_id(i), vps_spec("core"))).collect();
    Order::draft(
        &Catalog::standard(),
        OrderId::from_uuid(Uuid::from_u128(42)),
        "acme".parse().unwrap(),
        items,
        now(),
    )
    .unwrap()
}

fn apply(order: &Order, cmd: Command, actor: Actor) -> Result<Decision, Rejection> {
    decide(order, cmd, actor, &Catalog::standard(), now())
}

fn step(order: Order, cmd: Command, actor: Actor) -> Order {
    apply(&order, cmd.clone(), actor)
        .unwrap_or_else(|e| panic!("{cmd:?} on {}: {e}", order.state))
        .order
}

fn payment(amount: Money) -> Payment {
    Payment {
        provider: "simpay".into(),
        reference: "pi_123".into(),
        amount,
        paid_at: now(),
    }
}

fn pending(n: u128) -> Order {
    let d = draft(n);
    let total = d.total;
    step(d, Command::Submit { shown_total: total }, Actor::Customer)
}

fn confirmed(n: u128) -> Order {
    let o = pending(n);
    let total = o.total;
    step(o, Command::ConfirmPayment(payment(total)), Actor::System)
}

fn validating(n: u128) -> Order {
    step(confirmed(n), Command::StartValidation, Actor::System)
}

fn provisioning(n: u128) -> Order {
    step(validating(n), Command::PassValidation, Actor::System)
}

fn event_types(d: &Decision) -> Vec<&'static str> {
    d.events.iter().map(|e| e.event_type.as_str()).collect()
}

fn refunds(d: &Decision) -> Vec<Money> {
    d.events
        .iter()
        .filter(|e| e.event_type == EventType::BillingRefundRequested)
        .map(|e| serde_json::from_value(e.data["amount"].clone()).unwrap())
        .collect()
}

#[test]
fn submitting_a_draft_asks_for_payment_at_the_server_price() {
    let d = draft(2);
    let shown = Money::eur(dec!(20.50));
    let decision = apply(&d, Command::Submit { shown_total: shown }, Actor::Customer).unwrap();
    assert_eq!(decision.order.state, OrderState::PendingPayment);
    assert_eq!(decision.order.total, Money::eur(dec!(20.00)));
    assert_eq!(decision.order.version, d.version + 1);
    assert_eq!(
        decision.effects,
        vec![Effect::CreatePaymentIntent {
            amount: Money::eur(dec!(20.00))
        }]
    );
    assert_eq!(event_types(&decision), ["order.submitted"]);
}

#[test]
fn submitting_with_a_total_more_than_a_euro_off_is_rejected_with_our_price() {
    let err = apply(
        &draft(1),
        Command::Submit {
            shown_total: Money::eur(dec!(11.01)),
        },
        Actor::Customer,
    )
    .unwrap_err();
    match err {
        Rejection::PriceMismatch(m) => assert_eq!(m.server, Money::eur(dec!(10.00))),
        other => panic!("expected a price mismatch, got {other}"),
    }
}

#[test]
fn submitting_reprices_against_todays_catalog() {
    let d = draft(1);
    let mut dearer = Catalog::standard();
    dearer.version = "2027-01-01".into();
    dearer.vps_plans[0].monthly_eur = dec!(10.80);
    let decision = decide(
        &d,
        Command::Submit {
            shown_total: Money::eur(dec!(10.00)),
        },
        Actor::Customer,
        &dearer,
        now(),
    )
    .unwrap();
    assert_eq!(decision.order.total, Money::eur(dec!(10.80)));
    assert_eq!(decision.order.items[0].price.catalog_version, "2027-01-01");
}

#[test]
fn a_confirmed_payment_below_the_total_is_refused() {
    let err = apply(
        &pending(1),
        Command::ConfirmPayment(payment(Money::eur(dec!(9.99)))),
        Actor::System,
    )
    .unwrap_err();
    assert!(matches!(err, Rejection::PaymentMismatch { .. }));
}

#[test]
fn confirming_payment_records_it_and_starts_validation() {
    let o = pending(1);
    let d = apply(&o, Command::ConfirmPayment(payment(o.total)), Actor::System).unwrap();
    assert_eq!(d.order.state, OrderState::PaymentConfirmed);
    assert_eq!(d.order.payment.as_ref().unwrap().reference, "pi_123");
    assert_eq!(d.effects, vec![Effect::StartValidation]);
    assert_eq!(event_types(&d), ["order.payment-confirmed"]);
}

#[test]
fn an_operator_may_revert_a_payment_before_provisioning_but_a_customer_may_not() {
    let o = confirmed(1);
    let err = apply(
        &o,
        Command::RevertPayment {
            reason: "chargeback".into(),
        },
        Actor::Customer,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        Rejection::NotAllowed {
            required: Actor::Operator,
            ..
        }
    ));
    let d = apply(
        &o,
        Command::RevertPayment {
            reason: "chargeback".into(),
        },
        Actor::Operator,
    )
    .unwrap();
    assert_eq!(d.order.state, OrderState::PendingPayment);
    assert_eq!(d.order.payment, None);
    let err = apply(
        &provisioning(1),
        Command::RevertPayment { reason: "late".into() },
        Actor::Operator,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        Rejection::IllegalTransition {
            state: OrderState::Provisioning,
            ..
        }
    ));
}

#[test]
fn cancelling_after_payment_requests_a_full_refund_once() {
    let o = validating(3);
    let d = apply(
        &o,
        Command::Cancel {
            reason: "changed my mind".into(),
        },
        Actor::Customer,
    )
    .unwrap();
    assert_eq!(d.order.state, OrderState::Cancelled);
    assert!(d.order.deleted_at.is_some());
    assert_eq!(refunds(&d), [Money::eur(dec!(30.00))]);
    assert_eq!(d.order.refunded, Money::eur(dec!(30.00)));
}

#[test]
fn validation_failure_fails_the_order_and_refunds_it() {
    let d = apply(
        &validating(2),
        Command::FailValidation { problems: vec![] },
        Actor::System,
    )
    .unwrap();
    assert_eq!(d.order.state, OrderState::Failed);
    assert_eq!(event_types(&d), ["order.failed", "billing.refund-requested"]);
    assert_eq!(refunds(&d), [Money::eur(dec!(20.00))]);
}

#[test]
fn items_provision_independently_through_partially_fulfilled_to_fulfilled() {
    let o = provisioning(3);
    assert!(o.items.iter().all(|i| i.state == ItemState::Provisioning));
    let d = apply(&o, Command::ActivateItem { item: item_id(1) }, Actor::System).unwrap();
    assert_eq!(d.order.state, OrderState::PartiallyFulfilled);
    assert_eq!(d.effects, vec![Effect::Deliver { item: item_id(1) }]);
    assert_eq!(event_types(&d), ["order.item-provisioned", "order.partially-fulfilled"]);
    let o = step(d.order, Command::ActivateItem { item: item_id(0) }, Actor::System);
    let d = apply(&o, Command::ActivateItem { item: item_id(2) }, Actor::System).unwrap();
    assert_eq!(d.order.state, OrderState::Fulfilled);
    assert_eq!(event_types(&d), ["order.item-provisioned", "order.fulfilled"]);
    let d = apply(&d.order, Command::DeliverItem { item: item_id(2) }, Actor::System).unwrap();
    assert_eq!(event_types(&d), ["order.service-delivered"]);
    assert_eq!(d.order.item(item_id(2)).unwrap().state, ItemState::Delivered);
}

#[test]
fn one_item_failing_for_good_is_rolled_back_and_refunded_and_the_rest_stay() {
    let o = provisioning(3);
    let o = step(o, Command::ActivateItem { item: item_id(0) }, Actor::System);
    let o = step(o, Command::ActivateItem { item: item_id(1) }, Actor::System);
    let d = apply(
        &o,
        Command::FailItem {
            item: item_id(2),
            reason: "quota at provider".into(),
        },
        Actor::System,
    )
    .unwrap();
    assert_eq!(
        d.effects,
        vec![Effect::Deprovision {
            items: vec![item_id(2)]
        }]
    );
    assert_eq!(d.order.state, OrderState::PartiallyFulfilled);
    let d = apply(&d.order, Command::RollBackItem { item: item_id(2) }, Actor::System).unwrap();
    assert_eq!(d.order.state, OrderState::PartiallyFulfilled);
    assert_eq!(refunds(&d), [Money::eur(dec!(10.00))]);
    assert_eq!(d.events.last().unwrap().data["final"], true);
    assert!(d.order.items[..2].iter().all(|i| i.state == ItemState::Active));
    // The rollback happens once: a second one is refused, so the refund is never doubled.
    assert!(apply(&d.order, Command::RollBackItem { item: item_id(2) }, Actor::System).is_err());
}

#[test]
fn every_item_failing_fails_the_order_with_the_whole_payment_refunded() {
    let mut o = provisioning(2);
    let mut total_refunded = Money::eur(dec!(0));
    for i in 0..2 {
        o = step(
            o,
            Command::FailItem {
                item: item_id(i),
                reason: "down".into(),
            },
            Actor::System,
        );
    }
    for i in 0..2 {
        let d = apply(&o, Command::RollBackItem { item: item_id(i) }, Actor::System).unwrap();
        for r in refunds(&d) {
            total_refunded = total_refunded.checked_add(r).unwrap();
        }
        o = d.order;
    }
    assert_eq!(o.state, OrderState::Failed);
    assert_eq!(total_refunded, o.total);
    assert_eq!(o.refundable().unwrap().amount, dec!(0));
}

#[test]
fn operator_cancellation_mid_provisioning_deprovisions_newest_first() {
    let o = provisioning(3);
    let o = step(o, Command::ActivateItem { item: item_id(0) }, Actor::System);
    let o = step(o, Command::ActivateItem { item: item_id(2) }, Actor::System);
    let err = apply(&o, Command::Cancel { reason: "abuse".into() }, Actor::Customer).unwrap_err();
    assert!(matches!(
        err,
        Rejection::NotAllowed {
            required: Actor::Operator,
            ..
        }
    ));
    let d = apply(&o, Command::Cancel { reason: "abuse".into() }, Actor::Operator).unwrap();
    assert_eq!(d.order.state, OrderState::Cancelled);
    // Item 1 was still provisioning (newest), then 2 and 0 in reverse activation order.
    assert_eq!(
        d.effects,
        vec![Effect::Deprovision {
            items: vec![item_id(1), item_id(2), item_id(0)]
        }]
    );
    let mut o = d.order;
    for i in [1, 2, 0] {
        o = step(o, Command::RollBackItem { item: item_id(i) }, Actor::System);
    }
    assert_eq!(o.state, OrderState::Cancelled);
    assert_eq!(o.refunded, o.total);
}

#[test]
fn restoring_brings_a_cancelled_order_back_into_view_for_operators_only() {
    let o = step(draft(1), Command::Cancel { reason: String::new() }, Actor::Customer);
    assert!(apply(&o, Command::Restore, Actor::Customer).is_err());
    let d = apply(&o, Command::Restore, Actor::Operator).unwrap();
    assert_eq!(d.order.deleted_at, None);
    assert_eq!(d.order.state, OrderState::Cancelled);
    assert!(matches!(
        apply(&d.order, Command::Restore, Actor::Operator),
        Err(Rejection::NotDeleted)
    ));
}

#[test]
fn an_illegal_transition_names_the_state_and_the_command() {
    let err = apply(&draft(1), Command::PassValidation, Actor::System).unwrap_err();
    assert_eq!(err.to_string(), "cannot pass validation of an order that is draft");
}

#[test]
fn system_commands_are_refused_from_customers() {
    let o = pending(1);
    let total = o.total;
    let err = apply(&o, Command::ConfirmPayment(payment(total)), Actor::Customer).unwrap_err();
    assert!(matches!(
        err,
        Rejection::NotAllowed {
            required: Actor::System,
            ..
        }
    ));
}

#[test]
fn event_ids_are_stable_for_the_same_decision() {
    let o = pending(1);
    let a = apply(&o, Command::ConfirmPayment(payment(o.total)), Actor::System).unwrap();
    let b = apply(&o, Command::ConfirmPayment(payment(o.total)), Actor::System).unwrap();
    assert_eq!(a.events[0].id, b.events[0].id);
}

#[test]
fn every_transition_of_the_spec_table_is_decided_somewhere() {
    // Reach every (from, to) pair through the commands above.
    let mut seen = std::collections::BTreeSet::new();
    let mut record = |d: &Decision| {
        seen.insert((d.audit.from, d.audit.to));
    };
    let total = |o: &Order| o.total;
    record(
        &apply(
            &draft(1),
            Command::Submit {
                shown_total: total(&draft(1)),
            },
            Actor::Customer,
        )
        .unwrap(),
    );
    record(&apply(&draft(1), Command::Cancel { reason: String::new() }, Actor::Customer).unwrap());
    let p = pending(1);
    record(&apply(&p, Command::ConfirmPayment(payment(p.total)), Actor::System).unwrap());
    record(&apply(&p, Command::Cancel { reason: String::new() }, Actor::Customer).unwrap());
    record(&apply(&p, Command::ExpirePayment, Actor::System).unwrap());
    let c = confirmed(1);
    record(&apply(&c, Command::RevertPayment { reason: String::new() }, Actor::Operator).unwrap());
    record(&apply(&c, Command::StartValidation, Actor::System).unwrap());
    record(&apply(&c, Command::Cancel { reason: String::new() }, Actor::Customer).unwrap());
    let v = validating(2);
    record(&apply(&v, Command::Cancel { reason: String::new() }, Actor::Customer).unwrap());
    record(&apply(&v, Command::PassValidation, Actor::System).unwrap());
    record(&apply(&v, Command::FailValidation { problems: vec![] }, Actor::System).unwrap());
    let pr = provisioning(2);
    let partial = apply(&pr, Command::ActivateItem { item: item_id(0) }, Actor::System).unwrap();
    record(&partial);
    record(&apply(&pr, Command::Cancel { reason: String::new() }, Actor::Operator).unwrap());
    record(
        &apply(
            &partial.order,
            Command::ActivateItem { item: item_id(1) },
            Actor::System,
        )
        .unwrap(),
    );
    record(
        &apply(
            &partial.order,
            Command::Cancel { reason: String::new() },
            Actor::Operator,
        )
        .unwrap(),
    );
    let failing = step(
        partial.order.clone(),
        Command::FailItem {
            item: item_id(1),
            reason: String::new(),
        },
        Actor::System,
    );
    record(&apply(&failing, Command::RollBackItem { item: item_id(1) }, Actor::System).unwrap());
    let one = provisioning(1);
    let activated = apply(&one, Command::ActivateItem { item: item_id(0) }, Actor::System).unwrap();
    record(&activated);
    let one_failed = step(
        one,
        Command::FailItem {
            item: item_id(0),
            reason: String::new(),
        },
        Actor::System,
    );
    record(&apply(&one_failed, Command::RollBackItem { item: item_id(0) }, Actor::System).unwrap());
    for pair in ALLOWED_TRANSITIONS {
        assert!(seen.contains(pair), "no test reaches {pair:?}");
    }
}

/// Commands a random walk may issue, for an order with three items.
fn any_command() -> impl Strategy<Value = (Command, Actor)> {
    let item = (0u128..3).prop_map(item_id);
    let actor = prop_oneof![Just(Actor::Customer), Just(Actor::Operator), Just(Actor::System)];
    let cmd = prop_oneof![
        (0i64..4000).prop_map(|c| Command::Submit {
            shown_total: Money::eur(rust_decimal::Decimal::new(c, 2))
        }),
        Just(Command::Submit {
            shown_total: Money::eur(dec!(30.00))
        }),
        Just(Command::Cancel { reason: "r".into() }),
        Just(Command::ConfirmPayment(payment(Money::eur(dec!(30.00))))),
        Just(Command::ExpirePayment),
        Just(Command::RevertPayment { reason: "r".into() }),
        Just(Command::StartValidation),
        Just(Command::PassValidation),
        Just(Command::FailValidation { problems: vec![] }),
        item.clone().prop_map(|item| Command::ActivateItem { item }),
        item.clone().prop_map(|item| Command::FailItem {
            item,
            reason: "x".into()
        }),
        item.clone().prop_map(|item| Command::RollBackItem { item }),
        item.prop_map(|item| Command::DeliverItem { item }),
        Just(Command::Restore),
    ];
    (cmd, actor)
}

const TERMINAL: [OrderState; 3] = [OrderState::Fulfilled, OrderState::Cancelled, OrderState::Failed];

fn is_lifecycle(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::Submit { .. }
            | Command::Cancel { .. }
            | Command::ConfirmPayment(_)
            | Command::ExpirePayment
            | Command::RevertPayment { .. }
            | Command::StartValidation
            | Command::PassValidation
            | Command::FailValidation { .. }
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_command_sequence_leaves_the_spec_table(cmds in proptest::collection::vec(any_command(), 1..60)) {
        let mut order = draft(3);
        for (cmd, actor) in cmds {
            let before = order.clone();
            match apply(&order, cmd.clone(), actor) {
                Ok(d) => {
                    let (from, to) = (d.audit.from, d.audit.to);
                    prop_assert!(from == to || ALLOWED_TRANSITIONS.contains(&(from, to)), "{from} -> {to} by {cmd:?}");
                    prop_assert_eq!(d.order.version, before.version + 1);
                    prop_assert!(d.order.refunded.amount <= d.order.payment.as_ref().map_or(dec!(0), |p| p.amount.amount)
                        || d.order.state == OrderState::Cancelled || d.order.state == OrderState::PendingPayment,
                        "refunded more than paid");
                    prop_assert!(d.order.refunded.amount <= d.order.total.amount, "refunded more than the total");
                    for e in &d.events {
                        prop_assert_eq!(e.order_version, d.order.version);
                    }
                    order = d.order;
                }
                Err(_) => prop_assert_eq!(&order, &before),
            }
        }
    }

    #[test]
    fn terminal_states_accept_no_lifecycle_command(cmds in proptest::collection::vec(any_command(), 1..80), probe in any_command()) {
        let mut order = draft(3);
        for (cmd, actor) in cmds {
            if let Ok(d) = apply(&order, cmd, actor) {
                order = d.order;
            }
        }
        let (cmd, actor) = probe;
        if TERMINAL.contains(&order.state) && is_lifecycle(&cmd) {
            prop_assert!(apply(&order, cmd, actor).is_err());
        }
    }
}

#[test]
fn every_state_is_reachable_from_draft() {
    // Breadth-first over the command universe: the walk must find all nine states.
    let universe: Vec<(Command, Actor)> = {
        let mut u = vec![
            (
                Command::Submit {
                    shown_total: Money::eur(dec!(30.00)),
                },
                Actor::Customer,
            ),
            (Command::Cancel { reason: String::new() }, Actor::Customer),
            (Command::Cancel { reason: String::new() }, Actor::Operator),
            (Command::ConfirmPayment(payment(Money::eur(dec!(30.00)))), Actor::System),
            (Command::RevertPayment { reason: String::new() }, Actor::Operator),
            (Command::StartValidation, Actor::System),
            (Command::PassValidation, Actor::System),
            (Command::FailValidation { problems: vec![] }, Actor::System),
        ];
        for i in 0..3 {
            u.push((Command::ActivateItem { item: item_id(i) }, Actor::System));
            u.push((
                Command::FailItem {
                    item: item_id(i),
                    reason: String::new(),
                },
                Actor::System,
            ));
            u.push((Command::RollBackItem { item: item_id(i) }, Actor::System));
        }
        u
    };
    let mut reached = std::collections::BTreeSet::new();
    let mut frontier = vec![draft(3)];
    let mut seen_orders = 0;
    while let Some(o) = frontier.pop() {
        seen_orders += 1;
        if seen_orders > 20_000 {
            break;
        }
        if !reached.insert((o.state, o.items.iter().map(|i| i.state).collect::<Vec<_>>())) {
            continue;
        }
        for (cmd, actor) in &universe {
            if let Ok(d) = apply(&o, cmd.clone(), *actor) {
                frontier.push(d.order);
            }
        }
    }
    let states: std::collections::BTreeSet<OrderState> = reached.iter().map(|(s, _)| *s).collect();
    for s in OrderState::ALL {
        assert!(states.contains(s), "{s} is unreachable");
    }
}

/// The refunds a decision asks the saga to execute at the provider.
fn planned_refunds(d: &Decision) -> Vec<PlannedRefund> {
    d.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Refund(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn every_refund_requested_is_also_executed_at_the_provider_against_the_payment() {
    // A rolled-back item: its price, capped by the price, against the payment.
    let mut o = provisioning(2);
    o = step(
        o,
        Command::FailItem {
            item: item_id(1),
            reason: "down".into(),
        },
        Actor::System,
    );
    let d = apply(&o, Command::RollBackItem { item: item_id(1) }, Actor::System).unwrap();
    let r = planned_refunds(&d);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].id.as_str(), format!("{}:item:{}", o.id, item_id(1)));
    assert_eq!((r[0].scope, r[0].item), (RefundScope::Item, Some(item_id(1))));
    assert_eq!(r[0].amount, r[0].cap);
    assert_eq!(r[0].payment_reference, o.payment.as_ref().unwrap().reference);
    assert_eq!(refunds(&d), [r[0].amount]);
    // A cancelled paid order and a failed validation: what is left of the payment.
    for (order, cmd, actor) in [
        (confirmed(2), Command::Cancel { reason: "no".into() }, Actor::Customer),
        (
            validating(2),
            Command::FailValidation { problems: vec![] },
            Actor::System,
        ),
    ] {
        let d = apply(&order, cmd, actor).unwrap();
        let r = planned_refunds(&d);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].scope, r[0].amount), (RefundScope::Order, order.total));
        assert_eq!(r[0].id.as_str(), format!("{}:order", order.id));
    }
    // An operator's revert gives the whole payment back, under an id of its own.
    let c = confirmed(2);
    let d = apply(
        &c,
        Command::RevertPayment {
            reason: "duplicate".into(),
        },
        Actor::Operator,
    )
    .unwrap();
    let r = planned_refunds(&d);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].scope, r[0].amount), (RefundScope::Revert, c.total));
    assert_eq!(r[0].id.as_str(), format!("{}:revert:{}", c.id, d.order.version));
    assert!(event_types(&d).contains(&"billing.refund-requested"));
    // Nothing paid, nothing refunded.
    assert!(
        planned_refunds(&apply(&pending(1), Command::Cancel { reason: "x".into() }, Actor::Customer).unwrap())
            .is_empty()
    );
}

#[test]
fn a_payment_above_the_total_is_accepted_and_what_is_above_it_goes_back() {
    let o = pending(1);
    let excess = Money::eur(dec!(5.00));
    let paid = o.total.checked_add(excess).unwrap();
    let d = apply(&o, Command::ConfirmPayment(payment(paid)), Actor::System).unwrap();
    assert_eq!(d.order.state, OrderState::PaymentConfirmed);
    let r = planned_refunds(&d);
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].scope, r[0].amount, r[0].cap, r[0].paid),
        (RefundScope::Overpayment, excess, excess, paid)
    );
    assert_eq!(r[0].id.as_str(), format!("{}:overpaid:pi_123", o.id));
    assert_eq!(refunds(&d), [excess]);
    // What is left to refund is the order's total: a later cancellation
    // gives that back, and never more than was paid in all.
    assert_eq!(d.order.refundable().unwrap(), o.total);
    let cancelled = apply(&d.order, Command::Cancel { reason: "no".into() }, Actor::Customer).unwrap();
    let all: Vec<PlannedRefund> = r.into_iter().chain(planned_refunds(&cancelled)).collect();
    assert!(check_refund_bounds(all.iter()).is_ok());
    let back = all
        .iter()
        .try_fold(Money::eur(dec!(0)), |sum, r| sum.checked_add(r.amount))
        .unwrap();
    assert_eq!(back, paid);
}

#[test]
fn a_payment_the_order_no_longer_awaits_goes_back_whole_and_changes_nothing_else() {
    let cancelled = step(pending(1), Command::Cancel { reason: "x".into() }, Actor::Customer);
    let late = Payment {
        reference: "pi_late".into(),
        ..payment(cancelled.total)
    };
    let d = apply(
        &cancelled,
        Command::RefundUnacceptedPayment(late.clone()),
        Actor::System,
    )
    .unwrap();
    assert_eq!(d.order.state, OrderState::Cancelled);
    assert_eq!((d.order.refunded, d.order.payment.clone()), (cancelled.refunded, None));
    let r = planned_refunds(&d);
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].scope, r[0].amount, r[0].paid, r[0].payment_reference.as_str()),
        (RefundScope::LatePayment, late.amount, late.amount, "pi_late")
    );
    assert_eq!(r[0].id.as_str(), format!("{}:late:pi_late", cancelled.id));
    // Only the system decides it; never while the order awaits a payment,
    // and never for the payment the order holds.
    assert!(apply(
        &cancelled,
        Command::RefundUnacceptedPayment(late.clone()),
        Actor::Customer
    )
    .is_err());
    assert!(apply(&pending(1), Command::RefundUnacceptedPayment(late), Actor::System).is_err());
    let paid = confirmed(1);
    let own = paid.payment.clone().unwrap();
    assert!(apply(&paid, Command::RefundUnacceptedPayment(own), Actor::System).is_err());
}

#[test]
fn an_operator_retrying_a_parked_job_clears_the_flag_unless_another_stays_parked() {
    let parked = step(
        confirmed(1),
        Command::ParkForOperator {
            reason: "deprovision keeps failing".into(),
        },
        Actor::System,
    );
    assert!(parked.needs_operator);
    let retry = |others_parked| Command::RetryParkedJob {
        job: "o:deprovision:1".into(),
        others_parked,
        reason: "provider fixed".into(),
    };
    let d = apply(&parked, retry(false), Actor::Operator).unwrap();
    assert!(!d.order.needs_operator);
    assert_eq!((d.audit.from, d.audit.to), (parked.state, parked.state));
    assert_eq!(d.audit.reason, "retry job o:deprovision:1: provider fixed");
    assert!(d.effects.is_empty() && d.events.is_empty());
    assert!(
        apply(&parked, retry(true), Actor::Operator)
            .unwrap()
            .order
            .needs_operator
    );
    for actor in [Actor::Customer, Actor::System] {
        assert!(apply(&parked, retry(false), actor).is_err(), "{actor:?}");
    }
}

#[test]
fn an_expired_payment_cancels_the_order_and_voids_its_intent_and_only_while_unpaid() {
    let p = pending(2);
    let d = apply(&p, Command::ExpirePayment, Actor::System).unwrap();
    assert_eq!(d.order.state, OrderState::Cancelled);
    assert!(d.order.deleted_at.is_some());
    assert_eq!(d.effects, [Effect::CancelPaymentIntent]);
    assert_eq!(event_types(&d), ["order.cancelled"]);
    assert_eq!(d.events[0].data["reason"], "payment expired");
    // Only the system expires a payment, and only one still awaited.
    for (order, actor) in [
        (pending(1), Actor::Customer),
        (pending(1), Actor::Operator),
        (confirmed(1), Actor::System),
        (draft(1), Actor::System),
        (d.order.clone(), Actor::System),
    ] {
        assert!(
            apply(&order, Command::ExpirePayment, actor).is_err(),
            "{} by {actor:?}",
            order.state
        );
    }
}

#[test]
fn an_ended_item_leaves_the_order_fulfilled_and_nothing_to_deprovision_or_count() {
    let fulfilled = (0..2).fold(provisioning(2), |o, i| {
        step(o, Command::ActivateItem { item: item_id(i) }, Actor::System)
    });
    assert_eq!(fulfilled.state, OrderState::Fulfilled);
    let d = apply(&fulfilled, Command::EndItem { item: item_id(0) }, Actor::System).unwrap();
    assert_eq!(
        d.order.state,
        OrderState::Fulfilled,
        "the order was fulfilled; it stays so"
    );
    assert_eq!(d.order.item(item_id(0)).unwrap().state, ItemState::Ended);
    assert!(!d
        .order
        .compensations
        .contains(&Compensation::Deprovision { item: item_id(0) }));
    assert!(d
        .order
        .compensations
        .contains(&Compensation::Deprovision { item: item_id(1) }));
    assert!(
        d.effects.is_empty() && planned_refunds(&d).is_empty(),
        "nothing is refunded"
    );
    // Only the system ends an item, only a running one, and only once.
    assert!(apply(&fulfilled, Command::EndItem { item: item_id(0) }, Actor::Operator).is_err());
    assert!(matches!(
        apply(&d.order, Command::EndItem { item: item_id(0) }, Actor::System),
        Err(Rejection::ItemState {
            state: ItemState::Ended,
            ..
        })
    ));
    assert!(apply(&pending(1), Command::EndItem { item: item_id(0) }, Actor::System).is_err());
    // An operator's cancel of a partly provisioned order unwinds only the
    // item still provisioning, not the ended one.
    let partly = step(
        provisioning(2),
        Command::ActivateItem { item: item_id(0) },
        Actor::System,
    );
    let ended = step(partly, Command::EndItem { item: item_id(0) }, Actor::System);
    let cancelled = apply(&ended, Command::Cancel { reason: "x".into() }, Actor::Operator).unwrap();
    let deprovision: Vec<&Effect> = cancelled
        .effects
        .iter()
        .filter(|e| matches!(e, Effect::Deprovision { .. }))
        .collect();
    assert_eq!(
        deprovision,
        [&Effect::Deprovision {
            items: vec![item_id(1)]
        }]
    );
}

#[test]
fn a_second_report_of_a_settled_intent_is_recognised_whether_held_reverted_or_returned_whole() {
    use crate::saga::{settled_intent, SettledIntent};
    let recorded = |d: &Decision| -> Vec<Refund> {
        planned_refunds(d)
            .into_iter()
            .map(|p| Refund::requested(d.order.tenant.clone(), d.order.id, p, now()))
            .collect()
    };
    // Paid: the order holds the intent.
    let paid = confirmed(1);
    // Reverted by an operator: back to pending payment, the intent refunded.
    let reverted = apply(&paid, Command::RevertPayment { reason: "dup".into() }, Actor::Operator).unwrap();
    // Paid after the customer cancelled: returned whole.
    let cancelled = step(pending(1), Command::Cancel { reason: "x".into() }, Actor::Customer);
    let late = Payment {
        reference: "pi_late".into(),
        ..payment(cancelled.total)
    };
    let returned = apply(&cancelled, Command::RefundUnacceptedPayment(late), Actor::System).unwrap();
    /// (case, order, its recorded refunds, intent reported, expected)
    type Case<'a> = (&'a str, &'a Order, Vec<Refund>, &'a str, Option<SettledIntent>);
    let cases: [Case<'_>; 6] = [
        ("held", &paid, vec![], "pi_123", Some(SettledIntent::Held)),
        ("another intent of a paid order", &paid, vec![], "pi_other", None),
        (
            "reverted",
            &reverted.order,
            recorded(&reverted),
            "pi_123",
            Some(SettledIntent::Reverted),
        ),
        (
            "returned whole",
            &returned.order,
            recorded(&returned),
            "pi_late",
            Some(SettledIntent::ReturnedWhole),
        ),
        ("cancelled, nothing arrived yet", &cancelled, vec![], "pi_late", None),
        ("awaiting payment", &pending(1), vec![], "pi_123", None),
    ];
    for (case, order, refunds, intent, expected) in cases {
        assert_eq!(settled_intent(order, &refunds, intent), expected, "{case}");
    }
    assert_ne!(SettledIntent::Reverted.why(), SettledIntent::Held.why());
}

proptest! {
    #[test]
    fn the_refunds_decided_over_any_life_of_an_order_stay_within_the_payment(fails in proptest::collection::vec(0u128..3, 0..4), cancel in any::<bool>()) {
        let mut o = provisioning(3);
        let mut all = Vec::new();
        for i in fails {
            if let Ok(d) = apply(&o, Command::FailItem { item: item_id(i), reason: "x".into() }, Actor::System) {
                o = d.order;
            }
            if let Ok(d) = apply(&o, Command::RollBackItem { item: item_id(i) }, Actor::System) {
                all.extend(planned_refunds(&d));
                o = d.order;
            }
        }
        if cancel {
            if let Ok(d) = apply(&o, Command::Cancel { reason: "x".into() }, Actor::Operator) {
                all.extend(planned_refunds(&d));
                o = d.order;
            }
            for i in 0..3 {
                if let Ok(d) = apply(&o, Command::RollBackItem { item: item_id(i) }, Actor::System) {
                    all.extend(planned_refunds(&d));
                    o = d.order;
                }
            }
        }
        prop_assert_eq!(check_refund_bounds(all.iter()), Ok(()));
    }
}
