//! The simulated providers (`crates/sims`, binary `sims`) as a child
//! process: a payment provider speaking Stripe's wire format, our own cloud
//! API, Hetzner Cloud's API and an email API on loopback, each with a
//! `/_sim` control surface. [`Sims::spawn`] builds the binary once per
//! process (or takes `$SIMS_BIN`), starts it on port 0 and reads back the
//! four base URLs; dropping it kills it.
//!
//! ```no_run
//! use e2e::sims::Sims;
//! use serde_json::json;
//! let sims = Sims::spawn(None, "whsec_e2e");
//! // Point the app at `sims.payments` / `sims.cloud` / `sims.email`, then:
//! sims.set_webhook("http://127.0.0.1:3000/v1/webhooks/payments/stripe", "whsec_e2e");
//! sims.set_cloud_faults(json!({ "fail_reference": "item-1", "times": 2 }));
//! let outcome = sims.succeed("pi_123", json!({ "deliveries": 10, "concurrent": true }));
//! assert_eq!(outcome["statuses"][0], 200);
//! ```

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{json, Value};

use crate::logs::Logs;

/// A payment API key the simulator accepts (any `sk_test_…` does).
pub const PAYMENTS_KEY: &str = "sk_test_e2e";
/// A cloud API token the simulator accepts (any `ck_…` does).
pub const CLOUD_TOKEN: &str = "ck_e2e";
/// An email API key the simulator accepts (any `ek_…` does).
pub const EMAIL_KEY: &str = "ek_e2e";

/// How long to wait for the three address lines once the binary is built.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Running simulators. Killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct Sims {
    /// The payment provider's base URL, `http://127.0.0.1:PORT`.
    pub payments: String,
    /// The cloud provider's base URL.
    pub cloud: String,
    /// The email API's base URL.
    pub email: String,
    /// Hetzner Cloud's base URL (its API is under `/v1`).
    pub hetzner: String,
    child: Option<Child>,
    logs: Logs,
    client: Client,
}

/// The `sims` binary: `$SIMS_BIN` if set, else `target/release/sims`,
/// built with `cargo build --release -p orderflow-sims` once per process.
pub fn sims_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("SIMS_BIN") {
            return PathBuf::from(bin);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(&cargo)
            .args(["build", "--release", "-p", "orderflow-sims"])
            .current_dir(crate::workspace_root())
            .status()
            .unwrap_or_else(|e| panic!("cannot run {cargo}: {e}"));
        assert!(
            status.success(),
            "`cargo build --release -p orderflow-sims` failed: {status}"
        );
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| crate::workspace_root().join("target"));
        target.join("release").join("sims")
    })
    .clone()
}

impl Sims {
    /// Starts the simulators, delivering payment webhooks to `webhook_url`
    /// (settable later with [`Sims::set_webhook`]) signed with `secret`.
    ///
    /// # Panics
    /// If building fails or the program does not print its addresses.
    pub fn spawn(webhook_url: Option<&str>, secret: &str) -> Sims {
        Sims::spawn_with(webhook_url, secret, &[])
    }

