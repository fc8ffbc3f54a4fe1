//! The one error type of the HTTP shell, and its mapping to status codes and
//! problem+json.
//!
//! Core errors are mapped into these variants by the components; this module
//! decides how each looks on the wire. Internal detail never reaches a body:
//! [`ApiError::internal`] logs the cause and returns only a correlation id.

use serde_json::{json, Value};

use crate::auth::Role;
use crate::problem::{FieldError, Problem};

/// Why a request conflicts with the current state of the resource (409).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// The `If-Match` version is not the current one; nothing was changed.
    /// The client should re-read (the body names the current version) and retry.
    StaleVersion {
        /// The version the resource has now.
        current_version: i64,
    },
    /// The order's state does not allow the command (SPEC §2); nothing was changed.
    IllegalTransition {
        /// The current state, e.g. `fulfilled`.
        from: String,
        /// What was asked, e.g. `cancel`.
        command: String,
        /// The commands or target states the current state does allow.
        allowed: Vec<String>,
    },
    /// A request with the same `Idempotency-Key` is still being processed.
    IdempotencyKeyInFlight {
        /// Sent as `Retry-After`.
        retry_after_secs: u32,
    },
    /// Any other conflict with current state, e.g. a duplicate.
    Other {
        /// A sentence for the client; must not contain internal error text.
        detail: String,
    },
}

