//! The runner's own fixture application (`tests/fixtures/spin.toml`).

use std::path::PathBuf;

/// The fixture component packages, built for wasm32-wasip2 before spawning.
pub const PACKAGES: &[&str] = &["fixture-headers", "fixture-sqlite", "fixture-misc", "fixture-postgres"];

/// The fixture manifest.
pub fn manifest() -> PathBuf {
    crate::workspace_root().join("tests/fixtures/spin.toml")
}