    /// Like [`Sims::spawn`] with extra flags, e.g. `&["--cloud-latency-ms", "200"]`.
    pub fn spawn_with(webhook_url: Option<&str>, secret: &str, args: &[&str]) -> Sims {
        let bin = sims_binary();
        let mut cmd = Command::new(&bin);
        cmd.args(["--webhook-secret", secret]).args(args);
        if let Some(url) = webhook_url {
            cmd.args(["--webhook-url", url]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin:?}: {e}"));
        let logs = Logs::default();
        let (tx, rx) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            logs.capture(stdout, "[sims] ", move |line| {
                if let Some((name, url)) = line.split_once(' ') {
                    // The receiver may be gone after a start-up failure.
                    let _ = tx.send((name.to_owned(), url.trim().to_owned()));
                }
            });
        }
        if let Some(stderr) = child.stderr.take() {
            logs.capture(stderr, "[sims] ", |_| {});
        }
        let (mut payments, mut cloud, mut email, mut hetzner) = (None, None, None, None);
        let deadline = Instant::now() + START_TIMEOUT;
        while payments.is_none() || cloud.is_none() || email.is_none() || hetzner.is_none() {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok((name, url)) => match name.as_str() {
                    "payments" => payments = Some(url),
                    "cloud" => cloud = Some(url),
                    "email" => email = Some(url),
                    "hetzner" => hetzner = Some(url),
                    _ => {}
                },
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        panic!("sims exited during start-up ({status}):\n{}", logs.text());
                    }
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        panic!("sims did not start within {START_TIMEOUT:?}:\n{}", logs.text());
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait();
                    panic!("sims closed stdout during start-up ({status:?}):\n{}", logs.text());
                }
            }
        }
        Sims {
            payments: payments.unwrap_or_default(),
            cloud: cloud.unwrap_or_default(),
            email: email.unwrap_or_default(),
            hetzner: hetzner.unwrap_or_default(),
            child: Some(child),
            logs,
            client: Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_else(|e| panic!("cannot build the HTTP client: {e}")),
        }
    }

    /// What the simulators printed.
    pub fn logs(&self) -> &Logs {
        &self.logs
    }

    /// Kills the simulators (SIGKILL) and reaps them.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Already exited is fine.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    // --- Payments -------------------------------------------------------

    /// Sets where payment events go and the secret they are signed with.
    pub fn set_webhook(&self, url: &str, secret: &str) {
        self.post(
            &self.payments,
            "/_sim/config",
            json!({ "webhook_url": url, "webhook_secret": secret }),
        );
    }

    /// The customer pays: `payment_intent.succeeded` is delivered. `options`:
    /// `deliveries`, `concurrent`, `timestamp_offset_secs`, `forge`, `amount`,
    /// `currency` (all optional; `json!({})` for a plain delivery). Returns
    /// `{"event", "effect", "statuses": [..], "deliveries": [..]}`.
    pub fn succeed(&self, intent_id: &str, options: Value) -> Value {
        self.post(
            &self.payments,
            &format!("/_sim/payment_intents/{intent_id}/succeed"),
            options,
        )
    }

    /// The card is declined: `payment_intent.payment_failed` (same options).
    pub fn fail(&self, intent_id: &str, options: Value) -> Value {
        self.post(
            &self.payments,
            &format!("/_sim/payment_intents/{intent_id}/fail"),
            options,
        )
    }

    /// The intent expires: `payment_intent.canceled` (same options).
    pub fn expire(&self, intent_id: &str, options: Value) -> Value {
        self.post(
            &self.payments,
            &format!("/_sim/payment_intents/{intent_id}/expire"),
            options,
        )
    }

    /// Sends a recorded event again, byte for byte, freshly signed
    /// (`deliveries`, `concurrent`, `timestamp_offset_secs`, `forge`).
    pub fn redeliver(&self, event_id: &str, options: Value) -> Value {
        self.post(&self.payments, &format!("/_sim/events/{event_id}/redeliver"), options)
    }

    /// Every payment intent created, oldest first.
    pub fn payment_intents(&self) -> Vec<Value> {
        self.list(&self.payments, "/_sim/payment_intents")
    }

    /// Every refund made, oldest first.
    pub fn refunds(&self) -> Vec<Value> {
        self.list(&self.payments, "/_sim/refunds")
    }

    /// Every event recorded, oldest first.
    pub fn events(&self) -> Vec<Value> {
        self.list(&self.payments, "/_sim/events")
    }

    /// Every payment API call: method, path, idempotency key, status, time.
    pub fn payment_requests(&self) -> Vec<Value> {
        self.list(&self.payments, "/_sim/requests")
    }

    /// `{"fail_next": N, "status": 500}`: the next N payment API calls fail.
    pub fn set_payment_faults(&self, faults: Value) {
        self.post(&self.payments, "/_sim/faults", faults);
    }

    // --- Cloud ----------------------------------------------------------

    /// Replaces the cloud fault plan (see `crates/sims/src/faults.rs`):
    /// `fail_nth_call`, `fail_calls`, `fail_reference`, `fail_references`,
    /// `times`, `fail_deletes_for`, `fail_provisioning_for`,
    /// `already_exists`, `ready_after_polls`, `latency_ms`, `response_delay_ms`.
    pub fn set_cloud_faults(&self, faults: Value) {
        self.post(&self.cloud, "/_sim/faults", faults);
    }

    /// Clears the cloud fault plan.
    pub fn clear_cloud_faults(&self) {
        self.send(
            self.client.delete(format!("{}/_sim/faults", self.cloud)),
            "DELETE /_sim/faults",
        );
    }

    /// Every cloud resource (with `reference`, `status`, `access`,
    /// `idempotency_key`, `polls`), oldest first.
    pub fn resources(&self) -> Vec<Value> {
        self.list(&self.cloud, "/_sim/resources")
    }

    /// Per-reference counters: `{"<item>": {"create_calls", "creates",
    /// "failed_creates", "delete_calls", "deletes", "failed_deletes"}}`.
    pub fn resource_counts(&self) -> Value {
        self.get(&self.cloud, "/_sim/resources")["by_reference"].clone()
    }

    /// Every cloud API call: `n`, method, path, reference, idempotency key,
    /// status, injected `fault`, `time_ms`.
    pub fn cloud_calls(&self) -> Vec<Value> {
        self.list(&self.cloud, "/_sim/calls")
    }

    // --- Hetzner Cloud ---------------------------------------------------

    /// Replaces the Hetzner fault plan (see `crates/sims/src/hetzner.rs`):
    /// `fail_next`, `rate_limit_next`, `create_then_fail`, `stuck`,
    /// `action_polls`, `action_error_for`, `response_delay_ms`.
    pub fn set_hetzner_faults(&self, faults: Value) {
        self.post(&self.hetzner, "/_sim/faults", faults);
    }

    /// Every Hetzner server ever created (deleted ones with `deleted_at`),
    /// `by_item` (creates and deletes per `orderflow-item` label) and `live`.
    pub fn hetzner_servers(&self) -> Value {
        self.get(&self.hetzner, "/_sim/servers")
    }

    // --- Email ----------------------------------------------------------

    /// Every message accepted (to, subject, text, html, tags,
    /// idempotency_key, time), oldest first.
    pub fn messages(&self) -> Vec<Value> {
        self.list(&self.email, "/_sim/messages")
    }

    /// `{"fail_next": N, "status": 500}`: the next N email API calls fail.
    pub fn set_email_faults(&self, faults: Value) {
        self.post(&self.email, "/_sim/faults", faults);
    }

    // --- Plumbing -------------------------------------------------------

    /// `POST base+path` with JSON; panics unless 2xx; returns the JSON reply.
    fn post(&self, base: &str, path: &str, body: Value) -> Value {
        let request = self
            .client
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body.to_string());
        self.send(request, &format!("POST {path}"))
    }

    fn get(&self, base: &str, path: &str) -> Value {
        self.send(self.client.get(format!("{base}{path}")), &format!("GET {path}"))
    }

    /// The `data` array of a `/_sim` listing.
    fn list(&self, base: &str, path: &str) -> Vec<Value> {
        self.get(base, path)["data"].as_array().cloned().unwrap_or_default()
    }

    fn send(&self, request: reqwest::blocking::RequestBuilder, what: &str) -> Value {
        let response = request
            .send()
            .unwrap_or_else(|e| panic!("sims {what}: {e}\n{}", self.logs.text()));
        let status = response.status();
        let text = response.text().unwrap_or_default();
        assert!(status.is_success(), "sims {what}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

impl Drop for Sims {
    fn drop(&mut self) {
        self.kill();
        // A failing test shows the simulators' log beside the runner's.
        if std::thread::panicking() {
            eprintln!("---- sims log ----\n{}\n---- end of sims log ----", self.logs.text());
        }
    }
}
