//! Hetzner Cloud (API v1), simulated in its own wire format, for the
//! `hetzner-fsn1` region: what the official `hcloud` library and our
//! adapter both read.
//!
//! API (any non-empty `Authorization: Bearer <token>`), under `/v1`:
//! `POST /servers` (`name`, `server_type`, `image`, `location`, `labels`,
//! …) answers 201 with `server`, its `create_server` `action`,
//! `next_actions` (`start_server`) and `root_password`; a name already
//! taken is 409 `uniqueness_error`. `GET /servers` filters by
//! `label_selector` (`k`, `!k`, `k=v`, `k==v`, `k!=v`, comma-joined),
//! `name` and `status`, and pages (`page`, `per_page` ≤ 50,
//! `meta.pagination`). `GET`/`DELETE /servers/{id}`;
//! `GET /servers/{id}/actions` (paged, `status` and `sort` filters);
//! `GET /actions/{id}` and `/servers/actions/{id}`;
//! `POST /servers/{id}/actions/{poweroff,poweron,reset_password}`.
//! Errors are `{"error": {"code", "message", "details"}}`; every answer
//! carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`.
//!
//! Actions run for a number of reads (`action_polls`, default 1), then end
//! `success`, or `error` for servers whose label `orderflow-item` is in
//! `action_error_for`. Faults (`POST /_sim/faults`, replacing the plan):
//! `fail_next` (503 `unavailable`), `rate_limit_next` (429
//! `rate_limit_exceeded`, remaining 0), `create_then_fail` (the server is
//! created, the answer is a 503: a lost answer), `stuck` (actions never
//! end), `action_polls`, `action_error_for`, `response_delay_ms`.
//! `GET /_sim/servers` lists every server ever created (deleted ones with
//! `deleted_at`) and counts creates and deletes per `orderflow-item` label.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hyper::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::server::{Handler, Request, Response};
use crate::{clock, ids};

/// The label whose value counts servers per item in `/_sim/servers`.
const ITEM_LABEL: &str = "orderflow-item";
/// The requests allowed per hour (Hetzner's default).
const RATE_LIMIT: u32 = 3600;

/// Server types: name, cores, memory (GB), disk (GB).
const SERVER_TYPES: &[(&str, u32, u32, u32)] = &[
    ("cpx11", 2, 2, 40),
    ("cpx21", 3, 4, 80),
    ("cpx31", 4, 8, 160),
    ("cpx41", 8, 16, 240),
    ("cpx51", 16, 32, 360),
    ("cx22", 2, 4, 40),
    ("cx32", 4, 8, 80),
    ("cx42", 8, 16, 160),
    ("cx52", 16, 32, 320),
];
/// System images: name, flavor, version.
const IMAGES: &[(&str, &str, &str)] = &[
    ("ubuntu-24.04", "ubuntu", "24.04"),
    ("ubuntu-22.04", "ubuntu", "22.04"),
    ("debian-12", "debian", "12"),
    ("rocky-9", "rocky", "9"),
];
/// Locations: name, city, country, network zone.
const LOCATIONS: &[(&str, &str, &str, &str)] = &[
    ("fsn1", "Falkenstein", "DE", "eu-central"),
    ("nbg1", "Nuremberg", "DE", "eu-central"),
    ("hel1", "Helsinki", "FI", "eu-central"),
];

/// The fault plan, as posted to `/_sim/faults`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Faults {
    /// The next N API calls answer 503 `unavailable`.
    #[serde(default)]
    fail_next: u32,
    /// The next N API calls answer 429 `rate_limit_exceeded`.
    #[serde(default)]
    rate_limit_next: u32,
    /// The next N creates make their server but answer 503.
    #[serde(default)]
    create_then_fail: u32,
    /// Actions started from now never finish.
    #[serde(default)]
    stuck: bool,
    /// Reads an action started from now takes to finish (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    action_polls: Option<u32>,
    /// The `create_server` action of servers labelled with these items
    /// ends in `error`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    action_error_for: Vec<String>,
    /// Every API answer is held this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response_delay_ms: Option<u64>,
}

