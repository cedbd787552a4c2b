//! 1×1 convolutions as matrix products, with the bias, the activation, the residual and the squeeze-excite gate
//! folded in.
//!
//! Per sample the convolution is `out[m, n] = W[m, k] · x[k, n]` on the NCHW data as it lies. The output is cut
//! into tiles that run as separate rayon tasks; each tile is first filled with the bias (plus the residual),
//! `gemm` accumulates into it (`read_dst`), and the activation runs on the tile while it is still in cache. Burn's
//! own 1×1 path zeroes the output, runs `gemm`, then adds the bias in a separate single-threaded pass.
//!
//! The squeeze-excite gate `g[k]` scales the input channels: `W·(x ⊙ g) = (W ⊙ gᵀ)·x`. Whichever of the two
//! products is smaller is materialised per sample: the gated weights (`m·k`) for the wide early layers, the
//! gated input (`k·n`) for the late layers whose maps are smaller than their channel count.

use std::borrow::Cow;

use rayon::prelude::*;

use super::activation::{self, Activation};
use super::cpu::Level;

/// A 1×1 convolution over `[batch, in_channels, spatial]` giving `[batch, out_channels, spatial]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointwiseShape {
    pub batch: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    /// `h · w`
    pub spatial: usize,
}

/// The optional parts of a fused 1×1 convolution.
#[derive(Debug, Clone, Copy, Default)]
pub struct PointwiseExtras<'a> {
    /// `[out_channels]`
    pub bias: Option<&'a [f32]>,
    /// Squeeze-excite gate on the input channels, `[batch, in_channels]`.
    pub gate: Option<&'a [f32]>,
}

/// One sample's weights or input, borrowed unless the gate had to be folded into it.
type Operand<'a> = Cow<'a, [f32]>;

/// A raw pointer that may cross rayon tasks; every task writes its own disjoint tile.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: the pointer is only dereferenced inside `pointwise_into`, whose tiles are pairwise disjoint, and the
// buffer outlives the parallel loop that uses it.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// Through a method, so that closures capture the `Send` wrapper rather than its raw field.
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// Tile edge lengths `(rows, columns)`: about 32 k floats (128 KiB, inside a core's L2) per tile, with enough
/// tiles for every thread.
fn tile_size(m: usize, n: usize, tasks_per_sample_min: usize) -> (usize, usize) {
    let nb = if n <= 512 { n } else { 256 };
    let mut mb = (32 * 1024 / nb.max(1)).clamp(16, 512) / 8 * 8;
    let tiles = |mb: usize| m.div_ceil(mb) * n.div_ceil(nb);
    while mb > 16 && tiles(mb) < tasks_per_sample_min {
        mb /= 2;
    }
    (mb.min(m).max(1), nb.max(1))
}

/// `act(W · (x ⊙ gate) + bias)`, as a new `[batch, out_channels, spatial]` buffer.
pub fn pointwise(
    level: Level,
    shape: &PointwiseShape,
    x: &[f32],
    weight: &[f32],
    extras: PointwiseExtras<'_>,
    act: Activation,
) -> Vec<f32> {
    let mut out = vec![0f32; shape.batch * shape.out_channels * shape.spatial];
    pointwise_into(level, shape, x, weight, extras, act, &mut out, false);
    out
}

