//! `deepfake infer`: videos in, `submission.csv`, a report and a verdict table out (predict_folder.py,
//! dfdc-solution.md §5).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use burn::backend::Autodiff;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use image::RgbImage;

use super::output::{check_output, check_output_dir, one_stdout, Target};
use super::progress::Progress;
use super::{checked, expand_stdin, note_skipped, verdict, DetectorArgs, DeviceArgs, Format};
use deepfake_detector::cancel::{Cancel, Interrupted};
use deepfake_detector::config;
use deepfake_detector::device::{run_on, BackendTask};
use deepfake_detector::infer::inputs::collect_inputs;
use deepfake_detector::infer::report::{
    fingerprint, resumable, submission_csv, FileStamp, Journal, ModelRecord, Report, Summary,
};
use deepfake_detector::infer::shard::Shard;
use deepfake_detector::infer::{Event, InferOptions, Runner, VideoJob, VideoResult};
use deepfake_detector::model::classifier::Scorer;
use deepfake_detector::model::efficientnet::EfficientNetConfig;
use deepfake_detector::model::fused::FusedOps;
use deepfake_detector::model::gradcam::GradCam;
use deepfake_detector::plots::video::{video_folder, video_plots_done, write_video_plots};
use deepfake_detector::video::SampleOptions;
use deepfake_detector::weights::classifier::{load_classifier, resolve_arch};
use deepfake_detector::weights::file::sha256_file;

#[derive(Args, Debug)]
#[command(after_help = super::PROBABILITY_HELP)]
pub struct InferArgs {
    /// Videos, or folders of videos (files that are plainly not media, such as metadata.json, are listed as
    /// skipped); `-` reads one path per line from stdin. A path that does not exist stops the run before any work.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Search folders recursively (DFDC's dfdc_train_part_N/ layout); files are named by their path in the folder.
    #[arg(long, short)]
    pub recursive: bool,
    /// A classifier: a .bpk from `deepfake import`, an original DFDC checkpoint, or a folder of them. Repeat for
    /// an ensemble; the video score is the mean of the models' scores. Default: the built-in demo model
    /// (models/demo.bpk, trained on synthetic data; the DFDC checkpoints are far more accurate).
    #[arg(long = "model", short = 'm')]
    pub models: Vec<PathBuf>,
    /// Drop model files that cannot be used (in a model folder: not a weight file; any model: fails to load) with
    /// a warning, instead of stopping; at least one model must load.
    #[arg(long)]
    pub skip_bad_models: bool,
    /// Architecture of original checkpoints whose layout matches no tf_efficientnet_b0…b7.
    #[arg(long)]
    pub arch: Option<String>,
    /// The submission CSV (`filename,label`); `-` writes it to stdout.
    #[arg(long, short, default_value = "submission.csv")]
    pub out: PathBuf,
    /// A JSON report: per video status, frames, faces, per-frame and per-model scores, time per stage, and the
    /// models (architecture, input size, sha256); `-` writes it to stdout.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Per video, in DIR/<video name>/: timeline.png (each face's score from each model over the frames, the video
    /// score and the 0.5 line), faces.png (the crops with their scores) and gradcam.png (Grad-CAM heat maps of the
    /// 4 most suspicious faces, first model). Videos already done whose pictures are missing are redone.
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// `auto`: the verdict table on stderr at the end; `table`: on stdout.
    #[arg(long, value_enum, default_value = "auto")]
    pub format: Format,
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
    /// Process only shard K of N (`1/4`, or 0-based `0/4` as Kubernetes numbers them): the videos whose name
    /// hashes to it. The N runs' CSVs and reports join with `deepfake merge`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Ignore the journal of an interrupted run and start again.
    #[arg(long)]
    pub no_resume: bool,
    /// Nothing on stderr but errors: no progress, no model list, no verdict table.
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
    progress: &'a mut Progress,
    journal: Journal,
    stop: Cancel,
}

/// Results of this run, the models as loaded, and whether Ctrl-C stopped it.
type Outcome = (Vec<VideoResult>, Vec<ModelRecord>, bool);

