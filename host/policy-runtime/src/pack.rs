//! Wrapping a wasm32 core module (as `cargo build --target wasm32-unknown-unknown` makes it)
//! into a component, the form the host runs.

use crate::{Error, Result};

/// The component for a core module built with wit-bindgen against `wit/policy.wit`. The
/// module's `component-type` custom section names its world; the result is validated.
pub fn pack(core: &[u8]) -> Result<Vec<u8>> {
    wit_component::ComponentEncoder::default()
        .module(core)
        .and_then(|encoder| encoder.validate(true).encode())
        .map_err(Error::Pack)
}
