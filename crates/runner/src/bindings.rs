//! Host bindings for the Spin interfaces, generated from `wit/` with
//! `wasmtime::component::bindgen!`. All imports are async (database calls run
//! on blocking threads) and trappable (a broken resource handle traps).

#![allow(missing_docs, missing_debug_implementations)]

wasmtime::component::bindgen!({
    path: "wit",
    world: "spin-local:host/host",
    imports: { default: async | trappable },
    with: {
        "fermyon:spin/sqlite.connection": crate::host::sqlite::GuestConnection,
        "spin:sqlite/sqlite.connection": crate::host::sqlite::GuestConnection,
        "fermyon:spin/key-value.store": crate::host::key_value::GuestStore,
        "spin:postgres/postgres.connection": crate::host::postgres::GuestConnection,
    },
});

pub use fermyon::spin::{key_value, sqlite as sqlite2, variables};
pub use spin::postgres::postgres;
pub use spin::sqlite::sqlite as sqlite3;
