//! `assay dev synth`: a deterministic synthetic workload written as the files the other tools
//! take: `metagraph.json` (for `assay chain init`, with each miner's declared capacities) and
//! `records.jsonl` (for `assay ledger import`: requests, challenges with their response times,
//! token checks and, with commit-reveal traffic, the rounds' rows). The tasks' weights are the
//! config's: `assay_epoch::synth::TASKS`.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use assay_epoch::synth::{Shape, Traffic, generate, generate_traffic};

/// Writes `epochs` epochs of `shape` with `traffic` from `first_epoch` on into `out`.
pub fn write(out: &Path, shape: Shape, traffic: Traffic, epochs: u64, first_epoch: u64) -> anyhow::Result<()> {
    let at = |what: &str| format!("writing {what} into {}", out.display());
    std::fs::create_dir_all(out).with_context(|| at("the folder"))?;
    let file = std::fs::File::create(out.join("records.jsonl")).with_context(|| at("records.jsonl"))?;
    let mut records = std::io::BufWriter::new(file);
    let mut metagraph = None;
    for epoch in first_epoch..first_epoch + epochs {
        let synth = generate_traffic(shape, epoch, traffic);
        for e in &synth.requests {
            // The import format's records are 0.1.0's (the dataset's lines).
            let record = assay_policy_sdk::v0_1::record_of(&e.record);
            let line = serde_json::json!({ "epoch": epoch, "task": e.task, "record": record });
            writeln!(records, "{line}").with_context(|| at("records.jsonl"))?;
        }
        for c in &synth.challenges {
            let challenge = assay_policy_sdk::v0_1::challenge_record_of(c.clone());
            let mut line = serde_json::json!({ "epoch": epoch, "challenge": challenge });
            if let Some(ms) = c.response_ms {
                line["response_ms"] = ms.into();
            }
            writeln!(records, "{line}").with_context(|| at("records.jsonl"))?;
        }
        let uids: std::collections::BTreeMap<u64, u16> =
            synth.requests.iter().map(|r| (r.record.id, r.record.uid)).collect();
        for (request_id, tokens) in &synth.token_checks {
            let uid = uids.get(request_id).copied().unwrap_or_default();
            let check = serde_json::json!({ "request_id": request_id, "uid": uid, "tokens": tokens });
            writeln!(records, "{}", serde_json::json!({ "epoch": epoch, "token_check": check }))
                .with_context(|| at("records.jsonl"))?;
        }
        for c in &synth.commit_reveals {
            // The row as the contract spells it, its task by name.
            let mut row = serde_json::to_value(&c.record)?;
            row["task"] = c.task.clone().into();
            writeln!(records, "{}", serde_json::json!({ "epoch": epoch, "commit_reveal": row }))
                .with_context(|| at("records.jsonl"))?;
        }
        metagraph = Some(synth.metagraph);
    }
    records.flush().with_context(|| at("records.jsonl"))?;
    let metagraph = metagraph.unwrap_or_else(|| generate(shape, first_epoch).metagraph);
    std::fs::write(out.join("metagraph.json"), serde_json::to_vec_pretty(&metagraph)?)
        .with_context(|| at("metagraph.json"))?;
    Ok(())
}
