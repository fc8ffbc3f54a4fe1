//! A subscription that ends ends at the providers too (issue 16): its
//! resource is deprovisioned at the cloud provider and its open renewal
//! payment intent voided, each a saga job (built by the core's
//! `saga::subscription_end_jobs`), written in the transaction that ends the
//! subscription; a renewal payment that still arrives for it is refunded
//! through the `refund` job (planned by the core's payment interpretation).

use chrono::{DateTime, Utc};
use orderflow_core::saga::{refund_job, subscription_end_jobs};
use orderflow_core::{PlannedRefund, Refund, RenewalState, Subscription};
use orderflow_store::{Db, Store, StoreError};

/// Writes the end-of-subscription jobs of `sub` (just ended) in the open
/// transaction: its renewals with an intent and no payment are voided.
pub fn schedule_end<D: Db>(s: &Store<D>, sub: &Subscription, now: DateTime<Utc>) -> Result<(), StoreError> {
    let open: Vec<String> = s
        .renewals_of(&sub.tenant, sub.id)?
        .into_iter()
        .filter(|r| r.state != RenewalState::Paid)
        .filter_map(|r| r.intent_id)
        .collect();
    s.insert_jobs(&sub.tenant, &subscription_end_jobs(sub, &open), now)
}

/// Records a refund the core planned outside an order decision (a renewal
/// paid after its subscription ended), with the job that executes it; the
/// refund id is derived from the payment, so it goes back once. Call inside
/// [`Store::write`]; returns whether it was new.
pub fn request_late_refund<D: Db>(
    s: &Store<D>,
    sub: &Subscription,
    planned: PlannedRefund,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let job = refund_job(sub.order, &planned);
    let refund = Refund::requested(sub.tenant.clone(), sub.order, planned, now);
    s.request_refund(&refund, &job)
}
