use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use std::path::Path;

use rusqlite::Connection;

use super::*;
use crate::sqlite::now_ms;

fn entry(id: u64, uid: u16) -> RequestEntry {
    RequestEntry {
        task: "chat".into(),
        record: RequestRow {
            id,
            uid,
            kind: RequestKind::Organic,
            outcome: Outcome::Ok,
            greedy: false,
            prompt_tokens: 12,
            completion_tokens: 34,
            ttft_ms: 56.5,
            total_ms: 789.25,
            reported_ttft_ms: Some(50.0),
            reported_tps: None,
            quality: None,
            started_ms: id * 10,
        },
        values: if id.is_multiple_of(2) { vec![0.1, 0.2] } else { vec![] },
        content: (!id.is_multiple_of(2)).then(|| content_of(id)),
    }
}

/// A request's content, its text kept for odd ids divisible by 3.
fn content_of(id: u64) -> RequestContent {
    let publish_text = id.is_multiple_of(3);
    RequestContent {
        publish_text,
        prompt_sha256: format!("{id:064x}"),
        completion_sha256: format!("{:064x}", id + 1),
        prompt: publish_text.then(|| serde_json::json!([{"role": "user", "content": format!("q{id}")}])),
        completion: publish_text.then(|| format!("a{id}")),
    }
}

fn challenge(request_id: u64, uid: u16, verdict: Verdict) -> ChallengeRow {
    ChallengeRow {
        request_id,
        uid,
        points: vec![],
        verdict,
        reason: format!("r{request_id}"),
        response_ms: (request_id % 2 == 1).then_some(request_id as f64 + 0.5),
    }
}

fn exchanges(ledger: &dyn Ledger, epoch: u64) -> Vec<Exchange> {
    ledger.exchanges_after(epoch, 0).expect("reads").into_iter().map(|(_, x)| x).collect()
}

fn closing(epoch: u64, summary: &str, scorer: &str, state: &[u8]) -> Closing {
    Closing {
        epoch,
        summary_sha256: summary.into(),
        scorer: scorer.into(),
        state: state.to_vec(),
        objects: vec![],
        weights: None,
        head: 0,
    }
}

#[test]
fn records_come_back_in_order_and_per_epoch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = SqliteLedger::open(&dir.path().join("ledger.db")).expect("opens");
    record_requests(&ledger, 1, &[entry(3, 0), entry(1, 1)]).expect("records");
    record_requests(&ledger, 2, &[entry(1, 0)]).expect("records");
    ledger.record_challenges(1, &[challenge(3, 0, Verdict::Fail), challenge(1, 1, Verdict::Pass)]).expect("records");
    let requests = ledger.requests(1).expect("reads");
    let bare = |e: RequestEntry| RequestEntry { content: None, ..e };
    assert_eq!(requests, vec![bare(entry(1, 1)), bare(entry(3, 0))]);
    assert_eq!(ledger.requests(2).expect("reads"), vec![bare(entry(1, 0))]);
    let contents = ledger.request_contents(1).expect("reads");
    assert_eq!(contents, BTreeMap::from([(1, content_of(1)), (3, content_of(3))]));
    assert!(ledger.request_contents(2).expect("reads").contains_key(&1));
    assert_eq!(
        ledger.challenges(1).expect("reads"),
        vec![challenge(1, 1, Verdict::Pass), challenge(3, 0, Verdict::Fail)]
    );
    assert!(ledger.challenges(2).expect("reads").is_empty());
}

#[test]
fn a_duplicate_request_id_rejects_the_whole_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = SqliteLedger::open(&dir.path().join("ledger.db")).expect("opens");
    record_requests(&ledger, 1, &[entry(1, 0)]).expect("records");
    let err = record_requests(&ledger, 1, &[entry(2, 0), entry(1, 0)]).unwrap_err();
    assert!(matches!(err, Error::Duplicate(_)), "{err}");
    assert_eq!(ledger.requests(1).expect("reads").len(), 1);
}

