//! Conversions between the ledger's rows and the policy contract's records: the one place a
//! new contract version touches in this crate.

use assay_policy_sdk as contract;

use crate::rows::{ChallengeRow, Outcome, PointRow, RequestKind, RequestRow, Verdict};

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

impl RequestRow {
    /// The row of a contract record (its task index is not kept: the ledger names tasks).
    pub fn from_record(r: &contract::RequestRecord) -> Self {
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
            quality: r.quality,
            started_ms: r.started_ms,
        }
    }

    /// The contract record, with task index `task`.
    pub fn to_record(&self, task: u16) -> contract::RequestRecord {
        contract::RequestRecord {
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
            quality: self.quality,
            started_ms: self.started_ms,
        }
    }
}

impl ChallengeRow {
    pub fn from_record(c: &contract::ChallengeRecord) -> Self {
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
        }
    }

    pub fn to_record(&self) -> contract::ChallengeRecord {
        contract::ChallengeRecord {
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_records_round_trip_and_keep_the_stored_spelling() {
        let record = contract::RequestRecord {
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
            quality: Some(0.5),
            started_ms: 77,
        };
        let row = RequestRow::from_record(&record);
        assert_eq!(row.to_record(2), record);
        // A version-2 ledger stored the contract record's JSON: the row reads it back.
        let stored = serde_json::to_string(&record).expect("serializes");
        assert_eq!(serde_json::from_str::<RequestRow>(&stored).expect("reads"), row);
        let challenge = contract::ChallengeRecord {
            request_id: 9,
            uid: 3,
            points: vec![contract::PointMeasurement { layer: 1, position: 2, rel_l2: 0.1, cosine: 0.9 }],
            verdict: contract::Verdict::Void,
            reason: "r".into(),
        };
        assert_eq!(ChallengeRow::from_record(&challenge).to_record(), challenge);
        let stored = serde_json::to_string(&challenge).expect("serializes");
        assert_eq!(
            serde_json::from_str::<ChallengeRow>(&stored).expect("reads"),
            ChallengeRow::from_record(&challenge)
        );
    }
}
