//! The orders API through the real components: the draft → edit → submit
//! flow for every product, every kind of bad input, idempotency, optimistic
//! locking, tenant isolation, soft delete, and the audit and outbox rows.

use std::sync::Barrier;

use orderflow_http::Role;
use serde_json::{json, Value};

use crate::api::{counts, id, json_of, outbox_types, spawn, uuid_key, version, vps, Caller, BUYER};

fn amount(v: &Value) -> &str {
    v["amount"].as_str().expect("amount string")
}

#[test]
fn each_product_goes_from_draft_through_edit_to_submit_at_its_exact_price() {
    let app = spawn();
    let customer = Caller::customer(&app);
    let cases = [
        (vps("business", "annual"), "192.96"),
        (
            json!({"product":"kubernetes","billing_cycle":"monthly","config":{"region":"mb-1","workers":5,"storage_class":"ssd","storage_gb":200}}),
            "850.00",
        ),
        (
            json!({"product":"managed_database","billing_cycle":"monthly","config":{"region":"lj-1","engine":"postgresql-16","plan":"production","storage_gb":100,"high_availability":true}}),
            "265.00",
        ),
        (
            json!({"product":"gpu","billing_cycle":"monthly","config":{"region":"lj-1","gpu":"H100","nodes":2,"storage_gb":500,"framework":"pytorch"}}),
            "4900.00",
        ),
        (
            json!({"product":"private_cloud","billing_cycle":"annual","config":{"region":"mb-1","cluster_size":"medium","nodes":10,"storage_tb":50}}),
            "81600.00",
        ),
        (
            json!({"product":"object_storage","billing_cycle":"monthly","config":{"region":"lj-1","tier":"standard","capacity_tb":10,"replication":"multi_zone"}}),
            "200.00",
        ),
    ];
    for (item, price) in cases {
        // given a draft of something else
        let draft = customer.create(json!([vps("core", "monthly")]));
        assert_eq!(draft["state"], "draft");
        assert_eq!(amount(&draft["total"]), "10.00");

        // when it is edited to this product
        let r = customer.write(
            "PATCH",
            &format!("/v1/orders/{}", id(&draft)),
            &json!({ "items": [item] }),
            Some(version(&draft)),
        );
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["etag"], format!("\"{}\"", version(&draft) + 1));
        let edited = json_of(r);
        assert_eq!(amount(&edited["total"]), price, "{item}");
        assert_eq!(edited["items"][0]["price"]["period_total"]["amount"], price);

        // and submitted with a total 99 cents off
        let shown = format!("{:.2}", price.parse::<f64>().unwrap_or_default() + 0.99);
        let r = customer.command(
            &id(&edited),
            "submit",
            &json!({"shown_total":{"amount":shown,"currency":"EUR"}}),
            version(&edited),
        );
        assert_eq!(r.status(), 200);
        let submitted = json_of(r);

        // then it awaits payment at the server's price
        assert_eq!(submitted["state"], "pending_payment");
        assert_eq!(amount(&submitted["total"]), price);
        assert_eq!(
            outbox_types(&app, &id(&draft)),
            ["order.created", "order.updated", "order.submitted"]
        );
    }
}

#[test]
fn a_shown_total_more_than_a_euro_off_is_rejected_with_the_current_price() {
    let app = spawn();
    let customer = Caller::customer(&app);
    let draft = customer.create(json!([vps("business", "annual")]));
    let before = counts(&app);
    let r = customer.command(
        &id(&draft),
        "submit",
        &json!({"shown_total":{"amount":"193.97","currency":"EUR"}}),
        1,
    );
    assert_eq!(r.status(), 422);
    let problem = json_of(r);
    assert_eq!(problem["errors"][0]["pointer"], "/shown_total");
    assert_eq!(problem["errors"][0]["accepted"]["amount"], "192.96");
    assert_eq!(counts(&app), before);
}

