//! Crash recovery: the runner aborts right after its Nth database commit
//! (`SPIN_LOCAL_CRASH_AFTER_COMMITS`), for every N through a whole order
//! lifecycle; restarted on the same database, the order still ends where it
//! should with exactly one resource, one payment intent and one e-mail per
//! item that runs, and exactly one refund per item that failed. Ticks are
//! driven by the test, not a timer, so each N crashes at the same point of
//! the same sequence. The order has one item in lj-1 (our own cloud API)
//! and one in hetzner-fsn1 (Hetzner Cloud's API, which has no idempotency
//! header: a server lost to a crash is found by its label). Two lifecycles:
//! every item succeeds; the Hetzner item fails for good (its server
//! deleted, the item rolled back and refunded while the lj-1 item is
//! delivered). The
//! refund is executed at the payment provider by the saga: it reaches the
//! provider exactly once, whatever commit the crash follows, and its
//! webhooks delivered again change nothing.

use std::time::{Duration, Instant};

use e2e::sims::Sims;
use e2e::App;
use orderflow_http::Role;
use serde_json::{json, Value};

use crate::api::{manifest, token, uuid_key, Caller, BUYER, PACKAGES};
use crate::providers::vps_in;

/// How long a log line may lag behind the event it reports.
const LOG_WAIT: Duration = Duration::from_secs(10);

const SECRET: &str = "whsec_crash_padded_to_32_bytes_or_more";

/// Pause between a client's polls of a deadline-bounded wait.
const PACE: Duration = Duration::from_millis(25);

fn builder(sims: &Sims) -> e2e::AppBuilder {
    App::builder(manifest())
        .build_packages(PACKAGES)
        .dev_secrets()
        .simulated_providers(sims, SECRET)
        .env("SPIN_VARIABLE_PROVIDER_POLL_MS", "0")
        .env("SPIN_VARIABLE_RETRY_DELAY_SCALE", "0.01")
        .env("SPIN_VARIABLE_JOB_LEASE_SECS", "1")
}

fn sim(url: &str, body: &Value) -> Option<Value> {
    let r = reqwest::blocking::Client::new().post(url).json(body).send().ok()?;
    serde_json::from_str(&r.text().ok()?).ok()
}

fn sim_get(url: &str) -> Value {
    let r = reqwest::blocking::get(url).expect("simulator reachable");
    serde_json::from_str(&r.text().unwrap_or_default()).unwrap_or(Value::Null)
}

fn list(v: &Value) -> Vec<Value> {
    v.as_array()
        .cloned()
        .or_else(|| {
            v.as_object()
                .and_then(|o| o.values().find_map(|x| x.as_array().cloned()))
        })
        .unwrap_or_default()
}

/// Drives one order from creation to fulfilment as a careful client would:
/// every write carries an idempotency key and is repeated until answered.
/// Returns `false` if the app died on the way.
struct Driver<'a> {
    app: &'a App,
    sims: &'a Sims,
    scenario: &'a Scenario,
    create_key: String,
    order: Option<Value>,
    /// Whether the scenario's provider fault is set (it survives restarts of the app).
    faulted: bool,
}

/// A lifecycle to crash through.
struct Scenario {
    /// The second (Hetzner) item's server fails to create, for good.
    second_item_fails: bool,
    /// Where the order must end.
    final_state: &'static str,
    /// Resources at our cloud API, servers left at Hetzner, e-mails and
    /// refunds it must end with.
    resources: usize,
    hetzner_live: usize,
    messages: usize,
    refunds: usize,
}

impl<'a> Driver<'a> {
    fn tick(&self) -> bool {
        let r = self
            .app
            .client()
            .post(self.app.url("/v1/internal/tick"))
            .bearer_auth(token("platform", Role::Service))
            .send();
        r.is_ok_and(|r| r.status().is_success())
    }

    fn order_now(&self, c: &Caller<'_>, id: &str) -> Option<Value> {
        let r = c.get_checked(&format!("/v1/orders/{id}"))?;
        Some(r)
    }

