//! The harness's own reading of `NeuronInfoRuntimeApi_get_neurons_lite` (spec 218's
//! `NeuronInfoLite`, field for field), independent of the backend's, so that a test compares
//! the backend against the runtime rather than against itself.

use parity_scale_codec::{Compact, Decode};

use super::node::Chopsticks;

#[derive(Debug, Clone, Decode)]
pub struct AxonInfo {
    pub block: u64,
    pub version: u32,
    pub ip: u128,
    pub port: u16,
    pub ip_type: u8,
    pub protocol: u8,
    pub placeholder1: u8,
    pub placeholder2: u8,
}

#[derive(Debug, Clone, Decode)]
pub struct PrometheusInfo {
    pub block: u64,
    pub version: u32,
    pub ip: u128,
    pub port: u16,
    pub ip_type: u8,
}

#[derive(Debug, Clone, Decode)]
pub struct NeuronInfoLite {
    pub hotkey: [u8; 32],
    pub coldkey: [u8; 32],
    pub uid: Compact<u16>,
    pub netuid: Compact<u16>,
    pub active: bool,
    pub axon_info: AxonInfo,
    pub prometheus_info: PrometheusInfo,
    /// (coldkey, stake) pairs; spec 218 reports one: the owner's, with the hotkey's alpha.
    pub stake: Vec<([u8; 32], Compact<u64>)>,
    pub rank: Compact<u16>,
    pub emission: Compact<u64>,
    pub incentive: Compact<u16>,
    pub consensus: Compact<u16>,
    pub trust: Compact<u16>,
    pub validator_trust: Compact<u16>,
    pub dividends: Compact<u16>,
    pub last_update: Compact<u64>,
    pub validator_permit: bool,
    pub pruning_score: Compact<u16>,
}

impl NeuronInfoLite {
    pub fn total_stake(&self) -> u64 {
        self.stake.iter().map(|(_, s)| s.0).sum()
    }
}

/// The subnet's neurons as the runtime reports them at the head.
pub async fn neurons_lite(chain: &Chopsticks, netuid: u16) -> Vec<NeuronInfoLite> {
    let answer = chain.state_call("NeuronInfoRuntimeApi_get_neurons_lite", &netuid.to_le_bytes()).await;
    // The API returns Vec<u8> holding the encoded Vec<NeuronInfoLite>.
    let bytes = Vec::<u8>::decode(&mut &answer[..]).expect("get_neurons_lite answers bytes");
    let mut input = &bytes[..];
    let neurons = Vec::<NeuronInfoLite>::decode(&mut input).expect("decodes as spec 218's NeuronInfoLite");
    assert!(input.is_empty(), "{} bytes left after the neurons", input.len());
    neurons
}