/// Every bad request gets its status and a problem naming what is wrong, and changes nothing.
#[test]
fn bad_input_is_refused_with_a_problem_and_changes_nothing() {
    let app = spawn();
    let customer = Caller::customer(&app);
    let draft = customer.create(json!([vps("core", "monthly")]));
    let order = format!("/v1/orders/{}", id(&draft));
    let before = counts(&app);
    let client = app.client();
    let send = |rb: reqwest::blocking::RequestBuilder| rb.send().expect("request");

    let cases: Vec<(&str, reqwest::blocking::Response, u16, Option<&str>)> = vec![
        ("malformed JSON", send(client.post(app.url("/v1/orders")).bearer_auth(&customer.token)
            .header("content-type", "application/json").header("idempotency-key", uuid_key()).body("{\"items\": [")), 400, None),
        ("unknown top-level field", customer.write("POST", "/v1/orders", &json!({"items":[vps("core","monthly")],"coupon":"x"}), None), 422, Some("/coupon")),
        ("wrong type", customer.write("POST", "/v1/orders", &json!({"items":[{"product":"vps","billing_cycle":"monthly","config":{"region":"lj-1","plan":7,"os_image":"debian-12"}}]}), None), 422, Some("/items/0/config/plan")),
        ("out of range", customer.write("POST", "/v1/orders", &json!({"items":[{"product":"gpu","billing_cycle":"monthly","config":{"region":"lj-1","gpu":"A100","nodes":9,"storage_gb":100,"framework":"jax"}}]}), None), 422, Some("/items/0/config/nodes")),
        ("unknown product", customer.write("POST", "/v1/orders", &json!({"items":[{"product":"mainframe","billing_cycle":"monthly","config":{}}]}), None), 422, Some("/items/0/product")),
        ("unknown region", customer.write("POST", "/v1/orders", &json!({"items":[{"product":"vps","billing_cycle":"monthly","config":{"region":"us-east-1","plan":"core","os_image":"debian-12"}}]}), None), 422, Some("/items/0/config/region")),
        ("no items", customer.write("POST", "/v1/orders", &json!({"items":[]}), None), 422, Some("/items")),
        ("oversize body", send(client.post(app.url("/v1/orders")).bearer_auth(&customer.token)
            .header("content-type", "application/json").header("idempotency-key", uuid_key()).body(format!("{{\"items\":[],\"pad\":\"{}\"}}", "x".repeat(70_000)))), 413, None),
        ("not JSON", send(client.post(app.url("/v1/orders")).bearer_auth(&customer.token)
            .header("content-type", "text/plain").header("idempotency-key", uuid_key()).body("items")), 415, None),
        ("no credential", send(client.post(app.url("/v1/orders")).header("content-type", "application/json")
            .header("idempotency-key", uuid_key()).body(json!({"items":[vps("core","monthly")]}).to_string())), 401, None),
        ("forged credential", send(client.post(app.url("/v1/orders")).bearer_auth(format!("{}x", customer.token))
            .header("content-type", "application/json").header("idempotency-key", uuid_key()).body(json!({"items":[vps("core","monthly")]}).to_string())), 401, None),
        ("no idempotency key", send(client.post(app.url("/v1/orders")).bearer_auth(&customer.token)
            .header("content-type", "application/json").body(json!({"items":[vps("core","monthly")]}).to_string())), 400, None),
        ("unknown order", customer.get("/v1/orders/0190f5c4-7b1e-7cc0-9a7e-3c2b1f0e4d5a"), 404, None),
        ("malformed order id", customer.get("/v1/orders/not-a-uuid"), 404, None),
        ("restore by a customer", customer.command(&id(&draft), "restore", &json!({}), 1), 403, None),
        ("missing If-Match", customer.write("POST", &format!("{order}/cancel"), &json!({}), None), 428, None),
        ("stale If-Match", customer.write("POST", &format!("{order}/cancel"), &json!({}), Some(7)), 409, None),
        ("unknown route", customer.get("/v1/orders/x/y/z"), 404, None),
        ("wrong method", send(client.delete(app.url(&order)).bearer_auth(&customer.token)), 405, None),
    ];
    for (what, response, status, pointer) in cases {
        assert_eq!(response.status().as_u16(), status, "{what}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{what}");
        let problem = json_of(response);
        assert_eq!(problem["status"], status, "{what}");
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{what}: no detail"
        );
        if let Some(pointer) = pointer {
            let errors = problem["errors"]
                .as_array()
                .unwrap_or_else(|| panic!("{what}: no field errors in {problem}"));
            let e = errors
                .iter()
                .find(|e| e["pointer"] == pointer)
                .unwrap_or_else(|| panic!("{what}: no error at {pointer} in {problem}"));
            assert!(
                e["rule"].is_string() && !e["accepted"].is_null() || e["rule"] == "required",
                "{what}: {e}"
            );
        }
    }
    assert_eq!(counts(&app), before, "a rejected request changed the database");
}

