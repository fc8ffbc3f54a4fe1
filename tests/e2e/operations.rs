//! Operations through the real components: the health route probes call,
//! the metrics operators scrape, and the JSON log line every request and
//! every saga step leaves — with no secret or credential in any of them.

use std::time::Duration;

use e2e::sims::Sims;
use e2e::{eventually, App};
use orderflow_http::Role;
use serde_json::{json, Value};

use crate::api::{id, json_of, vps, with_simulators, Caller};

const SECRET: &str = "whsec_e2e_operations_0123456789abcdef";

/// The components' JSON log lines (the runner's own lines are not JSON).
fn log_lines(app: &App) -> Vec<Value> {
    app.logs()
        .text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .filter(|v| v.get("component").is_some())
        .collect()
}

fn metrics(caller: &Caller<'_>) -> String {
    let response = caller.get("/v1/internal/metrics");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().expect("body")
}

/// The value of one sample line, e.g. `orderflow_orders{state="draft"}`.
fn sample(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .parse()
        .expect("a whole number")
}

#[test]
fn the_health_route_needs_no_credential_and_says_only_up() {
    let app = App::builder(crate::api::manifest())
        .build_packages(crate::api::PACKAGES)
        .dev_secrets()
        .spawn();
    let response = app.get("/healthz");
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response), json!({ "status": "ok" }));
}

#[test]
fn readiness_is_503_without_its_database_naming_no_cause_while_liveness_stays_200() {
    let password = "hunter2-operations";
    let app = App::builder(crate::api::manifest())
        .build_packages(crate::api::PACKAGES)
        .dev_secrets()
        // A PostgreSQL that is not there (a closed loopback port).
        .env(
            "SPIN_VARIABLE_DATABASE_URL",
            format!("postgres://orderflow_api:{password}@127.0.0.1:9/orderflow"),
        )
        .spawn();
    // Liveness checks the process only: a database outage restarts nothing.
    let live = app.get("/livez");
    assert_eq!(live.status(), 200);
    assert_eq!(json_of(live), json!({ "status": "alive" }));
    // Readiness checks the database and the schema.
    let response = app.get("/healthz");
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body = response.text().expect("body");
    for leak in [password, "127.0.0.1", "postgres", "orderflow_api"] {
        assert!(!body.contains(leak), "the 503 names {leak}: {body}");
    }
    assert!(!app.logs().text().contains(password), "the password reached a log");
    let line = eventually("the 503's log line", Duration::from_secs(10), || {
        log_lines(&app).into_iter().find(|l| l["route"] == "/healthz")
    });
    assert_eq!(
        (line["status"].as_u64(), line["level"].as_str()),
        (Some(503), Some("error"))
    );
}

#[test]
fn metrics_are_for_the_service_role_only_and_count_every_tenants_orders() {
    let app = App::builder(crate::api::manifest())
        .build_packages(crate::api::PACKAGES)
        .dev_secrets()
        .spawn();
    let acme = Caller::customer(&app);
    let globex = Caller::new(&app, "globex", Role::Customer);
    acme.create(json!([vps("core", "monthly")]));
    acme.create(json!([vps("business", "annual")]));
    let cancelled = globex.create(json!([vps("core", "monthly")]));
    let r = globex.command(&id(&cancelled), "cancel", &json!({}), 1);
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());

    assert_eq!(
        acme.get("/v1/internal/metrics").status(),
        403,
        "customers may not scrape"
    );
    assert_eq!(app.get("/v1/internal/metrics").status(), 401);
    // The figures are platform-wide: no tenant's operator may read them.
    assert_eq!(Caller::operator(&app).get("/v1/internal/metrics").status(), 403);

    let text = metrics(&Caller::new(&app, "platform", Role::Service));
    assert_eq!(sample(&text, "orderflow_orders{state=\"draft\"}"), 2);
    assert_eq!(
        sample(&text, "orderflow_orders{state=\"cancelled\"}"),
        1,
        "globex's too: the scraper sees every tenant"
    );
    assert_eq!(sample(&text, "orderflow_orders{state=\"fulfilled\"}"), 0);
    assert_eq!(text.matches("orderflow_orders{").count(), 9, "every state is listed");
    assert_eq!(sample(&text, "orderflow_orders_needing_operator"), 0);
    assert!(
        sample(&text, "orderflow_outbox_backlog") >= 4,
        "three creations and a cancellation:\n{text}"
    );
    assert_eq!(sample(&text, "orderflow_saga_jobs{state=\"due\"}"), 0);
    assert_eq!(sample(&text, "orderflow_saga_oldest_due_job_age_seconds"), 0);
}

