//! The SSIM map and the "diff" mask of the solution's `generate_diffs.py` (dfdc-solution.md §4.4):
//! scikit-image's `structural_similarity(orig, fake, channel_axis=2, full=True)` with its defaults — 7×7 uniform
//! window, sample covariance (49/48), K1 0.01, K2 0.03, data range 255 — per channel, then
//! `uint8((1 − S)·255)` (with numpy's wrap-around where S < 0 makes the value exceed 255), then OpenCV's BGR→grey.
//!
//! The uniform filter is scipy's `uniform_filter` (`mode="reflect"`, axis 0 then axis 1) with its running-mean
//! arithmetic in f64, so the map matches scikit-image to ~1e-12, not just to the tolerance; written out here because
//! the grey levels of the diff depend on where `(1 − S)·255` falls between integers.

use image::{GrayImage, RgbImage};

/// Window side of scikit-image's default SSIM.
const WIN: usize = 7;

/// The SSIM map of two single-channel images of one size (row-major f64, `width`×`height`), as
/// `structural_similarity(a, b, data_range=255, full=True)[1]`.
pub fn ssim_map(a: &[f64], b: &[f64], width: usize, height: usize) -> Vec<f64> {
    assert_eq!(a.len(), width * height, "first image is not {width}x{height}");
    assert_eq!(b.len(), width * height, "second image is not {width}x{height}");
    let filter = |v: &[f64]| uniform_filter(v, width, height);
    let prod = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(p, q)| p * q).collect::<Vec<f64>>();
    let ux = filter(a);
    let uy = filter(b);
    let uxx = filter(&prod(a, a));
    let uyy = filter(&prod(b, b));
    let uxy = filter(&prod(a, b));
    let np = (WIN * WIN) as f64;
    let cov_norm = np / (np - 1.0);
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    (0..a.len())
        .map(|i| {
            let vx = cov_norm * (uxx[i] - ux[i] * ux[i]);
            let vy = cov_norm * (uyy[i] - uy[i] * uy[i]);
            let vxy = cov_norm * (uxy[i] - ux[i] * uy[i]);
            let (a1, a2) = (2.0 * ux[i] * uy[i] + c1, 2.0 * vxy + c2);
            let (b1, b2) = (ux[i] * ux[i] + uy[i] * uy[i] + c1, vx + vy + c2);
            (a1 * a2) / (b1 * b2)
        })
        .collect()
}

/// SSIM maps of the three channels of two images of one size, interleaved like the input (`[.., 3]`). `None`
/// when the sizes differ or a side is under 7 pixels (scikit-image raises for both).
pub fn ssim_map_rgb(a: &RgbImage, b: &RgbImage) -> Option<Vec<f64>> {
    if a.dimensions() != b.dimensions() || a.width() < WIN as u32 || a.height() < WIN as u32 {
        return None;
    }
    let (w, h) = (a.width() as usize, a.height() as usize);
    let mut out = vec![0.0; w * h * 3];
    for c in 0..3 {
        let plane = |img: &RgbImage| img.as_raw().iter().skip(c).step_by(3).map(|&v| f64::from(v)).collect::<Vec<_>>();
        for (i, s) in ssim_map(&plane(a), &plane(b), w, h).into_iter().enumerate() {
            out[3 * i + c] = s;
        }
    }
    Some(out)
}

/// `uint8((1 − S)·255)` per value, as numpy casts: truncation toward zero, and values of 256…510 (S < 0) wrap
/// modulo 256 like the C cast numpy performs on x86.
pub fn diff_u8(s: f64) -> u8 {
    let v = (1.0 - s) * 255.0;
    if !v.is_finite() {
        return 0;
    }
    (v as i64) as u8
}

/// The solution's diff image from two crops given as **BGR** pixel arrays (what `cv2.imread` returns; the images
/// here are RGB-typed containers holding B, G, R in that order), and the grey conversion `cv2.COLOR_BGR2GRAY`.
/// `None` when the sizes differ or a side is under 7 pixels (the original would raise).
pub fn dfdc_diff_bgr(original_bgr: &RgbImage, fake_bgr: &RgbImage) -> Option<GrayImage> {
    let s = ssim_map_rgb(original_bgr, fake_bgr)?;
    let (w, h) = original_bgr.dimensions();
    let diff: Vec<u8> = s.iter().map(|&v| diff_u8(v)).collect();
    Some(GrayImage::from_fn(w, h, |x, y| {
        let i = 3 * (y as usize * w as usize + x as usize);
        image::Luma([bgr_to_gray(diff[i], diff[i + 1], diff[i + 2])])
    }))
}

