//! Grad-CAM (Selvaraju et al. 2017): which part of a face crop drove the classifier's logit.
//!
//! The target is the output `A` of the encoder's last block stage (timm `encoder.blocks[-1]`; `[n, 640, 12, 12]`
//! for B7 at 380), the last stage of convolutions whose maps are still spatial features rather than the head's
//! 1×1 projection. The gradient of the logit with respect to `A` goes through the head (conv_head → BatchNorm →
//! activation → average pool → fc) on Burn's autodiff backend; the map is `relu(Σ_c mean_hw(∂logit/∂A)[c] · A[c])`,
//! min-max normalised per crop.
//!
//! Eval mode throughout: Burn's `BatchNorm` uses batch statistics whenever the backend is autodiff, so the head's
//! BatchNorm is applied here on its running statistics (the same arithmetic as Burn's inference path), and the
//! stages before `A` run on the inner backend, where BatchNorm, drop-path and dropout are inference-only. The
//! cost is one forward pass per crop plus the head's backward pass; nothing of it runs unless a caller asks.

use burn::module::AutodiffModule;
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use image::RgbImage;

use super::classifier::DeepFakeClassifier;
use crate::imaging::normalize::{to_nchw, IMAGENET_MEAN, IMAGENET_STD};
use crate::imaging::ImagingError;

/// One crop's heat map.
#[derive(Debug, Clone, PartialEq)]
pub struct CamMap {
    /// The classifier's logit for the crop (positive = fake).
    pub logit: f32,
    /// Map size: the last stage's feature map (⌈side/32⌉ for the EfficientNets).
    pub width: usize,
    pub height: usize,
    /// Row-major, in [0, 1]: 1 where the evidence for "fake" is strongest; all 0 when the map is flat.
    pub values: Vec<f32>,
}

/// A classifier prepared for Grad-CAM on an autodiff backend (e.g. `Autodiff<Flex>`).
pub struct GradCam<B: AutodiffBackend> {
    /// Everything up to the last stage, on the inner backend (inference semantics).
    inner: DeepFakeClassifier<B::InnerBackend>,
    /// The same weights on the autodiff backend, frozen: only the activations get gradients.
    tracked: DeepFakeClassifier<B>,
}

impl<B: AutodiffBackend> GradCam<B> {
    /// Takes a classifier on the inner backend, BatchNorm folded or not (both give the same maps).
    pub fn new(model: DeepFakeClassifier<B::InnerBackend>) -> Self {
        let tracked = DeepFakeClassifier::<B>::from_inner(model.clone()).no_grad();
        Self { inner: model, tracked }
    }

    /// Maps of normalised crops `[n, 3, h, w]` (the classifier's input).
    pub fn maps(&self, input: Tensor<B::InnerBackend, 4>) -> Vec<CamMap> {
        let [n, _, _, _] = input.dims();
        if n == 0 {
            return Vec::new();
        }
        let activations = self.inner.encoder.forward_blocks(input);
        let a = Tensor::<B, 4>::from_inner(activations.clone()).require_grad();
        let logits = head_eval(&self.tracked, a.clone());
        let grads = logits.clone().sum().backward();
        let gradient = a.grad(&grads).expect("the activations are a tracked leaf of the logits");
        let [n, _, h, w] = activations.dims();
        // α_c = mean over positions of ∂logit/∂A_c; cam = relu(Σ_c α_c · A_c).
        let alpha = gradient.mean_dim(3).mean_dim(2); // [n, c, 1, 1]
        let cam = (activations * alpha).sum_dim(1).reshape([n, h * w]);
        let cam = burn::tensor::activation::relu(cam);
        let values = cam.into_data().convert::<f32>().to_vec::<f32>().expect("f32 maps");
        let logits = logits.inner().into_data().convert::<f32>().to_vec::<f32>().expect("f32 logits");
        values
            .chunks_exact(h * w)
            .zip(logits)
            .map(|(raw, logit)| CamMap { logit, width: w, height: h, values: min_max(raw) })
            .collect()
    }

    /// Maps of prepared crops (square RGB at the model's input size, as the scorer takes them), `batch` at a time.
    pub fn maps_of_crops(&self, crops: &[RgbImage], batch: usize) -> Result<Vec<CamMap>, ImagingError> {
        let device = self.inner.fc.weight.device();
        let mut out = Vec::with_capacity(crops.len());
        for chunk in crops.chunks(batch.max(1)) {
            let (w, h) = chunk[0].dimensions();
            let nchw = to_nchw(chunk, IMAGENET_MEAN, IMAGENET_STD)?;
            let input = Tensor::from_data(TensorData::new(nchw, [chunk.len(), 3, h as usize, w as usize]), &device);
            out.extend(self.maps(input));
        }
        Ok(out)
    }
}

/// The classifier's head from the last stage's activations, BatchNorm on running statistics: `[n, c, h, w] -> [n]`.
fn head_eval<B: Backend>(model: &DeepFakeClassifier<B>, a: Tensor<B, 4>) -> Tensor<B, 1> {
    let encoder = &model.encoder;
    let y = encoder.conv_head.forward(a);
    let y = if encoder.folded { y } else { batch_norm_eval(&encoder.bn2, y) };
    let f = encoder.activate(y);
    let [n, c, _, _] = f.dims();
    // Dropout is the identity at inference; it is left out rather than run on the autodiff backend.
    let pooled = f.mean_dim(3).mean_dim(2).reshape([n, c]);
    model.fc.forward(pooled).reshape([n])
}

/// Burn's inference-mode BatchNorm (`(x − μ) / √(σ² + ε) · γ + β`, in that order), usable on any backend.
fn batch_norm_eval<B: Backend>(bn: &BatchNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let c = x.dims()[1];
    let shape = [1, c, 1, 1];
    let mean = bn.running_mean.value().reshape(shape);
    let std = bn.running_var.value().reshape(shape).add_scalar(bn.epsilon).sqrt();
    (x - mean).div(std).mul(bn.gamma.val().reshape(shape)).add(bn.beta.val().reshape(shape))
}

/// `(x − min) / (max − min)`; all zeros for a flat map (nothing stands out).
fn min_max(raw: &[f32]) -> Vec<f32> {
    let (lo, hi) = raw.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let span = hi - lo;
    if span > 0.0 && span.is_finite() {
        raw.iter().map(|&v| (v - lo) / span).collect()
    } else {
        vec![0.0; raw.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_max_spans_zero_to_one_and_flat_maps_are_zero() {
        assert_eq!(min_max(&[1.0, 3.0, 2.0]), vec![0.0, 1.0, 0.5]);
        assert_eq!(min_max(&[0.0, 0.0]), vec![0.0, 0.0]);
    }
}
