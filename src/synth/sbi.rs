//! Self-blended fakes (Shiohara & Yamasaki, CVPR 2022; training-recipes.md §3): each frame blended into a
//! slightly altered copy of itself under a mask from the 68-point convex hull.
//!
//! Differences from SBI, on purpose: the alteration always goes to the *source* copy (SBI alters source or target
//! at random; altering the target would change the whole frame, and our fake must equal its original outside the
//! mask); every parameter is drawn once per clip, so the fake is coherent over time; the mask is drawn on a
//! 192–256 px face canvas, as SBI resizes its mask to 192–256 before blurring.

use image::RgbImage;
use rand::Rng;

use super::mask::{hull_on_canvas, opencv_sigma, Canvas, Elastic};
use super::raster::{gaussian_blur, sample_rgb, Mask};

/// How the source copy is degraded.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub enum Degrade {
    /// Nearest-neighbour down by this factor, bilinear back up (SBI's RandomDownScale).
    Downscale(u32),
    /// 3×3 sharpen with strength `alpha` and `lightness` (albumentations' Sharpen).
    Sharpen { alpha: f32, lightness: f32 },
}

/// Everything random about one SBI clip.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SbiParams {
    pub rgb_shift: [f32; 3],
    pub contrast: f32,
    pub brightness: f32,
    pub degrade: Degrade,
    /// Source translation as a fraction of the face size, and independent x/y scale.
    pub translate: [f64; 2],
    pub scale: [f64; 2],
    pub canvas: usize,
    pub k1: usize,
    pub k2: usize,
    pub sigma2: f32,
    pub ratio: f32,
    #[serde(skip)]
    pub elastic: Elastic,
}

impl SbiParams {
    pub fn random(rng: &mut impl Rng) -> Self {
        let rgb_shift = std::array::from_fn(|_| rng.random_range(-20.0f32..=20.0));
        let contrast = 1.0 + rng.random_range(-0.1f32..=0.1);
        let brightness = rng.random_range(-0.1f32..=0.1);
        let degrade = if rng.random_bool(0.5) {
            Degrade::Downscale([2, 4][rng.random_range(0..2)])
        } else {
            Degrade::Sharpen { alpha: rng.random_range(0.2..0.5), lightness: rng.random_range(0.5..1.0) }
        };
        let translate = [rng.random_range(-0.03..0.03), rng.random_range(-0.015..0.015)];
        let scale = [rng.random_range(0.95..1.0 / 0.95), rng.random_range(0.95..1.0 / 0.95)];
        let canvas = rng.random_range(192..=256);
        let k1 = 5 + 2 * rng.random_range(0..=10);
        let k2 = 5 + 2 * rng.random_range(0..=10);
        let sigma2 = rng.random_range(5..=45) as f32;
        let ratio = [0.25, 0.5, 0.75, 1.0, 1.0, 1.0][rng.random_range(0..6)];
        let elastic = Elastic::random(canvas, rng);
        Self { rgb_shift, contrast, brightness, degrade, translate, scale, canvas, k1, k2, sigma2, ratio, elastic }
    }
}

/// SBI's mask for one frame: hull → elastic deformation → blur (k1) → keep only the maximum (erodes) → blur
/// (k2, σ2) → normalise → × ratio; on the frame.
pub fn sbi_mask(p: &SbiParams, landmarks: &[[f64; 2]], width: usize, height: usize) -> Mask {
    let canvas = Canvas::around(landmarks, p.canvas);
    let hull = hull_on_canvas(&canvas, landmarks);
    let deformed = p.elastic.apply(&hull);
    let mut m = gaussian_blur(&deformed, opencv_sigma(p.k1), p.k1 / 2);
    m.normalise_max();
    m.data.iter_mut().for_each(|v| {
        if *v < 1.0 {
            *v = 0.0
        }
    });
    let mut m = gaussian_blur(&m, p.sigma2, p.k2 / 2);
    m.normalise_max();
    m.data.iter_mut().for_each(|v| *v *= p.ratio);
    canvas.to_frame(&m, width, height)
}

