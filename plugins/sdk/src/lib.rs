//! The policy contract of `wit/policy.wit` (0.2.0; 0.1.0 in [`v0_1`]) as plain Rust types, shared by the host and the plugins.
//!
//! Owns: the data that crosses the policy boundary (epoch input and output, challenge planning and
//! judging) and, on wasm32, the glue that exports a [`Scorer`] or [`Challenger`] as a component.
//! Must not touch: anything with side effects. A policy is a pure function of its input, so these
//! types carry everything a policy may know, and nothing here reads a clock or draws randomness.
//!
//! A plugin implements a trait and exports it:
//!
//! ```
//! use assay_policy_sdk::{EpochInput, EpochOutput, Scorer, Weight};
//!
//! /// Equal weight to every miner.
//! struct Flat;
//!
//! impl Scorer for Flat {
//!     fn score(input: EpochInput) -> Result<EpochOutput, String> {
//!         let weights = input.miners.iter().map(|m| Weight { uid: m.uid, weight: u16::MAX }).collect();
//!         Ok(EpochOutput { scores: vec![], weights, state: vec![] })
//!     }
//! }
//!
//! // On wasm32 this exports `score`; natively it expands to nothing, so tests run natively.
//! assay_policy_sdk::export_scorer!(Flat);
//! ```

#[macro_use]
mod macros;
pub mod calibration;
#[doc(hidden)]
pub mod conv;
mod params;
mod rows;
mod types;
pub mod v0_1;

pub use params::Params;
pub use rows::{Challenge, Request};
pub use types::*;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod guest;

/// The contract version this crate implements; the WIT package is `assay:policy@CONTRACT_VERSION`.
pub const CONTRACT_VERSION: &str = "0.2.0";

/// A scoring policy: the `scorer` world.
pub trait Scorer {
    fn score(input: EpochInput) -> Result<EpochOutput, String>;
}

/// A challenge policy: the `challenger` world.
pub trait Challenger {
    fn plan(input: PlanInput) -> Result<Vec<PlannedChallenge>, String>;
    fn judge(input: Measurements) -> Result<Judgement, String>;
}

/// Exports a [`Scorer`] as the component's `score` function. Does nothing off wasm32, so the
/// plugin crate still builds and tests natively.
#[macro_export]
macro_rules! export_scorer {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type AssayExportedScorer = $crate::guest::ScorerAdapter<$ty>;
            $crate::guest::scorer_world::__export_scorer_world!(AssayExportedScorer with_types_in $crate::guest::scorer_world);
        };
    };
}

/// Exports a [`Challenger`] as the component's `plan` and `judge` functions.
#[macro_export]
macro_rules! export_challenger {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type AssayExportedChallenger = $crate::guest::ChallengerAdapter<$ty>;
            $crate::guest::challenger_world::__export_challenger_world!(AssayExportedChallenger with_types_in $crate::guest::challenger_world);
        };
    };
}
