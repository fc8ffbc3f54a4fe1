//! `fermyon:spin/key-value@2.0.0`, stored in SQLite like Spin's default store:
//! one table `spin_key_value(store, key, value)` in the label's database file.

use std::sync::Arc;

use wasmtime::component::Resource;

use crate::bindings::key_value::{self, Error};
use crate::database::Database;
use crate::state::RequestState;

/// A guest's open key-value store.
#[derive(Debug)]
pub struct GuestStore {
    label: String,
    db: Arc<Database>,
}

const CREATE: &str = "CREATE TABLE IF NOT EXISTS spin_key_value (
    store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (store, key))";

impl RequestState {
    /// Runs `f` on a pooled connection of the store's database, off the executor.
    async fn kv<T: Send + 'static>(
        &mut self,
        store: &Resource<GuestStore>,
        f: impl FnOnce(&rusqlite::Connection, &str) -> rusqlite::Result<T> + Send + 'static,
    ) -> wasmtime::Result<Result<T, Error>> {
        let store = self.table.get(store)?;
        let (db, label) = (store.db.clone(), store.label.clone());
        let result = tokio::task::spawn_blocking(move || {
            let conn = db.checkout()?;
            let result = f(&conn, &label);
            db.checkin(conn);
            result
        })
        .await?;
        Ok(result.map_err(|e| Error::Other(e.to_string())))
    }
}

impl key_value::Host for RequestState {}

impl key_value::HostStore for RequestState {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<GuestStore>, Error>> {
        if !self.grants.key_value_stores.contains(&label) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(db) = self.app.services.key_value.get(&label).cloned() else {
            return Ok(Err(Error::NoSuchStore));
        };
        let pool = db.clone();
        let created = tokio::task::spawn_blocking(move || {
            let conn = pool.checkout()?;
            let result = conn.execute_batch(CREATE);
            pool.checkin(conn);
            result
        })
        .await?;
        if let Err(e) = created {
            return Ok(Err(Error::Other(e.to_string())));
        }
        Ok(Ok(self.table.push(GuestStore { label, db })?))
    }

    async fn get(&mut self, this: Resource<GuestStore>, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        self.kv(&this, move |c, store| {
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

    async fn set(&mut self, this: Resource<GuestStore>, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        self.kv(&this, move |c, store| {
            c.execute(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
                (store, &key, &value),
            )
            .map(drop)
        })
        .await
    }

    async fn delete(&mut self, this: Resource<GuestStore>, key: String) -> wasmtime::Result<Result<(), Error>> {
        self.kv(&this, move |c, store| {
            c.execute(
                "DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2",
                (store, &key),
            )
            .map(drop)
        })
        .await
    }

    async fn exists(&mut self, this: Resource<GuestStore>, key: String) -> wasmtime::Result<Result<bool, Error>> {
        self.kv(&this, move |c, store| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2)",
                (store, &key),
                |r| r.get(0),
            )
        })
        .await
    }

    async fn get_keys(&mut self, this: Resource<GuestStore>) -> wasmtime::Result<Result<Vec<String>, Error>> {
        self.kv(&this, move |c, store| {
            let mut stmt = c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")?;
            let keys = stmt.query_map([store], |r| r.get(0))?;
            keys.collect()
        })
        .await
    }

    async fn drop(&mut self, rep: Resource<GuestStore>) -> wasmtime::Result<()> {
        self.table.delete(rep)?;
        Ok(())
    }
}
