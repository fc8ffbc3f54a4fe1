//! Bearer tokens are standard JWT access tokens (RFC 9068), verified with
//! public keys only, so any identity provider a company already runs
//! (Keycloak, Auth0, Entra ID, Zitadel, Dex) can issue them and no
//! component holds a key that could sign one.
//!
//! The keys come from a JWKS (RFC 7517) given inline as a Spin variable:
//! no component makes a network call to verify. Each key must carry a
//! `kid`; a token's header names its key by `kid` (rotation: publish the new
//! key beside the old one, switch the issuer, drop the old key once its
//! tokens have expired). Accepted: `OKP`/`Ed25519` (EdDSA), `EC`/`P-256`
//! (ES256), `RSA` of at least 2048 bits (RS256). A symmetric (`oct`) key is
//! refused outright: it would be a signing key. Keys marked `"use": "enc"`,
//! and keys of other algorithms, are skipped (an IdP's JWKS lists them).
//!
//! Signatures, `iss` and `aud` are checked by the `jsonwebtoken` crate; time
//! is checked here against a `now` the caller passes (no clock inside):
//! `exp` (required), `iat` (required, and `exp - iat` at most the maximum
//! lifetime), `nbf` (when present). The tenant and role come from claims
//! whose names are configurable, a dotted path into nested objects (Keycloak
//! puts roles in `realm_access.roles`); scopes from `scope` (space-separated,
//! RFC 8693) or `scp` (a list, Entra ID).

use std::collections::HashSet;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use orderflow_core::TenantId;
use serde_json::Value;

use crate::auth::{AuthError, Principal, Role, CLOCK_SKEW_SECS};

/// What a token must say to be accepted, besides a good signature. Built
/// from the `auth_*` Spin variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPolicy {
    /// The one accepted `iss`, exactly (e.g. `https://id.example.com/realms/shop`).
    pub issuer: String,
    /// The accepted `aud` (a token may list several; one must be this).
    pub audience: String,
    /// The claim holding the tenant id, a dotted path (default `tenant`).
    pub tenant_claim: String,
    /// The claim holding the role, a dotted path (default `role`): a string,
    /// or a list holding exactly one of `customer`, `operator`, `service`.
    pub role_claim: String,
    /// The longest `exp - iat` accepted, in seconds.
    pub max_lifetime_secs: i64,
}

impl TokenPolicy {
    /// The default tenant claim.
    pub const DEFAULT_TENANT_CLAIM: &'static str = "tenant";
    /// The default role claim.
    pub const DEFAULT_ROLE_CLAIM: &'static str = "role";
    /// The default maximum lifetime: one day.
    pub const DEFAULT_MAX_LIFETIME_SECS: i64 = 86_400;

    /// A policy with the default claim names and lifetime.
    pub fn new(issuer: &str, audience: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            tenant_claim: Self::DEFAULT_TENANT_CLAIM.to_owned(),
            role_claim: Self::DEFAULT_ROLE_CLAIM.to_owned(),
            max_lifetime_secs: Self::DEFAULT_MAX_LIFETIME_SECS,
        }
    }
}

/// Why a JWKS was refused. Messages name the key by position and `kid`,
/// never key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// Not JSON, or not an object with a `keys` list.
    #[error("JWKS is not a JSON object with a `keys` list: {0}")]
    NotJwks(String),
    /// A key without a `kid`: tokens could not name it.
    #[error("JWKS key {index} has no `kid`")]
    MissingKid {
        /// 0-based position in `keys`.
        index: usize,
    },
    /// The same `kid` twice.
    #[error("JWKS key id {kid} appears twice")]
    DuplicateKid {
        /// The repeated id.
        kid: String,
    },
    /// A symmetric key: whoever holds it could sign tokens.
    #[error("JWKS key {kid} is symmetric (`oct`); only public keys are accepted")]
    SymmetricKey {
        /// Its id.
        kid: String,
    },
    /// A key of a supported type whose parameters do not decode, or an RSA
    /// key shorter than 2048 bits.
    #[error("JWKS key {kid} is unusable: {why}")]
    BadKey {
        /// Its id.
        kid: String,
        /// What is wrong.
        why: String,
    },
    /// No key left to verify with.
    #[error("JWKS has no signing key of a supported type (Ed25519, P-256, RSA)")]
    NoUsableKey,
}

