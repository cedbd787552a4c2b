//! The solution's face-part dropouts (dfdc-solution.md §3.5, training-recipes.md §2): remove the eyes, the mouth
//! or the nose along a line between landmarks, black out half of the face outline, or keep half of the image
//! where the fake differs from its original. They run before every other augmentation and never touch the diff.
//!
//! Drawing is hand-written: the shapes are OpenCV's thick line and scipy's iterated cross dilation, whose exact
//! extent (a 3-pixel band with round caps, grown by an L1 radius) no drawing crate reproduces.

use image::{GrayImage, RgbImage};
use rand::Rng;

/// A 0/1 mask of an image's size, row-major.
pub type Mask = Vec<bool>;

/// `cv2.line(mask, p1, p2, 1, thickness=2)`: the pixels within distance 1 of the segment (a 3-pixel band with
/// round caps, training-recipes.md §0.8).
pub fn thick_line(w: usize, h: usize, p1: (f64, f64), p2: (f64, f64)) -> Mask {
    let mut mask = vec![false; w * h];
    let (dx, dy) = (p2.0 - p1.0, p2.1 - p1.1);
    let len2 = dx * dx + dy * dy;
    let (x0, x1) = ((p1.0.min(p2.0) - 1.0).floor().max(0.0) as usize, (p1.0.max(p2.0) + 1.0).ceil());
    let (y0, y1) = ((p1.1.min(p2.1) - 1.0).floor().max(0.0) as usize, (p1.1.max(p2.1) + 1.0).ceil());
    for y in y0..=(y1.max(0.0) as usize).min(h.saturating_sub(1)) {
        for x in x0..=(x1.max(0.0) as usize).min(w.saturating_sub(1)) {
            let (px, py) = (x as f64 - p1.0, y as f64 - p1.1);
            let t = if len2 > 0.0 { ((px * dx + py * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
            let (ex, ey) = (px - t * dx, py - t * dy);
            if ex * ex + ey * ey <= 1.0 + 1e-9 {
                mask[y * w + x] = true;
            }
        }
    }
    mask
}

/// `scipy.ndimage.binary_dilation(mask, iterations=it)` with the default 3×3 cross: everything within L1
/// distance `it` of the mask. `it = 0` means "until nothing changes", i.e. the whole image once the mask is
/// not empty (training-recipes.md §0.8) — a quirk kept on purpose: tiny faces lose everything.
pub fn dilate_cross(mask: &Mask, w: usize, h: usize, iterations: usize) -> Mask {
    if !mask.iter().any(|&m| m) {
        return mask.clone();
    }
    if iterations == 0 {
        return vec![true; w * h];
    }
    // Two-pass L1 distance transform.
    let inf = usize::MAX / 4;
    let mut d: Vec<usize> = mask.iter().map(|&m| if m { 0 } else { inf }).collect();
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if x > 0 {
                d[i] = d[i].min(d[i - 1] + 1);
            }
            if y > 0 {
                d[i] = d[i].min(d[i - w] + 1);
            }
        }
    }
    for y in (0..h).rev() {
        for x in (0..w).rev() {
            let i = y * w + x;
            if x + 1 < w {
                d[i] = d[i].min(d[i + 1] + 1);
            }
            if y + 1 < h {
                d[i] = d[i].min(d[i + w] + 1);
            }
        }
    }
    d.iter().map(|&v| v <= iterations).collect()
}

/// Zeroes all three channels where `mask` is set.
pub fn zero_where(img: &mut RgbImage, mask: &Mask) {
    for (p, &m) in img.pixels_mut().zip(mask) {
        if m {
            p.0 = [0, 0, 0];
        }
    }
}

fn dist(a: (f64, f64), b: (f64, f64)) -> f64 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

/// The 5 MTCNN points of a crop: left eye, right eye, nose, left mouth corner, right mouth corner (x, y).
pub type Landmarks5 = [(f64, f64); 5];

/// `remove_eyes`: the line between the eyes, dilated by `int(eye_distance // 4)`.
pub fn remove_eyes(img: &mut RgbImage, lm: &Landmarks5) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let line = thick_line(w, h, lm[0], lm[1]);
    let it = (dist(lm[0], lm[1]) / 4.0).floor() as usize;
    zero_where(img, &dilate_cross(&line, w, h, it));
}

