//! `synth`: a DFDC-layout training set made from real faces (dfdc-solution.md §4 for the layout).
//!
//! Real photos and videos become real clips (`source.rs`); each real clip gets fakes made from it: `sbi`
//! self-blended (`sbi.rs`) and `swap` face swaps with another identity (`swap.rs`). Clips are H.264 mp4 files in
//! `dfdc_train_part_N/` folders with a `metadata.json` each (`label`, `split`, `original`, plus `identity`,
//! `method` and `source`), a fake always in its original's part, and `masks/<fake>.png` (where any frame of the
//! fake may differ from its original). Everything is a function of the inputs and `--seed`: the same seed gives the
//! same bytes.
//!
//! Identities are split by a hash of their name, independent of the seed and of the other inputs: a `holdout`
//! share goes to parts 0–2 (fold 0 of the solution's folds, its holdout), the rest to parts 3, 4, …; swaps only
//! pair identities of the same side, so the holdout faces are never seen in training.

pub mod mask;
pub mod raster;
pub mod sbi;
pub mod source;
pub mod swap;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use image::{GrayImage, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::face::landmarks::ShapePredictor;
use crate::face::Detector;
use crate::model::fused::FusedOps;
use crate::video::encode::{write_mp4, EncodeError, EncodeOptions};
use source::{ClipShape, FaceFinder, Input, RealClip, Still};

/// Kinds of fake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Sbi,
    Swap,
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "sbi" => Ok(Method::Sbi),
            "swap" => Ok(Method::Swap),
            other => Err(format!("unknown method `{other}` (sbi, swap)")),
        }
    }
}

/// What to make.
#[derive(Debug, Clone)]
pub struct SynthRequest {
    /// Photos, videos, or folders of them (one identity per file).
    pub real: Vec<PathBuf>,
    pub out: PathBuf,
    pub methods: Vec<Method>,
    pub seed: u64,
    /// Frames per clip.
    pub frames: usize,
    /// At most this many clips from one video.
    pub clips_per_video: usize,
    /// Share of identities held out (parts 0–2), 0…1.
    pub holdout: f64,
    /// Parts the training identities spread over (parts 3 …).
    pub train_parts: u32,
    pub encode: EncodeOptions,
    pub short_side: u32,
    pub max_long: u32,
}

impl Default for SynthRequest {
    fn default() -> Self {
        Self {
            real: Vec::new(),
            out: PathBuf::new(),
            methods: vec![Method::Sbi, Method::Swap],
            seed: 0,
            frames: 50,
            clips_per_video: 4,
            holdout: 0.2,
            train_parts: 3,
            encode: EncodeOptions::default(),
            short_side: 360,
            max_long: 640,
        }
    }
}

/// Why synth could not run (inputs that fail are reported in [`SynthReport::skipped`] instead).
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Input { path: PathBuf, reason: String },
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("bad request: {0}")]
    Request(String),
}

impl SynthError {
    /// What went wrong, without the path (for lists that name the input themselves).
    pub fn reason(&self) -> String {
        match self {
            SynthError::Input { reason, .. } => reason.clone(),
            other => other.to_string(),
        }
    }
}

/// Progress, one event per identity.
#[derive(Debug, Clone)]
pub enum SynthEvent {
    /// Inputs found; faces are being located.
    Started { identities: usize },
    /// An identity is done (or was skipped, with the reason).
    Identity { index: usize, identity: String, clips: usize, skipped: Option<String> },
}

/// One entry of a part's `metadata.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub label: &'static str,
    pub split: &'static str,
    pub original: Option<String>,
    pub identity: String,
    pub method: Option<Method>,
    pub source: String,
    /// For swaps: whose face was put in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub donor: Option<String>,
}

/// What a run wrote.
#[derive(Debug, Clone, Default)]
pub struct SynthReport {
    pub identities: usize,
    pub real_clips: usize,
    pub fakes: BTreeMap<Method, usize>,
    /// Clips per part number.
    pub parts: BTreeMap<u32, usize>,
    pub holdout_identities: Vec<String>,
    pub skipped: Vec<(PathBuf, String)>,
}

