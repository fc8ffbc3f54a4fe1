//! HTTP route matching with Spin's semantics.
//!
//! Patterns are exact paths (`/v1/orders`), may contain named parameters
//! (`/v1/orders/:id`) and may end in a trailing wildcard (`/v1/...`). When
//! several routes match, the most specific wins, segment by segment from the
//! left: a literal segment beats a parameter, which beats the wildcard, and an
//! exact end of route beats a wildcard (so `/one` beats `/one/...` for `/one`).
//! Private routes (`route = { private = true }`) are not in the router: they are
//! reachable only through service chaining (`http://<id>.spin.internal`).
//! A later duplicate of the same route replaces the earlier one, as in Spin.

use std::collections::BTreeMap;

/// Errors building the router.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// A route pattern is malformed.
    #[error("invalid route '{route}' for component '{component}': {reason}")]
    Invalid {
        /// The route as written.
        route: String,
        /// The component it belongs to.
        component: String,
        /// Why it is invalid.
        reason: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// One compiled route.
#[derive(Debug, Clone)]
struct RouteEntry {
    raw: String,
    segments: Vec<Segment>,
    wildcard: bool,
    component: String,
}

/// The outcome of routing a path: which component and the values Spin passes
/// to it as `spin-*` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// The component id to invoke.
    pub component: String,
    /// The route as written in the manifest (`spin-raw-component-route`, and
    /// `spin-matched-route` since the base is always `/`).
    pub raw_route: String,
    /// The route without a trailing `/...` (`spin-component-route`).
    pub component_route: String,
    /// The part of the path matched by the trailing wildcard (`spin-path-info`).
    pub path_info: String,
    /// Named parameter values (`spin-path-match-<name>`).
    pub params: BTreeMap<String, String>,
}

impl RouteMatch {
    /// The synthetic match Spin uses for service chaining: the whole path is
    /// the wildcard part of a `/...` route.
    pub fn synthetic(component: &str, path: &str) -> Self {
        Self {
            component: component.to_owned(),
            raw_route: "/...".to_owned(),
            component_route: String::new(),
            path_info: path.to_owned(),
            params: BTreeMap::new(),
        }
    }
}

/// Routes request paths to components.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<RouteEntry>,
}

/// Rank of what a route offers at one path position; higher is more specific.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Wildcard,
    Param,
    Literal,
    End,
}

impl Router {
    /// Builds a router from `(route, component)` pairs in manifest order.
    pub fn build<'a>(routes: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, RouteError> {
        let mut entries: Vec<RouteEntry> = Vec::new();
        for (raw, component) in routes {
            let entry = compile(raw, component)?;
            entries.retain(|e| e.raw != entry.raw);
            entries.push(entry);
        }
        Ok(Self { routes: entries })
    }

    /// The routes, as `(raw route, component id)`, for printing at start-up.
    pub fn routes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.routes.iter().map(|r| (r.raw.as_str(), r.component.as_str()))
    }

    /// Finds the most specific route for `path` (without query string).
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let path_segments = split(path);
        let mut best: Option<(Vec<Rank>, &RouteEntry)> = None;
        for entry in &self.routes {
            let Some(ranks) = ranks_if_matches(entry, &path_segments) else {
                continue;
            };
            if best.as_ref().is_none_or(|(b, _)| ranks > *b) {
                best = Some((ranks, entry));
            }
        }
        let (_, entry) = best?;
        let mut params = BTreeMap::new();
        for (seg, value) in entry.segments.iter().zip(&path_segments) {
            if let Segment::Param(name) = seg {
                params.insert(name.clone(), (*value).to_owned());
            }
        }
        let path_info = if entry.wildcard {
            let rest = &path_segments[entry.segments.len()..];
            let mut info = String::new();
            for s in rest {
                info.push('/');
                info.push_str(s);
            }
            // Spin keeps a trailing slash in the path info.
            if path.ends_with('/') && (rest.is_empty() || !info.is_empty()) {
                info.push('/');
            }
            info
        } else {
            String::new()
        };
        Some(RouteMatch {
            component: entry.component.clone(),
            raw_route: entry.raw.clone(),
            component_route: entry.raw.strip_suffix("/...").unwrap_or(&entry.raw).to_owned(),
            path_info,
            params,
        })
    }
}

