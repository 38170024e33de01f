//! Whole epochs through the policy: distances to the mean, refused reveals, the verified-only
//! mean and its fallback, the gate and its state, lengths, several rounds, and edge cases.

use assay_policy_sdk::{Reveal, Verdict};

use super::{Epoch, close, component, invalid, score_of, valid, weight};
use crate::State;

/// Miners 0 to 6, one round of hidden size 2: uids 0, 1, 2 reveal (7, 10), (−5, −6), (1, 2),
/// whose mean is (1, 2); uid 3 mismatches, uid 4 is late, uid 5 misses, uid 6 has no row.
/// Every miner passes a challenge.
fn one_round() -> Epoch {
    let mut e = Epoch::new(&[0, 1, 2, 3, 4, 5, 6]);
    e.row(valid(0, 0, &[7.0, 10.0]))
        .row(valid(0, 1, &[-5.0, -6.0]))
        .row(valid(0, 2, &[1.0, 2.0]))
        .row(invalid(0, 3, Reveal::Mismatch))
        .row(invalid(0, 4, Reveal::Late))
        .row(invalid(0, 5, Reveal::Missing))
        .pass(&[0, 1, 2, 3, 4, 5, 6]);
    e
}

#[test]
fn each_valid_reveal_scores_by_its_distance_to_the_mean() {
    let out = one_round().score();
    // Mean ((7 − 5 + 1) / 3, (10 − 6 + 2) / 3) = (1, 2). uid 0: (6, 8), distance 10, 1/11;
    // uid 1: (−6, −8), 10, 1/11; uid 2: at the mean, 1.
    close(score_of(&out, 0), 1.0 / 11.0);
    close(score_of(&out, 1), 1.0 / 11.0);
    assert_eq!(score_of(&out, 2), 1.0);
    assert_eq!(component(&out, 0, "mean_distance"), Some(10.0));
    assert_eq!(component(&out, 2, "mean_distance"), Some(0.0));
    // Mismatch, late, missing: 0 and refused; no row: 0 and absent.
    for uid in [3, 4, 5] {
        assert_eq!(score_of(&out, uid), 0.0);
        assert_eq!(component(&out, uid, "refused_rounds"), Some(1.0));
        assert_eq!(component(&out, uid, "mean_distance"), None);
    }
    assert_eq!(score_of(&out, 6), 0.0);
    assert_eq!(component(&out, 6, "absent_rounds"), Some(1.0));
    assert_eq!(component(&out, 2, "scored_rounds"), Some(1.0));
    assert_eq!(component(&out, 2, "verified"), Some(1.0));
    // Weights: uid 2 65535; 1/11 of it is 5957.7…: 5958; the rest 0.
    let weights: Vec<u16> = (0..7).map(|uid| weight(&out, uid)).collect();
    assert_eq!(weights, vec![5958, 5958, 65535, 0, 0, 0, 0]);
    // Nobody gated: an empty state, just the header.
    assert_eq!(out.state, b"CNS\x01");
}

#[test]
fn only_verified_miners_define_the_mean_by_default() {
    // uid 7, never challenged, reveals (1, 32): it is scored against the verified mean (1, 2),
    // distance 30, 1/31, and does not move it.
    let mut e = one_round();
    e.input.miners.push(super::miner(7));
    e.row(valid(0, 7, &[1.0, 32.0]));
    let out = e.score();
    assert_eq!(component(&out, 7, "verified"), Some(0.0));
    close(score_of(&out, 7), 1.0 / 31.0);
    assert_eq!(score_of(&out, 2), 1.0);
    // With mean.verified_only 0 it counts: mean ((7 − 5 + 1 + 1) / 4, (10 − 6 + 2 + 32) / 4) =
    // (1, 9.5). uid 2: (0, −7.5), 7.5, 1/8.5; uid 7: (0, 22.5), 1/23.5; uid 0: (6, 0.5),
    // √36.25.
    e.param("mean.verified_only", 0.0);
    let out = e.score();
    close(score_of(&out, 2), 1.0 / 8.5);
    close(score_of(&out, 7), 1.0 / 23.5);
    close(score_of(&out, 0), 1.0 / (1.0 + 36.25_f64.sqrt()));
}

