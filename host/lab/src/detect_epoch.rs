//! The detection experiment's epochs: a simulated miner's challenges scored by constantinople's
//! own code, and the honest calibration of the pooled epoch gate (`assay dev calibrate`).
//!
//! Owns: turning a run of trials into the epoch input constantinople scores, and the figures of
//! `assay_policy_sdk::calibration::evidence` measured on honest trials. The experiment calls the
//! scorer's native build (`assay_plugin_constantinople::score`), the very code the component is
//! compiled from (host/epoch's determinism test holds the two to the same output), because
//! instantiating the component for each of some 50,000 regrouped epochs would cost more than
//! the trials do in a debug build.

use anyhow::anyhow;
use assay_plugin_constantinople::evidence::{CALIBRATION_PARAM, Gate, LAYERS_PARAM};
use assay_policy_sdk::calibration::{Calibration, evidence};
use assay_policy_sdk::{
    Challenge, EpochInput, Miner, Outcome, Param, PointMeasurement, Request, RequestKind, Task, Verdict,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One challenged request of the experiment: the judge's verdict and reason, and the points
/// measured (none when the opening failed or nothing could be measured).
#[derive(Debug, Clone)]
pub(crate) struct Trial {
    pub verdict: Verdict,
    pub reason: String,
    pub points: Vec<PointMeasurement>,
}

impl Trial {
    pub fn failed(reason: String) -> Trial {
        Trial { verdict: Verdict::Void, reason, points: Vec::new() }
    }

    /// This challenge's pooled statistic under `calibration`, when it counts (Pass or Fail, at
    /// least 8 points).
    pub fn statistic(&self, calibration: &Calibration, layers: u32) -> Option<f64> {
        if !matches!(self.verdict, Verdict::Pass | Verdict::Fail) {
            return None;
        }
        evidence::challenge(calibration, self.points.iter().map(|p| (p.layer, p.rel_l2)), layers)
    }
}

/// How the experiment's epochs are scored: the params constantinople gets for the served model
/// (its layer count and the index of its calibration) and the gate constantinople reads from them.
pub(crate) struct Scoring {
    params: Vec<Param>,
    pub gate: Gate,
}

impl Scoring {
    /// The scoring of a model with `layers` layers, calibrated by `calibration`, an index into
    /// `assay_policy_sdk::calibration::CALIBRATIONS`.
    pub fn new(layers: u32, calibration: usize) -> anyhow::Result<Scoring> {
        let params = vec![
            Param { name: LAYERS_PARAM.into(), value: f64::from(layers) },
            Param { name: CALIBRATION_PARAM.into(), value: calibration as f64 },
        ];
        let gate = assay_plugin_constantinople::evidence::gate(&params)
            .map_err(|e| anyhow!("constantinople refused the experiment's params: {e}"))?
            .ok_or_else(|| anyhow!("constantinople's pooled gate is off with {LAYERS_PARAM} set"))?;
        Ok(Scoring { params, gate })
    }

    /// A trial's pooled statistic under this scoring's calibration.
    pub fn statistic(&self, trial: &Trial) -> Option<f64> {
        trial.statistic(self.gate.calibration, self.gate.layers)
    }
}

/// One miner's epoch as constantinople sees it: one served request per challenge (all alike,
/// so only verification decides), the trials as its challenges, defaults for every parameter
/// but the pooled gate's, which switch it on for the experiment's model.
fn epoch_input(trials: &[Trial], scoring: &Scoring) -> EpochInput {
    let requests = (0u64..)
        .zip(trials)
        .map(|(id, _)| Request {
            id,
            uid: 0,
            task: 0,
            kind: RequestKind::Synthetic,
            outcome: Outcome::Ok,
            greedy: true,
            prompt_tokens: 20,
            completion_tokens: 32,
            ttft_ms: 100.0,
            total_ms: 1000.0,
            reported_ttft_ms: None,
            reported_tps: None,
            started_ms: id,
        })
        .collect();
    let challenges = (0u64..)
        .zip(trials)
        .map(|(request_id, t)| Challenge {
            request_id,
            uid: 0,
            verdict: t.verdict,
            reason: t.reason.clone(),
            response_ms: None,
            points: t.points.clone(),
        })
        .collect();
    EpochInput {
        netuid: 1,
        epoch: 1,
        block_start: 0,
        block_end: 100,
        tasks: vec![Task { name: "chat".into(), weight: 1.0 }],
        miners: vec![Miner { uid: 0, hotkey: "miner".into(), stake: 0, capacities: vec![], registered_at_block: 0 }],
        requests,
        token_checks: Default::default(),
        request_values: vec![],
        challenges,
        commit_reveals: vec![],
        params: scoring.params.clone(),
        state: vec![],
    }
}

/// Whether constantinople gives this miner weight zero for an epoch of these trials (the
/// pass-rate gate or the pooled evidence gate).
pub(crate) fn weight_zero(trials: &[Trial], scoring: &Scoring) -> anyhow::Result<bool> {
    let out = assay_plugin_constantinople::score(&epoch_input(trials, scoring))
        .map_err(|e| anyhow!("constantinople refused a simulated epoch: {e}"))?;
    Ok(out.scores.first().is_none_or(|s| s.score <= 0.0))
}

/// Honest epochs resampled to choose `evidence::Z`, and the epoch sizes they take in turn.
const RESAMPLED_EPOCHS: u64 = 500_000;
const RESAMPLED_SIZES: std::ops::RangeInclusive<usize> = evidence::MIN_CHALLENGES..=16;
/// `Z` is the largest standardized honest epoch mean times this.
const Z_MARGIN: f64 = 1.5;

/// Prints the pooled statistic's honest mean and standard deviation over `statistics` (honest
/// challenges), and the `Z` they imply: epochs of 4 to 16 challenges drawn with replacement
/// from them, each epoch's mean standardized by the measured mean and `sd / √n`; the largest
/// over 500,000 epochs, times 1.5. Nothing but honest data enters. `None` with fewer than two.
pub(crate) fn print_evidence_calibration(statistics: &[f64]) -> Option<evidence::Honest> {
    let n = statistics.len();
    if n < 2 {
        println!("// evidence statistic: {n} honest challenges counted, too few to calibrate");
        return None;
    }
    let mean = statistics.iter().sum::<f64>() / n as f64;
    let sd = (statistics.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    let mut rng = StdRng::seed_from_u64(0x2026_1203);
    let sizes: Vec<usize> = RESAMPLED_SIZES.collect();
    let mut largest = f64::NEG_INFINITY;
    for e in 0..RESAMPLED_EPOCHS {
        let k = sizes[(e % sizes.len() as u64) as usize];
        let sum: f64 = (0..k).map(|_| statistics[rng.gen_range(0..n)]).sum();
        largest = largest.max((sum / k as f64 - mean) / (sd / (k as f64).sqrt()));
    }
    println!("// evidence statistic over {n} honest challenges: mean {mean:.4}, sd {sd:.4}");
    println!(
        "// largest standardized mean over {RESAMPLED_EPOCHS} resampled honest epochs of {}..={} challenges: \
         {largest:.3}; z = {Z_MARGIN} × that = {:.2}",
        RESAMPLED_SIZES.start(),
        RESAMPLED_SIZES.end(),
        Z_MARGIN * largest
    );
    Some(evidence::Honest { mean, sd, z: Z_MARGIN * largest })
}

#[cfg(test)]
mod tests {
    use super::*;
    use assay_policy_sdk::calibration::TINY_RANDOM;

    fn random() -> Scoring {
        Scoring::new(4, 0).expect("the random model's scoring")
    }

    fn trial(verdict: Verdict, ratio: f64) -> Trial {
        let points = (0..16)
            .map(|i| {
                let layer = 1 + i % 4;
                let rel_l2 = ratio * TINY_RANDOM.honest_median(layer, 4);
                PointMeasurement { layer, position: i, rel_l2, cosine: 0.9999 }
            })
            .collect();
        Trial { verdict, reason: String::new(), points }
    }

    #[test]
    fn the_pooled_gate_zeroes_an_epoch_of_passes_far_above_honest_noise() {
        let honest: Vec<Trial> = (0..10).map(|_| trial(Verdict::Pass, 1.0)).collect();
        assert!(!weight_zero(&honest, &random()).expect("scores"));
        // Every challenge passes, at 1.4 × the honest median: ln 1.4 = 0.336 > the bound at 10.
        let drifted: Vec<Trial> = (0..10).map(|_| trial(Verdict::Pass, 1.4)).collect();
        assert!(weight_zero(&drifted, &random()).expect("scores"));
        // The pass-rate gate still zeroes three failures of three.
        let failing: Vec<Trial> = (0..3).map(|_| trial(Verdict::Fail, 1.0)).collect();
        assert!(weight_zero(&failing, &random()).expect("scores"));
    }

    #[test]
    fn the_served_models_calibration_decides_what_honest_noise_is() {
        // Passes at 1.1 × the trained model's honest medians: honest noise for it, far above the
        // random model's (whose medians are up to 4 × smaller at the last layers).
        let trained = &assay_policy_sdk::calibration::TINY_TRAINED;
        let points = (0..16)
            .map(|i| {
                let layer = 1 + i % 4;
                PointMeasurement { layer, position: i, rel_l2: 1.1 * trained.honest_median(layer, 4), cosine: 0.9999 }
            })
            .collect::<Vec<_>>();
        let epoch: Vec<Trial> =
            (0..10).map(|_| Trial { verdict: Verdict::Pass, reason: String::new(), points: points.clone() }).collect();
        let trained_scoring = Scoring::new(4, 1).expect("the trained model's scoring");
        assert_eq!(trained_scoring.gate.calibration, trained);
        assert!(!weight_zero(&epoch, &trained_scoring).expect("scores"));
        assert!(weight_zero(&epoch, &random()).expect("scores"));
        assert!(Scoring::new(4, 2).is_err(), "no third calibration");
    }

    #[test]
    fn only_judged_trials_have_a_statistic() {
        assert!(trial(Verdict::Pass, 1.0).statistic(&TINY_RANDOM, 4).is_some_and(|s| s.abs() < 1e-12));
        assert_eq!(trial(Verdict::Void, 1.0).statistic(&TINY_RANDOM, 4), None);
        assert_eq!(Trial::failed("x".into()).statistic(&TINY_RANDOM, 4), None);
    }
}
