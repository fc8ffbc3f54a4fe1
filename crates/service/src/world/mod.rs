//! An in-process world for the use cases, at unit speed: the real use
//! cases and the real saga worker over native SQLite (the same SQL,
//! migrations and transactions as in a component), the providers faked with
//! their real idempotency rules ([`Fakes`]), webhooks signed and verified as
//! the provider's are, and a clock the test moves ([`advance`]).
//!
//! The end-to-end suite runs the same use cases in the real components on
//! `spin-local` against the simulators; this world answers in milliseconds,
//! so every change to orders, subscriptions, idempotency, webhooks and
//! refunds gets its feedback before that suite runs. Enabled by the
//! `world` feature (and in this crate's own tests).

pub(crate) mod clock;
mod fakes;

use std::cell::{Cell, RefMut};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::Duration;
use orderflow_core::{Catalog, Money, OrderId, TenantId};
use orderflow_http::{sign_webhook, HttpResponse, Principal, RequestParts, Role, WebhookSecrets};
use orderflow_store::{JobState, NativeSqlite, Store};
use serde_json::{json, Value};
use uuid::Uuid;

pub use clock::{advance, now, set_now, START};
pub use fakes::{quiet_crashes, Crashed, FakeState, Fakes, Fault, NoNetwork, Op};

use crate::router::{dispatch, Route};
use crate::saga::{
    handle_payment_webhook, run_due_jobs, PaymentConfig, PaymentProvider, SagaEnv, TickReport, Vault, WebhookOutcome,
    NONCE_LEN,
};
use crate::Ctx;

/// The signing secret of the world's payment webhooks.
const WEBHOOK_SECRET: &str = "whsec_world";

/// The use cases the world serves, by the paths the components serve them
/// at (the components add only Spin wiring around the same functions).
const ROUTES: &[Route<Ctx<NativeSqlite>>] = &[
    Route {
        method: "POST",
        path: "/v1/orders",
        handler: |ctx, req, _| Ok(crate::create_order(ctx, req)),
    },
    Route {
        method: "GET",
        path: "/v1/orders",
        handler: |ctx, req, _| crate::list_orders(ctx, req),
    },
    Route {
        method: "GET",
        path: "/v1/orders/:id",
        handler: |ctx, _, params| crate::get_order(ctx, params, None),
    },
    Route {
        method: "PATCH",
        path: "/v1/orders/:id",
        handler: |ctx, req, params| Ok(crate::edit_order(ctx, req, params)),
    },
    Route {
        method: "POST",
        path: "/v1/orders/:id/submit",
        handler: |ctx, req, params| Ok(crate::submit_order(ctx, req, params)),
    },
    Route {
        method: "POST",
        path: "/v1/orders/:id/cancel",
        handler: |ctx, req, params| Ok(crate::cancel_order(ctx, req, params)),
    },
    Route {
        method: "POST",
        path: "/v1/orders/:id/restore",
        handler: |ctx, req, params| Ok(crate::restore_order(ctx, req, params)),
    },
    Route {
        method: "POST",
        path: "/v1/orders/:id/payment/revert",
        handler: |ctx, req, params| Ok(crate::revert_payment(ctx, req, params)),
    },
    Route {
        method: "POST",
        path: "/v1/orders/:id/items/:item/redeliver",
        handler: |ctx, req, params| Ok(crate::redeliver_item(ctx, req, params)),
    },
    Route {
        method: "GET",
        path: "/v1/orders/:id/audit",
        handler: |ctx, _, params| crate::audit_trail(ctx, params),
    },
    Route {
        method: "GET",
        path: "/v1/subscriptions",
        handler: |ctx, req, _| crate::list_subscriptions(ctx, req),
    },
    Route {
        method: "POST",
        path: "/v1/subscriptions/:id/cancel",
        handler: |ctx, req, params| Ok(crate::cancel_subscription(ctx, req, params)),
    },
];

/// A response, its body read as JSON (`Null` when empty or not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status.
    pub status: u16,
    /// The body.
    pub body: Value,
    /// The whole response.
    pub response: HttpResponse,
}

impl From<HttpResponse> for Reply {
    fn from(response: HttpResponse) -> Self {
        Reply {
            status: response.status,
            body: serde_json::from_slice(&response.body).unwrap_or(Value::Null),
            response,
        }
    }
}

/// Who calls: a tenant's customer, a tenant's operator, or the platform.
pub fn customer(tenant: &str) -> Principal {
    principal(tenant, Role::Customer, "customer")
}