#[test]
fn without_verified_miners_the_mean_falls_back_to_every_ungated_one() {
    // Nobody challenged: the same scores as in `one_round`, from every valid reveal.
    let mut e = one_round();
    e.input.challenges = Default::default();
    e.challenge(0, Verdict::Void);
    let out = e.score();
    close(score_of(&out, 0), 1.0 / 11.0);
    assert_eq!(score_of(&out, 2), 1.0);
    assert_eq!(component(&out, 2, "verified"), Some(0.0));
    // One verified miner and round.min_valid 2: too few verified, so every reveal again.
    e.pass(&[2]).param("round.min_valid", 2.0);
    close(score_of(&e.score(), 0), 1.0 / 11.0);
}

#[test]
fn a_failed_challenge_gates_the_miner_out_of_the_score_and_the_mean() {
    // uid 7 reveals (1, 32), far from the others, and passes one challenge but fails another.
    let mut e = one_round();
    e.input.miners.push(super::miner(7));
    e.row(valid(0, 7, &[1.0, 32.0]))
        .challenge(7, Verdict::Pass)
        .challenge(7, Verdict::Fail)
        .challenge(1, Verdict::Void);
    // Gated, it is in no mean, verified-only or not: the mean stays (1, 2), uid 2 at it scores
    // 1, uids 0 and 1 1/11 each. In the mean it would be ((7 − 5 + 1 + 1) / 4,
    // (10 − 6 + 2 + 32) / 4) = (1, 9.5) and uid 2 would score 1 / (1 + 7.5).
    for verified_only in [1.0, 0.0] {
        e.param("mean.verified_only", verified_only);
        let out = e.score();
        assert_eq!(score_of(&out, 7), 0.0);
        assert_eq!(component(&out, 7, "gated"), Some(1.0));
        assert_eq!(
            (component(&out, 7, "failed_challenges"), component(&out, 7, "passed_challenges")),
            (Some(1.0), Some(1.0))
        );
        // A pass does not make a gated miner verified; its rounds are not read.
        assert_eq!((component(&out, 7, "verified"), component(&out, 7, "scored_rounds")), (Some(0.0), None));
        assert_eq!(score_of(&out, 2), 1.0, "verified_only {verified_only}");
        close(score_of(&out, 0), 1.0 / 11.0);
        assert_eq!((weight(&out, 0), weight(&out, 2), weight(&out, 7)), (5958, 65535, 0));
        let state = State::decode(&out.state).expect("state decodes");
        assert_eq!((state.len(), state.gate("hotkey-7")), (1, crate::defaults::GATE_EPOCHS as u16));
    }
}

#[test]
fn outputs_of_reveals_that_are_not_valid_are_not_read() {
    // The host sends no output unless `valid`; one that comes anyway with a mismatch or a late
    // reveal neither moves the mean (1, 2) nor scores.
    let mut e = one_round();
    e.input.commit_reveals[3].output = vec![1000.0, 1000.0];
    e.input.commit_reveals[4].output = vec![1.0, 2.0];
    let out = e.score();
    assert_eq!(score_of(&out, 2), 1.0);
    assert_eq!((score_of(&out, 3), score_of(&out, 4)), (0.0, 0.0));
    assert_eq!(component(&out, 4, "refused_rounds"), Some(1.0));
}

#[test]
fn a_gated_miner_stays_at_zero_for_gate_epochs_then_returns() {
    // gate.epochs 2: the failing epoch and the next 2 at 0 however it does, then back.
    let mut state = Vec::new();
    for epoch in 1..=5 {
        let mut e = one_round();
        e.param("gate.epochs", 2.0).state(state);
        if epoch == 2 {
            e.challenge(2, Verdict::Fail);
        }
        let out = e.score();
        let gated = (2..=4).contains(&epoch);
        assert_eq!(component(&out, 2, "gated"), Some(if gated { 1.0 } else { 0.0 }), "epoch {epoch}");
        assert_eq!(weight(&out, 2) == 0, gated, "epoch {epoch}: {:?}", out.weights);
        let left = State::decode(&out.state).expect("decodes").gate("hotkey-2");
        assert_eq!(left, [0, 2, 1, 0, 0][epoch - 1], "epoch {epoch}");
        state = out.state;
    }
}