/// Hetzner Cloud's state.
#[derive(Debug, Default)]
pub(crate) struct Hetzner {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    servers: Vec<Server>,
    actions: Vec<Action>,
    faults: Faults,
    calls: Vec<Value>,
    counts: BTreeMap<String, Counts>,
    next_id: i64,
    remaining: u32,
}

#[derive(Debug, Default, Clone, Serialize)]
struct Counts {
    creates: u32,
    deletes: u32,
}

#[derive(Debug)]
struct Server {
    id: i64,
    name: String,
    server_type: &'static (&'static str, u32, u32, u32),
    image: &'static (&'static str, &'static str, &'static str),
    location: &'static (&'static str, &'static str, &'static str, &'static str),
    labels: Map<String, Value>,
    created: i64,
    power: Power,
    root_password: String,
    ipv4: String,
    deleted_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Power {
    Initializing,
    Running,
    Off,
}

#[derive(Debug)]
struct Action {
    id: i64,
    command: &'static str,
    server: i64,
    started: i64,
    finished: Option<i64>,
    /// Reads left before it ends (`None`: never).
    polls_left: Option<u32>,
    fails: bool,
    status: &'static str,
}

/// The create request: every field Hetzner takes is accepted (an unknown
/// one is refused); networking, volumes, keys and cloud-init are read but
/// not simulated.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct CreateServer {
    name: String,
    server_type: String,
    image: String,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    datacenter: Option<String>,
    #[serde(default)]
    labels: Option<Map<String, Value>>,
    #[serde(default = "yes")]
    start_after_create: bool,
    #[serde(default)]
    ssh_keys: Option<Vec<Value>>,
    #[serde(default)]
    user_data: Option<String>,
    #[serde(default)]
    public_net: Option<Value>,
    #[serde(default)]
    volumes: Option<Vec<Value>>,
    #[serde(default)]
    networks: Option<Vec<Value>>,
    #[serde(default)]
    firewalls: Option<Vec<Value>>,
    #[serde(default)]
    automount: Option<bool>,
    #[serde(default)]
    placement_group: Option<Value>,
}

fn yes() -> bool {
    true
}

impl Hetzner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn control(&self, req: &Request) -> Response {
        let mut state = self.lock();
        match (&req.method, req.segments().as_slice()) {
            (&Method::GET, ["_sim", "faults"]) => Response::json(200, json!({ "plan": state.faults })),
            (&Method::POST, ["_sim", "faults"]) => match req.json::<Faults>() {
                Ok((_, plan)) => {
                    state.faults = plan;
                    Response::json(200, json!({ "plan": state.faults }))
                }
                Err(e) => e,
            },
            (&Method::DELETE, ["_sim", "faults"]) => {
                state.faults = Faults::default();
                Response::json(200, json!({ "plan": state.faults }))
            }
            (&Method::GET, ["_sim", "servers"]) => {
                let servers: Vec<Value> = state.servers.iter().map(Server::to_sim_json).collect();
                let live = state.servers.iter().filter(|s| s.deleted_at.is_none()).count();
                Response::json(200, json!({ "data": servers, "by_item": state.counts, "live": live }))
            }
            (&Method::GET, ["_sim", "calls"]) => Response::json(200, json!({ "data": state.calls })),
            _ => Response::no_route(req),
        }
    }
}

impl Handler for Hetzner {
    fn log_name(&self) -> Option<&'static str> {
        Some("hetzner")
    }

    async fn handle(self: Arc<Self>, req: Request) -> Response {
        if !req.path.starts_with("/v1/") {
            return self.control(&req);
        }
        let (response, delay) = {
            let mut state = self.lock();
            let delay = state.faults.response_delay_ms.map(Duration::from_millis);
            let response = state.api(&req);
            let n = state.calls.len() + 1;
            state.calls.push(json!({
                "n": n,
                "method": req.method.as_str(),
                "path": req.path,
                "query": req.query,
                "status": response.status_code(),
                "time_ms": clock::unix_millis(),
            }));
            (state.rate_headers(response), delay)
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        response
    }
}

