//! The saga's jobs: inserted with the decision that causes them, claimed
//! under a lease, finished, retried, parked. (What the jobs record at the
//! providers lives beside: payment intents and webhook events in
//! `payments.rs`, resources and sealed credentials in `resources.rs`.)
//!
//! Jobs are claimed under the write lock with a lease: a worker that dies
//! mid-job loses its lease and the job is claimed again, which is safe
//! because every job's external call is idempotent.
//!
//! On PostgreSQL every statement runs inside its tenant ([`Store::in_tenant`]),
//! so row-level security applies to the saga as to the orders. The three
//! questions that cross tenants — which jobs are due, whose job an id is,
//! whose order a payment intent pays — are answered by SECURITY DEFINER
//! functions (migration 4) that return only tenant and row ids; the work
//! itself then runs in that tenant. SQLite, which has no row-level security,
//! queries the tables directly, as before.

use chrono::{DateTime, Duration, Utc};
use orderflow_core::{ItemId, JobKind, NewJob, OrderId, TenantId};
use serde_json::Value;

use crate::codec::{parse, parse_time};
use crate::db::{Db, Dialect, Param, Row};
use crate::error::StoreError;
use crate::orders::Store;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for its time (and for the job it runs after).
    Pending,
    /// Claimed by a worker until its lease ends.
    Running,
    /// Finished, successfully or by giving up (the decision says which).
    Done,
    /// A compensation that kept failing; an operator must look.
    Parked,
}

impl JobState {
    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "pending" => Ok(JobState::Pending),
            "running" => Ok(JobState::Running),
            "done" => Ok(JobState::Done),
            "parked" => Ok(JobState::Parked),
            other => Err(StoreError::Corrupt(format!("job state `{other}`"))),
        }
    }
}

/// A stored job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Stable id.
    pub id: String,
    /// Whose.
    pub tenant: TenantId,
    /// The order.
    pub order: OrderId,
    /// The item, for item jobs.
    pub item: Option<ItemId>,
    /// What to do.
    pub kind: JobKind,
    /// Where it is.
    pub state: JobState,
    /// Kind-specific state (e.g. the provisioning phase).
    pub payload: Value,
    /// Attempts so far, counting the current one once claimed.
    pub attempts: u32,
    /// When it is due.
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// The epoch of the claim this copy was read under: every claim takes
    /// the next one, and each later write of the job (finish, retry,
    /// advance, park) must match it, or the job was claimed again
    /// meanwhile and the write is refused ([`StoreError::ClaimLost`]).
    pub claim: i64,
}

fn job_from_row(r: &Row<'_>) -> Result<Job, StoreError> {
    Ok(Job {
        id: r.text("id")?.to_owned(),
        tenant: parse("tenant id", r.text("tenant_id")?)?,
        order: parse("order id", r.text("order_id")?)?,
        item: r.opt_text("item_id")?.map(|s| parse("item id", s)).transpose()?,
        kind: parse("job kind", r.text("kind")?)?,
        state: JobState::parse(r.text("state")?)?,
        payload: serde_json::from_str(r.text("payload")?)?,
        attempts: u32::try_from(r.int("attempts")?).unwrap_or(u32::MAX),
        next_attempt_at: parse_time(r.text("next_attempt_at")?)?,
        last_error: r.opt_text("last_error")?.map(str::to_owned),
        claim: r.int("claim_epoch")?,
    })
}

/// Candidates fetched beyond a claim's limit on PostgreSQL, so that jobs
/// claimed first by other workers do not end a tick while others are due.
const CLAIM_SPARE: i64 = 8;