/// An operator acting on `tenant`.
pub fn operator(tenant: &str) -> Principal {
    principal(tenant, Role::Operator, "operator")
}

fn principal(tenant: &str, role: Role, subject: &str) -> Principal {
    Principal {
        subject: format!("{subject}@{tenant}"),
        tenant: tenant.parse::<TenantId>().expect("a tenant id"),
        role,
    }
}

thread_local! {
    static NEXT_ID: Cell<u128> = const { Cell::new(1) };
}

/// Fresh ids, in order (deterministic: a world's ids are the same each run).
fn next_id() -> Uuid {
    NEXT_ID.with(|n| {
        let id = n.get();
        n.set(id + 1);
        Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | id)
    })
}

fn nonce() -> [u8; NONCE_LEN] {
    [7; NONCE_LEN]
}

/// One world: a database file of its own, the saga's worker and the fakes.
/// Use it on one thread (the clock is the thread's).
#[derive(Debug)]
pub struct World {
    path: PathBuf,
    /// The saga's environment: its store, catalog, fakes and clock.
    pub saga: SagaEnv<NativeSqlite, Fakes>,
    provider: PaymentProvider,
    secrets: WebhookSecrets,
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

impl World {
    /// A fresh world at [`START`], migrated, with no orders.
    pub fn new() -> World {
        quiet_crashes();
        clock::reset();
        NEXT_ID.with(|n| n.set(1));
        let path = fresh_path();
        let store = Store::new(NativeSqlite::open(&path).expect("the world's database"));
        store.migrate(now()).expect("migrations");
        let config = PaymentConfig {
            provider: "stripe".into(),
            api_url: "http://payments.invalid".into(),
            api_key: "sk_world".into(),
            api_version: String::new(),
        };
        World {
            path,
            saga: fake_saga(store),
            provider: PaymentProvider::from_config(&config).expect("a payment provider"),
            secrets: WEBHOOK_SECRET.parse().expect("a secret"),
        }
    }

    /// The world's store (the saga's connection).
    pub fn store(&self) -> &Store<NativeSqlite> {
        &self.saga.store
    }

    /// The fakes' state: what the providers hold, and faults to come.
    pub fn fakes(&self) -> RefMut<'_, FakeState> {
        self.saga.providers.0.borrow_mut()
    }

    /// The next `times` calls of `op` (on `target`, or any) answer `fault`.
    pub fn fail(&self, op: Op, target: Option<String>, fault: Fault, times: usize) {
        let mut fakes = self.fakes();
        let queue = fakes.faults.entry(op).or_default();
        queue.extend(std::iter::repeat_n((target, fault), times));
    }

    /// A request's context for `who`, over a connection of its own (as a
    /// component opens one per request).
    pub fn ctx(&self, who: &Principal) -> Ctx<NativeSqlite> {
        Ctx {
            store: Store::new(NativeSqlite::open(&self.path).expect("the world's database")),
            catalog: self.saga.catalog.clone(),
            principal: who.clone(),
            now: now(),
            new_id: next_id,
            correlation_id: "world".into(),
        }
    }

    /// Serves `request` as `who`.
    pub fn call(&self, who: &Principal, request: &RequestParts) -> Reply {
        dispatch(ROUTES, &self.ctx(who), request).into()
    }

    /// `GET path` as `who`.
    pub fn get(&self, who: &Principal, path: &str) -> Reply {
        self.call(who, &RequestParts::new("GET", path))
    }

    /// `method path` with a JSON `body` and these `headers` as `who`.
    pub fn send(&self, who: &Principal, method: &str, path: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
        let mut request = RequestParts::new(method, path)
            .with_header("content-type", "application/json")
            .with_body(body.to_string());
        for (name, value) in headers {
            request = request.with_header(name, value);
        }
        self.call(who, &request)
    }

    /// A write to the order `order` as `who`: `POST /v1/orders/{order}/{action}`
    /// (`action` empty: `PATCH` the order) under the `Idempotency-Key` `key`,
    /// guarded by the order's current ETag as a client that just read it.
    pub fn act(&self, who: &Principal, order: OrderId, action: &str, body: &Value, key: &str) -> Reply {
        let path = format!("/v1/orders/{order}");
        let read = self.get(who, &path);
        let etag = read.response.header("etag").unwrap_or_default().to_owned();
        let (method, path) = if action.is_empty() {
            ("PATCH", path)
        } else {
            ("POST", format!("{path}/{action}"))
        };
        self.send(
            who,
            method,
            &path,
            body,
            &[("idempotency-key", key), ("if-match", &etag)],
        )
    }

