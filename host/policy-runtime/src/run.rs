//! Calls into loaded policies, each in a fresh `Store` with the given limits, through the
//! bindings of the contract version the component was built against.

use assay_policy_sdk::conv::Conv;
use assay_policy_sdk::{EpochInput, EpochOutput, Judgement, Measurements, PlanInput, PlannedChallenge, v0_1};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, Trap};

use crate::bindings::{challenger, challenger_v0_1, scorer, scorer_v0_1};
use crate::limits::StoreState;
use crate::lower;
use crate::{
    ContractVersion, Digest, Error, Limits, Result, check_input, validate_judgement, validate_output, validate_plan,
};

/// A failed trial instantiation at load: the component's fault, unless the host's pool of
/// instance slots was full at that moment (a host error, never the policy's).
fn refused_at_load(error: wasmtime::Error) -> Error {
    if error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
        Error::Wasmtime(error)
    } else {
        Error::Invalid(error)
    }
}

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

/// A scorer's instance template, of the contract version it was built against.
#[derive(Clone)]
enum ScorerPre {
    V0_1(scorer_v0_1::ScorerPre<StoreState>),
    V0_2(scorer::ScorerPre<StoreState>),
}

/// A loaded `scorer` component.
#[derive(Clone)]
pub struct Scorer {
    digest: Digest,
    engine: Engine,
    pre: ScorerPre,
}

impl Scorer {
    pub(crate) fn new(
        digest: Digest,
        version: ContractVersion,
        engine: &Engine,
        linker: &Linker<StoreState>,
        component: &Component,
    ) -> Result<Self> {
        let instance_pre = linker.instantiate_pre(component).map_err(Error::Invalid)?;
        // Trial instantiation: a component that cannot start is refused at load, not at the epoch.
        let mut store = new_store(engine, Limits::default())?;
        let pre = match version {
            ContractVersion::V0_1 => {
                let pre = scorer_v0_1::ScorerPre::new(instance_pre).map_err(Error::Invalid)?;
                pre.instantiate(&mut store).map_err(refused_at_load)?;
                ScorerPre::V0_1(pre)
            }
            ContractVersion::V0_2 => {
                let pre = scorer::ScorerPre::new(instance_pre).map_err(Error::Invalid)?;
                let instance = pre.instance_pre().instantiate(&mut store).map_err(refused_at_load)?;
                // The borrowed input records (`lower`) must match the component's types too.
                lower::score_export(&instance, &mut store).map_err(Error::Invalid)?;
                ScorerPre::V0_2(pre)
            }
        };
        Ok(Self { digest, engine: engine.clone(), pre })
    }

    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The contract version the component was built against.
    pub fn version(&self) -> ContractVersion {
        match self.pre {
            ScorerPre::V0_1(_) => ContractVersion::V0_1,
            ScorerPre::V0_2(_) => ContractVersion::V0_2,
        }
    }

    /// Scores one epoch and checks the output against the input and the limits (known uids, no
    /// duplicates, finite numbers, bounded sizes). The input's shape is checked first
    /// ([`check_input`]); a 0.1.0 scorer gets it converted down ([`v0_1::from_v0_2`]).
    pub fn score(&self, input: &EpochInput, limits: Limits) -> Result<ScoreRun> {
        check_input(input)?;
        let (output, fuel_used) = match &self.pre {
            ScorerPre::V0_1(pre) => self.call_v0_1(pre, &v0_1::from_v0_2(input), limits)?,
            ScorerPre::V0_2(pre) => {
                let mut store = new_store(&self.engine, limits)?;
                let instance = pre.instance_pre().instantiate(&mut store).map_err(|e| classify(e, &store, limits))?;
                let converted = lower::Converted::new(input);
                let miners = lower::miners(input, &converted);
                let score = lower::score_export(&instance, &mut store).map_err(Error::Wasmtime)?;
                let (result,) = score
                    .call(&mut store, (lower::epoch_input(input, &converted, &miners),))
                    .map_err(|e| classify(e, &store, limits))?;
                (result.map_err(Error::refused)?.conv(), fuel_used(&store, limits))
            }
        };
        validate_output(&input.miners, &output, limits)?;
        Ok(ScoreRun { output, fuel_used })
    }

    /// Scores a published 0.1.0 input (the audit of an epoch scored by a 0.1.0 component); a
    /// 0.2.0 scorer refuses it, as its input is another type.
    pub fn score_v0_1(&self, input: &v0_1::EpochInput, limits: Limits) -> Result<ScoreRun> {
        let ScorerPre::V0_1(pre) = &self.pre else {
            return Err(Error::VersionMismatch {
                digest: self.digest,
                component: self.version(),
                input: ContractVersion::V0_1,
            });
        };
        let (output, fuel_used) = self.call_v0_1(pre, input, limits)?;
        validate_output(&input.miners, &output, limits)?;
        Ok(ScoreRun { output, fuel_used })
    }

