//! Checks an epoch input's shape before any policy sees it: columns of one record have one
//! length, offsets ascend and stay in range, indices name something that exists, uids name a
//! listed miner, lists are in their documented order, sentinels are spelled one way.
//!
//! The host builds every input, so a malformed one is the host's bug: it is an error
//! ([`Error::MalformedInput`], not a policy fault), and the policy is never called with it.
//! Must not touch: the numbers' values (canonical encoding refuses non-finite ones).

use assay_policy_sdk::{
    Challenges, CommitReveal, EpochInput, Miner, NO_MINER, NOT_REPORTED, RequestKind, RequestValues, Requests, Reveal,
    TokenChecks,
};

use crate::{Error, Result};

fn malformed(msg: String) -> Error {
    Error::MalformedInput(msg)
}

/// `starts` ascend from 0 and stay within `total` entries; with no items, there are no entries.
fn check_offsets(what: &str, starts: &[u32], total: usize) -> Result<()> {
    if starts.is_empty() && total != 0 {
        return Err(malformed(format!("{what} columns hold {total} entries but there is no item to own them")));
    }
    if let Some(&first) = starts.first()
        && first != 0
    {
        return Err(malformed(format!("{what} offsets start at {first}, not 0")));
    }
    if let Some(j) = starts.windows(2).position(|w| w[0] > w[1]) {
        return Err(malformed(format!("{what} offset {} is below the one before it", j + 1)));
    }
    if let Some(&last) = starts.last()
        && last as usize > total
    {
        return Err(malformed(format!("{what} offset {last} is past the {total} entries")));
    }
    Ok(())
}

/// A sentinel column: each value is exactly -1 (absent) or not negative.
fn check_sentinel(what: &str, values: &[f64]) -> Result<()> {
    match values.iter().position(|&v| v < 0.0 && v != NOT_REPORTED) {
        Some(i) => {
            Err(malformed(format!("{what}[{i}] = {}: absent is exactly -1, anything else is at least 0", values[i])))
        }
        None => Ok(()),
    }
}

/// The listed uids as a bitmap: one lookup per record, whatever the number of miners.
struct Listed(Vec<u64>);

impl Listed {
    fn new(miners: &[Miner]) -> Self {
        let mut bits = vec![0u64; (usize::from(u16::MAX) + 1) / 64];
        for m in miners {
            bits[usize::from(m.uid) / 64] |= 1 << (m.uid % 64);
        }
        Self(bits)
    }

    fn contains(&self, uid: u16) -> bool {
        self.0[usize::from(uid) / 64] & (1 << (uid % 64)) != 0
    }
}

fn check_miners(miners: &[Miner]) -> Result<()> {
    match miners.windows(2).position(|w| w[0].uid >= w[1].uid) {
        Some(i) => Err(malformed(format!("miners are not sorted by uid and unique at position {}", i + 1))),
        None => Ok(()),
    }
}

fn check_requests(requests: &Requests, tasks: usize, listed: &Listed) -> Result<()> {
    if !requests.is_rectangular() {
        return Err(malformed("request columns have different lengths".into()));
    }
    if let Some(i) = requests.id.windows(2).position(|w| w[0] >= w[1]) {
        return Err(malformed(format!("request ids are not ascending at position {}", i + 1)));
    }
    if let Some(&task) = requests.task.iter().find(|&&t| usize::from(t) >= tasks) {
        return Err(malformed(format!("a request names task {task} of {tasks}")));
    }
    for (i, (&uid, &kind)) in requests.uid.iter().zip(&requests.kind).enumerate() {
        if (kind == RequestKind::Baseline) != (uid == NO_MINER) {
            return Err(malformed(format!(
                "request {} is {kind:?} with uid {uid}: baseline requests, and only they, have uid {NO_MINER}",
                requests.id[i]
            )));
        }
        if uid != NO_MINER && !listed.contains(uid) {
            return Err(malformed(format!("request {} names uid {uid}, which is not a listed miner", requests.id[i])));
        }
    }
    check_sentinel("requests.reported_ttft_ms", &requests.reported_ttft_ms)?;
    check_sentinel("requests.reported_tps", &requests.reported_tps)
}

