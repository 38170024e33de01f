//! The test vectors, `docs/sampling-vectors.json`: checked here, and in Python by
//! `scripts/sampler.py` (the same test runs it when `python3` is on PATH). `SAMPLER_BLESS=1`
//! regenerates the file first (`scripts/make-sampling-vectors.sh`).
//!
//! Owns: the vectors' generation, format and check. Must not touch: the sampler.
//!
//! The generator draws logits from its own fixed generator (splitmix64, Box-Muller) and leaves
//! out any vector whose outcome hangs on the last bits of `exp` or `ln`: the top two race keys
//! within 1e-9, or a top-p running sum within 1e-9 of `top_p`. libm's `exp` and `ln` may differ
//! by an ulp between languages; nothing else in the specification may.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::race::key_of;
use crate::truncate::{Walk, truncate};
use crate::{SamplingParams, sample, scaled_logits};

/// How close two outcomes may be before the generator leaves a vector out.
const EXCLUSION: f64 = 1e-9;

/// A vector: its inputs and the token the specification picks.
struct Vector {
    name: String,
    params: SamplingParams,
    position: u64,
    logits: Vec<f32>,
    token: u32,
}

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/sampling-vectors.json")
}

/// splitmix64: the generator's source of logits and free seeds and positions.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    }

    /// Uniform in (0, 1).
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let (a, b) = (self.unit(), self.unit());
        (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
    }
}

/// The parameter sets: (name, vocabulary, temperature, top_k, top_p, logit spread). The spread
/// is the logits' standard deviation; a negative one rounds them to halves, so z ties occur.
#[rustfmt::skip]
const TEMPLATES: &[(&str, usize, f64, u32, f64, f64)] = &[
    ("greedy", 8, 0.0, 0, 1.0, 2.0),
    ("greedy, truncation ignored", 16, 0.0, 5, 0.9, 2.0),
    ("greedy below the minimum temperature", 12, 1e-6, 0, 1.0, 2.0),
    ("greedy with tied logits", 32, 0.0, 0, 1.0, -1.0),
    ("greedy, wide logits", 64, 0.0, 0, 1.0, 8.0),
    ("temperature 1", 8, 1.0, 0, 1.0, 1.0),
    ("temperature 1", 32, 1.0, 0, 1.0, 2.0),
    ("temperature 1", 64, 1.0, 0, 1.0, 3.0),
    ("temperature 0.7", 50, 0.7, 0, 1.0, 2.0),
    ("temperature 1.3", 16, 1.3, 0, 1.0, 2.0),
    ("temperature 2", 11, 2.0, 0, 1.0, 2.0),
    ("tiny temperature 0.05", 32, 0.05, 0, 1.0, 2.0),
    ("tiny temperature 0.01", 16, 0.01, 0, 1.0, 0.5),
    ("minimum temperature 1e-5", 8, 1e-5, 0, 1.0, 0.001),
    ("large temperature 5", 64, 5.0, 0, 1.0, 2.0),
    ("large temperature 100", 32, 100.0, 0, 1.0, 5.0),
    ("large temperature 1e4", 8, 1e4, 0, 1.0, 5.0),
    ("top-k 1", 16, 1.0, 1, 1.0, 2.0),
    ("top-k 3", 8, 1.0, 3, 1.0, 1.0),
    ("top-k 10", 64, 0.8, 10, 1.0, 2.0),
    ("top-k 40", 50, 1.0, 40, 1.0, 2.0),
    ("top-k equal to the vocabulary", 32, 1.0, 32, 1.0, 2.0),
    ("top-k above the vocabulary", 11, 1.0, 100, 1.0, 2.0),
    ("top-k with tied logits", 64, 1.0, 7, 1.0, -1.0),
    ("top-p 0.9", 32, 1.0, 0, 0.9, 2.0),
    ("top-p 0.5", 16, 1.0, 0, 0.5, 1.0),
    ("top-p 0.95", 64, 0.7, 0, 0.95, 2.0),
    ("top-p 0.99", 50, 1.2, 0, 0.99, 3.0),
    ("tiny top-p 0.05", 16, 1.0, 0, 0.05, 1.0),
    ("top-p with tied logits", 32, 1.0, 0, 0.8, -1.0),
    ("top-k 20, top-p 0.9", 64, 0.8, 20, 0.9, 2.0),
    ("top-k 5, top-p 0.5", 16, 1.0, 5, 0.5, 1.0),
    ("top-k 50, top-p 0.8", 64, 1.5, 50, 0.8, 3.0),
    ("top-k 8, top-p 0.95, temperature 0.3", 32, 0.3, 8, 0.95, 2.0),
    ("top-k 3, top-p 0.99, temperature 3", 8, 3.0, 3, 0.99, 2.0),
    ("peaked logits", 64, 1.0, 0, 1.0, 10.0),
    ("peaked logits, top-p 0.9", 64, 1.0, 0, 0.9, 10.0),
    ("flat logits", 64, 1.0, 0, 1.0, 0.01),
    ("flat logits, top-k 16", 64, 1.0, 16, 1.0, 0.01),
    ("temperature 1, last position", 32, 1.0, 0, 1.0, 2.0),
];

/// Seeds and positions cycled through the templates: the counter words' edges, then random.
const SEEDS: &[u64] = &[0, 1, 42, u32::MAX as u64, 1 << 32, (1 << 63) - 1, u64::MAX];
const POSITIONS: &[u64] = &[0, 1, 2, 17, 4095, u32::MAX as u64, 1 << 32, (1 << 40) + 7, u64::MAX];

