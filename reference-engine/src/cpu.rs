//! CPU kernels in f32: GEMM through matrixmultiply (the fastest measured here, FACTS.md), and the
//! elementwise pieces of a Qwen2 layer written to follow transformers' f32 arithmetic.

/// `c[m×n] = beta·c + a[m×k] · b[k×n]`, each operand given with (row, column) strides.
/// Panics (never reads out of bounds) if a stride pattern does not fit its slice.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    (m, k, n): (usize, usize, usize),
    a: &[f32],
    (rsa, csa): (usize, usize),
    b: &[f32],
    (rsb, csb): (usize, usize),
    beta: f32,
    c: &mut [f32],
    (rsc, csc): (usize, usize),
) {
    if m == 0 || n == 0 {
        return;
    }
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs;
    assert!(k == 0 || last(m, k, rsa, csa) < a.len(), "gemm: a is too short");
    assert!(k == 0 || last(k, n, rsb, csb) < b.len(), "gemm: b is too short");
    assert!(last(m, n, rsc, csc) < c.len(), "gemm: c is too short");
    // SAFETY: the asserts above bound every index matrixmultiply touches within the slices,
    // and `c` does not alias `a` or `b` (it is borrowed mutably).
    #[allow(unsafe_code)]
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            beta,
            c.as_mut_ptr(),
            rsc as isize,
            csc as isize,
        );
    }
}

/// `y = x · wᵀ (+ bias)` for `rows` rows: `x` is `[rows, inp]`, the weight is given transposed
/// (`wt` is `[inp, out]` row-major), `y` is `[rows, out]`. Computed as `yᵀ = w · xᵀ`, so the big
/// operand (the weight) is packed with contiguous copies and each operand is packed once.
pub(crate) fn linear(x: &[f32], rows: usize, wt: &[f32], out: usize, inp: usize, bias: Option<&[f32]>, y: &mut [f32]) {
    gemm((out, inp, rows), wt, (1, out), x, (1, inp), 0.0, y, (1, out));
    if let Some(bias) = bias {
        for row in y.chunks_exact_mut(out) {
            add_in_place(row, bias);
        }
    }
}

/// RMSNorm as transformers computes it in f32: `w * (x * rsqrt(mean(x²) + eps))`.
pub(crate) fn rms_norm(x: &[f32], weight: &[f32], eps: f64, out: &mut [f32]) {
    let h = weight.len();
    for (row, dst) in x.chunks_exact(h).zip(out.chunks_exact_mut(h)) {
        let mean = row.iter().map(|v| f64::from(*v) * f64::from(*v)).sum::<f64>() / h as f64;
        let scale = 1.0 / (mean as f32 + eps as f32).sqrt();
        for ((d, v), w) in dst.iter_mut().zip(row).zip(weight) {
            *d = w * (v * scale);
        }
    }
}

/// Rotary embedding, rotate-half style, in place on `[rows, heads × head_dim]` starting at
/// absolute position `start`. Angles in f32, as transformers' `Qwen2RotaryEmbedding`.
pub(crate) fn rope(x: &mut [f32], heads: usize, head_dim: usize, start: usize, inv_freq: &[f32]) {
    let half = head_dim / 2;
    let width = heads * head_dim;
    let mut cos = vec![0.0f32; half];
    let mut sin = vec![0.0f32; half];
    for (r, row) in x.chunks_exact_mut(width).enumerate() {
        let pos = (start + r) as f32;
        for i in 0..half {
            let angle = pos * inv_freq[i];
            cos[i] = angle.cos();
            sin[i] = angle.sin();
        }
        for head in row.chunks_exact_mut(head_dim) {
            let (a, b) = head.split_at_mut(half);
            for i in 0..half {
                let (x1, x2) = (a[i], b[i]);
                a[i] = x1 * cos[i] - x2 * sin[i];
                b[i] = x2 * cos[i] + x1 * sin[i];
            }
        }
    }
}

/// `1 / theta^(2i/d)` in f32, as transformers computes `inv_freq`.
pub(crate) fn inv_freq(theta: f64, head_dim: usize) -> Vec<f32> {
    (0..head_dim / 2).map(|i| 1.0 / (theta as f32).powf((2 * i) as f32 / head_dim as f32)).collect()
}

/// In-place softmax over `row`.
pub(crate) fn softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in row.iter_mut() {
        *v /= sum;
    }
}

/// `gate = silu(gate) * up`, elementwise.
pub(crate) fn silu_mul(gate: &mut [f32], up: &[f32]) {
    for (g, u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + (-*g).exp()) * u;
    }
}

pub(crate) fn add_in_place(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// Log-softmax of logits, summed in f64 for a stable normalizer.
///
/// A `-inf` logit (a masked token) gives log-prob `-inf`: callers that publish it floor it
/// (`assay_policy_sdk::LOGPROB_FLOOR`). A NaN or `+inf` logit, or no finite logit at all, gives
/// NaN log-probs: a failed pass, which callers must treat as their own fault.
pub fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|v| f64::from(*v - max).exp()).sum();
    let log_sum = sum.ln() as f32;
    logits.iter().map(|v| v - max - log_sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_matches_a_naive_product() {
        let (rows, inp, out) = (3, 5, 4);
        let x: Vec<f32> = (0..rows * inp).map(|i| i as f32 * 0.1 - 0.7).collect();
        let w: Vec<f32> = (0..out * inp).map(|i| (i as f32 * 0.37).sin()).collect();
        let bias = [0.5, -0.25, 0.0, 1.0];
        let mut wt = vec![0.0; out * inp];
        for o in 0..out {
            for i in 0..inp {
                wt[i * out + o] = w[o * inp + i];
            }
        }
        let mut y = vec![0.0; rows * out];
        linear(&x, rows, &wt, out, inp, Some(&bias), &mut y);
        for r in 0..rows {
            for o in 0..out {
                let expect: f32 = (0..inp).map(|i| x[r * inp + i] * w[o * inp + i]).sum::<f32>() + bias[o];
                assert!((y[r * out + o] - expect).abs() < 1e-5, "{r} {o}");
            }
        }
    }

    #[test]
    fn softmax_and_log_softmax() {
        let mut row = [1.0, 2.0, 3.0];
        softmax(&mut row);
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let lp = log_softmax(&[1.0, 2.0, 3.0]);
        for (p, l) in row.iter().zip(&lp) {
            assert!((p.ln() - l).abs() < 1e-6);
        }
    }

    #[test]
    fn rope_rotates_pairs_and_keeps_norms() {
        let inv = inv_freq(10000.0, 4);
        let mut x = vec![1.0, 0.0, 0.0, 1.0];
        rope(&mut x, 1, 4, 3, &inv);
        let norm: f32 = x.iter().map(|v| v * v).sum();
        assert!((norm - 2.0).abs() < 1e-6);
        assert!((x[0] - 3.0f32.cos()).abs() < 1e-6 && (x[2] - 3.0f32.sin()).abs() < 1e-6);
        let mut at_zero = vec![0.3, -0.2, 0.9, 0.4];
        let before = at_zero.clone();
        rope(&mut at_zero, 1, 4, 0, &inv);
        assert_eq!(at_zero, before, "position 0 is the identity");
    }
}
