//! Bearer tokens: minting, verification, and the principal they prove.
//!
//! Format: `ofw1.<claims>.<mac>`, where `<claims>` is base64url (no padding)
//! of the JSON [`Claims`] and `<mac>` is base64url (no padding) of
//! HMAC-SHA256, keyed by the key named in `kid`, over the ASCII text
//! `ofw1.<claims>`. Verification takes `now` as an argument: no clock inside.
//!
//! Keys come from a [`Keyring`] (the Spin variable `auth_keys`): the first key
//! signs, every key verifies, so a new key is rotated in by putting it first
//! and the old one is dropped once its tokens have expired.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use orderflow_core::TenantId;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::ApiError;

type HmacSha256 = Hmac<Sha256>;

/// The version prefix of every token; also the first bytes under the MAC.
pub const TOKEN_PREFIX: &str = "ofw1.";

/// The shortest secret a [`Keyring`] accepts, in bytes (HMAC-SHA256's output size).
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

/// How far in the future `iat` may be before a token is rejected; absorbs clock
/// drift between the minting and verifying machines.
pub const CLOCK_SKEW_SECS: i64 = 60;

/// DEVELOPMENT ONLY. The keyring the local `spin.toml` uses as the default of
/// variable `auth_keys`, and `mint-token`'s fallback. It is public in this
/// repository, so anyone can mint tokens for it: every real deployment must
/// set `auth_keys` (`SPIN_VARIABLE_AUTH_KEYS`) to its own secret.
pub const DEV_KEYRING: &str = "dev1:19707c46f7d93ec913e044c3c43cd34a5d379d49a82f5b258484b2f7d4e83f2e";

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

/// The signed claims of a token.
///
/// Invariant (once verified): `sub` is non-empty, `iat <= exp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who: a user or service id.
    pub sub: String,
    /// The tenant the caller acts in; the only source of tenancy.
    pub tenant: TenantId,
    /// What the caller may do.
    pub role: Role,
    /// Expiry, unix seconds; the token is rejected from this second on.
    pub exp: i64,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Which keyring key signed it.
    pub kid: String,
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

impl From<Claims> for Principal {
    fn from(claims: Claims) -> Self {
        Self {
            subject: claims.sub,
            tenant: claims.tenant,
            role: claims.role,
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
    /// 401: not a token of our format (prefix, encoding, or claims).
    #[error("token is malformed")]
    Malformed,
    /// 401: signed with a key id this server does not have (retired or foreign).
    #[error("token was signed with an unknown key")]
    UnknownKey,
    /// 401: the MAC does not match the claims.
    #[error("signature does not match")]
    BadSignature,
    /// 401: `now >= exp`.
    #[error("token expired")]
    Expired,
    /// 401: `iat` is more than [`CLOCK_SKEW_SECS`] in the future.
    #[error("token is not valid yet")]
    NotYetValid,
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        ApiError::Unauthorized {
            detail: error.to_string(),
        }
    }
}

/// Why a keyring string was rejected. Messages name the entry or key id,
/// never the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    /// No keys at all.
    #[error("keyring is empty; expected kid:secret[,kid:secret...]")]
    Empty,
    /// An entry without `kid:secret` shape.
    #[error("keyring entry {index} is not kid:secret")]
    MalformedEntry {
        /// 0-based position in the list.
        index: usize,
    },
    /// A key id that is not 1–32 characters of `A-Z a-z 0-9 - _`.
    #[error("keyring entry {index} has an invalid key id")]
    BadKid {
        /// 0-based position in the list.
        index: usize,
    },
    /// The same key id twice.
    #[error("key id {kid} appears twice")]
    DuplicateKid {
        /// The repeated id.
        kid: String,
    },
    /// A secret that is neither hex nor base64.
    #[error("secret of key {kid} is neither hex nor base64")]
    BadSecret {
        /// The key whose secret is bad.
        kid: String,
    },
    /// A secret shorter than [`MIN_SECRET_BYTES`].
    #[error("secret of key {kid} is {len} bytes; at least 32 are required")]
    ShortSecret {
        /// The key whose secret is short.
        kid: String,
        /// Its decoded length.
        len: usize,
    },
}

struct Key {
    kid: String,
    secret: Vec<u8>,
}

/// HMAC keys by id: the first signs, all verify.
///
/// Invariants: at least one key; ids unique; every secret at least
/// [`MIN_SECRET_BYTES`]. `Debug` prints key ids only.
pub struct Keyring {
    keys: Vec<Key>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("kids", &self.kids())
            .field("secrets", &"<redacted>")
            .finish()
    }
}

