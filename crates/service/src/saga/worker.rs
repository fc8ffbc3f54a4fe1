//! The saga worker: claims due jobs, makes each one's provider call, and
//! records the outcome — as a decision on the order where the order changes
//! — in one transaction with the job's new state. A crash anywhere leaves
//! the job claimed until its lease runs out, then it runs again; every call
//! it makes is idempotent, so running twice has one effect.

use chrono::{DateTime, Duration, Utc};
use orderflow_core::{
    after_compensation_failure, after_failure, capacity_units, check_capacity, check_quota, decide, demand, parse_item,
    Actor, AfterCompensationFailure, AfterFailure, Catalog, Command, ItemState, JobKind, Money, Order, OrderState,
    Quota, Rejection, Subscription, TenantId,
};
use orderflow_store::{Db, Job, Store, StoreError};
use serde_json::{json, Value};

use super::outbound::Outbound;
use super::providers::{CallError, Providers, ResourceStatus};
use super::vault::{Vault, NONCE_LEN};

/// Who the saga is in the audit trail.
pub(crate) const SUBJECT: &str = "saga";

/// Everything the worker needs.
pub struct SagaEnv<D: Db> {
    /// The database.
    pub store: Store<D>,
    /// Today's catalog (validation re-checks against it).
    pub catalog: Catalog,
    /// The providers.
    pub providers: Providers,
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
    /// Where delivery e-mails go when the tenant has no contact address.
    pub default_recipient: String,
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

impl<D: Db> SagaEnv<D> {
    /// `at`, with its distance from `now` scaled by `retry_delay_scale`
    /// (the saga's retries and the renewals' both).
    pub(crate) fn scaled(&self, now: DateTime<Utc>, at: DateTime<Utc>) -> DateTime<Utc> {
        let millis = (at - now).num_milliseconds();
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_precision_loss,
            clippy::float_arithmetic
        )]
        let scaled = (millis as f64 * self.retry_delay_scale).round() as i64;
        now + Duration::milliseconds(scaled)
    }
}

