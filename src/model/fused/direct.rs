//! Unpadded stride-1 convolutions with few channels (MTCNN's: 3→10, 10→16, 16→32, … 64→128, kernels 2 and 3)
//! with the bias and a per-channel PReLU in the same pass.
//!
//! Burn's flex goes through an NHWC copy, im2col tiles and a gemm per tile, which for these thin shapes costs more
//! than the arithmetic, then a separate PReLU pass. Here the output is computed directly: over the output plane
//! laid out at the *input's* width (so that every kernel tap reads a contiguous run of the input, and the columns
//! past the output's width are computed and dropped), `BLOCK` output channels × `W` positions are accumulated in
//! registers, one tap at a time. Each loaded input vector feeds `BLOCK` multiply-adds.

use rayon::prelude::*;

use super::cpu::Level;

/// Output channels accumulated together.
const BLOCK: usize = 4;

/// Geometry of an unpadded stride-1 convolution over an NCHW tensor, square kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectShape {
    pub batch: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: usize,
}

impl DirectShape {
    /// `(out_height, out_width)`; `(0, 0)` when the input is smaller than the kernel.
    pub fn out_size(&self) -> (usize, usize) {
        if self.kernel == 0 || self.height < self.kernel || self.width < self.kernel {
            return (0, 0);
        }
        (self.height - self.kernel + 1, self.width - self.kernel + 1)
    }
}

/// `prelu(conv(x, weight) + bias)` `[batch, in, h, w] -> [batch, out, h-k+1, w-k+1]`, with `weight`
/// `[out, in, k, k]`, `bias` `[out]` and PReLU slopes `alpha` `[out]` (`max(v, 0) + a·min(v, 0)`, as torch's
/// `v > 0 ? v : a·v`); without `alpha` no activation.
///
/// # Panics
/// If a slice length does not match `shape` (a programming error: the callers derive both from one tensor).
pub fn conv_prelu(
    level: Level,
    shape: &DirectShape,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    alpha: Option<&[f32]>,
) -> Vec<f32> {
    let DirectShape { batch, in_channels: ci, out_channels: co, height: h, width: w, kernel: k } = *shape;
    assert_eq!(x.len(), batch * ci * h * w, "direct conv: input length");
    assert_eq!(weight.len(), co * ci * k * k, "direct conv: weight length");
    assert!(bias.is_none_or(|b| b.len() == co), "direct conv: bias length");
    assert!(alpha.is_none_or(|a| a.len() == co), "direct conv: alpha length");
    let (oh, ow) = shape.out_size();
    let plane = oh * ow;
    let mut out = vec![0f32; batch * co * plane];
    if out.is_empty() {
        return out;
    }
    // Weights regrouped per block of output channels, tap-major: `[block][ci·k·k][BLOCK]` (zeros past `co`), so
    // the inner loop reads BLOCK consecutive weights per tap.
    let taps = ci * k * k;
    let blocks = co.div_ceil(BLOCK);
    let mut packed = vec![0f32; blocks * taps * BLOCK];
    for o in 0..co {
        for t in 0..taps {
            packed[(o / BLOCK) * taps * BLOCK + t * BLOCK + o % BLOCK] = weight[o * taps + t];
        }
    }
    let params = |o: usize| (bias.map_or(0.0, |b| b[o]), alpha.map(|a| a[o]));
    let level = level.supported();
    // One task per (sample, block of output channels): its planes are one contiguous run of the output.
    let sample_out = co * plane;
    out.par_chunks_mut(sample_out).enumerate().for_each(|(n, sample)| {
        let input = &x[n * ci * h * w..(n + 1) * ci * h * w];
        sample.par_chunks_mut(BLOCK * plane).enumerate().for_each(|(b, planes)| {
            let first = b * BLOCK;
            let count = planes.len() / plane;
            let mut bias_b = [0f32; BLOCK];
            let mut alpha_b = [None; BLOCK];
            for j in 0..count {
                (bias_b[j], alpha_b[j]) = params(first + j);
            }
            let wb = &packed[b * taps * BLOCK..(b + 1) * taps * BLOCK];
            let job = Block { shape, input, weights: wb, bias: bias_b, alpha: alpha_b, count };
            run_block(level, &job, planes);
        });
    });
    out
}

