//! Orders left unpaid past the payment window (`payment_window_secs`,
//! default 24 hours, as a Stripe Checkout Session expires) are cancelled
//! by the periodic tick: the order's `ExpirePayment` decision cancels it,
//! frees the quota its items held (a cancelled order counts against none)
//! and voids its payment intent (the `cancel_payment_intent` job). A
//! payment that still arrives goes back whole, as for any cancelled order.
//!
//! Found across tenants a bounded batch per tick, oldest first; each is
//! decided in its own transaction, and one that fails is logged and tried
//! again on the next tick.

use chrono::{DateTime, Duration, Utc};
use orderflow_core::{decide, Actor, Catalog, Command, OrderState};
use orderflow_store::{Db, Store, StoreError};

/// Orders expired per tick at most.
pub const EXPIRY_BATCH: u32 = 50;

/// The subject the audit trail names for an expiry.
const SUBJECT: &str = "saga:payment-window";

/// Cancels up to [`EXPIRY_BATCH`] orders submitted more than `window`
/// before `now` and still awaiting payment; returns how many it cancelled.
pub fn expire_unpaid_orders<D: Db>(
    store: &Store<D>,
    catalog: &Catalog,
    window: Duration,
    now: DateTime<Utc>,
) -> Result<u32, StoreError> {
    let mut expired = 0;
    for (tenant, id) in store.expired_payments(now - window, EXPIRY_BATCH)? {
        let result = store.write(|s| {
            let Some(order) = s.order(&tenant, id)? else {
                return Ok(false);
            };
            // Paid (or cancelled) since it was listed: nothing to expire.
            if order.state != OrderState::PendingPayment {
                return Ok(false);
            }
            match decide(&order, Command::ExpirePayment, Actor::System, catalog, now) {
                Ok(d) => s.apply(order.version, &d, SUBJECT).map(|()| true),
                Err(_) => Ok(false),
            }
        });
        match result {
            Ok(true) => expired += 1,
            Ok(false) => {}
            Err(e) => eprintln!("tick: expiring the unpaid order {id} of {tenant}: {e}; the next tick tries again"),
        }
    }
    Ok(expired)
}
