//! Hardening (issue 14), through the real components: the app will not run
//! on published or missing secrets, a busy database answers 503 with
//! `Retry-After` (never 500), internal routes check the credential before
//! anything else, money amounts are decimal strings, idempotency keys are
//! the caller's own, customers read plain reasons where a provider failed,
//! and concurrent validations never reserve more than a pool holds.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::sims::Sims;
use e2e::{eventually, App};
use orderflow_http::Role;
use serde_json::{json, Value};

use crate::api::{
    counts, id, json_of, manifest, spawn, uuid_key, version, vps, with_simulators, Caller, BUYER, PACKAGES,
};

const SECRET: &str = "whsec_hardening_padded_to_32_bytes_or_more";

const REQUIRED_SECRETS: [&str; 4] = ["auth_jwks", "auth_issuer", "credentials_key", "payment_webhook_secret"];

/// The runner's exit status and output when started without `missing`
/// (the other secrets set), waiting at most a minute for it to give up.
fn start_without(missing: &str) -> (std::process::ExitStatus, String) {
    e2e::build_wasm_packages(PACKAGES);
    let state = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(e2e::runner_binary());
    cmd.args(["up", "--listen", "127.0.0.1:0", "--from"])
        .arg(manifest())
        .arg("--state-dir")
        .arg(state.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let dev = [
        ("auth_jwks", e2e::dev::AUTH_JWKS),
        ("auth_issuer", e2e::dev::AUTH_ISSUER),
        ("credentials_key", e2e::dev::CREDENTIALS_KEY),
        ("payment_webhook_secret", e2e::dev::WEBHOOK_SECRET),
    ];
    for (name, value) in dev {
        let var = format!("SPIN_VARIABLE_{}", name.to_uppercase());
        if name == missing {
            cmd.env_remove(var);
        } else {
            cmd.env(var, value);
        }
    }
    let mut child = cmd.spawn().expect("start spin-local");
    let status = eventually("the runner to give up", Duration::from_secs(60), || {
        child.try_wait().ok().flatten()
    });
    let output = child.wait_with_output().expect("runner output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (status, text)
}

#[test]
fn the_app_refuses_to_start_without_any_one_of_its_secrets() {
    for name in REQUIRED_SECRETS {
        let (status, output) = start_without(name);
        assert!(!status.success(), "started without {name}:\n{output}");
        assert!(
            output.contains(&format!("no provider resolved required variable \"{name}\"")),
            "the message names {name} as Spin does:\n{output}"
        );
        assert!(!output.contains("Serving http://"), "{output}");
    }
}

#[test]
fn a_short_secret_is_refused_naming_the_variable_but_never_its_value() {
    let app = App::builder(manifest())
        .build_packages(PACKAGES)
        .dev_secrets()
        // A JWKS holding a symmetric key: whoever read it could sign tokens.
        .env(
            "SPIN_VARIABLE_AUTH_JWKS",
            r#"{"keys":[{"kty":"oct","kid":"k1","k":"c2hvcnQtYXV0aC1zZWNyZXQtYnV0LWxvbmctZW5vdWdo"}]}"#,
        )
        .env("SPIN_VARIABLE_PAYMENT_WEBHOOK_SECRET", "whsec_tooshort")
        .spawn();
    let products = app
        .client()
        .get(app.url("/v1/products"))
        .bearer_auth(crate::api::token("acme", Role::Customer))
        .send()
        .expect("request");
    assert_eq!(products.status(), 500);
    let webhook = app.post("/v1/webhooks/payments/stripe", "{}");
    assert_eq!(webhook.status(), 500);
    let logs = app.logs();
    assert!(
        logs.shows("variable `auth_jwks`: JWKS key k1 is symmetric", Duration::from_secs(5)),
        "{}",
        logs.text()
    );
    assert!(
        logs.shows(
            "variable `payment_webhook_secret` is 14 bytes long",
            Duration::from_secs(5)
        ),
        "{}",
        logs.text()
    );
    for value in ["c2hvcnQtYXV0aC1zZWNyZXQtYnV0LWxvbmctZW5vdWdo", "whsec_tooshort"] {
        assert!(!logs.contains(value), "the log shows a secret value");
    }
}

#[test]
fn a_database_busy_beyond_the_stores_wait_answers_503_with_retry_after_and_changes_nothing() {
    let app = spawn();
    let customer = Caller::customer(&app);
    customer.create(json!([vps("core", "monthly")]));
    let before = counts(&app);
    // given another writer holding SQLite's write lock
    let db = rusqlite::Connection::open(app.state_dir().join("sqlite_db.db")).expect("open the app's database");
    db.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");
    // when a write comes in
    let key = uuid_key();
    let body = json!({ "items": [vps("core", "monthly")], "delivery_email": BUYER });
    let response = customer.write_keyed("POST", "/v1/orders", &body, None, &key);
    // then it is told to come back, not that the server broke
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let problem = json_of(response);
    assert_eq!(status, 503, "{problem}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(problem["type"], "https://orderflow.dev/problems/busy");
    db.execute_batch("ROLLBACK").expect("release the lock");
    assert_eq!(counts(&app), before, "a 503 changes nothing");
    // and the same request, sent again, goes through
    let again = customer.write_keyed("POST", "/v1/orders", &body, None, &key);
    assert_eq!(again.status(), 201);
}

#[test]
fn internal_routes_check_the_credential_before_their_query() {
    let app = spawn();
    let routes = [
        "/v1/internal/tick?order=not-a-uuid",
        "/v1/internal/tick?limit=abc",
        "/v1/internal/renew?limit=abc",
        "/v1/internal/clock",
    ];
    let callers: [(Option<Role>, u16); 3] = [(None, 401), (Some(Role::Customer), 403), (Some(Role::Operator), 403)];
    for route in routes {
        for (role, expected) in callers {
            let mut request = app
                .client()
                .post(app.url(route))
                .header("content-type", "application/json");
            if let Some(role) = role {
                request = request.bearer_auth(crate::api::token("acme", role));
            }
            let response = request.body("{}").send().expect("request");
            assert_eq!(response.status().as_u16(), expected, "{role:?} POST {route}");
        }
    }
    // A service caller gets to the query, and hears what is wrong with it.
    let service = crate::api::token("platform", Role::Service);
    for (route, expected) in [
        ("/v1/internal/tick?order=not-a-uuid", 404),
        ("/v1/internal/tick?limit=abc", 400),
        ("/v1/internal/tick?limit=0", 400),
        ("/v1/internal/renew?limit=abc", 400),
    ] {
        let response = app
            .client()
            .post(app.url(route))
            .bearer_auth(&service)
            .send()
            .expect("request");
        assert_eq!(response.status().as_u16(), expected, "service POST {route}");
    }
}

#[test]
fn the_schedulers_token_can_only_tick_and_renew_and_metrics_answer_services_only() {
    // given the scheduler's token (scope `tick renew`) and an operator's
    let app = spawn();
    let scheduler = e2e::dev::token_with("scheduler", "platform", Role::Service, &["tick", "renew"]);
    let send = |method: &str, route: &str, token: &str| {
        app.client()
            .request(method.parse().expect("method"), app.url(route))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .expect("request")
    };
    // then it ticks and renews
    assert_eq!(send("POST", "/v1/internal/tick", &scheduler).status(), 200);
    assert_eq!(send("POST", "/v1/internal/renew", &scheduler).status(), 200);
    // and is refused the clock and the metrics, naming the scope it lacks
    for (method, route, scope) in [
        ("POST", "/v1/internal/clock", "clock"),
        ("GET", "/v1/internal/metrics", "metrics"),
    ] {
        let refused = send(method, route, &scheduler);
        assert_eq!(refused.status(), 403, "{route}");
        let challenge = refused
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(challenge.contains("insufficient_scope"), "{challenge}");
        assert_eq!(json_of(refused)["accepted"], json!([scope]));
    }
    // and the platform-wide metrics refuse any tenant's operator
    let operator = crate::api::token("acme", Role::Operator);
    assert_eq!(send("GET", "/v1/internal/metrics", &operator).status(), 403);
    assert_eq!(
        send(
            "GET",
            "/v1/internal/metrics",
            &crate::api::token("platform", Role::Service)
        )
        .status(),
        200
    );
}

#[test]
fn the_kick_and_job_hand_overs_are_not_reachable_from_outside() {
    // given the app's public routes
    let app = spawn();
    let service = crate::api::token("platform", Role::Service);
    // when the chained-only paths are called from outside, even with a service token
    for route in [
        "/v1/internal/kick",
        "/v1/internal/jobs/payment/j-1?claim=1",
        "/v1/internal/jobs/provision/j-1?claim=1",
        "/v1/internal/jobs/deliver/j-1?claim=1",
        "/v1/internal/jobs/validate/j-1?claim=1",
    ] {
        let response = app
            .client()
            .post(app.url(route))
            .bearer_auth(&service)
            .send()
            .expect("request");
        // then no component answers them
        assert_eq!(response.status(), 404, "{route}");
    }
}

#[test]
fn a_money_amount_sent_as_a_json_number_is_refused_with_a_400_naming_the_field() {
    let app = spawn();
    let customer = Caller::customer(&app);
    let draft = customer.create(json!([vps("business", "annual")]));
    let body = json!({ "shown_total": { "amount": 192.96, "currency": "EUR" } });
    let response = customer.command(&id(&draft), "submit", &body, version(&draft));
    assert_eq!(response.status(), 400);
    let problem = json_of(response);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("/shown_total/amount"),
        "{problem}"
    );
    assert_eq!(problem["accepted"]["pointer"], "/shown_total/amount");
    let order = json_of(customer.get(&format!("/v1/orders/{}", id(&draft))));
    assert_eq!(order["state"], "draft");
}

/// A customer token of `tenant` for the subject `subject`.
fn token_of(tenant: &str, subject: &str) -> String {
    e2e::dev::token_with(subject, tenant, Role::Customer, &[])
}

#[test]
fn an_idempotency_key_is_the_callers_own_not_the_whole_tenants() {
    let app = spawn();
    let alice = Caller {
        app: &app,
        token: token_of("acme", "alice"),
    };
    let bob = Caller {
        app: &app,
        token: token_of("acme", "bob"),
    };
    let key = uuid_key();
    let body = json!({ "items": [vps("core", "monthly")], "delivery_email": BUYER });
    let first = alice.write_keyed("POST", "/v1/orders", &body, None, &key);
    assert_eq!(first.status(), 201);
    let alices = json_of(first);
    // The same key and body from another caller of the tenant is a new request.
    let second = bob.write_keyed("POST", "/v1/orders", &body, None, &key);
    assert_eq!(second.status(), 201);
    assert!(second.headers().get(orderflow_http::REPLAYED_HEADER).is_none());
    let bobs = json_of(second);
    assert_ne!(id(&alices), id(&bobs));
    // Alice's own retry still replays her answer.
    let replay = alice.write_keyed("POST", "/v1/orders", &body, None, &key);
    assert_eq!(replay.status(), 201);
    assert_eq!(id(&json_of(replay)), id(&alices));
}

#[test]
fn a_customer_reads_a_plain_reason_where_a_provider_failed_and_an_operator_the_detail() {
    let sims = Sims::spawn(None, SECRET);
    let app = with_simulators(&sims, SECRET).spawn();
    sims.set_webhook(&app.url("/v1/webhooks/payments/stripe"), SECRET);
    let customer = Caller::customer(&app);
    let operator = Caller::operator(&app);
    let order = customer.submitted(json!([vps("core", "monthly")]), Duration::from_secs(20));
    let item = order["items"][0]["id"].as_str().expect("item id").to_owned();
    // given a cloud that fails every create of the item
    sims.set_cloud_faults(json!({ "fail_reference": item, "times": 100 }));
    sims.succeed(order["payment_intent"].as_str().expect("intent"), json!({}));
    let path = format!("/v1/orders/{}", id(&order));
    let failed = eventually("the item fails for good", Duration::from_secs(60), || {
        let seen = json_of(operator.get(&path));
        (seen["items"][0]["state"] == "rolled_back").then_some(seen)
    });
    // then the operator reads the provider's detail
    let detail = failed["items"][0]["progress"]["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(detail.contains("answered 500"), "{failed:#}");
    // and the customer a plain sentence, in the order and in its history
    let seen = json_of(customer.get(&path));
    assert_eq!(seen["items"][0]["progress"]["last_error"], "the provider had a problem");
    let history = json_of(customer.get(&format!("{path}/audit")));
    let text = history.to_string();
    assert!(
        !text.contains("answered 500") && !text.contains("127.0.0.1"),
        "{history:#}"
    );
    assert!(text.contains("the provider had a problem"), "{history:#}");
    let staff_history = json_of(operator.get(&format!("{path}/audit"))).to_string();
    assert!(staff_history.contains("answered 500"), "{staff_history}");
}

#[test]
fn a_provider_that_hangs_fails_the_call_before_the_lease_ends_and_the_item_is_made_once() {
    let sims = Sims::spawn(None, SECRET);
    // Two-second leases: each call phase is bounded by one second.
    let app = with_simulators(&sims, SECRET).spawn();
    sims.set_webhook(&app.url("/v1/webhooks/payments/stripe"), SECRET);
    let customer = Caller::customer(&app);
    let operator = Caller::operator(&app);
    let order = customer.submitted(json!([vps("core", "monthly")]), Duration::from_secs(20));
    let item = order["items"][0]["id"].as_str().expect("item id").to_owned();
    // given a cloud that holds every answer for four seconds, twice the lease
    sims.set_cloud_faults(json!({ "response_delay_ms": 4000 }));
    sims.succeed(order["payment_intent"].as_str().expect("intent"), json!({}));
    let path = format!("/v1/orders/{}", id(&order));
    // then the worker gives up on the call (a timeout, recorded for a retry)
    let seen = eventually("a timed-out call is recorded", Duration::from_secs(60), || {
        let seen = json_of(operator.get(&path));
        let error = seen["items"][0]["progress"]["last_error"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        error.contains("Timeout").then_some(error)
    });
    assert!(seen.contains("Timeout"), "{seen}");
    // and once the cloud answers again, the item is created once and delivered
    sims.clear_cloud_faults();
    eventually("the order is fulfilled", Duration::from_secs(60), || {
        let seen = json_of(operator.get(&path));
        (seen["state"] == "fulfilled").then_some(())
    });
    let created = sims
        .resources()
        .iter()
        .filter(|r| r["reference"] == item.as_str())
        .count();
    assert_eq!(created, 1, "{:#?}", sims.resources());
}

/// Pays `orders` at once, from one thread each, and waits until every one
/// has left validation; returns how many went on to provisioning.
fn pay_all_at_once_and_count_validated(app: &App, sims: &Sims, orders: &[(String, Value)]) -> usize {
    std::thread::scope(|scope| {
        for (_, order) in orders {
            let intent = order["payment_intent"].as_str().expect("intent").to_owned();
            scope.spawn(move || sims.succeed(&intent, json!({})));
        }
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let states: Vec<String> = orders
            .iter()
            .map(|(tenant, order)| {
                let caller = Caller::new(app, tenant, Role::Operator);
                json_of(caller.get(&format!("/v1/orders/{}", id(order))))["state"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        let settled = states
            .iter()
            .all(|s| !matches!(s.as_str(), "pending_payment" | "payment_confirmed" | "validating"));
        if settled {
            return states.iter().filter(|s| s.as_str() != "failed").count();
        }
        assert!(Instant::now() < deadline, "orders never left validation: {states:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Six tenants each submit a one-VPS order for a pool with two units left.
fn six_orders_for_two_units(app: &App) -> Vec<(String, Value)> {
    (1..=6)
        .map(|n| {
            let tenant = format!("race{n}");
            let caller = Caller::new(app, &tenant, Role::Customer);
            let order = caller.submitted(json!([vps("core", "monthly")]), Duration::from_secs(30));
            (tenant, order)
        })
        .collect()
}

#[test]
fn concurrent_validations_never_reserve_more_than_a_pool_holds_on_sqlite() {
    let sims = Sims::spawn(None, SECRET);
    let app = with_simulators(&sims, SECRET).spawn();
    sims.set_webhook(&app.url("/v1/webhooks/payments/stripe"), SECRET);
    let orders = six_orders_for_two_units(&app);
    let db = rusqlite::Connection::open(app.state_dir().join("sqlite_db.db")).expect("open the app's database");
    db.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
    db.execute(
        "UPDATE region_capacity SET capacity = 2 WHERE region = 'lj-1' AND product = 'vps'",
        [],
    )
    .expect("shrink the pool");
    let validated = pay_all_at_once_and_count_validated(&app, &sims, &orders);
    let reserved: i64 = db
        .query_row(
            "SELECT coalesce(sum(units), 0) FROM capacity_reservations WHERE region = 'lj-1' AND product = 'vps'",
            [],
            |r| r.get(0),
        )
        .expect("reserved units");
    assert_eq!(validated, 2, "exactly the two units were sold");
    assert!(reserved <= 2, "{reserved} units reserved of 2");
}

#[test]
fn concurrent_validations_never_reserve_more_than_a_pool_holds_on_postgres() {
    use orderflow_store::{Db, NativePg, Store};
    let db = e2e::pg_cluster::fresh_database("capacity_race", |owner| {
        let store = Store::new(NativePg::connect(owner).expect("connect as the schema owner"));
        store.migrate(chrono::Utc::now()).expect("the owner applies the schema");
    });
    let su = NativePg::connect(&db.superuser_url).expect("connect as the superuser");
    su.run(
        "UPDATE region_capacity SET capacity = 2 WHERE region = 'lj-1' AND product = 'vps'",
        &[],
    )
    .expect("shrink the pool");
    let sims = Sims::spawn(None, SECRET);
    let app = with_simulators(&sims, SECRET)
        .env("SPIN_VARIABLE_DATABASE_URL", &db.app_url)
        .spawn();
    sims.set_webhook(&app.url("/v1/webhooks/payments/stripe"), SECRET);
    let orders = six_orders_for_two_units(&app);
    let validated = pay_all_at_once_and_count_validated(&app, &sims, &orders);
    let rows = su
        .run(
            "SELECT coalesce(sum(units), 0)::bigint AS n FROM capacity_reservations
              WHERE region = 'lj-1' AND product = 'vps'",
            &[],
        )
        .expect("reserved units");
    let reserved = rows.first().and_then(|r| r.int("n").ok()).unwrap_or(-1);
    assert_eq!(validated, 2, "exactly the two units were sold");
    assert!(reserved <= 2, "{reserved} units reserved of 2");
}

/// How long schemathesis may generate requests (CI has 2 cores and 90 minutes).
const SCHEMATHESIS_SECONDS: u32 = 150;

#[test]
fn the_running_app_answers_as_its_openapi_document_says() {
    // Installed by scripts/install-test-deps; a machine without it cannot run this.
    let installed = Command::new("schemathesis")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        installed,
        "schemathesis is not installed: run scripts/install-test-deps"
    );
    let sims = Sims::spawn(None, SECRET);
    let app = with_simulators(&sims, SECRET).spawn();
    sims.set_webhook(&app.url("/v1/webhooks/payments/stripe"), SECRET);
    let token = crate::api::token("acme", Role::Operator);
    let report = tempfile::tempdir().expect("temp dir");
    let config = e2e::workspace_root().join("tests/schemathesis.toml");
    let output = Command::new("schemathesis")
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(app.url("/v1/openapi.json"))
        .args(["--url", &app.url("")])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--max-time", &SCHEMATHESIS_SECONDS.to_string()])
        .args([
            "--seed",
            "14",
            "--no-color",
            "--workers",
            "1",
            "--request-timeout",
            "30",
        ])
        // Private routes: reachable only by service chaining inside the app.
        .args(["--exclude-path-regex", "^/v1/internal/(jobs/|kick)"])
        .arg("--report-dir")
        .arg(report.path())
        .current_dir(report.path())
        .stdin(Stdio::null())
        .output()
        .expect("run schemathesis");
    let text = String::from_utf8_lossy(&output.stdout);
    // "Test cases:" is followed by "N generated, N passed, …"; the last
    // line of the summary says how many failures and warnings, and the time.
    let cases = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("Test cases:"))
        .nth(1)
        .unwrap_or("(no test case count)")
        .trim();
    let last = text
        .lines()
        .rev()
        .find(|l| l.starts_with("===="))
        .unwrap_or("(no summary line)");
    let summary = format!("{cases} {last}");
    eprintln!("schemathesis: {summary}");
    assert!(
        output.status.success(),
        "schemathesis found failures: {summary}\n{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_payment_webhook_that_finds_the_database_busy_answers_503_and_its_next_delivery_applies_it() {
    let sims = Sims::spawn(None, SECRET);
    let app = with_simulators(&sims, SECRET).spawn();
    sims.set_webhook(&app.url("/v1/webhooks/payments/stripe"), SECRET);
    let customer = Caller::customer(&app);
    let order = customer.submitted(json!([vps("core", "monthly")]), Duration::from_secs(30));
    let intent = order["payment_intent"].as_str().expect("payment intent");
    // given another writer holding SQLite's write lock
    let db = rusqlite::Connection::open(app.state_dir().join("sqlite_db.db")).expect("open the app's database");
    db.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");
    // when the provider delivers the payment
    let outcome = sims.succeed(intent, json!({}));
    // then it is told to deliver again, not that the server broke
    assert_eq!(outcome["statuses"][0], 503, "{outcome}");
    db.execute_batch("ROLLBACK").expect("release the lock");
    let still = json_of(customer.get(&format!("/v1/orders/{}", id(&order))));
    assert_eq!(still["state"], "pending_payment", "a 503 changes nothing: {still}");
    // and the provider's next delivery of the same event applies it
    let event_id = outcome["event"]["id"].as_str().expect("the event's id");
    let again = sims.redeliver(event_id, json!({}));
    assert_eq!(again["statuses"][0], 200, "{again}");
    eventually("the payment is confirmed", Duration::from_secs(30), || {
        let now = json_of(customer.get(&format!("/v1/orders/{}", id(&order))));
        (now["state"] != "pending_payment").then_some(())
    });
}

/// Streams a chunked body that never ends to `path` and returns the status
/// the app answered with, how many body bytes had been sent by then, and
/// how long it took; gives up after `patience`.
fn stream_endless_body(app: &App, path: &str, patience: Duration) -> (u16, u64, Duration) {
    use std::io::{BufRead as _, BufReader, Write as _};
    let started = Instant::now();
    let mut stream = std::net::TcpStream::connect(app.addr()).expect("connect");
    let reader = stream.try_clone().expect("clone the socket");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(reader).read_line(&mut line);
        let _ = tx.send(line);
    });
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    .expect("send the head");
    let chunk = vec![b' '; 64 * 1024];
    let mut sent: u64 = 0;
    loop {
        if let Ok(line) = rx.try_recv() {
            let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
            return (status, sent, started.elapsed());
        }
        assert!(started.elapsed() < patience, "no answer after {sent} bytes");
        // A write fails once the app has answered and closed: then read the answer.
        if stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).is_err()
            || stream.write_all(&chunk).is_err()
            || stream.write_all(b"\r\n").is_err()
        {
            let line = rx.recv_timeout(patience).expect("an answer after the socket closed");
            let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
            return (status, sent, started.elapsed());
        }
        sent += chunk.len() as u64;
    }
}

#[test]
fn an_endless_body_is_refused_with_413_as_soon_as_it_passes_the_routes_cap_and_the_app_keeps_serving() {
    // given the app, and an upload that would never end (far larger than any memory)
    let app = spawn();
    for path in ["/v1/webhooks/payments/stripe", "/v1/orders"] {
        // when it is streamed to an unauthenticated and an authenticated route
        let (status, sent, took) = stream_endless_body(&app, path, Duration::from_secs(60));
        // then the answer is 413, after little more than the cap was sent
        assert_eq!(status, 413, "{path}");
        assert!(sent < 64 * 1024 * 1024, "{path}: {sent} bytes were read before the 413");
        assert!(took < Duration::from_secs(30), "{path}: the 413 took {took:?}");
    }
    // and a declared length over the cap is refused before any of it is sent
    let declared = app
        .client()
        .post(app.url("/v1/orders"))
        .bearer_auth(crate::api::token("acme", Role::Customer))
        .header("content-type", "application/json")
        .body(vec![b' '; 65 * 1024 + 1])
        .send()
        .expect("request");
    assert_eq!(declared.status(), 413);
    let problem = json_of(declared);
    assert_eq!(problem["limit_bytes"], 64 * 1024, "{problem}");
    // and the app still serves
    assert_eq!(app.get("/livez").status(), 200);
    assert_eq!(Caller::customer(&app).get("/v1/orders").status(), 200);
}
