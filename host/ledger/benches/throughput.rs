//! What a validator's ledger sustains, with its real settings (WAL, `synchronous = FULL`: every
//! commit is on disk when it returns): the write rate of exchanges as the gateway's recorder
//! writes them (one transaction per batch, random request ids as the gateway draws them; and, for
//! comparison, ids in recording order), and the ledger's part of an epoch's close for 256
//! miners: freeze, read the requests and their contents back, assemble the policy input, encode
//! and compress it (the canonical input), and the closing transaction with that object.
//! Scoring, signing and publishing are not in it (`cargo bench -p assay-epoch --bench scoring`
//! times the scoring).
//!
//!     cargo bench -p assay-ledger --bench throughput
//!
//! Knobs: ASSAY_BENCH_WRITE_SECONDS (per batch size, default 3), ASSAY_BENCH_CLOSE_REQUESTS
//! (comma-separated request counts, default `100000,1000000`; empty: no close), ASSAY_BENCH_DIR (where the
//! ledgers go; default a temporary folder: put it on the disk the validator uses).

use std::time::{Duration, Instant};

use assay_epoch::synth::{Shape, generate};
use assay_epoch::{assemble, canonical};
use assay_ledger::{Closing, Exchange, Ledger, RequestContent, RequestEntry, RequestRow, SqliteLedger};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn folder() -> tempfile::TempDir {
    match std::env::var_os("ASSAY_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir).expect("a folder in ASSAY_BENCH_DIR"),
        None => tempfile::tempdir().expect("a temporary folder"),
    }
}

/// What the recorder writes for one exchange: the record, the prompt's and completion's hashes,
/// and the exchange (a short chat body and a miner's signed evidence).
fn exchange(id: u64, uid: u16) -> (RequestEntry, Option<Exchange>) {
    let record = RequestRow {
        id,
        uid,
        kind: assay_ledger::RequestKind::Organic,
        outcome: assay_ledger::Outcome::Ok,
        greedy: false,
        prompt_tokens: 20,
        completion_tokens: 8,
        ttft_ms: 12.5,
        total_ms: 80.25,
        reported_ttft_ms: None,
        reported_tps: None,
        quality: None,
        started_ms: 1_700_000_000_000 + id,
    };
    let content = RequestContent {
        publish_text: false,
        prompt_sha256: format!("{:064x}", id),
        completion_sha256: format!("{:064x}", id ^ 1),
        prompt: None,
        completion: None,
    };
    let request = format!(
        r#"{{"model":"mock","messages":[{{"role":"user","content":"Say hello."}}],"max_tokens":8,"assay":{{"request_id":"{id:016x}","nonce":"{:032x}","commit":true}}}}"#,
        id
    );
    let evidence = format!(
        r#"{{"assay":{{"request_id":"{id:016x}","prompt_token_ids":[1,2,3,4,5,6,7,8],"completion_token_ids":[1,2,3,4,5,6,7,8],"commitment":"{:064x}","leaf_count":400,"dtype":"f32"}},"assay_signature":{{"Epistula-Version":"2","Epistula-Signature":"0x{}"}}}}"#,
        id,
        "ab".repeat(64)
    );
    let exchange = Exchange {
        id,
        uid,
        miner_hotkey: "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY".into(),
        path: "/v1/chat/completions".into(),
        request,
        evidence: Some(evidence),
    };
    (RequestEntry { task: "chat".into(), record, values: Vec::new(), content: Some(content) }, Some(exchange))
}

/// The `n`th request id as the gateway draws them: random below 2^63 (SplitMix64 of `n`, so
/// runs repeat), which scatters the inserts over the (epoch, id) keys as live traffic does.
fn gateway_id(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) >> 1
}

