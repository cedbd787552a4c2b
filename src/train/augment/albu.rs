//! The albumentations 1.0.0 transforms of the solution's training list (dfdc-solution.md §3.6), with the
//! semantics training-recipes.md §1.2 records: uint8 truncation, OpenCV's fixed 3×3 blur kernel, the contrast
//! gain about 0, FancyPCA's transposed eigenvectors, JPEG encoded as if RGB were BGR, ToGray without inversion.
//!
//! Each is a small pure function on an RGB image with its random parameters drawn from `rng` in albumentations'
//! order; the probability of applying it is at the call site (`augment::train_augment`). The arithmetic is
//! written by hand where no crate matches OpenCV's uint8 semantics (a generic blur or colour conversion rounds
//! differently); bit-exact replication of Python's random streams is not the goal (training-recipes.md §1.3).

use image::RgbImage;
use rand::Rng;
use rand_distr::{Distribution, Normal};

/// `ImageCompression(60, 100)`: re-encode as JPEG at `q = randint(60, 100)` (4:2:0) and decode.
///
/// `cv2.imencode` is handed an RGB array and treats it as BGR, so the encoder sees channel 0 as blue; the same
/// happens here by declaring the bytes BGR on both sides (training-recipes.md §0.4).
pub fn jpeg(img: &mut RgbImage, rng: &mut impl Rng) {
    let quality = rng.random_range(60..=100);
    jpeg_at(img, quality);
}

/// JPEG round trip at a given quality; unchanged if the codec fails (it does not on valid sizes).
pub fn jpeg_at(img: &mut RgbImage, quality: i32) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return;
    }
    let src = turbojpeg::Image {
        pixels: img.as_raw().as_slice(),
        width: w,
        pitch: w * 3,
        height: h,
        format: turbojpeg::PixelFormat::BGR,
    };
    let Ok(jpeg) = turbojpeg::compress(src, quality, turbojpeg::Subsamp::Sub2x2) else { return };
    let Ok(out) = turbojpeg::decompress(&jpeg, turbojpeg::PixelFormat::BGR) else { return };
    if out.width == w && out.height == h && out.pitch == w * 3 {
        img.copy_from_slice(&out.pixels);
    }
}

/// `GaussNoise(var_limit=(10, 50), per_channel=True)`: `σ = √U(10, 50)`, independent normal noise per pixel and
/// channel, `trunc(clip(v + n, 0, 255))`.
pub fn gauss_noise(img: &mut RgbImage, rng: &mut impl Rng) {
    let var: f64 = rng.random_range(10.0..=50.0);
    let normal = Normal::new(0.0, var.sqrt()).expect("finite positive sigma");
    for v in img.iter_mut() {
        *v = (f64::from(*v) + normal.sample(rng)).clamp(0.0, 255.0) as u8;
    }
}

/// Reflect-101 index (`cv2.BORDER_REFLECT_101`) for offsets of at most one pixel.
fn reflect101(i: isize, n: usize) -> usize {
    let n = n as isize;
    if n == 1 {
        return 0;
    }
    let r = if i < 0 {
        -i
    } else if i >= n {
        2 * n - 2 - i
    } else {
        i
    };
    r as usize
}

/// `GaussianBlur(blur_limit=3)`: always a 3×3 kernel with σ = 0, i.e. OpenCV's fixed table `[1, 2, 1] / 4`
/// in both directions, border reflect-101 (training-recipes.md §0.2). Integer arithmetic rounded like OpenCV's
/// fixed-point path.
pub fn gaussian_blur3(img: &mut RgbImage) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return;
    }
    let src = img.as_raw().clone();
    let mut tmp = vec![0u16; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let (l, r) = (reflect101(x as isize - 1, w), reflect101(x as isize + 1, w));
            for c in 0..3 {
                let at = |xx: usize| u16::from(src[(y * w + xx) * 3 + c]);
                tmp[(y * w + x) * 3 + c] = at(l) + 2 * at(x) + at(r);
            }
        }
    }
    let out: &mut [u8] = img;
    for y in 0..h {
        let (u, d) = (reflect101(y as isize - 1, h), reflect101(y as isize + 1, h));
        for x in 0..w {
            for c in 0..3 {
                let at = |yy: usize| u32::from(tmp[(yy * w + x) * 3 + c]);
                out[(y * w + x) * 3 + c] = ((at(u) + 2 * at(y) + at(d) + 8) >> 4) as u8;
            }
        }
    }
}