/// Values in request id order, one entry per request at most, each naming a request.
fn check_request_values(values: &[RequestValues], requests: &Requests) -> Result<()> {
    if let Some(i) = values.windows(2).position(|w| w[0].request_id >= w[1].request_id) {
        return Err(malformed(format!("request values are not in ascending, unique request id order at {}", i + 1)));
    }
    match values.iter().find(|v| requests.id.binary_search(&v.request_id).is_err()) {
        Some(v) => Err(malformed(format!("request values name request {}, which is not in the epoch", v.request_id))),
        None => Ok(()),
    }
}

/// Rounds sorted by (round, uid), each of a listed miner, with an output only when valid.
fn check_commit_reveals(rounds: &[CommitReveal], listed: &Listed) -> Result<()> {
    if let Some(i) = rounds.windows(2).position(|w| (w[0].round, w[0].uid) >= (w[1].round, w[1].uid)) {
        return Err(malformed(format!("commit-reveal rounds are not sorted by (round, uid) and unique at {}", i + 1)));
    }
    for c in rounds {
        if !listed.contains(c.uid) {
            return Err(malformed(format!("commit-reveal round {} names uid {}, not a listed miner", c.round, c.uid)));
        }
        if c.reveal != Reveal::Valid && !c.output.is_empty() {
            return Err(malformed(format!(
                "commit-reveal round {} uid {} has an output but is not valid",
                c.round, c.uid
            )));
        }
    }
    check_sentinel("commit_reveals.committed_ms", &rounds.iter().map(|c| c.committed_ms).collect::<Vec<_>>())?;
    check_sentinel("commit_reveals.revealed_ms", &rounds.iter().map(|c| c.revealed_ms).collect::<Vec<_>>())
}

fn check_token_checks(checks: &TokenChecks, requests: usize) -> Result<()> {
    let tokens = checks.rank.len();
    if checks.token_start.len() != checks.request.len()
        || checks.logprob.len() != tokens
        || checks.top_logprob.len() != tokens
    {
        return Err(malformed("token-check columns have different lengths".into()));
    }
    if let Some(j) = checks.request.windows(2).position(|w| w[0] >= w[1]) {
        return Err(malformed(format!("token-check requests are not ascending at {}", j + 1)));
    }
    if let Some(&r) = checks.request.last()
        && r as usize >= requests
    {
        return Err(malformed(format!("a token check names request {r} of {requests}")));
    }
    check_offsets("token-check", &checks.token_start, tokens)
}

