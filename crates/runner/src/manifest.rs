//! The `spin.toml` application manifest (version 2), parsed the way Spin parses it.
//!
//! Spin deserialises the manifest with `#[serde(deny_unknown_fields)]` on the
//! top level, `[application]`, `[variables.*]` and `[component.*]` tables, so a
//! misspelt key is an error rather than silently ignored. We do the same. The
//! HTTP trigger table is parsed into the fields Spin's HTTP trigger reads
//! (`route`, `component`, `executor`) and anything else is rejected too.
//!
//! Fields that Spin accepts but this runner does not act on (`files`,
//! `environment`, `build`, `tool`, ...) are accepted and ignored, as documented
//! in the crate README.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Errors loading or validating a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The manifest file could not be read.
    #[error("cannot read manifest {path}: {source}")]
    Read {
        /// The manifest path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The manifest is not valid TOML or does not match Spin's schema.
    #[error("invalid manifest {path}: {source}")]
    Parse {
        /// The manifest path.
        path: PathBuf,
        /// The TOML/serde error, naming the offending key.
        source: Box<toml::de::Error>,
    },
    /// `spin_manifest_version` is not 2.
    #[error("unsupported spin_manifest_version {0}: only version 2 is supported")]
    Version(i64),
    /// A trigger type other than `http` was declared.
    #[error("trigger type '{0}' is not supported by spin-local (only 'http')")]
    UnsupportedTrigger(String),
    /// An HTTP trigger names a component that is not defined.
    #[error("trigger for route '{route}' references undefined component '{component}'")]
    UnknownComponent {
        /// The trigger's route, for the message.
        route: String,
        /// The missing component id.
        component: String,
    },
    /// An HTTP trigger has no component, or an inline component.
    #[error("trigger for route '{0}' must reference a component by id")]
    MissingComponent(String),
    /// A component source that is not a local file path.
    #[error("component '{0}': only local file sources are supported (no url/registry sources)")]
    UnsupportedSource(String),
    /// `route = { private = false }`, which Spin also rejects.
    #[error("component '{0}': route must be a string pattern or '{{ private = true }}'")]
    PrivateFalse(String),
    /// An executor other than the default Spin executor (e.g. `wagi`).
    #[error("component '{0}': only the default 'spin' HTTP executor is supported")]
    UnsupportedExecutor(String),
    /// A variable that is both `required` and has a `default`.
    #[error("variable '{0}': a variable cannot be both required and have a default")]
    RequiredWithDefault(String),
    /// A name is not a valid identifier for its table.
    #[error("invalid {kind} name '{name}': {reason}")]
    InvalidName {
        /// What kind of name ("component", "variable", "label").
        kind: &'static str,
        /// The offending name.
        name: String,
        /// Why it is invalid.
        reason: &'static str,
    },
}

/// The raw manifest as written in `spin.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: i64,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, Variable>,
    #[serde(default, rename = "trigger")]
    triggers: BTreeMap<String, Vec<toml::Table>>,
    #[serde(default, rename = "component")]
    components: BTreeMap<String, RawComponent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Accepted for compatibility with Spin; not used by the runner.
struct RawApplication {
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    authors: Vec<String>,
    #[serde(default)]
    targets: Vec<toml::Value>,
    #[serde(default)]
    trigger: BTreeMap<String, toml::Table>,
    #[serde(default)]
    tool: BTreeMap<String, toml::Table>,
}

/// An application variable declared under `[variables]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    /// The default value, if any.
    #[serde(default)]
    pub default: Option<String>,
    /// Whether a value must be supplied at run time.
    #[serde(default)]
    pub required: bool,
    /// Whether the value is a secret (never logged).
    #[serde(default)]
    pub secret: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Several fields are accepted for compatibility but not used.
struct RawComponent {
    source: toml::Value,
    #[serde(default)]
    description: String,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    files: Vec<toml::Value>,
    #[serde(default)]
    exclude_files: Vec<String>,
    #[serde(default)]
    allowed_http_hosts: Vec<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[serde(default)]
    ai_models: Vec<String>,
    #[serde(default)]
    build: Option<toml::Table>,
    #[serde(default)]
    tool: BTreeMap<String, toml::Table>,
    #[serde(default)]
    dependencies_inherit_configuration: bool,
    #[serde(default)]
    dependencies: toml::Table,
    #[serde(default)]
    profile: toml::Table,
}