/// Every error an HTTP handler returns. Each variant names its status code.
///
/// Invariant: [`ApiError::status`] and the `status` of [`ApiError::to_problem`]
/// agree; the body of [`ApiError::Internal`] carries only its correlation id.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// 400 Bad Request: the request is unreadable as sent — a missing or
    /// malformed `Idempotency-Key`, a malformed `If-Match`, an unknown query
    /// parameter, a cursor we did not issue, a limit out of range.
    #[error("bad request: {detail}")]
    BadRequest {
        /// The problem type slug, e.g. `idempotency-key-required`.
        problem: &'static str,
        /// A sentence for the client.
        detail: String,
        /// What would be accepted instead, when there is something to say.
        accepted: Option<Value>,
    },
    /// 400 Bad Request: the body is not JSON at all; line and column say where
    /// the parser gave up.
    #[error("malformed JSON at line {line} column {column}: {message}")]
    MalformedJson {
        /// 1-based line of the first syntax error.
        line: usize,
        /// 1-based column of the first syntax error.
        column: usize,
        /// The parser's description, e.g. "expected `,` or `}`".
        message: String,
    },
    /// 401 Unauthorized, with `WWW-Authenticate: Bearer`: no credential, or one
    /// we cannot verify. `detail` says which check failed, never anything
    /// about key material.
    #[error("unauthorized: {detail}")]
    Unauthorized {
        /// E.g. "token expired", "signature does not match".
        detail: String,
    },
    /// 403 Forbidden: the caller is authenticated but its role may not do
    /// this. Never used for another tenant's resource: that is
    /// [`ApiError::NotFound`], so tenants cannot probe each other's ids.
    #[error("forbidden: role {role} is not allowed")]
    Forbidden {
        /// The caller's role.
        role: Role,
        /// The roles that are allowed.
        allowed: Vec<Role>,
    },
    /// 403 Forbidden, with `WWW-Authenticate: Bearer error="insufficient_scope"`
    /// (RFC 6750 §3.1): a service token whose scopes do not include the one
    /// this route needs.
    #[error("forbidden: the token lacks scope {scope}")]
    InsufficientScope {
        /// The scope the route needs, e.g. `metrics`.
        scope: String,
    },
    /// 404 Not Found: no such resource in the caller's tenant (including
    /// resources that exist in another tenant, and ids that do not parse).
    #[error("{resource} {id} not found")]
    NotFound {
        /// The kind of resource, e.g. `order`.
        resource: &'static str,
        /// The id as the client sent it.
        id: String,
    },
    /// 405 Method Not Allowed, with an `Allow` header.
    #[error("method not allowed")]
    MethodNotAllowed {
        /// The methods the route does accept.
        allowed: Vec<&'static str>,
    },
    /// 409 Conflict: stale version, illegal transition, idempotency key in
    /// flight. Nothing was changed.
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    /// 413 Content Too Large: the body is over the limit, which is named.
    #[error("body of {received_bytes} bytes exceeds the limit of {limit_bytes}")]
    PayloadTooLarge {
        /// The largest body accepted, in bytes.
        limit_bytes: usize,
        /// The size received, in bytes.
        received_bytes: usize,
    },
    /// 415 Unsupported Media Type: the body is not `application/json`.
    #[error("unsupported media type {received:?}")]
    UnsupportedMediaType {
        /// The `Content-Type` sent, if any.
        received: Option<String>,
        /// The media types accepted.
        accepted: Vec<&'static str>,
    },
    /// 428 Precondition Required: a write to an existing versioned resource
    /// came without `If-Match`. We require it so that no client can overwrite
    /// a change it has not seen (a lost update); the detail says what to send.
    #[error("precondition required: {detail}")]
    PreconditionRequired {
        /// A sentence naming the header to send.
        detail: String,
    },
    /// 429 Too Many Requests, with `Retry-After`: the same action was taken
    /// too recently (a re-delivery of one item); nothing was changed.
    #[error("too many requests: {detail}")]
    TooManyRequests {
        /// A sentence naming the limit.
        detail: String,
        /// Sent as `Retry-After`.
        retry_after_secs: u32,
    },
    /// 422 Unprocessable Content: well-formed JSON that breaks a rule (one
    /// [`FieldError`] per field), or an `Idempotency-Key` reused with a
    /// different request.
    #[error("unprocessable: {detail}")]
    Unprocessable {
        /// The problem type slug: `validation` or `idempotency-key-reused`.
        problem: &'static str,
        /// A sentence for the client.
        detail: String,
        /// The offending fields; empty for a reused key.
        errors: Vec<FieldError>,
    },
    /// 503 Service Unavailable, with `Retry-After`: the database stayed
    /// busy with other writers beyond the store's wait (SQLite's lock, a
    /// PostgreSQL deadlock or serialization failure that kept recurring).
    /// Nothing was changed; the same request may simply be sent again.
    #[error("busy; retry after {retry_after_secs} s")]
    Unavailable {
        /// Sent as `Retry-After`.
        retry_after_secs: u32,
    },
    /// 500 Internal Server Error: opaque. The cause went to the log with
    /// `correlation_id`; the body carries only that id, so a client's report
    /// can be matched to the log line.
    #[error("internal error {correlation_id}")]
    Internal {
        /// An id the caller generated for this request (e.g. a UUID).
        correlation_id: String,
    },
}

impl ApiError {
    /// 500: logs `cause` to stderr with `correlation_id` and returns an error
    /// whose body carries only the id.
    pub fn internal(correlation_id: impl Into<String>, cause: &dyn std::fmt::Display) -> Self {
        let correlation_id = correlation_id.into();
        // stderr is Spin's component log; this is the only place the cause goes.
        eprintln!("internal error [correlation_id={correlation_id}]: {cause}");
        Self::Internal { correlation_id }
    }

