//! Tests of the public API: frequencies, greedy, truncation through `sample`, refusals, replay.

use crate::{SamplerError, SamplingParams, replay, sample, uniform};

fn params(temperature: f64, top_k: u32, top_p: f64, seed: u64) -> SamplingParams {
    SamplingParams { temperature, top_k, top_p, seed }
}

/// Samples `positions` positions and checks each token's frequency against `expected` within
/// four standard deviations (sqrt(n p (1 − p))). Deterministic: the generator is.
fn check_frequencies(logits: &[f32], p: &SamplingParams, positions: u64, expected: &[f64]) {
    let mut counts = vec![0u64; logits.len()];
    for position in 0..positions {
        let token = sample(logits, p, position).unwrap();
        counts[token as usize] += 1;
    }
    let n = positions as f64;
    for (token, (&count, &prob)) in counts.iter().zip(expected).enumerate() {
        let sigma = (n * prob * (1.0 - prob)).sqrt();
        let off = (count as f64 - n * prob).abs();
        assert!(off <= 4.0 * sigma.max(1e-9), "token {token}: {count} of {n}, expected {prob} (±{sigma})");
    }
}

/// ln of [0.1, 0.2, 0.3, 0.4]: at temperature 1 the softmax gives those probabilities back.
fn four_token_logits() -> Vec<f32> {
    [0.1f64, 0.2, 0.3, 0.4].iter().map(|p| p.ln() as f32).collect()
}

#[test]
fn the_race_samples_the_softmax() {
    check_frequencies(&four_token_logits(), &params(1.0, 0, 1.0, 7), 20_000, &[0.1, 0.2, 0.3, 0.4]);
}

#[test]
fn temperature_two_samples_the_square_roots() {
    // p^(1/2) = 0.31623, 0.44721, 0.54772, 0.63246; sum 1.94362;
    // normalized 0.16270, 0.23009, 0.28181, 0.32540.
    check_frequencies(&four_token_logits(), &params(2.0, 0, 1.0, 11), 20_000, &[0.16270, 0.23009, 0.28181, 0.32540]);
}

#[test]
fn top_k_renormalizes_the_kept_tokens() {
    // top-k 2 keeps 0.4 and 0.3: 0.3 / 0.7 = 0.42857, 0.4 / 0.7 = 0.57143.
    check_frequencies(&four_token_logits(), &params(1.0, 2, 1.0, 13), 20_000, &[0.0, 0.0, 0.42857, 0.57143]);
}

#[test]
fn top_p_renormalizes_the_nucleus() {
    // By probability 0.4, 0.3, 0.2, 0.1; cumulative 0.4, 0.7, 0.9: top_p 0.8 keeps three,
    // 0.2 / 0.9 = 0.22222, 0.3 / 0.9 = 0.33333, 0.4 / 0.9 = 0.44444.
    check_frequencies(&four_token_logits(), &params(1.0, 0, 0.8, 17), 20_000, &[0.0, 0.22222, 0.33333, 0.44444]);
}

#[test]
fn greedy_takes_the_lowest_id_among_the_largest() {
    let logits = [1.0, 5.0, 5.0, 2.0];
    for temperature in [0.0, 1e-6, 9.99e-6] {
        for seed in [0, 1, u64::MAX] {
            assert_eq!(sample(&logits, &params(temperature, 0, 1.0, seed), 3), Ok(1));
        }
    }
    assert_eq!(sample(&[-0.0, 0.0], &SamplingParams::greedy(), 0), Ok(0));
    // At MIN_TEMPERATURE the race runs, and picks id 2 at some position.
    let sampled = (0..64).map(|pos| sample(&logits, &params(1e-5, 0, 1.0, 5), pos).unwrap());
    assert!(sampled.clone().any(|t| t == 2) && sampled.clone().all(|t| t == 1 || t == 2));
}

#[test]
fn top_k_one_is_greedy_at_every_position() {
    let logits = [0.5, 2.0, -1.0, 1.9];
    for position in 0..200 {
        assert_eq!(sample(&logits, &params(1.5, 1, 1.0, 99), position), Ok(1));
    }
}

#[test]
fn the_seed_and_the_position_both_move_the_draws() {
    // Eight equal logits: every token equally likely, so 64 positions under one seed, or one
    // position under 64 seeds, give several distinct tokens; and position 2^32 is not 0 (the
    // position's high word counts).
    let logits = [0.0f32; 8];
    let tokens = |seeds: &mut dyn Iterator<Item = (u64, u64)>| -> Vec<u32> {
        seeds.map(|(seed, position)| sample(&logits, &params(1.0, 0, 1.0, seed), position).unwrap()).collect()
    };
    let by_position = tokens(&mut (0..64).map(|position| (5, position)));
    let by_seed = tokens(&mut (0..64).map(|seed| (seed, 5)));
    let by_high_word = tokens(&mut (0..64).map(|position| (5, position << 32)));
    for draws in [&by_position, &by_seed, &by_high_word] {
        let mut distinct = draws.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() >= 4, "{draws:?}");
    }
    assert_ne!(by_position, by_high_word);
}