#[test]
fn a_lone_valid_reveal_scores_one_unless_min_valid_asks_for_more() {
    let mut e = Epoch::new(&[0, 1]);
    e.row(valid(0, 0, &[0.5, -0.5])).row(invalid(0, 1, Reveal::Late)).pass(&[0, 1]);
    let out = e.score();
    assert_eq!(score_of(&out, 0), 1.0);
    assert_eq!(weight(&out, 0), 65535);
    // round.min_valid 2: no mean, nobody scores, no weights.
    e.param("round.min_valid", 2.0);
    let out = e.score();
    assert_eq!(score_of(&out, 0), 0.0);
    assert_eq!(component(&out, 0, "unscored_rounds"), Some(1.0));
    assert!(out.weights.is_empty());
}

#[test]
fn reveals_of_another_length_or_malformed_are_refused() {
    let mut e = Epoch::new(&[0, 1, 2, 3, 4, 5]);
    e.row(valid(0, 0, &[1.0, 2.0]))
        .row(valid(0, 1, &[1.0, 2.0, 3.0]))
        .row(valid(0, 2, &[1.0, 2.0]))
        .row(valid(0, 3, &[1.0, f64::NAN]))
        .row(valid(0, 4, &[]))
        .row(valid(0, 5, &[1.0, 2e12]))
        .pass(&[0, 1, 2, 3, 4, 5]);
    let out = e.score();
    // Length 2 is the most common: uids 0 and 2 at the mean (1, 2), 1 each; the others refused.
    assert_eq!((score_of(&out, 0), score_of(&out, 2)), (1.0, 1.0));
    for uid in [1, 3, 4, 5] {
        assert_eq!(score_of(&out, uid), 0.0, "uid {uid}");
        assert_eq!(component(&out, uid, "refused_rounds"), Some(1.0), "uid {uid}");
    }
    // One each of lengths 3 and 2: a tie, so no length and no mean (the lower uid does not win
    // the round); both unscored, no weights.
    let mut e = Epoch::new(&[0, 1, 2]);
    e.row(valid(0, 0, &[1.0, 2.0, 3.0])).row(valid(0, 1, &[1.0, 2.0])).pass(&[0, 1]);
    let out = e.score();
    assert_eq!((score_of(&out, 0), score_of(&out, 1)), (0.0, 0.0));
    assert_eq!((component(&out, 0, "unscored_rounds"), component(&out, 1, "unscored_rounds")), (Some(1.0), Some(1.0)));
    assert!(out.weights.is_empty());
    // The verified tie falls back to every ungated reveal, where uid 2 (unverified) makes length
    // 2 the most common: mean ((1 + 3) / 2, (2 + 4) / 2) = (2, 3); uids 1 and 2 each (1, 1)
    // away, √2, 1 / (1 + √2); uid 0 refused.
    e.row(valid(0, 2, &[3.0, 4.0]));
    let out = e.score();
    close(score_of(&out, 1), 1.0 / (1.0 + 2.0_f64.sqrt()));
    close(score_of(&out, 2), 1.0 / (1.0 + 2.0_f64.sqrt()));
    assert_eq!((score_of(&out, 0), component(&out, 0, "refused_rounds")), (0.0, Some(1.0)));
}

