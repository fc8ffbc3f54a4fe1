//! Core and store errors, as API errors: the one place that says which
//! status and problem each becomes.

use orderflow_core::{Actor, OrderState, Rejection, Violation, ALLOWED_TRANSITIONS};
use orderflow_http::{ApiError, Conflict, FieldError, Role};
use orderflow_store::{DbError, StoreError};
use serde_json::json;

/// Validation findings → 422 with one field error each.
pub fn from_violations(violations: Vec<Violation>) -> ApiError {
    ApiError::validation(
        violations
            .into_iter()
            .map(|v| FieldError::new(v.pointer, v.rule.as_str(), v.detail, v.accepted))
            .collect(),
    )
}

/// A refused command → 409, 403, 404 or 422.
pub fn from_rejection(rejection: Rejection, caller: Role, correlation_id: &str) -> ApiError {
    match rejection {
        Rejection::IllegalTransition { state, command } => ApiError::Conflict(Conflict::IllegalTransition {
            from: state.as_str().to_owned(),
            command: command.to_owned(),
            allowed: reachable_from(state),
        }),
        Rejection::NotAllowed { required, .. } => {
            let role = match required {
                Actor::Customer => Role::Customer,
                Actor::Operator => Role::Operator,
                Actor::System => Role::Service,
            };
            ApiError::Forbidden { role: caller, allowed: vec![role] }
        }
        Rejection::PriceMismatch(m) => ApiError::Unprocessable {
            problem: "price-mismatch",
            detail: format!(
                "the total shown ({}) is more than {} away from the current price ({}); show the customer the current price and submit again",
                m.shown, m.tolerance, m.server
            ),
            errors: vec![FieldError::new(
                "/shown_total",
                "price_tolerance",
                format!("must be within {} of {}", m.tolerance, m.server),
                json!({ "amount": m.server.amount.to_string(), "currency": m.server.currency.code(), "tolerance": m.tolerance.amount.to_string() }),
            )],
        },
        Rejection::PaymentMismatch { expected, paid } => ApiError::Unprocessable {
            problem: "payment-mismatch",
            detail: format!("payment of {paid} does not match the order total {expected}"),
            errors: Vec::new(),
        },
        Rejection::UnknownItem(item) => ApiError::not_found("item", item.to_string()),
        e @ (Rejection::ItemState { .. } | Rejection::NotDeleted) => {
            ApiError::Conflict(Conflict::Other { detail: e.to_string() })
        }
        Rejection::Money(e) => ApiError::internal(correlation_id, &e),
    }
}

/// How long a client should wait before sending a request again that found
/// the database busy.
pub const BUSY_RETRY_AFTER_SECS: u32 = 1;

/// A store failure → 409 for a lost race, 503 with `Retry-After` for a
/// database that stayed busy (nothing was written; the request may be sent
/// again), 500 (logged, opaque) otherwise.
pub fn from_store(error: StoreError, correlation_id: &str) -> ApiError {
    match error {
        StoreError::Db(DbError::Busy) => {
            eprintln!("database busy beyond the store's retries [correlation_id={correlation_id}]: answered 503");
            ApiError::Unavailable {
                retry_after_secs: BUSY_RETRY_AFTER_SECS,
            }
        }
        StoreError::VersionConflict { expected } => ApiError::Conflict(Conflict::Other {
            detail: format!("the order changed after version {expected} was read; read it again and retry"),
        }),
        other => ApiError::internal(correlation_id, &other),
    }
}

fn reachable_from(state: OrderState) -> Vec<String> {
    ALLOWED_TRANSITIONS
        .iter()
        .filter(|(f, t)| *f == state && *t != state)
        .map(|(_, t)| t.as_str().to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_busy_beyond_the_retries_is_503_with_retry_after() {
        let error = from_store(StoreError::Db(DbError::Busy), "c-1");
        assert_eq!(error.status(), 503);
        assert_eq!(
            error.headers(),
            vec![("retry-after", BUSY_RETRY_AFTER_SECS.to_string())]
        );
    }

    #[test]
    fn other_database_failures_stay_opaque_500s() {
        let error = from_store(StoreError::Db(DbError::Other("disk I/O error".into())), "c-2");
        assert_eq!(error.status(), 500);
    }
}
