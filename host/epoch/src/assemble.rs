//! The policy input of an epoch from its parts: the one place that turns named tasks into the
//! contract's task indices.

use std::collections::{BTreeMap, BTreeSet};

use assay_chain::Metagraph;
use assay_policy_sdk::{ChallengeRecord, EpochInput, Miner, Param, RequestRecord, RequestValues, TaskCapacity};

use crate::{Error, Result};

/// A request record with its task by name (the epoch input refers to tasks by index, which is
/// only fixed when the epoch is frozen) and its policy-specific values.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRequest {
    pub task: String,
    pub record: RequestRecord,
    pub values: Vec<f64>,
}

/// The policy input from its parts: tasks sorted by name (from the records and the miners'
/// capacities) and referred to by index, miners sorted by uid, records in ledger order.
pub fn assemble(
    epoch: u64,
    (block_start, block_end): (u64, u64),
    metagraph: Metagraph,
    entries: Vec<TaskRequest>,
    challenges: Vec<ChallengeRecord>,
    params: Vec<Param>,
    state: Vec<u8>,
) -> Result<EpochInput> {
    let names: BTreeSet<String> = entries
        .iter()
        .map(|e| e.task.clone())
        .chain(metagraph.neurons.iter().flat_map(|n| n.capacities.keys().cloned()))
        .collect();
    if names.len() > usize::from(u16::MAX) {
        return Err(Error::Epoch { epoch, reason: format!("{} task names is too many", names.len()) });
    }
    let tasks: Vec<String> = names.into_iter().collect();
    let index: BTreeMap<&str, u16> = tasks.iter().enumerate().map(|(i, n)| (n.as_str(), i as u16)).collect();

    let mut neurons = metagraph.neurons;
    neurons.sort_by_key(|n| n.uid);
    let miners = neurons
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
        .collect();
    let mut requests = Vec::with_capacity(entries.len());
    let mut request_values = Vec::new();
    for e in entries {
        let mut r = e.record;
        r.task = index[e.task.as_str()];
        if !e.values.is_empty() {
            request_values.push(RequestValues { request_id: r.id, values: e.values });
        }
        requests.push(r);
    }
    Ok(EpochInput {
        netuid: metagraph.netuid,
        epoch,
        block_start,
        block_end,
        tasks,
        miners,
        requests,
        request_values,
        challenges,
        params,
        state,
    })
}
