//! `allowed_outbound_hosts`: parsing and checking, with Spin's syntax.
//!
//! Each entry is `scheme://host[:port]`:
//! - scheme: a name (`http`, `https`, `postgres`, ...) or `*`;
//! - host: a name, `*` (any host), `*.example.com` (any subdomain), `self`
//!   (requests to the application itself) or `<id>.spin.internal` /
//!   `*.spin.internal` (service chaining);
//! - port: a number, a range `8000-8080`, or `*`. Without a port the scheme's
//!   well-known port applies (`http` 80, `https` 443, `postgres` 5432, ...);
//!   `*://host` without a port allows each scheme's well-known port.
//!
//! `{{ variable }}` templates inside entries are expanded with the
//! application's variables before they get here
//! ([`crate::variables::ResolvedVariables::expand_allowed_host`]); an entry
//! that still holds one is refused.

/// Errors parsing an `allowed_outbound_hosts` entry.
#[derive(Debug, thiserror::Error)]
pub enum AllowedHostError {
    /// The entry has no `scheme://` prefix.
    #[error("allowed_outbound_hosts entry '{0}' must have the form scheme://host[:port]")]
    NoScheme(String),
    /// The entry still holds a `{{ variable }}` template (its value did, or
    /// it was not expanded first).
    #[error("allowed_outbound_hosts entry '{0}' holds an unexpanded variable template")]
    Template(String),
    /// The port is not a number, range or `*`.
    #[error("allowed_outbound_hosts entry '{0}' has an invalid port")]
    Port(String),
    /// The entry has a path, query or is otherwise malformed.
    #[error("allowed_outbound_hosts entry '{0}' must not contain a path")]
    Path(String),
    /// A scheme without a well-known port and no explicit port.
    #[error("allowed_outbound_hosts entry '{0}' needs an explicit port for this scheme")]
    NeedsPort(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Subdomain(String),
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Range(u16, u16),
    /// No port written: the request scheme's well-known port.
    Default,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

/// A destination a guest asked to reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination<'a> {
    /// Lower-case scheme, e.g. `http`.
    pub scheme: &'a str,
    /// Host name (no port).
    pub host: &'a str,
    /// Port, if explicit in the URL.
    pub port: Option<u16>,
}

/// The parsed allow-list of one component.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    entries: Vec<AllowedHost>,
}

/// The well-known port of a scheme, if it has one.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        _ => None,
    }
}

impl AllowedHosts {
    /// Parses every entry, failing on the first invalid one.
    pub fn parse(entries: &[String]) -> Result<Self, AllowedHostError> {
        let entries = entries.iter().map(|e| parse_entry(e)).collect::<Result<_, _>>()?;
        Ok(Self { entries })
    }

    /// Whether `dest` is allowed. Service-chaining hosts (`*.spin.internal`)
    /// and `self` are ordinary names here, so `http://*.spin.internal`,
    /// `http://orders.spin.internal`, `http://self` or a bare `*` host allow them.
    pub fn allows(&self, dest: &Destination<'_>) -> bool {
        let port = dest.port.or_else(|| default_port(dest.scheme));
        self.entries.iter().any(|e| {
            let scheme_ok = e.scheme.as_deref().is_none_or(|s| s == dest.scheme);
            let host_ok = match &e.host {
                HostPattern::Any => true,
                HostPattern::Exact(h) => h.eq_ignore_ascii_case(dest.host),
                HostPattern::Subdomain(suffix) => {
                    let host = dest.host.to_ascii_lowercase();
                    host.len() > suffix.len() + 1
                        && host.ends_with(suffix.as_str())
                        && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
                }
            };
            let port_ok = match (&e.port, port) {
                (PortPattern::Any, _) => true,
                (PortPattern::Range(lo, hi), Some(p)) => (*lo..=*hi).contains(&p),
                (PortPattern::Default, Some(p)) => default_port(dest.scheme) == Some(p),
                (_, None) => false,
            };
            scheme_ok && host_ok && port_ok
        })
    }
}