#[test]
fn bad_input_is_refused() {
    let logits = [1.0, 2.0];
    let cases = [
        (params(f64::NAN, 0, 1.0, 0), SamplerError::BadTemperature(f64::NAN)),
        (params(-0.5, 0, 1.0, 0), SamplerError::BadTemperature(-0.5)),
        (params(f64::INFINITY, 0, 1.0, 0), SamplerError::BadTemperature(f64::INFINITY)),
        (params(1.0, 0, 0.0, 0), SamplerError::BadTopP(0.0)),
        (params(1.0, 0, 1.5, 0), SamplerError::BadTopP(1.5)),
        (params(1.0, 0, -0.1, 0), SamplerError::BadTopP(-0.1)),
    ];
    for (p, expected) in cases {
        let got = sample(&logits, &p, 0).unwrap_err();
        // NaN != NaN: compare the messages.
        assert_eq!(got.to_string(), expected.to_string());
    }
    assert!(matches!(sample(&logits, &params(1.0, 0, f64::NAN, 0), 0), Err(SamplerError::BadTopP(_))));
    let ok = params(1.0, 0, 1.0, 0);
    assert_eq!(sample(&[], &ok, 0), Err(SamplerError::EmptyLogits));
    assert_eq!(sample(&[1.0, f32::NAN], &ok, 0), Err(SamplerError::NonFiniteLogit { token: 1 }));
    assert_eq!(sample(&[f32::NEG_INFINITY, 1.0], &ok, 0), Err(SamplerError::NonFiniteLogit { token: 0 }));
    assert_eq!(replay(&logits, &ok, 0, 2, 0.0), Err(SamplerError::TokenOutOfRange { token: 2, vocab: 2 }));
    assert_eq!(replay(&logits, &ok, 0, 0, -1.0), Err(SamplerError::BadTolerance(-1.0)));
    assert_eq!(SamplerError::BadTopP(1.5).to_string(), "top_p 1.5 is outside (0, 1]");
}

/// `z − ln(−ln u)` written out, to check the replay's margins against.
fn key(logit: f32, temperature: f64, seed: u64, position: u64, token: u32) -> f64 {
    f64::from(logit) / temperature - (-uniform(seed, position, token).ln()).ln()
}

#[test]
fn replay_margins_are_key_gaps() {
    let logits = [0.2f32, 1.0, 0.7, -0.4, 0.9];
    let (temperature, seed, position) = (0.8, 1234, 56);
    let p = params(temperature, 0, 1.0, seed);
    let chosen = sample(&logits, &p, position).unwrap();
    let winner_key = key(logits[chosen as usize], temperature, seed, position, chosen);
    for token in 0..5u32 {
        let r = replay(&logits, &p, position, token, 0.0).unwrap();
        assert_eq!(r.chosen, chosen);
        assert!(r.allowed && !r.near_boundary());
        if token == chosen {
            assert_eq!((r.margin, r.near_tie), (0.0, false));
            continue;
        }
        let margin = winner_key - key(logits[token as usize], temperature, seed, position, token);
        assert_eq!(r.margin, margin);
        assert!(margin > 0.0);
        // A near tie when margin ≤ 2 · tolerance / temperature: the tolerance margin · T / 2 is
        // the edge.
        let edge = margin * temperature / 2.0;
        assert!(replay(&logits, &p, position, token, edge * (1.0 + 1e-9)).unwrap().near_tie);
        assert!(!replay(&logits, &p, position, token, edge * (1.0 - 1e-9)).unwrap().near_tie);
    }
}

#[test]
fn greedy_replay_margins_are_logit_gaps() {
    // Logits 1, 3, 2.5: the spec picks 1; token 2 is 3 − 2.5 = 0.5 behind, a near tie when
    // 2 · tolerance ≥ 0.5.
    let logits = [1.0, 3.0, 2.5];
    let r = replay(&logits, &SamplingParams::greedy(), 0, 2, 0.25).unwrap();
    assert_eq!((r.chosen, r.allowed, r.margin, r.near_tie, r.near_boundary()), (1, true, 0.5, true, false));
    assert!(!replay(&logits, &SamplingParams::greedy(), 0, 2, 0.2).unwrap().near_tie);
    assert_eq!(replay(&logits, &SamplingParams::greedy(), 0, 1, 1.0).unwrap().margin, 0.0);
}

