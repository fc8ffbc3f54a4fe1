//! The whole app on PostgreSQL: the same `.wasm` components, served by
//! `spin-local` with `database_url` pointing at a fresh database of the
//! throwaway cluster, connected as the application's login role (a member of
//! `orderflow_app`: not the owner, no BYPASSRLS), so every request runs
//! under row-level security. The schema is applied by its owner first, as
//! in a deployment. Covers the order API (lifecycle, idempotent replay,
//! optimistic concurrency, tenant isolation) and the saga end to end with the
//! simulated providers, including the worker's cross-tenant lookups.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use chrono::Utc;
use e2e::pg_cluster::{self, TestDatabase};
use e2e::sims::Sims;
use e2e::{eventually, App};
use orderflow_http::Role;
use orderflow_store::{NativePg, Param, Store};
use serde_json::{json, Value};

use crate::api::{id, item_ids, json_of, version, vps, with_simulators, Caller, BUYER};

const SECRET: &str = "whsec_e2e_pg_padded_to_32_bytes_or_more";

/// A fresh PostgreSQL database, migrated by its owner; the simulators; and
/// the app on that database as the application role, ticking the saga
/// worker every 200 ms with the retry schedule shrunk twentyfold.
struct PgWorld {
    db: TestDatabase,
    sims: Sims,
    app: App,
}

impl PgWorld {
    fn start(hint: &str) -> PgWorld {
        let db = pg_cluster::fresh_database(hint, |owner| {
            let store = Store::new(NativePg::connect(owner).expect("connect as the schema owner"));
            store.migrate(Utc::now()).expect("the owner applies the schema");
        });
        let sims = Sims::spawn(None, SECRET);
        let app = with_simulators(&sims, SECRET)
            .env("SPIN_VARIABLE_DATABASE_URL", &db.app_url)
            .spawn();
        sims.set_webhook(&app.url("/v1/webhooks/payments/stripe"), SECRET);
        PgWorld { db, sims, app }
    }

