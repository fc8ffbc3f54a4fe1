//! Idempotency keys as the real providers treat them: a key remembers the
//! endpoint and request it was first used with and what it produced; the
//! same request again replays that, a different request with the same key
//! is refused.

use std::collections::HashMap;

use serde_json::Value;

/// What a key maps to: the request that first used it and its outcome `T`.
#[derive(Debug)]
pub(crate) struct Idempotency<T> {
    saved: HashMap<String, Saved<T>>,
}

#[derive(Debug)]
struct Saved<T> {
    endpoint: &'static str,
    request: Value,
    outcome: T,
}

/// The decision for an incoming request.
#[derive(Debug, PartialEq)]
pub(crate) enum Lookup<'a, T> {
    /// No key, or a key not seen before: process the request.
    New,
    /// The same request was made with this key: replay its outcome.
    Replay(&'a T),
    /// The key was used for another endpoint or another request body.
    Mismatch,
}

impl<T> Default for Idempotency<T> {
    fn default() -> Self {
        Self { saved: HashMap::new() }
    }
}

impl<T> Idempotency<T> {
    /// Decides how to treat a request with `key` on `endpoint`.
    pub(crate) fn lookup(&self, key: Option<&str>, endpoint: &str, request: &Value) -> Lookup<'_, T> {
        let Some(saved) = key.and_then(|k| self.saved.get(k)) else {
            return Lookup::New;
        };
        if saved.endpoint == endpoint && &saved.request == request {
            Lookup::Replay(&saved.outcome)
        } else {
            Lookup::Mismatch
        }
    }

    /// Remembers the outcome of a request made with `key` (no-op without a key).
    pub(crate) fn save(&mut self, key: Option<&str>, endpoint: &'static str, request: Value, outcome: T) {
        if let Some(key) = key {
            self.saved.insert(
                key.to_owned(),
                Saved {
                    endpoint,
                    request,
                    outcome,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_same_key_and_request_replays_and_a_different_request_is_a_mismatch() {
        let mut store = Idempotency::default();
        let req = json!({"amount": 100});
        assert_eq!(store.lookup(Some("k"), "create", &req), Lookup::New);
        store.save(Some("k"), "create", req.clone(), 7);
        assert_eq!(store.lookup(Some("k"), "create", &req), Lookup::Replay(&7));
        assert_eq!(
            store.lookup(Some("k"), "create", &json!({"amount": 101})),
            Lookup::Mismatch
        );
        assert_eq!(store.lookup(Some("k"), "refund", &req), Lookup::Mismatch);
        assert_eq!(store.lookup(None, "create", &req), Lookup::New);
    }
}