/// One `[[trigger.http]]` entry, as Spin's HTTP trigger reads it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpTrigger {
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<String>,
    #[serde(default)]
    component: Option<toml::Value>,
    route: RawRoute,
    #[serde(default)]
    executor: Option<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

/// The route of an HTTP trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A public route pattern such as `/v1/orders/...`.
    Path(String),
    /// `{ private = true }`: reachable only through service chaining.
    Private,
}

/// A validated component.
#[derive(Debug, Clone)]
pub struct Component {
    /// The component id (the `[component.<id>]` key).
    pub id: String,
    /// Absolute (or manifest-relative resolved) path to the `.wasm` file.
    pub source: PathBuf,
    /// Component variables: name -> template (e.g. `"{{ db_url }}"`).
    pub variables: BTreeMap<String, String>,
    /// `allowed_outbound_hosts` entries, unparsed.
    pub allowed_outbound_hosts: Vec<String>,
    /// Granted key-value store labels.
    pub key_value_stores: Vec<String>,
    /// Granted SQLite database labels.
    pub sqlite_databases: Vec<String>,
}

/// A validated HTTP trigger.
#[derive(Debug, Clone)]
pub struct HttpTrigger {
    /// The route (public pattern or private).
    pub route: Route,
    /// The component id this trigger invokes.
    pub component: String,
}

/// A validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// `[application] name`.
    pub name: String,
    /// Application variables by name.
    pub variables: BTreeMap<String, Variable>,
    /// HTTP triggers in manifest order.
    pub http_triggers: Vec<HttpTrigger>,
    /// Components by id.
    pub components: BTreeMap<String, Component>,
    /// The directory containing the manifest (relative paths resolve against it).
    pub dir: PathBuf,
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Self::parse(&text, &dir).map_err(|e| match e {
            ManifestError::Parse { source, .. } => ManifestError::Parse {
                path: path.to_owned(),
                source,
            },
            other => other,
        })
    }

    /// Parses manifest text; relative sources resolve against `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<Self, ManifestError> {
        let raw: RawManifest = toml::from_str(text).map_err(|source| ManifestError::Parse {
            path: PathBuf::new(),
            source: Box::new(source),
        })?;
        if raw.spin_manifest_version != 2 {
            return Err(ManifestError::Version(raw.spin_manifest_version));
        }
        for (name, var) in &raw.variables {
            check_snake(name, "variable")?;
            if var.required && var.default.is_some() {
                return Err(ManifestError::RequiredWithDefault(name.clone()));
            }
        }
        let mut components = BTreeMap::new();
        for (id, rc) in raw.components {
            check_kebab(&id, "component")?;
            let source = match &rc.source {
                toml::Value::String(s) => dir.join(s),
                _ => return Err(ManifestError::UnsupportedSource(id)),
            };
            for label in rc.sqlite_databases.iter().chain(&rc.key_value_stores) {
                check_label(label)?;
            }
            for name in rc.variables.keys() {
                check_snake(name, "variable")?;
            }
            let mut hosts = rc.allowed_outbound_hosts;
            // Spin normalises the deprecated field into allowed_outbound_hosts.
            hosts.extend(rc.allowed_http_hosts.iter().map(|h| {
                if h.contains("://") {
                    h.clone()
                } else {
                    format!("*://{h}")
                }
            }));
            components.insert(
                id.clone(),
                Component {
                    id,
                    source,
                    variables: rc.variables,
                    allowed_outbound_hosts: hosts,
                    key_value_stores: rc.key_value_stores,
                    sqlite_databases: rc.sqlite_databases,
                },
            );
        }
        let mut http_triggers = Vec::new();
        for (kind, triggers) in raw.triggers {
            if kind != "http" {
                return Err(ManifestError::UnsupportedTrigger(kind));
            }
            for table in triggers {
                let t: RawHttpTrigger =
                    toml::Value::Table(table)
                        .try_into()
                        .map_err(|source| ManifestError::Parse {
                            path: PathBuf::new(),
                            source: Box::new(source),
                        })?;
                let route = match t.route {
                    RawRoute::Path(p) => Route::Path(p),
                    RawRoute::Private { private: true } => Route::Private,
                    RawRoute::Private { private: false } => {
                        return Err(ManifestError::PrivateFalse(
                            component_name(&t.component).unwrap_or_default(),
                        ))
                    }
                };
                let route_text = match &route {
                    Route::Path(p) => p.clone(),
                    Route::Private => "{ private = true }".to_owned(),
                };
                let component =
                    component_name(&t.component).ok_or_else(|| ManifestError::MissingComponent(route_text.clone()))?;
                if let Some(executor) = &t.executor {
                    if executor.get("type").and_then(toml::Value::as_str) != Some("spin") {
                        return Err(ManifestError::UnsupportedExecutor(component));
                    }
                }
                if !components.contains_key(&component) {
                    return Err(ManifestError::UnknownComponent {
                        route: route_text,
                        component,
                    });
                }
                http_triggers.push(HttpTrigger { route, component });
            }
        }
        Ok(Self {
            name: raw.application.name,
            variables: raw.variables,
            http_triggers,
            components,
            dir: dir.to_owned(),
        })
    }
}

