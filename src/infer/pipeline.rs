//! One video through detection and the classifiers.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use burn::prelude::*;
use half::f16;
use image::RgbImage;

use super::strategy::{confident_strategy, numpy_mean, Prob};
use super::tracks::assign_tracks;
use super::{FaceRecord, FrameRecord, InferOptions, Status, Timing, TrackRecord, VideoResult};
use crate::face::Detector;
use crate::imaging::crop::{face_crop_rect, isotropic_resize, put_to_center};
use crate::imaging::normalize::{to_nchw, IMAGENET_MEAN, IMAGENET_STD};
use crate::imaging::pillow::resize_bicubic;
use crate::model::classifier::DeepFakeClassifier;
use crate::model::fused::FusedOps;
use crate::video::{sample_frames, SampleOptions, SampledFrame, StreamEnd, VideoError};

/// A classifier of the ensemble.
pub struct Classifier<B: Backend> {
    pub name: String,
    /// BatchNorm already folded.
    pub model: DeepFakeClassifier<B>,
    pub input_size: u32,
}

/// A video's sampled frames and their half-size copies for the detector.
pub struct DecodedVideo {
    pub frames: Vec<SampledFrame>,
    pub halves: Vec<RgbImage>,
    /// Why decoding stopped before the last wanted frame, if it did.
    pub short: Option<String>,
}

/// What the decoding thread hands to the pipeline.
pub struct Decoded {
    pub file: String,
    pub video: Result<DecodedVideo, VideoError>,
    pub decode_s: f64,
}

/// Samples the frames and halves them with Pillow's bicubic, as `FaceExtractor` does:
/// `Image.fromarray(frame).resize(size=[s // 2 for s in img.size])` (dfdc-solution.md §5.3).
pub fn decode(file: String, path: &Path, options: &SampleOptions) -> Decoded {
    let start = Instant::now();
    let video = sample_frames(path, options).map(|sampled| {
        let halves = sampled
            .frames
            .iter()
            .map(|f| resize_bicubic(&f.image, f.image.width() / 2, f.image.height() / 2))
            .collect();
        let short = match &sampled.end {
            StreamEnd::AllWanted => None,
            StreamEnd::EndOfStream => Some(format!(
                "the stream ended after {} decoded frame(s); {} of {} wanted frames read",
                sampled.decoded_frames,
                sampled.frames.len(),
                sampled.wanted.len()
            )),
            StreamEnd::DecodeError(e) => Some(format!(
                "decoding failed after {} frame(s) ({e}); {} of {} wanted frames read",
                sampled.decoded_frames,
                sampled.frames.len(),
                sampled.wanted.len()
            )),
        };
        DecodedVideo { frames: sampled.frames, halves, short }
    });
    Decoded { file, video, decode_s: start.elapsed().as_secs_f64() }
}

/// Detector, classifiers and options, run on one device.
pub struct Pipeline<B: Backend> {
    pub detector: Detector<B>,
    pub models: Vec<Classifier<B>>,
    pub options: InferOptions,
    pub device: Device<B>,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The confident rule per model, in f32 or in the original's float16.
fn per_model_scores(probs: &[Vec<f32>], half: bool) -> Vec<f32> {
    fn rule<P: Prob>(p: &[f32]) -> Option<f32> {
        let p: Vec<P> = p.iter().map(|&v| P::from_f32(v)).collect();
        confident_strategy(&p).map(P::to_f32)
    }
    probs.iter().filter_map(|p| if half { rule::<f16>(p) } else { rule::<f32>(p) }).collect()
}

fn ensemble_mean(scores: &[f32], half: bool) -> f32 {
    if half {
        numpy_mean(&scores.iter().map(|&s| f16::from_f32(s)).collect::<Vec<_>>()).to_f32()
    } else {
        numpy_mean(scores)
    }
}

impl<B: FusedOps> Pipeline<B> {
    /// Fake probabilities of `crops` from every model: `[model][crop]`.
    pub fn classify(&self, crops: &[RgbImage]) -> Vec<Vec<f32>> {
        // Models of one input size share the preprocessed crops.
        let mut inputs: BTreeMap<u32, Vec<f32>> = BTreeMap::new();
        for m in &self.models {
            inputs.entry(m.input_size).or_insert_with(|| {
                let prepared: Vec<RgbImage> =
                    crops.iter().map(|c| put_to_center(&isotropic_resize(c, m.input_size), m.input_size)).collect();
                to_nchw(&prepared, IMAGENET_MEAN, IMAGENET_STD).expect("centred crops share one size")
            });
        }
        let batch = self.options.batch_size.max(1);
        self.models
            .iter()
            .map(|m| {
                let size = m.input_size as usize;
                let per = 3 * size * size;
                let data = &inputs[&m.input_size];
                let mut probs = Vec::with_capacity(crops.len());
                for start in (0..crops.len()).step_by(batch) {
                    let n = batch.min(crops.len() - start);
                    let chunk = data[start * per..(start + n) * per].to_vec();
                    probs.extend(m.model.logits(chunk, n, size, &self.device).into_iter().map(sigmoid));
                }
                probs
            })
            .collect()
    }

