//! Delivery to the customer (issue 16), through the real components and
//! the simulated providers, on SQLite and on PostgreSQL (as the application
//! role, under row-level security): access details reach the order's own
//! address and no other, re-deliveries too; the tenant's default applies
//! only to orders that name no address, and only when they are created;
//! changing an order's address is an audited write under `If-Match`; bad
//! addresses and keys are refused with a problem document and change
//! nothing; with a registered age key the access details arrive encrypted
//! to it, and its identity opens them.

use std::io::Read;
use std::time::Duration;

use e2e::pg_cluster::TestDatabase;
use e2e::sims::Sims;
use e2e::{eventually, App};
use orderflow_http::Role;
use serde_json::{json, Value};

use crate::api::{id, item_ids, json_of, on_simulators, outbox_types_of, version, vps, Caller};

const SECRET: &str = "whsec_e2e_delivery_padded_to_32_bytes";

/// The app on the simulators, on SQLite (`db` is `None`) or on a fresh
/// PostgreSQL database.
struct World {
    sims: Sims,
    app: App,
    db: Option<TestDatabase>,
}

impl World {
    fn start(postgres: bool, hint: &str) -> World {
        let (db, sims, app) = on_simulators(postgres.then_some(hint), SECRET, |b| b);
        World { sims, app, db }
    }

    fn customer(&self) -> Caller<'_> {
        Caller::customer(&self.app)
    }

    fn operator(&self) -> Caller<'_> {
        Caller::operator(&self.app)
    }

    /// An operator replaces the tenant's delivery settings.
    fn set_tenant_delivery(&self, settings: Value) -> Value {
        let r = self.operator().write("PUT", "/v1/tenant/delivery", &settings, None);
        let status = r.status();
        let body = json_of(r);
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Creates an order with `body`; 201 expected.
    fn create(&self, body: Value) -> Value {
        let r = self.customer().write("POST", "/v1/orders", &body, None);
        let status = r.status();
        let order = json_of(r);
        assert_eq!(status, 201, "{order}");
        order
    }

    /// Submits and pays `draft`, then waits until every item is delivered.
    fn fulfil(&self, draft: &Value) -> Value {
        let c = self.customer();
        let r = c.command(
            &id(draft),
            "submit",
            &json!({ "shown_total": draft["total"] }),
            version(draft),
        );
        assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
        let path = format!("/v1/orders/{}", id(draft));
        let intent = eventually("the payment intent", Duration::from_secs(30), || {
            json_of(c.get(&path))["payment_intent"].as_str().map(str::to_owned)
        });
        self.sims.succeed(&intent, json!({}));
        eventually("every item delivered", Duration::from_secs(60), || {
            let order = json_of(c.get(&path));
            let delivered = order["items"]
                .as_array()
                .is_some_and(|items| items.iter().all(|i| i["state"] == "delivered"));
            (order["state"] == "fulfilled" && delivered).then_some(order)
        })
    }

    /// The e-mails the simulator received about `order` (its id is in each).
    fn messages_about(&self, order: &Value) -> Vec<Value> {
        let id = id(order);
        self.sims
            .messages()
            .into_iter()
            .filter(|m| m["text"].as_str().is_some_and(|t| t.contains(&id)))
            .collect()
    }

    /// The outbox event types of `order_id`, read as an auditor would.
    fn outbox_types(&self, order_id: &str) -> Vec<String> {
        outbox_types_of(&self.app, self.db.as_ref(), order_id)
    }

    /// How many orders the tenant has (operators see cancelled ones too).
    fn order_count(&self) -> usize {
        let list = json_of(self.operator().get("/v1/orders?include_deleted=true&limit=100"));
        list["items"].as_array().map_or(0, Vec::len)
    }
}

fn recipients(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["to"].as_str().expect("a recipient").to_owned())
        .collect()
}

/// Asks for `item` of `order` to be delivered again; 202 expected.
fn redeliver(w: &World, order: &Value, item: &str) {
    let r = w.customer().write(
        "POST",
        &format!("/v1/orders/{}/items/{item}/redeliver", id(order)),
        &json!({}),
        None,
    );
    assert_eq!(r.status(), 202, "{}", r.text().unwrap_or_default());
}

/// Asserts `r` is a 422 problem document naming `pointer` and `rule`.
fn assert_field_problem(r: reqwest::blocking::Response, pointer: &str, rule: &str) -> Value {
    assert_eq!(r.status(), 422);
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("application/problem+json"), "{content_type}");
    let problem = json_of(r);
    let error = problem["errors"]
        .as_array()
        .and_then(|errors| errors.iter().find(|e| e["pointer"] == pointer))
        .unwrap_or_else(|| panic!("no error at {pointer}: {problem}"));
    assert_eq!(error["rule"], rule, "{problem}");
    assert!(!error["accepted"].is_null(), "says what is accepted: {problem}");
    problem
}

