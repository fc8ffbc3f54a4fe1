//! A provider per region, through the real components: an order with one
//! item in lj-1 (our own provisioning API) and one in hetzner-fsn1 (Hetzner
//! Cloud's API v1) is fulfilled with each item created at its own
//! provider's simulator exactly once, and its access details (the Hetzner
//! server's address and a freshly reset root password) reach the e-mail and
//! no API response; a Hetzner item whose creation fails is rolled back (its
//! server deleted) and refunded while the lj-1 item stays; what Hetzner
//! cannot provide is refused at validation with problem+json; with
//! `email_provider = resend` the access details go through Resend's API,
//! one e-mail per item under its idempotency key. The crash test
//! (crash.rs) runs the same mixed order through a crash after every
//! commit.

use std::time::Duration;

use e2e::sims::Sims;
use e2e::App;
use serde_json::{json, Value};

use crate::api::{id, json_of, with_simulators, Caller, BUYER};

const SECRET: &str = "whsec_providers_padded_to_32_bytes_or_more";

/// A VPS in `region`.
pub fn vps_in(region: &str, plan: &str) -> Value {
    json!({"product":"vps","billing_cycle":"monthly","config":{"region":region,"plan":plan,"os_image":"debian-12"}})
}

struct World {
    sims: Sims,
    app: App,
}

impl World {
    fn start() -> World {
        World::start_with(|b| b)
    }

    fn start_with(change: impl FnOnce(e2e::AppBuilder) -> e2e::AppBuilder) -> World {
        let sims = Sims::spawn(None, SECRET);
        let app = change(with_simulators(&sims, SECRET)).spawn();
        sims.set_webhook(&app.url("/v1/webhooks/payments/stripe"), SECRET);
        World { sims, app }
    }

    fn order(&self, order_id: &str) -> Value {
        json_of(Caller::operator(&self.app).get(&format!("/v1/orders/{order_id}")))
    }

