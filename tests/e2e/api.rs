//! The orderflow app under test, with credentials and typed helpers.

use std::path::PathBuf;

use e2e::App;
use orderflow_http::Role;
use reqwest::blocking::{RequestBuilder, Response};
use serde_json::{json, Value};

/// The wasm packages the app's `spin.toml` serves.
pub const PACKAGES: &[&str] = &[
    "catalog",
    "orders",
    "pay",
    "retry",
    "validate",
    "provision-step",
    "deliver",
    "analytics",
    "portal",
    "renew",
    "ops",
];

/// The app's own manifest.
pub fn manifest() -> PathBuf {
    e2e::workspace_root().join("spin.toml")
}

/// Starts the whole app on a fresh state directory.
pub fn spawn() -> App {
    App::builder(manifest()).build_packages(PACKAGES).dev_secrets().spawn()
}

/// The app, wired to the simulated providers `sims` (webhooks signed with
/// `secret`), ticking the saga worker every 200 ms, polling providers every
/// 50 ms, with the retry schedule shrunk twentyfold (2-4-8-16-30 s →
/// 0.1-0.2-0.4-0.8-1.5 s) and two-second job leases.
pub fn with_simulators(sims: &e2e::sims::Sims, secret: &str) -> e2e::AppBuilder {
    let tick = e2e::dev::token_with("scheduler", "platform", Role::Service, &["tick", "renew"]);
    unticked(sims, secret)
        .arg("--schedule", "200ms=/v1/internal/tick")
        .arg("--schedule-header", format!("authorization: Bearer {tick}"))
}

/// [`with_simulators`] without the scheduled tick: only requests move the saga.
pub fn unticked(sims: &e2e::sims::Sims, secret: &str) -> e2e::AppBuilder {
    App::builder(manifest())
        .build_packages(PACKAGES)
        .dev_secrets()
        .simulated_providers(sims, secret)
        .env("SPIN_VARIABLE_PROVIDER_POLL_MS", "50")
        .env("SPIN_VARIABLE_RETRY_DELAY_SCALE", "0.05")
        .env("SPIN_VARIABLE_JOB_LEASE_SECS", "2")
}

/// The app on SQLite (`postgres` is `None`) or on a fresh PostgreSQL
/// database named after the hint (as the application role, migrated by its
/// owner), wired to fresh simulators whose signed webhooks it receives;
/// `change` adjusts it before it starts.
pub fn on_simulators(
    postgres: Option<&str>,
    secret: &str,
    change: impl FnOnce(e2e::AppBuilder) -> e2e::AppBuilder,
) -> (Option<e2e::pg_cluster::TestDatabase>, e2e::sims::Sims, App) {
    let sims = e2e::sims::Sims::spawn(None, secret);
    let db = postgres.map(e2e::shared::migrated_database);
    let mut builder = change(with_simulators(&sims, secret));
    if let Some(db) = &db {
        builder = builder.env("SPIN_VARIABLE_DATABASE_URL", &db.app_url);
    }
    let app = builder.spawn();
    sims.set_webhook(&app.url("/v1/webhooks/payments/stripe"), secret);
    (db, sims, app)
}

/// A monthly VPS ordered by `customer`, paid at the simulated provider,
/// provisioned and delivered: its order id.
pub fn delivered_monthly_vps(customer: &Caller<'_>, sims: &e2e::sims::Sims) -> String {
    let order = customer.submitted(json!([vps("core", "monthly")]), std::time::Duration::from_secs(20));
    let order_id = id(&order);
    sims.succeed(order["payment_intent"].as_str().expect("intent"), json!({}));
    e2e::eventually("the item is delivered", std::time::Duration::from_secs(30), || {
        let order = json_of(customer.get(&format!("/v1/orders/{order_id}")));
        (order["items"][0]["state"] == "delivered").then_some(())
    });
    order_id
}

/// One renewal run, as the scheduler would make it.
pub fn renew(app: &App) -> Value {
    let r = app
        .client()
        .post(app.url("/v1/internal/renew"))
        .bearer_auth(token("platform", Role::Service))
        .send()
        .expect("renew reachable");
    assert_eq!(r.status(), 200);
    json_of(r)
}

/// Moves the app's clock to just past `at` (an RFC 3339 time).
pub fn advance_to(app: &App, at: &Value) {
    let at: chrono::DateTime<chrono::Utc> = at.as_str().expect("a time").parse().expect("RFC 3339");
    let now = app.advance_clock(0);
    let secs = (at - now).num_seconds() + 1;
    if secs > 0 {
        app.advance_clock(u32::try_from(secs).expect("fits"));
    }
}

/// A bearer token for `tenant` acting as `role`, signed with the development key.
pub fn token(tenant: &str, role: Role) -> String {
    e2e::dev::token(tenant, role)
}

/// A caller: one tenant, one role.
pub struct Caller<'a> {
    pub app: &'a App,
    pub token: String,
}

impl<'a> Caller<'a> {
    pub fn new(app: &'a App, tenant: &str, role: Role) -> Self {
        Caller {
            app,
            token: token(tenant, role),
        }
    }

    pub fn customer(app: &'a App) -> Self {
        Caller::new(app, "acme", Role::Customer)
    }

    pub fn operator(app: &'a App) -> Self {
        Caller::new(app, "acme", Role::Operator)
    }

    fn with_auth(&self, rb: RequestBuilder) -> RequestBuilder {
        rb.bearer_auth(&self.token)
    }

    pub fn get(&self, path: &str) -> Response {
        self.with_auth(self.app.client().get(self.app.url(path)))
            .send()
            .expect("request")
    }

