//! The saga worker, I/O only: it claims due jobs, asks the core what each
//! must call (`orderflow_core::saga::call_for`), makes that provider call, hands
//! the outcome to the core's decision (`orderflow_core::saga::next`), and records
//! the actions it returns in one transaction with the job's new state. A
//! crash anywhere leaves the job claimed until its lease runs out, then it
//! runs again; every call it makes is idempotent, so running twice has one
//! effect.

use chrono::{DateTime, Duration, Utc};
use orderflow_core::saga::{
    after_void_refused, call_for, next, validation_problems, validation_stage, Action, Call, Failure, Outcome,
    StepContext, ValidationStage,
};
use orderflow_core::{decide, Actor, Catalog, Command, ItemState, JobPayload, Order, SagaJob, Subscription, TenantId};
use orderflow_store::{Db, Job, Store, StoreError};

use super::outbound::Outbound;
use super::providers::{CallError, Providers, SagaProviders};
use super::vault::{Vault, NONCE_LEN};

/// Who the saga is in the audit trail.
pub(crate) const SUBJECT: &str = "saga";

/// Everything the worker needs. `P` is the providers the steps call: the
/// configured ones ([`Providers`]) but in the decision tests.
pub struct SagaEnv<D: Db, P = Providers> {
    /// The database.
    pub store: Store<D>,
    /// Today's catalog (validation re-checks against it).
    pub catalog: Catalog,
    /// The providers.
    pub providers: P,
    /// The credential keys, in the components that seal or open credentials.
    pub vault: Option<Vault>,
    /// Outbound HTTP.
    pub out: Box<dyn Outbound>,
    /// The clock, read per job.
    pub clock: fn() -> DateTime<Utc>,
    /// Fresh random nonces.
    pub nonce: fn() -> [u8; NONCE_LEN],
    /// How long a claimed job is ours before another worker may take it.
    pub lease: Duration,
    /// How soon to ask again about a resource still being created.
    pub poll_interval: Duration,
    /// How long a resource may stay in creation before its item is rolled
    /// back (`provision_deadline_secs`).
    pub provision_deadline: Duration,
    /// Multiplies every retry delay: 1 in production; tests shrink the
    /// 2-4-8-16-30 s schedule to run it in seconds.
    pub retry_delay_scale: f64,
    /// How long before a period ends its renewal is charged (for the
    /// subscription an item starts when it becomes active).
    pub renewal_lead: Duration,
    /// How long a suspended subscription may stay unpaid before it ends
    /// (`subscription_grace_days`).
    pub subscription_grace: Duration,
}

impl<D: Db, P> SagaEnv<D, P> {
    /// `at`, with its distance from `now` scaled by `retry_delay_scale`
    /// (the saga's retries and the renewals' both).
    pub(crate) fn scaled(&self, now: DateTime<Utc>, at: DateTime<Utc>) -> DateTime<Utc> {
        scaled(now, at, self.retry_delay_scale)
    }
}

/// `at`, with its distance from `now` multiplied by `scale`.
pub fn scaled(now: DateTime<Utc>, at: DateTime<Utc>, scale: f64) -> DateTime<Utc> {
    let millis = (at - now).num_milliseconds();
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_precision_loss,
        clippy::float_arithmetic
    )]
    let scaled = (millis as f64 * scale).round() as i64;
    now + Duration::milliseconds(scaled)
}

