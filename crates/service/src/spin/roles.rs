//! The one place a request's credential is checked: who is calling
//! ([`principal`]) and, for internal routes, whether that caller may
//! ([`require`], [`require_service`]). Every route checks the credential
//! before it reads anything else of the request, so a caller that may not
//! use a route learns nothing from how its query or body would have been
//! read.
//!
//! Calls between the app's own components carry no token: they go through
//! service chaining to paths no public route leads to (a saga job's
//! hand-over, an order's kick), so only a component whose manifest lists
//! the target in `allowed_outbound_hosts` can make them, and no component
//! holds a key that could sign a token.

use chrono::Utc;
use orderflow_http::{authenticate, ApiError, Principal, RequestParts, Role};

use super::variables::token_verifier;

/// The request's verified caller (401 otherwise). Bearer tokens are always
/// checked against the system clock: moving the app's clock never extends
/// a credential.
pub fn principal(request: &RequestParts, correlation_id: &str) -> Result<Principal, ApiError> {
    let verifier = token_verifier(correlation_id)?;
    let principal = authenticate(request.header("authorization"), &verifier, Utc::now().timestamp())?;
    crate::observe::note_tenant(&principal.tenant);
    Ok(principal)
}

/// The request's verified caller, who must hold one of `roles` (401
/// without a valid credential, 403 with another role).
pub fn require(request: &RequestParts, roles: &[Role], correlation_id: &str) -> Result<Principal, ApiError> {
    let principal = principal(request, correlation_id)?;
    principal.require_role(roles)?;
    Ok(principal)
}

/// The request's verified caller, who must be a service whose token grants
/// `scope` (401 without a valid credential, 403 otherwise). The internal
/// routes' scopes: `tick`, `renew`, `clock`, `metrics`.
pub fn require_service(request: &RequestParts, scope: &str, correlation_id: &str) -> Result<Principal, ApiError> {
    let principal = principal(request, correlation_id)?;
    principal.require_service_scope(scope)?;
    Ok(principal)
}
