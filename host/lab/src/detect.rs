//! The detection experiment (`assay dev detect`) of docs/verification.md, and `assay dev
//! calibrate`: the per-layer thresholds from honest runs that the challenger policy ships with.
//!
//! Both run the validator's real verification path in one process: a miner generates with its
//! engine, commits to every hidden state (`assay_miner::commit`), opens the points the challenger
//! policy (WASM) plans; the validator checks the Merkle paths (`verify_opening`), measures against
//! its f32 reference (`assay_verify::measure`) and the policy judges. Honest miners compute with
//! bf16 activations (f32 accumulation), so they differ from the reference as real hardware does;
//! every attacker computes that way too. Every miner signs the protocol's sampler and samples
//! with it and the request's seed (the engine does); the verifier replays sampled tokens as the
//! live one does with `[verify] replay_sampled` on (`replay_params`, `REPLAY_TOLERANCE`).
//! `--write-model` writes the honest model for outsiders to derive cheats from, and each
//! `--attack-model` directory is served by one more cheating miner. The
//! models are tiny random Qwen2s with a few massive residual channels, as real LLMs have, or
//! with `--trained` the trained ones of [`crate::trained`] (peaked distributions, massive
//! channels kept in training).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use assay_miner::{Store, commit, open};
use assay_miner_client::verify_opening;
use assay_policy_runtime::{Challenger, Digest, Limits, Runtime};
use assay_policy_sdk::calibration::{Calibration, evidence};
use assay_policy_sdk::{Candidate, MinerHistory, Opening, Param, PlanInput, Verdict};
use assay_protocol::wire::{OpenRequest, SAMPLER_SPEC, decode_vector, encode_vector};
use assay_reference_engine::tiny::{self, Perturbation, TinySpec};
use assay_reference_engine::{ChatTokenizer, Engine, HiddenSelection, SamplingParams};
use assay_verify::{Challenge, MeasureError, Opened, REPLAY_TOLERANCE, ReplayPlan, measure, rel_l2, replay_params};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::detect_epoch::{Scoring, Trial, print_evidence_calibration, weight_zero};
use crate::interval::format_95;

/// Challenges of one miner in one epoch in the experiment's per-epoch rates: the least the
/// adaptive challenger plans per miner and epoch by default.
pub const EPOCH_CHALLENGES: usize = assay_plugin_adaptive_challenger::MIN_PER_EPOCH as usize;

#[derive(Debug, Clone)]
pub struct DetectOptions {
    /// Honest challenges (half greedy, half sampled).
    pub honest: u64,
    /// Challenges per attack and decoding mode.
    pub per_attack: u64,
    /// Challenges of one miner in one epoch, for the per-epoch rates.
    pub epoch_challenges: usize,
    pub threads: usize,
    /// Where the built policies are.
    pub plugins: PathBuf,
    /// Model directories (derived from [`write_model`]'s) each served by one more cheating
    /// miner; its rows are named by the folder.
    pub attack_models: Vec<PathBuf>,
    /// Run on the trained models ([`crate::trained`]) instead of the random ones.
    pub trained: bool,
    /// Told of each finished challenge.
    pub progress: SharedProgress,
}

#[derive(Debug, Clone)]
pub struct CalibrateOptions {
    /// Honest requests measured (half greedy, half sampled), at every layer.
    pub requests: u64,
    pub percentile: f64,
    /// The threshold is the percentile times this.
    pub margin: f64,
    pub threads: usize,
    /// Where the built policies are (the challenger plans the pooled test's points).
    pub plugins: PathBuf,
    /// Calibrate on the trained models ([`crate::trained`]) instead of the random ones.
    pub trained: bool,
    /// Where in a request the per-layer thresholds' points are drawn.
    pub positions: Positions,
    /// Told of each finished request.
    pub progress: SharedProgress,
}

/// How a front end learns how far the experiment is: the epoch crate's progress by phases, each
/// batch of trials one phase (nothing is printed while a phase runs).
pub use assay_epoch::history::Progress;
use assay_epoch::history::Silent;

/// A progress sink shared by the experiment's threads; silent by default.
#[derive(Clone)]
pub struct SharedProgress(pub std::sync::Arc<dyn Progress>);

impl Default for SharedProgress {
    fn default() -> Self {
        Self(std::sync::Arc::new(Silent))
    }
}

impl std::fmt::Debug for SharedProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedProgress")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Attack {
    Honest,
    OtherModel,
    Int8,
    Int4,
    ScaledLayer,
    SmallerModel,
    AlteredPrompt,
    BadOpening,
    BrokenVectors,
    /// The `i`-th `--attack-model` directory.
    Model(u16),
}

impl Attack {
    const ALL: [Attack; 8] = [
        Attack::OtherModel,
        Attack::Int8,
        Attack::Int4,
        Attack::ScaledLayer,
        Attack::SmallerModel,
        Attack::AlteredPrompt,
        Attack::BadOpening,
        Attack::BrokenVectors,
    ];

    /// The number that seeds this miner's trials (the discriminant, for the built-in ones).
    fn id(self) -> u64 {
        match self {
            Attack::Honest => 0,
            Attack::OtherModel => 1,
            Attack::Int8 => 2,
            Attack::Int4 => 3,
            Attack::ScaledLayer => 4,
            Attack::SmallerModel => 5,
            Attack::AlteredPrompt => 6,
            Attack::BadOpening => 7,
            Attack::BrokenVectors => 8,
            Attack::Model(i) => 9 + u64::from(i),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Attack::Honest => "honest (bf16 activations)",
            Attack::OtherModel => "(a) another model (other seed)",
            Attack::Int8 => "(b) int8 weights (per channel)",
            Attack::Int4 => "(b) int4 weights (group 32)",
            Attack::ScaledLayer => "(c) layer 1 scaled by 1.01",
            Attack::SmallerModel => "(d) smaller model generates, real one commits",
            Attack::AlteredPrompt => "(e) system prompt dropped or changed",
            Attack::BadOpening => "(f) opened vector differs from commitment",
            Attack::BrokenVectors => "(g) NaN / wrong-shape vectors, opening timeout",
            Attack::Model(_) => "a model from --attack-model",
        }
    }

