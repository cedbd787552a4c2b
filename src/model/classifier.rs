//! The DFDC classifier: EfficientNet encoder → global average pool → dropout → Linear(features, 1) → one logit.
//!
//! This is `DeepFakeClassifier` of the winning solution (dfdc-solution.md §2.1); sigmoid is applied outside.

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::efficientnet::{ArchError, EfficientNet, EfficientNetConfig};
use super::fused::FusedOps;

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
        let pooled = self.encoder.forward_pooled_fused(x);
        let n = pooled.dims()[0];
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
