//! The DFDC classifier: EfficientNet encoder → global average pool → dropout → Linear(features, 1) → one logit.
//!
//! This is `DeepFakeClassifier` of the winning solution (dfdc-solution.md §2.1); sigmoid is applied outside.
//! [`Scorer`] is the classifier stage of the pipeline: prepared crops in, logits or fake probabilities out.

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::efficientnet::{ArchError, EfficientNet, EfficientNetConfig};
use super::fused::FusedOps;
use crate::cancel::Cancel;
use crate::imaging::normalize::{to_nchw, IMAGENET_MEAN, IMAGENET_STD};
use crate::imaging::{ImagingError, RgbImage};

/// Everything needed to rebuild a classifier; stored inside converted model files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    pub encoder: EfficientNetConfig,
    /// Side of the square input the model was trained at (380 for the DFDC B7 models).
    pub input_size: usize,
    /// Dropout before the final linear layer (0 in the released DFDC models). Training only.
    pub dropout: f64,
}

impl ClassifierConfig {
    /// The DFDC setting for a named encoder: input 380, no dropout.
    pub fn dfdc(encoder: EfficientNetConfig) -> Self {
        Self { encoder, input_size: 380, dropout: 0.0 }
    }

    /// The input side within [`crate::config::MIN_INPUT_SIZE`]..=[`crate::config::MAX_INPUT_SIZE`] and dropout
    /// in [0, 1) (a `.bpk` records both; a damaged or hand-edited one must not start a 10⁶-pixel forward pass).
    pub fn validate(&self) -> Result<(), crate::config::ConfigError> {
        crate::config::input_size("input_size", u32::try_from(self.input_size).unwrap_or(u32::MAX))?;
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(crate::config::ConfigError::new("dropout", format!("{} is not in [0, 1)", self.dropout)));
        }
        Ok(())
    }

    /// A classifier on any encoder (B0…B7, Lite, custom) at the encoder's native input size (380 where it has
    /// none), e.g. to train from ImageNet weights.
    pub fn for_encoder(encoder: EfficientNetConfig, dropout: f64) -> Self {
        let input_size = encoder.native_input_size().unwrap_or(380);
        Self { encoder, input_size, dropout }
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<DeepFakeClassifier<B>, ArchError> {
        self.init_with_encoder(self.encoder.init(device)?, device)
    }

    /// Puts a new one-logit head (PyTorch's default `Linear` initialisation) on an existing, e.g. ImageNet-trained,
    /// encoder built from `self.encoder`.
    pub fn init_with_encoder<B: Backend>(
        &self,
        encoder: EfficientNet<B>,
        device: &B::Device,
    ) -> Result<DeepFakeClassifier<B>, ArchError> {
        let expected = self.encoder.head_channels();
        if encoder.num_features() != expected {
            return Err(ArchError::Invalid {
                name: self.encoder.name.clone(),
                reason: format!("the encoder gives {} features, the config {expected}", encoder.num_features()),
            });
        }
        let fc = LinearConfig::new(expected, 1).init(device);
        Ok(DeepFakeClassifier { encoder, dropout: DropoutConfig::new(self.dropout).init(), fc })
    }
}

#[derive(Module, Debug)]
pub struct DeepFakeClassifier<B: Backend> {
    pub encoder: EfficientNet<B>,
    pub dropout: Dropout,
    pub fc: Linear<B>,
}

impl<B: Backend> DeepFakeClassifier<B> {
    /// `[n, 3, h, w]` normalised RGB -> `[n]` logits (positive = fake).
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 1> {
        let pooled = self.encoder.forward_pooled(x);
        let n = pooled.dims()[0];
        self.fc.forward(self.dropout.forward(pooled)).reshape([n])
    }

    /// Folds BatchNorm into the convolutions for faster inference (see `blocks::conv_bn`).
    pub fn fold_batchnorm(self) -> Self {
        Self { encoder: self.encoder.fold_batchnorm(), ..self }
    }
}

