//! Outbound HTTP as a trait, so the saga runs on Spin's outbound HTTP in
//! components and on anything else in tests.

/// A request to a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRequest {
    /// Upper-case method.
    pub method: &'static str,
    /// Absolute URL.
    pub url: String,
    /// Headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// Body bytes (JSON).
    pub body: Vec<u8>,
}

/// A provider's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutResponse {
    /// Status code.
    pub status: u16,
    /// Headers (lower-case names), for what a provider says beside the
    /// body (rate limits).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl OutResponse {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Sends one request; `Err` for transport failures (refused, reset, timeout).
pub trait Outbound {
    /// Sends `request`.
    fn send(&self, request: OutRequest) -> Result<OutResponse, String>;
}
