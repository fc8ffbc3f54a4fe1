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
//!
//! [key_value_store.default]
//! type = "redis"
//! url = "redis://redis.example:6379/0"
//! ```
//!
//! A `redis` key-value store is Spin's `spin-key-value-redis` (see
//! `host::key_value`): its one option is `url`, checked at start-up with the
//! same parser Spin uses (`redis::parse_redis_url`). Other backends Spin
//! knows (`libsql`, Azure, ...) are rejected with a clear error. There is deliberately no PostgreSQL table: Spin has none, and
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
    /// A backend type spin-local does not implement.
    #[error("{table}.{label}: store type '{kind}' is not supported by spin-local (SQLite: \"spin\"; key-value: \"spin\" or \"redis\")")]
    UnsupportedType {
        /// `sqlite_database` or `key_value_store`.
        table: &'static str,
        /// The label.
        label: String,
        /// The rejected type.
        kind: String,
    },
    /// An option that does not belong to the store's type (`url` on a
    /// `spin` store, `path` on a `redis` one), or a missing one.
    #[error("{table}.{label}: {problem}")]
    BadOption {
        /// `sqlite_database` or `key_value_store`.
        table: &'static str,
        /// The label.
        label: String,
        /// What is wrong, naming the option.
        problem: String,
    },
    /// A `redis` store's `url` that Spin's parser refuses (Spin: "Invalid Redis URL").
    #[error(
        "key_value_store.{label}: Invalid Redis URL (expected redis://[user:password@]host[:port][/db] or rediss://…)"
    )]
    InvalidRedisUrl {
        /// The label.
        label: String,
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
    /// A `redis` key-value store's server.
    #[serde(default)]
    url: Option<String>,
    /// Spin's option for SQLite `ATTACH`; accepted, `ATTACH` is not restricted here.
    #[serde(default)]
    #[allow(dead_code)]
    allow_attach_file: bool,
}

/// Where a key-value label's data lives.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyValueBackend {
    /// Spin's default store: a SQLite file on this machine.
    Sqlite(PathBuf),
    /// A Redis server, shared by every instance that names it.
    Redis(String),
}

impl std::fmt::Debug for KeyValueBackend {
    // The URL may carry a password: show only where it points.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Redis(url) => f
                .debug_tuple("Redis")
                .field(&url.rsplit('@').next().unwrap_or_default())
                .finish(),
        }
    }
}

/// Where each label's database lives.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    sqlite: BTreeMap<String, PathBuf>,
    key_value: BTreeMap<String, KeyValueBackend>,
}

impl RuntimeConfig {
    /// Loads `file` (if any); default labels live in `state_dir`.
    pub fn load(file: Option<&Path>, state_dir: &Path) -> Result<Self, RuntimeConfigError> {
        let mut config = Self {
            sqlite: BTreeMap::from([("default".to_owned(), state_dir.join("sqlite_db.db"))]),
            key_value: BTreeMap::from([(
                "default".to_owned(),
                KeyValueBackend::Sqlite(state_dir.join("sqlite_key_value.db")),
            )]),
        };
        let Some(file) = file else {
            return Ok(config);
        };
        let text = std::fs::read_to_string(file).map_err(|source| RuntimeConfigError::Read {
            path: file.to_owned(),
            source,
        })?;
        let raw: RawRuntimeConfig = toml::from_str(&text).map_err(|source| RuntimeConfigError::Parse {
            path: file.to_owned(),
            source: Box::new(source),
        })?;
        let base = file.parent().unwrap_or(Path::new("."));
        // Spin uses an in-memory database when `path` is omitted; we keep
        // data on disk under the state dir instead (documented).
        let local = |p: Option<PathBuf>, default_name: &str, label: &str| match p {
            Some(p) if p.is_absolute() => p,
            Some(p) => base.join(p),
            None => state_dir.join(format!("{default_name}_{label}.db")),
        };
        for (label, store) in raw.sqlite_database {
            if store.kind != "spin" {
                return Err(RuntimeConfigError::UnsupportedType {
                    table: "sqlite_database",
                    label,
                    kind: store.kind,
                });
            }
            if store.url.is_some() {
                return Err(bad_option(
                    "sqlite_database",
                    &label,
                    "`url` is not an option of type \"spin\"",
                ));
            }
            let path = local(store.path, "sqlite_db", &label);
            config.sqlite.insert(label, path);
        }
        for (label, store) in raw.key_value_store {
            let backend = match store.kind.as_str() {
                "spin" => {
                    if store.url.is_some() {
                        return Err(bad_option(
                            "key_value_store",
                            &label,
                            "`url` is not an option of type \"spin\"",
                        ));
                    }
                    KeyValueBackend::Sqlite(local(store.path, "sqlite_key_value", &label))
                }
                "redis" => {
                    if store.path.is_some() {
                        return Err(bad_option(
                            "key_value_store",
                            &label,
                            "`path` is not an option of type \"redis\"",
                        ));
                    }
                    let Some(url) = store.url else {
                        return Err(bad_option("key_value_store", &label, "type \"redis\" needs `url`"));
                    };
                    if redis::parse_redis_url(&url).is_none() {
                        return Err(RuntimeConfigError::InvalidRedisUrl { label });
                    }
                    KeyValueBackend::Redis(url)
                }
                _ => {
                    return Err(RuntimeConfigError::UnsupportedType {
                        table: "key_value_store",
                        label,
                        kind: store.kind,
                    })
                }
            };
            config.key_value.insert(label, backend);
        }
        Ok(config)
    }

