//! The training data: rows of `folds.csv` (the format `deepfake preprocess` writes: `video,file,label,original,
//! frame,fold`), the per-epoch balanced sample of dfdc-solution.md §3.5, and loading a crop with what
//! preprocessing stored beside it (`crops/<video>/<file>`, `landmarks/<original>/<stem>.npy` and
//! `<stem>_68.npy`, `diffs/<video>/<stem>_diff.png`).

use std::path::{Path, PathBuf};

use image::RgbImage;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Deserialize;

use super::augment::CropExtras;

/// Why the dataset cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: row {row}: {reason}")]
    BadRow { path: PathBuf, row: usize, reason: String },
    #[error("{path}: {reason}")]
    Csv { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Empty { path: PathBuf, reason: String },
    #[error("{path}: cannot read crop: {reason}")]
    Crop { path: PathBuf, reason: String },
}

/// One crop of `folds.csv`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Row {
    /// Video id (the folder under `crops/`).
    pub video: String,
    /// `<frame>_<face>.png`.
    pub file: String,
    /// 1 fake, 0 real.
    pub label: f32,
    /// The real video this one was made from (itself for reals).
    pub original: String,
    pub frame: i64,
    pub fold: i64,
}

impl Row {
    pub fn is_fake(&self) -> bool {
        self.label > 0.5
    }

    fn stem(&self) -> &str {
        self.file.strip_suffix(".png").or_else(|| self.file.strip_suffix(".jpg")).unwrap_or(&self.file)
    }

    pub fn crop_path(&self, root: &Path) -> PathBuf {
        root.join("crops").join(&self.video).join(&self.file)
    }

    pub fn landmarks_path(&self, root: &Path) -> PathBuf {
        root.join("landmarks").join(&self.original).join(format!("{}.npy", self.stem()))
    }

    pub fn landmarks68_path(&self, root: &Path) -> PathBuf {
        root.join("landmarks").join(&self.original).join(format!("{}_68.npy", self.stem()))
    }

    pub fn diff_path(&self, root: &Path) -> PathBuf {
        root.join("diffs").join(&self.video).join(format!("{}_diff.png", self.stem()))
    }
}

/// Names must stay inside the dataset folder.
fn safe_component(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\', '\0'])
}

/// Reads `folds.csv`.
pub fn read_folds(path: &Path) -> Result<Vec<Row>, DataError> {
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| DataError::Csv { path: path.into(), reason: e.to_string() })?;
    let mut rows = Vec::new();
    for (i, record) in reader.deserialize::<Row>().enumerate() {
        let bad = |reason: String| DataError::BadRow { path: path.into(), row: i + 2, reason };
        let row = record.map_err(|e| bad(e.to_string()))?;
        if !(row.label == 0.0 || row.label == 1.0) {
            return Err(bad(format!("label must be 0 or 1, got {}", row.label)));
        }
        if ![&row.video, &row.file, &row.original].iter().all(|s| safe_component(s)) {
            return Err(bad("video, file and original must be plain names".into()));
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(DataError::Empty { path: path.into(), reason: "no rows".into() });
    }
    Ok(rows)
}

/// The training and validation rows of one holdout fold.
#[derive(Debug, Clone)]
pub struct Split {
    pub train_real: Vec<Row>,
    pub train_fake: Vec<Row>,
    pub val: Vec<Row>,
}

/// train = fold ≠ holdout; validation = holdout rows with `frame % val_frame_step == 0`.
pub fn split(rows: &[Row], holdout: i64, val_frame_step: u64, path: &Path) -> Result<Split, DataError> {
    let (mut train_real, mut train_fake, mut val) = (Vec::new(), Vec::new(), Vec::new());
    for r in rows {
        if r.fold == holdout {
            if r.frame.rem_euclid(val_frame_step as i64) == 0 {
                val.push(r.clone());
            }
        } else if r.is_fake() {
            train_fake.push(r.clone());
        } else {
            train_real.push(r.clone());
        }
    }
    let empty = |reason: &str| Err(DataError::Empty { path: path.into(), reason: reason.into() });
    if train_real.is_empty() {
        return empty("no real training crops (fold != holdout)");
    }
    if train_fake.is_empty() {
        return empty("no fake training crops (fold != holdout)");
    }
    if val.is_empty() {
        return empty("no validation crops in the holdout fold (check data.holdout_fold and data.val_frame_step)");
    }
    Ok(Split { train_real, train_fake, val })
}

