//! Lowers a contract 0.2.0 epoch input into a scorer from borrowed slices: columns of primitives
//! go from the host's vectors straight into guest memory, with no copy of the input first.
//!
//! The records below mirror `wit/policy.wit`'s input records field for field, borrowing where the
//! WIT has a list or a string (wasmtime 48's `bindgen!` cannot generate borrowed types for this
//! package: the challenger's `measurements` comes out without its lifetime). The component's own
//! types are checked against them when the export is looked up, so a field that drifts from the
//! WIT fails every call, loudly, in the tests. Only what has another Rust type on each side is
//! converted: enum columns (one byte per entry), the interned reasons, and the small lists of
//! records. Must not touch: the values (the input was checked before, by `check_input`).

use assay_policy_sdk::conv::Conv;
use assay_policy_sdk::{self as ours, EpochInput};
use wasmtime::component::{ComponentType, Instance, Lower, TypedFunc};
use wasmtime::{AsContextMut, Result};

use crate::bindings::scorer::assay::policy::types as wit;

#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct Param<'a> {
    #[component(name = "name")]
    name: &'a str,
    #[component(name = "value")]
    value: f64,
}

#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct Task<'a> {
    #[component(name = "name")]
    name: &'a str,
    #[component(name = "weight")]
    weight: f64,
}

#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct Miner<'a> {
    #[component(name = "uid")]
    uid: u16,
    #[component(name = "hotkey")]
    hotkey: &'a str,
    #[component(name = "stake")]
    stake: u64,
    #[component(name = "capacities")]
    capacities: &'a [wit::TaskCapacity],
    #[component(name = "registered-at-block")]
    registered_at_block: u64,
}

#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct Requests<'a> {
    #[component(name = "id")]
    id: &'a [u64],
    #[component(name = "uid")]
    uid: &'a [u16],
    #[component(name = "task")]
    task: &'a [u16],
    #[component(name = "kind")]
    kind: &'a [wit::RequestKind],
    #[component(name = "outcome")]
    outcome: &'a [wit::Outcome],
    #[component(name = "greedy")]
    greedy: &'a [bool],
    #[component(name = "prompt-tokens")]
    prompt_tokens: &'a [u32],
    #[component(name = "completion-tokens")]
    completion_tokens: &'a [u32],
    #[component(name = "ttft-ms")]
    ttft_ms: &'a [f64],
    #[component(name = "total-ms")]
    total_ms: &'a [f64],
    #[component(name = "reported-ttft-ms")]
    reported_ttft_ms: &'a [f64],
    #[component(name = "reported-tps")]
    reported_tps: &'a [f64],
    #[component(name = "started-ms")]
    started_ms: &'a [u64],
}

#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct TokenChecks<'a> {
    #[component(name = "request")]
    request: &'a [u32],
    #[component(name = "token-start")]
    token_start: &'a [u32],
    #[component(name = "rank")]
    rank: &'a [u32],
    #[component(name = "logprob")]
    logprob: &'a [f64],
    #[component(name = "top-logprob")]
    top_logprob: &'a [f64],
}

#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct RequestValues<'a> {
    #[component(name = "request-id")]
    request_id: u64,
    #[component(name = "values")]
    values: &'a [f64],
}

#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct Challenges<'a> {
    #[component(name = "request-id")]
    request_id: &'a [u64],
    #[component(name = "uid")]
    uid: &'a [u16],
    #[component(name = "verdict")]
    verdict: &'a [wit::Verdict],
    #[component(name = "reason")]
    reason: &'a [u32],
    #[component(name = "response-ms")]
    response_ms: &'a [f64],
    #[component(name = "point-start")]
    point_start: &'a [u32],
    #[component(name = "layer")]
    layer: &'a [u32],
    #[component(name = "position")]
    position: &'a [u32],
    #[component(name = "rel-l2")]
    rel_l2: &'a [f64],
    #[component(name = "cosine")]
    cosine: &'a [f64],
    #[component(name = "reasons")]
    reasons: &'a [&'a str],
}

#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct CommitReveal<'a> {
    #[component(name = "round")]
    round: u32,
    #[component(name = "uid")]
    uid: u16,
    #[component(name = "task")]
    task: u16,
    #[component(name = "reveal")]
    reveal: wit::Reveal,
    #[component(name = "committed-ms")]
    committed_ms: f64,
    #[component(name = "revealed-ms")]
    revealed_ms: f64,
    #[component(name = "output")]
    output: &'a [f64],
}

#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct Input<'a> {
    #[component(name = "netuid")]
    netuid: u16,
    #[component(name = "epoch")]
    epoch: u64,
    #[component(name = "block-start")]
    block_start: u64,
    #[component(name = "block-end")]
    block_end: u64,
    #[component(name = "tasks")]
    tasks: &'a [Task<'a>],
    #[component(name = "miners")]
    miners: &'a [Miner<'a>],
    #[component(name = "requests")]
    requests: Requests<'a>,
    #[component(name = "token-checks")]
    token_checks: TokenChecks<'a>,
    #[component(name = "request-values")]
    request_values: &'a [RequestValues<'a>],
    #[component(name = "challenges")]
    challenges: Challenges<'a>,
    #[component(name = "commit-reveals")]
    commit_reveals: &'a [CommitReveal<'a>],
    #[component(name = "params")]
    params: &'a [Param<'a>],
    #[component(name = "state")]
    state: &'a [u8],
}

