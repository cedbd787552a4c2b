//! `deepfake classify`: face-crop images in, fake probabilities out.

use std::path::PathBuf;
use std::process::ExitCode;

use burn::prelude::*;
use clap::Args;
use serde::Serialize;

use super::{checked, expand_stdin, note_skipped, DeviceArgs, ModelArgs};
use deepfake_detector::config;
use deepfake_detector::device::{run_on, BackendTask};
use deepfake_detector::imaging::crop::prepare_crop;
use deepfake_detector::imaging::load::load_rgb_checked;
use deepfake_detector::infer::inputs::collect_files;
use deepfake_detector::model::classifier::{sigmoid, Scorer};
use deepfake_detector::model::fused::FusedOps;
use deepfake_detector::weights::classifier::{load_classifier, resolve_arch};

#[derive(Args, Debug)]
#[command(after_help = "The probability is the model's estimate that the face is fake (0 = real, 1 = fake); the \
solution called a video FAKE at 0.5 or more. The logit is its log-odds (probability = 1 / (1 + e^-logit)).")]
pub struct ClassifyArgs {
    /// Face-crop images (PNG or JPEG), or folders of them, e.g. those written by `deepfake detect --crops DIR`
    /// (its index.json is skipped); `-` reads one path per line from stdin.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Search folders recursively.
    #[arg(long, short)]
    pub recursive: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Input side: crops are resized isotropically to this size and zero-padded to a square (default: the
    /// model's own, 380 for the DFDC models; 32 to 1024).
    #[arg(long, value_parser = checked(|v| config::input_size("size", v)))]
    pub size: Option<u32>,
    /// Crops per forward pass.
    #[arg(long, default_value_t = 8, value_parser = checked(|v| config::in_range("batch_size", v, 1..=config::MAX_BATCH)))]
    pub batch_size: usize,
    /// One JSON object per line: {"image", "logit", "probability"} or {"image", "error"}. Without it, a header
    /// line then `probability<TAB>logit<TAB>image` per image.
    #[arg(long)]
    pub json: bool,
    /// Refuse images and video frames with more pixels than this (checked on the header, before decoding).
    #[arg(long, default_value_t = 4096 * 4096, value_parser = checked(|v| config::in_range("max_pixels", v, 1..=u64::MAX)))]
    pub max_pixels: u64,
    #[command(flatten)]
    pub device: DeviceArgs,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Line {
    Score { image: String, logit: f32, probability: f32 },
    Failed { image: String, error: String },
}

struct Classify<'a> {
    args: &'a ClassifyArgs,
    images: Vec<PathBuf>,
}

impl BackendTask for Classify<'_> {
    type Output = anyhow::Result<Vec<Line>>;

    fn run<B: FusedOps>(self, device: Device<B>) -> Self::Output {
        let args = self.args;
        let arch = args.model.arch.as_deref().map(resolve_arch).transpose()?;
        let path = match &args.model.model {
            Some(path) => path.clone(),
            None => deepfake_detector::weights::demo::demo_model_path()?,
        };
        let loaded = load_classifier::<B>(&path, arch.as_ref(), &device)?;
        let size = args.size.unwrap_or(loaded.config.input_size as u32);
        let name = match &args.model.model {
            Some(path) => path.display().to_string(),
            None => deepfake_detector::weights::demo::DEMO_MODEL_NAME.to_string(),
        };
        let scorer = Scorer::new(name, loaded.model, size, device).with_batch_size(args.batch_size);
        let mut lines = Vec::with_capacity(self.images.len());
        for chunk in self.images.chunks(scorer.batch_size) {
            // Unreadable images are reported in place; the readable ones go through the model together.
            let mut crops = Vec::new();
            let mut slots = Vec::new();
            for path in chunk {
                let image = path.display().to_string();
                // JPEG through libjpeg-turbo, as OpenCV and Pillow decode it (image-rs differs by a few levels).
                match load_rgb_checked(path, args.max_pixels) {
                    Ok(img) => {
                        crops.push(prepare_crop(&img, size));
                        slots.push(lines.len());
                        lines.push(Line::Score { image, logit: f32::NAN, probability: f32::NAN });
                    }
                    Err(e) => lines.push(Line::Failed { image, error: e.to_string() }),
                }
            }
            for (slot, value) in slots.into_iter().zip(scorer.logits(&crops)?) {
                if let Line::Score { logit, probability, .. } = &mut lines[slot] {
                    *logit = value;
                    *probability = sigmoid(value);
                }
            }
        }
        Ok(lines)
    }
}

pub fn run(args: ClassifyArgs) -> anyhow::Result<ExitCode> {
    let listed = collect_files(&expand_stdin(&args.images)?, args.recursive, &[])?;
    note_skipped(&listed.skipped);
    let images = listed.jobs.into_iter().map(|j| j.path).collect();
    let lines = run_on(args.device.device, args.device.precision, Classify { args: &args, images })??;
    if !args.json {
        println!("probability\tlogit\timage");
    }
    let mut failed = false;
    for line in &lines {
        if args.json {
            println!("{}", serde_json::to_string(line)?);
        }
        match line {
            Line::Score { image, logit, probability } if !args.json => {
                println!("{probability:.6}\t{logit:+.6}\t{image}")
            }
            Line::Failed { image, error } => {
                failed = true;
                eprintln!("{image}: {error}");
            }
            _ => {}
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
