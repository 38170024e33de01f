//! `assay engine …`: the reference engine from the command line, so anyone can compare it with
//! their own tools.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::anyhow;
use assay_reference_engine::tiny::{self, TinySpec};
use assay_reference_engine::{ChatTokenizer, DType, Device, Engine, HiddenSelection, SamplingParams};

use crate::{CmdResult, Exit, failed, unusable};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Hidden states of a teacher-forced pass, written as safetensors:
    /// `hidden` [layers, tokens, hidden] f32, `layers` and `tokens` i32.
    HiddenStates {
        #[arg(long)]
        model: PathBuf,
        /// cpu (f32, the exact reference), cuda (bf16 on GPU 0), or auto (cuda when available).
        /// `auto`, `cpu`, `cuda` or `cuda:N`.
        #[arg(long, default_value = "auto")]
        device: Device,
        /// Comma-separated token ids.
        #[arg(long, value_delimiter = ',', required = true)]
        token_ids: Vec<u32>,
        /// Hidden-state indices (0 = embeddings, L = final-normed); all when absent.
        #[arg(long, value_delimiter = ',')]
        layers: Vec<usize>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Generate a completion for a prompt (through the model's chat template unless --raw).
    Generate {
        #[arg(long)]
        model: PathBuf,
        /// cpu (f32, the exact reference), cuda (bf16 on GPU 0), or auto (cuda when available).
        /// `auto`, `cpu`, `cuda` or `cuda:N`.
        #[arg(long, default_value = "auto")]
        device: Device,
        #[arg(long)]
        prompt: String,
        #[arg(long)]
        system: Option<String>,
        /// Tokenize the prompt as is, without the chat template.
        #[arg(long)]
        raw: bool,
        #[arg(long, default_value_t = 64)]
        max_tokens: usize,
        #[arg(long, default_value_t = 0.0)]
        temperature: f64,
        #[arg(long, default_value_t = 0)]
        top_k: u32,
        #[arg(long, default_value_t = 1.0)]
        top_p: f64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Write a tiny random Qwen2 model directory (config, weights, tokenizer, chat template).
    Tiny {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 64)]
        hidden: usize,
        #[arg(long, default_value_t = 4)]
        layers: usize,
        #[arg(long, default_value_t = 4)]
        heads: usize,
        #[arg(long, default_value_t = 2)]
        kv_heads: usize,
        #[arg(long, default_value_t = 160)]
        intermediate: usize,
        #[arg(long, default_value_t = 320)]
        vocab: usize,
        #[arg(long, default_value = "f32", value_parser = ["f32", "bf16", "f16"])]
        dtype: String,
        #[arg(long)]
        tied: bool,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Time a teacher-forced prefill of `tokens` random tokens (prints tokens/s).
    Bench {
        #[arg(long)]
        model: PathBuf,
        /// cpu (f32, the exact reference), cuda (bf16 on GPU 0), or auto (cuda when available).
        /// `auto`, `cpu`, `cuda` or `cuda:N`.
        #[arg(long, default_value = "auto")]
        device: Device,
        #[arg(long, default_value_t = 512)]
        tokens: usize,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
}

fn load(model: &std::path::Path, device: Device) -> Result<Engine, Exit> {
    let loading = format!("loading the model from {}", model.display());
    let engine = crate::progress::while_running(&loading, || Engine::load_on(model, device))
        .map_err(|e| unusable(anyhow!("loading {}: {e}", model.display())))?;
    tracing::info!(device = %engine.device(), "reference engine loaded");
    Ok(engine)
}

pub fn run(cmd: Command) -> CmdResult {
    match cmd {
        Command::HiddenStates { model, device, token_ids, layers, out } => {
            let engine = load(&model, device)?;
            let c = engine.config().clone();
            let layers: Vec<usize> = if layers.is_empty() { (0..=c.num_layers).collect() } else { layers };
            let n = token_ids.len();
            let points: Vec<(usize, usize)> = layers.iter().flat_map(|&l| (0..n).map(move |p| (l, p))).collect();
            let result = engine.teacher_forced(&token_ids, &HiddenSelection::Points(points), &[]).map_err(unusable)?;
            let hidden: Vec<u8> = result.hidden.iter().flat_map(|v| v.to_le_bytes()).collect();
            let layer_ids: Vec<u8> = layers.iter().flat_map(|&l| (l as i32).to_le_bytes()).collect();
            let tokens: Vec<u8> = token_ids.iter().flat_map(|&t| (t as i32).to_le_bytes()).collect();
            fn view(
                dtype: safetensors::Dtype,
                shape: Vec<usize>,
                data: &[u8],
            ) -> Result<safetensors::tensor::TensorView<'_>, Exit> {
                safetensors::tensor::TensorView::new(dtype, shape, data).map_err(|e| failed(anyhow!(e.to_string())))
            }
            let tensors = vec![
                ("hidden".to_string(), view(safetensors::Dtype::F32, vec![layers.len(), n, c.hidden_size], &hidden)?),
                ("layers".to_string(), view(safetensors::Dtype::I32, vec![layers.len()], &layer_ids)?),
                ("tokens".to_string(), view(safetensors::Dtype::I32, vec![n], &tokens)?),
            ];
            safetensors::serialize_to_file(tensors, None, &out)
                .map_err(|e| failed(anyhow!("writing {}: {e}", out.display())))?;
            println!(
                "wrote hidden states [{} layers, {n} tokens, {}] to {}",
                layers.len(),
                c.hidden_size,
                out.display()
            );
            Ok(())
        }
        Command::Generate { model, device, prompt, system, raw, max_tokens, temperature, top_k, top_p, seed } => {
            let engine = load(&model, device)?;
            let tokenizer = ChatTokenizer::load(&model).map_err(unusable)?;
            let ids = if raw {
                tokenizer.encode(&prompt).map_err(failed)?
            } else {
                let mut messages = Vec::new();
                if let Some(system) = system {
                    messages.push(serde_json::json!({"role": "system", "content": system}));
                }
                messages.push(serde_json::json!({"role": "user", "content": prompt}));
                tokenizer
                    .chat_ids(&serde_json::Value::Array(messages), true, &serde_json::json!({}))
                    .map_err(unusable)?
            };
            let stop = assay_reference_engine::stop_token_ids(engine.config(), &tokenizer);
            let params = SamplingParams { temperature, top_k, top_p, seed };
            let started = Instant::now();
            let generation = engine.generate(&ids, &params, max_tokens, &stop).map_err(unusable)?;
            let elapsed = started.elapsed().as_secs_f64();
            println!("{}", tokenizer.decode(&generation.tokens, true).map_err(failed)?);
            eprintln!(
                "{} prompt tokens, {} completion tokens ({:?}) in {:.2} s",
                ids.len(),
                generation.tokens.len(),
                generation.finish_reason,
                elapsed
            );
            Ok(())
        }
        Command::Tiny { out, hidden, layers, heads, kv_heads, intermediate, vocab, dtype, tied, seed } => {
            let dtype = match dtype.as_str() {
                "bf16" => DType::BF16,
                "f16" => DType::F16,
                _ => DType::F32,
            };
            let spec = TinySpec {
                hidden,
                layers,
                heads,
                kv_heads,
                intermediate,
                vocab,
                tied,
                dtype,
                seed,
                ..TinySpec::default()
            };
            tiny::write(&out, &spec, None).map_err(unusable)?;
            println!("wrote a tiny Qwen2 model to {}", out.display());
            Ok(())
        }
        Command::Bench { model, device, tokens, runs } => {
            let engine = load(&model, device)?;
            let median = engine.time_prefill(tokens, runs).map_err(failed)?;
            println!(
                "prefill {tokens} tokens on {}, all hidden states: {:.1} ms median of {}, {:.0} tokens/s",
                engine.device(),
                median * 1e3,
                runs.max(1),
                tokens as f64 / median
            );
            Ok(())
        }
    }
}