#[test]
fn an_illegal_transition_is_a_409_naming_the_state_and_changes_nothing() {
    let app = spawn();
    let customer = Caller::customer(&app);
    let draft = customer.create(json!([vps("core", "monthly")]));
    let total = json!({"shown_total":{"amount":"10.00","currency":"EUR"}});
    let submitted = json_of(customer.command(&id(&draft), "submit", &total, 1));
    assert_eq!(submitted["state"], "pending_payment");
    let before = counts(&app);
    let r = customer.command(&id(&draft), "submit", &total, version(&submitted));
    assert_eq!(r.status(), 409);
    let problem = json_of(r);
    assert!(
        problem["detail"].as_str().unwrap().contains("pending_payment"),
        "{problem}"
    );
    assert_eq!(counts(&app), before);
}

#[test]
fn the_same_key_and_body_replays_the_first_response_byte_for_byte() {
    let app = spawn();
    let customer = Caller::customer(&app);
    let body = json!({"items":[vps("enterprise","monthly")], "delivery_email": BUYER});
    let first = customer.write_keyed("POST", "/v1/orders", &body, None, "create-1");
    assert_eq!(first.status(), 201);
    let first_location = first.headers()["location"].clone();
    let first_bytes = first.bytes().unwrap();
    let after_first = counts(&app);

    let again = customer.write_keyed("POST", "/v1/orders", &body, None, "create-1");
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["location"], first_location);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.bytes().unwrap(), first_bytes);
    assert_eq!(counts(&app), after_first);

    // The same key with another body is refused, and still changes nothing.
    let other = customer.write_keyed(
        "POST",
        "/v1/orders",
        &json!({"items":[vps("core","monthly")]}),
        None,
        "create-1",
    );
    assert_eq!(other.status(), 422);
    assert_eq!(counts(&app), after_first);

    // Keys are per tenant: another tenant may use the same one.
    let globex = Caller::new(&app, "globex", Role::Customer);
    assert_eq!(
        globex
            .write_keyed("POST", "/v1/orders", &body, None, "create-1")
            .status(),
        201
    );
}

#[test]
fn twenty_parallel_requests_with_one_key_create_exactly_one_order() {
    let app = spawn();
    let customer = Caller::customer(&app);
    let body = json!({"items":[vps("core","annual")], "delivery_email": BUYER});
    let barrier = Barrier::new(20);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    customer
                        .write_keyed("POST", "/v1/orders", &body, None, "one-key")
                        .status()
                        .as_u16()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
    assert!(statuses.contains(&201));
    assert_eq!(counts(&app).orders, 1, "{statuses:?}");
}

#[test]
fn twenty_parallel_edits_with_one_if_match_let_exactly_one_win() {
    let app = spawn();
    let customer = Caller::customer(&app);
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
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 409), "{statuses:?}");
    let order = json_of(customer.get(&path));
    assert_eq!(version(&order), 2);
    assert_eq!(outbox_types(&app, &id(&draft)), ["order.created", "order.updated"]);
}

#[test]
fn another_tenants_order_is_not_found() {
    let app = spawn();
    let acme = Caller::customer(&app);
    let globex = Caller::new(&app, "globex", Role::Customer);
    let order = acme.create(json!([vps("core", "monthly")]));
    let before = counts(&app);
    assert_eq!(globex.get(&format!("/v1/orders/{}", id(&order))).status(), 404);
    assert_eq!(globex.get(&format!("/v1/orders/{}/audit", id(&order))).status(), 404);
    assert_eq!(globex.command(&id(&order), "cancel", &json!({}), 1).status(), 404);
    let list = json_of(globex.get("/v1/orders"));
    assert_eq!(list["items"], json!([]));
    assert_eq!(counts(&app), before);
}

