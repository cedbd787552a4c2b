//! 68-point face landmarks: dlib's shape predictor (an ensemble of regression trees, Kazemi & Sullivan 2014)
//! reading dlib's own `shape_predictor_68_face_landmarks.dat`, with the exact arithmetic of
//! `shape_predictor::operator()` (../shared/reference/dlib-shape-predictor.md §3), so the integer points equal
//! dlib's. The model file comes from Debian's `libdlib-data` (scripts/setup.sh installs it); its training data,
//! iBUG 300-W, is for non-commercial research only.
//!
//! - `file.rs`: dlib's serialisation format.
//! - `rect.rs`: from an MTCNN face to the rectangle dlib's HOG detector would have given (the model expects it).
//!
//! Point indices (dlib's render_face_detections.h): jaw 0–16, brows 17–21 / 22–26, nose 27–35, eyes 36–41 /
//! 42–47, outer lips 48–59, inner lips 60–67.

mod file;
mod rect;

use std::path::{Path, PathBuf};

use image::RgbImage;

pub use rect::{rect_from_box, rect_from_mtcnn, DlibRect};

/// Where Debian's `libdlib-data` puts the 68-point model.
pub const DEBIAN_MODEL_PATH: &str = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat";

/// Environment variable that overrides [`DEBIAN_MODEL_PATH`].
pub const MODEL_ENV: &str = "DEEPFAKE_DLIB_68";

/// Why landmarks could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum LandmarksError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: not a dlib shape_predictor file (at byte {offset}: {what})")]
    Format { path: String, offset: u64, what: String },
    #[error("no 68-point model at {path}: install Debian's libdlib-data (scripts/setup.sh does) or set {MODEL_ENV}")]
    NoModel { path: String },
}

/// The model file to use: `$DEEPFAKE_DLIB_68`, else Debian's path.
pub fn default_model_path() -> PathBuf {
    std::env::var_os(MODEL_ENV).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(DEBIAN_MODEL_PATH))
}

/// A loaded shape predictor (≈65 MB in memory for the 68-point model). Cheap to share between threads.
#[derive(Debug, Clone)]
pub struct ShapePredictor {
    model: file::Model,
}

/// A predicted shape: the points as dlib returns them (rounded), and before rounding.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// `(x, y)` per part, `floor(v + 0.5)` as dlib's `full_object_detection` holds them.
    pub points: Vec<[i32; 2]>,
    /// The same points before rounding (dlib never exposes these).
    pub exact: Vec<[f64; 2]>,
}

impl ShapePredictor {
    /// Reads a dlib `shape_predictor` file.
    pub fn load(path: &Path) -> Result<Self, LandmarksError> {
        let name = path.display().to_string();
        let f = std::fs::File::open(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => LandmarksError::NoModel { path: name.clone() },
            _ => LandmarksError::Io { path: name.clone(), source },
        })?;
        let model = file::read_model(std::io::BufReader::with_capacity(1 << 20, f), &name)?;
        Ok(Self { model })
    }

    /// A model with no cascades (every prediction is the mean shape), for runs that never predict.
    pub fn empty() -> Self {
        Self { model: file::Model { initial_shape: vec![0.0; 2], cascades: Vec::new() } }
    }

    /// [`ShapePredictor::load`] of [`default_model_path`].
    pub fn load_default() -> Result<Self, LandmarksError> {
        Self::load(&default_model_path())
    }

    /// Number of landmarks (68 for dlib's model).
    pub fn parts(&self) -> usize {
        self.model.initial_shape.len() / 2
    }

    /// The model's mean shape (`initial_shape`), in box units.
    pub fn mean_shape(&self) -> Vec<[f64; 2]> {
        self.model.initial_shape.chunks_exact(2).map(|p| [f64::from(p[0]), f64::from(p[1])]).collect()
    }

    /// The shape in `rect` of an RGB image, as dlib's Python `predictor(img, rect)` on the same HxWx3 array.
    /// Only the grey value `(r + g + b) / 3` (integer division, dlib's RGB→grey) is read.
    pub fn predict(&self, image: &RgbImage, rect: DlibRect) -> Shape {
        let (w, h) = image.dimensions();
        let raw = image.as_raw();
        self.predict_with(w, h, rect, |x, y| {
            let i = 3 * (y as usize * w as usize + x as usize);
            ((u32::from(raw[i]) + u32::from(raw[i + 1]) + u32::from(raw[i + 2])) / 3) as f32
        })
    }

    /// The shape on a grey image (row-major, `width`×`height` bytes).
    pub fn predict_gray(&self, gray: &[u8], width: u32, height: u32, rect: DlibRect) -> Shape {
        assert_eq!(gray.len(), width as usize * height as usize, "grey image of {width}x{height}");
        self.predict_with(width, height, rect, |x, y| f32::from(gray[y as usize * width as usize + x as usize]))
    }

    fn predict_with(&self, width: u32, height: u32, rect: DlibRect, pixel: impl Fn(u32, u32) -> f32) -> Shape {
        let m = &self.model;
        let mut cur = m.initial_shape.clone();
        // unnormalizing_tform(rect): (0,0) → top-left, (1,1) → bottom-right; dlib scales by r−l (not r−l+1).
        let (l, t) = (rect.left as f64, rect.top as f64);
        let (sx, sy) = ((rect.right - rect.left) as f64, (rect.bottom - rect.top) as f64);
        let unnorm = |u: f32, v: f32| (l + f64::from(u) * sx, t + f64::from(v) * sy);
        let mut features = Vec::new();
        for cascade in &m.cascades {
            let [[a, b], [c, d]] = similarity_2x2(&m.initial_shape, &cur);
            features.clear();
            // extract_feature_pixel_values: f32 arithmetic, nearest pixel, 0 outside the image.
            for (&anchor, delta) in cascade.anchors.iter().zip(&cascade.deltas) {
                let a2 = 2 * anchor as usize;
                let qx = a * delta[0] + b * delta[1] + cur[a2];
                let qy = c * delta[0] + d * delta[1] + cur[a2 + 1];
                let (px, py) = unnorm(qx, qy);
                let (px, py) = (dlib_round(px), dlib_round(py));
                let inside = px >= 0 && py >= 0 && px < i64::from(width) && py < i64::from(height);
                features.push(if inside { pixel(px as u32, py as u32) } else { 0.0 });
            }
            let n = cur.len();
            for tree in &cascade.trees {
                let mut node = 0usize;
                while node < tree.splits.len() {
                    let s = tree.splits[node];
                    node = if features[s.idx1 as usize] - features[s.idx2 as usize] > s.thresh {
                        2 * node + 1
                    } else {
                        2 * node + 2
                    };
                }
                let leaf = node - tree.splits.len();
                for (v, add) in cur.iter_mut().zip(&tree.leaves[leaf * n..(leaf + 1) * n]) {
                    *v += add;
                }
            }
        }
        let exact: Vec<[f64; 2]> = cur.chunks_exact(2).map(|p| unnorm(p[0], p[1])).map(|(x, y)| [x, y]).collect();
        let points = exact.iter().map(|&[x, y]| [dlib_round(x) as i32, dlib_round(y) as i32]).collect();
        Shape { points, exact }
    }
}

