//! The cloud routing table and the Hetzner adapter against the simulators
//! over real HTTP on loopback: an lj-1 item goes to our own API and a
//! hetzner-fsn1 item to Hetzner's, each created once; a create whose answer
//! was lost is found by its label, not made twice; polling follows the
//! server's actions to readiness and reads a fresh root password; an action
//! in error is a failed resource; a rate limit is retryable; a product
//! Hetzner cannot provide is refused before any call; deletes are
//! idempotent and suspension powers the server off and on.

use std::time::Duration;

use orderflow_core::{parse_item, Catalog, ItemId, OrderItem};
use orderflow_service::saga::clouds::{parse_routes, CloudRoutes, HetznerCloud, OrderflowCloud, DEFAULT_ROUTES};
use orderflow_service::saga::{CallError, CloudCalls, Endpoint, OutRequest, OutResponse, Outbound, ResourceStatus};
use orderflow_sims::{client, Config, Running};
use serde_json::{json, Value};
use uuid::Uuid;

/// Outbound HTTP through the simulators' own client, on one runtime.
struct Http(tokio::runtime::Runtime);

impl Outbound for Http {
    fn send(&self, r: OutRequest) -> Result<OutResponse, String> {
        let method: hyper::Method = r.method.parse().map_err(|e| format!("{e}"))?;
        let headers: Vec<(&str, &str)> = r.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let response = self.0.block_on(client::request(
            method,
            &r.url,
            &headers,
            r.body,
            Duration::from_secs(10),
        ))?;
        Ok(OutResponse {
            status: response.status,
            headers: response
                .headers
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
                .collect(),
            body: response.body.to_vec(),
        })
    }
}

struct World {
    http: Http,
    sims: Running,
    routes: CloudRoutes,
}

impl World {
    fn start() -> World {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let sims = rt.block_on(orderflow_sims::start(Config::default())).unwrap();
        let routes = CloudRoutes::new(
            parse_routes(DEFAULT_ROUTES).unwrap(),
            Some(OrderflowCloud::new(Endpoint {
                url: sims.cloud_url(),
                key: "ck_adapter".into(),
            })),
            Some(HetznerCloud::new(Endpoint {
                url: format!("{}/v1", sims.hetzner_url()),
                key: "hetzner-project-token".into(),
            })),
        )
        .unwrap();
        World {
            http: Http(rt),
            sims,
            routes,
        }
    }

    fn sim(&self, method: hyper::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.sims.hetzner_url());
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let response = self
            .http
            .0
            .block_on(client::request(
                method,
                &url,
                &[("content-type", "application/json")],
                body,
                Duration::from_secs(10),
            ))
            .unwrap();
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        response.json()
    }

    fn faults(&self, plan: Value) {
        self.sim(hyper::Method::POST, "/_sim/faults", Some(plan));
    }

    fn servers(&self) -> Value {
        self.sim(hyper::Method::GET, "/_sim/servers", None)
    }

    fn poll_until_settled(&self, reference: &str) -> ResourceStatus {
        for _ in 0..20 {
            match self.routes.resource_status(&self.http, reference).unwrap() {
                ResourceStatus::Creating => continue,
                settled => return settled,
            }
        }
        panic!("{reference} still creating after 20 polls");
    }
}

fn item(n: u128, config: Value) -> OrderItem {
    let catalog = Catalog::standard();
    let raw = json!({"product": config["product"], "billing_cycle": "monthly", "config": config["config"]});
    let spec = parse_item(&catalog, &raw, "").unwrap();
    OrderItem::new(&catalog, ItemId::from_uuid(Uuid::from_u128(n)), spec).unwrap()
}

fn vps(n: u128, region: &str) -> OrderItem {
    item(
        n,
        json!({"product": "vps", "config": {"region": region, "plan": "business", "os_image": "ubuntu-24.04"}}),
    )
}

#[test]
fn each_region_is_provisioned_at_its_own_provider_once() {
    let w = World::start();
    let ours = w.routes.create_resource(&w.http, &vps(1, "lj-1")).unwrap();
    let theirs = w.routes.create_resource(&w.http, &vps(2, "hetzner-fsn1")).unwrap();
    assert!(!ours.contains(':'), "our own references stay bare: {ours}");
    assert!(theirs.starts_with("hetzner:"), "{theirs}");

    let servers = w.servers();
    assert_eq!(servers["live"], 1, "{servers}");
    let server = &servers["data"][0];
    assert_eq!(server["server_type"], "cpx31");
    assert_eq!(server["image"], "ubuntu-24.04");
    assert_eq!(server["location"], "fsn1");
    assert_eq!(
        server["labels"]["orderflow-item"],
        vps(2, "hetzner-fsn1").id.to_string()
    );
    let resources = w.sims_cloud_resources();
    assert_eq!(resources.len(), 1, "only the lj-1 item reached our API: {resources:?}");
    assert_eq!(resources[0]["region"], "lj-1");

    let ResourceStatus::Ready(access) = w.poll_until_settled(&theirs) else {
        panic!("the Hetzner server did not become ready");
    };
    let sealed_password = access["password"].as_str().unwrap().to_owned();
    let servers = w.servers();
    assert_eq!(
        servers["data"][0]["root_password"],
        sealed_password.as_str(),
        "the reset password is current"
    );
    assert_eq!(access["ip"], servers["data"][0]["ipv4"]);
    assert_eq!(access["username"], "root");
    assert!(matches!(w.poll_until_settled(&ours), ResourceStatus::Ready(_)));

    // Creating again (a retried step) finds the labelled server.
    assert_eq!(
        w.routes.create_resource(&w.http, &vps(2, "hetzner-fsn1")).unwrap(),
        theirs
    );
    assert_eq!(
        w.servers()["by_item"][vps(2, "hetzner-fsn1").id.to_string()]["creates"],
        1
    );
}