    /// The per-epoch target of the issue, as a fraction; none for an outside model.
    fn target(self) -> Option<f64> {
        match self {
            Attack::Int8 | Attack::ScaledLayer => Some(0.95),
            Attack::Honest => Some(0.0),
            Attack::Model(_) => None,
            _ => Some(0.99),
        }
    }
}

const PROMPT_WORDS: &[&str] = &[
    "explain",
    "write",
    "summarize",
    "list",
    "compare",
    "describe",
    "translate",
    "why",
    "how",
    "poem",
    "ocean",
    "compiler",
    "market",
    "garden",
    "planet",
    "history",
    "music",
    "river",
    "engine",
    "theory",
    "city",
    "winter",
];
// The first differs from the template's default system prompt, so dropping it changes the prompt.
const SYSTEMS: [&str; 2] =
    ["You are a careful assistant. Think before answering.", "You are a terse expert. Answer briefly."];
const MAX_TOKENS: usize = 32;

/// The miner's side of one request.
struct Served {
    /// The validator's own rendering of the prompt it sent.
    expected: Vec<u32>,
    /// What the miner actually ran.
    prompt: Vec<u32>,
    completion: Vec<u32>,
    /// Whose hidden states the miner commits to.
    committer: Attack,
    /// The request body's sampling fields as the gateway writes them (what the live verifier
    /// reads back with `replay_params`).
    body: serde_json::Value,
}

/// The models and the policy of the experiment.
struct Lab {
    _dir: tempfile::TempDir,
    tokenizer: ChatTokenizer,
    reference: Engine,
    engines: BTreeMap<Attack, Engine>,
    stop_ids: Vec<u32>,
    /// The policy that plans and judges (calibration needs none).
    challenger: Option<Challenger>,
    /// The folder names of the `--attack-model` directories, by [`Attack::Model`] index.
    model_names: Vec<String>,
    /// The trained models ([`crate::trained`]), not the random ones.
    trained: bool,
    /// The validator's reference compute: wall time of `measure` summed over the challenges
    /// it measured, and their number (item 5 of issue #13: what verification costs).
    reference_nanos: AtomicU64,
    measured: AtomicU64,
}

/// The tiny model of the experiment, the calibration and `assay devnet`: three massive channels.
pub fn spec() -> TinySpec {
    TinySpec { massive_channels: vec![(5, 40.0), (23, 25.0), (51, 60.0)], ..TinySpec::default() }
}

/// `assay dev detect --write-model DIR [--trained]`: the honest miner's model (the reference's
/// weights) as a model directory the engine loads, for anyone to derive a cheat from.
pub fn write_model(dir: &Path, trained: bool) -> anyhow::Result<()> {
    write_variant(dir, trained, Variant::Reference, None)
        .with_context(|| format!("writing the experiment's model to {}", dir.display()))
}

/// The experiment's models: the reference (and its perturbed copies), another of its shape, and
/// a smaller one.
#[derive(Debug, Clone, Copy)]
enum Variant {
    Reference,
    Other,
    Smaller,
}

/// Writes one of the experiment's models, from the random family or the trained one.
fn write_variant(dir: &Path, trained: bool, variant: Variant, p: Option<&Perturbation>) -> anyhow::Result<()> {
    use crate::trained::Trained;
    if trained {
        let model = match variant {
            Variant::Reference => Trained::Reference,
            Variant::Other => Trained::Other,
            Variant::Smaller => Trained::Smaller,
        };
        return Ok(model.write(dir, p)?);
    }
    let spec = spec();
    let spec = match variant {
        Variant::Reference => spec,
        Variant::Other => TinySpec { seed: spec.seed + 1, ..spec },
        Variant::Smaller => TinySpec { layers: 2, hidden: 32, intermediate: 80, seed: spec.seed + 7, ..spec },
    };
    Ok(tiny::write(dir, &spec, p)?)
}

/// Loads an `--attack-model` directory as a cheating miner's engine (bf16 activations, as every
/// miner here); one whose shape is not the reference's is refused, for its openings could not
/// even be planned.
fn attack_engine(path: &Path, reference: &Engine) -> anyhow::Result<Engine> {
    let mut engine = Engine::load(path).with_context(|| format!("loading the attack model {}", path.display()))?;
    let (mine, theirs) = (engine.config(), reference.config());
    if (mine.hidden_size, mine.num_layers, mine.vocab_size)
        != (theirs.hidden_size, theirs.num_layers, theirs.vocab_size)
    {
        return Err(anyhow!(
            "{}: hidden size {}, {} layers, vocabulary {}; the experiment's model has {}, {} and {}",
            path.display(),
            mine.hidden_size,
            mine.num_layers,
            mine.vocab_size,
            theirs.hidden_size,
            theirs.num_layers,
            theirs.vocab_size
        ));
    }
    engine.set_bf16_activations(true);
    Ok(engine)
}

/// The row name of an `--attack-model` directory: its folder's name.
fn folder_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

