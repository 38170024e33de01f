//! A completion's body measured as it passes, by the validator's clock, within the bounds its
//! request sets: time to the first real text, the text, the evidence, and whether the text is
//! the signed tokens' text.
//!
//! Streamed, the body is parsed into events (linear, bounded: [`crate::sse`]) and handed back
//! re-encoded for the caller to relay. The events from the first one carrying the evidence or a
//! finish reason onwards are held until `[DONE]`, when the relayed text is checked against the
//! signed completion: the held events go out if it matches, an error event in their place if not.

use std::time::{Duration, Instant};

use assay_policy_sdk::Outcome;
use assay_protocol::wire::ResponseExtension;
use serde_json::{Value, json};

use crate::limits::Expect;
use crate::sse::{SseParser, encode_event};
use crate::text::{SharedDetokenizer, cut_at_stop, first_difference, first_text_bytes, relayed_matches};
use crate::{Completion, check_evidence};

/// Text arrival times are kept for this many bytes of text: the first real token is within it.
const MARKED_TEXT_BYTES: usize = 4096;

#[derive(Debug, Clone, PartialEq)]
enum State {
    Reading,
    /// `[DONE]` came and the answer passed its checks.
    Done,
    /// The miner's answer was refused: read no further.
    Refused {
        outcome: Outcome,
        reason: String,
    },
}

/// Watches one completion's body and measures it; see the module doc.
pub struct Meter {
    started: Instant,
    expect: Expect,
    detokenizer: Option<SharedDetokenizer>,
    parser: SseParser,
    received: usize,
    /// Not streaming: the body so far.
    body: Vec<u8>,
    text: String,
    /// (bytes of text so far, when) at each chunk that carried text, for the first 4 KiB.
    marks: Vec<(usize, Duration)>,
    /// When text other than white space first arrived: the time to first token when the
    /// evidence cannot say which text is real.
    first_visible: Option<Duration>,
    ttft: Option<Duration>,
    /// The chunk (or body) carrying the evidence, else the last one.
    last: Value,
    /// Encoded events held back until the answer is checked.
    held: Vec<u8>,
    holding: bool,
    state: State,
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meter").field("expect", &self.expect).field("state", &self.state).finish_non_exhaustive()
    }
}

