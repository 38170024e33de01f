//! The state blob: round trip, layout, and every way a blob can be unreadable.

use crate::{MAX_HOTKEY_BYTES, Prover, ProverState};

fn sample() -> ProverState {
    let mut state = ProverState::default();
    state.insert("b".into(), Prover { s: 0.25, samples: 7 }).expect("fits");
    state.insert("a".into(), Prover { s: 0.5, samples: 1 }).expect("fits");
    state
}

#[test]
fn state_round_trips_in_a_fixed_layout() {
    let bytes = sample().encode();
    assert_eq!(ProverState::decode(&bytes).expect("decodes"), sample());
    // Magic, version 1, two entries, then "a" first: length 1, the key, s = 0.5, 1 sample.
    assert_eq!(&bytes[..8], b"PoI\x01\x02\x00\x00\x00");
    assert_eq!(&bytes[8..10], &[1, b'a']);
    assert_eq!(&bytes[10..18], &0.5_f64.to_le_bytes());
    assert_eq!(&bytes[18..22], &1_u32.to_le_bytes());
    assert_eq!(bytes.len(), 8 + 2 * (1 + 1 + 8 + 4));
    // Empty is the first epoch; an unknown hotkey starts at s = 0 with no samples.
    let empty = ProverState::decode(&[]).expect("empty decodes");
    assert!(empty.is_empty());
    assert_eq!(empty.get("anyone"), Prover { s: 0.0, samples: 0 });
    assert_eq!(ProverState::decode(&ProverState::default().encode()).expect("decodes"), empty);
}

#[test]
fn unreadable_state_is_a_clear_error() {
    let bytes = sample().encode();
    let refuse = |bytes: &[u8], why: &str| {
        let err = ProverState::decode(bytes).expect_err("refused");
        assert!(err.contains(why), "{err:?} should say {why:?}");
    };
    refuse(&bytes[..bytes.len() - 1], "truncated");
    refuse(&bytes[..5], "truncated");
    refuse(&[bytes.as_slice(), &[0]].concat(), "after its last entry");
    refuse(b"XYZ\x01\x00\x00\x00\x00", "no PoI magic");
    refuse(&[1, 0, 0], "no PoI magic"); // another policy's blob
    refuse(b"PoI\x02\x00\x00\x00\x00", "version 2");
    refuse(b"PoI\x01\xff\xff\xff\xff", "entries");
    let mut out_of_order = bytes.clone();
    (out_of_order[9], out_of_order[23]) = (b'b', b'a');
    refuse(&out_of_order, "out of order");
    let mut bad_s = bytes.clone();
    bad_s[10..18].copy_from_slice(&1.5_f64.to_le_bytes());
    refuse(&bad_s, "outside [0, 1]");
    bad_s[10..18].copy_from_slice(&f64::NAN.to_le_bytes());
    refuse(&bad_s, "outside [0, 1]");
    let mut not_utf8 = bytes;
    not_utf8[9] = 0xff;
    refuse(&not_utf8, "UTF-8");
}

#[test]
fn the_state_refuses_what_its_format_cannot_hold_instead_of_cutting_it() {
    let mut state = ProverState::default();
    let longest = "k".repeat(MAX_HOTKEY_BYTES);
    state.insert(longest.clone(), Prover { s: 0.5, samples: 3 }).expect("255 bytes fit");
    let err = state.insert("k".repeat(MAX_HOTKEY_BYTES + 1), Prover::default()).expect_err("refused");
    assert!(err.contains("256 bytes"), "{err}");
    // Nothing was cut: the blob reads back the 255-byte key and only it.
    let back = ProverState::decode(&state.encode()).expect("decodes");
    assert_eq!(back, state);
    assert_eq!(back.get(&longest), Prover { s: 0.5, samples: 3 });

    // One entry per uid: the 65,537th hotkey is refused, a known one is still updated.
    let mut full = ProverState::default();
    for k in 0..=u32::from(u16::MAX) {
        full.insert(format!("{k:05}"), Prover::default()).expect("within one per uid");
    }
    assert!(full.insert("one more".into(), Prover::default()).expect_err("refused").contains("65536 entries"));
    full.insert("00000".into(), Prover { s: 1.0, samples: 1 }).expect("a known hotkey");
}
