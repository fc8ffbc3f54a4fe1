//! The cloud provider.

use hyper::Method;
use orderflow_sims::client::ClientResponse;
use orderflow_sims::Running;
use serde_json::{json, Value};

use crate::support::{call, control, list, start, start_with, CLOUD_TOKEN};

async fn create(sims: &Running, key: &str, kind: &str, reference: &str) -> ClientResponse {
    let url = format!("{}/v1/resources", sims.cloud_url());
    let body = json!({"kind": kind, "region": "eu-west", "spec": {"cpus": 2}, "reference": reference});
    call(Method::POST, &url, Some(CLOUD_TOKEN), Some(key), Some(body)).await
}

async fn get(sims: &Running, id: &Value) -> ClientResponse {
    let url = format!("{}/v1/resources/{}", sims.cloud_url(), id.as_str().unwrap_or_default());
    call(Method::GET, &url, Some(CLOUD_TOKEN), None, None).await
}

async fn delete(sims: &Running, id: &str) -> ClientResponse {
    let url = format!("{}/v1/resources/{id}", sims.cloud_url());
    call(Method::DELETE, &url, Some(CLOUD_TOKEN), None, None).await
}

async fn faults(sims: &Running, plan: Value) {
    let response = control(&format!("{}/_sim/faults", sims.cloud_url()), plan).await;
    assert_eq!(response.status, 200, "{}", response.text());
}

async fn counts(sims: &Running, reference: &str) -> Value {
    let response = call(
        Method::GET,
        &format!("{}/_sim/resources", sims.cloud_url()),
        None,
        None,
        None,
    )
    .await;
    response.json()["by_reference"][reference].clone()
}

#[tokio::test]
async fn creating_with_one_key_twice_returns_the_same_resource() {
    let sims = start().await;
    let first = create(&sims, "item-1", "vps", "item-1").await;
    let second = create(&sims, "item-1", "vps", "item-1").await;

    assert_eq!((first.status, second.status), (202, 200));
    assert_eq!(first.json()["id"], second.json()["id"]);
    assert!(first.json()["id"].as_str().is_some_and(|id| id.starts_with("res_")));
    assert_eq!(first.json()["status"], "creating");
    let counts = counts(&sims, "item-1").await;
    assert_eq!(
        (counts["create_calls"].clone(), counts["creates"].clone()),
        (json!(2), json!(1))
    );
}

#[tokio::test]
async fn reusing_a_key_with_another_body_is_refused() {
    let sims = start().await;
    create(&sims, "k", "vps", "item-1").await;
    let other = create(&sims, "k", "gpu", "item-1").await;
    assert_eq!(other.status, 422);
}

#[tokio::test]
async fn with_already_exists_a_repeated_create_is_409_naming_the_resource() {
    let sims = start().await;
    let created = create(&sims, "k1", "vps", "item-1").await.json();
    faults(&sims, json!({"already_exists": true})).await;

    let same_key = create(&sims, "k1", "vps", "item-1").await;
    let same_reference = create(&sims, "k2", "vps", "item-1").await;

    for response in [same_key, same_reference] {
        assert_eq!(response.status, 409);
        assert_eq!(response.json()["error"]["type"], "already_exists");
        assert_eq!(response.json()["error"]["resource_id"], created["id"]);
    }
    assert_eq!(counts(&sims, "item-1").await["creates"], 1);
}

#[tokio::test]
async fn calls_without_a_cloud_token_are_unauthorized() {
    let sims = start().await;
    let url = format!("{}/v1/resources", sims.cloud_url());
    let body = json!({"kind": "vps", "region": "eu-west", "reference": "i"});
    let response = call(Method::POST, &url, Some("Bearer sk_test_1"), None, Some(body)).await;
    assert_eq!(response.status, 401);
}

#[tokio::test]
async fn by_default_a_resource_is_ready_on_the_first_poll_with_access_details() {
    let sims = start().await;
    let created = create(&sims, "k", "vps", "item-1").await.json();
    assert_eq!(created["access"], Value::Null);

    let polled = get(&sims, &created["id"]).await.json();

    assert_eq!(polled["status"], "ready");
    let access = &polled["access"];
    assert!(access["ip"].as_str().is_some_and(|ip| ip.starts_with("10.")));
    assert_eq!(
        access["hostname"],
        format!("{}.eu-west.cloud.example", created["id"].as_str().unwrap_or_default())
    );
    assert!(access["password"].as_str().is_some_and(|p| p.len() >= 16));
    assert!(access["username"].is_string());
}

