//! The cloud provider: creates resources asynchronously.
//!
//! API (bearer `ck_…`): `POST /v1/resources` answers 202 `creating`; the
//! resource becomes `ready` (with access details) after the configured
//! latency or number of polls, observed on `GET /v1/resources/{id}`;
//! `DELETE` answers 202, or 404 for unknown and already deleted resources.
//! `POST /v1/resources/{id}/suspend` and `…/resume` stop and restart a
//! running resource's service (an unpaid subscription), idempotently.
//! The same `Idempotency-Key` and body returns the same resource with 200
//! (409 `already_exists` under that fault); the same key with another body
//! is 422. Faults come from a [`CloudFaultPlan`](crate::faults::CloudFaultPlan).
//! `GET /_sim/resources` lists every resource ever created with its
//! `deleted_at` (set when deprovisioned) and counts the `live` ones, so a
//! test can assert that nothing was left running.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hyper::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::faults::{CloudFaultPlan, CloudFaults};
use crate::idempotency::{Idempotency, Lookup};
use crate::server::{Handler, Request, Response};
use crate::{clock, ids};

/// The cloud provider's state.
#[derive(Debug)]
pub(crate) struct Cloud {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    latency: Duration,
    resources: Vec<Resource>,
    idempotency: Idempotency<String>,
    faults: CloudFaults,
    calls: Vec<Value>,
    counts: BTreeMap<String, Counts>,
}

/// Per-reference counters, for "exactly one provisioning per item" checks.
#[derive(Debug, Default, Clone, Serialize)]
struct Counts {
    /// Create calls received (including failed and replayed ones).
    create_calls: u32,
    /// Resources actually created.
    creates: u32,
    /// Create calls failed by an injected fault.
    failed_creates: u32,
    /// Delete calls for existing, live resources.
    delete_calls: u32,
    /// Resources actually deleted.
    deletes: u32,
    /// Delete calls failed by an injected fault.
    failed_deletes: u32,
    /// Times a running resource was suspended (unpaid subscription).
    suspends: u32,
    /// Times a suspended resource was resumed.
    resumes: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Vps,
    Kubernetes,
    ManagedDatabase,
    Gpu,
    PrivateCloud,
    ObjectStorage,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    Creating,
    Ready,
    Suspended,
    Failed,
    Deleted,
}

#[derive(Debug, Clone, Copy)]
enum Readiness {
    AfterPolls(u32),
    At(Instant),
}