impl Lab {
    fn new(challenger: Option<Challenger>, attack_models: &[PathBuf], trained: bool) -> anyhow::Result<Lab> {
        let dir = tempfile::tempdir()?;
        let write = |name: &str, variant: Variant, p: Option<Perturbation>| -> anyhow::Result<PathBuf> {
            let path = dir.path().join(name);
            write_variant(&path, trained, variant, p.as_ref())?;
            Ok(path)
        };
        let reference_dir = write("reference", Variant::Reference, None)?;
        let miner = |path: &Path| -> anyhow::Result<Engine> {
            let mut engine = Engine::load(path)?;
            engine.set_bf16_activations(true);
            Ok(engine)
        };
        let mut engines = BTreeMap::new();
        engines.insert(Attack::Honest, miner(&reference_dir)?);
        engines.insert(Attack::OtherModel, miner(&write("other", Variant::Other, None)?)?);
        engines.insert(
            Attack::Int8,
            miner(&write("int8", Variant::Reference, Some(Perturbation::Quantized { bits: 8, group: usize::MAX }))?)?,
        );
        engines.insert(
            Attack::Int4,
            miner(&write("int4", Variant::Reference, Some(Perturbation::Quantized { bits: 4, group: 32 }))?)?,
        );
        engines.insert(
            Attack::ScaledLayer,
            miner(&write("scaled", Variant::Reference, Some(Perturbation::ScaleLayer { layer: 1, factor: 1.01 }))?)?,
        );
        engines.insert(Attack::SmallerModel, miner(&write("smaller", Variant::Smaller, None)?)?);
        let tokenizer = ChatTokenizer::load(&reference_dir)?;
        let reference = Engine::load(&reference_dir)?;
        let stop_ids = assay_reference_engine::stop_token_ids(reference.config(), &tokenizer);
        if attack_models.len() > usize::from(u16::MAX) {
            return Err(crate::bad_input(anyhow!("at most {} attack models", u16::MAX)));
        }
        for (i, path) in (0u16..).zip(attack_models) {
            engines.insert(Attack::Model(i), attack_engine(path, &reference).map_err(crate::bad_input)?);
        }
        let model_names = attack_models.iter().map(|p| folder_name(p)).collect();
        Ok(Lab {
            reference,
            _dir: dir,
            tokenizer,
            engines,
            stop_ids,
            challenger,
            model_names,
            trained,
            reference_nanos: AtomicU64::new(0),
            measured: AtomicU64::new(0),
        })
    }

    /// A miner's name in the table.
    fn label(&self, attack: Attack) -> String {
        match attack {
            Attack::Model(i) => {
                self.model_names.get(usize::from(i)).cloned().unwrap_or_else(|| attack.describe().into())
            }
            _ => attack.describe().to_string(),
        }
    }

    /// Every cheating miner: the built-in attacks, then one per `--attack-model`.
    fn attacks(&self) -> Vec<Attack> {
        let models = (0u16..).take(self.model_names.len()).map(Attack::Model);
        Attack::ALL.into_iter().chain(models).collect()
    }

    fn engine(&self, attack: Attack) -> &Engine {
        self.engines.get(&attack).or_else(|| self.engines.get(&Attack::Honest)).unwrap_or(&self.reference)
    }

    fn messages(&self, rng: &mut StdRng, system: usize) -> serde_json::Value {
        let words: Vec<&str> =
            (0..rng.gen_range(4..12)).map(|_| PROMPT_WORDS[rng.gen_range(0..PROMPT_WORDS.len())]).collect();
        json!([{"role": "system", "content": SYSTEMS[system]}, {"role": "user", "content": words.join(" ")}])
    }

