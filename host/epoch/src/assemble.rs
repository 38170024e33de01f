//! The policy input of an epoch from its parts: the one place that turns named tasks into the
//! contract's task indices and weights, and rows into the contract's columns.

use std::collections::{BTreeMap, BTreeSet};

use assay_chain::Metagraph;
use assay_policy_sdk::{
    Challenge, Challenges, CommitReveal, EpochInput, Miner, NO_MINER, Param, Request, RequestKind, RequestValues,
    Requests, Task, TaskCapacity, TokenChecks, TokenMeasurement,
};

use crate::{Error, Result};

/// A request with its task by name (the epoch input refers to tasks by index, which is only
/// fixed when the epoch is frozen) and its policy-specific values.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRequest {
    pub task: String,
    /// The request; its `task` index is set by [`assemble`].
    pub record: Request,
    pub values: Vec<f64>,
}

/// A commit-reveal row with its task by name, as [`TaskRequest`] is a request's.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskCommitReveal {
    pub task: String,
    /// The row; its `task` index is set by [`assemble`].
    pub record: CommitReveal,
}

/// The epoch's tasks, sorted by name, with their weights: `task_weights` (from the config)
/// scaled to sum to 1, a task it does not name getting 0; equal weights when it is empty.
fn tasks(epoch: u64, names: BTreeSet<String>, task_weights: &BTreeMap<String, f64>) -> Result<Vec<Task>> {
    let bad = |reason: String| Err(Error::Epoch { epoch, reason });
    if names.len() > usize::from(u16::MAX) {
        return bad(format!("{} task names is too many", names.len()));
    }
    if let Some((name, w)) = task_weights.iter().find(|(_, w)| !w.is_finite() || **w < 0.0) {
        return bad(format!("task {name} has weight {w}; weights are finite and not negative"));
    }
    let raw: Vec<f64> = if task_weights.is_empty() {
        vec![1.0; names.len()]
    } else {
        names.iter().map(|n| task_weights.get(n).copied().unwrap_or(0.0)).collect()
    };
    let total: f64 = raw.iter().sum();
    if !names.is_empty() && total <= 0.0 {
        return bad("the configured task weights give every task of the epoch weight 0".into());
    }
    Ok(names.into_iter().zip(raw).map(|(name, w)| Task { name, weight: w / total }).collect())
}

fn miners(metagraph: Metagraph, index: &BTreeMap<&str, u16>) -> Vec<Miner> {
    let mut neurons = metagraph.neurons;
    neurons.sort_by_key(|n| n.uid);
    neurons.dedup_by_key(|n| n.uid);
    neurons
        .into_iter()
        .map(|n| Miner {
            uid: n.uid,
            capacities: n
                .capacities
                .iter()
                .map(|(task, capacity)| TaskCapacity { task: index[task.as_str()], capacity: *capacity })
                .collect(),
            hotkey: n.hotkey,
            stake: n.stake,
            registered_at_block: n.registered_at_block,
        })
        .collect()
}

/// The requests as columns, ordered by id; their values; and the token checks of those that
/// have some (a check of a request not in the epoch is left out, and so is one with a NaN or
/// `+inf` log-prob; `-inf` is raised to [`assay_policy_sdk::LOGPROB_FLOOR`]).
fn requests(
    mut entries: Vec<TaskRequest>,
    index: &BTreeMap<&str, u16>,
    token_checks: &BTreeMap<u64, Vec<TokenMeasurement>>,
) -> (Requests, Vec<RequestValues>, TokenChecks) {
    entries.sort_by_key(|e| e.record.id);
    let mut requests = Requests::default();
    let mut request_values = Vec::new();
    let mut checks = TokenChecks::default();
    for (position, e) in entries.into_iter().enumerate() {
        let mut r = e.record;
        r.task = index[e.task.as_str()];
        if !e.values.is_empty() {
            request_values.push(RequestValues { request_id: r.id, values: e.values });
        }
        if let Some(tokens) = token_checks.get(&r.id) {
            // The ledger floors what it stores; a check recorded otherwise is floored here, or
            // dropped when the reference failed on it (never the miner's fault).
            match tokens.iter().cloned().map(TokenMeasurement::floored).collect::<Option<Vec<_>>>() {
                Some(tokens) => checks.push(position as u32, &tokens),
                None => tracing::warn!(request_id = r.id, "a token check with a NaN or +inf log-prob is left out"),
            }
        }
        requests.push(r);
    }
    (requests, request_values, checks)
}

/// Rows sorted by (round, uid) as the contract requires, with their task indices; a (round,
/// uid) given twice keeps its first row (the ledger's key makes it unique; the contract refuses
/// a repeat, which would fail the whole epoch).
fn commit_reveals(mut rows: Vec<TaskCommitReveal>, index: &BTreeMap<&str, u16>) -> Vec<CommitReveal> {
    rows.sort_by_key(|r| (r.record.round, r.record.uid));
    let before = rows.len();
    rows.dedup_by_key(|r| (r.record.round, r.record.uid));
    if rows.len() < before {
        tracing::warn!(repeated = before - rows.len(), "a commit-reveal row repeated for its (round, uid) is left out");
    }
    rows.into_iter().map(|r| CommitReveal { task: index[r.task.as_str()], ..r.record }).collect()
}

