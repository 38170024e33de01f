//! Top-k and top-p truncation of the scaled logits: which token ids may take part in the race.
//!
//! Owns: the order by z (only as far as it is needed), the top-k cut, the top-p normalizer and
//! running sums. Must not touch: the generator or the race.
//!
//! Cost: top-k selects its k + 1 best ids (`select_nth_unstable`) and sorts only those; top-p
//! sums its normalizer in one pass in id order (binning the mass by z on the way, to guess how
//! many ids the nucleus holds), then sorts a growing window of the best ids (select the next
//! chunk, sort only it, the first chunk the guess) and stops as soon as the running sum reaches
//! `top_p`, so a nucleus of n ids costs O(V + n log n) rather than a sort of the vocabulary.
//! The guess only sizes the chunks: the kept ids and every sum are the same whatever it is.

/// The smallest window of ids the top-p walk sorts; each further window is four times larger.
const MIN_WINDOW: usize = 256;

/// The guess's bins: by `max − z`, each [`BIN_WIDTH`] wide, the last one taking the rest.
const BINS: usize = 512;
const BIN_WIDTH: f64 = 0.125;

/// The tokens that survive truncation, and what the replay needs to say how firmly.
#[derive(Debug)]
pub(crate) struct Truncation {
    /// All token ids. In id order when nothing is truncated; otherwise a prefix of them is by z
    /// descending with ties to the lower id (numeric comparison: −0 equals +0), at least the
    /// kept ids, the walked ones, and with top-k on its survivors and the best dropped id;
    /// every later id comes after that prefix in that order.
    pub order: Vec<u32>,
    /// How many of `order` survive top-k (all of them when top-k is off).
    pub top_k_len: usize,
    /// How many of `order` survive top-p as well (≤ `top_k_len`).
    pub kept_len: usize,
    /// Top-p's softmax over the top-k survivors: the largest z and the normalizer
    /// Σ exp(z − max), added in id order (`None` when top-p is off).
    pub softmax: Option<(f64, f64)>,
    /// `cumulative[n]` = p(order[0]) + … + p(order[n − 1]), added left to right, for as many ids
    /// as the walk visited (`[0.0]` when top-p is off).
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

    /// Top-p's probability of a top-k survivor with scaled logit `z`: `exp(z − max) / total`,
    /// the value its running sums add (`None` when top-p is off).
    pub fn prob(&self, z: f64) -> Option<f64> {
        self.softmax.map(|(max, total)| (z - max).exp() / total)
    }

    /// The ids whose running sums are known (a sorted prefix of the top-k survivors).
    pub fn walked(&self) -> &[u32] {
        &self.order[..self.cumulative.len() - 1]
    }
}

/// How far the top-p walk goes past the kept prefix.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Walk {
    /// Stop at the first id whose running sum reaches `top_p` (sampling).
    Kept,
    /// The replay's reach for a spread s = 2ε of the z: go on until `cumulative · e^-s ≥ top_p`
    /// at some id b, then past every id with `z ≥ z_b − 2s`, so every id that the replay may
    /// call near the top-p boundary has its running sums known.
    Replay { spread: f64 },
}

