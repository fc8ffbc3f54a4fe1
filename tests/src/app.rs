//! A running `spin-local` process under test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};

use crate::logs::Logs;

/// How long to wait for the runner to print its address (includes compiling
/// components on a cold cache).
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// Configures and starts a runner. Built by [`App::builder`].
#[derive(Debug, Clone)]
pub struct AppBuilder {
    manifest: PathBuf,
    envs: Vec<(String, Option<String>)>,
    args: Vec<String>,
    packages: Vec<String>,
    state_dir: Option<PathBuf>,
}

impl AppBuilder {
    /// Sets an environment variable for the runner (e.g. `SPIN_VARIABLE_X`).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.envs.push((key.into(), Some(value.into())));
        self
    }

    /// Passes the development values of the app's required settings (the
    /// token JWKS and issuer, `credentials_key`, `payment_webhook_secret`),
    /// as `scripts/dev` does: `spin.toml` has no defaults for them. Call it
    /// before any `env` that overrides one of them.
    pub fn dev_secrets(self) -> Self {
        self.env("SPIN_VARIABLE_AUTH_JWKS", crate::dev::AUTH_JWKS)
            .env("SPIN_VARIABLE_AUTH_ISSUER", crate::dev::AUTH_ISSUER)
            .env("SPIN_VARIABLE_CREDENTIALS_KEY", crate::dev::CREDENTIALS_KEY)
            .env("SPIN_VARIABLE_PAYMENT_WEBHOOK_SECRET", crate::dev::WEBHOOK_SECRET)
    }

    /// Points the app at the simulated providers `sims` (payment, cloud and
    /// e-mail API URLs) and has it check payment webhooks with `secret`.
    pub fn simulated_providers(self, sims: &crate::sims::Sims, secret: &str) -> Self {
        self.env("SPIN_VARIABLE_PAYMENT_API_URL", &sims.payments)
            .env("SPIN_VARIABLE_CLOUD_API_URL", &sims.cloud)
            .env("SPIN_VARIABLE_HETZNER_API_URL", format!("{}/v1", sims.hetzner))
            .env("SPIN_VARIABLE_EMAIL_API_URL", &sims.email)
            .env("SPIN_VARIABLE_PAYMENT_WEBHOOK_SECRET", secret)
    }

    /// Removes an environment variable set earlier (or inherited).
    pub fn env_remove(mut self, key: impl Into<String>) -> Self {
        self.envs.push((key.into(), None));
        self
    }

    /// Adds a flag and its value, e.g. `.arg("--schedule", "1s=/tick")`.
    pub fn arg(mut self, flag: impl Into<String>, value: impl Into<String>) -> Self {
        self.args.push(flag.into());
        self.args.push(value.into());
        self
    }

    /// Packages to build for wasm32-wasip2 before starting.
    pub fn build_packages(mut self, packages: &[&str]) -> Self {
        self.packages.extend(packages.iter().map(|p| (*p).to_owned()));
        self
    }

    /// Uses `dir` as the state directory instead of a fresh temporary one.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Builds what is needed, starts the runner and waits for its address.
    ///
    /// # Panics
    /// If building fails or the runner exits or stays silent on start-up; the
    /// panic message includes the runner's output.
    pub fn spawn(self) -> App {
        let packages: Vec<&str> = self.packages.iter().map(String::as_str).collect();
        crate::build_wasm_packages(&packages);
        let (temp, state_dir) = match &self.state_dir {
            Some(dir) => (None, dir.clone()),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("spin-local-e2e-")
                    .tempdir()
                    .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
                let path = temp.path().to_owned();
                (Some(temp), path)
            }
        };
        let logs = Logs::default();
        let (child, addr) = start(&self, &state_dir, &logs);
        App {
            builder: self,
            child: Some(child),
            addr,
            state_dir,
            _temp: temp,
            logs,
            client: Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_else(|e| panic!("cannot build the HTTP client: {e}")),
        }
    }
}

fn start(builder: &AppBuilder, state_dir: &Path, logs: &Logs) -> (Child, SocketAddr) {
    let mut cmd = Command::new(crate::runner_binary());
    cmd.arg("up")
        .arg("--from")
        .arg(&builder.manifest)
        .args(["--listen", "127.0.0.1:0"])
        .arg("--state-dir")
        .arg(state_dir)
        .args(&builder.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in &builder.envs {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", crate::runner_binary()));
    let (tx, rx) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        logs.capture(stdout, "", move |line| {
            if let Some(url) = line.strip_prefix("Serving http://") {
                // The receiver may be gone after a start-up failure.
                let _ = tx.send(url.trim().to_owned());
            }
        });
    }
    if let Some(stderr) = child.stderr.take() {
        logs.capture(stderr, "", |_| {});
    }
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(addr) => {
                let addr = addr.parse().unwrap_or_else(|e| panic!("bad address '{addr}': {e}"));
                return (child, addr);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("spin-local exited during start-up ({status}):\n{}", logs.text());
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("spin-local did not start within {START_TIMEOUT:?}:\n{}", logs.text());
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait();
                panic!(
                    "spin-local closed stdout during start-up ({status:?}):\n{}",
                    logs.text()
                );
            }
        }
    }
}

