//! One epoch through cacheon's rules: competition requests gathered per (miner, task) and for
//! the baseline per task, the gates applied, the fresh scores compared with the carried leader,
//! the pool split into weights, and the next state.
//!
//! Owns: reading the epoch input (tasks, miners, requests, token checks, challenges) and the
//! order in which `formula.rs` is applied. Must not touch: the formulas themselves or the
//! state's bytes.

use assay_policy_sdk::{
    EpochInput, EpochOutput, LOGPROB_FLOOR, MinerScore, NO_MINER, Outcome, Param, RequestKind, Verdict,
};

use crate::config::{Config, MAX_MINERS};
use crate::formula::{self, CheckedToken, Correctness};
use crate::state::{Leader, State};

/// Per-task components are written for at most this many tasks: with the shared ones that
/// stays within the host's 64 components per miner.
pub const TASKS_WITH_COMPONENTS: usize = 5;
/// Most tasks an epoch may have.
pub const MAX_TASKS: usize = 64;
/// Longest component name the host accepts.
const MAX_COMPONENT_NAME: usize = 64;
/// The longest per-task component suffix.
const LONGEST_SUFFIX: &str = ".baseline_ttft_ms";

/// One miner's competition requests on one task this epoch.
#[derive(Debug, Default)]
struct Cell {
    /// Synthetic requests, cancelled ones left out (the client's doing, nobody's verdict).
    counted: u32,
    ok: u32,
    /// Time to first token and end-to-end rate of each timed `ok` request.
    ttft_ms: Vec<f64>,
    tps: Vec<f64>,
    /// Checked tokens of its greedy `ok` requests, in request order.
    tokens: Vec<CheckedToken>,
}

/// What one miner's competition on one task gave.
#[derive(Debug, Default, Clone, Copy)]
struct TaskResult {
    competed: bool,
    correctness: Option<Correctness>,
    correct: bool,
    ok_share: f64,
    /// The miner's medians, when enough of its requests ended `ok`.
    medians: Option<(f64, f64)>,
    ttft_improvement: f64,
    tps_improvement: f64,
    score: f64,
}

/// Everything gathered from the requests and token checks.
struct Gathered {
    tasks: usize,
    /// `miners × tasks`, miner-major.
    cells: Vec<Cell>,
    /// Per task, the baseline's timed `ok` requests.
    baseline_ttft_ms: Vec<Vec<f64>>,
    baseline_tps: Vec<Vec<f64>>,
}

/// The whole policy, callable natively.
pub fn score(input: &EpochInput) -> Result<EpochOutput, String> {
    check_shape(input)?;
    let cfg = Config::from_params(&input.params)?;
    let carried = State::decode(&input.state)?;
    let slot = slots(input)?;
    let mut gathered = gather_requests(input, &slot);
    gather_checks(input, &slot, &mut gathered);
    let baselines: Vec<Option<(f64, f64)>> = (0..gathered.tasks)
        .map(|t| {
            Some((formula::median(&mut gathered.baseline_ttft_ms[t])?, formula::median(&mut gathered.baseline_tps[t])?))
        })
        .collect();
    let failures = failures(input, &slot);
    let gated: Vec<bool> =
        input.miners.iter().zip(&failures).map(|(m, &f)| f > 0 || carried.gate(&m.hotkey) > 0).collect();
    let results: Vec<TaskResult> = gathered
        .cells
        .iter()
        .enumerate()
        .map(|(i, cell)| evaluate(cell, baselines[i % gathered.tasks.max(1)], &cfg))
        .collect();
    let fresh = fresh_scores(input, &results, &gated);
    let previous = input.miners.iter().position(|m| carried.is_leader(&m.hotkey));
    let winner = formula::winner(&fresh, previous, cfg.leader_margin);
    let runner_up = winner.and_then(|w| formula::best(&fresh, Some(w)));
    let pool = winner.map_or(0.0, |w| formula::pool(fresh[w], cfg.pool_target));
    let (to_winner, to_runner_up, burned) =
        formula::shares(pool, cfg.reward_winner, cfg.reward_runner_up, runner_up.is_some());
    let mut share = vec![0.0; input.miners.len()];
    for (at, amount) in [(winner, to_winner), (runner_up, to_runner_up), (slot_of(&slot, cfg.burn_uid), burned)] {
        if let Some(m) = at {
            share[m] += amount;
        }
    }
    let pairs: Vec<(u16, f64)> = input.miners.iter().zip(&share).map(|(m, &s)| (m.uid, s)).collect();
    let roles = Roles { previous, winner, runner_up, pool, burned };
    let summary =
        Summary { results: &results, baselines: &baselines, failures: &failures, gated: &gated, fresh: &fresh };
    let scores = miner_scores(input, &summary, &roles, &share);
    let state = next_state(input, &cfg, &failures, &carried, winner.map(|w| (w, fresh[w])));
    Ok(EpochOutput { scores, weights: formula::to_weights(&pairs), state: state.encode() })
}