    fn customer(&self) -> Caller<'_> {
        Caller::customer(&self.app)
    }

    fn operator(&self) -> Caller<'_> {
        Caller::operator(&self.app)
    }

    /// Runs `sql` as the cluster's superuser (an auditor's view: every tenant).
    fn inspect(&self, sql: &str, params: &[Param<'_>]) -> Vec<Vec<String>> {
        e2e::shared::rows_as_text(&self.db.superuser_url, sql, params)
    }

    /// Rows in `table`, all tenants.
    fn count(&self, table: &str) -> i64 {
        self.inspect(&format!("SELECT count(*) AS n FROM {table}"), &[])[0][0]
            .parse()
            .expect("a count")
    }

    /// Row counts of the tables a rejected request must not touch.
    fn counts(&self) -> [i64; 4] {
        ["orders", "order_items", "audit_log", "outbox"].map(|t| self.count(t))
    }

    /// The outbox event types written for `order_id`, in order.
    fn outbox_types(&self, order_id: &str) -> Vec<String> {
        self.inspect(
            "SELECT event_type FROM outbox WHERE message_key = $1 ORDER BY seq",
            &[order_id.into()],
        )
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
    }

    /// The refund requests written for `order_id`.
    fn refunds(&self, order_id: &str) -> Vec<Value> {
        self.inspect(
            "SELECT data FROM outbox WHERE message_key = $1 AND event_type = 'billing.refund-requested' ORDER BY seq",
            &[order_id.into()],
        )
        .into_iter()
        .map(|r| serde_json::from_str(&r[0]).expect("refund data is JSON"))
        .collect()
    }

    /// The order's saga jobs as text, for failure messages.
    fn jobs(&self, order_id: &str) -> String {
        self.inspect(
            "SELECT kind, coalesce(item_id, ''), state, attempts, coalesce(last_error, '') FROM saga_jobs
              WHERE order_id = $1 ORDER BY created_at, id",
            &[order_id.into()],
        )
        .into_iter()
        .map(|r| r.join(" "))
        .collect::<Vec<_>>()
        .join("\n")
    }

    /// Creates and submits an order; returns it once its payment intent exists.
    fn submitted(&self, items: Value) -> Value {
        self.customer().submitted(items, Duration::from_secs(30))
    }

    /// Waits until the order is in `state` with every item settled.
    fn settled(&self, order_id: &str, state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let order = json_of(self.operator().get(&format!("/v1/orders/{order_id}")));
            let items_settled = order["items"].as_array().is_some_and(|items| {
                items
                    .iter()
                    .all(|i| i["state"] == "delivered" || i["state"] == "rolled_back")
            });
            if order["state"] == state && items_settled {
                return order;
            }
            assert!(
                Instant::now() < deadline,
                "order never reached {state} with settled items:\n{order:#}\njobs:\n{}\nlogs:\n{}",
                self.jobs(order_id),
                self.app.logs().text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn three_items() -> Value {
    json!([
        vps("business", "monthly"),
        {"product":"managed_database","billing_cycle":"monthly","config":{"region":"lj-1","engine":"postgresql-16","plan":"starter","storage_gb":20,"high_availability":false}},
        {"product":"object_storage","billing_cycle":"monthly","config":{"region":"lj-1","tier":"standard","capacity_tb":1,"replication":"single_zone"}},
    ])
}

#[test]
fn on_postgres_an_order_is_created_edited_submitted_cancelled_and_restored() {
    let w = PgWorld::start("lifecycle");
    let (customer, operator) = (w.customer(), w.operator());
    let draft = customer.create(json!([vps("core", "monthly")]));
    let order_id = id(&draft);
    let path = format!("/v1/orders/{order_id}");

    let edited = customer.write(
        "PATCH",
        &path,
        &json!({"items":[vps("business", "monthly")]}),
        Some(version(&draft)),
    );
    assert_eq!(edited.status(), 200);
    let edited = json_of(edited);
    assert_eq!(
        (version(&edited), edited["total"]["amount"].as_str()),
        (2, Some("20.10"))
    );

    let submitted = customer.command(&order_id, "submit", &json!({ "shown_total": edited["total"] }), 2);
    assert_eq!(submitted.status(), 200);
    let submitted = json_of(submitted);
    assert_eq!(
        (submitted["state"].as_str(), version(&submitted)),
        (Some("pending_payment"), 3)
    );

    let cancelled = customer.command(&order_id, "cancel", &json!({"reason":"changed my mind"}), 3);
    assert_eq!(cancelled.status(), 200);
    let cancelled = json_of(cancelled);
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(
        customer.get(&path).status(),
        404,
        "a cancelled order is hidden from the customer"
    );

    let restored = operator.command(&order_id, "restore", &json!({}), version(&cancelled));
    assert_eq!(restored.status(), 200);
    assert!(json_of(restored)["deleted_at"].is_null());
    assert_eq!(customer.get(&path).status(), 200);

    let audit = json_of(customer.get(&format!("{path}/audit")));
    let commands: Vec<&str> = audit["items"]
        .as_array()
        .expect("audit items")
        .iter()
        .filter_map(|a| a["command"].as_str())
        .collect();
    assert_eq!(commands.first(), Some(&"create"));
    assert_eq!(commands.last(), Some(&"restore"));
    assert!(
        commands.contains(&"submit") && commands.contains(&"cancel"),
        "{commands:?}"
    );

    let events = w.outbox_types(&order_id);
    let position = |t: &str| {
        events
            .iter()
            .position(|e| e == t)
            .unwrap_or_else(|| panic!("no {t} in {events:?}"))
    };
    assert!(position("order.created") < position("order.updated"));
    assert!(position("order.updated") < position("order.submitted"));
    assert!(position("order.submitted") < position("order.cancelled"));
    assert!(position("order.cancelled") < position("order.restored"));
    // The rows are in PostgreSQL, and the app kept no SQLite database.
    assert_eq!(w.count("orders"), 1);
    assert!(!w.app.state_dir().join("sqlite_db.db").exists());
}

#[test]
fn on_postgres_the_same_key_and_body_replays_the_first_response_byte_for_byte() {
    let w = PgWorld::start("replay");
    let customer = w.customer();
    let body = json!({"items":[vps("enterprise","monthly")], "delivery_email": BUYER});
    let first = customer.write_keyed("POST", "/v1/orders", &body, None, "create-1");
    assert_eq!(first.status(), 201);
    let first_location = first.headers()["location"].clone();
    let first_bytes = first.bytes().expect("body");
    let after_first = w.counts();

    let again = customer.write_keyed("POST", "/v1/orders", &body, None, "create-1");
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["location"], first_location);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.bytes().expect("body"), first_bytes);
    assert_eq!(w.counts(), after_first);

    let other = customer.write_keyed(
        "POST",
        "/v1/orders",
        &json!({"items":[vps("core","monthly")]}),
        None,
        "create-1",
    );
    assert_eq!(other.status(), 422);
    assert_eq!(w.counts(), after_first);

    // Keys are per tenant: another tenant may use the same one.
    let globex = Caller::new(&w.app, "globex", Role::Customer);
    assert_eq!(
        globex
            .write_keyed("POST", "/v1/orders", &body, None, "create-1")
            .status(),
        201
    );
    assert_eq!(w.count("orders"), 2);
}

#[test]
fn on_postgres_twenty_parallel_edits_with_one_if_match_let_exactly_one_win() {
    let w = PgWorld::start("parallel_edits");
    let customer = w.customer();
    let draft = customer.create(json!([vps("core", "monthly")]));
    let path = format!("/v1/orders/{}", id(&draft));
    let barrier = Barrier::new(20);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let (barrier, customer, path) = (&barrier, &customer, &path);
                s.spawn(move || {
                    let plan = ["core", "business", "enterprise"][i % 3];
                    barrier.wait();
                    customer
                        .write("PATCH", path, &json!({"items":[vps(plan, "monthly")]}), Some(1))
                        .status()
                        .as_u16()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 409), "{statuses:?}");
    assert_eq!(version(&json_of(customer.get(&path))), 2);
    assert_eq!(w.outbox_types(&id(&draft)), ["order.created", "order.updated"]);
}

#[test]
fn on_postgres_another_tenants_order_is_not_found() {
    let w = PgWorld::start("cross_tenant");
    let acme = w.customer();
    let globex = Caller::new(&w.app, "globex", Role::Customer);
    let order = acme.create(json!([vps("core", "monthly")]));
    let before = w.counts();
    assert_eq!(globex.get(&format!("/v1/orders/{}", id(&order))).status(), 404);
    assert_eq!(globex.get(&format!("/v1/orders/{}/audit", id(&order))).status(), 404);
    assert_eq!(globex.command(&id(&order), "cancel", &json!({}), 1).status(), 404);
    assert_eq!(
        globex
            .write(
                "PATCH",
                &format!("/v1/orders/{}", id(&order)),
                &json!({"items":[vps("business", "monthly")]}),
                Some(1)
            )
            .status(),
        404
    );
    assert_eq!(json_of(globex.get("/v1/orders"))["items"], json!([]));
    assert_eq!(w.counts(), before);
    assert_eq!(acme.get(&format!("/v1/orders/{}", id(&order))).status(), 200);
}

#[test]
fn on_postgres_a_paid_order_is_provisioned_delivered_and_fulfilled_without_leaking_credentials() {
    let w = PgWorld::start("saga_happy");
    let order = w.submitted(three_items());
    let order_id = id(&order);
    let intent = order["payment_intent"].as_str().expect("payment intent").to_owned();
    let webhook = w.sims.succeed(&intent, json!({}));
    assert_eq!(webhook["statuses"][0], 200, "{webhook}");
    let done = w.settled(&order_id, "fulfilled");
    assert!(
        done["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["state"] == "delivered"),
        "{done}"
    );
    assert_eq!(done["payment"]["reference"], intent.as_str());

    let resources = w.sims.resources();
    assert_eq!(resources.len(), 3, "{resources:?}");
    let messages = w.sims.messages();
    assert_eq!(messages.len(), 3, "{messages:?}");

    let events = w.outbox_types(&order_id);
    let position = |t: &str| {
        events
            .iter()
            .position(|e| e == t)
            .unwrap_or_else(|| panic!("no {t} in {events:?}"))
    };
    assert!(position("order.submitted") < position("order.payment-confirmed"));
    assert!(position("order.payment-confirmed") < position("order.provisioning-started"));
    assert!(position("order.provisioning-started") < position("order.fulfilled"));
    assert_eq!(events.iter().filter(|e| *e == "order.service-delivered").count(), 3);
    assert!(!events.iter().any(|e| e == "billing.refund-requested"), "{events:?}");

    // Credentials are stored sealed in PostgreSQL, e-mailed, and never in a response.
    assert_eq!(w.count("credentials"), 3);
    let secrets: Vec<String> = resources
        .iter()
        .filter_map(|r| r["access"]["password"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(secrets.len(), 3, "{resources:?}");
    for secret in &secrets {
        assert!(messages
            .iter()
            .any(|m| m["text"].as_str().is_some_and(|t| t.contains(secret.as_str()))));
    }
    let (c, operator) = (w.customer(), w.operator());
    let bodies = [
        c.get(&format!("/v1/orders/{order_id}")).text().expect("body"),
        c.get("/v1/orders").text().expect("body"),
        c.get(&format!("/v1/orders/{order_id}/audit")).text().expect("body"),
        operator.get("/v1/orders?include_deleted=true").text().expect("body"),
        c.write(
            "POST",
            &format!("/v1/orders/{order_id}/items/{}/redeliver", item_ids(&done)[0]),
            &json!({}),
            None,
        )
        .text()
        .expect("body"),
    ];
    for body in &bodies {
        for secret in &secrets {
            assert!(
                !body.contains(secret.as_str()),
                "a response leaked a credential: {body}"
            );
        }
    }
    eventually("the re-delivery is sent", Duration::from_secs(30), || {
        (w.sims.messages().len() == 4).then_some(())
    });

    // The same webhook again is acknowledged and changes nothing.
    let replay = w.sims.succeed(&intent, json!({}));
    assert_eq!(replay["statuses"][0], 200, "{replay}");
    assert_eq!(
        w.outbox_types(&order_id)
            .iter()
            .filter(|e| *e == "order.payment-confirmed")
            .count(),
        1
    );
}

#[test]
fn on_postgres_an_item_that_fails_for_good_is_rolled_back_and_refunded_once_while_the_others_stay() {
    let w = PgWorld::start("saga_rollback");
    let order = w.submitted(three_items());
    let order_id = id(&order);
    let doomed = item_ids(&order)[2].clone();
    w.sims.set_cloud_faults(json!({ "fail_reference": doomed }));
    let intent = order["payment_intent"].as_str().expect("payment intent");
    w.sims.succeed(intent, json!({}));
    let done = w.settled(&order_id, "partially_fulfilled");
    let states: Vec<&str> = done["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["state"].as_str())
        .collect();
    assert_eq!(states, ["delivered", "delivered", "rolled_back"]);
    let refunds = w.refunds(&order_id);
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["item_id"], doomed.as_str());
    assert_eq!(refunds[0]["amount"], done["items"][2]["price"]["period_total"]);
    // The first call and five retries, then it was given up.
    let creates = w
        .sims
        .cloud_calls()
        .into_iter()
        .filter(|c| c["method"] == "POST" && c.to_string().contains(&doomed))
        .count();
    assert_eq!(creates, 6);
}
