//! The rectangle the 68-point model expects, from an MTCNN face.
//!
//! dlib's model was trained on the boxes of dlib's HOG detector ("the only thing that matters is getting an
//! initial bounding box aligned the way dlib's HOG detector aligns it", Davis King, dlib issue #1232). MTCNN's
//! boxes are taller (h/w ≈ 1.4) and sit higher, so fed raw they move the landmarks by 0.042 inter-ocular distances
//! on average. dlib has no MTCNN mapping of its own; we fit one (dlib-shape-predictor.md §4): the similarity that
//! carries the model's mean shape's five MTCNN-like points (eye centres, nose tip, mouth corners) onto MTCNN's five
//! landmarks gives the box's scale and place. Measured effect in README ("68-point landmarks").

/// A dlib `rectangle`: integer, inclusive corners (dlib's width is `right − left + 1`, but the shape predictor
/// scales by `right − left`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct DlibRect {
    pub left: i64,
    pub top: i64,
    pub right: i64,
    pub bottom: i64,
}

impl DlibRect {
    pub fn new(left: i64, top: i64, right: i64, bottom: i64) -> Self {
        Self { left, top, right, bottom }
    }
}

/// The model's mean shape at the five MTCNN points, in box units: eye centres (mean of 36–41, 42–47), nose tip 30,
/// mouth corners 48 and 54 of `initial_shape` (dlib-shape-predictor.md §2), eye on the image left first like MTCNN.
const MEAN_FIVE: [[f64; 2]; 5] =
    [[0.2945, 0.3152], [0.7055, 0.3152], [0.5, 0.5470], [0.3171, 0.7511], [0.6829, 0.7511]];

/// Side and centre offset of the HOG box relative to the fitted unit box, measured on 236 faces against dlib's
/// HOG detector (dlib-shape-predictor.md §4): side = 0.964·s, centre + (−0.006, +0.026)·side.
const SIDE: f64 = 0.964;
const SHIFT: [f64; 2] = [-0.006, 0.026];

/// `floor(v + 0.5)`, the same rounding the reference script uses.
fn round(v: f64) -> i64 {
    (v + 0.5).floor() as i64
}

/// The HOG-like rectangle for a face with MTCNN's five landmarks (left eye, right eye, nose, left and right
/// mouth corner, as `[x, y]`). `None` when the points are not finite or coincide.
pub fn rect_from_mtcnn(landmarks: &[[f32; 2]; 5]) -> Option<DlibRect> {
    let to: Vec<[f64; 2]> = landmarks.iter().map(|p| [f64::from(p[0]), f64::from(p[1])]).collect();
    if to.iter().flatten().any(|v| !v.is_finite()) {
        return None;
    }
    let mean = |s: &[[f64; 2]], k: usize| s.iter().map(|p| p[k]).sum::<f64>() / s.len() as f64;
    let (fx, fy) = (mean(&MEAN_FIVE, 0), mean(&MEAN_FIVE, 1));
    let (tx, ty) = (mean(&to, 0), mean(&to, 1));
    let (mut num_a, mut num_b, mut den) = (0.0, 0.0, 0.0);
    for (p, q) in MEAN_FIVE.iter().zip(&to) {
        let (x, y) = (p[0] - fx, p[1] - fy);
        let (x2, y2) = (q[0] - tx, q[1] - ty);
        num_a += x * x2 + y * y2;
        num_b += x * y2 - y * x2;
        den += x * x + y * y;
    }
    let (a, b) = (num_a / den, num_b / den);
    let s = a.hypot(b);
    if !(s.is_finite() && s > 0.0) {
        return None;
    }
    // c = M·(0.5, 0.5) + t with t = μ_to − M·μ_from, M = [[a, −b], [b, a]].
    let (dx, dy) = (0.5 - fx, 0.5 - fy);
    let (cx, cy) = (tx + a * dx - b * dy, ty + b * dx + a * dy);
    let side = SIDE * s;
    let (cx, cy) = (cx + SHIFT[0] * side, cy + SHIFT[1] * side);
    let (l, t) = (round(cx - side / 2.0), round(cy - side / 2.0));
    let n = round(side);
    Some(DlibRect::new(l, t, l + n, t + n))
}

/// A fallback from the box alone, for faces whose landmarks are unusable: centre + (0.002w, 0.0545h), side 1.095w
/// (dlib-shape-predictor.md §4; 0.026 IOD mean error against the HOG box, but it breaks on faces cut by the edge).
pub fn rect_from_box(bbox: [f32; 4]) -> Option<DlibRect> {
    let [x1, y1, x2, y2] = bbox.map(f64::from);
    let (w, h) = (x2 - x1, y2 - y1);
    if !(w.is_finite() && h.is_finite() && w > 0.0 && h > 0.0) {
        return None;
    }
    let (cx, cy) = ((x1 + x2) / 2.0 + 0.002 * w, (y1 + y2) / 2.0 + 0.0545 * h);
    let side = 1.095 * w;
    let (l, t) = (round(cx - side / 2.0), round(cy - side / 2.0));
    let n = round(side);
    Some(DlibRect::new(l, t, l + n, t + n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_shape_maps_back_to_its_own_box() {
        // MTCNN points exactly at the model's mean shape in a 100-px box at (50, 20): the fitted unit box is that
        // box, so the rectangle is it scaled by 0.964 and shifted by (−0.006, 0.026)·side.
        let lm = MEAN_FIVE.map(|p| [(50.0 + 100.0 * p[0]) as f32, (20.0 + 100.0 * p[1]) as f32]);
        let r = rect_from_mtcnn(&lm).unwrap();
        // side 96.4 → 96; centre (100 − 0.58, 70 + 2.51) → left round(99.42 − 48.2) = 51, top round(72.51 − 48.2) = 24
        assert_eq!(r, DlibRect::new(51, 24, 147, 120));
    }

    #[test]
    fn degenerate_points_give_no_rect() {
        assert_eq!(rect_from_mtcnn(&[[1.0, 1.0]; 5]), None);
        assert_eq!(rect_from_mtcnn(&[[f32::NAN, 1.0]; 5]), None);
        assert_eq!(rect_from_box([10.0, 10.0, 5.0, 20.0]), None);
    }
}