/// Records a failed hand-over of the claimed `job` (its owner answered with
/// an error, or could not be reached) as a failed attempt of its step, as
/// the core decides it ([`orderflow_core::saga::after_failed_hand_over`]): a retry
/// on the step's schedule (delays multiplied by `retry_delay_scale`), then
/// the item rolled back, the order failed or the job parked. A claim that
/// moved on meanwhile gives `ClaimLost`.
pub fn record_failed_hand_over<D: Db>(
    store: &Store<D>,
    catalog: &Catalog,
    retry_delay_scale: f64,
    job: &Job,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    store.write(|s| {
        let Some(order) = s.order(&job.tenant, job.order)? else {
            return s.park_job(job, "order not found", now);
        };
        let payload = match JobPayload::parse(job.kind, &job.payload) {
            Ok(payload) => payload,
            Err(e) => return s.park_job(job, &e, now),
        };
        let saga_job = SagaJob {
            kind: job.kind,
            item: job.item,
            attempts: job.attempts,
            payload,
        };
        for action in orderflow_core::saga::after_failed_hand_over(&order, &saga_job, error, now) {
            match action {
                Action::RetryAt { at, error } => s.retry_job(job, scaled(now, at, retry_delay_scale), &error, now)?,
                Action::GiveUp { error } => s.give_up_job(job, &error, now)?,
                Action::Park { error } => s.park_job(job, &error, now)?,
                Action::Apply(command) => apply_command(s, catalog, job, command, now)?,
                other => return Err(StoreError::Corrupt(format!("{other:?} after a failed hand-over"))),
            }
        }
        Ok(())
    })
}

impl<D: Db, P: std::fmt::Debug> std::fmt::Debug for SagaEnv<D, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SagaEnv")
            .field("providers", &self.providers)
            .finish_non_exhaustive()
    }
}

/// How soon a job whose hand-over failed is due again: at once would let
/// one failing hand-over spin through a whole tick.
pub const RELEASE_DELAY: Duration = Duration::seconds(1);

/// The bound on each phase of a provider call (connect, first byte,
/// between bytes): half the job lease, at most 10 s, so a call that hangs
/// fails while the job is still its worker's.
pub fn provider_timeout(lease: Duration) -> std::time::Duration {
    let half = (lease / 2).min(Duration::seconds(10));
    half.to_std().unwrap_or(std::time::Duration::from_millis(500))
}

/// How many due jobs of one order a step component claims in one
/// transaction (an order's items become due together: validation starts
/// every provisioning).
const ORDER_BATCH: u32 = 4;

/// What one run of the worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TickReport {
    /// Jobs run.
    pub ran: u32,
    /// Of which ended in a failure recorded for retry, give-up or parking.
    pub failed: u32,
}

/// Runs due jobs (of one order, or all) in this process until none is due
/// or `limit` ran.
pub fn run_due_jobs<D: Db, P: SagaProviders>(
    env: &SagaEnv<D, P>,
    limit: u32,
    only_order: Option<orderflow_core::OrderId>,
) -> Result<TickReport, StoreError> {
    drive(&env.store, env.clock, env.lease, limit, only_order, |job| {
        run_job(env, job)
    })
}

/// Claims due jobs one at a time and hands each to `run` (which may run it
/// here, or in the component that owns its kind), until none is due or
/// `limit` ran. `run` returns whether the job's call succeeded.
pub fn drive<D: Db>(
    store: &Store<D>,
    clock: fn() -> DateTime<Utc>,
    lease: Duration,
    limit: u32,
    only_order: Option<orderflow_core::OrderId>,
    mut run: impl FnMut(&Job) -> Result<bool, StoreError>,
) -> Result<TickReport, StoreError> {
    let mut report = TickReport::default();
    while report.ran < limit {
        // One job at a time: the step component it goes to claims the
        // order's other due jobs of its own kinds itself (one invocation
        // for every item's step), and no lease runs out while earlier jobs
        // of a long batch run.
        let jobs = store.claim_due_jobs(clock(), lease, 1, only_order)?;
        if jobs.is_empty() {
            break;
        }
        for job in &jobs {
            report.ran += 1;
            if !run(job)? {
                report.failed += 1;
            }
        }
    }
    Ok(report)
}

/// Runs the job `id` under the claim `claim`, which a worker took and
/// handed over (the saga's step components run jobs this way). `Ok(None)`
/// when it is not under that claim: someone else finished it, or its lease
/// ran out and another worker claimed it again.
pub fn run_claimed_job<D: Db, P: SagaProviders>(
    env: &SagaEnv<D, P>,
    id: &str,
    claim: i64,
) -> Result<Option<bool>, StoreError> {
    match env.store.job(id)? {
        Some(job) if job.state == orderflow_store::JobState::Running && job.claim == claim => {
            crate::observe::note_job(&job.id, &job.tenant, job.order, job.kind);
            run_job(env, &job).map(Some)
        }
        _ => Ok(None),
    }
}