#[tokio::test]
async fn each_kind_gets_the_access_fields_it_needs() {
    let sims = start().await;
    for (kind, field, prefix) in [
        ("managed_database", "connection_string", "postgres://"),
        ("kubernetes", "api_endpoint", "https://"),
        ("private_cloud", "api_endpoint", "https://"),
        ("object_storage", "api_endpoint", "https://"),
    ] {
        let created = create(&sims, kind, kind, kind).await.json();
        let access = get(&sims, &created["id"]).await.json()["access"].clone();
        assert!(
            access[field].as_str().is_some_and(|v| v.starts_with(prefix)),
            "{kind}: {access}"
        );
    }
    let k8s = create(&sims, "k8s-2", "kubernetes", "k8s-2").await.json();
    let access = get(&sims, &k8s["id"]).await.json()["access"].clone();
    let token = access["token"].as_str().unwrap_or_default().to_owned();
    assert!(!token.is_empty() && access["kubeconfig"].as_str().is_some_and(|k| k.contains(&token)));
}

#[tokio::test]
async fn an_unknown_kind_is_refused() {
    let sims = start().await;
    assert_eq!(create(&sims, "k", "mainframe", "item-1").await.status, 400);
}

#[tokio::test]
async fn with_ready_after_polls_a_resource_reports_creating_that_many_times() {
    let sims = start().await;
    faults(&sims, json!({"ready_after_polls": 2})).await;
    let created = create(&sims, "k", "vps", "item-1").await.json();

    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get(&sims, &created["id"]).await.json()["status"].clone());
    }

    assert_eq!(
        statuses,
        [json!("creating"), json!("creating"), json!("ready"), json!("ready")]
    );
}

#[tokio::test]
async fn with_a_long_latency_a_resource_is_still_creating() {
    let sims = start_with(|c| c.cloud_latency = std::time::Duration::from_secs(3600)).await;
    let created = create(&sims, "k", "vps", "item-1").await.json();
    let polled = get(&sims, &created["id"]).await.json();
    assert_eq!(polled["status"], "creating");
    assert_eq!(polled["access"], Value::Null);
}

#[tokio::test]
async fn a_latency_fault_overrides_the_configured_latency() {
    let sims = start().await;
    faults(&sims, json!({"latency_ms": 3_600_000})).await;
    let created = create(&sims, "k", "vps", "item-1").await.json();
    assert_eq!(get(&sims, &created["id"]).await.json()["status"], "creating");
}

#[tokio::test]
async fn a_provisioning_failure_ends_the_resource_failed_without_access() {
    let sims = start().await;
    faults(&sims, json!({"fail_provisioning_for": "item-1"})).await;
    let created = create(&sims, "k", "vps", "item-1").await.json();
    let polled = get(&sims, &created["id"]).await.json();
    assert_eq!(
        (polled["status"].clone(), polled["access"].clone()),
        (json!("failed"), Value::Null)
    );
    assert_eq!(polled["error"]["type"], "provisioning_failed");
}

#[tokio::test]
async fn only_the_configured_call_numbers_fail_with_503() {
    let sims = start().await;
    faults(&sims, json!({"fail_calls": [2, 4]})).await;

    let mut statuses = Vec::new();
    for i in 0..5 {
        statuses.push(
            create(&sims, &format!("k{i}"), "vps", &format!("item-{i}"))
                .await
                .status,
        );
    }

    assert_eq!(statuses, [202, 503, 202, 503, 202]);
    let calls = list(&format!("{}/_sim/calls", sims.cloud_url())).await;
    let faulted: Vec<Value> = calls.iter().map(|c| c["fault"].clone()).collect();
    assert_eq!(faulted[1], "fail_nth_call");
    assert_eq!(faulted[0], Value::Null);
}

#[tokio::test]
async fn the_nth_call_counts_from_when_the_fault_is_set() {
    let sims = start().await;
    create(&sims, "k0", "vps", "item-0").await;
    faults(&sims, json!({"fail_nth_call": 1})).await;
    assert_eq!(create(&sims, "k1", "vps", "item-1").await.status, 503);
    assert_eq!(create(&sims, "k1", "vps", "item-1").await.status, 202);
}

#[tokio::test]
async fn a_failing_reference_fails_every_create_until_times_runs_out() {
    let sims = start().await;
    faults(&sims, json!({"fail_reference": "item-1", "times": 2})).await;

    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(create(&sims, "k", "vps", "item-1").await.status);
    }
    let other = create(&sims, "other", "vps", "item-2").await.status;

    assert_eq!(statuses, [500, 500, 202]);
    assert_eq!(other, 202);
    let counts = counts(&sims, "item-1").await;
    assert_eq!(
        (counts["failed_creates"].clone(), counts["creates"].clone()),
        (json!(2), json!(1))
    );
}

#[tokio::test]
async fn a_failing_reference_without_times_fails_forever() {
    let sims = start().await;
    faults(&sims, json!({"fail_reference": "item-1"})).await;
    for _ in 0..6 {
        assert_eq!(create(&sims, "k", "vps", "item-1").await.status, 500);
    }
    let cleared = call(
        Method::DELETE,
        &format!("{}/_sim/faults", sims.cloud_url()),
        None,
        None,
        None,
    )
    .await;
    assert_eq!(cleared.status, 200);
    assert_eq!(create(&sims, "k", "vps", "item-1").await.status, 202);
}