/// Refuses inputs whose columns disagree, and tasks the weights cannot be split by: a host bug
/// or a configuration error, not something to score around.
fn check_shape(input: &EpochInput) -> Result<(), String> {
    if !input.requests.is_rectangular() {
        return Err("requests: columns of different lengths".to_string());
    }
    let checks = &input.token_checks;
    let tokens = checks.rank.len();
    if checks.token_start.len() != checks.request.len()
        || checks.logprob.len() != tokens
        || checks.top_logprob.len() != tokens
    {
        return Err("token checks: columns of different lengths".to_string());
    }
    if checks.token_start.windows(2).any(|w| w[0] > w[1])
        || checks.token_start.last().is_some_and(|&s| s as usize > tokens)
    {
        return Err("token checks: token-start is not ascending within the token columns".to_string());
    }
    if checks.request.iter().any(|&r| r as usize >= input.requests.len()) {
        return Err("token checks: a request position past the end of requests".to_string());
    }
    if input.challenges.uid.len() != input.challenges.verdict.len() {
        return Err("challenges: columns of different lengths".to_string());
    }
    if input.miners.len() > MAX_MINERS {
        return Err(format!("{} miners, more than {MAX_MINERS}", input.miners.len()));
    }
    check_tasks(input)
}

/// Tasks: at most [`MAX_TASKS`], weights in [0, 1] summing to 1 within 1e-9 (as the WIT says),
/// names distinct also as cut for component names.
fn check_tasks(input: &EpochInput) -> Result<(), String> {
    if input.tasks.len() > MAX_TASKS {
        return Err(format!("{} tasks, more than {MAX_TASKS}", input.tasks.len()));
    }
    if let Some(task) = input.tasks.iter().find(|t| !(t.weight.is_finite() && (0.0..=1.0).contains(&t.weight))) {
        return Err(format!("task {} has weight {}, outside [0, 1]", task.name, task.weight));
    }
    let sum: f64 = input.tasks.iter().map(|t| t.weight).sum();
    if !input.tasks.is_empty() && (sum - 1.0).abs() > 1e-9 {
        return Err(format!("task weights sum to {sum}, not 1"));
    }
    let mut cut: Vec<(&str, &str)> = input.tasks.iter().map(|t| (component_prefix(&t.name), t.name.as_str())).collect();
    cut.sort_unstable();
    if let Some(w) = cut.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!("tasks {:?} and {:?} have the same name (as cut to {:?})", w[0].1, w[1].1, w[0].0));
    }
    Ok(())
}

/// uid -> index into `input.miners` (`u32::MAX`: not a miner of this epoch). Miners must come
/// sorted by uid, as the contract says: ties between equal scores go to the lower index, which
/// the doc promises is the lower uid.
fn slots(input: &EpochInput) -> Result<Vec<u32>, String> {
    let mut slot = vec![u32::MAX; usize::from(u16::MAX) + 1];
    for (i, m) in input.miners.iter().enumerate() {
        if m.uid == NO_MINER {
            return Err(format!("miner uid {NO_MINER} is the baseline's"));
        }
        if slot[usize::from(m.uid)] != u32::MAX {
            return Err(format!("miner uid {} is listed twice", m.uid));
        }
        if i > 0 && input.miners[i - 1].uid > m.uid {
            return Err(format!("miners are not sorted by uid ({} after {})", m.uid, input.miners[i - 1].uid));
        }
        slot[usize::from(m.uid)] = i as u32;
    }
    Ok(slot)
}

/// The index into `input.miners` of `uid`, when it is a miner of this epoch.
fn slot_of(slot: &[u32], uid: u16) -> Option<usize> {
    let at = slot[usize::from(uid)];
    (at != u32::MAX).then_some(at as usize)
}

/// The cell of a listed miner's request on a task of the epoch; `None` for anyone else.
fn cell_index(slot: &[u32], tasks: usize, uid: u16, task: u16) -> Option<usize> {
    let miner = slot_of(slot, uid)?;
    (usize::from(task) < tasks).then(|| miner * tasks + usize::from(task))
}