/// Runs the handed-over job `id` under `claim` (as [`run_claimed_job`]),
/// then carries its order on in this same invocation: claims and runs the
/// order's due jobs of the kinds the same component owns (their
/// [`orderflow_core::saga::Owner`] in the saga's definition:
/// the other items' jobs, a poll that is due at once) until none is due or
/// `limit` more ran, instead of returning to the scheduler between them.
pub fn run_handed_jobs<D: Db, P: SagaProviders>(
    env: &SagaEnv<D, P>,
    id: &str,
    claim: i64,
    limit: u32,
) -> Result<Option<(bool, TickReport)>, StoreError> {
    let Some(job) = env.store.job(id)? else {
        return Ok(None);
    };
    if job.state != orderflow_store::JobState::Running || job.claim != claim {
        return Ok(None);
    }
    crate::observe::note_job(&job.id, &job.tenant, job.order, job.kind);
    let succeeded = run_job(env, &job)?;
    let owner = orderflow_core::saga::step(job.kind).owner;
    let kinds: Vec<orderflow_core::JobKind> = orderflow_core::SAGA
        .iter()
        .filter(|s| s.owner == owner)
        .map(|s| s.kind)
        .collect();
    let mut more = TickReport::default();
    'claims: while more.ran < limit {
        // The order's items become due together: claim them in one commit.
        let jobs = env.store.claim_due_jobs_of(
            (env.clock)(),
            env.lease,
            ORDER_BATCH.min(limit - more.ran),
            Some(job.order),
            &kinds,
        )?;
        if jobs.is_empty() {
            break;
        }
        for (i, next) in jobs.iter().enumerate() {
            more.ran += 1;
            let started = std::time::Instant::now();
            match run_job(env, next) {
                Ok(succeeded) => {
                    crate::observe::note_more_job(
                        &next.id,
                        &next.tenant,
                        next.order,
                        next.kind,
                        Some(succeeded),
                        started.elapsed(),
                    );
                    if !succeeded {
                        more.failed += 1;
                    }
                }
                Err(e) => {
                    // The handed job's outcome is recorded; this one's could
                    // not be: give it and the claimed ones not yet run back
                    // at once (as a failed hand-over is) rather than leave
                    // them to wait out their lease, and stop here.
                    eprintln!("saga: job {} could not be recorded: {e}; it is released", next.id);
                    more.failed += 1;
                    release_all(env, &jobs[i..]);
                    break 'claims;
                }
            }
        }
    }
    Ok(Some((succeeded, more)))
}

/// Gives claimed jobs back at once, due a moment later; a claim that moved
/// on meanwhile is left alone, and a job that cannot be given back runs
/// again once its lease ends.
fn release_all<D: Db, P>(env: &SagaEnv<D, P>, jobs: &[Job]) {
    let now = (env.clock)();
    for job in jobs {
        match env.store.write(|s| s.release_job(job, now + RELEASE_DELAY, now)) {
            Ok(()) | Err(StoreError::ClaimLost(_)) => {}
            Err(e) => eprintln!(
                "saga: job {} could not be released: {e}; it runs again after its lease",
                job.id
            ),
        }
    }
}

/// Runs one claimed job; `Ok(false)` when its call failed (and that was
/// recorded), or when its claim was lost before the outcome was written
/// (another worker has the job now; this run's writes rolled back).
pub fn run_job<D: Db, P: SagaProviders>(env: &SagaEnv<D, P>, job: &Job) -> Result<bool, StoreError> {
    match run_job_under_claim(env, job) {
        Err(StoreError::ClaimLost(id)) => {
            eprintln!("saga: job {id} was claimed again before this run recorded its outcome; dropped");
            Ok(false)
        }
        other => other,
    }
}