    /// Advances as far as it can; `Ok(true)` when the order ended where the
    /// scenario says, `Err(())` if the app died.
    fn run(&mut self) -> Result<bool, ()> {
        let c = Caller::customer(self.app);
        if self.order.is_none() {
            let body = json!({ "items": [vps_in("lj-1", "core"), vps_in("hetzner-fsn1", "business")], "delivery_email": BUYER });
            let r = c
                .try_write("POST", "/v1/orders", &body, None, &self.create_key)
                .ok_or(())?;
            match r.0 {
                201 => self.order = Some(r.1),
                // Claimed but not committed before a crash: the write did not
                // happen, so a new key is safe.
                409 => {
                    self.create_key = uuid_key();
                    return Ok(false);
                }
                other => panic!("create answered {other}: {}", r.1),
            }
        }
        let id = self
            .order
            .as_ref()
            .and_then(|o| o["id"].as_str())
            .unwrap_or_default()
            .to_owned();
        if self.scenario.second_item_fails && !self.faulted {
            let item = self
                .order
                .as_ref()
                .and_then(|o| o["items"][1]["id"].as_str())
                .unwrap_or_default()
                .to_owned();
            sim(
                &format!("{}/_sim/faults", self.sims.hetzner),
                &json!({ "action_error_for": [item] }),
            )
            .expect("set the Hetzner fault");
            self.faulted = true;
        }
        let order = self.order_now(&c, &id).ok_or(())?;
        match order["state"].as_str().unwrap_or_default() {
            "draft" => {
                let body = json!({ "shown_total": order["total"] });
                let v = order["version"].as_i64().unwrap_or(1);
                c.try_write("POST", &format!("/v1/orders/{id}/submit"), &body, Some(v), &uuid_key())
                    .ok_or(())?;
            }
            "pending_payment" => match order["payment_intent"].as_str() {
                None => {
                    if !self.tick() {
                        return Err(());
                    }
                }
                Some(intent) => {
                    let url = format!("{}/_sim/payment_intents/{intent}/succeed", self.sims.payments);
                    sim(&url, &json!({})).ok_or(())?;
                    if !self.tick() {
                        return Err(());
                    }
                }
            },
            state
                if state == self.scenario.final_state
                    && order["items"].as_array().is_some_and(|i| {
                        i.iter()
                            .all(|i| i["state"] == "delivered" || i["state"] == "rolled_back")
                    })
                    // Every refund executed and confirmed at the provider.
                    && order["refunds"].as_array().is_some_and(|r| {
                        r.len() == self.scenario.refunds && r.iter().all(|r| r["state"] == "refunded")
                    }) =>
            {
                return Ok(true)
            }
            _ => {
                if !self.tick() {
                    return Err(());
                }
            }
        }
        Ok(false)
    }
}

#[test]
fn a_crash_after_any_commit_loses_nothing_and_charges_or_provisions_nothing_twice() {
    crash_after_every_commit(&Scenario {
        second_item_fails: false,
        final_state: "fulfilled",
        resources: 1,
        hetzner_live: 1,
        messages: 2,
        refunds: 0,
    });
}

#[test]
fn a_crash_after_any_commit_of_a_rollback_refunds_the_failed_item_exactly_once() {
    crash_after_every_commit(&Scenario {
        second_item_fails: true,
        final_state: "partially_fulfilled",
        resources: 1,
        hetzner_live: 0,
        messages: 1,
        refunds: 1,
    });
}