    /// Runs detection and classification on a decoded video.
    pub fn process(&self, decoded: Decoded) -> VideoResult {
        let start = Instant::now();
        let mut result = VideoResult {
            file: decoded.file,
            status: Status::ok(),
            score: None,
            error: None,
            frames_read: 0,
            warning: None,
            faces_found: 0,
            faces_used: 0,
            per_model: Vec::new(),
            frames: Vec::new(),
            tracks: Vec::new(),
            timing: Timing { decode_s: decoded.decode_s, ..Timing::default() },
        };
        let video = match decoded.video {
            Ok(v) => v,
            Err(e) => {
                result.status = Status(e.status().to_string());
                result.error = Some(e.to_string());
                result.timing.total_s = decoded.decode_s;
                return result;
            }
        };
        result.frames_read = video.frames.len();
        result.warning = video.short;

        let t = Instant::now();
        let detections = self.detector.detect(&video.halves);
        result.timing.detect_s = t.elapsed().as_secs_f64();

        // Faces of all frames and all people, in frame order and largest first, at most `max_faces`
        // (predict_on_video stores a face only while n + 1 < 128).
        let mut crops = Vec::new();
        for (frame, faces) in video.frames.iter().zip(&detections) {
            let (w, h) = frame.image.dimensions();
            let mut record = FrameRecord { index: frame.index, detected: faces.len(), faces: Vec::new() };
            result.faces_found += faces.len();
            for face in faces {
                if crops.len() >= self.options.max_faces {
                    break;
                }
                let bbox = face.bbox.map(|v| v * 2.0);
                // An empty crop (a box entirely outside the frame) would make the original fail in cv2.resize.
                let Some(((y0, y1), (x0, x1))) = face_crop_rect(w, h, bbox) else { continue };
                crops.push(image::imageops::crop_imm(&frame.image, x0, y0, x1 - x0, y1 - y0).to_image());
                record.faces.push(FaceRecord {
                    bbox,
                    detector_score: face.score,
                    crop: [x0, y0, x1, y1],
                    probabilities: Vec::new(),
                    track: None,
                });
            }
            result.frames.push(record);
        }
        result.faces_used = crops.len();
        if crops.is_empty() {
            result.status = Status::no_face();
            result.timing.total_s = decoded.decode_s + start.elapsed().as_secs_f64();
            return result;
        }

        let t = Instant::now();
        let probs = self.classify(&crops);
        result.timing.classify_s = t.elapsed().as_secs_f64();
        for (k, face) in result.frames.iter_mut().flat_map(|f| f.faces.iter_mut()).enumerate() {
            face.probabilities = probs.iter().map(|p| p[k]).collect();
        }

        let half = self.options.half_probabilities;
        result.per_model = per_model_scores(&probs, half);
        result.score = Some(ensemble_mean(&result.per_model, half));
        if self.options.per_person {
            self.score_people(&mut result, &probs);
        }
        result.timing.total_s = decoded.decode_s + start.elapsed().as_secs_f64();
        result
    }

    /// `--per-person`: the confident rule per person, and the video's score is the most suspicious person's.
    /// People seen in a single frame are ignored unless nobody was seen twice (a one-frame false detection
    /// should not decide a video).
    fn score_people(&self, result: &mut VideoResult, probs: &[Vec<f32>]) {
        let boxes: Vec<Vec<_>> = result.frames.iter().map(|f| f.faces.iter().map(|face| face.bbox).collect()).collect();
        let ids = assign_tracks(&boxes);
        let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        let mut k = 0;
        for (frame, frame_ids) in result.frames.iter_mut().zip(ids) {
            for (face, id) in frame.faces.iter_mut().zip(frame_ids) {
                face.track = Some(id);
                members.entry(id).or_default().push(k);
                k += 1;
            }
        }
        let half = self.options.half_probabilities;
        result.tracks = members
            .into_iter()
            .map(|(track, faces)| {
                let track_probs: Vec<Vec<f32>> = probs.iter().map(|p| faces.iter().map(|&i| p[i]).collect()).collect();
                let per_model = per_model_scores(&track_probs, half);
                let score = ensemble_mean(&per_model, half);
                TrackRecord { track, faces: faces.len(), per_model, score }
            })
            .collect();
        let seen_twice = result.tracks.iter().any(|t| t.faces >= 2);
        result.score =
            result.tracks.iter().filter(|t| t.faces >= 2 || !seen_twice).map(|t| t.score).max_by(|a, b| a.total_cmp(b));
    }
}