/// Counts and times the competition: the synthetic requests of listed miners and the
/// baseline's requests (uid [`NO_MINER`]). Organic requests are not the competition's; rows of
/// unlisted uids or unknown tasks belong to nobody scored here. An `ok` request with no
/// completion token served nothing: it has no first token to time, and for a miner it counts
/// as not `ok` (otherwise instant empty answers to over half the prompts would set its median
/// time to first token near 0, and its few real answers would pass the correctness gate).
fn gather_requests(input: &EpochInput, slot: &[u32]) -> Gathered {
    let tasks = input.tasks.len();
    let mut g = Gathered {
        tasks,
        cells: (0..input.miners.len() * tasks).map(|_| Cell::default()).collect(),
        baseline_ttft_ms: vec![Vec::new(); tasks],
        baseline_tps: vec![Vec::new(); tasks],
    };
    let r = &input.requests;
    for i in 0..r.len() {
        let served = r.outcome[i] == Outcome::Ok && r.completion_tokens[i] > 0;
        let timing = || formula::request_timing(r.completion_tokens[i], r.ttft_ms[i], r.total_ms[i]);
        match r.kind[i] {
            RequestKind::Baseline if r.uid[i] == NO_MINER && usize::from(r.task[i]) < tasks => {
                if let (true, Some((ttft, tps))) = (served, timing()) {
                    g.baseline_ttft_ms[usize::from(r.task[i])].push(ttft);
                    g.baseline_tps[usize::from(r.task[i])].push(tps);
                }
            }
            RequestKind::Synthetic if r.outcome[i] != Outcome::Cancelled => {
                let Some(at) = cell_index(slot, tasks, r.uid[i], r.task[i]) else { continue };
                let cell = &mut g.cells[at];
                cell.counted = cell.counted.saturating_add(1);
                if served {
                    cell.ok = cell.ok.saturating_add(1);
                    if let Some((ttft, tps)) = timing() {
                        cell.ttft_ms.push(ttft);
                        cell.tps.push(tps);
                    }
                }
            }
            _ => {}
        }
    }
    g
}

/// The checked tokens of each miner's greedy `ok` competition requests. A check with a
/// log-prob that is not a finite number is the validator's failed reference pass, never the
/// miner's: it is left out whole. Log-probs below the contract's floor (-1000) count as the
/// floor, and above 0 (a probability over 1, never measured) as 0.
fn gather_checks(input: &EpochInput, slot: &[u32], g: &mut Gathered) {
    let (r, checks) = (&input.requests, &input.token_checks);
    for j in 0..checks.len() {
        let i = checks.request[j] as usize;
        if r.kind[i] != RequestKind::Synthetic || r.outcome[i] != Outcome::Ok || !r.greedy[i] {
            continue;
        }
        let Some(at) = cell_index(slot, g.tasks, r.uid[i], r.task[i]) else { continue };
        let tokens = checks.tokens(j);
        if tokens.clone().any(|k| !checks.logprob[k].is_finite()) {
            continue;
        }
        // Within the contract's range, [floor, 0]: a sum of them cannot overflow.
        let logprob = |k: usize| checks.logprob[k].clamp(LOGPROB_FLOOR, 0.0);
        g.cells[at].tokens.extend(tokens.map(|k| CheckedToken { rank: checks.rank[k], logprob: logprob(k) }));
    }
}

/// Failed challenges per miner this epoch (`void` counts neither way).
fn failures(input: &EpochInput, slot: &[u32]) -> Vec<u32> {
    let mut failures = vec![0u32; input.miners.len()];
    for (uid, verdict) in input.challenges.uid.iter().zip(&input.challenges.verdict) {
        if let (Some(m), Verdict::Fail) = (slot_of(slot, *uid), verdict) {
            failures[m] = failures[m].saturating_add(1);
        }
    }
    failures
}

/// One miner's task: the correctness gate, then its medians against the baseline's.
fn evaluate(cell: &Cell, baseline: Option<(f64, f64)>, cfg: &Config) -> TaskResult {
    let correctness = formula::correctness(&cell.tokens);
    let mut result = TaskResult {
        competed: cell.counted > 0,
        correct: formula::passes_gate(correctness.as_ref(), &cfg.thresholds),
        correctness,
        ..TaskResult::default()
    };
    if cell.counted == 0 {
        return result;
    }
    result.ok_share = f64::from(cell.ok) / f64::from(cell.counted);
    if result.ok_share < cfg.min_ok_share {
        return result;
    }
    let (mut ttft, mut tps) = (cell.ttft_ms.clone(), cell.tps.clone());
    result.medians = formula::median(&mut ttft).zip(formula::median(&mut tps));
    if let (Some((miner_ttft, miner_tps)), Some((base_ttft, base_tps))) = (result.medians, baseline) {
        result.ttft_improvement = formula::ttft_improvement(base_ttft, miner_ttft);
        result.tps_improvement = formula::tps_improvement(base_tps, miner_tps);
        result.score = formula::competition_score(
            result.ttft_improvement,
            result.tps_improvement,
            cfg.ttft_weight,
            cfg.tps_weight,
        );
    }
    result
}

/// Whether a miner competed on some task and passed the correctness gate on every task it
/// competed on.
fn correct(results: &[TaskResult]) -> bool {
    results.iter().any(|r| r.competed) && results.iter().all(|r| !r.competed || r.correct)
}

