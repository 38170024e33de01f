//! One epoch through nineteen's rules: records gathered per (miner, task), merged with what was
//! carried, scored per task, summed, turned into weights and the next state.
//!
//! Owns: reading the epoch input (requests, token checks, challenges, capacities, tasks) and the
//! order in which `formula.rs` is applied. Must not touch: the formulas themselves or the
//! state's bytes.

use assay_policy_sdk::{EpochInput, EpochOutput, MinerScore, Outcome, Param, RequestKind, Verdict};

use crate::config::{Config, MAX_MINERS};
use crate::formula::{self, CheckedToken, Period, PeriodCounts};
use crate::state::{self, Carried, MinerState, QualityRecord, State};

/// Per-task components are written for at most this many tasks: with one shared component that
/// stays within the host's 64 components per miner.
pub const TASKS_WITH_COMPONENTS: usize = 12;
/// Longest component name the host accepts.
const MAX_COMPONENT_NAME: usize = 64;
/// Most tasks an epoch may have: as many as one miner's state entry can hold.
pub const MAX_TASKS: usize = state::MAX_TASKS_PER_MINER;

/// One miner's work on one task this epoch, then merged with what it carried.
#[derive(Debug, Default)]
struct Cell {
    /// Declared capacity, capped; 0 when the miner declared none for the task.
    capacity: f64,
    counts: PeriodCounts,
    /// This epoch's checked requests, in request order.
    checks: Vec<QualityRecord>,
    /// After `merge`: the history including this period, and the window of records.
    carried: Carried,
    result: TaskResult,
}

/// What people read about one miner's task.
#[derive(Debug, Default, Clone, Copy)]
struct TaskResult {
    /// Whether the miner has quality records for the task: without, it has no quality, speed
    /// bonus or volume to show (and scores 0, as in the seed).
    rated: bool,
    period: f64,
    quality: f64,
    speed_bonus: f64,
    volume: f64,
    score: f64,
}

/// The miners and tasks of the epoch as a dense grid of cells.
struct Grid {
    tasks: usize,
    cells: Vec<Cell>,
    /// uid -> index into `input.miners` (`u32::MAX`: not a miner of this epoch).
    slot: Vec<u32>,
    /// Failed challenges per miner this epoch.
    failures: Vec<u32>,
    /// Per miner: gated this epoch (a failed challenge now or within the last `gate.epochs`).
    gated: Vec<bool>,
}

impl Grid {
    /// The cell of miner `uid` for `task`; `None` for a uid that is not a miner of the epoch
    /// (or the baseline's) and for a task index past the epoch's tasks.
    fn cell(&mut self, uid: u16, task: u16) -> Option<&mut Cell> {
        let miner = self.slot[usize::from(uid)];
        let task = usize::from(task);
        if miner == u32::MAX || task >= self.tasks {
            return None;
        }
        self.cells.get_mut(miner as usize * self.tasks + task)
    }

    fn gated(&self, miner: usize) -> bool {
        self.gated[miner]
    }
}

/// The whole policy, callable natively.
pub fn score(input: &EpochInput) -> Result<EpochOutput, String> {
    check_shape(input)?;
    let cfg = Config::from_params(&input.params, &input.tasks)?;
    let mut carried = State::decode(&input.state)?;
    // What each miner of the epoch carried; anyone else's state is dropped.
    let previous: Vec<MinerState> = input.miners.iter().map(|m| carried.take(&m.hotkey)).collect();
    let mut grid = grid(input, &cfg, &previous)?;
    tally_requests(input, &cfg, &mut grid);
    record_checks(input, &cfg, &mut grid);
    let next_state = merge(input, &cfg, &mut grid, previous);
    for task in 0..grid.tasks {
        score_task(input, &cfg, &mut grid, task);
    }
    let scores = miner_scores(input, &grid);
    let pairs: Vec<(u16, f64)> = scores.iter().map(|s| (s.uid, s.score)).collect();
    Ok(EpochOutput { weights: formula::to_weights(&pairs), scores, state: next_state.encode() })
}

/// Refuses inputs whose columns disagree: a host bug, not something to score around.
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
    // Distinct names, also as cut for components and for the state: two tasks must never share
    // a component name or a carried history.
    let mut cut: Vec<(&str, &str)> = input.tasks.iter().map(|t| (component_prefix(&t.name), t.name.as_str())).collect();
    cut.sort_unstable();
    if let Some(w) = cut.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!("tasks {:?} and {:?} have the same name (as cut to {:?})", w[0].1, w[1].1, w[0].0));
    }
    Ok(())
}