fn crash_after_every_commit(scenario: &Scenario) {
    let mut n = 1;
    loop {
        let sims = Sims::spawn(None, SECRET);
        let mut app = builder(&sims)
            .env("SPIN_LOCAL_CRASH_AFTER_COMMITS", n.to_string())
            .spawn();
        sim(
            &format!("{}/_sim/config", sims.payments),
            &json!({"webhook_url": app.url("/v1/webhooks/payments/stripe"), "webhook_secret": SECRET}),
        )
        .expect("configure the payment simulator");
        let mut driver = Driver {
            app: &app,
            sims: &sims,
            scenario,
            create_key: uuid_key(),
            order: None,
            faulted: false,
        };
        let mut crashed = false;
        let mut finished = false;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match driver.run() {
                Ok(true) => {
                    finished = true;
                    break;
                }
                Ok(false) => std::thread::sleep(PACE),
                Err(()) => {
                    crashed = true;
                    break;
                }
            }
        }
        let (create_key, order, faulted) = (driver.create_key.clone(), driver.order.clone(), driver.faulted);
        if !crashed {
            assert!(finished, "commit #{n}: the lifecycle neither finished nor crashed");
            // A two-item lifecycle commits far more often than this; fewer
            // would mean the injection stopped counting.
            assert!(n > 15, "the lifecycle finished after only {n} commits");
            eprintln!("crash recovery held after each of the lifecycle's {} commits", n - 1);
            break;
        }
        assert!(
            app.logs().shows("crash injection", LOG_WAIT),
            "commit #{n}: the app died without the injected crash"
        );
        app.wait_for_exit(Duration::from_secs(10));
        app.restart_with(|b| b.env_remove("SPIN_LOCAL_CRASH_AFTER_COMMITS"));
        sim(
            &format!("{}/_sim/config", sims.payments),
            &json!({"webhook_url": app.url("/v1/webhooks/payments/stripe"), "webhook_secret": SECRET}),
        )
        .expect("configure the payment simulator");
        let mut driver = Driver {
            app: &app,
            sims: &sims,
            scenario,
            create_key,
            order,
            faulted,
        };
        // Jobs claimed before the crash are taken over once their one-second lease ends.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut done = false;
        while !done && Instant::now() < deadline {
            done = driver.run() == Ok(true);
            if !done {
                std::thread::sleep(PACE);
            }
        }
        assert!(
            done,
            "commit #{n}: after a restart the order did not reach {}",
            scenario.final_state
        );

        let resources = list(&sim_get(&format!("{}/_sim/resources", sims.cloud)));
        assert_eq!(
            resources.len(),
            scenario.resources,
            "commit #{n}: one resource per item that runs: {resources:?}"
        );
        // The Hetzner item's server was created once, whatever the crash.
        let servers = sim_get(&format!("{}/_sim/servers", sims.hetzner));
        let creates: Vec<u64> = servers["by_item"]
            .as_object()
            .map(|o| o.values().filter_map(|c| c["creates"].as_u64()).collect())
            .unwrap_or_default();
        assert_eq!(creates, [1], "commit #{n}: one Hetzner server for the item: {servers}");
        assert_eq!(
            servers["live"], scenario.hetzner_live,
            "commit #{n}: Hetzner servers left running: {servers}"
        );
        let intents = list(&sim_get(&format!("{}/_sim/payment_intents", sims.payments)));
        assert_eq!(intents.len(), 1, "commit #{n}: one payment intent: {intents:?}");
        let messages = list(&sim_get(&format!("{}/_sim/messages", sims.email)));
        assert_eq!(
            messages.len(),
            scenario.messages,
            "commit #{n}: one e-mail per item that runs: {messages:?}"
        );
        let c = Caller::customer(&app);
        let orders = c.get_checked("/v1/orders").expect("list");
        assert_eq!(
            orders["items"].as_array().map(Vec::len),
            Some(1),
            "commit #{n}: exactly one order"
        );
        let refunds = crate::api::outbox_types(&app, orders["items"][0]["id"].as_str().unwrap())
            .into_iter()
            .filter(|t| t == "billing.refund-requested")
            .count();
        assert_eq!(refunds, scenario.refunds, "commit #{n}: one refund per failed item");
        // Each refund reached the payment provider exactly once.
        let at_provider = list(&sim_get(&format!("{}/_sim/refunds", sims.payments)));
        assert_eq!(
            at_provider.len(),
            scenario.refunds,
            "commit #{n}: one refund per failed item at the provider: {at_provider:?}"
        );
        let order_id = orders["items"][0]["id"].as_str().unwrap_or_default().to_owned();
        let confirmed = crate::api::outbox_types(&app, &order_id)
            .into_iter()
            .filter(|t| t == "billing.refunded")
            .count();
        assert_eq!(confirmed, scenario.refunds, "commit #{n}: each refund confirmed once");
        // Its webhooks delivered again change nothing.
        if scenario.refunds > 0 && n % 8 == 1 {
            let events = list(&sim_get(&format!("{}/_sim/events", sims.payments)));
            for e in events
                .iter()
                .filter(|e| e["type"].as_str().is_some_and(|t| t.starts_with("refund.")))
            {
                let url = format!(
                    "{}/_sim/events/{}/redeliver",
                    sims.payments,
                    e["id"].as_str().unwrap_or_default()
                );
                sim(&url, &json!({ "deliveries": 2 })).expect("redeliver");
            }
            let again = list(&sim_get(&format!("{}/_sim/refunds", sims.payments)));
            assert_eq!(
                again.len(),
                scenario.refunds,
                "commit #{n}: replays refund nothing more"
            );
            let confirmed = crate::api::outbox_types(&app, &order_id)
                .into_iter()
                .filter(|t| t == "billing.refunded")
                .count();
            assert_eq!(confirmed, scenario.refunds, "commit #{n}: replays confirm nothing more");
        }
        n += 1;
    }
}