#[test]
fn exchanges_are_kept_with_their_requests_and_a_frozen_epoch_takes_no_more() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = SqliteLedger::open(&dir.path().join("ledger.db")).expect("opens");
    ledger.epoch_seed(4, || [7; 32]).expect("seed");
    let exchange = Exchange {
        id: 2,
        uid: 1,
        miner_hotkey: "5Miner".into(),
        path: "/v1/chat/completions".into(),
        request: r#"{"messages":[]}"#.into(),
        evidence: Some(r#"{"assay":{}}"#.into()),
    };
    ledger.record_traffic(4, &[(entry(1, 0), None), (entry(2, 1), Some(exchange.clone()))]).expect("records");
    assert_eq!(exchanges(&ledger, 4), vec![exchange.clone()]);
    let after_start = ledger.exchanges_after(4, 0).expect("reads");
    assert_eq!(after_start.iter().map(|(_, x)| x.clone()).collect::<Vec<_>>(), vec![exchange.clone()]);
    assert!(ledger.exchanges_after(4, after_start[0].0).expect("reads").is_empty(), "nothing newer");
    assert_eq!(ledger.requests(4).expect("reads").len(), 2);

    ledger.freeze_epoch(4).expect("freezes");
    let err = ledger.record_traffic(4, &[(entry(3, 0), Some(Exchange { id: 3, ..exchange }))]).unwrap_err();
    assert!(matches!(err, Error::Frozen(4)), "{err}");
    assert_eq!(ledger.requests(4).expect("reads").len(), 2, "nothing of the refused batch is kept");
    assert_eq!(exchanges(&ledger, 4).len(), 1);
    // An epoch without a seed yet (not started by the host) is not frozen.
    record_requests(&ledger, 5, &[entry(1, 0)]).expect("records");
}

#[test]
fn a_version_1_ledger_is_migrated_with_its_records_intact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.db");
    {
        // A ledger as the first version wrote it, with a request and an open epoch.
        let conn = Connection::open(&path).expect("opens");
        conn.execute_batch(&format!("BEGIN; {} PRAGMA user_version = 1; COMMIT;", schema::V1)).expect("v1 schema");
        // The contract record's JSON, as the first versions stored it.
        let record = serde_json::to_string(&entry(7, 2).record).expect("json");
        conn.execute(
            "INSERT INTO requests (epoch, id, uid, task, record, request_values) VALUES (3, 7, 2, 'chat', ?1, '[0.1,0.2]')",
            [record],
        )
        .expect("inserts");
        conn.execute("INSERT INTO epochs (epoch, seed) VALUES (3, ?1)", [vec![5u8; 32]]).expect("inserts");
        // A challenge as the first versions stored it: no response time.
        let challenge = serde_json::to_string(&challenge(7, 2, Verdict::Pass)).expect("json");
        conn.execute("INSERT INTO challenges (epoch, request_id, uid, record) VALUES (3, 7, 2, ?1)", [challenge])
            .expect("inserts");
    }
    let ledger = SqliteLedger::open(&path).expect("migrates");
    // v6: the old challenge reads back without a response time; a new one keeps its own.
    assert_eq!(
        ledger.challenges(3).expect("reads"),
        vec![ChallengeRow { response_ms: None, ..challenge(7, 2, Verdict::Pass) }]
    );
    ledger.record_challenges(3, &[challenge(9, 2, Verdict::Fail)]).expect("records");
    assert_eq!(ledger.challenges(3).expect("reads")[1].response_ms, Some(9.5));
    assert_eq!(
        ledger.requests(3).expect("reads"),
        vec![RequestEntry { values: vec![0.1, 0.2], content: None, ..entry(7, 2) }]
    );
    assert_eq!(ledger.epoch_seed(3, || [9; 32]).expect("seed").seed, [5; 32], "the committed seed is kept");
    assert_eq!(ledger.open_epochs(4).expect("reads"), vec![3]);
    // The new parts work on the migrated file.
    assert!(exchanges(&ledger, 3).is_empty());
    ledger.freeze_epoch(3).expect("freezes");
    assert!(matches!(record_requests(&ledger, 3, &[entry(8, 2)]), Err(Error::Frozen(3))));
    assert!(ledger.token_checks(3).expect("the v7 table exists after migrating").is_empty());
}

