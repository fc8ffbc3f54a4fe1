//! The runtime config file (`--runtime-config-file`), in Spin's TOML format.
//!
//! Supported tables are the ones Spin defines for local storage:
//!
//! ```toml
//! [sqlite_database.orders]
//! type = "spin"
//! path = "data/orders.db"        # relative to this file
//!
//! [key_value_store.cache]
//! type = "spin"
//! path = "data/cache.db"
//! ```
//!
//! Other backends Spin knows (`libsql`, `redis`, Azure, ...) are rejected with
//! a clear error. There is deliberately no PostgreSQL table: Spin has none, and
//! components take their connection string from a variable.
//!
//! Without a runtime config, label `default` maps to `<state-dir>/sqlite_db.db`
//! (SQLite) and `<state-dir>/sqlite_key_value.db` (key-value), as `spin up`
//! does with its `.spin` directory. Any other label must be configured.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Errors reading the runtime config file.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeConfigError {
    /// The file could not be read.
    #[error("cannot read runtime config {path}: {source}")]
    Read {
        /// The file path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys.
    #[error("invalid runtime config {path}: {source}")]
    Parse {
        /// The file path.
        path: PathBuf,
        /// The parse error.
        source: Box<toml::de::Error>,
    },
    /// A backend type other than `spin`.
    #[error("{table}.{label}: store type '{kind}' is not supported by spin-local (only \"spin\")")]
    UnsupportedType {
        /// `sqlite_database` or `key_value_store`.
        table: &'static str,
        /// The label.
        label: String,
        /// The rejected type.
        kind: String,
    },
    /// A component was granted a label with no backing store.
    #[error("component '{component}' uses {what} '{label}', which is not defined in the runtime config (only 'default' is implicit)")]
    UndefinedLabel {
        /// The component id.
        component: String,
        /// "SQLite database" or "key-value store".
        what: &'static str,
        /// The undefined label.
        label: String,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuntimeConfig {
    #[serde(default)]
    sqlite_database: BTreeMap<String, RawStore>,
    #[serde(default)]
    key_value_store: BTreeMap<String, RawStore>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: Option<PathBuf>,
    /// Spin's option for SQLite `ATTACH`; accepted, `ATTACH` is not restricted here.
    #[serde(default)]
    #[allow(dead_code)]
    allow_attach_file: bool,
}

/// Where each label's database file lives.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    sqlite: BTreeMap<String, PathBuf>,
    key_value: BTreeMap<String, PathBuf>,
}

impl RuntimeConfig {
    /// Loads `file` (if any); default labels live in `state_dir`.
    pub fn load(file: Option<&Path>, state_dir: &Path) -> Result<Self, RuntimeConfigError> {
        let mut config = Self {
            sqlite: BTreeMap::from([("default".to_owned(), state_dir.join("sqlite_db.db"))]),
            key_value: BTreeMap::from([(
                "default".to_owned(),
                state_dir.join("sqlite_key_value.db"),
            )]),
        };
        let Some(file) = file else {
            return Ok(config);
        };
        let text = std::fs::read_to_string(file).map_err(|source| RuntimeConfigError::Read {
            path: file.to_owned(),
            source,
        })?;
        let raw: RawRuntimeConfig =
            toml::from_str(&text).map_err(|source| RuntimeConfigError::Parse {
                path: file.to_owned(),
                source: Box::new(source),
            })?;
        let base = file.parent().unwrap_or(Path::new("."));
        for (table, stores, target, default_name) in [
            (
                "sqlite_database",
                raw.sqlite_database,
                &mut config.sqlite,
                "sqlite_db",
            ),
            (
                "key_value_store",
                raw.key_value_store,
                &mut config.key_value,
                "sqlite_key_value",
            ),
        ] {
            for (label, store) in stores {
                if store.kind != "spin" {
                    return Err(RuntimeConfigError::UnsupportedType {
                        table,
                        label,
                        kind: store.kind,
                    });
                }
                // Spin uses an in-memory database when `path` is omitted; we
                // keep data on disk under the state dir instead (documented).
                let path = match store.path {
                    Some(p) if p.is_absolute() => p,
                    Some(p) => base.join(p),
                    None => state_dir.join(format!("{default_name}_{label}.db")),
                };
                target.insert(label, path);
            }
        }
        Ok(config)
    }

    /// The database file for a SQLite label.
    pub fn sqlite_path(&self, label: &str) -> Option<&Path> {
        self.sqlite.get(label).map(PathBuf::as_path)
    }

    /// The database file for a key-value label.
    pub fn key_value_path(&self, label: &str) -> Option<&Path> {
        self.key_value.get(label).map(PathBuf::as_path)
    }

    /// Checks that every label a component is granted has a backing store.
    pub fn check_component(
        &self,
        component: &str,
        sqlite: &[String],
        key_value: &[String],
    ) -> Result<(), RuntimeConfigError> {
        for (labels, map, what) in [
            (sqlite, &self.sqlite, "SQLite database"),
            (key_value, &self.key_value, "key-value store"),
        ] {
            if let Some(label) = labels.iter().find(|l| !map.contains_key(*l)) {
                return Err(RuntimeConfigError::UndefinedLabel {
                    component: component.to_owned(),
                    what,
                    label: label.clone(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_resolve_relative_to_the_file_and_defaults_to_the_state_dir() {
        let dir = std::env::temp_dir().join(format!("rc-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("runtime.toml");
        std::fs::write(
            &file,
            "[sqlite_database.orders]\ntype = \"spin\"\npath = \"o.db\"\n[key_value_store.cache]\ntype = \"spin\"\npath = \"/abs/c.db\"\n",
        )
        .expect("write");
        let rc = RuntimeConfig::load(Some(&file), Path::new("/state")).expect("loads");
        assert_eq!(rc.sqlite_path("orders"), Some(dir.join("o.db").as_path()));
        assert_eq!(rc.sqlite_path("default"), Some(Path::new("/state/sqlite_db.db")));
        assert_eq!(rc.key_value_path("cache"), Some(Path::new("/abs/c.db")));
        assert!(rc.check_component("c", &["nope".into()], &[]).is_err());
        std::fs::write(&file, "[sqlite_database.x]\ntype = \"libsql\"\nurl = \"u\"\n")
            .expect("write");
        assert!(RuntimeConfig::load(Some(&file), Path::new("/s")).is_err());
        std::fs::write(&file, "[postgres]\nurl = \"u\"\n").expect("write");
        assert!(RuntimeConfig::load(Some(&file), Path::new("/s")).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