/// dlib's `vector<double,2>` → `point`: `floor(v + 0.5)` (−2.5 → −2, where `f64::round` gives −3).
fn dlib_round(v: f64) -> i64 {
    (v + 0.5).floor() as i64
}

/// The 2×2 part of the least-squares similarity transform from `from` to `to` (dlib's
/// `find_similarity_transform`, computed in f64 on the f32 points and cast to f32). For two dimensions the
/// Umeyama solution is the closed form `a = Σ(x·x' + y·y') / Σ(x² + y²)`, `b = Σ(x·y' − y·x') / Σ(x² + y²)` on
/// centred points (dlib-shape-predictor.md §3: identical in every case checked).
fn similarity_2x2(from: &[f32], to: &[f32]) -> [[f32; 2]; 2] {
    let n = (from.len() / 2) as f64;
    if from.len() < 4 {
        return [[1.0, 0.0], [0.0, 1.0]];
    }
    let mean = |s: &[f32], k: usize| s.iter().skip(k).step_by(2).map(|&v| f64::from(v)).sum::<f64>() / n;
    let (fx, fy, tx, ty) = (mean(from, 0), mean(from, 1), mean(to, 0), mean(to, 1));
    let (mut num_a, mut num_b, mut den) = (0.0f64, 0.0f64, 0.0f64);
    for (p, q) in from.chunks_exact(2).zip(to.chunks_exact(2)) {
        let (x, y) = (f64::from(p[0]) - fx, f64::from(p[1]) - fy);
        let (x2, y2) = (f64::from(q[0]) - tx, f64::from(q[1]) - ty);
        num_a += x * x2 + y * y2;
        num_b += x * y2 - y * x2;
        den += x * x + y * y;
    }
    if den == 0.0 {
        return [[1.0, 0.0], [0.0, 1.0]];
    }
    let (a, b) = ((num_a / den) as f32, (num_b / den) as f32);
    [[a, -b], [b, a]]
}

/// The outline of the face for masks: the convex hull of all points, counter-clockwise (Andrew's monotone chain).
pub fn convex_hull(points: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let mut p: Vec<[f64; 2]> = points.iter().copied().filter(|q| q[0].is_finite() && q[1].is_finite()).collect();
    p.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let cross = |o: [f64; 2], a: [f64; 2], b: [f64; 2]| (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
    let mut hull: Vec<[f64; 2]> = Vec::with_capacity(2 * p.len());
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &[f64; 2]>> =
            if pass == 0 { Box::new(p.iter()) } else { Box::new(p.iter().rev()) };
        for &q in iter {
            while hull.len() >= start + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], q) <= 0.0 {
                hull.pop();
            }
            hull.push(q);
        }
        hull.pop();
    }
    hull
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_floor_of_plus_half() {
        assert_eq!(dlib_round(-2.5), -2);
        assert_eq!(dlib_round(2.5), 3);
        assert_eq!(dlib_round(-0.6), -1);
    }

    #[test]
    fn similarity_recovers_a_rotation_and_scale() {
        let from = [0.0f32, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        // rotate 90° and scale 2: (x, y) → (−2y, 2x), shifted.
        let to: Vec<f32> = from.chunks(2).flat_map(|p| [-2.0 * p[1] + 5.0, 2.0 * p[0] - 1.0]).collect();
        let m = similarity_2x2(&from, &to);
        let close = |a: f32, b: f32| (a - b).abs() < 1e-6;
        assert!(close(m[0][0], 0.0) && close(m[0][1], -2.0) && close(m[1][0], 2.0) && close(m[1][1], 0.0), "{m:?}");
    }

    #[test]
    fn hull_of_a_square_with_an_inner_point() {
        let pts = [[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0], [1.0, 1.0], [1.0, 0.0]];
        let hull = convex_hull(&pts);
        assert_eq!(hull, vec![[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]]);
    }
}
