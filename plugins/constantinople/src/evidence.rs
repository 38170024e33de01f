//! The pooled epoch gate: a miner whose hidden states sat, over all its challenges of the epoch,
//! further above honest noise than an honest miner's ever do gets weight zero.
//!
//! Owns: reading `evidence.layers` and `evidence.calibration`, picking the challenges that count
//! and publishing the gate's figures. The statistic, the honest calibrations and the bound are
//! the SDK's (`assay_policy_sdk::calibration`), the same tables the challengers judge with.
//!
//! Off unless the params name `evidence.layers` (the served model's layer count, which places
//! each point's depth in the calibration table), so an epoch scored without it is byte-identical
//! to one scored before the gate existed. `evidence.calibration` picks the served model's table
//! by its index in `calibration::CALIBRATIONS` (0, the tiny random Qwen2, when absent); it must
//! name the model the validator's challenger judges with. Only challenges judged Pass or Fail
//! with at least `MIN_POINTS` points count: a void verdict measured nothing the miner answers for.

use assay_policy_sdk::calibration::evidence::{self, Epoch};
use assay_policy_sdk::calibration::{self, CALIBRATIONS, Calibration};
use assay_policy_sdk::{Challenges, Param, Params, Verdict};

/// The parameter that switches the gate on.
pub const LAYERS_PARAM: &str = "evidence.layers";
/// The parameter that picks the served model's calibration.
pub const CALIBRATION_PARAM: &str = "evidence.calibration";

/// The gate's settings, from the params.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gate {
    /// The served model's layer count.
    pub layers: u32,
    /// The served model's honest-noise figures.
    pub calibration: &'static Calibration<'static>,
}

/// The gate when the params name `evidence.layers` (a whole number in `[1, 65536]`), else
/// `None`; `evidence.calibration` must be the index of one of the SDK's calibrations, and is
/// refused without `evidence.layers` (a validator that names a table means the gate to be on).
pub fn gate(params: &[Param]) -> Result<Option<Gate>, String> {
    let named = |name: &str| params.iter().any(|p| p.name == name);
    if !named(LAYERS_PARAM) {
        if named(CALIBRATION_PARAM) {
            return Err(format!("parameter {CALIBRATION_PARAM} needs {LAYERS_PARAM}, which switches the gate on"));
        }
        return Ok(None);
    }
    let layers = whole(params, LAYERS_PARAM, 1.0, 65536.0, 1.0)?;
    let last = (CALIBRATIONS.len() - 1) as f64;
    let index = whole(params, CALIBRATION_PARAM, 0.0, last, 0.0)?;
    let calibration = calibration::by_index(index as usize)
        .ok_or_else(|| format!("parameter {CALIBRATION_PARAM} = {index} names no calibration"))?;
    Ok(Some(Gate { layers: layers as u32, calibration }))
}

/// A whole-number parameter in `[min, max]`, `default` when absent.
fn whole(params: &[Param], name: &str, min: f64, max: f64, default: f64) -> Result<f64, String> {
    let value = Params(params).get_in(name, default, min, max)?;
    if value.fract() != 0.0 {
        return Err(format!("parameter {name} = {value} is not a whole number"));
    }
    Ok(value)
}

/// The statistics of each miner's counted challenges, by miner index (`slot` maps a uid to
/// one, `u32::MAX` for a uid outside the metagraph).
pub fn statistics(challenges: &Challenges, slot: &[u32], miners: usize, gate: &Gate) -> Vec<Vec<f64>> {
    let mut out = vec![Vec::new(); miners];
    for (j, (&uid, &verdict)) in challenges.uid.iter().zip(&challenges.verdict).enumerate() {
        if !matches!(verdict, Verdict::Pass | Verdict::Fail) {
            continue;
        }
        let Some(stats) = slot.get(usize::from(uid)).and_then(|&i| out.get_mut(i as usize)) else {
            continue;
        };
        // The host checks the columns' shape; a malformed range still reads as no points.
        let start = challenges.point_start.get(j).map_or(0, |&s| s as usize);
        let end = challenges.point_start.get(j + 1).map_or(challenges.layer.len(), |&s| s as usize);
        let points = (start..end).filter_map(|k| Some((*challenges.layer.get(k)?, *challenges.rel_l2.get(k)?)));
        if let Some(statistic) = evidence::challenge(gate.calibration, points, gate.layers) {
            stats.push(statistic);
        }
    }
    out
}

/// The gate's published figures for one miner.
pub fn components(epoch: &Epoch) -> [Param; 4] {
    let component = |name: &str, value: f64| Param { name: name.to_string(), value };
    [
        component("evidence", epoch.mean),
        component("evidence_bound", epoch.bound),
        component("evidence_challenges", epoch.challenges as f64),
        component("evidence_gated", if epoch.gated { 1.0 } else { 0.0 }),
    ]
}
