//! Depthwise convolution (one k×k filter per channel) with its padding, bias, activation and the squeeze-excite
//! pooling sums in one pass over the output.
//!
//! Burn pads the whole input tensor for TF-SAME's asymmetric padding, then convolves, then adds the bias, then
//! runs the activation and the SE mean as separate passes. Here each output row is accumulated in place: for
//! every kernel tap the range of output columns whose input column lies inside the image is computed, so the
//! padding costs nothing and the inner loop is a plain `row += w · input_row` that the compiler vectorises for
//! the dispatch level's instruction set. Stride 2 first splits the input row into its even and odd columns, which
//! turns the strided read back into a contiguous one.

use rayon::prelude::*;

use super::activation::{self, Activation};
use super::cpu::Level;

/// Geometry of a depthwise convolution over an NCHW tensor. Padding is explicit per side, so TF-SAME's extra
/// bottom/right pixel and PyTorch's symmetric `k // 2` are both just values here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthwiseShape {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: usize,
    pub stride: usize,
    /// `[top, left, bottom, right]`
    pub padding: [usize; 4],
}

impl DepthwiseShape {
    /// `(out_height, out_width)`; `(0, 0)` when the padded input is smaller than the kernel.
    pub fn out_size(&self) -> (usize, usize) {
        let [top, left, bottom, right] = self.padding;
        let out = |size: usize, a: usize, b: usize| {
            let padded = size + a + b;
            if padded < self.kernel || self.stride == 0 {
                0
            } else {
                (padded - self.kernel) / self.stride + 1
            }
        };
        (out(self.height, top, bottom), out(self.width, left, right))
    }

    /// TensorFlow's SAME padding for this size, kernel and stride: total `max((⌈n/s⌉−1)·s + k − n, 0)`, the odd
    /// pixel at the end (bottom/right), as timm's `Conv2dSame` and Burn's `PaddingConfig2d::Same` do.
    pub fn same_padding(height: usize, width: usize, kernel: usize, stride: usize) -> [usize; 4] {
        let pads = |n: usize| {
            let out = n.div_ceil(stride.max(1));
            let total = (out.saturating_sub(1) * stride + kernel).saturating_sub(n);
            (total / 2, total - total / 2)
        };
        let (top, bottom) = pads(height);
        let (left, right) = pads(width);
        [top, left, bottom, right]
    }
}

/// The output `[batch, channels, oh, ow]` and, when asked for, the per-(sample, channel) mean of the activated
/// output (the squeeze-excite pooling).
pub struct DepthwiseOutput {
    pub values: Vec<f32>,
    pub means: Option<Vec<f32>>,
}

/// `act(depthwise(x, weight) + bias)`, with `weight` `[channels, k, k]`, `bias` `[channels]`.
///
/// # Panics
/// If a slice length does not match `shape` (a programming error: the callers derive both from one tensor).
pub fn depthwise(
    level: Level,
    shape: &DepthwiseShape,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    want_means: bool,
) -> DepthwiseOutput {
    let DepthwiseShape { batch, channels, height, width, kernel, .. } = *shape;
    assert_eq!(x.len(), batch * channels * height * width, "depthwise: input length");
    assert_eq!(weight.len(), channels * kernel * kernel, "depthwise: weight length");
    if let Some(b) = bias {
        assert_eq!(b.len(), channels, "depthwise: bias length");
    }
    assert!(shape.stride > 0, "depthwise: stride 0");
    let (oh, ow) = shape.out_size();
    let plane_out = oh * ow;
    let plane_in = height * width;
    let mut values = vec![0f32; batch * channels * plane_out];
    if values.is_empty() {
        let means = want_means.then(|| vec![0f32; batch * channels]);
        return DepthwiseOutput { values, means };
    }
    let level = level.supported();
    // Small planes (B7's last stages are 12×12) are grouped so that a task is worth scheduling.
    let min_len = (8192 / plane_out.max(1)).max(1);
    let sums: Vec<f32> = values
        .par_chunks_mut(plane_out)
        .enumerate()
        .with_min_len(min_len)
        .map(|(p, out)| {
            let c = p % channels;
            let input = &x[p * plane_in..(p + 1) * plane_in];
            let w = &weight[c * kernel * kernel..(c + 1) * kernel * kernel];
            let b = bias.map_or(0.0, |b| b[c]);
            plane(level, shape, input, w, b, act, out, want_means)
        })
        .collect();
    let means = want_means.then(|| sums.iter().map(|s| s / plane_out as f32).collect());
    DepthwiseOutput { values, means }
}

