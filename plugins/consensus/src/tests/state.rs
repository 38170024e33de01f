//! The state blob: exact round trips, and a clear error for anything that is not ours.

use crate::{MAX_HOTKEY_BYTES, MAX_MINERS, State};

#[test]
fn state_round_trips_byte_for_byte() {
    let mut state = State::default();
    state.set_gate("hotkey-b", 3);
    state.set_gate("hotkey-a", 16);
    // 0 is not a gate: not kept.
    state.set_gate("hotkey-c", 0);
    // The longer gate wins.
    state.set_gate("hotkey-b", 2);
    assert_eq!((state.len(), state.gate("hotkey-a"), state.gate("hotkey-b"), state.gate("hotkey-c")), (2, 16, 3, 0));
    let bytes = state.encode();
    // Sorted by hotkey: a (16 = 0x10), then b (3).
    assert_eq!(bytes, b"CNS\x01\x08\x00hotkey-a\x10\x00\x08\x00hotkey-b\x03\x00");
    let decoded = State::decode(&bytes).expect("decodes");
    assert_eq!(decoded, state);
    assert_eq!(decoded.encode(), bytes);
    // An empty blob is an empty state, and an empty state is just the header.
    assert!(State::decode(&[]).expect("empty").is_empty());
    assert_eq!(State::default().encode(), b"CNS\x01");
}

#[test]
fn long_hotkeys_are_cut_and_share_the_longer_gate() {
    let long = "h".repeat(MAX_HOTKEY_BYTES + 10);
    let mut state = State::default();
    state.set_gate(&long, 5);
    state.set_gate(&format!("{long}x"), 7);
    assert_eq!((state.len(), state.gate(&long), state.gate(&"h".repeat(MAX_HOTKEY_BYTES))), (1, 7, 7));
    let bytes = state.encode();
    assert_eq!(bytes.len(), 4 + 2 + MAX_HOTKEY_BYTES + 2);
    assert_eq!(State::decode(&bytes).expect("decodes"), state);
}

#[test]
fn a_corrupt_or_unknown_state_is_an_error() {
    let err = |b: &[u8]| State::decode(b).expect_err("refused");
    assert!(err(b"N19\x02").contains("magic"));
    assert!(err(b"CNS\x02").contains("version 2"));
    let mut state = State::default();
    state.set_gate("a", 1);
    state.set_gate("b", 2);
    let bytes = state.encode();
    for cut in [2, 3, 5, 6, 8, bytes.len() - 1] {
        assert!(err(&bytes[..cut]).contains("truncated"), "cut at {cut}");
    }
    // b before a; a twice.
    assert!(err(b"CNS\x01\x01\x00b\x01\x00\x01\x00a\x01\x00").contains("out of order or twice"));
    assert!(err(b"CNS\x01\x01\x00a\x01\x00\x01\x00a\x01\x00").contains("out of order or twice"));
    // A gate of 0 is never written.
    assert!(err(b"CNS\x01\x01\x00a\x00\x00").contains("no gate"));
    // A hotkey over the bound, one that is not UTF-8.
    let mut long = b"CNS\x01".to_vec();
    long.extend_from_slice(&(MAX_HOTKEY_BYTES as u16 + 1).to_le_bytes());
    assert!(err(&long).contains("bytes, more than"));
    assert!(err(b"CNS\x01\x01\x00\xff\x01\x00").contains("UTF-8"));
    // More entries than miners an epoch may have.
    let mut many = State::default();
    for i in 0..=MAX_MINERS {
        many.set_gate(&format!("k{i:04}"), 1);
    }
    let mut bytes = b"CNS\x01".to_vec();
    for i in 0..=MAX_MINERS {
        bytes.extend_from_slice(b"\x05\x00");
        bytes.extend_from_slice(format!("k{i:04}").as_bytes());
        bytes.extend_from_slice(b"\x01\x00");
    }
    assert!(err(&bytes).contains("more than 256 miners"));
    // encode never writes more than the bound.
    assert_eq!(State::decode(&many.encode()).expect("decodes").len(), MAX_MINERS);
}
