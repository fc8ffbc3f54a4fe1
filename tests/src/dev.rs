//! Development values of the app's required settings, the same ones
//! `scripts/dev` passes. They are published in this repository: fine for
//! tests and local runs, never for a deployment.
//!
//! The token keys: the app is given only the public JWKS
//! (`tests/dev-tokens/dev-jwks.json`); the private key that signs
//! development tokens (`dev-signing-key.pem`) is held here, by
//! `mint-token` (which reads the file) and by `scripts/dev`, never by a
//! component.

use orderflow_http::{Role, TokenSigner, TokenSpec};

/// `auth_jwks`: the public half of the development signing key.
pub const AUTH_JWKS: &str = include_str!("../dev-tokens/dev-jwks.json");

/// `auth_issuer`: the development tokens' `iss`.
pub const AUTH_ISSUER: &str = "orderflow-dev";

/// The development tokens' `aud` (the app's default `auth_audience`).
pub const AUTH_AUDIENCE: &str = "orderflow";

/// The development signing key's id in [`AUTH_JWKS`].
pub const SIGNING_KID: &str = "dev1";

/// DEVELOPMENT ONLY: the private key whose public half is [`AUTH_JWKS`].
pub const SIGNING_KEY_PEM: &str = include_str!("../dev-tokens/dev-signing-key.pem");

/// Every scope an internal route checks; the test helpers' service tokens
/// carry them all (the scheduler's carry only `tick renew`).
pub const ALL_SERVICE_SCOPES: [&str; 4] = ["tick", "renew", "clock", "metrics"];

/// `credentials_key`: the development key that seals access details at rest.
pub const CREDENTIALS_KEY: &str = "dev1:4f7e2c9a1b3d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7";

/// `payment_webhook_secret`: the development webhook signing secret (32+ bytes).
pub const WEBHOOK_SECRET: &str = "whsec_local_development_only_0123456789";

/// The development token signer.
pub fn signer() -> TokenSigner {
    TokenSigner::from_pem(SIGNING_KEY_PEM.as_bytes(), SIGNING_KID, AUTH_ISSUER, AUTH_AUDIENCE)
        .expect("the development key parses")
}

/// A one-hour development token for `subject` in `tenant` as `role`, with
/// `scopes`.
pub fn token_with(subject: &str, tenant: &str, role: Role, scopes: &[&str]) -> String {
    let spec = TokenSpec {
        subject: subject.to_owned(),
        tenant: tenant.parse().expect("tenant id"),
        role,
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        lifetime_secs: 3600,
    };
    signer().mint(&spec, chrono::Utc::now().timestamp() - 10)
}

/// A one-hour development token for `tenant` as `role`; a service token
/// carries every internal scope.
pub fn token(tenant: &str, role: Role) -> String {
    let scopes: &[&str] = if role == Role::Service {
        &ALL_SERVICE_SCOPES
    } else {
        &[]
    };
    token_with(&format!("{tenant}-{}", role.as_str()), tenant, role, scopes)
}
