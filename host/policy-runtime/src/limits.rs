//! Resource limits of one policy call, the most a host allows, and the limiter that enforces
//! the memory part.

/// Limits written into every epoch summary, so an audit reruns under the same ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel units (roughly one per wasm instruction); running out is a deterministic failure.
    pub fuel: u64,
    /// Bytes of linear memory, summed over the component's memories.
    pub memory_bytes: u64,
    /// Bytes of the state blob a scorer may hand on to its next epoch.
    pub state_bytes: u64,
}

impl Limits {
    pub const DEFAULT: Limits = Limits { fuel: 20_000_000_000, memory_bytes: 512 << 20, state_bytes: 1 << 20 };

    /// The most a host runs any policy with. A node refuses a config that asks for more, and an
    /// audit a summary that does (a signed `fuel: u64::MAX` and a looping scorer would hang it).
    pub const HOST_MAX: Limits = Limits { fuel: 100_000_000_000, memory_bytes: 4 << 30, state_bytes: 64 << 20 };

    /// The first of these limits above `max`: its name, its value and the maximum.
    pub fn exceeding(&self, max: &Limits) -> Option<(&'static str, u64, u64)> {
        [
            ("fuel", self.fuel, max.fuel),
            ("memory_bytes", self.memory_bytes, max.memory_bytes),
            ("state_bytes", self.state_bytes, max.state_bytes),
        ]
        .into_iter()
        .find(|(_, value, max)| value > max)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_limit_past_the_maximum_is_named() {
        assert_eq!(Limits::DEFAULT.exceeding(&Limits::HOST_MAX), None);
        let greedy = Limits { fuel: u64::MAX, ..Limits::DEFAULT };
        assert_eq!(greedy.exceeding(&Limits::HOST_MAX), Some(("fuel", u64::MAX, Limits::HOST_MAX.fuel)));
        let hoarder = Limits { state_bytes: 1 << 40, ..Limits::DEFAULT };
        assert_eq!(hoarder.exceeding(&Limits::HOST_MAX).map(|e| e.0), Some("state_bytes"));
    }
}
