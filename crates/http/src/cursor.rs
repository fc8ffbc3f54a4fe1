//! List pagination: opaque keyset cursors, `limit`, and query-string parsing.
//!
//! A cursor is the `(created_at, id)` of the last row a page returned; the
//! next page is the rows strictly after it in `(created_at, id)` order, so
//! pages neither skip nor repeat rows when new ones arrive. Clients must
//! treat it as opaque. It carries a short checksum so a hand-edited or
//! truncated cursor is rejected instead of silently paging from somewhere
//! else; it is not a security boundary (every query is tenant-scoped anyway).

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;

/// The page size when `limit` is absent.
pub const DEFAULT_LIMIT: u32 = 20;

/// The largest page size.
pub const MAX_LIMIT: u32 = 100;

const VERSION: &str = "c1";

/// A position in a list ordered by `(created_at, id)`.
///
/// Invariant: [`Cursor::decode`] of [`Cursor::encode`] is the same cursor,
/// to the nanosecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    /// The `created_at` of the last row returned.
    pub created_at: DateTime<Utc>,
    /// The id of the last row returned; breaks ties of `created_at`.
    pub id: Uuid,
}

impl Cursor {
    /// The opaque text for the `cursor` query parameter (URL-safe, no padding).
    pub fn encode(&self) -> String {
        let payload = format!(
            "{VERSION}.{}.{}.{}",
            self.created_at.timestamp(),
            self.created_at.timestamp_subsec_nanos(),
            self.id.simple()
        );
        let check = checksum(&payload);
        URL_SAFE_NO_PAD.encode(format!("{payload}.{check}"))
    }

    /// Reads a cursor this server issued; anything else → 400.
    pub fn decode(text: &str) -> Result<Self, ApiError> {
        let invalid = || ApiError::BadRequest {
            problem: "invalid-cursor",
            detail: "cursor is not one this server issued; pass the next_cursor of the previous page unchanged, \
                     or omit it for the first page"
                .to_owned(),
            accepted: None,
        };
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let whole = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (payload, check) = whole.rsplit_once('.').ok_or_else(invalid)?;
        if checksum(payload) != check {
            return Err(invalid());
        }
        let mut parts = payload.split('.');
        let (Some(VERSION), Some(secs), Some(nanos), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let secs: i64 = secs.parse().map_err(|_| invalid())?;
        let nanos: u32 = nanos.parse().map_err(|_| invalid())?;
        let created_at = DateTime::from_timestamp(secs, nanos).ok_or_else(invalid)?;
        let id = Uuid::try_parse(id).map_err(|_| invalid())?;
        Ok(Self { created_at, id })
    }
}

fn checksum(payload: &str) -> String {
    hex::encode(&Sha256::digest(payload.as_bytes())[..4])
}

/// Parses `limit`: absent → [`DEFAULT_LIMIT`]; otherwise an integer in
/// `1..=MAX_LIMIT`, or 400 naming the range.
pub fn parse_limit(raw: Option<&str>) -> Result<u32, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    match raw.parse::<u32>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ApiError::BadRequest {
            problem: "invalid-query",
            detail: format!("limit must be an integer from 1 to {MAX_LIMIT}; it was {raw:?}"),
            accepted: Some(json!({"min": 1, "max": MAX_LIMIT, "default": DEFAULT_LIMIT})),
        }),
    }
}

/// Decodes a query string (`a=1&b=x%20y`, form-urlencoded) into a map,
/// accepting only the parameter names in `accepted`, each at most once.
///
/// An unknown or repeated parameter → 400 naming the accepted ones; a
/// misspelt `limt` must not be silently ignored.
pub fn parse_query(query: &str, accepted: &[&str]) -> Result<BTreeMap<String, String>, ApiError> {
    let mut map = BTreeMap::new();
    for (name, value) in form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
        if !accepted.contains(&name.as_ref()) {
            return Err(query_error(format!("unknown query parameter {name:?}"), accepted));
        }
        if map.insert(name.to_string(), value.into_owned()).is_some() {
            return Err(query_error(
                format!("query parameter {name:?} is given more than once"),
                accepted,
            ));
        }
    }
    Ok(map)
}

