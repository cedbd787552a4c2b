//! The per-video runner: the stages in order for one video, and for many with decoding one video ahead.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::JoinHandle;
use std::time::Instant;

use burn::prelude::*;

use super::aggregate::{ensemble_mean, per_model_scores, score_people};
use super::{FaceRecord, FrameRecord, InferOptions, Status, VideoResult};
use crate::cancel::{Cancel, Interrupted};
use crate::face::{prepare_crops, select_faces, Detector, PreparedCrops};
use crate::model::classifier::Scorer;
use crate::model::fused::FusedOps;
use crate::video::{read_frames, Frames, SampleOptions, VideoError};

/// A video to score and its name in the results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoJob {
    /// Name in the CSV and the report: the path relative to an input folder, or the file name.
    pub file: String,
    pub path: PathBuf,
}

/// A video after the frames stage.
#[derive(Debug)]
pub struct DecodedVideo {
    pub job: VideoJob,
    pub frames: Result<Frames, VideoError>,
    pub decode_s: f64,
}

/// The frames stage for one job ([`read_frames`]), timed.
pub fn decode(job: VideoJob, options: &SampleOptions) -> DecodedVideo {
    let start = Instant::now();
    let frames = read_frames(&job.path, options);
    DecodedVideo { job, frames, decode_s: start.elapsed().as_secs_f64() }
}

/// Decodes jobs on a thread of its own, one video ahead of the consumer: while the consumer works on video `n`,
/// video `n + 1` is decoded and then waits (a rendezvous channel), so the frames of at most one next video are
/// held. Yields the videos in job order. Dropping it stops the thread after the video it is decoding.
pub struct DecodeAhead {
    rx: Option<Receiver<DecodedVideo>>,
    thread: Option<JoinHandle<()>>,
}

impl DecodeAhead {
    pub fn spawn(jobs: Vec<VideoJob>, options: SampleOptions) -> Self {
        let (tx, rx) = sync_channel(0);
        let thread = std::thread::Builder::new()
            .name("decode-ahead".into())
            .spawn(move || {
                for job in jobs {
                    if tx.send(decode(job, &options)).is_err() {
                        break;
                    }
                }
            })
            .expect("spawning the decoding thread");
        Self { rx: Some(rx), thread: Some(thread) }
    }
}

impl Iterator for DecodeAhead {
    type Item = DecodedVideo;

    fn next(&mut self) -> Option<DecodedVideo> {
        self.rx.as_ref()?.recv().ok()
    }
}

impl Drop for DecodeAhead {
    fn drop(&mut self) {
        // Closing the channel first makes the thread's next send fail, so it ends.
        drop(self.rx.take());
        if let Some(t) = self.thread.take() {
            // A panic in the decoder thread is a bug; its videos are simply missing from the results.
            let _ = t.join();
        }
    }
}

