//! The load generator: N client threads on 127.0.0.1, each with its own
//! keep-alive HTTP connection, bounded by a count and a deadline.
//!
//! A lifecycle is what a shop and a payment provider do to one order:
//! `POST /v1/orders` (three items), `POST /v1/orders/{id}/submit`,
//! `GET /v1/orders/{id}` (the payment intent), then the provider's signed
//! `payment_intent.succeeded` webhook, sent by the client itself so its
//! latency is measured; then the saga takes the order to `fulfilled` with the
//! simulated providers. A [`Watcher`] reads the orders' states from the
//! database every millisecond, so waiting for `fulfilled` puts no polling
//! load on the API.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use orderflow_http::{sign_webhook, Role, TokenSigner, TokenSpec};

/// DEVELOPMENT ONLY: the key `tests/dev-tokens` holds for the tests and
/// `scripts/dev` (the app under benchmark is given its public JWKS).
const DEV_SIGNING_KEY: &str = include_str!("../../../tests/dev-tokens/dev-signing-key.pem");
use reqwest::blocking::Client;
use serde_json::{json, Value};

/// How long one request or one saga may take before the run gives up on it.
const PATIENCE: Duration = Duration::from_secs(60);

/// Where the load goes.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://127.0.0.1:PORT` of each instance serving the app (one, or a fleet).
    pub bases: Vec<String>,
    /// The payment webhook's signing secret.
    pub secret: String,
    /// Tenants are `<prefix>-<n>`: one per order, so quotas never cut a run short.
    pub tenant_prefix: String,
}

impl Target {
    /// The instance for the `n`-th order or request: each in turn.
    pub fn base(&self, n: usize) -> &str {
        &self.bases[n % self.bases.len()]
    }
}

/// The three items of every order: a VPS, a managed database, object storage.
pub fn items() -> Value {
    json!([
        {"product":"vps","billing_cycle":"monthly","config":{"region":"lj-1","plan":"core","os_image":"debian-12"}},
        {"product":"managed_database","billing_cycle":"monthly","config":{"region":"lj-1","engine":"postgresql-16","plan":"starter","storage_gb":20,"high_availability":false}},
        {"product":"object_storage","billing_cycle":"monthly","config":{"region":"lj-1","tier":"standard","capacity_tb":1,"replication":"single_zone"}},
    ])
}

/// A bearer token for `tenant` as `role`, signed with the development key.
pub fn token(tenant: &str, role: Role) -> String {
    let signer = TokenSigner::from_pem(DEV_SIGNING_KEY.as_bytes(), "dev1", "orderflow-dev", "orderflow")
        .expect("the development key parses");
    let scopes = if role == Role::Service {
        vec![
            "tick".to_owned(),
            "renew".to_owned(),
            "clock".to_owned(),
            "metrics".to_owned(),
        ]
    } else {
        Vec::new()
    };
    let spec = TokenSpec {
        subject: "bench".to_owned(),
        tenant: tenant.parse().expect("tenant id"),
        role,
        scopes,
        lifetime_secs: 3600,
    };
    signer.mint(&spec, chrono::Utc::now().timestamp() - 10)
}

/// A client with one keep-alive connection per thread.
pub fn client() -> Client {
    Client::builder()
        .timeout(PATIENCE)
        .pool_max_idle_per_host(1)
        .build()
        .expect("HTTP client")
}

/// Latencies of one lifecycle run, per request kind.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    /// `POST /v1/orders`.
    pub create: Vec<Duration>,
    /// `POST /v1/orders/{id}/submit`.
    pub submit: Vec<Duration>,
    /// `GET /v1/orders/{id}`.
    pub get: Vec<Duration>,
    /// `POST /v1/webhooks/payments/stripe`.
    pub webhook: Vec<Duration>,
    /// From sending the webhook to the watcher seeing `fulfilled`.
    pub to_fulfilled: Vec<Duration>,
    /// Orders that reached `fulfilled`.
    pub fulfilled: usize,
    /// Their tenants and ids.
    pub orders: Vec<(String, String)>,
    /// What went wrong (first few), and how often.
    pub errors: Vec<String>,
    /// All errors.
    pub error_count: usize,
}

impl Samples {
    fn merge(&mut self, other: Samples) {
        self.create.extend(other.create);
        self.submit.extend(other.submit);
        self.get.extend(other.get);
        self.webhook.extend(other.webhook);
        self.to_fulfilled.extend(other.to_fulfilled);
        self.fulfilled += other.fulfilled;
        self.orders.extend(other.orders);
        self.error_count += other.error_count;
        for e in other.errors {
            if self.errors.len() < 5 {
                self.errors.push(e);
            }
        }
    }

