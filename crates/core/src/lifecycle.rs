//! The order state machine (SPEC §2): one pure function from an order and a
//! command to a decision, or to a rejection that names both.
//!
//! A decision carries the new order, the events to write to the outbox and
//! the effects to run afterwards, all as data. The shell persists the order,
//! an audit record and the events in one transaction, then runs the effects.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::catalog::Catalog;
use crate::config::ItemSpec;
use crate::delivery::EmailAddress;
use crate::events::{Event, EventId, EventType};
use crate::ids::ItemId;
use crate::money::{Money, MoneyError};
use crate::order::{Compensation, Order, OrderItem, Payment};
use crate::pricing::{check_shown_total, order_total, PriceMismatch};
use crate::saga::refunds::{plan, PlannedRefund};
use crate::saga::unwind::unwinding;
use crate::saga::{JobKind, Undo};
use crate::state::{ItemState, OrderState};
use crate::violation::Violation;

/// Every order-state change SPEC §2 allows, as `(from, to)`. Item-level
/// changes that leave the order's state alone are not listed.
pub const ALLOWED_TRANSITIONS: &[(OrderState, OrderState)] = {
    use OrderState::*;
    &[
        (Draft, PendingPayment),
        (Draft, Cancelled),
        (PendingPayment, PaymentConfirmed),
        (PendingPayment, Cancelled),
        (PaymentConfirmed, PendingPayment),
        (PaymentConfirmed, Validating),
        (PaymentConfirmed, Cancelled),
        (Validating, Cancelled),
        (Validating, Provisioning),
        (Validating, Failed),
        (Provisioning, PartiallyFulfilled),
        (Provisioning, Fulfilled),
        (PartiallyFulfilled, Fulfilled),
        (PartiallyFulfilled, PartiallyFulfilled),
        (Provisioning, Failed),
        (Provisioning, Cancelled),
        (PartiallyFulfilled, Cancelled),
    ]
};

/// Who issues a command. Decided by the shell from the verified credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The tenant's own user.
    Customer,
    /// Platform staff.
    Operator,
    /// The platform itself: webhooks, the saga, the scheduler.
    System,
}

/// Everything that can happen to an order.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Replace a draft's items (customer).
    ReplaceItems {
        /// The new items, with ids the caller generated.
        items: Vec<(ItemId, ItemSpec)>,
    },
    /// Submit for payment, re-pricing against today's catalog (customer).
    Submit {
        /// The total the client showed the customer.
        shown_total: Money,
    },
    /// Cancel. Operator-only once provisioning has started.
    Cancel {
        /// Why, for the audit trail.
        reason: String,
    },
    /// The payment provider confirmed payment (system).
    ConfirmPayment(Payment),
    /// The payment window closed unpaid (system): the provider cancelled
    /// the intent, or the order outlived `payment_window_secs` unpaid.
    ExpirePayment,
    /// Undo a confirmed payment before provisioning starts (operator).
    RevertPayment {
        /// Why, for the audit trail.
        reason: String,
    },
    /// Begin validation after payment (system, automatic).
    StartValidation,
    /// Every item is valid and has capacity (system).
    PassValidation,
    /// Some item is invalid or lacks capacity (system).
    FailValidation {
        /// What was wrong.
        problems: Vec<Violation>,
    },
    /// An item is running at its provider (system).
    ActivateItem {
        /// The item.
        item: ItemId,
    },
    /// An item failed for good after its retries (system).
    FailItem {
        /// The item.
        item: ItemId,
        /// The last provider error, for the audit trail.
        reason: String,
    },
    /// An item's resources are gone at its provider; refund it (system).
    RollBackItem {
        /// The item.
        item: ItemId,
    },
    /// An item's subscription ended and its resource is deleted at the
    /// provider: it holds nothing any more (system).
    EndItem {
        /// The item.
        item: ItemId,
    },
    /// An item's credentials reached the customer (system).
    DeliverItem {
        /// The item.
        item: ItemId,
    },
    /// Bring a cancelled order back into view (operator).
    Restore,
    /// Send the order's access details, and every re-delivery, to another
    /// address (customer or operator, any state).
    ChangeDeliveryAddress {
        /// The new address.
        address: EmailAddress,
    },
    /// A payment arrived that the order can no longer accept (it is not
    /// awaiting one): all of it goes back (system).
    RefundUnacceptedPayment(Payment),
    /// An operator sends a parked saga job back to work (its attempts
    /// counted afresh); the order no longer waits for an operator unless
    /// another of its jobs is still parked (operator).
    RetryParkedJob {
        /// The job.
        job: String,
        /// Whether another of the order's jobs stays parked.
        others_parked: bool,
        /// Why, for the audit trail.
        reason: String,
    },
    /// A compensation keeps failing: a person must look (system).
    ParkForOperator {
        /// What keeps failing.
        reason: String,
    },
}

