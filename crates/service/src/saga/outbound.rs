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
    /// Body bytes.
    pub body: Vec<u8>,
}

/// Sends one request; `Err` for transport failures (refused, reset, timeout).
pub trait Outbound {
    /// Sends `request`.
    fn send(&self, request: OutRequest) -> Result<OutResponse, String>;
}
