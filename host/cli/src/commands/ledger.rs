//! `assay ledger import`: load request and challenge records (the dataset's JSON lines format).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::anyhow;
use assay_ledger::{ChallengeRow, Ledger, RequestContent, RequestEntry, RequestRow, SqliteLedger, TokenCheckRow};
use assay_policy_sdk::TokenMeasurement;
use assay_policy_sdk::v0_1::{ChallengeRecord, RequestRecord};
use serde::Deserialize;

use crate::commands::{ConfigArg, read};
use crate::{CmdResult, failed, unusable};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Import JSON lines: `{"epoch":N,"task":"chat","record":{…}}` for a request (with
    /// `"values":[…]` where it has policy-specific numbers),
    /// `{"epoch":N,"challenge":{…}}` for a judged challenge (with `"response_ms":X` where the
    /// miner answered the opening), `{"epoch":N,"token_check":{"request_id":R,"uid":U,
    /// "tokens":[{"rank","logprob","top_logprob"},…]}}` for a request's token check. A published
    /// `requests.jsonl.zst` is accepted as is.
    Import {
        file: PathBuf,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    epoch: u64,
    task: Option<String>,
    record: Option<RequestRecord>,
    #[serde(default)]
    values: Vec<f64>,
    challenge: Option<ChallengeRecord>,
    /// With a challenge: milliseconds the miner took to answer the opening.
    response_ms: Option<f64>,
    token_check: Option<TokenCheckLine>,
    /// A published line's hashes, and its text where it was published.
    content: Option<RequestContent>,
}

/// One request's token check.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenCheckLine {
    request_id: u64,
    uid: u16,
    tokens: Vec<TokenMeasurement>,
}

pub fn run(cmd: Command) -> CmdResult {
    let Command::Import { file, config } = cmd;
    let config = config.load()?;
    let mut bytes = read(&file, "records")?;
    if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        bytes = assay_epoch::canonical::decompress(&bytes, 4 << 30)
            .map_err(|e| unusable(anyhow!("decompressing {}: {e}", file.display())))?;
    }
    let text = String::from_utf8(bytes).map_err(|_| unusable(anyhow!("{} is not UTF-8", file.display())))?;

    let mut requests: BTreeMap<u64, Vec<RequestEntry>> = BTreeMap::new();
    let mut challenges: BTreeMap<u64, Vec<ChallengeRow>> = BTreeMap::new();
    let mut token_checks: BTreeMap<u64, Vec<TokenCheckRow>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let at = || format!("{} line {}", file.display(), i + 1);
        let parsed: Line = serde_json::from_str(line).map_err(|e| unusable(anyhow!("{}: {e}", at())))?;
        if parsed.response_ms.is_some() && parsed.challenge.is_none() {
            return Err(unusable(anyhow!("{}: response_ms belongs to a challenge", at())));
        }
        match (parsed.task, parsed.record, parsed.challenge, parsed.token_check) {
            (Some(task), Some(record), None, None) => requests.entry(parsed.epoch).or_default().push(RequestEntry {
                task,
                record: RequestRow::from_v0_1(&record),
                values: parsed.values,
                content: parsed.content,
            }),
            (None, None, Some(c), None) => challenges
                .entry(parsed.epoch)
                .or_default()
                .push(ChallengeRow { response_ms: parsed.response_ms, ..ChallengeRow::from_v0_1(&c) }),
            (None, None, None, Some(t)) => token_checks.entry(parsed.epoch).or_default().push(TokenCheckRow {
                request_id: t.request_id,
                uid: t.uid,
                tokens: t.tokens,
            }),
            _ => {
                return Err(unusable(anyhow!(
                    "{}: expected either task and record, a challenge, or a token_check",
                    at()
                )));
            }
        }
    }
    let ledger = SqliteLedger::open(&config.ledger_path()).map_err(unusable)?;
    for (epoch, entries) in &requests {
        let n = assay_ledger::record_requests(&ledger, *epoch, entries).map_err(failed)?;
        println!("epoch {epoch}: {n} requests");
    }
    for (epoch, records) in &challenges {
        let n = ledger.record_challenges(*epoch, records).map_err(failed)?;
        println!("epoch {epoch}: {n} challenges");
    }
    for (epoch, rows) in &token_checks {
        let n = ledger.record_token_checks(*epoch, rows).map_err(failed)?;
        println!("epoch {epoch}: {n} token checks");
    }
    Ok(())
}
