//! `deepfake classify`: face-crop images in, fake probabilities out.

use std::path::PathBuf;
use std::process::ExitCode;

use burn::prelude::*;
use clap::Args;
use serde::Serialize;

use super::{DeviceArgs, ModelArgs};
use crate::device::{run_on, BackendTask};
use crate::imaging::crop::{isotropic_resize, put_to_center};
use crate::imaging::load::load_rgb;
use crate::imaging::normalize::{to_nchw, IMAGENET_MEAN, IMAGENET_STD};
use crate::model::fused::FusedOps;
use crate::weights::classifier::{load_classifier, resolve_arch};

#[derive(Args, Debug)]
pub struct ClassifyArgs {
    /// Face-crop images (PNG or JPEG), e.g. crops written by `deepfake detect`.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Input side: crops are resized isotropically to this size and zero-padded to a square (default: the
    /// model's own, 380 for the DFDC models).
    #[arg(long)]
    pub size: Option<u32>,
    /// Crops per forward pass.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// One JSON object per line: {"image", "logit", "probability"} or {"image", "error"}.
    #[arg(long)]
    pub json: bool,
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
}

impl BackendTask for Classify<'_> {
    type Output = anyhow::Result<Vec<Line>>;

    fn run<B: FusedOps>(self, device: Device<B>) -> Self::Output {
        let args = self.args;
        let arch = args.model.arch.as_deref().map(resolve_arch).transpose()?;
        let loaded = load_classifier::<B>(&args.model.model, arch.as_ref(), &device)?;
        let size = args.size.unwrap_or(loaded.config.input_size as u32);
        let model = loaded.model.fold_batchnorm();
        let mut lines = Vec::with_capacity(args.images.len());
        for chunk in args.images.chunks(args.batch_size.max(1)) {
            // Unreadable images are reported in place; the readable ones go through the model together.
            let mut crops = Vec::new();
            let mut slots = Vec::new();
            for path in chunk {
                let image = path.display().to_string();
                // JPEG through libjpeg-turbo, as OpenCV and Pillow decode it (image-rs differs by a few levels).
                match load_rgb(path) {
                    Ok(img) => {
                        crops.push(put_to_center(&isotropic_resize(&img, size), size));
                        slots.push(lines.len());
                        lines.push(Line::Score { image, logit: f32::NAN, probability: f32::NAN });
                    }
                    Err(e) => lines.push(Line::Failed { image, error: e.to_string() }),
                }
            }
            let batch = to_nchw(&crops, IMAGENET_MEAN, IMAGENET_STD)?;
            let logits = model.logits(batch, crops.len(), size as usize, &device);
            for (slot, value) in slots.into_iter().zip(logits) {
                if let Line::Score { logit, probability, .. } = &mut lines[slot] {
                    *logit = value;
                    *probability = 1.0 / (1.0 + (-value).exp());
                }
            }
        }
        Ok(lines)
    }
}

pub fn run(args: ClassifyArgs) -> anyhow::Result<ExitCode> {
    let lines = run_on(args.device.device, args.device.precision, Classify { args: &args })??;
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