impl BackendTask for Infer<'_> {
    type Output = anyhow::Result<Outcome>;

    fn run<B: FusedOps>(mut self, device: Device<B>) -> Self::Output {
        let arch = self.args.arch.as_deref().map(resolve_arch).transpose()?;
        let (mut scorers, mut records) = (Vec::new(), Vec::new());
        let n = self.models.len();
        for (i, path) in self.models.iter().enumerate() {
            let mb = std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1e6);
            self.progress.busy(format!("loading model {}/{n}: {} ({mb:.1} MB)", i + 1, path.display()));
            let (scorer, record) = match load_scorer::<B>(path, arch.as_ref(), self.options.batch_size, &device) {
                Ok(loaded) => loaded,
                Err(e) if self.args.skip_bad_models => {
                    self.progress.note(format!("WARNING: skipping {}: {e:#} (--skip-bad-models)", path.display()));
                    continue;
                }
                Err(e) => return Err(e.context(format!("loading {} (--skip-bad-models drops it)", path.display()))),
            };
            let size = record.input_size;
            if !self.args.quiet {
                self.progress.note(format!(
                    "model {}/{n}: {}: {}, input {size}×{size}, {:.2} M parameters, sha256 {}",
                    i + 1,
                    record.path,
                    record.arch,
                    record.parameters as f64 / 1e6,
                    &record.sha256[..12]
                ));
            }
            records.push(record);
            scorers.push(scorer);
            if self.stop.is_cancelled() {
                return Ok((Vec::new(), records, true));
            }
        }
        if scorers.is_empty() {
            anyhow::bail!("none of the {n} model(s) could be loaded (each is named above)");
        }
        self.progress.set_models(scorers.len());
        let runner = Runner {
            detector: self.args.detector.detector::<B>(&device, self.args.device.device)?,
            scorers,
            options: self.options.clone(),
        };
        let stamps: BTreeMap<String, Option<FileStamp>> =
            self.jobs.iter().map(|j| (j.file.clone(), FileStamp::of(&j.path))).collect();
        let mut pictures = self.args.plots.as_deref().map(|root| Pictures::<Autodiff<B>>::new(root, &runner));
        self.progress.start();
        let progress = &mut *self.progress;
        let mut results = Vec::new();
        let journal = &mut self.journal;
        let on_event: &mut dyn FnMut(Event<'_>) = &mut |e| match pictures.as_mut() {
            Some(p) => p.event(e, progress),
            None => progress.event(e),
        };
        let outcome = runner.run_all(std::mem::take(&mut self.jobs), &self.stop, on_event, |result| {
            journal.append(stamps[&result.file].clone(), &result).context("writing the journal")?;
            results.push(result);
            anyhow::Ok(())
        });
        match outcome {
            Ok(()) => Ok((results, records, false)),
            Err(e) if e.is::<Interrupted>() => Ok((results, records, true)),
            Err(e) => Err(e),
        }
    }
}

/// `--plots`: Grad-CAM of the first model (built only with the flag) and the crops of the video in progress,
/// copied from the runner's `Cropped` event and drawn when the video is finished.
struct Pictures<A: AutodiffBackend> {
    root: PathBuf,
    models: Vec<String>,
    size: u32,
    cam: GradCam<A>,
    crops: Vec<RgbImage>,
}

impl<A: AutodiffBackend> Pictures<A> {
    fn new(root: &Path, runner: &Runner<A::InnerBackend>) -> Self {
        let first = &runner.scorers[0];
        Self {
            root: root.to_path_buf(),
            models: runner.scorers.iter().map(|s| s.name.clone()).collect(),
            size: first.input_size,
            cam: GradCam::new(first.model.clone()),
            crops: Vec::new(),
        }
    }

    /// Keeps the crops, writes the pictures of a finished video (a failure is a warning: the CSV is unchanged),
    /// then moves the bar.
    fn event(&mut self, e: Event<'_>, progress: &mut Progress) {
        match e {
            Event::Cropped { crops, .. } => self.crops = crops.at(self.size).map(<[_]>::to_vec).unwrap_or_default(),
            Event::Finished(result) => {
                let crops = std::mem::take(&mut self.crops);
                let folder = video_folder(&self.root, &result.file);
                if let Err(err) = write_video_plots(&folder, result, &self.models, &crops, Some(&self.cam)) {
                    progress.note(format!("WARNING: {}: pictures not written: {err}", result.file));
                }
            }
            _ => {}
        }
        progress.event(e);
    }
}

