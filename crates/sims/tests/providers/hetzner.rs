//! Hetzner Cloud's wire format, proven by an independent client: the
//! official `hcloud` Python library (PyPI, installed by
//! scripts/install-test-deps) drives the simulator through create, action
//! polling, listing by label selector (one page and all), server actions
//! and delete, and through its faults (a rate limit the library waits out,
//! an action in error, a used name, an unknown server type, a stuck
//! creation). The script is tests/hetzner/hcloud_client.py. Beside it, the
//! answers our adapter relies on, checked directly over HTTP.

use std::path::PathBuf;
use std::process::Command;

use hyper::Method;
use orderflow_sims::Running;
use serde_json::{json, Value};

use crate::support::{call, control, start};

const TOKEN: &str = "Bearer hc_0123456789abcdef";

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/hetzner/hcloud_client.py")
}

#[tokio::test]
async fn the_official_hcloud_library_drives_the_hetzner_simulator() {
    let sims = start().await;
    let base = sims.hetzner_url();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script())
            .args(["drive", "--endpoint", &format!("{base}/v1"), "--token", "hc_test"])
            .args(["--control", &base])
            .output()
            .expect("python3 with the hcloud library (scripts/install-test-deps)")
    })
    .await
    .expect("the script's thread");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "hcloud_client.py failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<String> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|c| c["check"].as_str().map(str::to_owned))
        .collect();
    for expected in [
        "create, then its action polled until success",
        "list by label selector, one page and every page",
        "server actions: list, reset_password, poweroff, poweron",
        "a rate limit is retried by the library",
        "an action that ends in error raises ActionFailedException",
        "a used name is a uniqueness_error",
        "an unknown server type is invalid_input naming the field",
        "a stuck creation times out the library's wait",
        "delete, then the server is gone",
        "done",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "missing check {expected:?} in {names:?}"
        );
    }
}

async fn servers(sims: &Running, query: &str, token: Option<&str>) -> orderflow_sims::client::ClientResponse {
    let url = format!("{}/v1/servers{query}", sims.hetzner_url());
    call(Method::GET, &url, token, None, None).await
}

#[tokio::test]
async fn every_answer_carries_the_rate_limit_and_a_spent_limit_is_a_429_with_hetzners_error_object() {
    let sims = start().await;
    let ok = servers(&sims, "", Some(TOKEN)).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.headers["ratelimit-limit"], "3600");
    assert_eq!(ok.headers["ratelimit-remaining"], "3599");
    let reset: i64 = ok.headers["ratelimit-reset"].to_str().unwrap().parse().unwrap();
    assert!(reset > 0);

    let set = control(
        &format!("{}/_sim/faults", sims.hetzner_url()),
        json!({"rate_limit_next": 1}),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.text());
    let limited = servers(&sims, "", Some(TOKEN)).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.headers["ratelimit-remaining"], "0");
    assert_eq!(limited.json()["error"]["code"], "rate_limit_exceeded");
    assert_eq!(servers(&sims, "", Some(TOKEN)).await.status, 200);

    let anonymous = servers(&sims, "", None).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_leaves_its_server_findable_by_label() {
    let sims = start().await;
    let set = control(
        &format!("{}/_sim/faults", sims.hetzner_url()),
        json!({"create_then_fail": 1}),
    )
    .await;
    assert_eq!(set.status, 200);
    let url = format!("{}/v1/servers", sims.hetzner_url());
    let body = json!({"name": "of-a", "server_type": "cpx21", "image": "debian-12", "location": "fsn1",
                      "labels": {"orderflow-item": "a"}});
    let lost = call(Method::POST, &url, Some(TOKEN), None, Some(body.clone())).await;
    assert_eq!(lost.status, 503, "{}", lost.text());

    let found = servers(&sims, "?label_selector=orderflow-item%3D%3Da", Some(TOKEN))
        .await
        .json();
    assert_eq!(found["servers"].as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found["servers"][0]["name"], "of-a");
    let again = call(Method::POST, &url, Some(TOKEN), None, Some(body)).await;
    assert_eq!(again.status, 409);
    assert_eq!(again.json()["error"]["code"], "uniqueness_error");
}
