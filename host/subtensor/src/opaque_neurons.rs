//! `NeuronInfoRuntimeApi.get_neurons_lite` on runtimes that declare it as returning `Vec<u8>`
//! (subtensor before its runtime APIs were typed, e.g. spec 218, the runtime the chopsticks tier
//! runs): the bytes are a SCALE `Vec<NeuronInfoLite>` whose type the metadata does not carry,
//! decoded here by that era's layout (the pallet's `rpc_info/neuron_info.rs`: compact numbers,
//! stake as (coldkey, compact) pairs). Any byte left over is an error, not ignored.

use assay_chain::{Error, Result};
use parity_scale_codec::{Compact, Decode};
use scale_info::{TypeDef, TypeDefPrimitive};
use subxt::utils::AccountId32;

use crate::client::AtBlock;
use crate::metagraph::{AxonInfo, NeuronInfoLite};

#[derive(Decode)]
struct AxonInfoV1 {
    _block: u64,
    _version: u32,
    ip: u128,
    port: u16,
    ip_type: u8,
    protocol: u8,
    _placeholder1: u8,
    _placeholder2: u8,
}

#[derive(Decode)]
struct PrometheusInfoV1 {
    _block: u64,
    _version: u32,
    _ip: u128,
    _port: u16,
    _ip_type: u8,
}

#[derive(Decode)]
struct NeuronInfoLiteV1 {
    hotkey: [u8; 32],
    coldkey: [u8; 32],
    uid: Compact<u16>,
    netuid: Compact<u16>,
    _active: bool,
    axon_info: AxonInfoV1,
    _prometheus_info: PrometheusInfoV1,
    stake: Vec<([u8; 32], Compact<u64>)>,
    _rank: Compact<u16>,
    _emission: Compact<u64>,
    _incentive: Compact<u16>,
    _consensus: Compact<u16>,
    _trust: Compact<u16>,
    _validator_trust: Compact<u16>,
    _dividends: Compact<u16>,
    last_update: Compact<u64>,
    validator_permit: bool,
    _pruning_score: Compact<u16>,
}

impl From<NeuronInfoLiteV1> for NeuronInfoLite {
    fn from(n: NeuronInfoLiteV1) -> Self {
        let axon = n.axon_info;
        NeuronInfoLite {
            hotkey: AccountId32(n.hotkey),
            coldkey: AccountId32(n.coldkey),
            uid: n.uid.0,
            netuid: n.netuid.0,
            axon_info: AxonInfo { ip: axon.ip, port: axon.port, ip_type: axon.ip_type, protocol: axon.protocol },
            stake: n.stake.into_iter().map(|(c, s)| (AccountId32(c), s.0)).collect(),
            last_update: n.last_update.0,
            validator_permit: n.validator_permit,
        }
    }
}

/// Whether the runtime declares `api.method` as returning plain bytes (`Vec<u8>`).
pub(crate) fn returns_bytes(at: &AtBlock, api: &str, method: &str) -> bool {
    let metadata = at.metadata_ref();
    let Some(method) = metadata.runtime_api_trait_by_name(api).and_then(|a| a.method_by_name(method)) else {
        return false;
    };
    let types = metadata.types();
    let Some(TypeDef::Sequence(seq)) = types.resolve(method.output_ty()).map(|t| &t.type_def) else {
        return false;
    };
    matches!(types.resolve(seq.type_param.id).map(|t| &t.type_def), Some(TypeDef::Primitive(TypeDefPrimitive::U8)))
}

/// The neurons in `get_neurons_lite`'s bytes.
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<NeuronInfoLite>> {
    let mut input = bytes;
    let neurons = Vec::<NeuronInfoLiteV1>::decode(&mut input)
        .map_err(|e| Error::Protocol(format!("get_neurons_lite's bytes are no list of NeuronInfoLite: {e}")))?;
    if !input.is_empty() {
        return Err(Error::Protocol(format!("get_neurons_lite's bytes hold {} bytes past the neurons", input.len())));
    }
    Ok(neurons.into_iter().map(NeuronInfoLite::from).collect())
}

#[cfg(test)]
mod tests {
    use parity_scale_codec::Encode;

    use super::*;

    /// One neuron as spec 218 encodes it, field by field.
    fn neuron(uid: u16, permit: bool) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend([1u8; 32]);
        b.extend([2u8; 32]);
        b.extend(Compact(uid).encode());
        b.extend(Compact(3u16).encode());
        b.extend(true.encode());
        b.extend((9u64, 1u32, 0x7f00_0002u128, 8091u16, 4u8, 4u8, 0u8, 0u8).encode());
        b.extend((0u64, 0u32, 0u128, 0u16, 0u8).encode());
        b.extend(vec![([2u8; 32], Compact(500u64))].encode());
        for _ in 0..7 {
            b.extend(Compact(0u16).encode());
        }
        b.extend(Compact(77u64).encode());
        b.extend(permit.encode());
        b.extend(Compact(0u16).encode());
        b
    }

    #[test]
    fn decodes_the_spec_218_layout_exactly() {
        let mut bytes = Compact(2u32).encode();
        bytes.extend(neuron(0, true));
        bytes.extend(neuron(1, false));
        let neurons = decode(&bytes).expect("decodes");
        assert_eq!(neurons.len(), 2);
        assert_eq!((neurons[1].uid, neurons[1].netuid, neurons[1].validator_permit), (1, 3, false));
        assert_eq!(
            (neurons[0].axon_info.ip, neurons[0].axon_info.port, neurons[0].last_update),
            (0x7f00_0002, 8091, 77)
        );
        assert_eq!(neurons[0].stake, vec![(AccountId32([2; 32]), 500)]);

        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(decode(&trailing).unwrap_err().to_string().contains("past the neurons"));
        assert!(decode(&bytes[..bytes.len() - 1]).is_err(), "a truncated answer");
    }
}
