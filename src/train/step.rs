//! One training step of the solution (dfdc-solution.md §3.3): the batch is split by label, BCE-with-logits is
//! taken over the fake part and over the real part separately, and the loss is the mean of the two (a missing part
//! contributes 0). The model is the same generic `DeepFakeClassifier` inference uses; on an autodiff backend its
//! BatchNorm uses batch statistics and drop-path is active.

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};

use crate::model::classifier::DeepFakeClassifier;

/// A batch of normalised crops with their (smoothed) labels.
#[derive(Debug, Clone)]
pub struct TrainBatch<B: Backend> {
    /// `[n, 3, size, size]`, ImageNet-normalised.
    pub images: Tensor<B, 4>,
    /// `[n]` targets after label smoothing (fake ≈ 1, real ≈ 0).
    pub targets: Tensor<B, 1>,
    /// `[n]` 1 where the crop is fake (`label > 0.5`), else 0.
    pub fake_mask: Tensor<B, 1>,
    pub n_fake: usize,
    pub n_real: usize,
}

impl<B: Backend> TrainBatch<B> {
    /// Builds a batch from host data; `labels` are the raw 0/1 labels, `targets` the smoothed ones.
    pub fn from_host(images: Vec<f32>, size: usize, labels: &[f32], targets: &[f32], device: &B::Device) -> Self {
        let n = labels.len();
        let mask: Vec<f32> = labels.iter().map(|&l| if l > 0.5 { 1.0 } else { 0.0 }).collect();
        let n_fake = mask.iter().filter(|&&m| m > 0.0).count();
        Self {
            images: Tensor::from_data(TensorData::new(images, [n, 3, size, size]), device),
            targets: Tensor::from_data(TensorData::new(targets.to_vec(), [n]), device),
            fake_mask: Tensor::from_data(TensorData::new(mask, [n]), device),
            n_fake,
            n_real: n - n_fake,
        }
    }
}

/// The three losses of a step (scalars, `[1]`).
#[derive(Debug, Clone)]
pub struct SplitLoss<B: Backend> {
    pub loss: Tensor<B, 1>,
    pub fake_loss: Tensor<B, 1>,
    pub real_loss: Tensor<B, 1>,
}

/// Element-wise BCE-with-logits, PyTorch's stable form: `max(x, 0) − x·y + log(1 + exp(−|x|))`.
pub fn bce_with_logits<B: Backend>(logits: Tensor<B, 1>, targets: Tensor<B, 1>) -> Tensor<B, 1> {
    logits.clone().clamp_min(0.0) - logits.clone() * targets + logits.abs().neg().exp().log1p()
}

/// The solution's split loss: `(mean BCE over fakes + mean BCE over reals) / 2`, a missing part counting 0.
pub fn split_loss<B: Backend>(
    logits: Tensor<B, 1>,
    targets: Tensor<B, 1>,
    fake_mask: Tensor<B, 1>,
    n_fake: usize,
    n_real: usize,
) -> SplitLoss<B> {
    let bce = bce_with_logits(logits, targets);
    let real_mask = fake_mask.clone().neg() + 1.0;
    let part = |mask: Tensor<B, 1>, n: usize| {
        if n == 0 {
            // `(bce · 0).sum()` keeps the graph connected and is exactly 0.
            (bce.clone() * 0.0).sum()
        } else {
            (bce.clone() * mask).sum() / n as f64
        }
    };
    let fake_loss = part(fake_mask, n_fake);
    let real_loss = part(real_mask, n_real);
    let loss = (fake_loss.clone() + real_loss.clone()) / 2.0;
    SplitLoss { loss, fake_loss, real_loss }
}

/// Labels clipped to `[s, 1 − s]` (the solution's `--label-smoothing 0.01`, train only).
pub fn smooth_label(label: f32, s: f32) -> f32 {
    label.clamp(s, 1.0 - s)
}

impl<B: Backend> DeepFakeClassifier<B> {
    /// Forward pass and split loss of a batch; the output carries the logits for Burn's metrics.
    pub fn forward_split_loss(&self, batch: TrainBatch<B>) -> (SplitLoss<B>, ClassificationOutput<B>) {
        let logits = self.forward(batch.images);
        let n = logits.dims()[0];
        let losses = split_loss(logits.clone(), batch.targets, batch.fake_mask.clone(), batch.n_fake, batch.n_real);
        let output = ClassificationOutput::new(losses.loss.clone(), logits.reshape([n, 1]), batch.fake_mask.int());
        (losses, output)
    }
}

impl<B: AutodiffBackend> TrainStep for DeepFakeClassifier<B> {
    type Input = TrainBatch<B>;
    type Output = ClassificationOutput<B>;

