//! Conversions between the ledger's rows and the policy contract's records: the one place a
//! new contract version touches in this crate.

use assay_policy_sdk as contract;

use crate::rows::{ChallengeRow, CommitRevealRow, Outcome, PointRow, RequestKind, RequestRow, RevealStatus, Verdict};

impl From<contract::RequestKind> for RequestKind {
    fn from(k: contract::RequestKind) -> Self {
        match k {
            contract::RequestKind::Organic => Self::Organic,
            contract::RequestKind::Synthetic => Self::Synthetic,
            contract::RequestKind::Baseline => Self::Baseline,
        }
    }
}

impl From<RequestKind> for contract::RequestKind {
    fn from(k: RequestKind) -> Self {
        match k {
            RequestKind::Organic => Self::Organic,
            RequestKind::Synthetic => Self::Synthetic,
            RequestKind::Baseline => Self::Baseline,
        }
    }
}

impl From<contract::Outcome> for Outcome {
    fn from(o: contract::Outcome) -> Self {
        match o {
            contract::Outcome::Ok => Self::Ok,
            contract::Outcome::RateLimited => Self::RateLimited,
            contract::Outcome::ServerError => Self::ServerError,
            contract::Outcome::Timeout => Self::Timeout,
            contract::Outcome::BadResponse => Self::BadResponse,
            contract::Outcome::Cancelled => Self::Cancelled,
        }
    }
}

impl From<Outcome> for contract::Outcome {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Ok => Self::Ok,
            Outcome::RateLimited => Self::RateLimited,
            Outcome::ServerError => Self::ServerError,
            Outcome::Timeout => Self::Timeout,
            Outcome::BadResponse => Self::BadResponse,
            Outcome::Cancelled => Self::Cancelled,
        }
    }
}

impl From<contract::Verdict> for Verdict {
    fn from(v: contract::Verdict) -> Self {
        match v {
            contract::Verdict::Pass => Self::Pass,
            contract::Verdict::Fail => Self::Fail,
            contract::Verdict::Void => Self::Void,
        }
    }
}

impl From<Verdict> for contract::Verdict {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Pass => Self::Pass,
            Verdict::Fail => Self::Fail,
            Verdict::Void => Self::Void,
        }
    }
}

impl From<contract::Reveal> for RevealStatus {
    fn from(r: contract::Reveal) -> Self {
        match r {
            contract::Reveal::Valid => Self::Valid,
            contract::Reveal::Missing => Self::Missing,
            contract::Reveal::Mismatch => Self::Mismatch,
            contract::Reveal::Late => Self::Late,
        }
    }
}

impl From<RevealStatus> for contract::Reveal {
    fn from(r: RevealStatus) -> Self {
        match r {
            RevealStatus::Valid => Self::Valid,
            RevealStatus::Missing => Self::Missing,
            RevealStatus::Mismatch => Self::Mismatch,
            RevealStatus::Late => Self::Late,
        }
    }
}

impl CommitRevealRow {
    /// The row of a contract record whose task is named `task` (a time of -1, the commitment
    /// or the reveal never came, is `None`).
    pub fn from_record(c: &contract::CommitReveal, task: String) -> Self {
        Self {
            round: c.round,
            uid: c.uid,
            task,
            reveal: c.reveal.into(),
            committed_ms: (c.committed_ms != contract::NOT_REPORTED).then_some(c.committed_ms),
            revealed_ms: (c.revealed_ms != contract::NOT_REPORTED).then_some(c.revealed_ms),
            output: c.output.clone(),
        }
    }

    /// The contract record, with task index `task`.
    pub fn to_record(&self, task: u16) -> contract::CommitReveal {
        contract::CommitReveal {
            round: self.round,
            uid: self.uid,
            task,
            reveal: self.reveal.into(),
            committed_ms: self.committed_ms.unwrap_or(contract::NOT_REPORTED),
            revealed_ms: self.revealed_ms.unwrap_or(contract::NOT_REPORTED),
            output: self.output.clone(),
        }
    }
}