/// Token checks: kept per request (the first measurement stands), cut to the bound, read back
/// as the epoch's map, refused once the epoch is frozen.
#[test]
fn token_checks_are_kept_per_request_within_the_bound() {
    use assay_policy_sdk::TokenMeasurement;
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = SqliteLedger::open(&dir.path().join("ledger.db")).expect("opens");
    let token = |rank: u32| TokenMeasurement { rank, logprob: -f64::from(rank) / 16.0, top_logprob: -0.125 };
    let short = TokenCheckRow { request_id: 7, uid: 2, tokens: vec![token(0), token(3)] };
    let long = TokenCheckRow { request_id: 9, uid: 1, tokens: (0..MAX_TOKEN_CHECKS as u32 + 50).map(token).collect() };
    assert_eq!(ledger.record_token_checks(4, &[short.clone(), long]).expect("records"), 2);
    let again = TokenCheckRow { tokens: vec![token(99)], ..short.clone() };
    assert_eq!(ledger.record_token_checks(4, &[again]).expect("records"), 0, "the first measurement stands");
    let map = ledger.token_checks(4).expect("reads");
    assert_eq!(map.keys().copied().collect::<Vec<_>>(), [7, 9]);
    assert_eq!(map[&7], short.tokens);
    assert_eq!(map[&9].len(), MAX_TOKEN_CHECKS);
    assert_eq!(map[&9][MAX_TOKEN_CHECKS - 1], token(MAX_TOKEN_CHECKS as u32 - 1), "the first ones are kept");
    assert!(ledger.token_checks(5).expect("reads").is_empty());
    ledger.epoch_seed(4, || [1; 32]).expect("the epoch begins");
    ledger.freeze_epoch(4).expect("freezes");
    assert!(matches!(ledger.record_token_checks(4, &[short]), Err(Error::Frozen(4))));
}

/// A `-inf` log-prob is stored at the floor, a `null` stored before that is read as the floor,
/// and a check a failed reference left with NaN is not stored.
#[test]
fn impossible_tokens_read_back_at_the_floor() {
    use assay_policy_sdk::{LOGPROB_FLOOR, TokenMeasurement};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.db");
    let ledger = SqliteLedger::open(&path).expect("opens");
    let t = |logprob: f64| TokenMeasurement { rank: 5, logprob, top_logprob: -0.5 };
    let impossible = TokenCheckRow { request_id: 1, uid: 2, tokens: vec![t(f64::NEG_INFINITY), t(-0.25)] };
    let failed = TokenCheckRow { request_id: 2, uid: 2, tokens: vec![t(f64::NAN)] };
    assert_eq!(ledger.record_token_checks(4, &[impossible, failed]).expect("records"), 1);
    let conn = Connection::open(&path).expect("opens");
    conn.execute("INSERT INTO token_checks (epoch, request_id, uid, tokens) VALUES (4, 3, 2, '[[5.0,null,-0.5]]')", [])
        .expect("an old row");
    drop(conn);
    let map = ledger.token_checks(4).expect("reads");
    assert_eq!(map.keys().copied().collect::<Vec<_>>(), [1, 3]);
    assert_eq!(map[&1], [t(LOGPROB_FLOOR), t(-0.25)]);
    assert_eq!(map[&3], [t(LOGPROB_FLOOR)]);
}