/// `remove_mouth`: the line between the mouth corners, dilated by `int(mouth_width // 3)`.
pub fn remove_mouth(img: &mut RgbImage, lm: &Landmarks5) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let line = thick_line(w, h, lm[3], lm[4]);
    let it = (dist(lm[3], lm[4]) / 3.0).floor() as usize;
    zero_where(img, &dilate_cross(&line, w, h, it));
}

/// `remove_nose`: the line from the nose to the (integer) midpoint of the eyes, dilated by `int(eye_distance // 4)`.
pub fn remove_nose(img: &mut RgbImage, lm: &Landmarks5) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mid = (((lm[0].0 + lm[1].0) / 2.0).trunc(), ((lm[0].1 + lm[1].1) / 2.0).trunc());
    let line = thick_line(w, h, lm[2], mid);
    let it = (dist(lm[0], lm[1]) / 4.0).floor() as usize;
    zero_where(img, &dilate_cross(&line, w, h, it));
}

/// `remove_landmark`: eyes with probability 1/2, else mouth 1/2, else nose 1/2, else nothing.
pub fn remove_landmark(img: &mut RgbImage, lm: &Landmarks5, rng: &mut impl Rng) {
    if rng.random::<f64>() > 0.5 {
        remove_eyes(img, lm);
    } else if rng.random::<f64>() > 0.5 {
        remove_mouth(img, lm);
    } else if rng.random::<f64>() > 0.5 {
        remove_nose(img, lm);
    }
}

/// Pixel centres inside a polygon (even-odd rule, as `skimage.draw.polygon`).
pub fn fill_polygon(w: usize, h: usize, pts: &[(f64, f64)]) -> Mask {
    let mut mask = vec![false; w * h];
    if pts.len() < 3 {
        return mask;
    }
    for y in 0..h {
        let yc = y as f64;
        let mut xs: Vec<f64> = Vec::new();
        for i in 0..pts.len() {
            let (a, b) = (pts[i], pts[(i + 1) % pts.len()]);
            if (a.1 <= yc && b.1 > yc) || (b.1 <= yc && a.1 > yc) {
                xs.push(a.0 + (yc - a.1) / (b.1 - a.1) * (b.0 - a.0));
            }
        }
        xs.sort_by(f64::total_cmp);
        for pair in xs.chunks_exact(2) {
            let from = pair[0].ceil().max(0.0) as usize;
            let to = pair[1].floor().min(w as f64 - 1.0);
            if to < 0.0 {
                continue;
            }
            for x in from..=(to as usize) {
                mask[y * w + x] = true;
            }
        }
    }
    mask
}

/// `blackout_convex_hull`: the face outline from the 68 landmarks (jaw 0–16, then brows 26…17) is filled, cut
/// through its centroid horizontally or vertically (`R > .5`), and one half (`first = R > .5`: the bottom or
/// right half) is blacked out. The solution ran dlib on the crop at this point; here the 68 points come from
/// preprocessing (the original's crop, like the 5 points). Points outside the crop are clipped to it.
pub fn blackout_half_face(img: &mut RgbImage, lm68: &[(f64, f64)], rng: &mut impl Rng) {
    if lm68.len() < 68 {
        return;
    }
    let (w, h) = (img.width() as usize, img.height() as usize);
    let outline: Vec<(f64, f64)> = (0..17).chain((17..27).rev()).map(|i| lm68[i]).collect();
    let mut face = fill_polygon(w, h, &outline);
    let (mut n, mut sy, mut sx) = (0usize, 0usize, 0usize);
    for (i, &f) in face.iter().enumerate() {
        if f {
            n += 1;
            sy += i / w;
            sx += i % w;
        }
    }
    if n == 0 {
        return;
    }
    let (cy, cx) = (sy / n, sx / n);
    let first = rng.random::<f64>() > 0.5;
    let horizontal = rng.random::<f64>() > 0.5;
    for (i, f) in face.iter_mut().enumerate() {
        let (y, x) = (i / w, i % w);
        let cut = match (horizontal, first) {
            (true, true) => y < cy,
            (true, false) => y >= cy,
            (false, true) => x < cx,
            (false, false) => x >= cx,
        };
        if cut {
            *f = false;
        }
    }
    zero_where(img, &face);
}

