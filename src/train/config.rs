//! The training configuration: one TOML file per experiment (`configs/b7.toml`, `b5.toml`, `tiny.toml`).
//!
//! Defaults live in one place (the `Default` impls below, which are the DFDC B7 recipe of dfdc-solution.md §3.1
//! and §3.3); unknown keys are refused by serde, and [`TrainConfig::validate`] names the key of a bad value.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config key `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// Everything a training run needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Name of the run: checkpoints, metrics and exported models go to `<out>/<run>/`.
    pub run: String,
    /// Folder that receives the run folder.
    pub out: PathBuf,
    pub seed: u64,
    /// `cpu`, or `cuda:N` entries; several entries train data-parallel (Burn's multi-device strategy).
    pub devices: Vec<String>,
    /// `f32`, or `f16` / `bf16` on CUDA.
    pub precision: String,
    pub data: DataConfig,
    pub model: ModelConfig,
    pub optimizer: OptimizerConfig,
    pub schedule: ScheduleConfig,
    pub augment: AugmentConfig,
}

/// The preprocessed dataset (the layout `deepfake preprocess` writes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Folder holding `crops/`, `landmarks/`, `diffs/` and (by default) `folds.csv`.
    pub root: PathBuf,
    /// `folds.csv`; a relative path is taken from `root`.
    pub folds: PathBuf,
    /// Rows of this fold are the validation set; all others train (the solution: fold 0).
    pub holdout_fold: i64,
    /// Validation keeps the frames with `frame % val_frame_step == 0` (the solution: 20).
    pub val_frame_step: u64,
    /// Threads that load and augment training crops.
    pub loader_threads: usize,
}

/// The network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// A named encoder (`tf_efficientnet_b7_ns`, …) or a `.toml`/`.json` architecture file.
    pub encoder: String,
    /// Side of the square training input.
    pub input_size: usize,
    /// Weights to start from: any file `deepfake import` reads. An ImageNet encoder fills the encoder (the head
    /// starts fresh); a classifier fills everything. Empty: random initialisation.
    pub pretrained: Option<PathBuf>,
    /// Stochastic depth of the last block (timm `drop_path_rate`; B7 0.2).
    pub drop_path_rate: f64,
    /// Dropout before the linear head (the released DFDC models: 0).
    pub dropout: f64,
}

/// SGD as the solution configured it (PyTorch semantics; see training-recipes.md §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    /// Crops per device and step (the solution: 12 per GPU).
    pub batch_size: usize,
    /// At most this many steps per epoch (the solution: 2500).
    pub batches_per_epoch: usize,
    pub epochs: usize,
    pub learning_rate: f64,
    pub momentum: f64,
    /// PyTorch's default, 0; Burn's `MomentumConfig` defaults to 0.1, so it is set explicitly.
    pub dampening: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    /// Global L2 norm of all gradients is clipped to this (PyTorch `clip_grad_norm_`); 0 disables.
    pub clip_grad_norm: f64,
    /// Labels are clipped to `[s, 1 − s]` for training (the solution: `--label-smoothing 0.01`).
    pub label_smoothing: f64,
}

/// The learning-rate schedule (only the solution's `poly` with `mode: step`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// `poly` (PolyLR of the solution) or `constant`.
    #[serde(rename = "type")]
    pub kind: String,
    /// PolyLR `max_iter` (B7: 100500).
    pub max_iter: u64,
    pub power: f64,
}

/// Training augmentations (dfdc-solution.md §3.5–3.6). Probabilities are the solution's unless changed here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    /// All augmentations on/off (off: only resize + pad, as in validation).
    pub enabled: bool,
    /// The face-part dropouts ("hardcore" in the solution).
    pub dropouts: bool,
    /// Keep the solution's bit-mask bug (`mid_h = w // 2`); the shipped crops are square, where it is harmless.
    pub bitmask_w_quirk: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            run: "b7".into(),
            out: "artifacts".into(),
            seed: 111,
            devices: vec!["cpu".into()],
            precision: "f32".into(),
            data: DataConfig::default(),
            model: ModelConfig::default(),
            optimizer: OptimizerConfig::default(),
            schedule: ScheduleConfig::default(),
            augment: AugmentConfig::default(),
        }
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        Self { root: "data".into(), folds: "folds.csv".into(), holdout_fold: 0, val_frame_step: 20, loader_threads: 6 }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            encoder: "tf_efficientnet_b7_ns".into(),
            input_size: 380,
            pretrained: None,
            drop_path_rate: 0.2,
            dropout: 0.0,
        }
    }
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            batch_size: 12,
            batches_per_epoch: 2500,
            epochs: 40,
            learning_rate: 0.01,
            momentum: 0.9,
            dampening: 0.0,
            nesterov: true,
            weight_decay: 1e-4,
            clip_grad_norm: 1.0,
            label_smoothing: 0.01,
        }
    }
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self { kind: "poly".into(), max_iter: 100_500, power: 0.9 }
    }
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self { enabled: true, dropouts: true, bitmask_w_quirk: true }
    }
}

/// A device of the `devices` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainDevice {
    Cpu,
    Cuda(usize),
}

