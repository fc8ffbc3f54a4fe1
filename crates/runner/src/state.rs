//! The per-request store data: WASI contexts, the resource table, and what
//! the host interfaces need to know about the running component.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::app::{App, Grants};
use crate::outbound_http::OutboundHooks;

/// Data held by the `Store` of one request's component instance.
pub struct RequestState {
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) table: ResourceTable,
    pub(crate) hooks: OutboundHooks,
    /// What the component is granted (labels, hosts, id).
    pub(crate) grants: Arc<Grants>,
    /// The application (databases, variables, router for chaining).
    pub(crate) app: Arc<App>,
}

impl std::fmt::Debug for RequestState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestState")
            .field("component", &self.grants.id)
            .finish_non_exhaustive()
    }
}

impl RequestState {
    /// Fresh state for one request to the component described by `grants`.
    pub fn new(app: Arc<App>, grants: Arc<Grants>) -> Self {
        let wasi = WasiCtx::builder().inherit_stdout().inherit_stderr().build();
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: OutboundHooks::new(app.clone(), grants.clone()),
            grants,
            app,
        }
    }
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}
