//! `assay dev synth`: a deterministic synthetic workload (ordinary, a competition, or with
//! commit-reveal rounds), for trying the pipeline and for fixtures;
//! `assay dev mock-worker`, `assay dev load` and `assay dev bench-table`: for measuring the gateway
//! (see `loadgen`, `benchtable`);
//! `assay dev users`: users at a bounded rate, hostile ones mixed in, for the soak (see `users`).

use std::path::PathBuf;

use assay_epoch::synth::{Shape, Traffic};

use crate::{CmdResult, failed};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Write `metagraph.json` and `records.jsonl` (for `assay chain init` and `assay ledger import`).
    Synth {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        netuid: u16,
        #[arg(long, default_value_t = 16)]
        miners: u16,
        /// Requests per epoch.
        #[arg(long, default_value_t = 1000)]
        requests: u64,
        /// Challenges per epoch.
        #[arg(long, default_value_t = 100)]
        challenges: u64,
        /// Epochs to generate, numbered from --first-epoch.
        #[arg(long, default_value_t = 1)]
        epochs: u64,
        #[arg(long, default_value_t = 0)]
        first_epoch: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// What the epochs carry: `ordinary` requests and challenges; a `competition` against
        /// a baseline instead (cacheon); or the ordinary epoch plus a `commit-reveal` round
        /// (consensus).
        #[arg(long, value_enum, default_value_t = TrafficArg::Ordinary)]
        traffic: TrafficArg,
    },
    /// An OpenAI-style worker that answers at once: the peer for gateway benchmarks.
    MockWorker(MockArgs),
    /// Closed-loop load against an OpenAI-style endpoint; prints requests/s and latencies.
    Load(LoadArgs),
    /// Reads `assay dev load` lines (a file, or stdin with `-`) and prints each path's median
    /// and spread and the gateway's ratio to vllm-router (`scripts/bench-gateway.sh`).
    BenchTable {
        #[arg(default_value = "-")]
        runs: PathBuf,
    },
    /// Users at a bounded rate (hostile ones mixed in with --hostile) against a gateway;
    /// prints requests served and errors by cause (`scripts/soak.sh`).
    Users(UsersArgs),
    /// The detection experiment: honest and cheating miners through the real verification
    /// path; prints the table of docs/verification.md.
    Detect(DetectArgs),
    /// Per-layer thresholds from honest runs (bf16 activations against the f32 reference),
    /// and the honest mean and spread of constantinople's pooled evidence statistic.
    Calibrate(CalibrateArgs),
}

pub fn run(cmd: Command) -> CmdResult {
    match cmd {
        Command::Synth { out, netuid, miners, requests, challenges, epochs, first_epoch, seed, traffic } => {
            let shape = Shape { netuid, miners: miners.max(1), requests, challenges, seed };
            assay_lab::synth::write(&out, shape, traffic.into(), epochs, first_epoch).map_err(failed)?;
            println!("wrote {} and {}", out.join("metagraph.json").display(), out.join("records.jsonl").display());
            Ok(())
        }
        Command::BenchTable { runs } => {
            let text = if runs.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).map_err(failed)?
            } else {
                std::fs::read_to_string(&runs).map_err(failed)?
            };
            print!("{}", assay_lab::benchtable::summarize(&text));
            Ok(())
        }
        Command::MockWorker(a) => assay_lab::loadgen::mock_worker(assay_lab::loadgen::MockOptions {
            host: a.host,
            port: a.port,
            model: a.model,
            chunks: a.chunks,
            hotkey: mock_hotkey(a.evidence_seed.as_deref())?,
        })
        .map_err(crate::lab_error),
        Command::Load(a) => assay_lab::loadgen::load(assay_lab::loadgen::LoadOptions {
            url: a.url,
            path: a.path,
            model: a.model,
            key: a.key,
            concurrency: a.concurrency,
            seconds: a.seconds,
            stream: a.stream,
            label: a.label,
        })
        .map_err(crate::lab_error),
        Command::Users(a) => assay_lab::users::run(assay_lab::users::UsersOptions {
            url: a.url,
            key: a.key,
            model: a.model,
            rate: a.rate,
            seconds: a.seconds,
            hostile: a.hostile,
            stall: std::time::Duration::from_secs_f64(a.stall_seconds),
            max_stalled: a.max_stalled,
            burst: a.burst,
            burst_every: std::time::Duration::from_secs_f64(a.burst_every_seconds),
            max_in_flight: a.max_in_flight,
            report_every: std::time::Duration::from_secs_f64(a.report_every_seconds),
            max_tokens: a.max_tokens,
        })
        .map_err(crate::lab_error),
        Command::Detect(a) => match a.write_model {
            Some(dir) => assay_lab::detect::write_model(&dir, a.trained).map_err(crate::lab_error),
            None => assay_lab::detect::detect(assay_lab::detect::DetectOptions {
                honest: a.honest,
                per_attack: a.per_attack,
                epoch_challenges: a.epoch_challenges,
                threads: a.threads,
                plugins: a.plugins,
                attack_models: a.attack_model,
                trained: a.trained,
                progress: assay_lab::detect::SharedProgress(std::sync::Arc::new(crate::progress::PhaseBars::default())),
            })
            .map_err(crate::lab_error),
        },
        Command::Calibrate(a) => assay_lab::detect::calibrate(assay_lab::detect::CalibrateOptions {
            requests: a.requests,
            percentile: a.percentile,
            margin: a.margin,
            threads: a.threads,
            plugins: a.plugins,
            trained: a.trained,
            positions: match a.positions {
                CalibrationPositions::Uniform => assay_lab::detect::Positions::Uniform,
                CalibrationPositions::Late => assay_lab::detect::Positions::Late,
            },
            progress: assay_lab::detect::SharedProgress(std::sync::Arc::new(crate::progress::PhaseBars::default())),
        })
        .map_err(crate::lab_error),
    }
}