/// Applies top-k (0 = off), then top-p (1 = off) to `z`, which is non-empty and finite.
pub(crate) fn truncate(z: &[f64], top_k: u32, top_p: f64, walk: Walk) -> Truncation {
    let vocab = z.len();
    let top_k_len = match usize::try_from(top_k) {
        Ok(k) if k > 0 && k < vocab => k,
        _ => vocab,
    };
    let top_k_cuts = top_k_len < vocab;
    if !top_k_cuts && top_p >= 1.0 {
        let order = (0u32..).take(vocab).collect();
        return Truncation { order, top_k_len, kept_len: vocab, softmax: None, cumulative: vec![0.0] };
    }
    let mut ranking = Ranking::new(z);
    if top_k_cuts {
        // Top-k's survivors and the best dropped id (the replay's top-k boundary).
        ranking.sort_up_to(top_k_len + 1);
    }
    if top_p >= 1.0 {
        let order = ranking.into_ids();
        return Truncation { order, top_k_len, kept_len: top_k_len, softmax: None, cumulative: vec![0.0] };
    }
    let (softmax, guess) = if top_k_cuts {
        let mut survivors: Vec<u32> = ranking.pairs[..top_k_len].iter().map(|&(_, id)| id).collect();
        survivors.sort_unstable();
        (normalizer(z, &survivors), top_k_len) // already sorted
    } else {
        normalizer_of_all(z, top_p)
    };
    let (kept_len, cumulative) = walk_top_p(z, &mut ranking, top_k_len, top_p, softmax, guess, walk);
    let order = ranking.into_ids();
    Truncation { order, top_k_len, kept_len, softmax: Some(softmax), cumulative }
}

/// Walks the top-k survivors by z descending, adding `exp(z − max) / total` to a running sum
/// from 0, sorting more of them only when the walk reaches the end of the sorted prefix (first
/// `guess` of them, then windows four times larger each). Returns how many reach `top_p` (all
/// survivors if rounding never lets the sum get there) and the running sums visited.
fn walk_top_p(
    z: &[f64],
    ranking: &mut Ranking,
    survivors: usize,
    top_p: f64,
    (max, total): (f64, f64),
    guess: usize,
    walk: Walk,
) -> (usize, Vec<f64>) {
    let mut cumulative = vec![0.0];
    let mut kept_len = None;
    // The replay's reach: the z below which the walk may stop, once its sum condition holds.
    let mut floor: Option<f64> = None;
    let mut window = guess.max(MIN_WINDOW);
    let mut sum = 0.0;
    for n in 0..survivors {
        if n == ranking.sorted {
            ranking.sort_up_to((n + window).min(survivors));
            window = window.saturating_mul(4);
        }
        let z = z[ranking.pairs[n].1 as usize];
        if let Some(floor) = floor
            && z < floor
        {
            break;
        }
        sum += (z - max).exp() / total;
        cumulative.push(sum);
        if kept_len.is_none() && sum >= top_p {
            kept_len = Some(n + 1);
            if let Walk::Kept = walk {
                break;
            }
        }
        if let Walk::Replay { spread } = walk
            && floor.is_none()
            && sum * (-spread).exp() >= top_p
        {
            floor = Some(z - 2.0 * spread);
        }
    }
    (kept_len.unwrap_or(survivors), cumulative)
}

/// Top-p's normalizer over the whole vocabulary, the largest z and then Σ exp(z − max) in id
/// order, and a guess of how many ids the nucleus holds: the mass binned by `max − z` on the
/// way, counted down to the bin where it reaches `top_p`, and one bin more for rounding.
fn normalizer_of_all(z: &[f64], top_p: f64) -> ((f64, f64), usize) {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut mass = vec![0.0; BINS];
    let mut count = vec![0usize; BINS];
    let mut total = 0.0;
    for &value in z {
        let weight = (value - max).exp();
        total += weight;
        // max − value ≥ 0, so the cast saturates only past the last bin.
        let bin = (((max - value) / BIN_WIDTH) as usize).min(BINS - 1);
        mass[bin] += weight;
        count[bin] += 1;
    }
    let (mut reached, mut guess) = (0.0, 0);
    for (bin, (&m, &c)) in mass.iter().zip(&count).enumerate() {
        reached += m;
        guess += c;
        if reached >= top_p * total {
            guess += count.get(bin + 1).copied().unwrap_or(0);
            break;
        }
    }
    ((max, total), guess)
}

