//! Whose fault an unmeasurable challenge is: the validator's own failures (a body it cannot read
//! back, a template it cannot render, its engine failing) void the challenge; the miner's (tokens
//! past the vocabulary, a malformed opening, no evidence) fail it. Run on the tiny model.

use assay_miner_client::OpeningError;
use assay_protocol::wire::{OpenResponse, OpenedPoint, VectorDtype, encode_vector};
use assay_reference_engine::tiny::{self, IM_END, TinySpec};
use assay_reference_engine::{ChatTokenizer, Config, Engine, Error as EngineError, HiddenSelection, TeacherForced};
use serde_json::json;

use super::*;

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Engine,
    tokenizer: ChatTokenizer,
    stop_ids: Vec<u32>,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        tiny::write(dir.path(), &TinySpec::default(), None).unwrap();
        let engine = Engine::load(dir.path()).unwrap();
        let tokenizer = ChatTokenizer::load(dir.path()).unwrap();
        let stop_ids = engine.config().eos_token_ids.clone();
        Self { _dir: dir, engine, tokenizer, stop_ids }
    }

    /// An honest chat exchange: the body, and evidence whose prompt is the template's rendering.
    fn chat(&self, messages: serde_json::Value) -> (Exchange, ResponseExtension) {
        let prompt = self.tokenizer.chat_ids(&messages, true, &json!({})).unwrap_or_default();
        let mut completion = self.tokenizer.encode("hello there").unwrap();
        completion.push(IM_END);
        let body = json!({"model": "tiny", "messages": messages, "max_tokens": 16});
        exchange("/v1/chat/completions", body.to_string(), prompt, completion)
    }

    /// The reference's own vectors at `points`: what an honest miner opens.
    fn honest_opening(&self, ext: &ResponseExtension, points: &[(u32, u32)]) -> Opened {
        let tokens: Vec<u32> = ext.prompt_token_ids.iter().chain(&ext.completion_token_ids).copied().collect();
        let selection = HiddenSelection::Points(points.iter().map(|&(l, p)| (l as usize, p as usize)).collect());
        let pass = self.engine.teacher_forced(&tokens, &selection, &[]).unwrap();
        let hidden = self.engine.config().hidden_size;
        Opened { points: points.to_vec(), vectors: pass.hidden.chunks(hidden).map(<[f32]>::to_vec).collect() }
    }

    /// The verdict through the verifier's own path, with `pass` as the reference engine.
    fn verdict_with<R: ReferencePass + ?Sized>(
        &self,
        pass: &R,
        exchange: &Exchange,
        ext: &ResponseExtension,
        opened: Option<Opened>,
    ) -> Judgement {
        let reference = Reference { pass, tokenizer: &self.tokenizer, stop_ids: &self.stop_ids };
        let failure = if opened.is_some() { Opening::Verified } else { Opening::Missed };
        let measured = assess(&reference, exchange, ext, opened, failure, true, None);
        verdict_of(exchange, measured, stand_in_judge).1
    }

    fn verdict(&self, exchange: &Exchange, ext: &ResponseExtension, opened: Option<Opened>) -> Judgement {
        self.verdict_with(&self.engine, exchange, ext, opened)
    }
}

fn exchange(path: &str, request: String, prompt: Vec<u32>, completion: Vec<u32>) -> (Exchange, ResponseExtension) {
    let ext = ResponseExtension {
        request_id: "r-1".into(),
        prompt_token_ids: prompt,
        completion_token_ids: completion,
        commitment: Some("00".repeat(32)),
        leaf_count: 0,
        dtype: VectorDtype::F32,
        sampler: None,
    };
    let evidence = json!({"assay": ext, "assay_signature": {}}).to_string();
    let exchange =
        Exchange { id: 7, uid: 3, miner_hotkey: "miner".into(), path: path.into(), request, evidence: Some(evidence) };
    (exchange, ext)
}