    /// The miner's side of one request.
    fn serve(&self, attack: Attack, greedy: bool, rng: &mut StdRng) -> anyhow::Result<Served> {
        let messages = self.messages(rng, 0);
        let expected = self.tokenizer.chat_ids(&messages, true, &json!({}))?;
        let prompt = if attack == Attack::AlteredPrompt {
            let altered = if rng.gen_bool(0.5) {
                json!([messages[1]])
            } else {
                json!([{"role": "system", "content": SYSTEMS[1]}, messages[1]])
            };
            self.tokenizer.chat_ids(&altered, true, &json!({}))?
        } else {
            expected.clone()
        };
        let params = if greedy {
            SamplingParams { temperature: 0.0, ..SamplingParams::default() }
        } else {
            SamplingParams { temperature: 0.8, top_p: 0.95, top_k: 0, seed: rng.r#gen() }
        };
        // The gateway names every parameter but a `top_k` below 1 (docs/requests.md).
        let body = json!({"temperature": params.temperature, "top_p": params.top_p, "seed": params.seed});
        let generator = self.engine(attack);
        let completion = generator.generate(&prompt, &params, MAX_TOKENS, &self.stop_ids)?.tokens;
        // A cheaper generator, then genuine hidden states from the real model.
        let committer = if attack == Attack::SmallerModel { Attack::Honest } else { attack };
        Ok(Served { expected, prompt, completion, committer, body })
    }

    /// The index of the served model's calibration in `calibration::CALIBRATIONS`: the one its
    /// challenger ([`challenger_file`]) judges with.
    fn calibration_index(&self) -> usize {
        usize::from(self.trained)
    }

    /// How constantinople scores this lab's epochs.
    fn scoring(&self) -> anyhow::Result<Scoring> {
        Scoring::new(self.reference.config().num_layers as u32, self.calibration_index())
    }

    /// The points the challenger policy plans for one request (every request is challenged).
    fn plan(&self, index: u64, attack: Attack, prompt: usize, completion: usize) -> anyhow::Result<Vec<[u32; 2]>> {
        let policy = self.challenger.as_ref().ok_or_else(|| anyhow!("no challenger policy loaded"))?;
        let plan = policy.plan(
            &PlanInput {
                seed: [index.to_le_bytes(), attack.id().to_le_bytes(), [7; 8], [11; 8]].concat(),
                layers: self.reference.config().num_layers as u32,
                progress: 0.5,
                candidates: vec![Candidate {
                    request_id: index,
                    uid: 0,
                    prompt_tokens: prompt as u32,
                    completion_tokens: completion as u32,
                }],
                history: vec![MinerHistory { uid: 0, new: false, challenged: 0, recent_failures: 0, completed: 1 }],
                params: vec![Param { name: "rate.floor".into(), value: 1.0 }],
            },
            Limits::default(),
        )?;
        Ok(plan.first().map(|p| p.points.iter().map(|&(l, q)| [l, q]).collect()).unwrap_or_default())
    }

    /// One challenged request, end to end: the judge's verdict and its reason.
    fn trial(&self, attack: Attack, greedy: bool, index: u64) -> anyhow::Result<Trial> {
        let mut rng = StdRng::seed_from_u64(index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ attack.id());
        let Served { expected, prompt, completion, committer, body } = self.serve(attack, greedy, &mut rng)?;
        let store = Store::new(64 << 20);
        let request_id = format!("r{index}");
        let window = Duration::from_secs(60);
        let mut ext = commit(self.engine(committer), &store, "validator", &request_id, &prompt, &completion, window)?;
        // Every simulated miner, cheating or not, signs the protocol's sampler (the validator asks).
        ext.sampler = Some(SAMPLER_SPEC.to_string());
        let points = self.plan(index, attack, prompt.len(), completion.len())?;
        let mut response = open(&store, "validator", &request_id, &points)?;
        let hidden = self.reference.config().hidden_size;
        let mut timed_out = false;
        match attack {
            Attack::BadOpening => {
                // A vector other than the committed one (here: one value nudged by 0.1 %).
                if let Some(point) = response.points.first_mut() {
                    let mut values =
                        ext.dtype.decode(&decode_vector(&point.vector).unwrap_or_default()).unwrap_or_default();
                    if let Some(v) = values.get_mut(0) {
                        *v *= 1.001;
                    }
                    point.vector = encode_vector(&values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
                }
            }
            Attack::BrokenVectors => match index % 3 {
                0 => {
                    if let Some(point) = response.points.first_mut() {
                        point.vector = encode_vector(&vec![0u8; (hidden - 1) * 4]);
                    }
                }
                1 => {
                    if let Some(point) = response.points.first_mut() {
                        point.vector = encode_vector(&vec![0xffu8; hidden * 4]);
                    }
                }
                _ => timed_out = true,
            },
            _ => {}
        }
        let asked = OpenRequest { request_id: request_id.clone(), points: points.clone() };
        let (opened, failure) = if timed_out {
            (None, Opening::Missed)
        } else {
            match verify_opening(&ext, &asked.points, &response, hidden) {
                Ok(vectors) => {
                    (Some(Opened { points: points.iter().map(|p| (p[0], p[1])).collect(), vectors }), Opening::Verified)
                }
                Err(_) => (None, Opening::Invalid),
            }
        };
        let challenge = Challenge {
            request_id: index,
            uid: 0,
            greedy,
            ignore_eos: false,
            prompt_ids: &ext.prompt_token_ids,
            completion_ids: &ext.completion_token_ids,
            expected_prompt: &expected,
            opened,
            stop_ids: &self.stop_ids,
            // The simulated miners generate to the experiment's own length.
            asked_tokens: None,
            // The experiment samples within a nucleus, where the token rules are calibrated.
            tokens_judged: true,
            // As the live verifier with `[verify] replay_sampled` on: sampled requests replay.
            replay: replay_params(&body, &ext).map(|params| ReplayPlan { params, tolerance: REPLAY_TOLERANCE }),
        };
        let policy = self.challenger.as_ref().ok_or_else(|| anyhow!("no challenger policy loaded"))?;
        let clock = Instant::now();
        let measured = measure(&self.reference, &challenge, failure);
        let nanos = u64::try_from(clock.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.reference_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.measured.fetch_add(1, Ordering::Relaxed);
        let (judged, points) = match measured {
            Ok(m) => (policy.judge(&m, Limits::default())?, m.points),
            Err(MeasureError::Miner(reason)) => {
                (assay_policy_sdk::Judgement { verdict: Verdict::Fail, reason }, Vec::new())
            }
            // The experiment's own reference failing is no verdict on the simulated miner.
            Err(MeasureError::Host(reason)) => return Err(anyhow!("the reference could not measure: {reason}")),
        };
        Ok(Trial { verdict: judged.verdict, reason: judged.reason, points })
    }
}

/// The challenger component for the random models or the trained ones: the same policy, built
/// with each family's calibration.
fn challenger_file(trained: bool) -> &'static str {
    if trained { "adaptive-challenger-trained.wasm" } else { "adaptive-challenger.wasm" }
}

fn load_challenger(plugins: &Path, trained: bool) -> anyhow::Result<Challenger> {
    let path = plugins.join(challenger_file(trained));
    let bytes = std::fs::read(&path)
        .with_context(|| format!("reading {} (build it with scripts/build-plugins.sh)", path.display()))?;
    let digest = Digest::of(&bytes);
    Ok(Runtime::new(None)?.load_challenger(&digest, &bytes)?)
}

/// [`parallel`] as one phase of `progress`, named `what`.
fn tracked<T: Send>(
    progress: &SharedProgress,
    what: &str,
    range: std::ops::Range<u64>,
    threads: usize,
    f: impl Fn(u64) -> T + Sync,
) -> Vec<T> {
    progress.0.phase(what, range.end.saturating_sub(range.start));
    let results = parallel(range, threads, |i| {
        let result = f(i);
        progress.0.step();
        result
    });
    progress.0.done();
    results
}

/// Runs `f(i)` for `i` in `range` on `threads` threads, in order of `i` in the result.
fn parallel<T: Send>(range: std::ops::Range<u64>, threads: usize, f: impl Fn(u64) -> T + Sync) -> Vec<T> {
    let threads = threads.max(1) as u64;
    let mut parts: Vec<Vec<(u64, T)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let f = &f;
                let range = range.clone();
                scope.spawn(move || range.filter(|i| i % threads == t).map(|i| (i, f(i))).collect::<Vec<_>>())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let mut all: Vec<(u64, T)> = parts.drain(..).flatten().collect();
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, t)| t).collect()
}

