//! Entity tags for versioned resources, and `If-Match` preconditions.
//!
//! An order at version 7 has the strong tag `"7"`. Writes to an existing
//! order must send `If-Match` (428 otherwise, so no client overwrites a change
//! it has not seen). A tag that does not match is 409 Conflict, not 412:
//! SPEC §7 names 409 for a stale version, and the store's own guard (zero
//! rows updated) reports the same 409, so the client sees one status for one
//! cause whichever check catches it. The problem names the current version.

use crate::error::ApiError;

/// The request header name.
pub const IF_MATCH_HEADER: &str = "if-match";

/// The strong `ETag` of a version: `"7"` (quotes included).
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// One entity tag from a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTag {
    /// `W/` was present.
    pub weak: bool,
    /// The text between the quotes.
    pub opaque: String,
}

/// A parsed `If-Match` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: any current version matches.
    Any,
    /// A non-empty list of tags.
    Tags(Vec<EntityTag>),
}

impl IfMatch {
    /// Parses an `If-Match` value (RFC 9110 §13.1.1): `*` or a comma-separated
    /// list of `[W/]"..."`. Malformed → 400.
    pub fn parse(header: &str) -> Result<Self, ApiError> {
        let malformed = || ApiError::BadRequest {
            problem: "malformed-if-match",
            detail: format!("If-Match {header:?} is malformed; send the ETag you read, e.g. If-Match: \"3\""),
            accepted: None,
        };
        let trimmed = header.trim();
        if trimmed == "*" {
            return Ok(Self::Any);
        }
        let mut tags = Vec::new();
        let mut rest = trimmed;
        loop {
            // RFC 9110 §5.6.1: recipients accept empty list elements.
            rest = rest.trim_start_matches([' ', '\t', ',']);
            if rest.is_empty() {
                break;
            }
            let weak = rest.starts_with("W/");
            if weak {
                rest = &rest[2..];
            }
            let body = rest.strip_prefix('"').ok_or_else(malformed)?;
            let end = body.find('"').ok_or_else(malformed)?;
            let opaque = &body[..end];
            // etagc = %x21 / %x23-7E / obs-text: no controls, spaces or quotes.
            if !opaque
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
            {
                return Err(malformed());
            }
            tags.push(EntityTag {
                weak,
                opaque: opaque.to_owned(),
            });
            rest = body[end + 1..].trim_start_matches([' ', '\t']);
            if !rest.is_empty() && !rest.starts_with(',') {
                return Err(malformed());
            }
        }
        if tags.is_empty() {
            return Err(malformed());
        }
        Ok(Self::Tags(tags))
    }

    /// Whether `current_version` satisfies this precondition. `If-Match` uses
    /// the strong comparison, so a weak tag never matches.
    pub fn matches(&self, current_version: i64) -> bool {
        match self {
            Self::Any => true,
            Self::Tags(tags) => {
                let current = current_version.to_string();
                tags.iter().any(|t| !t.weak && t.opaque == current)
            }
        }
    }
}

/// Checks a write's `If-Match` against the resource's current version.
///
/// Absent, or `*` (which names no version) → 428; malformed → 400; no
/// strong match → 409 naming the current version. The caller still updates with `WHERE version = current_version`,
/// so a write racing in after this check is caught by the store as the same 409.
pub fn check_if_match(header: Option<&str>, current_version: i64) -> Result<(), ApiError> {
    let header = header.ok_or_else(|| ApiError::PreconditionRequired {
        detail: format!(
            "this write needs an If-Match header with the ETag you last read, e.g. If-Match: {}",
            etag(current_version.max(1))
        ),
    })?;
    match IfMatch::parse(header)? {
        // `*` names no version: it would let a client overwrite a change it
        // has not seen, which is what the header is required for.
        IfMatch::Any => Err(ApiError::PreconditionRequired {
            detail: format!(
                "If-Match: * does not name a version; send the ETag you last read, e.g. If-Match: {}",
                etag(current_version.max(1))
            ),
        }),
        tags if tags.matches(current_version) => Ok(()),
        _ => Err(ApiError::stale_version(current_version)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_etag_is_the_quoted_version() {
        assert_eq!(etag(7), "\"7\"");
    }

    #[test]
    fn a_matching_if_match_passes() {
        assert_eq!(check_if_match(Some("\"3\""), 3), Ok(()));
    }

    #[test]
    fn a_stale_if_match_is_a_conflict_naming_the_current_version() {
        let err = check_if_match(Some("\"2\""), 3).unwrap_err();
        assert_eq!(err.status(), 409);
        assert_eq!(err.to_problem().extensions["current_version"], 3);
    }

    #[test]
    fn a_missing_if_match_is_precondition_required() {
        let err = check_if_match(None, 3).unwrap_err();
        assert_eq!(err.status(), 428);
        assert!(err.to_problem().detail.contains("If-Match"));
    }

    #[test]
    fn a_star_is_refused_where_a_version_is_required() {
        // `*` parses (RFC 9110) but names no version, so a write cannot rest on it.
        assert_eq!(IfMatch::parse("*"), Ok(IfMatch::Any));
        let err = check_if_match(Some("*"), 42).unwrap_err();
        assert_eq!(err.status(), 428);
        assert!(err.to_problem().detail.contains("If-Match: \"42\""), "{err}");
    }

    #[test]
    fn any_tag_in_a_list_may_match() {
        assert_eq!(check_if_match(Some("\"1\", \"3\",\"5\""), 3), Ok(()));
        assert_eq!(check_if_match(Some("\"1\", \"5\""), 3).unwrap_err().status(), 409);
    }

    #[test]
    fn empty_list_elements_are_tolerated_as_rfc_9110_requires() {
        assert_eq!(check_if_match(Some("\"3\", ,"), 3), Ok(()));
    }

    #[test]
    fn a_weak_tag_never_matches_for_if_match() {
        assert_eq!(check_if_match(Some("W/\"3\""), 3).unwrap_err().status(), 409);
    }

    #[test]
    fn a_malformed_if_match_is_400() {
        for header in ["3", "\"3", "\"3\" \"4\"", ",", "", "**", "\"a b\"", "W/3"] {
            let err = check_if_match(Some(header), 3).unwrap_err();
            assert_eq!(err.status(), 400, "{header:?}");
        }
    }

    #[test]
    fn a_list_parses_into_its_tags() {
        assert_eq!(
            IfMatch::parse("W/\"1\", \"2\"").unwrap(),
            IfMatch::Tags(vec![
                EntityTag {
                    weak: true,
                    opaque: "1".into()
                },
                EntityTag {
                    weak: false,
                    opaque: "2".into()
                },
            ])
        );
    }
}