#[test]
fn a_fulfilled_order_leaves_a_log_line_per_request_and_step_tied_by_one_correlation_id_and_no_secret() {
    let sims = Sims::spawn(None, SECRET);
    let app = with_simulators(&sims, SECRET).spawn();
    sims.set_webhook(&app.url("/v1/webhooks/payments/stripe"), SECRET);
    let customer = Caller::customer(&app);
    let order = customer.submitted(
        json!([vps("core", "monthly"), vps("business", "monthly")]),
        Duration::from_secs(20),
    );
    let order_id = id(&order);
    sims.succeed(order["payment_intent"].as_str().expect("intent"), json!({}));
    eventually("the order is fulfilled", Duration::from_secs(60), || {
        let now = json_of(customer.get(&format!("/v1/orders/{order_id}")));
        (now["state"] == "fulfilled").then_some(())
    });
    // A chain's first request writes its line when the chain is done.
    let lines = eventually(
        "every step's line is written, and its chain's",
        Duration::from_secs(10),
        || {
            let lines = log_lines(&app);
            let delivered = lines
                .iter()
                .filter(|l| l["step"] == "deliver" && l["outcome"] == "succeeded")
                .count();
            let chains_done = lines
                .iter()
                .filter(|l| l["step"].is_string())
                .all(|step| lines.iter().any(|l| began(l, step)));
            (delivered == 2 && chains_done).then_some(lines)
        },
    );

    // Every line has the fields, with a known level and a route template.
    for line in &lines {
        for field in [
            "ts",
            "level",
            "component",
            "method",
            "status",
            "duration_us",
            "correlation_id",
        ] {
            assert!(!line[field].is_null(), "no {field} in {line}");
        }
        assert!(
            ["info", "warn", "error"].contains(&line["level"].as_str().unwrap_or_default()),
            "{line}"
        );
    }
    let create = lines
        .iter()
        .find(|l| l["component"] == "orders" && l["method"] == "POST" && l["route"] == "/v1/orders")
        .expect("the create's line");
    assert_eq!(
        (create["status"].as_u64(), create["tenant"].as_str()),
        (Some(201), Some("acme"))
    );
    let submit = lines
        .iter()
        .find(|l| l["route"] == "/v1/orders/:id/submit")
        .expect("the submit's line");
    assert_eq!(submit["order"], order_id.as_str());

    // Every step ran in a chain that an entry request began, and carries
    // that request's correlation id: the validation in the webhook's own
    // chain (it carries the saga on after answering) or in a scheduled
    // tick's, whichever claimed the job first; never an id of its own.
    let webhook = lines
        .iter()
        .find(|l| l["component"] == "pay" && l["route"] == "/v1/webhooks/payments/:provider")
        .expect("the webhook's line");
    let began_by = |step: &Value| {
        lines
            .iter()
            .find(|l| began(l, step))
            .unwrap_or_else(|| panic!("no request began the chain of {step}"))
    };
    let validation = lines
        .iter()
        .find(|l| l["step"] == "validate")
        .expect("the validation's line");
    let first = began_by(validation);
    assert!(
        first == webhook || first["route"] == "/v1/internal/tick",
        "the validation ran in the webhook's or a tick's chain: {first}"
    );
    for step in lines.iter().filter(|l| l["step"].is_string()) {
        assert_eq!(step["order"], order_id.as_str(), "{step}");
        assert_eq!(step["tenant"], "acme", "{step}");
        assert!(step["job"].is_string(), "{step}");
    }
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["step"] == "provision" && l["outcome"] == "succeeded")
            .count(),
        2
    );

    // No secret or credential in the runner's output: keys, tokens, the
    // webhook secret, the providers' keys, the delivered passwords.
    let passwords: Vec<String> = sims
        .resources()
        .iter()
        .filter_map(|r| r["access"]["password"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(passwords.len(), 2, "each resource has a password to look for");
    let logs = app.logs().text();
    let mut secrets = vec![
        customer.token.clone(),
        SECRET.to_owned(),
        "19707c46f7d93ec913e044c3c43cd34a5d379d49a82f5b258484b2f7d4e83f2e".to_owned(),
        "4f7e2c9a1b3d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7".to_owned(),
        "sk_test_local".to_owned(),
        "ck_local".to_owned(),
        "ek_local".to_owned(),
    ];
    secrets.extend(passwords);
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret reached the logs: {secret}");
    }
}

