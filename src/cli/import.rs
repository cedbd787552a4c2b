//! `deepfake import`: PyTorch / timm / safetensors weights → a `.bpk` file that records its kind, architecture
//! and origin, so later commands need no `--arch`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use burn::prelude::*;
use clap::Args;

use deepfake_detector::device::{run_on, BackendTask, DeviceSpec, Precision};
use deepfake_detector::weights::classifier::{load_efficientnet, resolve_arch, save_efficientnet};
use deepfake_detector::weights::mtcnn::{import_facenet, save_mtcnn};
use deepfake_detector::weights::ModelKind;

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The file(s) to convert: one EfficientNet file (a DFDC checkpoint, a timm ImageNet .pth, a state_dict .pth or
    /// .safetensors), or with `--arch mtcnn` facenet-pytorch's pnet.pt, rnet.pt and onet.pt.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// `mtcnn`, or an EfficientNet (tf_efficientnet_b0 … b7 with `_ns` accepted, efficientnet_b0 … b7,
    /// tf_efficientnet_lite0 … lite4, efficientnet_lite0 … lite4, or a TOML/JSON EfficientNetConfig); inferred from
    /// the checkpoint's layout when omitted (the tf_ model where both fit).
    #[arg(long)]
    pub arch: Option<String>,
    /// Where to write the converted model (e.g. models/b7.bpk).
    #[arg(long, short)]
    pub out: PathBuf,
}

struct Import<'a> {
    args: &'a ImportArgs,
}

impl BackendTask for Import<'_> {
    type Output = anyhow::Result<ModelKind>;

    fn run<B: Backend>(self, device: Device<B>) -> Self::Output {
        let args = self.args;
        if args.arch.as_deref() == Some("mtcnn") {
            let nets = import_facenet::<B>(&args.inputs, &device)?;
            save_mtcnn(&nets, &args.inputs, &args.out)?;
            return Ok(ModelKind::Mtcnn);
        }
        let [input] = args.inputs.as_slice() else {
            bail!("an EfficientNet import takes one file; {} given", args.inputs.len());
        };
        let arch = args.arch.as_deref().map(resolve_arch).transpose()?;
        let loaded = load_efficientnet::<B>(input, arch.as_ref(), &device)?;
        Ok(save_efficientnet(&loaded, &args.out)?)
    }
}

pub fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    // Conversion only moves tensors; the CPU backend does it.
    let kind = run_on(DeviceSpec::Cpu, Precision::F32, Import { args: &args })??;
    let inputs: Vec<String> = args.inputs.iter().map(|p| p.display().to_string()).collect();
    println!("{}: {} written to {}", inputs.join(", "), kind.as_str(), args.out.display());
    Ok(ExitCode::SUCCESS)
}