fn reveal(round: u32, uid: u16, reveal: RevealStatus, output: &[f64]) -> CommitRevealRow {
    CommitRevealRow {
        round,
        uid,
        task: "chat".into(),
        reveal,
        committed_ms: (reveal != RevealStatus::Missing).then_some(100.0 + f64::from(uid)),
        revealed_ms: (reveal != RevealStatus::Missing).then_some(900.5),
        output: output.to_vec(),
    }
}

/// Commit-reveal rows read back as written (outputs bit for bit, a missing reveal's time
/// absent), by (epoch, round, uid) whatever the recording order, for the epochs asked only.
#[test]
fn commit_reveals_round_trip_per_epoch_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = SqliteLedger::open(&dir.path().join("ledger.db")).expect("opens");
    // 0.1 + 0.2 is not 0.3 in f64: the stored bytes keep that last bit.
    let valid = reveal(0, 3, RevealStatus::Valid, &[0.1 + 0.2, -1.5e-300, 7.0]);
    let rows = [valid.clone(), reveal(0, 1, RevealStatus::Missing, &[]), reveal(1, 0, RevealStatus::Late, &[])];
    assert_eq!(ledger.record_commit_reveals(4, &rows).expect("records"), 3);
    assert_eq!(ledger.record_commit_reveals(5, &[reveal(0, 2, RevealStatus::Mismatch, &[])]).expect("records"), 1);
    let got = ledger.commit_reveals(4..5).expect("reads");
    let keys: Vec<(u64, u32, u16)> = got.iter().map(|(e, r)| (*e, r.round, r.uid)).collect();
    assert_eq!(keys, [(4, 0, 1), (4, 0, 3), (4, 1, 0)]);
    assert_eq!(got[1].1, valid);
    assert_eq!(got[1].1.output[0].to_bits(), (0.1f64 + 0.2).to_bits());
    assert_eq!((got[0].1.committed_ms, got[0].1.revealed_ms), (None, None), "uid 1 never committed");
    assert_eq!(ledger.commit_reveals(4..6).expect("reads").len(), 4);
    assert!(ledger.commit_reveals(6..9).expect("reads").is_empty());
    // The same (round, uid) twice is refused, and nothing of that batch is kept.
    let again = [reveal(2, 0, RevealStatus::Late, &[]), reveal(0, 3, RevealStatus::Late, &[])];
    assert!(matches!(ledger.record_commit_reveals(4, &again), Err(Error::Duplicate(_))));
    assert_eq!(ledger.commit_reveals(4..5).expect("reads").len(), 3);
    ledger.epoch_seed(4, || [1; 32]).expect("the epoch begins");
    ledger.freeze_epoch(4).expect("freezes");
    assert!(matches!(ledger.record_commit_reveals(4, &[reveal(3, 0, RevealStatus::Late, &[])]), Err(Error::Frozen(4))));
}

/// Rows the contract cannot carry are refused whole, by name: an output one element over the
/// cap, an output on a reveal that is not valid, a NaN element, a negative time.
#[test]
fn commit_reveals_the_contract_cannot_carry_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = SqliteLedger::open(&dir.path().join("ledger.db")).expect("opens");
    let at_cap = reveal(0, 1, RevealStatus::Valid, &vec![0.5; MAX_REVEAL_ELEMENTS]);
    assert_eq!(ledger.record_commit_reveals(1, &[at_cap]).expect("the cap itself is kept"), 1);
    let refused = [
        reveal(0, 2, RevealStatus::Valid, &vec![0.5; MAX_REVEAL_ELEMENTS + 1]),
        reveal(0, 2, RevealStatus::Mismatch, &[1.0]),
        reveal(0, 2, RevealStatus::Valid, &[1.0, f64::NAN]),
        CommitRevealRow { committed_ms: Some(-3.0), ..reveal(0, 2, RevealStatus::Late, &[]) },
    ];
    for row in refused {
        let fine = reveal(0, 0, RevealStatus::Late, &[]);
        let e = ledger.record_commit_reveals(1, &[fine, row]).expect_err("refused");
        assert!(matches!(e, Error::BadCommitReveal(ref m) if m.contains("round 0 uid 2")), "{e}");
    }
    assert_eq!(ledger.commit_reveals(1..2).expect("reads").len(), 1, "nothing of a refused batch is kept");
}