/// One (sample, channel) plane at `level`; returns the sum of the activated output (0 unless `want_sum`).
#[allow(clippy::too_many_arguments)]
fn plane(
    level: Level,
    shape: &DepthwiseShape,
    input: &[f32],
    weight: &[f32],
    bias: f32,
    act: Activation,
    out: &mut [f32],
    want_sum: bool,
) -> f32 {
    match level {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `level` came from `Level::supported`, so the CPU has AVX-512F.
        Level::Avx512 => unsafe { x86::plane_avx512(level, shape, input, weight, bias, act, out, want_sum) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `level` came from `Level::supported`, so the CPU has AVX2 and FMA.
        Level::Avx2 => unsafe { x86::plane_avx2(level, shape, input, weight, bias, act, out, want_sum) },
        _ => plane_body::<false>(level, shape, input, weight, bias, act, out, want_sum),
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn plane_avx2(
        level: Level,
        shape: &DepthwiseShape,
        input: &[f32],
        weight: &[f32],
        bias: f32,
        act: Activation,
        out: &mut [f32],
        want_sum: bool,
    ) -> f32 {
        plane_body::<true>(level, shape, input, weight, bias, act, out, want_sum)
    }

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) fn plane_avx512(
        level: Level,
        shape: &DepthwiseShape,
        input: &[f32],
        weight: &[f32],
        bias: f32,
        act: Activation,
        out: &mut [f32],
        want_sum: bool,
    ) -> f32 {
        plane_body::<true>(level, shape, input, weight, bias, act, out, want_sum)
    }
}

/// `acc += w · src`, element by element; with `FMA` as fused multiply-adds (only inside FMA-enabled builds: the
/// scalar build would call the slow software `fmaf`).
#[inline(always)]
fn axpy<const FMA: bool>(acc: &mut [f32], src: &[f32], w: f32) {
    for (a, &s) in acc.iter_mut().zip(src) {
        *a = if FMA { s.mul_add(w, *a) } else { *a + s * w };
    }
}

/// Sum with eight independent partial sums, so that it vectorises (a single running sum cannot be reordered).
#[inline(always)]
fn sum8(row: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// Output columns `ox` for which `ox + offset` indexes into a row of length `len`, clipped to `0..ow`.
#[inline(always)]
fn valid_range(offset: isize, len: usize, ow: usize) -> (usize, usize) {
    let lo = (-offset).max(0) as usize;
    let hi = (len as isize - offset).clamp(0, ow as isize) as usize;
    (lo.min(hi), hi)
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn plane_body<const FMA: bool>(
    level: Level,
    shape: &DepthwiseShape,
    input: &[f32],
    weight: &[f32],
    bias: f32,
    act: Activation,
    out: &mut [f32],
    want_sum: bool,
) -> f32 {
    let DepthwiseShape { height, width, kernel: k, stride, padding: [top, left, _, _], .. } = *shape;
    let (oh, ow) = shape.out_size();
    if stride == 1 && ow < NARROW {
        return narrow_plane::<FMA>(level, shape, input, weight, bias, act, out, want_sum);
    }
    // Even and odd columns of every input row (stride 2 only), split once per plane.
    let (we, wo) = if stride == 2 { (width.div_ceil(2), width / 2) } else { (0, 0) };
    let mut even = vec![0f32; we * height];
    let mut odd = vec![0f32; wo * height];
    if stride == 2 {
        for (y, row) in input.chunks_exact(width).enumerate() {
            for (j, pair) in row.chunks(2).enumerate() {
                even[y * we + j] = pair[0];
                if let Some(&v) = pair.get(1) {
                    odd[y * wo + j] = v;
                }
            }
        }
    }
    let mut sum = 0f32;
    for (oy, row) in out.chunks_exact_mut(ow).enumerate().take(oh) {
        row.fill(bias);
        for kh in 0..k {
            let iy = (oy * stride + kh) as isize - top as isize;
            if iy < 0 || iy >= height as isize {
                continue;
            }
            let src = &input[iy as usize * width..(iy as usize + 1) * width];
            let taps = &weight[kh * k..(kh + 1) * k];
            match stride {
                1 => {
                    for (kw, &w) in taps.iter().enumerate() {
                        let offset = kw as isize - left as isize;
                        let (lo, hi) = valid_range(offset, width, ow);
                        if lo < hi {
                            let s0 = (lo as isize + offset) as usize;
                            axpy::<FMA>(&mut row[lo..hi], &src[s0..s0 + (hi - lo)], w);
                        }
                    }
                }
                2 => {
                    let iy = iy as usize;
                    let (ev, od) = (&even[iy * we..(iy + 1) * we], &odd[iy * wo..(iy + 1) * wo]);
                    for (kw, &w) in taps.iter().enumerate() {
                        // Input column 2·ox + t = 2·(ox + half) + parity.
                        let t = kw as isize - left as isize;
                        let (half, part) = (t.div_euclid(2), if t.rem_euclid(2) == 0 { ev } else { od });
                        let (lo, hi) = valid_range(half, part.len(), ow);
                        if lo < hi {
                            let s0 = (lo as isize + half) as usize;
                            axpy::<FMA>(&mut row[lo..hi], &part[s0..s0 + (hi - lo)], w);
                        }
                    }
                }
                _ => {
                    for (ox, acc) in row.iter_mut().enumerate() {
                        for (kw, &w) in taps.iter().enumerate() {
                            let ix = (ox * stride + kw) as isize - left as isize;
                            if ix >= 0 && (ix as usize) < width {
                                *acc += w * src[ix as usize];
                            }
                        }
                    }
                }
            }
        }
        activation::apply(level, act, row);
        if want_sum {
            sum += sum8(row);
        }
    }
    sum
}

/// Below this output width a row is too short to vectorise well (B7's 12×12 and 24×24 maps), so the plane is
/// convolved as one flat array instead.
const NARROW: usize = 32;

/// Stride 1 on a narrow plane: copy it once into a zero-padded buffer of row length `wp`; then every output
/// `(oy, ox)` is `Σ w[kh][kw] · P[(oy + kh)·wp + ox + kw]`, so each tap is one long contiguous `axpy` over the
/// flattened plane (the `wp − ow` columns between rows are computed and dropped).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn narrow_plane<const FMA: bool>(
    level: Level,
    shape: &DepthwiseShape,
    input: &[f32],
    weight: &[f32],
    bias: f32,
    act: Activation,
    out: &mut [f32],
    want_sum: bool,
) -> f32 {
    let DepthwiseShape { height, width, kernel: k, padding: [top, left, bottom, right], .. } = *shape;
    let (oh, ow) = shape.out_size();
    let (hp, wp) = (height + top + bottom, width + left + right);
    let mut padded = vec![0f32; hp * wp];
    for (y, row) in input.chunks_exact(width).enumerate() {
        padded[(y + top) * wp + left..][..width].copy_from_slice(row);
    }
    let len = (oh - 1) * wp + ow;
    let mut flat = vec![bias; len];
    for kh in 0..k {
        for kw in 0..k {
            let offset = kh * wp + kw;
            axpy::<FMA>(&mut flat, &padded[offset..offset + len], weight[kh * k + kw]);
        }
    }
    for (oy, row) in out.chunks_exact_mut(ow).enumerate().take(oh) {
        row.copy_from_slice(&flat[oy * wp..oy * wp + ow]);
    }
    let out = &mut out[..oh * ow];
    activation::apply(level, act, out);
    if want_sum {
        sum8(out)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_puts_the_odd_pixel_at_the_end() {
        // k3 s2 on 190: out 95, total (94·2 + 3) − 190 = 1 → (0, 1).
        assert_eq!(DepthwiseShape::same_padding(190, 190, 3, 2), [0, 0, 1, 1]);
        // k5 s2 on 95: out 48, total 47·2 + 5 − 95 = 4 → (2, 2).
        assert_eq!(DepthwiseShape::same_padding(95, 95, 5, 2), [2, 2, 2, 2]);
        // k5 s1: symmetric 2.
        assert_eq!(DepthwiseShape::same_padding(23, 12, 5, 1), [2, 2, 2, 2]);
    }

    #[test]
    fn a_centred_one_hot_kernel_copies_the_input() {
        let shape =
            DepthwiseShape { batch: 1, channels: 1, height: 3, width: 4, kernel: 3, stride: 1, padding: [1; 4] };
        let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let mut w = vec![0f32; 9];
        w[4] = 1.0;
        for level in Level::available() {
            let out = depthwise(level, &shape, &x, &w, Some(&[0.5]), Activation::Identity, true);
            assert_eq!(out.values, x.iter().map(|v| v + 0.5).collect::<Vec<_>>());
            assert_eq!(out.means.unwrap(), vec![6.0]);
        }
    }
}
