//! `deepfake detect`: faces in images (full resolution) and videos (the inference path's sampled frames, detected
//! at half size, boxes in full-frame pixels).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use burn::prelude::*;
use clap::Args;
use image::{Rgb, RgbImage};
use serde::Serialize;

use anyhow::Context;

use super::{checked, expand_stdin, note_skipped, DetectorArgs, DeviceArgs};
use deepfake_detector::atomic::write_atomic;
use deepfake_detector::config;
use deepfake_detector::device::{run_on, BackendTask};
use deepfake_detector::face::select::DFDC_MAX_FACES;
use deepfake_detector::face::{prepare_crops, select_faces};
use deepfake_detector::face::{Detector, Face};
use deepfake_detector::imaging::crop::cut;
use deepfake_detector::imaging::load::{load_rgb_checked, LoadError};
use deepfake_detector::infer::inputs::collect_files;
use deepfake_detector::infer::Status;
use deepfake_detector::model::classifier::Scorer;
use deepfake_detector::model::fused::FusedOps;
use deepfake_detector::plots;
use deepfake_detector::video::{read_frames, SampleOptions};
use deepfake_detector::weights::classifier::resolve_arch;
use plotters::prelude::{Rectangle, Text, WHITE};
use plotters::style::Color;

#[derive(Args, Debug)]
pub struct DetectArgs {
    /// Images (PNG, JPEG, …), videos, or folders of them; `-` reads one path per line from stdin.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Search folders recursively.
    #[arg(long, short)]
    pub recursive: bool,
    /// One JSON object per input: {"input", "frames": [{"index", "faces": [{"box", "score", "landmarks"}]}]}.
    #[arg(long)]
    pub json: bool,
    /// Write a PNG per frame with boxes and landmarks drawn into this folder (`<input>.png`, `<input>_f<frame>.png`;
    /// inputs with the same file name get `-2`, `-3`, … so none overwrites another).
    #[arg(long, value_name = "DIR")]
    pub annotate: Option<PathBuf>,
    /// Score each face with this classifier (a .bpk or an original checkpoint, as `infer -m`): its fake
    /// probability is printed, added to the JSON (`"probability"`) and drawn beside its box with `--annotate`.
    /// Each face is cut and resized exactly as `infer` does it.
    #[arg(long, short)]
    pub model: Option<PathBuf>,
    /// Architecture of an original checkpoint given with `--model` (see `classify --help`).
    #[arg(long, requires = "model")]
    pub arch: Option<String>,
    /// Write the face crops exactly as `infer` cuts them (the solution's ⅓ margins, the 127-face cap) as PNG
    /// into this folder, with an `index.json` saying where each came from; `deepfake classify DIR` scores them.
    #[arg(long, value_name = "DIR")]
    pub crops: Option<PathBuf>,
    /// Frames sampled from a video, evenly spaced, as `infer` does (1 to 1024).
    #[arg(long, default_value_t = 32, value_parser = checked(|v| config::in_range("frames", v, 1..=config::MAX_FRAMES)))]
    pub frames: usize,
    /// Refuse images and video frames with more pixels than this (checked on the header, before decoding).
    #[arg(long, default_value_t = 4096 * 4096, value_parser = checked(|v| config::in_range("max_pixels", v, 1..=u64::MAX)))]
    pub max_pixels: u64,
    #[command(flatten)]
    pub detector: DetectorArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

#[derive(Serialize)]
struct FrameFaces {
    index: u64,
    faces: Vec<ScoredFace>,
}

/// A face and, with `--model`, its fake probability (none when its crop is empty: a box outside the frame).
#[derive(Serialize)]
struct ScoredFace {
    #[serde(flatten)]
    face: Face,
    #[serde(skip_serializing_if = "Option::is_none")]
    probability: Option<f32>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Output {
    Found { input: String, kind: &'static str, frames: Vec<FrameFaces> },
    Failed { input: String, status: Status, error: String },
}

/// Images are told from videos by their first bytes, not their names: `None` when `path` is not an image, else
/// the image or why it cannot be used (damaged, or over `max_pixels`, which is checked on the header alone).
fn read_image(path: &Path, max_pixels: u64) -> Option<Result<RgbImage, LoadError>> {
    let mut head = [0u8; 32];
    let n = std::io::Read::read(&mut std::fs::File::open(path).ok()?, &mut head).ok()?;
    image::guess_format(&head[..n]).ok()?;
    Some(load_rgb_checked(path, max_pixels))
}

fn scale_face(face: &Face, by: f32) -> Face {
    Face { bbox: face.bbox.map(|v| v * by), score: face.score, landmarks: face.landmarks.map(|p| p.map(|v| v * by)) }
}

/// Boxes in green, landmarks in red, and each scored face's probability above its box (red at 0.5 or more,
/// the solution's threshold for FAKE; blue below).
fn draw(path: &Path, img: &mut RgbImage, scored: &[ScoredFace]) -> anyhow::Result<()> {
    draw_boxes(img, scored.iter().map(|f| &f.face));
    // (x, y, text height, probability): the label as wide as about two thirds of its box.
    let labels: Vec<(i32, i32, u32, f32)> = scored
        .iter()
        .filter_map(|f| {
            let [x1, y1, x2, _] = f.face.bbox;
            let height = ((x2 - x1) / 7.0).clamp(10.0, 48.0) as u32;
            f.probability.map(|p| (x1.round() as i32, y1.round() as i32, height, p))
        })
        .collect();
    if labels.is_empty() {
        return Ok(());
    }
    let size = img.dimensions();
    plots::render_on(path, img.as_mut(), size, |root| {
        for (x, y, height, p) in labels {
            let colour = if p >= 0.5 { plots::FAKE_COLOUR } else { plots::REAL_COLOUR };
            let label = format!("{} {p:.2}", if p >= 0.5 { "FAKE" } else { "REAL" });
            let y = (y - height as i32 - 4).max(0);
            let width = (label.len() as u32 * height * 5 / 8 + 6) as i32;
            root.draw(&Rectangle::new([(x, y), (x + width, y + height as i32 + 2)], colour.filled()))?;
            root.draw(&Text::new(label, (x + 3, y + 1), plots::text(height).color(&WHITE)))?;
        }
        Ok(())
    })?;
    Ok(())
}

fn draw_boxes<'a>(img: &mut RgbImage, faces: impl IntoIterator<Item = &'a Face>) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let thickness = ((w.min(h) / 300) + 1).max(2);
    let mut put = |x: i64, y: i64, c: Rgb<u8>| {
        if (0..w).contains(&x) && (0..h).contains(&y) {
            img.put_pixel(x as u32, y as u32, c);
        }
    };
    for f in faces {
        let [x1, y1, x2, y2] = f.bbox.map(|v| v.round() as i64);
        let green = Rgb([0, 230, 64]);
        for t in 0..thickness {
            for x in x1..=x2 {
                put(x, y1 + t, green);
                put(x, y2 - t, green);
            }
            for y in y1..=y2 {
                put(x1 + t, y, green);
                put(x2 - t, y, green);
            }
        }
        for [px, py] in f.landmarks {
            let (cx, cy) = (px.round() as i64, py.round() as i64);
            for dy in -thickness..=thickness {
                for dx in -thickness..=thickness {
                    put(cx + dx, cy + dy, Rgb([255, 32, 32]));
                }
            }
        }
    }
}

fn write_png(path: &Path, img: &RgbImage) -> anyhow::Result<()> {
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    write_atomic(path, &png).with_context(|| format!("writing {}", path.display()))
}

fn annotate(dir: &Path, stem: &str, name: String, frame: &RgbImage, faces: &[ScoredFace]) -> anyhow::Result<()> {
    let mut img = frame.clone();
    let path = dir.join(format!("{stem}{name}.png"));
    draw(&path, &mut img, faces)?;
    write_png(&path, &img)
}

/// The faces of each frame (in that frame's pixels) with their probabilities under `scorer`: every face whose crop
/// is not empty, cut and prepared by the stages `infer` uses (no 127-face cap here), scored in batches.
fn score_faces<B: FusedOps>(
    scorer: Option<&Scorer<B>>,
    frames: &[&RgbImage],
    faces: Vec<Vec<Face>>,
) -> anyhow::Result<Vec<Vec<ScoredFace>>> {
    let selection = scorer.map(|s| {
        let sizes: Vec<(u32, u32)> = frames.iter().map(|f| f.dimensions()).collect();
        (s, select_faces(&sizes, &faces, 1.0, usize::MAX))
    });
    let mut scored: Vec<Vec<ScoredFace>> =
        faces.into_iter().map(|f| f.into_iter().map(|face| ScoredFace { face, probability: None }).collect()).collect();
    if let Some((scorer, selection)) = selection {
        let crops = prepare_crops(frames, &selection, &[scorer.input_size]);
        let probabilities =
            scorer.probabilities(crops.at(scorer.input_size).expect("prepared at the scorer's size"))?;
        for (face, p) in selection.iter().flat_map(|s| &s.faces).zip(probabilities) {
            scored[face.frame][face.index].probability = Some(p);
        }
    }
    Ok(scored)
}

/// One crop in `index.json`.
#[derive(Serialize)]
struct CropEntry {
    /// The PNG's file name in the crops folder.
    crop: String,
    input: String,
    /// Frame index in the video (0 for an image).
    frame: u64,
    /// Detector box in full-frame pixels.
    #[serde(rename = "box")]
    bbox: [f32; 4],
    score: f32,
    /// The cut rectangle `[x0, y0, x1, y1]` (end-exclusive), the box with the solution's margins.
    rect: [u32; 4],
}

/// File stems, one per input, unique: a second `clip.mp4` from another folder becomes `clip-2`.
fn unique_stems(inputs: &[PathBuf]) -> Vec<String> {
    let mut used = std::collections::BTreeSet::new();
    inputs
        .iter()
        .map(|p| {
            let stem = p.file_stem().map_or_else(|| "input".into(), |s| s.to_string_lossy().into_owned());
            let mut name = stem.clone();
            let mut n = 1;
            while !used.insert(name.clone()) {
                n += 1;
                name = format!("{stem}-{n}");
            }
            name
        })
        .collect()
}

struct Detect<'a> {
    args: &'a DetectArgs,
    inputs: Vec<PathBuf>,
}

