//! Application and component variables.
//!
//! Application variables (`[variables]`) take their value from the
//! `SPIN_VARIABLE_<NAME>` environment variable (name upper-cased), else from
//! their `default`; a `required` variable without a value is a start-up error,
//! as with Spin's environment-variable provider. Component variables are
//! templates such as `"postgres://{{ db_host }}/app"` that are expanded once at
//! start-up; so are templates in `allowed_outbound_hosts` entries
//! ([`ResolvedVariables::expand_allowed_host`]). Values of `secret`
//! variables are never printed.

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
    /// An `allowed_outbound_hosts` template refers to an undeclared
    /// application variable, or is malformed.
    #[error("component '{component}': allowed_outbound_hosts entry '{entry}' refers to an undeclared application variable or is malformed")]
    AllowedHost {
        /// The component id.
        component: String,
        /// The entry as written (a template, no value).
        entry: String,
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
    /// Application variables with a value, for `allowed_outbound_hosts` templates.
    app: BTreeMap<String, String>,
    /// Every declared application variable's name.
    declared: std::collections::BTreeSet<String>,
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
        let declared = manifest.variables.keys().cloned().collect();
        Ok(Self {
            by_component,
            app,
            declared,
        })
    }

    /// Expands the `{{ variable }}` templates of one `allowed_outbound_hosts`
    /// entry of `component` with application variables, as Spin does
    /// (`spin-outbound-networking-config`, `AllowedHostsConfig::parse`: a
    /// templated entry is resolved with the application's variables, then
    /// parsed like a literal one). A literal entry comes back unchanged.
    pub fn expand_allowed_host(&self, component: &str, entry: &str) -> Result<String, VariableError> {
        expand_with(entry, &self.app, |name| self.declared.contains(name)).map_err(|_| VariableError::AllowedHost {
            component: component.to_owned(),
            entry: entry.to_owned(),
        })
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
    expand_with(template, app, |name| manifest.variables.contains_key(name))
}

fn expand_with(
    template: &str,
    app: &BTreeMap<String, String>,
    declared: impl Fn(&str) -> bool,
) -> Result<String, TemplateError> {
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
        if !declared(name) {
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
    fn allowed_outbound_host_templates_expand_with_application_variables_as_spin_does() {
        // given an application variable holding a provider's base URL
        let m = Manifest::parse(TEXT, Path::new(".")).expect("manifest");
        let vars = ResolvedVariables::resolve(&m, |k| match k {
            "SPIN_VARIABLE_PASSWORD" => Some("pw".to_owned()),
            "SPIN_VARIABLE_HOST" => Some("https://api.provider.example".to_owned()),
            _ => None,
        })
        .expect("resolves");
        // when an allowed_outbound_hosts entry names it
        let entry = vars.expand_allowed_host("a", "{{ host }}").expect("expands");
        assert_eq!(entry, "https://api.provider.example");
        assert_eq!(
            vars.expand_allowed_host("a", "http://x:1").expect("literal"),
            "http://x:1"
        );
        // then the expanded entry allows that provider, and only it
        let allowed = crate::outbound::AllowedHosts::parse(&[entry]).expect("parses");
        let dest = |host| crate::outbound::Destination {
            scheme: "https",
            host,
            port: None,
        };
        assert!(allowed.allows(&dest("api.provider.example")));
        assert!(!allowed.allows(&dest("evil.example")));
        // and an undeclared variable is refused, naming the entry, not a value
        let err = vars.expand_allowed_host("a", "{{ nope }}").expect_err("undeclared");
        assert!(err.to_string().contains("'{{ nope }}'"), "{err}");
        assert!(vars.expand_allowed_host("a", "{{ host").is_err());
    }

    #[test]
    fn debug_output_never_contains_values() {
        let m = Manifest::parse(TEXT, Path::new(".")).expect("manifest");
        let vars = ResolvedVariables::resolve(&m, |_| Some("s3cret".to_owned())).expect("ok");
        assert!(!format!("{vars:?}").contains("s3cret"));
    }
}