/// How many `k`-challenge epochs (in the order drawn) constantinople zeroes, of how many.
fn zeroed_share(trials: &[Trial], k: usize, scoring: &Scoring) -> anyhow::Result<(usize, usize)> {
    let epochs: Vec<&[Trial]> = trials.chunks_exact(k.max(1)).collect();
    let mut zeroed = 0;
    for epoch in &epochs {
        zeroed += usize::from(weight_zero(epoch, scoring)?);
    }
    Ok((zeroed, epochs.len()))
}

pub fn detect(args: DetectOptions) -> anyhow::Result<()> {
    let challenger = load_challenger(&args.plugins, args.trained).map_err(crate::bad_input)?;
    let lab = Lab::new(Some(challenger), &args.attack_models, args.trained)?;
    let started = std::time::Instant::now();
    eprintln!("honest: {} challenges", args.honest);
    let honest: Vec<Trial> = tracked(&args.progress, "honest challenges", 0..args.honest, args.threads, |i| {
        lab.trial(Attack::Honest, i % 2 == 0, i).unwrap_or_else(|e| Trial::failed(format!("trial failed: {e:#}")))
    });
    let false_positives: Vec<&Trial> = honest.iter().filter(|t| t.verdict == Verdict::Fail).collect();
    let voids = honest.iter().filter(|t| t.verdict == Verdict::Void).count();
    let scoring = lab.scoring()?;
    println!(
        "| miner | decoding | challenges | failed per challenge | 95 % CI | weight zero per epoch (K={}) | 95 % CI \
         | ≥1 fail per epoch | 95 % CI | target per epoch |",
        args.epoch_challenges
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut honest_epochs_zeroed = Vec::new();
    let mut honest_rows = Vec::new();
    for greedy in [true, false] {
        let mine: Vec<Trial> =
            honest.iter().enumerate().filter(|(i, _)| (i % 2 == 0) == greedy).map(|(_, t)| t.clone()).collect();
        let per_epoch =
            print_row(&lab.label(Attack::Honest), Attack::Honest, greedy, &mine, args.epoch_challenges, &scoring)?;
        if per_epoch > 0.0 {
            honest_epochs_zeroed.push(format!("honest {}: {:.1} % of epochs zeroed", mode(greedy), per_epoch * 100.0));
        }
        honest_rows.push((lab.label(Attack::Honest), greedy, mine));
    }
    let (mut misses, attack_rows) = attack_rows(&lab, &args, &scoring)?;
    if let Some(miss) = honest_miss(&honest) {
        misses.insert(0, miss);
    }
    misses.extend(honest_epochs_zeroed);
    let rows: Vec<Row> = honest_rows.into_iter().chain(attack_rows).collect();
    println!();
    print_by_challenges(&rows, &scoring)?;
    print_honest_evidence(&honest, args.epoch_challenges, &scoring);
    let measured = lab.measured.load(Ordering::Relaxed);
    println!(
        "reference compute per verified request: {:.2} ms (wall time of `measure`, mean over {measured} challenges)",
        lab.reference_nanos.load(Ordering::Relaxed) as f64 / measured.max(1) as f64 / 1e6
    );
    println!();
    println!(
        "honest false positives: {} of {} challenges ({} void); {:.0} s on {} threads",
        false_positives.len(),
        honest.len(),
        voids,
        started.elapsed().as_secs_f64(),
        args.threads
    );
    if let Some(t) = honest.iter().find(|t| t.verdict == Verdict::Void) {
        println!("  a void: {}", t.reason);
    }
    for t in false_positives.iter().take(5) {
        println!("  false positive: {}", t.reason);
    }
    if misses.is_empty() {
        println!("every per-epoch target met");
    } else {
        println!("targets missed:");
        for m in &misses {
            println!("  {m}");
        }
    }
    Ok(())
}

/// The honest rows' target is no false positive at all: any failed honest challenge misses it
/// (a verdict's first condition, before any attack's rate means anything).
fn honest_miss(honest: &[Trial]) -> Option<String> {
    let failed = honest.iter().filter(|t| t.verdict == Verdict::Fail).count();
    (failed > 0).then(|| format!("honest: {failed} false positives of {} challenges > 0", honest.len()))
}

/// How close honest epochs of `k` came to the pooled gate: the largest epoch mean of the
/// evidence statistic against its bound (both from constantinople's calibration).
fn print_honest_evidence(honest: &[Trial], k: usize, scoring: &Scoring) {
    let mut closest: Option<(f64, f64, usize)> = None;
    for epoch in honest.chunks_exact(k.max(1)) {
        let stats: Vec<f64> = epoch.iter().filter_map(|t| scoring.statistic(t)).collect();
        let gate = assay_policy_sdk::calibration::evidence::epoch(scoring.gate.calibration, &stats);
        if stats.len() >= assay_policy_sdk::calibration::evidence::MIN_CHALLENGES
            && closest.is_none_or(|(m, b, _)| gate.mean - gate.bound > m - b)
        {
            closest = Some((gate.mean, gate.bound, gate.challenges));
        }
    }
    if let Some((mean, bound, n)) = closest {
        println!(
            "honest epochs (K={k}): the closest to the pooled gate had evidence {mean:.4} against a bound of {bound:.4} ({n} counted challenges)"
        );
    }
}

/// A miner's trials in one decoding mode, in the order drawn: its name, greedy, the trials.
type Row = (String, bool, Vec<Trial>);

/// Runs and prints every cheating miner's rows; returns the per-epoch targets missed and the
/// trials of each row.
fn attack_rows(lab: &Lab, args: &DetectOptions, scoring: &Scoring) -> anyhow::Result<(Vec<String>, Vec<Row>)> {
    let (mut misses, mut rows) = (Vec::new(), Vec::new());
    for attack in lab.attacks() {
        for greedy in [true, false] {
            let base = 1_000_000 * (attack.id() + 1) + if greedy { 0 } else { 500_000 };
            let label = lab.label(attack);
            let what = format!("{label} {}", mode(greedy));
            let range = base..base + args.per_attack;
            let trials: Vec<Trial> = tracked(&args.progress, &what, range, args.threads, |i| {
                lab.trial(attack, greedy, i).unwrap_or_else(|e| Trial::failed(format!("trial failed: {e:#}")))
            });
            let per_epoch = print_row(&label, attack, greedy, &trials, args.epoch_challenges, scoring)?;
            rows.push((label.clone(), greedy, trials));
            // NaN (no whole epoch measured) counts as a miss; an outside model has no target.
            if let Some(target) = attack.target()
                && (per_epoch.is_nan() || per_epoch < target)
            {
                misses.push(format!("{label} {}: {:.1} % < {:.0} %", mode(greedy), per_epoch * 100.0, target * 100.0));
            }
        }
    }
    Ok((misses, rows))
}

/// The challenges per miner per epoch the table below is drawn for.
const CHALLENGES_PER_EPOCH: [usize; 7] = [1, 2, 4, 8, 10, 16, 32];

/// Detection against the challenges per miner per epoch, from the same trials regrouped: for
/// each K the share of epochs the gate zeroes, and the smallest K of those that reaches 95 %.
fn print_by_challenges(rows: &[Row], scoring: &Scoring) -> anyhow::Result<()> {
    let ks: Vec<String> = CHALLENGES_PER_EPOCH.iter().map(|k| format!("K={k}")).collect();
    println!("weight zero per epoch by challenges per miner per epoch (the same trials, regrouped):");
    println!("| miner | decoding | {} | smallest K for ≥ 95 % |", ks.join(" | "));
    println!("|{}", " --- |".repeat(CHALLENGES_PER_EPOCH.len() + 3));
    for (label, greedy, trials) in rows {
        let mut rates = Vec::with_capacity(CHALLENGES_PER_EPOCH.len());
        for &k in &CHALLENGES_PER_EPOCH {
            let (zeroed, epochs) = zeroed_share(trials, k, scoring)?;
            rates.push(if epochs == 0 { f64::NAN } else { zeroed as f64 / epochs as f64 });
        }
        let cells: Vec<String> = rates.iter().map(|r| format!("{:.1} %", r * 100.0)).collect();
        let needed = CHALLENGES_PER_EPOCH.iter().zip(&rates).find(|(_, r)| **r >= 0.95).map(|(k, _)| k.to_string());
        println!(
            "| {label} | {} | {} | {} |",
            mode(*greedy),
            cells.join(" | "),
            needed.unwrap_or_else(|| format!("> {}", CHALLENGES_PER_EPOCH[CHALLENGES_PER_EPOCH.len() - 1]))
        );
    }
    Ok(())
}

fn mode(greedy: bool) -> &'static str {
    if greedy { "greedy" } else { "sampled" }
}