impl FromStr for Keyring {
    type Err = KeyringError;

    /// Parses `kid:secret[,kid:secret...]`. A secret of even length made only
    /// of hex digits is hex; anything else is base64 (standard or URL-safe,
    /// padded or not). Whitespace around entries is ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut keys: Vec<Key> = Vec::new();
        for (index, entry) in s.split(',').map(str::trim).filter(|e| !e.is_empty()).enumerate() {
            let (kid, secret) = entry.split_once(':').ok_or(KeyringError::MalformedEntry { index })?;
            let (kid, secret) = (kid.trim(), secret.trim());
            let kid_ok = (1..=32).contains(&kid.len())
                && kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !kid_ok {
                return Err(KeyringError::BadKid { index });
            }
            if keys.iter().any(|k| k.kid == kid) {
                return Err(KeyringError::DuplicateKid { kid: kid.to_owned() });
            }
            let secret = decode_secret(secret).ok_or_else(|| KeyringError::BadSecret { kid: kid.to_owned() })?;
            if secret.len() < MIN_SECRET_BYTES {
                return Err(KeyringError::ShortSecret {
                    kid: kid.to_owned(),
                    len: secret.len(),
                });
            }
            keys.push(Key {
                kid: kid.to_owned(),
                secret,
            });
        }
        if keys.is_empty() {
            return Err(KeyringError::Empty);
        }
        Ok(Self { keys })
    }
}

fn decode_secret(secret: &str) -> Option<Vec<u8>> {
    if !secret.is_empty() && secret.len().is_multiple_of(2) && secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(secret).ok();
    }
    [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .into_iter()
        .find_map(|engine| engine.decode(secret).ok())
}

impl Keyring {
    /// The key ids, signing key first.
    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.kid.as_str()).collect()
    }

    /// The id of the key that signs new tokens.
    pub fn signing_kid(&self) -> &str {
        &self.keys[0].kid
    }

    fn mac_for(&self, kid: &str) -> Option<HmacSha256> {
        let key = self.keys.iter().find(|k| k.kid == kid)?;
        // HMAC takes keys of any length, so this cannot fail.
        HmacSha256::new_from_slice(&key.secret).ok()
    }

    /// Mints a token valid from `issued_at` until `expires_at` (unix seconds),
    /// signed with the first key.
    pub fn mint(&self, subject: &str, tenant: &TenantId, role: Role, issued_at: i64, expires_at: i64) -> String {
        let claims = Claims {
            sub: subject.to_owned(),
            tenant: tenant.clone(),
            role,
            exp: expires_at,
            iat: issued_at,
            kid: self.signing_kid().to_owned(),
        };
        // A struct of strings and integers always serializes.
        let json = serde_json::to_vec(&claims).unwrap_or_default();
        let signed = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(json));
        let mut mac = self.mac_for(&claims.kid).expect("the signing key is in the keyring");
        mac.update(signed.as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signed}.{tag}")
    }

    /// Verifies `token` at `now` (unix seconds) and returns its claims.
    ///
    /// Checks, in order: shape, known key id, MAC (constant-time), then time.
    /// Time is checked only after the MAC, so an unsigned token learns nothing.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, AuthError> {
        let rest = token.strip_prefix(TOKEN_PREFIX).ok_or(AuthError::Malformed)?;
        let (claims_part, tag_part) = rest.split_once('.').ok_or(AuthError::Malformed)?;
        if tag_part.contains('.') {
            return Err(AuthError::Malformed);
        }
        let claims_json = URL_SAFE_NO_PAD.decode(claims_part).map_err(|_| AuthError::Malformed)?;
        let tag = URL_SAFE_NO_PAD.decode(tag_part).map_err(|_| AuthError::Malformed)?;
        // The claims are parsed before the MAC is checked only to learn `kid`;
        // nothing in them is trusted until the MAC matches.
        let claims: Claims = serde_json::from_slice(&claims_json).map_err(|_| AuthError::Malformed)?;
        let mut mac = self.mac_for(&claims.kid).ok_or(AuthError::UnknownKey)?;
        mac.update(&token.as_bytes()[..TOKEN_PREFIX.len() + claims_part.len()]);
        mac.verify_slice(&tag).map_err(|_| AuthError::BadSignature)?;
        if claims.sub.is_empty() || claims.iat > claims.exp {
            return Err(AuthError::Malformed);
        }
        if now >= claims.exp {
            return Err(AuthError::Expired);
        }
        if claims.iat > now.saturating_add(CLOCK_SKEW_SECS) {
            return Err(AuthError::NotYetValid);
        }
        Ok(claims)
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
        return Err(AuthError::Malformed);
    }
    Ok(token)
}