fn run_job_under_claim<D: Db, P: SagaProviders>(env: &SagaEnv<D, P>, job: &Job) -> Result<bool, StoreError> {
    let Some(order) = env.store.order(&job.tenant, job.order)? else {
        env.store.write(|s| s.park_job(job, "order not found", (env.clock)()))?;
        return Ok(false);
    };
    let payload = match JobPayload::parse(job.kind, &job.payload) {
        Ok(payload) => payload,
        Err(e) => {
            env.store.write(|s| s.park_job(job, &e, (env.clock)()))?;
            return Ok(false);
        }
    };
    let saga_job = SagaJob {
        kind: job.kind,
        item: job.item,
        attempts: job.attempts,
        payload,
    };
    let mut call = call_for(&order, &saga_job);
    loop {
        if call == Call::Validate {
            return validate(env, job, &saga_job);
        }
        let outcome = perform(env, job, &order, &call)?;
        let actions = next(&order, &saga_job, outcome, ctx(env));
        if let Some(Action::Call(then)) = actions.first() {
            call = then.clone();
            continue;
        }
        let succeeded = !actions.iter().any(Action::is_failure);
        let now = (env.clock)();
        if !actions.is_empty() {
            env.store.write(|s| record(s, env, job, &actions, now))?;
        }
        return Ok(succeeded);
    }
}

fn ctx<D: Db, P>(env: &SagaEnv<D, P>) -> StepContext {
    StepContext {
        now: (env.clock)(),
        poll_interval: env.poll_interval,
        provision_deadline: env.provision_deadline,
        can_seal: env.vault.is_some(),
    }
}

/// Makes the provider call `call` and reports what came back.
fn perform<D: Db, P: SagaProviders>(
    env: &SagaEnv<D, P>,
    job: &Job,
    order: &Order,
    call: &Call,
) -> Result<Outcome, StoreError> {
    let out = env.out.as_ref();
    let p = &env.providers;
    let done = |r: Result<(), CallError>| r.map_or_else(|e| Outcome::Failed(e.into()), |()| Outcome::Done);
    Ok(match call {
        Call::Nothing => Outcome::Nothing,
        Call::Impossible(why) => Outcome::Failed(Failure::Permanent(why.clone())),
        // Validation runs in its own transaction (see `validate`).
        Call::Validate => Outcome::Failed(Failure::Permanent("validation is not a provider call".into())),
        Call::CreatePaymentIntent { amount } => {
            let request = super::payments::order_intent(&job.tenant, job.order, amount);
            match p.create_intent(out, &request) {
                Ok((provider, intent)) => Outcome::IntentCreated {
                    provider: provider.to_owned(),
                    intent,
                },
                Err(e) => Outcome::Failed(e.into()),
            }
        }
        Call::CancelPaymentIntent => match env.store.payment_intent_of(&job.tenant, job.order)? {
            Some(intent) => void_intent(p, out, &intent),
            None => Outcome::Done,
        },
        Call::CreateResource { item } => match order.item(*item) {
            Some(item) => match p.create_resource(out, item) {
                Ok(resource) => Outcome::Created { resource },
                Err(e) => Outcome::Failed(e.into()),
            },
            None => Outcome::Failed(Failure::Permanent("unknown item".into())),
        },
        Call::ResourceStatus { resource, fresh, .. } => Outcome::Polled {
            resource: resource.clone(),
            fresh: *fresh,
            status: p.resource_status(out, resource).map_err(Failure::from),
        },
        Call::DeleteResource { item } => match env.store.resource_of(&job.tenant, *item)? {
            Some(resource) => done(p.delete_resource(out, &resource)),
            None => Outcome::Done,
        },
        Call::VoidRenewalIntent { intent } => void_intent(p, out, intent),
        Call::Refund { refund_id } => match super::refunds::run_refund(env, job, refund_id)? {
            Ok(()) => Outcome::Recorded,
            Err(e) => Outcome::Failed(e.into()),
        },
        Call::SendAccess { item } => match access_email(env, job, order, *item)? {
            Ok((to, subject, text)) => done(p.send_email(out, &to, &subject, &text, &format!("deliver-{}", job.id))),
            Err(why) => Outcome::Failed(Failure::Permanent(why)),
        },
    })
}

