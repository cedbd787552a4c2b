//! One training run: Burn's `SupervisedTraining` + `Learner`, launched once per epoch from the checkpoint of the
//! previous one, so an uninterrupted run and a `--resume`d one take exactly the same path (every epoch restores
//! model, optimizer and schedule from `checkpoint/*-<epoch>.mpk`). After each epoch the holdout fold is scored
//! per video, a line is added to `metrics.jsonl` and the model is exported as `epoch-<n>.bpk`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::store::ModuleSnapshot;
use burn::tensor::activation::sigmoid;
use burn::tensor::backend::AutodiffBackend;
use burn::train::checkpoint::{CheckpointingAction, CheckpointingStrategy};
use burn::train::metric::store::EventStoreClient;
use burn::train::metric::{LossMetric, MetricDefinition};
use burn::train::renderer::{
    EvaluationName, EvaluationProgress, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining, ProgressType, TrainingProgress,
};
use burn::train::{ExecutionStrategy, Learner, LearnerSummary, MultiDeviceOptim, SupervisedTraining};
use serde::{Deserialize, Serialize};

use super::config::{ConfigError, TrainConfig, TrainDevice};
use super::data::{self, DataError, Row};
use super::loader::{prepare_batch, CropLoader, LoaderSpec};
use super::optim::{sgd_config, GlobalClip, PolyLr};
use super::validate::{self, ValidMetrics};
use crate::model::classifier::{ClassifierConfig, DeepFakeClassifier};
use crate::weights::classifier::{load_efficientnet, resolve_arch, LoadedEfficientNet};
use crate::weights::file::{meta, write_burnpack, ModelKind};
use crate::weights::WeightsError;

/// Why a run could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{dir} already holds checkpoints of a run; pass --resume to continue it, or choose another --out / run")]
    RunExists { dir: PathBuf },
    #[error("{dir}: nothing to resume (no complete epoch checkpoint)")]
    NothingToResume { dir: PathBuf },
    #[error("{dir}: was started with a different configuration; resume needs the same one (differs in {key})")]
    ConfigChanged { dir: PathBuf, key: String },
    #[error("{count} crop(s) listed in folds.csv are missing, e.g. {first}")]
    MissingCrops { count: usize, first: PathBuf },
    #[error("epoch {epoch}: {count} crop(s) could not be loaded, e.g. {first}")]
    BadCrops { epoch: usize, count: usize, first: String },
    #[error("devices {devices:?} need a binary built with `--features cuda`")]
    NoCuda { devices: Vec<String> },
    #[error("device: {0}")]
    Device(String),
}

/// What the command line adds to a config.
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Continue from the last complete epoch of `<out>/<run>/`.
    pub resume: bool,
}

/// Progress of a run, for the binary to show.
#[derive(Debug, Clone)]
pub enum TrainEvent {
    Started {
        run_dir: PathBuf,
        first_epoch: usize,
        epochs: usize,
        train_real: usize,
        train_fake: usize,
        val_crops: usize,
    },
    EpochStarted {
        epoch: usize,
        epochs: usize,
        batches: usize,
    },
    Batch {
        epoch: usize,
        batch: usize,
        batches: usize,
        loss: f64,
        images_per_sec: f64,
        eta_secs: f64,
    },
    Validating {
        epoch: usize,
        crops: usize,
    },
    EpochFinished(EpochRecord),
    Warning(String),
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_images: usize,
    pub train_seconds: f64,
    pub images_per_sec: f64,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    pub valid: ValidMetrics,
    /// `epoch-<n>.bpk`, relative to the run folder.
    pub model: String,
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    pub run_dir: PathBuf,
    pub epochs: Vec<EpochRecord>,
}

pub type EventSink = Arc<dyn Fn(TrainEvent) + Send + Sync>;

/// Trains as `config` says, on the backend its `devices` name.
pub fn train(config: &TrainConfig, options: &TrainOptions, events: EventSink) -> Result<TrainSummary, TrainError> {
    config.validate()?;
    let devices = config.train_devices()?;
    match devices[0] {
        TrainDevice::Cpu => run_cpu(config, options, devices.len(), events),
        TrainDevice::Cuda(_) => run_cuda(config, options, &devices, events),
    }
}

#[cfg(feature = "flex")]
fn run_cpu(
    config: &TrainConfig,
    options: &TrainOptions,
    n: usize,
    events: EventSink,
) -> Result<TrainSummary, TrainError> {
    use burn::backend::{Autodiff, Flex};
    run::<Autodiff<Flex>>(config, options, vec![Default::default(); n], events)
}