impl State {
    fn rate_headers(&self, response: Response) -> Response {
        // The window resets on the next full hour.
        let reset = (clock::unix_now() / 3600 + 1) * 3600;
        response
            .with_header("ratelimit-limit", RATE_LIMIT.to_string())
            .with_header("ratelimit-remaining", self.remaining.to_string())
            .with_header("ratelimit-reset", reset.to_string())
    }

    fn api(&mut self, req: &Request) -> Response {
        let token = req
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if token.trim().is_empty() {
            return error(401, "unauthorized", "request was made with an invalid or unknown token");
        }
        if self.faults.rate_limit_next > 0 {
            self.faults.rate_limit_next -= 1;
            self.remaining = 0;
            return error(429, "rate_limit_exceeded", "limit of 3600 requests per hour reached");
        }
        self.remaining = RATE_LIMIT - 1;
        if self.faults.fail_next > 0 {
            self.faults.fail_next -= 1;
            return error(503, "unavailable", "injected fault: the service is unavailable");
        }
        let query = query(&req.query);
        let segments = req.segments();
        match (&req.method, &segments[1..]) {
            (&Method::POST, ["servers"]) => self.create(req),
            (&Method::GET, ["servers"]) => self.list(&query),
            (&Method::GET, ["servers", "actions", id]) | (&Method::GET, ["actions", id]) => {
                match self.read_action(id) {
                    Some(action) => Response::json(200, json!({ "action": action })),
                    None => error(404, "not_found", format!("action with ID '{id}' not found")),
                }
            }
            (&Method::GET, ["servers", id]) => match self.server(id) {
                Some(i) => Response::json(200, json!({ "server": self.servers[i].to_json() })),
                None => not_found(id),
            },
            (&Method::DELETE, ["servers", id]) => self.delete(id),
            (&Method::GET, ["servers", id, "actions"]) => self.server_actions(id, &query),
            (&Method::POST, ["servers", id, "actions", verb]) => self.server_action(id, verb),
            _ => error(404, "not_found", format!("no route for {} {}", req.method, req.path)),
        }
    }

    fn new_id(&mut self) -> i64 {
        self.next_id += 1;
        4_200_000 + self.next_id
    }

    fn server(&self, id: &str) -> Option<usize> {
        let id: i64 = id.parse().ok()?;
        self.servers.iter().position(|s| s.id == id && s.deleted_at.is_none())
    }

    fn start_action(&mut self, command: &'static str, server: i64, fails: bool) -> usize {
        let id = self.new_id();
        let polls_left = if self.faults.stuck {
            None
        } else {
            Some(self.faults.action_polls.unwrap_or(1))
        };
        self.actions.push(Action {
            id,
            command,
            server,
            started: clock::unix_now(),
            finished: None,
            polls_left,
            fails,
            status: "running",
        });
        self.actions.len() - 1
    }

    /// One read of action `index`: counts down and, when due, ends it and
    /// moves its server on.
    fn poll_action(&mut self, index: usize) -> Value {
        let action = &mut self.actions[index];
        if action.status == "running" {
            if let Some(left) = action.polls_left.as_mut() {
                if *left == 0 {
                    action.status = if action.fails { "error" } else { "success" };
                    action.finished = Some(clock::unix_now());
                    let (server, command, failed) = (action.server, action.command, action.fails);
                    if let Some(s) = self.servers.iter_mut().find(|s| s.id == server) {
                        s.power = match (command, failed) {
                            ("create_server" | "start_server" | "poweron", false) => Power::Running,
                            ("poweroff", false) | ("create_server", true) => Power::Off,
                            _ => s.power,
                        };
                    }
                } else {
                    *left -= 1;
                }
            }
        }
        self.actions[index].to_json()
    }