impl Command {
    /// A short verb phrase for messages and the audit trail.
    pub fn name(&self) -> &'static str {
        match self {
            Command::ReplaceItems { .. } => "edit",
            Command::Submit { .. } => "submit",
            Command::Cancel { .. } => "cancel",
            Command::ConfirmPayment(_) => "confirm payment of",
            Command::ExpirePayment => "expire payment of",
            Command::RevertPayment { .. } => "revert payment of",
            Command::StartValidation => "start validating",
            Command::PassValidation => "pass validation of",
            Command::FailValidation { .. } => "fail validation of",
            Command::ActivateItem { .. } => "activate an item of",
            Command::FailItem { .. } => "fail an item of",
            Command::RollBackItem { .. } => "roll back an item of",
            Command::DeliverItem { .. } => "deliver an item of",
            Command::EndItem { .. } => "end an item of",
            Command::Restore => "restore",
            Command::ChangeDeliveryAddress { .. } => "change the delivery address of",
            Command::RefundUnacceptedPayment(_) => "refund a payment it cannot accept of",
            Command::ParkForOperator { .. } => "park",
            Command::RetryParkedJob { .. } => "retry a parked job of",
        }
    }

    fn reason(&self) -> String {
        match self {
            Command::Cancel { reason } | Command::RevertPayment { reason } | Command::ParkForOperator { reason } => {
                reason.clone()
            }
            Command::FailItem { reason, .. } => reason.clone(),
            Command::RetryParkedJob { job, reason, .. } => format!("retry job {job}: {reason}"),
            Command::ChangeDeliveryAddress { address } => format!("delivery address set to {}", address.masked()),
            Command::FailValidation { problems } => problems
                .iter()
                .map(|p| format!("{}: {}", p.pointer, p.detail))
                .collect::<Vec<_>>()
                .join("; "),
            _ => String::new(),
        }
    }
}

/// Work to do after the decision is committed, as data. Each is idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Ask the payment provider for a payment intent of this amount.
    CreatePaymentIntent {
        /// What to charge.
        amount: Money,
    },
    /// Tell the payment provider the intent is void.
    CancelPaymentIntent,
    /// Run validation (automatic after payment).
    StartValidation,
    /// Provision one item.
    Provision {
        /// The item.
        item: ItemId,
    },
    /// Deliver one item's credentials.
    Deliver {
        /// The item.
        item: ItemId,
    },
    /// Deprovision these items, one after another, in this order (the
    /// compensation stack walked newest first).
    Deprovision {
        /// The items.
        items: Vec<ItemId>,
    },
    /// Give money back at the payment provider (the saga's `refund` job;
    /// the refund is recorded in the decision's transaction).
    Refund(PlannedRefund),
}

/// What the shell writes to the audit trail for a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Audit {
    /// Who.
    pub actor: Actor,
    /// What was asked.
    pub command: &'static str,
    /// State before.
    pub from: OrderState,
    /// State after (may equal `from` for item-level changes).
    pub to: OrderState,
    /// Why, if a reason was given.
    pub reason: String,
}

/// An accepted command: the new order and what to write and do.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The order after the change; its version is one more than before.
    pub order: Order,
    /// Events for the outbox, in order.
    pub events: Vec<Event>,
    /// Effects to run once committed.
    pub effects: Vec<Effect>,
    /// The audit record.
    pub audit: Audit,
}

