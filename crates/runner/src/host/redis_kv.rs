//! A key-value store on Redis, as Spin's `spin-key-value-redis` does it
//! (spinframework/spin, `crates/key-value-redis/src/store.rs`, read for the
//! facts; this is our own code):
//!
//! - One connection per configured store, opened on the first guest `open`
//!   (a `redis` connection manager, which reconnects by itself) and shared
//!   by every later request. Opening pings the server and ignores a failed
//!   ping: the manager is reconnecting, and the next command reports.
//! - The label is not part of the key: a store is the whole Redis database
//!   its URL names, so every instance (and every label) pointing at one URL
//!   sees the same keys, unprefixed.
//! - `get` → `GET` (absent: `None`), `set` → `SET`, `delete` → `DEL`,
//!   `exists` → `EXISTS`, `get-keys` → `KEYS *`.
//! - Every Redis error becomes `error::other` carrying the error's `Debug`
//!   text (Spin's `log_error`), and is logged as a warning.

use redis::aio::ConnectionManager;
use redis::AsyncCommands as _;
use tokio::sync::OnceCell;

use crate::bindings::key_value::Error;

/// One `[key_value_store.<label>] type = "redis"` entry.
pub struct RedisStore {
    url: String,
    connection: OnceCell<ConnectionManager>,
}

impl std::fmt::Debug for RedisStore {
    // The URL may carry a password: show only the host part.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("at", &self.url.rsplit('@').next().unwrap_or_default())
            .finish_non_exhaustive()
    }
}

/// Spin's `log_error`: a warning on stderr, `Other` with the `Debug` text.
fn other(err: impl std::fmt::Debug) -> Error {
    eprintln!("spin-local: key-value error: {err:?}");
    Error::Other(format!("{err:?}"))
}

impl RedisStore {
    /// A store on the server `url` names (already checked by the runtime
    /// config); no connection is made until a guest opens it.
    pub fn new(url: String) -> Self {
        Self {
            url,
            connection: OnceCell::new(),
        }
    }

    /// A handle on the shared connection, connecting on first use; pings once
    /// per open and ignores the outcome, as Spin does.
    pub async fn open(&self) -> Result<ConnectionManager, Error> {
        let connection = self
            .connection
            .get_or_try_init(|| async { redis::Client::open(self.url.as_str())?.get_connection_manager().await })
            .await
            .map_err(other)?
            .clone();
        let _ignored: redis::RedisResult<()> = redis::cmd("PING").query_async(&mut connection.clone()).await;
        Ok(connection)
    }
}

/// `GET key`.
pub async fn get(mut c: ConnectionManager, key: String) -> Result<Option<Vec<u8>>, Error> {
    c.get::<_, Option<Vec<u8>>>(key).await.map_err(other)
}

/// `SET key value`.
pub async fn set(mut c: ConnectionManager, key: String, value: Vec<u8>) -> Result<(), Error> {
    c.set::<_, _, ()>(key, value).await.map_err(other)
}

/// `DEL key`.
pub async fn delete(mut c: ConnectionManager, key: String) -> Result<(), Error> {
    c.del::<_, ()>(key).await.map_err(other)
}

/// `EXISTS key`.
pub async fn exists(mut c: ConnectionManager, key: String) -> Result<bool, Error> {
    c.exists::<_, bool>(key).await.map_err(other)
}

/// `KEYS *`.
pub async fn get_keys(mut c: ConnectionManager) -> Result<Vec<String>, Error> {
    c.keys::<_, Vec<String>>("*").await.map_err(other)
}