#[tokio::test]
async fn deletes_fail_for_the_configured_reference_only() {
    let sims = start().await;
    let stuck = create(&sims, "k1", "vps", "item-1").await.json();
    let fine = create(&sims, "k2", "vps", "item-2").await.json();
    faults(&sims, json!({"fail_deletes_for": "item-1"})).await;

    let stuck_delete = delete(&sims, stuck["id"].as_str().unwrap_or_default()).await;
    let fine_delete = delete(&sims, fine["id"].as_str().unwrap_or_default()).await;

    assert_eq!(stuck_delete.status, 500);
    assert_eq!(fine_delete.status, 202);
    assert_eq!(fine_delete.json()["status"], "deleted");
    assert_eq!(get(&sims, &fine["id"]).await.json()["status"], "deleted");
    assert_eq!(counts(&sims, "item-1").await["failed_deletes"], 1);
    assert_eq!(counts(&sims, "item-2").await["deletes"], 1);
}

#[tokio::test]
async fn deleting_an_unknown_or_already_deleted_resource_is_404() {
    let sims = start().await;
    assert_eq!(delete(&sims, "res_nope").await.status, 404);
    let created = create(&sims, "k", "vps", "item-1").await.json();
    let id = created["id"].as_str().unwrap_or_default();
    assert_eq!(delete(&sims, id).await.status, 202);
    assert_eq!(delete(&sims, id).await.status, 404);
    assert_eq!(
        get(&sims, &created["id"]).await.json()["access"],
        Value::Null,
        "no access once deleted"
    );
}

#[tokio::test]
async fn an_unknown_fault_setting_is_refused() {
    let sims = start().await;
    let response = control(
        &format!("{}/_sim/faults", sims.cloud_url()),
        json!({"fail_sometimes": true}),
    )
    .await;
    assert_eq!(response.status, 400);
}

#[tokio::test]
async fn a_deprovisioned_resource_is_recorded_with_its_time_and_no_longer_live() {
    let sims = start().await;
    let kept = create(&sims, "item-1", "vps", "item-1").await.json();
    let removed = create(&sims, "item-2", "vps", "item-2").await.json();
    assert_eq!(delete(&sims, removed["id"].as_str().unwrap()).await.status, 202);
    let view = call(
        Method::GET,
        &format!("{}/_sim/resources", sims.cloud_url()),
        None,
        None,
        None,
    )
    .await
    .json();
    assert_eq!(view["live"], 1, "{view}");
    let by_id = |id: &Value| {
        view["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == *id)
            .cloned()
            .unwrap()
    };
    assert!(by_id(&kept["id"])["deleted_at"].is_null());
    assert!(by_id(&removed["id"])["deleted_at"].as_i64().is_some_and(|t| t > 0));
    assert_eq!(by_id(&removed["id"])["status"], "deleted");
}

/// The written contract (docs/cloud-api.openapi.json) names exactly the
/// routes the simulator serves and the `orderflow` adapter calls, with the
/// statuses the adapter tells apart.
#[tokio::test]
async fn the_documented_provisioning_contract_matches_the_simulated_api() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cloud-api.openapi.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("the contract")).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    let mut routes: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "delete"] {
            if item.get(method).is_some() {
                routes.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    routes.sort();
    assert_eq!(
        routes,
        [
            "DELETE /v1/resources/{id}",
            "GET /v1/resources/{id}",
            "POST /v1/resources",
            "POST /v1/resources/{id}/resume",
            "POST /v1/resources/{id}/suspend",
        ]
    );
    let answers = &doc["paths"]["/v1/resources"]["post"]["responses"];
    for status in ["200", "202", "409", "422", "429"] {
        assert!(answers.get(status).is_some(), "create documents {status}");
    }
    assert!(doc["paths"]["/v1/resources/{id}"]["delete"]["responses"]
        .get("404")
        .is_some());

    // And the simulator answers each documented route.
    let sims = start().await;
    let created = create(&sims, "key-doc", "vps", "item-doc").await;
    assert_eq!(created.status, 202);
    let body = created.json();
    let statuses = doc["components"]["schemas"]["Resource"]["properties"]["status"]["enum"].clone();
    assert!(statuses.as_array().unwrap().contains(&body["status"]), "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(get(&sims, &body["id"]).await.status, 200);
    for verb in ["suspend", "resume"] {
        let url = format!("{}/v1/resources/{id}/{verb}", sims.cloud_url());
        let r = call(Method::POST, &url, Some(CLOUD_TOKEN), None, Some(json!({}))).await;
        assert_eq!(r.status, 200, "{verb}: {}", r.text());
    }
    assert_eq!(delete(&sims, &id).await.status, 202);
}
