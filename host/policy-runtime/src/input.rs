//! Checks an epoch input's shape before any policy sees it: columns of one record have one
//! length, offsets ascend and stay in range, indices name something that exists.
//!
//! The host builds every input, so a malformed one is the host's bug: it is an error
//! ([`Error::MalformedInput`], not a policy fault), and the policy is never called with it.
//! Must not touch: the numbers' values (canonical encoding refuses non-finite ones).

use assay_policy_sdk::{Challenges, EpochInput, Requests, TokenChecks};

use crate::{Error, Result};

fn malformed(msg: String) -> Error {
    Error::MalformedInput(msg)
}

/// `starts` ascend from 0 and stay within `total` entries.
fn check_offsets(what: &str, starts: &[u32], total: usize) -> Result<()> {
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

fn check_requests(requests: &Requests, tasks: usize) -> Result<()> {
    if !requests.is_rectangular() {
        return Err(malformed("request columns have different lengths".into()));
    }
    if let Some(i) = requests.id.windows(2).position(|w| w[0] >= w[1]) {
        return Err(malformed(format!("request ids are not ascending at position {}", i + 1)));
    }
    if let Some(&task) = requests.task.iter().find(|&&t| usize::from(t) >= tasks) {
        return Err(malformed(format!("a request names task {task} of {tasks}")));
    }
    Ok(())
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

fn check_challenges(challenges: &Challenges) -> Result<()> {
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
    check_offsets("challenge point", &challenges.point_start, points)
}

/// Refuses an input whose columns, offsets or indices are inconsistent (see the module doc).
pub fn check_input(input: &EpochInput) -> Result<()> {
    let tasks = input.tasks.len();
    check_requests(&input.requests, tasks)?;
    check_token_checks(&input.token_checks, input.requests.len())?;
    check_challenges(&input.challenges)?;
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
            miners: vec![],
            requests,
            token_checks,
            request_values: vec![],
            challenges,
            commit_reveals: vec![],
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
}