/// [`dfdc_diff_bgr`] for crops held as RGB (as decoded here): the channels are swapped to BGR first, so the
/// per-channel maps and the grey weights see the same channels as the original.
pub fn dfdc_diff(original_rgb: &RgbImage, fake_rgb: &RgbImage) -> Option<GrayImage> {
    let swap = |img: &RgbImage| {
        let mut out = img.clone();
        for p in out.pixels_mut() {
            p.0.swap(0, 2);
        }
        out
    };
    dfdc_diff_bgr(&swap(original_rgb), &swap(fake_rgb))
}

/// OpenCV 5.0's 8-bit `COLOR_BGR2GRAY`: BT.601 weights in 15-bit fixed point (B 3735, G 19235, R 9798, summing
/// to 2^15) with rounding. Found by probing cv2 5.0 on a million random pixels (0 differences); the 14-bit weights
/// of OpenCV 4's scalar path (1868, 9617, 4899) differ on 0.26 % of them.
pub fn bgr_to_gray(b: u8, g: u8, r: u8) -> u8 {
    const SHIFT: u32 = 15;
    let (cb, cg, cr) = (3735u32, 19235u32, 9798u32);
    ((u32::from(b) * cb + u32::from(g) * cg + u32::from(r) * cr + (1 << (SHIFT - 1))) >> SHIFT) as u8
}

/// scipy's `uniform_filter(x, size=7, mode="reflect")` on a 2-D array: `uniform_filter1d` along axis 0 (down the
/// columns), then along axis 1 (along the rows), each in f64.
fn uniform_filter(x: &[f64], width: usize, height: usize) -> Vec<f64> {
    let mut tmp = vec![0.0; x.len()];
    let mut line = Vec::with_capacity(height.max(width));
    let mut out_line = Vec::with_capacity(height.max(width));
    for col in 0..width {
        line.clear();
        line.extend((0..height).map(|r| x[r * width + col]));
        filter_line(&line, &mut out_line);
        for (r, v) in out_line.iter().enumerate() {
            tmp[r * width + col] = *v;
        }
    }
    let mut out = vec![0.0; x.len()];
    for row in 0..height {
        filter_line(&tmp[row * width..(row + 1) * width], &mut out_line);
        out[row * width..(row + 1) * width].copy_from_slice(&out_line);
    }
    out
}

/// scipy's `NI_UniformFilter1D`: the mean of the first window, then a running update `tmp += (in − out) / size`,
/// on the line extended by `reflect` (`d c b a | a b c d | d c b a`).
fn filter_line(line: &[f64], out: &mut Vec<f64>) {
    out.clear();
    let n = line.len();
    if n == 0 {
        return;
    }
    let (before, after) = (WIN / 2, WIN - WIN / 2 - 1);
    let ext: Vec<f64> = (-(before as isize)..(n + after) as isize).map(|i| line[reflect(i, n)]).collect();
    let size = WIN as f64;
    let mut tmp = ext[..WIN].iter().sum::<f64>() / size;
    out.push(tmp);
    for i in 1..n {
        tmp += (ext[i + WIN - 1] - ext[i - 1]) / size;
        out.push(tmp);
    }
}

/// scipy's `reflect` extension index (half-sample symmetric), repeated for lines shorter than the window.
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    let period = 2 * n;
    let mut k = i.rem_euclid(period);
    if k >= n {
        k = period - 1 - k;
    }
    k as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_images_have_ssim_one_and_a_black_diff() {
        let img = RgbImage::from_fn(12, 9, |x, y| image::Rgb([(x * 20) as u8, (y * 25) as u8, ((x * y) % 256) as u8]));
        let s = ssim_map_rgb(&img, &img).unwrap();
        assert!(s.iter().all(|v| (v - 1.0).abs() < 1e-12));
        assert!(dfdc_diff(&img, &img).unwrap().pixels().all(|p| p[0] == 0));
    }

    #[test]
    fn negative_ssim_wraps_like_numpy() {
        assert_eq!(diff_u8(1.0), 0);
        assert_eq!(diff_u8(0.0), 255);
        assert_eq!(diff_u8(-0.2), 50); // 306 -> 306 - 256
        assert_eq!(diff_u8(1.0000001), 0);
    }

    #[test]
    fn reflect_is_half_sample_symmetric() {
        let idx: Vec<usize> = (-3..8).map(|i| reflect(i, 5)).collect();
        assert_eq!(idx, vec![2, 1, 0, 0, 1, 2, 3, 4, 4, 3, 2]);
        assert_eq!(reflect(-4, 2), 0); // d c b a | a b | ...: period 4
    }

    #[test]
    fn gray_weights_are_opencvs() {
        assert_eq!(bgr_to_gray(255, 255, 255), 255);
        assert_eq!(bgr_to_gray(0, 0, 255), 76); // 0.299 * 255 = 76.2
        assert_eq!(bgr_to_gray(255, 0, 0), 29); // 0.114 * 255 = 29.07
    }
}
