//! Each formula on cases computed by hand; the arithmetic is in the comments.

use assay_policy_sdk::Weight;

use super::close;
use crate::formula::*;

#[test]
fn well_formed_outputs_are_non_empty_finite_and_bounded() {
    assert!(well_formed(&[-3.5, 0.0, 1e12, -1e12]));
    assert!(!well_formed(&[]));
    assert!(!well_formed(&[1.0, f64::NAN]));
    assert!(!well_formed(&[f64::INFINITY]));
    assert!(!well_formed(&[f64::NEG_INFINITY, 0.0]));
    assert!(!well_formed(&[1.000_001e12]));
}

#[test]
fn common_length_is_the_most_frequent_and_none_on_a_tie() {
    assert_eq!(common_length(&[]), None);
    assert_eq!(common_length(&[5]), Some(5));
    // 3 twice, 4 once, in any order.
    assert_eq!(common_length(&[3, 3, 4]), Some(3));
    assert_eq!(common_length(&[4, 3, 3]), Some(3));
    // 4 three times, 3 and 7 once each.
    assert_eq!(common_length(&[3, 4, 7, 4, 4]), Some(4));
    // Two each, one each: a tie, no length.
    assert_eq!(common_length(&[4, 3, 3, 4]), None);
    assert_eq!(common_length(&[3, 4]), None);
    // A tie below the most does not matter: 5 twice, 3 and 4 once each.
    assert_eq!(common_length(&[3, 5, 4, 5]), Some(5));
}

#[test]
fn mean_output_is_element_wise() {
    // ([1, 2] + [3, 6]) / 2 = [2, 4].
    assert_eq!(mean_output(&[&[1.0, 2.0], &[3.0, 6.0]]), Some(vec![2.0, 4.0]));
    // ([7, 10] + [−5, −6] + [1, 2]) / 3 = [3 / 3, 6 / 3] = [1, 2].
    assert_eq!(mean_output(&[&[7.0, 10.0], &[-5.0, -6.0], &[1.0, 2.0]]), Some(vec![1.0, 2.0]));
    // A lone output is its own mean.
    assert_eq!(mean_output(&[&[0.25, -8.0, 3.0]]), Some(vec![0.25, -8.0, 3.0]));
    assert_eq!(mean_output(&[]), None);
    assert_eq!(mean_output(&[&[1.0, 2.0], &[1.0]]), None);
}

#[test]
fn distance_is_euclidean() {
    // (7, 10) − (1, 2) = (6, 8): √(36 + 64) = 10.
    assert_eq!(distance(&[7.0, 10.0], &[1.0, 2.0]), 10.0);
    // (1, 2, 2): √9 = 3.
    assert_eq!(distance(&[0.0, 0.0, 0.0], &[1.0, -2.0, 2.0]), 3.0);
    assert_eq!(distance(&[1.5, -2.5], &[1.5, -2.5]), 0.0);
    assert_eq!(distance(&[1.0, 2.0], &[1.0]), f64::INFINITY);
}

#[test]
fn round_score_is_one_over_one_plus_distance() {
    assert_eq!(round_score(0.0), 1.0);
    // 1 / (1 + 1) = 0.5; 1 / (1 + 3) = 0.25; 1 / (1 + 10) = 1/11.
    assert_eq!(round_score(1.0), 0.5);
    assert_eq!(round_score(3.0), 0.25);
    close(round_score(10.0), 1.0 / 11.0);
    assert_eq!(round_score(f64::INFINITY), 0.0);
    // Not a distance: nothing.
    assert_eq!(round_score(f64::NAN), 0.0);
    assert_eq!(round_score(-1.0), 0.0);
}

#[test]
fn epoch_score_averages_over_every_round_of_the_epoch() {
    // (1 + 0.5) / 2 = 0.75.
    assert_eq!(epoch_score(&[1.0, 0.5], 2), 0.75);
    // The same rounds in an epoch of 4 (two without a row): 1.5 / 4 = 0.375.
    assert_eq!(epoch_score(&[1.0, 0.5], 4), 0.375);
    // No round score: +0.0, not −0.0 (which the summary would show as "-0.0").
    assert_eq!(epoch_score(&[], 3).to_bits(), 0.0_f64.to_bits());
    assert_eq!(epoch_score(&[], 0).to_bits(), 0.0_f64.to_bits());
    assert_eq!(distance(&[], &[]).to_bits(), 0.0_f64.to_bits());
}

#[test]
fn weights_give_the_best_65535_and_the_rest_in_proportion() {
    // 0.25 / 0.5 × 65535 = 32767.5, rounded away from zero: 32768. 1/11 / 1 × 65535 = 5957.7…
    assert_eq!(
        to_weights(&[(3, 0.5), (9, 0.25), (1, 0.0)]),
        vec![Weight { uid: 3, weight: 65535 }, Weight { uid: 9, weight: 32768 }, Weight { uid: 1, weight: 0 }]
    );
    assert_eq!(to_weights(&[(0, 1.0), (1, 1.0 / 11.0)])[1].weight, 5958);
    // Nothing positive: nothing to set. A non-number counts as 0.
    assert!(to_weights(&[(0, 0.0), (1, 0.0)]).is_empty());
    assert!(to_weights(&[]).is_empty());
    assert_eq!(to_weights(&[(0, f64::NAN), (1, 0.2)])[0].weight, 0);
}