/// A baseline request (uid 65535, no miner's) is stored and read back like any other.
#[test]
fn baseline_requests_are_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = SqliteLedger::open(&dir.path().join("ledger.db")).expect("opens");
    let mut baseline = entry(3, assay_policy_sdk::NO_MINER);
    baseline.record.kind = RequestKind::Baseline;
    baseline.content = None;
    record_requests(&ledger, 2, &[entry(2, 1), baseline.clone()]).expect("records");
    let got = ledger.requests(2).expect("reads");
    assert_eq!(got[1], baseline);
    assert_eq!(got[1].record.to_record(0).kind, assay_policy_sdk::RequestKind::Baseline);
}

/// A version-7 ledger (before commit-reveal rows) gains the table and keeps its rows.
#[test]
fn a_version_7_ledger_is_migrated_to_commit_reveals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.db");
    {
        let conn = Connection::open(&path).expect("opens");
        conn.execute_batch(&format!("BEGIN; {} PRAGMA user_version = 1; COMMIT;", schema::V1)).expect("v1 schema");
    }
    // Up to v7 by this host's own migrations, then back to before v8 (its table dropped).
    drop(SqliteLedger::open(&path).expect("migrates"));
    {
        let conn = Connection::open(&path).expect("opens");
        conn.execute_batch("BEGIN; DROP TABLE commit_reveals; PRAGMA user_version = 7; COMMIT;").expect("v7");
        conn.execute(
            "INSERT INTO token_checks (epoch, request_id, uid, tokens) VALUES (4, 3, 2, '[[0.0,-0.5,-0.5]]')",
            [],
        )
        .expect("a v7 row");
    }
    assert!(matches!(SqliteLedger::open_read_only(&path), Err(Error::OlderSchema { found: 7, current: 8 })));
    let ledger = SqliteLedger::open(&path).expect("migrates to v8");
    assert_eq!(ledger.token_checks(4).expect("reads").len(), 1, "the v7 row is kept");
    assert_eq!(ledger.record_commit_reveals(4, &[reveal(0, 2, RevealStatus::Late, &[])]).expect("records"), 1);
    let conn = Connection::open(&path).expect("opens");
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).expect("reads");
    assert_eq!(version, 8);
}

/// A read-only open cannot migrate: a ledger of an older schema is refused, by name, and one
/// of the current schema opens.
#[test]
fn a_read_only_open_refuses_an_older_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.db");
    drop(SqliteLedger::open(&path).expect("opens"));
    assert!(SqliteLedger::open_read_only(&path).is_ok());
    let conn = Connection::open(&path).expect("opens");
    conn.pragma_update(None, "user_version", 5).expect("downgrades");
    drop(conn);
    let Err(e) = SqliteLedger::open_read_only(&path) else { panic!("an older schema opened read-only") };
    assert!(matches!(e, Error::OlderSchema { found: 5, current: 8 }), "{e}");
    assert!(e.to_string().contains("open it once read-write"), "{e}");
}

