//! Row views of the columnar records: one request, one checked request's tokens, one challenge.
//!
//! The contract moves columns because they cross the component boundary with one copy each;
//! people (and tests) think in rows. These helpers build the columns from rows and read a row
//! back, so a policy can take whichever view suits its formula. Nothing here is part of the
//! contract's bytes.

use std::ops::Range;

use crate::{
    Challenges, NOT_REPORTED, Outcome, PointMeasurement, RequestKind, Requests, TokenChecks, TokenMeasurement, Verdict,
};

/// One request, as a row of [`Requests`].
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
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
    pub started_ms: u64,
}

fn reported(value: f64) -> Option<f64> {
    (value >= 0.0).then_some(value)
}

impl Requests {
    pub fn len(&self) -> usize {
        self.id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.id.is_empty()
    }

    /// Whether every column has the same length (the host checks this of every input it builds).
    pub fn is_rectangular(&self) -> bool {
        let n = self.len();
        [
            self.uid.len(),
            self.task.len(),
            self.kind.len(),
            self.outcome.len(),
            self.greedy.len(),
            self.prompt_tokens.len(),
            self.completion_tokens.len(),
            self.ttft_ms.len(),
            self.total_ms.len(),
            self.reported_ttft_ms.len(),
            self.reported_tps.len(),
            self.started_ms.len(),
        ]
        .iter()
        .all(|&len| len == n)
    }

    pub fn reported_ttft_ms(&self, i: usize) -> Option<f64> {
        reported(self.reported_ttft_ms[i])
    }

    pub fn reported_tps(&self, i: usize) -> Option<f64> {
        reported(self.reported_tps[i])
    }

    /// Request `i` as a row. Panics when `i >= len()`.
    pub fn get(&self, i: usize) -> Request {
        Request {
            id: self.id[i],
            uid: self.uid[i],
            task: self.task[i],
            kind: self.kind[i],
            outcome: self.outcome[i],
            greedy: self.greedy[i],
            prompt_tokens: self.prompt_tokens[i],
            completion_tokens: self.completion_tokens[i],
            ttft_ms: self.ttft_ms[i],
            total_ms: self.total_ms[i],
            reported_ttft_ms: self.reported_ttft_ms(i),
            reported_tps: self.reported_tps(i),
            started_ms: self.started_ms[i],
        }
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = Request> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Appends one request; a negative or missing report is stored as [`NOT_REPORTED`].
    pub fn push(&mut self, r: Request) {
        self.id.push(r.id);
        self.uid.push(r.uid);
        self.task.push(r.task);
        self.kind.push(r.kind);
        self.outcome.push(r.outcome);
        self.greedy.push(r.greedy);
        self.prompt_tokens.push(r.prompt_tokens);
        self.completion_tokens.push(r.completion_tokens);
        self.ttft_ms.push(r.ttft_ms);
        self.total_ms.push(r.total_ms);
        self.reported_ttft_ms.push(r.reported_ttft_ms.and_then(reported).unwrap_or(NOT_REPORTED));
        self.reported_tps.push(r.reported_tps.and_then(reported).unwrap_or(NOT_REPORTED));
        self.started_ms.push(r.started_ms);
    }
}

impl FromIterator<Request> for Requests {
    fn from_iter<I: IntoIterator<Item = Request>>(iter: I) -> Self {
        let mut requests = Requests::default();
        for r in iter {
            requests.push(r);
        }
        requests
    }
}

/// `starts[j] .. starts[j + 1]`, the last one up to `total`.
fn span(starts: &[u32], j: usize, total: usize) -> Range<usize> {
    let start = starts[j] as usize;
    let end = starts.get(j + 1).map_or(total, |&s| s as usize);
    start..end
}

impl TokenChecks {
    /// Checked requests.
    pub fn len(&self) -> usize {
        self.request.len()
    }

    pub fn is_empty(&self) -> bool {
        self.request.is_empty()
    }

    /// The token entries of checked request `j`.
    pub fn tokens(&self, j: usize) -> Range<usize> {
        span(&self.token_start, j, self.rank.len())
    }

    /// Appends the tokens of the request at position `request` of [`Requests`].
    pub fn push(&mut self, request: u32, tokens: &[TokenMeasurement]) {
        self.request.push(request);
        self.token_start.push(self.rank.len() as u32);
        for t in tokens {
            self.rank.push(t.rank);
            self.logprob.push(t.logprob);
            self.top_logprob.push(t.top_logprob);
        }
    }
}

/// One judged challenge, as a row of [`Challenges`].
#[derive(Debug, Clone, PartialEq)]
pub struct Challenge {
    pub request_id: u64,
    pub uid: u16,
    pub verdict: Verdict,
    pub reason: String,
    /// `None` when the miner never answered the opening.
    pub response_ms: Option<f64>,
    pub points: Vec<PointMeasurement>,
}

impl Challenges {
    pub fn len(&self) -> usize {
        self.request_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.request_id.is_empty()
    }

    /// The point entries of challenge `j`.
    pub fn points(&self, j: usize) -> Range<usize> {
        span(&self.point_start, j, self.layer.len())
    }

    /// The reason given for challenge `j`.
    pub fn reason_of(&self, j: usize) -> &str {
        &self.reasons[self.reason[j] as usize]
    }

    pub fn response_ms_of(&self, j: usize) -> Option<f64> {
        reported(self.response_ms[j])
    }

    /// Challenge `j` as a row. Panics when `j >= len()`.
    pub fn get(&self, j: usize) -> Challenge {
        let points = self
            .points(j)
            .map(|k| PointMeasurement {
                layer: self.layer[k],
                position: self.position[k],
                rel_l2: self.rel_l2[k],
                cosine: self.cosine[k],
            })
            .collect();
        Challenge {
            request_id: self.request_id[j],
            uid: self.uid[j],
            verdict: self.verdict[j],
            reason: self.reason_of(j).to_owned(),
            response_ms: self.response_ms_of(j),
            points,
        }
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = Challenge> + '_ {
        (0..self.len()).map(|j| self.get(j))
    }

    /// Appends one challenge; its reason is stored once in `reasons` (a linear search: an
    /// epoch has a handful of distinct reasons).
    pub fn push(&mut self, c: Challenge) {
        let reason = match self.reasons.iter().position(|r| *r == c.reason) {
            Some(at) => at as u32,
            None => {
                self.reasons.push(c.reason);
                (self.reasons.len() - 1) as u32
            }
        };
        self.request_id.push(c.request_id);
        self.uid.push(c.uid);
        self.verdict.push(c.verdict);
        self.reason.push(reason);
        self.response_ms.push(c.response_ms.and_then(reported).unwrap_or(NOT_REPORTED));
        self.point_start.push(self.layer.len() as u32);
        for p in c.points {
            self.layer.push(p.layer);
            self.position.push(p.position);
            self.rel_l2.push(p.rel_l2);
            self.cosine.push(p.cosine);
        }
    }
}

impl FromIterator<Challenge> for Challenges {
    fn from_iter<I: IntoIterator<Item = Challenge>>(iter: I) -> Self {
        let mut challenges = Challenges::default();
        for c in iter {
            challenges.push(c);
        }
        challenges
    }
}
