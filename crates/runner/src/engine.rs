//! The Wasmtime engine and the on-disk cache of compiled components.
//!
//! Instances come from the pooling allocator, so per-request instantiation
//! reuses pre-reserved memory slots instead of mapping fresh memory.
//!
//! Compiling a component takes seconds; test suites start the runner many
//! times with the same `.wasm` files. Compiled artifacts are therefore cached
//! (`Component::serialize`) under the cache directory, keyed by a SHA-256 of
//! the wasm bytes, the Wasmtime version and the engine's compatibility hash
//! (target, tunables and enabled features). Files are written atomically.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// The Wasmtime version baked into cache keys.
const WASMTIME_VERSION: &str = "48.0.8";

/// How many component instances may be alive at once (concurrent requests,
/// including chained ones).
const MAX_INSTANCES: u32 = 256;

/// Builds the engine used for every component.
pub fn build_engine() -> anyhow::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(MAX_INSTANCES)
        .total_core_instances(MAX_INSTANCES * 4)
        .total_memories(MAX_INSTANCES * 2)
        .total_tables(MAX_INSTANCES * 4)
        .max_memory_size(256 << 20)
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(64 << 10);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("creating the wasmtime engine")
}

/// A hex key identifying `wasm` compiled by `engine`.
fn cache_key(engine: &Engine, wasm: &[u8]) -> String {
    // The compatibility hash is only exposed through `Hash`; feed it to a
    // SHA-256 so the key is stable across processes.
    struct ShaHasher(Sha256);
    impl Hasher for ShaHasher {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut h = ShaHasher(Sha256::new());
    h.write(WASMTIME_VERSION.as_bytes());
    engine.precompile_compatibility_hash().hash(&mut h);
    h.write(wasm);
    hex::encode(h.0.finalize())
}

/// Loads `wasm_path` from the cache or compiles (and caches) it.
///
/// Returns the component and whether it came from the cache.
pub fn load_component(
    engine: &Engine,
    wasm_path: &Path,
    cache_dir: Option<&Path>,
) -> anyhow::Result<(Component, bool)> {
    let wasm = std::fs::read(wasm_path).with_context(|| format!("reading component {}", wasm_path.display()))?;
    let Some(cache_dir) = cache_dir else {
        return Ok((compile(engine, &wasm, wasm_path)?, false));
    };
    let cached = cache_dir.join(format!("{}.cwasm", cache_key(engine, &wasm)));
    if cached.exists() {
        match deserialize(engine, &cached) {
            Ok(c) => return Ok((c, true)),
            Err(e) => eprintln!("spin-local: ignoring unusable cache entry {}: {e:#}", cached.display()),
        }
    }
    let component = compile(engine, &wasm, wasm_path)?;
    if let Err(e) = store(&component, cache_dir, &cached) {
        eprintln!("spin-local: not caching compiled component: {e:#}");
    }
    Ok((component, false))
}

fn compile(engine: &Engine, wasm: &[u8], path: &Path) -> anyhow::Result<Component> {
    Component::new(engine, wasm)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("compiling {}", path.display()))
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> anyhow::Result<Component> {
    // SAFETY: the file was produced by `Component::serialize` of this runner
    // in a directory only it writes, under a name that includes the engine's
    // compatibility hash; Wasmtime additionally validates the header.
    unsafe { Component::deserialize_file(engine, path) }.map_err(anyhow::Error::from)
}

fn store(component: &Component, dir: &Path, path: &PathBuf) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let bytes = component.serialize()?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
