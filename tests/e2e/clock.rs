//! The application's clock: the system clock in production, adjustable in
//! tests so that a month passes in a request.

use chrono::{Duration, Utc};
use e2e::App;
use serde_json::{json, Value};

use crate::api::{self, json_of, token, Caller};
use orderflow_http::Role;

#[test]
fn an_advanced_clock_dates_new_orders_in_every_component_but_tokens_stay_valid() {
    let app = App::builder(api::manifest())
        .build_packages(api::PACKAGES)
        .dev_secrets()
        .env("SPIN_VARIABLE_CLOCK", "adjustable")
        .spawn();

    let moved_to = app.advance_clock(40 * 86_400);
    let ahead = moved_to - Utc::now();
    assert!(ahead > Duration::days(39), "the app's clock is only {ahead} ahead");

    // A token minted now (valid for an hour of real time) is still accepted.
    let customer = Caller::customer(&app);
    let order = customer.create(json!([api::vps("core", "monthly")]));
    let created: chrono::DateTime<Utc> = order["created_at"].as_str().unwrap().parse().unwrap();
    assert!(
        (created - moved_to).num_seconds().abs() < 60,
        "order created at {created}, the app's clock said {moved_to}"
    );

    // The offset adds up and is shared by the next request.
    let later = app.advance_clock(86_400);
    assert!(later - moved_to >= Duration::days(1));
}

#[test]
fn the_system_clock_cannot_be_moved() {
    let app = api::spawn();
    let response = app
        .client()
        .post(app.url("/v1/internal/clock"))
        .bearer_auth(token("platform", Role::Service))
        .json(&json!({ "advance_secs": 60 }))
        .send()
        .unwrap();
    assert_eq!(response.status(), 404);
    let problem: Value = json_of(response);
    assert_eq!(problem["status"], 404);
}
