//! Every payment-provider event, interpreted here and nowhere else.
//!
//! The webhook verifies the provider's signature, de-duplicates by event id
//! and persists; what an event means for the order (or for a subscription's
//! renewal) is one pure function of the order and the reported change:
//! a command, a refund, parking for an operator, or nothing. The same event
//! replayed finds the order moved on and is ignored, so the money moves once.

use chrono::{DateTime, Utc};

use super::refunds::{plan, PlannedRefund, Refund, RefundScope};
use crate::catalog::Catalog;
use crate::lifecycle::{decide, Actor, Command, Decision, Rejection};
use crate::money::Money;
use crate::order::{Order, Payment};
use crate::state::OrderState;
use crate::subscription::{Subscription, SubscriptionChange, SubscriptionStatus};

/// What the provider reports of a payment intent, in the domain's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reported {
    /// Paid: this much (an error when it is in a currency we do not bill in).
    Paid(Result<Money, String>),
    /// An attempt was declined; the intent stays open.
    Declined,
    /// The intent was cancelled or expired: it can no longer be paid.
    Canceled,
    /// Something the order does not act on (a refund's confirmation, an
    /// event type we only record).
    Other,
}

/// One report about an order's (or a renewal's) payment intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentReport {
    /// The provider that sent it.
    pub provider: String,
    /// The payment intent it concerns.
    pub intent: String,
    /// What it says.
    pub reported: Reported,
    /// When the provider says the payment happened.
    pub at: DateTime<Utc>,
}

impl PaymentReport {
    /// The payment it reports, in the order's terms.
    fn payment(&self, amount: Money) -> Payment {
        Payment {
            provider: self.provider.clone(),
            reference: self.intent.clone(),
            amount,
            paid_at: self.at,
        }
    }
}

/// Why a report changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// It reports nothing the order acts on.
    NotAStateChange,
    /// The intent it reports paid has had its outcome already: the order
    /// holds it, an operator reverted it, or it went back whole.
    Settled(SettledIntent),
    /// The order has moved past what it reports.
    OrderIs(OrderState),
}

impl Ignored {
    /// Why, for the webhook's record.
    pub fn why(&self) -> String {
        match self {
            Ignored::NotAStateChange => "ignored: not a state change".into(),
            Ignored::Settled(settled) => settled.why().into(),
            Ignored::OrderIs(state) => format!("ignored: order is {state}"),
        }
    }
}

/// What a report does to its order.
#[derive(Debug, Clone, PartialEq)]
pub enum PaymentVerdict {
    /// Decide this on the order (a confirmed or expired payment, or one in
    /// a currency we do not bill in, parked).
    Command(Decision),
    /// The payment goes back whole: the order no longer awaits one.
    Refund(Decision),
    /// Money was taken that the order cannot accept: parked for a person
    /// (`decision` is `None` when even parking was refused).
    Flag {
        /// Why, for the record and the response.
        why: String,
        /// The parking decision.
        decision: Option<Decision>,
    },
    /// Nothing changes.
    Ignore(Ignored),
}

impl PaymentVerdict {
    /// The decision to persist, if any.
    pub fn decision(&self) -> Option<&Decision> {
        match self {
            PaymentVerdict::Command(d) | PaymentVerdict::Refund(d) => Some(d),
            PaymentVerdict::Flag { decision, .. } => decision.as_ref(),
            PaymentVerdict::Ignore(_) => None,
        }
    }
}

/// What an order already did with a payment intent. A provider may report
/// one payment's success by more than one event (Stripe sends
/// `payment_intent.succeeded` and `checkout.session.completed`) and
/// delivers each again until acknowledged: once an intent has an outcome,
/// a later report of its success changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettledIntent {
    /// The order holds this payment (confirmed, perhaps refunded since).
    Held,
    /// An operator reverted it: its money was given back, and it stays dead.
    Reverted,
    /// It arrived when the order no longer awaited a payment and went back whole.
    ReturnedWhole,
}

impl SettledIntent {
    /// Why a later success report for the intent is ignored.
    pub fn why(self) -> &'static str {
        match self {
            SettledIntent::Held => "ignored: payment already recorded",
            SettledIntent::Reverted => "ignored: payment reverted by an operator",
            SettledIntent::ReturnedWhole => "ignored: payment already refunded whole",
        }
    }
}

/// The outcome `intent` already has on `order`, whose recorded refunds are
/// `refunds`; `None` when its success would be news.
pub fn settled_intent(order: &Order, refunds: &[Refund], intent: &str) -> Option<SettledIntent> {
    if order.payment.as_ref().is_some_and(|p| p.reference == intent) {
        return Some(SettledIntent::Held);
    }
    let scope_of = |scope: RefundScope| {
        refunds
            .iter()
            .any(|r| r.planned.scope == scope && r.planned.payment_reference == intent)
    };
    if scope_of(RefundScope::Revert) {
        Some(SettledIntent::Reverted)
    } else if scope_of(RefundScope::LatePayment) {
        Some(SettledIntent::ReturnedWhole)
    } else {
        None
    }
}