    fn step(&self, batch: TrainBatch<B>) -> TrainOutput<ClassificationOutput<B>> {
        let (losses, output) = self.forward_split_loss(batch);
        TrainOutput::new(self, losses.loss.backward(), output)
    }
}

impl<B: Backend> InferenceStep for DeepFakeClassifier<B> {
    type Input = TrainBatch<B>;
    type Output = ClassificationOutput<B>;

    fn step(&self, batch: TrainBatch<B>) -> ClassificationOutput<B> {
        self.forward_split_loss(batch).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    fn scalar(t: Tensor<Flex, 1>) -> f64 {
        t.into_scalar().elem::<f64>()
    }

    #[test]
    fn split_loss_matches_hand_computed_values() {
        let dev = Default::default();
        let logits = Tensor::<Flex, 1>::from_floats([2.0, -1.0, 0.5, 3.0], &dev);
        let targets = Tensor::<Flex, 1>::from_floats([0.99, 0.01, 0.01, 0.99], &dev);
        let mask = Tensor::<Flex, 1>::from_floats([1.0, 0.0, 0.0, 1.0], &dev);
        let l = split_loss(logits, targets, mask, 2, 2);
        let bce =
            |x: f64, y: f64| -(y * (1.0 / (1.0 + (-x).exp())).ln() + (1.0 - y) * (1.0 - 1.0 / (1.0 + (-x).exp())).ln());
        let fake = (bce(2.0, 0.99) + bce(3.0, 0.99)) / 2.0;
        let real = (bce(-1.0, 0.01) + bce(0.5, 0.01)) / 2.0;
        assert!((scalar(l.fake_loss) - fake).abs() < 1e-6);
        assert!((scalar(l.real_loss) - real).abs() < 1e-6);
        assert!((scalar(l.loss) - (fake + real) / 2.0).abs() < 1e-6);
    }

    #[test]
    fn a_missing_part_contributes_zero() {
        let dev = Default::default();
        let logits = Tensor::<Flex, 1>::from_floats([2.0, -1.0], &dev);
        let targets = Tensor::<Flex, 1>::from_floats([0.01, 0.01], &dev);
        let mask = Tensor::<Flex, 1>::from_floats([0.0, 0.0], &dev);
        let l = split_loss(logits, targets, mask, 0, 2);
        let bce = |x: f64, y: f64| x.max(0.0) - x * y + (-x.abs()).exp().ln_1p();
        let real = (bce(2.0, 0.01) + bce(-1.0, 0.01)) / 2.0;
        assert_eq!(scalar(l.fake_loss), 0.0);
        assert!((scalar(l.loss) - real / 2.0).abs() < 1e-6);
    }

    /// The training SiLU has a finite gradient where `exp(−x)` overflows (x = −100 in f32, −20 in f16); the
    /// inference form `x / (1 + exp(−x))` gives NaN there (checked too, so the test can fail).
    #[test]
    fn training_silu_has_finite_gradients_where_the_inference_form_has_nan() {
        use crate::model::efficientnet::blocks::silu;
        use burn::backend::Autodiff;
        use burn::tensor::DType;
        type AB = Autodiff<Flex>;
        let dev = Default::default();
        for (x, dtype) in [(-100.0f32, DType::F32), (-20.0, DType::F16)] {
            let input = || {
                Tensor::<AB, 1>::from_data(TensorData::from([x, 0.0, 30.0]).convert_dtype(dtype), (&dev, dtype))
                    .require_grad()
            };
            let t = input();
            assert_eq!(t.dtype(), dtype);
            let g = t
                .grad(&silu(t.clone()).sum().backward())
                .unwrap()
                .into_data()
                .convert::<f32>()
                .to_vec::<f32>()
                .unwrap();
            assert!(g.iter().all(|v| v.is_finite()), "{dtype:?}: {g:?}");
            assert!(g[0].abs() < 1e-3 && (g[1] - 0.5).abs() < 1e-3 && (g[2] - 1.0).abs() < 1e-3, "{dtype:?}: {g:?}");
            let t = input();
            let inference_form = t.clone() / (t.clone().neg().exp() + 1.0);
            let g =
                t.grad(&inference_form.sum().backward()).unwrap().into_data().convert::<f32>().to_vec::<f32>().unwrap();
            assert!(g[0].is_nan(), "{dtype:?}: the inference form's gradient at {x} should be NaN, got {}", g[0]);
        }
    }

    #[test]
    fn label_smoothing_clips_to_the_band() {
        assert_eq!(smooth_label(1.0, 0.01), 0.99);
        assert_eq!(smooth_label(0.0, 0.01), 0.01);
        assert_eq!(smooth_label(0.5, 0.01), 0.5);
        assert_eq!(smooth_label(1.0, 0.0), 1.0);
    }
}
