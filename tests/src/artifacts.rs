//! Building what the tests run: wasm components (release, wasm32-wasip2) and
//! the `spin-local` runner (release). Each is built at most once per test
//! process; cargo makes repeated builds cheap when nothing changed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The workspace root (the parent of `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn cargo(args: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(&cargo)
        .args(args)
        .current_dir(workspace_root())
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cargo}: {e}"));
    assert!(status.success(), "`cargo {}` failed: {status}", args.join(" "));
}

/// Builds the given packages with
/// `cargo build --release --target wasm32-wasip2 -p …` (once per package per
/// process). The `.wasm` files land in `target/wasm32-wasip2/release/`.
pub fn build_wasm_packages(packages: &[&str]) {
    static BUILT: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let built = built.get_or_insert_with(HashSet::new);
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !built.contains(*p)).collect();
    if missing.is_empty() {
        return;
    }
    let mut args = vec!["build", "--release", "--target", "wasm32-wasip2"];
    for p in &missing {
        args.extend(["-p", p]);
    }
    cargo(&args);
    built.extend(missing.iter().map(|p| (*p).to_owned()));
}

/// The runner binary: `$SPIN_LOCAL_BIN` if set, else
/// `target/release/spin-local`, built once per process.
pub fn runner_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("SPIN_LOCAL_BIN") {
            return PathBuf::from(bin);
        }
        cargo(&["build", "--release", "-p", "spin-local"]);
        target_dir().join("release").join("spin-local")
    })
    .clone()
}

/// Where tests leave files for people to look at (screenshots):
/// `$E2E_ARTIFACTS_DIR/<suite>` if set, else `target/e2e-artifacts/<suite>`.
/// Created if missing.
pub fn artifacts_dir(suite: &str) -> PathBuf {
    let dir = std::env::var_os("E2E_ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("e2e-artifacts"))
        .join(suite);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}