    /// 422 with the given field errors.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.len() {
            1 => "1 field is invalid".to_owned(),
            n => format!("{n} fields are invalid"),
        };
        Self::Unprocessable {
            problem: "validation",
            detail,
            errors,
        }
    }

    /// 422: the `Idempotency-Key` was first used with a different request.
    pub fn idempotency_key_reused() -> Self {
        Self::Unprocessable {
            problem: "idempotency-key-reused",
            detail: "key reused with a different request: this Idempotency-Key was first used with another method, \
                     path or body; use a new key for a new request"
                .to_owned(),
            errors: Vec::new(),
        }
    }

    /// 404 for `resource` `id`.
    pub fn not_found(resource: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            resource,
            id: id.into(),
        }
    }

    /// 409: the `If-Match` version is stale.
    pub fn stale_version(current_version: i64) -> Self {
        Self::Conflict(Conflict::StaleVersion { current_version })
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } | Self::MalformedJson { .. } => 400,
            Self::Unauthorized { .. } => 401,
            Self::Forbidden { .. } | Self::InsufficientScope { .. } => 403,
            Self::NotFound { .. } => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::Conflict(_) => 409,
            Self::PayloadTooLarge { .. } => 413,
            Self::UnsupportedMediaType { .. } => 415,
            Self::Unprocessable { .. } => 422,
            Self::PreconditionRequired { .. } => 428,
            Self::TooManyRequests { .. } => 429,
            Self::Internal { .. } => 500,
            Self::Unavailable { .. } => 503,
        }
    }

    /// Headers the status requires besides the content type:
    /// `WWW-Authenticate` (401), `Allow` (405), `Retry-After` (409 in flight).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::Unauthorized { detail } => {
                // RFC 6750 §3: the description is a quoted-string, so no quotes or backslashes inside.
                let description: String = detail.chars().filter(|c| *c != '"' && *c != '\\').collect();
                vec![(
                    "www-authenticate",
                    format!("Bearer realm=\"orderflow\", error=\"invalid_token\", error_description=\"{description}\""),
                )]
            }
            Self::InsufficientScope { scope } => vec![(
                "www-authenticate",
                format!("Bearer realm=\"orderflow\", error=\"insufficient_scope\", scope=\"{scope}\""),
            )],
            Self::MethodNotAllowed { allowed } => vec![("allow", allowed.join(", "))],
            Self::Conflict(Conflict::IdempotencyKeyInFlight { retry_after_secs })
            | Self::Unavailable { retry_after_secs }
            | Self::TooManyRequests { retry_after_secs, .. } => {
                vec![("retry-after", retry_after_secs.to_string())]
            }
            _ => Vec::new(),
        }
    }

    /// The problem+json body.
    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        match self {
            Self::BadRequest {
                problem,
                detail,
                accepted,
            } => {
                let p = Problem::new(problem, "Bad request", status, detail.clone());
                match accepted {
                    Some(accepted) => p.with_extension("accepted", accepted.clone()),
                    None => p,
                }
            }
            Self::MalformedJson { line, column, message } => Problem::new(
                "malformed-json",
                "Malformed JSON",
                status,
                format!("request body is not valid JSON: {message} at line {line} column {column}"),
            )
            .with_extension("line", *line)
            .with_extension("column", *column),
            Self::Unauthorized { detail } => Problem::new("unauthorized", "Unauthorized", status, detail.clone()),
            Self::Forbidden { role, allowed } => Problem::new(
                "forbidden",
                "Forbidden",
                status,
                format!(
                    "role {role} may not do this; allowed: {}",
                    allowed.iter().map(Role::as_str).collect::<Vec<_>>().join(", ")
                ),
            )
            .with_extension("accepted", json!(allowed.iter().map(Role::as_str).collect::<Vec<_>>())),
            Self::InsufficientScope { scope } => Problem::new(
                "insufficient-scope",
                "Forbidden",
                status,
                format!("this route needs a service token with scope `{scope}`"),
            )
            .with_extension("accepted", json!([scope])),
            Self::NotFound { resource, id } => Problem::new(
                "not-found",
                "Not found",
                status,
                format!("{resource} {id} does not exist"),
            ),
            Self::MethodNotAllowed { allowed } => Problem::new(
                "method-not-allowed",
                "Method not allowed",
                status,
                format!("this resource accepts {}", allowed.join(", ")),
            )
            .with_extension("accepted", json!(allowed)),
            Self::Conflict(conflict) => conflict_problem(conflict, status),
            Self::PayloadTooLarge {
                limit_bytes,
                received_bytes,
            } => Problem::new(
                "payload-too-large",
                "Content too large",
                status,
                format!("request body is {received_bytes} bytes; the limit is {limit_bytes} bytes"),
            )
            .with_extension("limit_bytes", *limit_bytes),
            Self::UnsupportedMediaType { received, accepted } => Problem::new(
                "unsupported-media-type",
                "Unsupported media type",
                status,
                match received {
                    Some(r) => format!("Content-Type {r} is not accepted; send {}", accepted.join(" or ")),
                    None => format!("Content-Type is missing; send {}", accepted.join(" or ")),
                },
            )
            .with_extension("accepted", json!(accepted)),
            Self::PreconditionRequired { detail } => {
                Problem::new("precondition-required", "Precondition required", status, detail.clone())
            }
            Self::TooManyRequests {
                detail,
                retry_after_secs,
            } => Problem::new("too-many-requests", "Too many requests", status, detail.clone())
                .with_extension("retry_after_secs", *retry_after_secs),
            Self::Unprocessable {
                problem,
                detail,
                errors,
            } => {
                let title = if *problem == "validation" {
                    "Validation failed"
                } else {
                    "Unprocessable request"
                };
                let mut p = Problem::new(problem, title, status, detail.clone());
                p.errors = errors.clone();
                p
            }
            Self::Unavailable { retry_after_secs } => Problem::new(
                "busy",
                "Busy",
                status,
                format!(
                    "the service is busy with other requests and changed nothing; send the same request again \
                     after {retry_after_secs} s"
                ),
            )
            .with_extension("retry_after", *retry_after_secs),
            Self::Internal { correlation_id } => Problem::new(
                "internal",
                "Internal server error",
                status,
                format!("something went wrong on our side; quote correlation id {correlation_id} when reporting it"),
            )
            .with_extension("correlation_id", correlation_id.clone()),
        }
    }
}

