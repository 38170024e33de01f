//! The state blob: exact bytes, round trips, and every malformed blob refused.

use crate::{Leader, MAX_GATES, MAX_NAME_BYTES, State};

fn sample() -> State {
    let mut state = State::default();
    state.leader = Some(Leader { hotkey: "ab".to_string(), score: 0.5 });
    state.set_gate("z", 3);
    state.set_gate("c", 16);
    state.set_gate("spent", 0);
    state
}

#[test]
fn the_format_is_byte_exact() {
    let mut expected = b"CCH\x01\x01\x02\x00ab".to_vec();
    expected.extend_from_slice(&0.5f64.to_le_bytes());
    // Two gates, sorted by hotkey: "c" 16, "z" 3; the spent one is not kept.
    expected.extend_from_slice(b"\x02\x00\x01\x00c\x10\x00\x01\x00z\x03\x00");
    assert_eq!(sample().encode(), expected);
    assert_eq!(State::default().encode(), b"CCH\x01\x00\x00\x00".to_vec());
}

#[test]
fn a_round_trip_changes_nothing() {
    let state = sample();
    let decoded = State::decode(&state.encode()).expect("decodes");
    assert_eq!(decoded, state);
    assert_eq!(decoded.gate("c"), 16);
    assert_eq!(decoded.gate("nobody"), 0);
    assert!(decoded.is_leader("ab"));
    assert_eq!(State::decode(&[]).expect("empty is the first epoch"), State::default());
}

#[test]
fn long_hotkeys_are_kept_cut_and_found_the_same_way() {
    let long = "k".repeat(MAX_NAME_BYTES + 10);
    let mut state = State::default();
    state.leader = Some(Leader { hotkey: long.clone(), score: 1.0 });
    state.set_gate(&long, 2);
    let decoded = State::decode(&state.encode()).expect("decodes");
    assert!(decoded.is_leader(&long));
    assert_eq!(decoded.gate(&long), 2);
}

#[test]
fn malformed_blobs_are_errors() {
    let good = sample().encode();
    let err = |bytes: &[u8]| State::decode(bytes).expect_err("refused");
    assert!(err(b"N19\x02").contains("not cacheon's"));
    assert!(err(b"CCH\x02\x00\x00\x00").contains("version 2"));
    assert!(err(&good[..good.len() - 1]).contains("truncated"));
    assert!(err(b"CCH\x01\x02\x00\x00").contains("leader flag"));
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(err(&trailing).contains("trailing"));
    // A leader score that is negative or not a number.
    let mut bad_score = b"CCH\x01\x01\x01\x00a".to_vec();
    bad_score.extend_from_slice(&(-1.0f64).to_le_bytes());
    bad_score.extend_from_slice(b"\x00\x00");
    assert!(err(&bad_score).contains("leader score"));
    // Gates out of order, repeated, spent, too many.
    assert!(err(b"CCH\x01\x00\x02\x00\x01\x00z\x01\x00\x01\x00c\x01\x00").contains("out of order"));
    assert!(err(b"CCH\x01\x00\x02\x00\x01\x00c\x01\x00\x01\x00c\x01\x00").contains("out of order"));
    assert!(err(b"CCH\x01\x00\x01\x00\x01\x00c\x00\x00").contains("spent gate"));
    let too_many = (MAX_GATES as u16 + 1).to_le_bytes();
    assert!(err(&[b"CCH\x01\x00".as_slice(), &too_many].concat()).contains("gates"));
    // A name longer than kept, or not UTF-8.
    let long = ((MAX_NAME_BYTES + 1) as u16).to_le_bytes();
    assert!(err(&[b"CCH\x01\x01".as_slice(), &long].concat()).contains("bytes"));
    assert!(err(b"CCH\x01\x00\x01\x00\x01\x00\xff\x01\x00").contains("UTF-8"));
}