/// One sample's block of output channels.
struct Block<'a> {
    shape: &'a DirectShape,
    /// The sample's `[in, h, w]`.
    input: &'a [f32],
    /// `[ci·k·k][BLOCK]`
    weights: &'a [f32],
    bias: [f32; BLOCK],
    alpha: [Option<f32>; BLOCK],
    /// Output channels of the block that exist (the last block may be short).
    count: usize,
}

fn run_block(level: Level, job: &Block<'_>, planes: &mut [f32]) {
    match level {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `level` came from `Level::supported`, so the CPU has AVX-512F.
        Level::Avx512 => unsafe { x86::block_avx512(job, planes) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `level` came from `Level::supported`, so the CPU has AVX2 and FMA.
        Level::Avx2 => unsafe { x86::block_avx2(job, planes) },
        _ => block_body::<8, false>(job, planes, 0),
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::*;

    /// 4 channels × 64 positions: 16 zmm accumulators; the last, shorter run goes through the generic body.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) fn block_avx512(job: &Block<'_>, planes: &mut [f32]) {
        let geometry = Geometry::of(job);
        let mut p0 = 0;
        let (input, weights) = (job.input.as_ptr(), job.weights.as_ptr());
        let mut out = [[0f32; 64]; BLOCK];
        while p0 + 64 <= geometry.positions {
            let mut acc = [[_mm512_setzero_ps(); 4]; BLOCK];
            for (j, a) in acc.iter_mut().enumerate() {
                *a = [_mm512_set1_ps(job.bias[j]); 4];
            }
            for (t, &off) in geometry.offsets.iter().enumerate() {
                // SAFETY: the loop keeps `p0 + 64 <= positions`, and the last position plus the largest offset is
                // the input's last index (`Geometry::of`), so all 64 values of every tap lie in `input`; `t` indexes
                // `taps · BLOCK` packed weights.
                unsafe {
                    let src = input.add(p0 + off);
                    let s = [
                        _mm512_loadu_ps(src),
                        _mm512_loadu_ps(src.add(16)),
                        _mm512_loadu_ps(src.add(32)),
                        _mm512_loadu_ps(src.add(48)),
                    ];
                    for (j, a) in acc.iter_mut().enumerate() {
                        let wv = _mm512_set1_ps(*weights.add(t * BLOCK + j));
                        for v in 0..4 {
                            a[v] = _mm512_fmadd_ps(s[v], wv, a[v]);
                        }
                    }
                }
            }
            for (o, a) in out.iter_mut().zip(&acc) {
                for (chunk, v) in o.chunks_exact_mut(16).zip(a) {
                    // SAFETY: `chunk` holds 16 values.
                    unsafe { _mm512_storeu_ps(chunk.as_mut_ptr(), *v) };
                }
            }
            finish_run(job, &mut out, 64, p0, &geometry, planes);
            p0 += 64;
        }
        block_body::<64, true>(job, planes, p0)
    }

    /// 4 channels × 16 positions: 8 ymm accumulators.
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn block_avx2(job: &Block<'_>, planes: &mut [f32]) {
        let geometry = Geometry::of(job);
        let mut p0 = 0;
        let (input, weights) = (job.input.as_ptr(), job.weights.as_ptr());
        let mut out = [[0f32; 16]; BLOCK];
        while p0 + 16 <= geometry.positions {
            let mut acc = [[_mm256_setzero_ps(); 2]; BLOCK];
            for (j, a) in acc.iter_mut().enumerate() {
                *a = [_mm256_set1_ps(job.bias[j]); 2];
            }
            for (t, &off) in geometry.offsets.iter().enumerate() {
                // SAFETY: as in `block_avx512`, with runs of 16.
                unsafe {
                    let src = input.add(p0 + off);
                    let s = [_mm256_loadu_ps(src), _mm256_loadu_ps(src.add(8))];
                    for (j, a) in acc.iter_mut().enumerate() {
                        let wv = _mm256_set1_ps(*weights.add(t * BLOCK + j));
                        for v in 0..2 {
                            a[v] = _mm256_fmadd_ps(s[v], wv, a[v]);
                        }
                    }
                }
            }
            for (o, a) in out.iter_mut().zip(&acc) {
                for (chunk, v) in o.chunks_exact_mut(8).zip(a) {
                    // SAFETY: `chunk` holds 8 values.
                    unsafe { _mm256_storeu_ps(chunk.as_mut_ptr(), *v) };
                }
            }
            finish_run(job, &mut out, 16, p0, &geometry, planes);
            p0 += 16;
        }
        block_body::<16, true>(job, planes, p0)
    }
}

/// Where a block's runs read and write.
struct Geometry {
    /// Valid positions `(oh − 1)·w + ow` of the plane laid out at the input's width.
    positions: usize,
    /// Offsets of the taps in the sample's input, in the order of the packed weights; the largest plus the last
    /// position is the input's last index.
    offsets: Vec<usize>,
    w: usize,
    ow: usize,
    plane: usize,
}

impl Geometry {
    fn of(job: &Block<'_>) -> Self {
        let DirectShape { in_channels: ci, height: h, width: w, kernel: k, .. } = *job.shape;
        let (oh, ow) = job.shape.out_size();
        let offsets =
            (0..ci).flat_map(|c| (0..k).flat_map(move |ky| (0..k).map(move |kx| c * h * w + ky * w + kx))).collect();
        Self { positions: (oh - 1) * w + ow, offsets, w, ow, plane: oh * ow }
    }
}

/// Positions `p` of the output plane at the input's width: `p = y·w + x`, valid where `x < ow`. The run of
/// positions `[p0, p0 + W)` reads, for tap `(c, ky, kx)`, the input run starting at `c·h·w + ky·w + kx + p0`; the
/// last position reads the input's last value, so only the final, shorter run needs bounds of its own. Starts at
/// position `from` (the SIMD builds do the full runs themselves and leave the rest to this body).
#[inline(always)]
fn block_body<const W: usize, const FMA: bool>(job: &Block<'_>, planes: &mut [f32], from: usize) {
    let geometry = Geometry::of(job);
    let positions = geometry.positions;
    let mut p0 = from;
    while p0 < positions {
        let n = W.min(positions - p0);
        let mut acc = [[0f32; W]; BLOCK];
        for (a, &b) in acc.iter_mut().zip(&job.bias) {
            *a = [b; W];
        }
        for (t, &off) in geometry.offsets.iter().enumerate() {
            let run = &job.input[p0 + off..p0 + off + n];
            for (acc_j, &wv) in acc.iter_mut().zip(&job.weights[t * BLOCK..(t + 1) * BLOCK]) {
                for (a, &v) in acc_j[..n].iter_mut().zip(run) {
                    *a = if FMA { v.mul_add(wv, *a) } else { *a + v * wv };
                }
            }
        }
        finish_run(job, &mut acc, n, p0, &geometry, planes);
        p0 += W;
    }
}

/// PReLU on the first `n` values of each existing channel's accumulator, then their valid positions stored.
#[inline(always)]
fn finish_run<const W: usize>(
    job: &Block<'_>,
    acc: &mut [[f32; W]; BLOCK],
    n: usize,
    p0: usize,
    geometry: &Geometry,
    planes: &mut [f32],
) {
    let plane = geometry.plane;
    for (j, a) in acc.iter_mut().enumerate().take(job.count) {
        if let Some(slope) = job.alpha[j] {
            for v in a[..n].iter_mut() {
                *v = v.max(0.0) + slope * v.min(0.0);
            }
        }
        store(&a[..n], p0, geometry.w, geometry.ow, &mut planes[j * plane..(j + 1) * plane]);
    }
}

/// Writes the valid positions of the run starting at `p0` (columns below `ow`) into the `[oh, ow]` plane.
#[inline(always)]
fn store(run: &[f32], p0: usize, w: usize, ow: usize, plane: &mut [f32]) {
    let end = p0 + run.len();
    let mut p = p0;
    while p < end {
        let (y, x) = (p / w, p % w);
        let row_end = (p - x + w).min(end);
        if x < ow {
            let stop = (p - x + ow).min(row_end);
            plane[y * ow + x..y * ow + x + (stop - p)].copy_from_slice(&run[p - p0..stop - p0]);
        }
        p = row_end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(shape: &DirectShape, x: &[f32], weight: &[f32], bias: &[f32], alpha: Option<&[f32]>) -> Vec<f64> {
        let DirectShape { batch, in_channels: ci, out_channels: co, height: h, width: w, kernel: k } = *shape;
        let (oh, ow) = shape.out_size();
        let mut out = vec![0f64; batch * co * oh * ow];
        for n in 0..batch {
            for o in 0..co {
                for y in 0..oh {
                    for xx in 0..ow {
                        let mut s = bias[o] as f64;
                        for c in 0..ci {
                            for ky in 0..k {
                                for kx in 0..k {
                                    s += weight[((o * ci + c) * k + ky) * k + kx] as f64
                                        * x[((n * ci + c) * h + y + ky) * w + xx + kx] as f64;
                                }
                            }
                        }
                        if let Some(a) = alpha {
                            s = if s > 0.0 { s } else { a[o] as f64 * s };
                        }
                        out[((n * co + o) * oh + y) * ow + xx] = s;
                    }
                }
            }
        }
        out
    }

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| (((i * 7919 + seed * 104729) % 2003) as f32 / 1001.5) - 1.0).collect()
    }

    #[test]
    fn matches_f64_at_every_level_on_mtcnn_and_odd_shapes() {
        // (batch, in, out, h, w, k): MTCNN's layers, and sizes and channel counts that fit no vector or block.
        let cases = [
            (1, 3, 10, 23, 46, 3),
            (3, 10, 16, 12, 24, 3),
            (1, 16, 32, 13, 95, 3),
            (2, 3, 28, 24, 24, 3),
            (3, 48, 64, 4, 4, 2),
            (1, 64, 128, 4, 4, 2),
            (2, 5, 7, 3, 3, 3),
            (1, 3, 10, 190, 12, 3),
        ];
        for level in Level::available() {
            for (i, &(batch, ci, co, h, w, k)) in cases.iter().enumerate() {
                let shape = DirectShape { batch, in_channels: ci, out_channels: co, height: h, width: w, kernel: k };
                let x = values(batch * ci * h * w, i);
                let weight: Vec<f32> = values(co * ci * k * k, i + 100).iter().map(|v| v * 0.3).collect();
                let bias = values(co, i + 200);
                let alpha: Vec<f32> = values(co, i + 300).iter().map(|v| v * 0.5).collect();
                for with_alpha in [false, true] {
                    let a = with_alpha.then_some(alpha.as_slice());
                    let got = conv_prelu(level, &shape, &x, &weight, Some(&bias), a);
                    let want = reference(&shape, &x, &weight, &bias, a);
                    assert_eq!(got.len(), want.len());
                    for (j, (g, r)) in got.iter().zip(&want).enumerate() {
                        let tol = 1e-5 * (1.0 + r.abs());
                        assert!((*g as f64 - r).abs() <= tol, "{level:?} case {i} at {j}: {g} vs {r}");
                    }
                }
            }
        }
    }

    #[test]
    fn an_input_smaller_than_the_kernel_gives_an_empty_output() {
        let shape = DirectShape { batch: 1, in_channels: 1, out_channels: 2, height: 2, width: 5, kernel: 3 };
        assert!(conv_prelu(Level::current(), &shape, &[0.0; 10], &[0.0; 18], None, None).is_empty());
    }
}