#[derive(Debug)]
struct Resource {
    id: String,
    kind: Kind,
    region: String,
    name: Option<String>,
    spec: Map<String, Value>,
    reference: String,
    idempotency_key: Option<String>,
    status: Status,
    created: i64,
    readiness: Readiness,
    fail_provisioning: bool,
    polls: u32,
    access: Value,
    /// When it was deprovisioned (unix seconds), so tests can tell what
    /// was removed and when, and that nothing is left running.
    deleted_at: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateResource {
    kind: Kind,
    region: String,
    /// `null` reads as `{}`.
    #[serde(default)]
    spec: Option<Map<String, Value>>,
    reference: String,
    #[serde(default)]
    name: Option<String>,
}

impl Cloud {
    /// A provider whose resources become ready `latency` after creation
    /// (zero: on the first poll) unless faults say otherwise.
    pub(crate) fn new(latency: Duration) -> Self {
        Self {
            state: Mutex::new(State {
                latency,
                resources: Vec::new(),
                idempotency: Idempotency::default(),
                faults: CloudFaults::default(),
                calls: Vec::new(),
                counts: BTreeMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn control(&self, req: &Request) -> Response {
        let segments = req.segments();
        let mut state = self.lock();
        match (&req.method, segments.as_slice()) {
            (&Method::GET, ["_sim", "faults"]) => ok(state.faults.to_json()),
            (&Method::POST, ["_sim", "faults"]) => match req.json::<CloudFaultPlan>() {
                Ok((_, plan)) => {
                    state.faults.set(plan);
                    ok(state.faults.to_json())
                }
                Err(e) => e,
            },
            (&Method::DELETE, ["_sim", "faults"]) => {
                state.faults.set(CloudFaultPlan::default());
                ok(state.faults.to_json())
            }
            (&Method::GET, ["_sim", "resources"]) => {
                let resources: Vec<Value> = state.resources.iter().map(Resource::to_sim_json).collect();
                // `live`: resources not deprovisioned (running, creating or suspended).
                let live = state.resources.iter().filter(|r| r.status != Status::Deleted).count();
                ok(json!({ "data": resources, "by_reference": state.counts, "live": live }))
            }
            (&Method::GET, ["_sim", "calls"]) => ok(json!({ "data": state.calls })),
            _ => Response::no_route(req),
        }
    }
}

impl Handler for Cloud {
    fn log_name(&self) -> Option<&'static str> {
        Some("cloud")
    }

    async fn handle(self: Arc<Self>, req: Request) -> Response {
        if !req.path.starts_with("/v1/") {
            return self.control(&req);
        }
        let (mut response, delay, trickle, n) = {
            let mut state = self.lock();
            let delay = state.faults.response_delay();
            let trickle = state.faults.trickle();
            let (response, reference, fault) = state.api(&req);
            let n = state.calls.len() + 1;
            state.calls.push(json!({
                "n": n,
                "method": req.method.as_str(),
                "path": req.path,
                "reference": reference,
                "idempotency_key": req.idempotency_key(),
                "status": response.status_code(),
                "fault": fault,
                "time": clock::unix_now(),
                "time_ms": clock::unix_millis(),
            }));
            (response, delay, trickle, n)
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        if let Some(every) = trickle {
            // The call's log entry learns when its body was done with (sent,
            // or dropped because the client gave up): `ended_ms`.
            let cloud = self.clone();
            response.trickle = Some(crate::server::Trickle {
                every,
                on_end: Arc::new(move || {
                    if let Some(call) = cloud.lock().calls.get_mut(n - 1) {
                        call["ended_ms"] = json!(clock::unix_millis());
                    }
                }),
            });
        }
        response
    }
}

impl State {
    /// Handles an API call: the response, the reference it concerned (if
    /// known) and the injected fault that decided it (if any).
    fn api(&mut self, req: &Request) -> (Response, Option<String>, Option<&'static str>) {
        if !req.bearer_has_prefix("ck_") {
            return (
                Response::error(401, "unauthorized", "use `Authorization: Bearer ck_…`"),
                None,
                None,
            );
        }
        if let Some(n) = self.faults.on_call() {
            let response = Response::error(
                503,
                "service_unavailable",
                format!("injected fault: API call #{n} fails"),
            );
            return (response, None, Some("fail_nth_call"));
        }
        let segments = req.segments();
        match (&req.method, segments.as_slice()) {
            (&Method::POST, ["v1", "resources"]) => self.create(req),
            (&Method::GET, ["v1", "resources", id]) => match self.resources.iter_mut().find(|r| r.id == *id) {
                Some(resource) => {
                    resource.poll();
                    (ok(resource.to_json()), Some(resource.reference.clone()), None)
                }
                None => (not_found(id), None, None),
            },
            (&Method::DELETE, ["v1", "resources", id]) => self.delete(id),
            (&Method::POST, ["v1", "resources", id, verb @ ("suspend" | "resume")]) => {
                self.set_suspended(id, *verb == "suspend")
            }
            _ => (Response::no_route(req), None, None),
        }
    }

    fn create(&mut self, req: &Request) -> (Response, Option<String>, Option<&'static str>) {
        let (value, body) = match req.json::<CreateResource>() {
            Ok(parsed) => parsed,
            Err(e) => return (e, None, None),
        };
        let reference = Some(body.reference.clone());
        if body.reference.is_empty() {
            return (invalid("reference must not be empty"), reference, None);
        }
        if body.region.is_empty()
            || !body
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return (
                invalid("region must be lowercase letters, digits and dashes"),
                reference,
                None,
            );
        }
        self.counts.entry(body.reference.clone()).or_default().create_calls += 1;
        if self.faults.fails_create(&body.reference) {
            self.count(&body.reference).failed_creates += 1;
            let message = format!("injected fault: creates for reference {} fail", body.reference);
            return (
                Response::error(500, "internal_error", message),
                reference,
                Some("fail_reference"),
            );
        }
        let key = req.idempotency_key();
        let existing = match self.idempotency.lookup(key.as_deref(), "create", &value) {
            Lookup::Replay(id) => Some(id.clone()),
            Lookup::Mismatch => {
                let message = "this Idempotency-Key was used with a different request";
                return (Response::error(422, "idempotency_error", message), reference, None);
            }
            Lookup::New if self.faults.already_exists() => self
                .resources
                .iter()
                .find(|r| r.reference == body.reference && r.status != Status::Deleted)
                .map(|r| r.id.clone()),
            Lookup::New => None,
        };
        if let Some(id) = existing {
            if self.faults.already_exists() {
                let response = Response::error(409, "already_exists", format!("resource {id} already exists"))
                    .with_error_field("resource_id", id);
                return (response, reference, Some("already_exists"));
            }
            let resource = self
                .resources
                .iter()
                .find(|r| r.id == id)
                .map(Resource::to_json)
                .unwrap_or(Value::Null);
            return (ok(resource).with_header("idempotent-replayed", "true"), reference, None);
        }
        let readiness = match (self.faults.ready_after_polls(), self.faults.latency()) {
            (Some(polls), _) => Readiness::AfterPolls(polls),
            (None, latency) => Readiness::At(Instant::now() + latency.unwrap_or(self.latency)),
        };
        let id = ids::new_id("res");
        let resource = Resource {
            access: access(body.kind, &id, &body.region, self.resources.len() + 1),
            id: id.clone(),
            kind: body.kind,
            region: body.region,
            name: body.name,
            spec: body.spec.unwrap_or_default(),
            fail_provisioning: self.faults.fails_provisioning(&body.reference),
            reference: body.reference,
            idempotency_key: key.clone(),
            status: Status::Creating,
            created: clock::unix_now(),
            readiness,
            polls: 0,
            deleted_at: None,
        };
        let response = Response::json(202, resource.to_json());
        self.count(&resource.reference).creates += 1;
        self.idempotency.save(key.as_deref(), "create", value, id);
        self.resources.push(resource);
        (response, reference, None)
    }

    fn delete(&mut self, id: &str) -> (Response, Option<String>, Option<&'static str>) {
        let Some(index) = self
            .resources
            .iter()
            .position(|r| r.id == id && r.status != Status::Deleted)
        else {
            return (not_found(id), None, None);
        };
        let reference = self.resources[index].reference.clone();
        self.count(&reference).delete_calls += 1;
        if self.faults.fails_delete(&reference) {
            self.count(&reference).failed_deletes += 1;
            let response = Response::error(
                500,
                "internal_error",
                format!("injected fault: deletes for {reference} fail"),
            );
            return (response, Some(reference), Some("fail_deletes_for"));
        }
        self.resources[index].status = Status::Deleted;
        self.resources[index].deleted_at = Some(clock::unix_now());
        self.count(&reference).deletes += 1;
        (
            Response::json(202, json!({ "id": id, "status": "deleted" })),
            Some(reference),
            None,
        )
    }

    /// Suspends or resumes a running resource (idempotent: one already
    /// there answers 200 and counts nothing). Faults: `fail_nth_call`.
    fn set_suspended(&mut self, id: &str, suspend: bool) -> (Response, Option<String>, Option<&'static str>) {
        let Some(resource) = self
            .resources
            .iter_mut()
            .find(|r| r.id == id && r.status != Status::Deleted)
        else {
            return (not_found(id), None, None);
        };
        let reference = resource.reference.clone();
        let (from, to) = if suspend {
            (Status::Ready, Status::Suspended)
        } else {
            (Status::Suspended, Status::Ready)
        };
        let changed = resource.status == from;
        if changed {
            resource.status = to;
        }
        let (body, ok_now) = (resource.to_json(), resource.status == to);
        if !ok_now {
            let message = format!("resource {id} is {:?}, not {from:?}", resource.status).to_lowercase();
            return (Response::error(409, "invalid_state", message), Some(reference), None);
        }
        if changed {
            let counts = self.count(&reference);
            if suspend {
                counts.suspends += 1;
            } else {
                counts.resumes += 1;
            }
        }
        (ok(body), Some(reference), None)
    }

    fn count(&mut self, reference: &str) -> &mut Counts {
        self.counts.entry(reference.to_owned()).or_default()
    }
}

impl Resource {
    /// One GET: counts the poll and moves a `creating` resource on when due.
    fn poll(&mut self) {
        self.polls += 1;
        if self.status != Status::Creating {
            return;
        }
        let due = match self.readiness {
            Readiness::AfterPolls(n) => self.polls > n,
            Readiness::At(at) => Instant::now() >= at,
        };
        if due {
            self.status = if self.fail_provisioning {
                Status::Failed
            } else {
                Status::Ready
            };
        }
    }

    /// The API representation: access details only while ready.
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "resource",
            "kind": self.kind,
            "region": self.region,
            "name": self.name,
            "reference": self.reference,
            "spec": self.spec,
            "status": self.status,
            "created": self.created,
            "access": if self.status == Status::Ready { self.access.clone() } else { Value::Null },
            "error": (self.status == Status::Failed).then(|| json!({
                "type": "provisioning_failed",
                "message": "injected fault: provisioning failed",
            })),
        })
    }