impl Detect<'_> {
    /// Cuts the selected faces as `infer` does and writes them with their index entries.
    fn crops(
        &self,
        input: &Path,
        stem: &str,
        frames: &[(u64, &RgbImage)],
        detections: &[Vec<Face>],
        scale: f32,
        index: &mut Vec<CropEntry>,
    ) -> anyhow::Result<()> {
        let Some(dir) = &self.args.crops else { return Ok(()) };
        let sizes: Vec<(u32, u32)> = frames.iter().map(|(_, f)| f.dimensions()).collect();
        let selection = select_faces(&sizes, detections, scale, DFDC_MAX_FACES);
        for sel in selection {
            for (k, face) in sel.faces.iter().enumerate() {
                let (frame, image) = frames[face.frame];
                let crop = format!("{stem}_f{frame:05}_{k}.png");
                write_png(&dir.join(&crop), &cut(image, face.crop))?;
                let input = input.display().to_string();
                index.push(CropEntry { crop, input, frame, bbox: face.bbox, score: face.score, rect: face.crop });
            }
        }
        Ok(())
    }

    fn one<B: FusedOps>(
        &self,
        detector: &Detector<B>,
        scorer: Option<&Scorer<B>>,
        input: &Path,
        stem: &str,
        index: &mut Vec<CropEntry>,
    ) -> anyhow::Result<Output> {
        let name = input.display().to_string();
        if let Some(img) = read_image(input, self.args.max_pixels) {
            let img = match img {
                Ok(img) => img,
                Err(e) => {
                    let status =
                        if matches!(e, LoadError::TooLarge { .. }) { Status::TooLarge } else { Status::Unreadable };
                    return Ok(Output::Failed { input: name, status, error: e.to_string() });
                }
            };
            let faces = detector.detect(std::slice::from_ref(&img));
            self.crops(input, stem, &[(0, &img)], &faces, 1.0, index)?;
            let faces = score_faces(scorer, &[&img], faces)?.remove(0);
            if let Some(dir) = &self.args.annotate {
                annotate(dir, stem, String::new(), &img, &faces)?;
            }
            return Ok(Output::Found { input: name, kind: "image", frames: vec![FrameFaces { index: 0, faces }] });
        }
        let options = SampleOptions {
            frames: self.args.frames,
            max_pixels: Some(self.args.max_pixels),
            ..SampleOptions::default()
        };
        let video = match read_frames(input, &options) {
            Ok(v) => v,
            Err(e) => return Ok(Output::Failed { input: name, status: Status::from(&e), error: e.to_string() }),
        };
        if let Some(why) = &video.short {
            eprintln!("{name}: {why}");
        }
        // The solution detects on half-size frames and doubles the boxes (dfdc-solution.md §5.3).
        let found = detector.detect(&video.halves);
        let full: Vec<(u64, &RgbImage)> = video.frames.iter().map(|f| (f.index, &f.image)).collect();
        self.crops(input, stem, &full, &found, 2.0, index)?;
        let scaled = found.iter().map(|faces| faces.iter().map(|f| scale_face(f, 2.0)).collect()).collect();
        let images: Vec<&RgbImage> = video.frames.iter().map(|f| &f.image).collect();
        let scored = score_faces(scorer, &images, scaled)?;
        let mut frames = Vec::new();
        for (frame, faces) in video.frames.iter().zip(scored) {
            if let Some(dir) = &self.args.annotate {
                annotate(dir, stem, format!("_f{:05}", frame.index), &frame.image, &faces)?;
            }
            frames.push(FrameFaces { index: frame.index, faces });
        }
        Ok(Output::Found { input: name, kind: "video", frames })
    }
}

