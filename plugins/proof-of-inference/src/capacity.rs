//! Credited capacity: what a miner declared it can take, but never more than it delivered.
//!
//! Owns: turning the epoch's declarations and request records into one number per miner. Must not
//! touch: proofs, the moving average or the state blob (`lib.rs`, `state.rs`).
//!
//! Both sides are per epoch, in completion tokens (contract 0.2.0). For each task `t` of positive
//! weight `wₜ`, `deliveredₜ` is the completion tokens of the miner's `ok` requests of `t` this
//! epoch, and the miner is credited `min(declaredₜ, deliveredₜ)`, or `deliveredₜ` when it declared
//! nothing for `t` (a missing declaration may be the validator's failed fetch: never a zero). Its
//! capacity is `Σ wₜ × creditedₜ / Σ wₜ`. A declaration alone earns nothing, so claiming more than
//! it serves gains a miner nothing under the fifth power of the weights. When nobody is credited
//! anything (no request records, no weighted task), capacity is 1 for everyone and `s` alone ranks.

use std::collections::BTreeMap;

use assay_policy_sdk::{EpochInput, Outcome, RequestKind};

/// Volumes keyed by (index into the miners, task index), in ascending order.
type Volumes = BTreeMap<(usize, u16), u64>;

/// The task weights, refused when one is negative or not finite (the host's invariant: they are
/// shares summing to 1).
fn task_weights(input: &EpochInput) -> Result<Vec<f64>, String> {
    for (t, task) in input.tasks.iter().enumerate() {
        if !task.weight.is_finite() || task.weight < 0.0 {
            return Err(format!("task {t} ({}) has weight {}, not a share", task.name, task.weight));
        }
    }
    Ok(input.tasks.iter().map(|t| t.weight).collect())
}

fn task_in_range(input: &EpochInput, task: u16, whose: &str) -> Result<(), String> {
    if usize::from(task) >= input.tasks.len() {
        return Err(format!("{whose} task {task}; the epoch has {} tasks", input.tasks.len()));
    }
    Ok(())
}

/// Each miner's declaration per task (two declarations of one task add up; delivery caps them).
fn declarations(input: &EpochInput) -> Result<Volumes, String> {
    let mut declared = Volumes::new();
    for (i, m) in input.miners.iter().enumerate() {
        for c in &m.capacities {
            task_in_range(input, c.task, &format!("miner uid {} declares capacity for", m.uid))?;
            let entry = declared.entry((i, c.task)).or_default();
            *entry = entry.saturating_add(u64::from(c.capacity));
        }
    }
    Ok(declared)
}

/// Completion tokens of each miner's `ok` requests per task; requests of uids not in the
/// metagraph, and baseline requests, belong to no miner.
fn deliveries(input: &EpochInput, index_of: &impl Fn(u16) -> Option<usize>) -> Result<Volumes, String> {
    let r = &input.requests;
    if !r.is_rectangular() {
        return Err(format!("request columns differ in length ({} request ids)", r.len()));
    }
    let mut delivered = Volumes::new();
    for k in 0..r.len() {
        task_in_range(input, r.task[k], &format!("request {} is of", r.id[k]))?;
        if r.outcome[k] != Outcome::Ok || r.kind[k] == RequestKind::Baseline {
            continue;
        }
        let Some(i) = index_of(r.uid[k]) else { continue };
        let entry = delivered.entry((i, r.task[k])).or_default();
        *entry = entry.saturating_add(u64::from(r.completion_tokens[k]));
    }
    Ok(delivered)
}

/// Each listed miner's credited capacity, in completion tokens per epoch; `index_of` maps a uid
/// to its index into the miners.
pub fn credited(input: &EpochInput, index_of: impl Fn(u16) -> Option<usize>) -> Result<Vec<f64>, String> {
    let weights = task_weights(input)?;
    let declared = declarations(input)?;
    let delivered = deliveries(input, &index_of)?;
    let total: f64 = weights.iter().sum();
    let mut credited = vec![0.0; input.miners.len()];
    if total > 0.0 {
        for (&(i, t), &volume) in &delivered {
            let shown = declared.get(&(i, t)).map_or(volume, |&d| d.min(volume));
            credited[i] += weights[usize::from(t)] * shown as f64;
        }
        credited.iter_mut().for_each(|c| *c /= total);
    }
    if credited.iter().all(|&c| c <= 0.0) {
        credited.iter_mut().for_each(|c| *c = 1.0);
    }
    Ok(credited)
}