/// The colour-shifted, contrast/brightness-changed, degraded copy of a frame.
fn altered(p: &SbiParams, frame: &RgbImage) -> RgbImage {
    let mut img = frame.clone();
    for px in img.pixels_mut() {
        for c in 0..3 {
            let v = (f32::from(px[c]) + p.rgb_shift[c]).clamp(0.0, 255.0).trunc();
            px[c] = (v * p.contrast + p.brightness * 255.0).clamp(0.0, 255.0) as u8;
        }
    }
    let (w, h) = img.dimensions();
    match p.degrade {
        Degrade::Downscale(r) => {
            let (sw, sh) = ((w / r).max(1), (h / r).max(1));
            let small = RgbImage::from_fn(sw, sh, |x, y| *img.get_pixel((x * r).min(w - 1), (y * r).min(h - 1)));
            let (fx, fy) = (sw as f32 / w as f32, sh as f32 / h as f32);
            RgbImage::from_fn(w, h, |x, y| {
                let s = sample_rgb(&small, (x as f32 + 0.5) * fx - 0.5, (y as f32 + 0.5) * fy - 0.5);
                image::Rgb(s.map(|v| v.round().clamp(0.0, 255.0) as u8))
            })
        }
        Degrade::Sharpen { alpha, lightness } => {
            let centre = (1.0 - alpha) + alpha * (8.0 + lightness);
            RgbImage::from_fn(w, h, |x, y| {
                let mut acc = [0.0f32; 3];
                for dy in -1i64..=1 {
                    for dx in -1i64..=1 {
                        let xx = (x as i64 + dx).clamp(0, w as i64 - 1) as u32;
                        let yy = (y as i64 + dy).clamp(0, h as i64 - 1) as u32;
                        let k = if dx == 0 && dy == 0 { centre } else { -alpha };
                        let q = img.get_pixel(xx, yy);
                        (0..3).for_each(|c| acc[c] += k * f32::from(q[c]));
                    }
                }
                image::Rgb(acc.map(|v| v.clamp(0.0, 255.0) as u8))
            })
        }
    }
}

/// One SBI frame: `trunc(M·source + (1 − M)·frame)`, where the source is the altered copy shifted and scaled about
/// the face centre. Pixels where M = 0 are the frame's own. Returns the fake and its mask.
pub fn sbi_frame(p: &SbiParams, frame: &RgbImage, landmarks: &[[f64; 2]]) -> (RgbImage, Mask) {
    let (w, h) = frame.dimensions();
    let mask = sbi_mask(p, landmarks, w as usize, h as usize);
    let source = altered(p, frame);
    let n = landmarks.len().max(1) as f64;
    let c = [landmarks.iter().map(|q| q[0]).sum::<f64>() / n, landmarks.iter().map(|q| q[1]).sum::<f64>() / n];
    let (x0, x1) = landmarks.iter().fold((f64::MAX, f64::MIN), |(a, b), q| (a.min(q[0]), b.max(q[0])));
    let (y0, y1) = landmarks.iter().fold((f64::MAX, f64::MIN), |(a, b), q| (a.min(q[1]), b.max(q[1])));
    let shift = [p.translate[0] * (x1 - x0), p.translate[1] * (y1 - y0)];
    let mut out = frame.clone();
    for y in 0..h {
        for x in 0..w {
            let m = mask.data[(y * w + x) as usize];
            if m <= 0.0 {
                continue;
            }
            let sx = (f64::from(x) - c[0] - shift[0]) / p.scale[0] + c[0];
            let sy = (f64::from(y) - c[1] - shift[1]) / p.scale[1] + c[1];
            let s = sample_rgb(&source, sx as f32, sy as f32);
            let t = frame.get_pixel(x, y);
            let o = out.get_pixel_mut(x, y);
            for ch in 0..3 {
                o[ch] = (m * s[ch] + (1.0 - m) * f32::from(t[ch])).clamp(0.0, 255.0) as u8;
            }
        }
    }
    (out, mask)
}
