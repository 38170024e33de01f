//! The sampler's generator: Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as
//! 1, 2, 3", SC 2011; the generator of cuRAND, PyTorch and JAX) and the uniform it gives each
//! (seed, position, token id).
//!
//! Owns: the Philox rounds, the counter layout and the u32 → f64 conversion. Must not touch:
//! logits or truncation.
//!
//! Counter-based: the uniform of a token is a pure function of (seed, position, token id), so a
//! GPU kernel computes any of them in any order and the verifier recomputes exactly the ones it
//! needs.

/// Philox-4x32's round multipliers and Weyl key increments (Random123's `PHILOX_M4x32_*`,
/// `PHILOX_W32_*`).
const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// 2^-32, exact in f64.
const TWO_POW_MINUS_32: f64 = 1.0 / 4_294_967_296.0;

/// Philox-4x32 with 10 rounds: 128 random bits for one (counter, key). Passes Random123's
/// known-answer vectors (`kat_vectors`, tested below).
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut ctr = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        ctr = philox_round(ctr, k);
    }
    ctr
}

/// One round: two 32×32→64 multiplications, their halves crossed and xored with the key.
fn philox_round(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let product0 = u64::from(M0) * u64::from(ctr[0]);
    let product1 = u64::from(M1) * u64::from(ctr[2]);
    let (hi0, lo0) = ((product0 >> 32) as u32, product0 as u32);
    let (hi1, lo1) = ((product1 >> 32) as u32, product1 as u32);
    [hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0]
}

/// The counter and key of the Philox call that holds `token`'s uniform at `position`, and which
/// of its four output words it is: key = (seed low 32 bits, seed high 32 bits), counter =
/// (token / 4, position low 32 bits, position high 32 bits, 0), word = token mod 4. One call
/// serves four consecutive token ids; the last counter word is 0 (reserved for other streams).
pub fn counter_of(seed: u64, position: u64, token: u32) -> ([u32; 4], [u32; 2], usize) {
    let key = [seed as u32, (seed >> 32) as u32];
    let counter = [token / 4, position as u32, (position >> 32) as u32, 0];
    (counter, key, (token % 4) as usize)
}

/// The uniform in the open interval (0, 1) of `token` at `position` under `seed`:
/// `(x + 0.5) · 2^-32` for the token's 32-bit word x, exact in f64, so 0 and 1 never occur
/// (the extremes are 2^-33 and 1 − 2^-33) and every language computes the same bits.
pub fn uniform(seed: u64, position: u64, token: u32) -> f64 {
    let (counter, key, word) = counter_of(seed, position, token);
    let bits = philox4x32_10(counter, key)[word];
    (f64::from(bits) + 0.5) * TWO_POW_MINUS_32
}

/// The uniforms of one (seed, position), remembering the last Philox call: a scan in id order
/// makes one call per four tokens. Same values as [`uniform`].
#[derive(Debug)]
pub(crate) struct Uniforms {
    seed: u64,
    position: u64,
    block: Option<u32>,
    words: [u32; 4],
}

impl Uniforms {
    /// No call made yet.
    pub(crate) fn new(seed: u64, position: u64) -> Self {
        Uniforms { seed, position, block: None, words: [0; 4] }
    }

    /// [`uniform`]`(seed, position, token)`, calling Philox only when `token` is in another
    /// block of four than the last one.
    pub(crate) fn get(&mut self, token: u32) -> f64 {
        let (counter, key, word) = counter_of(self.seed, self.position, token);
        if self.block != Some(counter[0]) {
            self.words = philox4x32_10(counter, key);
            self.block = Some(counter[0]);
        }
        (f64::from(self.words[word]) + 0.5) * TWO_POW_MINUS_32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random123 1.14 `tests/kat_vectors`, the three philox4x32 10 lines (counter, key → output).
    #[test]
    fn known_answers_of_random123() {
        let cases: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
            ([0; 4], [0; 2], [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]),
            ([u32::MAX; 4], [u32::MAX; 2], [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]),
            (
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0],
                [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1],
            ),
        ];
        for (counter, key, expected) in cases {
            assert_eq!(philox4x32_10(counter, key), expected, "counter {counter:08x?} key {key:08x?}");
        }
    }

    #[test]
    fn counter_layout_splits_seed_and_position_into_words() {
        // seed 0x0123456789abcdef → key (0x89abcdef, 0x01234567); position 2^32 + 5 → (5, 1);
        // token 10 → block 10 / 4 = 2, word 10 mod 4 = 2.
        let (counter, key, word) = counter_of(0x0123_4567_89ab_cdef, (1 << 32) + 5, 10);
        assert_eq!(key, [0x89ab_cdef, 0x0123_4567]);
        assert_eq!(counter, [2, 5, 1, 0]);
        assert_eq!(word, 2);
    }

    #[test]
    fn four_consecutive_tokens_share_one_call() {
        // Tokens 8..12 are block 2: the words of philox([2, 7, 0, 0], [42, 0]) in order.
        let words = philox4x32_10([2, 7, 0, 0], [42, 0]);
        for (token, bits) in (8u32..12).zip(words) {
            assert_eq!(uniform(42, 7, token), (f64::from(bits) + 0.5) / 4_294_967_296.0);
        }
    }

    #[test]
    fn the_cache_gives_the_same_uniforms() {
        let mut uniforms = Uniforms::new(u64::MAX, 1 << 40);
        for token in [0, 1, 2, 3, 4, 9, 8, 8, 100, 3, 7] {
            assert_eq!(uniforms.get(token), uniform(u64::MAX, 1 << 40, token));
        }
    }

    #[test]
    fn uniform_bounds_are_open() {
        // x = 0 → 0.5 / 2^32 = 2^-33; x = 2^32 − 1 → (2^32 − 0.5) / 2^32 = 1 − 2^-33.
        assert_eq!((0.0 + 0.5) * TWO_POW_MINUS_32, 2f64.powi(-33));
        assert_eq!((f64::from(u32::MAX) + 0.5) * TWO_POW_MINUS_32, 1.0 - 2f64.powi(-33));
    }
}