    fn error(&mut self, e: String) {
        self.error_count += 1;
        if self.errors.len() < 5 {
            self.errors.push(e);
        }
    }
}

/// What a lifecycle run did.
#[derive(Debug, Clone)]
pub struct LifecycleRun {
    /// Concurrent clients.
    pub clients: usize,
    /// From the first request to the last order fulfilled.
    pub elapsed: Duration,
    /// The samples.
    pub samples: Samples,
}

impl LifecycleRun {
    /// Orders taken from create to `fulfilled` per second.
    pub fn orders_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            crate::baseline::u64_f64(self.samples.fulfilled as u64) / secs
        } else {
            0.0
        }
    }
}

/// Runs `orders` lifecycles on `clients` threads, stopping new orders at
/// `deadline`; `progress` is called about once a second with orders done.
pub fn lifecycles(
    target: &Target,
    watcher: &Watcher,
    clients: usize,
    orders: usize,
    limit: Duration,
    progress: &(dyn Fn(usize) + Sync),
) -> LifecycleRun {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let started = Instant::now();
    let deadline = started + limit;
    let finished = AtomicBool::new(false);
    let samples = std::thread::scope(|scope| {
        let reporter = scope.spawn(|| {
            let mut last = Instant::now();
            while !finished.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                if last.elapsed() >= Duration::from_secs(1) {
                    progress(done.load(Ordering::Relaxed));
                    last = Instant::now();
                }
            }
        });
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                scope.spawn(|| {
                    let http = client();
                    let mut mine = Samples::default();
                    loop {
                        let n = next.fetch_add(1, Ordering::SeqCst);
                        if n >= orders || Instant::now() >= deadline {
                            break;
                        }
                        if let Err(e) = lifecycle(&http, target, watcher, n, &mut mine) {
                            mine.error(e);
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    mine
                })
            })
            .collect();
        let mut all = Samples::default();
        for w in workers {
            all.merge(w.join().expect("a client thread panicked"));
        }
        finished.store(true, Ordering::Relaxed);
        reporter.join().expect("progress thread");
        all
    });
    LifecycleRun {
        clients,
        elapsed: started.elapsed(),
        samples,
    }
}

