//! `deepfake inspect`: what a model file holds (kind, architecture, input size, parameter count, source,
//! sha256), without running it.

use std::path::PathBuf;
use std::process::ExitCode;

use burn::prelude::*;
use burn::store::ModuleSnapshot;
use clap::Args;
use serde::Serialize;

use deepfake_detector::device::{run_on, BackendTask, DeviceSpec, Precision};
use deepfake_detector::weights::classifier::{load_efficientnet, resolve_arch, LoadedEfficientNet};
use deepfake_detector::weights::file::{meta, sha256_file, ModelFile, ModelKind, TensorFile};
use deepfake_detector::weights::mtcnn::load_mtcnn;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// A model file: a .bpk from `deepfake import`, a DFDC checkpoint, a timm .pth, a .safetensors.
    pub model: PathBuf,
    /// Architecture of an original checkpoint whose layout matches no tf_efficientnet_b0…b7.
    #[arg(long)]
    pub arch: Option<String>,
    /// One JSON object instead of a line of text.
    #[arg(long)]
    pub json: bool,
}

/// What a model file holds.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub path: String,
    /// classifier, encoder or mtcnn.
    pub kind: &'static str,
    pub arch: String,
    /// Side of the square input (classifiers; encoders and MTCNN take any size).
    pub input_size: Option<u32>,
    pub parameters: usize,
    /// The file format (`burnpack`, `pytorch-legacy`, …).
    pub format: String,
    /// For a `.bpk`: the file it was converted from and that file's sha256.
    pub source: Option<String>,
    pub source_sha256: Option<String>,
    pub sha256: String,
}

impl ModelInfo {
    pub fn line(&self) -> String {
        let size = self.input_size.map_or_else(String::new, |s| format!(", input {s}×{s}"));
        let source = match (&self.source, &self.source_sha256) {
            (Some(s), Some(h)) => format!(", from {s} (sha256 {})", &h[..h.len().min(12)]),
            _ => format!(", {} file", self.format),
        };
        format!(
            "{}: {} {}{size}, {:.2} M parameters{source}, sha256 {}",
            self.path,
            self.kind,
            self.arch,
            self.parameters as f64 / 1e6,
            self.sha256
        )
    }
}

/// Learned parameters, counted as PyTorch and timm count them: BatchNorm's running statistics are buffers, not
/// parameters (Burn's `num_params` counts them too).
pub fn parameters<B: Backend, M: ModuleSnapshot<B>>(model: &M) -> usize {
    model
        .collect(None, None, true)
        .iter()
        .filter(|s| {
            let path = s.full_path();
            !path.ends_with("running_mean") && !path.ends_with("running_var")
        })
        .map(|s| s.shape.num_elements())
        .sum()
}

struct Inspect<'a> {
    args: &'a InspectArgs,
}

impl BackendTask for Inspect<'_> {
    type Output = anyhow::Result<ModelInfo>;

    fn run<B: Backend>(self, device: Device<B>) -> Self::Output {
        let path = &self.args.model;
        let file = TensorFile::read(path)?;
        let described = if file.format.is_pytorch_layout() { None } else { Some(ModelFile::from_tensor_file(&file)?) };
        let format = file.format.to_string();
        let get = |key: &str| described.as_ref().and_then(|d| d.metadata.get(key).cloned());
        let (source, source_sha256) = (get(meta::SOURCE), get(meta::SOURCE_SHA256));
        drop(file);
        let sha256 = sha256_file(path)?;
        let shown = path.display().to_string();
        if described.as_ref().is_some_and(|d| d.kind == ModelKind::Mtcnn) {
            let nets = load_mtcnn::<B>(path, &device)?;
            let parameters = parameters(&nets);
            let arch = "MTCNN (PNet, RNet, ONet)".into();
            let kind = ModelKind::Mtcnn.as_str();
            return Ok(ModelInfo {
                path: shown,
                kind,
                arch,
                input_size: None,
                parameters,
                format,
                source,
                source_sha256,
                sha256,
            });
        }
        let arch = self.args.arch.as_deref().map(resolve_arch).transpose()?;
        Ok(match load_efficientnet::<B>(path, arch.as_ref(), &device)? {
            LoadedEfficientNet::Classifier(c) => ModelInfo {
                path: shown,
                kind: ModelKind::Classifier.as_str(),
                arch: c.config.encoder.name.clone(),
                input_size: Some(c.config.input_size as u32),
                parameters: parameters(&c.model),
                format,
                source,
                source_sha256,
                sha256,
            },
            LoadedEfficientNet::Encoder(e) => ModelInfo {
                path: shown,
                kind: ModelKind::Encoder.as_str(),
                arch: e.config.name.clone(),
                input_size: None,
                parameters: parameters(&e.model),
                format,
                source,
                source_sha256,
                sha256,
            },
        })
    }
}

pub fn run(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let info = run_on(DeviceSpec::Cpu, Precision::F32, Inspect { args: &args })??;
    if args.json {
        println!("{}", serde_json::to_string(&info)?);
    } else {
        println!("{}", info.line());
    }
    Ok(ExitCode::SUCCESS)
}