/// Logits of `vocab` tokens with standard deviation `spread` (rounded to halves if negative).
fn draw_logits(rng: &mut SplitMix, vocab: usize, spread: f64) -> Vec<f32> {
    (0..vocab)
        .map(|_| {
            let x = rng.normal() * spread.abs();
            (if spread < 0.0 { (x * 2.0).round() / 2.0 } else { x }) as f32
        })
        .collect()
}

/// Whether the outcome hangs on the last bits of `exp` or `ln` (see the module doc).
fn too_close(logits: &[f32], params: &SamplingParams, position: u64) -> bool {
    if params.is_greedy() {
        return false; // comparisons of the logits themselves: exact everywhere
    }
    let Ok(z) = scaled_logits(logits, params) else { return true };
    let truncation = truncate(&z, params.top_k, params.top_p, Walk::Kept);
    if truncation.cumulative.iter().any(|c| (c - params.top_p).abs() < EXCLUSION) {
        return true;
    }
    let mut keys: Vec<f64> =
        truncation.kept().iter().map(|&id| key_of(z[id as usize], params.seed, position, id)).collect();
    keys.sort_by(|a, b| b.total_cmp(a));
    keys.len() > 1 && keys[0] - keys[1] < EXCLUSION
}

/// For the "tied" templates: whether the tie rule decides the outcome (greedy: the largest logit
/// twice; truncated: equal z on both sides of the last kept token's boundary).
fn tie_decides(logits: &[f32], params: &SamplingParams) -> bool {
    let Ok(z) = scaled_logits(logits, params) else { return false };
    let order = crate::truncate::order_by_z(&z);
    if params.is_greedy() {
        return z[order[0] as usize] == z[order[1] as usize];
    }
    let kept_len = truncate(&z, params.top_k, params.top_p, Walk::Kept).kept().len();
    kept_len < order.len() && z[order[kept_len - 1] as usize] == z[order[kept_len] as usize]
}

fn generate() -> Vec<Vector> {
    let mut rng = SplitMix(0x005E_ED0F_A55A_u64);
    let mut vectors = Vec::new();
    for (index, &(name, vocab, temperature, top_k, top_p, spread)) in TEMPLATES.iter().enumerate() {
        let seed = if index < 14 { SEEDS[index % SEEDS.len()] } else { rng.next() };
        let position = match index {
            _ if name.ends_with("last position") => u64::MAX,
            _ if index % 3 == 0 => rng.next() % 100_000,
            _ => POSITIONS[index % POSITIONS.len()],
        };
        let params = SamplingParams { temperature, top_k, top_p, seed };
        let mut logits = draw_logits(&mut rng, vocab, spread);
        while too_close(&logits, &params, position) || (name.contains("tied") && !tie_decides(&logits, &params)) {
            logits = draw_logits(&mut rng, vocab, spread);
        }
        let token = sample(&logits, &params, position).unwrap();
        vectors.push(Vector { name: name.to_string(), params, position, logits, token });
    }
    vectors
}

/// The file: one vector per two lines, logits as the f64 values of the f32s (exact).
fn render(vectors: &[Vector]) -> String {
    let mut out = String::from("{\n");
    out.push_str("  \"about\": \"Test vectors of the assay sampler (docs/sampling.md): logits (f32 values), seed, position and parameters -> token. Regenerate with scripts/make-sampling-vectors.sh.\",\n");
    out.push_str("  \"vectors\": [\n");
    for (index, v) in vectors.iter().enumerate() {
        let logits: Vec<Value> = v.logits.iter().map(|&l| Value::from(f64::from(l))).collect();
        let p = &v.params;
        let _ = write!(
            out,
            "    {{\"name\": {}, \"temperature\": {}, \"top_k\": {}, \"top_p\": {}, \"seed\": {}, \"position\": {}, \"token\": {},\n     \"logits\": {}}}{}\n",
            Value::from(v.name.as_str()),
            Value::from(p.temperature),
            p.top_k,
            Value::from(p.top_p),
            p.seed,
            v.position,
            v.token,
            Value::from(logits),
            if index + 1 < vectors.len() { "," } else { "" },
        );
    }
    out.push_str("  ]\n}\n");
    out
}

fn parse(text: &str) -> Vec<Vector> {
    let root: Value = serde_json::from_str(text).unwrap();
    let field = |v: &Value, name: &str| v.get(name).cloned().unwrap_or_else(|| panic!("vector without {name}"));
    root["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Vector {
            name: field(v, "name").as_str().unwrap().to_string(),
            params: SamplingParams {
                temperature: field(v, "temperature").as_f64().unwrap(),
                top_k: u32::try_from(field(v, "top_k").as_u64().unwrap()).unwrap(),
                top_p: field(v, "top_p").as_f64().unwrap(),
                seed: field(v, "seed").as_u64().unwrap(),
            },
            position: field(v, "position").as_u64().unwrap(),
            logits: field(v, "logits").as_array().unwrap().iter().map(|l| l.as_f64().unwrap() as f32).collect(),
            token: u32::try_from(field(v, "token").as_u64().unwrap()).unwrap(),
        })
        .collect()
}

#[test]
fn vectors_pass_in_rust() {
    let path = vectors_path();
    if std::env::var_os("SAMPLER_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, render(&generate())).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let vectors = parse(&text);
    assert_eq!(vectors.len(), TEMPLATES.len());
    for v in &vectors {
        assert_eq!(sample(&v.logits, &v.params, v.position), Ok(v.token), "vector {:?}", v.name);
    }
}

#[test]
fn vectors_pass_in_python() {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/sampler.py");
    let output = match Command::new("python3").arg(&script).arg("--check").arg(vectors_path()).output() {
        Ok(output) => output,
        Err(e) => {
            eprintln!("skipped: python3 is not on PATH ({e}); the Python reference is not checked");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let all = TEMPLATES.len();
    assert!(stdout.contains(&format!("{all}/{all} vectors pass")), "{stdout}");
}
