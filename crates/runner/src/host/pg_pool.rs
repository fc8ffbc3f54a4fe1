//! Outbound PostgreSQL connections pooled per connection string, the way
//! Spin pools them (`crates/factor-outbound-pg/src/client.rs`: a
//! `deadpool_postgres` pool per address, at most 64 connections, recycling
//! method `Clean`).
//!
//! What that means, reproduced here on purpose:
//! - A guest's connection returns to the pool when the guest drops it, or when
//!   its instance goes away after a trap, exactly as it is: nothing is rolled
//!   back on return.
//! - A connection is recycled when it is taken again, by deadpool's `Clean`
//!   statements ([`CLEAN`]): they close cursors and reset settings and temp
//!   objects, but contain no `ROLLBACK`. A transaction a guest left open
//!   (because it trapped, or forgot to commit) is therefore still open for the
//!   next request that gets the connection; if that transaction had failed,
//!   the clean-up fails and the connection is discarded instead.
//! - Idle connections are handed out oldest first (deadpool's default FIFO
//!   queue); a closed one is discarded; at most [`MAX_SIZE`] connections per
//!   address exist, and a request beyond that waits for one.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::Client;

/// Spin's `CONNECTION_POOL_SIZE`: connections per address, idle or in use.
pub const MAX_SIZE: usize = 64;

/// deadpool-postgres's `RecyclingMethod::Clean` statements, run (as one
/// simple query) on a connection each time it is taken from the pool.
pub const CLEAN: &str = "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; \
                         SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES;";

/// One address's pool.
struct AddressPool {
    idle: Mutex<VecDeque<Client>>,
    permits: Arc<Semaphore>,
}

/// Pools by connection string.
#[derive(Default)]
pub struct PgPool {
    pools: Mutex<HashMap<String, Arc<AddressPool>>>,
}

impl std::fmt::Debug for PgPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pools = self.pools.lock().map_or(0, |m| m.len());
        f.debug_struct("PgPool").field("addresses", &pools).finish()
    }
}

/// A connection taken from the pool; dropping it puts it back unchanged.
pub struct Pooled {
    client: Option<Client>,
    pool: Arc<AddressPool>,
    _permit: OwnedSemaphorePermit,
}

impl std::fmt::Debug for Pooled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pooled")
    }
}

impl Pooled {
    /// The client.
    pub fn client(&self) -> &Client {
        // Present from construction until drop.
        self.client
            .as_ref()
            .unwrap_or_else(|| unreachable!("a pooled client is taken only on drop"))
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if !client.is_closed() {
                lock(&self.pool.idle).push_back(client);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The pool holds no invariant a panic could break: recover from poison.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl PgPool {
    /// A connection to `address`: an idle one that recycles cleanly, else a
    /// new one.
    pub async fn get(&self, address: &str, config: &tokio_postgres::Config) -> Result<Pooled, tokio_postgres::Error> {
        let pool = lock(&self.pools)
            .entry(address.to_owned())
            .or_insert_with(|| {
                Arc::new(AddressPool {
                    idle: Mutex::new(VecDeque::new()),
                    permits: Arc::new(Semaphore::new(MAX_SIZE)),
                })
            })
            .clone();
        let permit = pool
            .permits
            .clone()
            .acquire_owned()
            .await
            .unwrap_or_else(|_| unreachable!("the semaphore is never closed"));
        loop {
            let Some(client) = lock(&pool.idle).pop_front() else {
                break;
            };
            if client.is_closed() || client.simple_query(CLEAN).await.is_err() {
                continue;
            }
            return Ok(Pooled {
                client: Some(client),
                pool,
                _permit: permit,
            });
        }
        let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("spin-local: postgres connection error: {e}");
            }
        });
        Ok(Pooled {
            client: Some(client),
            pool,
            _permit: permit,
        })
    }
}