#[cfg(not(feature = "flex"))]
fn run_cpu(_: &TrainConfig, _: &TrainOptions, _: usize, _: EventSink) -> Result<TrainSummary, TrainError> {
    Err(TrainError::Device("training on the CPU needs a binary built with the `flex` feature".into()))
}

#[cfg(feature = "cuda")]
fn run_cuda(
    config: &TrainConfig,
    options: &TrainOptions,
    devices: &[TrainDevice],
    events: EventSink,
) -> Result<TrainSummary, TrainError> {
    use burn::backend::cuda::CudaDevice;
    use burn::backend::{Autodiff, Cuda};
    let count = crate::device::cuda_device_count().map_err(TrainError::Device)?;
    let cuda: Vec<CudaDevice> = devices
        .iter()
        .map(|d| match d {
            TrainDevice::Cuda(i) if *i < count => Ok(CudaDevice::new(*i)),
            other => Err(TrainError::Device(format!("{other:?}: {count} GPU(s) found"))),
        })
        .collect::<Result<_, _>>()?;
    // Reduced precision trains the whole graph in that type (master weights included), on the static backend
    // types that Burn's multi-device strategy needs (burn-0.21-notes.md §4).
    match config.precision.as_str() {
        "f16" => run::<Autodiff<Cuda<burn::tensor::f16, i32>>>(config, options, cuda, events),
        "bf16" => run::<Autodiff<Cuda<burn::tensor::bf16, i32>>>(config, options, cuda, events),
        _ => run::<Autodiff<Cuda<f32, i32>>>(config, options, cuda, events),
    }
}

#[cfg(not(feature = "cuda"))]
fn run_cuda(
    config: &TrainConfig,
    _: &TrainOptions,
    _: &[TrainDevice],
    _: EventSink,
) -> Result<TrainSummary, TrainError> {
    Err(TrainError::NoCuda { devices: config.devices.clone() })
}

/// Keeps every epoch's checkpoint (each one is exported too); Burn's default keeps the last two.
#[derive(Clone, Copy)]
struct KeepAll;

impl CheckpointingStrategy for KeepAll {
    fn checkpointing(&mut self, _epoch: usize, _store: &EventStoreClient) -> Vec<CheckpointingAction> {
        vec![CheckpointingAction::Save]
    }
}

/// Turns Burn's training events into ours (loss per batch, images/s, ETA) and sums the epoch's loss.
struct Renderer {
    events: EventSink,
    epoch: usize,
    batch_size: usize,
    devices: usize,
    batches: usize,
    start: Instant,
    stats: Arc<Mutex<EpochStats>>,
}

#[derive(Debug, Default, Clone)]
struct EpochStats {
    loss_sum: f64,
    loss_count: usize,
    last_loss: f64,
    items: usize,
}

impl MetricsRendererTraining for Renderer {
    fn update_train(&mut self, state: MetricState) {
        if let MetricState::Numeric(_, value) = state {
            let mut s = self.stats.lock().expect("not poisoned");
            s.loss_sum += value.current();
            s.loss_count += 1;
            s.last_loss = value.current();
        }
    }

    fn update_valid(&mut self, _state: MetricState) {}

    fn render_train(&mut self, item: TrainingProgress, _indicators: Vec<ProgressType>) {
        let Some(iteration) = item.iteration else { return };
        let (loss, images) = {
            let mut s = self.stats.lock().expect("not poisoned");
            s.items = iteration * self.batch_size;
            (s.last_loss, s.items)
        };
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let ips = images as f64 / secs;
        let steps_done = iteration.div_ceil(self.devices.max(1));
        let remaining = self.batches.saturating_sub(steps_done) as f64 * (self.batch_size * self.devices) as f64;
        (self.events)(TrainEvent::Batch {
            epoch: self.epoch,
            batch: steps_done,
            batches: self.batches,
            loss,
            images_per_sec: ips,
            eta_secs: if ips > 0.0 { remaining / ips } else { 0.0 },
        });
    }

    fn render_valid(&mut self, _item: TrainingProgress, _indicators: Vec<ProgressType>) {}

    fn on_train_end(&mut self, _summary: Option<LearnerSummary>) -> Result<(), Box<dyn core::error::Error>> {
        Ok(())
    }
}

impl MetricsRendererEvaluation for Renderer {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}
    fn render_test(&mut self, _item: EvaluationProgress, _indicators: Vec<ProgressType>) {}
    fn on_test_end(&mut self, _summary: Option<LearnerSummary>) -> Result<(), Box<dyn core::error::Error>> {
        Ok(())
    }
}