/// Stands in for the challenger policy's first rules (a failed opening or a prompt that is not
/// the validator's rendering fails), so that these tests need no WASM build.
fn stand_in_judge(m: &Measurements) -> Judgement {
    let (verdict, reason) = match (m.opening, m.prompt_match) {
        (Opening::Verified, true) => (Verdict::Pass, "judged".to_string()),
        (Opening::Verified, false) => (Verdict::Fail, "prompt tokens differ from the chat template".to_string()),
        _ => (Verdict::Fail, "opening failed".to_string()),
    };
    Judgement { verdict, reason }
}

#[track_caller]
fn assert_void(j: &Judgement) {
    assert_eq!(j.verdict, Verdict::Void, "{j:?}");
    assert!(j.reason.starts_with("validator fault: "), "{j:?}");
}

#[track_caller]
fn assert_fail(j: &Judgement, mentions: &str) {
    assert_eq!(j.verdict, Verdict::Fail, "{j:?}");
    assert!(j.reason.contains(mentions), "{j:?} should mention {mentions:?}");
}

fn hello() -> serde_json::Value {
    json!([{"role": "user", "content": "hi"}])
}

/// A reference engine that fails the way a GPU does: the validator's fault, whatever the tokens.
struct Failing<'a> {
    engine: &'a Engine,
    error: fn() -> EngineError,
}

impl ReferencePass for Failing<'_> {
    fn config(&self) -> &Config {
        self.engine.config()
    }
    fn teacher_forced(
        &self,
        _: &[u32],
        _: &HiddenSelection,
        _: &[usize],
    ) -> assay_reference_engine::Result<TeacherForced> {
        Err((self.error)())
    }
}

#[test]
fn an_honest_exchange_reaches_the_judge() {
    let fx = Fixture::new();
    let (x, ext) = fx.chat(hello());
    let last = (ext.prompt_token_ids.len() + ext.completion_token_ids.len() - 1) as u32;
    let opened = fx.honest_opening(&ext, &[(1, 0), (4, last)]);
    let j = fx.verdict(&x, &ext, Some(opened));
    assert_eq!((j.verdict, j.reason.as_str()), (Verdict::Pass, "judged"));
}

#[test]
fn a_stored_body_that_is_not_json_is_void() {
    let fx = Fixture::new();
    let (mut x, ext) = fx.chat(hello());
    x.request = r#"{"messages": [{"role": "user", "#.into();
    let opened = fx.honest_opening(&ext, &[(2, 1)]);
    assert_void(&fx.verdict(&x, &ext, Some(opened)));
}

#[test]
fn messages_the_template_cannot_render_are_void() {
    let fx = Fixture::new();
    for messages in [
        json!([{"role": "user", "content": 42}]),
        json!([{"role": "user", "content": {"text": "hi"}}]),
        json!({"role": "user", "content": "not a list"}),
    ] {
        // The miner may have rendered these its own way; the validator cannot say it did not.
        assert!(fx.tokenizer.chat_ids(&messages, true, &json!({})).is_err(), "{messages} renders");
        let (x, mut ext) = fx.chat(messages);
        ext.prompt_token_ids = fx.tokenizer.encode("whatever the miner rendered").unwrap();
        let opened = fx.honest_opening(&ext, &[(2, 1)]);
        assert_void(&fx.verdict(&x, &ext, Some(opened)));
    }
}

#[test]
fn a_completion_body_without_a_text_prompt_is_void() {
    let fx = Fixture::new();
    // OpenAI's API also takes a prompt of token ids; the validator renders only text.
    let body = json!({"model": "tiny", "prompt": [104, 105], "max_tokens": 4}).to_string();
    let (x, ext) = exchange("/v1/completions", body, vec![104, 105], vec![33, IM_END]);
    let opened = fx.honest_opening(&ext, &[(2, 1)]);
    assert_void(&fx.verdict(&x, &ext, Some(opened)));
}

