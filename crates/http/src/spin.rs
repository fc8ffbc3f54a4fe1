//! The thin adapter to `spin_sdk::http`'s synchronous `Request`/`Response`
//! API: copy a request into [`RequestParts`], and a [`HttpResponse`] or
//! [`ApiError`] out. No decisions here; everything testable lives in the
//! pure modules.
//!
//! A component's handler is then:
//!
//! ```ignore
//! #[http_component]
//! fn handle(req: spin_sdk::http::Request) -> spin_sdk::http::Response {
//!     let req = orderflow_http::RequestParts::from(req);
//!     orderflow_http::respond(route(&req))
//! }
//! ```
//!
//! Return [`respond`]'s `Response` rather than `anyhow::Result`: the SDK
//! writes an `anyhow::Error`'s text into a 500 body, which would leak
//! internal detail.

use spin_sdk::http::{IntoResponse, Request, Response};

use crate::error::ApiError;
use crate::request::RequestParts;
use crate::response::HttpResponse;

impl From<Request> for RequestParts {
    fn from(request: Request) -> Self {
        let method = request.method().to_string();
        let path = request.path().to_owned();
        let query = request.query().to_owned();
        // A header that is not UTF-8 is kept lossily: it can only fail the
        // check that reads it (a token, a key), never pass one wrongly.
        let headers = request
            .headers()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.clone().into_utf8_lossy()))
            .collect();
        Self {
            method,
            path,
            query,
            headers,
            body: request.into_body(),
        }
    }
}

impl From<HttpResponse> for Response {
    fn from(response: HttpResponse) -> Self {
        Response::builder()
            .status(response.status)
            .headers(response.headers)
            .body(response.body)
            .build()
    }
}

impl IntoResponse for HttpResponse {
    fn into_response(self) -> Response {
        self.into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        HttpResponse::problem(&self).into()
    }
}

/// The Spin response for a handler's result: the response, or the error's
/// problem+json.
pub fn respond(result: Result<HttpResponse, ApiError>) -> Response {
    result.unwrap_or_else(HttpResponse::from).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use spin_sdk::http::Method;

    #[test]
    fn a_spin_request_becomes_request_parts_with_lowercase_headers() {
        // given a Spin request as the SDK builds it
        let request = Request::builder()
            .method(Method::Post)
            .uri("/orders?limit=5")
            .header("Content-Type", "application/json")
            .body(b"{}".to_vec())
            .build();
        // when copied into RequestParts
        let parts = RequestParts::from(request);
        // then every part is there
        assert_eq!(parts.method, "POST");
        assert_eq!(parts.path, "/orders");
        assert_eq!(parts.query, "limit=5");
        assert_eq!(parts.header("content-type"), Some("application/json"));
        assert_eq!(parts.body, b"{}");
    }

    #[test]
    fn an_error_result_becomes_a_problem_response() {
        let response = respond(Err(ApiError::not_found("order", "x")));
        assert_eq!(*response.status(), 404);
        assert_eq!(
            response.header("content-type").and_then(|v| v.as_str()),
            Some("application/problem+json")
        );
    }

    #[test]
    fn an_ok_result_keeps_status_headers_and_body() {
        let response = respond(Ok(
            HttpResponse::json(201, &serde_json::json!({"a": 1})).with_location("/a")
        ));
        assert_eq!(*response.status(), 201);
        assert_eq!(response.header("location").and_then(|v| v.as_str()), Some("/a"));
        assert_eq!(response.body(), br#"{"a":1}"#);
    }
}
