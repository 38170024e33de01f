//! Resource limits of one policy call, and the limiter that enforces the memory part.

/// Limits written into every epoch summary, so an audit reruns under the same ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel units (roughly one per wasm instruction); running out is a deterministic failure.
    pub fuel: u64,
    /// Bytes of linear memory, summed over the component's memories.
    pub memory_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { fuel: 20_000_000_000, memory_bytes: 512 << 20 }
    }
}

/// Store data: the limiter, and whether it refused a growth (to tell that trap apart).
pub(crate) struct StoreState {
    pub memory_limit: u64,
    pub memory_used: u64,
    pub memory_refused: bool,
}

impl wasmtime::ResourceLimiter for StoreState {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let grown = self.memory_used.saturating_sub(current as u64).saturating_add(desired as u64);
        if grown > self.memory_limit {
            self.memory_refused = true;
            wasmtime::bail!("memory limit of {} bytes reached", self.memory_limit);
        }
        self.memory_used = grown;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }

    fn instances(&self) -> usize {
        16
    }

    fn tables(&self) -> usize {
        16
    }

    fn memories(&self) -> usize {
        4
    }
}