fn access_details_reach_the_orders_own_address_and_no_other_redelivery_too(postgres: bool) {
    let w = World::start(postgres, "delivery_own_address");
    // Given a tenant default, an order that names its own address and one that does not.
    w.set_tenant_delivery(json!({ "default_email": "ops@acme.example" }));
    let own = w.create(
        json!({ "items": [vps("core", "monthly"), vps("business", "monthly")], "delivery_email": "alice@example.com" }),
    );
    let defaulted = w.create(json!({ "items": [vps("core", "monthly")] }));
    assert_eq!(own["delivery_email_masked"], "a***@example.com");
    assert_eq!(defaulted["delivery_email_masked"], "o***@acme.example");

    // When both are paid and provisioned.
    let own = w.fulfil(&own);
    let defaulted = w.fulfil(&defaulted);

    // Then each item's e-mail went to its order's address, and to nothing else.
    assert_eq!(
        recipients(&w.messages_about(&own)),
        ["alice@example.com", "alice@example.com"]
    );
    assert_eq!(recipients(&w.messages_about(&defaulted)), ["ops@acme.example"]);
    assert_eq!(w.sims.messages().len(), 3, "{:?}", w.sims.messages());

    // A later default does not move an existing order's deliveries.
    w.set_tenant_delivery(json!({ "default_email": "new-ops@acme.example" }));
    redeliver(&w, &defaulted, &item_ids(&defaulted)[0]);
    eventually("the re-delivery", Duration::from_secs(30), || {
        (w.messages_about(&defaulted).len() == 2).then_some(())
    });
    assert_eq!(
        recipients(&w.messages_about(&defaulted)),
        ["ops@acme.example", "ops@acme.example"]
    );

    // After an audited change, re-deliveries go to the new address only.
    let own_now = json_of(w.customer().get(&format!("/v1/orders/{}", id(&own))));
    let r = w.customer().write(
        "PUT",
        &format!("/v1/orders/{}/delivery", id(&own)),
        &json!({ "email": "alice.new@example.org" }),
        Some(version(&own_now)),
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    redeliver(&w, &own, &item_ids(&own)[1]);
    eventually("the re-delivery to the new address", Duration::from_secs(30), || {
        (w.messages_about(&own).len() == 3).then_some(())
    });
    assert_eq!(
        recipients(&w.messages_about(&own)),
        ["alice@example.com", "alice@example.com", "alice.new@example.org"]
    );
    let all = recipients(&w.sims.messages());
    assert_eq!(all.len(), 5, "{all:?}");
    assert!(!all.iter().any(|to| to == "new-ops@acme.example"), "{all:?}");
    // The credentials are in the plain e-mails (no key registered).
    let secret = w.sims.resources()[0]["access"]["password"]
        .as_str()
        .expect("a password")
        .to_owned();
    assert!(w
        .sims
        .messages()
        .iter()
        .any(|m| m["text"].as_str().is_some_and(|t| t.contains(&secret))));
}

fn an_address_change_is_audited_a_stale_if_match_refused_and_bad_input_changes_nothing(postgres: bool) {
    let w = World::start(postgres, "delivery_if_match");
    let c = w.customer();

    // No address and no tenant default: a 422 that says what to do.
    let problem = assert_field_problem(
        c.write(
            "POST",
            "/v1/orders",
            &json!({ "items": [vps("core", "monthly")] }),
            None,
        ),
        "/delivery_email",
        "required",
    );
    assert!(problem.to_string().contains("/v1/tenant/delivery"), "{problem}");
    // Malformed addresses name the rule they break.
    for (address, rule) in [
        (json!("jane@localhost"), "email_domain"),
        (json!("jane"), "email"),
        (json!("ja ne@example.com"), "email_local_part"),
        (json!(42), "type"),
    ] {
        assert_field_problem(
            c.write(
                "POST",
                "/v1/orders",
                &json!({ "items": [vps("core", "monthly")], "delivery_email": address }),
                None,
            ),
            "/delivery_email",
            rule,
        );
    }
    // A bad item and a bad address are reported together.
    let problem = assert_field_problem(
        c.write(
            "POST",
            "/v1/orders",
            &json!({ "items": [vps("galactic", "monthly")], "delivery_email": "jane@" }),
            None,
        ),
        "/delivery_email",
        "email",
    );
    assert!(
        problem["errors"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["pointer"] == "/items/0/config/plan")),
        "{problem}"
    );
    assert_eq!(w.order_count(), 0, "a refused create wrote an order");

    // An order, its address changed under If-Match.
    let order = w.create(json!({ "items": [vps("core", "monthly")], "delivery_email": "jane@example.com" }));
    let path = format!("/v1/orders/{}/delivery", id(&order));
    let r = c.write(
        "PUT",
        &path,
        &json!({ "email": "kim@example.net" }),
        Some(version(&order)),
    );
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers().get("etag").and_then(|v| v.to_str().ok()),
        Some(format!("\"{}\"", version(&order) + 1).as_str())
    );
    let changed = json_of(r);
    assert_eq!(changed["delivery_email_masked"], "k***@example.net");
    assert!(
        !changed.to_string().contains("kim@"),
        "the full address is never returned: {changed}"
    );

    // Audited: who, what, the new address masked; and an event for the routing matrix.
    let audit = json_of(c.get(&format!("/v1/orders/{}/audit", id(&order))));
    let last = audit["items"]
        .as_array()
        .and_then(|a| a.last())
        .cloned()
        .expect("audit records");
    assert_eq!(last["command"], "change the delivery address of", "{audit}");
    assert_eq!(last["actor"], "customer");
    assert_eq!(last["order_version"], version(&order) + 1);
    assert_eq!(last["reason"], "delivery address set to k***@example.net");
    assert_eq!(
        w.outbox_types(&id(&order)).last().map(String::as_str),
        Some("order.delivery-address-changed")
    );

    // A stale If-Match is refused and changes nothing.
    let audit_len = audit["items"].as_array().map_or(0, Vec::len);
    let stale = c.write(
        "PUT",
        &path,
        &json!({ "email": "mallory@example.com" }),
        Some(version(&order)),
    );
    assert_eq!(stale.status(), 409);
    // So is a bad address at the current version, and a missing If-Match.
    assert_field_problem(
        c.write("PUT", &path, &json!({ "email": "mallory@" }), Some(version(&changed))),
        "/email",
        "email",
    );
    assert_eq!(
        c.write("PUT", &path, &json!({ "email": "mallory@example.com" }), None)
            .status(),
        428
    );
    let now = json_of(c.get(&format!("/v1/orders/{}", id(&order))));
    assert_eq!(now["version"], changed["version"]);
    assert_eq!(now["delivery_email_masked"], "k***@example.net");
    let audit = json_of(c.get(&format!("/v1/orders/{}/audit", id(&order))));
    assert_eq!(audit["items"].as_array().map_or(0, Vec::len), audit_len);

    // Tenant settings: operators only, validated.
    let settings = json!({ "default_email": "ops@acme.example" });
    assert_eq!(c.write("PUT", "/v1/tenant/delivery", &settings, None).status(), 403);
    let operator = w.operator();
    assert_field_problem(
        operator.write(
            "PUT",
            "/v1/tenant/delivery",
            &json!({ "default_email": "ops@@acme" }),
            None,
        ),
        "/default_email",
        "email",
    );
    assert_field_problem(
        operator.write(
            "PUT",
            "/v1/tenant/delivery",
            &json!({ "public_key": "age1notakey" }),
            None,
        ),
        "/public_key",
        "age_recipient",
    );
    assert_eq!(
        json_of(c.get("/v1/tenant/delivery")),
        json!({ "default_email": null, "public_key": null, "encrypted": false })
    );
    w.set_tenant_delivery(settings);
    // Customers read the default masked; operators in full.
    assert_eq!(
        json_of(c.get("/v1/tenant/delivery"))["default_email"],
        "o***@acme.example"
    );
    assert_eq!(
        json_of(operator.get("/v1/tenant/delivery"))["default_email"],
        "ops@acme.example"
    );
    let defaulted = w.create(json!({ "items": [vps("core", "monthly")] }));
    assert_eq!(defaulted["delivery_email_masked"], "o***@acme.example");
}

