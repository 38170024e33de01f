//! The trained tiny Qwen2s of the detection experiment (`assay dev detect --trained`): byte-level
//! models trained for a few minutes on real text by `scripts/train-tiny-qwen2.sh`, committed in
//! `host/lab/fixtures/trained/` and pinned here by sha256, so their next-token distributions are
//! peaked as a real LLM's are (a random tiny model's are nearly flat). Their shapes are
//! `TinySpec`'s default (the smaller one: 2 layers, hidden 32); the config and tokenizer written
//! beside them are the random family's.

use std::path::Path;

use assay_reference_engine::tiny::{self, Perturbation, Tensors, TinySpec};
use sha2::{Digest, Sha256};

/// One of the committed models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trained {
    /// The honest model (seed 1).
    Reference,
    /// Same shape, seed 2: the "another model" attack.
    Other,
    /// 2 layers, hidden 32: the cheap generator.
    Smaller,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "the committed {name} model has sha256 {actual}, not the pinned {expected} (rerun scripts/train-tiny-qwen2.sh and update host/lab/src/trained.rs)"
    )]
    Digest { name: &'static str, expected: &'static str, actual: String },
    #[error(transparent)]
    Engine(#[from] assay_reference_engine::Error),
}

impl Trained {
    fn name(self) -> &'static str {
        match self {
            Trained::Reference => "reference",
            Trained::Other => "other",
            Trained::Smaller => "smaller",
        }
    }

    /// The committed bytes and their pinned sha256.
    fn fixture(self) -> (&'static [u8], &'static str) {
        match self {
            Trained::Reference => (
                include_bytes!("../fixtures/trained/reference.safetensors"),
                "d171e3549e9fd5abd2707680e128ecfcfc6fab59bddc35736f43dec26d5c273e",
            ),
            Trained::Other => (
                include_bytes!("../fixtures/trained/other.safetensors"),
                "c7a32d306101336f7316e9d5ca7654e8b961a577171b1e6d1d873a32ca423f75",
            ),
            Trained::Smaller => (
                include_bytes!("../fixtures/trained/smaller.safetensors"),
                "31b33e1c96deac81de01398f3dcaab61f96215414d6a6e9ed787f01d7e32d0ce",
            ),
        }
    }

    /// The model's shape (the training script's `MODELS`).
    pub fn spec(self) -> TinySpec {
        match self {
            Trained::Reference | Trained::Other => TinySpec::default(),
            Trained::Smaller => TinySpec { layers: 2, hidden: 32, intermediate: 80, ..TinySpec::default() },
        }
    }

    /// The model's weights, after checking the committed bytes against the pinned sha256.
    pub fn tensors(self) -> Result<Tensors, Error> {
        let (bytes, expected) = self.fixture();
        let actual = hex::encode(Sha256::digest(bytes));
        if actual != expected {
            return Err(Error::Digest { name: self.name(), expected, actual });
        }
        Ok(tiny::read_tensors(bytes)?)
    }

    /// Writes the model as a model directory the engine loads, with `perturbation` applied.
    pub fn write(self, dir: &Path, perturbation: Option<&Perturbation>) -> Result<(), Error> {
        Ok(tiny::write_with(dir, &self.spec(), self.tensors()?, perturbation)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use assay_reference_engine::{Engine, HiddenSelection};

    /// The reference's logits at a few positions of a fixed chat, as the training script
    /// computed them (JSON: `tokens`, `positions`, `logits`); the engine must reproduce them.
    const EXPECTED_LOGITS: &str = include_str!("../fixtures/trained/reference.logits.json");

    /// Mean top-1 probability and mean entropy (nats) of the next-token distributions at every
    /// position of `tokens`.
    fn peakedness(engine: &Engine, tokens: &[u32]) -> (f64, f64) {
        let positions: Vec<usize> = (0..tokens.len()).collect();
        let logits = engine.teacher_forced(tokens, &HiddenSelection::None, &positions).expect("forward").logits;
        let (mut top, mut entropy) = (0.0, 0.0);
        for row in &logits {
            let logp = assay_reference_engine::log_softmax(row);
            top += f64::from(logp.iter().copied().fold(f32::NEG_INFINITY, f32::max).exp());
            entropy -= logp.iter().map(|&l| f64::from(l.exp()) * f64::from(l)).sum::<f64>();
        }
        (top / logits.len() as f64, entropy / logits.len() as f64)
    }

    fn expected() -> (Vec<u32>, Vec<usize>, Vec<Vec<f32>>) {
        let v: serde_json::Value = serde_json::from_str(EXPECTED_LOGITS).expect("the expected logits parse");
        let tokens = serde_json::from_value(v["tokens"].clone()).expect("tokens");
        let positions = serde_json::from_value(v["positions"].clone()).expect("positions");
        let logits = serde_json::from_value(v["logits"].clone()).expect("logits");
        (tokens, positions, logits)
    }

    #[test]
    fn the_engine_reproduces_the_training_scripts_logits() {
        let dir = tempfile::tempdir().expect("tempdir");
        Trained::Reference.write(dir.path(), None).expect("writes");
        let engine = Engine::load(dir.path()).expect("loads");
        let (tokens, positions, want) = expected();
        let got = engine.teacher_forced(&tokens, &HiddenSelection::None, &positions).expect("forward").logits;
        assert_eq!(got.len(), want.len());
        let worst = got.iter().flatten().zip(want.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        println!("largest logit difference {worst:e}");
        assert!(worst <= 1e-4, "largest difference {worst:e}");
    }

    #[test]
    fn every_committed_model_matches_its_pin_and_loads() {
        for model in [Trained::Reference, Trained::Other, Trained::Smaller] {
            let dir = tempfile::tempdir().expect("tempdir");
            model.write(dir.path(), None).expect("writes");
            let engine = Engine::load(dir.path()).expect("loads");
            assert_eq!(engine.config().hidden_size, model.spec().hidden, "{model:?}");
        }
    }

    /// The point of the trained model: its next-token distributions are peaked where the random
    /// one's are nearly flat (the figures are in docs/verification.md).
    #[test]
    fn the_trained_model_is_peaked_and_the_random_one_flat() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (trained, random) = (dir.path().join("trained"), dir.path().join("random"));
        Trained::Reference.write(&trained, None).expect("writes");
        tiny::write(&random, &crate::detect::spec(), None).expect("writes");
        let (tokens, ..) = expected();
        let (top_t, h_t) = peakedness(&Engine::load(&trained).expect("loads"), &tokens);
        let (top_r, h_r) = peakedness(&Engine::load(&random).expect("loads"), &tokens);
        println!("top-1 {top_t:.3} vs {top_r:.3}; entropy {h_t:.2} vs {h_r:.2} nats");
        assert!(top_t > 0.3 && h_t < 2.5, "trained: top-1 {top_t}, entropy {h_t}");
        assert!(top_r < 0.1 && h_r > 4.5, "random: top-1 {top_r}, entropy {h_r}");
    }
}
