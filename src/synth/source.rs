//! Real inputs → identities → real clips with 68 landmarks per frame.
//!
//! Each input file is one identity (its file stem names it). A photo becomes one short clip with a slow zoom and
//! pan (the landmarks found once on the photo move with the exact same transform, so no per-frame detection);
//! a video is cut into up to `clips_per_video` windows of consecutive frames, with MTCNN + dlib on every frame.

use std::path::{Path, PathBuf};

use burn::prelude::Backend;
use image::RgbImage;
use rand::Rng;

use super::raster::sample_rgb;
use super::SynthError;
use crate::face::landmarks::{rect_from_box, rect_from_mtcnn, ShapePredictor};
use crate::face::Detector;
use crate::imaging::pillow::resize_bicubic;
use crate::model::fused::FusedOps;

/// Photo extensions; every other file is tried as a video.
const PHOTO_EXTENSIONS: [&str; 5] = ["jpg", "jpeg", "png", "bmp", "webp"];

/// One input: a photo or a video, and the identity it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub path: PathBuf,
    pub identity: String,
    pub photo: bool,
}

/// Expands files and folders (sorted, not recursive into hidden entries) into inputs, one identity per file.
pub fn list_inputs(paths: &[PathBuf]) -> Result<Vec<Input>, SynthError> {
    let mut files = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|source| SynthError::Io { path: p.clone(), source })?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|source| SynthError::Io { path: p.clone(), source })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|e| e.is_file() && !e.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
                .collect();
            entries.sort();
            files.extend(entries);
        } else {
            files.push(p.clone());
        }
    }
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    Ok(files
        .into_iter()
        .map(|path| {
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            // Two files with one stem (audrey.jpg, audrey.png) stay two identities: number the second.
            let n = seen.entry(stem.clone()).or_default();
            *n += 1;
            let identity = if *n == 1 { stem } else { format!("{stem}~{n}") };
            let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
            Input { photo: PHOTO_EXTENSIONS.contains(&ext.as_str()), path, identity }
        })
        .collect())
}

/// A real clip: frames (all one size, even sides) and the 68 points of the face in each.
#[derive(Debug, Clone)]
pub struct RealClip {
    pub frames: Vec<RgbImage>,
    pub landmarks: Vec<Vec<[f64; 2]>>,
    /// For clips cut from a video, the first frame's index in the video.
    pub start_frame: Option<u64>,
}

/// Frames and detection sizes.
#[derive(Debug, Clone, Copy)]
pub struct ClipShape {
    pub frames: usize,
    pub clips_per_video: usize,
    /// Output frames are scaled so the shorter side is at most this, the longer at most `max_long` (photos are
    /// also enlarged up to `short_side`).
    pub short_side: u32,
    pub max_long: u32,
}

/// Finds the largest face of each frame and its 68 points.
pub struct FaceFinder<'a, B: Backend> {
    pub detector: &'a Detector<B>,
    pub predictor: &'a ShapePredictor,
}

impl<B: FusedOps> FaceFinder<'_, B> {
    pub fn landmarks(&self, frames: &[RgbImage]) -> Vec<Option<Vec<[f64; 2]>>> {
        self.detector
            .detect(frames)
            .into_iter()
            .zip(frames)
            .map(|(faces, frame)| {
                let face = faces.first()?;
                let rect = rect_from_mtcnn(&face.landmarks).or_else(|| rect_from_box(face.bbox))?;
                Some(self.predictor.predict(frame, rect).exact)
            })
            .collect()
    }
}

/// Even sides for 4:2:0 video.
fn even(v: u32) -> u32 {
    (v & !1).max(2)
}

/// The output size for a source of `w`×`h`: shorter side to `short_side` (enlarging only when `enlarge`), longer
/// side at most `max_long`, both even.
fn target_size(w: u32, h: u32, shape: &ClipShape, enlarge: bool) -> (u32, u32) {
    let s_short = f64::from(shape.short_side) / f64::from(w.min(h));
    let s_long = f64::from(shape.max_long) / f64::from(w.max(h));
    let mut s = s_short.min(s_long);
    if !enlarge {
        s = s.min(1.0);
    }
    (even((f64::from(w) * s).round() as u32), even((f64::from(h) * s).round() as u32))
}

/// A photo, scaled, with its face: the still a photo clip pans over, and the face a swap takes from it.
#[derive(Debug, Clone)]
pub struct Still {
    pub image: RgbImage,
    pub landmarks: Vec<[f64; 2]>,
}

/// Loads and scales a photo and finds its face; `None` when it has none.
pub fn load_still<B: FusedOps>(
    path: &Path,
    shape: &ClipShape,
    finder: &FaceFinder<'_, B>,
) -> Result<Option<Still>, SynthError> {
    let img = crate::imaging::load::load_rgb(path).map_err(|e| {
        // The load error names the path already; SynthError::Input names it once.
        let text = e.to_string();
        let reason = text.strip_prefix(&format!("{}: ", path.display())).unwrap_or(&text).to_string();
        SynthError::Input { path: path.into(), reason }
    })?;
    let (w, h) = target_size(img.width(), img.height(), shape, true);
    let image = resize_bicubic(&img, w, h);
    let landmarks = finder.landmarks(std::slice::from_ref(&image)).remove(0);
    Ok(landmarks.map(|landmarks| Still { image, landmarks }))
}

