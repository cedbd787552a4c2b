//! `deepfake infer`: videos in, `submission.csv` and a report out (predict_folder.py, dfdc-solution.md §5).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use anyhow::{bail, Context};
use burn::prelude::*;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use super::{DetectorArgs, DeviceArgs};
use crate::atomic::write_atomic;
use crate::device::{run_on, BackendTask, DeviceSpec, Precision};
use crate::infer::pipeline::{decode, Classifier, Pipeline};
use crate::infer::report::{submission_csv, FileStamp, Journal, Report, Summary};
use crate::infer::{InferOptions, VideoResult};
use crate::model::fused::FusedOps;
use crate::video::SampleOptions;
use crate::weights::classifier::{load_classifier, resolve_arch};
use crate::weights::WeightFormat;

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
    /// Frames sampled per video, evenly spaced.
    #[arg(long, default_value_t = 32)]
    pub frames: usize,
    /// Label written for a video that could not be scored (the Kaggle behaviour is 0.5). Without it the CSV says
    /// `error:<status>` and the exit code is 1.
    #[arg(long, value_name = "LABEL")]
    pub on_error: Option<f32>,
    /// Group faces into people by overlap across frames and report the most suspicious person, instead of
    /// pooling everyone's faces as the original does.
    #[arg(long)]
    pub per_person: bool,
    /// Faces per classifier forward pass (default: 1 on the CPU, where flex is fastest one image at a time; 16 on
    /// a GPU).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Faces classified per video at most (the original: 127).
    #[arg(long, default_value_t = 127)]
    pub max_faces: usize,
    /// Refuse videos larger than this many megabytes.
    #[arg(long, default_value_t = 4096)]
    pub max_file_mb: u64,
    /// Refuse videos with more pixels per frame than this.
    #[arg(long, default_value_t = 4096 * 4096)]
    pub max_pixels: u64,
    /// Decoder threads (0: FFmpeg decides).
    #[arg(long, default_value_t = 0)]
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

/// A video to score and its name in the CSV.
struct Job {
    file: String,
    path: PathBuf,
}

fn is_hidden(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// The regular, non-hidden files of a folder, sorted.
fn files_in(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !is_hidden(p))
        .collect();
    files.sort();
    Ok(files)
}

/// Files of the inputs; a folder contributes its regular, non-hidden files, named relative to it.
fn collect_jobs(inputs: &[PathBuf], skip: &[PathBuf]) -> anyhow::Result<Vec<Job>> {
    let mut jobs = Vec::new();
    for input in inputs {
        if input.is_dir() {
            for path in files_in(input)?.into_iter().filter(|p| !skip.iter().any(|s| same_file(s, p))) {
                let file = path.strip_prefix(input).unwrap_or(&path).to_string_lossy().into_owned();
                jobs.push(Job { file, path });
            }
        } else {
            // A missing file is reported like any unreadable video, not fatal to the run.
            let file = input.file_name().map_or_else(|| input.display().to_string(), |n| n.to_string_lossy().into());
            jobs.push(Job { file, path: input.clone() });
        }
    }
    let mut seen = BTreeMap::new();
    for job in &jobs {
        if let Some(other) = seen.insert(job.file.clone(), job.path.clone()) {
            bail!("two inputs share the name `{}` ({} and {})", job.file, other.display(), job.path.display());
        }
    }
    Ok(jobs)
}

fn same_file(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// Model files: the paths given, folders expanded to the weight files inside them (sorted).
fn collect_models(models: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for m in models {
        if m.is_dir() {
            let files: Vec<PathBuf> = files_in(m)?
                .into_iter()
                .filter(|p| {
                    let mut head = [0u8; 16];
                    std::fs::File::open(p)
                        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
                        .is_ok_and(|n| WeightFormat::sniff(&head[..n]).is_some())
                })
                .collect();
            if files.is_empty() {
                bail!("no weight files in {}", m.display());
            }
            out.extend(files);
        } else {
            out.push(m.clone());
        }
    }
    Ok(out)
}

struct Infer<'a> {
    args: &'a InferArgs,
    models: &'a [PathBuf],
    jobs: Vec<Job>,
    options: InferOptions,
    progress: ProgressBar,
    journal: Journal,
}