/// What a run reports as it goes (to drive a progress bar, a log or a server's status page).
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// The runner starts on a video (its frames are decoded or being decoded).
    Started { file: &'a str },
    /// The frames stage finished (`frames` read; 0 when the video failed).
    Decoded { file: &'a str, frames: usize, seconds: f64 },
    /// Detection and selection finished: faces found in all frames, and those going to the classifiers.
    FacesFound { file: &'a str, found: usize, used: usize },
    /// The crops going to the classifiers (none for a video without faces), in the order of the result's faces,
    /// at every scorer's input size. Borrowed for the moment of the call: a listener that needs them later (the
    /// pictures of `infer --plots`) copies what it needs; the runner keeps nothing.
    Cropped { file: &'a str, crops: &'a PreparedCrops },
    /// Model `model` (0-based, of `models`) scored the video's crops.
    Scored { file: &'a str, model: usize, models: usize },
    /// The video's result is complete.
    Finished(&'a VideoResult),
}

/// Detector, classifiers and options: everything needed to score videos on one device.
pub struct Runner<B: Backend> {
    pub detector: Detector<B>,
    /// The ensemble, in report order.
    pub scorers: Vec<Scorer<B>>,
    pub options: InferOptions,
}

impl<B: FusedOps> Runner<B> {
    /// Scores one video file: decoding, detection, classification, the rule. Never fails: what went wrong is the
    /// result's status and error.
    pub fn run_file(&self, file: &str, path: &Path, on_event: &mut dyn FnMut(Event<'_>)) -> VideoResult {
        on_event(Event::Started { file });
        let job = VideoJob { file: file.to_string(), path: path.to_path_buf() };
        self.process(decode(job, &self.options.sample), on_event)
    }

    /// Scores `jobs` in order, decoding one video ahead on another thread; `on_result` gets each finished result
    /// (e.g. to journal it) and may stop the run by returning an error. When `cancel` is set the video in hand is
    /// dropped at its next stage boundary (or classifier batch) and the run ends with [`Interrupted`]: every
    /// result handed to `on_result` is complete.
    pub fn run_all<E: From<Interrupted>>(
        &self,
        jobs: Vec<VideoJob>,
        cancel: &Cancel,
        on_event: &mut dyn FnMut(Event<'_>),
        mut on_result: impl FnMut(VideoResult) -> Result<(), E>,
    ) -> Result<(), E> {
        let names: Vec<String> = jobs.iter().map(|j| j.file.clone()).collect();
        let mut decoded = DecodeAhead::spawn(jobs, self.options.sample.clone());
        for name in &names {
            cancel.check()?;
            on_event(Event::Started { file: name });
            let Some(video) = decoded.next() else { break };
            on_result(self.process_until(video, cancel, on_event)?)?;
        }
        Ok(())
    }

    /// Detection, selection, crops, classification and the rule on a decoded video.
    pub fn process(&self, decoded: DecodedVideo, on_event: &mut dyn FnMut(Event<'_>)) -> VideoResult {
        match self.process_until(decoded, &Cancel::new(), on_event) {
            Ok(result) => result,
            Err(Interrupted) => unreachable!("a fresh Cancel is never set"),
        }
    }

    /// [`Runner::process`], looking at `cancel` between stages and between a classifier's batches; a video
    /// stopped part-way gives [`Interrupted`] and no result (nor its [`Event::Finished`]).
    pub fn process_until(
        &self,
        decoded: DecodedVideo,
        cancel: &Cancel,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<VideoResult, Interrupted> {
        let start = Instant::now();
        let mut result = VideoResult::new(decoded.job.file);
        result.timing.decode_s = decoded.decode_s;
        let finish = |mut result: VideoResult, on_event: &mut dyn FnMut(Event<'_>)| {
            result.timing.total_s = decoded.decode_s + start.elapsed().as_secs_f64();
            on_event(Event::Finished(&result));
            Ok(result)
        };
        let frames = match decoded.frames {
            Ok(f) => f,
            Err(e) => {
                on_event(Event::Decoded { file: &result.file, frames: 0, seconds: decoded.decode_s });
                result.status = Status::from(&e);
                result.error = Some(e.to_string());
                return finish(result, on_event);
            }
        };
        on_event(Event::Decoded { file: &result.file, frames: frames.frames.len(), seconds: decoded.decode_s });
        result.frames_read = frames.frames.len();
        result.warning = frames.short.clone();
        cancel.check()?;

        let t = Instant::now();
        let detections = self.detector.detect(&frames.halves);
        result.timing.detect_s = t.elapsed().as_secs_f64();
        // The solution detects on half-size frames and doubles the boxes (dfdc-solution.md §5.3).
        let selection = select_faces(&frames.sizes(), &detections, 2.0, self.options.max_faces);
        let sizes: Vec<u32> = self.scorers.iter().map(|s| s.input_size).collect();
        let full: Vec<_> = frames.frames.iter().map(|f| &f.image).collect();
        let crops = prepare_crops(&full, &selection, &sizes);
        let indices: Vec<u64> = frames.frames.iter().map(|f| f.index).collect();
        // The frames are no longer needed: only the prepared crops go on.
        drop(full);
        drop(frames);

        for (index, sel) in indices.into_iter().zip(selection) {
            result.faces_found += sel.detected;
            let faces = sel
                .faces
                .into_iter()
                .map(|f| FaceRecord {
                    bbox: f.bbox,
                    detector_score: f.score,
                    crop: f.crop,
                    probabilities: Vec::new(),
                    track: None,
                })
                .collect();
            result.frames.push(FrameRecord { index, detected: sel.detected, faces });
        }
        result.faces_used = crops.len();
        on_event(Event::FacesFound { file: &result.file, found: result.faces_found, used: result.faces_used });
        on_event(Event::Cropped { file: &result.file, crops: &crops });
        if crops.is_empty() {
            result.status = Status::NoFace;
            return finish(result, on_event);
        }
        cancel.check()?;

        let t = Instant::now();
        let models = self.scorers.len();
        let mut probs = Vec::with_capacity(models);
        for (model, scorer) in self.scorers.iter().enumerate() {
            let prepared = crops.at(scorer.input_size).expect("crops are prepared at every scorer's size");
            let p = scorer.probabilities_until(prepared, cancel).expect("prepared crops have the scorer's input size");
            probs.push(p.ok_or(Interrupted)?);
            on_event(Event::Scored { file: &result.file, model, models });
        }
        result.timing.classify_s = t.elapsed().as_secs_f64();
        for (k, face) in result.frames.iter_mut().flat_map(|f| f.faces.iter_mut()).enumerate() {
            face.probabilities = probs.iter().map(|p| p[k]).collect();
        }

        let half = self.options.half_probabilities;
        result.per_model = per_model_scores(&probs, half);
        result.score = Some(ensemble_mean(&result.per_model, half));
        if self.options.per_person {
            score_people(&mut result, &probs, half);
        }
        finish(result, on_event)
    }
}
