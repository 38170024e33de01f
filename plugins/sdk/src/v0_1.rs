//! Contract 0.1.0 (`wit/v0.1/policy.wit`): the row-shaped records it had of its own. The host
//! still runs 0.1.0 components, so epochs published with them keep auditing; everything the two
//! versions share is re-exported from the crate root.

pub use crate::{
    Candidate, EpochOutput, Judgement, Measurements, Miner, MinerHistory, MinerScore, Opening, Outcome, Param,
    PlanInput, PlannedChallenge, PointMeasurement, RequestKind, RequestValues, TaskCapacity, TokenMeasurement, Verdict,
    Weight,
};

/// The contract version of this module; its WIT package is `assay:policy@0.1.0`.
pub const CONTRACT_VERSION: &str = "0.1.0";

record! {
    /// One request sent to a miner; times are the validator's own clock.
    pub struct RequestRecord {
        pub id: u64,
        pub uid: u16,
        pub task: u16,
        pub kind: RequestKind,
        pub outcome: Outcome,
        pub greedy: bool,
        pub prompt_tokens: u32,
        pub completion_tokens: u32,
        pub ttft_ms: f64,
        pub total_ms: f64,
        pub reported_ttft_ms: Option<f64>,
        pub reported_tps: Option<f64>,
        pub quality: Option<f64>,
        pub started_ms: u64,
    }
}

record! {
    /// A judged challenge, as the scorer sees it.
    pub struct ChallengeRecord {
        pub request_id: u64,
        pub uid: u16,
        pub points: Vec<PointMeasurement>,
        pub verdict: Verdict,
        pub reason: String,
    }
}

record! {
    /// Everything a scorer knows about one epoch.
    pub struct EpochInput {
        pub netuid: u16,
        pub epoch: u64,
        pub block_start: u64,
        pub block_end: u64,
        pub tasks: Vec<String>,
        pub miners: Vec<Miner>,
        pub requests: Vec<RequestRecord>,
        pub request_values: Vec<RequestValues>,
        pub challenges: Vec<ChallengeRecord>,
        pub params: Vec<Param>,
        /// The state this policy returned at the previous epoch; empty at the first.
        pub state: Vec<u8>,
    }
}

/// The 0.1.0 record of a 0.2.0 request row (`quality` `None`).
pub fn record_of(r: &crate::Request) -> RequestRecord {
    RequestRecord {
        id: r.id,
        uid: r.uid,
        task: r.task,
        kind: r.kind,
        outcome: r.outcome,
        greedy: r.greedy,
        prompt_tokens: r.prompt_tokens,
        completion_tokens: r.completion_tokens,
        ttft_ms: r.ttft_ms,
        total_ms: r.total_ms,
        reported_ttft_ms: r.reported_ttft_ms,
        reported_tps: r.reported_tps,
        quality: None,
        started_ms: r.started_ms,
    }
}

/// The 0.2.0 request row of a 0.1.0 record (its `quality`, which 0.2.0 has no field for, dropped).
pub fn request_of(r: &RequestRecord) -> crate::Request {
    crate::Request {
        id: r.id,
        uid: r.uid,
        task: r.task,
        kind: r.kind,
        outcome: r.outcome,
        greedy: r.greedy,
        prompt_tokens: r.prompt_tokens,
        completion_tokens: r.completion_tokens,
        ttft_ms: r.ttft_ms,
        total_ms: r.total_ms,
        reported_ttft_ms: r.reported_ttft_ms,
        reported_tps: r.reported_tps,
        started_ms: r.started_ms,
    }
}

/// The 0.1.0 record of a 0.2.0 challenge row (its response time dropped).
pub fn challenge_record_of(c: crate::Challenge) -> ChallengeRecord {
    ChallengeRecord { request_id: c.request_id, uid: c.uid, points: c.points, verdict: c.verdict, reason: c.reason }
}

