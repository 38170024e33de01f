//! Hard-coded bits: `tan_curve` at a few points and the exact output of a fixed busy epoch over
//! two epochs. Natively they pin the arithmetic; the wasm32 component, fed the same epochs at
//! integration, must reproduce the same constants (a `std` float function that rounds
//! differently per platform, a map iterated in hash order or an unstable sort would change them).
//!
//! On a deliberate change of the formula, the failure message prints the new values.
//!
//! The busy epochs' inputs and outputs are also committed as the host's canonical JSON in
//! `plugins/proof-of-inference/golden/` (`epoch-N.input.json`, `epoch-N.output.json`), which the
//! host's `host/epoch/tests/wasm_goldens.rs` feeds to the wasm32 component. Regenerate them with
//! `scripts/make-proof-of-inference-golden.sh`, never by hand.

use assay_policy_sdk::{EpochInput, EpochOutput, Outcome, Request, Task, Verdict};

use super::{input, miner, proof, request};
use crate::{score, tan_curve};

/// The next value of a fixed linear congruential sequence (Knuth's MMIX constants).
fn step(x: &mut u64) -> u64 {
    *x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    *x
}

/// 40 miners (uid 7 registered during the epoch, uid 11 with a hotkey the state cannot hold),
/// two tasks weighted 0.75 and 0.25, 400 requests and 600 judged challenges from the sequence,
/// some for uids 40 and 41, which are not in the metagraph.
fn busy_epoch() -> EpochInput {
    let mut miners: Vec<_> = (0..40).map(|uid| miner(uid, 500 + u32::from(uid) * 10)).collect();
    miners[7].registered_at_block = 100;
    miners[11].hotkey = "h".repeat(300);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut requests = Vec::new();
    for id in 0..400 {
        let r = step(&mut x);
        let outcome = if (r >> 20).is_multiple_of(10) { Outcome::Timeout } else { Outcome::Ok };
        let tokens = 100 + ((r >> 8) % 900) as u32;
        requests.push(Request { id, ..request(((r >> 33) % 40) as u16, ((r >> 40) % 2) as u16, outcome, tokens) });
    }
    let mut challenges = Vec::new();
    for _ in 0..600 {
        let r = step(&mut x);
        let uid = ((r >> 33) % 40) as u16;
        let verdict = match (r >> 20) % 20 {
            0 => Verdict::Fail,
            1 => Verdict::Void,
            _ => Verdict::Pass,
        };
        let response_ms = if (r >> 44).is_multiple_of(50) { None } else { Some(50.0 + ((r >> 8) % 5_000) as f64) };
        challenges.push(proof(uid, verdict, response_ms));
    }
    let mut epoch = input(miners, challenges);
    epoch.block_start = 50;
    epoch.tasks = vec![Task { name: "chat".into(), weight: 0.75 }, Task { name: "code".into(), weight: 0.25 }];
    epoch.requests = requests.into_iter().collect();
    epoch
}

/// FNV-1a, 64 bits: a checksum that needs no hash crate.
fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Every component's bits, in output order.
fn components_checksum(out: &EpochOutput) -> u64 {
    fnv1a(out.scores.iter().flat_map(|s| s.components.iter().flat_map(|c| c.value.to_bits().to_le_bytes())))
}

/// The second epoch: the same traffic, the first epoch's state, uid 7 now settled.
fn second_epoch(first: &EpochOutput) -> EpochInput {
    let mut epoch = busy_epoch();
    (epoch.epoch, epoch.block_start, epoch.block_end) = (2, 410, 770);
    epoch.state = first.state.clone();
    epoch
}

#[test]
fn tan_curve_has_fixed_bits() {
    // tan_curve(x, 0.9); 0, ½ and 1 are exact by construction.
    let expected: [(f64, u64); 7] = [
        (0.0, 0x0000_0000_0000_0000),
        (0.1, 0x3fd5_3ab4_0c1b_8338),
        (0.25, 0x3fdb_abd7_c412_ade5), // 0.43236345…
        (0.5, 0x3fe0_0000_0000_0000),
        (0.75, 0x3fe2_2a14_1df6_a90d), // 0.56763655…
        (0.99, 0x3fed_83d8_9179_19a7), // 0.92234448…
        (1.0, 0x3ff0_0000_0000_0000),
    ];
    for (x, bits) in expected {
        assert_eq!(tan_curve(x, 0.9).to_bits(), bits, "tan_curve({x}) = {:#018x}", tan_curve(x, 0.9).to_bits());
    }
}