/// Voids a payment intent; a refusal for good asks whether it was paid
/// meanwhile, and the core says what that comes to.
fn void_intent<P: SagaProviders>(p: &P, out: &dyn Outbound, intent: &str) -> Outcome {
    match p.cancel_intent(out, intent) {
        Ok(()) => Outcome::Done,
        Err(CallError::Permanent(why)) => after_void_refused(why, matches!(p.intent_paid(out, intent), Ok(true))),
        Err(e) => Outcome::Failed(e.into()),
    }
}

/// The delivery e-mail of `item_id`: recipient, subject and text with its
/// decrypted access details; `Err` when they cannot be opened here.
fn access_email<D: Db, P>(
    env: &SagaEnv<D, P>,
    job: &Job,
    order: &Order,
    item_id: orderflow_core::ItemId,
) -> Result<Result<(String, String, String), String>, StoreError> {
    let Some(item) = order.item(item_id) else {
        return Ok(Err("unknown item".into()));
    };
    let Some(sealed) = env.store.credentials_of(&job.tenant, item_id)? else {
        return Ok(Err("no stored credentials for the item".into()));
    };
    let Some(vault) = &env.vault else {
        return Ok(Err("no credentials key in this component".into()));
    };
    let access = match vault.open(
        &sealed.key_id,
        &sealed.ciphertext,
        item_id.to_string().as_bytes(),
        &sealed.nonce,
    ) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => return Ok(Err(e.to_string())),
    };
    // To the order's own address, encrypted to the tenant's key if it has one.
    match crate::delivery::delivery_mail(&env.store, order, item, &access) {
        Ok(mail) => Ok(Ok((mail.to, mail.subject, mail.text))),
        Err(crate::delivery::MailError::Store(e)) => Err(e),
        Err(e) => Ok(Err(e.to_string())),
    }
}

/// Re-checks a paid order against today's catalog, the tenant's quota and
/// the regions' free capacity (reserving it), then starts provisioning or
/// fails the order (which requests its refund), all in one transaction.
fn validate<D: Db, P>(env: &SagaEnv<D, P>, job: &Job, saga_job: &SagaJob) -> Result<bool, StoreError> {
    let now = (env.clock)();
    env.store.write(|s| {
        // One validation at a time checks and reserves capacity and quota,
        // so two cannot both take the last units.
        s.lock_reservations()?;
        let Some(mut order) = s.order_for_update(&job.tenant, job.order)? else {
            return s.finish_job(job, now);
        };
        if validation_stage(order.state) == ValidationStage::Start {
            apply_command(s, &env.catalog, job, Command::StartValidation, now)?;
            match s.order(&job.tenant, job.order)? {
                Some(started) => order = started,
                None => return s.finish_job(job, now),
            }
        }
        if validation_stage(order.state) != ValidationStage::Check {
            return s.finish_job(job, now);
        }
        let limit = s.tenant_quota(&job.tenant)?.unwrap_or(env.catalog.default_quota);
        let live = s.live_item_specs(&job.tenant)?;
        let free = s.free_capacity()?;
        let problems = validation_problems(&env.catalog, &order, &limit, &live, |r, p| {
            free.get(&(r, p)).copied().unwrap_or(0)
        });
        let actions = next(&order, saga_job, Outcome::Validated { problems }, ctx(env));
        record(s, env, job, &actions, now)
    })?;
    Ok(true)
}