impl BackendTask for Detect<'_> {
    type Output = anyhow::Result<Vec<Output>>;

    fn run<B: FusedOps>(self, device: Device<B>) -> Self::Output {
        let detector = self.args.detector.detector::<B>(&device, self.args.device.device)?;
        let arch = self.args.arch.as_deref().map(resolve_arch).transpose()?;
        let batch = self.args.device.classifier_batch(None);
        let scorer = match &self.args.model {
            Some(path) => Some(super::infer::load_scorer::<B>(path, arch.as_ref(), batch, &device)?.0),
            None => None,
        };
        let stems = unique_stems(&self.inputs);
        let mut index = Vec::new();
        let outputs = self
            .inputs
            .iter()
            .zip(&stems)
            .map(|(input, stem)| self.one(&detector, scorer.as_ref(), input, stem, &mut index))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if let Some(dir) = &self.args.crops {
            let mut json = serde_json::to_vec_pretty(&index)?;
            json.push(b'\n');
            write_atomic(&dir.join("index.json"), &json)
                .with_context(|| format!("writing {}/index.json", dir.display()))?;
        }
        Ok(outputs)
    }
}

/// A folder output: not a file, and creatable (made now, so that the first PNG does not fail after the work).
fn check_folder(flag: &str, dir: &Path) -> anyhow::Result<()> {
    if dir.exists() && !dir.is_dir() {
        anyhow::bail!("{flag} {}: exists and is not a folder", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("{flag} {}: cannot create the folder", dir.display()))?;
    tempfile::tempfile_in(dir).with_context(|| format!("{flag} {}: cannot write in the folder", dir.display()))?;
    Ok(())
}

pub fn run(args: DetectArgs) -> anyhow::Result<ExitCode> {
    for (flag, dir) in [("--annotate", &args.annotate), ("--crops", &args.crops)] {
        if let Some(dir) = dir {
            check_folder(flag, dir)?;
        }
    }
    let mut skip = Vec::new();
    skip.extend(args.crops.as_ref().map(|d| d.join("index.json")));
    let listed = collect_files(&expand_stdin(&args.inputs)?, args.recursive, &skip)?;
    note_skipped(&listed.skipped);
    let inputs = listed.jobs.into_iter().map(|j| j.path).collect();
    let outputs = run_on(args.device.device, args.device.precision, Detect { args: &args, inputs })??;
    let mut failed = false;
    for out in &outputs {
        if args.json {
            println!("{}", serde_json::to_string(out)?);
        }
        match out {
            Output::Found { input, kind, frames } if !args.json => {
                let faces: usize = frames.iter().map(|f| f.faces.len()).sum();
                let with = frames.iter().filter(|f| !f.faces.is_empty()).count();
                println!("{input}: {kind}, {faces} face(s) in {with} of {} frame(s)", frames.len());
                for f in frames {
                    for scored in &f.faces {
                        let (b, score) = (scored.face.bbox, scored.face.score);
                        let fake =
                            scored.probability.map_or_else(String::new, |p| format!("  fake probability {p:.4}"));
                        println!(
                            "  frame {:>5}  box [{:.1}, {:.1}, {:.1}, {:.1}]  score {score:.4}{fake}",
                            f.index, b[0], b[1], b[2], b[3]
                        );
                    }
                }
            }
            Output::Failed { input, status, error } => {
                failed = true;
                eprintln!("{input}: {status}: {error}");
            }
            _ => {}
        }
    }
    if let Some(dir) = &args.annotate {
        eprintln!("annotated frames written to {}", dir.display());
    }
    if let Some(dir) = &args.crops {
        eprintln!("face crops and index.json written to {}", dir.display());
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
