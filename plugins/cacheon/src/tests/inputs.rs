//! Inputs and parameters the policy refuses, each with an error naming what was wrong: a host
//! bug or a configuration typo is never scored around.

use super::{Epoch, miner, task};
use crate::{Config, defaults};

fn epoch() -> Epoch {
    Epoch::new(vec![task("chat", 1.0)], vec![miner(0), miner(1)])
}

fn err(e: &Epoch) -> String {
    crate::score(&e.input).expect_err("refused")
}

#[test]
fn defaults_are_the_seeds_numbers() {
    let cfg = Config::from_params(&[]).expect("defaults");
    assert_eq!((cfg.ttft_weight, cfg.tps_weight), (0.5, 0.5));
    assert_eq!((cfg.reward_winner, cfg.reward_runner_up), (0.8, 0.2));
    assert_eq!(cfg.leader_margin, 0.01);
    assert_eq!(cfg.pool_target, defaults::POOL_TARGET);
    assert_eq!(cfg.burn_uid, 0);
    assert_eq!(cfg.gate_epochs, 16);
}

#[test]
fn bad_parameters_are_errors() {
    for (name, value, says) in [
        ("gate.similarity", 1.5, "gate.similarity"),
        ("gate.mean_logprob", 0.5, "gate.mean_logprob"),
        ("gate.min_logprob", f64::NAN, "gate.min_logprob"),
        ("gate.epochs", 2.5, "whole number"),
        ("score.ttft_weight", -0.1, "score.ttft_weight"),
        ("competition.min_ok_share", 2.0, "competition.min_ok_share"),
        ("leader.margin", -0.01, "leader.margin"),
        ("reward.winner", 0.9, "sum to more than 1"),
        ("pool.target", 0.0, "pool.target"),
        ("pool.target", f64::INFINITY, "pool.target"),
        ("burn.uid", 65535.0, "burn.uid"),
        ("burn.uid", 1.5, "whole number"),
    ] {
        let mut e = epoch();
        e.param(name, value);
        let message = err(&e);
        assert!(message.contains(says), "{name} = {value}: {message}");
    }
}

#[test]
fn unknown_parameter_names_under_ours_are_refused() {
    for typo in ["gate.similarty", "score.ttft", "leader.margins", "reward.second", "pool.targets", "burn.uids"] {
        let mut e = epoch();
        e.param(typo, 1.0);
        assert!(err(&e).contains(typo), "{typo}");
    }
    // Names outside our prefixes belong to someone else and are left alone.
    let mut e = epoch();
    e.param("host.epoch_blocks", 360.0).param("period.decay", 0.5);
    assert!(crate::score(&e.input).is_ok());
}

#[test]
fn malformed_inputs_are_errors() {
    let mut e = epoch();
    e.state(b"garbage".to_vec());
    assert!(err(&e).contains("state blob"));
    let mut e = epoch();
    e.push(super::request(1, 0, 10, 1.0, 2.0));
    e.input.requests.outcome.pop();
    assert!(err(&e).contains("requests"));
    let mut e = epoch();
    e.push(super::request(1, 0, 10, 1.0, 2.0)).check(&super::greedy_tokens(2, -0.1));
    e.input.token_checks.request[0] = 999;
    assert!(err(&e).contains("past the end"));
    let mut e = epoch();
    e.push(super::request(1, 0, 10, 1.0, 2.0)).check(&super::greedy_tokens(2, -0.1));
    e.input.token_checks.logprob.pop();
    assert!(err(&e).contains("token checks"));
    let mut e = epoch();
    e.input.challenges.verdict.push(assay_policy_sdk::Verdict::Fail);
    assert!(err(&e).contains("challenges"));
    let mut e = epoch();
    e.input.miners.push(miner(1));
    assert!(err(&e).contains("listed twice"));
    let mut e = epoch();
    e.input.miners.reverse();
    assert!(err(&e).contains("not sorted by uid"));
    let mut e = epoch();
    e.input.miners.push(miner(assay_policy_sdk::NO_MINER));
    assert!(err(&e).contains("baseline's"));
    let mut e = epoch();
    e.input.miners = (0..257).map(miner).collect();
    assert!(err(&e).contains("more than 256"));
}

#[test]
fn tasks_must_have_distinct_names_and_weights_summing_to_1() {
    let err = |tasks: Vec<assay_policy_sdk::Task>| {
        let e = Epoch::new(tasks, vec![miner(0)]);
        crate::score(&e.input).expect_err("refused")
    };
    assert!(err(vec![task("chat", 0.5), task("chat", 0.5)]).contains("same name"));
    // Distinct, but the same once cut to fit `<name>.baseline_ttft_ms` into 64 bytes.
    let long = "t".repeat(47);
    assert!(err(vec![task(&format!("{long}a"), 0.5), task(&format!("{long}b"), 0.5)]).contains("same name"));
    assert!(err(vec![task("chat", 0.6), task("code", 0.6)]).contains("sum to"));
    assert!(err(vec![task("chat", f64::NAN)]).contains("outside [0, 1]"));
    assert!(err((0..65).map(|i| task(&format!("t{i}"), 1.0 / 65.0)).collect()).contains("more than 64"));
}
