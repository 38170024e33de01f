//! The same policy source gives the same bits natively and as a component, across chained
//! epochs; the canonical input is stable. Components come from scripts/build-plugins.sh.

use std::path::PathBuf;

use assay_epoch::canonical;
use assay_epoch::synth::{Shape, generate};
use assay_policy_runtime::{Digest, Limits, Runtime};
use assay_policy_sdk::calibration;
use assay_policy_sdk::{
    Candidate, Measurements, MinerHistory, Opening, Param, PlanInput, PointMeasurement, TokenMeasurement,
};

fn plugin(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("ASSAY_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins"));
    let path = dir.join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; run scripts/build-plugins.sh first (scripts/test.sh does)", path.display())
    })
}

#[test]
fn constantinople_component_equals_native_over_chained_epochs() {
    let runtime = Runtime::new(None).expect("engine");
    let bytes = plugin("constantinople");
    let scorer = runtime.load_scorer(&Digest::of(&bytes), &bytes).expect("loads");
    let shape = Shape { netuid: 4, miners: 40, requests: 6000, challenges: 400, seed: 99 };
    let params = vec![Param { name: "state.decay".into(), value: 0.75 }];
    let mut state = Vec::new();
    for epoch in 0..4 {
        let input = generate(shape, epoch).input(epoch, params.clone(), state.clone()).expect("assembles");
        let native = assay_plugin_constantinople::score(&input).expect("native scores");
        let wasm = scorer.score(&input, Limits::default()).expect("component scores");
        assert_eq!(wasm.output, native, "epoch {epoch}: component and native differ");
        // Same bits, not merely equal floats.
        let bits = |o: &assay_policy_sdk::EpochOutput| o.scores.iter().map(|s| s.score.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&wasm.output), bits(&native));
        assert!(wasm.output.weights.iter().any(|w| w.weight == 65535));
        state = wasm.output.state;
    }
}

#[test]
fn constantinople_pooled_evidence_gate_is_the_same_bits_natively_and_as_a_component() {
    let runtime = Runtime::new(None).expect("engine");
    let bytes = plugin("constantinople");
    let scorer = runtime.load_scorer(&Digest::of(&bytes), &bytes).expect("loads");
    let shape = Shape { netuid: 4, miners: 40, requests: 6000, challenges: 400, seed: 7 };
    // The tiny random model's calibration (the default), then the trained one's.
    for calibration in [None, Some(1.0)] {
        let mut params = vec![Param { name: "evidence.layers".into(), value: 28.0 }];
        params.extend(calibration.map(|value| Param { name: "evidence.calibration".into(), value }));
        let mut input = generate(shape, 0).input(0, params, Vec::new()).expect("assembles");
        // The synthetic challenges have 4 points, too few to count: give each 16 (its 4, 4 times).
        input.challenges = input
            .challenges
            .iter()
            .map(|mut c| {
                c.points = c.points.iter().cycle().take(16).cloned().collect();
                c
            })
            .collect();
        let native = assay_plugin_constantinople::score(&input).expect("native scores");
        let wasm = scorer.score(&input, Limits::default()).expect("component scores");
        assert_eq!(wasm.output, native, "component and native differ ({calibration:?})");
        let bits = |o: &assay_policy_sdk::EpochOutput| {
            o.scores.iter().flat_map(|s| s.components.iter().map(|c| c.value.to_bits())).collect::<Vec<_>>()
        };
        assert_eq!(bits(&wasm.output), bits(&native));
        let gated = |o: &assay_policy_sdk::EpochOutput| {
            o.scores
                .iter()
                .filter(|s| s.components.iter().any(|c| c.name == "evidence_gated" && c.value == 1.0))
                .count()
        };
        // The synthetic cheats' errors (0.05 to 0.35) are far above honest noise.
        assert!(gated(&native) > 0, "some cheat is gated by the pooled evidence ({calibration:?})");
    }
}

#[test]
fn challenger_component_equals_native() {
    let runtime = Runtime::new(None).expect("engine");
    let bytes = plugin("adaptive-challenger");
    let challenger = runtime.load_challenger(&Digest::of(&bytes), &bytes).expect("loads");
    let plan_input = PlanInput {
        seed: (0..32).collect(),
        layers: 28,
        progress: 0.4,
        candidates: (0..3000)
            .map(|i| Candidate {
                request_id: i,
                uid: (i % 30) as u16,
                prompt_tokens: 40 + (i % 100) as u32,
                completion_tokens: 200,
            })
            .collect(),
        history: (0..30)
            .map(|uid| MinerHistory {
                uid,
                new: uid % 7 == 0,
                challenged: u32::from(uid % 4),
                recent_failures: u32::from(uid % 5 == 0),
                completed: 100,
            })
            .collect(),
        params: vec![],
    };
    let native = assay_plugin_adaptive_challenger::plan(&plan_input).expect("native plans");
    let wasm = challenger.plan(&plan_input, Limits::default()).expect("component plans");
    assert_eq!(wasm, native);
    assert!(native.len() > 300, "{} challenges planned", native.len());

    let trained_bytes = plugin("adaptive-challenger-trained");
    let trained = runtime.load_challenger(&Digest::of(&trained_bytes), &trained_bytes).expect("loads");
    assert_eq!(trained.plan(&plan_input, Limits::default()).expect("component plans"), native, "the same planner");
    let mut differ = 0;
    for (rel_l2, greedy, logprob) in
        [(0.001, true, -0.1), (0.03, true, -0.1), (0.5, false, -0.1), (0.001, false, -20.0)]
    {
        let m = Measurements {
            request_id: 1,
            uid: 2,
            greedy,
            opening: Opening::Verified,
            layers: 28,
            points: vec![PointMeasurement { layer: 27, position: 5, rel_l2, cosine: 0.999 }],
            tokens: vec![TokenMeasurement { rank: 0, logprob, top_logprob: logprob }; 50],
            prompt_match: true,
            eos_skipped: false,
        };
        let native = assay_plugin_adaptive_challenger::judge(&m, &calibration::TINY_RANDOM);
        assert_eq!(challenger.judge(&m, Limits::default()).expect("judges"), native, "{rel_l2} {greedy} {logprob}");
        let native_trained = assay_plugin_adaptive_challenger::judge(&m, &calibration::TINY_TRAINED);
        let judged = trained.judge(&m, Limits::default()).expect("judges");
        assert_eq!(judged, native_trained, "trained: {rel_l2} {greedy} {logprob}");
        differ += usize::from(native != native_trained);
    }
    // 0.03 at the last layers is a precision disagreement for the random model, honest noise for
    // the trained one: the two components judge with different tables.
    assert!(differ > 0, "the trained challenger judges like the random one");
}

#[test]
fn the_canonical_input_of_a_synthetic_epoch_is_stable() {
    // The generator and the canonical encoding together: a change to either shows here.
    let shape = Shape { netuid: 1, miners: 8, requests: 50, challenges: 5, seed: 1 };
    let json = canonical::encode(&generate(shape, 0).input(0, vec![], vec![]).expect("assembles")).expect("encodes");
    let again = canonical::encode(&generate(shape, 0).input(0, vec![], vec![]).expect("assembles")).expect("encodes");
    assert_eq!(json, again);
    assert_eq!(
        canonical::decode::<assay_policy_sdk::EpochInput>(&json).expect("decodes"),
        generate(shape, 0).input(0, vec![], vec![]).expect("assembles")
    );
}
