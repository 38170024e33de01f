//! A challenger's output is checked against its input before the host acts on it: a plan that
//! names a request twice, a point twice, a layer or a position the request does not have, too
//! many points or none, and a judgement with an endless reason are refused as the policy's fault,
//! and the same loaded challenger goes on working.
//!
//! Components come from scripts/build-plugins.sh (scripts/test.sh runs it first).

use std::path::PathBuf;

use assay_policy_runtime::{Challenger, Digest, Error, Limits, Runtime};
use assay_policy_sdk::{Candidate, Measurements, Opening, Param, PlanInput, Verdict};

fn plugin(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("ASSAY_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins"));
    let path = dir.join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; run scripts/build-plugins.sh first (scripts/test.sh does)", path.display())
    })
}

fn challenger(name: &str) -> Challenger {
    let bytes = plugin(name);
    Runtime::new(None).expect("engine").load_challenger(&Digest::of(&bytes), &bytes).expect("loads")
}

const SMALL: Limits = Limits { fuel: 200_000_000, memory_bytes: 32 << 20, ..Limits::DEFAULT };

/// Three requests of 10 prompt and 5 completion tokens, on a model of 4 layers.
fn plan_input(mode: f64) -> PlanInput {
    PlanInput {
        seed: vec![7; 32],
        layers: 4,
        progress: 0.5,
        candidates: (10..13)
            .map(|id| Candidate { request_id: id, uid: 1, prompt_tokens: 10, completion_tokens: 5 })
            .collect(),
        history: vec![],
        params: vec![Param { name: "mode".into(), value: mode }],
    }
}

fn measurements(request_id: u64) -> Measurements {
    Measurements {
        request_id,
        uid: 1,
        greedy: true,
        opening: Opening::Verified,
        layers: 4,
        points: vec![],
        tokens: vec![],
        prompt_match: true,
        eos_skipped: false,
    }
}

#[test]
fn bad_plans_are_refused_and_the_challenger_keeps_working() {
    let challenger = challenger("misbehave-challenger");
    let refused = |mode: f64, mentions: &str| {
        let err = challenger.plan(&plan_input(mode), SMALL).expect_err("refused");
        assert!(matches!(err, Error::InvalidOutput(_)), "mode {mode}: {err}");
        assert!(err.is_policy_fault(), "mode {mode}: {err}");
        assert!(err.to_string().contains(mentions), "mode {mode}: {err} should mention {mentions:?}");
        let plan = challenger.plan(&plan_input(0.0), SMALL).expect("plans after a refusal");
        assert_eq!(plan.len(), 3);
    };
    refused(2.0, "names request 10 twice");
    refused(3.0, "names point (1, 0) twice");
    refused(4.0, "layer 5, past the model's 4");
    refused(5.0, "position 15, outside its 15 tokens");
    refused(6.0, "100000 points, more than");
    refused(7.0, "request 13, which is not a candidate");
    refused(8.0, "names no points");
    let err = challenger.plan(&plan_input(1.0), SMALL).expect_err("loops");
    assert!(matches!(err, Error::OutOfFuel { .. }), "{err}");
    let err = challenger.plan(&plan_input(9.0), SMALL).expect_err("refuses");
    assert!(matches!(err, Error::Refused(_)), "{err}");
}

#[test]
fn a_judgement_with_an_endless_reason_is_refused() {
    let challenger = challenger("misbehave-challenger");
    let err = challenger.judge(&measurements(1), SMALL).expect_err("refused");
    assert!(matches!(err, Error::InvalidOutput(_)), "{err}");
    assert!(err.to_string().contains("reason of 1048576 bytes"), "{err}");
    assert!(err.to_string().len() < 200, "the refusal does not carry the reason itself: {err}");
    let err = challenger.judge(&measurements(2), SMALL).expect_err("loops");
    assert!(matches!(err, Error::OutOfFuel { .. }), "{err}");
    let j = challenger.judge(&measurements(3), SMALL).expect("judges after a refusal");
    assert_eq!((j.verdict, j.reason.as_str()), (Verdict::Pass, "judged"));
}

#[test]
fn the_shipped_challenger_plans_within_the_bounds() {
    let challenger = challenger("adaptive-challenger");
    // Candidates with no tokens at all are planned at position 0 (the evidence check then
    // settles whose fault it is); one of 200 tokens within them.
    let mut input = plan_input(0.0);
    input.layers = 28;
    input.progress = 1.0;
    input.candidates.push(Candidate { request_id: 20, uid: 2, prompt_tokens: 0, completion_tokens: 0 });
    input.candidates.push(Candidate { request_id: 21, uid: 2, prompt_tokens: 50, completion_tokens: 150 });
    let plan = challenger.plan(&input, Limits::DEFAULT).expect("plans");
    assert!(plan.iter().any(|p| p.request_id == 20), "{plan:?}");
}
