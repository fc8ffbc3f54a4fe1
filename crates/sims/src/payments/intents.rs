//! Payment intents: created (idempotently), retrieved, cancelled and
//! confirmed through the API, and moved by the customer's actions
//! (succeed, fail, expire) through the states Stripe's intents go.

#[allow(clippy::wildcard_imports)]
use super::*;

impl State {
    pub(super) fn create_intent(&mut self, req: &Request) -> Response {
        match self.try_create_intent(req) {
            Ok(response) | Err(response) => response,
        }
    }

    pub(super) fn try_create_intent(&mut self, req: &Request) -> Result<Response, Response> {
        let mut p = Params::of(req)?;
        let value = p.to_value();
        let key = req.idempotency_key();
        self.check_key(key.as_deref(), "create_intent", &value)?;
        let amount = p.required_integer("amount")?;
        let currency = p.required_string("currency")?;
        let metadata = p.metadata("metadata")?;
        let description = p.string("description")?;
        let customer = p.string("customer")?;
        let payment_method = p.string("payment_method")?;
        let setup_future_usage = p.one_of("setup_future_usage", &["off_session", "on_session"])?;
        let _ = p.strings("payment_method_types")?;
        let _ = p.strings("expand")?;
        p.finish()?;
        if amount < 1 {
            return Err(invalid("amount", "Amount must be a positive integer in minor units."));
        }
        if let Some(customer) = customer
            .as_deref()
            .filter(|c| !self.customers.iter().any(|x| x["id"] == *c))
        {
            return Err(invalid("customer", &format!("No such customer: '{customer}'"))
                .with_error_field("code", "resource_missing"));
        }
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(invalid(
                "currency",
                "Currency must be a three-letter lower-case ISO code.",
            ));
        }
        let id = ids::new_id("pi");
        let intent = Intent {
            client_secret: format!("{id}_secret_{}", ids::token(24)),
            id,
            object: "payment_intent",
            status: Status::RequiresPaymentMethod,
            amount,
            amount_received: 0,
            amount_refunded: 0,
            currency,
            metadata,
            description,
            customer,
            payment_method,
            setup_future_usage,
            latest_charge: None,
            created: clock::unix_now(),
            canceled_at: None,
            cancellation_reason: None,
            last_payment_error: None,
            livemode: false,
        };
        let response = ok(json!(intent));
        self.intents.push(intent);
        self.idempotency
            .save(key.as_deref(), "create_intent", value, response.clone());
        Ok(response)
    }

    /// Cancels; returns the event to deliver. Cancelling one that is
    /// already cancelled or paid is Stripe's 400
    /// `payment_intent_unexpected_state`.
    pub(super) fn cancel_intent(&mut self, req: &Request, id: &str) -> (Response, Vec<Emitted>) {
        let parsed = Params::of(req).and_then(|mut p| {
            let value = p.to_value();
            let reason = p.one_of(
                "cancellation_reason",
                &["duplicate", "fraudulent", "requested_by_customer", "abandoned"],
            )?;
            p.finish().map(|()| (value, reason))
        });
        let (value, reason) = match parsed {
            Ok(parsed) => parsed,
            Err(e) => return (e, Vec::new()),
        };
        // The key covers the path: cancelling another intent with it is a mismatch.
        let value = json!({ "intent": id, "params": value });
        let key = req.idempotency_key();
        if let Err(answer) = self.check_key(key.as_deref(), "cancel_intent", &value) {
            return (answer, Vec::new());
        }
        let (response, emitted) = self.cancel_now(id, reason);
        self.idempotency
            .save(key.as_deref(), "cancel_intent", value, response.clone());
        (response, emitted)
    }

    pub(super) fn cancel_now(&mut self, id: &str, reason: Option<String>) -> (Response, Vec<Emitted>) {
        let now = clock::unix_now();
        let Some(intent) = self.intent_mut(id) else {
            return (missing("payment_intent", id), Vec::new());
        };
        match intent.status {
            Status::Canceled | Status::Succeeded => {
                let status = if intent.status == Status::Canceled {
                    "canceled"
                } else {
                    "succeeded"
                };
                (
                    Response::error(
                        400,
                        "invalid_request_error",
                        format!(
                            "You cannot cancel this PaymentIntent because it has a status of {status}. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing."
                        ),
                    )
                    .with_error_field("code", "payment_intent_unexpected_state")
                    .with_error_field("payment_intent", json!(intent)),
                    Vec::new(),
                )
            }
            Status::RequiresPaymentMethod => {
                intent.status = Status::Canceled;
                intent.canceled_at = Some(now);
                intent.cancellation_reason = Some(reason.unwrap_or_else(|| "requested_by_customer".into()));
                let snapshot = json!(intent);
                let response = ok(snapshot.clone());
                let emitted = self.emit("payment_intent.canceled", snapshot, now);
                (response, emitted)
            }
        }
    }

    /// Confirms an intent off-session with the customer's saved payment
    /// method (a subscription's renewal): charged at once, or declined while
    /// `/_sim/declines` says so; either way its event is delivered. An intent
    /// is charged at most once: confirming a succeeded one returns it as is.
    pub(super) fn confirm_intent(&mut self, req: &Request, id: &str) -> (Response, Vec<Emitted>) {
        let parsed = Params::of(req).and_then(|mut p| {
            let value = p.to_value();
            let _off_session = p.boolean("off_session")?;
            let payment_method = p.string("payment_method")?;
            let _ = p.strings("expand")?;
            p.finish()
                .map(|()| (json!({ "intent": id, "params": value }), payment_method))
        });
        let (value, payment_method) = match parsed {
            Ok(parsed) => parsed,
            Err(e) => return (e, Vec::new()),
        };
        let key = req.idempotency_key();
        if let Err(answer) = self.check_key(key.as_deref(), "confirm_intent", &value) {
            return (answer, Vec::new());
        }
        let now = clock::unix_now();
        let declined = self.declines > 0;
        let Some(intent) = self.intent_mut(id) else {
            return (missing("payment_intent", id), Vec::new());
        };
        if payment_method.is_some() {
            intent.payment_method = payment_method;
        }
        let (response, event) = match intent.status {
            Status::Succeeded => (ok(json!(intent)), None),
            Status::Canceled => (
                Response::error(
                    400,
                    "invalid_request_error",
                    "You cannot confirm this PaymentIntent because it has a status of canceled.",
                )
                .with_error_field("code", "payment_intent_unexpected_state"),
                None,
            ),
            Status::RequiresPaymentMethod if declined => {
                transition(intent, Action::Fail, now);
                let snapshot = json!(intent);
                let response = Response::error(402, "card_error", "Your card was declined.")
                    .with_error_field("code", "card_declined")
                    .with_error_field("decline_code", "generic_decline")
                    .with_error_field("payment_intent", snapshot.clone());
                (response, Some(("payment_intent.payment_failed", snapshot)))
            }
            Status::RequiresPaymentMethod => {
                transition(intent, Action::Succeed, now);
                let snapshot = json!(intent);
                (ok(snapshot.clone()), Some(("payment_intent.succeeded", snapshot)))
            }
        };
        if event
            .as_ref()
            .is_some_and(|(kind, _)| *kind == "payment_intent.payment_failed")
        {
            self.declines -= 1;
        }
        self.idempotency
            .save(key.as_deref(), "confirm_intent", value, response.clone());
        let emitted = event.map_or_else(Vec::new, |(kind, snapshot)| self.emit(kind, snapshot, now));
        (response, emitted)
    }
}