fn component_name(value: &Option<toml::Value>) -> Option<String> {
    value.as_ref().and_then(|v| v.as_str()).map(str::to_owned)
}

/// Spin's `KebabId`: lower-case ASCII letters, digits and single dashes,
/// starting with a letter.
fn check_kebab(name: &str, kind: &'static str) -> Result<(), ManifestError> {
    check_id(name, kind, '-')
}

/// Spin's `LowerSnakeId` (variable names).
fn check_snake(name: &str, kind: &'static str) -> Result<(), ManifestError> {
    check_id(name, kind, '_')
}

/// Store and database labels may be kebab-case or snake_case.
fn check_label(name: &str) -> Result<(), ManifestError> {
    check_kebab(name, "label").or_else(|_| check_snake(name, "label"))
}

fn check_id(name: &str, kind: &'static str, sep: char) -> Result<(), ManifestError> {
    let invalid = |reason| ManifestError::InvalidName {
        kind,
        name: name.to_owned(),
        reason,
    };
    let first = name.chars().next().ok_or_else(|| invalid("empty"))?;
    if !first.is_ascii_lowercase() {
        return Err(invalid("must start with a lower-case letter"));
    }
    if name.ends_with(sep) || name.contains(&format!("{sep}{sep}")) {
        return Err(invalid("separators must be single and not trailing"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == sep)
    {
        return Err(invalid("only lower-case letters, digits and separators"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
spin_manifest_version = 2
[application]
name = "app"
[variables]
db_url = { default = "x" }
token = { required = true, secret = true }
[[trigger.http]]
route = "/a/..."
component = "a"
[[trigger.http]]
route = { private = true }
component = "b"
[component.a]
source = "a.wasm"
sqlite_databases = ["default"]
variables = { url = "{{ db_url }}" }
[component.a.build]
command = "cargo build"
[component.b]
source = "b.wasm"
"#;

    #[test]
    fn a_valid_manifest_parses_with_private_routes_and_build_tables() {
        let m = Manifest::parse(MINIMAL, Path::new("/app")).expect("parses");
        assert_eq!(m.http_triggers.len(), 2);
        assert_eq!(m.http_triggers[1].route, Route::Private);
        assert_eq!(m.components["a"].source, PathBuf::from("/app/a.wasm"));
        assert!(m.variables["token"].secret);
    }

    #[test]
    fn unknown_component_keys_are_rejected_like_spin() {
        let text = MINIMAL.replace("[component.b]", "[component.b]\nsqlite_database = []");
        let err = Manifest::parse(&text, Path::new(".")).expect_err("rejected");
        assert!(err.to_string().contains("sqlite_database"), "{err}");
    }

    #[test]
    fn unknown_top_level_and_trigger_keys_are_rejected() {
        let text = format!("{MINIMAL}\n[extra]\nx = 1\n");
        assert!(Manifest::parse(&text, Path::new(".")).is_err());
        let text = MINIMAL.replace("route = \"/a/...\"", "route = \"/a/...\"\nroot = 1");
        assert!(Manifest::parse(&text, Path::new(".")).is_err());
    }

    #[test]
    fn a_trigger_for_an_undefined_component_is_rejected() {
        let text = MINIMAL.replace("component = \"b\"", "component = \"c\"");
        assert!(matches!(
            Manifest::parse(&text, Path::new(".")),
            Err(ManifestError::UnknownComponent { .. })
        ));
    }
}
