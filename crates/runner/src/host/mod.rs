//! Host implementations of the Spin interfaces (beyond WASI), one file each.

pub mod key_value;
pub mod pg_pool;
pub mod postgres;
pub mod redis_kv;
pub mod sqlite;
pub mod variables;
