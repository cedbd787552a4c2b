//! Blend masks drawn on a face-aligned square canvas (so blur sizes are relative to the face, whatever the frame
//! size) and mapped back onto the frame.

use rand::Rng;

use super::raster::{fill_convex, gaussian_blur, Mask};
use crate::face::landmarks::convex_hull;

/// A square canvas around the face: canvas pixel (u, v) shows frame point `origin + (u, v)·scale`.
#[derive(Debug, Clone, Copy)]
pub struct Canvas {
    pub side: usize,
    pub origin: [f64; 2],
    pub scale: f64,
}

impl Canvas {
    /// A canvas of `side` pixels over a square 1.5× the landmarks' bounding box, centred on it.
    pub fn around(landmarks: &[[f64; 2]], side: usize) -> Self {
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for p in landmarks {
            (x0, y0, x1, y1) = (x0.min(p[0]), y0.min(p[1]), x1.max(p[0]), y1.max(p[1]));
        }
        let extent = 1.5 * (x1 - x0).max(y1 - y0).max(1.0);
        let centre = [(x0 + x1) / 2.0, (y0 + y1) / 2.0];
        let scale = extent / side as f64;
        Self { side, origin: [centre[0] - extent / 2.0, centre[1] - extent / 2.0], scale }
    }

    pub fn to_canvas(&self, p: [f64; 2]) -> [f64; 2] {
        [(p[0] - self.origin[0]) / self.scale, (p[1] - self.origin[1]) / self.scale]
    }

    /// The canvas mask resampled onto a `width`×`height` frame (bilinear; 0 outside the canvas).
    pub fn to_frame(&self, m: &Mask, width: usize, height: usize) -> Mask {
        let mut out = Mask::new(width, height);
        let extent = self.side as f64 * self.scale;
        let x0 = self.origin[0].floor().max(0.0) as usize;
        let y0 = self.origin[1].floor().max(0.0) as usize;
        let x1 = ((self.origin[0] + extent).ceil() as i64).clamp(0, width as i64) as usize;
        let y1 = ((self.origin[1] + extent).ceil() as i64).clamp(0, height as i64) as usize;
        for y in y0..y1 {
            for x in x0..x1 {
                let c = self.to_canvas([x as f64, y as f64]);
                out.data[y * width + x] = m.sample(c[0] as f32, c[1] as f32);
            }
        }
        out
    }
}

/// The landmarks' convex hull filled on the canvas.
pub fn hull_on_canvas(canvas: &Canvas, landmarks: &[[f64; 2]]) -> Mask {
    let pts: Vec<[f64; 2]> = landmarks.iter().map(|&p| canvas.to_canvas(p)).collect();
    fill_convex(&convex_hull(&pts), canvas.side, canvas.side)
}

/// OpenCV's sigma for `GaussianBlur(ksize, 0)`: 0.3·((k − 1)/2 − 1) + 0.8.
pub fn opencv_sigma(k: usize) -> f32 {
    0.3 * ((k as f32 - 1.0) / 2.0 - 1.0) + 0.8
}

/// A smooth random displacement field (albumentations' ElasticTransform: uniform noise in [−1, 1), Gaussian
/// σ = 7, ×α = 50), on the canvas; fixed for a clip so the deformed mask does not flicker.
#[derive(Debug, Clone)]
pub struct Elastic {
    pub dx: Mask,
    pub dy: Mask,
}

impl Elastic {
    pub fn random(side: usize, rng: &mut impl Rng) -> Self {
        let mut field = || {
            let mut m = Mask::new(side, side);
            m.data.iter_mut().for_each(|v| *v = rng.random_range(-1.0f32..1.0));
            let mut b = gaussian_blur(&m, 7.0, 21);
            b.data.iter_mut().for_each(|v| *v *= 50.0);
            b
        };
        let dx = field();
        let dy = field();
        Self { dx, dy }
    }

    /// The mask pulled through the field, nearest neighbour (cv2.remap INTER_NEAREST, reflected edges).
    pub fn apply(&self, m: &Mask) -> Mask {
        let n = m.width as isize;
        let reflect = |i: isize| {
            let period = 2 * n - 2;
            if period <= 0 {
                return 0;
            }
            let k = i.rem_euclid(period);
            (if k >= n { period - k } else { k }) as usize
        };
        let mut out = Mask::new(m.width, m.height);
        for y in 0..m.height {
            for x in 0..m.width {
                let i = y * m.width + x;
                let sx = reflect((x as f32 + self.dx.data[i]).round() as isize);
                let sy = reflect((y as f32 + self.dy.data[i]).round() as isize);
                out.data[i] = m.at(sx, sy);
            }
        }
        out
    }
}