    /// The database file for a SQLite label.
    pub fn sqlite_path(&self, label: &str) -> Option<&Path> {
        self.sqlite.get(label).map(PathBuf::as_path)
    }

    /// Where a key-value label's data lives.
    pub fn key_value(&self, label: &str) -> Option<&KeyValueBackend> {
        self.key_value.get(label)
    }

    /// Checks that every label a component is granted has a backing store.
    pub fn check_component(
        &self,
        component: &str,
        sqlite: &[String],
        key_value: &[String],
    ) -> Result<(), RuntimeConfigError> {
        let undefined = |what, label: &String| RuntimeConfigError::UndefinedLabel {
            component: component.to_owned(),
            what,
            label: label.clone(),
        };
        if let Some(label) = sqlite.iter().find(|l| !self.sqlite.contains_key(*l)) {
            return Err(undefined("SQLite database", label));
        }
        if let Some(label) = key_value.iter().find(|l| !self.key_value.contains_key(*l)) {
            return Err(undefined("key-value store", label));
        }
        Ok(())
    }
}

fn bad_option(table: &'static str, label: &str, problem: &str) -> RuntimeConfigError {
    RuntimeConfigError::BadOption {
        table,
        label: label.to_owned(),
        problem: problem.to_owned(),
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
        assert_eq!(
            rc.key_value("cache"),
            Some(&KeyValueBackend::Sqlite(PathBuf::from("/abs/c.db")))
        );
        assert!(rc.check_component("c", &["nope".into()], &[]).is_err());
        std::fs::write(&file, "[sqlite_database.x]\ntype = \"libsql\"\nurl = \"u\"\n").expect("write");
        assert!(RuntimeConfig::load(Some(&file), Path::new("/s")).is_err());
        std::fs::write(&file, "[postgres]\nurl = \"u\"\n").expect("write");
        assert!(RuntimeConfig::load(Some(&file), Path::new("/s")).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_redis_key_value_store_takes_a_url_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("rc-redis-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("runtime.toml");
        let load = |text: &str| {
            std::fs::write(&file, text).expect("write");
            RuntimeConfig::load(Some(&file), Path::new("/state"))
        };
        let rc = load("[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://:pw@10.0.0.5:6380/2\"\n")
            .expect("loads");
        assert_eq!(
            rc.key_value("default"),
            Some(&KeyValueBackend::Redis("redis://:pw@10.0.0.5:6380/2".into()))
        );
        assert!(!format!("{rc:?}").contains("pw"), "the password is never printed");
        let no_url = load("[key_value_store.default]\ntype = \"redis\"\n").unwrap_err();
        assert!(no_url.to_string().contains("needs `url`"), "{no_url}");
        let bad_url = load("[key_value_store.default]\ntype = \"redis\"\nurl = \"http://x\"\n").unwrap_err();
        assert!(bad_url.to_string().contains("Invalid Redis URL"), "{bad_url}");
        let path =
            load("[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://h\"\npath = \"x.db\"\n").unwrap_err();
        assert!(path.to_string().contains("`path`"), "{path}");
        let sqlite_redis = load("[sqlite_database.default]\ntype = \"redis\"\nurl = \"redis://h\"\n").unwrap_err();
        assert!(sqlite_redis.to_string().contains("not supported"), "{sqlite_redis}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_deployments_example_runtime_config_loads() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/runtime-config.example.toml");
        let rc = RuntimeConfig::load(Some(&file), Path::new("/state")).expect("deploy's example loads");
        assert!(matches!(rc.key_value("default"), Some(KeyValueBackend::Redis(_))));
    }
}
