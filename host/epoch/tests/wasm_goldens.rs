//! The wasm32 builds reproduce the native goldens: `target/plugins/nineteen.wasm` scores each
//! `plugins/nineteen/golden/epoch-N.input.json`, and `proof-of-inference.wasm`, `cacheon.wasm` and
//! `consensus.wasm` each of their `plugins/NAME/golden/`, through `assay_policy_runtime`, and the output is the
//! committed `epoch-N.output.json` byte for byte (serde's JSON of the output, the host's
//! canonical form). Each epoch's input carries the state the previous output returned, so the
//! state hand-over is compared too.
//!
//! The components come from scripts/build-plugins.sh. Not built, the test says so and passes,
//! unless `ASSAY_REQUIRE_PLUGINS=1` (scripts/test.sh sets it after building them).

use std::path::PathBuf;

use assay_epoch::canonical;
use assay_policy_runtime::{ContractVersion, Digest, Limits, Runtime};
use assay_policy_sdk::{EpochInput, EpochOutput};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The component `name`, or `None` (after saying why) when it is not built and not required.
fn plugin(name: &str) -> Option<Vec<u8>> {
    let dir = std::env::var_os("ASSAY_PLUGIN_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target/plugins"));
    let path = dir.join(format!("{name}.wasm"));
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(e) if std::env::var_os("ASSAY_REQUIRE_PLUGINS").is_some_and(|v| v == "1") => {
            panic!("{}: {e}; the plugins are required (ASSAY_REQUIRE_PLUGINS=1)", path.display())
        }
        Err(e) => {
            eprintln!("skipped: {}: {e} (build the plugins with scripts/build-plugins.sh)", path.display());
            None
        }
    }
}

/// Scores every `epoch-N.input.json` in `golden` (N from 1 up) with the component `name` and
/// compares the output with `epoch-N.output.json`; returns the outputs.
fn check(name: &str, golden: &str, epochs: u64) -> Vec<EpochOutput> {
    let Some(bytes) = plugin(name) else { return Vec::new() };
    let runtime = Runtime::new(None).expect("engine");
    let scorer = runtime.load_scorer(&Digest::of(&bytes), &bytes).expect("loads");
    assert_eq!(scorer.version(), ContractVersion::V0_2);
    let dir = root().join(golden);
    let mut outputs: Vec<EpochOutput> = Vec::new();
    for number in 1..=epochs {
        let read = |kind: &str| {
            let path = dir.join(format!("epoch-{number}.{kind}.json"));
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        let input: EpochInput = canonical::decode(&read("input")).expect("the golden input is canonical");
        if let Some(previous) = outputs.last() {
            assert_eq!(input.state, previous.state, "{golden} epoch {number}: the state epoch {} returned", number - 1);
        }
        let output = scorer.score(&input, Limits::default()).expect("the component scores").output;
        let json = serde_json::to_vec(&output).expect("serializes");
        let expected = read("output");
        if json != expected {
            let native: EpochOutput = serde_json::from_slice(&expected).expect("golden output parses");
            let first = json.iter().zip(&expected).position(|(a, b)| a != b).unwrap_or(json.len().min(expected.len()));
            let at = first.saturating_sub(80);
            panic!(
                "{golden} epoch {number}: the wasm32 build differs from the native golden at byte {first}:\n  wasm   …{}\n  native …{}\n(weights equal: {})",
                String::from_utf8_lossy(&json[at..(first + 80).min(json.len())]),
                String::from_utf8_lossy(&expected[at..(first + 80).min(expected.len())]),
                native.weights == output.weights,
            );
        }
        outputs.push(output);
    }
    outputs
}

#[test]
fn nineteen_wasm_reproduces_the_native_golden_epochs() {
    let outputs = check("nineteen", "plugins/nineteen/golden", 3);
    if let Some(last) = outputs.last() {
        assert!(last.weights.iter().any(|w| w.weight == 65535));
    }
}

#[test]
fn proof_of_inference_wasm_reproduces_the_native_busy_epochs() {
    let outputs = check("proof-of-inference", "plugins/proof-of-inference/golden", 2);
    if let Some(first) = outputs.first() {
        assert!(first.weights.iter().any(|w| w.weight == 65535));
    }
}

/// The weight `uid` gets in `output`, 0 when it is not named.
fn weight_of(output: &EpochOutput, uid: u16) -> u16 {
    output.weights.iter().find(|w| w.uid == uid).map_or(0, |w| w.weight)
}

#[test]
fn cacheon_wasm_reproduces_the_native_golden_epochs() {
    let outputs = check("cacheon", "plugins/cacheon/golden", 3);
    if let [first, .., last] = outputs.as_slice() {
        // uid 25 leads epoch 1, then fails a challenge: gated from epoch 2 on; uid 3 takes the lead.
        assert_eq!(weight_of(first, 25), 65535);
        assert_eq!((weight_of(last, 25), weight_of(last, 3)), (0, 65535));
    }
}

#[test]
fn consensus_wasm_reproduces_the_native_golden_epochs() {
    let outputs = check("consensus", "plugins/consensus/golden", 3);
    if let Some(last) = outputs.last() {
        // uid 18 fails a challenge in epoch 2 and stays gated; the honest hosters stay near the top.
        assert_eq!(weight_of(last, 18), 0);
        assert!([3, 7, 12].iter().all(|&uid| weight_of(last, uid) > 60_000));
    }
}