/// Prints one table row, each rate with its 95 % interval; returns the per-epoch weight-zero
/// rate.
fn print_row(
    label: &str,
    attack: Attack,
    greedy: bool,
    trials: &[Trial],
    k: usize,
    scoring: &Scoring,
) -> anyhow::Result<f64> {
    let fails = trials.iter().filter(|t| t.verdict == Verdict::Fail).count();
    let epochs: Vec<&[Trial]> = trials.chunks_exact(k.max(1)).collect();
    let (zeroed, _) = zeroed_share(trials, k, scoring)?;
    let any_fail = epochs.iter().filter(|e| e.iter().any(|t| t.verdict == Verdict::Fail)).count();
    let rate = |n: usize, d: usize| if d == 0 { f64::NAN } else { n as f64 / d as f64 };
    let per_epoch = rate(zeroed, epochs.len());
    println!(
        "| {} | {} | {} | {:.1} % | {} | {:.1} % ({} epochs) | {} | {:.1} % | {} | {} |",
        label,
        mode(greedy),
        trials.len(),
        rate(fails, trials.len()) * 100.0,
        format_95(fails, trials.len()),
        per_epoch * 100.0,
        epochs.len(),
        format_95(zeroed, epochs.len()),
        rate(any_fail, epochs.len()) * 100.0,
        format_95(any_fail, epochs.len()),
        match attack.target() {
            _ if attack == Attack::Honest => "0 false positives".to_string(),
            Some(target) => format!("≥ {:.0} %", target * 100.0),
            None => "none (--attack-model)".to_string(),
        }
    );
    Ok(per_epoch)
}

pub fn calibrate(args: CalibrateOptions) -> anyhow::Result<()> {
    let challenger = load_challenger(&args.plugins, args.trained).map_err(crate::bad_input)?;
    let lab = Lab::new(Some(challenger), &[], args.trained)?;
    println!(
        "// `assay dev calibrate --requests {} --percentile {} --margin {} --positions {}{}`",
        args.requests,
        args.percentile,
        args.margin,
        if args.positions == Positions::Late { "late" } else { "uniform" },
        if args.trained { " --trained" } else { "" }
    );
    let (thresholds, medians) = calibrate_layers(&lab, &args);
    let mut measured = Calibration {
        model: "measured",
        rel_l2_thresholds: &thresholds,
        honest_medians: &medians,
        pooled_ratio_limit: f64::NAN,
        evidence: evidence::Honest { mean: f64::NAN, sd: f64::NAN, z: f64::NAN },
    };
    measured.pooled_ratio_limit = calibrate_pooled_limit(&lab, &args, &measured);
    if let Some(honest) = calibrate_evidence(&lab, &args, &measured) {
        measured.evidence = honest;
    }
    let rows = |table: &[(f64, f64)]| table.iter().map(|(d, v)| format!("({d:.4}, {v:.3e})")).collect::<Vec<_>>();
    let e = measured.evidence;
    println!("Calibration {{");
    println!("    model: \"{}\",", if args.trained { "tiny trained Qwen2" } else { "tiny random Qwen2" });
    println!("    rel_l2_thresholds: &[{}],", rows(&thresholds).join(", "));
    println!("    honest_medians: &[{}],", rows(&medians).join(", "));
    println!("    pooled_ratio_limit: {:.3},", measured.pooled_ratio_limit);
    println!("    evidence: evidence::Honest {{ mean: {:.4}, sd: {:.4}, z: {:.2} }},", e.mean, e.sd, e.z);
    println!("}}");
    Ok(())
}

