//! The progress bar of `infer`: it moves per stage within a video (decode, faces, each model), names the current
//! file and the faces found, and gives an ETA from the measured time per finished video.

use std::time::{Duration, Instant};

use deepfake_detector::infer::Event;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: ProgressBar,
    videos: usize,
    models: usize,
    done: usize,
    started: Instant,
    video_started: Instant,
    /// Seconds per finished video, measured.
    per_video: Option<f64>,
    faces: Option<usize>,
}

impl Progress {
    /// A bar for `videos` videos and `models` models, drawn on stderr when it is a terminal; hidden with `quiet`.
    pub fn new(videos: usize, models: usize, quiet: bool) -> Self {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            // Often enough to show a stage that takes a tenth of a second.
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(50))
        };
        bar.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").expect("valid template"));
        let now = Instant::now();
        Self { bar, videos, models, done: 0, started: now, video_started: now, per_video: None, faces: None }
    }

    /// A step without a known length (loading a model).
    pub fn busy(&self, what: String) {
        self.bar.enable_steady_tick(Duration::from_millis(120));
        self.bar.set_message(what);
    }

    /// Turns from loading to the per-stage bar.
    pub fn start(&mut self) {
        self.bar.disable_steady_tick();
        self.bar.set_length((self.videos * self.steps()) as u64);
        self.bar.set_position(0);
        self.bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:24} {msg}").expect("valid template"),
        );
        self.started = Instant::now();
    }

    fn steps(&self) -> usize {
        2 + self.models
    }

    fn eta(&self) -> String {
        let Some(per) = self.per_video else { return "eta: after the first video".into() };
        let left = (self.videos - self.done) as f64 * per - self.video_started.elapsed().as_secs_f64();
        let s = left.max(0.0).round() as u64;
        format!("eta {}m{:02}s", s / 60, s % 60)
    }

    fn show(&self, file: &str, stage: String, step: usize) {
        self.bar.set_position((self.done * self.steps() + step) as u64);
        let faces = self.faces.map_or_else(String::new, |n| format!(", {n} face(s)"));
        self.bar.set_message(format!(
            "video {}/{} {file}: {stage}{faces}, {}",
            (self.done + 1).min(self.videos),
            self.videos,
            self.eta()
        ));
    }

    pub fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Started { file } => {
                self.video_started = Instant::now();
                self.faces = None;
                self.show(file, "decoding".into(), 0);
            }
            Event::Decoded { file, frames, .. } => self.show(file, format!("finding faces in {frames} frame(s)"), 1),
            Event::FacesFound { file, found, used } => {
                self.faces = Some(used);
                let stage = format!("model 1/{} ({found} found)", self.models);
                self.show(file, stage, 2);
            }
            Event::Scored { file, model, models } if model + 1 < models => {
                self.show(file, format!("model {}/{models}", model + 2), 3 + model)
            }
            Event::Scored { .. } | Event::Cropped { .. } => {}
            Event::Finished(_) => {
                self.done += 1;
                self.per_video = Some(self.started.elapsed().as_secs_f64() / self.done as f64);
                self.bar.set_position((self.done * self.steps()) as u64);
            }
        }
    }

    pub fn clear(&self) {
        self.bar.finish_and_clear();
    }

    /// Prints a line above the bar.
    /// The models that loaded (fewer than announced when `--skip-bad-models` dropped some).
    pub fn set_models(&mut self, models: usize) {
        self.models = models;
    }

    pub fn note(&self, line: String) {
        self.bar.suspend(|| eprintln!("{line}"));
    }
}
