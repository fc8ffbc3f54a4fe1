//! The parts of an incoming request the shell reads, independent of Spin, so
//! handlers' decoding steps are tested natively.

/// An incoming request: method, path, query, headers and the whole body.
///
/// Invariant: header names are stored lowercase (HTTP names are
/// case-insensitive), so [`RequestParts::header`] finds any spelling.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestParts {
    /// Upper-case method, e.g. `POST`.
    pub method: String,
    /// The path without the query, e.g. `/orders/0190f5c4-...`.
    pub path: String,
    /// The raw query string without `?`; empty when there is none.
    pub query: String,
    /// Header (lowercase name, value) pairs in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl RequestParts {
    /// A request with no headers and no body.
    pub fn new(method: &str, path_and_query: &str) -> Self {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        Self {
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header, lowercasing its name.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The first value of header `name`, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_found_whatever_their_case() {
        let req = RequestParts::new("post", "/orders?limit=5").with_header("Content-Type", "application/json");
        assert_eq!(req.header("content-type"), Some("application/json"));
        assert_eq!(req.header("CONTENT-TYPE"), Some("application/json"));
        assert_eq!(req.header("if-match"), None);
        assert_eq!(req.method, "POST");
        assert_eq!((req.path.as_str(), req.query.as_str()), ("/orders", "limit=5"));
    }
}