/// The epoch's training rows (the solution's `_oversample`, which in fact undersamples the fakes): all reals and as
/// many fakes drawn without replacement (all of them if there are fewer), shuffled; both draws seeded by
/// `(epoch + 1) · seed` (`epoch` 0-based) so a resumed run sees the same epochs.
pub fn epoch_rows(split: &Split, epoch: usize, seed: u64) -> Vec<Row> {
    let mut rng = StdRng::seed_from_u64((epoch as u64 + 1).wrapping_mul(seed));
    let mut fakes = split.train_fake.clone();
    fakes.shuffle(&mut rng);
    fakes.truncate(split.train_real.len());
    let mut rows: Vec<Row> = split.train_real.iter().cloned().chain(fakes).collect();
    rows.shuffle(&mut rng);
    rows
}

/// Reads a NumPy `.npy` int16 array of shape `(n, 2)` (landmarks). Only this dtype and layout are needed, so a
/// ten-line reader beats a dependency on ndarray.
pub fn read_npy_points(path: &Path) -> Option<Vec<(f64, f64)>> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return None;
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?) as usize, 12),
    };
    let header = std::str::from_utf8(bytes.get(start..start + header_len)?).ok()?;
    if !header.contains("'<i2'") || header.contains("'fortran_order': True") {
        return None;
    }
    let data = &bytes[start + header_len..];
    let values: Vec<i16> = data.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
    if values.is_empty() || !values.len().is_multiple_of(2) {
        return None;
    }
    Some(values.chunks_exact(2).map(|p| (f64::from(p[0]), f64::from(p[1]))).collect())
}

/// Writes `points` as a NumPy int16 `(n, 2)` array (used by tests to build datasets).
pub fn npy_points_bytes(points: &[(i16, i16)]) -> Vec<u8> {
    let mut header = format!("{{'descr': '<i2', 'fortran_order': False, 'shape': ({}, 2), }}", points.len());
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &(x, y) in points {
        out.extend_from_slice(&x.to_le_bytes());
        out.extend_from_slice(&y.to_le_bytes());
    }
    out
}

/// A crop and what the dropouts need. Missing landmark and diff files are normal (no dropout of that kind).
pub fn load_crop(root: &Path, row: &Row, with_extras: bool) -> Result<(RgbImage, CropExtras), DataError> {
    let path = row.crop_path(root);
    let img = crate::imaging::load::load_rgb(&path)
        .map_err(|e| DataError::Crop { path: path.clone(), reason: e.to_string() })?;
    if img.width() == 0 || img.height() == 0 {
        return Err(DataError::Crop { path, reason: "empty image".into() });
    }
    let mut extras = CropExtras::default();
    if with_extras {
        extras.landmarks5 =
            read_npy_points(&row.landmarks_path(root)).filter(|p| p.len() == 5).map(|p| [p[0], p[1], p[2], p[3], p[4]]);
        extras.landmarks68 = read_npy_points(&row.landmarks68_path(root)).filter(|p| p.len() == 68);
        if row.is_fake() {
            extras.diff = image::open(row.diff_path(root))
                .ok()
                .map(|d| d.to_luma8())
                .filter(|d| d.dimensions() == img.dimensions());
        }
    }
    Ok((img, extras))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(video: &str, label: f32, fold: i64, frame: i64) -> Row {
        Row { video: video.into(), file: format!("{frame}_0.png"), label, original: "o".into(), frame, fold }
    }

    #[test]
    fn epochs_are_balanced_seeded_and_differ() {
        let rows: Vec<Row> = (0..10)
            .map(|i| row(&format!("r{i}"), 0.0, 1, 0))
            .chain((0..30).map(|i| row(&format!("f{i}"), 1.0, 1, 0)))
            .chain([row("v", 0.0, 0, 20)])
            .collect();
        let s = split(&rows, 0, 20, Path::new("folds.csv")).unwrap();
        let e0 = epoch_rows(&s, 0, 111);
        assert_eq!(e0.len(), 20);
        assert_eq!(e0.iter().filter(|r| r.is_fake()).count(), 10);
        assert_eq!(e0, epoch_rows(&s, 0, 111));
        assert_ne!(e0, epoch_rows(&s, 1, 111));
    }

    #[test]
    fn npy_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        std::fs::write(&p, npy_points_bytes(&[(1, 2), (-3, 400), (5, 6), (7, 8), (9, 10)])).unwrap();
        assert_eq!(read_npy_points(&p).unwrap()[1], (-3.0, 400.0));
    }

    #[test]
    fn validation_keeps_every_nth_frame_of_the_holdout() {
        let rows = vec![row("a", 0.0, 1, 0), row("b", 1.0, 1, 0), row("v", 0.0, 0, 20), row("v", 0.0, 0, 30)];
        let s = split(&rows, 0, 20, Path::new("f")).unwrap();
        assert_eq!(s.val.len(), 1);
    }
}