fn with_a_registered_key_the_access_details_arrive_encrypted_to_it(postgres: bool) {
    let w = World::start(postgres, "delivery_encrypted");
    let identity = age::x25519::Identity::generate();
    let public = identity.to_public().to_string();
    let settings = w.set_tenant_delivery(json!({ "default_email": "ops@acme.example", "public_key": public }));
    assert_eq!(settings["encrypted"], true);

    let order = w.fulfil(&w.create(json!({ "items": [vps("core", "monthly")] })));
    let messages = w.messages_about(&order);
    assert_eq!(recipients(&messages), ["ops@acme.example"]);
    let text = messages[0]["text"].as_str().expect("a text body");
    let secret = w.sims.resources()[0]["access"]["password"]
        .as_str()
        .expect("a password")
        .to_owned();
    assert!(
        !text.contains(&secret),
        "the access details travel in the clear: {text}"
    );
    let armor_at = text
        .find("-----BEGIN AGE ENCRYPTED FILE-----")
        .unwrap_or_else(|| panic!("no age armor in {text}"));

    // The tenant's identity opens it; the access details are inside.
    let open = |identity: &age::x25519::Identity| -> Option<String> {
        let reader = age::armor::ArmoredReader::new(&text.as_bytes()[armor_at..]);
        let decryptor = age::Decryptor::new(reader).ok()?;
        let mut plain = String::new();
        decryptor
            .decrypt(std::iter::once(identity as &dyn age::Identity))
            .ok()?
            .read_to_string(&mut plain)
            .ok()?;
        Some(plain)
    };
    let plain = open(&identity).expect("the registered identity decrypts the e-mail");
    assert!(plain.contains(&secret), "{plain}");
    assert!(plain.contains(&item_ids(&order)[0]), "{plain}");
    assert_eq!(
        open(&age::x25519::Identity::generate()),
        None,
        "another identity opens it"
    );
}