impl<B: FusedOps> DeepFakeClassifier<B> {
    /// [`forward`](DeepFakeClassifier::forward) through the fused operations once folded (inference only).
    pub fn forward_fused(&self, x: Tensor<B, 4>) -> Tensor<B, 1> {
        let n = x.dims()[0];
        if let Some(limit) = B::fused_batch_limit().filter(|&l| l > 0 && l < n) {
            let parts: Vec<Tensor<B, 1>> = x.split(limit, 0).into_iter().map(|part| self.forward_fused(part)).collect();
            return Tensor::cat(parts, 0);
        }
        let pooled = self.encoder.forward_pooled_fused(x);
        self.fc.forward(self.dropout.forward(pooled)).reshape([n])
    }

    /// Logits of `n` preprocessed square crops given as one NCHW buffer (see `imaging::normalize::to_nchw`).
    pub fn logits(&self, nchw: Vec<f32>, n: usize, size: usize, device: &B::Device) -> Vec<f32> {
        if n == 0 {
            return Vec::new();
        }
        let input = Tensor::<B, 4>::from_data(TensorData::new(nchw, [n, 3, size, size]), device);
        self.forward_fused(input).into_data().convert::<f32>().to_vec::<f32>().expect("f32 logits")
    }
}

/// The logistic function the original applies to every logit (`torch.sigmoid`), in f32.
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// A classifier ready to score crops: BatchNorm folded, its input side, crops per forward pass.
pub struct Scorer<B: Backend> {
    /// How reports name the model (usually its file).
    pub name: String,
    pub model: DeepFakeClassifier<B>,
    /// Side of the square crops it takes.
    pub input_size: u32,
    /// Crops per forward pass (at least 1).
    pub batch_size: usize,
    pub device: B::Device,
}

impl<B: Backend> Scorer<B> {
    /// Folds the model's BatchNorm; one crop per forward pass until [`Scorer::with_batch_size`].
    pub fn new(name: impl Into<String>, model: DeepFakeClassifier<B>, input_size: u32, device: B::Device) -> Self {
        Self { name: name.into(), model: model.fold_batchnorm(), input_size, batch_size: 1, device }
    }

    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }
}

impl<B: FusedOps> Scorer<B> {
    /// Logits of prepared crops (each `input_size`² RGB, from [`crate::imaging::crop::prepare_crop`]), in order.
    ///
    /// The crops are normalised on the host, batch by batch, in f32 exactly as torch does on the CPU (the parity
    /// fixtures depend on it); the batches' logits stay on the device and come back in one read.
    pub fn logits(&self, crops: &[RgbImage]) -> Result<Vec<f32>, ImagingError> {
        Ok(self.logits_until(crops, &Cancel::new())?.expect("a fresh Cancel is never set"))
    }

    /// [`Scorer::logits`], looking at `cancel` before each batch: `Ok(None)` when it was set.
    pub fn logits_until(&self, crops: &[RgbImage], cancel: &Cancel) -> Result<Option<Vec<f32>>, ImagingError> {
        let size = self.input_size as usize;
        let expected = (self.input_size, self.input_size);
        if let Some((index, c)) = crops.iter().enumerate().find(|(_, c)| c.dimensions() != expected) {
            return Err(ImagingError::SizeMismatch { index, expected, found: c.dimensions() });
        }
        if crops.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let mut outputs = Vec::with_capacity(crops.len().div_ceil(self.batch_size));
        for batch in crops.chunks(self.batch_size) {
            if cancel.is_cancelled() {
                return Ok(None);
            }
            let nchw = to_nchw(batch, IMAGENET_MEAN, IMAGENET_STD)?;
            let input = Tensor::<B, 4>::from_data(TensorData::new(nchw, [batch.len(), 3, size, size]), &self.device);
            outputs.push(self.model.forward_fused(input));
        }
        let logits = Tensor::cat(outputs, 0);
        Ok(Some(logits.into_data().convert::<f32>().to_vec::<f32>().expect("f32 logits")))
    }

    /// Fake probabilities (`sigmoid` of [`Scorer::logits`]).
    pub fn probabilities(&self, crops: &[RgbImage]) -> Result<Vec<f32>, ImagingError> {
        Ok(self.logits(crops)?.into_iter().map(sigmoid).collect())
    }

    /// [`Scorer::probabilities`], looking at `cancel` before each batch: `Ok(None)` when it was set.
    pub fn probabilities_until(&self, crops: &[RgbImage], cancel: &Cancel) -> Result<Option<Vec<f32>>, ImagingError> {
        Ok(self.logits_until(crops, cancel)?.map(|l| l.into_iter().map(sigmoid).collect()))
    }
}
