//! `deepfake detect`: faces in images (full resolution) and videos (the inference path's sampled frames, detected
//! at half size, boxes in full-frame pixels).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use burn::prelude::*;
use clap::Args;
use image::{Rgb, RgbImage};
use serde::Serialize;

use super::{checked, DetectorArgs, DeviceArgs};
use deepfake_detector::atomic::write_atomic;
use deepfake_detector::config;
use deepfake_detector::device::{run_on, BackendTask};
use deepfake_detector::face::{Detector, Face};
use deepfake_detector::imaging::load::decode_rgb;
use deepfake_detector::infer::Status;
use deepfake_detector::video::{read_frames, SampleOptions};

#[derive(Args, Debug)]
pub struct DetectArgs {
    /// Images (PNG, JPEG, …) and videos.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// One JSON object per input: {"input", "frames": [{"index", "faces": [{"box", "score", "landmarks"}]}]}.
    #[arg(long)]
    pub json: bool,
    /// Write a PNG per frame with boxes and landmarks drawn into this folder.
    #[arg(long, value_name = "DIR")]
    pub annotate: Option<PathBuf>,
    /// Frames sampled from a video, evenly spaced, as `infer` does (1 to 1024).
    #[arg(long, default_value_t = 32, value_parser = checked(|v| config::in_range("frames", v, 1..=config::MAX_FRAMES)))]
    pub frames: usize,
    #[command(flatten)]
    pub detector: DetectorArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

#[derive(Serialize)]
struct FrameFaces {
    index: u64,
    faces: Vec<Face>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Output {
    Found { input: String, kind: &'static str, frames: Vec<FrameFaces> },
    Failed { input: String, status: Status, error: String },
}

/// Images are told from videos by their first bytes, not their names.
fn read_image(path: &Path) -> Option<RgbImage> {
    let mut head = [0u8; 32];
    let n = std::io::Read::read(&mut std::fs::File::open(path).ok()?, &mut head).ok()?;
    image::guess_format(&head[..n]).ok()?;
    decode_rgb(&std::fs::read(path).ok()?).ok()
}

fn scale_face(face: &Face, by: f32) -> Face {
    Face { bbox: face.bbox.map(|v| v * by), score: face.score, landmarks: face.landmarks.map(|p| p.map(|v| v * by)) }
}

/// Boxes in green, landmarks in red.
fn draw(img: &mut RgbImage, faces: &[Face]) {
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

fn annotate(dir: &Path, input: &Path, name: String, frame: &RgbImage, faces: &[Face]) -> anyhow::Result<()> {
    let mut img = frame.clone();
    draw(&mut img, faces);
    let stem = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "input".into());
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    write_atomic(&dir.join(format!("{stem}{name}.png")), &png)?;
    Ok(())
}

struct Detect<'a> {
    args: &'a DetectArgs,
}

impl Detect<'_> {
    fn one<B: Backend>(&self, detector: &Detector<B>, input: &Path) -> anyhow::Result<Output> {
        let name = input.display().to_string();
        if let Some(img) = read_image(input) {
            let faces = detector.detect(std::slice::from_ref(&img)).remove(0);
            if let Some(dir) = &self.args.annotate {
                annotate(dir, input, String::new(), &img, &faces)?;
            }
            return Ok(Output::Found { input: name, kind: "image", frames: vec![FrameFaces { index: 0, faces }] });
        }
        let options = SampleOptions { frames: self.args.frames, ..SampleOptions::default() };
        let video = match read_frames(input, &options) {
            Ok(v) => v,
            Err(e) => return Ok(Output::Failed { input: name, status: Status::from(&e), error: e.to_string() }),
        };
        if let Some(why) = &video.short {
            eprintln!("{name}: {why}");
        }
        // The solution detects on half-size frames and doubles the boxes (dfdc-solution.md §5.3).
        let found = detector.detect(&video.halves);
        let mut frames = Vec::new();
        for (frame, faces) in video.frames.iter().zip(found) {
            let faces: Vec<Face> = faces.iter().map(|f| scale_face(f, 2.0)).collect();
            if let Some(dir) = &self.args.annotate {
                annotate(dir, input, format!("_f{:05}", frame.index), &frame.image, &faces)?;
            }
            frames.push(FrameFaces { index: frame.index, faces });
        }
        Ok(Output::Found { input: name, kind: "video", frames })
    }
}

impl BackendTask for Detect<'_> {
    type Output = anyhow::Result<Vec<Output>>;

    fn run<B: Backend>(self, device: Device<B>) -> Self::Output {
        let detector = self.args.detector.detector::<B>(&device, self.args.device.device)?;
        self.args.inputs.iter().map(|input| self.one(&detector, input)).collect()
    }
}

pub fn run(args: DetectArgs) -> anyhow::Result<ExitCode> {
    let outputs = run_on(args.device.device, args.device.precision, Detect { args: &args })??;
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
                    for face in &f.faces {
                        let b = face.bbox;
                        println!(
                            "  frame {:>5}  box [{:.1}, {:.1}, {:.1}, {:.1}]  score {:.4}",
                            f.index, b[0], b[1], b[2], b[3], face.score
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
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
