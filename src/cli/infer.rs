//! `deepfake infer`: videos in, `submission.csv` and a report out (predict_folder.py, dfdc-solution.md §5).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use burn::prelude::*;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::{checked, DetectorArgs, DeviceArgs};
use deepfake_detector::atomic::write_atomic;
use deepfake_detector::config;
use deepfake_detector::device::{run_on, BackendTask, DeviceSpec, Precision};
use deepfake_detector::infer::inputs::{collect_models, collect_videos};
use deepfake_detector::infer::report::{fingerprint, resumable, submission_csv, FileStamp, Journal, Report, Summary};
use deepfake_detector::infer::{Event, InferOptions, Runner, VideoJob, VideoResult};
use deepfake_detector::model::classifier::Scorer;
use deepfake_detector::model::fused::FusedOps;
use deepfake_detector::video::SampleOptions;
use deepfake_detector::weights::classifier::{load_classifier, resolve_arch};

#[derive(Args, Debug)]
pub struct InferArgs {
    /// Videos, or folders of videos (every file in them, sorted; files that are not videos are reported).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// A classifier: a .bpk from `deepfake import`, an original DFDC checkpoint, or a folder of them. Repeat for
    /// an ensemble; the video score is the mean of the models' scores.
    #[arg(long = "model", short = 'm', required = true)]
    pub models: Vec<PathBuf>,
    /// Architecture of original checkpoints whose layout matches no tf_efficientnet_b0…b7.
    #[arg(long)]
    pub arch: Option<String>,
    /// The submission CSV (`filename,label`).
    #[arg(long, short, default_value = "submission.csv")]
    pub out: PathBuf,
    /// A JSON report: per video status, frames, faces, per-frame and per-model scores, time per stage.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Frames sampled per video, evenly spaced (1 to 1024).
    #[arg(long, default_value_t = 32, value_parser = checked(|v| config::in_range("frames", v, 1..=config::MAX_FRAMES)))]
    pub frames: usize,
    /// Label written for a video that could not be scored (the Kaggle behaviour is 0.5). Without it the CSV says
    /// `error:<status>` and the exit code is 1.
    #[arg(long, value_name = "LABEL", value_parser = checked(|v| config::probability("on_error", v)))]
    pub on_error: Option<f32>,
    /// Group faces into people by overlap across frames and report the most suspicious person, instead of
    /// pooling everyone's faces as the original does.
    #[arg(long)]
    pub per_person: bool,
    /// Faces per classifier forward pass (default: 1 on the CPU, where flex is fastest one image at a time; 16 on
    /// a GPU).
    #[arg(long, value_parser = checked(|v| config::in_range("batch_size", v, 1..=config::MAX_BATCH)))]
    pub batch_size: Option<usize>,
    /// Faces classified per video at most (the original: 127).
    #[arg(long, default_value_t = 127, value_parser = checked(|v| config::in_range("max_faces", v, 1..=config::MAX_BATCH)))]
    pub max_faces: usize,
    /// Refuse videos larger than this many megabytes.
    #[arg(long, default_value_t = 4096, value_parser = checked(|v| config::in_range("max_file_mb", v, 1..=u64::MAX >> 20)))]
    pub max_file_mb: u64,
    /// Refuse videos with more pixels per frame than this.
    #[arg(long, default_value_t = 4096 * 4096, value_parser = checked(|v| config::in_range("max_pixels", v, 1..=u64::MAX)))]
    pub max_pixels: u64,
    /// Decoder threads (0: FFmpeg decides; at most 64).
    #[arg(long, default_value_t = 0, value_parser = checked(|v| config::in_range("decode_threads", v, 0usize..=64)))]
    pub decode_threads: usize,
    /// Ignore the journal of an interrupted run and start again.
    #[arg(long)]
    pub no_resume: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub detector: DetectorArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

struct Infer<'a> {
    args: &'a InferArgs,
    models: &'a [PathBuf],
    jobs: Vec<VideoJob>,
    options: InferOptions,
    progress: ProgressBar,
    journal: Journal,
}

impl BackendTask for Infer<'_> {
    type Output = anyhow::Result<Vec<VideoResult>>;

    fn run<B: FusedOps>(mut self, device: Device<B>) -> Self::Output {
        let arch = self.args.arch.as_deref().map(resolve_arch).transpose()?;
        let mut scorers = Vec::new();
        for path in self.models {
            self.progress.set_message(format!("loading {}", path.display()));
            let loaded = load_classifier::<B>(path, arch.as_ref(), &device)?;
            let size = loaded.config.input_size as u32;
            scorers.push(
                Scorer::new(path.display().to_string(), loaded.model, size, device.clone())
                    .with_batch_size(self.options.batch_size),
            );
        }
        let runner = Runner {
            detector: self.args.detector.detector::<B>(&device, self.args.device.device)?,
            scorers,
            options: self.options.clone(),
        };
        let stamps: BTreeMap<String, Option<FileStamp>> =
            self.jobs.iter().map(|j| (j.file.clone(), FileStamp::of(&j.path))).collect();
        let progress = self.progress.clone();
        let mut on_event = |event: Event<'_>| match event {
            Event::Started { file } => progress.set_message(file.to_string()),
            Event::Scored { file, model, models } if models > 1 => {
                progress.set_message(format!("{file} (model {}/{models})", model + 1))
            }
            Event::Finished(_) => progress.inc(1),
            _ => {}
        };
        let mut results = Vec::new();
        let journal = &mut self.journal;
        runner.run_all(std::mem::take(&mut self.jobs), &mut on_event, |result| {
            journal.append(stamps[&result.file].clone(), &result).context("writing the journal")?;
            results.push(result);
            anyhow::Ok(())
        })?;
        Ok(results)
    }
}

