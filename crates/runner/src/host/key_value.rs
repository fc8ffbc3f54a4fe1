//! `fermyon:spin/key-value@2.0.0`, on the backend the runtime config gives
//! the label: a SQLite file like Spin's default store (one table
//! `spin_key_value(store, key, value)` in the label's database file), or a
//! Redis server like Spin's `redis` store ([`super::redis_kv`]).

use std::sync::Arc;

use redis::aio::ConnectionManager;
use wasmtime::component::Resource;

use crate::bindings::key_value::{self, Error};
use crate::database::Database;
use crate::host::redis_kv::{self, RedisStore};
use crate::state::RequestState;

/// A key-value label's backing store, shared by all requests.
#[derive(Debug)]
pub enum KeyValueStore {
    /// A SQLite file on this machine.
    Sqlite(Database),
    /// A Redis server.
    Redis(RedisStore),
}

/// A guest's open key-value store.
#[derive(Debug)]
pub struct GuestStore {
    label: String,
    open: Open,
}

#[derive(Clone)]
enum Open {
    Sqlite(Arc<KeyValueStore>),
    Redis(ConnectionManager),
}

impl std::fmt::Debug for Open {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Open::Sqlite(_) => "Sqlite",
            Open::Redis(_) => "Redis",
        })
    }
}

const CREATE: &str = "CREATE TABLE IF NOT EXISTS spin_key_value (
    store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (store, key))";

/// Runs `f` on a pooled connection of `store`'s SQLite file, off the executor.
async fn on_sqlite<T: Send + 'static>(
    store: Arc<KeyValueStore>,
    label: String,
    f: impl FnOnce(&rusqlite::Connection, &str) -> rusqlite::Result<T> + Send + 'static,
) -> wasmtime::Result<Result<T, Error>> {
    let result = tokio::task::spawn_blocking(move || {
        let KeyValueStore::Sqlite(db) = store.as_ref() else {
            unreachable!("opened as SQLite")
        };
        let conn = db.checkout()?;
        let result = f(&conn, &label);
        db.checkin(conn);
        result
    })
    .await?;
    Ok(result.map_err(|e| Error::Other(e.to_string())))
}

impl RequestState {
    fn guest_store(&self, store: &Resource<GuestStore>) -> wasmtime::Result<(Open, String)> {
        let store = self.table.get(store)?;
        Ok((store.open.clone(), store.label.clone()))
    }
}

impl key_value::Host for RequestState {}

impl key_value::HostStore for RequestState {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<GuestStore>, Error>> {
        if !self.grants.key_value_stores.contains(&label) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(store) = self.app.services.key_value.get(&label).cloned() else {
            return Ok(Err(Error::NoSuchStore));
        };
        let open = match store.as_ref() {
            KeyValueStore::Redis(redis) => match redis.open().await {
                Ok(connection) => Open::Redis(connection),
                Err(e) => return Ok(Err(e)),
            },
            KeyValueStore::Sqlite(db) => {
                let db_path = db.path().to_owned();
                let created = on_sqlite(store.clone(), label.clone(), |c, _| c.execute_batch(CREATE)).await?;
                if let Err(e) = created {
                    eprintln!("spin-local: key-value store '{label}' ({}): {e:?}", db_path.display());
                    return Ok(Err(e));
                }
                Open::Sqlite(store)
            }
        };
        Ok(Ok(self.table.push(GuestStore { label, open })?))
    }

    async fn get(
        &mut self,
        this: Resource<GuestStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        match self.guest_store(&this)? {
            (Open::Redis(c), _) => Ok(redis_kv::get(c, key).await),
            (Open::Sqlite(db), label) => {
                on_sqlite(db, label, move |c, store| {
                    use rusqlite::OptionalExtension;
                    c.query_row(
                        "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2",
                        (store, &key),
                        |r| r.get(0),
                    )
                    .optional()
                })
                .await
            }
        }
    }

    async fn set(
        &mut self,
        this: Resource<GuestStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        match self.guest_store(&this)? {
            (Open::Redis(c), _) => Ok(redis_kv::set(c, key, value).await),
            (Open::Sqlite(db), label) => {
                on_sqlite(db, label, move |c, store| {
                    c.execute(
                        "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                         ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
                        (store, &key, &value),
                    )
                    .map(drop)
                })
                .await
            }
        }
    }

    async fn delete(&mut self, this: Resource<GuestStore>, key: String) -> wasmtime::Result<Result<(), Error>> {
        match self.guest_store(&this)? {
            (Open::Redis(c), _) => Ok(redis_kv::delete(c, key).await),
            (Open::Sqlite(db), label) => {
                on_sqlite(db, label, move |c, store| {
                    c.execute(
                        "DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2",
                        (store, &key),
                    )
                    .map(drop)
                })
                .await
            }
        }
    }

    async fn exists(&mut self, this: Resource<GuestStore>, key: String) -> wasmtime::Result<Result<bool, Error>> {
        match self.guest_store(&this)? {
            (Open::Redis(c), _) => Ok(redis_kv::exists(c, key).await),
            (Open::Sqlite(db), label) => {
                on_sqlite(db, label, move |c, store| {
                    c.query_row(
                        "SELECT EXISTS (SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2)",
                        (store, &key),
                        |r| r.get(0),
                    )
                })
                .await
            }
        }
    }

    async fn get_keys(&mut self, this: Resource<GuestStore>) -> wasmtime::Result<Result<Vec<String>, Error>> {
        match self.guest_store(&this)? {
            (Open::Redis(c), _) => Ok(redis_kv::get_keys(c).await),
            (Open::Sqlite(db), label) => {
                on_sqlite(db, label, move |c, store| {
                    let mut stmt = c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")?;
                    let keys = stmt.query_map([store], |r| r.get(0))?;
                    keys.collect()
                })
                .await
            }
        }
    }

    async fn drop(&mut self, rep: Resource<GuestStore>) -> wasmtime::Result<()> {
        self.table.delete(rep)?;
        Ok(())
    }
}