/// One order from create to `fulfilled`.
fn lifecycle(http: &Client, target: &Target, watcher: &Watcher, n: usize, out: &mut Samples) -> Result<(), String> {
    let tenant = format!("{}-{n}", target.tenant_prefix);
    let customer = token(&tenant, Role::Customer);
    let t = Instant::now();
    let (status, draft) = send(
        http.post(format!("{}/v1/orders", target.base(n)))
            .bearer_auth(&customer)
            .header("content-type", "application/json")
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .body(json!({ "items": items(), "delivery_email": "buyer@bench.example" }).to_string()),
    )?;
    out.create.push(t.elapsed());
    if status != 201 {
        return Err(format!("create: {status} {draft}"));
    }
    let id = draft["id"].as_str().ok_or("create: no id")?.to_owned();
    let t = Instant::now();
    let (status, body) = send(
        http.post(format!("{}/v1/orders/{id}/submit", target.base(n)))
            .bearer_auth(&customer)
            .header("content-type", "application/json")
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .header("if-match", "\"1\"")
            .body(json!({ "shown_total": draft["total"] }).to_string()),
    )?;
    out.submit.push(t.elapsed());
    if !(200..300).contains(&status) {
        return Err(format!("submit: {status} {body}"));
    }
    // The payment intent is created by a saga job the submit hands over at
    // once; read it back (as the shop's payment page does).
    let mut intent = None;
    let asked = Instant::now();
    while intent.is_none() && asked.elapsed() < PATIENCE {
        let t = Instant::now();
        let (status, order) = send(
            http.get(format!("{}/v1/orders/{id}", target.base(n)))
                .bearer_auth(&customer),
        )?;
        out.get.push(t.elapsed());
        if status != 200 {
            return Err(format!("get: {status} {order}"));
        }
        intent = order["payment_intent"].as_str().map(str::to_owned);
        if intent.is_none() {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let intent = intent.ok_or("no payment intent within the patience")?;
    let minor = minor_units(draft["total"]["amount"].as_str().unwrap_or_default())?;
    let now = chrono::Utc::now().timestamp();
    let event = json!({
        "id": format!("evt_bench_{}", uuid::Uuid::new_v4().simple()),
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": now,
        "data": { "object": { "id": intent, "object": "payment_intent", "amount": minor, "currency": "eur", "status": "succeeded" } },
    })
    .to_string();
    watcher.expect(&id);
    let sent = Instant::now();
    let (status, body) = send(
        // In a fleet, the provider's webhook reaches another instance than the shop.
        http.post(format!("{}/v1/webhooks/payments/stripe", target.base(n + 1)))
            .header("content-type", "application/json")
            .header(
                "stripe-signature",
                sign_webhook(target.secret.as_bytes(), now, event.as_bytes()),
            )
            .body(event),
    )?;
    out.webhook.push(sent.elapsed());
    if status != 200 || body["outcome"] != "applied" {
        watcher.forget(&id);
        return Err(format!("webhook: {status} {body}"));
    }
    let (seen, state) = watcher.wait(&id, PATIENCE)?;
    if state != "fulfilled" {
        return Err(format!("order {id} ended {state}, not fulfilled"));
    }
    out.to_fulfilled.push(seen.saturating_duration_since(sent));
    out.fulfilled += 1;
    out.orders.push((tenant, id));
    Ok(())
}

/// `"123.45"` → 12345.
fn minor_units(amount: &str) -> Result<i64, String> {
    let (whole, cents) = amount.split_once('.').unwrap_or((amount, "00"));
    format!("{whole}{cents:0<2}")
        .parse()
        .map_err(|_| format!("amount `{amount}` is not a decimal with cents"))
}

/// Sends and returns the status and the JSON body (`Null` if not JSON).
fn send(request: reqwest::blocking::RequestBuilder) -> Result<(u16, Value), String> {
    let response = request.send().map_err(|e| format!("transport: {e}"))?;
    let status = response.status().as_u16();
    let bytes = response.bytes().map_err(|e| format!("body: {e}"))?;
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

/// What a read run did.
#[derive(Debug, Clone)]
pub struct ReadRun {
    /// Concurrent clients.
    pub clients: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// Latency of each `GET /v1/orders/{id}`.
    pub samples: Vec<Duration>,
    /// Requests that did not answer 200.
    pub errors: usize,
}

impl ReadRun {
    /// Requests per second.
    pub fn per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            crate::baseline::u64_f64(self.samples.len() as u64) / secs
        } else {
            0.0
        }
    }
}

/// `(bearer token, path)` for reading each of `orders` (tenant, id) as its customer.
pub fn order_paths(orders: &[(String, String)]) -> Vec<(String, String)> {
    orders
        .iter()
        .map(|(tenant, id)| (token(tenant, Role::Customer), format!("/v1/orders/{id}")))
        .collect()
}

/// The no-op baseline: a component that only answers (`GET /v1/openapi.json`).
pub fn noop_paths() -> Vec<(String, String)> {
    vec![(String::new(), "/v1/openapi.json".to_owned())]
}

/// `GET` each of `paths` (bearer token, path) round robin on `clients`
/// threads, until `requests` were sent or `limit` passed.
pub fn reads(target: &Target, paths: &[(String, String)], clients: usize, requests: usize, limit: Duration) -> ReadRun {
    assert!(!paths.is_empty(), "nothing to read");
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let deadline = started + limit;
    let (samples, errors) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                scope.spawn(|| {
                    let http = client();
                    let (mut mine, mut errors) = (Vec::new(), 0);
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        if n >= requests || Instant::now() >= deadline {
                            break;
                        }
                        let (bearer, path) = &paths[n % paths.len()];
                        let mut request = http.get(format!("{}{path}", target.base(n)));
                        if !bearer.is_empty() {
                            request = request.bearer_auth(bearer);
                        }
                        let t = Instant::now();
                        let ok = request
                            .send()
                            .and_then(|r| {
                                let ok = r.status().as_u16() == 200;
                                r.bytes().map(|_| ok)
                            })
                            .unwrap_or(false);
                        mine.push(t.elapsed());
                        if !ok {
                            errors += 1;
                        }
                    }
                    (mine, errors)
                })
            })
            .collect();
        let mut all = Vec::new();
        let mut errors = 0;
        for w in workers {
            let (s, e) = w.join().expect("a client thread panicked");
            all.extend(s);
            errors += e;
        }
        (all, errors)
    });
    ReadRun {
        clients,
        elapsed: started.elapsed(),
        samples,
        errors,
    }
}

