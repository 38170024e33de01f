//! The policy input of an epoch from its parts: the one place that turns named tasks into the
//! contract's task indices and weights, and rows into the contract's columns.

use std::collections::{BTreeMap, BTreeSet};

use assay_chain::Metagraph;
use assay_policy_sdk::{
    Challenge, Challenges, EpochInput, Miner, NO_MINER, Param, Request, RequestValues, Requests, Task, TaskCapacity,
    TokenChecks, TokenMeasurement,
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

/// The policy input from its parts: tasks sorted by name (from the records, the miners'
/// capacities and `task_weights`) and referred to by index, miners sorted by uid, requests by
/// id with the token checks recorded for them (`token_checks`, by request id), challenges in
/// the order given. Commit-reveal rounds are not recorded yet: none.
#[allow(clippy::too_many_arguments)]
pub fn assemble(
    epoch: u64,
    (block_start, block_end): (u64, u64),
    metagraph: Metagraph,
    entries: Vec<TaskRequest>,
    challenges: Vec<Challenge>,
    task_weights: &BTreeMap<String, f64>,
    token_checks: &BTreeMap<u64, Vec<TokenMeasurement>>,
    params: Vec<Param>,
    state: Vec<u8>,
) -> Result<EpochInput> {
    if entries.len() > u32::MAX as usize {
        return Err(Error::Epoch { epoch, reason: format!("{} requests is too many", entries.len()) });
    }
    let names: BTreeSet<String> = entries
        .iter()
        .map(|e| e.task.clone())
        .chain(metagraph.neurons.iter().flat_map(|n| n.capacities.keys().cloned()))
        .chain(task_weights.keys().cloned())
        .collect();
    let tasks = tasks(epoch, names, task_weights)?;
    let index: BTreeMap<&str, u16> = tasks.iter().enumerate().map(|(i, t)| (t.name.as_str(), i as u16)).collect();
    let netuid = metagraph.netuid;
    // Records of a uid the metagraph no longer lists (the subnet shrank) name no miner: left out.
    let listed: BTreeSet<u16> = metagraph.neurons.iter().map(|n| n.uid).collect();
    let (all_requests, all_challenges) = (entries.len(), challenges.len());
    let entries: Vec<TaskRequest> =
        entries.into_iter().filter(|e| e.record.uid == NO_MINER || listed.contains(&e.record.uid)).collect();
    let challenges: Vec<Challenge> = challenges.into_iter().filter(|c| listed.contains(&c.uid)).collect();
    if entries.len() < all_requests || challenges.len() < all_challenges {
        tracing::warn!(
            epoch,
            requests = all_requests - entries.len(),
            challenges = all_challenges - challenges.len(),
            "records of uids the metagraph does not list are left out"
        );
    }
    let miners = miners(metagraph, &index);
    let (requests, request_values, token_checks) = requests(entries, &index, token_checks);
    let challenges: Challenges = challenges.into_iter().collect();
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
        commit_reveals: Vec::new(),
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
}