fn query_error(what: String, accepted: &[&str]) -> ApiError {
    let list = if accepted.is_empty() {
        "this resource takes no query parameters".to_owned()
    } else {
        format!("accepted: {}", accepted.join(", "))
    };
    ApiError::BadRequest {
        problem: "invalid-query",
        detail: format!("{what}; {list}"),
        accepted: Some(json!(accepted)),
    }
}

/// A list request's paging: how many rows, and after which one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows to return, `1..=MAX_LIMIT`.
    pub limit: u32,
    /// Return rows strictly after this one; `None` for the first page.
    pub after: Option<Cursor>,
}

impl Page {
    /// Reads `limit` and `cursor` from a map made by [`parse_query`].
    pub fn from_query(query: &BTreeMap<String, String>) -> Result<Self, ApiError> {
        Ok(Self {
            limit: parse_limit(query.get("limit").map(String::as_str))?,
            after: query.get("cursor").map(|c| Cursor::decode(c)).transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn cursor() -> Cursor {
        Cursor {
            created_at: Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap()
                + chrono::TimeDelta::nanoseconds(123_456_789),
            id: Uuid::parse_str("0190f5c4-7b1e-7cc0-9a7e-3c2b1f0e4d5a").unwrap(),
        }
    }

    #[test]
    fn a_cursor_round_trips_to_the_nanosecond() {
        let text = cursor().encode();
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(Cursor::decode(&text).unwrap(), cursor());
    }

    #[test]
    fn a_tampered_cursor_is_not_one_we_issued() {
        // given a cursor whose timestamp was edited by hand
        let text = cursor().encode();
        let plain = String::from_utf8(URL_SAFE_NO_PAD.decode(&text).unwrap()).unwrap();
        let edited = URL_SAFE_NO_PAD.encode(plain.replacen(".1748779200.", ".1748779100.", 1));
        // when decoded, then it is a 400 saying so
        let err = Cursor::decode(&edited).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err
            .to_problem()
            .detail
            .starts_with("cursor is not one this server issued"));
    }

    #[test]
    fn garbage_and_truncated_cursors_are_rejected() {
        let text = cursor().encode();
        for bad in ["", "!!!", "abc", &text[..text.len() - 2]] {
            assert_eq!(Cursor::decode(bad).unwrap_err().status(), 400, "{bad:?}");
        }
    }

    #[test]
    fn limit_defaults_to_20_and_accepts_1_to_100() {
        assert_eq!(parse_limit(None), Ok(20));
        assert_eq!(parse_limit(Some("1")), Ok(1));
        assert_eq!(parse_limit(Some("100")), Ok(100));
        for bad in ["0", "101", "-1", "ten", ""] {
            let err = parse_limit(Some(bad)).unwrap_err();
            assert!(err.to_problem().detail.contains("from 1 to 100"), "{bad:?}");
        }
    }

    #[test]
    fn an_unknown_query_parameter_is_400_naming_the_accepted_ones() {
        let err = parse_query("limt=5", &["limit", "cursor"]).unwrap_err();
        assert_eq!(err.status(), 400);
        let problem = err.to_problem();
        assert!(problem.detail.contains("\"limt\""));
        assert_eq!(problem.extensions["accepted"], json!(["limit", "cursor"]));
    }

    #[test]
    fn query_values_are_percent_and_plus_decoded() {
        let map = parse_query("?status=pending_payment&q=a%2Fb+c", &["status", "q"]).unwrap();
        assert_eq!(map["status"], "pending_payment");
        assert_eq!(map["q"], "a/b c");
        assert!(parse_query("", &[]).unwrap().is_empty());
    }

    #[test]
    fn a_repeated_query_parameter_is_rejected() {
        assert_eq!(parse_query("limit=1&limit=2", &["limit"]).unwrap_err().status(), 400);
    }

    #[test]
    fn a_page_reads_limit_and_cursor() {
        let query = format!("limit=5&cursor={}", cursor().encode());
        let page = Page::from_query(&parse_query(&query, &["limit", "cursor"]).unwrap()).unwrap();
        assert_eq!(
            page,
            Page {
                limit: 5,
                after: Some(cursor())
            }
        );
    }

    proptest! {
        #[test]
        fn any_cursor_round_trips(secs in -62_000_000_000i64..250_000_000_000, nanos in 0u32..1_000_000_000, id: u128) {
            let c = Cursor { created_at: DateTime::from_timestamp(secs, nanos).unwrap(), id: Uuid::from_u128(id) };
            prop_assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        }
    }
}