/// Top-p's normalizer over `ids` (non-empty, in id order): the largest z, then Σ exp(z − max)
/// added in that order.
fn normalizer(z: &[f64], ids: &[u32]) -> (f64, f64) {
    let max = ids.iter().map(|&id| z[id as usize]).fold(f64::NEG_INFINITY, f64::max);
    let total = ids.iter().fold(0.0, |sum, &id| sum + (z[id as usize] - max).exp());
    (max, total)
}

/// An integer whose ascending order is z's descending order, with −0 and +0 equal (`z + 0.0`
/// turns −0 into +0): pairs (key, id) then sort as the specification orders ids, z descending
/// and ties to the lower id, and compare faster than floats.
fn descending_key(z: f64) -> u64 {
    let bits = (z + 0.0).to_bits();
    let ascending = if bits >> 63 == 1 { !bits } else { bits | 1 << 63 };
    !ascending
}

/// (key, id) pairs whose first `sorted` are the best ids (z descending, ties to the lower id),
/// and every later pair is after them in that order.
struct Ranking {
    pairs: Vec<(u64, u32)>,
    sorted: usize,
}

impl Ranking {
    /// Every id, nothing sorted yet.
    fn new(z: &[f64]) -> Self {
        Ranking { pairs: z.iter().map(|&value| descending_key(value)).zip(0u32..).collect(), sorted: 0 }
    }

    /// Sorts the first `n` (capped at the vocabulary): selects the next ones from the unsorted
    /// rest and sorts only them.
    fn sort_up_to(&mut self, n: usize) {
        let n = n.min(self.pairs.len());
        if n <= self.sorted {
            return;
        }
        let rest = &mut self.pairs[self.sorted..];
        let chunk = n - self.sorted;
        if chunk < rest.len() {
            rest.select_nth_unstable(chunk);
        }
        rest[..chunk].sort_unstable();
        self.sorted = n;
    }

    /// The ids, in the pairs' order.
    fn into_ids(self) -> Vec<u32> {
        self.pairs.into_iter().map(|(_, id)| id).collect()
    }
}

