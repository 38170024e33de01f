//! The state blob: exact round trips, and a clear error for anything that is not ours.

use crate::formula::Period;
use crate::{Carried, MAX_PERIODS, MAX_RECORDS, QualityRecord, State};

fn sample() -> State {
    let mut state = State::default();
    let carried = Carried {
        periods: vec![Period { score: 0.75, consumed: 1200.0 }, Period { score: 1.0, consumed: 80.0 }],
        records: vec![QualityRecord { quality: 1.0, metric: 42.5 }, QualityRecord { quality: 0.7, metric: 3.25 }],
    };
    state.insert("hotkey-b", "chat", carried.clone());
    state.insert("hotkey-a", "code", Carried { periods: vec![], ..carried });
    state.insert("hotkey-c", "chat", Carried::default());
    state
}

#[test]
fn state_round_trips_byte_for_byte() {
    let state = sample();
    // The empty entry was not kept.
    assert_eq!(state.len(), 2);
    let bytes = state.encode();
    assert_eq!(&bytes[..4], b"N19\x01");
    let decoded = State::decode(&bytes).expect("decodes");
    assert_eq!(decoded, state);
    assert_eq!(decoded.encode(), bytes);
    // Entries are sorted by (hotkey, task): hotkey-a comes first whatever the insertion order.
    assert_eq!(&bytes[4..14], b"\x08\x00hotkey-a");
    // An empty blob is an empty state, and an empty state is just the header.
    assert!(State::decode(&[]).expect("empty").is_empty());
    assert_eq!(State::default().encode(), b"N19\x01");
}

#[test]
fn a_corrupt_or_unknown_state_is_an_error() {
    let bytes = sample().encode();
    let err = |b: &[u8]| State::decode(b).expect_err("refused");
    assert!(err(b"XYZ\x01").contains("magic"));
    assert!(err(b"N19\x02").contains("version 2"));
    for cut in [3, 5, 12, bytes.len() - 1] {
        assert!(err(&bytes[..cut]).contains("truncated"), "cut at {cut}");
    }
    // Entries out of order: the same entry twice.
    let mut twice = bytes.clone();
    twice.extend_from_slice(&bytes[4..]);
    assert!(err(&twice).contains("out of order or twice"));
    // A period count past the bound.
    let mut many = b"N19\x01\x01\x00a\x01\x00t".to_vec();
    many.push(MAX_PERIODS as u8 + 1);
    assert!(err(&many).contains("periods"));
    // A record count past the bound.
    let mut records = b"N19\x01\x01\x00a\x01\x00t\x00".to_vec();
    records.extend_from_slice(&(MAX_RECORDS as u16 + 1).to_le_bytes());
    assert!(err(&records).contains("quality records"));
    // A period score that is not in [0, 1].
    let mut nan = b"N19\x01\x01\x00a\x01\x00t\x01".to_vec();
    nan.extend_from_slice(&f64::NAN.to_le_bytes());
    nan.extend_from_slice(&1.0_f64.to_le_bytes());
    nan.extend_from_slice(&0u16.to_le_bytes());
    assert!(err(&nan).contains("out of range"));
    // A name that is not UTF-8.
    assert!(err(b"N19\x01\x01\x00\xff").contains("UTF-8"));
}

#[test]
fn state_entries_are_bounded() {
    let mut state = State::default();
    let long = "é".repeat(300);
    let carried = Carried {
        periods: vec![Period { score: 1.0, consumed: 1.0 }; MAX_PERIODS + 10],
        records: (0..MAX_RECORDS + 10).map(|i| QualityRecord { quality: 1.0, metric: i as f32 }).collect(),
    };
    state.insert(&long, "chat", carried);
    let decoded = State::decode(&state.encode()).expect("decodes");
    let kept = decoded.get(&long, "chat").expect("found under the long name");
    assert_eq!(kept.periods.len(), MAX_PERIODS);
    // The newest records are kept (oldest first, so the last ones).
    assert_eq!(kept.records.len(), MAX_RECORDS);
    assert_eq!(kept.records[0].metric, 10.0);
}