/// Exchanges per second written in batches of `batch` for `seconds`, with the gateway's random
/// request ids or (`sequential`) with ids in recording order, which append to the keys instead.
fn write_rate(batch: usize, seconds: f64, sequential: bool) -> f64 {
    let dir = folder();
    let ledger = SqliteLedger::open(&dir.path().join("ledger.db")).expect("ledger");
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut next = 1u64;
    while Instant::now() < until {
        let rows: Vec<_> = (next..next + batch as u64)
            .map(|n| exchange(if sequential { n } else { gateway_id(n) }, (n % 256) as u16))
            .collect();
        ledger.record_traffic(1, &rows).expect("written");
        next += batch as u64;
    }
    (next - 1) as f64 / started.elapsed().as_secs_f64()
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

/// The ledger's part of closing an epoch of `requests` requests over 256 miners.
fn close(requests: u64) {
    let dir = folder();
    let ledger = SqliteLedger::open(&dir.path().join("ledger.db")).expect("ledger");
    let shape = Shape { netuid: 1, miners: 256, requests, challenges: requests / 20, seed: 42 };
    let synth = generate(shape, 1);
    // An epoch starts with its seed drawn (the close checks it is there).
    ledger.epoch_seed(1, || [7; 32]).expect("seed");
    let started = Instant::now();
    for chunk in synth.requests.chunks(512) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|r| {
                let (mut entry, exchange) = exchange(r.record.id, r.record.uid);
                entry.task = r.task.clone();
                entry.record = RequestRow::from_record(&r.record);
                (entry, exchange)
            })
            .collect();
        ledger.record_traffic(1, &rows).expect("written");
    }
    let filled = started.elapsed();

    let started = Instant::now();
    ledger.freeze_epoch(1).expect("frozen");
    let entries = ledger.requests(1).expect("requests");
    let contents = ledger.request_contents(1).expect("contents");
    let read = started.elapsed();
    let started = Instant::now();
    let tasks = entries
        .into_iter()
        .map(|e| assay_epoch::TaskRequest { record: e.record.to_record(0), task: e.task, values: e.values })
        .collect();
    let input = assemble(
        1,
        (100, 199),
        synth.metagraph.clone(),
        tasks,
        synth.challenges.clone(),
        Vec::new(),
        &synth.task_weights,
        &synth.token_checks,
        Vec::new(),
        Vec::new(),
    )
    .expect("assembles");
    let json = canonical::encode(&input).expect("encodes");
    let encoded = started.elapsed();
    let started = Instant::now();
    let zst = canonical::compress(&json).expect("compresses");
    let compressed = started.elapsed();
    let started = Instant::now();
    let closing = Closing {
        epoch: 1,
        summary_sha256: "0".repeat(64),
        scorer: "0".repeat(64),
        state: Vec::new(),
        objects: vec![("input.json.zst".into(), zst.clone())],
        weights: None,
        head: 200,
    };
    ledger.close_epoch(&closing).expect("closed");
    let committed = started.elapsed();
    let total = read + encoded + compressed + committed;
    println!(
        "close, 256 miners, {requests} requests ({} contents): read {} | assemble+encode {} | zstd {} | \
         close transaction {} | total {} (writing them first: {}); canonical input {} bytes JSON, {} bytes zstd",
        contents.len(),
        ms(read),
        ms(encoded),
        ms(compressed),
        ms(committed),
        ms(total),
        ms(filled),
        json.len(),
        zst.len()
    );
}

fn main() {
    let seconds: f64 = env_or("ASSAY_BENCH_WRITE_SECONDS", "3").parse().expect("ASSAY_BENCH_WRITE_SECONDS");
    for batch in [1, 16, 128, 512] {
        let rate = write_rate(batch, seconds, false);
        println!(
            "write, batches of {batch:>3}: {rate:>8.0} exchanges/s (synchronous = FULL, the gateway's random ids)"
        );
    }
    for batch in [128, 512] {
        let rate = write_rate(batch, seconds, true);
        println!("write, batches of {batch:>3}: {rate:>8.0} exchanges/s (synchronous = FULL, ids in recording order)");
    }
    for requests in env_or("ASSAY_BENCH_CLOSE_REQUESTS", "100000,1000000").split(',').filter(|r| !r.trim().is_empty()) {
        close(requests.trim().parse().expect("ASSAY_BENCH_CLOSE_REQUESTS: numbers"));
    }
}