#[test]
fn a_cancelled_order_is_hidden_until_an_operator_restores_it() {
    let app = spawn();
    let customer = Caller::customer(&app);
    let operator = Caller::operator(&app);
    let order = customer.create(json!([vps("core", "monthly")]));
    let path = format!("/v1/orders/{}", id(&order));
    let cancelled = json_of(customer.command(&id(&order), "cancel", &json!({"reason":"test"}), 1));
    assert_eq!(cancelled["state"], "cancelled");
    assert!(cancelled["deleted_at"].is_string());

    assert_eq!(customer.get(&path).status(), 404);
    assert_eq!(json_of(customer.get("/v1/orders"))["items"], json!([]));
    assert_eq!(customer.get("/v1/orders?include_deleted=true").status(), 403);
    let hidden = json_of(operator.get("/v1/orders?include_deleted=true"));
    assert_eq!(hidden["items"][0]["id"], id(&order));

    assert_eq!(customer.command(&id(&order), "restore", &json!({}), 2).status(), 403);
    let restored = operator.command(&id(&order), "restore", &json!({}), 2);
    assert_eq!(restored.status(), 200);
    let restored = json_of(restored);
    assert_eq!(restored["state"], "cancelled");
    assert!(restored["deleted_at"].is_null());
    assert_eq!(customer.get(&path).status(), 200);

    let audit = json_of(customer.get(&format!("{path}/audit")));
    let trail: Vec<(Value, Value, Value)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["command"].clone(), a["to"].clone(), a["actor"].clone()))
        .collect();
    assert_eq!(
        trail,
        [
            (json!("create"), json!("draft"), json!("customer")),
            (json!("cancel"), json!("cancelled"), json!("customer")),
            (json!("restore"), json!("cancelled"), json!("operator")),
        ]
    );
    assert_eq!(
        outbox_types(&app, &id(&order)),
        ["order.created", "order.cancelled", "order.restored"]
    );
}

#[test]
fn the_list_is_newest_first_filtered_by_status_and_paged_by_cursor() {
    let app = spawn();
    let customer = Caller::customer(&app);
    let ids: Vec<String> = (0..5)
        .map(|_| id(&customer.create(json!([vps("core", "monthly")]))))
        .collect();
    let submitted = &ids[1];
    customer.command(
        submitted,
        "submit",
        &json!({"shown_total":{"amount":"10.00","currency":"EUR"}}),
        1,
    );

    let page1 = json_of(customer.get("/v1/orders?limit=2"));
    let got: Vec<&str> = page1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[4].as_str(), ids[3].as_str()]);
    let cursor = page1["next_cursor"].as_str().expect("a next page");
    let page2 = json_of(customer.get(&format!("/v1/orders?limit=2&cursor={cursor}")));
    let got: Vec<&str> = page2["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[2].as_str(), ids[1].as_str()]);

    let pending = json_of(customer.get("/v1/orders?status=pending_payment"));
    assert_eq!(pending["items"].as_array().unwrap().len(), 1);
    assert_eq!(pending["items"][0]["id"], submitted.as_str());

    assert_eq!(customer.get("/v1/orders?status=paid").status(), 400);
    assert_eq!(customer.get("/v1/orders?limit=101").status(), 400);
    assert_eq!(customer.get("/v1/orders?cursor=forged").status(), 400);
    assert_eq!(customer.get("/v1/orders?colour=red").status(), 400);
}

#[test]
fn quotes_price_without_creating_anything_and_the_catalog_and_openapi_are_served() {
    let app = spawn();
    let customer = Caller::customer(&app);
    let r = customer.write(
        "POST",
        "/v1/quotes",
        &json!({"items":[vps("business","annual"), vps("core","monthly")]}),
        None,
    );
    assert_eq!(r.status(), 200);
    let quote = json_of(r);
    assert_eq!(quote["total"]["amount"], "202.96");
    assert_eq!(counts(&app).orders, 0);

    let products = json_of(customer.get("/v1/products"));
    assert_eq!(products["products"].as_array().unwrap().len(), 6);
    assert_eq!(app.get("/v1/products").status(), 401);

    let doc = json_of(app.get("/v1/openapi.json"));
    assert_eq!(doc["openapi"], "3.1.0");
}

#[test]
fn no_order_exceeds_the_tenant_quota() {
    let app = spawn();
    let customer = Caller::customer(&app);
    let gpu = |nodes: u32| json!({"product":"gpu","billing_cycle":"monthly","config":{"region":"lj-1","gpu":"A100","nodes":nodes,"storage_gb":100,"framework":"none"}});
    // Default quota: 16 GPU nodes. Submitted orders count against it.
    let first = customer.create(json!([gpu(8), gpu(8)]));
    let r = customer.command(&id(&first), "submit", &json!({"shown_total":first["total"]}), 1);
    assert_eq!(r.status(), 200);
    let r = customer.write(
        "POST",
        "/v1/orders",
        &json!({"items":[gpu(1)], "delivery_email": BUYER}),
        None,
    );
    assert_eq!(r.status(), 422);
    let problem = json_of(r);
    assert_eq!(problem["errors"][0]["rule"], "quota");
    assert_eq!(problem["errors"][0]["accepted"]["available"], 0);
}
