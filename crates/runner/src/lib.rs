//! `spin-local`: a local runner for Spin applications (manifest version 2,
//! HTTP trigger) built on Wasmtime, with the Spin host interfaces our
//! components use. See the crate README for what is implemented and how it
//! differs from Spin.

pub mod app;
pub mod bench;
pub mod bindings;
pub mod cli;
pub mod crash;
pub mod database;
pub mod engine;
pub mod fleet;
pub mod host;
pub mod manifest;
pub mod outbound;
pub mod outbound_http;
pub mod routes;
pub mod runtime_config;
pub mod scheduler;
pub mod server;
pub mod state;
pub mod variables;

pub use app::{App, LoadOptions};
pub use cli::{run, Cli};
