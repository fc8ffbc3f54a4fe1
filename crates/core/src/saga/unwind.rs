//! Unwinding an order, by the definition: every step begun for it is undone
//! as its `StepDef::undo` says, newest first.
//!
//! The order keeps the stack of its completed steps (`Order::compensations`,
//! pushed as each completes); items still being provisioned are newer than
//! anything on it. What undoing each takes is read from `SAGA`, never
//! written out here.

use super::definition::{step, JobKind, Undo};
use crate::ids::ItemId;
use crate::order::{Compensation, Order};
use crate::state::ItemState;

/// One step to undo: which step was begun, for which item, and its undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Undoing {
    /// The step begun (or completed).
    pub step: JobKind,
    /// Its item, for per-item steps.
    pub item: Option<ItemId>,
    /// How the definition undoes it.
    pub undo: Undo,
}

impl Compensation {
    /// The completed step this entry of the stack stands for: the payment
    /// handed to validation, or an item's provisioning.
    pub fn completed_step(&self) -> (JobKind, Option<ItemId>) {
        match self {
            Compensation::RefundPayment => (JobKind::Validate, None),
            Compensation::Deprovision { item } => (JobKind::Provision, Some(*item)),
        }
    }
}

/// The compensations to run, newest first: the stack walked in reverse.
pub fn unwind(stack: &[Compensation]) -> Vec<Compensation> {
    stack.iter().rev().cloned().collect()
}

/// What unwinding `order` undoes, newest first: items still provisioning
/// (begun, not completed: newest of all), then the completed steps from the
/// top of the stack, each with the undo its step defines.
pub fn unwinding(order: &Order) -> Vec<Undoing> {
    let in_flight = order
        .items
        .iter()
        .filter(|i| i.state == ItemState::Provisioning)
        .map(|i| (JobKind::Provision, Some(i.id)));
    let completed = unwind(&order.compensations).into_iter().map(|c| c.completed_step());
    in_flight
        .chain(completed)
        .map(|(kind, item)| Undoing {
            step: kind,
            item,
            undo: step(kind).undo,
        })
        .collect()
}
