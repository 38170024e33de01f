//! The mock tier: assay-subtensor against subxt-rpcs' `MockRpcClient` serving the real finney
//! metadata (spec 365) and SCALE fixtures encoded by the Python SDK
//! (`scripts/make-subtensor-fixtures.sh`); every submitted extrinsic is decoded against the
//! metadata and compared with the call the SDK composes for the same inputs.

mod announce;
mod connection;
mod extrinsics;
mod metagraph;
mod node;
mod weights;
