//! `preprocess`: the solution's five preprocessing scripts (dfdc-solution.md §4) over a DFDC-layout data root, with
//! its output formats, so its data and ours are interchangeable:
//!
//! | step | the original | output |
//! |---|---|---|
//! | `boxes` | detect_original_faces.py | `boxes/<real>.json`: `{"<frame>": [[x1,y1,x2,y2], …] \| null}`, half resolution |
//! | `crops` | extract_crops.py | `crops/<video>/<frame>_<face>.png` (every 10th frame; fakes use their original's boxes) |
//! | `landmarks` | generate_landmarks.py | `landmarks/<real>/<frame>_<face>.npy` (int16 (5, 2)) and `…_68.npy` (int16 (68, 2), dlib) |
//! | `diffs` | generate_diffs.py | `diffs/<fake>/<frame>_<face>_diff.png` |
//! | `folds` | generate_folds.py | `folds.csv`: `video,file,label,original,frame,fold` |
//!
//! Every step skips what is already written (a video whose outputs all exist is not decoded again), writes each
//! file atomically, runs videos on a bounded pool, reports progress through a callback and collects the videos it
//! could not read instead of stopping. Frames come from `video::for_each_frame`, faces from `face::Detector`, crops
//! from `imaging::crop::face_crop`, the diff from `imaging::ssim`: the same stages `infer` uses.
//!
//! Differences from the original, on purpose:
//! - boxes: the key quirk of §4.1 (keys `j·32 + indices[i]` from the first batch's indices, wrong once a frame fails
//!   to decode) is fixed: keys are the real frame numbers. Identical whenever every frame decodes.
//! - folds: rows are sorted by video and file; the original shuffles them without a seed.

pub mod layout;
pub mod npy;
mod steps;

use std::path::PathBuf;

use burn::prelude::Backend;

use crate::face::landmarks::ShapePredictor;
use crate::face::{Detector, DetectorConfig};
use crate::model::fused::FusedOps;
pub use layout::{fold_of, Dataset, Video};

/// The five steps, in the order they depend on each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    Boxes,
    Crops,
    Landmarks,
    Diffs,
    Folds,
}

impl Step {
    pub const ALL: [Step; 5] = [Step::Boxes, Step::Crops, Step::Landmarks, Step::Diffs, Step::Folds];

    pub fn name(self) -> &'static str {
        match self {
            Step::Boxes => "boxes",
            Step::Crops => "crops",
            Step::Landmarks => "landmarks",
            Step::Diffs => "diffs",
            Step::Folds => "folds",
        }
    }
}

impl std::str::FromStr for Step {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Step::ALL
            .into_iter()
            .find(|step| step.name() == s.trim())
            .ok_or_else(|| format!("unknown step `{s}` (boxes, crops, landmarks, diffs, folds)"))
    }
}

/// MTCNN thresholds of detect_original_faces.py.
pub const BOXES_THRESHOLDS: [f32; 3] = [0.85, 0.95, 0.95];
/// MTCNN thresholds of generate_landmarks.py.
pub const LANDMARKS_THRESHOLDS: [f32; 3] = [0.65, 0.75, 0.75];

/// The detector settings a step uses (other settings: facenet-pytorch's defaults, as the originals).
pub fn detector_config(step: Step) -> DetectorConfig {
    let thresholds = if step == Step::Landmarks { LANDMARKS_THRESHOLDS } else { BOXES_THRESHOLDS };
    DetectorConfig { thresholds, ..DetectorConfig::default() }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct PreprocessRequest {
    pub root: PathBuf,
    pub steps: Vec<Step>,
    /// Videos processed at once by the crops, landmarks and diffs steps.
    pub jobs: usize,
    /// Frames per detector call in the boxes step (the original: 32).
    pub batch: usize,
}

/// The networks a run needs: MTCNN at the boxes thresholds and at the landmarks thresholds, and dlib's model.
pub struct Models<'a, B: Backend> {
    pub boxes: &'a Detector<B>,
    pub landmarks: &'a Detector<B>,
    pub predictor: &'a ShapePredictor,
}

/// Why the run as a whole could not go on (a video that fails is reported in the [`StepReport`] instead).
#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Layout { path: PathBuf, reason: String },
    #[error("fake {fake} is in fold {fake_fold:?} but its original {original} in fold {original_fold:?}")]
    FoldLeak { fake: String, original: String, fake_fold: Option<u32>, original_fold: Option<u32> },
}

/// Progress: one event per video (or pair) of a step.
#[derive(Debug, Clone)]
pub struct PreprocessEvent {
    pub step: Step,
    pub done: usize,
    pub total: usize,
    pub video: String,
    /// The video was already complete and was not read.
    pub skipped: bool,
    pub error: Option<String>,
}

/// What one step did.
#[derive(Debug, Clone, Default)]
pub struct StepReport {
    /// Videos (pairs for diffs) looked at.
    pub items: usize,
    /// Of those, already complete.
    pub skipped: usize,
    pub files_written: usize,
    /// Frames decoded (boxes, crops).
    pub frames: u64,
    pub failed: Vec<(String, String)>,
    pub seconds: f64,
}

/// Runs the requested steps in order.
pub fn run<B: FusedOps>(
    req: &PreprocessRequest,
    models: &Models<'_, B>,
    progress: &(dyn Fn(PreprocessEvent) + Sync),
) -> Result<Vec<(Step, StepReport)>, PreprocessError> {
    let data = Dataset::scan(&req.root)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(req.jobs.max(1))
        .build()
        .map_err(|e| PreprocessError::Layout { path: req.root.clone(), reason: format!("thread pool: {e}") })?;
    let mut steps = req.steps.clone();
    steps.sort();
    steps.dedup();
    let mut reports = Vec::new();
    for step in steps {
        let started = std::time::Instant::now();
        let mut report = match step {
            Step::Boxes => steps::boxes(&data, models.boxes, req.batch.max(1), progress),
            Step::Crops => pool.install(|| steps::crops(&data, progress)),
            Step::Landmarks => steps::landmarks(&data, models.landmarks, models.predictor, progress),
            Step::Diffs => pool.install(|| steps::diffs(&data, progress)),
            Step::Folds => steps::folds(&data)?,
        };
        report.seconds = started.elapsed().as_secs_f64();
        reports.push((step, report));
    }
    Ok(reports)
}
