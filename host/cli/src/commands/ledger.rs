//! `assay ledger import`: load request, challenge, token-check and commit-reveal records (the
//! dataset's JSON lines format).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::anyhow;
use assay_ledger::{
    ChallengeRow, CommitRevealRow, Ledger, RequestContent, RequestEntry, RequestRow, SqliteLedger, TokenCheckRow,
};
use assay_policy_sdk::v0_1::{ChallengeRecord, RequestRecord};
use assay_policy_sdk::{Reveal, TokenMeasurement};
use serde::Deserialize;

use crate::commands::{ConfigArg, read};
use crate::{CmdResult, failed, unusable};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Import JSON lines: `{"epoch":N,"task":"chat","record":{…}}` for a request (with
    /// `"values":[…]` where it has policy-specific numbers),
    /// `{"epoch":N,"challenge":{…}}` for a judged challenge (with `"response_ms":X` where the
    /// miner answered the opening), `{"epoch":N,"token_check":{"request_id":R,"uid":U,
    /// "tokens":[{"rank","logprob","top_logprob"},…]}}` for a request's token check,
    /// `{"epoch":N,"commit_reveal":{"round":R,"uid":U,"task":"chat","reveal":"valid",
    /// "committed_ms":X,"revealed_ms":Y,"output":[…]}}` for a miner's part in a commit-reveal
    /// round (`revealed_ms` -1 when no reveal came; `output` empty unless valid). A published
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
    commit_reveal: Option<CommitRevealLine>,
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

/// One miner's part in a commit-reveal round: the contract's record with its task by name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommitRevealLine {
    round: u32,
    uid: u16,
    task: String,
    reveal: Reveal,
    committed_ms: f64,
    revealed_ms: f64,
    #[serde(default)]
    output: Vec<f64>,
}

impl CommitRevealLine {
    fn row(self) -> CommitRevealRow {
        let record = assay_policy_sdk::CommitReveal {
            round: self.round,
            uid: self.uid,
            task: 0,
            reveal: self.reveal,
            committed_ms: self.committed_ms,
            revealed_ms: self.revealed_ms,
            output: self.output,
        };
        CommitRevealRow::from_record(&record, self.task)
    }
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
    let mut rounds: BTreeMap<u64, Vec<CommitRevealRow>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let at = || format!("{} line {}", file.display(), i + 1);
        let parsed: Line = serde_json::from_str(line).map_err(|e| unusable(anyhow!("{}: {e}", at())))?;
        if parsed.response_ms.is_some() && parsed.challenge.is_none() {
            return Err(unusable(anyhow!("{}: response_ms belongs to a challenge", at())));
        }
        if let Some(c) = parsed.commit_reveal {
            if parsed.task.is_some()
                || parsed.record.is_some()
                || parsed.challenge.is_some()
                || parsed.token_check.is_some()
            {
                return Err(unusable(anyhow!("{}: a commit_reveal line carries nothing else", at())));
            }
            rounds.entry(parsed.epoch).or_default().push(c.row());
            continue;
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
                    "{}: expected either task and record, a challenge, a token_check, or a commit_reveal",
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
    for (epoch, rows) in &rounds {
        let n = ledger.record_commit_reveals(*epoch, rows).map_err(failed)?;
        println!("epoch {epoch}: {n} commit-reveal rows");
    }
    Ok(())
}
