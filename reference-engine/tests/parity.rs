//! The engine against transformers, at every hidden state and position, on the tiny models of
//! scripts/make-engine-fixtures.py (GQA 1, 2 and 7; tied and untied; theta 1e6 and 1e4; f32 and
//! bf16 weights; v4 and v5 config keys; a sharded checkpoint).
//!
//! Error of a vector: ‖engine − transformers‖₂ / ‖transformers‖₂. The bound for f32 compute is
//! 1e-4 at every (layer, position); bf16 weights are compared with transformers in f32 on the same
//! (bf16-valued) weights, so the same bound holds.

use std::path::{Path, PathBuf};

use assay_reference_engine::{Engine, HiddenSelection};

const F32_BOUND: f64 = 1e-4;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures exist (scripts/make-engine-fixtures.py)")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("expected.safetensors").exists())
        .collect();
    out.sort();
    assert!(out.len() >= 3, "expected at least three fixture models in {}", dir.display());
    out
}

/// The expected tensors: token ids, hidden states, logits, and (bf16 models) bf16 hidden states.
fn expected(dir: &Path) -> (Vec<u32>, Vec<f32>, Vec<f32>, Option<Vec<f32>>) {
    let raw = std::fs::read(dir.join("expected.safetensors")).expect("reads");
    let parsed = safetensors::SafeTensors::deserialize(&raw).expect("parses");
    let tokens: Vec<u32> = parsed
        .tensor("tokens")
        .expect("tokens")
        .data()
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u32)
        .collect();
    let f32s = |name: &str| -> Option<Vec<f32>> {
        parsed
            .tensor(name)
            .ok()
            .map(|t| t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    };
    (tokens, f32s("hidden").expect("hidden"), f32s("logits").expect("logits"), f32s("hidden_bf16"))
}

fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    let diff: f64 = a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum();
    let norm: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    (diff / norm.max(1e-30)).sqrt()
}

#[test]
fn hidden_states_and_logits_match_transformers_at_every_layer_and_position() {
    for dir in fixtures() {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_string();
        let engine = Engine::load(&dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        let c = engine.config().clone();
        let (tokens, hidden, logits, hidden_bf16) = expected(&dir);
        let n = tokens.len();
        let positions: Vec<usize> = (0..n).collect();
        let out = engine.teacher_forced(&tokens, &HiddenSelection::All, &positions).expect("runs");
        assert_eq!(out.hidden.len(), hidden.len(), "{name}: hidden state count");

        let h = c.hidden_size;
        let mut worst = (0.0f64, 0, 0);
        for layer in 0..=c.num_layers {
            for pos in 0..n {
                let at = (layer * n + pos) * h;
                let e = rel_l2(&out.hidden[at..at + h], &hidden[at..at + h]);
                if e > worst.0 {
                    worst = (e, layer, pos);
                }
            }
        }
        let mut worst_logits = 0.0f64;
        for (pos, row) in out.logits.iter().enumerate() {
            worst_logits = worst_logits.max(rel_l2(row, &logits[pos * c.vocab_size..(pos + 1) * c.vocab_size]));
        }
        println!(
            "{name}: max rel-L2 error {:.2e} (hidden state {} position {}), logits {:.2e}",
            worst.0, worst.1, worst.2, worst_logits
        );
        assert!(worst.0 <= F32_BOUND, "{name}: hidden state {} position {}: {:.3e}", worst.1, worst.2, worst.0);
        assert!(worst_logits <= F32_BOUND, "{name}: logits {worst_logits:.3e}");

        if let Some(b16) = hidden_bf16 {
            // The drift of honest bf16 compute (transformers in bf16) from the f32 reference:
            // what a validator's thresholds must allow. Stated, and bounded loosely.
            let by_layer: Vec<f64> = (0..=c.num_layers)
                .map(|layer| {
                    (0..n)
                        .map(|pos| (layer * n + pos) * h)
                        .map(|at| rel_l2(&b16[at..at + h], &out.hidden[at..at + h]))
                        .fold(0.0, f64::max)
                })
                .collect();
            let shown: Vec<String> = by_layer.iter().map(|e| format!("{e:.2e}")).collect();
            println!(
                "{name}: transformers bf16 against engine f32, max rel-L2 per hidden state [{}]",
                shown.join(", ")
            );
            assert!(by_layer.iter().all(|e| *e < 0.05), "{name}: bf16 drift {by_layer:?}");
        }
    }
}

#[test]
fn incremental_decoding_equals_one_teacher_forced_pass() {
    for dir in fixtures() {
        let engine = Engine::load(&dir).expect("loads");
        let (tokens, _, logits, _) = expected(&dir);
        let v = engine.config().vocab_size;
        let model = engine.model().expect("a CPU engine has a CPU model");
        let mut cache = model.new_cache();
        // 10 tokens at once, then one at a time.
        let mut all =
            model.forward(&tokens[..10], &mut cache, &mut |_, _| {}, &(0..10).collect::<Vec<_>>()).expect("prefill");
        for (i, t) in tokens.iter().enumerate().skip(10) {
            all.extend(model.forward(&[*t], &mut cache, &mut |_, _| {}, &[0]).expect("step"));
            assert_eq!(cache.len(), i + 1);
        }
        for (pos, row) in all.iter().enumerate() {
            let e = rel_l2(row, &logits[pos * v..(pos + 1) * v]);
            assert!(e <= F32_BOUND, "{}: position {pos}: {e:.3e}", dir.display());
        }
    }
}