/// A running runner. Killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct App {
    builder: AppBuilder,
    child: Option<Child>,
    addr: SocketAddr,
    state_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    logs: Logs,
    client: Client,
}

impl App {
    /// Starts configuring a runner for the manifest at `manifest`.
    pub fn builder(manifest: impl AsRef<Path>) -> AppBuilder {
        AppBuilder {
            manifest: manifest.as_ref().to_owned(),
            envs: Vec::new(),
            args: Vec::new(),
            packages: Vec::new(),
            state_dir: None,
        }
    }

    /// The runner's process id while it runs (for `/proc/<pid>` figures and signals).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The address the runner is listening on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A keep-alive HTTP client (60 s timeout). Clone it for other threads.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `GET path`, panicking on transport errors (not on HTTP errors).
    pub fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.logs.text()))
    }

    /// `POST path` with `body`, panicking on transport errors.
    pub fn post(&self, path: &str, body: impl Into<String>) -> Response {
        self.client
            .post(self.url(path))
            .body(body.into())
            .send()
            .unwrap_or_else(|e| panic!("POST {path}: {e}\n{}", self.logs.text()))
    }

    /// Moves the application's clock forward by `secs` for every component
    /// (`POST /v1/internal/clock` with a service token). The app must run
    /// with `SPIN_VARIABLE_CLOCK=adjustable`. Returns the app's new time.
    ///
    /// # Panics
    /// When the app refuses (for example, its clock is the system clock).
    pub fn advance_clock(&self, secs: u32) -> chrono::DateTime<chrono::Utc> {
        let token = crate::dev::token_with("test-clock", "platform", orderflow_http::Role::Service, &["clock"]);
        let response = self
            .client
            .post(self.url("/v1/internal/clock"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "advance_secs": secs }))
            .send()
            .unwrap_or_else(|e| panic!("POST /v1/internal/clock: {e}\n{}", self.logs.text()));
        let status = response.status();
        let body: serde_json::Value = response.json().unwrap_or_default();
        assert_eq!(status, 200, "advancing the clock: {body}\n{}", self.logs.text());
        body["now"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no `now` in {body}"))
    }

    /// The state directory (databases), kept across [`App::restart`].
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The runner's output so far, across restarts.
    pub fn logs(&self) -> &Logs {
        &self.logs
    }

    /// Kills the runner with SIGKILL (no clean-up) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Already exited is fine.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM (graceful shutdown) and waits up to `timeout` for exit.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
            assert!(status.success(), "kill -TERM failed");
        }
        self.wait_for_exit(timeout)
    }

    /// Waits up to `timeout` for the runner to exit on its own (e.g. after
    /// an injected crash) and returns its status.
    ///
    /// # Panics
    /// If it is still running at the deadline.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = self
            .child
            .as_mut()
            .unwrap_or_else(|| panic!("the runner is not running"));
        let status = crate::eventually("the runner to exit", timeout, || child.try_wait().ok().flatten());
        self.child = None;
        status
    }

    /// Kills the runner (if running) and starts it again with the same
    /// manifest, arguments, environment and state directory.
    pub fn restart(&mut self) {
        self.restart_with(|b| b);
    }

    /// Like [`App::restart`], changing the configuration first (e.g. to
    /// remove a crash-injection variable).
    pub fn restart_with(&mut self, change: impl FnOnce(AppBuilder) -> AppBuilder) {
        self.kill();
        self.builder = change(self.builder.clone());
        let (child, addr) = start(&self.builder, &self.state_dir, &self.logs);
        self.child = Some(child);
        self.addr = addr;
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.kill();
        // A failing test unwinds through here: its output (which the test
        // harness shows only for failures) then carries the runner's log,
        // so every e2e failure can be read next to what the app printed.
        if std::thread::panicking() {
            eprintln!(
                "---- spin-local log (state dir {}) ----\n{}\n---- end of spin-local log ----",
                self.state_dir.display(),
                self.logs.text()
            );
        }
    }
}