/// Writes what the decision returned, inside the caller's transaction.
fn record<D: Db, P>(
    s: &Store<D>,
    env: &SagaEnv<D, P>,
    job: &Job,
    actions: &[Action],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (tenant, order) = (&job.tenant, job.order);
    for action in actions {
        match action {
            // Calls are made before the transaction; none reaches here.
            Action::Call(_) => {}
            Action::SaveIntent {
                provider,
                intent,
                amount,
            } => s.save_payment_intent(tenant, order, provider, intent, amount, now)?,
            Action::SaveResource { item, resource } => s.save_resource(tenant, order, *item, "cloud", resource, now)?,
            Action::SaveCredentials { item, access } => {
                let Some(vault) = &env.vault else {
                    return Err(StoreError::Corrupt("no credentials key in this component".into()));
                };
                let nonce = (env.nonce)();
                let (kid, sealed) = vault.seal(access.to_string().as_bytes(), item.to_string().as_bytes(), &nonce);
                s.save_credentials(tenant, order, *item, &kid, &nonce, &sealed, now)?;
            }
            Action::ReserveCapacity {
                item,
                region,
                product,
                units,
            } => s.reserve_capacity(*item, *region, *product, *units, now)?,
            Action::ReleaseCapacity { item } => s.release_capacity(*item)?,
            Action::Apply(command) => apply_command(s, &env.catalog, job, command.clone(), now)?,
            Action::StartSubscription { item } => start_subscription(s, env, job, *item, now)?,
            Action::EndSubscription { item } => end_subscription(s, tenant, *item, now)?,
            Action::Finish => s.finish_job(job, now)?,
            Action::Advance { payload, due } => s.advance_job(job, &payload.to_value(), *due, now)?,
            Action::RetryAt { at, error } => s.retry_job(job, env.scaled(now, *at), error, now)?,
            Action::GiveUp { error } => s.give_up_job(job, error, now)?,
            Action::Park { error } => s.park_job(job, error, now)?,
        }
    }
    Ok(())
}

/// Applies `command` to the job's order under the write lock. A refusal
/// (the order moved on meanwhile, say cancelled) is logged, not an error:
/// the job's own work is done either way.
fn apply_command<D: Db>(
    s: &Store<D>,
    catalog: &Catalog,
    job: &Job,
    command: Command,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let name = command.name();
    // Locked for the rest of the transaction: concurrent completions of the
    // order's items queue here instead of losing on the version guard.
    let Some(current) = s.order_for_update(&job.tenant, job.order)? else {
        return Err(StoreError::Corrupt(format!("order {} vanished", job.order)));
    };
    match decide(&current, command, Actor::System, catalog, now) {
        Ok(d) => s.apply(current.version, &d, SUBJECT),
        Err(refusal) => {
            eprintln!("saga: job {} could not {name} order {}: {refusal}", job.id, job.order);
            Ok(())
        }
    }
}

/// Starts the subscription of an item that has just become active, in the
/// transaction that activated it: period 1 from now, at its snapshot price.
/// An item that was not activated (the order moved on) starts none.
fn start_subscription<D: Db, P>(
    s: &Store<D>,
    env: &SagaEnv<D, P>,
    job: &Job,
    item_id: orderflow_core::ItemId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(order) = s.order(&job.tenant, job.order)? else {
        return Ok(());
    };
    if let Some(item) = order.item(item_id).filter(|i| i.state == ItemState::Active) {
        let subscription = Subscription::start(job.tenant.clone(), job.order, item, now, env.renewal_lead);
        s.start_subscription(&subscription)?;
    }
    Ok(())
}

/// Ends the subscription of a rolled-back item at once: nothing runs any
/// more to renew.
fn end_subscription<D: Db>(
    s: &Store<D>,
    tenant: &TenantId,
    item_id: orderflow_core::ItemId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if let Some(subscription) = s.subscription_of_item(tenant, item_id)? {
        if let Ok(change) = subscription.end("item rolled back", now) {
            s.apply_subscription(subscription.version, &change)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_call_is_bounded_below_the_lease() {
        assert_eq!(
            provider_timeout(Duration::seconds(2)),
            std::time::Duration::from_secs(1)
        );
        assert_eq!(
            provider_timeout(Duration::seconds(30)),
            std::time::Duration::from_secs(10)
        );
        for lease in [1, 2, 5, 30, 300] {
            let lease = Duration::seconds(lease);
            assert!(provider_timeout(lease) < lease.to_std().unwrap());
        }
    }
}
