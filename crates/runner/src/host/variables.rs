//! `fermyon:spin/variables@2.0.0`: the component's resolved variables.

use crate::bindings::variables::{self, Error};
use crate::state::RequestState;

impl variables::Host for RequestState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        if !crate::variables::is_valid_name(&name) {
            return Ok(Err(Error::InvalidName(name)));
        }
        Ok(self
            .app
            .services
            .variables
            .get(&self.grants.id, &name)
            .map(str::to_owned)
            .ok_or(Error::Undefined(name)))
    }
}