impl BackendTask for Infer<'_> {
    type Output = anyhow::Result<Vec<VideoResult>>;

    fn run<B: FusedOps>(mut self, device: Device<B>) -> Self::Output {
        let arch = self.args.arch.as_deref().map(resolve_arch).transpose()?;
        let mut classifiers = Vec::new();
        for path in self.models {
            self.progress.set_message(format!("loading {}", path.display()));
            let loaded = load_classifier::<B>(path, arch.as_ref(), &device)?;
            classifiers.push(Classifier {
                name: path.display().to_string(),
                input_size: loaded.config.input_size as u32,
                model: loaded.model.fold_batchnorm(),
            });
        }
        let pipeline = Pipeline {
            detector: self.args.detector.detector::<B>(&device, self.args.device.device)?,
            models: classifiers,
            options: self.options.clone(),
            device,
        };

        // Decoding runs one video ahead on its own thread; the queue holds one decoded video at a time.
        let (tx, rx) = sync_channel(1);
        let sample = self.options.sample.clone();
        let jobs: Vec<(String, PathBuf)> = self.jobs.iter().map(|j| (j.file.clone(), j.path.clone())).collect();
        let decoder = std::thread::spawn(move || {
            for (file, path) in jobs {
                if tx.send(decode(file, &path, &sample)).is_err() {
                    break;
                }
            }
        });
        let mut results = Vec::new();
        for (decoded, job) in rx.iter().zip(&self.jobs) {
            self.progress.set_message(job.file.clone());
            let result = pipeline.process(decoded);
            self.journal.append(FileStamp::of(&job.path), &result).context("writing the journal")?;
            self.progress.inc(1);
            results.push(result);
        }
        decoder.join().map_err(|_| anyhow::anyhow!("the decoding thread failed"))?;
        Ok(results)
    }
}

/// Identifies the models and settings of a run, so a resumed run never mixes results of different setups.
fn fingerprint(models: &[PathBuf], settings: &serde_json::Value) -> String {
    let mut h = Sha256::new();
    for m in models {
        h.update(m.display().to_string());
        h.update(format!("{:?}", FileStamp::of(m)));
    }
    h.update(settings.to_string());
    format!("{:x}", h.finalize())
}

pub fn run(args: InferArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let models = collect_models(&args.models)?;
    let mut skip = vec![args.out.clone(), Journal::path_for(&args.out)];
    skip.extend(args.report.clone());
    let jobs = collect_jobs(&args.inputs, &skip)?;
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
    let settings = serde_json::json!({
        "frames": args.frames,
        "detector": options.detector,
        "mtcnn": args.detector.mtcnn,
        "max_faces": args.max_faces,
        "per_person": args.per_person,
        "precision": format!("{:?}", args.device.precision),
        "device": args.device.device.to_string(),
        "arch": args.arch,
    });

    // Resume: videos finished by an interrupted run with the same models and settings, and unchanged since.
    let journal_path = Journal::path_for(&args.out);
    let fp = fingerprint(&models, &settings);
    let mut previous = if args.no_resume { BTreeMap::new() } else { Journal::load(&journal_path, &fp) };
    let (mut kept, mut todo) = (Vec::new(), Vec::new());
    for job in jobs {
        match previous.remove(&job.file) {
            Some((stamp, result)) if stamp.is_some() && stamp == FileStamp::of(&job.path) => kept.push((stamp, result)),
            _ => todo.push(job),
        }
    }
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
        if failed > 0 { format!(" ({:?})", summary.failed) } else { String::new() },
        summary.wall_s,
        summary.decode_s,
        summary.detect_s,
        summary.classify_s,
        args.out.display()
    );
    Ok(if failed > 0 && args.on_error.is_none() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
