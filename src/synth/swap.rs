//! Classical face swaps, like FaceForensics++'s FaceSwap method: another identity's face warped onto each frame
//! by a landmark triangulation (piecewise affine), its colours matched to the target's face (per-channel mean and
//! standard deviation inside the face), and blended under a soft hull mask that is zero outside the target's
//! landmark hull.

use image::RgbImage;
use rand::Rng;

use super::mask::{hull_on_canvas, Canvas};
use super::raster::{fill_convex, gaussian_blur, warp_triangles, Mask};
use crate::face::landmarks::convex_hull;

/// Triangles over the 68 points, from a Delaunay triangulation of the model's mean shape (fixed, so the
/// triangulation is the same on every frame and never folds on a frontal face).
pub fn triangulate(mean_shape: &[[f64; 2]]) -> Vec<[usize; 3]> {
    let points: Vec<delaunator::Point> = mean_shape.iter().map(|p| delaunator::Point { x: p[0], y: p[1] }).collect();
    let t = delaunator::triangulate(&points);
    t.triangles.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect()
}

/// What is random about one swap clip.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SwapParams {
    /// The hull polygon shrinks toward its centroid by this factor before the blur.
    pub shrink: f64,
    /// Blur σ as a fraction of the canvas.
    pub blur: f32,
    /// How much of the colour transfer to apply (1 = full).
    pub colour: f32,
}

impl SwapParams {
    pub fn random(rng: &mut impl Rng) -> Self {
        Self {
            shrink: rng.random_range(0.85..0.95),
            blur: rng.random_range(0.015..0.035),
            colour: rng.random_range(0.8..=1.0),
        }
    }
}

const CANVAS: usize = 256;

/// The soft mask: the target's hull shrunk and blurred, times the hull itself (so exactly zero outside it).
pub fn swap_mask(p: &SwapParams, landmarks: &[[f64; 2]], width: usize, height: usize) -> Mask {
    let canvas = Canvas::around(landmarks, CANVAS);
    let pts: Vec<[f64; 2]> = landmarks.iter().map(|&q| canvas.to_canvas(q)).collect();
    let hull = convex_hull(&pts);
    let n = hull.len().max(1) as f64;
    let c = [hull.iter().map(|q| q[0]).sum::<f64>() / n, hull.iter().map(|q| q[1]).sum::<f64>() / n];
    let shrunk: Vec<[f64; 2]> =
        hull.iter().map(|q| [c[0] + (q[0] - c[0]) * p.shrink, c[1] + (q[1] - c[1]) * p.shrink]).collect();
    let sigma = p.blur * CANVAS as f32;
    let soft = gaussian_blur(&fill_convex(&shrunk, CANVAS, CANVAS), sigma, (3.0 * sigma).ceil() as usize);
    let soft = canvas.to_frame(&soft, width, height);
    let hard = canvas.to_frame(&hull_on_canvas(&canvas, landmarks), width, height);
    let mut m = soft;
    for (v, h) in m.data.iter_mut().zip(&hard.data) {
        // The bilinear edge of the resampled hull is fractional; only pixels fully inside it keep the soft value.
        *v = if *h >= 1.0 { v.clamp(0.0, 1.0) } else { 0.0 };
    }
    m
}

/// One swapped frame: `source`'s face (with `source_marks`) onto `frame` (with `marks`). Returns the fake and its
/// mask; pixels where the mask is 0 are the frame's own.
pub fn swap_frame(
    p: &SwapParams,
    frame: &RgbImage,
    marks: &[[f64; 2]],
    source: &RgbImage,
    source_marks: &[[f64; 2]],
    triangles: &[[usize; 3]],
) -> (RgbImage, Mask) {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let mask = swap_mask(p, marks, w, h);
    let (warped, written) = warp_triangles(source, source_marks, marks, triangles, w, h);
    // Colour statistics over the pixels the mask covers.
    let (mut sum_w, mut sum_t, mut sq_w, mut sq_t, mut n) = ([0f64; 3], [0f64; 3], [0f64; 3], [0f64; 3], 0f64);
    let raw = frame.as_raw();
    for i in 0..w * h {
        if mask.data[i] > 0.0 && written[i] {
            for c in 0..3 {
                let (a, b) = (f64::from(warped[i][c]), f64::from(raw[3 * i + c]));
                sum_w[c] += a;
                sq_w[c] += a * a;
                sum_t[c] += b;
                sq_t[c] += b * b;
            }
            n += 1.0;
        }
    }
    let mut gain = [1.0f32; 3];
    let mut offset = [0.0f32; 3];
    if n > 1.0 {
        for c in 0..3 {
            let (mw, mt) = (sum_w[c] / n, sum_t[c] / n);
            let sw = (sq_w[c] / n - mw * mw).max(0.0).sqrt().max(1.0);
            let st = (sq_t[c] / n - mt * mt).max(0.0).sqrt();
            let g = st / sw;
            // v' = (v − mw)·g + mt, mixed with v by `colour`.
            let (full_gain, full_offset) = (g as f32, (mt - mw * g) as f32);
            gain[c] = 1.0 + p.colour * (full_gain - 1.0);
            offset[c] = p.colour * full_offset;
        }
    }
    let mut out = frame.clone();
    let o = &mut *out;
    for i in 0..w * h {
        let m = mask.data[i];
        if m <= 0.0 || !written[i] {
            continue;
        }
        for c in 0..3 {
            let s = (warped[i][c] * gain[c] + offset[c]).clamp(0.0, 255.0);
            let t = f32::from(raw[3 * i + c]);
            o[3 * i + c] = (m * s + (1.0 - m) * t).round().clamp(0.0, 255.0) as u8;
        }
    }
    let mut used = mask;
    for (v, wr) in used.data.iter_mut().zip(&written) {
        if !wr {
            *v = 0.0;
        }
    }
    (out, used)
}