    /// Runs the saga's due jobs now; a crash fault ends the run as a dead
    /// process would (its claims lapse after the lease).
    pub fn run_saga(&self) -> TickReport {
        match std::panic::catch_unwind(AssertUnwindSafe(|| run_due_jobs(&self.saga, 100, None))) {
            Ok(report) => report.expect("the saga's writes"),
            Err(panic) if panic.is::<Crashed>() => TickReport::default(),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Runs jobs, moving the clock past every retry delay and lease, until
    /// no job of `order` is left to run.
    pub fn settle(&self, tenant: &str, order: OrderId) {
        let tenant: TenantId = tenant.parse().expect("a tenant id");
        for _ in 0..40 {
            self.run_saga();
            let jobs = self.store().jobs_of(&tenant, order).expect("jobs");
            if !jobs
                .iter()
                .any(|j| matches!(j.state, JobState::Pending | JobState::Running))
            {
                return;
            }
            advance(Duration::seconds(301));
        }
        panic!("the saga of order {order} did not settle");
    }

    /// Delivers `event` (a Stripe event envelope) to the payment webhook,
    /// signed with the world's secret as the provider signs it.
    pub fn webhook(&self, event: &Value) -> (Reply, Option<WebhookOutcome>) {
        let body = event.to_string();
        let signature = sign_webhook(WEBHOOK_SECRET.as_bytes(), now().timestamp(), body.as_bytes());
        let request = RequestParts::new("POST", "/v1/webhooks/payments/stripe")
            .with_header("stripe-signature", &signature)
            .with_body(body);
        let store = Store::new(NativeSqlite::open(&self.path).expect("the world's database"));
        let handled = handle_payment_webhook(
            &store,
            &self.saga.catalog,
            &self.provider,
            &self.secrets,
            &request,
            now(),
            self.saga.retry_delay_scale,
            "world",
        );
        match handled {
            Ok((response, outcome)) => (response.into(), Some(outcome)),
            Err(e) => (HttpResponse::from(e).into(), None),
        }
    }

    /// The provider's `payment_intent.succeeded` for `intent`, paying
    /// `amount`, as event `event_id`.
    pub fn paid(&self, event_id: &str, intent: &str, amount: Money) -> (Reply, Option<WebhookOutcome>) {
        self.fakes().paid.insert(intent.to_owned());
        self.webhook(&intent_event(event_id, "payment_intent.succeeded", intent, amount))
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.path.clone().into_os_string();
            path.push(suffix);
            // Best effort: a leftover file in the temporary directory harms nothing.
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The saga's worker over `store`, with today's catalog, the fakes, a
/// credentials key, the world's clock, a 30 s lease, a 1 s poll interval,
/// a 30-minute provisioning deadline and the production retry schedule.
pub fn fake_saga(store: Store<NativeSqlite>) -> SagaEnv<NativeSqlite, Fakes> {
    SagaEnv {
        store,
        catalog: Catalog::standard(),
        providers: Fakes::default(),
        vault: Some(format!("k1:{}", "ab".repeat(32)).parse::<Vault>().expect("a key")),
        out: Box::new(NoNetwork),
        clock: now,
        nonce,
        lease: Duration::seconds(30),
        poll_interval: Duration::seconds(1),
        provision_deadline: Duration::minutes(30),
        retry_delay_scale: 1.0,
        renewal_lead: Duration::days(3),
        subscription_grace: Duration::days(14),
    }
}

/// One monthly VPS item (€10.00), as a request names it.
pub fn vps_item() -> Value {
    json!({"product":"vps","billing_cycle":"monthly","config":{"region":"lj-1","plan":"core","os_image":"debian-12"}})
}

/// A Stripe event envelope of `kind` about the payment intent `intent` of
/// `amount` (in cents, as Stripe counts).
pub fn intent_event(event_id: &str, kind: &str, intent: &str, amount: Money) -> Value {
    let cents = (amount.amount * rust_decimal::Decimal::ONE_HUNDRED).trunc().to_string();
    let cents: i64 = cents.parse().expect("cents");
    json!({
        "id": event_id,
        "object": "event",
        "type": kind,
        "created": now().timestamp(),
        "data": { "object": {
            "id": intent,
            "object": "payment_intent",
            "amount": cents,
            "amount_received": cents,
            "currency": amount.currency.code().to_ascii_lowercase(),
        }},
    })
}

/// A database file of the world's own, in memory-backed storage when the
/// machine has it.
fn fresh_path() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let n = N.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("orderflow-world-{}-{n}.db", std::process::id()))
}

#[cfg(test)]
mod tests;