/// Authenticates a request from its `Authorization` header value: 401 on any
/// failure, with the reason as the detail.
pub fn authenticate(authorization: Option<&str>, keyring: &Keyring, now: i64) -> Result<Principal, ApiError> {
    let token = bearer_token(authorization)?;
    Ok(keyring.verify(token, now)?.into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_short_secret_is_refused_by_its_variable_name_not_its_value() {
        let err = check_secret_length("payment_webhook_secret", "whsec_tooshort").expect_err("short");
        assert!(err.contains("`payment_webhook_secret`"), "{err}");
        assert!(err.contains("14 bytes"), "{err}");
        assert!(!err.contains("whsec_tooshort"), "{err}");
        assert!(check_secret_length("x", &"s".repeat(MIN_SECRET_BYTES)).is_ok());
    }

    use super::*;
    use proptest::prelude::*;

    const K1: &str = "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const K0_B64: &str = "k0:Q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
    const NOW: i64 = 1_750_000_000;

    fn acme() -> TenantId {
        "acme".parse().unwrap()
    }

    fn ring(s: &str) -> Keyring {
        s.parse().unwrap()
    }

    #[test]
    fn a_minted_token_verifies_and_yields_its_claims() {
        // given a keyring and a token minted an hour ago, valid for a day
        let keyring = ring(K1);
        let token = keyring.mint("alice", &acme(), Role::Customer, NOW - 3600, NOW + 86_400);
        // when it is verified now
        let claims = keyring.verify(&token, NOW).unwrap();
        // then the claims are the minted ones
        assert!(token.starts_with("ofw1."));
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.tenant, acme());
        assert_eq!(claims.role, Role::Customer);
        assert_eq!(claims.kid, "k1");
    }

    #[test]
    fn a_tampered_payload_fails_the_signature_check() {
        // given a valid token whose claims are swapped for another tenant's
        let keyring = ring(K1);
        let token = keyring.mint("alice", &acme(), Role::Customer, NOW, NOW + 60);
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims.tenant = "globex".parse().unwrap();
        let forged = format!(
            "ofw1.{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap()),
            parts[2]
        );
        // when verified, then the signature does not match
        assert_eq!(keyring.verify(&forged, NOW), Err(AuthError::BadSignature));
    }

    #[test]
    fn a_tampered_signature_is_rejected() {
        let keyring = ring(K1);
        let token = keyring.mint("alice", &acme(), Role::Customer, NOW, NOW + 60);
        let (signed, tag) = token.rsplit_once('.').unwrap();
        let mut tag_bytes = URL_SAFE_NO_PAD.decode(tag).unwrap();
        tag_bytes[0] ^= 1;
        let forged = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag_bytes));
        assert_eq!(keyring.verify(&forged, NOW), Err(AuthError::BadSignature));
    }

    #[test]
    fn a_token_is_expired_from_its_exp_second_on() {
        let keyring = ring(K1);
        let token = keyring.mint("alice", &acme(), Role::Customer, NOW - 100, NOW);
        assert_eq!(keyring.verify(&token, NOW), Err(AuthError::Expired));
        assert!(keyring.verify(&token, NOW - 1).is_ok());
    }

    #[test]
    fn a_token_issued_beyond_the_clock_skew_is_not_yet_valid() {
        let keyring = ring(K1);
        let token = keyring.mint("alice", &acme(), Role::Customer, NOW + CLOCK_SKEW_SECS + 1, NOW + 3600);
        assert_eq!(keyring.verify(&token, NOW), Err(AuthError::NotYetValid));
        let within = keyring.mint("alice", &acme(), Role::Customer, NOW + CLOCK_SKEW_SECS, NOW + 3600);
        assert!(keyring.verify(&within, NOW).is_ok());
    }

    #[test]
    fn a_token_signed_with_an_unknown_key_id_is_rejected() {
        let token = ring(K0_B64).mint("alice", &acme(), Role::Customer, NOW, NOW + 60);
        assert_eq!(ring(K1).verify(&token, NOW), Err(AuthError::UnknownKey));
    }

    #[test]
    fn a_token_signed_with_the_old_key_still_verifies_after_rotation() {
        // given a token signed by k0 before rotation
        let token = ring(K0_B64).mint("svc", &acme(), Role::Service, NOW, NOW + 60);
        // when k1 is rotated in first and k0 kept second
        let rotated = ring(&format!("{K1},{K0_B64}"));
        // then the old token verifies and new tokens are signed with k1
        assert_eq!(rotated.verify(&token, NOW).unwrap().kid, "k0");
        assert_eq!(rotated.signing_kid(), "k1");
        let fresh = rotated.mint("svc", &acme(), Role::Service, NOW, NOW + 60);
        assert_eq!(rotated.verify(&fresh, NOW).unwrap().kid, "k1");
    }

    #[test]
    fn a_key_id_reused_with_another_secret_fails_the_signature_check() {
        let other = "k1:ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
        let token = ring(other).mint("alice", &acme(), Role::Customer, NOW, NOW + 60);
        assert_eq!(ring(K1).verify(&token, NOW), Err(AuthError::BadSignature));
    }

    #[test]
    fn garbage_is_malformed() {
        let keyring = ring(K1);
        for token in [
            "",
            "ofw1.",
            "ofw1.a",
            "ofw2.e30.AAAA",
            "ofw1.!!!.AAAA",
            "ofw1.e30.AAAA",
            "ofw1.a.b.c",
        ] {
            assert_eq!(keyring.verify(token, NOW), Err(AuthError::Malformed), "{token:?}");
        }
    }

    #[test]
    fn the_keyring_debug_output_names_kids_but_not_secrets() {
        let debug = format!("{:?}", ring(&format!("{K1},{K0_B64}")));
        assert!(debug.contains("k1") && debug.contains("k0"));
        assert!(!debug.contains("000102"));
        assert!(!debug.contains("Q83v"));
    }

    #[test]
    fn a_keyring_rejects_short_secrets_duplicates_and_emptiness() {
        assert_eq!("".parse::<Keyring>().unwrap_err(), KeyringError::Empty);
        assert_eq!(
            "k1:00ff".parse::<Keyring>().unwrap_err(),
            KeyringError::ShortSecret {
                kid: "k1".into(),
                len: 2
            }
        );
        assert_eq!(
            format!("{K1},{K1}").parse::<Keyring>().unwrap_err(),
            KeyringError::DuplicateKid { kid: "k1".into() }
        );
        assert_eq!(
            "nocolon".parse::<Keyring>().unwrap_err(),
            KeyringError::MalformedEntry { index: 0 }
        );
        assert_eq!(
            "bad kid:00".parse::<Keyring>().unwrap_err(),
            KeyringError::BadKid { index: 0 }
        );
        assert!(matches!(
            "k1:not*base64".parse::<Keyring>().unwrap_err(),
            KeyringError::BadSecret { .. }
        ));
    }

    #[test]
    fn a_keyring_error_never_contains_the_secret() {
        let err = "k1:c2hvcnQ=".parse::<Keyring>().unwrap_err();
        assert!(!err.to_string().contains("c2hvcnQ"));
    }

    #[test]
    fn the_development_keyring_parses() {
        let keyring: Keyring = DEV_KEYRING.parse().unwrap();
        assert_eq!(keyring.signing_kid(), "dev1");
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
    fn authentication_failures_are_401_with_the_reason() {
        let keyring = ring(K1);
        let token = keyring.mint("alice", &acme(), Role::Customer, NOW - 10, NOW - 1);
        let err = authenticate(Some(&format!("Bearer {token}")), &keyring, NOW).unwrap_err();
        assert_eq!(err.status(), 401);
        assert_eq!(err.to_problem().detail, "token expired");
    }

    #[test]
    fn require_role_forbids_roles_not_listed() {
        let principal = Principal {
            subject: "alice".into(),
            tenant: acme(),
            role: Role::Customer,
        };
        assert!(principal.require_role(&[Role::Customer, Role::Operator]).is_ok());
        assert_eq!(principal.require_role(&[Role::Operator]).unwrap_err().status(), 403);
    }

    #[test]
    fn every_role_round_trips_through_its_name() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
    }

    proptest! {
        #[test]
        fn any_claims_round_trip_through_mint_and_verify(
            sub in "[^\u{0}]{1,40}",
            tenant in "[a-z0-9_-]{1,64}",
            role in prop::sample::select(Role::ALL.to_vec()),
            iat in 0i64..4_000_000_000,
            ttl in 1i64..10_000_000,
        ) {
            let keyring = ring(&format!("{K1},{K0_B64}"));
            let tenant: TenantId = tenant.parse().unwrap();
            let token = keyring.mint(&sub, &tenant, role, iat, iat + ttl);
            let claims = keyring.verify(&token, iat).unwrap();
            prop_assert_eq!(claims, Claims { sub, tenant, role, exp: iat + ttl, iat, kid: "k1".to_owned() });
        }
    }
}
