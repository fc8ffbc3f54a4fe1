//! Refunds: created against a paid intent (idempotently, never more than
//! was paid), settled at once or after a delay as `/_sim/refund_faults`
//! says, each move an event.

#[allow(clippy::wildcard_imports)]
use super::*;

/// `POST /_sim/refund_faults`: how the next refunds end. With neither set,
/// a refund succeeds at once (`refund.created` and `charge.refunded`), as a
/// card refund usually does. Otherwise it is created `pending` and settled
/// `delay_ms` later by `refund.updated`: `failed` (with `failure_reason`,
/// the money back on the charge) for the next `fail_next` refunds,
/// `succeeded` (and `charge.refunded`) for the others.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RefundFaults {
    /// The next N refunds fail at the provider.
    fail_next: u32,
    /// How long a refund stays pending before its outcome is sent.
    delay_ms: u64,
}

impl RefundFaults {
    pub(super) fn active(&self) -> bool {
        self.fail_next > 0 || self.delay_ms > 0
    }
}

impl State {
    /// Also returns, for a refund left pending by `/_sim/refund_faults`,
    /// what settles it later: (refund id, delay in ms, whether it fails).
    pub(super) fn create_refund(&mut self, req: &Request) -> (Response, Vec<Emitted>, Option<(String, u64, bool)>) {
        // A replayed key answers through `Err` (the saved response): only a
        // refund created now is settled later.
        match self.try_create_refund(req) {
            Ok((response, emitted)) if self.refund_faults.active() => {
                let id = self
                    .refunds
                    .last()
                    .map(|r| r["id"].as_str().unwrap_or_default().to_owned());
                let fail = self.refund_faults.fail_next > 0;
                if fail {
                    self.refund_faults.fail_next -= 1;
                }
                (response, emitted, id.map(|id| (id, self.refund_faults.delay_ms, fail)))
            }
            Ok((response, emitted)) => (response, emitted, None),
            Err(response) => (response, Vec::new(), None),
        }
    }

    /// Ends a pending refund: `failed` (the money back on the charge) or
    /// `succeeded`, with `refund.updated` (and `charge.refunded`).
    pub(super) fn settle_refund(&mut self, id: &str, fail: bool, now: i64) -> Vec<Emitted> {
        let Some(refund) = self.refunds.iter_mut().find(|r| r["id"] == id) else {
            return Vec::new();
        };
        refund["status"] = json!(if fail { "failed" } else { "succeeded" });
        if fail {
            refund["failure_reason"] = json!("expired_or_canceled_card");
        }
        let refund = refund.clone();
        let amount = refund["amount"].as_i64().unwrap_or(0);
        let intent_id = refund["payment_intent"].as_str().unwrap_or_default().to_owned();
        let mut emitted = self.emit("refund.updated", refund, now);
        if let Some(intent) = self.intents.iter_mut().find(|i| i.id == intent_id) {
            if fail {
                intent.amount_refunded -= amount;
            } else {
                let charge = charge_of(intent);
                emitted.extend(self.emit("charge.refunded", charge, now));
            }
        }
        emitted
    }

    /// `POST /v1/refunds` for a paid intent (or its charge): at most what is
    /// left unrefunded; `refund.created` and `charge.refunded` follow.
    pub(super) fn try_create_refund(&mut self, req: &Request) -> Result<(Response, Vec<Emitted>), Response> {
        let mut p = Params::of(req)?;
        let value = p.to_value();
        let key = req.idempotency_key();
        self.check_key(key.as_deref(), "create_refund", &value)?;
        let payment_intent = p.string("payment_intent")?;
        let charge = p.string("charge")?;
        let amount = p.integer("amount")?;
        let metadata = p.metadata("metadata")?;
        let reason = p.one_of("reason", &["duplicate", "fraudulent", "requested_by_customer"])?;
        let _ = p.strings("expand")?;
        p.finish()?;
        let intent = match (&payment_intent, &charge) {
            (Some(pi), _) => self.intents.iter_mut().find(|i| i.id == *pi),
            (None, Some(ch)) => self
                .intents
                .iter_mut()
                .find(|i| i.latest_charge.as_deref() == Some(ch.as_str())),
            (None, None) => {
                return Err(invalid(
                    "payment_intent",
                    "One of the following params should be provided for this request: payment_intent or charge.",
                ))
            }
        };
        let Some(intent) = intent else {
            let (param, id) = payment_intent
                .map(|pi| ("payment_intent", pi))
                .or(charge.map(|ch| ("charge", ch)))
                .unwrap_or_default();
            return Err(
                invalid(param, &format!("No such {param}: '{id}'")).with_error_field("code", "resource_missing")
            );
        };
        if intent.status != Status::Succeeded {
            return Err(invalid(
                "payment_intent",
                "This PaymentIntent does not have a successful charge to refund.",
            ));
        }
        let refundable = intent.amount_received - intent.amount_refunded;
        let amount = amount.unwrap_or(refundable);
        if amount < 1 {
            return Err(if refundable == 0 {
                invalid("amount", "Charge has already been refunded.")
                    .with_error_field("code", "charge_already_refunded")
            } else {
                invalid("amount", "Amount must be a positive integer in minor units.")
            });
        }
        if amount > refundable {
            return Err(invalid(
                "amount",
                &format!(
                    "Refund amount ({amount}) is greater than the unrefunded amount on the charge ({refundable})."
                ),
            )
            .with_error_field("code", "amount_too_large"));
        }
        intent.amount_refunded += amount;
        let now = clock::unix_now();
        let pending = self.refund_faults.active();
        let refund = json!({
            "id": ids::new_id("re"),
            "object": "refund",
            "status": if pending { "pending" } else { "succeeded" },
            "amount": amount,
            "currency": intent.currency,
            "payment_intent": intent.id,
            "charge": intent.latest_charge,
            "metadata": metadata,
            "reason": reason,
            "created": now,
        });
        let charge = charge_of(intent);
        let response = ok(refund.clone());
        self.refunds.push(refund.clone());
        self.idempotency
            .save(key.as_deref(), "create_refund", value, response.clone());
        let mut emitted = self.emit("refund.created", refund, now);
        if !pending {
            emitted.extend(self.emit("charge.refunded", charge, now));
        }
        Ok((response, emitted))
    }
}

/// The charge of a paid intent, as `charge.refunded` shows it.
pub(super) fn charge_of(intent: &Intent) -> Value {
    json!({
        "id": intent.latest_charge,
        "object": "charge",
        "amount": intent.amount_received,
        "amount_captured": intent.amount_received,
        "amount_refunded": intent.amount_refunded,
        "currency": intent.currency,
        "payment_intent": intent.id,
        "paid": true,
        "refunded": intent.amount_refunded == intent.amount_received,
        "status": "succeeded",
        "created": intent.created,
    })
}
