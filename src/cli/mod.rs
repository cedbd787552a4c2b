//! The command line: one file per subcommand, each turning flags into a typed request and printing the result.
//! This is the only place that prints.
//!
//! Exit codes: 0 success, 1 some inputs failed (each is reported), 2 the command itself could not run.

pub mod classify;
pub mod detect;
pub mod import;
pub mod infer;
pub mod preprocess;
pub mod synth;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::device::{DeviceSpec, Precision};

#[derive(Parser, Debug)]
#[command(
    name = "deepfake",
    version,
    about = "Tells whether a video of a person has been manipulated (DFDC 2020 winner, in Rust)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Classify face-crop images with an EfficientNet deepfake classifier.
    Classify(classify::ClassifyArgs),
    /// Convert PyTorch / timm / safetensors weights into a .bpk model file.
    Import(import::ImportArgs),
    /// Find faces (MTCNN) in images and videos; print boxes, or draw them with --annotate.
    Detect(detect::DetectArgs),
    /// Score videos: faces of 32 frames through every classifier, the confident rule, the ensemble mean.
    Infer(infer::InferArgs),
    /// The solution's preprocessing (boxes, crops, landmarks, diffs, folds) over a DFDC-layout data root.
    Preprocess(preprocess::PreprocessArgs),
    /// Make a DFDC-layout training set from real photos and videos: real clips, self-blended and swapped fakes.
    Synth(synth::SynthArgs),
}

/// Where the networks run.
#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// cpu, cuda, cuda:N (with --features cuda), tch or tch-cuda:N (with --features tch).
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    pub device: DeviceSpec,
    /// Numeric precision of the networks; f16 and bf16 need a CUDA device.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub precision: Precision,
}

fn parse_device(s: &str) -> Result<DeviceSpec, String> {
    s.parse().map_err(|e: crate::device::DeviceError| e.to_string())
}

/// A classifier model given on the command line.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Model file: a .bpk from `deepfake import`, or an original checkpoint (.pth, .safetensors) converted in memory.
    #[arg(long, short)]
    pub model: PathBuf,
    /// Architecture of an original checkpoint whose layout matches no tf_efficientnet_b0…b7: a name or a TOML/JSON
    /// file with an EfficientNetConfig. Not needed for .bpk files or the named models.
    #[arg(long)]
    pub arch: Option<String>,
}

/// MTCNN settings shared by `detect` and `infer`.
#[derive(Args, Debug, Clone)]
pub struct DetectorArgs {
    /// Face-probability thresholds of PNet, RNet and ONet (the solution: 0.7,0.8,0.8 at inference,
    /// 0.85,0.95,0.95 for training boxes; facenet-pytorch's default 0.6,0.7,0.7).
    #[arg(long, value_parser = parse_thresholds, default_value = "0.7,0.8,0.8")]
    pub thresholds: [f32; 3],
    /// Smallest face side in pixels (of the detector's input).
    #[arg(long, default_value_t = 20.0)]
    pub min_face_size: f64,
    /// Scale step of the image pyramid.
    #[arg(long, default_value_t = 0.709)]
    pub factor: f64,
    /// MTCNN weights (.bpk from `deepfake import --arch mtcnn`); default: facenet-pytorch's, built in.
    #[arg(long)]
    pub mtcnn: Option<PathBuf>,
    /// Frames per PNet call (default: 1 on the CPU, where flex is fastest one frame at a time; 32 on a GPU).
    #[arg(long)]
    pub pnet_batch: Option<usize>,
}

impl DetectorArgs {
    pub fn config(&self) -> crate::face::DetectorConfig {
        crate::face::DetectorConfig {
            min_face_size: self.min_face_size,
            thresholds: self.thresholds,
            factor: self.factor,
        }
    }

    /// The detector on `device`, with the built-in or the given weights.
    pub fn detector<B: burn::prelude::Backend>(
        &self,
        device: &burn::prelude::Device<B>,
        spec: DeviceSpec,
    ) -> Result<crate::face::Detector<B>, crate::weights::WeightsError> {
        let pnet_batch = self.pnet_batch.unwrap_or(if spec == DeviceSpec::Cpu { 1 } else { 32 });
        let nets = match &self.mtcnn {
            Some(path) => crate::weights::mtcnn::load_mtcnn::<B>(path, device)?,
            None => crate::weights::mtcnn::shipped_mtcnn::<B>(device)?,
        };
        Ok(crate::face::Detector::new(nets, self.config(), device.clone()).with_pnet_batch(pnet_batch))
    }
}

fn parse_thresholds(s: &str) -> Result<[f32; 3], String> {
    let v: Vec<f32> =
        s.split(',').map(|x| x.trim().parse::<f32>()).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    match v.as_slice() {
        [a, b, c] if v.iter().all(|t| (0.0..=1.0).contains(t)) => Ok([*a, *b, *c]),
        _ => Err(format!("`{s}`: give three probabilities, e.g. 0.7,0.8,0.8")),
    }
}
