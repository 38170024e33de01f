//! The subnet's metagraph from the runtime APIs: `SubnetInfoRuntimeApi.get_metagraph` in one
//! call where the runtime has it, else `NeuronInfoRuntimeApi.get_neurons_lite` and the owner's
//! hotkey from `SubnetOwnerHotkey`. Decoded by field name, so the same code reads spec 365
//! (metadata V16) and older runtimes (V15); bounded to [`MAX_NEURONS`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use assay_chain::{Axon, Error, Metagraph, Neuron, Result};
use assay_keys::encode_ss58;
use subxt::ext::scale_decode::DecodeAsType;
use subxt::utils::AccountId32;

use crate::client::{AtBlock, SubtensorChain, has_api, has_storage};

/// The most neurons taken from a subnet (subtensor's own cap is 256 per subnet today).
pub const MAX_NEURONS: usize = 4096;

/// An axon as subtensor stores it (`AxonInfo`).
#[derive(Debug, Clone, DecodeAsType)]
#[decode_as_type(crate_path = "subxt::ext::scale_decode")]
pub(crate) struct AxonInfo {
    ip: u128,
    port: u16,
    ip_type: u8,
    protocol: u8,
}

/// The parts of `get_metagraph`'s `Metagraph` that assay uses.
#[derive(Debug, DecodeAsType)]
#[decode_as_type(crate_path = "subxt::ext::scale_decode")]
struct MetagraphInfo {
    netuid: u16,
    owner_hotkey: AccountId32,
    hotkeys: Vec<AccountId32>,
    coldkeys: Vec<AccountId32>,
    axons: Vec<AxonInfo>,
    validator_permit: Vec<bool>,
    last_update: Vec<u64>,
    block_at_registration: Vec<u64>,
    total_stake: Vec<u64>,
}

/// The parts of `get_neurons_lite`'s `NeuronInfoLite` that assay uses.
#[derive(Debug, DecodeAsType)]
#[decode_as_type(crate_path = "subxt::ext::scale_decode")]
struct NeuronInfoLite {
    hotkey: AccountId32,
    coldkey: AccountId32,
    uid: u16,
    netuid: u16,
    axon_info: AxonInfo,
    stake: Vec<(AccountId32, u64)>,
    last_update: u64,
    validator_permit: bool,
}

/// The miner client's URL for an axon; `None` for one never served (address 0, port 0) or one
/// that does not parse (an unknown `ip_type`, an IPv4 address over 32 bits).
pub(crate) fn axon_url(axon: &AxonInfo) -> Option<String> {
    let ip = match axon.ip_type {
        4 => IpAddr::V4(Ipv4Addr::from(u32::try_from(axon.ip).ok()?)),
        6 => IpAddr::V6(Ipv6Addr::from(axon.ip)),
        _ => return None,
    };
    if ip.is_unspecified() || axon.port == 0 {
        return None;
    }
    Some(Axon { ip, port: axon.port, protocol: axon.protocol }.url())
}

fn ss58(account: &AccountId32) -> String {
    encode_ss58(&account.0)
}

fn too_many(netuid: u16, n: usize) -> Error {
    Error::Protocol(format!("subnet {netuid}'s metagraph has {n} neurons, over the limit of {MAX_NEURONS}"))
}

impl MetagraphInfo {
    fn into_metagraph(self, netuid: u16) -> Result<Metagraph> {
        let n = self.hotkeys.len();
        if n > MAX_NEURONS {
            return Err(too_many(netuid, n));
        }
        if self.netuid != netuid {
            return Err(Error::Protocol(format!(
                "asked for subnet {netuid}'s metagraph, got subnet {}'s",
                self.netuid
            )));
        }
        if [self.coldkeys.len(), self.axons.len(), self.validator_permit.len()] != [n; 3] {
            return Err(Error::Protocol(format!(
                "subnet {netuid}'s metagraph lists {n} hotkeys but not as many coldkeys, axons and permits"
            )));
        }
        let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
        let neurons = (0..n)
            .map(|i| Neuron {
                uid: i as u16,
                hotkey: ss58(&self.hotkeys[i]),
                stake: at(&self.total_stake, i),
                validator_permit: self.validator_permit[i],
                axon: axon_url(&self.axons[i]),
                registered_at_block: at(&self.block_at_registration, i),
                coldkey: Some(ss58(&self.coldkeys[i])),
                last_update: at(&self.last_update, i),
                capacities: Default::default(),
            })
            .collect();
        Ok(Metagraph { netuid, neurons, owner_hotkey: Some(ss58(&self.owner_hotkey)) })
    }
}

