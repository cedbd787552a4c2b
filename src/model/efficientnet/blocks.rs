//! The layers of a timm EfficientNet: conv+BN pairs, squeeze-excitation, and the two block families.
//!
//! Field names are timm's state-dict key segments (`conv_dw`, `bn1`, `se.conv_reduce`, …) so that a checkpoint
//! maps onto these modules with no renaming (reference: dfdc-solution.md §2.2, §9 item 10).

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use burn::tensor::Distribution;
use serde::{Deserialize, Serialize};

/// How a model's convolutions pad: the one thing, besides BatchNorm's epsilon, that tells timm's `tf_` models
/// (ported from TensorFlow) from its PyTorch-native ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// TensorFlow's SAME, as timm's `Conv2dSame` (`padding='same'`, the `tf_efficientnet_*` models).
    ///
    /// Burn's `PaddingConfig2d::Same` is TensorFlow's SAME: for stride 1 and odd kernels it is the static
    /// symmetric `k // 2`, and for stride 2 it is computed from the input size at run time with the extra pixel at
    /// the bottom/right, exactly like timm's `Conv2dSame`.
    #[default]
    Same,
    /// PyTorch's static `k // 2` on every side, whatever the stride (timm's `padding=''`: `efficientnet_b0`,
    /// `efficientnet_lite0`).
    Symmetric,
}

impl Padding {
    fn config(self, kernel: usize) -> PaddingConfig2d {
        match self {
            Padding::Same => PaddingConfig2d::Same,
            // timm `get_padding(k, s) = ((s - 1) + (k - 1)) // 2`, which is k // 2 for the odd kernels and the
            // strides 1 and 2 that block strings allow.
            Padding::Symmetric => PaddingConfig2d::Explicit(kernel / 2, kernel / 2, kernel / 2, kernel / 2),
        }
    }
}

/// The non-linearity after every BatchNorm but a block's last (and inside squeeze-excitation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// SiLU (swish): EfficientNet-B0…B7.
    #[default]
    Silu,
    /// `min(max(x, 0), 6)`: EfficientNet-Lite, chosen by its authors for easy quantisation.
    Relu6,
}

impl Activation {
    pub fn apply<B: Backend, const D: usize>(self, x: Tensor<B, D>) -> Tensor<B, D> {
        match self {
            Activation::Silu => silu(x),
            Activation::Relu6 => x.clamp(0.0, 6.0),
        }
    }
}

impl From<Activation> for crate::model::fused::Activation {
    fn from(act: Activation) -> Self {
        match act {
            Activation::Silu => Self::Silu,
            Activation::Relu6 => Self::Relu6,
        }
    }
}

/// A convolution as timm's `create_conv2d(..., padding)` builds it.
pub fn conv2d<B: Backend>(
    channels: [usize; 2],
    kernel: usize,
    stride: usize,
    groups: usize,
    bias: bool,
    padding: Padding,
    device: &B::Device,
) -> Conv2d<B> {
    Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_groups(groups)
        .with_bias(bias)
        .with_padding(padding.config(kernel))
        .init(device)
}

/// BatchNorm with the model's epsilon (timm's `BN_EPS_TF_DEFAULT` = 1e-3 for the `tf_` models, PyTorch's 1e-5
/// otherwise).
pub fn batch_norm<B: Backend>(channels: usize, eps: f64, device: &B::Device) -> BatchNorm<B> {
    BatchNormConfig::new(channels).with_epsilon(eps).init(device)
}

/// SiLU as PyTorch's CPU kernel computes it, `x / (1 + exp(−x))`. On flex (Burn 0.21) element-wise maths is
/// scalar and single-threaded, and its own `silu` (`x · sigmoid(x)`, with a branch per element) is half of B7's
/// time; this form of three plain ops is 1.5× faster (49 → 32 ms on a 192×190×190 map).
///
/// Its gradient is NaN where `exp(−x)` overflows (x < −88 in f32, x < −11 in f16: `0 · ∞`), so under autodiff
/// (training, Grad-CAM) the form `x · sigmoid(x)` is used, whose gradient is finite everywhere (Burn computes
/// sigmoid in f32 and its backward from the output).
pub fn silu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    if B::ad_enabled(&x.device()) {
        return silu_train(x);
    }
    x.clone() / (x.neg().exp() + 1.0)
}

/// SiLU for training: `x · sigmoid(x)`, finite gradient for every finite input.
pub fn silu_train<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    x.clone() * sigmoid(x)
}

