//! A fleet on one machine: three runner instances serve the app together,
//! on one PostgreSQL (as the application role, under row-level security)
//! and one Redis (the key-value store `default`, as Spin's runtime config
//! puts it on SpinKube), each ticking the saga worker. Orders and payment
//! webhooks go to the instances in turn; one instance is killed (SIGKILL)
//! while sagas run and started again. Every order ends fulfilled once, with
//! one resource, one charge and one e-mail per item, its events in order,
//! and the analytics cache shared by all instances.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use e2e::pg_cluster::TestDatabase;
use e2e::shared::{migrated_database, rows_as_text, SharedKeyValue};
use e2e::sims::Sims;
use e2e::App;
use serde_json::{json, Value};

use crate::api::{id, json_of, vps, with_simulators, Caller};

const SECRET: &str = "whsec_fleet_e2e_0123456789abcdef0123";

/// How many instances serve the app.
const INSTANCES: usize = 3;

/// Three instances on one database and one Redis, with the simulators.
struct Fleet {
    db: TestDatabase,
    _key_value: SharedKeyValue,
    sims: Sims,
    instances: Vec<App>,
}

impl Fleet {
    fn start() -> Fleet {
        let db = migrated_database("fleet");
        let key_value = SharedKeyValue::start();
        let runtime_config = key_value.runtime_config();
        let sims = Sims::spawn(None, SECRET);
        let instances = (0..INSTANCES)
            .map(|_| {
                with_simulators(&sims, SECRET)
                    .env("SPIN_VARIABLE_DATABASE_URL", &db.app_url)
                    .arg("--runtime-config-file", runtime_config.display().to_string())
                    .arg("--instances", INSTANCES.to_string())
                    .spawn()
            })
            .collect();
        Fleet {
            db,
            _key_value: key_value,
            sims,
            instances,
        }
    }

    /// Rows of `sql` as text, read by the cluster's superuser (every tenant).
    fn inspect(&self, sql: &str) -> Vec<Vec<String>> {
        rows_as_text(&self.db.superuser_url, sql, &[])
    }

    /// Waits until `order_id` is fulfilled with every item delivered,
    /// reading it from instance `via`.
    fn fulfilled(&self, order_id: &str, via: usize) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        let operator = Caller::operator(&self.instances[via]);
        loop {
            let order = operator
                .get_checked(&format!("/v1/orders/{order_id}"))
                .unwrap_or(Value::Null);
            let delivered = order["items"]
                .as_array()
                .is_some_and(|items| items.iter().all(|i| i["state"] == "delivered"));
            if order["state"] == "fulfilled" && delivered {
                return order;
            }
            assert!(
                Instant::now() < deadline,
                "order {order_id} never fulfilled:\n{order:#}\njobs:\n{:?}\nlogs of every instance:\n{}",
                self.inspect(&format!(
                    "SELECT kind, state, attempts, coalesce(last_error, '') FROM saga_jobs WHERE order_id = '{order_id}'"
                )),
                self.instances.iter().map(|a| a.logs().text()).collect::<Vec<_>>().join("\n----\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn two_items() -> Value {
    json!([vps("core", "monthly"), vps("business", "annual")])
}

#[test]
fn three_instances_on_one_database_fulfil_every_order_once_even_when_one_is_killed_mid_saga() {
    let mut fleet = Fleet::start();
    let orders = 6;
    // Each resource is ready only after ten polls (50 ms apart), so every
    // saga is still running half a second after its payment.
    fleet.sims.set_cloud_faults(json!({ "ready_after_polls": 10 }));

    // Orders are created and submitted on the instances in turn.
    let submitted: Vec<Value> = (0..orders)
        .map(|n| Caller::customer(&fleet.instances[n % INSTANCES]).submitted(two_items(), Duration::from_secs(60)))
        .collect();

    // The first half is paid, each webhook delivered to another instance...
    let pay = |fleet: &Fleet, n: usize, instance: usize| {
        let intent = submitted[n]["payment_intent"].as_str().expect("payment intent");
        fleet
            .sims
            .set_webhook(&fleet.instances[instance].url("/v1/webhooks/payments/stripe"), SECRET);
        let webhook = fleet.sims.succeed(intent, json!({}));
        assert_eq!(webhook["statuses"][0], 200, "{webhook}");
    };
    for n in 0..orders / 2 {
        pay(&fleet, n, n % INSTANCES);
    }
    // ...then the third instance dies (SIGKILL) while those sagas run, the
    // rest is paid through the two that live, and it comes back.
    let running = fleet.inspect(
        "SELECT count(*) FROM orders WHERE state IN ('payment_confirmed', 'validating', 'provisioning', 'partially_fulfilled')",
    );
    assert_ne!(running[0][0], "0", "no saga was running when the instance died");
    fleet.instances[2].kill();
    for n in orders / 2..orders {
        pay(&fleet, n, n % 2);
    }
    fleet.instances[2].restart();

    let done: Vec<Value> = (0..orders)
        .map(|n| fleet.fulfilled(&id(&submitted[n]), n % INSTANCES))
        .collect();
    let items: Vec<String> = done
        .iter()
        .flat_map(|o| {
            o["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| i["id"].as_str().expect("item id").to_owned())
        })
        .collect();
    assert_eq!(items.len(), orders * 2);

    // One resource per item: created once each at the cloud provider.
    let counts = fleet.sims.resource_counts();
    for item in &items {
        assert_eq!(counts[item]["creates"], 1, "item {item}: {counts:#}");
    }
    assert_eq!(fleet.sims.resources().len(), items.len());
    // One charge per order, one e-mail per item.
    let intents = fleet.sims.payment_intents();
    assert_eq!(intents.len(), orders, "{intents:#?}");
    assert!(intents.iter().all(|i| i["status"] == "succeeded"), "{intents:#?}");
    assert_eq!(fleet.sims.messages().len(), items.len());

    // Each order was fulfilled once, and its events are in the order of its versions.
    let fulfilled = fleet.inspect(
        "SELECT order_id, count(*) FROM audit_log WHERE to_state = 'fulfilled' AND from_state <> 'fulfilled' GROUP BY order_id",
    );
    assert_eq!(fulfilled.len(), orders, "{fulfilled:?}");
    assert!(fulfilled.iter().all(|r| r[1] == "1"), "{fulfilled:?}");
    let mut versions: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    // (A subscription's events carry the subscription's version, not the order's.)
    for r in fleet.inspect(
        "SELECT message_key, order_version FROM outbox WHERE event_type NOT LIKE 'subscription.%' ORDER BY seq",
    ) {
        versions
            .entry(r[0].clone())
            .or_default()
            .push(r[1].parse().expect("a version"));
    }
    for (order, v) in &versions {
        assert!(
            v.windows(2).all(|w| w[0] <= w[1]),
            "order {order}: events out of order {v:?}"
        );
    }
    for order in &done {
        let events = fleet.inspect(&format!(
            "SELECT count(*) FROM outbox WHERE message_key = '{}' AND event_type = 'order.fulfilled'",
            id(order)
        ));
        assert_eq!(events[0][0], "1", "order {}", id(order));
    }

    // The analytics cache is shared: computed on one instance, served from
    // the cache on the others.
    let first = json_of(Caller::customer(&fleet.instances[0]).get("/v1/analytics"));
    for instance in &fleet.instances[1..] {
        let again = json_of(Caller::customer(instance).get("/v1/analytics"));
        assert_eq!(again["cached"], true, "{again:#}");
        assert_eq!(again["computed_at"], first["computed_at"]);
    }
}