#[test]
fn seeds_are_drawn_once_and_epochs_close_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = SqliteLedger::open(&dir.path().join("ledger.db")).expect("opens");
    let first = ledger.epoch_seed(5, || [9; 32]).expect("draws");
    let again = ledger.epoch_seed(5, || [1; 32]).expect("reads");
    assert_eq!(first, again);
    assert_eq!(first.seed, [9; 32]);
    assert_eq!(first.commitment, schema::sha256(&[9; 32]));
    assert_eq!(ledger.open_epochs(100).expect("reads"), vec![5], "epoch 6 was never started");

    assert_eq!(ledger.last_closed().expect("reads"), None);
    ledger.epoch_seed(7, || [2; 32]).expect("draws");
    assert_eq!(ledger.open_epochs(7).expect("reads"), vec![5]);
    assert_eq!(ledger.open_epochs(8).expect("reads"), vec![5, 7]);
    ledger.close_epoch(&closing(5, "abc", "scorer-a", b"state-5")).expect("closes");
    assert!(matches!(ledger.close_epoch(&closing(5, "abc", "scorer-a", b"x")), Err(Error::Conflict(_))));
    assert!(matches!(ledger.close_epoch(&closing(8, "abc", "scorer-a", b"x")), Err(Error::Conflict(_))));
    assert_eq!(ledger.open_epochs(8).expect("reads"), vec![7]);
    assert_eq!(ledger.last_closed().expect("reads"), Some(ClosedEpoch { epoch: 5, summary_sha256: "abc".into() }));

    assert_eq!(ledger.last_scorer().expect("reads").as_deref(), Some("scorer-a"));
    assert_eq!(ledger.state_before(6, "scorer-a").expect("reads"), b"state-5");
    assert_eq!(ledger.state_before(5, "scorer-a").expect("reads"), b"");
    assert_eq!(ledger.state_before(6, "scorer-b").expect("reads"), b"");
}

#[test]
fn settings_are_shared_between_handles() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.db");
    let host = SqliteLedger::open(&path).expect("opens");
    let cli = SqliteLedger::open(&path).expect("opens a second time");
    assert_eq!(host.setting("active_scorer").expect("reads"), None);
    cli.set_setting("active_scorer", "aa").expect("writes");
    cli.set_setting("active_scorer", "bb").expect("overwrites");
    assert_eq!(host.setting("active_scorer").expect("reads").as_deref(), Some("bb"));
}