/// Convolution followed by BatchNorm; once `folded`, the BatchNorm lives inside the conv's weight and bias.
///
/// Folding matters for speed: Burn 0.21's flex backend broadcasts `[N,C,H,W] op [1,C,1,1]` on a slow path,
/// which makes eval-mode BatchNorm 13× slower at batch > 1 (burn-0.21-notes.md §3).
pub fn conv_bn<B: Backend>(conv: &Conv2d<B>, bn: &BatchNorm<B>, folded: bool, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let y = conv.forward(x);
    if folded {
        y
    } else if B::ad_enabled(&y.device()) {
        batch_norm_train(bn, y)
    } else {
        bn.forward(y)
    }
}

/// BatchNorm in training mode as PyTorch computes it: normalise with the batch mean and *biased* variance, and
/// move the running statistics towards the batch mean and the *unbiased* variance (`n/(n−1)`; Burn's own
/// `BatchNorm` uses the biased one there, which would drift from a PyTorch-trained model's statistics).
/// The per-channel vectors are repeated over the batch before broadcasting: flex 0.21 broadcasts a batch
/// dimension of 1 on a slow path (burn-0.21-notes.md §3).
pub fn batch_norm_train<B: Backend>(bn: &BatchNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    let count = n * h * w;
    let per_channel = |t: Tensor<B, 4>| t.mean_dim(0).mean_dim(2).mean_dim(3); // [1, c, 1, 1]
    let mean = per_channel(x.clone());
    let centred = x - mean.clone().repeat_dim(0, n);
    let var = per_channel(centred.clone().powi_scalar(2));
    let inv_std = (var.clone() + bn.epsilon).sqrt().recip();
    let scale = inv_std * bn.gamma.val().reshape([1, c, 1, 1]);
    let y = centred * scale.repeat_dim(0, n) + bn.beta.val().reshape([1, c, 1, 1]).repeat_dim(0, n);

    let device = y.device();
    let m = bn.momentum;
    let unbiased = if count > 1 { count as f64 / (count - 1) as f64 } else { 1.0 };
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    let running_mean = running_mean.mul_scalar(1.0 - m) + mean.detach().reshape([c]).mul_scalar(m);
    let running_var = running_var.mul_scalar(1.0 - m) + var.detach().reshape([c]).mul_scalar(m * unbiased);
    bn.running_mean.update(running_mean.detach());
    bn.running_var.update(running_var.detach());
    y
}

/// Returns `conv` with `bn`'s inference transform folded in: `w' = w·γ/√(σ²+ε)`, `b' = β + (b − μ)·γ/√(σ²+ε)`.
pub fn fold_bn<B: Backend>(conv: Conv2d<B>, bn: &BatchNorm<B>) -> Conv2d<B> {
    let scale = bn.gamma.val() / (bn.running_var.value() + bn.epsilon).sqrt();
    let shift = bn.beta.val() - bn.running_mean.value() * scale.clone();
    let out = scale.dims()[0];
    let bias = match &conv.bias {
        Some(b) => shift + b.val() * scale.clone(),
        None => shift,
    };
    let weight = conv.weight.val() * scale.reshape([out, 1, 1, 1]);
    Conv2d { weight: Param::from_tensor(weight), bias: Some(Param::from_tensor(bias)), ..conv }
}

/// Stochastic depth (timm `drop_path`): in training, zero a whole sample's residual branch with probability `rate`
/// and rescale the survivors; at inference it is the identity.
pub fn drop_path<B: Backend>(x: Tensor<B, 4>, rate: f64) -> Tensor<B, 4> {
    let device = x.device();
    if rate <= 0.0 || !B::ad_enabled(&device) {
        return x;
    }
    let keep = 1.0 - rate;
    let n = x.dims()[0];
    let mask = Tensor::<B, 4>::random([n, 1, 1, 1], Distribution::Bernoulli(keep), &device);
    x * mask / keep
}

/// timm `SqueezeExcite`: global mean → 1×1 conv (reduce) → the block's activation → 1×1 conv (expand) → sigmoid
/// gate.
#[derive(Module, Debug)]
pub struct SqueezeExcite<B: Backend> {
    pub conv_reduce: Conv2d<B>,
    pub conv_expand: Conv2d<B>,
    #[module(skip)]
    pub act: Activation,
}