/// Whether `line` is the request that began the chain `step` ran in: an
/// entry request (not a step) of another component, with its correlation id.
fn began(line: &Value, step: &Value) -> bool {
    line["step"].is_null() && line["component"] != step["component"] && line["correlation_id"] == step["correlation_id"]
}
#[test]
fn on_postgres_health_and_metrics_cross_tenants_without_lifting_row_level_security() {
    use orderflow_store::{NativePg, Store};
    let db = e2e::pg_cluster::fresh_database("ops_metrics", |owner| {
        let store = Store::new(NativePg::connect(owner).expect("connect as the schema owner"));
        store.migrate(chrono::Utc::now()).expect("the owner applies the schema");
    });
    let app = App::builder(crate::api::manifest())
        .build_packages(crate::api::PACKAGES)
        .dev_secrets()
        .env("SPIN_VARIABLE_DATABASE_URL", &db.app_url)
        .spawn();
    assert_eq!(app.get("/healthz").status(), 200);

    let acme = Caller::customer(&app);
    let globex = Caller::new(&app, "globex", Role::Customer);
    acme.create(json!([vps("core", "monthly")]));
    let cancelled = globex.create(json!([vps("core", "monthly")]));
    let r = globex.command(&id(&cancelled), "cancel", &json!({}), 1);
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());

    // The scraper sees globex's order in the figures, and only as a count.
    let text = metrics(&Caller::new(&app, "platform", Role::Service));
    assert_eq!(sample(&text, "orderflow_orders{state=\"draft\"}"), 1);
    assert_eq!(sample(&text, "orderflow_orders{state=\"cancelled\"}"), 1);
    assert_eq!(
        sample(&text, "orderflow_outbox_backlog"),
        3,
        "two creations and a cancellation:\n{text}"
    );
    assert!(!text.contains(&id(&cancelled)), "no order id in the figures");
    // ... while acme's own reads still cannot see globex's order.
    assert_eq!(
        Caller::operator(&app)
            .get(&format!("/v1/orders/{}", id(&cancelled)))
            .status(),
        404
    );
}

/// `target/release/relay`, built once per test process.
fn relay_binary() -> std::path::PathBuf {
    static BIN: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let status = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--quiet", "-p", "relay"])
            .current_dir(e2e::workspace_root())
            .status()
            .expect("cargo build -p relay");
        assert!(status.success(), "cargo build -p relay failed");
        std::env::var_os("CARGO_TARGET_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| e2e::workspace_root().join("target"))
            .join("release")
            .join("relay")
    })
    .clone()
}

#[test]
fn the_cluster_scheduler_drives_the_tick_with_service_tokens_it_mints_itself() {
    // No --schedule: only `relay schedule` ticks this app.
    let app = App::builder(crate::api::manifest())
        .build_packages(crate::api::PACKAGES)
        .dev_secrets()
        .spawn();
    let mut scheduler = std::process::Command::new(relay_binary())
        .args([
            "schedule",
            "--app",
            &format!("http://{}", app.addr()),
            "--every",
            "100ms=/v1/internal/tick",
            "--kid",
            e2e::dev::SIGNING_KID,
            "--issuer",
            e2e::dev::AUTH_ISSUER,
        ])
        .env("ORDERFLOW_SCHEDULER_KEY", e2e::dev::SIGNING_KEY_PEM)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start relay schedule");
    let ticks = eventually("three ticks answered 200", Duration::from_secs(30), || {
        let ticks: Vec<Value> = log_lines(&app)
            .into_iter()
            .filter(|l| l["component"] == "retry" && l["route"] == "/v1/internal/tick")
            .collect();
        (ticks.len() >= 3).then_some(ticks)
    });
    let _ = scheduler.kill();
    let _ = scheduler.wait();
    for tick in &ticks {
        assert_eq!(tick["status"], 200, "the app accepted the scheduler's token: {tick}");
        assert_eq!(tick["tenant"], "platform", "{tick}");
    }
    let ids: std::collections::BTreeSet<&str> = ticks.iter().filter_map(|t| t["correlation_id"].as_str()).collect();
    assert_eq!(
        ids.len(),
        ticks.len(),
        "each tick has its own correlation id, sent by the scheduler"
    );
}
