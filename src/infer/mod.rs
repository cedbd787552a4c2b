//! The per-video pipeline of `predict_folder.py` (dfdc-solution.md §5), as stages any caller can run:
//! frames ([`crate::video::read_frames`]) → faces ([`crate::face::Detector`], [`crate::face::select_faces`]) →
//! crops ([`crate::face::prepare_crops`]) → scores ([`crate::model::classifier::Scorer`]) → verdict
//! ([`aggregate`]: the confident rule per model, the mean over models, per-person tracks).
//!
//! [`Runner`] runs them for one video ([`Runner::run_file`], what a server calls per upload) or for many with
//! decoding one video ahead on its own thread ([`Runner::run_all`], [`DecodeAhead`]); progress goes to a
//! callback as [`Event`]s.

pub mod aggregate;
pub mod inputs;
pub mod report;
pub mod runner;
pub mod shard;
pub mod strategy;
pub mod tracks;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use runner::{decode, DecodeAhead, DecodedVideo, Event, Runner, VideoJob};

use crate::face::{BoxF, DetectorConfig};
use crate::video::{SampleOptions, VideoError};

/// What `infer` does with each video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
            max_faces: crate::face::select::DFDC_MAX_FACES,
            // Flex runs fastest one image at a time; the CLI raises this on a GPU.
            batch_size: 1,
            per_person: false,
            half_probabilities: false,
        }
    }
}

impl InferOptions {
    /// Every setting in range (see [`crate::config`]); the error names the field.
    pub fn validate(&self) -> Result<(), crate::config::ConfigError> {
        use crate::config::{in_range, MAX_BATCH};
        self.sample.validate()?;
        self.detector.validate()?;
        in_range("max_faces", self.max_faces, 1..=MAX_BATCH)?;
        in_range("batch_size", self.batch_size, 1..=MAX_BATCH)?;
        Ok(())
    }
}

/// How a video ended; every status but `ok` has no score. The names (serde `snake_case`) are those of the CSV's
/// `error:<status>` and the report's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Scored.
    Ok,
    /// Decoded, but no face was found in any frame.
    NoFace,
    /// The file has zero bytes.
    Empty,
    /// Not a readable media container.
    Unreadable,
    /// No video stream (audio only, a still image, cover art).
    NoVideoStream,
    /// No decoder for the video codec.
    UnsupportedCodec,
    /// Over a configured size limit.
    TooLarge,
    /// Opened, but not one frame decoded.
    NoFrames,
    /// The file system refused (missing file, permissions): possibly transient, so a resumed run retries it.
    IoError,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Ok,
        Status::NoFace,
        Status::Empty,
        Status::Unreadable,
        Status::NoVideoStream,
        Status::UnsupportedCodec,
        Status::TooLarge,
        Status::NoFrames,
        Status::IoError,
    ];

    pub fn is_ok(self) -> bool {
        self == Status::Ok
    }

    /// The status's name in the CSV and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::NoFace => "no_face",
            Status::Empty => "empty",
            Status::Unreadable => "unreadable",
            Status::NoVideoStream => "no_video_stream",
            Status::UnsupportedCodec => "unsupported_codec",
            Status::TooLarge => "too_large",
            Status::NoFrames => "no_frames",
            Status::IoError => "io_error",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&VideoError> for Status {
    fn from(e: &VideoError) -> Self {
        match e {
            VideoError::Empty { .. } => Status::Empty,
            VideoError::Unreadable { .. } => Status::Unreadable,
            VideoError::NoVideoStream { .. } => Status::NoVideoStream,
            VideoError::UnsupportedCodec { .. } => Status::UnsupportedCodec,
            VideoError::TooLarge { .. } => Status::TooLarge,
            VideoError::NoFrames { .. } => Status::NoFrames,
            VideoError::Io { .. } => Status::IoError,
        }
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

impl VideoResult {
    /// A result with nothing found yet: status `ok`, no score.
    pub fn new(file: impl Into<String>) -> Self {
        VideoResult {
            file: file.into(),
            status: Status::Ok,
            score: None,
            error: None,
            frames_read: 0,
            warning: None,
            faces_found: 0,
            faces_used: 0,
            per_model: Vec::new(),
            frames: Vec::new(),
            tracks: Vec::new(),
            timing: Timing::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_are_the_serde_names() {
        for s in Status::ALL {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<Status>(&format!("\"{s}\"")).unwrap(), s);
        }
    }

    #[test]
    fn every_video_error_has_the_status_of_its_name() {
        // The video stage names its failures too; both must agree.
        let p = std::path::PathBuf::from("x.mp4");
        let errors = [
            VideoError::Empty { path: p.clone() },
            VideoError::Unreadable { path: p.clone(), reason: String::new() },
            VideoError::NoVideoStream { path: p.clone(), found: String::new() },
            VideoError::UnsupportedCodec { path: p.clone(), codec: String::new() },
            VideoError::TooLarge { path: p.clone(), what: crate::video::SizeLimit::FileBytes, actual: 2, limit: 1 },
            VideoError::NoFrames { path: p.clone(), reason: String::new() },
            VideoError::Io { path: p, source: std::io::Error::other("x") },
        ];
        for e in &errors {
            assert_eq!(Status::from(e).as_str(), e.status());
        }
    }
}