impl<B: Backend> SqueezeExcite<B> {
    pub fn new(channels: usize, reduced: usize, act: Activation, device: &B::Device) -> Self {
        Self {
            // 1×1 convolutions: no padding in either mode.
            conv_reduce: conv2d([channels, reduced], 1, 1, 1, true, Padding::Same, device),
            conv_expand: conv2d([reduced, channels], 1, 1, 1, true, Padding::Same, device),
            act,
        }
    }

    /// `[n, c, h, w] -> [n, c, h, w]`
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let pooled = x.clone().mean_dim(3).mean_dim(2);
        let gate = sigmoid(self.conv_expand.forward(self.act.apply(self.conv_reduce.forward(pooled))));
        x * gate
    }
}

/// timm `DepthwiseSeparableConv` (stage 0): dw k×k → BN+act → SE → pw 1×1 → BN, residual iff stride 1 and in == out.
#[derive(Module, Debug)]
pub struct DepthwiseSeparable<B: Backend> {
    pub conv_dw: Conv2d<B>,
    pub bn1: BatchNorm<B>,
    pub se: Option<SqueezeExcite<B>>,
    pub conv_pw: Conv2d<B>,
    pub bn2: BatchNorm<B>,
    pub has_skip: bool,
    pub drop_path_rate: f64,
    pub folded: bool,
    #[module(skip)]
    pub act: Activation,
}

impl<B: Backend> DepthwiseSeparable<B> {
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let shortcut = x.clone();
        let mut y = self.act.apply(conv_bn(&self.conv_dw, &self.bn1, self.folded, x));
        if let Some(se) = &self.se {
            y = se.forward(y);
        }
        let y = conv_bn(&self.conv_pw, &self.bn2, self.folded, y);
        if self.has_skip {
            drop_path(y, self.drop_path_rate) + shortcut
        } else {
            y
        }
    }

    pub fn fold_batchnorm(self) -> Self {
        if self.folded {
            return self;
        }
        Self {
            conv_dw: fold_bn(self.conv_dw, &self.bn1),
            conv_pw: fold_bn(self.conv_pw, &self.bn2),
            folded: true,
            ..self
        }
    }
}

/// timm `InvertedResidual` (MBConv): pw expand → BN+act → dw k×k → BN+act → SE → pw project → BN,
/// residual iff stride 1 and in == out.
#[derive(Module, Debug)]
pub struct InvertedResidual<B: Backend> {
    pub conv_pw: Conv2d<B>,
    pub bn1: BatchNorm<B>,
    pub conv_dw: Conv2d<B>,
    pub bn2: BatchNorm<B>,
    pub se: Option<SqueezeExcite<B>>,
    pub conv_pwl: Conv2d<B>,
    pub bn3: BatchNorm<B>,
    pub has_skip: bool,
    pub drop_path_rate: f64,
    pub folded: bool,
    #[module(skip)]
    pub act: Activation,
}

impl<B: Backend> InvertedResidual<B> {
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let shortcut = x.clone();
        let y = self.act.apply(conv_bn(&self.conv_pw, &self.bn1, self.folded, x));
        let mut y = self.act.apply(conv_bn(&self.conv_dw, &self.bn2, self.folded, y));
        if let Some(se) = &self.se {
            y = se.forward(y);
        }
        let y = conv_bn(&self.conv_pwl, &self.bn3, self.folded, y);
        if self.has_skip {
            drop_path(y, self.drop_path_rate) + shortcut
        } else {
            y
        }
    }

    pub fn fold_batchnorm(self) -> Self {
        if self.folded {
            return self;
        }
        Self {
            conv_pw: fold_bn(self.conv_pw, &self.bn1),
            conv_dw: fold_bn(self.conv_dw, &self.bn2),
            conv_pwl: fold_bn(self.conv_pwl, &self.bn3),
            folded: true,
            ..self
        }
    }
}

/// One EfficientNet block. Enum variants do not appear in checkpoint keys (`blocks.1.0.conv_pw.weight`).
// The variants are a few kB of parameter handles each, held once per block; boxing them would only add an
// indirection to Burn's module derive.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Block<B: Backend> {
    Ds(DepthwiseSeparable<B>),
    Ir(InvertedResidual<B>),
}

impl<B: Backend> Block<B> {
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        match self {
            Block::Ds(b) => b.forward(x),
            Block::Ir(b) => b.forward(x),
        }
    }

    pub fn fold_batchnorm(self) -> Self {
        match self {
            Block::Ds(b) => Block::Ds(b.fold_batchnorm()),
            Block::Ir(b) => Block::Ir(b.fold_batchnorm()),
        }
    }
}
