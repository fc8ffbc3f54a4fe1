//! The providers of the in-process world, faked with the real providers'
//! idempotency rules (the same key yields the same intent, resource,
//! refund or e-mail) and with faults to inject: each call can answer ok,
//! retryably (503), permanently (400), "already exists" (an earlier
//! attempt's lost answer), or crash after acting (the worker's process dies
//! before it records anything).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use orderflow_core::OrderItem;
use serde_json::json;

use crate::saga::payments::{IntentRequest, RefundInfo, RefundRequest};
use crate::saga::{CallError, CloudCalls, MailCalls, OutRequest, OutResponse, Outbound, PaymentCalls, ResourceStatus};

/// A provider call the fakes answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    CreateIntent,
    CancelIntent,
    CreateResource,
    ResourceStatus,
    DeleteResource,
    SendEmail,
    CreateRefund,
}

/// How a fake answers one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Ok,
    /// 503: nothing happened.
    Retryable,
    /// 400: nothing happened.
    Permanent,
    /// The provider already did it (an earlier attempt's lost answer):
    /// it answers as its idempotency rules say.
    AlreadyExists,
    /// The provider acted, then the worker's process died before it
    /// recorded anything.
    Crash,
}

#[derive(Debug, Default)]
pub struct FakeState {
    /// Faults for the next calls of each operation (then `Ok`).
    pub faults: BTreeMap<Op, Vec<(Option<String>, Fault)>>,
    /// Polls that answer "creating" before "ready".
    pub creating_polls: u32,
    pub intents: BTreeMap<String, String>,
    /// Intents the customer paid.
    pub paid: BTreeSet<String>,
    pub cancelled: BTreeSet<String>,
    pub resources: BTreeMap<String, String>,
    pub deleted: BTreeSet<String>,
    pub emails: BTreeMap<String, String>,
    /// Refunds by idempotency key: (refund id, amount).
    pub refunds: BTreeMap<String, (String, orderflow_core::Money)>,
}

/// The payment, cloud and e-mail providers, faked with their idempotency
/// rules: the same key yields the same intent, resource or e-mail.
#[derive(Debug, Default)]
pub struct Fakes(pub RefCell<FakeState>);

impl Fakes {
    /// The fault for this call of `op` on `target`, consumed.
    pub fn fault(&self, op: Op, target: &str) -> Fault {
        let mut state = self.0.borrow_mut();
        let queue = state.faults.entry(op).or_default();
        match queue.iter().position(|(t, _)| t.as_deref().is_none_or(|t| t == target)) {
            Some(i) => queue.remove(i).1,
            None => Fault::Ok,
        }
    }

    /// Answers `op` on `target`: `act` makes the effect (idempotently).
    pub fn answer<T>(&self, op: Op, target: &str, mut act: impl FnMut(&mut FakeState) -> T) -> Result<T, CallError> {
        match self.fault(op, target) {
            Fault::Retryable => Err(CallError::Retryable(format!("{op:?} answered 503"))),
            Fault::Permanent => Err(CallError::Permanent(format!("{op:?} answered 400"))),
            Fault::Ok => Ok(act(&mut self.0.borrow_mut())),
            Fault::AlreadyExists => {
                // An earlier attempt acted; this one finds its effect.
                act(&mut self.0.borrow_mut());
                Ok(act(&mut self.0.borrow_mut()))
            }
            Fault::Crash => {
                act(&mut self.0.borrow_mut());
                std::panic::panic_any(Crashed);
            }
        }
    }
}

/// The panic a crash fault raises (the test catches it as the process dying).
#[derive(Debug)]
pub struct Crashed;

/// Keeps the expected crashes quiet (and skips capturing their
/// backtraces); every other panic reports as usual.
pub fn quiet_crashes() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<Crashed>() {
                default(info);
            }
        }));
    });
}

impl PaymentCalls for Fakes {
    fn create_intent(&self, _: &dyn Outbound, request: &IntentRequest) -> Result<(&'static str, String), CallError> {
        let key = request.idempotency_key.clone();
        self.answer(Op::CreateIntent, &key, |s| {
            let n = s.intents.len();
            let id = s
                .intents
                .entry(key.clone())
                .or_insert_with(|| format!("pi_{n}"))
                .clone();
            ("fake", id)
        })
    }

    fn cancel_intent(&self, _: &dyn Outbound, intent: &str) -> Result<(), CallError> {
        self.answer(Op::CancelIntent, intent, |s| {
            s.cancelled.insert(intent.to_owned());
        })
    }

    fn intent_paid(&self, _: &dyn Outbound, intent: &str) -> Result<bool, CallError> {
        Ok(self.0.borrow().paid.contains(intent))
    }

    fn create_refund(
        &self,
        _: &dyn Outbound,
        request: &RefundRequest,
    ) -> Result<(&'static str, RefundInfo), CallError> {
        let key = request.idempotency_key.clone();
        let amount = request
            .amount
            .ok_or_else(|| CallError::Permanent("a refund without amount".into()))?;
        self.answer(Op::CreateRefund, &key, |s| {
            let n = s.refunds.len();
            let (id, amount) = s
                .refunds
                .entry(key.clone())
                .or_insert_with(|| (format!("re_{n}"), amount))
                .clone();
            (
                "fake",
                RefundInfo {
                    id,
                    status: "succeeded".into(),
                    amount: Ok(amount),
                },
            )
        })
    }
}

impl CloudCalls for Fakes {
    fn create_resource(&self, _: &dyn Outbound, item: &OrderItem) -> Result<String, CallError> {
        let key = item.id.to_string();
        self.answer(Op::CreateResource, &key, |s| {
            let n = s.resources.len();
            s.resources
                .entry(key.clone())
                .or_insert_with(|| format!("res_{n}"))
                .clone()
        })
    }

    fn resource_status(&self, _: &dyn Outbound, resource_id: &str) -> Result<ResourceStatus, CallError> {
        self.answer(Op::ResourceStatus, resource_id, |s| {
            if s.creating_polls > 0 {
                s.creating_polls -= 1;
                return ResourceStatus::Creating;
            }
            ResourceStatus::Ready(json!({ "host": format!("{resource_id}.example"), "password": "s3cret" }))
        })
    }

    fn delete_resource(&self, _: &dyn Outbound, resource_id: &str) -> Result<(), CallError> {
        self.answer(Op::DeleteResource, resource_id, |s| {
            s.deleted.insert(resource_id.to_owned());
        })
    }
}

impl MailCalls for Fakes {
    fn send_email(&self, _: &dyn Outbound, to: &str, _: &str, text: &str, key: &str) -> Result<(), CallError> {
        assert!(
            text.contains("password: s3cret"),
            "the e-mail carries the opened credentials"
        );
        self.answer(Op::SendEmail, key, |s| {
            s.emails.entry(key.to_owned()).or_insert_with(|| to.to_owned());
        })
    }
}

/// The fakes make no HTTP calls; anything that tries fails loudly.
#[derive(Debug)]
pub struct NoNetwork;

impl Outbound for NoNetwork {
    fn send(&self, request: OutRequest) -> Result<OutResponse, String> {
        panic!("unexpected HTTP call {} {}", request.method, request.url)
    }
}
