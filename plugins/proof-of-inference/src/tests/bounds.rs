//! The response-time bounds through `score`: which pass is a prover's sample, how many samples
//! the slow end takes, the widening of narrow bounds, and bounds refused as parameters.

use assay_policy_sdk::{Challenge, EpochOutput};

use super::{close, component, input, miner, pass, with_param};
use crate::score;

/// Scores `challenges` (miners 0 ..= the highest uid, bounds from the epoch) with `params`, and
/// checks each `(uid, rt)`: its mean normalized response time.
#[track_caller]
fn check(challenges: Vec<Challenge>, params: &[(&str, f64)], expected: &[(u16, f64)]) -> EpochOutput {
    let last = challenges.iter().map(|c| c.uid).max().expect("some challenge");
    let mut epoch = input((0..=last).map(|uid| miner(uid, 1_000)).collect(), challenges);
    for &(name, value) in params {
        epoch = with_param(epoch, name, value);
    }
    let out = score(&epoch).expect("scores");
    for &(uid, rt) in expected {
        close(component(&out, uid, "rt"), rt);
    }
    out
}

#[test]
fn a_provers_sample_is_its_latest_pass_not_its_fastest() {
    // Miner 0 passes at 100 then 500 ms: its sample is 500. Bounds 500 .. 2500 (the slowest of
    // three samples); miner 1 at 1500 is (1500 - 500) / 2000 = 0.5, miner 0 is 0 on both.
    let latest_slower = vec![pass(0, 100.0), pass(0, 500.0), pass(1, 1_500.0), pass(2, 2_500.0)];
    check(latest_slower, &[], &[(0, 0.0), (1, 0.5), (2, 0.99)]);
    // The other way round its sample is 100: bounds 100 .. 2500, miner 1 at 1400 / 2400.
    let latest_faster = vec![pass(0, 500.0), pass(0, 100.0), pass(1, 1_500.0), pass(2, 2_500.0)];
    check(latest_faster, &[], &[(0, (400.0 / 2_400.0) / 2.0), (1, 1_400.0 / 2_400.0)]);
}

#[test]
fn a_zero_ms_pass_counts_but_is_no_sample() {
    // The seed keeps only positive times as samples: bounds 300 .. 1300 from miners 1 and 2, so
    // miner 1 is the fastest (rt 0, not 300 / 1300), and miner 0's 0 ms pass is rt 0 too.
    let out = check(vec![pass(0, 0.0), pass(1, 300.0), pass(2, 1_300.0)], &[], &[(0, 0.0), (1, 0.0), (2, 0.99)]);
    assert_eq!(component(&out, 0, "passes"), 1.0);
    assert_eq!(component(&out, 0, "rt_ms"), 0.0);
    // n = 3, rt_norm 0: a tenth of the way to 1/3, as for miner 1.
    close(component(&out, 0, "s"), 0.1 / 3.0);
    assert_eq!(component(&out, 0, "s"), component(&out, 1, "s"));
}

#[test]
fn with_forty_provers_or_more_the_slow_end_is_a_median_of_several() {
    // Prover i passes at (i + 1) × 100 ms.
    let provers = |n: u16| (0..n).map(|uid| pass(uid, f64::from(uid + 1) * 100.0)).collect::<Vec<_>>();
    // 40: 5 % is 2 samples, 3900 and 4000, lower median 3900. Bounds 100 .. 3900: prover 19 at
    // 2000 ms is 1900 / 3800 = 0.5; prover 38 at 3900 reaches the top (0.99).
    check(provers(40), &[], &[(0, 0.0), (19, 0.5), (38, 0.99), (39, 0.99)]);
    // 60: 3 samples, 5800, 5900, 6000, median 5900. Bounds 100 .. 5900: prover 29 at 3000 ms is
    // 2900 / 5800 = 0.5; prover 57 at 5800 is 5700 / 5800.
    check(provers(60), &[], &[(29, 0.5), (57, 5_700.0 / 5_800.0), (58, 0.99)]);
}

#[test]
fn bounds_closer_than_a_second_are_widened_to_one() {
    // Bounds 100 .. 400 ms, 300 ms apart: widened to 1 s, miner 1 at 250 is 150 / 1000.
    let challenges = || vec![pass(0, 100.0), pass(1, 250.0), pass(2, 400.0)];
    check(challenges(), &[], &[(0, 0.0), (1, 0.15), (2, 0.3)]);
    // Allowed a 100 ms span they stand: 150 / 300 = 0.5.
    check(challenges(), &[("rt.min_span_ms", 100.0)], &[(1, 0.5), (2, 0.99)]);
}

#[test]
fn bounds_upside_down_are_refused() {
    let epoch = with_param(with_param(input(vec![miner(0, 1_000)], vec![]), "rt.min_ms", 500.0), "rt.max_ms", 400.0);
    let err = score(&epoch).expect_err("refused");
    assert_eq!(err, "parameter rt.max_ms = 400 is below rt.min_ms = 500");
}