/// Token ids by z descending, ties to the lower id: the whole order (tests and the vectors).
#[cfg(test)]
pub(crate) fn order_by_z(z: &[f64]) -> Vec<u32> {
    let mut ranking = Ranking::new(z);
    ranking.sort_up_to(z.len());
    ranking.into_ids()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(z: &[f64], top_k: u32, top_p: f64) -> Vec<u32> {
        truncate(z, top_k, top_p, Walk::Kept).kept().to_vec()
    }

    #[test]
    fn the_key_orders_z_descending() {
        let z = [f64::MAX, 1.5, 1e-300, 0.0, -1e-300, -1.5, f64::MIN];
        for pair in z.windows(2) {
            assert!(descending_key(pair[0]) < descending_key(pair[1]), "{pair:?}");
        }
        assert_eq!(descending_key(-0.0), descending_key(0.0));
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
            let mut ranking = Ranking::new(&z);
            ranking.sort_up_to(n);
            assert_eq!(ranking.into_ids()[..n], full[..n], "n = {n}");
        }
        // In steps, as the top-p walk sorts.
        let mut ranking = Ranking::new(&z);
        for n in [3, 7, 40, 100] {
            ranking.sort_up_to(n);
        }
        assert_eq!(ranking.into_ids(), full);
        let t = truncate(&z, 10, 1.0, Walk::Kept);
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
        // A tiny top_p still keeps one token, and the walk stops there.
        assert_eq!(kept(&z, 0, 1e-9), vec![1]);
        assert_eq!(truncate(&z, 0, 1e-9, Walk::Kept).cumulative.len(), 2);
        let t = truncate(&z, 0, 0.7, Walk::Kept);
        assert!((t.prob(2.0).unwrap() - 0.665_240_955_774_821_8).abs() < 1e-15);
        assert!((t.cumulative[2] - 0.909_969_426_829_619_5).abs() < 1e-15, "{}", t.cumulative[2]);
    }

    #[test]
    fn the_normalizer_is_added_in_id_order() {
        // z = [0, 2, 1]: max 2; id order adds e^-2, then e^0, then e^-1, left to right.
        let t = truncate(&[0.0, 2.0, 1.0], 0, 0.7, Walk::Kept);
        let in_id_order = ((-2.0f64).exp() + 1.0) + (-1.0f64).exp();
        assert_eq!(t.softmax, Some((2.0, in_id_order)));
        // With top-k 2 the survivors are ids 1 and 2: e^0, then e^-1.
        let t = truncate(&[0.0, 2.0, 1.0], 2, 0.7, Walk::Kept);
        assert_eq!(t.softmax, Some((2.0, 1.0 + (-1.0f64).exp())));
    }

    #[test]
    fn top_p_renormalizes_over_the_top_k_survivors() {
        // top-k 2 leaves ids 1, 2 with weights 1, e^-1: probs 1/1.36788 = 0.73106, 0.26894.
        // top_p 0.7 then keeps id 1 alone, though over all three it would keep 1 and 2.
        let z = [0.0, 2.0, 1.0];
        assert_eq!(kept(&z, 2, 0.7), vec![1]);
        assert_eq!(kept(&z, 2, 0.75), vec![1, 2]);
        let t = truncate(&z, 2, 0.75, Walk::Kept);
        assert!((t.prob(2.0).unwrap() - 0.731_058_578_630_004_9).abs() < 1e-15);
    }

    #[test]
    fn the_windowed_walk_keeps_what_a_full_sort_keeps() {
        // 3000 ids: a ramp of z with repeats. From a first window of 1 the walk sorts windows of
        // 256, 1024 and 4096 ids; top_p 0.999 needs ~2830 ids, past the first two.
        let z: Vec<f64> = (0..3000).map(|i| f64::from((i * 7919) % 1500) * -0.004).collect();
        let full = order_by_z(&z);
        let ((max, total), guess) = normalizer_of_all(&z, 0.999);
        assert!((2800..3000).contains(&guess), "{guess}");
        for top_p in [0.1, 0.5, 0.9, 0.999] {
            let mut ranking = Ranking::new(&z);
            let (kept_len, _) = walk_top_p(&z, &mut ranking, z.len(), top_p, (max, total), 1, Walk::Kept);
            assert_eq!(ranking.into_ids()[..kept_len], truncate(&z, 0, top_p, Walk::Kept).kept()[..]);
            let mut sum = 0.0;
            let reference = full
                .iter()
                .position(|&id| {
                    sum += (z[id as usize] - max).exp() / total;
                    sum >= top_p
                })
                .map(|n| n + 1);
            let t = truncate(&z, 0, top_p, Walk::Kept);
            assert_eq!(Some(t.kept()), reference.map(|n| &full[..n]), "top_p {top_p}");
            assert_eq!(t.walked(), t.kept());
        }
    }

    #[test]
    fn the_replay_walk_reaches_past_the_boundary() {
        // z = -0.01 · i for 1000 ids; top_p 0.5 is reached at some id b; with spread 0.05 the
        // walk goes on until the sum · e^-0.05 reaches 0.5 (id b'), then to z < z_b' − 0.1.
        let z: Vec<f64> = (0..1000).map(|i| f64::from(i) * -0.01).collect();
        let spread = 0.05;
        let kept_len = truncate(&z, 0, 0.5, Walk::Kept).kept_len;
        let t = truncate(&z, 0, 0.5, Walk::Replay { spread });
        assert_eq!(t.kept_len, kept_len);
        let reach = 1 + t.cumulative[1..].iter().position(|c| c * (-spread).exp() >= 0.5).unwrap();
        let floor = z[reach - 1] - 2.0 * spread;
        let walked = t.walked();
        assert!(walked.len() > kept_len && walked.len() > reach);
        assert!(walked.iter().all(|&id| z[id as usize] >= floor));
        assert!(z[t.order[walked.len()] as usize] < floor);
    }
}
