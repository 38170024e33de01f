//! The engine on generated tiny models: selections, generation, sampling, perturbations, and a
//! clear error (never a panic) for every kind of bad input.

use std::path::Path;

use assay_reference_engine::tiny::{self, IM_END, Perturbation, TinySpec};
use assay_reference_engine::{DType, Engine, Error, HiddenSelection, SamplingParams};

fn model(spec: &TinySpec, perturbation: Option<&Perturbation>) -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny::write(dir.path(), spec, perturbation).expect("writes");
    let engine = Engine::load(dir.path()).expect("loads");
    (dir, engine)
}

fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum();
    let n: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    (d / n).sqrt()
}

const TOKENS: [u32; 12] = [257, 117, 115, 101, 114, 10, 104, 105, 258, 10, 257, 97];

#[test]
fn points_are_the_matching_slices_of_all_hidden_states() {
    for spec in [
        TinySpec::default(),
        TinySpec { tied: true, dtype: DType::BF16, kv_heads: 1, seed: 9, ..TinySpec::default() },
        TinySpec { dtype: DType::F16, kv_heads: 4, rope_theta: 1e4, ..TinySpec::default() },
    ] {
        let (_dir, engine) = model(&spec, None);
        let h = spec.hidden;
        let n = TOKENS.len();
        let all = engine.teacher_forced(&TOKENS, &HiddenSelection::All, &[]).expect("all");
        assert_eq!(all.hidden.len(), (spec.layers + 1) * n * h);
        let points = vec![(0, 0), (spec.layers, n - 1), (2, 5)];
        let some = engine.teacher_forced(&TOKENS, &HiddenSelection::Points(points.clone()), &[n - 1]).expect("points");
        for (i, (layer, pos)) in points.iter().enumerate() {
            let at = (layer * n + pos) * h;
            assert_eq!(&some.hidden[i * h..(i + 1) * h], &all.hidden[at..at + h], "{spec:?} point {i}");
        }
        assert_eq!(some.logits.len(), 1);
        assert_eq!(some.logits[0].len(), spec.vocab);
        assert!(all.hidden.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn generation_is_deterministic_and_stops() {
    let (_dir, engine) = model(&TinySpec::default(), None);
    let greedy = engine.generate(&TOKENS, &SamplingParams::default(), 20, &[]).expect("generates");
    assert_eq!(greedy.tokens.len(), 20);
    assert_eq!(greedy, engine.generate(&TOKENS, &SamplingParams::default(), 20, &[]).expect("again"));
    // Greedy decoding equals the argmax of a teacher-forced pass over prompt + completion.
    let mut full = TOKENS.to_vec();
    full.extend(&greedy.tokens);
    let positions: Vec<usize> = (TOKENS.len() - 1..full.len() - 1).collect();
    let tf = engine.teacher_forced(&full, &HiddenSelection::None, &positions).expect("teacher-forced");
    for (i, logits) in tf.logits.iter().enumerate() {
        assert_eq!(assay_reference_engine::sampling::argmax(logits), greedy.tokens[i], "token {i}");
    }
    // Scoring the greedy completion: every token is the reference's top one.
    let scores = engine.score_tokens(&full, TOKENS.len()).expect("scores");
    assert_eq!(scores.len(), greedy.tokens.len());
    assert!(scores.iter().all(|s| s.rank == 0 && s.logprob == s.top_logprob), "{scores:?}");
    let top = assay_reference_engine::top_logprobs(&tf.logits[0], 3);
    assert_eq!(top[0].0, greedy.tokens[0]);
    assert!(top[0].1 >= top[1].1 && top[1].1 >= top[2].1);
    let mut wrong = full.clone();
    wrong[TOKENS.len()] = (greedy.tokens[0] + 1) % 256;
    assert!(engine.score_tokens(&wrong, TOKENS.len()).expect("scores")[0].rank > 0);
    assert!(engine.score_tokens(&full, 0).is_err());
    // A stop token ends generation.
    let stop = greedy.tokens[5];
    let stopped = engine.generate(&TOKENS, &SamplingParams::default(), 20, &[stop, IM_END]).expect("generates");
    assert_eq!(stopped.finish_reason, assay_reference_engine::FinishReason::Stop);
    assert!(stopped.tokens.len() <= 6);
    let sampled = SamplingParams { temperature: 0.8, top_k: 40, top_p: 0.95, seed: 7 };
    let a = engine.generate(&TOKENS, &sampled, 30, &[]).expect("samples");
    assert_eq!(a, engine.generate(&TOKENS, &sampled, 30, &[]).expect("samples again"));
    assert_ne!(a.tokens, greedy.tokens[..20.min(a.tokens.len())].to_vec());
    // Each sampled token is the protocol sampler's pick on the logits it was drawn from, at its
    // index in the completion (docs/sampling.md): what the verifier replays.
    let mut seen = Vec::new();
    let b = engine
        .generate_with(&TOKENS, &sampled, 30, &[], &mut |token, logits| {
            seen.push((token, assay_sampler::sample(logits, &sampled, seen.len() as u64).expect("spec")));
            true
        })
        .expect("samples with a callback");
    assert_eq!(b, a);
    assert!(seen.iter().all(|(token, spec)| token == spec), "{seen:?}");
}

#[test]
fn perturbed_models_drift_in_proportion() {
    let spec = TinySpec { layers: 6, hidden: 128, heads: 4, kv_heads: 2, intermediate: 256, ..TinySpec::default() };
    let (_d0, honest) = model(&spec, None);
    let n = TOKENS.len();
    let last = |e: &Engine| {
        let out =
            e.teacher_forced(&TOKENS, &HiddenSelection::Points(vec![(spec.layers - 1, n - 1)]), &[]).expect("runs");
        out.hidden
    };
    let reference = last(&honest);
    let error = |p: Perturbation| {
        let (_d, e) = model(&spec, Some(&p));
        rel_l2(&last(&e), &reference)
    };
    let int8 = error(Perturbation::Quantized { bits: 8, group: 128 });
    let int4 = error(Perturbation::Quantized { bits: 4, group: 32 });
    let scaled = error(Perturbation::ScaleLayer { layer: 2, factor: 1.01 });
    let (_d, other) = model(&TinySpec { seed: 77, ..spec.clone() }, None);
    let other_model = rel_l2(&last(&other), &reference);
    println!(
        "last-layer rel-L2: int8 {int8:.2e}, int4 {int4:.2e}, layer x1.01 {scaled:.2e}, other seed {other_model:.2e}"
    );
    assert!(int8 > 1e-4 && int8 < int4 && int4 < other_model, "{int8} {int4} {other_model}");
    assert!(scaled > 1e-4 && scaled < int4);
}

fn expect_error(result: Result<impl std::fmt::Debug, Error>, contains: &str) {
    let err = result.expect_err(contains).to_string();
    assert!(err.contains(contains), "{err:?} lacks {contains:?}");
}

#[test]
fn bad_input_is_a_clear_error() {
    let (dir, engine) = model(&TinySpec::default(), None);
    let vocab = engine.config().vocab_size as u32;
    expect_error(
        engine.teacher_forced(&[1, vocab, 2], &HiddenSelection::None, &[]),
        &format!("token id {vocab} at position 1"),
    );
    expect_error(engine.teacher_forced(&[1, 2], &HiddenSelection::Points(vec![(1, 2)]), &[]), "position 2 is past");
    expect_error(engine.teacher_forced(&[1, 2], &HiddenSelection::Points(vec![(5, 0)]), &[]), "layer 5 is past");
    expect_error(engine.teacher_forced(&[1, 2], &HiddenSelection::None, &[7]), "position 7 is past");
    expect_error(engine.generate(&[], &SamplingParams::default(), 5, &[]), "no tokens");

    let copy = |f: &dyn Fn(&Path)| {
        let d = tempfile::tempdir().expect("tempdir");
        tiny::write(d.path(), &TinySpec::default(), None).expect("writes");
        f(d.path());
        d
    };
    let missing = copy(&|p| std::fs::remove_file(p.join("config.json")).expect("rm"));
    expect_error(Engine::load(missing.path()), "config.json");
    let malformed = copy(&|p| std::fs::write(p.join("config.json"), "{\"hidden_size\": 3").expect("write"));
    expect_error(Engine::load(malformed.path()), "config");
    let wrong_shape = copy(&|p| {
        let text = std::fs::read_to_string(p.join("config.json")).expect("read");
        std::fs::write(p.join("config.json"), text.replace("\"intermediate_size\": 160", "\"intermediate_size\": 161"))
            .expect("write");
    });
    expect_error(
        Engine::load(wrong_shape.path()),
        "model.layers.0.mlp.gate_proj.weight: shape [160, 64], expected [161, 64]",
    );
    let untied = copy(&|p| {
        tiny::write(p, &TinySpec { tied: true, ..TinySpec::default() }, None).expect("writes");
        let text = std::fs::read_to_string(p.join("config.json")).expect("read");
        std::fs::write(
            p.join("config.json"),
            text.replace("\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false"),
        )
        .expect("write");
    });
    expect_error(Engine::load(untied.path()), "lm_head.weight: missing");
    let truncated = copy(&|p| {
        let bytes = std::fs::read(p.join("model.safetensors")).expect("read");
        std::fs::write(p.join("model.safetensors"), &bytes[..bytes.len() / 2]).expect("write");
    });
    expect_error(Engine::load(truncated.path()), "model.safetensors");
    let int_dtype = copy(&|p| {
        let data = vec![0u8; 4 * 64];
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::I32, vec![64], &data).expect("view");
        safetensors::serialize_to_file(
            vec![("model.norm.weight".to_string(), view)],
            None,
            &p.join("model.safetensors"),
        )
        .expect("write");
    });
    expect_error(Engine::load(int_dtype.path()), "model.norm.weight: dtype I32 is not supported");
    drop(dir);
}

#[test]
fn a_long_prefill_equals_token_by_token_decoding() {
    // 150 tokens span several attention blocks of the CPU backend.
    let (_dir, engine) = model(&TinySpec { seed: 5, ..TinySpec::default() }, None);
    let tokens: Vec<u32> = (0..150).map(|i| (i * 7 + 3) % 256).collect();
    let model = engine.model().expect("a CPU engine has a CPU model");
    let rows: Vec<usize> = (0..tokens.len()).collect();
    let prefill = model.forward(&tokens, &mut model.new_cache(), &mut |_, _| {}, &rows).expect("prefill");
    let mut cache = model.new_cache();
    for (i, t) in tokens.iter().enumerate() {
        let step = model.forward(&[*t], &mut cache, &mut |_, _| {}, &[0]).expect("step");
        let e = rel_l2(&step[0], &prefill[i]);
        assert!(e < 1e-5, "position {i}: {e:.3e}");
    }
}