impl RequestRow {
    /// The row of a contract request (its task index is not kept: the ledger names tasks).
    pub fn from_record(r: &contract::Request) -> Self {
        Self {
            id: r.id,
            uid: r.uid,
            kind: r.kind.into(),
            outcome: r.outcome.into(),
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

    /// The contract request, with task index `task` (`quality`, which 0.1.0 had and nothing
    /// filled, has no place in 0.2.0: verification's measurements are token checks).
    pub fn to_record(&self, task: u16) -> contract::Request {
        contract::Request {
            id: self.id,
            uid: self.uid,
            task,
            kind: self.kind.into(),
            outcome: self.outcome.into(),
            greedy: self.greedy,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            ttft_ms: self.ttft_ms,
            total_ms: self.total_ms,
            reported_ttft_ms: self.reported_ttft_ms,
            reported_tps: self.reported_tps,
            started_ms: self.started_ms,
        }
    }
}

impl RequestRow {
    /// The row of a 0.1.0 record (the dataset's lines carry those), its `quality` kept.
    pub fn from_v0_1(r: &contract::v0_1::RequestRecord) -> Self {
        let request = contract::v0_1::request_of(r);
        Self { quality: r.quality, ..Self::from_record(&request) }
    }
}

impl ChallengeRow {
    /// The row of a 0.1.0 record, which had no response time.
    pub fn from_v0_1(c: &contract::v0_1::ChallengeRecord) -> Self {
        let challenge = contract::Challenge {
            request_id: c.request_id,
            uid: c.uid,
            verdict: c.verdict,
            reason: c.reason.clone(),
            response_ms: None,
            points: c.points.clone(),
        };
        Self::from_record(&challenge)
    }

    pub fn from_record(c: &contract::Challenge) -> Self {
        Self {
            request_id: c.request_id,
            uid: c.uid,
            points: c
                .points
                .iter()
                .map(|p| PointRow { layer: p.layer, position: p.position, rel_l2: p.rel_l2, cosine: p.cosine })
                .collect(),
            verdict: c.verdict.into(),
            reason: c.reason.clone(),
            response_ms: c.response_ms,
        }
    }

    pub fn to_record(&self) -> contract::Challenge {
        contract::Challenge {
            request_id: self.request_id,
            uid: self.uid,
            points: self
                .points
                .iter()
                .map(|p| contract::PointMeasurement {
                    layer: p.layer,
                    position: p.position,
                    rel_l2: p.rel_l2,
                    cosine: p.cosine,
                })
                .collect(),
            verdict: self.verdict.into(),
            reason: self.reason.clone(),
            response_ms: self.response_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_records_round_trip_and_keep_the_stored_spelling() {
        let record = contract::Request {
            id: 9,
            uid: 3,
            task: 2,
            kind: contract::RequestKind::Synthetic,
            outcome: contract::Outcome::RateLimited,
            greedy: true,
            prompt_tokens: 10,
            completion_tokens: 20,
            ttft_ms: 1.5,
            total_ms: 9.25,
            reported_ttft_ms: Some(1.0),
            reported_tps: None,
            started_ms: 77,
        };
        let row = RequestRow::from_record(&record);
        assert_eq!(row.to_record(2), record);
        // A version-2 ledger stored the 0.1.0 contract record's JSON: the row reads it back.
        let stored = r#"{"id":9,"uid":3,"task":2,"kind":"synthetic","outcome":"rate-limited","greedy":true,"prompt_tokens":10,"completion_tokens":20,"ttft_ms":1.5,"total_ms":9.25,"reported_ttft_ms":1.0,"reported_tps":null,"quality":0.5,"started_ms":77}"#;
        assert_eq!(
            serde_json::from_str::<RequestRow>(stored).expect("reads"),
            RequestRow { quality: Some(0.5), ..row }
        );
        let challenge = contract::Challenge {
            request_id: 9,
            uid: 3,
            points: vec![contract::PointMeasurement { layer: 1, position: 2, rel_l2: 0.1, cosine: 0.9 }],
            verdict: contract::Verdict::Void,
            reason: "r".into(),
            response_ms: Some(41.5),
        };
        assert_eq!(ChallengeRow::from_record(&challenge).to_record(), challenge);
        // The stored JSON is the 0.1.0 record's (the response time has a column of its own).
        let stored = r#"{"request_id":9,"uid":3,"points":[{"layer":1,"position":2,"rel_l2":0.1,"cosine":0.9}],"verdict":"void","reason":"r"}"#;
        assert_eq!(serde_json::to_string(&ChallengeRow::from_record(&challenge)).expect("serializes"), stored);
        assert_eq!(
            serde_json::from_str::<ChallengeRow>(stored).expect("reads"),
            ChallengeRow { response_ms: None, ..ChallengeRow::from_record(&challenge) }
        );
    }

    #[test]
    fn commit_reveals_round_trip_with_a_missing_reveal_time_as_minus_1() {
        let record = contract::CommitReveal {
            round: 2,
            uid: 5,
            task: 1,
            reveal: contract::Reveal::Missing,
            committed_ms: 12.5,
            revealed_ms: -1.0,
            output: vec![],
        };
        let row = CommitRevealRow::from_record(&record, "chat".into());
        assert_eq!((row.committed_ms, row.revealed_ms), (Some(12.5), None));
        assert_eq!(row.to_record(1), record);
        // A miner asked that never committed: -1 both ways.
        let never = contract::CommitReveal { committed_ms: -1.0, ..record.clone() };
        assert_eq!(CommitRevealRow::from_record(&never, "chat".into()).committed_ms, None);
        assert_eq!(CommitRevealRow::from_record(&never, "chat".into()).to_record(1), never);
        let valid =
            contract::CommitReveal { reveal: contract::Reveal::Valid, revealed_ms: 40.0, output: vec![0.25], ..record };
        assert_eq!(CommitRevealRow::from_record(&valid, "chat".into()).to_record(1), valid);
    }
}
