//! Top-k and top-p truncation of the scaled logits: which token ids may take part in the race.
//!
//! Owns: the order by z, the top-k cut, the top-p softmax and its cumulative sums. Must not
//! touch: the generator or the race.

use std::cmp::Ordering;

/// The tokens that survive truncation, and what the replay needs to say how firmly.
#[derive(Debug)]
pub(crate) struct Truncation {
    /// Token ids by z descending, ties to the lower id (numeric comparison: −0 equals +0). Only
    /// as far as needed: in id order when nothing is truncated; with top-k on, sorted up to
    /// index `top_k_len` inclusive (the best dropped token) and in no set order after it.
    pub order: Vec<u32>,
    /// How many of `order` survive top-k (all of them when top-k is off).
    pub top_k_len: usize,
    /// How many of `order` survive top-p as well (≤ `top_k_len`).
    pub kept_len: usize,
    /// Softmax over the top-k survivors, in `order` (empty when top-p is off).
    pub probs: Vec<f64>,
    /// `cumulative[n]` = probs[0] + … + probs[n − 1], added left to right (`[0.0]` when top-p is off).
    pub cumulative: Vec<f64>,
}

impl Truncation {
    /// The surviving ids (by z descending when anything was truncated).
    pub fn kept(&self) -> &[u32] {
        &self.order[..self.kept_len]
    }

    /// Whether top-k removed any token.
    pub fn top_k_cuts(&self) -> bool {
        self.top_k_len < self.order.len()
    }

    /// Whether top-p is on (its softmax was computed).
    pub fn top_p_on(&self) -> bool {
        !self.probs.is_empty()
    }
}

/// Applies top-k (0 = off), then top-p (1 = off) to `z`, which is non-empty and finite.
pub(crate) fn truncate(z: &[f64], top_k: u32, top_p: f64) -> Truncation {
    let vocab = z.len();
    let top_k_len = match usize::try_from(top_k) {
        Ok(k) if k > 0 && k < vocab => k,
        _ => vocab,
    };
    // Sort only what top-k, top-p and the replay's boundary look at: with top-k on, its
    // survivors and the best dropped token.
    let order = match (top_k_len < vocab, top_p < 1.0) {
        (true, _) => top_by_z(z, top_k_len + 1),
        (false, true) => order_by_z(z),
        (false, false) => (0u32..).take(vocab).collect(),
    };
    if top_p >= 1.0 {
        return Truncation { order, top_k_len, kept_len: top_k_len, probs: Vec::new(), cumulative: vec![0.0] };
    }
    let probs = softmax_in_order(z, &order[..top_k_len]);
    let cumulative = running_sums(&probs);
    // The shortest prefix whose sum reaches top_p; all of them if rounding never lets it.
    let kept_len = (1..cumulative.len()).find(|&n| cumulative[n] >= top_p).unwrap_or(top_k_len);
    Truncation { order, top_k_len, kept_len, probs, cumulative }
}

/// z descending, then id ascending: a total order, so an unstable sort gives one result.
fn by_z_then_id(a: &(f64, u32), b: &(f64, u32)) -> Ordering {
    b.0.partial_cmp(&a.0).unwrap_or(Ordering::Equal).then(a.1.cmp(&b.1))
}

/// Token ids by z descending, ties to the lower id.
pub(crate) fn order_by_z(z: &[f64]) -> Vec<u32> {
    let mut pairs: Vec<(f64, u32)> = z.iter().copied().zip(0u32..).collect();
    pairs.sort_by(by_z_then_id);
    pairs.into_iter().map(|(_, id)| id).collect()
}

/// All ids, the first `n` (< z.len() + 1) of them as [`order_by_z`] puts them, the rest after.
fn top_by_z(z: &[f64], n: usize) -> Vec<u32> {
    let mut pairs: Vec<(f64, u32)> = z.iter().copied().zip(0u32..).collect();
    if n < pairs.len() {
        pairs.select_nth_unstable_by(n, by_z_then_id);
    }
    let head = n.min(pairs.len());
    pairs[..head].sort_unstable_by(by_z_then_id);
    pairs.into_iter().map(|(_, id)| id).collect()
}

/// `exp(z − z_max) / total` for each id of `ids` (non-empty, z descending), `total` the sum of
/// the exponentials added left to right in that order.
fn softmax_in_order(z: &[f64], ids: &[u32]) -> Vec<f64> {
    let max = ids.first().map_or(0.0, |&id| z[id as usize]);
    let weights: Vec<f64> = ids.iter().map(|&id| (z[id as usize] - max).exp()).collect();
    let total = weights.iter().fold(0.0, |sum, w| sum + w);
    weights.iter().map(|w| w / total).collect()
}

