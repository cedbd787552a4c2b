//! `deepfake synth`: a DFDC-layout training set (real clips, self-blended and face-swapped fakes) from real
//! photos and videos.

use std::path::PathBuf;
use std::process::ExitCode;

use burn::prelude::*;
use clap::Args;

use super::{DetectorArgs, DeviceArgs};
use deepfake_detector::device::{run_on, BackendTask};
use deepfake_detector::face::landmarks::ShapePredictor;
use deepfake_detector::model::fused::FusedOps;
use deepfake_detector::synth::{Method, SynthEvent, SynthReport, SynthRequest};
use deepfake_detector::video::encode::EncodeOptions;

#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Real photos and videos, or folders of them; each file is one identity.
    #[arg(long, required = true, num_args = 1..)]
    pub real: Vec<PathBuf>,
    /// The data root to write (`dfdc_train_part_N/`, `masks/`).
    #[arg(long)]
    pub out: PathBuf,
    /// Kinds of fake per real clip.
    #[arg(long, value_delimiter = ',', default_value = "sbi,swap")]
    pub method: Vec<Method>,
    /// Everything random follows from this.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Frames per clip.
    #[arg(long, default_value_t = 50)]
    pub frames: usize,
    /// At most this many clips cut from one video.
    #[arg(long, default_value_t = 4)]
    pub clips_per_video: usize,
    /// Share of identities held out in parts 0-2 (fold 0), chosen by a hash of the identity's name.
    #[arg(long, default_value_t = 0.2)]
    pub holdout: f64,
    /// Parts (3, 4, ...) the other identities spread over.
    #[arg(long, default_value_t = 3)]
    pub train_parts: u32,
    /// x264 constant rate factor (0 = lossless).
    #[arg(long, default_value_t = 18)]
    pub crf: u8,
    /// Clip frame rate.
    #[arg(long, default_value_t = 25)]
    pub fps: u32,
    /// dlib 68-point model (default: $DEEPFAKE_DLIB_68 or Debian's libdlib-data path).
    #[arg(long)]
    pub landmarks_model: Option<PathBuf>,
    #[command(flatten)]
    pub detector: DetectorArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

struct Synth<'a> {
    args: &'a SynthArgs,
    predictor: ShapePredictor,
}

impl BackendTask for Synth<'_> {
    type Output = anyhow::Result<SynthReport>;

    fn run<B: FusedOps>(self, device: Device<B>) -> Self::Output {
        let a = self.args;
        let detector = a.detector.detector::<B>(&device, a.device.device)?;
        let req = SynthRequest {
            real: a.real.clone(),
            out: a.out.clone(),
            methods: a.method.clone(),
            seed: a.seed,
            frames: a.frames,
            clips_per_video: a.clips_per_video,
            holdout: a.holdout,
            train_parts: a.train_parts,
            encode: EncodeOptions { fps: a.fps, crf: a.crf, ..EncodeOptions::default() },
            ..SynthRequest::default()
        };
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} identities {elapsed} {msg}")
                .expect("valid template"),
        );
        let report = deepfake_detector::synth::run(&req, &detector, &self.predictor, &mut |event| match event {
            SynthEvent::Started { identities } => bar.set_length(identities as u64),
            SynthEvent::Identity { identity, skipped, .. } => {
                if let Some(why) = skipped {
                    bar.println(format!("skipped {identity}: {why}"));
                }
                bar.set_message(identity);
                bar.inc(1);
            }
        })?;
        bar.finish_and_clear();
        Ok(report)
    }
}

pub fn run(args: SynthArgs) -> anyhow::Result<ExitCode> {
    let predictor = match &args.landmarks_model {
        Some(p) => ShapePredictor::load(p)?,
        None => ShapePredictor::load_default()?,
    };
    let started = std::time::Instant::now();
    let report = run_on(args.device.device, args.device.precision, Synth { args: &args, predictor })??;
    let secs = started.elapsed().as_secs_f64();
    let fakes: usize = report.fakes.values().sum();
    println!(
        "{}: {} identities, {} real clips, {} fakes ({}), {} held out; {:.1} clips/min",
        args.out.display(),
        report.identities,
        report.real_clips,
        fakes,
        report.fakes.iter().map(|(m, n)| format!("{m:?} {n}").to_lowercase()).collect::<Vec<_>>().join(", "),
        report.holdout_identities.len(),
        (report.real_clips + fakes) as f64 / (secs / 60.0),
    );
    for (part, n) in &report.parts {
        println!("  dfdc_train_part_{part}: {n} clips");
    }
    for (path, why) in &report.skipped {
        eprintln!("skipped {}: {why}", path.display());
    }
    Ok(if report.skipped.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
