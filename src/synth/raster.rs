//! Small raster operations for making fakes: float masks, polygon fill, Gaussian blur, bilinear sampling,
//! piecewise-affine warps. None of these must match another library bit for bit (the fakes only have to look
//! plausible and be deterministic), so they are plain, readable loops.

use image::RgbImage;

/// A single-channel f32 image, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Mask {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Mask {
    pub fn new(width: usize, height: usize) -> Self {
        Self { width, height, data: vec![0.0; width * height] }
    }

    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    /// Bilinear sample at (x, y) in pixel-centre coordinates; 0 outside.
    pub fn sample(&self, x: f32, y: f32) -> f32 {
        if !(x > -1.0 && y > -1.0 && x < self.width as f32 && y < self.height as f32) {
            return 0.0;
        }
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let get = |xi: f32, yi: f32| {
            if xi < 0.0 || yi < 0.0 || xi >= self.width as f32 || yi >= self.height as f32 {
                0.0
            } else {
                self.at(xi as usize, yi as usize)
            }
        };
        let top = get(x0, y0) * (1.0 - fx) + get(x0 + 1.0, y0) * fx;
        let bottom = get(x0, y0 + 1.0) * (1.0 - fx) + get(x0 + 1.0, y0 + 1.0) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    /// Scales so that the maximum is 1 (a zero mask stays zero).
    pub fn normalise_max(&mut self) {
        let max = self.data.iter().copied().fold(0.0f32, f32::max);
        if max > 0.0 {
            self.data.iter_mut().for_each(|v| *v /= max);
        }
    }
}

/// 1 inside the convex polygon `poly` (pixel centres at integer coordinates), 0 outside.
pub fn fill_convex(poly: &[[f64; 2]], width: usize, height: usize) -> Mask {
    let mut m = Mask::new(width, height);
    if poly.len() < 3 {
        return m;
    }
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for p in poly {
        (x0, y0, x1, y1) = (x0.min(p[0]), y0.min(p[1]), x1.max(p[0]), y1.max(p[1]));
    }
    let clampx = |v: f64| v.clamp(0.0, width as f64 - 1.0) as usize;
    let clampy = |v: f64| v.clamp(0.0, height as f64 - 1.0) as usize;
    if x1 < 0.0 || y1 < 0.0 || x0 > width as f64 - 1.0 || y0 > height as f64 - 1.0 {
        return m;
    }
    // The hull is counter-clockwise in image coordinates' maths sense; accept either orientation.
    let area: f64 = (0..poly.len())
        .map(|i| {
            let (a, b) = (poly[i], poly[(i + 1) % poly.len()]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum();
    let sign = if area >= 0.0 { 1.0 } else { -1.0 };
    for y in clampy(y0.ceil())..=clampy(y1.floor()) {
        for x in clampx(x0.ceil())..=clampx(x1.floor()) {
            let (px, py) = (x as f64, y as f64);
            let inside = (0..poly.len()).all(|i| {
                let (a, b) = (poly[i], poly[(i + 1) % poly.len()]);
                sign * ((b[0] - a[0]) * (py - a[1]) - (b[1] - a[1]) * (px - a[0])) >= 0.0
            });
            if inside {
                m.data[y * width + x] = 1.0;
            }
        }
    }
    m
}

/// Separable Gaussian blur with `sigma`, kernel radius `radius`, edges clamped.
pub fn gaussian_blur(m: &Mask, sigma: f32, radius: usize) -> Mask {
    if sigma <= 0.0 || radius == 0 {
        return m.clone();
    }
    let k: Vec<f32> = (0..=2 * radius)
        .map(|i| {
            let d = i as f32 - radius as f32;
            (-(d * d) / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let sum: f32 = k.iter().sum();
    let k: Vec<f32> = k.iter().map(|v| v / sum).collect();
    let (w, h) = (m.width, m.height);
    let mut tmp = Mask::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for (i, kv) in k.iter().enumerate() {
                let xx = (x as isize + i as isize - radius as isize).clamp(0, w as isize - 1) as usize;
                acc += kv * m.data[y * w + xx];
            }
            tmp.data[y * w + x] = acc;
        }
    }
    let mut out = Mask::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for (i, kv) in k.iter().enumerate() {
                let yy = (y as isize + i as isize - radius as isize).clamp(0, h as isize - 1) as usize;
                acc += kv * tmp.data[yy * w + x];
            }
            out.data[y * w + x] = acc;
        }
    }
    out
}

/// Binary dilation of `m > 0` by a square of half-side `r` (for the "only inside the mask" checks).
pub fn dilate_nonzero(m: &Mask, r: usize) -> Vec<bool> {
    let (w, h) = (m.width, m.height);
    let mut rows = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            if m.data[y * w + x] > 0.0 {
                for xx in x.saturating_sub(r)..=(x + r).min(w - 1) {
                    rows[y * w + xx] = true;
                }
            }
        }
    }
    let mut out = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            if rows[y * w + x] {
                for yy in y.saturating_sub(r)..=(y + r).min(h - 1) {
                    out[yy * w + x] = true;
                }
            }
        }
    }
    out
}

/// Bilinear RGB sample at (x, y), edges clamped, as f32 per channel.
pub fn sample_rgb(img: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x.floor() as i64, y.floor() as i64);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let raw = img.as_raw();
    let px = |xi: i64, yi: i64, c: usize| f32::from(raw[3 * (yi * w + xi) as usize + c]);
    std::array::from_fn(|c| {
        let top = px(x0, y0, c) * (1.0 - fx) + px(x1, y0, c) * fx;
        let bottom = px(x0, y1, c) * (1.0 - fx) + px(x1, y1, c) * fx;
        top * (1.0 - fy) + bottom * fy
    })
}

