//! The real-runtime tier's harness (docs/chain.md, "Testing against a real runtime"): a
//! chopsticks chain per test, seeded with a subnet, and the runtime's own answers read without
//! the backend under test.
#![allow(dead_code, unused_imports)]

pub mod neurons;
pub mod node;
pub mod seed;

pub use neurons::{NeuronInfoLite, neurons_lite};
pub use node::{BlockBuilder, Chopsticks};
pub use seed::{NeuronSeed, SubnetSeed, key};
