//! What the validator measures for one challenged request, against its own reference pass:
//! the opened vectors' relative L2 error and cosine, every completion token's rank and log-prob,
//! whether the prompt is the validator's own rendering, whether end-of-sequence was skipped, and
//! (for a miner that samples as the protocol specifies) whether its sampled tokens replay.
//! What cannot be measured is a [`MeasureError`] that says whose fault it is: the miner's (its
//! evidence is wrong) or the validator's own (its stored body, its template, its engine).

use assay_policy_sdk::{Measurements, Opening, PointMeasurement, TokenMeasurement};
use assay_reference_engine::{
    ChatTokenizer, Config, Engine, Error as EngineError, HiddenSelection, TeacherForced, TokenScore,
};
use serde_json::Value;

use crate::replay::{MAX_REPLAYED_POSITIONS, ReplayPlan, check_replay};

/// Why a challenge could not be measured, by whose fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeasureError {
    /// The miner's evidence is wrong (a token past the vocabulary, no tokens at all): the
    /// challenge fails.
    #[error("{0}")]
    Miner(String),
    /// The validator could not measure what it holds (its stored body, its chat template, its
    /// engine): the challenge is void and the miner is not charged.
    #[error("{0}")]
    Host(String),
}

impl MeasureError {
    /// Whose fault a reference-engine error is. Only the token ids are the miner's input to the
    /// pass; everything else it is given is the validator's.
    pub fn from_engine(e: &EngineError) -> Self {
        match e {
            // The ids are the miner's evidence, as signed.
            EngineError::TokenOutOfRange { .. } => MeasureError::Miner(e.to_string()),
            // The points are the challenger's, and `measure` checks each against the miner's
            // sequence and the model's layers before the pass (assigning those faults there);
            // the logit positions it derives from the sequence itself. The engine refusing one
            // is a validator bug.
            EngineError::PositionOutOfRange { .. } | EngineError::LayerOutOfRange { .. } => {
                MeasureError::Host(e.to_string())
            }
            // The validator's files, memory and GPU (CUDA faults arrive as `Invalid`). No
            // wildcard: a new variant must be classified here when the engine grows one.
            EngineError::Io { .. }
            | EngineError::Config { .. }
            | EngineError::Weights { .. }
            | EngineError::Tensor { .. }
            | EngineError::Tokenizer(_)
            | EngineError::Template(_)
            | EngineError::Invalid(_)
            | EngineError::Device { .. } => MeasureError::Host(e.to_string()),
        }
    }
}

impl From<EngineError> for MeasureError {
    fn from(e: EngineError) -> Self {
        MeasureError::from_engine(&e)
    }
}

/// Checks the challenged `(layer, position)` points against a sequence of `positions` tokens
/// and a model of `layers` layers (hidden states `0..=layers`).
///
/// The challenger plans points in `1..=layers` × `0..max(n, 1)`, where `n` is the token count the
/// recorder took from this same signed evidence. So a point outside a non-empty sequence, or past
/// the model's layers, is the planner's (the validator's) mistake. The one way a miner causes one
/// is to report no tokens at all, which a miner whose response claimed success must not do.
pub fn check_points(points: &[(u32, u32)], positions: usize, layers: u32) -> Result<(), MeasureError> {
    let Some(&(layer, position)) = points.iter().find(|&&(l, p)| l > layers || p as usize >= positions) else {
        return Ok(());
    };
    if positions == 0 {
        return Err(MeasureError::Miner(format!(
            "the evidence reports no tokens, so point ({layer}, {position}) is outside the sequence"
        )));
    }
    Err(MeasureError::Host(format!(
        "the challenger planned point ({layer}, {position}) outside a sequence of {positions} tokens and {layers} layers"
    )))
}

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
///
/// Every failure is the validator's: the body is what it sent, the template and tokenizer its
/// own. A body it cannot render (messages the template rejects, a prompt given as token ids)
/// was still served by the miner, which may have rendered it its own way; nothing says it did
/// wrong.
pub fn expected_prompt(tokenizer: &ChatTokenizer, path: &str, request: &Value) -> Result<Vec<u32>, MeasureError> {
    let rendered = if path.ends_with("chat/completions") {
        tokenizer.chat_ids(&request["messages"], true, &serde_json::json!({}))
    } else {
        let prompt = request["prompt"]
            .as_str()
            .ok_or_else(|| MeasureError::Host("the request has no text prompt to render".into()))?;
        tokenizer.encode(prompt)
    };
    rendered.map_err(|e| MeasureError::Host(format!("rendering the prompt the validator sent: {e}")))
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
    /// The most completion tokens the request asked for (`max_tokens` or
    /// `max_completion_tokens`), when it named a bound.
    pub asked_tokens: Option<usize>,
    /// Whether the completion's tokens are measured for the judge: only where the judge's
    /// token rules are calibrated ([`tokens_judged`]).
    pub tokens_judged: bool,
    /// The parameters and tolerance to replay each sampled token with, for a miner that samples
    /// as the protocol specifies ([`crate::replay::replay_params`]) when `[verify]
    /// replay_sampled` is on; `None`: no replay.
    pub replay: Option<ReplayPlan>,
}

