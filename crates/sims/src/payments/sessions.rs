//! Checkout Sessions: a hosted page that creates and pays an intent; the
//! API creates and expires them, the page completes them.

#[allow(clippy::wildcard_imports)]
use super::*;

impl Payments {
    /// `/checkout/{id}`: the hosted checkout page (GET) and its form (POST).
    pub(super) async fn checkout(&self, req: &Request) -> Response {
        let segments = req.segments();
        let ["checkout", id] = segments.as_slice() else {
            return Response::no_route(req);
        };
        match req.method {
            Method::GET => {
                let state = self.lock();
                let Some(intent) = state.intent(id) else {
                    return missing("payment_intent", id);
                };
                let action = format!("/checkout/{}", intent.id);
                let shown = checkout::Shown {
                    id: &intent.id,
                    action: &action,
                    amount: intent.amount,
                    currency: &intent.currency,
                    status: match intent.status {
                        Status::RequiresPaymentMethod => "requires_payment_method",
                        Status::Succeeded => "succeeded",
                        Status::Canceled => "canceled",
                    },
                    declined: intent.last_payment_error.as_ref().and_then(|e| e["message"].as_str()),
                };
                Response::html(
                    200,
                    checkout::page(&shown, checkout::return_to_in(&req.query).as_deref()),
                )
            }
            Method::POST => {
                let form = match checkout::parse_form(&req.body) {
                    Ok(form) => form,
                    Err(message) => return Response::error(400, "invalid_request_error", message),
                };
                let action = match form.choice {
                    checkout::Choice::Pay => Action::Succeed,
                    checkout::Choice::Decline => Action::Fail,
                };
                // The provider's own delivery, retried while the app fails it.
                let automatic = CustomerAction {
                    retries: AUTOMATIC_RETRIES,
                    ..CustomerAction::default()
                };
                let outcome = self.act(id, action, &automatic).await;
                match (outcome.status_code(), form.return_to) {
                    (200, Some(url)) if action_is_final(action) => Response::see_other(&url),
                    (200, Some(url)) => Response::see_other(&format!(
                        "/checkout/{id}?return_to={}",
                        form_urlencoded::byte_serialize(url.as_bytes()).collect::<String>()
                    )),
                    (200, None) => Response::see_other(&format!("/checkout/{id}")),
                    _ => outcome,
                }
            }
            _ => Response::no_route(req),
        }
    }

    /// `/c/pay/{session}`: a Checkout Session's hosted page (GET) and its
    /// form (POST). Paying creates and pays the session's intent, delivers
    /// `payment_intent.succeeded` and `checkout.session.completed`, then
    /// sends the browser to the session's `success_url` (loopback only).
    pub(super) async fn session_page(&self, req: &Request) -> Response {
        let segments = req.segments();
        let ["c", "pay", id] = segments.as_slice() else {
            return Response::no_route(req);
        };
        let page = |session: &Session, declined: Option<&str>| {
            let action = format!("/c/pay/{}", session.id);
            let shown = checkout::Shown {
                id: &session.id,
                action: &action,
                amount: session.amount_total,
                currency: &session.currency,
                status: match session.status {
                    "open" => "requires_payment_method",
                    "complete" => "succeeded",
                    _ => "canceled",
                },
                declined,
            };
            let back = session.success_url.as_deref().and_then(checkout::allowed_return);
            Response::html(200, checkout::page(&shown, back.as_deref()))
        };
        match req.method {
            Method::GET => {
                let state = self.lock();
                match state.sessions.iter().find(|c| c.id == *id) {
                    Some(session) => page(session, None),
                    None => missing("checkout.session", id),
                }
            }
            Method::POST => {
                let form = match checkout::parse_form(&req.body) {
                    Ok(form) => form,
                    Err(message) => return Response::error(400, "invalid_request_error", message),
                };
                if form.choice == checkout::Choice::Decline {
                    let state = self.lock();
                    return match state.sessions.iter().find(|c| c.id == *id) {
                        Some(session) => page(session, Some("Your card was declined.")),
                        None => missing("checkout.session", id),
                    };
                }
                let session = match self.complete(id).await {
                    Ok(session) => session,
                    Err(e) => return e,
                };
                match session.success_url.as_deref().and_then(checkout::allowed_return) {
                    Some(url) => Response::see_other(&url),
                    None => page(&session, None),
                }
            }
            _ => Response::no_route(req),
        }
    }

    /// Completes a session as its customer paying, delivering its events.
    pub(super) async fn complete(&self, id: &str) -> Result<Session, Response> {
        let (session, bodies, target) = {
            let mut state = self.lock();
            let (session, bodies) = state.complete_session(id, clock::unix_now())?;
            (session, bodies, state.target())
        };
        if let Some((url, secret)) = target {
            for body in bodies {
                webhooks::deliver(&url, &secret, body, &automatic()).await;
            }
        }
        Ok(session)
    }
}

impl State {
    pub(super) fn create_session(&mut self, req: &Request, host: &str) -> Response {
        match self.try_create_session(req, host) {
            Ok(response) | Err(response) => response,
        }
    }

