//! What the validator measures for one challenged request, against its own reference pass:
//! the opened vectors' relative L2 error and cosine, every completion token's rank and log-prob,
//! whether the prompt is the validator's own rendering, and whether end-of-sequence was skipped.

use assay_policy_sdk::{Measurements, Opening, PointMeasurement, TokenMeasurement};
use assay_reference_engine::{ChatTokenizer, Config, Engine, HiddenSelection, TeacherForced, TokenScore};
use serde_json::Value;

/// The reference pass `measure` needs of an engine. [`Engine`] is the one the validator runs;
/// the trait exists so that tests can stand a failing engine (a GPU fault, say) in its place.
pub trait ReferencePass {
    fn config(&self) -> &Config;
    fn teacher_forced(
        &self,
        tokens: &[u32],
        hidden: &HiddenSelection,
        logit_positions: &[usize],
    ) -> assay_reference_engine::Result<TeacherForced>;
}

impl ReferencePass for Engine {
    fn config(&self) -> &Config {
        Engine::config(self)
    }
    fn teacher_forced(
        &self,
        tokens: &[u32],
        hidden: &HiddenSelection,
        logit_positions: &[usize],
    ) -> assay_reference_engine::Result<TeacherForced> {
        Engine::teacher_forced(self, tokens, hidden, logit_positions)
    }
}

/// `‖miner − reference‖ / ‖reference‖`, in f64. NaN or infinite when the miner's vector is.
pub fn rel_l2(miner: &[f32], reference: &[f32]) -> f64 {
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (&m, &r) in miner.iter().zip(reference) {
        let d = f64::from(m) - f64::from(r);
        diff += d * d;
        norm += f64::from(r) * f64::from(r);
    }
    if norm == 0.0 { if diff == 0.0 { 0.0 } else { f64::INFINITY } } else { (diff / norm).sqrt() }
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        dot += f64::from(x) * f64::from(y);
        na += f64::from(x) * f64::from(x);
        nb += f64::from(y) * f64::from(y);
    }
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na.sqrt() * nb.sqrt()) }
}

/// The prompt token ids the validator renders for the body it sent: the chat template for
/// chat, the plain encoding for completions.
pub fn expected_prompt(tokenizer: &ChatTokenizer, path: &str, request: &Value) -> Result<Vec<u32>, String> {
    if path.ends_with("chat/completions") {
        tokenizer.chat_ids(&request["messages"], true, &serde_json::json!({})).map_err(|e| e.to_string())
    } else {
        let prompt = request["prompt"].as_str().ok_or("the request has no prompt")?;
        tokenizer.encode(prompt).map_err(|e| e.to_string())
    }
}

/// The points a miner opened, with the vectors that verified against its commitment.
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    /// `(layer, position)`.
    pub points: Vec<(u32, u32)>,
    /// One vector per point, in the same order.
    pub vectors: Vec<Vec<f32>>,
}

/// One challenged request, as the verification loop hands it over.
pub struct Challenge<'a> {
    pub request_id: u64,
    pub uid: u16,
    pub greedy: bool,
    /// Generation ran through end-of-sequence on purpose (`ignore_eos`).
    pub ignore_eos: bool,
    pub prompt_ids: &'a [u32],
    pub completion_ids: &'a [u32],
    /// The validator's own rendering of the prompt.
    pub expected_prompt: &'a [u32],
    /// What the miner opened, or `None` when the opening failed.
    pub opened: Option<Opened>,
    /// Tokens that end a sequence.
    pub stop_ids: &'a [u32],
}

/// Runs the reference pass and measures. An engine error (a token id past the vocabulary, a
/// position past the sequence) is the miner's: it is returned for the caller to judge.
pub fn measure<R: ReferencePass + ?Sized>(
    engine: &R,
    c: &Challenge<'_>,
    opening_failed: Opening,
) -> Result<Measurements, String> {
    let layers = engine.config().num_layers as u32;
    let tokens: Vec<u32> = c.prompt_ids.iter().chain(c.completion_ids).copied().collect();
    let (points, vectors) = match &c.opened {
        Some(opened) => (opened.points.clone(), Some(&opened.vectors)),
        None => (Vec::new(), None),
    };
    if let Some(&(layer, position)) = points.iter().find(|&&(l, p)| l > layers || p as usize >= tokens.len()) {
        return Err(format!("point ({layer}, {position}) is outside the sequence"));
    }
    let vocab = engine.config().vocab_size as u32;
    if let Some(bad) = tokens.iter().find(|&&t| t >= vocab) {
        return Err(format!("token id {bad} is past the vocabulary ({vocab})"));
    }
    let prompt_len = c.prompt_ids.len();
    // Logits at each position that predicted a completion token.
    let logit_positions: Vec<usize> = if c.completion_ids.is_empty() || prompt_len == 0 {
        Vec::new()
    } else {
        (prompt_len - 1..tokens.len() - 1).collect()
    };
    let selection = HiddenSelection::Points(points.iter().map(|&(l, p)| (l as usize, p as usize)).collect());
    let reference = engine.teacher_forced(&tokens, &selection, &logit_positions).map_err(|e| e.to_string())?;
    let hidden = engine.config().hidden_size;

    let mut measured = Vec::with_capacity(points.len());
    if let Some(vectors) = vectors {
        for (i, (&(layer, position), vector)) in points.iter().zip(vectors).enumerate() {
            let r = &reference.hidden[i * hidden..(i + 1) * hidden];
            measured.push(PointMeasurement { layer, position, rel_l2: rel_l2(vector, r), cosine: cosine(vector, r) });
        }
    }
    let mut token_measurements = Vec::with_capacity(c.completion_ids.len());
    let mut eos_at_top_before_end = false;
    for (i, (logits, &token)) in reference.logits.iter().zip(c.completion_ids).enumerate() {
        let s = TokenScore::of(logits, token);
        token_measurements.push(TokenMeasurement {
            rank: s.rank,
            logprob: f64::from(s.logprob),
            top_logprob: f64::from(s.top_logprob),
        });
        // The reference's top token (the lowest id among equals): a linear scan, not a sort.
        let top = logits.iter().enumerate().rev().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i as u32);
        if i + 1 < c.completion_ids.len() && top.is_some_and(|t| c.stop_ids.contains(&t)) {
            eos_at_top_before_end = true;
        }
    }
    let ended_at_eos = c.completion_ids.last().is_some_and(|t| c.stop_ids.contains(t));
    Ok(Measurements {
        request_id: c.request_id,
        uid: c.uid,
        greedy: c.greedy,
        opening: if c.opened.is_some() { Opening::Verified } else { opening_failed },
        layers,
        points: measured,
        tokens: token_measurements,
        prompt_match: c.prompt_ids == c.expected_prompt,
        // Only greedy decoding must stop where the reference's top token is end-of-sequence.
        eos_skipped: c.greedy && !c.ignore_eos && !ended_at_eos && eos_at_top_before_end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_of_vectors() {
        let r = [3.0f32, 4.0];
        assert_eq!(rel_l2(&r, &r), 0.0);
        assert!((rel_l2(&[3.0, 5.0], &r) - 0.2).abs() < 1e-12);
        assert!(rel_l2(&[f32::NAN, 4.0], &r).is_nan());
        assert_eq!(rel_l2(&[1.0, 0.0], &[0.0, 0.0]), f64::INFINITY);
        assert!((cosine(&[1.0, 0.0], &[0.0, 2.0])).abs() < 1e-12);
        assert!((cosine(&[1.0, 1.0], &[2.0, 2.0]) - 1.0).abs() < 1e-12);
    }
}