impl World {
    /// Reads server `id`'s running actions through the API until none runs.
    fn settle(&self, id: &str) {
        let url = format!("{}/v1/servers/{id}/actions?status=running", self.sims.hetzner_url());
        for _ in 0..10 {
            let response = self
                .http
                .0
                .block_on(client::request(
                    hyper::Method::GET,
                    &url,
                    &[("authorization", "Bearer hetzner-project-token")],
                    String::new(),
                    Duration::from_secs(10),
                ))
                .unwrap();
            if response.json()["actions"].as_array().is_some_and(Vec::is_empty) {
                return;
            }
        }
        panic!("server {id} still has running actions");
    }

    fn sims_cloud_resources(&self) -> Vec<Value> {
        let url = format!("{}/_sim/resources", self.sims.cloud_url());
        let response = self
            .http
            .0
            .block_on(client::request(
                hyper::Method::GET,
                &url,
                &[],
                String::new(),
                Duration::from_secs(10),
            ))
            .unwrap();
        response.json()["data"].as_array().cloned().unwrap_or_default()
    }
}

#[test]
fn a_create_whose_answer_was_lost_is_found_by_its_label_not_made_twice() {
    let w = World::start();
    let it = vps(3, "hetzner-fsn1");
    w.faults(json!({"create_then_fail": 1}));
    let lost = w.routes.create_resource(&w.http, &it).unwrap_err();
    assert!(matches!(lost, CallError::Retryable(_)), "{lost:?}");
    let found = w.routes.create_resource(&w.http, &it).unwrap();
    let servers = w.servers();
    assert_eq!(servers["by_item"][it.id.to_string()]["creates"], 1, "{servers}");
    assert_eq!(found, format!("hetzner:{}", servers["data"][0]["id"]));
}

#[test]
fn an_action_in_error_fails_the_resource_and_a_slow_one_keeps_it_creating() {
    let w = World::start();
    let failing = vps(4, "hetzner-fsn1");
    w.faults(json!({"action_error_for": [failing.id.to_string()]}));
    let reference = w.routes.create_resource(&w.http, &failing).unwrap();
    let ResourceStatus::Failed(why) = w.poll_until_settled(&reference) else {
        panic!("an action in error must fail the resource");
    };
    assert!(why.contains("create_server") && why.contains("action_failed"), "{why}");

    w.faults(json!({"stuck": true}));
    let stuck = w.routes.create_resource(&w.http, &vps(5, "hetzner-fsn1")).unwrap();
    for _ in 0..5 {
        assert_eq!(
            w.routes.resource_status(&w.http, &stuck).unwrap(),
            ResourceStatus::Creating
        );
    }
}

#[test]
fn rate_limits_and_outages_are_retryable_and_what_hetzner_cannot_provide_is_permanent() {
    let w = World::start();
    w.faults(json!({"rate_limit_next": 1}));
    let limited = w.routes.create_resource(&w.http, &vps(6, "hetzner-fsn1")).unwrap_err();
    assert!(
        matches!(&limited, CallError::Retryable(m) if m.contains("rate_limit_exceeded") && m.contains("resets at")),
        "{limited:?}"
    );
    w.faults(json!({"fail_next": 1}));
    assert!(matches!(
        w.routes.create_resource(&w.http, &vps(6, "hetzner-fsn1")),
        Err(CallError::Retryable(_))
    ));

    // Validation refuses these; an order from before that rule is refused
    // by the adapter without a call.
    w.faults(json!({}));
    let mut windows = vps(7, "hetzner-fsn1");
    if let orderflow_core::ProductConfig::Vps(c) = &mut windows.spec.config {
        c.os_image = "windows-server-2022".into();
    }
    let refused = w.routes.create_resource(&w.http, &windows).unwrap_err();
    assert!(
        matches!(&refused, CallError::Permanent(m) if m.contains("no image")),
        "{refused:?}"
    );
    assert_eq!(w.servers()["data"].as_array().map(Vec::len), Some(0));
}

#[test]
fn deleting_is_idempotent_and_suspension_powers_the_server_off_and_on() {
    let w = World::start();
    let reference = w.routes.create_resource(&w.http, &vps(8, "hetzner-fsn1")).unwrap();
    assert!(matches!(w.poll_until_settled(&reference), ResourceStatus::Ready(_)));
    let id = reference.trim_start_matches("hetzner:");
    // The password reset of the ready poll holds the server's lock until it ends.
    let locked = w.routes.set_suspended(&w.http, &reference, true).unwrap_err();
    assert!(
        matches!(&locked, CallError::Retryable(m) if m.contains("locked")),
        "{locked:?}"
    );
    w.settle(id);
    w.routes.set_suspended(&w.http, &reference, true).unwrap();
    let actions = w.sim(hyper::Method::GET, "/_sim/calls", None);
    let paths: Vec<&str> = actions["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["path"].as_str())
        .collect();
    assert!(
        paths.contains(&format!("/v1/servers/{id}/actions/poweroff").as_str()),
        "{paths:?}"
    );
    w.settle(id);
    w.routes.set_suspended(&w.http, &reference, false).unwrap();

    w.routes.delete_resource(&w.http, &reference).unwrap();
    w.routes.delete_resource(&w.http, &reference).unwrap();
    let servers = w.servers();
    assert_eq!(servers["live"], 0, "{servers}");
    assert_eq!(servers["by_item"][vps(8, "hetzner-fsn1").id.to_string()]["deletes"], 1);
    let gone = w.routes.resource_status(&w.http, &reference).unwrap();
    assert!(
        matches!(&gone, ResourceStatus::Failed(m) if m.contains("no longer exists")),
        "{gone:?}"
    );
}