    fn read_action(&mut self, id: &str) -> Option<Value> {
        let id: i64 = id.parse().ok()?;
        let index = self.actions.iter().position(|a| a.id == id)?;
        Some(self.poll_action(index))
    }

    fn create(&mut self, req: &Request) -> Response {
        let (_, body) = match req.json::<CreateServer>() {
            Ok(parsed) => parsed,
            Err(e) => {
                let message = e.body["error"]["message"]
                    .as_str()
                    .unwrap_or("invalid input")
                    .to_owned();
                return error(400, "invalid_input", message);
            }
        };
        if !valid_name(&body.name) {
            return invalid_field("name", "name must be a valid hostname");
        }
        if self
            .servers
            .iter()
            .any(|s| s.name == body.name && s.deleted_at.is_none())
        {
            return error(409, "uniqueness_error", "server name is already used")
                .with_error_details(json!({ "fields": [{ "name": "name" }] }));
        }
        let Some(server_type) = SERVER_TYPES.iter().find(|t| t.0 == body.server_type) else {
            return invalid_field("server_type", "server type not found");
        };
        let Some(image) = IMAGES.iter().find(|i| i.0 == body.image) else {
            return invalid_field("image", "image not found");
        };
        let location = match (&body.location, &body.datacenter) {
            (Some(l), _) => LOCATIONS.iter().find(|x| x.0 == l),
            (None, Some(dc)) => LOCATIONS.iter().find(|x| dc.starts_with(x.0)),
            (None, None) => LOCATIONS.first(),
        };
        let Some(location) = location else {
            return invalid_field("location", "location not found");
        };
        let labels = body.labels.unwrap_or_default();
        if let Some(bad) = labels.iter().find(|(k, v)| !valid_label(k, v)) {
            return invalid_field("labels", &format!("label {} is invalid", bad.0));
        }
        let id = self.new_id();
        let item = labels.get(ITEM_LABEL).and_then(Value::as_str).map(str::to_owned);
        let fails = item
            .as_ref()
            .is_some_and(|i| self.faults.action_error_for.iter().any(|f| f == i));
        let n = self.servers.len() + 1;
        let server = Server {
            id,
            name: body.name,
            server_type,
            image,
            location,
            labels,
            created: clock::unix_now(),
            power: Power::Initializing,
            root_password: ids::token(20),
            ipv4: format!("203.0.113.{}", 1 + n % 250),
            deleted_at: None,
        };
        let password = (body.ssh_keys.unwrap_or_default().is_empty()).then(|| server.root_password.clone());
        let server_json = server.to_json();
        self.servers.push(server);
        if let Some(item) = item {
            self.counts.entry(item).or_default().creates += 1;
        }
        let create = self.start_action("create_server", id, fails);
        let create = self.actions[create].to_json();
        let next = if body.start_after_create {
            let start = self.start_action("start_server", id, false);
            // Starting is part of creating here: it ends with it.
            self.actions[start].polls_left = Some(0);
            vec![self.actions[start].to_json()]
        } else {
            Vec::new()
        };
        if self.faults.create_then_fail > 0 {
            self.faults.create_then_fail -= 1;
            return error(
                503,
                "unavailable",
                "injected fault: the server was created, the answer lost",
            );
        }
        Response::json(
            201,
            json!({ "server": server_json, "action": create, "next_actions": next, "root_password": password }),
        )
    }

    fn list(&mut self, query: &BTreeMap<String, Vec<String>>) -> Response {
        let selector = query
            .get("label_selector")
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or_default();
        let Some(selector) = Selector::parse(&selector) else {
            return invalid_field("label_selector", "invalid label selector");
        };
        let name = query.get("name").and_then(|v| v.first());
        let statuses = query.get("status").cloned().unwrap_or_default();
        let matching: Vec<Value> = self
            .servers
            .iter()
            .filter(|s| s.deleted_at.is_none())
            .filter(|s| selector.matches(&s.labels))
            .filter(|s| name.is_none_or(|n| *n == s.name))
            .filter(|s| statuses.is_empty() || statuses.iter().any(|st| st == s.status()))
            .map(Server::to_json)
            .collect();
        match page(matching, query) {
            Ok((items, meta)) => Response::json(200, json!({ "servers": items, "meta": meta })),
            Err(e) => e,
        }
    }