/// The six bit masks of `prepare_bit_masks` (true = kept): bottom, top, right, left halves and the two diagonal
/// quadrant pairs. `w_quirk` keeps the solution's `mid_h = w // 2` (harmless on square crops).
pub fn bit_masks(w: usize, h: usize, w_quirk: bool) -> [Mask; 6] {
    let mid_h = if w_quirk { w / 2 } else { h / 2 };
    let mid_w = w / 2;
    let make = |keep: &dyn Fn(usize, usize) -> bool| -> Mask { (0..w * h).map(|i| keep(i / w, i % w)).collect() };
    [
        make(&|y, _| y >= mid_h),
        make(&|y, _| y < mid_h),
        make(&|_, x| x >= mid_w),
        make(&|_, x| x < mid_w),
        make(&|y, x| (y < mid_h) != (x < mid_w)),
        make(&|y, x| (y < mid_h) == (x < mid_w)),
    ]
}

/// The bit-mask dropout: up to five random masks (with replacement); the first that keeps more than 20 changed
/// pixels of the diff (or any, for a real crop) is applied to the image (and the diff); none: unchanged.
pub fn bitmask_dropout(img: &mut RgbImage, diff: &mut GrayImage, label: f32, w_quirk: bool, rng: &mut impl Rng) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if diff.dimensions() != img.dimensions() {
        return;
    }
    let masks = bit_masks(w, h, w_quirk);
    for _ in 0..5 {
        let bm = &masks[rng.random_range(0..6)];
        let kept = diff.as_raw().iter().zip(bm).filter(|(d, &k)| k && **d > 0).count();
        if label < 0.5 || kept > 20 {
            let drop: Mask = bm.iter().map(|&k| !k).collect();
            zero_where(img, &drop);
            for (d, &k) in diff.iter_mut().zip(bm) {
                if !k {
                    *d = 0;
                }
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thick_line_is_a_three_pixel_band() {
        let m = thick_line(10, 5, (2.0, 2.0), (7.0, 2.0));
        let rows: Vec<usize> = (0..5).map(|y| (0..10).filter(|&x| m[y * 10 + x]).count()).collect();
        assert_eq!(rows, vec![0, 6, 8, 6, 0]); // round caps: the middle row reaches one pixel further
    }

    #[test]
    fn cross_dilation_grows_an_l1_diamond_and_zero_iterations_fill_everything() {
        let mut m = vec![false; 49];
        m[24] = true;
        let d = dilate_cross(&m, 7, 7, 2);
        assert_eq!(d.iter().filter(|&&v| v).count(), 13);
        assert!(d[24 - 14] && !d[24 - 16]);
        assert!(dilate_cross(&m, 7, 7, 0).iter().all(|&v| v));
    }

    #[test]
    fn polygon_fill_covers_a_square() {
        let m = fill_polygon(10, 10, &[(2.0, 2.0), (6.0, 2.0), (6.0, 6.0), (2.0, 6.0)]);
        assert_eq!(m.iter().filter(|&&v| v).count(), 5 * 4); // rows 2..6 (top-inclusive), cols 2..=6
    }
}