fn only_the_creator_or_an_operator_redirects_an_order_redeliveries_are_rate_limited_and_settings_changes_audited(
    postgres: bool,
) {
    let w = World::start(postgres, "delivery_privilege");
    let creator = w.customer();
    // Another customer of the same tenant (another subject), who can see the order.
    let other = Caller {
        app: &w.app,
        token: e2e::dev::token_with("mallory", "acme", Role::Customer, &[]),
    };
    let order = w.create(json!({ "items": [vps("core", "monthly")], "delivery_email": "jane@example.com" }));
    let path = format!("/v1/orders/{}/delivery", id(&order));
    assert_eq!(other.get(&format!("/v1/orders/{}", id(&order))).status(), 200);

    // The other customer may not redirect it, and nothing changes.
    let refused = other.write(
        "PUT",
        &path,
        &json!({ "email": "mallory@example.com" }),
        Some(version(&order)),
    );
    assert_eq!(refused.status(), 403, "{}", refused.text().unwrap_or_default());
    // If-Match: * names no version: refused where a version is required.
    let star = w
        .app
        .client()
        .put(w.app.url(&path))
        .bearer_auth(&creator.token)
        .header("content-type", "application/json")
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .header("if-match", "*")
        .body(json!({ "email": "kim@example.net" }).to_string())
        .send()
        .expect("request");
    assert_eq!(star.status(), 428);
    let now = json_of(creator.get(&format!("/v1/orders/{}", id(&order))));
    assert_eq!(now["version"], order["version"]);
    assert_eq!(now["delivery_email_masked"], "j***@example.com");
    // The creator and an operator may.
    let r = creator.write(
        "PUT",
        &path,
        &json!({ "email": "kim@example.net" }),
        Some(version(&order)),
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    let r = w.operator().write(
        "PUT",
        &path,
        &json!({ "email": "jane@example.com" }),
        Some(version(&order) + 1),
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());

    // A re-delivery, then another at once: 429 with Retry-After, nothing queued.
    let order = json_of(creator.get(&format!("/v1/orders/{}", id(&order))));
    let order = w.fulfil(&order);
    let item = &item_ids(&order)[0];
    redeliver(&w, &order, item);
    let again = w.customer().write(
        "POST",
        &format!("/v1/orders/{}/items/{item}/redeliver", id(&order)),
        &json!({}),
        None,
    );
    assert_eq!(again.status(), 429);
    let retry_after: u32 = again
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    eventually("the one re-delivery", Duration::from_secs(30), || {
        (w.messages_about(&order).len() == 2).then_some(())
    });

    // Tenant settings changes are audited: who, when, each field's old and new value.
    w.set_tenant_delivery(json!({ "default_email": "ops@acme.example" }));
    w.set_tenant_delivery(json!({ "default_email": "desk@acme.example" }));
    assert_eq!(creator.get("/v1/tenant/delivery/audit").status(), 403);
    let audit = json_of(w.operator().get("/v1/tenant/delivery/audit"));
    let entries = audit["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2, "{audit}");
    assert_eq!(entries[0]["actor"], "operator");
    assert_eq!(entries[0]["subject"], "acme-operator");
    assert_eq!(
        entries[1]["change"],
        json!({ "default_email": { "from": "ops@acme.example", "to": "desk@acme.example" } })
    );
}

macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(false) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(true) } )*
        }
    };
}

on_both_databases!(
    access_details_reach_the_orders_own_address_and_no_other_redelivery_too,
    an_address_change_is_audited_a_stale_if_match_refused_and_bad_input_changes_nothing,
    with_a_registered_key_the_access_details_arrive_encrypted_to_it,
    only_the_creator_or_an_operator_redirects_an_order_redeliveries_are_rate_limited_and_settings_changes_audited,
);
