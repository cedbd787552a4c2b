//! torch `interpolate(x.float(), size, mode="area")`, the resampler inside facenet-pytorch's MTCNN: the
//! image pyramid of stage 1 and the 24×24 / 48×48 crops of stages 2 and 3, enlarging small crops too
//! (dfdc-solution.md §6.2, §6.3, §9.3).
//!
//! "area" is `adaptive_avg_pool2d`: output bin `i` of `out` averages input `[floor(i·in/out),
//! ceil((i+1)·in/out))`, so neighbouring bins overlap when `out` does not divide `in`, and every input
//! pixel is repeated when enlarging. Torch sums each window in f32 (row by row) and divides by `kh`, then
//! by `kw`; with 8-bit inputs every partial sum is an integer below 2²⁴ (windows up to 65 793 pixels), so
//! the f32 sum is exact in any order and this integer version gives torch's bits. A 1×1 output is
//! `mean()` in torch: the same sum divided once by `kh·kw`.

use image::RgbImage;

use crate::imaging::ImagingError;

/// Area-resample the crop `rect = (x0, y0, x1, y1)` (pixels, end-exclusive) of `src` to `out_h`×`out_w`.
///
/// Returns the 3 planes `[3, out_h, out_w]` (R, G, B; row-major) as f32 values in 0..=255, not
/// normalised — MTCNN applies `(x − 127.5) · 0.0078125` afterwards. For the pyramid pass the whole
/// frame, `(0, 0, w, h)`; for the refinement stages the `pad()` rectangle `(x − 1, y − 1, ex, ey)`.
pub fn resize_to_planar(
    src: &RgbImage,
    rect: (u32, u32, u32, u32),
    out_h: usize,
    out_w: usize,
) -> Result<Vec<f32>, ImagingError> {
    let (x0, y0, x1, y1) = rect;
    let (width, height) = src.dimensions();
    if x0 >= x1 || y0 >= y1 || x1 > width || y1 > height {
        return Err(ImagingError::BadRect { rect, width, height });
    }
    let plane = out_h * out_w;
    let mut out = vec![0f32; 3 * plane];
    if plane == 0 {
        return Ok(out);
    }
    let (in_w, in_h) = ((x1 - x0) as usize, (y1 - y0) as usize);
    let cols = bins(in_w, out_w);
    let rows = bins(in_h, out_h);
    let mean_only = out_h == 1 && out_w == 1;

    let stride = width as usize * 3;
    let raw = src.as_raw();
    // Per output row: first the column sums over the row bin (contiguous, vectorisable), then the column
    // bins over those sums. Integer sums are exact, so the order does not change any bit.
    let mut colsum = vec![0u32; in_w * 3];
    let (r_plane, rest) = out.split_at_mut(plane);
    let (g_plane, b_plane) = rest.split_at_mut(plane);
    for (oh, &(ih0, ih1)) in rows.iter().enumerate() {
        colsum.fill(0);
        for ih in ih0..ih1 {
            let line = &raw[(y0 as usize + ih) * stride + x0 as usize * 3..][..in_w * 3];
            for (s, &p) in colsum.iter_mut().zip(line) {
                *s += u32::from(p);
            }
        }
        let kh = (ih1 - ih0) as f32;
        let base = oh * out_w;
        for (ow, &(iw0, iw1)) in cols.iter().enumerate() {
            // u64: a window of more than 2^24 pixels would overflow u32 (torch's f32 sum rounds there).
            let (mut r, mut g, mut b) = (0u64, 0u64, 0u64);
            for p in colsum[iw0 * 3..iw1 * 3].chunks_exact(3) {
                r += u64::from(p[0]);
                g += u64::from(p[1]);
                b += u64::from(p[2]);
            }
            let kw = (iw1 - iw0) as f32;
            let avg = |s: u64| {
                if mean_only {
                    s as f32 / (kh * kw)
                } else {
                    s as f32 / kh / kw
                }
            };
            r_plane[base + ow] = avg(r);
            g_plane[base + ow] = avg(g);
            b_plane[base + ow] = avg(b);
        }
    }
    Ok(out)
}

/// `[start_index(i), end_index(i))` of ATen's adaptive pooling for every output index.
fn bins(input: usize, output: usize) -> Vec<(usize, usize)> {
    (0..output)
        .map(|i| {
            let start = (i * input) / output;
            let end = ((i + 1) * input).div_ceil(output);
            (start, end)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_overlap_when_the_size_does_not_divide() {
        assert_eq!(bins(5, 3), [(0, 2), (1, 4), (3, 5)]);
        assert_eq!(bins(4, 2), [(0, 2), (2, 4)]);
        // Enlarging repeats pixels.
        assert_eq!(bins(2, 5), [(0, 1), (0, 1), (0, 2), (1, 2), (1, 2)]);
    }

    #[test]
    fn averages_each_bin_per_channel() {
        let src = RgbImage::from_fn(4, 2, |x, y| image::Rgb([(x + 4 * y) as u8, 10, 0]));
        let out = resize_to_planar(&src, (0, 0, 4, 2), 1, 2).unwrap();
        // R: mean of {0,1,4,5} = 2.5 and {2,3,6,7} = 4.5; G constant 10; B 0.
        assert_eq!(out, [2.5, 4.5, 10.0, 10.0, 0.0, 0.0]);
    }

    #[test]
    fn crops_are_read_from_the_rectangle_only() {
        let src = RgbImage::from_fn(5, 5, |x, y| image::Rgb([(10 * y + x) as u8, 0, 0]));
        let out = resize_to_planar(&src, (2, 3, 3, 4), 2, 2).unwrap();
        assert_eq!(&out[..4], [32.0; 4]);
    }

    #[test]
    fn rejects_empty_or_outside_rectangles() {
        let src = RgbImage::new(4, 3);
        assert!(resize_to_planar(&src, (1, 1, 1, 2), 2, 2).is_err());
        assert!(resize_to_planar(&src, (0, 0, 5, 3), 2, 2).is_err());
        assert_eq!(resize_to_planar(&src, (0, 0, 4, 3), 0, 7).unwrap(), Vec::<f32>::new());
    }
}
