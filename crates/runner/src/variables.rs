//! Application and component variables.
//!
//! Application variables (`[variables]`) take their value from the
//! `SPIN_VARIABLE_<NAME>` environment variable (name upper-cased), else from
//! their `default`; a `required` variable without a value is a start-up error,
//! as with Spin's environment-variable provider. Component variables are
//! templates such as `"postgres://{{ db_host }}/app"` that are expanded once at
//! start-up. Values of `secret` variables are never printed.

use std::collections::BTreeMap;

use crate::manifest::Manifest;

/// Errors resolving variables at start-up.
#[derive(Debug, thiserror::Error)]
pub enum VariableError {
    /// A required application variable has no value. The first words are
    /// Spin's own (`spin-expressions`: `no provider resolved required
    /// variable "name"`), so operators see the message they know.
    #[error("no provider resolved required variable {0:?}: set SPIN_VARIABLE_{upper}", upper = .0.to_uppercase())]
    Missing(String),
    /// A component template refers to an undeclared application variable.
    #[error("component '{component}': variable '{variable}' refers to undeclared application variable '{reference}'")]
    Undeclared {
        /// The component id.
        component: String,
        /// The component variable whose template is invalid.
        variable: String,
        /// The undeclared name.
        reference: String,
    },
    /// A template has an unterminated or empty `{{ }}`.
    #[error("component '{component}': variable '{variable}' has a malformed template")]
    Malformed {
        /// The component id.
        component: String,
        /// The component variable.
        variable: String,
    },
}

/// Resolved component variables: component id -> name -> value.
#[derive(Clone, Default)]
pub struct ResolvedVariables {
    by_component: BTreeMap<String, BTreeMap<String, String>>,
}

impl std::fmt::Debug for ResolvedVariables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be secrets: show only the names.
        let names: BTreeMap<_, Vec<_>> = self
            .by_component
            .iter()
            .map(|(c, vars)| (c, vars.keys().collect()))
            .collect();
        f.debug_struct("ResolvedVariables").field("names", &names).finish()
    }
}

impl ResolvedVariables {
    /// Resolves every component's variables, reading overrides via `env`.
    pub fn resolve(manifest: &Manifest, env: impl Fn(&str) -> Option<String>) -> Result<Self, VariableError> {
        let mut app = BTreeMap::new();
        for (name, var) in &manifest.variables {
            let value = env(&format!("SPIN_VARIABLE_{}", name.to_uppercase())).or_else(|| var.default.clone());
            match value {
                Some(v) => {
                    app.insert(name.clone(), v);
                }
                None if var.required => return Err(VariableError::Missing(name.clone())),
                None => {}
            }
        }
        let mut by_component = BTreeMap::new();
        for (id, component) in &manifest.components {
            let mut vars = BTreeMap::new();
            for (name, template) in &component.variables {
                let value = expand(template, &app, manifest).map_err(|e| match e {
                    TemplateError::Malformed => VariableError::Malformed {
                        component: id.clone(),
                        variable: name.clone(),
                    },
                    TemplateError::Undeclared(reference) => VariableError::Undeclared {
                        component: id.clone(),
                        variable: name.clone(),
                        reference,
                    },
                })?;
                vars.insert(name.clone(), value);
            }
            by_component.insert(id.clone(), vars);
        }
        Ok(Self { by_component })
    }

    /// The value of `name` for `component`, if the component declares it.
    pub fn get(&self, component: &str, name: &str) -> Option<&str> {
        self.by_component
            .get(component)
            .and_then(|vars| vars.get(name))
            .map(String::as_str)
    }
}

enum TemplateError {
    Malformed,
    Undeclared(String),
}

fn expand(template: &str, app: &BTreeMap<String, String>, manifest: &Manifest) -> Result<String, TemplateError> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::Malformed)?;
        let name = after[..end].trim();
        if name.is_empty() {
            return Err(TemplateError::Malformed);
        }
        if !manifest.variables.contains_key(name) {
            return Err(TemplateError::Undeclared(name.to_owned()));
        }
        // A declared, optional variable without a value expands to "".
        out.push_str(app.get(name).map(String::as_str).unwrap_or(""));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Whether `name` is a valid variable name as Spin requires for `get`.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.contains("__")
        && !name.ends_with('_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const TEXT: &str = r#"
spin_manifest_version = 2
[application]
name = "app"
[variables]
host = { default = "localhost" }
password = { required = true, secret = true }
[component.a]
source = "a.wasm"
variables = { url = "postgres://u:{{ password }}@{{host}}/db", plain = "x" }
"#;

    #[test]
    fn templates_expand_with_defaults_and_environment_overrides() {
        let m = Manifest::parse(TEXT, Path::new(".")).expect("manifest");
        let vars = ResolvedVariables::resolve(&m, |k| match k {
            "SPIN_VARIABLE_PASSWORD" => Some("pw".to_owned()),
            "SPIN_VARIABLE_HOST" => Some("db.internal".to_owned()),
            _ => None,
        })
        .expect("resolves");
        assert_eq!(vars.get("a", "url"), Some("postgres://u:pw@db.internal/db"));
        assert_eq!(vars.get("a", "plain"), Some("x"));
        assert_eq!(vars.get("a", "missing"), None);
    }

    #[test]
    fn a_required_variable_without_a_value_is_an_error() {
        let m = Manifest::parse(TEXT, Path::new(".")).expect("manifest");
        let err = ResolvedVariables::resolve(&m, |_| None).expect_err("missing");
        assert!(matches!(err, VariableError::Missing(ref n) if n == "password"));
        assert_eq!(
            err.to_string(),
            "no provider resolved required variable \"password\": set SPIN_VARIABLE_PASSWORD"
        );
    }

    #[test]
    fn debug_output_never_contains_values() {
        let m = Manifest::parse(TEXT, Path::new(".")).expect("manifest");
        let vars = ResolvedVariables::resolve(&m, |_| Some("s3cret".to_owned())).expect("ok");
        assert!(!format!("{vars:?}").contains("s3cret"));
    }
}
