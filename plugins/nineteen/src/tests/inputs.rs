//! Inputs and parameters the policy refuses, each with an error naming what was wrong: a host
//! bug or a configuration typo is never scored around.

use super::epoch::honest_and_rate_limiting;
use super::{Epoch, miner, task};

#[test]
fn malformed_inputs_and_parameters_are_errors() {
    let err = |e: &Epoch| crate::score(&e.input).expect_err("refused");
    let mut e = honest_and_rate_limiting();
    e.param("period.decay", 2.0);
    assert!(err(&e).contains("period.decay"));
    let mut e = honest_and_rate_limiting();
    e.param("period.history", 2.5);
    assert!(err(&e).contains("whole number"));
    let mut e = honest_and_rate_limiting();
    e.param("period.history", 8.0);
    assert!(err(&e).contains("must be below period.history"));
    let mut e = honest_and_rate_limiting();
    e.param("token.distance_zero", 0.1);
    assert!(err(&e).contains("must exceed"));
    let mut e = honest_and_rate_limiting();
    e.state(b"garbage".to_vec());
    assert!(err(&e).contains("state blob"));
    let mut e = honest_and_rate_limiting();
    e.input.requests.outcome.pop();
    assert!(err(&e).contains("requests"));
    let mut e = honest_and_rate_limiting();
    e.input.token_checks.request[0] = 999;
    assert!(err(&e).contains("past the end"));
    let mut e = honest_and_rate_limiting();
    e.input.miners.push(miner(1, &[]));
    assert!(err(&e).contains("listed twice"));
    let mut e = honest_and_rate_limiting();
    e.input.tasks[0].weight = f64::NAN;
    assert!(err(&e).contains("weight"));
    let mut e = honest_and_rate_limiting();
    e.param("capacity.max", 0.0);
    assert!(err(&e).contains("capacity.max"));
    let mut e = honest_and_rate_limiting();
    e.param("capacity.max.chat", 0.5);
    assert!(err(&e).contains("capacity.max.chat"));
}

#[test]
fn tasks_must_have_distinct_names_and_weights_summing_to_1() {
    let err = |tasks: Vec<assay_policy_sdk::Task>| {
        let e = Epoch::new(tasks, vec![miner(0, &[(0, 1000)])]);
        crate::score(&e.input).expect_err("refused")
    };
    assert!(err(vec![task("chat", 0.5), task("chat", 0.5)]).contains("same name"));
    // Distinct, but the same once cut to fit `<name>.speed_bonus` into 64 bytes.
    let long = "t".repeat(60);
    assert!(err(vec![task(&format!("{long}a"), 0.5), task(&format!("{long}b"), 0.5)]).contains("same name"));
    assert!(err(vec![task("chat", 0.6), task("code", 0.6)]).contains("sum to"));
    assert!(err(vec![task("chat", 1.5), task("code", -0.5)]).contains("outside [0, 1]"));
    assert!(err(vec![task("chat", 0.5)]).contains("sum to"));
    // Within 1e-9 of 1 is 1.
    let e = Epoch::new(vec![task("a", 0.1), task("b", 0.2), task("c", 0.7 + 5e-10)], vec![miner(0, &[(0, 1000)])]);
    assert!(crate::score(&e.input).is_ok());
}

#[test]
fn unknown_parameter_names_under_ours_are_refused() {
    let err = |name: &str| {
        let mut e = honest_and_rate_limiting();
        e.param(name, 1.0);
        crate::score(&e.input).expect_err("refused")
    };
    for typo in ["period.histroy", "token.max_ranks", "speed.percentil", "gate.epoch", "capacity.max.code", "state.max"]
    {
        assert!(err(typo).contains(typo), "{typo}");
    }
    // Names outside our prefixes belong to someone else and are left alone.
    let mut e = honest_and_rate_limiting();
    e.param("host.epoch_blocks", 360.0).param("capacity.max.chat", 10.0);
    assert!(crate::score(&e.input).is_ok());
}
