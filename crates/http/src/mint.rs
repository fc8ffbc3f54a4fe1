//! Issuing tokens, for what is not an identity provider but must still
//! present one: `mint-token` (development), the tests, the benchmark and
//! the in-cluster scheduler (`relay schedule`, with its own key whose public
//! half is in the app's JWKS). The components never sign: nothing in a
//! component calls this module, and no component is given a private key.
//!
//! Tokens are RFC 9068 access tokens: header `typ: at+jwt` and the key's
//! `kid`; claims `iss`, `aud`, `sub`, `iat`, `exp`, `jti`, and the default
//! claim names of [`crate::TokenPolicy`] (`tenant`, `role`), plus `scope`
//! when scopes are given.

use std::sync::atomic::{AtomicU64, Ordering};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use orderflow_core::TenantId;
use serde_json::{json, Value};

use crate::auth::Role;

/// Tokens minted by this process so far: with the process id, `sub` and
/// `iat`, makes each `jti` unique.
static MINTED: AtomicU64 = AtomicU64::new(0);

/// Parses a PEM private key for one algorithm family.
type ParsePem = fn(&[u8]) -> jsonwebtoken::errors::Result<EncodingKey>;

/// What a token says about its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    /// `sub`.
    pub subject: String,
    /// The tenant claim.
    pub tenant: TenantId,
    /// The role claim.
    pub role: Role,
    /// `scope` (space-separated), omitted when empty.
    pub scopes: Vec<String>,
    /// `exp - iat`, seconds.
    pub lifetime_secs: i64,
}

/// A private key, its `kid`, and the issuer and audience its tokens name.
/// `Debug` prints the kid and issuer only.
pub struct TokenSigner {
    kid: String,
    algorithm: Algorithm,
    key: EncodingKey,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// A signer from a PKCS#8 PEM private key: Ed25519 (EdDSA), P-256
    /// (ES256) or RSA (RS256), told apart by the key itself.
    ///
    /// # Errors
    /// A message when the PEM holds none of these (never the key itself).
    pub fn from_pem(pem: &[u8], kid: &str, issuer: &str, audience: &str) -> Result<Self, String> {
        let candidates: [(Algorithm, ParsePem); 3] = [
            (Algorithm::EdDSA, EncodingKey::from_ed_pem),
            (Algorithm::ES256, EncodingKey::from_ec_pem),
            (Algorithm::RS256, EncodingKey::from_rsa_pem),
        ];
        let (algorithm, key) = candidates
            .into_iter()
            .find_map(|(algorithm, parse)| parse(pem).ok().map(|key| (algorithm, key)))
            .ok_or("the key is not a PKCS#8 PEM Ed25519, P-256 or RSA private key")?;
        let signer = Self {
            kid: kid.to_owned(),
            algorithm,
            key,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        };
        // An EC key of another curve parses but cannot sign ES256: find out now.
        Jwk::from_encoding_key(&signer.key, algorithm)
            .map_err(|e| format!("the key cannot sign {algorithm:?}: {e}"))?;
        Ok(signer)
    }

    /// The public half as a JWK (`kid`, `alg`, `use: sig`), for the app's JWKS.
    pub fn public_jwk(&self) -> Value {
        let jwk = Jwk::from_encoding_key(&self.key, self.algorithm).expect("checked in from_pem");
        let mut value = serde_json::to_value(jwk).expect("a JWK serializes");
        value["kid"] = json!(self.kid);
        value["use"] = json!("sig");
        value
    }

    /// A token for `spec`, issued at `issued_at` (unix seconds).
    pub fn mint(&self, spec: &TokenSpec, issued_at: i64) -> String {
        let mut claims = json!({
            "iss": self.issuer,
            "aud": self.audience,
            "sub": spec.subject,
            "iat": issued_at,
            "exp": issued_at.saturating_add(spec.lifetime_secs),
            "jti": format!("{}-{issued_at}-{}-{}", spec.subject, std::process::id(), MINTED.fetch_add(1, Ordering::Relaxed)),
            "tenant": spec.tenant.as_str(),
            "role": spec.role.as_str(),
        });
        if !spec.scopes.is_empty() {
            claims["scope"] = json!(spec.scopes.join(" "));
        }
        self.sign_claims(&claims)
    }

    /// Signs arbitrary claims with this key's header (tests of claims an
    /// identity provider would send).
    pub fn sign_claims(&self, claims: &Value) -> String {
        let header = Header {
            typ: Some("at+jwt".to_owned()),
            kid: Some(self.kid.clone()),
            ..Header::new(self.algorithm)
        };
        jsonwebtoken::encode(&header, claims, &self.key).expect("a checked key signs JSON claims")
    }
}
