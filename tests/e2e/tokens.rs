//! Bearer tokens from an issuer that is not ours: the app must accept any
//! standard JWT access token its JWKS vouches for, so a token issued by
//! PyJWT (Python, `cryptography`) with RS256 and ES256 is checked against
//! the real components, and one that names another issuer is refused.

use std::process::Command;

use e2e::App;
use serde_json::Value;

use crate::api::{manifest, PACKAGES};

const ISSUER: &str = "https://id.example.test/realms/shop";

/// Runs the PyJWT issuer: its JWKS and an RS256 and an ES256 token.
fn pyjwt_tokens(issuer: &str, tenant: &str, role: &str) -> Value {
    let script = e2e::workspace_root().join("tests/e2e/tokens/pyjwt_issuer.py");
    let output = Command::new("python3")
        .arg(&script)
        .args([issuer, "orderflow", tenant, role])
        .output()
        .expect("run python3 (scripts/install-test-deps installs PyJWT)");
    assert!(
        output.status.success(),
        "PyJWT issuer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the issuer prints JSON")
}

#[test]
fn a_token_issued_by_pyjwt_is_accepted_with_its_jwks_and_refused_from_another_issuer() {
    // given tokens and a JWKS from PyJWT, and the app given only that JWKS
    let issued = pyjwt_tokens(ISSUER, "acme", "customer");
    let app = App::builder(manifest())
        .build_packages(PACKAGES)
        .dev_secrets()
        .env("SPIN_VARIABLE_AUTH_JWKS", issued["jwks"].to_string())
        .env("SPIN_VARIABLE_AUTH_ISSUER", ISSUER)
        .spawn();
    let get = |token: &str| {
        app.client()
            .get(app.url("/v1/orders"))
            .bearer_auth(token)
            .send()
            .expect("request")
    };
    // when each token calls the API, then it is the tenant's customer
    for alg in ["RS256", "ES256"] {
        let token = issued["tokens"][alg].as_str().expect("a token");
        let response = get(token);
        assert_eq!(response.status(), 200, "{alg}: {}", response.text().unwrap_or_default());
    }
    // and the development token, whose key is not in this JWKS, is refused
    let dev = e2e::dev::token("acme", orderflow_http::Role::Customer);
    assert_eq!(get(&dev).status(), 401);
    // and a token signed with a published key but naming another issuer is refused
    let response = get(issued["tokens"]["foreign_issuer"].as_str().expect("a token"));
    assert_eq!(response.status(), 401);
    assert!(
        response.text().unwrap_or_default().contains("another issuer"),
        "the detail says why"
    );
}