/// `true` for identities held out: a hash of the name (not of the seed), so the split is stable.
pub fn is_holdout(identity: &str, share: f64) -> bool {
    (unit_hash(&["split", identity]) as f64) / (u64::MAX as f64) < share
}

/// The part an identity's clips go to.
pub fn part_of(identity: &str, share: f64, train_parts: u32) -> u32 {
    let h = unit_hash(&["part", identity]);
    if is_holdout(identity, share) {
        (h % 3) as u32
    } else {
        3 + (h % u64::from(train_parts.max(1))) as u32
    }
}

fn unit_hash(parts: &[&str]) -> u64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    u64::from_le_bytes(h.finalize()[..8].try_into().expect("8 bytes"))
}

/// A DFDC-like id: ten lowercase letters from a hash of the seed and the clip's key.
fn clip_id(seed: u64, key: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    for k in key {
        h.update(k.as_bytes());
        h.update([0u8]);
    }
    h.finalize()[..10].iter().map(|b| (b'a' + b % 26) as char).collect()
}

fn rng_for(seed: u64, key: &[&str]) -> ChaCha8Rng {
    let mut h = Sha256::new();
    h.update(b"rng");
    h.update(seed.to_le_bytes());
    for k in key {
        h.update(k.as_bytes());
        h.update([0u8]);
    }
    ChaCha8Rng::from_seed(h.finalize().into())
}

/// Makes the data set. `progress` is called once per identity.
pub fn run<B: FusedOps>(
    req: &SynthRequest,
    detector: &Detector<B>,
    predictor: &ShapePredictor,
    progress: &mut dyn FnMut(SynthEvent),
) -> Result<SynthReport, SynthError> {
    if req.methods.is_empty() && req.real.is_empty() {
        return Err(SynthError::Request("nothing to do: no inputs".into()));
    }
    if !(0.0..=1.0).contains(&req.holdout) {
        return Err(SynthError::Request(format!("holdout share {} is not within 0…1", req.holdout)));
    }
    if req.frames < 2 || req.frames > 10_000 {
        return Err(SynthError::Request(format!("{} frames per clip (2…10000)", req.frames)));
    }
    if req.out.to_str().is_none() {
        return Err(SynthError::Request(format!("{}: the output path must be UTF-8", req.out.display())));
    }
    let inputs = source::list_inputs(&req.real)?;
    if inputs.is_empty() {
        return Err(SynthError::Request("no input files".into()));
    }
    progress(SynthEvent::Started { identities: inputs.len() });
    let shape = ClipShape {
        frames: req.frames,
        clips_per_video: req.clips_per_video,
        short_side: req.short_side,
        max_long: req.max_long,
    };
    let finder = FaceFinder { detector, predictor };
    let triangles = swap::triangulate(&predictor.mean_shape());
    let mut report = SynthReport { identities: inputs.len(), ..Default::default() };

    // Pass 1: a still face per identity (the photo, or a video's first frame): photo clips and swap donors.
    let mut stills: Vec<Option<Still>> = Vec::with_capacity(inputs.len());
    let mut failed: Vec<Option<String>> = Vec::with_capacity(inputs.len());
    for input in &inputs {
        let still = if input.photo {
            source::load_still(&input.path, &shape, &finder)
        } else {
            video_still(&input.path, &shape, &finder)
        };
        match still {
            Ok(Some(s)) => {
                stills.push(Some(s));
                failed.push(None);
            }
            Ok(None) => {
                stills.push(None);
                failed.push(Some("no face found".into()));
            }
            Err(e) => {
                stills.push(None);
                failed.push(Some(e.reason()));
            }
        }
    }
    let holdout: Vec<bool> = inputs.iter().map(|i| is_holdout(&i.identity, req.holdout)).collect();

    // Pass 2: clips, fakes, files.
    let mut metadata: BTreeMap<u32, BTreeMap<String, Entry>> = BTreeMap::new();
    for (index, input) in inputs.iter().enumerate() {
        if let Some(reason) = &failed[index] {
            if input.photo || stills[index].is_none() && !reason.contains("no face") {
                report.skipped.push((input.path.clone(), reason.clone()));
                progress(SynthEvent::Identity {
                    index,
                    identity: input.identity.clone(),
                    clips: 0,
                    skipped: Some(reason.clone()),
                });
                continue;
            }
        }
        let clips: Vec<RealClip> = if input.photo {
            let still = stills[index].as_ref().expect("photos without a face were skipped");
            let mut rng = rng_for(req.seed, &[&input.identity, "pan"]);
            vec![source::photo_clip(still, req.frames, &mut rng)]
        } else {
            match source::video_clips(&input.path, &shape, &finder) {
                Ok(v) => v.clips,
                Err(e) => {
                    report.skipped.push((input.path.clone(), e.to_string()));
                    progress(SynthEvent::Identity {
                        index,
                        identity: input.identity.clone(),
                        clips: 0,
                        skipped: Some(e.to_string()),
                    });
                    continue;
                }
            }
        };
        let part = part_of(&input.identity, req.holdout, req.train_parts);
        if holdout[index] {
            report.holdout_identities.push(input.identity.clone());
        }
        // Donors: other identities with a face, on the same side of the split.
        let donors: Vec<usize> =
            (0..inputs.len()).filter(|&j| j != index && stills[j].is_some() && holdout[j] == holdout[index]).collect();
        let entries = make_clips(req, input, &clips, &donors, &inputs, &stills, &triangles, part)?;
        let n = entries.len();
        for (id, entry) in entries {
            match (entry.label, entry.method) {
                ("REAL", _) => report.real_clips += 1,
                (_, Some(m)) => *report.fakes.entry(m).or_default() += 1,
                _ => {}
            }
            *report.parts.entry(part).or_default() += 1;
            metadata.entry(part).or_default().insert(id, entry);
        }
        progress(SynthEvent::Identity { index, identity: input.identity.clone(), clips: n, skipped: None });
    }
    for (part, entries) in &metadata {
        let path = req.out.join(format!("dfdc_train_part_{part}")).join("metadata.json");
        let json = serde_json::to_vec_pretty(entries).expect("metadata serialises");
        crate::atomic::write_atomic(&path, &json).map_err(|source| SynthError::Io { path, source })?;
    }
    Ok(report)
}