/// What the epoch's records may name: requests of listed miners, and baseline requests (kind
/// baseline with uid [`NO_MINER`], and only those: the contract refuses a mix, which would fail
/// the whole epoch); challenges and commit-reveal rows of listed miners. The rest is left out
/// with a warning (a subnet that shrank, a recorder's mistake).
fn listed_only(
    epoch: u64,
    listed: &BTreeSet<u16>,
    entries: Vec<TaskRequest>,
    challenges: Vec<Challenge>,
    rounds: Vec<TaskCommitReveal>,
) -> (Vec<TaskRequest>, Vec<Challenge>, Vec<TaskCommitReveal>) {
    let counts = (entries.len(), challenges.len(), rounds.len());
    let request_named = |r: &Request| match (r.kind == RequestKind::Baseline, r.uid == NO_MINER) {
        (true, true) => true,
        (false, false) => listed.contains(&r.uid),
        _ => false,
    };
    let entries: Vec<TaskRequest> = entries.into_iter().filter(|e| request_named(&e.record)).collect();
    let challenges: Vec<Challenge> = challenges.into_iter().filter(|c| listed.contains(&c.uid)).collect();
    let rounds: Vec<TaskCommitReveal> = rounds.into_iter().filter(|r| listed.contains(&r.record.uid)).collect();
    if (entries.len(), challenges.len(), rounds.len()) != counts {
        tracing::warn!(
            epoch,
            requests = counts.0 - entries.len(),
            challenges = counts.1 - challenges.len(),
            commit_reveals = counts.2 - rounds.len(),
            "records of uids the metagraph does not list (or baseline rows with a miner's uid, miners' rows with the baseline's) are left out"
        );
    }
    (entries, challenges, rounds)
}

