//! The challenger slot: a challenger whose plan is refused as its own fault gives its epoch back
//! to the previous challenger while it has judged nothing there (the summary names one
//! challenger per epoch), and is not taken up again at the next boundary.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use assay_ledger::{ChallengeRow, Ledger, SqliteLedger};
use assay_node::slots::{ACTIVE_CHALLENGER, ChallengerSlot, PolicySource, challenger_of_epoch};
use assay_policy_runtime::{Digest, PolicyStore, Runtime};
use assay_policy_sdk::{Challenge, Verdict};
use assay_verify::Challengers;

fn plugin(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("ASSAY_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins"));
    let path = dir.join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run scripts/build-plugins.sh first", path.display()))
}

struct Fixture {
    _dir: tempfile::TempDir,
    ledger: Arc<dyn Ledger>,
    source: PolicySource,
    good: Digest,
    bad: Digest,
}

/// adaptive-challenger configured, misbehave-challenger in the store too.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(&dir.path().join("ledger.db")).expect("ledger"));
    let policies = PolicyStore::open(dir.path().join("policies")).expect("store");
    let good = policies.add(&plugin("adaptive-challenger")).expect("adds");
    let bad = policies.add(&plugin("misbehave-challenger")).expect("adds");
    let source = PolicySource {
        ledger: ledger.clone(),
        policies,
        runtime: Runtime::new(Some(&dir.path().join("cache"))).expect("runtime"),
        default_scorer: None,
        default_challenger: Some(good.to_string()),
    };
    Fixture { _dir: dir, ledger, source, good, bad }
}

fn digest(slot: &ChallengerSlot, epoch: u64) -> Digest {
    slot.for_epoch(epoch).expect("a challenger").digest()
}

#[test]
fn a_challenger_whose_plan_is_refused_gives_its_epoch_back() {
    let fx = fixture();
    let slot = ChallengerSlot::open(fx.source.clone(), 0).expect("opens");
    assert_eq!(digest(&slot, 0), fx.good);
    fx.ledger.set_setting(ACTIVE_CHALLENGER, &fx.bad.to_string()).expect("activates");
    assert_eq!(digest(&slot, 1), fx.bad);

    assert!(slot.plan_refused(1, fx.bad, "plan names request 1 twice"), "the previous one takes over");
    assert_eq!(digest(&slot, 1), fx.good);
    assert_eq!(fx.ledger.setting(&challenger_of_epoch(1)).expect("reads"), Some(fx.good.to_string()));
    assert_eq!(digest(&slot, 2), fx.good, "the refused one is not taken up at the next boundary");
    assert!(!slot.plan_refused(1, fx.bad, "late"), "a second report changes nothing");
}

#[test]
fn a_challenger_that_has_judged_or_has_no_predecessor_keeps_its_epoch() {
    let fx = fixture();
    let slot = ChallengerSlot::open(fx.source.clone(), 10).expect("opens");
    fx.ledger.set_setting(ACTIVE_CHALLENGER, &fx.bad.to_string()).expect("activates");
    assert_eq!(digest(&slot, 11), fx.bad);
    let judged = Challenge {
        request_id: 1,
        uid: 1,
        points: vec![],
        verdict: Verdict::Pass,
        reason: "ok".into(),
        response_ms: Some(5.0),
    };
    fx.ledger.record_challenges(11, &[ChallengeRow::from_record(&judged)]).expect("records");
    assert!(!slot.plan_refused(11, fx.bad, "plan names request 1 twice"));
    assert_eq!(digest(&slot, 11), fx.bad, "the epoch's verdicts were its");

    // A restart with the refused challenger active: nothing came before it.
    let restarted = ChallengerSlot::open(fx.source.clone(), 20).expect("opens");
    assert_eq!(digest(&restarted, 20), fx.bad);
    assert!(!restarted.plan_refused(20, fx.bad, "plan names request 1 twice"));
    assert_eq!(digest(&restarted, 21), fx.bad, "nothing else is at hand");
}