fn split(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

fn compile(raw: &str, component: &str) -> Result<RouteEntry, RouteError> {
    let invalid = |reason| RouteError::Invalid {
        route: raw.to_owned(),
        component: component.to_owned(),
        reason,
    };
    let absolute = if raw.starts_with('/') {
        raw.to_owned()
    } else {
        format!("/{raw}")
    };
    let (body, wildcard) = match absolute.strip_suffix("/...") {
        Some(prefix) => (prefix.to_owned(), true),
        None => match absolute.strip_suffix("/*") {
            Some(prefix) => (prefix.to_owned(), true),
            None => (absolute.clone(), false),
        },
    };
    let mut segments = Vec::new();
    for s in split(&body) {
        if s == "..." || s == "*" {
            return Err(invalid("a wildcard may only appear at the end"));
        }
        match s.strip_prefix(':') {
            Some("") => return Err(invalid("a parameter needs a name")),
            Some(name) => segments.push(Segment::Param(name.to_owned())),
            None => segments.push(Segment::Literal(s.to_owned())),
        }
    }
    Ok(RouteEntry {
        raw: raw.to_owned(),
        segments,
        wildcard,
        component: component.to_owned(),
    })
}

fn ranks_if_matches(entry: &RouteEntry, path: &[&str]) -> Option<Vec<Rank>> {
    if path.len() < entry.segments.len() || (!entry.wildcard && path.len() != entry.segments.len()) {
        return None;
    }
    let mut ranks = Vec::with_capacity(entry.segments.len() + 1);
    for (seg, value) in entry.segments.iter().zip(path) {
        match seg {
            Segment::Literal(l) if l == value => ranks.push(Rank::Literal),
            Segment::Literal(_) => return None,
            Segment::Param(_) => ranks.push(Rank::Param),
        }
    }
    ranks.push(if entry.wildcard { Rank::Wildcard } else { Rank::End });
    Some(ranks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        Router::build(routes.iter().copied()).expect("valid routes")
    }

    #[test]
    fn exact_beats_wildcard_and_longest_wildcard_wins() {
        let r = router(&[
            ("/...", "all"),
            ("/one", "exact"),
            ("/one/...", "one"),
            ("/one/two/...", "two"),
        ]);
        assert_eq!(r.route("/one").map(|m| m.component).as_deref(), Some("exact"));
        assert_eq!(r.route("/one/x").map(|m| m.component).as_deref(), Some("one"));
        assert_eq!(r.route("/one/two/three").map(|m| m.component).as_deref(), Some("two"));
        assert_eq!(r.route("/").map(|m| m.component).as_deref(), Some("all"));
    }

    #[test]
    fn literal_beats_parameter_and_parameters_are_captured() {
        let r = router(&[("/orders/:id", "by-id"), ("/orders/new", "new")]);
        assert_eq!(r.route("/orders/new").map(|m| m.component).as_deref(), Some("new"));
        let m = r.route("/orders/42").expect("matches");
        assert_eq!(m.component, "by-id");
        assert_eq!(m.params.get("id").map(String::as_str), Some("42"));
    }

    #[test]
    fn wildcard_path_info_keeps_the_rest_of_the_path() {
        let r = router(&[("/foo/...", "foo")]);
        let m = r.route("/foo/bar/baz").expect("matches");
        assert_eq!(m.path_info, "/bar/baz");
        assert_eq!(m.component_route, "/foo");
        assert_eq!(r.route("/foo").expect("matches").path_info, "");
        assert_eq!(r.route("/foo/").expect("matches").path_info, "/");
        assert!(r.route("/food").is_none());
    }

    #[test]
    fn no_match_is_none_and_a_later_duplicate_wins() {
        let r = router(&[("/a", "first"), ("/a", "second")]);
        assert!(r.route("/b").is_none());
        assert_eq!(r.route("/a").map(|m| m.component).as_deref(), Some("second"));
    }
}