/// The one interpretation of a payment report for `order` (whose recorded
/// refunds are `refunds`), as the system.
pub fn interpret_payment(
    order: &Order,
    refunds: &[Refund],
    report: &PaymentReport,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> PaymentVerdict {
    let system = |command: Command| decide(order, command, Actor::System, catalog, now);
    let command = match &report.reported {
        Reported::Paid(_) if settled_intent(order, refunds, &report.intent).is_some() => {
            // Another report of a payment that has its outcome already
            // (held, reverted, or returned whole): nothing new.
            let settled = settled_intent(order, refunds, &report.intent).unwrap_or(SettledIntent::Held);
            return PaymentVerdict::Ignore(Ignored::Settled(settled));
        }
        Reported::Paid(Ok(amount)) => Command::ConfirmPayment(report.payment(*amount)),
        // Paid in a currency the order is not in: flag it, like any mismatch.
        Reported::Paid(Err(why)) => Command::ParkForOperator {
            reason: format!("payment {}: {why}", report.intent),
        },
        Reported::Canceled => Command::ExpirePayment,
        // A declined attempt leaves the intent open; refunds are requested
        // by the saga, their confirmations only recorded.
        Reported::Declined | Reported::Other => return PaymentVerdict::Ignore(Ignored::NotAStateChange),
    };
    let paid = matches!(report.reported, Reported::Paid(_));
    match system(command) {
        Ok(d) => PaymentVerdict::Command(d),
        Err(Rejection::IllegalTransition { state, .. }) if !paid => PaymentVerdict::Ignore(Ignored::OrderIs(state)),
        Err(rejection) => {
            if let (Rejection::IllegalTransition { .. }, Reported::Paid(Ok(amount))) = (&rejection, &report.reported) {
                // Paid when the order no longer awaits a payment (cancelled,
                // or paid already by another): the money goes back whole.
                if let Ok(d) = system(Command::RefundUnacceptedPayment(report.payment(*amount))) {
                    return PaymentVerdict::Refund(d);
                }
            }
            // Money was taken that the order cannot accept (wrong amount,
            // or not refundable automatically): a person must reconcile it.
            let decision = system(Command::ParkForOperator {
                reason: format!("payment {}: {rejection}", report.intent),
            })
            .ok();
            PaymentVerdict::Flag {
                why: format!("flagged: {rejection}"),
                decision,
            }
        }
    }
}

/// What a report does to a subscription's renewal.
#[derive(Debug, Clone, PartialEq)]
pub enum RenewalVerdict {
    /// Paid: the subscription runs one period more.
    Renew(SubscriptionChange),
    /// Paid after the subscription ended: the money goes back.
    RefundLate(PlannedRefund),
    /// Paid, but not as the renewal asked: recorded for a person (why).
    Flag(String),
    /// A charge the provider had accepted failed or was cancelled later (a
    /// bank debit returned): a decline, as if the charge had been refused
    /// (the dunning schedule, then suspension and the end).
    Decline(String),
    /// Nothing changes.
    Ignore,
}

impl RenewalVerdict {
    /// Why, for the webhook's record.
    pub fn why(&self) -> String {
        match self {
            RenewalVerdict::Renew(_) => "applied: renewal paid".into(),
            RenewalVerdict::RefundLate(_) => "refunded: the subscription had ended".into(),
            RenewalVerdict::Flag(why) => why.clone(),
            RenewalVerdict::Decline(why) => format!("applied: renewal declined ({why})"),
            RenewalVerdict::Ignore => "ignored: not a renewal payment".into(),
        }
    }
}

/// The one interpretation of a payment report for the renewal `renewal`
/// (of `period`, asking `asked`; `awaited` when the provider accepted its
/// charge and its confirmation is awaited) of `sub` (`None`: the
/// subscription is gone).
pub fn interpret_renewal_payment(
    sub: Option<&Subscription>,
    renewal: &str,
    period: u32,
    asked: Money,
    awaited: bool,
    report: &PaymentReport,
    now: DateTime<Utc>,
) -> RenewalVerdict {
    let amount = match &report.reported {
        Reported::Paid(amount) => amount,
        // An accepted charge that fails later is a decline; one the renewal
        // run saw declined was recorded as such when it charged.
        Reported::Declined | Reported::Canceled
            if awaited && sub.is_some_and(|s| s.status != SubscriptionStatus::Cancelled) =>
        {
            let why = if report.reported == Reported::Canceled {
                "the payment was cancelled"
            } else {
                "the payment failed"
            };
            return RenewalVerdict::Decline(why.into());
        }
        _ => return RenewalVerdict::Ignore,
    };
    match (amount, sub) {
        (Ok(amount), Some(sub)) if sub.status == SubscriptionStatus::Cancelled => {
            RenewalVerdict::RefundLate(plan::late_renewal(sub, renewal, &report.intent, *amount))
        }
        (Ok(amount), Some(sub)) if *amount == asked => match sub.renewal_paid(period, *amount, now) {
            Ok(change) => RenewalVerdict::Renew(change),
            Err(why) => RenewalVerdict::Flag(format!("flagged: {why}")),
        },
        (Ok(amount), _) => RenewalVerdict::Flag(format!("flagged: paid {amount}, the renewal is {asked}")),
        (Err(why), _) => RenewalVerdict::Flag(format!("flagged: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{now, order};
    use super::*;
    use rust_decimal_macros::dec;

    fn report(intent: &str, reported: Reported) -> PaymentReport {
        PaymentReport {
            provider: "fake".into(),
            intent: intent.into(),
            reported,
            at: now(),
        }
    }

    fn eur(amount: rust_decimal::Decimal) -> Money {
        Money::eur(amount)
    }

    /// The verdict's kind and the command or refund it decides, in words.
    fn verdict(order: &Order, refunds: &[Refund], report: &PaymentReport) -> String {
        let v = interpret_payment(order, refunds, report, &Catalog::standard(), now());
        let audit = |d: &Decision| format!("{} ({} -> {})", d.audit.command, d.audit.from, d.audit.to);
        match &v {
            PaymentVerdict::Command(d) => format!("command: {}", audit(d)),
            PaymentVerdict::Refund(d) => format!("refund: {}", audit(d)),
            PaymentVerdict::Flag { why, decision } => {
                format!("park: {why}{}", if decision.is_some() { "" } else { " (not parked)" })
            }
            PaymentVerdict::Ignore(why) => why.why(),
        }
    }

    #[test]
    fn every_payment_event_for_an_order_is_a_command_a_refund_a_park_or_nothing() {
        let submit = Command::Submit {
            shown_total: eur(dec!(10.00)),
        };
        let pending = order(std::slice::from_ref(&submit));
        let paid = Command::ConfirmPayment(Payment {
            provider: "fake".into(),
            reference: "pi_1".into(),
            amount: eur(dec!(10.00)),
            paid_at: now(),
        });
        let confirmed = order(&[submit.clone(), paid]);
        let cancelled = order(&[submit, Command::Cancel { reason: "x".into() }]);
        // What an operator's revert and a late payment leave recorded.
        let recorded = |d: &Decision| -> Vec<Refund> {
            d.effects
                .iter()
                .filter_map(|e| match e {
                    crate::lifecycle::Effect::Refund(p) => {
                        Some(Refund::requested(d.order.tenant.clone(), d.order.id, p.clone(), now()))
                    }
                    _ => None,
                })
                .collect()
        };
        let reverted = decide(
            &confirmed,
            Command::RevertPayment { reason: "dup".into() },
            Actor::Operator,
            &Catalog::standard(),
            now(),
        )
        .unwrap();
        let returned = match interpret_payment(
            &cancelled,
            &[],
            &report("pi_1", Reported::Paid(Ok(eur(dec!(10.00))))),
            &Catalog::standard(),
            now(),
        ) {
            PaymentVerdict::Refund(d) => d,
            other => panic!("a late payment goes back: {other:?}"),
        };
        let (reverted_refunds, returned_refunds) = (recorded(&reverted), recorded(&returned));
        let none: &[Refund] = &[];
        let table: &[(&Order, &[Refund], PaymentReport, &str)] = &[
            (
                &pending,
                none,
                report("pi_1", Reported::Paid(Ok(eur(dec!(10.00))))),
                "command: confirm payment of (pending_payment -> payment_confirmed)",
            ),
            // More than the total is accepted (the excess goes back in the same decision).
            (
                &pending,
                none,
                report("pi_1", Reported::Paid(Ok(eur(dec!(12.00))))),
                "command: confirm payment of (pending_payment -> payment_confirmed)",
            ),
            (
                &pending,
                none,
                report("pi_1", Reported::Paid(Ok(eur(dec!(9.00))))),
                "park: flagged: payment of 9.00 EUR does not match the order total 10.00 EUR",
            ),
            (
                &pending,
                none,
                report("pi_1", Reported::Paid(Err("paid in USD".into()))),
                "command: park (pending_payment -> pending_payment)",
            ),
            (
                &pending,
                none,
                report("pi_1", Reported::Canceled),
                "command: expire payment of (pending_payment -> cancelled)",
            ),
            (
                &pending,
                none,
                report("pi_1", Reported::Declined),
                "ignored: not a state change",
            ),
            (
                &pending,
                none,
                report("pi_1", Reported::Other),
                "ignored: not a state change",
            ),
            (
                &confirmed,
                none,
                report("pi_1", Reported::Paid(Ok(eur(dec!(10.00))))),
                "ignored: payment already recorded",
            ),
            (
                &confirmed,
                none,
                report("pi_1", Reported::Canceled),
                "ignored: order is payment_confirmed",
            ),
            // A second payment, or one after the order was cancelled, goes back whole.
            (
                &confirmed,
                none,
                report("pi_2", Reported::Paid(Ok(eur(dec!(10.00))))),
                "refund: refund a payment it cannot accept of (payment_confirmed -> payment_confirmed)",
            ),
            (
                &cancelled,
                none,
                report("pi_1", Reported::Paid(Ok(eur(dec!(10.00))))),
                "refund: refund a payment it cannot accept of (cancelled -> cancelled)",
            ),
            (
                &cancelled,
                none,
                report("pi_1", Reported::Canceled),
                "ignored: order is cancelled",
            ),
            // A reverted intent stays dead; a payment returned whole is not
            // returned twice (a second event for it, a provider's retry).
            (
                &reverted.order,
                &reverted_refunds,
                report("pi_1", Reported::Paid(Ok(eur(dec!(10.00))))),
                "ignored: payment reverted by an operator",
            ),
            (
                &returned.order,
                &returned_refunds,
                report("pi_1", Reported::Paid(Ok(eur(dec!(10.00))))),
                "ignored: payment already refunded whole",
            ),
        ];
        let mut wrong = Vec::new();
        for (order, refunds, report, expected) in table {
            let got = verdict(order, refunds, report);
            if got != *expected {
                wrong.push(format!(
                    "{} {:?}:\n  expected {expected}\n  got      {got}",
                    order.state, report.reported
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn a_replayed_payment_event_changes_nothing_the_second_time() {
        let pending = order(&[Command::Submit {
            shown_total: eur(dec!(10.00)),
        }]);
        let paid = report("pi_1", Reported::Paid(Ok(eur(dec!(10.00)))));
        let PaymentVerdict::Command(first) = interpret_payment(&pending, &[], &paid, &Catalog::standard(), now())
        else {
            panic!("the first report confirms the payment");
        };
        assert_eq!(
            interpret_payment(&first.order, &[], &paid, &Catalog::standard(), now()),
            PaymentVerdict::Ignore(Ignored::Settled(SettledIntent::Held))
        );
    }

    #[test]
    fn a_renewal_charge_that_fails_after_it_was_accepted_is_a_decline_once() {
        let catalog = Catalog::standard();
        let active = {
            let o = order(&[
                Command::Submit {
                    shown_total: eur(dec!(10.00)),
                },
                Command::ConfirmPayment(Payment {
                    provider: "fake".into(),
                    reference: "pi_1".into(),
                    amount: eur(dec!(10.00)),
                    paid_at: now(),
                }),
                Command::StartValidation,
                Command::PassValidation,
            ]);
            let item = o.items[0].id;
            let active = decide(&o, Command::ActivateItem { item }, Actor::System, &catalog, now()).unwrap();
            Subscription::start(
                o.tenant.clone(),
                o.id,
                &active.order.items[0],
                now(),
                chrono::Duration::days(3),
            )
        };
        let mut ended = active.clone();
        ended.status = SubscriptionStatus::Cancelled;
        let price = active.price;
        let verdict = |sub: Option<&Subscription>, awaited: bool, reported: Reported| {
            interpret_renewal_payment(sub, "r2", 2, price, awaited, &report("pi_r2", reported), now()).why()
        };
        let rows = [
            (
                Some(&active),
                true,
                Reported::Declined,
                "applied: renewal declined (the payment failed)",
            ),
            (
                Some(&active),
                true,
                Reported::Canceled,
                "applied: renewal declined (the payment was cancelled)",
            ),
            // Declined when charged: the renewal run recorded it already.
            (
                Some(&active),
                false,
                Reported::Declined,
                "ignored: not a renewal payment",
            ),
            (Some(&ended), true, Reported::Declined, "ignored: not a renewal payment"),
            (None, true, Reported::Declined, "ignored: not a renewal payment"),
            (Some(&active), true, Reported::Other, "ignored: not a renewal payment"),
            (Some(&active), true, Reported::Paid(Ok(price)), "applied: renewal paid"),
        ];
        for (sub, awaited, reported, expected) in rows {
            let label = format!("{:?} awaited {awaited} {reported:?}", sub.map(|s| s.status));
            assert_eq!(verdict(sub, awaited, reported), expected, "{label}");
        }
    }
}