/// Why a command was refused. Nothing changes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    /// The state machine has no such transition (HTTP 409).
    #[error("cannot {command} an order that is {state}")]
    IllegalTransition {
        /// The order's state.
        state: OrderState,
        /// The command.
        command: &'static str,
    },
    /// The transition exists but not for this actor (HTTP 403).
    #[error("only {required:?} may {command} an order that is {state}")]
    NotAllowed {
        /// The order's state.
        state: OrderState,
        /// The command.
        command: &'static str,
        /// Who may.
        required: Actor,
    },
    /// The client's total is more than €1 off (HTTP 422).
    #[error(transparent)]
    PriceMismatch(#[from] PriceMismatch),
    /// The provider confirmed a different amount than the order's (flagged for an operator).
    #[error("payment of {paid} does not match the order total {expected}")]
    PaymentMismatch {
        /// The order total.
        expected: Money,
        /// What the provider reported.
        paid: Money,
    },
    /// No item with that id on this order (HTTP 404).
    #[error("the order has no item {0}")]
    UnknownItem(ItemId),
    /// The item is not in a state the command applies to (HTTP 409).
    #[error("cannot {command} item {item} while it is {state}")]
    ItemState {
        /// The item.
        item: ItemId,
        /// Its state.
        state: ItemState,
        /// The command.
        command: &'static str,
    },
    /// Restore of an order that is not hidden (HTTP 409).
    #[error("the order is not deleted")]
    NotDeleted,
    /// Arithmetic failed (HTTP 500; cannot happen with catalog figures).
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// Decides `command` by `actor` on `order` at `now`.
pub fn decide(
    order: &Order,
    command: Command,
    actor: Actor,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Result<Decision, Rejection> {
    use OrderState::*;
    let from = order.state;
    let name = command.name();
    let reason = command.reason();
    let illegal = || Rejection::IllegalTransition {
        state: from,
        command: name,
    };
    let mut d = DecisionDraft::new(order, now);

    match (from, command) {
        (Draft, Command::ReplaceItems { items }) => {
            allow(from, name, actor, &[Actor::Customer, Actor::Operator])?;
            d.order.items = reprice(catalog, items.into_iter())?;
            d.order.total = order_total(d.order.items.iter().map(|i| &i.price))?;
            d.emit(
                EventType::OrderUpdated,
                json!({ "total": d.order.total, "items": d.order.items.len() }),
            );
        }
        (Draft, Command::Submit { shown_total }) => {
            allow(from, name, actor, &[Actor::Customer, Actor::Operator])?;
            // Submitting places the order: prices and snapshots are taken now, from today's catalog.
            d.order.items = reprice(catalog, order.items.iter().map(|i| (i.id, i.spec.clone())))?;
            let server = order_total(d.order.items.iter().map(|i| &i.price))?;
            d.order.total = check_shown_total(shown_total, server)?;
            d.order.state = PendingPayment;
            d.emit(EventType::OrderSubmitted, json!({ "total": d.order.total }));
            d.effects.push(Effect::CreatePaymentIntent { amount: d.order.total });
        }
        (Draft | PendingPayment, Command::Cancel { .. }) => {
            allow(from, name, actor, &[Actor::Customer, Actor::Operator])?;
            d.cancel(&reason);
            if from == PendingPayment {
                d.effects.push(Effect::CancelPaymentIntent);
            }
        }
        (PaymentConfirmed | Validating, Command::Cancel { .. }) => {
            allow(from, name, actor, &[Actor::Customer, Actor::Operator])?;
            d.cancel(&reason);
            d.refund_payment("cancelled before provisioning")?;
        }
        (Provisioning | PartiallyFulfilled, Command::Cancel { .. }) => {
            allow(from, name, actor, &[Actor::Operator])?;
            d.cancel(&reason);
            d.unwind()?;
        }
        (PendingPayment, Command::ExpirePayment) => {
            allow(from, name, actor, &[Actor::System])?;
            d.cancel("payment expired");
            // The intent goes void too (voiding one the provider cancelled
            // already is done at once; one paid meanwhile is refunded whole
            // when its payment arrives).
            d.effects.push(Effect::CancelPaymentIntent);
        }
        (PendingPayment, Command::ConfirmPayment(payment)) => {
            allow(from, name, actor, &[Actor::System])?;
            // Less than the total (or another currency) is a person's call;
            // more is accepted, and what is above the total goes back.
            let excess = payment
                .amount
                .checked_sub(order.total)
                .ok()
                .filter(|e| !e.amount.is_sign_negative())
                .ok_or(Rejection::PaymentMismatch {
                    expected: order.total,
                    paid: payment.amount,
                })?;
            d.emit(
                EventType::OrderPaymentConfirmed,
                json!({ "provider": payment.provider, "reference": payment.reference, "amount": payment.amount, "paid_at": payment.paid_at }),
            );
            d.order.payment = Some(payment);
            d.order.state = PaymentConfirmed;
            d.order.compensations.push(Compensation::RefundPayment);
            d.effects.push(Effect::StartValidation);
            if !excess.amount.is_zero() {
                let planned = plan::overpayment(&mut d.order, excess)?;
                d.request_refund(planned);
            }
        }
        (PaymentConfirmed, Command::RevertPayment { .. }) => {
            allow(from, name, actor, &[Actor::Operator])?;
            let planned = plan::reverted_payment(&d.order, &reason)?;
            d.request_refund(planned);
            let reverted = d.order.payment.take();
            d.order.compensations.retain(|c| *c != Compensation::RefundPayment);
            d.order.state = PendingPayment;
            d.emit(
                EventType::OrderPaymentReverted,
                json!({ "payment": reverted, "reason": reason }),
            );
        }
        (PaymentConfirmed, Command::StartValidation) => {
            allow(from, name, actor, &[Actor::System])?;
            d.order.state = Validating;
            d.emit(EventType::OrderValidationStarted, json!({}));
        }
        (Validating, Command::PassValidation) => {
            allow(from, name, actor, &[Actor::System])?;
            d.order.state = Provisioning;
            for item in &mut d.order.items {
                item.state = ItemState::Provisioning;
            }
            let ids: Vec<ItemId> = d.order.items.iter().map(|i| i.id).collect();
            d.emit(EventType::OrderProvisioningStarted, json!({ "items": ids }));
            d.effects.extend(ids.into_iter().map(|item| Effect::Provision { item }));
        }
        (Validating, Command::FailValidation { problems }) => {
            allow(from, name, actor, &[Actor::System])?;
            d.order.state = Failed;
            d.emit(
                EventType::OrderFailed,
                json!({ "stage": "validation", "problems": problems }),
            );
            d.refund_payment("validation failed")?;
        }
        (Provisioning | PartiallyFulfilled, Command::ActivateItem { item }) => {
            allow(from, name, actor, &[Actor::System])?;
            d.item_step(item, name, &[ItemState::Provisioning], ItemState::Active)?;
            d.order.compensations.push(Compensation::Deprovision { item });
            d.emit(EventType::OrderItemProvisioned, json!({ "item_id": item }));
            d.effects.push(Effect::Deliver { item });
            d.settle();
        }
        (Provisioning | PartiallyFulfilled, Command::FailItem { item, .. }) => {
            allow(from, name, actor, &[Actor::System])?;
            d.item_step(
                item,
                name,
                &[ItemState::Pending, ItemState::Provisioning],
                ItemState::Failed,
            )?;
            d.emit(EventType::OrderItemFailed, json!({ "item_id": item, "reason": reason }));
            d.effects.push(Effect::Deprovision { items: vec![item] });
        }
        (Provisioning | PartiallyFulfilled | Cancelled, Command::RollBackItem { item }) => {
            allow(from, name, actor, &[Actor::System])?;
            d.item_step(item, name, &[ItemState::Failed], ItemState::RolledBack)?;
            d.order
                .compensations
                .retain(|c| *c != Compensation::Deprovision { item });
            d.emit(EventType::OrderItemRolledBack, json!({ "item_id": item }));
            d.refund_item(item)?;
            d.settle();
        }
        (Provisioning | PartiallyFulfilled | Fulfilled, Command::DeliverItem { item }) => {
            allow(from, name, actor, &[Actor::System])?;
            d.item_step(item, name, &[ItemState::Active], ItemState::Delivered)?;
            d.emit(EventType::OrderServiceDelivered, json!({ "item_id": item }));
        }
        (Provisioning | PartiallyFulfilled | Fulfilled, Command::EndItem { item }) => {
            allow(from, name, actor, &[Actor::System])?;
            // The order keeps its state (it was fulfilled); the item no
            // longer runs, so nothing is left to deprovision on an unwind.
            d.item_step(item, name, &[ItemState::Active, ItemState::Delivered], ItemState::Ended)?;
            d.order
                .compensations
                .retain(|c| *c != Compensation::Deprovision { item });
        }
        (Cancelled, Command::Restore) => {
            allow(from, name, actor, &[Actor::Operator])?;
            if d.order.deleted_at.take().is_none() {
                return Err(Rejection::NotDeleted);
            }
            d.emit(EventType::OrderRestored, json!({}));
        }
        (_, Command::ChangeDeliveryAddress { address }) => {
            allow(from, name, actor, &[Actor::Customer, Actor::Operator])?;
            d.emit(
                EventType::OrderDeliveryAddressChanged,
                json!({ "from": order.delivery_email.as_ref().map(EmailAddress::masked), "to": address.masked() }),
            );
            d.order.delivery_email = Some(address);
        }
        (from, Command::RefundUnacceptedPayment(payment)) if from != PendingPayment => {
            allow(from, name, actor, &[Actor::System])?;
            if order.payment.as_ref().is_some_and(|p| p.reference == payment.reference) {
                // The payment the order holds is not an unaccepted one.
                return Err(illegal());
            }
            let planned = plan::unaccepted_payment(&d.order, &payment);
            d.request_refund(Some(planned));
        }
        (_, Command::RetryParkedJob { others_parked, .. }) => {
            allow(from, name, actor, &[Actor::Operator])?;
            d.order.needs_operator = others_parked;
        }
        (_, Command::ParkForOperator { .. }) => {
            allow(from, name, actor, &[Actor::System])?;
            d.order.needs_operator = true;
        }
        _ => return Err(illegal()),
    }
    let decision = d.finish(actor, name, reason);
    debug_assert!(
        decision.audit.from == decision.audit.to
            || ALLOWED_TRANSITIONS.contains(&(decision.audit.from, decision.audit.to)),
        "decided a transition SPEC §2 does not allow: {:?}",
        decision.audit
    );
    Ok(decision)
}

fn allow(state: OrderState, command: &'static str, actor: Actor, who: &[Actor]) -> Result<(), Rejection> {
    if who.contains(&actor) {
        Ok(())
    } else {
        Err(Rejection::NotAllowed {
            state,
            command,
            required: who[0],
        })
    }
}

fn reprice(catalog: &Catalog, items: impl Iterator<Item = (ItemId, ItemSpec)>) -> Result<Vec<OrderItem>, Rejection> {
    Ok(items
        .map(|(id, spec)| OrderItem::new(catalog, id, spec))
        .collect::<Result<Vec<_>, _>>()?)
}

/// A decision being assembled.
struct DecisionDraft<'a> {
    before: &'a Order,
    order: Order,
    events: Vec<(EventType, serde_json::Value)>,
    effects: Vec<Effect>,
    now: DateTime<Utc>,
}

impl<'a> DecisionDraft<'a> {
    fn new(before: &'a Order, now: DateTime<Utc>) -> Self {
        let mut order = before.clone();
        order.version += 1;
        order.updated_at = now;
        DecisionDraft {
            before,
            order,
            events: Vec::new(),
            effects: Vec::new(),
            now,
        }
    }

    fn emit(&mut self, t: EventType, data: serde_json::Value) {
        self.events.push((t, data));
    }

    fn cancel(&mut self, reason: &str) {
        self.order.state = OrderState::Cancelled;
        self.order.deleted_at = Some(self.now);
        self.emit(
            EventType::OrderCancelled,
            json!({ "from": self.before.state, "reason": reason }),
        );
    }

    fn item_step(
        &mut self,
        id: ItemId,
        command: &'static str,
        from: &[ItemState],
        to: ItemState,
    ) -> Result<(), Rejection> {
        let item = self.order.item_mut(id).ok_or(Rejection::UnknownItem(id))?;
        if !from.contains(&item.state) {
            return Err(Rejection::ItemState {
                item: id,
                state: item.state,
                command,
            });
        }
        item.state = to;
        Ok(())
    }

    /// Requests a refund of everything paid and not yet refunded.
    fn refund_payment(&mut self, why: &str) -> Result<(), Rejection> {
        self.order.compensations.retain(|c| *c != Compensation::RefundPayment);
        let planned = plan::whole_payment(&mut self.order, why)?;
        self.request_refund(planned);
        Ok(())
    }

    /// Announces a refund (`billing.refund-requested`) and makes it an
    /// effect, which the saga executes at the provider.
    fn request_refund(&mut self, planned: Option<PlannedRefund>) {
        if let Some(planned) = planned {
            self.emit(EventType::BillingRefundRequested, planned.requested_data());
            self.effects.push(Effect::Refund(planned));
        }
    }

    /// Operator cancellation mid-provisioning: every step begun is undone
    /// as the saga defines, newest first (`saga::unwind`): items in flight
    /// and provisioned ones are deprovisioned one after another (each is
    /// refunded as it rolls back, which gives the payment back item by
    /// item); items never started are refunded at once.
    fn unwind(&mut self) -> Result<(), Rejection> {
        // The payment's own undo (a refund) is left out: it goes back item
        // by item as each rolls back.
        let deprovision: Vec<ItemId> = unwinding(&self.order)
            .into_iter()
            .filter(|u| {
                u.undo
                    == Undo::Job {
                        kind: JobKind::Deprovision,
                    }
            })
            .filter_map(|u| u.item)
            .collect();
        for id in &deprovision {
            if let Some(item) = self.order.item_mut(*id) {
                item.state = ItemState::Failed;
            }
        }
        let never_started: Vec<ItemId> = self
            .order
            .items
            .iter()
            .filter(|i| i.state == ItemState::Pending)
            .map(|i| i.id)
            .collect();
        for id in never_started {
            if let Some(item) = self.order.item_mut(id) {
                item.state = ItemState::RolledBack;
            }
            self.refund_item(id)?;
        }
        if !deprovision.is_empty() {
            self.effects.push(Effect::Deprovision { items: deprovision });
        }
        Ok(())
    }

    /// Requests the refund of one rolled-back item's price.
    fn refund_item(&mut self, id: ItemId) -> Result<(), Rejection> {
        if self.order.item(id).is_none() {
            return Err(Rejection::UnknownItem(id));
        }
        let planned = plan::item(&mut self.order, id)?;
        self.request_refund(planned);
        Ok(())
    }

    /// Moves a provisioning order to the state its items put it in.
    fn settle(&mut self) {
        let from = self.order.state;
        if !from.is_provisioning() {
            return;
        }
        let to = self.order.settled_state();
        let all_settled = self.order.items.iter().all(|i| i.state.is_settled());
        let was_settled = self.before.items.iter().all(|i| i.state.is_settled());
        self.order.state = to;
        let summary = json!({
            "active": self.order.items.iter().filter(|i| i.state.is_live()).count(),
            "rolled_back": self.order.items.iter().filter(|i| i.state == ItemState::RolledBack).count(),
            "final": all_settled,
        });
        match to {
            OrderState::Fulfilled if from != to => self.emit(EventType::OrderFulfilled, summary),
            OrderState::Failed if from != to => self.emit(EventType::OrderFailed, json!({ "stage": "provisioning" })),
            OrderState::PartiallyFulfilled if from != to || (all_settled && !was_settled) => {
                self.emit(EventType::OrderPartiallyFulfilled, summary)
            }
            _ => {}
        }
    }

    fn finish(self, actor: Actor, command: &'static str, reason: String) -> Decision {
        let order = self.order;
        let events = self
            .events
            .into_iter()
            .enumerate()
            .map(|(i, (event_type, data))| Event {
                id: EventId::derive(order.id, order.version, i),
                event_type,
                order_id: order.id,
                tenant: order.tenant.clone(),
                order_version: order.version,
                occurred_at: self.now,
                data,
            })
            .collect();
        let audit = Audit {
            actor,
            command,
            from: self.before.state,
            to: order.state,
            reason,
        };
        Decision {
            order,
            events,
            effects: self.effects,
            audit,
        }
    }
}

/// The `order.created` event of a new draft.
pub fn created_event(order: &Order) -> Event {
    Event {
        id: EventId::derive(order.id, order.version, 0),
        event_type: EventType::OrderCreated,
        order_id: order.id,
        tenant: order.tenant.clone(),
        order_version: order.version,
        occurred_at: order.created_at,
        data: json!({ "total": order.total, "items": order.items.len() }),
    }
}
