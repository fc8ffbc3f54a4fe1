//! RFC 9457 problem details: the one body shape every error response has.
//!
//! A client can branch on `type` (a stable URI) and, for validation problems,
//! on each field error's `pointer` and `rule`; `title` and `detail` are for
//! people. Extension members (`current_version`, `accepted`, ...) carry what
//! the client needs to recover without reading prose.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The media type of every error response body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Where our problem types live; a type URI is this plus a slug such as `validation`.
pub const PROBLEM_TYPE_BASE: &str = "https://orderflow.dev/problems/";

/// An RFC 9457 problem details document.
///
/// Invariants: `status` equals the HTTP status of the response that carries
/// it; `type_uri` is an absolute URI (ours start with [`PROBLEM_TYPE_BASE`]) or
/// `about:blank`; `detail` never contains internal error text (see
/// [`crate::ApiError::Internal`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// The problem type, e.g. `https://orderflow.dev/problems/validation`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// A short summary that is the same for every occurrence of the type.
    pub title: String,
    /// The HTTP status code, repeated for clients that only keep the body.
    pub status: u16,
    /// This occurrence, explained for a person.
    pub detail: String,
    /// A URI reference naming this occurrence (e.g. the request path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// One entry per offending field, for validation problems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extension members (RFC 9457 §3.2), flattened into the top-level object.
    /// Sorted, so the same problem always serializes to the same bytes.
    #[serde(flatten)]
    pub extensions: BTreeMap<String, Value>,
}

impl Problem {
    /// A problem of our own type `slug` (appended to [`PROBLEM_TYPE_BASE`]).
    pub fn new(slug: &str, title: impl Into<String>, status: u16, detail: impl Into<String>) -> Self {
        Self {
            type_uri: format!("{PROBLEM_TYPE_BASE}{slug}"),
            title: title.into(),
            status,
            detail: detail.into(),
            instance: None,
            errors: Vec::new(),
            extensions: BTreeMap::new(),
        }
    }

    /// Adds an extension member; a later value for the same name wins.
    #[must_use]
    pub fn with_extension(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(name.to_owned(), value.into());
        self
    }

    /// Sets `instance`, typically to the request path.
    #[must_use]
    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// The body bytes, as sent with [`PROBLEM_CONTENT_TYPE`].
    pub fn to_json_bytes(&self) -> Vec<u8> {
        // Only strings, numbers and `Value`s inside: serializing cannot fail.
        serde_json::to_vec(self).unwrap_or_else(|_| b"{\"type\":\"about:blank\",\"status\":500}".to_vec())
    }
}

/// One field that failed validation.
///
/// Invariant: `pointer` is an RFC 6901 JSON pointer into the request body
/// (`""` is the whole body), built with [`pointer`] so segments are escaped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldError {
    /// Where in the body, e.g. `/items/0/config/region`.
    pub pointer: String,
    /// A short machine code: `one_of`, `range`, `required`, `unknown_field`, `type`, ...
    pub rule: String,
    /// A sentence for a person.
    pub detail: String,
    /// What would be accepted, e.g. `["lj-1","mb-1"]` or `{"min":3,"max":50}`;
    /// `null` when there is nothing more specific to say than `detail`.
    pub accepted: Value,
}

impl FieldError {
    /// A field error; see the field docs for each argument.
    pub fn new(
        pointer: impl Into<String>,
        rule: impl Into<String>,
        detail: impl Into<String>,
        accepted: Value,
    ) -> Self {
        Self {
            pointer: pointer.into(),
            rule: rule.into(),
            detail: detail.into(),
            accepted,
        }
    }
}

/// Escapes one reference token for a JSON pointer: `~` → `~0`, `/` → `~1`.
///
/// `~` is escaped first, so the `~` introduced for `/` is not escaped again.
pub fn escape_pointer_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Builds a JSON pointer from unescaped segments: `["items", "0"]` → `/items/0`.
/// No segments is the whole document, `""`.
pub fn pointer<I, S>(segments: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    segments.into_iter().fold(String::new(), |mut out, segment| {
        out.push('/');
        out.push_str(&escape_pointer_segment(segment.as_ref()));
        out
    })
}

/// Splits a JSON pointer into its unescaped segments; the inverse of [`pointer`].
///
/// Returns `None` when `pointer` is not a valid RFC 6901 pointer: non-empty
/// without a leading `/`, or a `~` not followed by `0` or `1`.
pub fn pointer_segments(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    rest.split('/').map(unescape_pointer_segment).collect()
}

fn unescape_pointer_segment(segment: &str) -> Option<String> {
    let mut out = String::with_capacity(segment.len());
    let mut chars = segment.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn a_problem_serializes_with_rfc_9457_member_names() {
        // given a validation problem with one field error and an extension
        let mut problem = Problem::new("validation", "Validation failed", 422, "1 field is invalid")
            .with_instance("/orders")
            .with_extension("current_version", 3);
        problem.errors.push(FieldError::new(
            "/items/0/config/region",
            "one_of",
            "region must be one of the offered regions",
            json!(["lj-1", "mb-1"]),
        ));
        // when it is serialized
        let value: Value = serde_json::from_slice(&problem.to_json_bytes()).unwrap();
        // then the members are named as the RFC and our contract say
        assert_eq!(value["type"], "https://orderflow.dev/problems/validation");
        assert_eq!(value["status"], 422);
        assert_eq!(value["instance"], "/orders");
        assert_eq!(value["current_version"], 3);
        assert_eq!(value["errors"][0]["pointer"], "/items/0/config/region");
        assert_eq!(value["errors"][0]["accepted"], json!(["lj-1", "mb-1"]));
        assert!(value.get("type_uri").is_none());
    }

    #[test]
    fn a_problem_without_field_errors_or_instance_omits_them() {
        let problem = Problem::new("not-found", "Not found", 404, "order x does not exist");
        let value: Value = serde_json::to_value(&problem).unwrap();
        assert!(value.get("errors").is_none());
        assert!(value.get("instance").is_none());
    }

    #[test]
    fn a_problem_round_trips_through_json() {
        let problem = Problem::new("conflict", "Conflict", 409, "stale").with_extension("current_version", 7);
        let back: Problem = serde_json::from_slice(&problem.to_json_bytes()).unwrap();
        assert_eq!(back, problem);
    }

    #[test]
    fn tilde_and_slash_are_escaped_in_that_order() {
        assert_eq!(escape_pointer_segment("a/b"), "a~1b");
        assert_eq!(escape_pointer_segment("m~n"), "m~0n");
        // "~1" literally must not come back as "/" after a round trip
        assert_eq!(escape_pointer_segment("~1"), "~01");
        assert_eq!(pointer(["items", "0", "config", "region"]), "/items/0/config/region");
        assert_eq!(pointer(Vec::<String>::new()), "");
    }

    #[test]
    fn a_pointer_with_a_bad_escape_or_no_leading_slash_is_rejected() {
        assert_eq!(pointer_segments("items/0"), None);
        assert_eq!(pointer_segments("/a~2b"), None);
        assert_eq!(pointer_segments("/a~"), None);
        assert_eq!(
            pointer_segments("/a~1b/~0"),
            Some(vec!["a/b".to_owned(), "~".to_owned()])
        );
        assert_eq!(pointer_segments("/"), Some(vec![String::new()]));
    }

    proptest! {
        #[test]
        fn any_segment_path_round_trips_through_a_pointer(segments in proptest::collection::vec(".*", 0..6)) {
            let built = pointer(&segments);
            prop_assert_eq!(pointer_segments(&built), Some(segments));
        }
    }
}