impl MetricsRenderer for Renderer {
    fn manual_close(&mut self) {}
    fn register_metric(&mut self, _definition: MetricDefinition) {}
}

/// The classifier's architecture from the config.
pub fn classifier_config(config: &TrainConfig) -> Result<ClassifierConfig, TrainError> {
    let mut encoder = resolve_arch(&config.model.encoder)?;
    encoder.drop_path_rate = config.model.drop_path_rate;
    Ok(ClassifierConfig { encoder, input_size: config.model.input_size, dropout: config.model.dropout })
}

/// Sets the stochastic-depth rate of every block to `rate · index / blocks` (timm's schedule) and the head's
/// dropout, whatever the loaded file said.
fn with_regularisation<B: Backend>(
    mut model: DeepFakeClassifier<B>,
    cc: &ClassifierConfig,
) -> Result<DeepFakeClassifier<B>, TrainError> {
    let scaled = cc.encoder.scaled_blocks().map_err(WeightsError::from)?;
    let mut rates = scaled.iter().map(|b| b.drop_path_rate);
    for stage in model.encoder.blocks.iter_mut() {
        for block in stage.iter_mut() {
            let rate = rates.next().unwrap_or(0.0);
            match block {
                crate::model::efficientnet::blocks::Block::Ds(b) => b.drop_path_rate = rate,
                crate::model::efficientnet::blocks::Block::Ir(b) => b.drop_path_rate = rate,
            }
        }
    }
    model.dropout = burn::nn::DropoutConfig::new(cc.dropout).init();
    Ok(model)
}

/// The starting model: random, or the `pretrained` file (an ImageNet encoder fills the encoder, a classifier all).
pub fn initial_model<B: Backend>(
    config: &TrainConfig,
    cc: &ClassifierConfig,
    device: &B::Device,
) -> Result<DeepFakeClassifier<B>, TrainError> {
    let mut model = cc.init::<B>(device).map_err(WeightsError::from)?;
    if let Some(path) = &config.model.pretrained {
        match load_efficientnet::<B>(path, Some(&cc.encoder), device)? {
            LoadedEfficientNet::Classifier(c) => model = c.model,
            LoadedEfficientNet::Encoder(e) => model.encoder = e.model,
        }
    }
    assert!(!model.encoder.folded, "a loaded model is never BatchNorm-folded");
    with_regularisation(model, cc)
}

/// Writes a classifier as a `.bpk` that `infer` and `classify` load.
pub fn export_bpk<B: Backend>(
    model: &DeepFakeClassifier<B>,
    cc: &ClassifierConfig,
    path: &Path,
    source: &str,
) -> Result<(), TrainError> {
    let mut metadata = std::collections::BTreeMap::new();
    metadata.insert(meta::KIND.to_string(), ModelKind::Classifier.as_str().to_string());
    metadata.insert(meta::CONFIG.to_string(), serde_json::to_string(cc).expect("config serialises"));
    metadata.insert(meta::SOURCE.to_string(), source.to_string());
    write_burnpack(path, model.collect(None, None, true), &metadata)?;
    Ok(())
}

/// Scores the validation rows with `model` (inference mode, BatchNorm folded) and computes the epoch's metrics.
pub fn validate_model<B: Backend>(
    model: &DeepFakeClassifier<B>,
    rows: &[Row],
    spec: &LoaderSpec,
    device: &B::Device,
) -> (ValidMetrics, usize) {
    let model = model.clone().fold_batchnorm();
    let errors = Mutex::new(Vec::new());
    let bs = spec.batch_size.max(1);
    let mut crops: Vec<(&str, bool, f64)> = Vec::with_capacity(rows.len());
    for start in (0..rows.len()).step_by(bs) {
        let batch = prepare_batch(spec, rows, 0, start..(start + bs).min(rows.len()), &errors);
        if batch.labels.is_empty() {
            continue;
        }
        let n = batch.labels.len();
        let size = spec.size as usize;
        let input = Tensor::<B, 4>::from_data(TensorData::new(batch.images, [n, 3, size, size]), device);
        let probs = sigmoid(model.forward(input)).into_data().convert::<f64>().to_vec::<f64>().expect("f64");
        for (&i, p) in batch.indices.iter().zip(probs) {
            crops.push((rows[i].video.as_str(), rows[i].is_fake(), p));
        }
    }
    let failed = errors.into_inner().expect("not poisoned").len();
    let videos = validate::video_scores(crops.iter().copied());
    (validate::metrics(&videos, crops.len()), failed)
}

/// Reads `metrics.jsonl`.
pub fn read_metrics(run_dir: &Path) -> Result<Vec<EpochRecord>, TrainError> {
    let path = run_dir.join("metrics.jsonl");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(TrainError::Io { path, source }),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| TrainError::Io {
                path: path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })
        })
        .collect()
}