#[test]
fn the_engine_failing_on_the_validator_is_void() {
    let fx = Fixture::new();
    let (x, ext) = fx.chat(hello());
    let host_errors: [fn() -> EngineError; 4] = [
        || EngineError::Invalid("cuda: launching rmsnorm: DriverError(CUDA_ERROR_OUT_OF_MEMORY)".into()),
        || EngineError::Invalid("cuda: synchronizing: DriverError(CUDA_ERROR_ILLEGAL_ADDRESS)".into()),
        || EngineError::Tensor { name: "model.norm.weight".into(), reason: "allocation failed".into() },
        || EngineError::Io { context: "reading weights".into(), source: std::io::Error::other("disk gone") },
    ];
    let opened = || Some(fx.honest_opening(&ext, &[(2, 1)]));
    for error in host_errors {
        let failing = Failing { engine: &fx.engine, error };
        assert_void(&fx.verdict_with(&failing, &x, &ext, opened()));
    }
    // The engine refusing the miner's own tokens stays the miner's fault.
    let failing =
        Failing { engine: &fx.engine, error: || EngineError::TokenOutOfRange { id: 999, position: 3, vocab: 320 } };
    assert_fail(&fx.verdict_with(&failing, &x, &ext, opened()), "vocabulary");
}

#[test]
fn a_token_past_the_vocabulary_fails() {
    let fx = Fixture::new();
    let (x, mut ext) = fx.chat(hello());
    ext.completion_token_ids.insert(1, 10_000);
    assert_fail(&fx.verdict(&x, &ext, None), "vocabulary");
}

#[test]
fn a_point_outside_an_empty_sequence_fails() {
    let fx = Fixture::new();
    let (x, mut ext) = fx.chat(hello());
    // The planner draws positions in 0..max(tokens, 1): a miner that reports no tokens at all is
    // asked for position 0 of nothing.
    ext.prompt_token_ids.clear();
    ext.completion_token_ids.clear();
    let opened = Opened { points: vec![(1, 0)], vectors: vec![vec![0.0; fx.engine.config().hidden_size]] };
    assert_fail(&fx.verdict(&x, &ext, Some(opened)), "outside");
}

#[test]
fn a_point_the_planner_put_past_the_sequence_is_void() {
    let fx = Fixture::new();
    let (x, ext) = fx.chat(hello());
    let len = (ext.prompt_token_ids.len() + ext.completion_token_ids.len()) as u32;
    let hidden = fx.engine.config().hidden_size;
    // The planner was offered this sequence's length; it chose these points, not the miner.
    for point in [(1, len + 5), (99, 0)] {
        let opened = Opened { points: vec![point], vectors: vec![vec![0.5; hidden]] };
        assert_void(&fx.verdict(&x, &ext, Some(opened)));
    }
}