/// Each miner's fresh score, `Σ task weight × task score`, summed in task order; 0 for a gated
/// or incorrect miner.
fn fresh_scores(input: &EpochInput, results: &[TaskResult], gated: &[bool]) -> Vec<f64> {
    let tasks = input.tasks.len();
    (0..input.miners.len())
        .map(|m| {
            let mine = &results[m * tasks..(m + 1) * tasks];
            if gated[m] || !correct(mine) {
                return 0.0;
            }
            input.tasks.iter().zip(mine).map(|(t, r)| t.weight * r.score).sum()
        })
        .collect()
}

/// Who won what this epoch.
struct Roles {
    /// The listed miner that held the lead coming in.
    previous: Option<usize>,
    winner: Option<usize>,
    runner_up: Option<usize>,
    pool: f64,
    burned: f64,
}

/// What the epoch measured, per miner and per task.
struct Summary<'a> {
    results: &'a [TaskResult],
    baselines: &'a [Option<(f64, f64)>],
    failures: &'a [u32],
    gated: &'a [bool],
    fresh: &'a [f64],
}

/// Each miner's share of the weight as its score, with the components people read, in input
/// order.
fn miner_scores(input: &EpochInput, s: &Summary<'_>, roles: &Roles, share: &[f64]) -> Vec<MinerScore> {
    let tasks = input.tasks.len();
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    input
        .miners
        .iter()
        .enumerate()
        .map(|(m, miner)| {
            let mine = &s.results[m * tasks..(m + 1) * tasks];
            let mut components = vec![
                Param { name: "failed_challenges".to_string(), value: f64::from(s.failures[m]) },
                Param { name: "gated".to_string(), value: flag(s.gated[m]) },
                Param { name: "correct".to_string(), value: flag(correct(mine)) },
                Param { name: "fresh_score".to_string(), value: s.fresh[m] },
                Param { name: "previous_leader".to_string(), value: flag(roles.previous == Some(m)) },
                Param { name: "winner".to_string(), value: flag(roles.winner == Some(m)) },
                Param { name: "runner_up".to_string(), value: flag(roles.runner_up == Some(m)) },
                Param { name: "pool".to_string(), value: roles.pool },
                Param { name: "burned".to_string(), value: roles.burned },
            ];
            for ((task, result), baseline) in input.tasks.iter().zip(mine).zip(s.baselines).take(TASKS_WITH_COMPONENTS)
            {
                task_components(&mut components, component_prefix(&task.name), result, *baseline);
            }
            MinerScore { uid: miner.uid, score: share[m], components }
        })
        .collect()
}

/// A task's components, for a task the miner competed on; each only where it has a value.
fn task_components(components: &mut Vec<Param>, prefix: &str, r: &TaskResult, baseline: Option<(f64, f64)>) {
    if !r.competed {
        return;
    }
    let mut shown: Vec<(&str, f64)> = Vec::with_capacity(11);
    if let Some(c) = r.correctness {
        shown.extend([("similarity", c.similarity), ("mean_logprob", c.mean_logprob), ("min_logprob", c.min_logprob)]);
    }
    shown.push(("ok_share", r.ok_share));
    if let Some((ttft, tps)) = r.medians {
        shown.extend([("median_ttft_ms", ttft), ("median_tps", tps)]);
    }
    if let Some((ttft, tps)) = baseline {
        shown.extend([("baseline_ttft_ms", ttft), ("baseline_tps", tps)]);
    }
    shown.extend([
        ("ttft_improvement", r.ttft_improvement),
        ("tps_improvement", r.tps_improvement),
        ("score", r.score),
    ]);
    components.extend(shown.into_iter().map(|(name, value)| Param { name: format!("{prefix}.{name}"), value }));
}

/// The leader this epoch chose and the gates still running for the epoch's miners: `gate.epochs`
/// more after a failed challenge, one fewer after each epoch without one. Miners absent from
/// this epoch are dropped with their gates (coming back means registering again).
fn next_state(
    input: &EpochInput,
    cfg: &Config,
    failures: &[u32],
    carried: &State,
    winner: Option<(usize, f64)>,
) -> State {
    let mut next = State::default();
    next.leader = winner.map(|(w, score)| Leader { hotkey: input.miners[w].hotkey.clone(), score });
    for (miner, &failed) in input.miners.iter().zip(failures) {
        let left = if failed > 0 { cfg.gate_epochs } else { carried.gate(&miner.hotkey).saturating_sub(1) };
        next.set_gate(&miner.hotkey, left);
    }
    next
}

/// A task name cut so that `<name>.baseline_ttft_ms` fits the host's 64 bytes.
fn component_prefix(task: &str) -> &str {
    let mut end = task.len().min(MAX_COMPONENT_NAME - LONGEST_SUFFIX.len());
    while !task.is_char_boundary(end) {
        end -= 1;
    }
    &task[..end]
}