fn write_metrics(run_dir: &Path, records: &[EpochRecord]) -> Result<(), TrainError> {
    let path = run_dir.join("metrics.jsonl");
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r).expect("serialises"));
        text.push('\n');
    }
    crate::atomic::write_atomic(&path, text.as_bytes()).map_err(|source| TrainError::Io { path, source })
}

fn checkpoint_complete(run_dir: &Path, epoch: usize) -> bool {
    ["model", "optim", "scheduler"]
        .iter()
        .all(|n| run_dir.join("checkpoint").join(format!("{n}-{epoch}.mpk")).is_file())
}

/// The config a run was started with, and whether the new one may continue it (only `epochs`, paths and the loader
/// thread count may change).
fn check_same_config(run_dir: &Path, config: &TrainConfig) -> Result<(), TrainError> {
    let path = run_dir.join("config.toml");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(()) };
    let old: TrainConfig =
        toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.clone(), message: e.to_string() })?;
    let normalise = |c: &TrainConfig| {
        let mut c = c.clone();
        c.optimizer.epochs = 0;
        c.out = PathBuf::new();
        c.data.root = PathBuf::new();
        c.data.folds = PathBuf::new();
        c.data.loader_threads = 0;
        c.model.pretrained = None;
        c
    };
    let (a, b) = (normalise(&old), normalise(config));
    if a != b {
        let key = if a.model != b.model {
            "model"
        } else if a.optimizer != b.optimizer {
            "optimizer"
        } else if a.schedule != b.schedule {
            "schedule"
        } else if a.augment != b.augment {
            "augment"
        } else if a.data != b.data {
            "data"
        } else {
            "seed / devices / precision / run"
        };
        return Err(TrainError::ConfigChanged { dir: run_dir.into(), key: key.into() });
    }
    Ok(())
}