/// One row of a calibration table: (relative depth, value).
type DepthRow = (f64, f64);

/// Every hidden state's honest errors at random positions: prints each layer's median, chosen
/// percentile, largest error and threshold; returns the (depth, threshold) and (depth, median)
/// rows.
fn calibrate_layers(lab: &Lab, args: &CalibrateOptions) -> (Vec<DepthRow>, Vec<DepthRow>) {
    let layers = lab.reference.config().num_layers;
    // Seeds far from the experiment's, so calibration never sees its requests.
    let offset = 50_000_000u64;
    let errors: Vec<Vec<(usize, f64)>> =
        tracked(&args.progress, "honest errors by layer", offset..offset + args.requests, args.threads, |i| {
            honest_errors(lab, i, args.positions).unwrap_or_default()
        });
    let mut by_layer: Vec<Vec<f64>> = vec![Vec::new(); layers + 1];
    for (layer, e) in errors.into_iter().flatten() {
        by_layer[layer].push(e);
    }
    println!("// hidden state: honest median, p{}, largest, threshold", args.percentile);
    let (mut thresholds, mut medians) = (Vec::new(), Vec::new());
    for (layer, errors) in by_layer.iter_mut().enumerate() {
        errors.sort_by(f64::total_cmp);
        let (median, high) = (quantile(errors, 0.5), quantile(errors, args.percentile / 100.0));
        let largest = errors.last().copied().unwrap_or(f64::NAN);
        let threshold = high * args.margin;
        println!("// {layer}: {median:.3e} {high:.3e} {largest:.3e} {threshold:.3e} ({} points)", errors.len());
        let depth = layer as f64 / layers as f64;
        thresholds.push((depth, threshold));
        medians.push((depth, median));
    }
    (thresholds, medians)
}

/// The pooled request test's limit: the geometric-mean ratio to `measured`'s honest medians on
/// other honest requests, with points planned as in production; its percentile times
/// [`POOLED_MARGIN`]. Also prints how the largest of those points compare with `measured`'s
/// thresholds ([`print_point_tail`]).
fn calibrate_pooled_limit(lab: &Lab, args: &CalibrateOptions, measured: &Calibration) -> f64 {
    let layers = lab.reference.config().num_layers as u32;
    let offset = 60_000_000u64;
    let range = offset..offset + args.requests;
    let requests: Vec<Vec<(u32, f64)>> =
        tracked(&args.progress, "pooled statistic", range, args.threads, |i| lab.planned_errors(i).unwrap_or_default());
    let mut pooled: Vec<f64> = requests
        .iter()
        .filter(|points| !points.is_empty())
        .map(|points| {
            let sum: f64 = points.iter().map(|&(l, e)| (e.max(1e-12) / measured.honest_median(l, layers)).ln()).sum();
            (sum / points.len() as f64).exp()
        })
        .filter(|v| v.is_finite())
        .collect();
    pooled.sort_by(f64::total_cmp);
    let high = quantile(&pooled, args.percentile / 100.0);
    println!(
        "// pooled geometric-mean ratio over honest requests: median {:.3}, p{} {high:.3}, max {:.3} ({} requests)",
        quantile(&pooled, 0.5),
        args.percentile,
        pooled.last().copied().unwrap_or(f64::NAN),
        pooled.len()
    );
    print_point_tail(&requests, measured, layers);
    high * POOLED_MARGIN
}

/// The judge's per-point rules on honest requests' planned points, against a table's
/// thresholds: what `assay dev calibrate` prints to check [`rules::LONE_FAIL_FACTOR`] against
/// honest data (it counts like the challenger's `judge_points`; keep the two alike).
#[derive(Debug, Default, PartialEq)]
struct PointTail {
    points: usize,
    /// Points past their threshold.
    past_one: usize,
    /// The hidden state of the largest point, and that point in thresholds.
    largest: (u32, f64),
    /// Requests whose largest point is past [`rules::FAIL_FACTOR`], and no other past 1...
    alone: usize,
    /// ...and with a second point past its threshold (these fail).
    corroborated: usize,
}

impl PointTail {
    fn of(requests: &[Vec<(u32, f64)>], table: &Calibration, layers: u32) -> Self {
        use assay_plugin_adaptive_challenger::rules::FAIL_FACTOR;
        let mut tail = PointTail::default();
        for request in requests {
            let ratios: Vec<(u32, f64)> =
                request.iter().map(|&(l, e)| (l, e / table.rel_l2_threshold(l, layers))).collect();
            tail.points += ratios.len();
            let past = ratios.iter().filter(|(_, r)| *r > 1.0).count();
            tail.past_one += past;
            let worst = ratios.iter().copied().fold((0, 0.0f64), |w, p| if p.1 > w.1 { p } else { w });
            if worst.1 > tail.largest.1 {
                tail.largest = worst;
            }
            if worst.1 > FAIL_FACTOR {
                if past > 1 { tail.corroborated += 1 } else { tail.alone += 1 }
            }
        }
        tail
    }
}

fn print_point_tail(requests: &[Vec<(u32, f64)>], measured: &Calibration, layers: u32) {
    use assay_plugin_adaptive_challenger::rules::{FAIL_FACTOR, LONE_FAIL_FACTOR};
    let t = PointTail::of(requests, measured, layers);
    println!(
        "// planned points against these thresholds: {} of {} past 1x; the largest {:.2}x (hidden state {}); \
         requests with a point past {FAIL_FACTOR}x: {} alone, {} with a second past 1x (these fail); the \
         judge fails a lone point past {LONE_FAIL_FACTOR}x",
        t.past_one, t.points, t.largest.1, t.largest.0, t.alone, t.corroborated
    );
}