/// Reads the states of orders in flight from the database, every millisecond.
pub struct Watcher {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watcher")
    }
}

#[derive(Default)]
struct Shared {
    /// Order id → when it was seen in a final state, and which.
    orders: Mutex<HashMap<String, Option<(Instant, String)>>>,
    changed: Condvar,
    stop: AtomicBool,
}

/// Looks up the states of the given order ids: `(id, state)` pairs.
pub type StateQuery = Box<dyn FnMut(&[String]) -> Result<Vec<(String, String)>, String> + Send>;

impl Watcher {
    /// Starts watching with `query`.
    pub fn start(mut query: StateQuery) -> Watcher {
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let thread = std::thread::spawn(move || {
            while !s.stop.load(Ordering::Relaxed) {
                let waiting: Vec<String> = lock(&s.orders)
                    .iter()
                    .filter(|(_, v)| v.is_none())
                    .map(|(k, _)| k.clone())
                    .collect();
                if !waiting.is_empty() {
                    match query(&waiting) {
                        Ok(states) => {
                            let now = Instant::now();
                            let mut orders = lock(&s.orders);
                            let mut any = false;
                            for (id, state) in states {
                                if matches!(state.as_str(), "fulfilled" | "failed" | "cancelled") {
                                    if let Some(slot @ None) = orders.get_mut(&id) {
                                        *slot = Some((now, state));
                                        any = true;
                                    }
                                }
                            }
                            if any {
                                s.changed.notify_all();
                            }
                        }
                        Err(e) => eprintln!("bench: watcher query failed: {e}"),
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        Watcher {
            shared,
            thread: Some(thread),
        }
    }

    /// Starts watching `id` (call before the event that moves it).
    pub fn expect(&self, id: &str) {
        lock(&self.shared.orders).insert(id.to_owned(), None);
    }

    /// Stops watching `id`.
    pub fn forget(&self, id: &str) {
        lock(&self.shared.orders).remove(id);
    }

    /// Waits until `id` is seen in a final state: when, and which.
    pub fn wait(&self, id: &str, timeout: Duration) -> Result<(Instant, String), String> {
        let deadline = Instant::now() + timeout;
        let mut orders = lock(&self.shared.orders);
        loop {
            if let Some(Some(seen)) = orders.get(id) {
                let seen = seen.clone();
                orders.remove(id);
                return Ok(seen);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                orders.remove(id);
                return Err(format!("order {id} not final within {timeout:?}"));
            }
            orders = self
                .shared
                .changed
                .wait_timeout(orders, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            // A panicked watcher has nothing left to clean up.
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A state query on the runner's SQLite file (read only; WAL readers never
/// block the writer), opened on first use: the runner creates the file.
pub fn sqlite_states(path: &std::path::Path) -> StateQuery {
    let path = path.to_owned();
    let mut conn: Option<rusqlite::Connection> = None;
    Box::new(move |ids| {
        if conn.is_none() {
            let c = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(|e| format!("open {}: {e}", path.display()))?;
            c.busy_timeout(Duration::from_secs(5)).map_err(|e| e.to_string())?;
            conn = Some(c);
        }
        let conn = conn.as_ref().ok_or("no connection")?;
        let placeholders = vec!["?"; ids.len()].join(",");
        let mut stmt = conn
            .prepare_cached(&format!("SELECT id, state FROM orders WHERE id IN ({placeholders})"))
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(ids), |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| e.to_string())?;
        rows.collect::<Result<_, _>>().map_err(|e| e.to_string())
    })
}

/// A state query on PostgreSQL as the superuser (sees every tenant).
pub fn postgres_states(url: &str) -> StateQuery {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap_or_else(|e| panic!("connect {url}: {e}"));
    Box::new(move |ids| {
        let ids: Vec<String> = ids.to_vec();
        client
            .query(
                "SELECT id::text, state::text FROM orders WHERE id::text = ANY($1)",
                &[&ids],
            )
            .map(|rows| rows.iter().map(|r| (r.get(0), r.get(1))).collect())
            .map_err(|e| e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_become_minor_units() {
        assert_eq!(minor_units("192.96"), Ok(19296));
        assert_eq!(minor_units("10.5"), Ok(1050));
        assert_eq!(minor_units("7"), Ok(700));
        assert!(minor_units("x").is_err());
    }
}