/// The training loop on backend `B`.
pub fn run<B: AutodiffBackend>(
    config: &TrainConfig,
    options: &TrainOptions,
    devices: Vec<B::Device>,
    events: EventSink,
) -> Result<TrainSummary, TrainError> {
    let run_dir = config.run_dir();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TrainError::Io { path, source }
    };

    // Data first: a bad folds.csv or a missing crop should fail before anything is written.
    let folds_path = config.folds_path();
    let rows = data::read_folds(&folds_path)?;
    let split = data::split(&rows, config.data.holdout_fold, config.data.val_frame_step, &folds_path)?;
    let missing: Vec<PathBuf> = rows.iter().map(|r| r.crop_path(&config.data.root)).filter(|p| !p.is_file()).collect();
    if let Some(first) = missing.first() {
        return Err(TrainError::MissingCrops { count: missing.len(), first: first.clone() });
    }

    // Where to start.
    let mut records = read_metrics(&run_dir)?;
    let done = records.iter().map(|r| r.epoch).max().unwrap_or(0);
    let first_epoch = if options.resume {
        if done == 0 || !checkpoint_complete(&run_dir, done) {
            return Err(TrainError::NothingToResume { dir: run_dir });
        }
        check_same_config(&run_dir, config)?;
        records.retain(|r| r.epoch <= done);
        done + 1
    } else {
        if run_dir.join("checkpoint").exists() || !records.is_empty() {
            return Err(TrainError::RunExists { dir: run_dir });
        }
        std::fs::create_dir_all(&run_dir).map_err(io(&run_dir))?;
        let path = run_dir.join("config.toml");
        crate::atomic::write_atomic(&path, config.to_toml().as_bytes()).map_err(io(&path))?;
        1
    };
    let epochs = config.optimizer.epochs;
    (events)(TrainEvent::Started {
        run_dir: run_dir.clone(),
        first_epoch,
        epochs,
        train_real: split.train_real.len(),
        train_fake: split.train_fake.len(),
        val_crops: split.val.len(),
    });

    let cc = classifier_config(config)?;
    let main = devices[0].clone();
    let inner_device: Device<B::InnerBackend> = main.clone();
    // Built (and loaded) on the autodiff backend itself: a parameter loaded on the inner backend and lifted with
    // `from_inner` keeps `require_grad = false` in Burn 0.21 and would get no gradient.
    // The random initialisation (of the head, or of everything) is part of the run: seeded.
    B::seed(&main, config.seed);
    let template = if first_epoch == 1 {
        initial_model::<B>(config, &cc, &main)?
    } else {
        // Every tensor is overwritten by the checkpoint; only the structure matters.
        with_regularisation(cc.init::<B>(&main).map_err(WeightsError::from)?, &cc)?
    };
    let per_step = config.optimizer.batch_size * devices.len();
    let val_spec = LoaderSpec {
        root: config.data.root.clone(),
        size: config.model.input_size as u32,
        batch_size: config.optimizer.batch_size,
        threads: config.data.loader_threads,
        seed: config.seed,
        epoch: 0,
        smoothing: 0.0,
        augment: None,
    };

    for epoch in first_epoch..=epochs {
        // Drop-path masks come from the backend's generator: seeded per epoch so a resumed epoch draws the same.
        B::seed(&main, config.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64));
        let mut rows = data::epoch_rows(&split, epoch - 1, config.seed);
        let batches = (rows.len() / per_step).min(config.optimizer.batches_per_epoch);
        if batches == 0 {
            return Err(TrainError::Data(DataError::Empty {
                path: folds_path.clone(),
                reason: format!("{} training crops per epoch are fewer than one step ({per_step})", rows.len()),
            }));
        }
        rows.truncate(batches * per_step);
        let errors = Arc::new(Mutex::new(Vec::new()));
        let spec = LoaderSpec {
            epoch,
            smoothing: config.optimizer.label_smoothing as f32,
            augment: Some(config.augment.clone()),
            ..val_spec.clone()
        };
        let train_loader = Arc::new(CropLoader::<B>::new(spec, rows, true, main.clone(), errors.clone()));
        let valid_loader = Arc::new(CropLoader::<B::InnerBackend>::new(
            val_spec.clone(),
            Vec::new(),
            false,
            inner_device.clone(),
            errors.clone(),
        ));
        (events)(TrainEvent::EpochStarted { epoch, epochs, batches });

        let stats = Arc::new(Mutex::new(EpochStats::default()));
        let started = Instant::now();
        let renderer = Renderer {
            events: events.clone(),
            epoch,
            batch_size: config.optimizer.batch_size,
            devices: devices.len(),
            batches,
            start: started,
            stats: stats.clone(),
        };
        let optim =
            GlobalClip::new(sgd_config(&config.optimizer).init(), config.optimizer.clip_grad_norm, devices.len());
        let scheduler = PolyLr::from_config(&config.optimizer, &config.schedule);
        let mut training = SupervisedTraining::new(&run_dir, train_loader, valid_loader)
            .metric_train_numeric(LossMetric::new())
            .with_file_checkpointer(NamedMpkFileRecorder::<FullPrecisionSettings>::new())
            .with_checkpointing_strategy(KeepAll)
            .with_application_logger(None)
            .renderer(renderer)
            .num_epochs(epoch);
        if epoch > 1 {
            training = training.checkpoint(epoch - 1);
        }
        if devices.len() > 1 {
            training = training.with_training_strategy(
                ExecutionStrategy::multi(devices.clone(), MultiDeviceOptim::OptimMainDevice).into(),
            );
        }
        let learner = Learner::new(template.clone(), optim, scheduler.clone());
        let result = training.launch(learner);
        let train_seconds = started.elapsed().as_secs_f64();

        let failed = std::mem::take(&mut *errors.lock().expect("not poisoned"));
        if !failed.is_empty() {
            return Err(TrainError::BadCrops { epoch, count: failed.len(), first: failed[0].clone() });
        }
        let stats = stats.lock().expect("not poisoned").clone();
        let trained = result.model;

        (events)(TrainEvent::Validating { epoch, crops: split.val.len() });
        let (valid, val_failed) = validate_model(&trained, &split.val, &val_spec, &inner_device);
        if val_failed > 0 {
            (events)(TrainEvent::Warning(format!(
                "epoch {epoch}: {val_failed} validation crop(s) could not be loaded"
            )));
        }
        let model_name = format!("epoch-{epoch}.bpk");
        export_bpk(&trained, &cc, &run_dir.join(&model_name), &format!("deepfake train {} epoch {epoch}", config.run))?;
        let images = batches * per_step;
        let record = EpochRecord {
            epoch,
            train_loss: if stats.loss_count > 0 { stats.loss_sum / stats.loss_count as f64 } else { f64::NAN },
            train_images: images,
            train_seconds,
            images_per_sec: images as f64 / train_seconds.max(1e-9),
            lr: scheduler.lr_at((epoch * batches) as u64 - 1),
            valid,
            model: model_name,
        };
        records.retain(|r| r.epoch < epoch);
        records.push(record.clone());
        write_metrics(&run_dir, &records)?;
        (events)(TrainEvent::EpochFinished(record));
    }
    Ok(TrainSummary { run_dir, epochs: records })
}
