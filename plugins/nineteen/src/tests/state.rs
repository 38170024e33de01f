//! The state blob: exact round trips, and a clear error for anything that is not ours.

use std::collections::BTreeMap;

use crate::formula::Period;
use crate::{Carried, MAX_PERIODS, MAX_RECORDS, MinerState, QualityRecord, State};

fn miner(gated_epochs_left: u16, tasks: &[(&str, Carried)]) -> MinerState {
    MinerState { gated_epochs_left, tasks: tasks.iter().map(|(t, c)| (t.to_string(), c.clone())).collect() }
}

fn sample() -> State {
    let mut state = State::default();
    let carried = Carried {
        periods: vec![Period { score: 0.75, consumed: 1200.0 }, Period { score: 1.0, consumed: 80.0 }],
        records: vec![QualityRecord { quality: 1.0, metric: 42.5 }, QualityRecord { quality: 0.7, metric: 3.25 }],
    };
    state.insert("hotkey-b", miner(0, &[("code", carried.clone()), ("chat", Carried::default())]));
    state.insert("hotkey-a", miner(0, &[("code", Carried { periods: vec![], ..carried })]));
    state.insert("hotkey-c", miner(0, &[("chat", Carried::default())]));
    // A gated miner carries its gate and nothing else.
    state.insert("hotkey-d", miner(3, &[]));
    state
}

#[test]
fn state_round_trips_byte_for_byte() {
    let state = sample();
    // The empty miner and the empty task were not kept.
    assert_eq!(state.len(), 3);
    assert!(state.task("hotkey-b", "chat").is_none() && state.task("hotkey-b", "code").is_some());
    let bytes = state.encode();
    assert_eq!(&bytes[..4], b"N19\x02");
    let decoded = State::decode(&bytes).expect("decodes");
    assert_eq!(decoded, state);
    assert_eq!(decoded.encode(), bytes);
    // Miners are sorted by hotkey: hotkey-a comes first whatever the insertion order, its hotkey
    // once, then its gate (0) and its one task.
    assert_eq!(&bytes[4..23], b"\x08\x00hotkey-a\x00\x00\x01\x04\x00code");
    assert_eq!(decoded.get("hotkey-d").map(|m| (m.gated_epochs_left, m.tasks.len())), Some((3, 0)));
    // An empty blob is an empty state, and an empty state is just the header.
    assert!(State::decode(&[]).expect("empty").is_empty());
    assert_eq!(State::default().encode(), b"N19\x02");
}

#[test]
fn a_corrupt_or_unknown_state_is_an_error() {
    let bytes = sample().encode();
    let err = |b: &[u8]| State::decode(b).expect_err("refused");
    assert!(err(b"XYZ\x02").contains("magic"));
    assert!(err(b"N19\x01").contains("version 1"));
    for cut in [3, 5, 12, 15, bytes.len() - 1] {
        assert!(err(&bytes[..cut]).contains("truncated"), "cut at {cut}");
    }
    // Miners out of order: the same miner twice.
    let mut twice = bytes.clone();
    twice.extend_from_slice(&bytes[4..]);
    assert!(err(&twice).contains("out of order or twice"));
    // One miner, gate 0, the same task twice.
    let mut tasks = b"N19\x02\x01\x00a\x00\x00\x02".to_vec();
    for _ in 0..2 {
        tasks.extend_from_slice(b"\x01\x00t\x00\x00\x00");
    }
    assert!(err(&tasks).contains("task t out of order or twice"));
    // A period count past the bound.
    let mut many = b"N19\x02\x01\x00a\x00\x00\x01\x01\x00t".to_vec();
    many.push(MAX_PERIODS as u8 + 1);
    assert!(err(&many).contains("periods"));
    // A record count past the bound.
    let mut records = b"N19\x02\x01\x00a\x00\x00\x01\x01\x00t\x00".to_vec();
    records.extend_from_slice(&(MAX_RECORDS as u16 + 1).to_le_bytes());
    assert!(err(&records).contains("quality records"));
    // A period score that is not in [0, 1].
    let mut nan = b"N19\x02\x01\x00a\x00\x00\x01\x01\x00t\x01".to_vec();
    nan.extend_from_slice(&f32::NAN.to_le_bytes());
    nan.extend_from_slice(&1.0_f32.to_le_bytes());
    nan.extend_from_slice(&0u16.to_le_bytes());
    assert!(err(&nan).contains("out of range"));
    // A name that is not UTF-8.
    assert!(err(b"N19\x02\x01\x00\xff").contains("UTF-8"));
}

#[test]
fn state_entries_are_bounded() {
    let mut state = State::default();
    let long = "é".repeat(300);
    let carried = Carried {
        periods: vec![Period { score: 1.0, consumed: 1.0 }; MAX_PERIODS + 10],
        records: (0..MAX_RECORDS + 10).map(|i| QualityRecord { quality: 1.0, metric: i as f32 }).collect(),
    };
    state.insert(&long, MinerState { gated_epochs_left: 0, tasks: BTreeMap::from([(long.clone(), carried)]) });
    let decoded = State::decode(&state.encode()).expect("decodes");
    let kept = decoded.task(&long, &long).expect("found under the long names");
    assert_eq!(kept.periods.len(), MAX_PERIODS);
    // The newest records are kept (oldest first, so the last ones).
    assert_eq!(kept.records.len(), MAX_RECORDS);
    assert_eq!(kept.records[0].metric, 10.0);
}
