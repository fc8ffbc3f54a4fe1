//! Development values of the app's required secrets, the same ones
//! `scripts/dev` passes. They are published in this repository: fine for
//! tests and local runs, never for a deployment.

/// `auth_keys`: the development bearer-token keyring (`mint-token`'s fallback).
pub const AUTH_KEYS: &str = orderflow_http::DEV_KEYRING;

/// `credentials_key`: the development key that seals access details at rest.
pub const CREDENTIALS_KEY: &str = "dev1:4f7e2c9a1b3d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7";

/// `payment_webhook_secret`: the development webhook signing secret (32+ bytes).
pub const WEBHOOK_SECRET: &str = "whsec_local_development_only_0123456789";