/// `(uid, weight)` of an output.
fn weights(out: &EpochOutput) -> Vec<(u16, u16)> {
    out.weights.iter().map(|w| (w.uid, w.weight)).collect()
}

#[test]
fn a_busy_epoch_gives_fixed_weights_components_and_state() {
    let first = score(&busy_epoch()).expect("first epoch");
    #[rustfmt::skip]
    let expected = [
        (0, 0), (1, 47), (2, 0), (3, 33), (4, 0), (5, 0), (6, 0), (7, 0), (8, 6), (9, 0),
        (10, 0), (11, 0), (12, 0), (13, 5515), (14, 0), (15, 97), (16, 612), (17, 0), (18, 9061), (19, 0),
        (20, 1462), (21, 0), (22, 0), (23, 65535), (24, 11548), (25, 0), (26, 0), (27, 2857), (28, 760), (29, 0),
        (30, 377), (31, 0), (32, 41), (33, 0), (34, 0), (35, 0), (36, 1084), (37, 10699), (38, 3993), (39, 3719),
    ];
    assert_eq!(weights(&first), expected);
    let sums = (components_checksum(&first), fnv1a(first.state.iter().copied()), first.state.len());
    assert_eq!(sums, (0x9e9c_990a_dcc4_f670, 0xf948_5794_a40b_466d, 856), "{sums:#018x?}");

    let second = score(&second_epoch(&first)).expect("second epoch");
    #[rustfmt::skip]
    let expected = [
        (0, 0), (1, 54), (2, 0), (3, 86), (4, 0), (5, 0), (6, 0), (7, 50), (8, 13), (9, 0),
        (10, 0), (11, 0), (12, 0), (13, 4056), (14, 0), (15, 269), (16, 610), (17, 0), (18, 9990), (19, 0),
        (20, 1346), (21, 0), (22, 0), (23, 65535), (24, 15300), (25, 0), (26, 0), (27, 2111), (28, 1139), (29, 0),
        (30, 349), (31, 0), (32, 54), (33, 0), (34, 0), (35, 0), (36, 2433), (37, 10523), (38, 4376), (39, 10465),
    ];
    assert_eq!(weights(&second), expected);
    let sums = (components_checksum(&second), fnv1a(second.state.iter().copied()), second.state.len());
    assert_eq!(sums, (0x8db9_655e_1661_8b78, 0x690b_ede5_4ed1_2d20, 856), "{sums:#018x?}");
}

/// The two busy epochs, the second fed the first one's state.
fn busy_epochs() -> [(EpochInput, EpochOutput); 2] {
    let first_input = busy_epoch();
    let first = score(&first_input).expect("first epoch");
    let second_input = second_epoch(&first);
    let second = score(&second_input).expect("second epoch");
    [(first_input, first), (second_input, second)]
}

#[test]
fn busy_epochs_match_the_committed_files() {
    let bless = std::env::var_os("PROOF_OF_INFERENCE_BLESS").is_some();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    for (number, (input, output)) in (1..=2).zip(busy_epochs()) {
        let files = [
            serde_json::to_vec(&input).expect("input serializes"),
            serde_json::to_vec(&output).expect("output serializes"),
        ];
        for (kind, bytes) in ["input", "output"].into_iter().zip(files) {
            let path = dir.join(format!("epoch-{number}.{kind}.json"));
            if bless {
                std::fs::create_dir_all(&dir).expect("creates golden/");
                std::fs::write(&path, &bytes).expect("writes golden file");
                continue;
            }
            let committed = std::fs::read(&path).unwrap_or_else(|e| {
                panic!("{}: {e}; regenerate with scripts/make-proof-of-inference-golden.sh", path.display())
            });
            assert!(committed == bytes, "{} differs from what the policy gives now", path.display());
        }
    }
}