    fn server_actions(&mut self, id: &str, query: &BTreeMap<String, Vec<String>>) -> Response {
        let Ok(server) = id.parse::<i64>() else {
            return not_found(id);
        };
        if !self.servers.iter().any(|s| s.id == server && s.deleted_at.is_none()) {
            return not_found(id);
        }
        let indexes: Vec<usize> = (0..self.actions.len())
            .filter(|i| self.actions[*i].server == server)
            .collect();
        let mut actions: Vec<Value> = indexes.into_iter().map(|i| self.poll_action(i)).collect();
        let statuses = query.get("status").cloned().unwrap_or_default();
        actions.retain(|a| statuses.is_empty() || statuses.iter().any(|s| a["status"] == s.as_str()));
        if query
            .get("sort")
            .and_then(|v| v.first())
            .is_some_and(|s| s == "id:desc")
        {
            actions.reverse();
        }
        match page(actions, query) {
            Ok((items, meta)) => Response::json(200, json!({ "actions": items, "meta": meta })),
            Err(e) => e,
        }
    }

    fn delete(&mut self, id: &str) -> Response {
        let Some(index) = self.server(id) else {
            return not_found(id);
        };
        let server = self.servers[index].id;
        self.servers[index].deleted_at = Some(clock::unix_now());
        if let Some(item) = self.servers[index].labels.get(ITEM_LABEL).and_then(Value::as_str) {
            self.counts.entry(item.to_owned()).or_default().deletes += 1;
        }
        let action = self.start_action("delete_server", server, false);
        // Deleting ends at once: the server is gone from the project.
        self.actions[action].polls_left = Some(0);
        let action = self.poll_action(action);
        Response::json(200, json!({ "action": action }))
    }

    fn server_action(&mut self, id: &str, verb: &str) -> Response {
        let Some(index) = self.server(id) else {
            return not_found(id);
        };
        let command = match verb {
            "poweroff" => "poweroff",
            "poweron" => "poweron",
            "reset_password" => "reset_password",
            other => return error(404, "not_found", format!("no server action {other}")),
        };
        if self
            .actions
            .iter()
            .any(|a| a.server == self.servers[index].id && a.status == "running" && a.command != command)
        {
            return error(423, "locked", "server is locked by another action");
        }
        if command == "reset_password" && self.servers[index].power != Power::Running {
            return error(409, "conflict", "server must be running to reset its password");
        }
        let server = self.servers[index].id;
        let action = self.start_action(command, server, false);
        let action = self.actions[action].to_json();
        if command == "reset_password" {
            let password = ids::token(20);
            self.servers[index].root_password.clone_from(&password);
            return Response::json(201, json!({ "action": action, "root_password": password }));
        }
        Response::json(201, json!({ "action": action }))
    }
}