/// The grid with declared capacities (capped: the only place they are), this epoch's failed
/// challenges and the gates filled in.
fn grid(input: &EpochInput, cfg: &Config, previous: &[MinerState]) -> Result<Grid, String> {
    let tasks = input.tasks.len();
    let mut slot = vec![u32::MAX; usize::from(u16::MAX) + 1];
    for (i, m) in input.miners.iter().enumerate() {
        if slot[usize::from(m.uid)] != u32::MAX {
            return Err(format!("miner uid {} is listed twice", m.uid));
        }
        slot[usize::from(m.uid)] = i as u32;
    }
    let mut cells: Vec<Cell> = (0..input.miners.len() * tasks).map(|_| Cell::default()).collect();
    for (i, m) in input.miners.iter().enumerate() {
        // The first declaration of a task counts; a repeated one (a miner's doing) is ignored.
        for c in m.capacities.iter().rev() {
            let task = usize::from(c.task);
            if task < tasks {
                cells[i * tasks + task].capacity = f64::from(c.capacity).min(cfg.capacity_max[task]);
            }
        }
    }
    let mut failures = vec![0u32; input.miners.len()];
    for (uid, verdict) in input.challenges.uid.iter().zip(&input.challenges.verdict) {
        if let (Some(&miner), Verdict::Fail) = (slot.get(usize::from(*uid)), verdict)
            && let Some(f) = failures.get_mut(miner as usize)
        {
            *f = f.saturating_add(1);
        }
    }
    let gated = failures.iter().zip(previous).map(|(&f, p)| f > 0 || p.gated_epochs_left > 0).collect();
    Ok(Grid { tasks, cells, slot, failures, gated })
}

/// Counts each request into its miner's period. Every `ok` request, organic or synthetic,
/// consumed capacity; the shares of good, 429 and "500" outcomes count synthetic requests (and
/// organic ones when configured). Baseline runs belong to no miner and cancelled requests to
/// nobody's fault.
fn tally_requests(input: &EpochInput, cfg: &Config, grid: &mut Grid) {
    let r = &input.requests;
    for i in 0..r.len() {
        let counted = match r.kind[i] {
            RequestKind::Synthetic => true,
            RequestKind::Organic => cfg.include_organic,
            RequestKind::Baseline => continue,
        };
        let Some(cell) = grid.cell(r.uid[i], r.task[i]) else { continue };
        let counts = &mut cell.counts;
        if r.outcome[i] == Outcome::Ok {
            counts.consumed += f64::from(r.completion_tokens[i]);
        }
        if !counted || r.outcome[i] == Outcome::Cancelled {
            continue;
        }
        counts.requests = counts.requests.saturating_add(1);
        match r.outcome[i] {
            Outcome::Ok => {}
            Outcome::RateLimited => counts.rate_limited = counts.rate_limited.saturating_add(1),
            Outcome::ServerError | Outcome::Timeout | Outcome::BadResponse => {
                counts.server_errors = counts.server_errors.saturating_add(1)
            }
            Outcome::Cancelled => {}
        }
    }
}

/// One quality record per checked greedy `ok` request of a miner (organic or synthetic): its
/// quality, and quality × tokens per second as the speed metric. No record (neither good nor
/// bad) for a sampled request (the seed's rank limit widens with a temperature the contract
/// does not carry), for a check the validator could not complete (no tokens, a log-prob that
/// is not finite), or for a request with no positive duration (no metric: the seed drops such a
/// record whole).
fn record_checks(input: &EpochInput, cfg: &Config, grid: &mut Grid) {
    let (r, checks) = (&input.requests, &input.token_checks);
    let mut tokens = Vec::new();
    for j in 0..checks.len() {
        let i = checks.request[j] as usize;
        if r.kind[i] == RequestKind::Baseline || r.outcome[i] != Outcome::Ok || !r.greedy[i] {
            continue;
        }
        let seconds = r.total_ms[i] / 1000.0;
        if !(seconds > 0.0 && seconds.is_finite()) {
            continue;
        }
        let Some(cell) = grid.cell(r.uid[i], r.task[i]) else { continue };
        tokens.clear();
        tokens.extend(checks.tokens(j).map(|k| CheckedToken {
            rank: checks.rank[k],
            logprob: checks.logprob[k],
            top_logprob: checks.top_logprob[k],
        }));
        let Some(quality) = formula::request_quality(&tokens, &cfg.tokens) else { continue };
        let metric = (quality * f64::from(r.completion_tokens[i]) / seconds).min(f64::from(f32::MAX));
        cell.checks.push(QualityRecord { quality: quality as f32, metric: metric as f32 });
    }
}

/// Joins each cell with what its miner carried for the task and builds the next state. A gated
/// miner carries nothing forward and brings nothing in but its gate: `gate.epochs` more epochs
/// after a failed challenge, one fewer after each epoch without one. Miners and tasks absent
/// from this epoch are dropped.
fn merge(input: &EpochInput, cfg: &Config, grid: &mut Grid, previous: Vec<MinerState>) -> State {
    let mut next = State::default();
    for ((m, miner), mut previous) in input.miners.iter().enumerate().zip(previous) {
        let gated_epochs_left =
            if grid.failures[m] > 0 { cfg.gate_epochs } else { previous.gated_epochs_left.saturating_sub(1) };
        let mut kept = MinerState { gated_epochs_left, ..MinerState::default() };
        if !grid.gated(m) {
            for (t, task) in input.tasks.iter().enumerate() {
                let carried = previous.tasks.remove(state::truncated(&task.name)).unwrap_or_default();
                let cell = &mut grid.cells[m * grid.tasks + t];
                let mut periods = carried.periods;
                if let Some(score) = formula::period_score(&cell.counts, cell.capacity) {
                    // Kept as f32 from here on, so the state's round trip changes nothing.
                    periods.insert(0, Period { score: score as f32, consumed: cell.counts.consumed as f32 });
                }
                periods.truncate(cfg.history);
                let mut records = carried.records;
                records.append(&mut cell.checks);
                records.drain(..records.len().saturating_sub(cfg.window));
                cell.carried = Carried { periods, records };
                kept.tasks.insert(task.name.clone(), cell.carried.clone());
            }
        }
        next.insert(&miner.hotkey, kept);
    }
    next
}

