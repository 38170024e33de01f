//! A test subnet written into the chain's state with `dev_setStorage`: the subnet (NetworksAdded,
//! Tempo, SubnetworkN, its owner, its hyperparameters), each neuron's registration (Uids, Keys,
//! Owner, IsNetworkMember, BlockAtRegistration), stake (`Stake`, hotkey → coldkey → rao, which
//! `get_neurons_lite` reports, and the dTAO `TotalHotkeyAlpha` that `set_weights`' minimum-stake
//! check reads), the per-uid vectors (ValidatorPermit, Active, LastUpdate, …) and balances for
//! every signer.
//! Names and types are spec 218's: its metadata, and the pallet's source at opentensor/subtensor
//! 1629c559b (3 January 2025, spec 218: its storage items are the metadata's, and its coinbase
//! runs the epoch at every block, as this runtime does).

use assay_keys::{Hotkey, Scheme};
use parity_scale_codec::Encode;
use serde_json::{Value, json};

/// One registered neuron.
#[derive(Debug, Clone)]
pub struct NeuronSeed {
    pub hotkey: Hotkey,
    /// SS58 of the coldkey that owns the hotkey (it never signs here).
    pub coldkey: String,
    /// Stake on the hotkey from its coldkey, in rao (also its alpha on this subnet).
    pub stake: u64,
    pub validator_permit: bool,
}

/// A subnet of `neurons` (uid = index), owned by the neuron at `owner`.
#[derive(Debug, Clone)]
pub struct SubnetSeed {
    pub netuid: u16,
    pub tempo: u16,
    pub owner: usize,
    pub neurons: Vec<NeuronSeed>,
    /// Blocks between two weight settings of one validator (0: none).
    pub weights_rate_limit: u64,
}

/// Free balance each signer gets: 1,000 TAO, for fees.
const SIGNER_BALANCE: u64 = 1_000_000_000_000;

/// A key from a fixed seed, so that a failing run can be replayed.
pub fn key(tag: u8, index: u8) -> Hotkey {
    let mut seed = [0x5a_u8; 32];
    seed[0] = tag;
    seed[1] = index;
    Hotkey::from_seed(Scheme::Sr25519, seed).expect("a 32-byte seed makes a key")
}

impl SubnetSeed {
    /// `validators` neurons with a permit and stake (uids 0..), then `miners` without; the
    /// first validator owns the subnet. Netuid 1 exists in the spec's genesis: use another.
    pub fn new(netuid: u16, validators: u8, miners: u8) -> Self {
        let neurons = (0..validators + miners)
            .map(|i| {
                let validator = i < validators;
                NeuronSeed {
                    hotkey: key(netuid as u8, i),
                    coldkey: key(netuid as u8 | 0x80, i).ss58(),
                    stake: if validator { 1_000_000_000_000 + u64::from(i) } else { 0 },
                    validator_permit: validator,
                }
            })
            .collect();
        Self { netuid, tempo: 360, owner: 0, neurons, weights_rate_limit: 0 }
    }

    pub fn hotkey(&self, uid: usize) -> &Hotkey {
        &self.neurons[uid].hotkey
    }

    /// The `dev_setStorage` argument that creates this subnet, registered at `block`.
    pub fn storage(&self, block: u64) -> Value {
        let mut subtensor = self.subnet_items(block);
        merge(&mut subtensor, self.neuron_items(block));
        merge(&mut subtensor, self.uid_vectors());
        let accounts: Vec<Value> = self.neurons.iter().map(|n| json!([[n.hotkey.ss58()], funded_account()])).collect();
        json!({ "SubtensorModule": subtensor, "System": { "Account": accounts } })
    }