/// `assay dev synth --traffic`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum TrafficArg {
    Ordinary,
    Competition,
    CommitReveal,
}

impl From<TrafficArg> for Traffic {
    fn from(t: TrafficArg) -> Self {
        match t {
            TrafficArg::Ordinary => Traffic::Ordinary,
            TrafficArg::Competition => Traffic::Competition,
            TrafficArg::CommitReveal => Traffic::CommitReveal,
        }
    }
}

/// `assay dev mock-worker`.
#[derive(clap::Args)]
pub struct MockArgs {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long)]
    port: u16,
    /// The model id it reports and answers as.
    #[arg(long, default_value = "mock")]
    model: String,
    /// Content chunks in a streamed answer.
    #[arg(long, default_value_t = 8)]
    chunks: usize,
    /// The sr25519 seed (64 hex characters) of the hotkey that signs its evidence; a fresh key
    /// if absent. Its address is printed at start-up.
    #[arg(long)]
    evidence_seed: Option<String>,
}

fn mock_hotkey(seed: Option<&str>) -> Result<assay_keys::Hotkey, crate::Exit> {
    use assay_keys::{Hotkey, Scheme};
    let key = match seed {
        None => Hotkey::generate(Scheme::Sr25519),
        Some(hex_seed) => {
            let mut seed = [0u8; 32];
            hex::decode_to_slice(hex_seed.trim_start_matches("0x"), &mut seed)
                .map_err(|e| crate::unusable(anyhow::anyhow!("--evidence-seed must be 64 hex characters: {e}")))?;
            Hotkey::from_seed(Scheme::Sr25519, seed)
        }
    };
    key.map_err(failed)
}

/// `assay dev load`.
#[derive(clap::Args)]
pub struct LoadArgs {
    /// Base URL, e.g. `http://127.0.0.1:8000`.
    #[arg(long)]
    url: String,
    #[arg(long, default_value = "/v1/chat/completions")]
    path: String,
    #[arg(long, default_value = "mock")]
    model: String,
    /// Sent as `Authorization: Bearer`.
    #[arg(long)]
    key: Option<String>,
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Seconds measured, after one second of warm-up.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    #[arg(long)]
    stream: bool,
    /// A label for the printed line.
    #[arg(long, default_value = "")]
    label: String,
}

