//! The command line: one file per subcommand, each turning flags into a typed request and printing the result.
//! This is the only place that prints.
//!
//! Exit codes: 0 success, 1 some inputs failed (each is reported), 2 the command itself could not run.

pub mod classify;
pub mod import;

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

/// Writes `text` to `path` atomically: a temporary file in the same folder, then a rename.
pub fn write_atomic(path: &std::path::Path, text: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
