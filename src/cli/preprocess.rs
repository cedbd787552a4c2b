//! `deepfake preprocess`: the solution's five preprocessing steps over a DFDC-layout data root.

use std::path::PathBuf;
use std::process::ExitCode;

use burn::prelude::*;
use clap::Args;

use super::DeviceArgs;
use deepfake_detector::device::{run_on, BackendTask, DeviceSpec};
use deepfake_detector::face::landmarks::ShapePredictor;
use deepfake_detector::face::Detector;
use deepfake_detector::model::fused::FusedOps;
use deepfake_detector::preprocess::{detector_config, Models, PreprocessEvent, PreprocessRequest, Step, StepReport};

#[derive(Args, Debug)]
pub struct PreprocessArgs {
    /// The data root: `dfdc_train_part_N/` folders with videos and a metadata.json each.
    pub root: PathBuf,
    /// Steps to run (in dependency order whatever the order given).
    #[arg(long, value_delimiter = ',', default_value = "boxes,crops,landmarks,diffs,folds")]
    pub steps: Vec<Step>,
    /// Videos processed at once by the crops and diffs steps.
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// Frames per MTCNN call in the boxes step (the original: 32).
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// MTCNN weights (.bpk from `deepfake import --arch mtcnn`); default: facenet-pytorch's, built in.
    #[arg(long)]
    pub mtcnn: Option<PathBuf>,
    /// dlib 68-point model (default: $DEEPFAKE_DLIB_68 or Debian's libdlib-data path).
    #[arg(long)]
    pub landmarks_model: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

struct Preprocess<'a> {
    args: &'a PreprocessArgs,
    predictor: ShapePredictor,
}

impl BackendTask for Preprocess<'_> {
    type Output = anyhow::Result<Vec<(Step, StepReport)>>;

    fn run<B: FusedOps>(self, device: Device<B>) -> Self::Output {
        let a = self.args;
        let pnet_batch = if a.device.device == DeviceSpec::Cpu { 1 } else { 32 };
        let detector = |step| -> anyhow::Result<Detector<B>> {
            let nets = match &a.mtcnn {
                Some(path) => deepfake_detector::weights::mtcnn::load_mtcnn::<B>(path, &device)?,
                None => deepfake_detector::weights::mtcnn::shipped_mtcnn::<B>(&device)?,
            };
            Ok(Detector::new(nets, detector_config(step), device.clone()).with_pnet_batch(pnet_batch))
        };
        let (boxes, landmarks) = (detector(Step::Boxes)?, detector(Step::Landmarks)?);
        let models = Models { boxes: &boxes, landmarks: &landmarks, predictor: &self.predictor };
        let req = PreprocessRequest { root: a.root.clone(), steps: a.steps.clone(), jobs: a.jobs, batch: a.batch };
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix:>9} {bar:40} {pos}/{len} {elapsed} {msg}")
                .expect("valid template"),
        );
        let progress = |e: PreprocessEvent| {
            bar.set_prefix(e.step.name());
            bar.set_length(e.total as u64);
            bar.set_position(e.done as u64);
            bar.set_message(e.video.clone());
            if let Some(err) = e.error {
                bar.println(format!("{} {}: {err}", e.step.name(), e.video));
            }
        };
        let reports = deepfake_detector::preprocess::run(&req, &models, &progress)?;
        bar.finish_and_clear();
        Ok(reports)
    }
}

pub fn run(args: PreprocessArgs) -> anyhow::Result<ExitCode> {
    let predictor = match &args.landmarks_model {
        Some(p) => ShapePredictor::load(p)?,
        None if args.steps.contains(&Step::Landmarks) => ShapePredictor::load_default()?,
        // Only the landmarks step reads the model; an empty one is never used.
        None => ShapePredictor::load_default().unwrap_or_else(|_| ShapePredictor::empty()),
    };
    let reports = run_on(args.device.device, args.device.precision, Preprocess { args: &args, predictor })??;
    let mut failed = false;
    for (step, r) in &reports {
        let rate = if r.frames > 0 { format!(", {:.1} frames/s", r.frames as f64 / r.seconds) } else { String::new() };
        println!(
            "{:>9}: {} items, {} already done, {} files written, {} failed, {:.1} s{rate}",
            step.name(),
            r.items,
            r.skipped,
            r.files_written,
            r.failed.len(),
            r.seconds
        );
        for (video, why) in &r.failed {
            failed = true;
            eprintln!("  {video}: {why}");
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