#[test]
fn a_vector_of_the_wrong_shape_fails() {
    let fx = Fixture::new();
    let (x, ext) = fx.chat(hello());
    let hidden = fx.engine.config().hidden_size;
    let short: Vec<u8> = [1.0f32, 2.0, 3.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let point = OpenedPoint { layer: 2, position: 1, vector: encode_vector(&short), path: Vec::new() };
    let response = OpenResponse { request_id: ext.request_id.clone(), points: vec![point] };
    // The opening check refuses it, as `challenge` does; the opening is then invalid.
    assert_eq!(verify_opening(&ext, &[[2, 1]], &response, hidden), Err(OpeningError::Malformed(2, 1)));
    let reference = Reference { pass: &fx.engine, tokenizer: &fx.tokenizer, stop_ids: &fx.stop_ids };
    let measured = assess(&reference, &x, &ext, None, Opening::Invalid, true, None);
    assert_fail(&verdict_of(&x, measured, stand_in_judge).1, "opening");
}

#[test]
fn opened_vectors_that_skipped_the_opening_check_are_void() {
    let fx = Fixture::new();
    let (x, ext) = fx.chat(hello());
    // Only the validator builds an `Opened`, from vectors `verify_opening` accepted.
    let mut truncated = fx.honest_opening(&ext, &[(2, 1), (3, 2)]);
    truncated.vectors[1].truncate(3);
    let mut missing = fx.honest_opening(&ext, &[(2, 1), (3, 2)]);
    missing.vectors.pop();
    for opened in [truncated, missing] {
        assert_void(&fx.verdict(&x, &ext, Some(opened)));
    }
}

#[test]
fn a_missed_opening_still_fails() {
    let fx = Fixture::new();
    let (x, ext) = fx.chat(hello());
    assert_fail(&fx.verdict(&x, &ext, None), "opening");
}

#[test]
fn a_failed_opening_spends_no_reference_pass() {
    let fx = Fixture::new();
    let (x, ext) = fx.chat(hello());
    // An engine that would void the challenge if it were run: it must not be.
    let failing = Failing { engine: &fx.engine, error: || EngineError::Invalid("the pass ran".into()) };
    let reference = Reference { pass: &failing, tokenizer: &fx.tokenizer, stop_ids: &fx.stop_ids };
    let measured = assess(&reference, &x, &ext, None, Opening::Missed, true, None).expect("judged without a pass");
    assert!(measured.points.is_empty() && measured.tokens.is_empty(), "{measured:?}");
    assert_eq!(measured.opening, Opening::Missed);
    assert_fail(&verdict_of(&x, Ok(measured), stand_in_judge).1, "opening");
}

#[test]
fn evidence_longer_than_asked_fails_before_the_pass() {
    let fx = Fixture::new();
    let (x, ext) = fx.chat(hello());
    let opened = || Some(fx.honest_opening(&ext, &[(2, 1)]));
    // The body asked for 16 completion tokens; a miner signed 100,000 of them.
    let mut long = ext.clone();
    long.completion_token_ids = vec![33; 100_000];
    assert_fail(&fx.verdict(&x, &long, opened()), "more than the 16 asked for");
    // A prompt longer than the validator's own rendering of the body it sent.
    let mut padded = ext.clone();
    padded.prompt_token_ids.extend([33; 50_000]);
    assert_fail(&fx.verdict(&x, &padded, opened()), "more than the");
    // `max_completion_tokens` bounds it as well, and takes precedence over `max_tokens` (as the
    // miner reads them): a smaller `max_tokens` beside it is not the bound.
    let with_bounds = |completion_tokens: u64, max_tokens: u64| {
        let (mut x2, ext2) = fx.chat(hello());
        let mut body: serde_json::Value = serde_json::from_str(&x2.request).unwrap();
        body["max_completion_tokens"] = json!(completion_tokens);
        body["max_tokens"] = json!(max_tokens);
        x2.request = body.to_string();
        fx.verdict(&x2, &ext2, opened())
    };
    assert_fail(&with_bounds(2, 16), "more than the 2 asked for");
    assert_eq!(with_bounds(16, 1).verdict, Verdict::Pass, "the miner generated within max_completion_tokens");
    // Within bounds, the same evidence reaches the judge.
    assert_eq!(fx.verdict(&x, &ext, opened()).verdict, Verdict::Pass);
}

#[test]
fn stored_evidence_that_does_not_parse_is_void() {
    let fx = Fixture::new();
    let (mut x, _) = fx.chat(hello());
    // The recorder parsed and checked the miner's signature on this evidence before it wrote it.
    for stored in [r#"{"assay": {"request_id": "#, r#"{"assay": {"request_id": 5}}"#] {
        x.evidence = Some(stored.into());
        let error = evidence_of(&x).expect_err("the evidence does not parse");
        assert_void(&unmeasured(&x, error));
    }
}

#[test]
fn no_stored_evidence_fails() {
    let fx = Fixture::new();
    let (mut x, _) = fx.chat(hello());
    x.evidence = None;
    let error = evidence_of(&x).expect_err("there is no evidence");
    assert_fail(&unmeasured(&x, error), "evidence");
}

#[test]
fn tokens_sampled_outside_a_nucleus_are_not_judged() {
    let fx = Fixture::new();
    let opened = |ext: &ResponseExtension| Some(fx.honest_opening(ext, &[(2, 1)]));
    let reference = Reference { pass: &fx.engine, tokenizer: &fx.tokenizer, stop_ids: &fx.stop_ids };
    let measured_tokens = |sampling: serde_json::Value, greedy: bool| {
        let (mut x, ext) = fx.chat(hello());
        let mut body: serde_json::Value = serde_json::from_str(&x.request).unwrap();
        for (k, v) in sampling.as_object().unwrap() {
            body[k] = v.clone();
        }
        x.request = body.to_string();
        let m = assess(&reference, &x, &ext, opened(&ext), Opening::Verified, greedy, None).expect("measured");
        assert_eq!(m.points.len(), 1, "hidden states are always measured");
        m.tokens.len()
    };
    let completion = fx.chat(hello()).1.completion_token_ids.len();
    assert_eq!(measured_tokens(json!({"temperature": 0}), true), completion, "greedy");
    assert_eq!(measured_tokens(json!({"temperature": 0.7, "top_p": 0.9}), false), completion, "a nucleus");
    // OpenAI's defaults (temperature 1, no top_p), a hot one, and top_p 1: the whole distribution.
    for sampling in [json!({}), json!({"temperature": 1.5}), json!({"temperature": 0.7, "top_p": 1.0})] {
        assert_eq!(measured_tokens(sampling.clone(), false), 0, "{sampling}");
    }
}

/// Sampled requests of a miner that signs the protocol's sampler are replayed (decision 0010).
mod replayed {
    use assay_protocol::wire::SAMPLER_SPEC;
    use assay_reference_engine::SamplingParams;

    use super::*;

    const MAX_TOKENS: usize = 16;

    /// The sampled requests of these tests: hot and cool, truncated and not.
    fn cases() -> Vec<SamplingParams> {
        let p = |temperature, top_k, top_p, seed| SamplingParams { temperature, top_k, top_p, seed };
        vec![p(1.0, 0, 1.0, 11), p(0.7, 0, 0.9, 12), p(1.3, 20, 1.0, 13), p(0.8, 40, 0.95, 14), p(0.5, 5, 0.8, 15)]
    }

    /// The body the gateway stores: every parameter named.
    fn body(messages: &serde_json::Value, p: &SamplingParams) -> String {
        json!({"model": "tiny", "messages": messages, "max_tokens": MAX_TOKENS,
               "temperature": p.temperature, "top_k": p.top_k, "top_p": p.top_p, "seed": p.seed})
        .to_string()
    }

    impl Fixture {
        /// What an honest miner computes with: the same weights, every activation in bf16.
        fn miner_engine(&self) -> Engine {
            let mut engine = Engine::load(self._dir.path()).unwrap();
            engine.set_bf16_activations(true);
            engine
        }

        /// An exchange whose completion `generate` produced for the rendered prompt, signed as
        /// sampled by `sampler`, for a body naming `params`.
        fn sampled(
            &self,
            params: &SamplingParams,
            sampler: Option<&str>,
            generate: impl FnOnce(&[u32]) -> Vec<u32>,
        ) -> (Exchange, ResponseExtension) {
            let messages = json!([{"role": "user", "content": format!("tell me about {}", params.seed)}]);
            let prompt = self.tokenizer.chat_ids(&messages, true, &json!({})).unwrap();
            let completion = generate(&prompt);
            let (mut x, mut ext) = exchange("/v1/chat/completions", body(&messages, params), prompt, completion);
            ext.sampler = sampler.map(str::to_string);
            x.evidence = Some(json!({"assay": ext, "assay_signature": {}}).to_string());
            (x, ext)
        }

        /// The verdict with `[verify] replay_sampled` on, at the default tolerance.
        fn judged(&self, x: &Exchange, ext: &ResponseExtension) -> Judgement {
            self.judged_with(x, ext, Some(REPLAY_TOLERANCE))
        }

        fn judged_with(&self, x: &Exchange, ext: &ResponseExtension, replay: Option<f64>) -> Judgement {
            let (prompt, completion) = (ext.prompt_token_ids.len(), ext.completion_token_ids.len());
            let opened = self.honest_opening(ext, &[(2, (prompt + completion - 1) as u32)]);
            let reference = Reference { pass: &self.engine, tokenizer: &self.tokenizer, stop_ids: &self.stop_ids };
            verdict_of(x, assess(&reference, x, ext, Some(opened), Opening::Verified, false, replay), stand_in_judge).1
        }
    }

    /// Plain multinomial sampling (inverse CDF over the softmax, an xorshift generator): what a
    /// miner serving with its own sampler draws, from the same distribution as the protocol's.
    fn multinomial(engine: &Engine, prompt: &[u32], params: &SamplingParams) -> Vec<u32> {
        let mut state = params.seed | 1;
        let mut sequence = prompt.to_vec();
        for _ in 0..MAX_TOKENS {
            let pass = engine.teacher_forced(&sequence, &HiddenSelection::None, &[sequence.len() - 1]).unwrap();
            let z: Vec<f64> = pass.logits[0].iter().map(|&l| f64::from(l) / params.temperature).collect();
            let top = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let weights: Vec<f64> = z.iter().map(|v| (v - top).exp()).collect();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut u = (state >> 11) as f64 / (1u64 << 53) as f64 * weights.iter().sum::<f64>();
            let token = weights.iter().position(|w| {
                u -= w;
                u < 0.0
            });
            sequence.push(token.unwrap_or(weights.len() - 1) as u32);
        }
        sequence.split_off(prompt.len())
    }

    #[test]
    fn an_honest_miners_sampled_completions_replay() {
        let fx = Fixture::new();
        let miner = fx.miner_engine();
        for params in cases() {
            let (x, ext) = fx.sampled(&params, Some(SAMPLER_SPEC), |prompt| {
                miner.generate(prompt, &params, MAX_TOKENS, &[]).unwrap().tokens
            });
            assert!(replay_params(&serde_json::from_str(&x.request).unwrap(), &ext).is_some(), "{params:?}");
            let j = fx.judged(&x, &ext);
            assert_eq!((j.verdict, j.reason.as_str()), (Verdict::Pass, "judged"), "{params:?}");
        }
    }

    #[test]
    fn sampling_with_another_seed_or_another_sampler_fails() {
        let fx = Fixture::new();
        let miner = fx.miner_engine();
        for params in cases() {
            // The protocol's sampler, with the seed plus one: genuine tokens of the model.
            let other_seed = SamplingParams { seed: params.seed + 1, ..params };
            let (x, ext) = fx.sampled(&params, Some(SAMPLER_SPEC), |prompt| {
                miner.generate(prompt, &other_seed, MAX_TOKENS, &[]).unwrap().tokens
            });
            assert_fail(&fx.judged(&x, &ext), "sampled tokens are not what the protocol's sampler emits");
            // Multinomial sampling from the model's own softmax, signed as the protocol's.
            let (x, ext) = fx.sampled(&params, Some(SAMPLER_SPEC), |prompt| multinomial(&miner, prompt, &params));
            assert_fail(&fx.judged(&x, &ext), "sampled tokens are not what the protocol's sampler emits");
        }
    }

    #[test]
    fn with_replay_off_the_default_sampled_tokens_are_not_replayed() {
        let fx = Fixture::new();
        let miner = fx.miner_engine();
        // Multinomial sampling signed as the protocol's sampler: fails when replayed (above),
        // passes the (stand-in) judge's other rules when `[verify] replay_sampled` is off.
        let params = cases()[0];
        let (x, ext) = fx.sampled(&params, Some(SAMPLER_SPEC), |prompt| multinomial(&miner, prompt, &params));
        assert_eq!(fx.judged_with(&x, &ext, None).verdict, Verdict::Pass);
        let mut settings = Settings::new("m".into());
        assert_eq!((settings.replay_sampled, settings.replay_tolerance), (false, 0.1));
        // A config written before the keys existed loads with them at their defaults.
        let old: Settings = serde_json::from_value(json!({"model": "m"})).expect("loads");
        assert_eq!((old.replay_sampled, old.replay_tolerance), (false, 0.1));
        for bad in [0.0, -0.1, 10.5, f64::NAN] {
            settings.replay_tolerance = bad;
            assert_eq!(settings.check().map_err(|(key, _)| key), Err("replay_tolerance".to_string()), "{bad}");
        }
        settings.replay_tolerance = 10.0;
        assert_eq!(settings.check(), Ok(()));
    }

    #[test]
    fn a_miner_that_does_not_sign_the_sampler_is_judged_as_before() {
        let fx = Fixture::new();
        let miner = fx.miner_engine();
        let params = cases()[0];
        // Its own sampler: not replayed, so only the (stand-in) judge's other rules apply.
        let (x, ext) = fx.sampled(&params, None, |prompt| multinomial(&miner, prompt, &params));
        assert_eq!(fx.judged(&x, &ext).verdict, Verdict::Pass);
        // Another revision of the specification is not this one.
        let (x, ext) = fx.sampled(&params, Some("assay-sampler/0"), |prompt| multinomial(&miner, prompt, &params));
        assert_eq!(fx.judged(&x, &ext).verdict, Verdict::Pass);
    }

    #[test]
    fn only_sampled_bodies_naming_every_parameter_are_replayed() {
        let (_, mut ext) = exchange("/v1/chat/completions", String::new(), vec![1], vec![2]);
        ext.sampler = Some(SAMPLER_SPEC.into());
        let full = json!({"temperature": 0.7, "top_k": 0, "top_p": 1.0, "seed": 3});
        let expected = SamplingParams { temperature: 0.7, top_k: 0, top_p: 1.0, seed: 3 };
        assert_eq!(replay_params(&full, &ext), Some(expected));
        // The gateway leaves `top_k` out when it is no limit (vLLM <= 0.8.5 refuses 0): absent is 0.
        let no_top_k = json!({"temperature": 0.7, "top_p": 1.0, "seed": 3});
        assert_eq!(replay_params(&no_top_k, &ext), Some(expected));
        // A body recorded before the parameters were explicit, greedy, or unreadable: no replay.
        for (field, value) in [("seed", json!(null)), ("temperature", json!(0.0)), ("top_p", json!(0.0))] {
            let mut body = full.clone();
            body[field] = value;
            assert_eq!(replay_params(&body, &ext), None, "{body}");
        }
    }

    #[test]
    fn evidence_with_no_prompt_token_cannot_be_replayed() {
        // No position predicts the first sampled token: the miner's evidence, not a silent pass.
        let fx = Fixture::new();
        let params = cases()[0];
        let (x, mut ext) = fx.sampled(&params, Some(SAMPLER_SPEC), |prompt| {
            fx.engine.generate(prompt, &params, MAX_TOKENS, &[]).unwrap().tokens
        });
        ext.prompt_token_ids.clear();
        assert_fail(&fx.judged(&x, &ext), "names no prompt token");
    }

    #[test]
    fn a_winner_near_its_boundary_excuses_no_token_far_from_its_own() {
        // top-k 1 of [1, 0.99, -2] at temperature 1 keeps token 0 alone, 0.01 above the best
        // dropped (token 1): the winner is near the boundary (0.01 ≤ 2ε = 0.2). Token 2 is 2.99
        // below the kept one, far from it. At the positions where its Gumbel noise lifts its key
        // within 2ε of the winner's (about 1 in 1 + e^2.8 ≈ 17), only the winner's flag is set,
        // which must not excuse it: it was never a token the miner could have kept.
        let params = SamplingParams { temperature: 1.0, top_k: 1, top_p: 1.0, seed: 5 };
        let logits = [1.0f32, 0.99, -2.0];
        let mut close = 0;
        for position in 0..400 {
            let r = assay_sampler::replay(&logits, &params, position, 2, REPLAY_TOLERANCE).unwrap();
            assert!(!r.token_near_boundary && r.chosen_near_boundary, "{r:?}");
            close += usize::from(r.margin <= 2.0 * REPLAY_TOLERANCE);
            assert!(!token_replays(&logits, &params, position, 2, REPLAY_TOLERANCE).unwrap(), "{position}");
        }
        assert!(close > 5, "{close} positions put token 2's key within 2ε of the winner's");
    }

    #[test]
    fn one_mismatch_in_fifty_is_allowed_and_at_least_one() {
        // Logits [3, 0, 0, 0] at temperature 1, top-k 1: only token 0 may ever be sampled, so
        // each token 1 is a mismatch (no near tie: token 1 is outside the kept set, and its z is
        // 3 below the kept one's, far past 2 × 0.1).
        let params = SamplingParams { temperature: 1.0, top_k: 1, top_p: 1.0, seed: 1 };
        let params = ReplayPlan { params, tolerance: REPLAY_TOLERANCE };
        let rows = |n: usize| vec![vec![3.0f32, 0.0, 0.0, 0.0]; n];
        let tokens = |n: usize, bad: usize| (0..n).map(|i| u32::from(i < bad)).collect::<Vec<u32>>();
        // 16 tokens: floor(16 × 0.02) = 0, raised to 1 allowed.
        assert!(check_replay(&rows(16), &tokens(16, 1), &params).is_ok());
        assert!(matches!(check_replay(&rows(16), &tokens(16, 2), &params), Err(MeasureError::Miner(_))));
        // 100 tokens: only the first 64 (MAX_REPLAYED_POSITIONS) are replayed, floor(64 × 0.02)
        // = 1 allowed: 36 bad tokens from position 64 on are not looked at, 2 at 62 and 63 fail.
        let late = |n: usize, from: usize| (0..n).map(|i| u32::from(i >= from)).collect::<Vec<u32>>();
        assert!(check_replay(&rows(100), &late(100, 64), &params).is_ok());
        let two = check_replay(&rows(100), &late(100, 62), &params);
        assert!(matches!(&two, Err(MeasureError::Miner(m)) if m.starts_with("2 of 64 ")), "{two:?}");
        // The rows the replay needs are the first 64 (a request not judged on tokens has no more).
        assert!(check_replay(&rows(64), &late(100, 64), &params).is_ok());
        // Rows that do not line up are the validator's: none for a token (it used to pass as "0
        // of 0"), fewer than the replayed positions, or more rows than tokens.
        for (n_rows, n_tokens) in [(0, 1), (63, 100), (3, 2)] {
            let r = check_replay(&rows(n_rows), &tokens(n_tokens, 0), &params);
            assert!(matches!(r, Err(MeasureError::Host(_))), "{n_rows} rows, {n_tokens} tokens: {r:?}");
        }
        assert!(check_replay(&[], &[], &params).is_ok(), "nothing to replay");
        // A NaN in the reference's logits is the validator's fault.
        let nan = vec![vec![f32::NAN, 0.0, 0.0, 0.0]];
        assert!(matches!(check_replay(&nan, &[0], &params), Err(MeasureError::Host(_))));
    }
}
