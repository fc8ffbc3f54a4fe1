//! The one place a request's credential is checked: who is calling
//! ([`principal`]) and, for internal routes, whether that caller may
//! ([`require`]). Every route checks the credential before it reads
//! anything else of the request, so a caller that may not use a route
//! learns nothing from how its query or body would have been read.

use chrono::Utc;
use orderflow_http::{authenticate, ApiError, Principal, RequestParts, Role};

use super::variables::keyring;

/// The request's verified caller (401 otherwise). Bearer tokens are always
/// checked against the system clock: moving the app's clock never extends
/// a credential.
pub fn principal(request: &RequestParts, correlation_id: &str) -> Result<Principal, ApiError> {
    let keyring = keyring(correlation_id)?;
    let principal = authenticate(request.header("authorization"), &keyring, Utc::now().timestamp())?;
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