/// Everything of an input that cannot be lent as it is, converted once per call.
pub(crate) struct Converted<'a> {
    capacities: Vec<Vec<wit::TaskCapacity>>,
    kind: Vec<wit::RequestKind>,
    outcome: Vec<wit::Outcome>,
    verdict: Vec<wit::Verdict>,
    reasons: Vec<&'a str>,
    tasks: Vec<Task<'a>>,
    request_values: Vec<RequestValues<'a>>,
    commit_reveals: Vec<CommitReveal<'a>>,
    params: Vec<Param<'a>>,
}

impl<'a> Converted<'a> {
    pub(crate) fn new(input: &'a EpochInput) -> Self {
        let capacity = |c: &ours::TaskCapacity| wit::TaskCapacity { task: c.task, capacity: c.capacity };
        Self {
            capacities: input.miners.iter().map(|m| m.capacities.iter().map(capacity).collect()).collect(),
            kind: input.requests.kind.iter().map(|&k| k.conv()).collect(),
            outcome: input.requests.outcome.iter().map(|&o| o.conv()).collect(),
            verdict: input.challenges.verdict.iter().map(|&v| v.conv()).collect(),
            reasons: input.challenges.reasons.iter().map(String::as_str).collect(),
            tasks: input.tasks.iter().map(|t| Task { name: &t.name, weight: t.weight }).collect(),
            request_values: input
                .request_values
                .iter()
                .map(|r| RequestValues { request_id: r.request_id, values: &r.values })
                .collect(),
            commit_reveals: input.commit_reveals.iter().map(commit_reveal).collect(),
            params: input.params.iter().map(|p| Param { name: &p.name, value: p.value }).collect(),
        }
    }
}

fn commit_reveal(row: &ours::CommitReveal) -> CommitReveal<'_> {
    CommitReveal {
        round: row.round,
        uid: row.uid,
        task: row.task,
        reveal: row.reveal.conv(),
        committed_ms: row.committed_ms,
        revealed_ms: row.revealed_ms,
        output: &row.output,
    }
}

/// The miners, borrowing their capacities from `converted` (a second step: a miner record lends
/// a list that must already live somewhere).
pub(crate) fn miners<'a>(input: &'a EpochInput, converted: &'a Converted<'a>) -> Vec<Miner<'a>> {
    input
        .miners
        .iter()
        .zip(&converted.capacities)
        .map(|(m, capacities)| Miner {
            uid: m.uid,
            hotkey: &m.hotkey,
            stake: m.stake,
            capacities,
            registered_at_block: m.registered_at_block,
        })
        .collect()
}

/// The input as it is lowered, lending every primitive column.
pub(crate) fn epoch_input<'a>(
    input: &'a EpochInput,
    converted: &'a Converted<'a>,
    miners: &'a [Miner<'a>],
) -> Input<'a> {
    let (r, t, c) = (&input.requests, &input.token_checks, &input.challenges);
    Input {
        netuid: input.netuid,
        epoch: input.epoch,
        block_start: input.block_start,
        block_end: input.block_end,
        tasks: &converted.tasks,
        miners,
        requests: Requests {
            id: &r.id,
            uid: &r.uid,
            task: &r.task,
            kind: &converted.kind,
            outcome: &converted.outcome,
            greedy: &r.greedy,
            prompt_tokens: &r.prompt_tokens,
            completion_tokens: &r.completion_tokens,
            ttft_ms: &r.ttft_ms,
            total_ms: &r.total_ms,
            reported_ttft_ms: &r.reported_ttft_ms,
            reported_tps: &r.reported_tps,
            started_ms: &r.started_ms,
        },
        token_checks: TokenChecks {
            request: &t.request,
            token_start: &t.token_start,
            rank: &t.rank,
            logprob: &t.logprob,
            top_logprob: &t.top_logprob,
        },
        request_values: &converted.request_values,
        challenges: Challenges {
            request_id: &c.request_id,
            uid: &c.uid,
            verdict: &converted.verdict,
            reason: &c.reason,
            response_ms: &c.response_ms,
            point_start: &c.point_start,
            layer: &c.layer,
            position: &c.position,
            rel_l2: &c.rel_l2,
            cosine: &c.cosine,
            reasons: &converted.reasons,
        },
        commit_reveals: &converted.commit_reveals,
        params: &converted.params,
        state: &input.state,
    }
}

/// The export `score` of a 0.2.0 scorer, typed with the borrowed input; fails when the
/// component's types differ from the records above.
pub(crate) type ScoreExport<'a> = TypedFunc<(Input<'a>,), (std::result::Result<wit::EpochOutput, String>,)>;

pub(crate) fn score_export<'a>(instance: &Instance, store: impl AsContextMut) -> Result<ScoreExport<'a>> {
    instance.get_typed_func(store, "score")
}