fn parse_entry(entry: &str) -> Result<AllowedHost, AllowedHostError> {
    if entry.contains("{{") {
        return Err(AllowedHostError::Template(entry.to_owned()));
    }
    let (scheme, rest) = entry
        .split_once("://")
        .ok_or_else(|| AllowedHostError::NoScheme(entry.to_owned()))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') || rest.contains('?') || rest.is_empty() {
        return Err(AllowedHostError::Path(entry.to_owned()));
    }
    let scheme = match scheme {
        "*" => None,
        s => Some(s.to_ascii_lowercase()),
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || p.chars().all(|c| c.is_ascii_digit()) => (h, Some(p)),
        _ => (rest, None),
    };
    let port = match port {
        None => {
            if let Some(s) = &scheme {
                if default_port(s).is_none() {
                    return Err(AllowedHostError::NeedsPort(entry.to_owned()));
                }
            }
            PortPattern::Default
        }
        Some("*") => PortPattern::Any,
        Some(p) => {
            let bad = || AllowedHostError::Port(entry.to_owned());
            match p.split_once('-') {
                Some((lo, hi)) => PortPattern::Range(lo.parse().map_err(|_| bad())?, hi.parse().map_err(|_| bad())?),
                None => {
                    let p: u16 = p.parse().map_err(|_| bad())?;
                    PortPattern::Range(p, p)
                }
            }
        }
    };
    let host = if host == "*" {
        HostPattern::Any
    } else if let Some(suffix) = host.strip_prefix("*.") {
        HostPattern::Subdomain(suffix.to_ascii_lowercase())
    } else {
        HostPattern::Exact(host.to_ascii_lowercase())
    };
    Ok(AllowedHost { scheme, host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("valid")
    }

    fn dest<'a>(scheme: &'a str, host: &'a str, port: Option<u16>) -> Destination<'a> {
        Destination { scheme, host, port }
    }

    #[test]
    fn exact_hosts_use_the_schemes_default_port() {
        let h = hosts(&["http://example.com", "postgres://db:6543"]);
        assert!(h.allows(&dest("http", "example.com", None)));
        assert!(h.allows(&dest("http", "example.com", Some(80))));
        assert!(!h.allows(&dest("http", "example.com", Some(8080))));
        assert!(!h.allows(&dest("https", "example.com", None)));
        assert!(h.allows(&dest("postgres", "db", Some(6543))));
        assert!(!h.allows(&dest("postgres", "db", None)));
    }

    #[test]
    fn wildcards_cover_schemes_subdomains_and_ports() {
        let h = hosts(&["https://*.example.com", "*://localhost:*"]);
        assert!(h.allows(&dest("https", "api.example.com", None)));
        assert!(!h.allows(&dest("https", "example.com", None)));
        assert!(h.allows(&dest("http", "localhost", Some(1234))));
        assert!(h.allows(&dest("postgres", "localhost", Some(5432))));
    }

    #[test]
    fn service_chaining_needs_an_explicit_grant() {
        let none = hosts(&["https://example.com"]);
        assert!(!none.allows(&dest("http", "orders.spin.internal", None)));
        let one = hosts(&["http://orders.spin.internal"]);
        assert!(one.allows(&dest("http", "orders.spin.internal", None)));
        assert!(!one.allows(&dest("http", "billing.spin.internal", None)));
        let all = hosts(&["http://*.spin.internal", "http://self"]);
        assert!(all.allows(&dest("http", "billing.spin.internal", None)));
        assert!(all.allows(&dest("http", "self", None)));
    }

    #[test]
    fn templates_and_malformed_entries_are_rejected() {
        assert!(matches!(
            AllowedHosts::parse(&["http://{{ host }}".to_owned()]),
            Err(AllowedHostError::Template(_))
        ));
        assert!(AllowedHosts::parse(&["example.com".to_owned()]).is_err());
        assert!(AllowedHosts::parse(&["http://example.com/path".to_owned()]).is_err());
        assert!(AllowedHosts::parse(&["http://example.com:x".to_owned()]).is_err());
    }
}