    /// `POST /v1/checkout/sessions` (mode `payment`, line items with
    /// `price_data`): a session whose `url` is the simulator's hosted page.
    pub(super) fn try_create_session(&mut self, req: &Request, host: &str) -> Result<Response, Response> {
        let mut p = Params::of(req)?;
        let value = p.to_value();
        let key = req.idempotency_key();
        self.check_key(key.as_deref(), "create_session", &value)?;
        let mode = p.one_of("mode", &["payment", "setup", "subscription"])?;
        if mode.as_deref() != Some("payment") {
            return Err(invalid("mode", "The simulator supports mode=payment only."));
        }
        let success_url = p.string("success_url")?;
        let cancel_url = p.string("cancel_url")?;
        let metadata = p.metadata("metadata")?;
        let client_reference_id = p.string("client_reference_id")?;
        let customer = p.string("customer")?;
        let _customer_email = p.string("customer_email")?;
        let _ = p.strings("payment_method_types")?;
        let _ = p.strings("expand")?;
        let (mut intent_metadata, mut setup_future_usage, mut description) = (Map::new(), None, None);
        if let Some(mut data) = p.object("payment_intent_data")? {
            intent_metadata = data.metadata("metadata")?;
            setup_future_usage = data.one_of("setup_future_usage", &["off_session", "on_session"])?;
            description = data.string("description")?;
            data.finish()?;
        }
        let items = p.list("line_items")?;
        p.finish()?;
        if items.is_empty() {
            return Err(invalid("line_items", "Missing required param: line_items.")
                .with_error_field("code", "parameter_missing"));
        }
        let (mut total, mut currency) = (0_i64, None::<String>);
        for (i, mut item) in items.into_iter().enumerate() {
            let quantity = item.integer("quantity")?.unwrap_or(1);
            let Some(mut price) = item.object("price_data")? else {
                return Err(invalid(
                    &format!("line_items[{i}][price_data]"),
                    "The simulator needs price_data on every line item.",
                ));
            };
            let item_currency = price.required_string("currency")?;
            let unit = price.required_integer("unit_amount")?;
            if let Some(mut product) = price.object("product_data")? {
                product.required_string("name")?;
                let _ = product.string("description")?;
                product.finish()?;
            } else {
                let _ = price.required_string("product")?;
            }
            price.finish()?;
            item.finish()?;
            if unit < 0 || quantity < 1 {
                return Err(invalid(
                    &format!("line_items[{i}]"),
                    "Amounts and quantities must be positive.",
                ));
            }
            if currency.as_ref().is_some_and(|c| *c != item_currency) {
                return Err(invalid(
                    &format!("line_items[{i}][price_data][currency]"),
                    "All line items must share one currency.",
                ));
            }
            currency = Some(item_currency);
            total = unit
                .checked_mul(quantity)
                .and_then(|x| x.checked_add(total))
                .ok_or_else(|| invalid("line_items", "The total is too large."))?;
        }
        let now = clock::unix_now();
        let id = format!("cs_test_{}", ids::token(24));
        let session = Session {
            url: Some(format!("http://{host}/c/pay/{id}")),
            id,
            object: "checkout.session",
            mode: "payment".into(),
            status: "open",
            payment_status: "unpaid",
            amount_total: total,
            currency: currency.unwrap_or_default(),
            success_url,
            cancel_url,
            metadata,
            client_reference_id,
            customer,
            payment_intent: None,
            intent_metadata,
            intent_setup_future_usage: setup_future_usage,
            description,
            created: now,
            expires_at: now + 24 * 3600,
            livemode: false,
        };
        let response = ok(json!(session));
        self.sessions.push(session);
        self.idempotency
            .save(key.as_deref(), "create_session", value, response.clone());
        Ok(response)
    }

    /// `POST /v1/checkout/sessions/{id}/expire`: only an open session expires.
    pub(super) fn expire_session(&mut self, req: &Request, id: &str) -> (Response, Vec<Emitted>) {
        if let Err(e) = Params::of(req).and_then(Params::finish) {
            return (e, Vec::new());
        }
        let now = clock::unix_now();
        let Some(session) = self.sessions.iter_mut().find(|c| c.id == id) else {
            return (missing("checkout.session", id), Vec::new());
        };
        if session.status != "open" {
            return (
                invalid(
                    "session",
                    &format!(
                        "Only Checkout Sessions with a status of open can be expired; this one is {}.",
                        session.status
                    ),
                ),
                Vec::new(),
            );
        }
        session.status = "expired";
        session.url = None;
        let snapshot = json!(session);
        let emitted = self.emit("checkout.session.expired", snapshot.clone(), now);
        (ok(snapshot), emitted)
    }

    /// The customer pays an open session on its page: its payment intent
    /// is created and paid, and both events are recorded for delivery.
    pub(super) fn complete_session(&mut self, id: &str, now: i64) -> Result<(Session, Vec<Bytes>), Response> {
        let Some(index) = self.sessions.iter().position(|c| c.id == id) else {
            return Err(missing("checkout.session", id));
        };
        let session = self.sessions[index].clone();
        if session.status != "open" {
            return Ok((session, Vec::new()));
        }
        let pi = ids::new_id("pi");
        let mut intent = Intent {
            client_secret: format!("{pi}_secret_{}", ids::token(24)),
            id: pi.clone(),
            object: "payment_intent",
            status: Status::RequiresPaymentMethod,
            amount: session.amount_total,
            amount_received: 0,
            amount_refunded: 0,
            currency: session.currency.clone(),
            metadata: session.intent_metadata.clone(),
            description: session.description.clone(),
            customer: session.customer.clone(),
            payment_method: None,
            setup_future_usage: session.intent_setup_future_usage.clone(),
            latest_charge: None,
            created: now,
            canceled_at: None,
            cancellation_reason: None,
            last_payment_error: None,
            livemode: false,
        };
        transition(&mut intent, Action::Succeed, now);
        let paid = json!(intent);
        self.intents.push(intent);
        let session = &mut self.sessions[index];
        session.status = "complete";
        session.payment_status = "paid";
        session.payment_intent = Some(pi);
        session.url = None;
        let done = session.clone();
        let bodies = vec![
            self.record_event("payment_intent.succeeded", paid, now),
            self.record_event("checkout.session.completed", json!(done), now),
        ];
        Ok((done, bodies))
    }
}
