//! Max-pooling with a square window, no padding and PyTorch's ceil mode (MTCNN's pools: 2×2 and 3×3, stride 2).
//!
//! Burn's flex computes it as a 3-D pool that also records the arg-max of every window; PNet's first pool alone
//! was 16 % of a frame's detection. Here each output row is the element-wise maximum of its window's input rows
//! (one vectorisable pass), then the maximum of each window of that row.

use rayon::prelude::*;

/// Output length of a ceil-mode pool over `len` values, as PyTorch computes it: `⌈(len − k) / s⌉ + 1`, less one
/// when the last window would start past the input (possible only with padding, kept for the rule's sake); 0 when
/// the input is shorter than the window.
pub fn ceil_out(len: usize, kernel: usize, stride: usize) -> usize {
    if len < kernel || kernel == 0 || stride == 0 {
        return 0;
    }
    let mut out = (len - kernel).div_ceil(stride) + 1;
    if (out - 1) * stride >= len {
        out -= 1;
    }
    out
}

/// Max-pool of `planes` planes of `h × w` (`x` is `[planes, h, w]`), window `kernel`, `stride`, ceil mode:
/// windows at the right and bottom edges are cut to the input. Returns `[planes, oh, ow]` and `(oh, ow)`.
///
/// # Panics
/// If `x.len() != planes · h · w` (a programming error: the caller derives both from one tensor).
pub fn max_pool_ceil(
    x: &[f32],
    planes: usize,
    h: usize,
    w: usize,
    kernel: usize,
    stride: usize,
) -> (Vec<f32>, (usize, usize)) {
    assert_eq!(x.len(), planes * h * w, "max pool: input length");
    let (oh, ow) = (ceil_out(h, kernel, stride), ceil_out(w, kernel, stride));
    let mut out = vec![0f32; planes * oh * ow];
    if out.is_empty() {
        return (out, (oh, ow));
    }
    let min_len = (16384 / (oh * ow)).max(1);
    out.par_chunks_mut(oh * ow).enumerate().with_min_len(min_len).for_each(|(p, o)| {
        let input = &x[p * h * w..(p + 1) * h * w];
        let mut row = vec![0f32; w];
        for (oy, orow) in o.chunks_exact_mut(ow).enumerate() {
            let y0 = oy * stride;
            let y1 = (y0 + kernel).min(h);
            row.copy_from_slice(&input[y0 * w..(y0 + 1) * w]);
            for y in y0 + 1..y1 {
                for (r, &v) in row.iter_mut().zip(&input[y * w..(y + 1) * w]) {
                    // `max` that keeps a NaN, as torch's max-pool does.
                    *r = if v > *r || v.is_nan() { v } else { *r };
                }
            }
            for (ox, out) in orow.iter_mut().enumerate() {
                let x0 = ox * stride;
                let window = &row[x0..(x0 + kernel).min(w)];
                *out = window.iter().skip(1).fold(window[0], |m, &v| if v > m || v.is_nan() { v } else { m });
            }
        }
    });
    (out, (oh, ow))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_sizes_follow_torch_ceil_mode() {
        // torch.nn.MaxPool2d(k, 2, ceil_mode=True) on MTCNN's maps: PNet 322 → 161, RNet 22 → 11, ONet 46 → 23,
        // 21 → 10, 8 → 4; an odd 23 with k 2 → 12.
        assert_eq!(ceil_out(322, 2, 2), 161);
        assert_eq!(ceil_out(22, 3, 2), 11);
        assert_eq!(ceil_out(46, 3, 2), 23);
        assert_eq!(ceil_out(21, 3, 2), 10);
        assert_eq!(ceil_out(8, 2, 2), 4);
        assert_eq!(ceil_out(23, 2, 2), 12);
        assert_eq!(ceil_out(2, 3, 2), 0);
    }

    #[test]
    fn every_window_is_the_maximum_of_its_cut_input() {
        for &(planes, h, w, k, s) in &[(3, 23, 46, 2, 2), (2, 22, 22, 3, 2), (1, 21, 9, 3, 2), (4, 5, 4, 2, 2)] {
            let x: Vec<f32> = (0..planes * h * w).map(|i| ((i * 7919) % 1009) as f32 - 500.0).collect();
            let (got, (oh, ow)) = max_pool_ceil(&x, planes, h, w, k, s);
            for p in 0..planes {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut m = f32::NEG_INFINITY;
                        for y in oy * s..(oy * s + k).min(h) {
                            for xx in ox * s..(ox * s + k).min(w) {
                                m = m.max(x[(p * h + y) * w + xx]);
                            }
                        }
                        assert_eq!(got[(p * oh + oy) * ow + ox], m, "plane {p} ({oy}, {ox}) of {h}×{w} k{k}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_nan_in_a_window_is_kept() {
        let x = [1.0, f32::NAN, 3.0, 4.0];
        let (got, size) = max_pool_ceil(&x, 1, 2, 2, 2, 2);
        assert_eq!(size, (1, 1));
        assert!(got[0].is_nan());
    }
}