/// How a customer action relates to the intent's current state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Effect {
    /// The intent was awaiting payment and moved on.
    Applied,
    /// The intent is already where the action leads: its event is sent again.
    Repeated,
    /// The intent is past the point where the action could happen: the event
    /// is sent as a late, out-of-order one and the intent does not change.
    OutOfOrder,
}

/// Whether the customer is done after `action` (a declined card may try again).
pub(super) fn action_is_final(action: Action) -> bool {
    !matches!(action, Action::Fail)
}

impl Action {
    pub(super) fn event_type(self) -> &'static str {
        match self {
            Action::Succeed => "payment_intent.succeeded",
            Action::Fail => "payment_intent.payment_failed",
            Action::Expire => "payment_intent.canceled",
        }
    }
}

/// Applies the customer's action to `intent` when it is awaiting payment.
pub(super) fn apply(intent: &mut Intent, action: Action, now: i64) -> (&'static str, Effect) {
    let effect = match (intent.status, action) {
        (Status::RequiresPaymentMethod, _) => {
            transition(intent, action, now);
            Effect::Applied
        }
        (Status::Succeeded, Action::Succeed) | (Status::Canceled, Action::Expire) => Effect::Repeated,
        _ => Effect::OutOfOrder,
    };
    (action.event_type(), effect)
}

pub(super) fn transition(intent: &mut Intent, action: Action, now: i64) {
    match action {
        Action::Succeed => {
            intent.status = Status::Succeeded;
            intent.amount_received = intent.amount;
            intent.last_payment_error = None;
            intent.latest_charge = Some(ids::new_id("ch"));
            // The card the customer paid with (kept for off-session use
            // when the intent asked for it).
            if intent.payment_method.is_none() {
                intent.payment_method = Some(ids::new_id("pm"));
            }
        }
        Action::Fail => {
            intent.last_payment_error = Some(json!({
                "type": "card_error", "code": "card_declined", "message": "Your card was declined."
            }));
        }
        Action::Expire => {
            intent.status = Status::Canceled;
            intent.canceled_at = Some(now);
            intent.cancellation_reason = Some("abandoned".into());
        }
    }
}

/// The intent as it would have looked had `action` happened while it was
/// still awaiting payment (the object a late event carries).
pub(super) fn as_if_from_the_start(intent: &Intent, action: Action, now: i64) -> Intent {
    let mut past = Intent {
        status: Status::RequiresPaymentMethod,
        amount_received: 0,
        amount_refunded: 0,
        canceled_at: None,
        cancellation_reason: None,
        last_payment_error: None,
        ..intent.clone()
    };
    transition(&mut past, action, now);
    past
}