/// A video's first frame as a donor face.
fn video_still<B: FusedOps>(
    path: &Path,
    shape: &ClipShape,
    finder: &FaceFinder<'_, B>,
) -> Result<Option<Still>, SynthError> {
    let options = crate::video::SampleOptions { frames: 1, ..Default::default() };
    let sampled = crate::video::sample_frames(path, &options)
        .map_err(|e| SynthError::Input { path: path.into(), reason: e.to_string() })?;
    let frame = &sampled.frames[0].image;
    let one = ClipShape { frames: 1, ..*shape };
    let mut clips = Vec::new();
    let (w, h) = (frame.width(), frame.height());
    let (tw, th) = {
        let s = (f64::from(one.short_side) / f64::from(w.min(h)))
            .min(f64::from(one.max_long) / f64::from(w.max(h)))
            .min(1.0);
        (((f64::from(w) * s).round() as u32 & !1).max(2), ((f64::from(h) * s).round() as u32 & !1).max(2))
    };
    let image = crate::imaging::pillow::resize_bicubic(frame, tw, th);
    clips.push(image);
    let marks = finder.landmarks(&clips).remove(0);
    Ok(marks.map(|landmarks| Still { image: clips.remove(0), landmarks }))
}

/// Writes one identity's real clips and their fakes; returns the metadata entries.
#[allow(clippy::too_many_arguments)]
fn make_clips(
    req: &SynthRequest,
    input: &Input,
    clips: &[RealClip],
    donors: &[usize],
    inputs: &[Input],
    stills: &[Option<Still>],
    triangles: &[[usize; 3]],
    part: u32,
) -> Result<Vec<(String, Entry)>, SynthError> {
    let dir = req.out.join(format!("dfdc_train_part_{part}"));
    let source_name = input.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut jobs: Vec<Job> = Vec::new();
    for (c, clip) in clips.iter().enumerate() {
        let c_str = c.to_string();
        let real_id = clip_id(req.seed, &[&input.identity, &c_str, "real"]);
        jobs.push(Job { id: real_id.clone(), clip, kind: JobKind::Real });
        for &method in &req.methods {
            let name = match method {
                Method::Sbi => "sbi",
                Method::Swap => "swap",
            };
            let mut rng = rng_for(req.seed, &[&input.identity, &c_str, name]);
            let id = clip_id(req.seed, &[&input.identity, &c_str, name]);
            let kind = match method {
                Method::Sbi => JobKind::Sbi(Box::new(sbi::SbiParams::random(&mut rng)), real_id.clone()),
                Method::Swap => {
                    if donors.is_empty() {
                        continue;
                    }
                    let donor = donors[rng.random_range(0..donors.len())];
                    JobKind::Swap(swap::SwapParams::random(&mut rng), donor, real_id.clone())
                }
            };
            jobs.push(Job { id, clip, kind });
        }
    }
    use rayon::prelude::*;
    let results: Vec<Result<(String, Entry), SynthError>> = jobs
        .par_iter()
        .map(|job| {
            let path = dir.join(format!("{}.mp4", job.id));
            let entry = |label, original: Option<&String>, method, donor: Option<String>| Entry {
                label,
                split: "train",
                original: original.map(|o| format!("{o}.mp4")),
                identity: input.identity.clone(),
                method,
                source: source_name.clone(),
                donor,
            };
            match &job.kind {
                JobKind::Real => {
                    write_mp4(&path, &job.clip.frames, &req.encode)?;
                    Ok((format!("{}.mp4", job.id), entry("REAL", None, None, None)))
                }
                JobKind::Sbi(p, original) => {
                    let (frames, masks): (Vec<RgbImage>, Vec<raster::Mask>) =
                        job.clip.frames.iter().zip(&job.clip.landmarks).map(|(f, m)| sbi::sbi_frame(p, f, m)).unzip();
                    write_mp4(&path, &frames, &req.encode)?;
                    write_mask(&req.out, &job.id, &masks)?;
                    Ok((format!("{}.mp4", job.id), entry("FAKE", Some(original), Some(Method::Sbi), None)))
                }
                JobKind::Swap(p, donor, original) => {
                    let still = stills[*donor].as_ref().expect("donors have a face");
                    let (frames, masks): (Vec<RgbImage>, Vec<raster::Mask>) = job
                        .clip
                        .frames
                        .iter()
                        .zip(&job.clip.landmarks)
                        .map(|(f, m)| swap::swap_frame(p, f, m, &still.image, &still.landmarks, triangles))
                        .unzip();
                    write_mp4(&path, &frames, &req.encode)?;
                    write_mask(&req.out, &job.id, &masks)?;
                    let donor_name = inputs[*donor].identity.clone();
                    Ok((format!("{}.mp4", job.id), entry("FAKE", Some(original), Some(Method::Swap), Some(donor_name))))
                }
            }
        })
        .collect();
    results.into_iter().collect()
}

struct Job<'a> {
    id: String,
    clip: &'a RealClip,
    kind: JobKind,
}

enum JobKind {
    Real,
    Sbi(Box<sbi::SbiParams>, String),
    Swap(swap::SwapParams, usize, String),
}

/// `masks/<id>.png`: 255 where any frame's blend mask is above 0.
fn write_mask(out: &Path, id: &str, masks: &[raster::Mask]) -> Result<(), SynthError> {
    let Some(first) = masks.first() else { return Ok(()) };
    let img = GrayImage::from_fn(first.width as u32, first.height as u32, |x, y| {
        let any = masks.iter().any(|m| m.at(x as usize, y as usize) > 0.0);
        image::Luma([if any { 255 } else { 0 }])
    });
    let path = out.join("masks").join(format!("{id}.png"));
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).expect("PNG into memory");
    crate::atomic::write_atomic(&path, &png).map_err(|source| SynthError::Io { path, source })
}