/// A slow zoom (1 → `zoom`) about the centre with a pan that keeps the view inside the photo.
pub fn photo_clip(still: &Still, frames: usize, rng: &mut impl Rng) -> RealClip {
    let (w, h) = still.image.dimensions();
    let zoom_end: f64 = rng.random_range(1.03..1.10);
    let margin = |side: u32| (f64::from(side) - f64::from(side) / zoom_end) / 2.0;
    let pan_end = [rng.random_range(-1.0..1.0) * margin(w), rng.random_range(-1.0..1.0) * margin(h)];
    let c = [f64::from(w) / 2.0, f64::from(h) / 2.0];
    let n = frames.max(1);
    let mut clip = RealClip { frames: Vec::with_capacity(n), landmarks: Vec::with_capacity(n), start_frame: None };
    for k in 0..n {
        let t = if n == 1 { 0.0 } else { k as f64 / (n - 1) as f64 };
        let z = 1.0 + (zoom_end - 1.0) * t;
        let pan = [pan_end[0] * t, pan_end[1] * t];
        // output (x, y) shows source ((x − c) / z + c − pan); a source point p lands at (p + pan − c)·z + c.
        let frame = RgbImage::from_fn(w, h, |x, y| {
            let sx = (f64::from(x) - c[0]) / z + c[0] - pan[0];
            let sy = (f64::from(y) - c[1]) / z + c[1] - pan[1];
            let p = sample_rgb(&still.image, sx as f32, sy as f32);
            image::Rgb(p.map(|v| v.round().clamp(0.0, 255.0) as u8))
        });
        let marks = still
            .landmarks
            .iter()
            .map(|p| [(p[0] + pan[0] - c[0]) * z + c[0], (p[1] + pan[1] - c[1]) * z + c[1]])
            .collect();
        clip.frames.push(frame);
        clip.landmarks.push(marks);
    }
    clip
}

/// What happened to a video's clips.
#[derive(Debug, Clone, Default)]
pub struct VideoClips {
    pub clips: Vec<RealClip>,
    /// Windows dropped because too many frames had no face.
    pub dropped: usize,
    /// Frames the video decoded.
    pub decoded: u64,
}

/// Cuts a video into up to `shape.clips_per_video` evenly spaced windows of `shape.frames` consecutive frames,
/// scaled down to the clip size, with landmarks on every frame. A window keeps a frame without a face by copying
/// the nearest frame's landmarks, unless more than a fifth of its frames have none (then it is dropped).
pub fn video_clips<B: FusedOps>(
    path: &Path,
    shape: &ClipShape,
    finder: &FaceFinder<'_, B>,
) -> Result<VideoClips, SynthError> {
    let bad = |reason: String| SynthError::Input { path: path.into(), reason };
    let info = crate::video::probe(path).map_err(|e| bad(e.to_string()))?;
    let total = info.frame_count.unwrap_or(0);
    let n = shape.frames.max(1) as u64;
    if total < n.min(10) {
        return Err(bad(format!("{total} frames, too short for a clip")));
    }
    let len = n.min(total);
    let count = (total / len).clamp(1, shape.clips_per_video.max(1) as u64);
    let starts: Vec<u64> = (0..count).map(|i| if count == 1 { 0 } else { i * (total - len) / (count - 1) }).collect();
    let (w, h) = target_size(info.width, info.height, shape, false);
    let mut out = VideoClips::default();
    let mut window: Vec<RgbImage> = Vec::new();
    let mut next = 0usize;
    let options = crate::video::SampleOptions::default();
    let finish = |window: &mut Vec<RgbImage>, start: u64, out: &mut VideoClips| {
        let frames = std::mem::take(window);
        let found = finder.landmarks(&frames);
        let missing = found.iter().filter(|f| f.is_none()).count();
        if missing * 5 > frames.len() {
            out.dropped += 1;
            return;
        }
        let landmarks: Vec<Vec<[f64; 2]>> = (0..found.len())
            .map(|i| {
                let nearest = (0..found.len())
                    .filter(|&j| found[j].is_some())
                    .min_by_key(|&j| (j as i64 - i as i64).abs())
                    .expect("most frames have a face");
                found[nearest].clone().expect("filtered")
            })
            .collect();
        out.clips.push(RealClip { frames, landmarks, start_frame: Some(start) });
    };
    let summary = crate::video::for_each_frame(path, &options, 1, |f| {
        let Some(&start) = starts.get(next) else { return false };
        if f.index >= start && f.index < start + len {
            let img = if f.image.dimensions() == (w, h) { f.image } else { resize_bicubic(&f.image, w, h) };
            window.push(img);
            if window.len() as u64 == len {
                finish(&mut window, start, &mut out);
                next += 1;
                // Overlapping windows (a video only a little longer than one clip) start after this one.
                while starts.get(next).is_some_and(|&s| s < start + len) {
                    next += 1;
                }
            }
        }
        next < starts.len()
    })
    .map_err(|e| bad(e.to_string()))?;
    out.decoded = summary.decoded_frames;
    if let Some(e) = summary.error {
        if out.clips.is_empty() {
            return Err(bad(e));
        }
    }
    Ok(out)
}