/// `[0, p0, p0 + p1, …]`, added left to right.
fn running_sums(probs: &[f64]) -> Vec<f64> {
    let mut sums = Vec::with_capacity(probs.len() + 1);
    let mut sum = 0.0;
    sums.push(sum);
    for p in probs {
        sum += p;
        sums.push(sum);
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(z: &[f64], top_k: u32, top_p: f64) -> Vec<u32> {
        truncate(z, top_k, top_p).kept().to_vec()
    }

    #[test]
    fn order_breaks_ties_by_lower_id_and_equates_signed_zeros() {
        assert_eq!(order_by_z(&[1.0, 3.0, 2.0, 3.0]), vec![1, 3, 2, 0]);
        assert_eq!(order_by_z(&[0.0, -0.0, -1.0]), vec![0, 1, 2]);
        assert_eq!(order_by_z(&[-0.0, 0.0, -1.0]), vec![0, 1, 2]);
    }

    #[test]
    fn partial_order_agrees_with_the_full_one() {
        let z: Vec<f64> = (0..100).map(|i| f64::from((i * 37) % 23) * 0.5).collect();
        let full = order_by_z(&z);
        for n in [1, 2, 10, 50, 99, 100] {
            assert_eq!(top_by_z(&z, n)[..n], full[..n], "n = {n}");
        }
        let t = truncate(&z, 10, 1.0);
        assert_eq!(t.order[..11], full[..11]);
        assert_eq!(t.kept(), &full[..10]);
    }

    #[test]
    fn top_k_keeps_the_k_largest_ties_to_lower_ids() {
        // z = [1, 3, 2, 3]: by z descending with ties to the lower id, 1, 3, 2, 0.
        assert_eq!(kept(&[1.0, 3.0, 2.0, 3.0], 2, 1.0), vec![1, 3]);
        assert_eq!(kept(&[1.0, 3.0, 2.0, 3.0], 1, 1.0), vec![1]);
        assert_eq!(kept(&[1.0, 3.0, 2.0, 3.0], 3, 1.0), vec![1, 3, 2]);
        // k ≥ vocabulary, and 0: everything (in id order: nothing needed sorting).
        assert_eq!(kept(&[1.0, 3.0, 2.0, 3.0], 4, 1.0), vec![0, 1, 2, 3]);
        assert_eq!(kept(&[1.0, 3.0, 2.0, 3.0], 0, 1.0), vec![0, 1, 2, 3]);
    }

    #[test]
    fn top_p_keeps_the_shortest_prefix_reaching_it() {
        // z = [0, 2, 1]: weights e^0, e^-1, e^-2 in order 1, 2, 0 = 1, 0.36788, 0.13534;
        // total 1.50321; probs 0.66524, 0.24473, 0.09003; cumulative 0.66524, 0.90997, 1.
        let z = [0.0, 2.0, 1.0];
        assert_eq!(kept(&z, 0, 0.6), vec![1]);
        assert_eq!(kept(&z, 0, 0.7), vec![1, 2]);
        assert_eq!(kept(&z, 0, 0.9), vec![1, 2]);
        assert_eq!(kept(&z, 0, 0.95), vec![1, 2, 0]);
        // A tiny top_p still keeps one token.
        assert_eq!(kept(&z, 0, 1e-9), vec![1]);
        let t = truncate(&z, 0, 0.7);
        assert!((t.probs[0] - 0.665_240_955_774_821_8).abs() < 1e-15, "{}", t.probs[0]);
        assert!((t.cumulative[2] - 0.909_969_426_829_619_5).abs() < 1e-15, "{}", t.cumulative[2]);
    }

    #[test]
    fn top_p_renormalizes_over_the_top_k_survivors() {
        // top-k 2 leaves ids 1, 2 with weights 1, e^-1: probs 1/1.36788 = 0.73106, 0.26894.
        // top_p 0.7 then keeps id 1 alone, though over all three it would keep 1 and 2.
        let z = [0.0, 2.0, 1.0];
        assert_eq!(kept(&z, 2, 0.7), vec![1]);
        assert_eq!(kept(&z, 2, 0.75), vec![1, 2]);
        let t = truncate(&z, 2, 0.75);
        assert!((t.probs[0] - 0.731_058_578_630_004_9).abs() < 1e-15, "{}", t.probs[0]);
    }
}
