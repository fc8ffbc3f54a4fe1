//! Every payment-provider event, interpreted here and nowhere else.
//!
//! The webhook verifies the provider's signature, de-duplicates by event id
//! and persists; what an event means for the order (or for a subscription's
//! renewal) is one pure function of the order and the reported change:
//! a command, a refund, parking for an operator, or nothing. The same event
//! replayed finds the order moved on and is ignored, so the money moves once.

use chrono::{DateTime, Utc};

use super::refunds::{plan, PlannedRefund};
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
    /// The payment it reports is the one the order holds already.
    AlreadyRecorded,
    /// The order has moved past what it reports.
    OrderIs(OrderState),
}

impl Ignored {
    /// Why, for the webhook's record.
    pub fn why(&self) -> String {
        match self {
            Ignored::NotAStateChange => "ignored: not a state change".into(),
            Ignored::AlreadyRecorded => "ignored: payment already recorded".into(),
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

/// The one interpretation of a payment report for `order`, as the system.
pub fn interpret_payment(
    order: &Order,
    report: &PaymentReport,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> PaymentVerdict {
    let system = |command: Command| decide(order, command, Actor::System, catalog, now);
    let command = match &report.reported {
        Reported::Paid(_) if order.payment.as_ref().is_some_and(|p| p.reference == report.intent) => {
            // Another event for the payment we already recorded.
            return PaymentVerdict::Ignore(Ignored::AlreadyRecorded);
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
            RenewalVerdict::Ignore => "ignored: not a renewal payment".into(),
        }
    }
}

/// The one interpretation of a payment report for the renewal `renewal`
/// (of `period`, asking `asked`) of `sub` (`None`: the subscription is gone).
pub fn interpret_renewal_payment(
    sub: Option<&Subscription>,
    renewal: &str,
    period: u32,
    asked: Money,
    report: &PaymentReport,
    now: DateTime<Utc>,
) -> RenewalVerdict {
    let Reported::Paid(amount) = &report.reported else {
        return RenewalVerdict::Ignore;
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
    fn verdict(order: &Order, report: &PaymentReport) -> String {
        let v = interpret_payment(order, report, &Catalog::standard(), now());
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
        let table: &[(&Order, PaymentReport, &str)] = &[
            (
                &pending,
                report("pi_1", Reported::Paid(Ok(eur(dec!(10.00))))),
                "command: confirm payment of (pending_payment -> payment_confirmed)",
            ),
            // More than the total is accepted (the excess goes back in the same decision).
            (
                &pending,
                report("pi_1", Reported::Paid(Ok(eur(dec!(12.00))))),
                "command: confirm payment of (pending_payment -> payment_confirmed)",
            ),
            (
                &pending,
                report("pi_1", Reported::Paid(Ok(eur(dec!(9.00))))),
                "park: flagged: payment of 9.00 EUR does not match the order total 10.00 EUR",
            ),
            (
                &pending,
                report("pi_1", Reported::Paid(Err("paid in USD".into()))),
                "command: park (pending_payment -> pending_payment)",
            ),
            (
                &pending,
                report("pi_1", Reported::Canceled),
                "command: expire payment of (pending_payment -> cancelled)",
            ),
            (
                &pending,
                report("pi_1", Reported::Declined),
                "ignored: not a state change",
            ),
            (&pending, report("pi_1", Reported::Other), "ignored: not a state change"),
            (
                &confirmed,
                report("pi_1", Reported::Paid(Ok(eur(dec!(10.00))))),
                "ignored: payment already recorded",
            ),
            (
                &confirmed,
                report("pi_1", Reported::Canceled),
                "ignored: order is payment_confirmed",
            ),
            // A second payment, or one after the order was cancelled, goes back whole.
            (
                &confirmed,
                report("pi_2", Reported::Paid(Ok(eur(dec!(10.00))))),
                "refund: refund a payment it cannot accept of (payment_confirmed -> payment_confirmed)",
            ),
            (
                &cancelled,
                report("pi_1", Reported::Paid(Ok(eur(dec!(10.00))))),
                "refund: refund a payment it cannot accept of (cancelled -> cancelled)",
            ),
            (
                &cancelled,
                report("pi_1", Reported::Canceled),
                "ignored: order is cancelled",
            ),
        ];
        let mut wrong = Vec::new();
        for (order, report, expected) in table {
            let got = verdict(order, report);
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
        let PaymentVerdict::Command(first) = interpret_payment(&pending, &paid, &Catalog::standard(), now()) else {
            panic!("the first report confirms the payment");
        };
        assert_eq!(
            interpret_payment(&first.order, &paid, &Catalog::standard(), now()),
            PaymentVerdict::Ignore(Ignored::AlreadyRecorded)
        );
    }
}