#[test]
fn several_rounds_average_over_every_round_of_the_epoch() {
    let mut e = Epoch::new(&[0, 1, 2]);
    e.row(valid(0, 0, &[7.0, 10.0]))
        .row(valid(0, 1, &[-5.0, -6.0]))
        .row(valid(0, 2, &[1.0, 2.0]))
        .row(valid(1, 0, &[1.0, 1.0]))
        .row(valid(1, 2, &[1.0, 1.0]))
        .pass(&[0, 1, 2]);
    let out = e.score();
    // Round 0: 1/11, 1/11, 1. Round 1 (uid 1 absent): mean (1, 1), 1 and 1.
    // uid 0: (1/11 + 1) / 2 = 6/11; uid 1: (1/11 + 0) / 2 = 1/22; uid 2: (1 + 1) / 2 = 1.
    close(score_of(&out, 0), 6.0 / 11.0);
    close(score_of(&out, 1), 1.0 / 22.0);
    assert_eq!(score_of(&out, 2), 1.0);
    assert_eq!(component(&out, 1, "absent_rounds"), Some(1.0));
    // mean_distance of uid 0: (10 + 0) / 2 = 5.
    assert_eq!(component(&out, 0, "mean_distance"), Some(5.0));
    // 6/11 × 65535 = 35746.36…: 35746; 65535 / 22 = 2978.86…: 2979.
    assert_eq!((weight(&out, 0), weight(&out, 1), weight(&out, 2)), (35746, 2979, 65535));
}

#[test]
fn uids_that_are_not_miners_are_ignored() {
    // uid 9 is not listed: its far reveal moves no mean, its failure gates nobody, and a round
    // of nothing but its rows is no round.
    let mut e = one_round();
    e.row(valid(0, 9, &[1000.0, 1000.0])).challenge(9, Verdict::Fail).row(valid(1, 9, &[0.0, 0.0]));
    let out = e.score();
    close(score_of(&out, 0), 1.0 / 11.0);
    assert_eq!(score_of(&out, 2), 1.0);
    assert_eq!(component(&out, 6, "absent_rounds"), Some(1.0));
    assert!(out.scores.iter().all(|s| s.uid != 9) && out.weights.iter().all(|w| w.uid != 9));
    assert_eq!(out.state, b"CNS\x01");
}

#[test]
fn empty_epochs_score_nothing() {
    // No miners.
    let out = Epoch::new(&[]).score();
    assert!(out.scores.is_empty() && out.weights.is_empty());
    // Miners, but no round: 0 each, no weights.
    let mut e = Epoch::new(&[0, 1]);
    e.pass(&[0, 1]);
    let out = e.score();
    assert_eq!((score_of(&out, 0), component(&out, 0, "absent_rounds")), (0.0, Some(0.0)));
    assert!(out.weights.is_empty());
    // Every reveal refused.
    let mut e = Epoch::new(&[0, 1]);
    e.row(invalid(0, 0, Reveal::Missing)).row(invalid(0, 1, Reveal::Mismatch));
    assert!(e.score().weights.is_empty());
}

#[test]
fn reveal_times_are_not_read() {
    // Negative or odd times change nothing: lateness is the host's verdict.
    let mut e = one_round();
    for row in &mut e.input.commit_reveals {
        row.committed_ms = -5.0;
        row.revealed_ms = f64::NAN;
    }
    assert_eq!(e.score(), one_round().score());
}

#[test]
fn the_largest_allowed_outputs_of_the_most_miners_stay_finite() {
    // 256 miners, each element ±10^12 (the bound), alternating by uid: the mean is 0 per
    // element (128 × 10^12 − 128 × 10^12, summed in uid order, exact), each distance
    // √(4 × 10^24) = 2 × 10^12, each score 1 / (1 + 2 × 10^12): tiny but positive, all equal.
    let uids: Vec<u16> = (0..256).collect();
    let mut e = Epoch::new(&uids);
    for &uid in &uids {
        let x = if uid % 2 == 0 { 1e12 } else { -1e12 };
        e.row(valid(0, uid, &[x; 4]));
    }
    e.pass(&uids);
    let out = e.score();
    for s in &out.scores {
        assert_eq!(s.score, 1.0 / (1.0 + 2e12), "uid {}", s.uid);
    }
    assert!(out.weights.iter().all(|w| w.weight == 65535));
}
