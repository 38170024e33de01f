//! PLACEHOLDER until branch `h-drand` lands: the names assay-subtensor calls (agreed in the
//! issue's split), with no implementation. Take h-drand's version of this folder when merging.

#![allow(dead_code, unused_variables, clippy::unwrap_used)]

/// A weights payload before timelock encryption.
#[derive(Debug, Clone)]
pub struct WeightsPayload {
    pub hotkey: [u8; 32],
    pub uids: Vec<u16>,
    pub values: Vec<u16>,
    pub version_key: u64,
}

/// The chain values the reveal round is computed from.
#[derive(Debug, Clone, Copy, Default)]
pub struct RevealSchedule {
    pub tempo: u64,
    pub reveal_period_epochs: u64,
    pub last_epoch_block: u64,
    pub pending_epoch_at: u64,
    pub subnet_epoch_index: u64,
    pub blocks_since_last_step: u64,
}

pub fn convert_weights_and_uids_for_emit(uids: &[u16], weights: &[f64]) -> Result<(Vec<u16>, Vec<u16>), String> {
    let max = weights.iter().copied().fold(0.0, f64::max);
    if max == 0.0 {
        return Ok((vec![], vec![]));
    }
    let mut out = (vec![], vec![]);
    for (u, w) in uids.iter().zip(weights) {
        let v = (w / max * 65535.0).round_ties_even() as u16;
        if v != 0 {
            out.0.push(*u);
            out.1.push(v);
        }
    }
    Ok(out)
}

pub fn reveal_round(
    schedule: &RevealSchedule,
    netuid: u16,
    current_block: u64,
    now_unix_s: u64,
    block_time_s: f64,
) -> u64 {
    todo!("h-drand")
}

pub fn encrypt_for_round<R: rand::RngCore + rand::CryptoRng>(
    payload: &WeightsPayload,
    reveal_round: u64,
    rng: &mut R,
) -> Result<Vec<u8>, String> {
    todo!("h-drand")
}
