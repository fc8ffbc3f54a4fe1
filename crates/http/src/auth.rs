//! The caller of a request: its role, the principal a verified bearer token
//! proves, why a credential is refused, and the `Authorization` header's
//! shape. The tokens themselves are standard JWTs verified with public keys
//! only ([`crate::jwt`]); no component holds a key that could sign one.

use std::fmt;
use std::str::FromStr;

use orderflow_core::TenantId;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::jwt::TokenVerifier;

/// The shortest secret a shared-secret variable accepts, in bytes
/// (HMAC-SHA256's output size): the payment webhook secret.
pub const MIN_SECRET_BYTES: usize = 32;

/// `Ok` when the secret variable `name` holds at least [`MIN_SECRET_BYTES`]
/// bytes; otherwise a message naming the variable and the length, never the
/// value (it goes to logs).
pub fn check_secret_length(name: &str, value: &str) -> Result<(), String> {
    if value.len() >= MIN_SECRET_BYTES {
        Ok(())
    } else {
        Err(format!(
            "variable `{name}` is {} bytes long; at least {MIN_SECRET_BYTES} are required",
            value.len()
        ))
    }
}

/// How far in the future `iat` (or `nbf`) may be before a token is
/// rejected; absorbs clock drift between the issuing and verifying machines.
pub const CLOCK_SKEW_SECS: i64 = 60;

/// What a caller may do. A closed set: `customer`, `operator`, `service`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A tenant's user: manages that tenant's orders.
    Customer,
    /// Staff: reverts payments, cancels in flight, recovers cancelled orders.
    Operator,
    /// Another component or a scheduler calling in.
    Service,
}

impl Role {
    /// Every role, for listing what is accepted.
    pub const ALL: [Role; 3] = [Role::Customer, Role::Operator, Role::Service];

    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Operator => "operator",
            Role::Service => "service",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}; expected customer, operator or service"))
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who, from `sub`.
    pub subject: String,
    /// The tenant every query of this request is scoped to.
    pub tenant: TenantId,
    /// What the caller may do.
    pub role: Role,
    /// The scopes the token grants (`scope`, space-separated, or `scp`):
    /// a service token may use only the internal routes its scopes name.
    pub scopes: Vec<String>,
}

impl Principal {
    /// `Ok` when the caller's role is one of `allowed`; 403 naming them otherwise.
    pub fn require_role(&self, allowed: &[Role]) -> Result<(), ApiError> {
        if allowed.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                role: self.role,
                allowed: allowed.to_vec(),
            })
        }
    }
}

impl Principal {
    /// `Ok` for a service caller whose token grants `scope`; 403 otherwise
    /// (another role: [`ApiError::Forbidden`]; a service token without the
    /// scope: [`ApiError::InsufficientScope`]). The scheduler's token, for
    /// one, carries `tick renew` and can do nothing else.
    pub fn require_service_scope(&self, scope: &str) -> Result<(), ApiError> {
        self.require_role(&[Role::Service])?;
        if self.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            Err(ApiError::InsufficientScope {
                scope: scope.to_owned(),
            })
        }
    }
}