/// `assay dev users`.
#[derive(clap::Args)]
pub struct UsersArgs {
    /// The gateway's base URL, e.g. `http://127.0.0.1:8000`.
    #[arg(long)]
    url: String,
    /// Sent as `Authorization: Bearer`.
    #[arg(long)]
    key: Option<String>,
    #[arg(long, default_value = "assay-tiny")]
    model: String,
    /// Requests started per second (bursts come on top).
    #[arg(long, default_value_t = 2.0, value_parser = positive_seconds)]
    rate: f64,
    #[arg(long, default_value_t = 60.0, value_parser = positive_seconds)]
    seconds: f64,
    /// Mix in hostile users: invalid bodies and streams read one byte a second.
    #[arg(long)]
    hostile: bool,
    /// How long a stalled stream is held.
    #[arg(long, default_value_t = 130.0, value_parser = positive_seconds)]
    stall_seconds: f64,
    /// Stalled streams held at once, at most.
    #[arg(long, default_value_t = 8)]
    max_stalled: usize,
    /// Streams sent at once in a burst (0: none).
    #[arg(long, default_value_t = 0)]
    burst: usize,
    #[arg(long, default_value_t = 60.0, value_parser = positive_seconds)]
    burst_every_seconds: f64,
    /// Requests in flight at most; past it a request is skipped (and counted).
    #[arg(long, default_value_t = 64)]
    max_in_flight: usize,
    #[arg(long, default_value_t = 60.0, value_parser = positive_seconds)]
    report_every_seconds: f64,
    /// The gateway's largest `max_tokens` (stalled streams ask for it).
    #[arg(long, default_value_t = 64)]
    max_tokens: u64,
}

/// A positive, finite number (of seconds, or per second): what `Duration::from_secs_f64` takes.
fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v < 1e9 => Ok(v),
        _ => Err(format!("{text} is not a positive number below 1e9")),
    }
}

/// `assay dev detect`.
#[derive(clap::Args)]
pub struct DetectArgs {
    /// Honest challenges (half greedy, half sampled); the default makes 1,000 honest epochs.
    #[arg(long, default_value_t = 1000 * assay_lab::detect::EPOCH_CHALLENGES as u64)]
    honest: u64,
    /// Challenges per attack and decoding mode; the default makes 100 epochs of each.
    #[arg(long, default_value_t = 100 * assay_lab::detect::EPOCH_CHALLENGES as u64)]
    per_attack: u64,
    /// Challenges of one miner in one epoch, for the per-epoch rates (the default is the
    /// challenger's `min_per_epoch`).
    #[arg(long, default_value_t = assay_lab::detect::EPOCH_CHALLENGES)]
    epoch_challenges: usize,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Where the built policies are.
    #[arg(long, env = "ASSAY_PLUGIN_DIR", default_value = "target/plugins")]
    plugins: PathBuf,
    /// Write the experiment's honest model to this folder as a model directory, and exit.
    #[arg(long, value_name = "DIR")]
    write_model: Option<PathBuf>,
    /// A model directory derived from `--write-model`'s, served by one more cheating miner
    /// (repeatable; its rows are named by the folder).
    #[arg(long, value_name = "DIR")]
    attack_model: Vec<PathBuf>,
    /// Run on (or write, with --write-model) the trained tiny models (scripts/train-tiny-qwen2.sh,
    /// committed in host/lab/fixtures/trained) instead of the random ones.
    #[arg(long)]
    trained: bool,
}

/// `assay dev calibrate`.
#[derive(clap::Args)]
pub struct CalibrateArgs {
    /// Honest requests measured (half greedy, half sampled), at every layer.
    #[arg(long, default_value_t = 2000)]
    requests: u64,
    #[arg(long, default_value_t = 99.9)]
    percentile: f64,
    /// The threshold is the percentile times this.
    #[arg(long, default_value_t = 1.5)]
    margin: f64,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Where the built policies are (the challenger plans the pooled test's points).
    #[arg(long, env = "ASSAY_PLUGIN_DIR", default_value = "target/plugins")]
    plugins: PathBuf,
    /// Calibrate on the trained tiny models instead of the random ones.
    #[arg(long)]
    trained: bool,
    /// Where the per-layer thresholds' points are drawn in a request: `late` as the challenger
    /// plans them (density growing toward the end), `uniform` over the whole request (how the
    /// random models' shipped table was measured).
    #[arg(long, value_enum, default_value_t = CalibrationPositions::Late)]
    positions: CalibrationPositions,
}

/// `--positions` of `assay dev calibrate`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum CalibrationPositions {
    Uniform,
    Late,
}