/// Whether a request's tokens can be judged: greedy decoding, or sampling within a `top_p`
/// nucleus below 1, where the challenger's token rules are calibrated. Sampling from the whole
/// distribution (no `top_p`, OpenAI's default temperature of 1, or hotter) draws honest tokens
/// far below the judge's floors often enough to fail an honest miner, so such a request is
/// judged on its hidden states alone.
pub fn tokens_judged(greedy: bool, request: &Value) -> bool {
    greedy || request["top_p"].as_f64().is_some_and(|p| p > 0.0 && p < 1.0)
}

/// The most completion tokens the body the validator sent asked for, if it named a bound
/// (`max_completion_tokens` over `max_tokens`, as the miner reads them).
pub fn asked_tokens(request: &Value) -> Option<usize> {
    let asked = assay_miner_client::max_tokens_asked(request.as_object()?)?;
    Some(usize::try_from(asked).unwrap_or(usize::MAX))
}

/// Refuses evidence longer than an honest miner can sign, before anything is allocated for it:
/// more completion tokens than the request asked for, a prompt longer than the validator's own
/// rendering (an honest miner's prompt is that rendering), or a sequence past the model's
/// context. The reference pass holds logits for every completion token (about 600 KB each for
/// Qwen2.5-7B), so unchecked evidence lets one miner exhaust the validator's memory.
pub fn check_sizes(c: &Challenge<'_>, context: Option<usize>) -> Result<(), MeasureError> {
    let (prompt, completion) = (c.prompt_ids.len(), c.completion_ids.len());
    if let Some(asked) = c.asked_tokens.filter(|&asked| completion > asked) {
        return Err(MeasureError::Miner(format!(
            "the evidence has {completion} completion tokens, more than the {asked} asked for"
        )));
    }
    if prompt > c.expected_prompt.len() {
        return Err(MeasureError::Miner(format!(
            "the evidence has {prompt} prompt tokens, more than the {} of the validator's rendering",
            c.expected_prompt.len()
        )));
    }
    if let Some(context) = context.filter(|&context| prompt + completion > context) {
        return Err(MeasureError::Miner(format!(
            "the evidence has {} tokens, more than the model's context of {context}",
            prompt + completion
        )));
    }
    Ok(())
}

/// `Opened` holds vectors that passed `verify_opening`, which refuses a vector of the wrong
/// shape (the miner's fault: the opening is invalid and the judge fails it). One that gets here
/// anyway was let through by the validator: measuring it would compare a truncated vector.
fn check_opened_shapes(points: &[(u32, u32)], vectors: &[Vec<f32>], hidden: usize) -> Result<(), MeasureError> {
    if vectors.len() != points.len() {
        return Err(MeasureError::Host(format!(
            "{} opened vectors for {} points got past the opening check",
            vectors.len(),
            points.len()
        )));
    }
    if let Some((&(layer, position), v)) = points.iter().zip(vectors).find(|(_, v)| v.len() != hidden) {
        return Err(MeasureError::Host(format!(
            "point ({layer}, {position}) with {} values, not the model's {hidden}, got past the opening check",
            v.len()
        )));
    }
    Ok(())
}