/// The 0.1.0 input a 0.1.0 scorer sees of a 0.2.0 epoch: requests and challenges as rows, task
/// names without weights; what 0.1.0 has no field for (token checks, response times, commit-reveal
/// rounds) is dropped, and `quality`, which 0.1.0 never filled, is `None`. The one conversion
/// between the versions, so a 0.1.0 scorer runs live beside 0.2.0 ones.
///
/// It is not what a 0.1.0 host gave the same records, in three known ways:
/// - a reported time or rate recorded negative was `Some(negative)` there; 0.2.0 has no
///   spelling for it (-1 is "not reported"), so it is `None` here;
/// - `quality` is always `None` (a 0.1.0 dataset's `quality` is dropped; no 0.2.0 field holds it);
/// - `tasks` is every 0.2.0 task, including those only the config's task weights name, which
///   a 0.1.0 host never listed: task indices can shift against a 0.1.0 host's.
pub fn from_v0_2(input: &crate::EpochInput) -> EpochInput {
    let requests = input.requests.iter().map(|r| record_of(&r)).collect();
    let challenges = input.challenges.iter().map(challenge_record_of).collect();
    EpochInput {
        netuid: input.netuid,
        epoch: input.epoch,
        block_start: input.block_start,
        block_end: input.block_end,
        tasks: input.tasks.iter().map(|t| t.name.clone()).collect(),
        miners: input.miners.clone(),
        requests,
        request_values: input.request_values.clone(),
        challenges,
        params: input.params.clone(),
        state: input.state.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Challenge, Request, Task};

    #[test]
    fn a_0_2_input_converts_down_to_rows_and_drops_what_0_1_lacks() {
        let request = |id: u64, reported: Option<f64>| Request {
            id,
            uid: 4,
            task: 1,
            kind: RequestKind::Synthetic,
            outcome: Outcome::Timeout,
            greedy: id.is_multiple_of(2),
            prompt_tokens: 10,
            completion_tokens: 20 + id as u32,
            ttft_ms: 1.5,
            total_ms: 9.0,
            reported_ttft_ms: reported,
            reported_tps: None,
            started_ms: 100 + id,
        };
        let point = PointMeasurement { layer: 2, position: 3, rel_l2: 0.01, cosine: 0.99 };
        let challenge = |id: u64, reason: &str| Challenge {
            request_id: id,
            uid: 4,
            verdict: Verdict::Fail,
            reason: reason.into(),
            response_ms: Some(12.0),
            points: vec![point.clone(); id as usize],
        };
        let mut input = crate::EpochInput {
            netuid: 1,
            epoch: 2,
            block_start: 3,
            block_end: 4,
            tasks: vec![Task { name: "a".into(), weight: 0.6 }, Task { name: "b".into(), weight: 0.4 }],
            miners: vec![],
            requests: [request(1, Some(2.0)), request(2, None)].into_iter().collect(),
            token_checks: Default::default(),
            request_values: vec![RequestValues { request_id: 2, values: vec![1.0] }],
            challenges: [challenge(1, "x"), challenge(2, "y"), challenge(3, "x")].into_iter().collect(),
            commit_reveals: vec![],
            params: vec![Param { name: "p".into(), value: 1.0 }],
            state: vec![9],
        };
        input.token_checks.push(1, &[TokenMeasurement { rank: 0, logprob: -0.1, top_logprob: -0.1 }]);
        let old = from_v0_2(&input);
        assert_eq!(old.tasks, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(old.requests.len(), 2);
        assert_eq!(old.requests[0].reported_ttft_ms, Some(2.0));
        assert_eq!(old.requests[1].reported_ttft_ms, None);
        assert_eq!(old.requests[1].completion_tokens, 22);
        assert!(old.requests.iter().all(|r| r.quality.is_none()));
        assert_eq!(old.challenges.iter().map(|c| c.reason.as_str()).collect::<Vec<_>>(), ["x", "y", "x"]);
        assert_eq!(old.challenges.iter().map(|c| c.points.len()).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(old.challenges[1].points[1], point);
        assert_eq!((old.request_values, old.params, old.state), (input.request_values, input.params, input.state));
    }
}