    /// Waits until the order is in `state` with every item settled.
    fn settled(&self, order_id: &str, state: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let order = self.order(order_id);
            let items_settled = order["items"].as_array().is_some_and(|items| {
                items
                    .iter()
                    .all(|i| i["state"] == "delivered" || i["state"] == "rolled_back")
            });
            let refunds_done = order["refunds"]
                .as_array()
                .is_none_or(|r| r.iter().all(|r| r["state"] == "refunded"));
            if order["state"] == state && items_settled && refunds_done {
                return order;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "order never reached {state} with settled items:\n{order:#}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn pay(&self, order: &Value) {
        let intent = order["payment_intent"].as_str().expect("payment intent");
        self.sims.succeed(intent, json!({}));
    }
}

fn item_ids(order: &Value) -> Vec<String> {
    order["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn an_order_across_lj_1_and_hetzner_fsn1_is_fulfilled_with_each_item_at_its_own_provider_once() {
    let w = World::start();
    let customer = Caller::customer(&w.app);
    let order = customer.submitted(
        json!([vps_in("lj-1", "core"), vps_in("hetzner-fsn1", "business")]),
        Duration::from_secs(20),
    );
    let ids = item_ids(&order);
    w.pay(&order);
    let done = w.settled(&id(&order), "fulfilled");
    assert!(done["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["state"] == "delivered"));

    // lj-1 at our own API, once; nothing else there.
    let resources = w.sims.resources();
    assert_eq!(resources.len(), 1, "{resources:?}");
    assert_eq!(resources[0]["reference"], ids[0].as_str());
    assert_eq!(resources[0]["region"], "lj-1");
    // hetzner-fsn1 at Hetzner, once, as the product maps.
    let servers = w.sims.hetzner_servers();
    assert_eq!(servers["live"], 1, "{servers}");
    assert_eq!(servers["by_item"][&ids[1]]["creates"], 1, "{servers}");
    let server = &servers["data"][0];
    assert_eq!(server["labels"]["orderflow-item"], ids[1].as_str());
    assert_eq!(server["server_type"], "cpx31");
    assert_eq!(server["location"], "fsn1");
    assert_eq!(server["image"], "debian-12");

    // Each item's access details went by e-mail to the order's address:
    // the Hetzner server's address and its current root password.
    let messages = w.sims.messages();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages.iter().all(|m| m["to"] == BUYER));
    let password = server["root_password"].as_str().unwrap();
    let hetzner_mail = messages
        .iter()
        .find(|m| m["text"].as_str().is_some_and(|t| t.contains(&ids[1])))
        .expect("an e-mail for the Hetzner item");
    let text = hetzner_mail["text"].as_str().unwrap();
    assert!(text.contains(password), "{text}");
    assert!(text.contains(server["ipv4"].as_str().unwrap()), "{text}");
    // No API response carries it.
    let body = customer.get(&format!("/v1/orders/{}", id(&order))).text().unwrap();
    assert!(!body.contains(password), "the API leaked the Hetzner root password");
}

#[test]
fn a_failing_hetzner_item_is_rolled_back_and_refunded_while_the_lj_1_item_stays() {
    let w = World::start();
    let order = Caller::customer(&w.app).submitted(
        json!([vps_in("lj-1", "business"), vps_in("hetzner-fsn1", "core")]),
        Duration::from_secs(20),
    );
    let ids = item_ids(&order);
    w.sims.set_hetzner_faults(json!({ "action_error_for": [ids[1]] }));
    w.pay(&order);
    let done = w.settled(&id(&order), "partially_fulfilled");
    let states: Vec<&str> = done["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["delivered", "rolled_back"]);

    // The failed server was created once and deleted by the compensation.
    let servers = w.sims.hetzner_servers();
    assert_eq!(
        servers["by_item"][&ids[1]],
        json!({"creates": 1, "deletes": 1}),
        "{servers}"
    );
    assert_eq!(servers["live"], 0, "{servers}");
    // The lj-1 item stays running at our own API.
    let resources = w.sims.resources();
    assert_eq!(resources.len(), 1, "{resources:?}");
    assert_eq!(resources[0]["status"], "ready");
    // The Hetzner item's price went back at the payment provider, once.
    let refunds = w.sims.refunds();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    let refunded = done["refunds"].as_array().unwrap();
    assert_eq!(refunded.len(), 1, "{done:#}");
    assert_eq!(refunded[0]["item_id"], ids[1].as_str());
    assert_eq!(refunded[0]["amount"], done["items"][1]["price"]["period_total"]);
    assert_eq!(w.sims.messages().len(), 1, "only the lj-1 item is delivered");
}

#[test]
fn what_hetzner_cloud_cannot_provide_is_refused_at_validation_and_nothing_is_written() {
    let w = World::start();
    let customer = Caller::customer(&w.app);
    let gpu = json!({"product":"gpu","billing_cycle":"monthly",
        "config":{"region":"hetzner-fsn1","gpu":"H100","nodes":1,"storage_gb":100,"framework":"pytorch"}});
    let r = customer.write(
        "POST",
        "/v1/orders",
        &json!({"items": [vps_in("lj-1", "core"), gpu, vps_in("hetzner-fsn1", "enterprise")], "delivery_email": BUYER}),
        None,
    );
    assert_eq!(r.status(), 422);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let problem: Value = r.json().unwrap();
    let text = problem.to_string();
    assert!(text.contains("/items/1/config/region"), "{problem:#}");
    assert!(text.contains("/items/2/config/plan"), "{problem:#}");
    assert!(text.contains("region_availability"), "{problem:#}");
    let orders = json_of(customer.get("/v1/orders"));
    assert_eq!(orders["items"].as_array().map(Vec::len), Some(0));
    assert_eq!(w.sims.hetzner_servers()["data"], json!([]));
}

#[test]
fn with_resend_configured_each_item_is_delivered_once_through_resends_api() {
    let w = World::start_with(|b| {
        b.env("SPIN_VARIABLE_EMAIL_PROVIDER", "resend")
            .env("SPIN_VARIABLE_EMAIL_API_KEY", "re_e2e_key")
            .env("SPIN_VARIABLE_EMAIL_FROM", "Orderflow <access@orderflow.example>")
    });
    let order = Caller::customer(&w.app).submitted(
        json!([vps_in("lj-1", "core"), vps_in("hetzner-fsn1", "core")]),
        Duration::from_secs(20),
    );
    w.pay(&order);
    w.settled(&id(&order), "fulfilled");
    let messages = w.sims.messages();
    assert_eq!(messages.len(), 2, "{messages:?}");
    for m in &messages {
        assert_eq!(m["api"], "resend", "sent through Resend's API: {m}");
        assert_eq!(m["to"], BUYER);
        assert_eq!(m["from"], "Orderflow <access@orderflow.example>");
        assert!(
            m["idempotency_key"].as_str().is_some_and(|k| k.starts_with("deliver-")),
            "{m}"
        );
    }
    assert_ne!(messages[0]["idempotency_key"], messages[1]["idempotency_key"]);
}
