//! Fused CPU kernels behind a backend extension trait.
//!
//! [`FusedOps`] names the few compound operations the BatchNorm-folded inference path of EfficientNet needs: a
//! 1×1 convolution with bias, activation and residual, the squeeze-excite gate folded into its weights; a
//! depthwise convolution with bias, activation and the SE pooling; the SE gate; SiLU. Every method has a default
//! made of ordinary Burn ops (the bodies live in [`composed`], because an override cannot call a trait's default
//! body), so CUDA, libtorch and `Autodiff<…>` run exactly the graph they ran before. The `flex` CPU backend
//! overrides them with the kernels of this module, which work on plain `f32` slices ([`activation`],
//! [`pointwise`], [`depthwise`], [`squeeze`]) and pick their instruction set at run time ([`cpu::Level`]).
//!
//! MTCNN's inference uses two more: an unpadded convolution with its PReLU ([`direct`]) and a ceil-mode max-pool
//! ([`pool`]). They live here, beside EfficientNet's, because one extension trait is what every backend the
//! binary runs on implements; the face stage calls them without knowing about the classifier.
//!
//! Training never sees these operations: only the folded inference methods (`forward_fused`) and the detector
//! call them.

pub mod activation;
pub mod composed;
pub mod cpu;
pub mod depthwise;
pub mod direct;
#[cfg(feature = "flex")]
mod flex;
pub mod pointwise;
pub mod pool;
pub mod squeeze;

use burn::nn::conv::Conv2d;
use burn::nn::PRelu;
use burn::prelude::*;

pub use activation::Activation;
pub use cpu::Level;

/// Compound inference operations a backend may implement natively; the defaults compose Burn ops.
///
/// Convolutions are passed as modules so that an implementation sees their stride, padding, groups and bias.
/// All of them expect the BatchNorm already folded into the convolution (`fold_bn`).
pub trait FusedOps: Backend {
    /// Samples per pass of the fused inference path (`None`: the whole batch). The CPU kernels keep one sample's
    /// activations in cache, so flex runs a batch one sample at a time: B7 @380 took 0.25 s per crop at batch 8
    /// against 0.16 s at batch 1 (2-core Zen 4, 2026-12-02), as batch 8's early maps (74 MB each) leave the cache.
    fn fused_batch_limit() -> Option<usize> {
        None
    }

    /// `x · sigmoid(x)`.
    fn silu<const D: usize>(x: Tensor<Self, D>) -> Tensor<Self, D> {
        composed::silu(x)
    }

    /// `act(conv(x))` for any convolution (EfficientNet's stem).
    fn conv_act(conv: &Conv2d<Self>, x: Tensor<Self, 4>, act: Activation) -> Tensor<Self, 4> {
        composed::conv_act(conv, x, act)
    }

    /// `act(depthwise(x))` `[n, c, h, w] -> [n, c, h', w']`, and with `pool` the channel means of the result
    /// `[n, c]` (the squeeze of squeeze-excite).
    fn depthwise_act(
        conv: &Conv2d<Self>,
        x: Tensor<Self, 4>,
        act: Activation,
        pool: bool,
    ) -> (Tensor<Self, 4>, Option<Tensor<Self, 2>>) {
        composed::depthwise_act(conv, x, act, pool)
    }

    /// The squeeze-excite gate `sigmoid(expand(act(reduce(means))))`, `[n, c] -> [n, c]`.
    fn squeeze_gate(
        reduce: &Conv2d<Self>,
        expand: &Conv2d<Self>,
        means: Tensor<Self, 2>,
        act: Activation,
    ) -> Tensor<Self, 2> {
        composed::squeeze_gate(reduce, expand, means, act)
    }

    /// `act(conv1x1(x ⊙ gate)) + residual`, `[n, k, h, w] -> [n, m, h, w]`, with `gate` `[n, k]`.
    fn pointwise_act(
        conv: &Conv2d<Self>,
        x: Tensor<Self, 4>,
        gate: Option<Tensor<Self, 2>>,
        act: Activation,
        residual: Option<Tensor<Self, 4>>,
    ) -> Tensor<Self, 4> {
        composed::pointwise_act(conv, x, gate, act, residual)
    }

    /// `prelu(conv(x))`, PReLU slopes per output channel (MTCNN's convolutions: unpadded, stride 1).
    fn conv_prelu(conv: &Conv2d<Self>, x: Tensor<Self, 4>, prelu: &PRelu<Self>) -> Tensor<Self, 4> {
        composed::conv_prelu(conv, x, prelu)
    }

    /// Max-pool, square window, no padding, ceil mode (MTCNN's pools).
    fn max_pool_ceil(x: Tensor<Self, 4>, kernel: usize, stride: usize) -> Tensor<Self, 4> {
        composed::max_pool_ceil(x, kernel, stride)
    }
}

// The other backends keep the composed defaults. `Autodiff` of any backend differentiates through them.
impl<B, C> FusedOps for burn::backend::Autodiff<B, C> where Self: Backend {}

// Concrete element types (those `device.rs` runs): a generic impl would need burn-cubecl's element bounds.
#[cfg(feature = "cuda")]
impl FusedOps for burn::backend::Cuda<f32, i32> {}
#[cfg(feature = "cuda")]
impl FusedOps for burn::backend::Cuda<burn::tensor::f16, i32> {}
#[cfg(feature = "cuda")]
impl FusedOps for burn::backend::Cuda<burn::tensor::bf16, i32> {}

#[cfg(feature = "tch")]
impl<E> FusedOps for burn::backend::LibTorch<E> where Self: Backend {}