/// The policy input from its parts: tasks sorted by name (from the records, the miners'
/// capacities and `task_weights`) and referred to by index, miners sorted by uid, requests by
/// id with the token checks recorded for them (`token_checks`, by request id), challenges in
/// the order given, commit-reveal rows by (round, uid). Records no listed miner owns are left
/// out ([`listed_only`]).
#[allow(clippy::too_many_arguments)]
pub fn assemble(
    epoch: u64,
    (block_start, block_end): (u64, u64),
    metagraph: Metagraph,
    entries: Vec<TaskRequest>,
    challenges: Vec<Challenge>,
    rounds: Vec<TaskCommitReveal>,
    task_weights: &BTreeMap<String, f64>,
    token_checks: &BTreeMap<u64, Vec<TokenMeasurement>>,
    params: Vec<Param>,
    state: Vec<u8>,
) -> Result<EpochInput> {
    if entries.len() > u32::MAX as usize {
        return Err(Error::Epoch { epoch, reason: format!("{} requests is too many", entries.len()) });
    }
    // Every record's task counts, left out or not (as before commit-reveal rows), so that a
    // record left out never shifts the task indices.
    let names: BTreeSet<String> = entries
        .iter()
        .map(|e| e.task.clone())
        .chain(rounds.iter().map(|r| r.task.clone()))
        .chain(metagraph.neurons.iter().flat_map(|n| n.capacities.keys().cloned()))
        .chain(task_weights.keys().cloned())
        .collect();
    let tasks = tasks(epoch, names, task_weights)?;
    let index: BTreeMap<&str, u16> = tasks.iter().enumerate().map(|(i, t)| (t.name.as_str(), i as u16)).collect();
    let netuid = metagraph.netuid;
    // Records of a uid the metagraph no longer lists (the subnet shrank) name no miner: left out.
    let listed: BTreeSet<u16> = metagraph.neurons.iter().map(|n| n.uid).collect();
    let (entries, challenges, rounds) = listed_only(epoch, &listed, entries, challenges, rounds);
    let miners = miners(metagraph, &index);
    let (requests, request_values, token_checks) = requests(entries, &index, token_checks);
    let challenges: Challenges = challenges.into_iter().collect();
    let commit_reveals = commit_reveals(rounds, &index);
    Ok(EpochInput {
        netuid,
        epoch,
        block_start,
        block_end,
        tasks,
        miners,
        requests,
        token_checks,
        request_values,
        challenges,
        commit_reveals,
        params,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(n, w)| (n.to_string(), *w)).collect()
    }

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn task_weights_are_equal_by_default_and_scaled_to_one() {
        let equal = tasks(1, names(&["a", "b", "c", "d"]), &BTreeMap::new()).expect("equal");
        assert!(equal.iter().all(|t| t.weight == 0.25));
        let set = tasks(1, names(&["a", "b", "z"]), &weights(&[("a", 3.0), ("b", 2.0)])).expect("scaled");
        let got: Vec<(&str, f64)> = set.iter().map(|t| (t.name.as_str(), t.weight)).collect();
        assert_eq!(got, [("a", 0.6), ("b", 0.4), ("z", 0.0)]);
        assert!(tasks(1, names(&["a"]), &weights(&[("a", f64::NAN)])).is_err());
        assert!(tasks(1, names(&["a"]), &weights(&[("a", -1.0)])).is_err());
        assert!(tasks(1, names(&["a", "b"]), &weights(&[("a", 0.0)])).is_err());
        assert!(tasks(1, names(&[]), &BTreeMap::new()).expect("none").is_empty());
    }

    #[test]
    fn non_finite_token_checks_are_floored_or_left_out() {
        use assay_policy_sdk::{LOGPROB_FLOOR, Request};
        let entry = |id: u64| TaskRequest {
            task: "chat".into(),
            record: Request {
                id,
                uid: 1,
                task: 0,
                kind: assay_policy_sdk::RequestKind::Organic,
                outcome: assay_policy_sdk::Outcome::Ok,
                greedy: true,
                prompt_tokens: 1,
                completion_tokens: 2,
                ttft_ms: 1.0,
                total_ms: 2.0,
                reported_ttft_ms: None,
                reported_tps: None,
                started_ms: 0,
            },
            values: Vec::new(),
        };
        let t = |logprob: f64| TokenMeasurement { rank: 1, logprob, top_logprob: -0.5 };
        let checks = BTreeMap::from([(1, vec![t(f64::NEG_INFINITY), t(-0.25)]), (2, vec![t(-0.25), t(f64::NAN)])]);
        let index = BTreeMap::from([("chat", 0u16)]);
        let (_, _, got) = requests(vec![entry(1), entry(2)], &index, &checks);
        assert_eq!(got.request, [0]);
        assert_eq!(got.logprob, [LOGPROB_FLOOR, -0.25]);
        assert!(got.top_logprob.iter().all(|v| v.is_finite()));
    }

    fn request(id: u64, uid: u16, kind: RequestKind) -> TaskRequest {
        TaskRequest {
            task: "chat".into(),
            record: Request {
                id,
                uid,
                task: 0,
                kind,
                outcome: assay_policy_sdk::Outcome::Ok,
                greedy: true,
                prompt_tokens: 1,
                completion_tokens: 2,
                ttft_ms: 1.0,
                total_ms: 2.0,
                reported_ttft_ms: None,
                reported_tps: None,
                started_ms: 0,
            },
            values: Vec::new(),
        }
    }

    fn round(round: u32, uid: u16, task: &str, committed_ms: f64) -> TaskCommitReveal {
        let record = CommitReveal {
            round,
            uid,
            task: 0,
            reveal: assay_policy_sdk::Reveal::Valid,
            committed_ms,
            revealed_ms: 9.0,
            output: vec![f64::from(uid)],
        };
        TaskCommitReveal { task: task.into(), record }
    }

    fn metagraph(uids: &[u16]) -> Metagraph {
        let neuron = |uid: u16| assay_chain::Neuron {
            uid,
            hotkey: format!("hk{uid}"),
            stake: 1,
            validator_permit: false,
            axon: None,
            registered_at_block: 0,
            coldkey: None,
            last_update: 0,
            capacities: BTreeMap::new(),
        };
        Metagraph { netuid: 1, neurons: uids.iter().map(|&u| neuron(u)).collect(), owner_hotkey: None }
    }

    /// Commit-reveal rows come sorted by (round, uid) with their tasks' indices (chat 0, verify
    /// 1: names sorted); a row of unlisted uid 9 and a repeat of (0, 1) are left out. Baseline
    /// requests stay only as kind baseline with uid 65535: a baseline row with uid 1 and a
    /// synthetic row with uid 65535 are left out, as is uid 9's request.
    #[test]
    fn rows_are_ordered_and_what_no_listed_miner_owns_is_left_out() {
        use RequestKind::{Baseline, Organic, Synthetic};
        let entries = vec![
            request(5, 4, Synthetic),
            request(1, NO_MINER, Baseline),
            request(2, 1, Baseline),
            request(3, NO_MINER, Synthetic),
            request(4, 9, Organic),
        ];
        let rounds = vec![
            round(1, 4, "verify", 1.0),
            round(0, 4, "chat", 2.0),
            round(0, 9, "chat", 3.0),
            round(0, 1, "chat", 4.0),
            round(0, 1, "chat", 5.0),
        ];
        let input = assemble(
            7,
            (0, 99),
            metagraph(&[1, 4]),
            entries,
            vec![],
            rounds,
            &BTreeMap::new(),
            &BTreeMap::new(),
            vec![],
            vec![],
        )
        .expect("assembles");
        let got: Vec<(u32, u16, u16, f64)> =
            input.commit_reveals.iter().map(|c| (c.round, c.uid, c.task, c.committed_ms)).collect();
        assert_eq!(got, [(0, 1, 0, 4.0), (0, 4, 0, 2.0), (1, 4, 1, 1.0)]);
        let names: Vec<&str> = input.tasks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["chat", "verify"]);
        assert_eq!(input.requests.id, [1, 5]);
        assert_eq!(input.requests.uid, [NO_MINER, 4]);
        assay_policy_runtime::check_input(&input).expect("well formed");
    }
}
