//! Credentials at rest: XChaCha20-Poly1305 under a key from a secret
//! variable (`"kid:<64 hex>[,kid:<64 hex>…]"`, the first encrypts, all
//! decrypt), with the key id stored beside each ciphertext so keys rotate.
//! The nonce is passed in (random in components), keeping this pure.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// Nonce length of XChaCha20-Poly1305.
pub const NONCE_LEN: usize = 24;

/// Why the vault could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The key variable is not `kid:<64 hex chars>[,…]`.
    #[error("the credentials key must be kid:<64 hex characters>[,kid:<…>]")]
    BadKeys,
    /// No key with that id; it was rotated out too early.
    #[error("no credentials key `{0}`")]
    UnknownKey(String),
    /// The ciphertext does not decrypt (tampered, or another record's).
    #[error("credentials do not decrypt")]
    Undecryptable,
}

/// The credential keys.
pub struct Vault {
    keys: Vec<(String, XChaCha20Poly1305)>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("key_ids", &self.keys.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish()
    }
}

impl std::str::FromStr for Vault {
    type Err = VaultError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let keys = s
            .split(',')
            .map(|entry| {
                let (kid, hex_key) = entry.trim().split_once(':').ok_or(VaultError::BadKeys)?;
                let bytes = hex::decode(hex_key).map_err(|_| VaultError::BadKeys)?;
                if kid.is_empty() || bytes.len() != 32 {
                    return Err(VaultError::BadKeys);
                }
                let cipher = XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| VaultError::BadKeys)?;
                Ok((kid.to_owned(), cipher))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(VaultError::BadKeys);
        }
        Ok(Vault { keys })
    }
}

impl Vault {
    /// Encrypts `plaintext` bound to `context` (the item id, so a record
    /// cannot be moved to another item). Returns `(key id, ciphertext)`.
    pub fn seal(&self, plaintext: &[u8], context: &[u8], nonce: &[u8; NONCE_LEN]) -> (String, Vec<u8>) {
        let (kid, cipher) = &self.keys[0];
        // Encryption with a valid key and nonce length cannot fail.
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .unwrap_or_default();
        (kid.clone(), ciphertext)
    }

    /// Decrypts what [`Vault::seal`] produced.
    pub fn open(&self, kid: &str, ciphertext: &[u8], context: &[u8], nonce: &[u8]) -> Result<Vec<u8>, VaultError> {
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(k, _)| k == kid)
            .ok_or_else(|| VaultError::UnknownKey(kid.to_owned()))?;
        if nonce.len() != NONCE_LEN {
            return Err(VaultError::Undecryptable);
        }
        cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| VaultError::Undecryptable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const K0: &str = "k0:1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

    #[test]
    fn sealed_credentials_open_with_the_same_key_and_context() {
        let v: Vault = K1.parse().unwrap();
        let (kid, ct) = v.seal(b"password=hunter2", b"item-1", &[7; NONCE_LEN]);
        assert_eq!(kid, "k1");
        assert!(!ct.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            v.open(&kid, &ct, b"item-1", &[7; NONCE_LEN]).unwrap(),
            b"password=hunter2"
        );
    }

    #[test]
    fn credentials_moved_to_another_item_do_not_open() {
        let v: Vault = K1.parse().unwrap();
        let (kid, ct) = v.seal(b"secret", b"item-1", &[1; NONCE_LEN]);
        assert_eq!(
            v.open(&kid, &ct, b"item-2", &[1; NONCE_LEN]),
            Err(VaultError::Undecryptable)
        );
    }

    #[test]
    fn after_rotation_old_records_still_open_and_new_ones_use_the_new_key() {
        let old: Vault = K0.parse().unwrap();
        let (kid, ct) = old.seal(b"secret", b"i", &[2; NONCE_LEN]);
        let rotated: Vault = format!("{K1},{K0}").parse().unwrap();
        assert_eq!(rotated.open(&kid, &ct, b"i", &[2; NONCE_LEN]).unwrap(), b"secret");
        assert_eq!(rotated.seal(b"x", b"i", &[3; NONCE_LEN]).0, "k1");
    }

    #[test]
    fn malformed_keys_are_refused_and_never_printed() {
        assert!("k1:abcd".parse::<Vault>().is_err());
        assert!("nokid".parse::<Vault>().is_err());
        let v: Vault = K1.parse().unwrap();
        assert!(!format!("{v:?}").contains("0001020304"));
    }
}
