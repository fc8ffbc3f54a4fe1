//! Idle PostgreSQL connections kept between requests, as Spin's own outbound
//! PostgreSQL keeps them, so that a request does not pay for a new server
//! process on every `Connection::open`.
//!
//! A connection returns to the pool only when its guest drops it; it is reset
//! first (`ROLLBACK`, then `DISCARD ALL`), so no transaction, setting
//! (`set_config`, the tenant of row-level security included), prepared
//! statement or temporary table outlives the request that made it. A guest
//! that traps drops its connections with its store: they close instead.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio_postgres::Client;

/// At most this many idle connections per connection string.
const MAX_IDLE_PER_ADDRESS: usize = 32;

/// Idle connections by connection string.
#[derive(Default)]
pub struct PgPool {
    idle: Mutex<HashMap<String, Vec<Client>>>,
}

impl std::fmt::Debug for PgPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let idle: usize = self.idle.lock().map_or(0, |m| m.values().map(Vec::len).sum());
        f.debug_struct("PgPool").field("idle", &idle).finish()
    }
}

impl PgPool {
    /// An idle, still open connection to `address`, if there is one.
    pub fn take(&self, address: &str) -> Option<Client> {
        let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let clients = idle.get_mut(address)?;
        while let Some(client) = clients.pop() {
            if !client.is_closed() {
                return Some(client);
            }
        }
        None
    }

    /// Resets `client` and keeps it for the next request to `address`; closes
    /// it instead when the reset fails or the pool is full.
    pub async fn give_back(&self, address: String, client: Client) {
        if client.is_closed()
            || client.batch_execute("ROLLBACK").await.is_err()
            || client.batch_execute("DISCARD ALL").await.is_err()
        {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let clients = idle.entry(address).or_default();
        if clients.len() < MAX_IDLE_PER_ADDRESS {
            clients.push(client);
        }
    }
}