impl TrainConfig {
    /// Reads and validates a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.into(), source })?;
        let config: Self =
            toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })?;
        config.validate()?;
        Ok(config)
    }

    /// The resolved configuration as TOML (what `--print-config` shows).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a config always serialises")
    }

    /// The folder of this run's checkpoints, metrics and exported models.
    pub fn run_dir(&self) -> PathBuf {
        self.out.join(&self.run)
    }

    /// `folds.csv`, with a relative path taken from the data root.
    pub fn folds_path(&self) -> PathBuf {
        if self.data.folds.is_absolute() {
            self.data.folds.clone()
        } else {
            self.data.root.join(&self.data.folds)
        }
    }

    /// The parsed `devices` list.
    pub fn train_devices(&self) -> Result<Vec<TrainDevice>, ConfigError> {
        let bad = |reason: String| ConfigError::Invalid { key: "devices", reason };
        if self.devices.is_empty() {
            return Err(bad("at least one device is needed".into()));
        }
        let parsed = self
            .devices
            .iter()
            .map(|d| match d.as_str() {
                "cpu" => Ok(TrainDevice::Cpu),
                "cuda" => Ok(TrainDevice::Cuda(0)),
                other => other
                    .strip_prefix("cuda:")
                    .and_then(|i| i.parse().ok())
                    .map(TrainDevice::Cuda)
                    .ok_or_else(|| bad(format!("unknown device `{other}`; use cpu, cuda or cuda:N"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let cpu = parsed.iter().filter(|d| **d == TrainDevice::Cpu).count();
        if cpu != 0 && cpu != parsed.len() {
            return Err(bad("cannot mix cpu and cuda devices".into()));
        }
        Ok(parsed)
    }

    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn check(ok: bool, key: &'static str, reason: &str) -> Result<(), ConfigError> {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::Invalid { key, reason: reason.into() })
            }
        }
        let unit = |v: f64| (0.0..1.0).contains(&v);
        check(
            !self.run.is_empty() && !self.run.contains(['/', '\\']) && self.run != "." && self.run != "..",
            "run",
            "must be a plain folder name",
        )?;
        let devices = self.train_devices()?;
        check(matches!(self.precision.as_str(), "f32" | "f16" | "bf16"), "precision", "must be f32, f16 or bf16")?;
        check(
            self.precision == "f32" || devices.iter().all(|d| matches!(d, TrainDevice::Cuda(_))),
            "precision",
            "f16 and bf16 need CUDA devices",
        )?;
        check(self.data.val_frame_step >= 1, "data.val_frame_step", "must be at least 1")?;
        check((1..=256).contains(&self.data.loader_threads), "data.loader_threads", "must be 1..=256")?;
        check((16..=2048).contains(&self.model.input_size), "model.input_size", "must be 16..=2048")?;
        check(unit(self.model.drop_path_rate), "model.drop_path_rate", "must be in [0, 1)")?;
        check(unit(self.model.dropout), "model.dropout", "must be in [0, 1)")?;
        let o = &self.optimizer;
        check((1..=4096).contains(&o.batch_size), "optimizer.batch_size", "must be 1..=4096")?;
        check(o.batches_per_epoch >= 1, "optimizer.batches_per_epoch", "must be at least 1")?;
        check((1..=100_000).contains(&o.epochs), "optimizer.epochs", "must be 1..=100000")?;
        check(o.learning_rate.is_finite() && o.learning_rate > 0.0, "optimizer.learning_rate", "must be > 0")?;
        check(unit(o.momentum), "optimizer.momentum", "must be in [0, 1)")?;
        check(unit(o.dampening), "optimizer.dampening", "must be in [0, 1)")?;
        check(
            !o.nesterov || (o.momentum > 0.0 && o.dampening == 0.0),
            "optimizer.nesterov",
            "Nesterov momentum needs momentum > 0 and dampening 0 (as PyTorch requires)",
        )?;
        check(o.weight_decay.is_finite() && o.weight_decay >= 0.0, "optimizer.weight_decay", "must be >= 0")?;
        check(o.clip_grad_norm.is_finite() && o.clip_grad_norm >= 0.0, "optimizer.clip_grad_norm", "must be >= 0")?;
        check((0.0..0.5).contains(&o.label_smoothing), "optimizer.label_smoothing", "must be in [0, 0.5)")?;
        check(matches!(self.schedule.kind.as_str(), "poly" | "constant"), "schedule.type", "must be poly or constant")?;
        check(self.schedule.max_iter >= 1, "schedule.max_iter", "must be at least 1")?;
        check(self.schedule.power.is_finite() && self.schedule.power > 0.0, "schedule.power", "must be > 0")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_b7_recipe_and_valid() {
        let c = TrainConfig::default();
        c.validate().unwrap();
        assert_eq!((c.optimizer.batch_size, c.optimizer.batches_per_epoch, c.schedule.max_iter), (12, 2500, 100_500));
        assert_eq!((c.optimizer.momentum, c.optimizer.dampening, c.optimizer.nesterov), (0.9, 0.0, true));
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let err = toml::from_str::<TrainConfig>("[optimizer]\nlearning_rat = 0.1\n").unwrap_err().to_string();
        assert!(err.contains("learning_rat"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut c = TrainConfig::default();
        c.optimizer.momentum = 1.5;
        assert!(c.validate().unwrap_err().to_string().contains("optimizer.momentum"));
        let c = TrainConfig { precision: "f16".into(), ..Default::default() };
        assert!(c.validate().unwrap_err().to_string().contains("precision"));
        let c = TrainConfig { devices: vec!["cpu".into(), "cuda:0".into()], ..Default::default() };
        assert!(c.validate().unwrap_err().to_string().contains("devices"));
        let mut c = TrainConfig::default();
        c.optimizer.dampening = 0.1;
        assert!(c.validate().unwrap_err().to_string().contains("optimizer.nesterov"));
    }
}