impl Meter {
    /// Starts the clock for an answer to a request that `expect`s this; `detokenizer` turns the
    /// signed ids into text (none: the text is not checked).
    pub fn new(expect: Expect, detokenizer: Option<SharedDetokenizer>) -> Self {
        Self {
            started: Instant::now(),
            parser: SseParser::new(expect.max_bytes),
            expect,
            detokenizer,
            received: 0,
            body: Vec::new(),
            text: String::new(),
            marks: Vec::new(),
            first_visible: None,
            ttft: None,
            last: Value::Null,
            held: Vec::new(),
            holding: false,
            state: State::Reading,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Whether text has arrived (after which a request can no longer be retried elsewhere).
    pub fn has_content(&self) -> bool {
        !self.marks.is_empty()
    }

    /// When the first chunk carrying any text (white space included) arrived: a time to first
    /// token measured as a miner's is, for an answer without evidence to say which text is real.
    pub fn first_text_at(&self) -> Option<Duration> {
        self.marks.first().map(|(_, at)| *at)
    }

    /// Whether the body is over for the meter (done, or refused): read no further.
    pub fn is_finished(&self) -> bool {
        self.state != State::Reading
    }

    /// The most bytes the answer may take.
    pub fn max_bytes(&self) -> usize {
        self.expect.max_bytes
    }

    /// Takes the next piece of the body as it came off the wire; returns the bytes to relay now
    /// (streaming: whole events, re-encoded; an error event when the answer is refused).
    pub fn feed(&mut self, piece: &[u8]) -> Vec<u8> {
        if self.is_finished() {
            return Vec::new();
        }
        self.received = self.received.saturating_add(piece.len());
        if self.received > self.expect.max_bytes {
            return self
                .refuse(format!("the answer is longer than the {} bytes its request allows", self.expect.max_bytes));
        }
        if !self.expect.streaming {
            self.body.extend_from_slice(piece);
            return Vec::new();
        }
        let events = match self.parser.push(piece) {
            Ok(events) => events,
            Err(e) => return self.refuse(format!("malformed stream: {e}")),
        };
        let mut out = Vec::new();
        for data in events {
            self.event(&data, &mut out);
            if self.is_finished() {
                break;
            }
        }
        out
    }

    /// One event's `data`: text, the evidence, or `[DONE]`.
    fn event(&mut self, data: &str, out: &mut Vec<u8>) {
        if data.trim() == "[DONE]" {
            out.extend(self.conclude());
            return;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(data) else {
            out.extend(self.refuse("malformed stream: an event is not JSON".into()));
            return;
        };
        let choice = &chunk["choices"][0];
        let delta = choice["delta"]["content"].as_str().or(choice["text"].as_str()).unwrap_or("");
        self.take_text(delta);
        let evidence = chunk.get("assay").is_some_and(|a| !a.is_null());
        self.holding |= evidence || !choice["finish_reason"].is_null();
        encode_event(data, if self.holding { &mut self.held } else { out });
        if evidence || self.last.get("assay").is_none() {
            self.last = chunk;
        }
    }

    fn take_text(&mut self, delta: &str) {
        if delta.is_empty() {
            return;
        }
        let now = self.started.elapsed();
        self.text.push_str(delta);
        if self.marks.last().is_none_or(|(bytes, _)| *bytes < MARKED_TEXT_BYTES) {
            self.marks.push((self.text.len(), now));
        }
        if self.first_visible.is_none() && delta.chars().any(|c| !c.is_whitespace()) {
            self.first_visible = Some(now);
        }
    }

    /// `[DONE]`: the held events if the answer passes its checks, an error event if not.
    fn conclude(&mut self) -> Vec<u8> {
        if let Err(reason) = self.check() {
            return self.refuse(reason);
        }
        self.state = State::Done;
        let mut out = std::mem::take(&mut self.held);
        encode_event("[DONE]", &mut out);
        out
    }

    /// Refuses the answer for `reason` (the miner's fault); returns the error event for the user.
    fn refuse(&mut self, reason: String) -> Vec<u8> {
        let message = format!("the miner's answer was refused: {reason}");
        let error =
            json!({"error": {"message": message, "type": "server_error", "param": null, "code": "bad_response"}});
        self.state = State::Refused { outcome: Outcome::BadResponse, reason };
        self.held.clear();
        let mut out = Vec::new();
        if self.expect.streaming {
            encode_event(&error.to_string(), &mut out);
        }
        out
    }

    /// The evidence against the request and the text against the evidence; sets the time to
    /// first token from the first chunk that carried real text.
    fn check(&mut self) -> Result<(), String> {
        self.ttft = self.first_visible;
        if !self.expect.evidence {
            return Ok(());
        }
        let Some(ext) = self.last.get("assay").filter(|a| !a.is_null()) else {
            return Err("no evidence came with the answer".into());
        };
        let ext: ResponseExtension =
            serde_json::from_value(ext.clone()).map_err(|e| format!("malformed assay extension: {e}"))?;
        let ids = &ext.completion_token_ids;
        if ids.len() as u64 > self.expect.max_tokens {
            return Err(format!("{} completion tokens signed for max_tokens {}", ids.len(), self.expect.max_tokens));
        }
        let Some(detokenizer) = self.detokenizer.clone() else { return Ok(()) };
        let decoded = match detokenizer.detokenize(ids) {
            Ok(text) => text,
            Err(e) => {
                tracing::error!(error = %e, request = %ext.request_id, "validator fault: the signed tokens cannot be detokenized; the relayed text is not checked");
                return Ok(());
            }
        };
        let expected = cut_at_stop(&decoded, &self.expect.stops);
        if !relayed_matches(&self.text, expected) {
            return Err(format!(
                "the relayed text ({} bytes) is not the signed tokens' text ({} bytes); they differ from byte {}",
                self.text.len(),
                expected.len(),
                first_difference(&self.text, expected)
            ));
        }
        if let Some(first) = first_text_bytes(detokenizer.as_ref(), ids).map(|n| n.min(expected.len())) {
            self.ttft = self.marks.iter().find(|(bytes, _)| *bytes >= first).map(|(_, at)| *at).or(self.ttft);
        }
        Ok(())
    }

    /// The measurement of a request that ended with `outcome` before finishing.
    pub fn failed(&self, outcome: Outcome) -> Completion {
        let elapsed = self.started.elapsed();
        Completion {
            outcome,
            ttft: self.first_visible.unwrap_or(elapsed),
            total: elapsed,
            text: self.text.clone(),
            finish_reason: None,
            evidence: None,
            evidence_error: None,
            last: self.last.clone(),
        }
    }

    /// The measurement of a body that ended: `Ok` when it was complete, within its bounds, and
    /// its text is its signed tokens' text. The evidence's signature is not checked here (see
    /// [`check_evidence`], or [`Meter::finish`]): the request path leaves that to the recorder.
    pub fn end(mut self) -> Completion {
        let total = self.started.elapsed();
        if self.state == State::Reading && !self.expect.streaming {
            self.end_whole(total);
        }
        match &self.state {
            State::Reading => return self.failed(Outcome::ServerError), // a stream cut before `[DONE]`
            State::Refused { outcome, reason } => {
                let mut completion = self.failed(*outcome);
                completion.evidence_error = Some(reason.clone());
                return completion;
            }
            State::Done => {}
        }
        let finish_reason = self.last["choices"][0]["finish_reason"].as_str().map(str::to_string);
        Completion {
            outcome: Outcome::Ok,
            ttft: self.ttft.unwrap_or(total),
            total,
            text: self.text,
            finish_reason,
            evidence: None,
            evidence_error: None,
            last: self.last,
        }
    }

    /// A whole (not streamed) body: its text, its evidence, its checks.
    fn end_whole(&mut self, total: Duration) {
        let Ok(body) = serde_json::from_slice::<Value>(&self.body) else {
            self.refuse("the body is not JSON".into());
            return;
        };
        let choice = &body["choices"][0];
        let text = choice["message"]["content"].as_str().or(choice["text"].as_str()).unwrap_or("").to_string();
        self.text = text;
        self.marks = vec![(self.text.len(), total)];
        self.first_visible = Some(total);
        self.last = body;
        self.body = Vec::new();
        match self.check() {
            // Not streaming: the first content is the whole body.
            Ok(()) => {
                self.ttft = Some(total);
                self.state = State::Done;
            }
            Err(reason) => {
                self.refuse(reason);
            }
        }
    }

    /// [`Meter::end`], then the evidence `miner` signed for `validator`: a response whose
    /// evidence does not verify is a bad response.
    pub fn finish(self, miner: &str, validator: &str) -> Completion {
        let mut completion = self.end();
        if completion.outcome == Outcome::Ok {
            match check_evidence(&completion.last, miner, validator) {
                Ok(e) => completion.evidence = e,
                Err(reason) => {
                    completion.evidence_error = Some(reason);
                    completion.outcome = Outcome::BadResponse;
                }
            }
        }
        completion
    }
}

#[cfg(test)]
mod tests;