fn check_challenges(challenges: &Challenges, listed: &Listed) -> Result<()> {
    let n = challenges.len();
    let points = challenges.layer.len();
    let per_challenge = [
        challenges.uid.len(),
        challenges.verdict.len(),
        challenges.reason.len(),
        challenges.response_ms.len(),
        challenges.point_start.len(),
    ];
    let per_point = [challenges.position.len(), challenges.rel_l2.len(), challenges.cosine.len()];
    if per_challenge.iter().any(|&len| len != n) || per_point.iter().any(|&len| len != points) {
        return Err(malformed("challenge columns have different lengths".into()));
    }
    if let Some(&r) = challenges.reason.iter().find(|&&r| r as usize >= challenges.reasons.len()) {
        return Err(malformed(format!("a challenge names reason {r} of {}", challenges.reasons.len())));
    }
    // Interned in order of first use: the first use of reason k comes after that of k - 1.
    let mut next = 0u32;
    for &r in &challenges.reason {
        if r > next {
            return Err(malformed(format!("challenge reason {r} is used before reason {next}")));
        }
        next = next.max(r + 1);
    }
    if (next as usize) < challenges.reasons.len() {
        return Err(malformed(format!("challenge reason {next} is never used")));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(i) = challenges.reasons.iter().position(|r| !seen.insert(r.as_str())) {
        return Err(malformed(format!("challenge reason {i} repeats an earlier one")));
    }
    if let Some(&uid) = challenges.uid.iter().find(|&&uid| !listed.contains(uid)) {
        return Err(malformed(format!("a challenge names uid {uid}, which is not a listed miner")));
    }
    check_sentinel("challenges.response_ms", &challenges.response_ms)?;
    check_offsets("challenge point", &challenges.point_start, points)
}

/// Refuses an input whose columns, offsets or indices are inconsistent (see the module doc).
pub fn check_input(input: &EpochInput) -> Result<()> {
    let tasks = input.tasks.len();
    check_miners(&input.miners)?;
    let listed = Listed::new(&input.miners);
    check_requests(&input.requests, tasks, &listed)?;
    check_token_checks(&input.token_checks, input.requests.len())?;
    check_request_values(&input.request_values, &input.requests)?;
    check_challenges(&input.challenges, &listed)?;
    check_commit_reveals(&input.commit_reveals, &listed)?;
    let capacities = input.miners.iter().flat_map(|m| &m.capacities).map(|c| c.task);
    let rounds = input.commit_reveals.iter().map(|c| c.task);
    if let Some(task) = capacities.chain(rounds).find(|&t| usize::from(t) >= tasks) {
        return Err(malformed(format!("a capacity or round names task {task} of {tasks}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use assay_policy_sdk::{Challenge, PointMeasurement, Task, TokenMeasurement, Verdict};

    use super::*;

    fn input() -> EpochInput {
        let mut requests = Requests::default();
        for id in [3, 5] {
            requests.push(assay_policy_sdk::Request {
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
            });
        }
        let mut token_checks = TokenChecks::default();
        let token = TokenMeasurement { rank: 0, logprob: -0.5, top_logprob: -0.5 };
        token_checks.push(0, &[token.clone(), token.clone()]);
        token_checks.push(1, &[token]);
        let point = PointMeasurement { layer: 1, position: 0, rel_l2: 0.0, cosine: 1.0 };
        let challenges = [3, 5]
            .map(|id| Challenge {
                request_id: id,
                uid: 1,
                verdict: Verdict::Pass,
                reason: "ok".into(),
                response_ms: Some(3.0),
                points: vec![point.clone()],
            })
            .into_iter()
            .collect();
        EpochInput {
            netuid: 1,
            epoch: 1,
            block_start: 0,
            block_end: 1,
            tasks: vec![Task { name: "t".into(), weight: 1.0 }],
            miners: [1, 4]
                .map(|uid| Miner {
                    uid,
                    hotkey: format!("hk{uid}"),
                    stake: 1,
                    capacities: vec![],
                    registered_at_block: 0,
                })
                .to_vec(),
            requests,
            token_checks,
            request_values: vec![RequestValues { request_id: 5, values: vec![1.0] }],
            challenges,
            commit_reveals: [1, 4]
                .map(|uid| CommitReveal {
                    round: 0,
                    uid,
                    task: 0,
                    reveal: Reveal::Valid,
                    committed_ms: 1.0,
                    revealed_ms: NOT_REPORTED,
                    output: vec![0.5],
                })
                .to_vec(),
            params: vec![],
            state: vec![],
        }
    }

    fn refused(mutate: impl FnOnce(&mut EpochInput), expected: &str) {
        let mut bad = input();
        mutate(&mut bad);
        let err = check_input(&bad).expect_err(expected).to_string();
        assert!(err.contains(expected), "{err:?} does not mention {expected:?}");
    }

    #[test]
    fn a_well_formed_input_passes() {
        check_input(&input()).expect("well formed");
    }

    #[test]
    fn ragged_columns_bad_offsets_and_bad_indices_are_refused() {
        refused(
            |i| {
                i.requests.total_ms.pop();
            },
            "request columns",
        );
        refused(|i| i.requests.id[1] = 3, "not ascending");
        refused(|i| i.requests.task[0] = 1, "task 1 of 1");
        refused(
            |i| {
                i.token_checks.logprob.pop();
            },
            "token-check columns",
        );
        refused(|i| i.token_checks.request[1] = 2, "request 2 of 2");
        refused(|i| i.token_checks.request[1] = 0, "not ascending");
        refused(|i| i.token_checks.token_start[1] = 4, "past the 3 entries");
        refused(|i| i.token_checks.token_start[0] = 1, "start at 1");
        refused(
            |i| {
                let mut third = i.challenges.get(0);
                third.request_id = 9;
                i.challenges.push(third);
                i.challenges.point_start[2] = 0;
            },
            "offset 2 is below",
        );
        refused(|i| i.challenges.point_start[1] = 5, "past the 2 entries");
        refused(
            |i| {
                i.challenges.response_ms.pop();
            },
            "challenge columns",
        );
        refused(|i| i.challenges.reason[0] = 1, "reason 1 of 1");
    }

    #[test]
    fn leftover_entries_unlisted_uids_and_misordered_lists_are_refused() {
        let none = |i: &mut EpochInput| {
            i.token_checks.request.clear();
            i.token_checks.token_start.clear();
        };
        refused(none, "3 entries but there is no item");
        refused(
            |i| {
                i.challenges.request_id.clear();
                i.challenges.uid.clear();
                i.challenges.verdict.clear();
                i.challenges.reason.clear();
                i.challenges.response_ms.clear();
                i.challenges.point_start.clear();
                i.challenges.reasons.clear();
            },
            "2 entries but there is no item",
        );
        refused(|i| i.requests.uid[0] = 2, "request 3 names uid 2, which is not a listed miner");
        refused(|i| i.requests.uid[0] = NO_MINER, "baseline requests, and only they");
        refused(|i| i.requests.kind[1] = RequestKind::Baseline, "request 5 is Baseline with uid 1");
        refused(|i| i.challenges.uid[1] = 7, "a challenge names uid 7");
        refused(|i| i.miners.swap(0, 1), "miners are not sorted");
        refused(|i| i.miners[1].uid = 1, "miners are not sorted by uid and unique");
        refused(
            |i| i.request_values.push(RequestValues { request_id: 5, values: vec![] }),
            "request values are not in ascending, unique",
        );
        refused(|i| i.request_values[0].request_id = 4, "request values name request 4");
        refused(|i| i.commit_reveals.swap(0, 1), "not sorted by (round, uid)");
        refused(|i| i.commit_reveals[1].uid = 2, "names uid 2, not a listed miner");
        refused(|i| i.commit_reveals[0].reveal = Reveal::Missing, "has an output but is not valid");
        refused(|i| i.challenges.response_ms[0] = -0.5, "challenges.response_ms[0] = -0.5");
        refused(|i| i.requests.reported_tps[1] = -2.0, "requests.reported_tps[1] = -2");
        refused(|i| i.commit_reveals[0].revealed_ms = -3.0, "commit_reveals.revealed_ms[0] = -3");
        refused(|i| i.commit_reveals[0].committed_ms = -7.0, "commit_reveals.committed_ms[0] = -7");
        refused(
            |i| {
                i.challenges.reasons.push("unused".into());
            },
            "reason 1 is never used",
        );
        refused(
            |i| {
                i.challenges.reasons = vec!["a".into(), "b".into()];
                i.challenges.reason = vec![1, 0];
            },
            "reason 1 is used before reason 0",
        );
        refused(
            |i| {
                i.challenges.reasons = vec!["a".into(), "a".into()];
                i.challenges.reason = vec![0, 1];
            },
            "reason 1 repeats an earlier one",
        );
    }
}