/// A writer process prints each request id after `record_request` returned; the test kills it
/// with SIGKILL mid-stream and finds every acknowledged id in the reopened ledger.
#[test]
fn acknowledged_writes_survive_a_killed_process() {
    const CHILD: &str = "ASSAY_LEDGER_CRASH_WRITER";
    if let Ok(path) = std::env::var(CHILD) {
        let ledger = SqliteLedger::open(Path::new(&path)).expect("child opens");
        for id in 0.. {
            record_requests(&ledger, 1, &[entry(id, 0)]).expect("child records");
            println!("ack {id}");
        }
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.db");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "tests::acknowledged_writes_survive_a_killed_process", "--nocapture", "--test-threads=1"])
        .env(CHILD, &path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawns writer");
    let stdout = child.stdout.take().expect("piped");
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("reads");
        if let Some(id) = line.strip_prefix("ack ") {
            acked.push(id.parse::<u64>().expect("id"));
            if acked.len() == 50 {
                child.kill().expect("kills");
                break;
            }
        }
    }
    child.wait().expect("reaps");
    assert_eq!(acked.len(), 50, "the writer acknowledged too few writes");

    let ledger = SqliteLedger::open(&path).expect("reopens after the kill");
    let stored: Vec<u64> = ledger.requests(1).expect("reads").iter().map(|e| e.record.id).collect();
    for id in &acked {
        assert!(stored.contains(id), "acknowledged request {id} was lost");
    }
}

#[test]
fn closing_queues_what_goes_out_until_it_is_done() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = SqliteLedger::open(&dir.path().join("ledger.db")).expect("opens");
    for epoch in [1, 2] {
        ledger.epoch_seed(epoch, || [3; 32]).expect("seed");
    }
    let first = Closing {
        objects: vec![("a".into(), b"one".to_vec()), ("b".into(), b"two".to_vec())],
        weights: Some("{\"uids\":[1]}".into()),
        head: 40,
        ..closing(1, "s1", "scorer", b"")
    };
    assert_eq!(ledger.last_epoch_with_weights().expect("reads"), None);
    ledger.close_epoch(&first).expect("closes");
    ledger.close_epoch(&Closing { weights: None, ..closing(2, "s2", "scorer", b"") }).expect("closes");
    let out = ledger.outgoing().expect("reads");
    assert_eq!(out.iter().map(|o| o.epoch).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(out[0].objects, first.objects);
    assert_eq!(out[0].weights, first.weights);
    assert_eq!(out[0].head, 40);
    assert_eq!(out[0].weights_state, Some(WeightsState::Pending { attempts: 0, last_error: None }));
    assert_eq!(out[1].weights_state, None);

    ledger.mark_published(2).expect("marks");
    assert_eq!(ledger.outgoing().expect("reads").len(), 1, "epoch 2 has nothing left to do");
    ledger.mark_published(1).expect("marks");
    let failed = WeightsState::Pending { attempts: 2, last_error: Some("node unreachable: timed out".into()) };
    ledger.mark_weights(1, &failed).expect("marks");
    let out = ledger.outgoing().expect("reads");
    assert_eq!((out.len(), out[0].objects.len()), (1, 0), "published objects are dropped");
    assert_eq!(out[0].weights_state, Some(failed));
    ledger.mark_weights(1, &WeightsState::Accepted { block: 44 }).expect("marks");
    assert!(ledger.outgoing().expect("reads").is_empty());
    // Done or not, epoch 1 is the latest with weights (epoch 2 had none).
    assert_eq!(ledger.last_epoch_with_weights().expect("reads"), Some(1));
}

fn exchange_of(id: u64, body_bytes: usize) -> Exchange {
    Exchange {
        id,
        uid: 1,
        miner_hotkey: "5Miner".into(),
        path: "/v1/chat/completions".into(),
        request: format!(r#"{{"messages":[{{"role":"user","content":"{}"}}]}}"#, "x".repeat(body_bytes)),
        evidence: Some(r#"{"assay":{}}"#.into()),
    }
}

#[test]
fn retention_drops_the_bodies_of_closed_published_epochs_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = SqliteLedger::open(&dir.path().join("ledger.db")).expect("opens");
    for epoch in [0, 1, 2] {
        ledger.epoch_seed(epoch, || [7; 32]).expect("seed");
        ledger.record_traffic(epoch, &[(entry(3, 1), Some(exchange_of(3, 100)))]).expect("records");
        ledger.record_challenges(epoch, &[challenge(3, 1, Verdict::Pass)]).expect("records");
    }
    let content = |epoch| ledger.request_contents(epoch).expect("reads").remove(&3);
    assert_eq!(content(0), Some(content_of(3)), "the text kept for the dataset reads back");
    let mut published = closing(0, "s0", "scorer", b"");
    published.objects = vec![("epochs/0/summary.json".into(), b"{}".to_vec())];
    ledger.close_epoch(&published).expect("closes");
    let mut unpublished = closing(1, "s1", "scorer", b"");
    unpublished.objects = vec![("epochs/1/summary.json".into(), b"{}".to_vec())];
    ledger.close_epoch(&unpublished).expect("closes");
    let later = now_ms() + 1;
    assert_eq!(ledger.prune_bodies(later).expect("prunes"), 0, "nothing is published yet");
    ledger.mark_published(0).expect("marks");
    // Closed after the cutoff: kept.
    assert_eq!(ledger.prune_bodies(0).expect("prunes"), 0);
    assert_eq!(ledger.prune_bodies(later).expect("prunes"), 1);
    assert!(exchanges(&ledger, 0).is_empty(), "epoch 0's bodies are gone");
    assert_eq!(content(0), None, "and its requests' contents");
    assert_eq!(content(1), Some(content_of(3)), "epoch 1's stay until it is published");
    assert_eq!(exchanges(&ledger, 1).len(), 1, "epoch 1 is not published yet");
    assert_eq!(exchanges(&ledger, 2).len(), 1, "epoch 2 is open");
    // Records, challenges and the closing itself stay.
    assert_eq!(ledger.requests(0).expect("reads").len(), 1);
    assert_eq!(ledger.challenges(0).expect("reads").len(), 1);
    assert_eq!(ledger.last_closed().expect("reads").map(|c| c.epoch), Some(1));
}

/// A tmpfs of `bytes` mounted over a fresh folder, unmounted when dropped; `None` (with the
/// reason printed) where this machine does not let the test mount one.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(bytes: usize) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Self { dir }),
            Ok(o) => {
                eprintln!("skipped: mounting a tmpfs needs root here: {}", String::from_utf8_lossy(&o.stderr).trim());
                None
            }
            Err(e) => {
                eprintln!("skipped: no mount command: {e}");
                None
            }
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_is_a_typed_error_and_retention_makes_room() {
    // The reserve must hold a WAL's worth of pages (4 MiB) for the checkpoint after pruning.
    let Some(disk) = SmallDisk::mount(12 << 20) else { return };
    let ledger = SqliteLedger::open(&disk.dir.path().join("ledger.db")).expect("opens").with_reserve(6 << 20);
    ledger.epoch_seed(0, || [7; 32]).expect("seed");
    let mut recorded = 0;
    let full = loop {
        match ledger.record_traffic(0, &[(entry(recorded + 1, 1), Some(exchange_of(recorded + 1, 16 << 10)))]) {
            Ok(_) => recorded += 1,
            Err(e) => break e,
        }
        assert!(recorded < 1000, "a 12 MB disk took {recorded} records of 16 KB");
    };
    assert!(matches!(full, Error::Full(_)), "{full}");
    assert!(recorded > 5, "{recorded} records before the disk was full");
    // What was acknowledged is all there, and the ledger still reads and refuses cleanly.
    assert_eq!(ledger.requests(0).expect("reads").len() as u64, recorded);
    assert_eq!(exchanges(&ledger, 0).len() as u64, recorded);
    let again = ledger.record_traffic(0, &[(entry(9999, 1), Some(exchange_of(9999, 16 << 10)))]).unwrap_err();
    assert!(matches!(again, Error::Full(_)), "{again}");
    // Verdicts still go in, from the reserve.
    ledger.record_challenges(0, &[challenge(1, 1, Verdict::Pass)]).expect("a verdict fits in the reserve");
    // The epoch closes and publishes (small writes), and retention frees its bodies' pages,
    // which the next epoch's records reuse.
    ledger.close_epoch(&closing(0, "s0", "scorer", b"")).expect("a small write still fits");
    ledger.mark_published(0).expect("marks");
    assert_eq!(ledger.prune_bodies(now_ms() + 1).expect("prunes") as u64, recorded);
    ledger.epoch_seed(1, || [8; 32]).expect("seed");
    for id in 1..=recorded / 2 {
        ledger.record_traffic(1, &[(entry(id, 1), Some(exchange_of(id, 16 << 10)))]).expect("room again");
    }
    assert_eq!(ledger.requests(0).expect("reads").len() as u64, recorded, "records outlive their bodies");
}

#[test]
fn text_a_user_did_not_agree_to_publish_is_never_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = SqliteLedger::open(&dir.path().join("ledger.db")).expect("opens");
    let with_text = |publish_text| RequestContent { publish_text, ..content_of(3) };
    let organic = RequestEntry { content: Some(with_text(false)), ..entry(1, 0) };
    let mut own = RequestEntry { content: Some(with_text(false)), ..entry(3, 0) };
    own.record.kind = RequestKind::Synthetic;
    let opted_in = RequestEntry { content: Some(with_text(true)), ..entry(5, 0) };
    record_requests(&ledger, 1, &[organic, own, opted_in]).expect("records");
    let contents = ledger.request_contents(1).expect("reads");
    assert_eq!(contents[&1], RequestContent { prompt: None, completion: None, ..with_text(false) }, "hashes only");
    assert_eq!(contents[&3], with_text(false), "the validator's own text is kept");
    assert_eq!(contents[&5], with_text(true), "an opted-in user's text is kept");
}