/// The value at quantile `q` of `sorted` (0 when empty).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted.get(((sorted.len().saturating_sub(1)) as f64 * q).round() as usize).copied().unwrap_or(0.0)
}

/// The pooled epoch gate's statistic on still other honest requests, each through the real path
/// (commit, opening, `measure`, the challenger's `judge`) as in the experiment, against
/// `measured`'s honest medians and pooled limit; prints its honest mean, spread and the `Z` they
/// imply.
fn calibrate_evidence(lab: &Lab, args: &CalibrateOptions, measured: &Calibration) -> Option<evidence::Honest> {
    let layers = lab.reference.config().num_layers as u32;
    let offset = 70_000_000u64;
    let range = offset..offset + args.requests;
    let statistics: Vec<f64> = tracked(&args.progress, "evidence statistic", range, args.threads, |i| {
        lab.trial(Attack::Honest, i % 2 == 0, i).ok().and_then(|t| t.statistic(measured, layers))
    })
    .into_iter()
    .flatten()
    .collect();
    print_evidence_calibration(&statistics)
}

/// Where in a request the per-layer calibration draws its points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positions {
    /// Uniformly over prompt and completion (how the random family's table was measured).
    Uniform,
    /// With density growing linearly toward the end, as the challenger plans its points: honest
    /// drift grows with position, so this is the noise the judge actually sees.
    Late,
}

impl Positions {
    /// A position in `0..n` from `rng`.
    fn draw(self, rng: &mut StdRng, n: usize) -> usize {
        match self {
            Positions::Uniform => rng.gen_range(0..n),
            Positions::Late => {
                let n = u32::try_from(n).unwrap_or(u32::MAX);
                assay_plugin_adaptive_challenger::late_position(rng.r#gen::<f64>(), n) as usize
            }
        }
    }
}

/// The pooled limit is the honest percentile of the pooled ratio times this (fixed before any
/// attack was measured with the pooled test).
const POOLED_MARGIN: f64 = 1.25;

impl Lab {
    /// The relative errors, by hidden state, at the points the challenger plans for one honest
    /// request.
    fn planned_errors(&self, index: u64) -> anyhow::Result<Vec<(u32, f64)>> {
        let mut rng = StdRng::seed_from_u64(index);
        let Served { prompt, completion, .. } = self.serve(Attack::Honest, index.is_multiple_of(2), &mut rng)?;
        let tokens: Vec<u32> = prompt.iter().chain(&completion).copied().collect();
        let points = self.plan(index, Attack::Honest, prompt.len(), completion.len())?;
        let points: Vec<(usize, usize)> = points.iter().map(|p| (p[0] as usize, p[1] as usize)).collect();
        Ok(self.honest_errors_at(&tokens, &points)?.into_iter().map(|(l, e)| (l as u32, e)).collect())
    }

    /// The honest miner's relative error against the reference at `points` of `tokens`, by
    /// hidden state.
    fn honest_errors_at(&self, tokens: &[u32], points: &[(usize, usize)]) -> anyhow::Result<Vec<(usize, f64)>> {
        let selection = HiddenSelection::Points(points.to_vec());
        let miner = self.engine(Attack::Honest).teacher_forced(tokens, &selection, &[])?.hidden;
        let reference = self.reference.teacher_forced(tokens, &selection, &[])?.hidden;
        let h = self.reference.config().hidden_size;
        Ok(points
            .iter()
            .enumerate()
            .map(|(i, &(layer, _))| (layer, rel_l2(&miner[i * h..(i + 1) * h], &reference[i * h..(i + 1) * h])))
            .collect())
    }
}

/// Every layer's relative error at four positions of one honest request, drawn by `positions`.
fn honest_errors(lab: &Lab, index: u64, positions: Positions) -> anyhow::Result<Vec<(usize, f64)>> {
    let mut rng = StdRng::seed_from_u64(index);
    let Served { prompt, completion, .. } = lab.serve(Attack::Honest, index.is_multiple_of(2), &mut rng)?;
    let tokens: Vec<u32> = prompt.iter().chain(&completion).copied().collect();
    let layers = lab.reference.config().num_layers;
    let positions: Vec<usize> = (0..4).map(|_| positions.draw(&mut rng, tokens.len())).collect();
    let points: Vec<(usize, usize)> = (0..=layers).flat_map(|l| positions.iter().map(move |&p| (l, p))).collect();
    lab.honest_errors_at(&tokens, &points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_point_tail_counts_lone_and_corroborated_outliers_in_thresholds() {
        use assay_policy_sdk::calibration::TINY_RANDOM;
        let at = |layer: u32, ratio: f64| (layer, ratio * TINY_RANDOM.rel_l2_threshold(layer, 4));
        let requests = vec![
            vec![at(1, 0.5), at(4, 2.5)],             // a lone outlier
            vec![at(2, 3.0), at(3, 1.1), at(4, 0.2)], // corroborated
            vec![at(3, 1.5)],                         // past 1x only
            vec![],
        ];
        let tail = PointTail::of(&requests, &TINY_RANDOM, 4);
        assert_eq!((tail.points, tail.past_one, tail.alone, tail.corroborated), (6, 4, 1, 1));
        assert_eq!(tail.largest.0, 2);
        assert!((tail.largest.1 - 3.0).abs() < 1e-9, "{tail:?}");
    }

    #[test]
    fn an_honest_false_positive_misses_a_target() {
        let trial = |verdict, reason: &str| Trial { verdict, reason: reason.into(), points: Vec::new() };
        let pass = trial(Verdict::Pass, "");
        let void = trial(Verdict::Void, "near the threshold");
        assert_eq!(honest_miss(&[pass.clone(), void, pass.clone()]), None);
        let fail = trial(Verdict::Fail, "a failed challenge");
        let missed = honest_miss(&[pass.clone(), fail, pass]);
        assert_eq!(missed.as_deref(), Some("honest: 1 false positives of 3 challenges > 0"));
    }
}