impl<D: Db> Store<D> {
    /// Inserts jobs (a decision's effects). A job that already exists is
    /// left alone, so writing the same decision twice adds nothing. Call
    /// inside [`Store::write`].
    pub fn insert_jobs(&self, tenant: &TenantId, jobs: &[NewJob], now: DateTime<Utc>) -> Result<(), StoreError> {
        self.in_tenant(tenant, |s| {
            for job in jobs {
                s.run(
                    "INSERT INTO saga_jobs (id, tenant_id, order_id, item_id, kind, state, after_job, payload, attempts,
                                            next_attempt_at, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, 0, $8, $8, $8)
                     ON CONFLICT (id) DO NOTHING",
                    &[
                        job.id.as_str().into(),
                        tenant.as_str().into(),
                        job.order.to_string().into(),
                        job.item.map(|i| i.to_string()).into(),
                        job.kind.as_str().into(),
                        job.after.as_ref().map(orderflow_core::JobId::as_str).into(),
                        Param::Json(serde_json::to_string(&job.payload)?.into()),
                        Param::Time(now),
                    ],
                )?;
            }
            Ok(())
        })
    }

    /// Claims up to `limit` jobs that are due (or whose worker's lease ran
    /// out), optionally of one order only, marking them running until
    /// `now + lease` and counting the attempt. Jobs chained after another
    /// wait until that one is done or parked (a parked deprovisioning holds
    /// back neither the other items' rollback nor their refunds), and an
    /// item's deprovisioning waits until
    /// no provisioning of it is under way, so it sees every resource created.
    ///
    /// Jobs of every tenant are claimed: on PostgreSQL the candidates come
    /// from `orderflow_due_jobs` (a SECURITY DEFINER function returning only
    /// tenant and job ids), and each is claimed by a guarded update inside
    /// its own tenant, so row-level security stays on. A candidate another
    /// worker claimed first fails the guard and is skipped.
    pub fn claim_due_jobs(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
        only_order: Option<OrderId>,
    ) -> Result<Vec<Job>, StoreError> {
        self.claim_due_jobs_of(now, lease, limit, only_order, &[])
    }

    /// As [`Store::claim_due_jobs`], but only jobs of `kinds` (all kinds
    /// when empty): a saga step component claims the order's due jobs that
    /// are its own to run, and leaves the others to their owners.
    pub fn claim_due_jobs_of(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
        only_order: Option<OrderId>,
        kinds: &[JobKind],
    ) -> Result<Vec<Job>, StoreError> {
        // One bound text parameter, `,kind,kind,`, matched by substring
        // (kinds are closed-set names without commas); NULL matches all.
        let kinds = (!kinds.is_empty()).then(|| {
            let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            format!(",{},", names.join(","))
        });
        match self.db().dialect() {
            Dialect::Sqlite => self.claim_due_jobs_sqlite(now, lease, limit, only_order, kinds),
            Dialect::Postgres => self.claim_due_jobs_postgres(now, lease, limit, only_order, kinds),
        }
    }

    /// SQLite: one tenant-less select and update under the database write lock.
    fn claim_due_jobs_sqlite(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
        only_order: Option<OrderId>,
        kinds: Option<String>,
    ) -> Result<Vec<Job>, StoreError> {
        // Most ticks find nothing due; look before taking the write lock.
        let due = self.run(
            "SELECT 1 AS due FROM saga_jobs
              WHERE ((state = 'pending' AND next_attempt_at <= $1) OR (state = 'running' AND lease_until <= $1))
                AND ($2 IS NULL OR order_id = $2)
                AND ($3 IS NULL OR instr($3, ',' || kind || ',') > 0)
              LIMIT 1",
            &[
                Param::Time(now),
                only_order.map(|o| o.to_string()).into(),
                kinds.as_deref().into(),
            ],
        )?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        self.write(|s| {
            let rows = s.run(
                "SELECT j.* FROM saga_jobs j
                  WHERE ((j.state = 'pending' AND j.next_attempt_at <= $1) OR (j.state = 'running' AND j.lease_until <= $1))
                    AND ($2 IS NULL OR j.order_id = $2)
                    AND ($4 IS NULL OR instr($4, ',' || j.kind || ',') > 0)
                    AND (j.after_job IS NULL OR EXISTS (SELECT 1 FROM saga_jobs a WHERE a.id = j.after_job AND a.state IN ('done', 'parked')))
                    AND (j.kind <> 'deprovision' OR NOT EXISTS (
                          SELECT 1 FROM saga_jobs p
                           WHERE p.item_id = j.item_id AND p.kind = 'provision' AND p.state IN ('pending', 'running')))
                  ORDER BY j.next_attempt_at, j.created_at, j.id
                  LIMIT $3",
                &[
                    Param::Time(now),
                    only_order.map(|o| o.to_string()).into(),
                    Param::Int(i64::from(limit)),
                    kinds.as_deref().into(),
                ],
            )?;
            let mut jobs = rows.iter().map(|r| job_from_row(&r)).collect::<Result<Vec<_>, _>>()?;
            for job in &mut jobs {
                s.run(
                    "UPDATE saga_jobs SET state = 'running', lease_until = $2, attempts = attempts + 1, updated_at = $3,
                                          claim_epoch = claim_epoch + 1
                      WHERE id = $1",
                    &[job.id.as_str().into(), Param::Time(now + lease), Param::Time(now)],
                )?;
                job.state = JobState::Running;
                job.attempts += 1;
                job.claim += 1;
            }
            Ok(jobs)
        })
    }

    /// PostgreSQL: candidates from `orderflow_due_jobs`, then a claim per
    /// job inside its tenant. The update re-checks that the job is still
    /// claimable; under read committed a concurrent claimer waits for the
    /// row lock and then sees the job running, so no job is claimed twice.
    fn claim_due_jobs_postgres(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
        only_order: Option<OrderId>,
        kinds: Option<String>,
    ) -> Result<Vec<Job>, StoreError> {
        // A few spare candidates, so that losing races to other workers
        // does not end a tick while jobs are still due.
        let candidates = i64::from(limit).saturating_add(CLAIM_SPARE);
        let order = only_order.map(|o| o.to_string());
        let due = self.run(
            "SELECT tenant_id, id FROM orderflow_due_jobs($1, $2, $3)",
            &[Param::Time(now), order.as_deref().into(), Param::Int(candidates)],
        )?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let due = due
            .iter()
            .map(|r| {
                Ok((
                    parse::<TenantId>("tenant id", r.text("tenant_id")?)?,
                    r.text("id")?.to_owned(),
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.write(|s| {
            let mut jobs = Vec::new();
            for (tenant, id) in &due {
                if jobs.len() >= limit as usize {
                    break;
                }
                let claimed = s.in_tenant(tenant, |s| {
                    s.run(
                        "UPDATE saga_jobs SET state = 'running', lease_until = $2, attempts = attempts + 1, updated_at = $3,
                                              claim_epoch = claim_epoch + 1
                          WHERE id = $1
                            AND ((state = 'pending' AND next_attempt_at <= $3) OR (state = 'running' AND lease_until <= $3))
                            AND ($4::text IS NULL OR strpos($4::text, ',' || kind || ',') > 0)
                          RETURNING *",
                        &[id.as_str().into(), Param::Time(now + lease), Param::Time(now), kinds.as_deref().into()],
                    )
                })?;
                if let Some(row) = claimed.first() {
                    jobs.push(job_from_row(&row)?);
                }
            }
            Ok(jobs)
        })
    }

    /// Runs `f` in the tenant of job `id`, for statements that name a job by
    /// its id alone (the worker's bookkeeping, a handed-over job). SQLite
    /// needs no tenant; on PostgreSQL the tenant comes from
    /// `orderflow_job_tenant`, in the same statement that sets it. An
    /// unknown job sets no tenant, so `f` sees no row, as on SQLite.
    fn in_job_tenant<T>(&self, id: &str, mut f: impl FnMut(&Self) -> Result<T, StoreError>) -> Result<T, StoreError> {
        match self.db().dialect() {
            Dialect::Sqlite => f(self),
            Dialect::Postgres => self.write(|s| {
                s.run(
                    "SELECT set_config('app.tenant_id', coalesce(orderflow_job_tenant($1), ''), true) AS tenant",
                    &[id.into()],
                )?;
                f(s)
            }),
        }
    }

    /// Updates the job `job` names, only while it is still under that
    /// claim (running, same epoch): `set` is the `SET` list, whose
    /// placeholders start at `$3` (`$1` is the id, `$2` the epoch).
    /// Zero rows means the lease ran out and another worker claimed the job
    /// (or finished it): [`StoreError::ClaimLost`], so the caller's
    /// transaction, which records this run's outcome, rolls back.
    fn fenced_update(&self, job: &Job, set: &str, params: &[Param<'_>]) -> Result<(), StoreError> {
        let mut all: Vec<Param<'_>> = vec![job.id.as_str().into(), Param::Int(job.claim)];
        all.extend_from_slice(params);
        let update = format!(
            "UPDATE saga_jobs SET {set}
              WHERE id = $1 AND claim_epoch = $2 AND state = 'running'
             RETURNING id"
        );
        // (A result without rows is safe on every Spin: the PostgreSQL
        // backend wraps each query so the host always has a row to return.)
        let updated = self.in_job_tenant(&job.id, |s| Ok(s.run(&update, &all)?.len()))?;
        if updated == 0 {
            return Err(StoreError::ClaimLost(job.id.clone()));
        }
        Ok(())
    }

    /// Marks a job done. Call inside the [`Store::write`] that records its outcome.
    pub fn finish_job(&self, job: &Job, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.fenced_update(
            job,
            "state = 'done', lease_until = NULL, updated_at = $3",
            &[Param::Time(now)],
        )
    }

    /// Ends a job that gave up (its failure is recorded as a decision elsewhere).
    pub fn give_up_job(&self, job: &Job, error: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.fenced_update(
            job,
            "state = 'done', lease_until = NULL, last_error = $3, updated_at = $4",
            &[error.into(), Param::Time(now)],
        )
    }

    /// Puts a failed job back for another attempt at `at`.
    pub fn retry_job(&self, job: &Job, at: DateTime<Utc>, error: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.fenced_update(
            job,
            "state = 'pending', lease_until = NULL, next_attempt_at = $3, last_error = $4, updated_at = $5",
            &[Param::Time(at), error.into(), Param::Time(now)],
        )
    }

    /// Gives a claimed job back at once, due again at `at`, without counting
    /// the attempt: its hand-over to the component that runs it failed, so
    /// it never ran. (Waiting out the lease would stall the order for it.)
    pub fn release_job(&self, job: &Job, at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.fenced_update(
            job,
            "state = 'pending', lease_until = NULL, next_attempt_at = $3, attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
             updated_at = $4",
            &[Param::Time(at), Param::Time(now)],
        )
    }

    /// Moves a job to its next phase: new payload, due at `at`, attempts
    /// counted afresh (waiting for a provider is not failing).
    pub fn advance_job(
        &self,
        job: &Job,
        payload: &Value,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.fenced_update(
            job,
            "state = 'pending', lease_until = NULL, next_attempt_at = $3, payload = $4, attempts = 0,
             last_error = NULL, updated_at = $5",
            &[
                Param::Time(at),
                Param::Json(serde_json::to_string(payload)?.into()),
                Param::Time(now),
            ],
        )
    }

    /// Stops retrying a job; an operator must look.
    pub fn park_job(&self, job: &Job, error: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.fenced_update(
            job,
            "state = 'parked', lease_until = NULL, last_error = $3, updated_at = $4",
            &[error.into(), Param::Time(now)],
        )
    }

    /// Sends the tenant's parked job `id` back to work: due at `now`, its
    /// attempts counted afresh (an operator's retry). `false` when it is
    /// not parked (retried already, or never parked). Call inside
    /// [`Store::write`], with the decision that records the retry.
    pub fn unpark_job(&self, tenant: &TenantId, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let rows = self.in_tenant(tenant, |s| {
            s.run(
                "UPDATE saga_jobs SET state = 'pending', attempts = 0, next_attempt_at = $3, lease_until = NULL,
                        updated_at = $3
                  WHERE tenant_id = $1 AND id = $2 AND state = 'parked'
                 RETURNING id",
                &[tenant.as_str().into(), id.into(), Param::Time(now)],
            )
        })?;
        Ok(!rows.is_empty())
    }

    /// One job, of any tenant: a handed-over job arrives as a bare id (on
    /// PostgreSQL its tenant comes from `orderflow_job_tenant`, and the row
    /// is read under that tenant's row-level security).
    pub fn job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        let rows = self.in_job_tenant(id, |s| s.run("SELECT * FROM saga_jobs WHERE id = $1", &[id.into()]))?;
        rows.first().map(|r| job_from_row(&r)).transpose()
    }

    /// The order's jobs, oldest first (for progress views and tests).
    pub fn jobs_of(&self, tenant: &TenantId, order: OrderId) -> Result<Vec<Job>, StoreError> {
        let rows = self.in_tenant(tenant, |s| {
            s.run(
                "SELECT * FROM saga_jobs WHERE tenant_id = $1 AND order_id = $2 ORDER BY created_at, id",
                &[tenant.as_str().into(), order.to_string().into()],
            )
        })?;
        rows.iter().map(|r| job_from_row(&r)).collect()
    }
}
