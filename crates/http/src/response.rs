//! Outgoing responses as plain data: JSON bodies, problem bodies, and
//! idempotent replays. [`crate::spin`] turns them into Spin responses.

use serde::Serialize;

use crate::error::ApiError;
use crate::etag::etag;
use crate::idempotency::SavedResponse;
use crate::json::JSON_CONTENT_TYPE;
use crate::problem::PROBLEM_CONTENT_TYPE;

/// The header that marks a response as a replay of an earlier one.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// An HTTP response.
///
/// Invariant: every response built here carries `Cache-Control: no-store`,
/// because every body is one tenant's data (or an error about it) and must
/// not be kept by a shared cache. Header names are lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// HTTP status.
    pub status: u16,
    /// (lowercase name, value) pairs.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl HttpResponse {
    fn with_body(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![
                ("content-type".to_owned(), content_type.to_owned()),
                ("cache-control".to_owned(), "no-store".to_owned()),
            ],
            body,
        }
    }

    /// `status` with `body` as `application/json`.
    ///
    /// Serializing our own response types cannot fail for valid data; if it
    /// does (a bug, e.g. a map with non-string keys), the cause is logged and
    /// an opaque 500 is returned instead of a half-written body.
    pub fn json<T: Serialize + ?Sized>(status: u16, body: &T) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => Self::with_body(status, JSON_CONTENT_TYPE, bytes),
            Err(e) => Self::problem(&ApiError::internal("response-serialization", &e)),
        }
    }

    /// 204 No Content.
    pub fn no_content() -> Self {
        Self {
            status: 204,
            headers: vec![("cache-control".to_owned(), "no-store".to_owned())],
            body: Vec::new(),
        }
    }

    /// The problem+json response for `error`, with the headers its status needs.
    pub fn problem(error: &ApiError) -> Self {
        let mut response = Self::with_body(error.status(), PROBLEM_CONTENT_TYPE, error.to_problem().to_json_bytes());
        for (name, value) in error.headers() {
            response.headers.push((name.to_owned(), value));
        }
        response
    }

    /// Adds `ETag: "<version>"`.
    #[must_use]
    pub fn with_etag(self, version: i64) -> Self {
        self.with_header("etag", &etag(version))
    }

    /// Adds `Location`, e.g. for a 201.
    #[must_use]
    pub fn with_location(self, location: &str) -> Self {
        self.with_header("location", location)
    }

    /// Sets a header, replacing any value it had.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.to_owned()));
        self
    }

    /// The value of header `name`, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// What to store under the request's idempotency key once it completed.
    pub fn to_saved(&self) -> SavedResponse {
        SavedResponse {
            status: self.status,
            content_type: self.header("content-type").unwrap_or_default().to_owned(),
            etag: self.header("etag").map(str::to_owned),
            location: self.header("location").map(str::to_owned),
            body: self.body.clone(),
        }
    }

    /// Rebuilds a saved response: same status, content type, ETag, Location
    /// and body bytes, plus `Idempotent-Replayed: true` so clients can tell.
    pub fn replay(saved: &SavedResponse) -> Self {
        let mut response = Self::with_body(saved.status, &saved.content_type, saved.body.clone());
        if saved.content_type.is_empty() {
            response.headers.retain(|(n, _)| n != "content-type");
        }
        if let Some(etag) = &saved.etag {
            response = response.with_header("etag", etag);
        }
        if let Some(location) = &saved.location {
            response = response.with_header("location", location);
        }
        response.with_header(REPLAYED_HEADER, "true")
    }
}

impl From<ApiError> for HttpResponse {
    fn from(error: ApiError) -> Self {
        Self::problem(&error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Conflict;
    use serde_json::json;

    #[test]
    fn a_json_response_has_its_content_type_and_is_not_cached() {
        let response = HttpResponse::json(200, &json!({"id": "x"})).with_etag(3);
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.header("cache-control"), Some("no-store"));
        assert_eq!(response.header("etag"), Some("\"3\""));
        assert_eq!(response.body, br#"{"id":"x"}"#);
    }

    #[test]
    fn a_problem_response_has_the_problem_media_type_and_required_headers() {
        let response = HttpResponse::problem(&ApiError::Conflict(Conflict::IdempotencyKeyInFlight {
            retry_after_secs: 2,
        }));
        assert_eq!(response.status, 409);
        assert_eq!(response.header("content-type"), Some("application/problem+json"));
        assert_eq!(response.header("retry-after"), Some("2"));
        let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(body["status"], 409);
    }

    #[test]
    fn a_replayed_response_matches_the_original_byte_for_byte() {
        // given a created response that was saved
        let original = HttpResponse::json(201, &json!({"id": "x", "total": "10.00"}))
            .with_etag(1)
            .with_location("/orders/x");
        let saved = original.to_saved();
        // when it is replayed
        let replay = HttpResponse::replay(&saved);
        // then status, body and the saved headers are the same, and it says it is a replay
        assert_eq!(replay.status, 201);
        assert_eq!(replay.body, original.body);
        for name in ["content-type", "etag", "location", "cache-control"] {
            assert_eq!(replay.header(name), original.header(name), "{name}");
        }
        assert_eq!(replay.header(REPLAYED_HEADER), Some("true"));
    }

    #[test]
    fn setting_a_header_twice_keeps_the_last_value() {
        let response = HttpResponse::no_content()
            .with_header("Location", "/a")
            .with_header("location", "/b");
        assert_eq!(response.headers.iter().filter(|(n, _)| n == "location").count(), 1);
        assert_eq!(response.header("location"), Some("/b"));
    }
}
