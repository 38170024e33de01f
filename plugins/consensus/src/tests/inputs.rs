//! Inputs and parameters the policy refuses, each with an error naming what was wrong: a host
//! bug or a configuration typo is never scored around.

use assay_policy_sdk::{Reveal, Task};

use super::{Epoch, invalid, miner, valid};

/// Two miners, one round, both valid.
fn pair() -> Epoch {
    let mut e = Epoch::new(&[0, 1]);
    e.row(valid(0, 0, &[1.0, 2.0])).row(valid(0, 1, &[3.0, 4.0])).pass(&[0, 1]);
    e
}

#[test]
fn bad_parameters_are_errors() {
    let err = |name: &str, value: f64| {
        let mut e = pair();
        e.param(name, value);
        e.error()
    };
    assert!(err("round.min_valid", 0.0).contains("round.min_valid"));
    assert!(err("round.min_valid", 257.0).contains("outside"));
    assert!(err("round.min_valid", 1.5).contains("whole number"));
    assert!(err("round.min_valid", f64::NAN).contains("round.min_valid"));
    assert!(err("mean.verified_only", 2.0).contains("mean.verified_only"));
    assert!(err("mean.verified_only", -1.0).contains("mean.verified_only"));
    assert!(err("gate.epochs", -1.0).contains("gate.epochs"));
    assert!(err("gate.epochs", 65536.0).contains("gate.epochs"));
    assert!(err("gate.epochs", f64::INFINITY).contains("gate.epochs"));
    for typo in ["round.min_vaild", "mean.verified", "gate.epoch"] {
        assert!(err(typo, 1.0).contains(typo), "{typo}");
    }
    // Names outside our prefixes belong to someone else and are left alone.
    let mut e = pair();
    e.param("host.epoch_blocks", 360.0).param("capacity.max", 10.0);
    assert!(crate::score(&e.input).is_ok());
}

#[test]
fn malformed_inputs_are_errors() {
    let mut e = pair();
    e.state(b"garbage".to_vec());
    assert!(e.error().contains("state blob"));
    let mut e = pair();
    e.input.miners.push(miner(1));
    assert!(e.error().contains("listed twice"));
    let mut e = pair();
    e.input.miners = (0..257).map(miner).collect();
    assert!(e.error().contains("more than 256"));
    let mut e = pair();
    e.input.challenges.verdict.pop();
    assert!(e.error().contains("challenges"));
    // Rows out of (round, uid) order, and the same row twice.
    let mut e = pair();
    e.input.commit_reveals.swap(0, 1);
    assert!(e.error().contains("not sorted"));
    let mut e = pair();
    e.row(valid(0, 1, &[3.0, 4.0]));
    assert!(e.error().contains("repeated"));
    let mut e = pair();
    e.row(invalid(1, 0, Reveal::Late)).row(valid(0, 1, &[3.0, 4.0]));
    assert!(e.error().contains("not sorted"));
    // A task past the epoch's tasks; a round over two tasks.
    let mut e = pair();
    e.input.commit_reveals[1].task = 1;
    assert!(e.error().contains("past the epoch's tasks"));
    e.input.tasks.push(Task { name: "other".to_string(), weight: 0.0 });
    assert!(e.error().contains("names tasks 0 and 1"));
    let mut e = pair();
    e.input.tasks.clear();
    assert!(e.error().contains("past the epoch's tasks"));
}