    /// A JSON write with a fresh idempotency key.
    pub fn write(&self, method: &str, path: &str, body: &Value, if_match: Option<i64>) -> Response {
        self.write_keyed(method, path, body, if_match, &uuid_key())
    }

    /// A JSON write with the given idempotency key.
    pub fn write_keyed(&self, method: &str, path: &str, body: &Value, if_match: Option<i64>, key: &str) -> Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self
            .with_auth(self.app.client().request(method, self.app.url(path)))
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(body.to_string());
        if let Some(v) = if_match {
            rb = rb.header("if-match", format!("\"{v}\""));
        }
        rb.send().expect("request")
    }

    /// Creates a draft and returns its JSON.
    pub fn create(&self, items: Value) -> Value {
        let r = self.write(
            "POST",
            "/v1/orders",
            &json!({ "items": items, "delivery_email": BUYER }),
            None,
        );
        let status = r.status();
        let body = json_of(r);
        assert_eq!(status, 201, "create failed: {body}");
        body
    }

    /// Runs a command on an order at `version` and returns the response.
    pub fn command(&self, id: &str, action: &str, body: &Value, version: i64) -> Response {
        self.write("POST", &format!("/v1/orders/{id}/{action}"), body, Some(version))
    }

    /// Creates a draft of `items` and submits it at its own total; returns
    /// the order once its payment intent exists (waiting up to `within`).
    pub fn submitted(&self, items: Value, within: std::time::Duration) -> Value {
        let draft = self.create(items);
        let r = self.command(
            &id(&draft),
            "submit",
            &json!({ "shown_total": draft["total"] }),
            version(&draft),
        );
        assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
        e2e::eventually("the payment intent is created", within, || {
            let order = json_of(self.get(&format!("/v1/orders/{}", id(&draft))));
            order["payment_intent"].is_string().then_some(order)
        })
    }
}

/// The address the tests' orders deliver to (the e-mail simulator takes any).
pub const BUYER: &str = "buyer@acme.example";

/// A fresh idempotency key.
pub fn uuid_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A VPS item.
pub fn vps(plan: &str, cycle: &str) -> Value {
    json!({"product":"vps","billing_cycle":cycle,"config":{"region":"lj-1","plan":plan,"os_image":"ubuntu-24.04"}})
}

/// Row counts of the tables a rejected request must not touch.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Counts {
    pub orders: i64,
    pub items: i64,
    pub audit: i64,
    pub outbox: i64,
}

/// Reads the app's SQLite database directly (read-only), as an auditor would.
pub fn counts(app: &App) -> Counts {
    let path = app.state_dir().join("sqlite_db.db");
    if !path.exists() {
        return Counts {
            orders: 0,
            items: 0,
            audit: 0,
            outbox: 0,
        };
    }
    let conn =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open db");
    let count = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap_or(0)
    };
    Counts {
        orders: count("orders"),
        items: count("order_items"),
        audit: count("audit_log"),
        outbox: count("outbox"),
    }
}

/// The ids of an order's items, in order.
pub fn item_ids(order: &Value) -> Vec<String> {
    order["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("item id").to_owned())
        .collect()
}

/// The outbox event types of `order_id`, read as an auditor would: from
/// the app's SQLite file, or as the superuser of its PostgreSQL database.
pub fn outbox_types_of(app: &App, db: Option<&e2e::pg_cluster::TestDatabase>, order_id: &str) -> Vec<String> {
    match db {
        None => outbox_types(app, order_id),
        Some(db) => e2e::shared::rows_as_text(
            &db.superuser_url,
            "SELECT event_type FROM outbox WHERE message_key = $1 ORDER BY seq",
            &[order_id.into()],
        )
        .into_iter()
        .map(|r| r[0].clone())
        .collect(),
    }
}

/// The outbox event types written for `order_id`, in order (SQLite).
pub fn outbox_types(app: &App, order_id: &str) -> Vec<String> {
    let path = app.state_dir().join("sqlite_db.db");
    let conn =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open db");
    let mut stmt = conn
        .prepare("SELECT event_type FROM outbox WHERE message_key = ?1 ORDER BY seq")
        .expect("prepare");
    stmt.query_map([order_id], |r| r.get(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

/// The order's version from its JSON.
pub fn version(order: &Value) -> i64 {
    order["version"].as_i64().expect("version")
}

/// The order's id from its JSON.
pub fn id(order: &Value) -> String {
    order["id"].as_str().expect("id").to_owned()
}

/// A response body as JSON.
pub fn json_of(r: Response) -> Value {
    let text = r.text().expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

impl Caller<'_> {
    /// A GET that tolerates a dead app: `None` if there was no answer.
    pub fn get_checked(&self, path: &str) -> Option<Value> {
        let r = self
            .app
            .client()
            .get(self.app.url(path))
            .bearer_auth(&self.token)
            .send()
            .ok()?;
        serde_json::from_str(&r.text().ok()?).ok()
    }

    /// A keyed JSON write that tolerates a dead app: `(status, body)`, or `None` if there was no answer.
    pub fn try_write(
        &self,
        method: &str,
        path: &str,
        body: &Value,
        if_match: Option<i64>,
        key: &str,
    ) -> Option<(u16, Value)> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).ok()?;
        let mut rb = self
            .app
            .client()
            .request(method, self.app.url(path))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(body.to_string());
        if let Some(v) = if_match {
            rb = rb.header("if-match", format!("\"{v}\""));
        }
        let r = rb.send().ok()?;
        let status = r.status().as_u16();
        let text = r.text().ok()?;
        Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }
}