/// Ctrl-C: the first ends the run at the next stage boundary, dropping the video in progress (finished videos are
/// journaled, so a rerun resumes); a second ends the process at once.
fn on_ctrl_c(quiet: bool) -> Cancel {
    let stop = Cancel::new();
    let flag = stop.clone();
    let installed = ctrlc::set_handler(move || {
        if flag.cancel() {
            eprintln!("\ninterrupted; rerun the same command to resume");
            std::process::exit(130);
        }
        if !quiet {
            eprintln!("\nstopping at the end of the current stage (Ctrl-C again to stop now)");
        }
    });
    if let Err(e) = installed {
        eprintln!("warning: Ctrl-C will not stop cleanly: {e}");
    }
    stop
}

/// The thresholds as typed: an f32 becomes the shortest decimal that reads back as it (0.7, not
/// 0.699999988079071), as JSON numbers are f64.
fn as_typed(v: f32) -> serde_json::Value {
    v.to_string().parse::<f64>().map_or(serde_json::Value::Null, serde_json::Value::from)
}

pub fn run(args: InferArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    // Everything that can be checked is checked before any work: outputs, models, inputs.
    let out = check_output("--out", &args.out)?;
    let report_target = args.report.as_deref().map(|p| check_output("--report", p)).transpose()?;
    args.plots.as_deref().map(|d| check_output_dir("--plots", d)).transpose()?;
    let table_target = Target::Stdout;
    let mut outputs = vec![("--out", &out)];
    outputs.extend(report_target.as_ref().map(|t| ("--report", t)));
    if args.format == Format::Table {
        outputs.push(("--format table", &table_target));
    }
    one_stdout(&outputs)?;
    let (models, bad_models) = super::models_or_demo(&args.models, args.skip_bad_models, args.quiet)?;
    for bad in &bad_models {
        eprintln!("WARNING: skipping {}: {} (--skip-bad-models)", bad.path.display(), bad.reason.as_str());
    }
    let inputs = expand_stdin(&args.inputs)?;
    // The run's own outputs are never inputs, even when they sit in an input folder.
    let journal_path = Journal::path_for(out.path().unwrap_or(Path::new("deepfake-stdout.csv")));
    let mut skip = vec![journal_path.clone()];
    skip.extend(out.path().map(Path::to_path_buf));
    skip.extend(report_target.as_ref().and_then(|t| t.path()).map(Path::to_path_buf));
    skip.extend(args.plots.clone());
    let mut listed = collect_inputs(&inputs, args.recursive, &skip)?;
    if !args.quiet {
        note_skipped(&listed.skipped);
    }
    if let Some(shard) = args.shard {
        let all = listed.jobs.len();
        listed.jobs.retain(|job| shard.contains(&job.file));
        if !args.quiet {
            eprintln!("shard {shard}: {} of {all} video(s)", listed.jobs.len());
        }
    }
    let sample = SampleOptions {
        frames: args.frames,
        max_file_bytes: Some(args.max_file_mb.saturating_mul(1 << 20)),
        max_pixels: Some(args.max_pixels),
        threads: args.decode_threads,
        ..SampleOptions::default()
    };
    let options =
        super::infer_options(sample, &args.detector, &args.device, args.max_faces, args.batch_size, args.per_person)?;
    let pnet_batch = args.detector.pnet_batch(args.device.device);
    // Everything that can change a row of the CSV or the report; a resumed run only keeps rows of the same setup.
    let mut settings = serde_json::json!({
        "tool": env!("CARGO_PKG_VERSION"),
        "options": options,
        "mtcnn": args.detector.mtcnn.as_ref().map_or_else(|| "built-in".to_string(), |p| p.display().to_string()),
        "pnet_batch": pnet_batch,
        "precision": args.device.precision.as_str(),
        "device": args.device.device.to_string(),
        "arch": args.arch,
        "models": models.iter().map(|m| m.display().to_string()).collect::<Vec<_>>(),
    });
    if let Some(shard) = args.shard {
        settings["shard"] = serde_json::to_value(shard)?;
    }
    settings["options"]["detector"]["thresholds"] = args.detector.thresholds.iter().map(|&t| as_typed(t)).collect();
    let mut weight_files: Vec<&Path> = models.iter().map(PathBuf::as_path).collect();
    weight_files.extend(args.detector.mtcnn.as_deref());

    // Resume: videos finished by an interrupted run with the same models and settings, and unchanged since.
    let fp = fingerprint(&settings, &weight_files);
    let mut previous = if args.no_resume { BTreeMap::new() } else { Journal::load(&journal_path, &fp) };
    // With --plots, a video done before whose pictures are missing is redone (its row comes out the same).
    previous.retain(|file, _| args.plots.as_deref().is_none_or(|root| video_plots_done(&video_folder(root, file))));
    let (kept, todo) = resumable(previous, listed.jobs);
    let journal = Journal::create(&journal_path, &fp, &kept)
        .with_context(|| format!("creating the journal {}", journal_path.display()))?;
    if !kept.is_empty() && !args.quiet {
        eprintln!("resuming: {} video(s) already done in {}", kept.len(), journal_path.display());
    }

    let stop = on_ctrl_c(args.quiet);
    let mut progress = Progress::new(todo.len(), models.len(), args.quiet);
    let task = Infer { args: &args, models: &models, jobs: todo, options, progress: &mut progress, journal, stop };
    let (fresh, records, interrupted) = run_on(args.device.device, args.device.precision, task)??;
    progress.clear();
    if interrupted {
        eprintln!("interrupted: {} done, rerun the same command to resume", kept.len() + fresh.len());
        return Ok(ExitCode::from(130));
    }

    let mut results: Vec<VideoResult> = kept.into_iter().map(|(_, r)| r).collect();
    results.extend(fresh);
    results.sort_by(|a, b| a.file.cmp(&b.file));
    out.write("--out", submission_csv(&results, args.on_error).as_bytes())?;
    let summary = Summary::of(&results, started.elapsed().as_secs_f64());
    if let Some(target) = &report_target {
        let report = Report {
            tool: format!("deepfake {}", env!("CARGO_PKG_VERSION")),
            ffmpeg: deepfake_detector::video::ffmpeg_versions(),
            models: records,
            device: args.device.device.to_string(),
            settings,
            summary: summary.clone(),
            videos: results.iter().collect(),
        };
        let mut json = serde_json::to_vec_pretty(&report)?;
        json.push(b'\n');
        target.write("--report", &json)?;
    }
    // Outputs are written: the journal has done its job.
    let _ = std::fs::remove_file(&journal_path);

    match args.format {
        Format::Table => print!("{}", verdict::table(&results)),
        Format::Auto if !args.quiet => eprint!("{}", verdict::table(&results)),
        Format::Auto => {}
    }
    let failed: usize = summary.failed.values().sum();
    if !args.quiet {
        eprintln!(
            "{} video(s): {} scored, {} not scored; {:.1} s (decode {:.1} s, detect {:.1} s, classify {:.1} s) -> {}",
            summary.videos,
            summary.ok,
            failed,
            summary.wall_s,
            summary.decode_s,
            summary.detect_s,
            summary.classify_s,
            out.path().map_or_else(|| "stdout".to_string(), |p| p.display().to_string())
        );
    }
    Ok(if failed > 0 && args.on_error.is_none() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Loads one classifier for inference: its scorer (batched as given) and the record the report keeps of it
/// (architecture, input size, parameters, the file's sha256). `infer` and `serve` load their models through it.
pub fn load_scorer<B: FusedOps>(
    path: &Path,
    arch: Option<&EfficientNetConfig>,
    batch_size: usize,
    device: &Device<B>,
) -> anyhow::Result<(Scorer<B>, ModelRecord)> {
    let loaded = load_classifier::<B>(path, arch, device)?;
    let size = loaded.config.input_size as u32;
    let record = ModelRecord {
        path: path.display().to_string(),
        arch: loaded.config.encoder.name.clone(),
        input_size: size,
        parameters: super::inspect::parameters(&loaded.model),
        sha256: sha256_file(path)?,
    };
    let scorer = Scorer::new(record.path.clone(), loaded.model, size, device.clone()).with_batch_size(batch_size);
    Ok((scorer, record))
}