    /// The test view: the access details the provider issued (whatever the
    /// status, so tests can look for leaks), idempotency key and poll count.
    fn to_sim_json(&self) -> Value {
        json!({
            "access": self.access,
            "id": self.id,
            "kind": self.kind,
            "region": self.region,
            "reference": self.reference,
            "status": self.status,
            "idempotency_key": self.idempotency_key,
            "polls": self.polls,
            "created": self.created,
            "deleted_at": self.deleted_at,
        })
    }
}

/// Access details fitting the kind; `n` numbers the resource (for its IP).
fn access(kind: Kind, id: &str, region: &str, n: usize) -> Value {
    let hostname = format!("{id}.{region}.cloud.example");
    let ip = format!("10.{}.{}.{}", (n / 62_500) % 250, (n / 250) % 250, 2 + n % 250);
    let password = ids::token(24);
    let mut access = json!({ "ip": ip, "hostname": hostname, "password": password });
    let extra = match kind {
        Kind::Vps | Kind::Gpu => json!({ "username": "root", "ssh_port": 22 }),
        Kind::Kubernetes => {
            let token = ids::token(40);
            let endpoint = format!("https://{hostname}:6443");
            json!({
                "username": "cluster-admin",
                "api_endpoint": endpoint,
                "token": token,
                "kubeconfig": format!(
                    "apiVersion: v1\nkind: Config\nclusters:\n- name: {id}\n  cluster:\n    server: {endpoint}\n\
                     users:\n- name: cluster-admin\n  user:\n    token: {token}\ncontexts:\n- name: {id}\n  context:\n    \
                     cluster: {id}\n    user: cluster-admin\ncurrent-context: {id}\n"
                ),
            })
        }
        Kind::ManagedDatabase => json!({
            "username": "app",
            "database": "app",
            "port": 5432,
            "connection_string": format!("postgres://app:{password}@{hostname}:5432/app?sslmode=require"),
        }),
        Kind::PrivateCloud => json!({ "username": "admin", "api_endpoint": format!("https://{hostname}/api/v1") }),
        Kind::ObjectStorage => json!({
            "username": format!("AK{}", ids::token(18).to_ascii_uppercase()),
            "api_endpoint": format!("https://{region}.storage.cloud.example"),
            "bucket": id,
        }),
    };
    if let (Some(access), Value::Object(extra)) = (access.as_object_mut(), extra) {
        access.extend(extra);
    }
    access
}

fn ok(body: Value) -> Response {
    Response::json(200, body)
}

fn not_found(id: &str) -> Response {
    Response::error(404, "not_found", format!("no resource {id}"))
}

fn invalid(message: &str) -> Response {
    Response::error(400, "invalid_request", message)
}