/// Like [`pointwise`], into `out`; with `accumulate`, `out` holds a residual on entry and the result is
/// `act(W · (x ⊙ gate) + bias) + residual` (for an identity activation, the residual is simply where `gemm`
/// starts accumulating).
///
/// # Panics
/// If a slice length does not match `shape` (a programming error: callers derive both from the same tensors).
#[allow(clippy::too_many_arguments)]
pub fn pointwise_into(
    level: Level,
    shape: &PointwiseShape,
    x: &[f32],
    weight: &[f32],
    extras: PointwiseExtras<'_>,
    act: Activation,
    out: &mut [f32],
    accumulate: bool,
) {
    let PointwiseShape { batch, in_channels: k, out_channels: m, spatial: n } = *shape;
    assert_eq!(x.len(), batch * k * n, "pointwise: input length");
    assert_eq!(weight.len(), m * k, "pointwise: weight length");
    assert_eq!(out.len(), batch * m * n, "pointwise: output length");
    if let Some(b) = extras.bias {
        assert_eq!(b.len(), m, "pointwise: bias length");
    }
    if let Some(g) = extras.gate {
        assert_eq!(g.len(), batch * k, "pointwise: gate length");
    }
    if out.is_empty() {
        return;
    }
    let level = level.supported();

    // Per-sample operands with the gate folded into the smaller of the two.
    let (weights, inputs): (Vec<Operand>, Vec<Operand>) = (0..batch)
        .map(|b| {
            let xb = &x[b * k * n..(b + 1) * k * n];
            match extras.gate {
                None => (Cow::Borrowed(weight), Cow::Borrowed(xb)),
                Some(g) => {
                    let g = &g[b * k..(b + 1) * k];
                    if m <= n {
                        let w: Vec<f32> = weight
                            .chunks_exact(k.max(1))
                            .flat_map(|row| row.iter().zip(g).map(|(w, g)| w * g))
                            .collect();
                        (Cow::Owned(w), Cow::Borrowed(xb))
                    } else {
                        let xg: Vec<f32> =
                            xb.chunks_exact(n).zip(g).flat_map(|(row, &g)| row.iter().map(move |v| v * g)).collect();
                        (Cow::Borrowed(weight), Cow::Owned(xg))
                    }
                }
            }
        })
        .unzip();

    let threads = rayon::current_num_threads();
    let (mb, nb) = tile_size(m, n, (4 * threads).div_ceil(batch));
    let tiles: Vec<(usize, usize, usize)> = (0..batch)
        .flat_map(|b| (0..m.div_ceil(mb)).flat_map(move |i| (0..n.div_ceil(nb)).map(move |j| (b, i * mb, j * nb))))
        .collect();
    let dst = SendPtr(out.as_mut_ptr());
    tiles.into_par_iter().for_each(|(b, m0, n0)| {
        let rows = mb.min(m - m0);
        let cols = nb.min(n - n0);
        let base = b * m * n + m0 * n + n0;
        // SAFETY: tile (b, m0, n0) covers rows m0..m0+rows and columns n0..n0+cols of sample b, inside `out`
        // (checked lengths above) and disjoint from every other tile; each row is a separate `&mut` slice.
        let row = |r: usize| unsafe { std::slice::from_raw_parts_mut(dst.get().add(base + r * n), cols) };
        let residual: Option<Vec<f32>> =
            (accumulate && act != Activation::Identity).then(|| (0..rows).flat_map(|r| row(r).to_vec()).collect());
        for r in 0..rows {
            let bias = extras.bias.map_or(0.0, |bias| bias[m0 + r]);
            let dst_row = row(r);
            if accumulate && act == Activation::Identity {
                dst_row.iter_mut().for_each(|v| *v += bias);
            } else {
                dst_row.fill(bias);
            }
        }
        if k > 0 {
            let (w, xb) = (&weights[b], &inputs[b]);
            // SAFETY: lhs is rows×k inside `w` (row stride k, starting at row m0 < m); rhs is k×cols inside the
            // sample's `[k, n]` input (row stride n, starting at column n0, n0 + cols ≤ n); dst is the tile above.
            unsafe {
                gemm::gemm(
                    rows,
                    cols,
                    k,
                    dst.get().add(base),
                    1,
                    n as isize,
                    true,
                    w.as_ptr().add(m0 * k),
                    1,
                    k as isize,
                    xb.as_ptr().add(n0),
                    1,
                    n as isize,
                    1.0f32,
                    1.0f32,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
        if act != Activation::Identity {
            for r in 0..rows {
                let dst_row = row(r);
                activation::apply(level, act, dst_row);
                if let Some(res) = &residual {
                    dst_row.iter_mut().zip(&res[r * cols..(r + 1) * cols]).for_each(|(v, r)| *v += r);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_small_and_large_maps() {
        let (mb, nb) = tile_size(32, 36100, 8);
        assert_eq!((mb, nb), (32, 256));
        let (mb, nb) = tile_size(3840, 144, 8);
        assert_eq!(nb, 144);
        assert!(mb % 8 == 0 && mb * nb <= 32 * 1024 && 3840_usize.div_ceil(mb) >= 8);
    }

    #[test]
    fn identity_weights_add_bias_gate_and_residual() {
        // k = m = 2, n = 3: W = I, so out = x ⊙ g + b + residual.
        let shape = PointwiseShape { batch: 1, in_channels: 2, out_channels: 2, spatial: 3 };
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let w = [1.0, 0.0, 0.0, 1.0];
        let extras = PointwiseExtras { bias: Some(&[10.0, 20.0]), gate: Some(&[2.0, 0.5]) };
        for level in Level::available() {
            let mut out = vec![1.0f32; 6];
            pointwise_into(level, &shape, &x, &w, extras, Activation::Identity, &mut out, true);
            assert_eq!(out, vec![13.0, 15.0, 17.0, 23.0, 23.5, 24.0]);
        }
    }
}
