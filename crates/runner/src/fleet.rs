//! Several runner instances serving one application (`--instances N`, or
//! `SPIN_LOCAL_INSTANCES`): what must then be shared between them.
//!
//! Spin has no such setting: on SpinKube the replica count lives in the
//! `SpinApp`, and nothing stops an application from keeping state in a
//! local file on each replica. spin-local is told how many instances serve
//! the application together, and refuses what would silently split its
//! state:
//!
//! - A key-value store in a local file (`type = "spin"`, or the implicit
//!   `default`) granted to any component is refused at start-up: each
//!   instance would keep its own cache, clock offset, … Configure
//!   `type = "redis"` for it.
//! - A SQLite database is a local file too, but a component may be granted
//!   one and never open it (ours use PostgreSQL when `database_url` is set),
//!   so granted SQLite labels are warned about loudly at start-up, naming
//!   the components.

use crate::manifest::Manifest;
use crate::runtime_config::{KeyValueBackend, RuntimeConfig};

/// A configuration several instances cannot share.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// A granted key-value label is a local file.
    #[error(
        "--instances {instances}: key-value store '{label}' (used by {components}) is a local file, so each instance \
         would have its own; configure it in the runtime config as `[key_value_store.{label}] type = \"redis\"`"
    )]
    LocalKeyValue {
        /// The instance count.
        instances: u32,
        /// The label.
        label: String,
        /// The components granted it, comma-separated.
        components: String,
    },
}

/// Checks `manifest` and `runtime` for `instances` instances; prints the
/// SQLite warning. One instance: nothing to check.
pub fn check(instances: u32, manifest: &Manifest, runtime: &RuntimeConfig) -> Result<(), FleetError> {
    if instances <= 1 {
        return Ok(());
    }
    let users = |wants: &dyn Fn(&crate::manifest::Component) -> bool| {
        manifest
            .components
            .values()
            .filter(|c| wants(c))
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut kv_labels: Vec<&String> = manifest.components.values().flat_map(|c| &c.key_value_stores).collect();
    kv_labels.sort();
    kv_labels.dedup();
    for label in kv_labels {
        if let Some(KeyValueBackend::Sqlite(_)) = runtime.key_value(label) {
            return Err(FleetError::LocalKeyValue {
                instances,
                label: label.clone(),
                components: users(&|c| c.key_value_stores.contains(label)),
            });
        }
    }
    let mut sqlite_labels: Vec<&String> = manifest.components.values().flat_map(|c| &c.sqlite_databases).collect();
    sqlite_labels.sort();
    sqlite_labels.dedup();
    for label in sqlite_labels {
        eprintln!(
            "spin-local: WARNING: --instances {instances}: SQLite database '{label}' (granted to {}) is a local file; \
             each instance has its own copy. The application must not keep shared state in it (point it at \
             PostgreSQL, e.g. the `database_url` variable).",
            users(&|c| c.sqlite_databases.contains(label))
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "fleet"
[[trigger.http]]
route = "/..."
component = "web"
[component.web]
source = "web.wasm"
sqlite_databases = ["default"]
key_value_stores = ["default"]
"#;

    fn runtime(text: Option<&str>) -> RuntimeConfig {
        let dir = std::env::temp_dir().join(format!(
            "fleet-test-{}-{}",
            std::process::id(),
            text.map_or(0, str::len)
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("runtime.toml");
        if let Some(text) = text {
            std::fs::write(&file, text).expect("write");
        }
        RuntimeConfig::load(text.map(|_| file.as_path()), &dir).expect("runtime config")
    }

    #[test]
    fn one_instance_may_keep_key_value_in_a_local_file() {
        let manifest = Manifest::parse(APP, Path::new("/app")).expect("manifest");
        assert!(check(1, &manifest, &runtime(None)).is_ok());
    }

    #[test]
    fn several_instances_refuse_a_local_key_value_file_and_name_the_fix() {
        let manifest = Manifest::parse(APP, Path::new("/app")).expect("manifest");
        let refused = check(3, &manifest, &runtime(None)).expect_err("refused");
        let message = refused.to_string();
        assert!(message.contains("'default' (used by web)"), "{message}");
        assert!(message.contains(r#"type = "redis""#), "{message}");
    }

    #[test]
    fn several_instances_accept_a_shared_redis_store() {
        let manifest = Manifest::parse(APP, Path::new("/app")).expect("manifest");
        let shared = runtime(Some(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\n",
        ));
        assert!(check(3, &manifest, &shared).is_ok());
    }
}