impl Server {
    fn status(&self) -> &'static str {
        match self.power {
            Power::Initializing => "initializing",
            Power::Running => "running",
            Power::Off => "off",
        }
    }

    fn to_json(&self) -> Value {
        let (t_name, cores, memory, disk) = *self.server_type;
        let (i_name, flavor, version) = *self.image;
        let (l_name, city, country, zone) = *self.location;
        json!({
            "id": self.id,
            "name": self.name,
            "status": self.status(),
            "created": iso8601(self.created),
            "public_net": {
                "ipv4": { "id": self.id + 1_000_000, "ip": self.ipv4, "blocked": false,
                          "dns_ptr": format!("static.{}.clients.your-server.de", self.ipv4) },
                "ipv6": { "id": self.id + 2_000_000, "ip": format!("2001:db8:{:x}::/64", self.id % 65_536),
                          "blocked": false, "dns_ptr": [] },
                "floating_ips": [],
                "firewalls": [],
            },
            "private_net": [],
            "server_type": {
                "id": SERVER_TYPES.iter().position(|t| t.0 == t_name).unwrap_or(0) + 1,
                "name": t_name, "description": t_name.to_uppercase(), "cores": cores,
                "memory": memory, "disk": disk, "storage_type": "local", "cpu_type": "shared",
                "architecture": "x86", "deprecated": false, "prices": [],
            },
            "location": {
                "id": LOCATIONS.iter().position(|l| l.0 == l_name).unwrap_or(0) + 1,
                "name": l_name, "description": format!("{city} DC Park 1"), "country": country,
                "city": city, "latitude": 50.47612, "longitude": 12.370071, "network_zone": zone,
            },
            "image": {
                "id": IMAGES.iter().position(|i| i.0 == i_name).unwrap_or(0) + 100,
                "type": "system", "status": "available", "name": i_name,
                "description": format!("{flavor} {version}"), "os_flavor": flavor, "os_version": version,
                "rapid_deploy": true, "architecture": "x86", "labels": {},
                "protection": { "delete": false }, "created": "2024-04-25T12:00:00+00:00",
                "created_from": null, "bound_to": null, "disk_size": 5, "image_size": null,
                "deprecated": null, "deleted": null,
            },
            "iso": null,
            "rescue_enabled": false,
            "locked": false,
            "backup_window": null,
            "outgoing_traffic": 0,
            "ingoing_traffic": 0,
            "included_traffic": 21_990_232_555_520_u64,
            "protection": { "delete": false, "rebuild": false },
            "labels": self.labels,
            "volumes": [],
            "load_balancers": [],
            "primary_disk_size": disk,
            "placement_group": null,
        })
    }

    fn to_sim_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "status": self.status(),
            "labels": self.labels,
            "server_type": self.server_type.0,
            "image": self.image.0,
            "location": self.location.0,
            "root_password": self.root_password,
            "ipv4": self.ipv4,
            "deleted_at": self.deleted_at,
        })
    }
}

impl Action {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "command": self.command,
            "status": self.status,
            "progress": if self.status == "running" { 50 } else { 100 },
            "started": iso8601(self.started),
            "finished": self.finished.map(iso8601),
            "resources": [{ "id": self.server, "type": "server" }],
            "error": (self.status == "error").then(|| json!({
                "code": "action_failed",
                "message": "injected fault: the server could not be created",
            })),
        })
    }
}

/// A parsed label selector: every term must hold.
struct Selector(Vec<Term>);

enum Term {
    Has(String),
    Lacks(String),
    Equals(String, String),
    Differs(String, String),
}