/// The task's speed bonuses, qualities, effective volumes and shares, into each cell's result.
fn score_task(input: &EpochInput, cfg: &Config, grid: &mut Grid, task: usize) {
    // The task's miners: those that declared capacity for it and have quality records, in
    // ascending uid (so ties in speed go to the lower uid).
    let members: Vec<usize> = (0..input.miners.len())
        .filter(|&m| {
            let cell = &grid.cells[m * grid.tasks + task];
            !grid.gated(m) && cell.capacity > 0.0 && !cell.carried.records.is_empty()
        })
        .collect();
    let metrics: Vec<f64> = members
        .iter()
        .map(|&m| {
            let mut values: Vec<f64> =
                grid.cells[m * grid.tasks + task].carried.records.iter().map(|r| f64::from(r.metric)).collect();
            formula::speed_metric(&mut values, cfg.speed_percentile).unwrap_or(0.0)
        })
        .collect();
    let bonuses = formula::speed_bonuses(&metrics, cfg.speed_spread);
    // Those with a capacity but no quality record yet: their real period, nothing else to rate.
    for m in 0..input.miners.len() {
        let cell = &mut grid.cells[m * grid.tasks + task];
        if cell.capacity > 0.0 && !grid.gated[m] {
            cell.result.period = formula::decayed_period_score(&cell.carried.periods, &cfg.decay);
        }
    }
    let mut volumes = Vec::with_capacity(members.len());
    for (&m, &speed_bonus) in members.iter().zip(&bonuses) {
        let cell = &mut grid.cells[m * grid.tasks + task];
        let records = &cell.carried.records;
        let quality =
            formula::average_quality(records.iter().map(|r| f64::from(r.quality)), cfg.square_below).unwrap_or(0.0);
        let period = formula::decayed_period_score(&cell.carried.periods, &cfg.decay);
        let volume = quality * (1.0 + speed_bonus) * period * cell.capacity;
        cell.result = TaskResult { rated: true, period, quality, speed_bonus, volume, score: 0.0 };
        volumes.push(volume);
    }
    let weight = input.tasks[task].weight;
    for (&m, share) in members.iter().zip(formula::task_shares(&volumes, cfg.task_exponent)) {
        grid.cells[m * grid.tasks + task].result.score = share * weight;
    }
}

/// Each miner's total and its components, in input order.
fn miner_scores(input: &EpochInput, grid: &Grid) -> Vec<MinerScore> {
    let named_tasks: Vec<String> =
        input.tasks.iter().take(TASKS_WITH_COMPONENTS).map(|t| component_prefix(&t.name).to_string()).collect();
    input
        .miners
        .iter()
        .enumerate()
        .map(|(m, miner)| {
            let cells = &grid.cells[m * grid.tasks..(m + 1) * grid.tasks];
            let gated = grid.gated(m);
            let total = if gated { 0.0 } else { cells.iter().map(|c| c.result.score).sum() };
            let mut components = vec![
                Param { name: "failed_challenges".to_string(), value: f64::from(grid.failures[m]) },
                Param { name: "gated".to_string(), value: if gated { 1.0 } else { 0.0 } },
            ];
            for (prefix, cell) in named_tasks.iter().zip(cells) {
                // Only the tasks the miner declared capacity for (it is scored on no other), and
                // none while it is gated (it carries no history to show).
                if cell.capacity <= 0.0 || gated {
                    continue;
                }
                let r = cell.result;
                let rated = [("quality", r.quality), ("speed_bonus", r.speed_bonus), ("volume", r.volume)];
                let shown = [("period", r.period)]
                    .into_iter()
                    .chain(rated.into_iter().filter(|_| r.rated))
                    .chain([("score", r.score)]);
                for (name, value) in shown {
                    components.push(Param { name: format!("{prefix}.{name}"), value });
                }
            }
            MinerScore { uid: miner.uid, score: total, components }
        })
        .collect()
}

/// A task name cut so that `<name>.speed_bonus` fits the host's 64 bytes.
fn component_prefix(task: &str) -> &str {
    let mut end = task.len().min(MAX_COMPONENT_NAME - ".speed_bonus".len());
    while !task.is_char_boundary(end) {
        end -= 1;
    }
    &task[..end]
}