fn neurons_from_lite(netuid: u16, lite: Vec<NeuronInfoLite>) -> Result<Vec<Neuron>> {
    if lite.len() > MAX_NEURONS {
        return Err(too_many(netuid, lite.len()));
    }
    let mut neurons = Vec::with_capacity(lite.len());
    for n in lite {
        if n.netuid != netuid {
            return Err(Error::Protocol(format!(
                "asked for subnet {netuid}'s neurons, got one of subnet {}",
                n.netuid
            )));
        }
        neurons.push(Neuron {
            uid: n.uid,
            hotkey: ss58(&n.hotkey),
            stake: n.stake.iter().fold(0u64, |sum, (_, s)| sum.saturating_add(*s)),
            validator_permit: n.validator_permit,
            axon: axon_url(&n.axon_info),
            registered_at_block: 0,
            coldkey: Some(ss58(&n.coldkey)),
            last_update: n.last_update,
            capacities: Default::default(),
        });
    }
    neurons.sort_by_key(|n| n.uid);
    if neurons.windows(2).any(|w| w[0].uid == w[1].uid) {
        return Err(Error::Protocol(format!("subnet {netuid}'s neurons list a uid twice")));
    }
    Ok(neurons)
}

impl SubtensorChain {
    /// The subnet's metagraph at the finalized head.
    pub(crate) async fn read_metagraph(&self, netuid: u16) -> Result<Metagraph> {
        let at = self.at_head().await?;
        if has_api(&at, "SubnetInfoRuntimeApi", "get_metagraph") {
            let info: Option<MetagraphInfo> =
                self.call_api(&at, "SubnetInfoRuntimeApi", "get_metagraph", (netuid,)).await?;
            return info.ok_or(Error::NoSuchSubnet { netuid })?.into_metagraph(netuid);
        }
        self.metagraph_from_neurons_lite(&at, netuid).await
    }

    /// The metagraph of a runtime without `get_metagraph` (subtensor before 2025).
    async fn metagraph_from_neurons_lite(&self, at: &AtBlock, netuid: u16) -> Result<Metagraph> {
        let lite: Vec<NeuronInfoLite> =
            self.call_api(at, "NeuronInfoRuntimeApi", "get_neurons_lite", (netuid,)).await?;
        if lite.is_empty() {
            let added: Option<bool> = self.read(at, "SubtensorModule", "NetworksAdded", (netuid,)).await?;
            if added == Some(false) {
                return Err(Error::NoSuchSubnet { netuid });
            }
        }
        let neurons = neurons_from_lite(netuid, lite)?;
        let owner_hotkey = match has_storage(at, "SubtensorModule", "SubnetOwnerHotkey") {
            true => {
                let owner: Option<AccountId32> =
                    self.read(at, "SubtensorModule", "SubnetOwnerHotkey", (netuid,)).await?;
                owner.filter(|a| a.0 != [0; 32]).map(|a| ss58(&a))
            }
            false => None,
        };
        Ok(Metagraph { netuid, neurons, owner_hotkey })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axon(ip: u128, ip_type: u8, port: u16) -> AxonInfo {
        AxonInfo { ip, port, ip_type, protocol: 4 }
    }

    #[test]
    fn axons_become_urls_or_nothing() {
        let v4 = u128::from(u32::from(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(axon_url(&axon(v4, 4, 8091)).as_deref(), Some("http://10.0.0.1:8091"));
        let v6 = u128::from(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        assert_eq!(axon_url(&axon(v6, 6, 8092)).as_deref(), Some("http://[2001:db8::1]:8092"));
        assert_eq!(axon_url(&axon(0, 4, 8091)), None, "0.0.0.0 was never served");
        assert_eq!(axon_url(&axon(0, 0, 0)), None, "unset");
        assert_eq!(axon_url(&axon(v4, 4, 0)), None, "no port");
        assert_eq!(axon_url(&axon(v4, 5, 8091)), None, "unknown ip type");
        assert_eq!(axon_url(&axon(u128::from(u32::MAX) + 1, 4, 1)), None, "not an IPv4 address");
    }

    #[test]
    fn metagraph_vectors_must_agree_and_stay_bounded() {
        let info = |n: usize, permits: usize| MetagraphInfo {
            netuid: 3,
            owner_hotkey: AccountId32([9; 32]),
            hotkeys: vec![AccountId32([1; 32]); n],
            coldkeys: vec![AccountId32([2; 32]); n],
            axons: vec![axon(0, 0, 0); n],
            validator_permit: vec![true; permits],
            last_update: vec![7; n],
            block_at_registration: vec![],
            total_stake: vec![5; n],
        };
        let m = info(2, 2).into_metagraph(3).expect("consistent");
        assert_eq!((m.neurons.len(), m.neurons[1].uid, m.neurons[1].last_update), (2, 1, 7));
        assert_eq!(m.neurons[0].registered_at_block, 0, "a missing vector reads as zeros");
        assert!(matches!(info(2, 1).into_metagraph(3), Err(Error::Protocol(_))));
        assert!(matches!(info(2, 2).into_metagraph(4), Err(Error::Protocol(_))));
        let e = info(MAX_NEURONS + 1, MAX_NEURONS + 1).into_metagraph(3).expect_err("too many");
        assert!(e.to_string().contains("over the limit"), "{e}");
    }
}