/// An affine map `p ↦ A·p + t`, stored row-major as `[a, b, tx, c, d, ty]`.
pub type Affine = [f64; 6];

pub fn apply(m: &Affine, p: [f64; 2]) -> [f64; 2] {
    [m[0] * p[0] + m[1] * p[1] + m[2], m[3] * p[0] + m[4] * p[1] + m[5]]
}

/// The affine map taking triangle `from` onto triangle `to`; `None` for a degenerate triangle.
pub fn triangle_affine(from: [[f64; 2]; 3], to: [[f64; 2]; 3]) -> Option<Affine> {
    let [p0, p1, p2] = from;
    let (ux, uy, vx, vy) = (p1[0] - p0[0], p1[1] - p0[1], p2[0] - p0[0], p2[1] - p0[1]);
    let det = ux * vy - uy * vx;
    if det.abs() < 1e-9 {
        return None;
    }
    // Inverse of [[ux, vx], [uy, vy]].
    let (i00, i01, i10, i11) = (vy / det, -vx / det, -uy / det, ux / det);
    let [q0, q1, q2] = to;
    let (ax, ay, bx, by) = (q1[0] - q0[0], q1[1] - q0[1], q2[0] - q0[0], q2[1] - q0[1]);
    let a = ax * i00 + bx * i10;
    let b = ax * i01 + bx * i11;
    let c = ay * i00 + by * i10;
    let d = ay * i01 + by * i11;
    Some([a, b, q0[0] - a * p0[0] - b * p0[1], c, d, q0[1] - c * p0[0] - d * p0[1]])
}

/// Warps `src` onto a `width`×`height` canvas piece by piece: every triangle `tri` of `dst_pts` is filled from the
/// same triangle of `src_pts` in `src` (bilinear). Returns the warped pixels (f32 RGB) and where they were written.
pub fn warp_triangles(
    src: &RgbImage,
    src_pts: &[[f64; 2]],
    dst_pts: &[[f64; 2]],
    triangles: &[[usize; 3]],
    width: usize,
    height: usize,
) -> (Vec<[f32; 3]>, Vec<bool>) {
    let mut out = vec![[0.0f32; 3]; width * height];
    let mut written = vec![false; width * height];
    for t in triangles {
        let d = [dst_pts[t[0]], dst_pts[t[1]], dst_pts[t[2]]];
        let s = [src_pts[t[0]], src_pts[t[1]], src_pts[t[2]]];
        let Some(back) = triangle_affine(d, s) else { continue };
        let x0 = d.iter().map(|p| p[0]).fold(f64::MAX, f64::min).floor().max(0.0) as usize;
        let y0 = d.iter().map(|p| p[1]).fold(f64::MAX, f64::min).floor().max(0.0) as usize;
        let x1 = (d.iter().map(|p| p[0]).fold(f64::MIN, f64::max).ceil() as i64).min(width as i64 - 1);
        let y1 = (d.iter().map(|p| p[1]).fold(f64::MIN, f64::max).ceil() as i64).min(height as i64 - 1);
        if x1 < 0 || y1 < 0 {
            continue;
        }
        let area = (d[1][0] - d[0][0]) * (d[2][1] - d[0][1]) - (d[1][1] - d[0][1]) * (d[2][0] - d[0][0]);
        let sign = if area >= 0.0 { 1.0 } else { -1.0 };
        let inside = |px: f64, py: f64| {
            (0..3).all(|i| {
                let (a, b) = (d[i], d[(i + 1) % 3]);
                sign * ((b[0] - a[0]) * (py - a[1]) - (b[1] - a[1]) * (px - a[0])) >= 0.0
            })
        };
        for y in y0..=y1 as usize {
            for x in x0..=x1 as usize {
                if !written[y * width + x] && inside(x as f64, y as f64) {
                    let p = apply(&back, [x as f64, y as f64]);
                    out[y * width + x] = sample_rgb(src, p[0] as f32, p[1] as f32);
                    written[y * width + x] = true;
                }
            }
        }
    }
    (out, written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_square_polygon_fills_its_pixels() {
        let m = fill_convex(&[[1.0, 1.0], [3.0, 1.0], [3.0, 3.0], [1.0, 3.0]], 5, 5);
        let ones: usize = m.data.iter().filter(|&&v| v == 1.0).count();
        assert_eq!(ones, 9);
        assert_eq!(m.at(0, 0), 0.0);
        assert_eq!(m.at(2, 2), 1.0);
    }

    #[test]
    fn blur_keeps_the_total_away_from_edges() {
        let mut m = Mask::new(21, 21);
        m.data[10 * 21 + 10] = 1.0;
        let b = gaussian_blur(&m, 2.0, 6);
        assert!((b.data.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(b.at(10, 10) > b.at(12, 10));
    }

    #[test]
    fn triangle_affine_maps_corners() {
        let from = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]];
        let to = [[2.0, 3.0], [4.0, 3.0], [2.0, 6.0]];
        let m = triangle_affine(from, to).unwrap();
        for (p, q) in from.iter().zip(&to) {
            let r = apply(&m, *p);
            assert!((r[0] - q[0]).abs() < 1e-12 && (r[1] - q[1]).abs() < 1e-12);
        }
        assert!(triangle_affine([[0.0, 0.0]; 3], to).is_none());
    }
}