#[test]
fn replay_flags_tokens_near_the_top_k_boundary() {
    // top-k 2 of [3, 2, 1.99, 0] keeps 0 and 1; token 2 is 2 − 1.99 ≈ 0.01 below the worst kept
    // (and token 1 as far above the best dropped): near when 2 · tolerance ≥ 0.01.
    let logits = [3.0, 2.0, 1.99, 0.0];
    for seed in 0..20 {
        let p = params(1.0, 2, 1.0, seed);
        let r = replay(&logits, &p, 3, 2, 0.006).unwrap();
        // The winner (token 0 or 1) is the other flag: token 1 is as near, token 0 is not.
        let chosen = sample(&logits, &p, 3).unwrap();
        assert!(!r.allowed && r.token_near_boundary && r.chosen_near_boundary == (chosen == 1), "{r:?}");
        assert!(!replay(&logits, &p, 3, 2, 0.004).unwrap().near_boundary());
        assert!(!replay(&logits, &p, 3, 3, 0.004).unwrap().near_boundary());
    }
}

#[test]
fn replay_flags_tokens_near_the_top_p_boundary() {
    // [2, 1, 0] at temperature 1: probs 0.66524, 0.24473, 0.09003; top_p 0.7 keeps 0 and 1.
    // Token 1 has 0.66524 ahead; it could be dropped when 0.66524 · e^(2ε) ≥ 0.7, i.e.
    // ε ≥ ln(0.7 / 0.66524) / 2 = 0.02547. Token 0 has nothing ahead; token 2 has 0.90997
    // certainly ahead until ε ≥ ln(0.90997 / 0.7) / 2 = 0.13117.
    let logits = [2.0, 1.0, 0.0];
    for seed in 0..20 {
        let p = params(1.0, 0, 0.7, seed);
        let chosen = sample(&logits, &p, 0).unwrap();
        assert!(replay(&logits, &p, 0, 1, 0.03).unwrap().token_near_boundary);
        // Tokens 0 and 2 are not near themselves; the flag for the winner is set when it is 1.
        for token in [0, 2] {
            let r = replay(&logits, &p, 0, token, 0.03).unwrap();
            assert_eq!((r.token_near_boundary, r.chosen_near_boundary), (false, chosen == 1), "{token}");
        }
        assert!(!replay(&logits, &p, 0, 2, 0.03).unwrap().allowed);
        for token in 0..3 {
            assert!(!replay(&logits, &p, 0, token, 0.02).unwrap().near_boundary());
        }
    }
}

#[test]
fn the_worked_example_of_the_specification() {
    // docs/sampling.md: z = [1.875, −0.3125, 2.5, 0.9375, 2.5, −1.25]; top-k 4 keeps 2, 4, 0, 3;
    // top-p 0.9 keeps 2, 4, 0 (running sums 0.364316, 0.728631, 0.923635); keys 3.090059 (id 2),
    // 3.839693 (id 4), 2.915026 (id 0): id 4 wins.
    let logits = [1.5, -0.25, 2.0, 0.75, 2.0, -1.0];
    let p = params(0.8, 4, 0.9, 42);
    assert_eq!(crate::philox4x32_10([0, 3, 0, 0], [42, 0]), [0xb3c7_9736, 0xbdb1_8ccd, 0x9310_f14e, 0x86a9_7cd2]);
    assert_eq!(crate::philox4x32_10([1, 3, 0, 0], [42, 0])[0], 0xc502_666b);
    assert!((key(2.0, 0.8, 42, 3, 4) - 3.839_693).abs() < 1e-6);
    assert!((key(2.0, 0.8, 42, 3, 2) - 3.090_059).abs() < 1e-6);
    assert!((key(1.5, 0.8, 42, 3, 0) - 2.915_026).abs() < 1e-6);
    assert_eq!(sample(&logits, &p, 3), Ok(4));
    // Id 3 was cut by top-p: the replay says so.
    let r = replay(&logits, &p, 3, 3, 0.0).unwrap();
    assert_eq!((r.chosen, r.allowed, r.near_tie), (4, false, false));
}

#[test]
fn a_token_outside_the_kept_set_is_never_a_near_tie() {
    // top-k 1 of [1, 0.9] keeps token 0 alone. At about half the positions token 1's key beats
    // token 0's (a negative margin); it is still not allowed, not a near tie, and 0.1 from the
    // boundary, farther than 2 · 0.01.
    let p = params(1.0, 1, 1.0, 77);
    let mut beaten = 0;
    for position in 0..64 {
        let r = replay(&[1.0, 0.9], &p, position, 1, 0.01).unwrap();
        assert_eq!((r.chosen, r.allowed, r.near_tie, r.near_boundary()), (0, false, false, false), "{r:?}");
        beaten += usize::from(r.margin < 0.0);
    }
    assert!(beaten > 10, "{beaten}");
}