/// Each completion token's rank and log-probs on its row of `rows`, and whether the reference's
/// top token was end-of-sequence before the completion's last position.
fn measure_tokens(c: &Challenge<'_>, rows: &[Vec<f32>]) -> (Vec<TokenMeasurement>, bool) {
    let mut measured = Vec::with_capacity(rows.len());
    let mut eos_at_top_before_end = false;
    for (i, (logits, &token)) in rows.iter().zip(c.completion_ids).enumerate() {
        let s = TokenScore::of(logits, token);
        measured.push(TokenMeasurement {
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
    (measured, eos_at_top_before_end)
}

/// The positions whose logits the pass returns, each the one that predicted a completion token:
/// every one the judge reads, or the replayed ones alone ([`MAX_REPLAYED_POSITIONS`]). Evidence
/// with no prompt token has no position that predicted the first sampled token: a replay of it
/// is the miner's fault.
fn logit_positions(c: &Challenge<'_>) -> Result<Vec<usize>, MeasureError> {
    let prompt_len = c.prompt_ids.len();
    if c.replay.is_some() && prompt_len == 0 && !c.completion_ids.is_empty() {
        return Err(MeasureError::Miner(
            "the evidence names no prompt token: its sampled tokens cannot be replayed".into(),
        ));
    }
    let wanted = match (c.tokens_judged, c.replay.is_some()) {
        (true, _) => c.completion_ids.len(),
        (false, true) => c.completion_ids.len().min(MAX_REPLAYED_POSITIONS),
        (false, false) => 0,
    };
    Ok(if prompt_len == 0 { Vec::new() } else { (prompt_len - 1..prompt_len - 1 + wanted).collect() })
}

/// What a challenge measured with no token measurement (a failed opening, or tokens the
/// reference could not score).
fn without_tokens(
    c: &Challenge<'_>,
    opening: Opening,
    layers: u32,
    points: Vec<PointMeasurement>,
    prompt_match: bool,
) -> Measurements {
    Measurements {
        request_id: c.request_id,
        uid: c.uid,
        greedy: c.greedy,
        opening,
        layers,
        points,
        tokens: Vec::new(),
        prompt_match,
        eos_skipped: false,
    }
}

/// Runs the reference pass and measures; a failed opening is judged without one. What cannot be
/// measured says whose fault it is ([`MeasureError`]): a token id past the vocabulary, evidence
/// longer than asked ([`check_sizes`]), a point outside a sequence the miner reported empty, or
/// sampled tokens that do not replay ([`check_replay`]), is the miner's; a point the challenger
/// planned outside the sequence, opened vectors that do not fit their points, or the engine
/// failing (out of memory, a CUDA fault), is the validator's.
pub fn measure<R: ReferencePass + ?Sized>(
    engine: &R,
    c: &Challenge<'_>,
    opening_failed: Opening,
) -> Result<Measurements, MeasureError> {
    let layers = engine.config().num_layers as u32;
    let hidden = engine.config().hidden_size;
    let tokens: Vec<u32> = c.prompt_ids.iter().chain(c.completion_ids).copied().collect();
    let (points, vectors) = match &c.opened {
        Some(opened) => (opened.points.clone(), Some(&opened.vectors)),
        None => (Vec::new(), None),
    };
    check_points(&points, tokens.len(), layers)?;
    if let Some(vectors) = vectors {
        check_opened_shapes(&points, vectors, hidden)?;
    }
    let vocab = engine.config().vocab_size as u32;
    if let Some(bad) = tokens.iter().find(|&&t| t >= vocab) {
        return Err(MeasureError::Miner(format!("token id {bad} is past the vocabulary ({vocab})")));
    }
    check_sizes(c, engine.config().max_position_embeddings)?;
    let prompt_match = c.prompt_ids == c.expected_prompt;
    let Some(vectors) = vectors else {
        // A failed opening fails the challenge whatever the tokens say: no reference pass is
        // spent on it.
        return Ok(without_tokens(c, opening_failed, layers, Vec::new(), prompt_match));
    };
    let logit_positions = logit_positions(c)?;
    let selection = HiddenSelection::Points(points.iter().map(|&(l, p)| (l as usize, p as usize)).collect());
    let reference = engine.teacher_forced(&tokens, &selection, &logit_positions).map_err(MeasureError::from)?;

    // A pass that returns less than was asked is the engine's fault, not grounds to measure less.
    if reference.hidden.len() != points.len() * hidden || reference.logits.len() != logit_positions.len() {
        return Err(MeasureError::Host(format!(
            "the reference pass returned {} hidden values and {} logit rows for {} points and {} positions",
            reference.hidden.len(),
            reference.logits.len(),
            points.len(),
            logit_positions.len()
        )));
    }
    let mut measured = Vec::with_capacity(points.len());
    for ((&(layer, position), vector), r) in points.iter().zip(vectors).zip(reference.hidden.chunks(hidden.max(1))) {
        measured.push(PointMeasurement { layer, position, rel_l2: rel_l2(vector, r), cosine: cosine(vector, r) });
    }
    if let Some(plan) = &c.replay {
        check_replay(&reference.logits, c.completion_ids, plan)?;
    }
    let judged_rows = if c.tokens_judged { reference.logits.as_slice() } else { &[] };
    let (token_measurements, eos_at_top_before_end) = measure_tokens(c, judged_rows);
    let ended_at_eos = c.completion_ids.last().is_some_and(|t| c.stop_ids.contains(t));
    let Some(token_measurements) = floored(token_measurements) else {
        // The reference failed on this request's tokens: drop its token check, charge nothing.
        tracing::error!(
            request_id = c.request_id,
            uid = c.uid,
            "the reference gave a NaN or +inf log-prob; this request's token check is dropped"
        );
        return Ok(without_tokens(c, Opening::Verified, layers, measured, prompt_match));
    };
    Ok(Measurements {
        request_id: c.request_id,
        uid: c.uid,
        greedy: c.greedy,
        opening: Opening::Verified,
        layers,
        points: measured,
        tokens: token_measurements,
        prompt_match,
        // Only greedy decoding must stop where the reference's top token is end-of-sequence.
        eos_skipped: c.greedy && !c.ignore_eos && !ended_at_eos && eos_at_top_before_end,
    })
}

/// Token measurements as recorded: `-inf` log-probs (a token the reference calls impossible)
/// raised to [`assay_policy_sdk::LOGPROB_FLOOR`]; `None` when any is NaN or `+inf` (the reference failed).
pub(crate) fn floored(tokens: Vec<TokenMeasurement>) -> Option<Vec<TokenMeasurement>> {
    tokens.into_iter().map(TokenMeasurement::floored).collect()
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

    #[test]
    fn engine_errors_are_the_miners_only_for_its_tokens() {
        let miner = [EngineError::TokenOutOfRange { id: 400, position: 2, vocab: 320 }];
        for e in &miner {
            assert!(matches!(MeasureError::from_engine(e), MeasureError::Miner(_)), "{e}");
        }
        let host = [
            EngineError::PositionOutOfRange { position: 9, len: 4 },
            EngineError::LayerOutOfRange { layer: 9, max: 4 },
            EngineError::Invalid("cuda: alloc: DriverError(CUDA_ERROR_OUT_OF_MEMORY)".into()),
            EngineError::Io { context: "reading".into(), source: std::io::Error::other("gone") },
            EngineError::Config { path: "config.json".into(), reason: "bad".into() },
            EngineError::Weights { path: "model.safetensors".into(), reason: "bad".into() },
            EngineError::Tensor { name: "lm_head.weight".into(), reason: "bad".into() },
            EngineError::Tokenizer("bad".into()),
            EngineError::Template("bad".into()),
        ];
        for e in &host {
            assert!(matches!(MeasureError::from_engine(e), MeasureError::Host(_)), "{e}");
        }
    }

    #[test]
    fn points_outside_the_sequence_are_the_planners_unless_there_is_none() {
        assert_eq!(check_points(&[(1, 0), (4, 9)], 10, 4), Ok(()));
        assert!(matches!(check_points(&[(1, 10)], 10, 4), Err(MeasureError::Host(_))));
        assert!(matches!(check_points(&[(5, 0)], 10, 4), Err(MeasureError::Host(_))));
        assert!(matches!(check_points(&[(1, 0)], 0, 4), Err(MeasureError::Miner(_))));
        assert_eq!(check_points(&[], 0, 4), Ok(()));
    }

    #[test]
    fn impossible_tokens_are_floored_and_a_failed_reference_drops_the_check() {
        use assay_policy_sdk::LOGPROB_FLOOR;
        let t = |logprob: f64, top_logprob: f64| TokenMeasurement { rank: 3, logprob, top_logprob };
        // The reference calls the miner's token impossible: kept, at the floor.
        let impossible = TokenScore::of(&[0.0, f32::NEG_INFINITY], 1);
        assert_eq!(impossible.logprob, f32::NEG_INFINITY);
        let kept = floored(vec![t(f64::from(impossible.logprob), f64::from(impossible.top_logprob)), t(-0.5, -0.1)]);
        assert_eq!(kept, Some(vec![t(LOGPROB_FLOOR, 0.0), t(-0.5, -0.1)]));
        // NaN or +inf anywhere: the reference failed, the whole check goes.
        assert_eq!(floored(vec![t(-0.5, -0.1), t(f64::NAN, -0.1)]), None);
        assert_eq!(floored(vec![t(-0.5, f64::INFINITY)]), None);
        assert_eq!(floored(vec![]), Some(vec![]));
        // Non-finite logits give what `floored` drops.
        assert!(TokenScore::of(&[f32::NAN, 0.0], 1).logprob.is_nan());
    }
}