/// `HorizontalFlip`.
pub fn hflip(img: &mut RgbImage) {
    image::imageops::flip_horizontal_in_place(img);
}

/// `RandomBrightnessContrast(0.2, 0.2, brightness_by_max=True)`: `α = 1 + U(−.2, .2)` then `β = U(−.2, .2)`;
/// `v ← trunc(clip(v·α + β·255, 0, 255))` — a gain about 0, not about the mean (training-recipes.md §0.3).
pub fn brightness_contrast(img: &mut RgbImage, rng: &mut impl Rng) {
    let alpha = 1.0 + rng.random_range(-0.2f32..=0.2);
    let beta = rng.random_range(-0.2f32..=0.2);
    let lut: Vec<u8> = (0..256).map(|v| (v as f32 * alpha + beta * 255.0).clamp(0.0, 255.0) as u8).collect();
    for v in img.iter_mut() {
        *v = lut[*v as usize];
    }
}

/// Eigen-decomposition of a symmetric 3×3 matrix (cyclic Jacobi); eigenvalues descending, eigenvectors as the
/// columns of the returned matrix. Three dimensions do not justify a linear-algebra dependency.
#[allow(clippy::needless_range_loop)] // the Jacobi rotation reads as the textbook's indices
pub fn symmetric_eigen3(mut a: [[f64; 3]; 3]) -> ([f64; 3], [[f64; 3]; 3]) {
    let mut v = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for _ in 0..50 {
        let off = a[0][1].abs() + a[0][2].abs() + a[1][2].abs();
        if off < 1e-15 {
            break;
        }
        for (p, q) in [(0, 1), (0, 2), (1, 2)] {
            if a[p][q].abs() < 1e-300 {
                continue;
            }
            let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
            let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
            let t = if theta == 0.0 { 1.0 } else { t };
            let c = 1.0 / (t * t + 1.0).sqrt();
            let s = t * c;
            for k in 0..3 {
                let (akp, akq) = (a[k][p], a[k][q]);
                a[k][p] = c * akp - s * akq;
                a[k][q] = s * akp + c * akq;
            }
            for k in 0..3 {
                let (apk, aqk) = (a[p][k], a[q][k]);
                a[p][k] = c * apk - s * aqk;
                a[q][k] = s * apk + c * aqk;
            }
            for row in v.iter_mut() {
                let (vkp, vkq) = (row[p], row[q]);
                row[p] = c * vkp - s * vkq;
                row[q] = s * vkp + c * vkq;
            }
        }
    }
    let mut order = [0usize, 1, 2];
    order.sort_by(|&i, &j| a[j][j].total_cmp(&a[i][i]));
    let vals = order.map(|i| a[i][i]);
    let vecs = [0, 1, 2].map(|r| order.map(|i| v[r][i]));
    (vals, vecs)
}

/// `FancyPCA(alpha=0.1)`: one `α ~ N(0, 0.1)`; the RGB covariance of the image (as `img/255`, N−1 denominator)
/// gives eigenpairs `λ, V`; every pixel gets `255 · α · Vᵀλ` added — the transpose is albumentations' quirk
/// (training-recipes.md §0.1) — then `trunc(clip(·, 0, 255))`.
pub fn fancy_pca(img: &mut RgbImage, rng: &mut impl Rng) {
    let alpha = Normal::new(0.0, 0.1).expect("valid").sample(rng);
    fancy_pca_with(img, alpha);
}