struct VerifyingKey {
    kid: String,
    algorithm: Algorithm,
    key: DecodingKey,
    validation: Validation,
}

/// The public keys of a JWKS and the policy tokens must meet.
///
/// Invariants: at least one key; key ids unique; no symmetric key.
/// `Debug` prints key ids only.
pub struct TokenVerifier {
    keys: Vec<VerifyingKey>,
    policy: TokenPolicy,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("kids", &self.kids())
            .field("policy", &self.policy)
            .finish()
    }
}

fn text<'a>(key: &'a Value, field: &str) -> Option<&'a str> {
    key.get(field).and_then(Value::as_str)
}

fn base64url_len(value: &str) -> usize {
    // Unpadded base64url: 4 characters carry 3 bytes.
    value.trim_end_matches('=').len() * 3 / 4
}

/// The algorithm a JWK verifies with, `Ok(None)` for a key to skip.
fn algorithm_of(key: &Value, kid: &str) -> Result<Option<(Algorithm, DecodingKey)>, JwksError> {
    let bad = |why: &str| JwksError::BadKey {
        kid: kid.to_owned(),
        why: why.to_owned(),
    };
    if text(key, "use").is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    let field = |name: &str| text(key, name).ok_or_else(|| bad(&format!("no `{name}`")));
    let (algorithm, decoding) = match (text(key, "kty"), text(key, "crv")) {
        (Some("oct"), _) => return Err(JwksError::SymmetricKey { kid: kid.to_owned() }),
        (Some("OKP"), Some("Ed25519")) => (
            Algorithm::EdDSA,
            DecodingKey::from_ed_components(field("x")?).map_err(|e| bad(&e.to_string()))?,
        ),
        (Some("EC"), Some("P-256")) => (
            Algorithm::ES256,
            DecodingKey::from_ec_components(field("x")?, field("y")?).map_err(|e| bad(&e.to_string()))?,
        ),
        (Some("RSA"), _) => {
            let n = field("n")?;
            if base64url_len(n) < 256 {
                return Err(bad("RSA modulus shorter than 2048 bits"));
            }
            (
                Algorithm::RS256,
                DecodingKey::from_rsa_components(n, field("e")?).map_err(|e| bad(&e.to_string()))?,
            )
        }
        _ => return Ok(None),
    };
    // A key that names another algorithm (RS384, PS256, ...) is not ours to use.
    match text(key, "alg") {
        None => Ok(Some((algorithm, decoding))),
        Some(alg) if alg == format!("{algorithm:?}") => Ok(Some((algorithm, decoding))),
        Some(_) => Ok(None),
    }
}

/// The value at a dotted claim path (`realm_access.roles`). A claim whose
/// own name holds a dot (`https://example.com/tenant`) is found too: the
/// whole path is tried as one name first.
fn claim_at<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(path) {
        return Some(value);
    }
    path.split('.').try_fold(claims, |value, segment| value.get(segment))
}

