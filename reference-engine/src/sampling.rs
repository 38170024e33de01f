//! Choosing the next token: greedy, or seeded temperature / top-k / top-p sampling.
//!
//! The generator is our own xoshiro256**, seeded by SplitMix64, so a seed gives the same
//! tokens whatever the versions of our dependencies.

use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 means greedy.
    pub temperature: f32,
    /// 0 means no top-k cut.
    pub top_k: usize,
    /// 1 means no nucleus cut.
    pub top_p: f32,
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self { temperature: 0.0, top_k: 0, top_p: 1.0, seed: 0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// A stop token was produced (it is the last token).
    Stop,
    /// `max_tokens` was reached.
    Length,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub tokens: Vec<u32>,
    pub finish_reason: FinishReason,
}

pub struct Sampler {
    params: SamplingParams,
    state: [u64; 4],
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The top token; the lowest id among equal maxima.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in logits.iter().enumerate() {
        if *v > logits[best] {
            best = i;
        }
    }
    best as u32
}

impl Sampler {
    pub fn new(params: &SamplingParams) -> Result<Self> {
        let p = params;
        if !(p.temperature.is_finite() && p.temperature >= 0.0) {
            return Err(Error::Invalid(format!("temperature {} must be finite and non-negative", p.temperature)));
        }
        if !(p.top_p > 0.0 && p.top_p <= 1.0) {
            return Err(Error::Invalid(format!("top_p {} must be in (0, 1]", p.top_p)));
        }
        let mut s = p.seed;
        Ok(Self { params: p.clone(), state: [splitmix(&mut s), splitmix(&mut s), splitmix(&mut s), splitmix(&mut s)] })
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        let p = &self.params;
        if p.temperature == 0.0 || logits.len() < 2 {
            return argmax(logits);
        }
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
        if p.top_k > 0 {
            order.truncate(p.top_k);
        }
        let max = f64::from(logits[order[0]]);
        let mut probs: Vec<f64> =
            order.iter().map(|&i| ((f64::from(logits[i]) - max) / f64::from(p.temperature)).exp()).collect();
        let sum: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|q| *q /= sum);
        if p.top_p < 1.0 {
            let mut cumulative = 0.0;
            let mut keep = probs.len();
            for (i, q) in probs.iter().enumerate() {
                cumulative += q;
                if cumulative >= f64::from(p.top_p) {
                    keep = i + 1;
                    break;
                }
            }
            probs.truncate(keep);
            order.truncate(keep);
            let sum: f64 = probs.iter().sum();
            probs.iter_mut().for_each(|q| *q /= sum);
        }
        let mut u = self.unit();
        for (q, &i) in probs.iter().zip(&order) {
            if u < *q {
                return i as u32;
            }
            u -= q;
        }
        order[order.len() - 1] as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_top_and_the_lowest_id_on_ties() {
        assert_eq!(argmax(&[0.1, 0.9, 0.9, -1.0]), 1);
        let mut s = Sampler::new(&SamplingParams::default()).expect("sampler");
        assert_eq!(s.sample(&[0.0, 2.0, 1.0]), 1);
    }

    #[test]
    fn sampling_is_seeded_and_respects_the_cuts() {
        let logits: Vec<f32> = (0..50).map(|i| (i as f32 * 0.7).sin() * 3.0).collect();
        let params = SamplingParams { temperature: 1.0, top_k: 5, top_p: 1.0, seed: 42 };
        let draw = |params: &SamplingParams| {
            let mut s = Sampler::new(params).expect("sampler");
            (0..200).map(|_| s.sample(&logits)).collect::<Vec<u32>>()
        };
        let a = draw(&params);
        assert_eq!(a, draw(&params), "same seed, same tokens");
        assert_ne!(a, draw(&SamplingParams { seed: 43, ..params.clone() }));
        let mut top5: Vec<usize> = (0..50).collect();
        top5.sort_by(|&x, &y| logits[y].total_cmp(&logits[x]));
        top5.truncate(5);
        assert!(a.iter().all(|t| top5.contains(&(*t as usize))), "top-k keeps the 5 best");
        let nucleus = draw(&SamplingParams { temperature: 1.0, top_k: 0, top_p: 0.01, seed: 1 });
        assert!(nucleus.iter().all(|&t| t == argmax(&logits)), "a tiny top-p keeps only the best");
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(Sampler::new(&SamplingParams { temperature: -1.0, ..Default::default() }).is_err());
        assert!(Sampler::new(&SamplingParams { top_p: 0.0, ..Default::default() }).is_err());
        assert!(Sampler::new(&SamplingParams { temperature: f32::NAN, ..Default::default() }).is_err());
    }
}
