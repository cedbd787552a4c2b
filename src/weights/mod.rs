//! Reading weight files (PyTorch `.pth` zip and legacy pickles, safetensors, Burn's `.bpk`) and loading them into
//! modules strictly: a missing tensor, an unexpected one, or a wrong shape is an error that names the keys.
//!
//! Strictness is the point. In the original project a silent non-strict load made every prediction ≈ 0.4
//! (dfdc-solution.md §8, upstream issue #25).

pub mod classifier;
pub mod demo;
pub mod efficientnet_pytorch;
pub mod file;
pub mod mtcnn;
pub mod pickle;
pub mod strict;

use std::path::PathBuf;

pub use file::{ModelFile, ModelKind, TensorFile, WeightFormat};

/// Why weights could not be read, converted or loaded.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "{path}: not a weight file this tool can read (expected a PyTorch .pth/.pt, a .safetensors or a .bpk file)"
    )]
    UnknownFormat { path: PathBuf },
    #[error("{path}: cannot read {format} file: {reason}")]
    Read { path: PathBuf, format: WeightFormat, reason: String },
    #[error("{path}: holds no tensors")]
    NoTensors { path: PathBuf },
    #[error("{path}: {count} tensor(s) the model needs are missing: {}", list(keys))]
    MissingKeys { path: PathBuf, count: usize, keys: Vec<String> },
    #[error("{path}: {count} tensor(s) in the file are not used by the model: {}", list(keys))]
    UnusedKeys { path: PathBuf, count: usize, keys: Vec<String> },
    #[error("{path}: tensor `{key}` has shape {found:?}, the model expects {expected:?}")]
    ShapeMismatch { path: PathBuf, key: String, expected: Vec<usize>, found: Vec<usize> },
    #[error("{path}: cannot load tensor `{key}`: {reason}")]
    Load { path: PathBuf, key: String, reason: String },
    #[error("{path}: cannot tell which architecture these weights are for ({reason}); pass --arch")]
    UnknownArch { path: PathBuf, reason: String },
    #[error("{path}: holds {found}, but {expected} is needed here")]
    WrongKind { path: PathBuf, expected: String, found: String },
    #[error("{path}: bad model metadata: {reason}")]
    BadMetadata { path: PathBuf, reason: String },
    #[error(transparent)]
    Arch(#[from] crate::model::efficientnet::ArchError),
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

/// At most 20 keys in a message, then a count of the rest.
fn list(keys: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut s = keys.iter().take(SHOWN).map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
    if keys.len() > SHOWN {
        s.push_str(&format!(" … and {} more", keys.len() - SHOWN));
    }
    s
}