fn conflict_problem(conflict: &Conflict, status: u16) -> Problem {
    match conflict {
        Conflict::StaleVersion { current_version } => Problem::new(
            "stale-version",
            "Version conflict",
            status,
            format!(
                "the resource has changed: it is at version {current_version}; re-read it and retry with \
                 If-Match: \"{current_version}\" if the change still applies"
            ),
        )
        .with_extension("current_version", *current_version),
        Conflict::IllegalTransition { from, command, allowed } => Problem::new(
            "illegal-transition",
            "Illegal transition",
            status,
            format!("{command} is not allowed from state {from}"),
        )
        .with_extension("current_state", from.clone())
        .with_extension("accepted", json!(allowed)),
        Conflict::IdempotencyKeyInFlight { retry_after_secs } => Problem::new(
            "idempotency-key-in-flight",
            "Request in progress",
            status,
            "a request with this key is still being processed; retry later",
        )
        .with_extension("retry_after", *retry_after_secs),
        Conflict::Other { detail } => Problem::new("conflict", "Conflict", status, detail.clone()),
    }
}

impl From<ApiError> for Problem {
    fn from(error: ApiError) -> Self {
        error.to_problem()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_variant() -> Vec<ApiError> {
        vec![
            ApiError::BadRequest {
                problem: "idempotency-key-required",
                detail: "x".into(),
                accepted: None,
            },
            ApiError::MalformedJson {
                line: 1,
                column: 2,
                message: "m".into(),
            },
            ApiError::Unauthorized {
                detail: "token expired".into(),
            },
            ApiError::Forbidden {
                role: Role::Customer,
                allowed: vec![Role::Operator],
            },
            ApiError::InsufficientScope {
                scope: "metrics".into(),
            },
            ApiError::not_found("order", "o-1"),
            ApiError::MethodNotAllowed { allowed: vec!["GET"] },
            ApiError::stale_version(4),
            ApiError::PayloadTooLarge {
                limit_bytes: 10,
                received_bytes: 11,
            },
            ApiError::UnsupportedMediaType {
                received: None,
                accepted: vec!["application/json"],
            },
            ApiError::PreconditionRequired {
                detail: "send If-Match".into(),
            },
            ApiError::validation(vec![]),
            ApiError::Unavailable { retry_after_secs: 1 },
            ApiError::TooManyRequests {
                detail: "one re-delivery per item every 5 minutes".into(),
                retry_after_secs: 60,
            },
            ApiError::Internal {
                correlation_id: "c".into(),
            },
        ]
    }

    #[test]
    fn every_variant_puts_its_status_in_the_problem_body() {
        for error in every_variant() {
            let problem = error.to_problem();
            assert_eq!(problem.status, error.status(), "{error:?}");
            assert!(problem.type_uri.starts_with("https://orderflow.dev/problems/"));
        }
    }

    #[test]
    fn an_internal_error_body_carries_the_correlation_id_but_not_the_cause() {
        // given a cause with secret-looking internal text
        let error = ApiError::internal("req-42", &"SQLITE_CONSTRAINT: UNIQUE failed: orders.secret_column");
        // when it becomes a problem
        let body = String::from_utf8(error.to_problem().to_json_bytes()).unwrap();
        // then only the correlation id is shown
        assert!(body.contains("req-42"));
        assert!(!body.contains("SQLITE"));
        assert!(!body.contains("secret_column"));
        assert_eq!(error.status(), 500);
    }

    #[test]
    fn a_busy_database_is_a_503_with_retry_after_not_a_500() {
        let error = ApiError::Unavailable { retry_after_secs: 1 };
        assert_eq!(error.status(), 503);
        assert_eq!(error.headers(), vec![("retry-after", "1".to_owned())]);
        assert_eq!(error.to_problem().type_uri, "https://orderflow.dev/problems/busy");
    }

    #[test]
    fn a_stale_version_conflict_names_the_current_version() {
        let problem = ApiError::stale_version(7).to_problem();
        assert_eq!(problem.status, 409);
        assert_eq!(problem.extensions["current_version"], 7);
    }

    #[test]
    fn unauthorized_carries_a_bearer_challenge_with_the_reason() {
        let error = ApiError::Unauthorized {
            detail: "token expired".into(),
        };
        let headers = error.headers();
        assert_eq!(headers.len(), 1);
        assert_eq!(headers[0].0, "www-authenticate");
        assert!(headers[0].1.starts_with("Bearer "));
        assert!(headers[0].1.contains("error_description=\"token expired\""));
    }

    #[test]
    fn a_key_in_flight_asks_the_client_to_retry_after_a_delay() {
        let error = ApiError::Conflict(Conflict::IdempotencyKeyInFlight { retry_after_secs: 2 });
        assert_eq!(error.status(), 409);
        assert_eq!(error.headers(), vec![("retry-after", "2".to_owned())]);
        assert_eq!(
            error.to_problem().detail,
            "a request with this key is still being processed; retry later"
        );
    }

    #[test]
    fn an_illegal_transition_lists_what_is_allowed() {
        let problem = ApiError::Conflict(Conflict::IllegalTransition {
            from: "fulfilled".into(),
            command: "submit".into(),
            allowed: vec!["cancel".into()],
        })
        .to_problem();
        assert_eq!(problem.extensions["accepted"], json!(["cancel"]));
        assert_eq!(problem.extensions["current_state"], "fulfilled");
    }

    #[test]
    fn a_validation_error_carries_its_field_errors() {
        let error = ApiError::validation(vec![FieldError::new("/a", "required", "a is required", Value::Null)]);
        let problem = error.to_problem();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors.len(), 1);
        assert_eq!(problem.type_uri, "https://orderflow.dev/problems/validation");
    }

    #[test]
    fn a_forbidden_problem_names_the_allowed_roles() {
        let problem = ApiError::Forbidden {
            role: Role::Customer,
            allowed: vec![Role::Operator, Role::Service],
        }
        .to_problem();
        assert_eq!(problem.extensions["accepted"], json!(["operator", "service"]));
    }
}