impl<D: Db> std::fmt::Debug for SagaEnv<D> {
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

/// How many due jobs of one order a kick claims in one transaction (an
/// order's items become due together: validation starts every provisioning).
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
pub fn run_due_jobs<D: Db>(
    env: &SagaEnv<D>,
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
        // One order's due jobs (a kick) are few and short: claim them in one
        // commit. A general tick claims one at a time, so no lease runs out
        // while earlier jobs of a long batch run.
        let batch = if only_order.is_some() {
            ORDER_BATCH.min(limit - report.ran)
        } else {
            1
        };
        let jobs = store.claim_due_jobs(clock(), lease, batch, only_order)?;
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

/// The component that runs jobs of `kind`, and its job route's segment
/// (`/v1/internal/jobs/<segment>/{id}`): each talks only to its own provider.
pub fn job_owner(kind: JobKind) -> (&'static str, &'static str) {
    match kind {
        JobKind::CreatePaymentIntent
        | JobKind::CancelPaymentIntent
        | JobKind::Refund
        | JobKind::VoidRenewalIntent => ("pay", "payment"),
        JobKind::Validate => ("validate", "validate"),
        JobKind::Provision | JobKind::Deprovision | JobKind::DeprovisionSubscription => {
            ("provision-step", "provision")
        }
        JobKind::Deliver => ("deliver", "deliver"),
    }
}

/// Runs the job `id` under the claim `claim`, which a worker took and
/// handed over (the saga's step components run jobs this way). `Ok(None)`
/// when it is not under that claim: someone else finished it, or its lease
/// ran out and another worker claimed it again.
pub fn run_claimed_job<D: Db>(env: &SagaEnv<D>, id: &str, claim: i64) -> Result<Option<bool>, StoreError> {
    match env.store.job(id)? {
        Some(job) if job.state == orderflow_store::JobState::Running && job.claim == claim => {
            crate::observe::note_job(&job.id, &job.tenant, job.order, job.kind);
            run_job(env, &job).map(Some)
        }
        _ => Ok(None),
    }
}

/// Runs one claimed job; `Ok(false)` when its call failed (and that was
/// recorded), or when its claim was lost before the outcome was written
/// (another worker has the job now; this run's writes rolled back).
pub fn run_job<D: Db>(env: &SagaEnv<D>, job: &Job) -> Result<bool, StoreError> {
    match run_job_under_claim(env, job) {
        Err(StoreError::ClaimLost(id)) => {
            eprintln!("saga: job {id} was claimed again before this run recorded its outcome; dropped");
            Ok(false)
        }
        other => other,
    }
}

fn run_job_under_claim<D: Db>(env: &SagaEnv<D>, job: &Job) -> Result<bool, StoreError> {
    let Some(order) = env.store.order(&job.tenant, job.order)? else {
        env.store
            .write(|s| s.park_job(job, "order not found", (env.clock)()))?;
        return Ok(false);
    };
    let outcome = match job.kind {
        JobKind::CreatePaymentIntent => create_payment_intent(env, job, &order),
        JobKind::CancelPaymentIntent => cancel_payment_intent(env, job),
        JobKind::Validate => return validate(env, job).map(|()| true),
        JobKind::Provision => provision(env, job, &order),
        JobKind::Deliver => deliver(env, job, &order),
        JobKind::Deprovision => deprovision(env, job, &order),
        JobKind::Refund => super::refunds::run_refund(env, job),
        JobKind::DeprovisionSubscription => super::ending::deprovision_subscription(env, job),
        JobKind::VoidRenewalIntent => super::ending::void_renewal_intent(env, job),
    }?;
    match outcome {
        Ok(()) => Ok(true),
        Err(error) => {
            record_failure(env, job, &error)?;
            Ok(false)
        }
    }
}

type Outcome = Result<Result<(), CallError>, StoreError>;

/// Applies `command` to the job's order under the write lock. A refusal
/// (the order moved on meanwhile, say cancelled) is logged, not an error:
/// the job's own work is done either way.
fn record<D: Db>(
    s: &Store<D>,
    env: &SagaEnv<D>,
    job: &Job,
    command: Command,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let name = command.name();
    if let Err(refusal) = apply(s, &job.tenant, job.order, command, &env.catalog, now)? {
        eprintln!("saga: job {} could not {name} order {}: {refusal}", job.id, job.order);
    }
    Ok(())
}

/// Loads the order under the write lock, decides `command` as the system,
/// and writes the decision (with its jobs). A refusal is returned, not written.
fn apply<D: Db>(
    s: &Store<D>,
    tenant: &TenantId,
    order: orderflow_core::OrderId,
    command: Command,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Result<Result<Order, Rejection>, StoreError> {
    // Locked for the rest of the transaction: concurrent completions of the
    // order's items queue here instead of losing on the version guard.
    let Some(current) = s.order_for_update(tenant, order)? else {
        return Err(StoreError::Corrupt(format!("order {order} vanished")));
    };
    match decide(&current, command, Actor::System, catalog, now) {
        Ok(d) => {
            s.apply(current.version, &d, SUBJECT)?;
            Ok(Ok(d.order))
        }
        Err(r) => Ok(Err(r)),
    }
}

fn create_payment_intent<D: Db>(env: &SagaEnv<D>, job: &Job, order: &Order) -> Outcome {
    let amount: Money = serde_json::from_value(job.payload["amount"].clone()).unwrap_or(order.total);
    let request = super::payments::order_intent(&job.tenant, job.order, &amount);
    let created = env
        .providers
        .payments()
        .and_then(|p| Ok((p.name(), p.create_intent(env.out.as_ref(), &request)?)));
    let (provider, intent) = match created {
        Ok(created) => created,
        Err(e) => return Ok(Err(e)),
    };
    let now = (env.clock)();
    env.store.write(|s| {
        s.save_payment_intent(&job.tenant, job.order, provider, &intent, &amount, now)?;
        s.finish_job(job, now)
    })?;
    Ok(Ok(()))
}

fn cancel_payment_intent<D: Db>(env: &SagaEnv<D>, job: &Job) -> Outcome {
    if let Some(intent) = env.store.payment_intent_of(&job.tenant, job.order)? {
        if let Err(e) = env
            .providers
            .payments()
            .and_then(|p| p.cancel_intent(env.out.as_ref(), &intent))
        {
            return Ok(Err(e));
        }
    }
    env.store.write(|s| s.finish_job(job, (env.clock)()))?;
    Ok(Ok(()))
}

/// Re-checks a paid order against today's catalog, the tenant's quota and
/// the regions' free capacity (reserving it), then starts provisioning or
/// fails the order (which requests its refund).
fn validate<D: Db>(env: &SagaEnv<D>, job: &Job) -> Result<(), StoreError> {
    let now = (env.clock)();
    env.store.write(|s| {
        // One validation at a time checks and reserves capacity and quota,
        // so two cannot both take the last units.
        s.lock_reservations()?;
        let Some(order) = s.order_for_update(&job.tenant, job.order)? else {
            return s.finish_job(job, now);
        };
        if order.state == OrderState::PaymentConfirmed {
            record(s, env, job, Command::StartValidation, now)?;
        }
        let Some(order) = s.order(&job.tenant, job.order)? else {
            return s.finish_job(job, now);
        };
        if order.state != OrderState::Validating {
            // Cancelled or reverted meanwhile: nothing to validate.
            return s.finish_job(job, now);
        }
        let mut problems = Vec::new();
        for (i, item) in order.items.iter().enumerate() {
            let raw = serde_json::to_value(&item.spec).unwrap_or(Value::Null);
            if let Err(found) = parse_item(&env.catalog, &raw, &format!("/items/{i}")) {
                problems.extend(found);
            }
        }
        let limit = s.tenant_quota(&job.tenant)?.unwrap_or(env.catalog.default_quota);
        let own = order
            .items
            .iter()
            .fold(Quota::default(), |q, i| add(q, demand(&i.spec.config), true));
        let live = s
            .live_item_specs(&job.tenant)?
            .iter()
            .fold(Quota::default(), |q, spec| add(q, demand(&spec.config), true));
        let others = add(live, own, false);
        let specs: Vec<_> = order.items.iter().map(|i| i.spec.clone()).collect();
        problems.extend(check_quota(&limit, &others, &specs));
        if problems.is_empty() {
            // Capacity last, under the write lock, reserving what it checked:
            // two orders cannot both take a pool's last units.
            let free = s.free_capacity()?;
            problems.extend(check_capacity(|r, p| free.get(&(r, p)).copied().unwrap_or(0), &specs));
            if problems.is_empty() {
                for item in &order.items {
                    let (region, product) = (item.spec.config.region(), item.spec.config.product());
                    s.reserve_capacity(item.id, region, product, capacity_units(&item.spec.config), now)?;
                }
            }
        }
        let command = if problems.is_empty() {
            Command::PassValidation
        } else {
            Command::FailValidation { problems }
        };
        record(s, env, job, command, now)?;
        s.finish_job(job, now)
    })
}

/// `a + b`, or `a - b` (saturating) when `plus` is false.
fn add(a: Quota, b: Quota, plus: bool) -> Quota {
    let f = |x: u32, y: u32| if plus { x.saturating_add(y) } else { x.saturating_sub(y) };
    Quota {
        vps_instances: f(a.vps_instances, b.vps_instances),
        kubernetes_workers: f(a.kubernetes_workers, b.kubernetes_workers),
        databases: f(a.databases, b.databases),
        gpu_nodes: f(a.gpu_nodes, b.gpu_nodes),
        private_cloud_nodes: f(a.private_cloud_nodes, b.private_cloud_nodes),
        object_storage_tb: f(a.object_storage_tb, b.object_storage_tb),
    }
}

/// Provisioning is two phases in one job: create (idempotent by the item's
/// id), then poll until the resource runs. Waiting is not failing: each poll
/// that finds it still creating reschedules without counting an attempt.
fn provision<D: Db>(env: &SagaEnv<D>, job: &Job, order: &Order) -> Outcome {
    let Some(item_id) = job.item else {
        return Ok(Err(CallError::Permanent("provision job without item".into())));
    };
    let Some(item) = order.item(item_id) else {
        return Ok(Err(CallError::Permanent("unknown item".into())));
    };
    if item.state != ItemState::Provisioning {
        // Cancelled meanwhile (its deprovision job, which waits for this one,
        // cleans up) or already active. If an earlier attempt may have
        // created the resource without recording it, ask for it again under
        // the same idempotency key, so the deprovisioning knows what to delete.
        if job.payload["resource_id"].is_null() && job.attempts > 1 && item.state == ItemState::Failed {
            match env.providers.create_resource(env.out.as_ref(), item) {
                Ok(id) => {
                    let now = (env.clock)();
                    env.store.write(|s| {
                        s.save_resource(&job.tenant, job.order, item_id, "cloud", &id, now)?;
                        s.finish_job(job, now)
                    })?;
                    return Ok(Ok(()));
                }
                Err(e) => return Ok(Err(e)),
            }
        }
        env.store.write(|s| s.finish_job(job, (env.clock)()))?;
        return Ok(Ok(()));
    }
    let resource = match job.payload["resource_id"].as_str() {
        Some(id) => id.to_owned(),
        None => {
            let id = match env.providers.create_resource(env.out.as_ref(), item) {
                Ok(id) => id,
                Err(e) => return Ok(Err(e)),
            };
            // The first poll is due at once: ask now, in this run. A resource
            // that already runs is recorded and activated in one transaction
            // (no second claim and commit); otherwise the next run polls.
            if env.vault.is_some() {
                if let Ok(ResourceStatus::Ready(access)) = env.providers.resource_status(env.out.as_ref(), &id) {
                    return activate(env, job, item_id, Some(&id), &access);
                }
            }
            let now = (env.clock)();
            env.store.write(|s| {
                s.save_resource(&job.tenant, job.order, item_id, "cloud", &id, now)?;
                s.advance_job(job, &json!({ "resource_id": id }), now, now)
            })?;
            return Ok(Ok(()));
        }
    };
    match env.providers.resource_status(env.out.as_ref(), &resource) {
        Err(e) => Ok(Err(e)),
        Ok(ResourceStatus::Failed(why)) => Ok(Err(CallError::Retryable(format!("resource {resource} failed: {why}")))),
        Ok(ResourceStatus::Creating) => {
            let now = (env.clock)();
            env.store
                .write(|s| s.advance_job(job, &job.payload, now + env.poll_interval, now))?;
            Ok(Ok(()))
        }
        Ok(ResourceStatus::Ready(access)) => activate(env, job, item_id, None, &access),
    }
}

/// Seals a running resource's access details and activates its item, in
/// one transaction that finishes the job (and records the resource, when
/// it was created in this same run).
fn activate<D: Db>(
    env: &SagaEnv<D>,
    job: &Job,
    item_id: orderflow_core::ItemId,
    created: Option<&str>,
    access: &Value,
) -> Outcome {
    let now = (env.clock)();
    let nonce = (env.nonce)();
    let Some(vault) = &env.vault else {
        return Ok(Err(CallError::Permanent("no credentials key in this component".into())));
    };
    let (kid, sealed) = vault.seal(access.to_string().as_bytes(), item_id.to_string().as_bytes(), &nonce);
    env.store.write(|s| {
        if let Some(resource) = created {
            s.save_resource(&job.tenant, job.order, item_id, "cloud", resource, now)?;
        }
        s.save_credentials(&job.tenant, job.order, item_id, &kid, &nonce, &sealed, now)?;
        record(s, env, job, Command::ActivateItem { item: item_id }, now)?;
        start_subscription(s, env, job, item_id, now)?;
        s.finish_job(job, now)
    })?;
    Ok(Ok(()))
}

/// Starts the subscription of an item that has just become active, in the
/// transaction that activated it: period 1 from now, at its snapshot price.
/// An item that was not activated (the order moved on) starts none.
fn start_subscription<D: Db>(
    s: &Store<D>,
    env: &SagaEnv<D>,
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

/// Decrypts the item's credentials and e-mails them; the first delivery
/// also marks the item delivered. Re-deliveries are jobs of their own.
fn deliver<D: Db>(env: &SagaEnv<D>, job: &Job, order: &Order) -> Outcome {
    let Some(item_id) = job.item else {
        return Ok(Err(CallError::Permanent("deliver job without item".into())));
    };
    let Some(item) = order.item(item_id) else {
        return Ok(Err(CallError::Permanent("unknown item".into())));
    };
    if !item.state.is_live() {
        env.store.write(|s| s.finish_job(job, (env.clock)()))?;
        return Ok(Ok(()));
    }
    let Some(sealed) = env.store.credentials_of(&job.tenant, item_id)? else {
        return Ok(Err(CallError::Permanent("no stored credentials for the item".into())));
    };
    let Some(vault) = &env.vault else {
        return Ok(Err(CallError::Permanent("no credentials key in this component".into())));
    };
    let access = match vault.open(
        &sealed.key_id,
        &sealed.ciphertext,
        item_id.to_string().as_bytes(),
        &sealed.nonce,
    ) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => return Ok(Err(CallError::Permanent(e.to_string()))),
    };
    let to = env
        .store
        .tenant_contact(&job.tenant)?
        .unwrap_or_else(|| env.default_recipient.clone());
    let subject = format!("Your {} is ready", item.product.product);
    let text = format!(
        "{}\n\nOrder {}, item {}.\n\nAccess details:\n{}\n\nKeep this message safe; you can ask for it again from your portal.",
        item.product.summary, order.id, item.id, pretty(&access)
    );
    if let Err(e) = env
        .providers
        .send_email(env.out.as_ref(), &to, &subject, &text, &format!("deliver-{}", job.id))
    {
        return Ok(Err(e));
    }
    let now = (env.clock)();
    env.store.write(|s| {
        let current = s.order_for_update(&job.tenant, job.order)?;
        if current.and_then(|o| o.item(item_id).map(|i| i.state)) == Some(ItemState::Active) {
            record(s, env, job, Command::DeliverItem { item: item_id }, now)?;
        }
        s.finish_job(job, now)
    })?;
    Ok(Ok(()))
}

fn pretty(access_json: &str) -> String {
    match serde_json::from_str::<Value>(access_json) {
        Ok(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| format!("  {k}: {}", v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => access_json.to_owned(),
    }
}

/// Removes the item's resource (if one was ever created), then rolls the
/// item back, which requests its refund in the same transaction.
fn deprovision<D: Db>(env: &SagaEnv<D>, job: &Job, order: &Order) -> Outcome {
    let Some(item_id) = job.item else {
        return Ok(Err(CallError::Permanent("deprovision job without item".into())));
    };
    if order.item(item_id).map(|i| i.state) != Some(ItemState::Failed) {
        env.store.write(|s| s.finish_job(job, (env.clock)()))?;
        return Ok(Ok(()));
    }
    if let Some(resource) = env.store.resource_of(&job.tenant, item_id)? {
        if let Err(e) = env.providers.delete_resource(env.out.as_ref(), &resource) {
            return Ok(Err(e));
        }
    }
    let now = (env.clock)();
    env.store.write(|s| {
        record(s, env, job, Command::RollBackItem { item: item_id }, now)?;
        s.release_capacity(item_id)?;
        end_subscription(s, &job.tenant, item_id, now)?;
        s.finish_job(job, now)
    })?;
    Ok(Ok(()))
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

/// Records a failed call: retry on schedule, or give up (forward steps:
/// the item fails and is compensated) or park (compensations).
fn record_failure<D: Db>(env: &SagaEnv<D>, job: &Job, error: &CallError) -> Result<(), StoreError> {
    let now = (env.clock)();
    let message = error.to_string();
    let permanent = matches!(error, CallError::Permanent(_));
    if job.kind.is_compensation() {
        return match after_compensation_failure(job.attempts, now) {
            AfterCompensationFailure::RetryAt { at } if !permanent => env
                .store
                .write(|s| s.retry_job(job, env.scaled(now, at), &message, now)),
            _ => env.store.write(|s| {
                s.park_job(job, &message, now)?;
                let reason = format!(
                    "{} of item {} keeps failing: {message}",
                    job.kind,
                    job.item.map(|i| i.to_string()).unwrap_or_default()
                );
                record(s, env, job, Command::ParkForOperator { reason }, now)
            }),
        };
    }
    match (job.kind, after_failure(job.attempts, now)) {
        (_, AfterFailure::RetryAt { at }) if !permanent => env
            .store
            .write(|s| s.retry_job(job, env.scaled(now, at), &message, now)),
        (JobKind::Provision, _) => env.store.write(|s| {
            let item = job
                .item
                .ok_or_else(|| StoreError::Corrupt("provision job without item".into()))?;
            record(
                s,
                env,
                job,
                Command::FailItem {
                    item,
                    reason: message.clone(),
                },
                now,
            )?;
            s.give_up_job(job, &message, now)
        }),
        _ => env.store.write(|s| {
            s.park_job(job, &message, now)?;
            let reason = format!("{} keeps failing: {message}", job.kind);
            record(s, env, job, Command::ParkForOperator { reason }, now)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_call_is_bounded_below_the_lease() {
        assert_eq!(provider_timeout(Duration::seconds(2)), std::time::Duration::from_secs(1));
        assert_eq!(provider_timeout(Duration::seconds(30)), std::time::Duration::from_secs(10));
        for lease in [1, 2, 5, 30, 300] {
            let lease = Duration::seconds(lease);
            assert!(provider_timeout(lease) < lease.to_std().unwrap());
        }
    }
}