    fn call_v0_1(
        &self,
        pre: &scorer_v0_1::ScorerPre<StoreState>,
        input: &v0_1::EpochInput,
        limits: Limits,
    ) -> Result<(EpochOutput, u64)> {
        let mut store = new_store(&self.engine, limits)?;
        let instance = pre.instantiate(&mut store).map_err(|e| classify(e, &store, limits))?;
        let wit_input: scorer_v0_1::assay::policy::types::EpochInput = input.clone().conv();
        let result = instance.call_score(&mut store, &wit_input).map_err(|e| classify(e, &store, limits))?;
        Ok((result.map_err(Error::refused)?.conv(), fuel_used(&store, limits)))
    }
}

/// A challenger's instance template, of the contract version it was built against (the two
/// versions' challenger types are the same but for the package version).
#[derive(Clone)]
enum ChallengerPre {
    V0_1(challenger_v0_1::ChallengerPre<StoreState>),
    V0_2(challenger::ChallengerPre<StoreState>),
}

/// A loaded `challenger` component.
#[derive(Clone)]
pub struct Challenger {
    digest: Digest,
    engine: Engine,
    pre: ChallengerPre,
}

/// Instantiates `$pre` (either version) in a fresh store and calls `$method` with `$input`
/// converted to that version's bindings; evaluates to the policy's converted result.
macro_rules! call_challenger {
    ($self:ident, $limits:ident, $method:ident, $input:expr) => {{
        let mut store = new_store(&$self.engine, $limits)?;
        let result = match &$self.pre {
            ChallengerPre::V0_1(pre) => {
                let instance = pre.instantiate(&mut store).map_err(|e| classify(e, &store, $limits))?;
                let result = instance.$method(&mut store, &$input.clone().conv());
                result.map_err(|e| classify(e, &store, $limits))?.map(Conv::conv)
            }
            ChallengerPre::V0_2(pre) => {
                let instance = pre.instantiate(&mut store).map_err(|e| classify(e, &store, $limits))?;
                let result = instance.$method(&mut store, &$input.clone().conv());
                result.map_err(|e| classify(e, &store, $limits))?.map(Conv::conv)
            }
        };
        result.map_err(Error::refused)?
    }};
}

impl Challenger {
    pub(crate) fn new(
        digest: Digest,
        version: ContractVersion,
        engine: &Engine,
        linker: &Linker<StoreState>,
        component: &Component,
    ) -> Result<Self> {
        let instance_pre = linker.instantiate_pre(component).map_err(Error::Invalid)?;
        let mut store = new_store(engine, Limits::default())?;
        let pre = match version {
            ContractVersion::V0_1 => {
                let pre = challenger_v0_1::ChallengerPre::new(instance_pre).map_err(Error::Invalid)?;
                pre.instantiate(&mut store).map_err(refused_at_load)?;
                ChallengerPre::V0_1(pre)
            }
            ContractVersion::V0_2 => {
                let pre = challenger::ChallengerPre::new(instance_pre).map_err(Error::Invalid)?;
                pre.instantiate(&mut store).map_err(refused_at_load)?;
                ChallengerPre::V0_2(pre)
            }
        };
        Ok(Self { digest, engine: engine.clone(), pre })
    }

    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The contract version the component was built against.
    pub fn version(&self) -> ContractVersion {
        match self.pre {
            ChallengerPre::V0_1(_) => ContractVersion::V0_1,
            ChallengerPre::V0_2(_) => ContractVersion::V0_2,
        }
    }

    /// Which requests to challenge, and where, checked against the input ([`validate_plan`]).
    /// Blocking, for up to `limits.fuel`: callers on an async runtime run it off the runtime.
    pub fn plan(&self, input: &PlanInput, limits: Limits) -> Result<Vec<PlannedChallenge>> {
        let plan: Vec<PlannedChallenge> = call_challenger!(self, limits, call_plan, input);
        validate_plan(input, &plan)?;
        Ok(plan)
    }

    /// The verdict on one challenged request, its reason bounded ([`validate_judgement`]).
    /// Blocking, like `plan`.
    pub fn judge(&self, input: &Measurements, limits: Limits) -> Result<Judgement> {
        let judgement: Judgement = call_challenger!(self, limits, call_judge, input);
        validate_judgement(&judgement)?;
        Ok(judgement)
    }
}
