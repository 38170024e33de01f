//! The 0.2.0 ports of constantinople and the adaptive challenger compute what their 0.1.0
//! builds computed, on the same data: a synthetic 0.2.0 epoch through the port against its
//! down-conversion through the 0.1.0 component (chained, so the state hand-over is compared
//! too), and plan and judge inputs through both challengers, except where a rule changed on
//! purpose since (pinned below).
//!
//! The 0.2.0 components come from scripts/build-plugins.sh; the 0.1.0 ones are the golden
//! fixture's constantinople and the challenger scripts/make-v0.1-plugins.sh rebuilt from history.

use std::path::{Path, PathBuf};

use assay_epoch::synth::{Shape, generate};
use assay_policy_runtime::{ContractVersion, Digest, Limits, Runtime};
use assay_policy_sdk::{
    Candidate, Measurements, MinerHistory, Opening, Param, PlanInput, PointMeasurement, TokenMeasurement, Verdict, v0_1,
};

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| {
        panic!("{}: {e}; run scripts/build-plugins.sh first (scripts/test.sh does)", path.display())
    })
}

/// A built 0.2.0 plugin; `None` (the test skips, saying why) when the plugins are not built,
/// unless `ASSAY_REQUIRE_PLUGINS=1` (scripts/test.sh sets it once it built them).
fn plugin(name: &str) -> Option<Vec<u8>> {
    let dir = std::env::var_os("ASSAY_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins"));
    let path = dir.join(format!("{name}.wasm"));
    if path.is_file() || std::env::var_os("ASSAY_REQUIRE_PLUGINS").is_some_and(|v| v == "1") {
        return Some(read(&path));
    }
    eprintln!("skipped: {} is not built (scripts/build-plugins.sh builds it)", path.display());
    None
}

fn here(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

const GOLDEN_CONSTANTINOPLE: &str =
    "../cli/tests/fixtures/golden/policies/6553c9e1265d0388bf6297a0798d0ef1fd5059ba340db2aa03d573c098209a41.wasm";

#[test]
fn ported_constantinople_scores_as_its_0_1_build() {
    let runtime = Runtime::new(None).expect("engine");
    let Some(new) = plugin("constantinople") else { return };
    let old = read(&here(GOLDEN_CONSTANTINOPLE));
    let old = runtime.load_scorer(&Digest::of(&old), &old).expect("loads 0.1.0");
    let new = runtime.load_scorer(&Digest::of(&new), &new).expect("loads 0.2.0");
    assert_eq!((old.version(), new.version()), (ContractVersion::V0_1, ContractVersion::V0_2));
    let shape = Shape { netuid: 2, miners: 24, requests: 3000, challenges: 300, seed: 17 };
    let params = vec![Param { name: "state.decay".into(), value: 0.6 }];
    let mut state = Vec::new();
    for epoch in 0..3 {
        let input = generate(shape, epoch).input(epoch, params.clone(), state.clone()).expect("assembles");
        assert!(!input.token_checks.is_empty() && input.tasks.len() == 2, "a full 0.2.0 input");
        let ported = new.score(&input, Limits::default()).expect("0.2.0 scores").output;
        let original = old.score_v0_1(&v0_1::from_v0_2(&input), Limits::default()).expect("0.1.0 scores").output;
        assert_eq!(ported, original, "epoch {epoch}: the port and the 0.1.0 build differ");
        assert!(ported.weights.iter().any(|w| w.weight == 65535));
        assert!(ported.weights.iter().any(|w| w.uid % 8 == 7 && w.weight == 0), "cheats are gated");
        state = ported.state;
    }
}

fn plan_input(candidates: u64, progress: f64) -> PlanInput {
    PlanInput {
        seed: (0..32).map(|i| i * 7).collect(),
        layers: 28,
        progress,
        candidates: (0..candidates)
            .map(|i| Candidate {
                request_id: i,
                uid: (i % 20) as u16,
                prompt_tokens: 30 + (i % 90) as u32,
                completion_tokens: (i % 300) as u32,
            })
            .collect(),
        history: (0..20)
            .map(|uid| MinerHistory {
                uid,
                new: uid % 6 == 0,
                challenged: u32::from(uid % 3),
                recent_failures: u32::from(uid % 4 == 1),
                completed: 50 + u32::from(uid),
            })
            .collect(),
        // The 0.1.0 default; the port's is 16 since decision 0012, and both read the param.
        params: vec![Param { name: "min_per_epoch".into(), value: 5.0 }],
    }
}

fn measurements(rel_l2: f64, greedy: bool, logprob: f64, opening: Opening, prompt_match: bool) -> Measurements {
    Measurements {
        request_id: 3,
        uid: 4,
        greedy,
        opening,
        layers: 28,
        points: vec![PointMeasurement { layer: 14, position: 2, rel_l2, cosine: 1.0 - rel_l2 }],
        tokens: vec![TokenMeasurement { rank: u32::from(logprob < -5.0), logprob, top_logprob: -0.05 }; 40],
        prompt_match,
        eos_skipped: false,
    }
}

#[test]
fn ported_adaptive_challenger_plans_and_judges_as_its_0_1_build() {
    let runtime = Runtime::new(None).expect("engine");
    let Some(new) = plugin("adaptive-challenger") else { return };
    let old = read(&here("tests/fixtures/v0.1/adaptive-challenger.wasm"));
    let old = runtime.load_challenger(&Digest::of(&old), &old).expect("loads 0.1.0");
    let new = runtime.load_challenger(&Digest::of(&new), &new).expect("loads 0.2.0");
    assert_eq!((old.version(), new.version()), (ContractVersion::V0_1, ContractVersion::V0_2));
    for (candidates, progress) in [(0, 0.0), (50, 0.1), (2000, 0.5), (4000, 0.95)] {
        let input = plan_input(candidates, progress);
        let ported = new.plan(&input, Limits::default()).expect("0.2.0 plans");
        assert_eq!(ported, old.plan(&input, Limits::default()).expect("0.1.0 plans"), "{candidates} candidates");
    }
    for m in [
        measurements(0.001, true, -0.1, Opening::Verified, true),
        measurements(0.07, true, -0.1, Opening::Verified, true),
        measurements(0.6, false, -0.1, Opening::Verified, true),
        measurements(0.001, false, -20.0, Opening::Verified, true),
        measurements(0.001, true, -0.1, Opening::Missed, true),
        measurements(0.001, true, -0.1, Opening::Invalid, true),
        measurements(0.001, true, -0.1, Opening::Verified, false),
    ] {
        let ported = new.judge(&m, Limits::default()).expect("0.2.0 judges");
        let original = old.judge(&m, Limits::default()).expect("0.1.0 judges");
        // The port's reasons may add how many points were past their thresholds.
        assert_eq!(ported.verdict, original.verdict, "{m:?}");
        assert!(ported.reason.starts_with(&original.reason), "{:?} against {:?}", ported.reason, original.reason);
    }
    // Where the rules changed on purpose (decision 0012): one point between 2 and 4 thresholds
    // with no other point past its own failed in 0.1.0 and voids as a lone outlier now.
    let lone = measurements(0.04, true, -0.1, Opening::Verified, true);
    let (old, new) = (old.judge(&lone, Limits::default()), new.judge(&lone, Limits::default()));
    let (old, new) = (old.expect("0.1.0 judges"), new.expect("0.2.0 judges"));
    assert_eq!(old.verdict, Verdict::Fail, "{}", old.reason);
    assert_eq!(new.verdict, Verdict::Void, "{}", new.reason);
    assert!(new.reason.contains("lone outlier"), "{}", new.reason);
}
