//! Provider-style identifiers (`pi_…`, `res_…`) and generated secrets.
//!
//! Randomness comes from std's randomly keyed SipHash over a counter: unique
//! and unguessable enough for a simulator, with no extra dependency. Not for
//! real secrets.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A fresh identifier such as `pi_3QxY…` (24 alphanumerics after the prefix).
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", token(24))
}

/// `len` random alphanumeric characters.
pub(crate) fn token(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut x = next_u64();
        // 10 base-62 digits use 59.5 of the 64 bits.
        for _ in 0..10 {
            if out.len() == len {
                break;
            }
            out.push(char::from(ALPHABET[(x % 62) as usize]));
            x /= 62;
        }
    }
    out
}

fn next_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_do_not_repeat() {
        let a = new_id("pi");
        let b = new_id("pi");
        assert!(a.starts_with("pi_") && a.len() == 27, "{a}");
        assert_ne!(a, b);
    }
}