/// Why a credential was rejected. Every variant is a 401; the message is the
/// `detail` the client sees, and never says anything about key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// 401: no `Authorization` header.
    #[error("missing Authorization header; send Authorization: Bearer <token>")]
    Missing,
    /// 401: an `Authorization` header with a scheme other than `Bearer`.
    #[error("Authorization scheme must be Bearer")]
    NotBearer,
    /// 401: not a JWT (three base64url parts, JSON header and claims), or a
    /// header this server does not accept.
    #[error("token is malformed: {0}")]
    Malformed(String),
    /// 401: the header's `kid` names no key of the configured JWKS (retired,
    /// or another issuer's).
    #[error("token was signed with an unknown key")]
    UnknownKey,
    /// 401: the header's `alg` is not the algorithm of the key `kid` names.
    #[error("token algorithm does not match its key")]
    WrongAlgorithm,
    /// 401: the signature does not match.
    #[error("signature does not match")]
    BadSignature,
    /// 401: `iss` is not the configured issuer.
    #[error("token was issued by another issuer")]
    WrongIssuer,
    /// 401: `aud` does not name this application.
    #[error("token is meant for another audience")]
    WrongAudience,
    /// 401: a required claim is absent.
    #[error("token has no `{0}` claim")]
    MissingClaim(String),
    /// 401: a claim is present but unusable (for example an unknown role).
    #[error("claim `{claim}` is invalid: {why}")]
    BadClaim {
        /// The claim's configured name.
        claim: String,
        /// What is wrong with it; never its value when that could be secret.
        why: String,
    },
    /// 401: `now >= exp`.
    #[error("token expired")]
    Expired,
    /// 401: `iat` or `nbf` is more than [`CLOCK_SKEW_SECS`] in the future.
    #[error("token is not valid yet")]
    NotYetValid,
    /// 401: `exp - iat` is longer than the configured maximum lifetime.
    #[error("token lives longer than the {max_secs} s this server accepts")]
    TooLongLived {
        /// The configured maximum, in seconds.
        max_secs: i64,
    },
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        ApiError::Unauthorized {
            detail: error.to_string(),
        }
    }
}

/// The token in an `Authorization: Bearer <token>` header value. The scheme is
/// matched case-insensitively (RFC 9110 §11.1).
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, AuthError> {
    let value = authorization.ok_or(AuthError::Missing)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::NotBearer);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::Malformed("empty bearer token".to_owned()));
    }
    Ok(token)
}

/// Authenticates a request from its `Authorization` header value: 401 on any
/// failure, with the reason as the detail.
pub fn authenticate(authorization: Option<&str>, verifier: &TokenVerifier, now: i64) -> Result<Principal, ApiError> {
    let token = bearer_token(authorization)?;
    Ok(verifier.verify(token, now)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_secret_is_refused_by_its_variable_name_not_its_value() {
        let err = check_secret_length("payment_webhook_secret", "whsec_tooshort").expect_err("short");
        assert!(err.contains("`payment_webhook_secret`"), "{err}");
        assert!(err.contains("14 bytes"), "{err}");
        assert!(!err.contains("whsec_tooshort"), "{err}");
        assert!(check_secret_length("x", &"s".repeat(MIN_SECRET_BYTES)).is_ok());
    }

    fn principal(role: Role, scopes: &[&str]) -> Principal {
        Principal {
            subject: "alice".into(),
            tenant: "acme".parse().unwrap(),
            role,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token(Some("bearer abc")), Ok("abc"));
        assert_eq!(bearer_token(Some("BEARER  abc ")), Ok("abc"));
        assert_eq!(bearer_token(Some("Basic abc")), Err(AuthError::NotBearer));
        assert_eq!(bearer_token(Some("Bearer")), Err(AuthError::NotBearer));
        assert_eq!(bearer_token(None), Err(AuthError::Missing));
    }

    #[test]
    fn require_role_forbids_roles_not_listed() {
        let customer = principal(Role::Customer, &[]);
        assert!(customer.require_role(&[Role::Customer, Role::Operator]).is_ok());
        assert_eq!(customer.require_role(&[Role::Operator]).unwrap_err().status(), 403);
    }

    #[test]
    fn a_service_token_may_use_only_the_routes_its_scopes_name() {
        let scheduler = principal(Role::Service, &["tick", "renew"]);
        assert!(scheduler.require_service_scope("tick").is_ok());
        assert!(scheduler.require_service_scope("renew").is_ok());
        let refused = scheduler.require_service_scope("metrics").unwrap_err();
        assert_eq!(refused.status(), 403);
        assert!(refused.to_problem().detail.contains("metrics"));
        // An operator is not a service, whatever its scopes.
        let operator = principal(Role::Operator, &["tick"]);
        assert_eq!(operator.require_service_scope("tick").unwrap_err().status(), 403);
    }

    #[test]
    fn every_role_round_trips_through_its_name() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
    }
}
