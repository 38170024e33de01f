//! The wasmtime engine with the determinism settings of DESIGN.md, and policy loading.

use std::path::Path;

use tracing::debug;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

use crate::Limits;
use crate::cache::Cache;
use crate::limits::StoreState;
use crate::run::{Challenger, Scorer};
use crate::{ContractVersion, Digest, Error, Result, World, inspect};

/// Wasm stack a policy may use; fixed so that deep recursion fails the same way everywhere.
const MAX_WASM_STACK: usize = 1 << 20;

/// Instances of policies alive at once in one host (a scorer, an audit, the verifier's plans and
/// judgements); a call beyond it fails with a host error, never a policy fault.
const MAX_INSTANCES: u32 = 64;

/// How much of a linear memory stays mapped for the next call: an epoch's input (tens of MB) is
/// then written into memory that is already there, instead of faulting in fresh pages on every
/// call. Reused memory is zeroed, so each call still starts from the same state.
const KEEP_RESIDENT: usize = 64 << 20;

/// Pre-reserved slots for instances: reused between calls, as every call gets a fresh `Store`.
fn pool() -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(MAX_INSTANCES)
        .total_core_instances(MAX_INSTANCES * 4)
        .total_memories(MAX_INSTANCES)
        .total_tables(MAX_INSTANCES * 4)
        .max_memory_size(Limits::HOST_MAX.memory_bytes as usize)
        .linear_memory_keep_resident(KEEP_RESIDENT);
    pool
}

/// One engine for every policy of a host; cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    linker: std::sync::Arc<Linker<StoreState>>,
    cache: Option<Cache>,
}

impl Runtime {
    /// An engine whose results do not depend on the machine. With `cache_dir`, compiled
    /// components are kept there, keyed by their digest and the engine's compatibility hash.
    pub fn new(cache_dir: Option<&Path>) -> Result<Self> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            // Deterministic execution: canonical NaN bits, deterministic relaxed SIMD, fuel
            // rather than wall-clock interruption, a fixed stack. Threads are not compiled in.
            .cranelift_nan_canonicalization(true)
            .relaxed_simd_deterministic(true)
            .consume_fuel(true)
            .max_wasm_stack(MAX_WASM_STACK)
            .cranelift_opt_level(OptLevel::Speed)
            .parallel_compilation(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool()));
        let engine = Engine::new(&config).map_err(Error::Wasmtime)?;
        let linker = Linker::new(&engine);
        let cache = cache_dir.map(|dir| Cache::new(dir, &engine)).transpose()?;
        Ok(Self { engine, linker: std::sync::Arc::new(linker), cache })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles `bytes` without the cache (the benchmark's cold compile).
    pub fn compile(&self, bytes: &[u8]) -> Result<Component> {
        Component::new(&self.engine, bytes).map_err(Error::Invalid)
    }

    /// Verifies the digest and the imports, then compiles or takes the cached artifact; also
    /// says which contract version the component was built against.
    fn component(&self, digest: &Digest, bytes: &[u8], world: World) -> Result<(Component, ContractVersion)> {
        digest.verify(bytes)?;
        let inspection = inspect(bytes)?;
        if inspection.world != world {
            return Err(Error::WrongWorld { expected: world, actual: inspection.world });
        }
        if let Some(cache) = &self.cache
            && let Some(component) = cache.load(&self.engine, digest)
        {
            debug!(%digest, "loaded precompiled policy from cache");
            return Ok((component, inspection.version));
        }
        let component = self.compile(bytes)?;
        if let Some(cache) = &self.cache {
            cache.store(digest, &component);
        }
        Ok((component, inspection.version))
    }

    /// Loads a scorer and type-checks it against the contract (a trial instantiation).
    pub fn load_scorer(&self, digest: &Digest, bytes: &[u8]) -> Result<Scorer> {
        let (component, version) = self.component(digest, bytes, World::Scorer)?;
        Scorer::new(*digest, version, &self.engine, &self.linker, &component)
    }

    /// Loads a challenger and type-checks it against the contract.
    pub fn load_challenger(&self, digest: &Digest, bytes: &[u8]) -> Result<Challenger> {
        let (component, version) = self.component(digest, bytes, World::Challenger)?;
        Challenger::new(*digest, version, &self.engine, &self.linker, &component)
    }
}
