//! Calls into loaded policies, each in a fresh `Store` with the given limits.

use assay_policy_sdk::conv::Conv;
use assay_policy_sdk::{EpochInput, EpochOutput, Judgement, Measurements, PlanInput, PlannedChallenge};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, Trap};

use crate::bindings::{challenger, scorer};
use crate::limits::StoreState;
use crate::{Digest, Error, Limits, Result, validate_judgement, validate_output, validate_plan};

fn new_store(engine: &Engine, limits: Limits) -> Result<Store<StoreState>> {
    let mut store =
        Store::new(engine, StoreState { memory_limit: limits.memory_bytes, memory_used: 0, memory_refused: false });
    store.limiter(|state| state);
    store.set_fuel(limits.fuel).map_err(Error::Wasmtime)?;
    Ok(store)
}

/// Names what stopped a call. Only deterministic causes become policy faults.
fn classify(error: wasmtime::Error, store: &Store<StoreState>, limits: Limits) -> Error {
    if store.data().memory_refused {
        return Error::MemoryLimit { limit: limits.memory_bytes };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Error::OutOfFuel { limit: limits.fuel },
        Some(trap) => Error::Trap(trap.to_string()),
        None => Error::Wasmtime(error),
    }
}

fn fuel_used(store: &Store<StoreState>, limits: Limits) -> u64 {
    limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0))
}

/// One scorer run: the validated output and the fuel it took (the same on every machine).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRun {
    pub output: EpochOutput,
    pub fuel_used: u64,
}

/// A loaded `scorer` component.
#[derive(Clone)]
pub struct Scorer {
    digest: Digest,
    engine: Engine,
    pre: scorer::ScorerPre<StoreState>,
}

impl Scorer {
    pub(crate) fn new(
        digest: Digest,
        engine: &Engine,
        linker: &Linker<StoreState>,
        component: &Component,
    ) -> Result<Self> {
        let instance_pre = linker.instantiate_pre(component).map_err(Error::Invalid)?;
        let pre = scorer::ScorerPre::new(instance_pre).map_err(Error::Invalid)?;
        // Trial instantiation: a component that cannot start is refused at load, not at the epoch.
        let mut store = new_store(engine, Limits::default())?;
        pre.instantiate(&mut store).map_err(Error::Invalid)?;
        Ok(Self { digest, engine: engine.clone(), pre })
    }

    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// Scores one epoch and checks the output against the input and the limits (known uids, no
    /// duplicates, finite numbers, bounded sizes).
    pub fn score(&self, input: &EpochInput, limits: Limits) -> Result<ScoreRun> {
        let mut store = new_store(&self.engine, limits)?;
        let instance = self.pre.instantiate(&mut store).map_err(|e| classify(e, &store, limits))?;
        let wit_input: scorer::assay::policy::types::EpochInput = input.clone().conv();
        let result = instance.call_score(&mut store, &wit_input).map_err(|e| classify(e, &store, limits))?;
        let output: EpochOutput = result.map_err(Error::refused)?.conv();
        validate_output(input, &output, limits)?;
        Ok(ScoreRun { output, fuel_used: fuel_used(&store, limits) })
    }
}

/// A loaded `challenger` component.
#[derive(Clone)]
pub struct Challenger {
    digest: Digest,
    engine: Engine,
    pre: challenger::ChallengerPre<StoreState>,
}

impl Challenger {
    pub(crate) fn new(
        digest: Digest,
        engine: &Engine,
        linker: &Linker<StoreState>,
        component: &Component,
    ) -> Result<Self> {
        let instance_pre = linker.instantiate_pre(component).map_err(Error::Invalid)?;
        let pre = challenger::ChallengerPre::new(instance_pre).map_err(Error::Invalid)?;
        let mut store = new_store(engine, Limits::default())?;
        pre.instantiate(&mut store).map_err(Error::Invalid)?;
        Ok(Self { digest, engine: engine.clone(), pre })
    }

    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// Which requests to challenge, and where, checked against the input ([`validate_plan`]).
    /// Blocking, for up to `limits.fuel`: callers on an async runtime run it off the runtime.
    pub fn plan(&self, input: &PlanInput, limits: Limits) -> Result<Vec<PlannedChallenge>> {
        let mut store = new_store(&self.engine, limits)?;
        let instance = self.pre.instantiate(&mut store).map_err(|e| classify(e, &store, limits))?;
        let wit_input: challenger::assay::policy::types::PlanInput = input.clone().conv();
        let result = instance.call_plan(&mut store, &wit_input).map_err(|e| classify(e, &store, limits))?;
        let plan: Vec<PlannedChallenge> = result.map_err(Error::refused)?.conv();
        validate_plan(input, &plan)?;
        Ok(plan)
    }

    /// The verdict on one challenged request, its reason bounded ([`validate_judgement`]).
    /// Blocking, like `plan`.
    pub fn judge(&self, input: &Measurements, limits: Limits) -> Result<Judgement> {
        let mut store = new_store(&self.engine, limits)?;
        let instance = self.pre.instantiate(&mut store).map_err(|e| classify(e, &store, limits))?;
        let wit_input: challenger::assay::policy::types::Measurements = input.clone().conv();
        let result = instance.call_judge(&mut store, &wit_input).map_err(|e| classify(e, &store, limits))?;
        let judgement: Judgement = result.map_err(Error::refused)?.conv();
        validate_judgement(&judgement)?;
        Ok(judgement)
    }
}
