//! Training a deepfake classifier with the DFDC winner's recipe (dfdc-solution.md §3), on Burn's learner.
//!
//! `config` is the experiment (TOML), `data` the rows of `folds.csv` and the per-epoch balanced sample,
//! `augment` the dropouts and albumentations list, `loader` the worker threads that feed the device, `step` the
//! split-loss step, `optim` the PolyLR schedule and the PyTorch-style SGD + global clipping, `validate` the
//! per-video holdout metrics, `run` the wiring of Burn's `SupervisedTraining`/`Learner` with a checkpoint, a
//! metrics line and an exported `.bpk` per epoch.

pub mod augment;
pub mod config;
pub mod data;
pub mod loader;
pub mod optim;
pub mod run;
pub mod step;
pub mod validate;

pub use config::{ConfigError, TrainConfig};
pub use run::{train, EpochRecord, TrainError, TrainEvent, TrainOptions, TrainSummary};
