//! The BatchNorm-folded inference path through [`FusedOps`]: the same graph as `forward`, expressed as the
//! fused operations (1×1 conv + bias + activation, depthwise conv + bias + activation + SE pooling, SE gate
//! folded into the projection, residual accumulated by the projection).
//!
//! On backends without fused kernels these are the composed Burn ops, so the result equals `forward`'s. Blocks
//! that are not folded (training, or a model straight from a checkpoint) take `forward`: training never reaches
//! this file.

use burn::prelude::*;

use super::blocks::{Block, DepthwiseSeparable, InvertedResidual};
use super::EfficientNet;
use crate::model::fused::{Activation, FusedOps};

impl<B: FusedOps> DepthwiseSeparable<B> {
    pub fn forward_fused(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        if !self.folded {
            return self.forward(x);
        }
        let act = Activation::Silu;
        let shortcut = self.has_skip.then(|| x.clone());
        let (y, means) = B::depthwise_act(&self.conv_dw, x, act, self.se.is_some());
        let gate = self.se.as_ref().zip(means).map(|(se, m)| B::squeeze_gate(&se.conv_reduce, &se.conv_expand, m, act));
        B::pointwise_act(&self.conv_pw, y, gate, Activation::Identity, shortcut)
    }
}

impl<B: FusedOps> InvertedResidual<B> {
    pub fn forward_fused(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        if !self.folded {
            return self.forward(x);
        }
        let act = Activation::Silu;
        // The shortcut shares `x`'s storage until the expansion has read it; the projection then accumulates
        // onto it in place.
        let shortcut = self.has_skip.then(|| x.clone());
        let y = B::pointwise_act(&self.conv_pw, x, None, act, None);
        let (y, means) = B::depthwise_act(&self.conv_dw, y, act, self.se.is_some());
        let gate = self.se.as_ref().zip(means).map(|(se, m)| B::squeeze_gate(&se.conv_reduce, &se.conv_expand, m, act));
        B::pointwise_act(&self.conv_pwl, y, gate, Activation::Identity, shortcut)
    }
}

impl<B: FusedOps> Block<B> {
    pub fn forward_fused(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        match self {
            Block::Ds(b) => b.forward_fused(x),
            Block::Ir(b) => b.forward_fused(x),
        }
    }
}

impl<B: FusedOps> EfficientNet<B> {
    /// [`forward_features`](EfficientNet::forward_features) of a folded model through the fused operations.
    pub fn forward_features_fused(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        if !self.folded {
            return self.forward_features(x);
        }
        let act = Activation::Silu;
        let mut x = B::conv_act(&self.conv_stem, x, act);
        for stage in &self.blocks {
            for block in stage {
                x = block.forward_fused(x);
            }
        }
        B::pointwise_act(&self.conv_head, x, None, act, None)
    }

    /// [`forward_pooled`](EfficientNet::forward_pooled) through the fused operations: `[n, 3, h, w] -> [n, c]`.
    pub fn forward_pooled_fused(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let f = self.forward_features_fused(x);
        let [n, c, _, _] = f.dims();
        f.mean_dim(3).mean_dim(2).reshape([n, c])
    }
}