pub fn run(args: InferArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let models = collect_models(&args.models)?;
    let mut skip = vec![args.out.clone(), Journal::path_for(&args.out)];
    skip.extend(args.report.clone());
    let jobs = collect_videos(&args.inputs, &skip)?;
    let options = InferOptions {
        sample: SampleOptions {
            frames: args.frames,
            max_file_bytes: Some(args.max_file_mb.saturating_mul(1 << 20)),
            max_pixels: Some(args.max_pixels),
            threads: args.decode_threads,
            ..SampleOptions::default()
        },
        detector: args.detector.config(),
        max_faces: args.max_faces,
        batch_size: args.batch_size.unwrap_or(if args.device.device == DeviceSpec::Cpu { 1 } else { 16 }),
        per_person: args.per_person,
        half_probabilities: args.device.precision == Precision::F16,
    };
    options.validate()?;
    let pnet_batch = args.detector.pnet_batch(args.device.device);
    // Everything that can change a row of the CSV or the report; a resumed run only keeps rows of the same setup.
    let settings = serde_json::json!({
        "tool": env!("CARGO_PKG_VERSION"),
        "options": options,
        "mtcnn": args.detector.mtcnn.as_ref().map_or_else(|| "built-in".to_string(), |p| p.display().to_string()),
        "pnet_batch": pnet_batch,
        "precision": args.device.precision.as_str(),
        "device": args.device.device.to_string(),
        "arch": args.arch,
        "models": models.iter().map(|m| m.display().to_string()).collect::<Vec<_>>(),
    });
    let mut weight_files: Vec<&Path> = models.iter().map(PathBuf::as_path).collect();
    weight_files.extend(args.detector.mtcnn.as_deref());

    // Resume: videos finished by an interrupted run with the same models and settings, and unchanged since.
    let journal_path = Journal::path_for(&args.out);
    let fp = fingerprint(&settings, &weight_files);
    let previous = if args.no_resume { BTreeMap::new() } else { Journal::load(&journal_path, &fp) };
    let (kept, todo) = resumable(previous, jobs);
    let journal = Journal::create(&journal_path, &fp, &kept).context("creating the journal")?;

    let progress = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(todo.len() as u64) };
    progress.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} videos, eta {eta} {msg}")
            .expect("valid template"),
    );
    if !kept.is_empty() {
        eprintln!("resuming: {} video(s) already done in {}", kept.len(), journal_path.display());
    }
    let task = Infer { args: &args, models: &models, jobs: todo, options, progress: progress.clone(), journal };
    let fresh = run_on(args.device.device, args.device.precision, task)??;
    progress.finish_and_clear();

    let mut results: Vec<VideoResult> = kept.into_iter().map(|(_, r)| r).collect();
    results.extend(fresh);
    results.sort_by(|a, b| a.file.cmp(&b.file));
    write_atomic(&args.out, submission_csv(&results, args.on_error).as_bytes())
        .with_context(|| format!("writing {}", args.out.display()))?;
    let summary = Summary::of(&results, started.elapsed().as_secs_f64());
    if let Some(path) = &args.report {
        let report = Report {
            tool: format!("deepfake {}", env!("CARGO_PKG_VERSION")),
            ffmpeg: deepfake_detector::video::ffmpeg_versions(),
            models: models.iter().map(|m| m.display().to_string()).collect(),
            device: args.device.device.to_string(),
            settings,
            summary: summary.clone(),
            videos: results.iter().collect(),
        };
        write_atomic(path, &serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    // Outputs are written: the journal has done its job.
    let _ = std::fs::remove_file(&journal_path);

    let failed: usize = summary.failed.values().sum();
    eprintln!(
        "{} video(s): {} scored, {} not scored{}; {:.1} s (decode {:.1} s, detect {:.1} s, classify {:.1} s) -> {}",
        summary.videos,
        summary.ok,
        failed,
        if failed > 0 {
            let counts: Vec<String> = summary.failed.iter().map(|(s, n)| format!("{s}: {n}")).collect();
            format!(" ({})", counts.join(", "))
        } else {
            String::new()
        },
        summary.wall_s,
        summary.decode_s,
        summary.detect_s,
        summary.classify_s,
        args.out.display()
    );
    Ok(if failed > 0 && args.on_error.is_none() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
