//! Strict loading of named tensors into a Burn module.
//!
//! Burn's applier reports missing tensors, but in 0.21 its `unused` list also names BatchNorm weights that *were*
//! applied (as gamma/beta; burn-0.21-notes.md §2), so the key sets are compared here, in PyTorch naming, before
//! anything is applied.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use burn::module::ParamId;
use burn::prelude::*;
use burn::store::{ApplyError, ModuleSnapshot, PyTorchToBurnAdapter, TensorSnapshot};
use burn::tensor::DType;

use super::WeightsError;

/// How the incoming tensor names are spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// PyTorch: BatchNorm `weight`/`bias`, PReLU `weight`, Linear weights `[out, in]`.
    Torch,
    /// Burn: BatchNorm `gamma`/`beta`, PReLU `alpha`, Linear weights `[in, out]`.
    Burn,
}

/// One parameter or buffer the module expects.
#[derive(Debug, Clone)]
pub struct Expected {
    /// The module's own path, e.g. `encoder.bn1.gamma`.
    pub burn_path: String,
    /// The same tensor's PyTorch name, e.g. `encoder.bn1.weight`.
    pub torch_path: String,
    /// Shape in PyTorch layout.
    pub torch_shape: Vec<usize>,
    /// Shape in Burn layout.
    pub burn_shape: Vec<usize>,
}

/// The tensors a module expects, with their PyTorch names and shapes.
pub fn expected_tensors<B: Backend, M: ModuleSnapshot<B>>(module: &M) -> Vec<Expected> {
    module
        .collect(None, None, true)
        .into_iter()
        .map(|s| {
            let burn_path = s.full_path();
            let is_linear = s.module_type().is_some_and(|t| t.ends_with("Linear"));
            let burn_shape = s.shape.to_vec();
            let mut torch_shape = burn_shape.clone();
            if is_linear && torch_shape.len() == 2 {
                torch_shape.reverse();
            }
            Expected { torch_path: torch_name(&burn_path), burn_path, torch_shape, burn_shape }
        })
        .collect()
}

/// Burn → PyTorch parameter names: BatchNorm gamma/beta are weight/bias, PReLU alpha is weight.
fn torch_name(burn_path: &str) -> String {
    match burn_path.rsplit_once('.') {
        Some((prefix, "gamma")) | Some((prefix, "alpha")) => format!("{prefix}.weight"),
        Some((prefix, "beta")) => format!("{prefix}.bias"),
        _ => burn_path.to_string(),
    }
}

/// Loads `tensors` into `module`. Every expected tensor must be present with its shape, and every tensor present
/// must be used, except those `ignorable` accepts (e.g. `num_batches_tracked`).
pub fn load_strict<B: Backend, M: ModuleSnapshot<B>>(
    mut module: M,
    path: &Path,
    tensors: BTreeMap<String, TensorSnapshot>,
    naming: Naming,
    ignorable: impl Fn(&str) -> bool,
) -> Result<M, WeightsError> {
    let expected = expected_tensors(&module);
    let key = |e: &Expected| match naming {
        Naming::Torch => e.torch_path.clone(),
        Naming::Burn => e.burn_path.clone(),
    };
    let wanted: BTreeSet<String> = expected.iter().map(key).collect();
    let missing: Vec<String> = wanted.iter().filter(|k| !tensors.contains_key(*k)).cloned().collect();
    if !missing.is_empty() {
        return Err(WeightsError::MissingKeys { path: path.into(), count: missing.len(), keys: missing });
    }
    let unused: Vec<String> = tensors.keys().filter(|k| !wanted.contains(*k) && !ignorable(k)).cloned().collect();
    if !unused.is_empty() {
        return Err(WeightsError::UnusedKeys { path: path.into(), count: unused.len(), keys: unused });
    }

    let mut snapshots = Vec::with_capacity(expected.len());
    for e in &expected {
        let name = key(e);
        let s = &tensors[&name];
        let found = s.shape.to_vec();
        let want = match naming {
            Naming::Torch => e.torch_shape.clone(),
            Naming::Burn => e.burn_shape.clone(),
        };
        if found != want {
            return Err(WeightsError::ShapeMismatch { path: path.into(), key: name, expected: want, found });
        }
        snapshots.push(renamed_f32(s, &e.burn_path));
    }

    let adapter: Option<Box<dyn burn::store::ModuleAdapter>> = match naming {
        Naming::Torch => Some(Box::new(PyTorchToBurnAdapter)),
        Naming::Burn => None,
    };
    let result = module.apply(snapshots, None, adapter, true);
    if let Some(err) = result.errors.first() {
        return Err(match err {
            ApplyError::ShapeMismatch { path: key, expected, found } => WeightsError::ShapeMismatch {
                path: path.into(),
                key: key.clone(),
                expected: expected.to_vec(),
                found: found.to_vec(),
            },
            ApplyError::DTypeMismatch { path: key, .. }
            | ApplyError::AdapterError { path: key, .. }
            | ApplyError::LoadError { path: key, .. } => {
                WeightsError::Load { path: path.into(), key: key.clone(), reason: err.to_string() }
            }
        });
    }
    if !result.missing.is_empty() {
        let keys: Vec<String> = result.missing.iter().map(|(k, _)| k.clone()).collect();
        return Err(WeightsError::MissingKeys { path: path.into(), count: keys.len(), keys });
    }
    Ok(module)
}

/// A snapshot under a new name, converted to f32 when stored as f16/bf16/f64 (the modules compute in f32).
fn renamed_f32(s: &TensorSnapshot, burn_path: &str) -> TensorSnapshot {
    let data_fn = s.clone_data_fn();
    let convert = matches!(s.dtype, DType::F16 | DType::BF16 | DType::F64);
    let data_fn: std::rc::Rc<dyn Fn() -> Result<TensorData, burn::store::TensorSnapshotError>> =
        if convert { std::rc::Rc::new(move || data_fn().map(|d| d.convert::<f32>())) } else { data_fn };
    let dtype = if convert { DType::F32 } else { s.dtype };
    TensorSnapshot::from_closure(
        data_fn,
        dtype,
        s.shape.clone(),
        burn_path.split('.').map(str::to_string).collect(),
        s.container_stack.clone().unwrap_or_default(),
        ParamId::new(),
    )
}