    /// The subnet's own entries and the hyperparameters the tests rely on.
    fn subnet_items(&self, block: u64) -> Value {
        let n = self.netuid;
        let owner = &self.neurons[self.owner];
        json!({
            "NetworksAdded": [[[n], bool_(true)]],
            "NetworkRegisteredAt": [[[n], u64_(block)]],
            "NetworkRegistrationAllowed": [[[n], bool_(true)]],
            "SubnetMechanism": [[[n], u16_(1)]],
            "Tempo": [[[n], u16_(self.tempo)]],
            "SubnetworkN": [[[n], u16_(self.neurons.len() as u16)]],
            "MaxAllowedUids": [[[n], u16_(256)]],
            "MaxAllowedValidators": [[[n], u16_(64)]],
            "SubnetOwner": [[[n], owner.coldkey]],
            "SubnetOwnerHotkey": [[[n], owner.hotkey.ss58()]],
            // As genesis' subnet 1 has them: a pool with a price, so that coinbase runs as there.
            "SubnetTAO": [[[n], u64_(11_000_000_000)]],
            "SubnetAlphaIn": [[[n], u64_(1)]],
            "SubnetAlphaOut": [[[n], u64_(1_910_002_288)]],
            "LastMechansimStepBlock": [[[n], u64_(block)]],
            "BlocksSinceLastStep": [[[n], u64_(0)]],
            // Weights from any number of uids, of any size; no rate limits unless asked.
            "MinAllowedWeights": [[[n], u16_(0)]],
            "MaxWeightsLimit": [[[n], u16_(u16::MAX)]],
            "WeightsSetRateLimit": [[[n], u64_(self.weights_rate_limit)]],
            "WeightsVersionKey": [[[n], u64_(0)]],
            "CommitRevealWeightsEnabled": [[[n], bool_(false)]],
            "ServingRateLimit": [[[n], u64_(0)]],
            "TotalNetworks": u16_(3),
        })
    }

    /// Each neuron's registration and stake.
    fn neuron_items(&self, block: u64) -> Value {
        let n = self.netuid;
        let mut items = json!({});
        for (uid, neuron) in self.neurons.iter().enumerate() {
            let uid = uid as u16;
            let hk = neuron.hotkey.ss58();
            let ck = &neuron.coldkey;
            let stake = u64_(neuron.stake);
            merge(
                &mut items,
                json!({
                    "Uids": [[[n, hk], u16_(uid)]],
                    "Keys": [[[n, uid], hk]],
                    "Owner": [[[hk], ck]],
                    "OwnedHotkeys": [[[ck], [hk]]],
                    "StakingHotkeys": [[[ck], [hk]]],
                    "IsNetworkMember": [[[hk, n], bool_(true)]],
                    "BlockAtRegistration": [[[n, uid], u64_(block)]],
                    "Stake": [[[hk, ck], stake]],
                    "TotalHotkeyAlpha": [[[hk, n], stake]],
                    "TotalHotkeyShares": [[[hk, n], stake]],
                    "Alpha": [[[hk, ck, n], stake]],
                }),
            );
        }
        items
    }

    /// The per-uid vectors, one entry per neuron (the epoch reads them by uid).
    fn uid_vectors(&self) -> Value {
        let n = self.netuid;
        let count = self.neurons.len();
        let permits: Vec<bool> = self.neurons.iter().map(|x| x.validator_permit).collect();
        json!({
            "ValidatorPermit": [[[n], permits]],
            "Active": [[[n], vec![true; count]]],
            "LastUpdate": [[[n], vec![0; count]]],
            "Rank": [[[n], vec![0; count]]],
            "Trust": [[[n], vec![0; count]]],
            "Consensus": [[[n], vec![0; count]]],
            "Incentive": [[[n], vec![0; count]]],
            "Dividends": [[[n], vec![0; count]]],
            "Emission": [[[n], vec![0; count]]],
            "ValidatorTrust": [[[n], vec![0; count]]],
            "PruningScores": [[[n], vec![65535; count]]],
        })
    }
}

// Scalars go as their SCALE bytes in hex: chopsticks writes `value ? encode(value) : null`, so
// a JSON 0 or false would delete the entry (its default then applies: 1024 minimum weights, a
// 100-block rate limit, uid 0 unregistered).
fn u16_(v: u16) -> String {
    format!("0x{}", hex::encode(v.encode()))
}

fn u64_(v: u64) -> String {
    format!("0x{}", hex::encode(v.encode()))
}

fn bool_(v: bool) -> String {
    format!("0x{}", hex::encode(v.encode()))
}

/// An account that exists (one provider, so its nonce counts) with [`SIGNER_BALANCE`] free.
fn funded_account() -> Value {
    json!({
        "nonce": 0,
        "consumers": 0,
        "providers": 1,
        "sufficients": 0,
        "data": { "free": SIGNER_BALANCE, "reserved": 0, "frozen": 0, "flags": "0x80000000000000000000000000000000" },
    })
}

/// Appends `more`'s storage lists to `into`'s, by storage name.
fn merge(into: &mut Value, more: Value) {
    let (Some(into), Value::Object(more)) = (into.as_object_mut(), more) else { return };
    for (name, entries) in more {
        match (into.get_mut(&name), entries) {
            (Some(Value::Array(list)), Value::Array(extra)) => list.extend(extra),
            (_, entries) => {
                into.insert(name, entries);
            }
        }
    }
}
