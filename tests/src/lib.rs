//! The end-to-end test harness: builds the components and the `spin-local`
//! runner, starts the runner on `127.0.0.1:0` with a fresh state directory,
//! and gives tests an HTTP client, the captured logs, and process control
//! (kill, restart with the same state, wait for exit).
//!
//! ```no_run
//! use e2e::{App, fixtures};
//! let app = App::builder(fixtures::manifest())
//!     .build_packages(fixtures::PACKAGES)
//!     .env("SPIN_VARIABLE_GREETING", "hi")
//!     .spawn();
//! let body = app.get("/vars/greeting").text().unwrap();
//! ```

mod app;
mod artifacts;
pub mod dev;
mod logs;
mod poll;

pub mod fixtures;
pub mod pg_cluster;
pub mod redis_server;
pub mod shared;
pub mod sims;

pub use app::{App, AppBuilder};
pub use artifacts::{artifacts_dir, build_wasm_packages, runner_binary, workspace_root};
pub use logs::Logs;
pub use poll::eventually;
pub use reqwest::blocking::Response;