impl TokenVerifier {
    /// Parses the JWKS `jwks` (a JSON text) under `policy`.
    ///
    /// # Errors
    /// [`JwksError`]: not a JWKS, a key without `kid` or twice, a symmetric
    /// key, a malformed key, or no usable key at all.
    pub fn new(jwks: &str, policy: TokenPolicy) -> Result<Self, JwksError> {
        let set: Value = serde_json::from_str(jwks).map_err(|e| JwksError::NotJwks(e.to_string()))?;
        let listed = set
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| JwksError::NotJwks("no `keys` list".to_owned()))?;
        let mut keys: Vec<VerifyingKey> = Vec::new();
        let mut seen = HashSet::new();
        for (index, key) in listed.iter().enumerate() {
            let kid = text(key, "kid")
                .filter(|k| !k.is_empty())
                .ok_or(JwksError::MissingKid { index })?;
            if !seen.insert(kid.to_owned()) {
                return Err(JwksError::DuplicateKid { kid: kid.to_owned() });
            }
            let Some((algorithm, decoding)) = algorithm_of(key, kid)? else {
                continue;
            };
            let mut validation = Validation::new(algorithm);
            validation.set_issuer(&[&policy.issuer]);
            validation.set_audience(&[&policy.audience]);
            validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            // Time is checked in `verify`, against the caller's `now`.
            validation.validate_exp = false;
            validation.validate_nbf = false;
            validation.leeway = 0;
            keys.push(VerifyingKey {
                kid: kid.to_owned(),
                algorithm,
                key: decoding,
                validation,
            });
        }
        if keys.is_empty() {
            return Err(JwksError::NoUsableKey);
        }
        Ok(Self { keys, policy })
    }

    /// The ids of the keys tokens may be signed with.
    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.kid.as_str()).collect()
    }

    /// The policy tokens must meet.
    pub fn policy(&self) -> &TokenPolicy {
        &self.policy
    }

    /// Verifies `token` at `now` (unix seconds) and returns the caller it proves.
    ///
    /// Checks, in order: the header (`kid` of a known key, its algorithm,
    /// `typ` of an access token when present), the signature, `iss`, `aud`,
    /// then time, lifetime and the subject, tenant, role and scopes. Nothing
    /// in the claims is read before the signature matches.
    ///
    /// # Errors
    /// [`AuthError`], every one a 401.
    pub fn verify(&self, token: &str, now: i64) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| AuthError::Malformed(e.to_string()))?;
        if let Some(typ) = header.typ.as_deref() {
            let typ = typ.to_ascii_lowercase();
            if !["jwt", "at+jwt", "application/at+jwt"].contains(&typ.as_str()) {
                return Err(AuthError::Malformed(format!("`typ` {typ} is not an access token")));
            }
        }
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| AuthError::Malformed("the header has no `kid`".to_owned()))?;
        let key = self.keys.iter().find(|k| k.kid == kid).ok_or(AuthError::UnknownKey)?;
        if header.alg != key.algorithm {
            return Err(AuthError::WrongAlgorithm);
        }
        let claims = jsonwebtoken::decode::<Value>(token, &key.key, &key.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
                ErrorKind::InvalidAudience => AuthError::WrongAudience,
                ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(claim.clone()),
                ErrorKind::InvalidAlgorithm => AuthError::WrongAlgorithm,
                _ => AuthError::Malformed(e.to_string()),
            })?
            .claims;
        self.check_time(&claims, now)?;
        self.principal(&claims)
    }

    fn check_time(&self, claims: &Value, now: i64) -> Result<(), AuthError> {
        let seconds = |name: &str| -> Result<Option<i64>, AuthError> {
            match claims.get(name) {
                None => Ok(None),
                Some(value) => value.as_i64().map(Some).ok_or_else(|| AuthError::BadClaim {
                    claim: name.to_owned(),
                    why: "must be whole unix seconds".to_owned(),
                }),
            }
        };
        let exp = seconds("exp")?.ok_or_else(|| AuthError::MissingClaim("exp".to_owned()))?;
        let iat = seconds("iat")?.ok_or_else(|| AuthError::MissingClaim("iat".to_owned()))?;
        if exp.saturating_sub(iat) > self.policy.max_lifetime_secs {
            return Err(AuthError::TooLongLived {
                max_secs: self.policy.max_lifetime_secs,
            });
        }
        if now >= exp {
            return Err(AuthError::Expired);
        }
        let early = now.saturating_add(CLOCK_SKEW_SECS);
        if iat > early || seconds("nbf")?.is_some_and(|nbf| nbf > early) {
            return Err(AuthError::NotYetValid);
        }
        Ok(())
    }

    fn principal(&self, claims: &Value) -> Result<Principal, AuthError> {
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AuthError::MissingClaim("sub".to_owned()))?;
        let tenant_claim = &self.policy.tenant_claim;
        let tenant: TenantId = claim_at(claims, tenant_claim)
            .ok_or_else(|| AuthError::MissingClaim(tenant_claim.clone()))?
            .as_str()
            .ok_or_else(|| AuthError::BadClaim {
                claim: tenant_claim.clone(),
                why: "must be a string".to_owned(),
            })?
            .parse()
            .map_err(|e| AuthError::BadClaim {
                claim: tenant_claim.clone(),
                why: format!("{e}"),
            })?;
        let role = self.role(claims)?;
        let scopes = match (claims.get("scope"), claims.get("scp")) {
            (Some(Value::String(scope)), _) => scope.split_whitespace().map(str::to_owned).collect(),
            (_, Some(Value::Array(scp))) => scp.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            (_, Some(Value::String(scp))) => scp.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        Ok(Principal {
            subject: subject.to_owned(),
            tenant,
            role,
            scopes,
        })
    }

    fn role(&self, claims: &Value) -> Result<Role, AuthError> {
        let role_claim = &self.policy.role_claim;
        let bad = |why: &str| AuthError::BadClaim {
            claim: role_claim.clone(),
            why: why.to_owned(),
        };
        let accepted = "customer, operator or service";
        match claim_at(claims, role_claim) {
            None => Err(AuthError::MissingClaim(role_claim.clone())),
            Some(Value::String(role)) => role.parse().map_err(|_| bad(&format!("expected {accepted}"))),
            Some(Value::Array(roles)) => {
                // An IdP's role list also holds roles of other applications;
                // exactly one of ours must be among them.
                let ours: HashSet<Role> = roles.iter().filter_map(|r| r.as_str()?.parse().ok()).collect();
                match ours.len() {
                    1 => Ok(ours.into_iter().next().expect("one role")),
                    0 => Err(bad(&format!("lists none of {accepted}"))),
                    _ => Err(bad("lists more than one of customer, operator and service")),
                }
            }
            Some(_) => Err(bad("must be a string or a list of strings")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mint::{TokenSigner, TokenSpec};
    use serde_json::json;

    const NOW: i64 = 1_750_000_000;
    const ISSUER: &str = "https://id.example.test/realms/shop";
    const AUDIENCE: &str = "orderflow";

    // Test-only keys, generated with openssl for these tests and used nowhere else.
    const ED_A: &str = include_str!("../testdata/ed25519-a.pem");
    const ED_B: &str = include_str!("../testdata/ed25519-b.pem");
    const EC_P256: &str = include_str!("../testdata/es256.pem");
    const RSA_2048: &str = include_str!("../testdata/rs256.pem");

    fn signer(pem: &str, kid: &str) -> TokenSigner {
        TokenSigner::from_pem(pem.as_bytes(), kid, ISSUER, AUDIENCE).unwrap()
    }

    fn jwks(signers: &[&TokenSigner]) -> String {
        json!({ "keys": signers.iter().map(|s| s.public_jwk()).collect::<Vec<_>>() }).to_string()
    }

    fn verifier(signers: &[&TokenSigner]) -> TokenVerifier {
        TokenVerifier::new(&jwks(signers), TokenPolicy::new(ISSUER, AUDIENCE)).unwrap()
    }

    fn spec(role: Role) -> TokenSpec {
        TokenSpec {
            subject: "alice".to_owned(),
            tenant: "acme".parse().unwrap(),
            role,
            scopes: Vec::new(),
            lifetime_secs: 3600,
        }
    }

    #[test]
    fn a_token_signed_with_each_supported_algorithm_verifies_to_its_principal() {
        for (pem, kid) in [(ED_A, "ed"), (EC_P256, "ec"), (RSA_2048, "rsa")] {
            // given a JWKS with the public half of a key
            let signer = signer(pem, kid);
            let verifier = verifier(&[&signer]);
            // when a token signed with it is verified
            let token = signer.mint(&spec(Role::Customer), NOW - 10);
            let principal = verifier.verify(&token, NOW).unwrap_or_else(|e| panic!("{kid}: {e}"));
            // then it proves the caller it names
            assert_eq!(principal.subject, "alice");
            assert_eq!(principal.tenant.as_str(), "acme");
            assert_eq!(principal.role, Role::Customer);
        }
    }

    #[test]
    fn a_token_signed_with_the_old_key_still_verifies_while_both_are_published() {
        // given tokens from before and after a rotation, and a JWKS listing both keys
        let (old, new) = (signer(ED_A, "k0"), signer(ED_B, "k1"));
        let both = verifier(&[&new, &old]);
        assert!(both.verify(&old.mint(&spec(Role::Service), NOW), NOW).is_ok());
        assert!(both.verify(&new.mint(&spec(Role::Service), NOW), NOW).is_ok());
        // when the old key is dropped, then its tokens are refused by kid
        let after = verifier(&[&new]);
        assert_eq!(
            after.verify(&old.mint(&spec(Role::Service), NOW), NOW),
            Err(AuthError::UnknownKey)
        );
    }

    #[test]
    fn a_key_id_reused_by_another_key_fails_the_signature_check() {
        let published = signer(ED_A, "k1");
        let impostor = signer(ED_B, "k1");
        let token = impostor.mint(&spec(Role::Operator), NOW);
        assert_eq!(
            verifier(&[&published]).verify(&token, NOW),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn a_tampered_payload_fails_the_signature_check() {
        let signer = signer(ED_A, "k1");
        let token = signer.mint(&spec(Role::Customer), NOW);
        let parts: Vec<&str> = token.split('.').collect();
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: Value = serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap();
        claims["role"] = json!("operator");
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            engine.encode(serde_json::to_vec(&claims).unwrap()),
            parts[2]
        );
        assert_eq!(verifier(&[&signer]).verify(&forged, NOW), Err(AuthError::BadSignature));
    }

    #[test]
    fn an_unsigned_or_symmetric_token_is_refused_whatever_its_claims() {
        // alg=none, and HS256 signed with the public key's bytes (algorithm confusion)
        let signer = signer(ED_A, "k1");
        let verifier = verifier(&[&signer]);
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims = engine.encode(
            json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "tenant": "acme", "role": "operator", "iat": NOW, "exp": NOW + 60})
                .to_string(),
        );
        let none = format!("{}.{claims}.", engine.encode(r#"{"alg":"none","kid":"k1"}"#));
        assert!(verifier.verify(&none, NOW).is_err());
        let header = jsonwebtoken::Header {
            kid: Some("k1".to_owned()),
            ..jsonwebtoken::Header::new(Algorithm::HS256)
        };
        let x = signer.public_jwk()["x"].as_str().unwrap().to_owned();
        let hs = jsonwebtoken::encode(
            &header,
            &serde_json::from_slice::<Value>(&engine.decode(&claims).unwrap()).unwrap(),
            &jsonwebtoken::EncodingKey::from_secret(x.as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(verifier.verify(&hs, NOW), Err(AuthError::WrongAlgorithm));
    }

    #[test]
    fn issuer_audience_and_time_are_checked() {
        let signer = signer(ED_A, "k1");
        let verifier = verifier(&[&signer]);
        let other_issuer = TokenSigner::from_pem(ED_A.as_bytes(), "k1", "https://evil.test", AUDIENCE).unwrap();
        assert_eq!(
            verifier.verify(&other_issuer.mint(&spec(Role::Customer), NOW), NOW),
            Err(AuthError::WrongIssuer)
        );
        let other_audience = TokenSigner::from_pem(ED_A.as_bytes(), "k1", ISSUER, "billing").unwrap();
        assert_eq!(
            verifier.verify(&other_audience.mint(&spec(Role::Customer), NOW), NOW),
            Err(AuthError::WrongAudience)
        );
        // expired from its exp second on
        let token = signer.mint(&spec(Role::Customer), NOW - 3600);
        assert_eq!(verifier.verify(&token, NOW), Err(AuthError::Expired));
        assert!(verifier.verify(&token, NOW - 1).is_ok());
        // issued beyond the clock skew
        let early = signer.mint(&spec(Role::Customer), NOW + CLOCK_SKEW_SECS + 1);
        assert_eq!(verifier.verify(&early, NOW), Err(AuthError::NotYetValid));
    }

    #[test]
    fn a_token_living_longer_than_the_maximum_is_refused() {
        let signer = signer(ED_A, "k1");
        let mut policy = TokenPolicy::new(ISSUER, AUDIENCE);
        policy.max_lifetime_secs = 900;
        let verifier = TokenVerifier::new(&jwks(&[&signer]), policy).unwrap();
        let long = TokenSpec {
            lifetime_secs: 901,
            ..spec(Role::Operator)
        };
        assert_eq!(
            verifier.verify(&signer.mint(&long, NOW), NOW),
            Err(AuthError::TooLongLived { max_secs: 900 })
        );
        let short = TokenSpec {
            lifetime_secs: 900,
            ..spec(Role::Operator)
        };
        assert!(verifier.verify(&signer.mint(&short, NOW), NOW).is_ok());
    }

    #[test]
    fn claim_names_are_configurable_and_may_be_nested_paths() {
        // given an IdP that puts the tenant in a namespaced claim and roles in a list
        let signer = signer(ED_A, "k1");
        let mut policy = TokenPolicy::new(ISSUER, AUDIENCE);
        policy.tenant_claim = "https://orderflow.example/tenant".to_owned();
        policy.role_claim = "realm_access.roles".to_owned();
        let verifier = TokenVerifier::new(&jwks(&[&signer]), policy).unwrap();
        let claims = |roles: Value| {
            json!({
                "iss": ISSUER, "aud": [AUDIENCE, "account"], "sub": "u-1", "iat": NOW, "exp": NOW + 300,
                "https://orderflow.example/tenant": "globex",
                "realm_access": { "roles": roles },
                "scope": "openid profile",
            })
        };
        // when its token lists one of our roles among others
        let principal = verifier
            .verify(&signer.sign_claims(&claims(json!(["offline_access", "operator"]))), NOW)
            .unwrap();
        // then the tenant and role come from there
        assert_eq!(principal.tenant.as_str(), "globex");
        assert_eq!(principal.role, Role::Operator);
        assert_eq!(principal.scopes, vec!["openid", "profile"]);
        // and a list with none or two of ours is refused
        for roles in [json!(["offline_access"]), json!(["customer", "operator"])] {
            assert!(matches!(
                verifier.verify(&signer.sign_claims(&claims(roles)), NOW),
                Err(AuthError::BadClaim { .. })
            ));
        }
    }

    #[test]
    fn a_token_without_tenant_role_subject_or_issue_time_is_refused() {
        let signer = signer(ED_A, "k1");
        let verifier = verifier(&[&signer]);
        let full = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "u", "tenant": "acme", "role": "customer", "iat": NOW, "exp": NOW + 60});
        for missing in ["tenant", "role", "sub", "iat", "exp"] {
            let mut claims = full.clone();
            claims.as_object_mut().unwrap().remove(missing);
            assert_eq!(
                verifier.verify(&signer.sign_claims(&claims), NOW),
                Err(AuthError::MissingClaim(missing.to_owned())),
                "{missing}"
            );
        }
        let mut bad_tenant = full.clone();
        bad_tenant["tenant"] = json!("Not A Tenant!");
        assert!(matches!(
            verifier.verify(&signer.sign_claims(&bad_tenant), NOW),
            Err(AuthError::BadClaim { .. })
        ));
    }

    #[test]
    fn a_jwks_with_a_symmetric_key_or_no_usable_key_is_refused() {
        let oct = r#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}"#;
        assert_eq!(
            TokenVerifier::new(oct, TokenPolicy::new(ISSUER, AUDIENCE)).unwrap_err(),
            JwksError::SymmetricKey { kid: "h".into() }
        );
        let enc_only = r#"{"keys":[{"kty":"RSA","kid":"e","use":"enc","n":"AQAB","e":"AQAB"}]}"#;
        assert_eq!(
            TokenVerifier::new(enc_only, TokenPolicy::new(ISSUER, AUDIENCE)).unwrap_err(),
            JwksError::NoUsableKey
        );
        let short_rsa = r#"{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}]}"#;
        assert!(matches!(
            TokenVerifier::new(short_rsa, TokenPolicy::new(ISSUER, AUDIENCE)).unwrap_err(),
            JwksError::BadKey { .. }
        ));
        assert!(matches!(
            TokenVerifier::new("[]", TokenPolicy::new(ISSUER, AUDIENCE)).unwrap_err(),
            JwksError::NotJwks(_)
        ));
        let a = signer(ED_A, "same");
        let b = signer(ED_B, "same");
        assert_eq!(
            TokenVerifier::new(&jwks(&[&a, &b]), TokenPolicy::new(ISSUER, AUDIENCE)).unwrap_err(),
            JwksError::DuplicateKid { kid: "same".into() }
        );
    }

    #[test]
    fn garbage_is_malformed_and_the_old_format_is_refused() {
        let verifier = verifier(&[&signer(ED_A, "k1")]);
        for token in ["", "a", "a.b", "a.b.c", "ofw1.e30.AAAA", "!!!.!!!.!!!"] {
            assert!(
                matches!(verifier.verify(token, NOW), Err(AuthError::Malformed(_))),
                "{token:?}"
            );
        }
    }

    #[test]
    fn the_verifier_debug_output_names_kids_only() {
        let verifier = verifier(&[&signer(ED_A, "k1")]);
        let debug = format!("{verifier:?}");
        assert!(debug.contains("k1"), "{debug}");
    }
}