impl Selector {
    fn parse(text: &str) -> Option<Selector> {
        let mut terms = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let parsed = if let Some((k, v)) = term.split_once("!=") {
                Term::Differs(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                Term::Equals(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some(k) = term.strip_prefix('!') {
                Term::Lacks(k.trim().to_owned())
            } else {
                Term::Has(term.to_owned())
            };
            let key = match &parsed {
                Term::Has(k) | Term::Lacks(k) | Term::Equals(k, _) | Term::Differs(k, _) => k,
            };
            if key.is_empty() {
                return None;
            }
            terms.push(parsed);
        }
        Some(Selector(terms))
    }

    fn matches(&self, labels: &Map<String, Value>) -> bool {
        self.0.iter().all(|term| match term {
            Term::Has(k) => labels.contains_key(k),
            Term::Lacks(k) => !labels.contains_key(k),
            Term::Equals(k, v) => labels.get(k).and_then(Value::as_str) == Some(v.as_str()),
            Term::Differs(k, v) => labels.get(k).and_then(Value::as_str) != Some(v.as_str()),
        })
    }
}

/// One page of `items` (`page` from 1, `per_page` 1–50, default 25) and
/// its `meta`.
fn page(items: Vec<Value>, query: &BTreeMap<String, Vec<String>>) -> Result<(Vec<Value>, Value), Response> {
    let number = |name: &str, default: usize| -> Result<usize, Response> {
        match query.get(name).and_then(|v| v.first()) {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| invalid_field(name, &format!("{name} must be a positive integer"))),
        }
    };
    let page = number("page", 1)?;
    let per_page = number("per_page", 25)?.min(50);
    let total = items.len();
    let last = total.div_ceil(per_page).max(1);
    let slice: Vec<Value> = items.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    let meta = json!({ "pagination": {
        "page": page,
        "per_page": per_page,
        "previous_page": (page > 1).then(|| page - 1),
        "next_page": (page < last).then(|| page + 1),
        "last_page": last,
        "total_entries": total,
    }});
    Ok((slice, meta))
}

/// The query string as name → values (repeated names collect).
fn query(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(text.as_bytes()) {
        out.entry(k.into_owned()).or_default().push(v.into_owned());
    }
    out
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Keys: an optional DNS prefix and `/`, then a name; names and values up
/// to 63 characters of letters, digits, `-`, `_` and `.`, starting and
/// ending alphanumeric (values may be empty).
fn valid_label(key: &str, value: &Value) -> bool {
    let part = |s: &str, empty_ok: bool| {
        (empty_ok && s.is_empty())
            || (!s.is_empty()
                && s.len() <= 63
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric()))
    };
    let name = key.rsplit_once('/').map_or(key, |(_, n)| n);
    part(name, false) && value.as_str().is_some_and(|v| part(v, true))
}

fn error(status: u16, code: &str, message: impl Into<String>) -> Response {
    Response::json(
        status,
        json!({ "error": { "code": code, "message": message.into(), "details": {} } }),
    )
}

fn invalid_field(field: &str, message: &str) -> Response {
    error(400, "invalid_input", format!("invalid input in field '{field}'")).with_error_details(json!({
        "fields": [{ "name": field, "messages": [message] }]
    }))
}

fn not_found(id: &str) -> Response {
    error(404, "not_found", format!("server with ID '{id}' not found"))
}

trait Details {
    fn with_error_details(self, details: Value) -> Self;
}

impl Details for Response {
    fn with_error_details(mut self, details: Value) -> Self {
        if let Some(error) = self.body.get_mut("error").and_then(Value::as_object_mut) {
            error.insert("details".to_owned(), details);
        }
        self
    }
}

/// `2026-12-06T05:44:25+00:00` for unix seconds (proleptic Gregorian).
fn iso8601(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+00:00",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_as_iso_8601() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(iso8601(1_796_535_865), "2026-12-06T05:44:25+00:00");
    }

    #[test]
    fn label_selectors_match_as_hetzner_documents() {
        let labels: Map<String, Value> =
            serde_json::from_value(json!({"env": "prod", "orderflow-item": "a-1"})).unwrap();
        let matches = |s: &str| Selector::parse(s).unwrap().matches(&labels);
        assert!(matches("orderflow-item==a-1"));
        assert!(matches("orderflow-item=a-1,env"));
        assert!(matches("env!=dev,!team"));
        assert!(!matches("orderflow-item==a-2"));
        assert!(!matches("team"));
        assert!(Selector::parse("=x").is_none());
    }

    #[test]
    fn pages_say_where_the_next_one_is() {
        let items: Vec<Value> = (0..5).map(|n| json!(n)).collect();
        let q = query("page=2&per_page=2");
        let (slice, meta) = page(items, &q).unwrap();
        assert_eq!(slice, vec![json!(2), json!(3)]);
        assert_eq!(meta["pagination"]["next_page"], 3);
        assert_eq!(meta["pagination"]["previous_page"], 1);
        assert_eq!(meta["pagination"]["last_page"], 3);
    }

    #[test]
    fn labels_follow_hetzners_syntax() {
        assert!(valid_label("orderflow-item", &json!("0193-ab")));
        assert!(valid_label("example.com/team", &json!("")));
        assert!(!valid_label("bad key", &json!("x")));
        assert!(!valid_label("k", &json!("-x")));
        assert!(!valid_label("k", &json!(1)));
    }
}
