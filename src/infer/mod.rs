//! The per-video pipeline of `predict_folder.py` (dfdc-solution.md §5): sampled frames → half-size frames →
//! MTCNN → face crops → every classifier → confident rule per model → mean over models.
//!
//! Decoding runs on its own thread, one video ahead of detection and classification, through a bounded queue.

pub mod pipeline;
pub mod report;
pub mod strategy;
pub mod tracks;

use serde::{Deserialize, Serialize};

use crate::face::nms::BoxF;
use crate::face::DetectorConfig;
use crate::video::SampleOptions;

/// What `infer` does with each video.
#[derive(Debug, Clone)]
pub struct InferOptions {
    pub sample: SampleOptions,
    pub detector: DetectorConfig,
    /// At most this many faces per video go to the classifiers (the original's batch of 128 holds 127).
    pub max_faces: usize,
    /// Crops per classifier forward pass.
    pub batch_size: usize,
    /// Group faces into people and score the most suspicious one, instead of pooling everyone.
    pub per_person: bool,
    /// Compute the rule in float16, as the original's `.half()` models did (set for `--precision f16`).
    pub half_probabilities: bool,
}

impl Default for InferOptions {
    fn default() -> Self {
        Self {
            sample: SampleOptions::default(),
            detector: DetectorConfig::dfdc_inference(),
            max_faces: 127,
            // Flex runs fastest one image at a time; the CLI raises this on a GPU.
            batch_size: 1,
            per_person: false,
            half_probabilities: false,
        }
    }
}

/// How a video ended; every status but `ok` has no score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status(pub String);

impl Status {
    pub fn ok() -> Self {
        Status("ok".into())
    }
    pub fn no_face() -> Self {
        Status("no_face".into())
    }
    pub fn is_ok(&self) -> bool {
        self.0 == "ok"
    }
}

/// One face that went to the classifiers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaceRecord {
    /// Detector box in full-frame pixels (the half-size detector's box × 2).
    #[serde(rename = "box")]
    pub bbox: BoxF,
    pub detector_score: f32,
    /// Crop rectangle `[x0, y0, x1, y1]` (end-exclusive) in the full frame, with the solution's margins.
    pub crop: [u32; 4],
    /// Fake probability from each model, in `--model` order.
    pub probabilities: Vec<f32>,
    /// Person id with `--per-person`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub track: Option<usize>,
}

/// One sampled frame.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FrameRecord {
    pub index: u64,
    /// Faces the detector found in this frame.
    pub detected: usize,
    /// Those of them that were classified (the 127-face cap and empty crops leave some out).
    pub faces: Vec<FaceRecord>,
}

/// A person with `--per-person`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrackRecord {
    pub track: usize,
    pub faces: usize,
    pub per_model: Vec<f32>,
    pub score: f32,
}

/// Seconds spent per stage.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timing {
    pub decode_s: f64,
    pub detect_s: f64,
    pub classify_s: f64,
    pub total_s: f64,
}

/// Everything known about one video after the pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VideoResult {
    /// Name in the CSV: the path relative to the input folder, or the file name.
    pub file: String,
    pub status: Status,
    /// Fake probability of the video; `None` unless `status` is `ok`.
    pub score: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    pub frames_read: usize,
    /// Set when fewer frames than asked for could be read (a truncated or damaged file, a frame count larger than
    /// the frames that decode); the video is still scored on what was read, as the original does.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub warning: Option<String>,
    pub faces_found: usize,
    pub faces_used: usize,
    /// The confident rule's result per model.
    pub per_model: Vec<f32>,
    pub frames: Vec<FrameRecord>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tracks: Vec<TrackRecord>,
    pub timing: Timing,
}
