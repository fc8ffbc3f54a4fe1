#![allow(clippy::float_arithmetic)] // figures for people to read, not money
//! Benchmark: the time from the payment webhook to `fulfilled` for a
//! three-item order, with simulated providers that answer at once, beside a
//! baseline measured in the same run: one round trip to a component that
//! does nothing but answer (`GET /v1/openapi.json`). Prints figures; asserts
//! nothing. Run with `cargo bench -p e2e --bench lifecycle`.

use std::time::{Duration, Instant};

use e2e::sims::Sims;
use e2e::App;
use orderflow_http::Role;
use serde_json::{json, Value};

const ORDERS: usize = 40;
const BASELINE_REQUESTS: usize = 400;
const SECRET: &str = "whsec_bench_padded_to_32_bytes_or_more";

fn token(tenant: &str, role: Role) -> String {
    e2e::dev::token(tenant, role)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn json_post(app: &App, path: &str, token: &str, body: &Value, if_match: Option<i64>) -> Value {
    let mut rb = app
        .client()
        .post(app.url(path))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .body(body.to_string());
    if let Some(v) = if_match {
        rb = rb.header("if-match", format!("\"{v}\""));
    }
    serde_json::from_str(&rb.send().expect("request").text().expect("body")).expect("json")
}

fn main() {
    let root = e2e::workspace_root();
    let packages = [
        "catalog",
        "orders",
        "pay",
        "retry",
        "validate",
        "provision-step",
        "deliver",
    ];
    let sims = Sims::spawn(None, SECRET);
    let app = App::builder(root.join("spin.toml"))
        .build_packages(&packages)
        .dev_secrets()
        .simulated_providers(&sims, SECRET)
        .env("SPIN_VARIABLE_PROVIDER_POLL_MS", "0")
        .spawn();
    sims.set_webhook(&app.url("/v1/webhooks/payments/stripe"), SECRET);
    let client = reqwest::blocking::Client::new();

    eprintln!("baseline: {BASELINE_REQUESTS} round trips to a component that only answers …");
    let mut baseline = Vec::with_capacity(BASELINE_REQUESTS);
    for _ in 0..BASELINE_REQUESTS {
        let t = Instant::now();
        let r = app.client().get(app.url("/v1/openapi.json")).send().expect("request");
        r.bytes().expect("body");
        baseline.push(t.elapsed());
    }
    baseline.sort();

    eprintln!("lifecycle: {ORDERS} three-item orders, webhook → fulfilled …");
    let items = json!([
        {"product":"vps","billing_cycle":"monthly","config":{"region":"lj-1","plan":"core","os_image":"debian-12"}},
        {"product":"managed_database","billing_cycle":"monthly","config":{"region":"lj-1","engine":"postgresql-16","plan":"starter","storage_gb":20,"high_availability":false}},
        {"product":"object_storage","billing_cycle":"monthly","config":{"region":"lj-1","tier":"standard","capacity_tb":1,"replication":"single_zone"}},
    ]);
    let mut lifecycle = Vec::with_capacity(ORDERS);
    for n in 0..ORDERS {
        // A tenant per order, so quotas never cut the run short.
        let customer = token(&format!("bench-{n}"), Role::Customer);
        let draft = json_post(
            &app,
            "/v1/orders",
            &customer,
            &json!({ "items": items, "delivery_email": "buyer@bench.example" }),
            None,
        );
        let id = draft["id"].as_str().expect("order id").to_owned();
        json_post(
            &app,
            &format!("/v1/orders/{id}/submit"),
            &customer,
            &json!({ "shown_total": draft["total"] }),
            Some(1),
        );
        let order: Value = serde_json::from_str(
            &app.client()
                .get(app.url(&format!("/v1/orders/{id}")))
                .bearer_auth(&customer)
                .send()
                .expect("get")
                .text()
                .expect("body"),
        )
        .expect("json");
        let intent = order["payment_intent"].as_str().expect("payment intent").to_owned();
        let started = Instant::now();
        client
            .post(format!("{}/_sim/payment_intents/{intent}/succeed", sims.payments))
            .json(&json!({}))
            .send()
            .expect("pay");
        loop {
            let o: Value = serde_json::from_str(
                &app.client()
                    .get(app.url(&format!("/v1/orders/{id}")))
                    .bearer_auth(&customer)
                    .send()
                    .expect("get")
                    .text()
                    .expect("body"),
            )
            .expect("json");
            if o["state"] == "fulfilled" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "order {n} did not reach fulfilled: {o}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        lifecycle.push(started.elapsed());
    }
    lifecycle.sort();

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (b50, l50) = (percentile(&baseline, 0.5), percentile(&lifecycle, 0.5));
    println!("| measure | p50 | p95 | p99 |");
    println!("|---|---|---|---|");
    for (name, xs) in [
        ("baseline: one no-op component round trip", &baseline),
        ("webhook → fulfilled, 3 items", &lifecycle),
    ] {
        println!(
            "| {name} | {:.2} ms | {:.2} ms | {:.2} ms |",
            ms(percentile(xs, 0.5)),
            ms(percentile(xs, 0.95)),
            ms(percentile(xs, 0.99))
        );
    }
    println!(
        "webhook → fulfilled p50 = {:.1} × the no-op round trip p50",
        l50.as_secs_f64() / b50.as_secs_f64()
    );
}