pub fn fancy_pca_with(img: &mut RgbImage, alpha: f64) {
    let n = (img.width() * img.height()) as usize;
    if n < 2 {
        return;
    }
    let mut mean = [0f64; 3];
    for p in img.pixels() {
        for c in 0..3 {
            mean[c] += f64::from(p[c]) / 255.0;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut cov = [[0f64; 3]; 3];
    for p in img.pixels() {
        let d = [0, 1, 2].map(|c| f64::from(p[c]) / 255.0 - mean[c]);
        for i in 0..3 {
            for j in 0..3 {
                cov[i][j] += d[i] * d[j];
            }
        }
    }
    cov.iter_mut().flatten().for_each(|c| *c /= (n - 1) as f64);
    let (vals, vecs) = symmetric_eigen3(cov);
    // add_i = α Σ_j V[j][i] λ_j (Vᵀ·λ).
    let add = [0, 1, 2].map(|i| alpha * (0..3).map(|j| vecs[j][i] * vals[j]).sum::<f64>() * 255.0);
    for p in img.pixels_mut() {
        for c in 0..3 {
            p[c] = (f64::from(p[c]) + add[c]).clamp(0.0, 255.0) as u8;
        }
    }
}

/// OpenCV's `RGB2HSV` for uint8 (H in [0, 180), S and V in [0, 255]).
fn rgb_to_hsv(r: u8, g: u8, b: u8) -> (u8, u8, u8) {
    let (rf, gf, bf) = (f32::from(r), f32::from(g), f32::from(b));
    let v = rf.max(gf).max(bf);
    let min = rf.min(gf).min(bf);
    let diff = v - min;
    let s = if v > 0.0 { diff * 255.0 / v } else { 0.0 };
    let h = if diff == 0.0 {
        0.0
    } else if v == rf {
        60.0 * (gf - bf) / diff
    } else if v == gf {
        120.0 + 60.0 * (bf - rf) / diff
    } else {
        240.0 + 60.0 * (rf - gf) / diff
    };
    let h = if h < 0.0 { h + 360.0 } else { h };
    (((h / 2.0).round() as u32 % 180) as u8, s.round() as u8, v as u8)
}

/// OpenCV's `HSV2RGB` for uint8.
fn hsv_to_rgb(h: u8, s: u8, v: u8) -> [u8; 3] {
    let h = f32::from(h) * 2.0 / 60.0;
    let s = f32::from(s) / 255.0;
    let v = f32::from(v) / 255.0;
    let i = h.floor();
    let f = h - i;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    let (r, g, b) = match (i as i32).rem_euclid(6) {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    [r, g, b].map(|c| (c * 255.0).round().clamp(0.0, 255.0) as u8)
}

/// `HueSaturationValue(20, 30, 20)`: hue, saturation and value shifts drawn in that order; hue wraps modulo 180
/// (OpenCV units, ±40°), the others clip; a zero shift leaves that channel alone.
pub fn hue_saturation_value(img: &mut RgbImage, rng: &mut impl Rng) {
    let dh = rng.random_range(-20.0f32..=20.0);
    let ds = rng.random_range(-30.0f32..=30.0);
    let dv = rng.random_range(-20.0f32..=20.0);
    let hue: Vec<u8> = (0..256).map(|h| ((h as f32 + dh).rem_euclid(180.0)) as u8).collect();
    let sat: Vec<u8> = (0..256).map(|s| (s as f32 + ds).clamp(0.0, 255.0) as u8).collect();
    let val: Vec<u8> = (0..256).map(|v| (v as f32 + dv).clamp(0.0, 255.0) as u8).collect();
    for p in img.pixels_mut() {
        let (h, s, v) = rgb_to_hsv(p[0], p[1], p[2]);
        p.0 = hsv_to_rgb(hue[h as usize], sat[s as usize], val[v as usize]);
    }
}

/// `ToGray`: OpenCV's `RGB2GRAY` (fixed-point 0.299/0.587/0.114, rounded) into all three channels; no inversion
/// whatever its docstring says (training-recipes.md §0.6).
pub fn to_grey(img: &mut RgbImage) {
    for p in img.pixels_mut() {
        let y = ((u32::from(p[0]) * 4899 + u32::from(p[1]) * 9617 + u32::from(p[2]) * 1868 + 8192) >> 14) as u8;
        p.0 = [y, y, y];
    }
}

/// `ShiftScaleRotate(0.1, 0.2, 10, BORDER_CONSTANT)`: angle U(−10°, 10°), scale U(0.8, 1.2), shifts U(−.1, .1)
/// of the width and height (drawn in that order); `getRotationMatrix2D` about `(W/2, H/2)` (not the pixel
/// centre), shifted, then `warpAffine` with bilinear sampling and black outside.
pub fn shift_scale_rotate(img: &mut RgbImage, rng: &mut impl Rng) {
    let angle = rng.random_range(-10.0f64..=10.0);
    let scale = rng.random_range(0.8f64..=1.2);
    let dx = rng.random_range(-0.1f64..=0.1);
    let dy = rng.random_range(-0.1f64..=0.1);
    shift_scale_rotate_with(img, angle, scale, dx, dy);
}

pub fn shift_scale_rotate_with(img: &mut RgbImage, angle_deg: f64, scale: f64, dx: f64, dy: f64) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return;
    }
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    let (a, b) = (scale * angle_deg.to_radians().cos(), scale * angle_deg.to_radians().sin());
    // src -> dst: [[a, b, (1−a)cx − b·cy + dx·W], [−b, a, b·cx + (1−a)cy + dy·H]].
    let tx = (1.0 - a) * cx - b * cy + dx * w as f64;
    let ty = b * cx + (1.0 - a) * cy + dy * h as f64;
    // Inverse of the 2×2 part [[a, b], [−b, a]] is [[a, −b], [b, a]] / (a² + b²).
    let det = a * a + b * b;
    let src = img.as_raw().clone();
    let out: &mut [u8] = img;
    for y in 0..h {
        for x in 0..w {
            let (u, v) = (x as f64 - tx, y as f64 - ty);
            let sx = (a * u - b * v) / det;
            let sy = (b * u + a * v) / det;
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            let mut acc = [0f64; 3];
            for (oy, wy) in [(0isize, 1.0 - fy), (1, fy)] {
                for (ox, wx) in [(0isize, 1.0 - fx), (1, fx)] {
                    let (xx, yy) = (x0 + ox, y0 + oy);
                    if xx < 0 || yy < 0 || xx >= w as isize || yy >= h as isize || wx * wy == 0.0 {
                        continue;
                    }
                    let i = (yy as usize * w + xx as usize) * 3;
                    for c in 0..3 {
                        acc[c] += wx * wy * f64::from(src[i + c]);
                    }
                }
            }
            let o = (y * w + x) * 3;
            for c in 0..3 {
                out[o + c] = acc[c].round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigen3_recovers_a_known_decomposition() {
        let (vals, vecs) = symmetric_eigen3([[2.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 5.0]]);
        assert!((vals[0] - 5.0).abs() < 1e-12 && (vals[1] - 3.0).abs() < 1e-12 && (vals[2] - 1.0).abs() < 1e-12);
        // Column 1 is ±(1, 1, 0)/√2.
        assert!((vecs[0][1].abs() - 0.5f64.sqrt()).abs() < 1e-12 && vecs[2][1].abs() < 1e-12);
    }

    #[test]
    fn hsv_round_trip_is_close() {
        for &(r, g, b) in &[(10u8, 200u8, 30u8), (255, 0, 0), (128, 128, 128), (0, 0, 0), (12, 34, 250)] {
            let (h, s, v) = rgb_to_hsv(r, g, b);
            let back = hsv_to_rgb(h, s, v);
            for (x, y) in back.iter().zip([r, g, b]) {
                assert!((i32::from(*x) - i32::from(y)).abs() <= 4, "{r},{g},{b} -> {back:?}");
            }
        }
    }

    #[test]
    fn blur_keeps_a_flat_image_and_spreads_a_dot() {
        let mut img = RgbImage::from_pixel(5, 5, image::Rgb([100, 100, 100]));
        gaussian_blur3(&mut img);
        assert!(img.pixels().all(|p| p.0 == [100, 100, 100]));
        let mut img = RgbImage::new(5, 5);
        img.put_pixel(2, 2, image::Rgb([160, 160, 160]));
        gaussian_blur3(&mut img);
        assert_eq!(img.get_pixel(2, 2)[0], 40); // 160 · 4/16
        assert_eq!(img.get_pixel(1, 2)[0], 20); // 160 · 2/16
        assert_eq!(img.get_pixel(1, 1)[0], 10); // 160 · 1/16
    }

    #[test]
    fn identity_warp_changes_nothing() {
        let mut img = RgbImage::from_fn(9, 7, |x, y| image::Rgb([(x * 20) as u8, (y * 30) as u8, 7]));
        let before = img.clone();
        shift_scale_rotate_with(&mut img, 0.0, 1.0, 0.0, 0.0);
        assert_eq!(img, before);
    }

    #[test]
    fn grey_uses_opencv_weights() {
        let mut img = RgbImage::from_pixel(1, 1, image::Rgb([255, 0, 0]));
        to_grey(&mut img);
        assert_eq!(img.get_pixel(0, 0).0, [76, 76, 76]); // 0.299 · 255 = 76.2
    }
}
