//! The fused CPU kernels against f64 references on every dispatch level, the flex implementation of `FusedOps`
//! against the composed Burn ops, and the fused inference path of whole models (timm fixtures from
//! `scripts/reference/make_effnet_fixtures.py`; a B7 with random weights against its own composed path).

mod common;

use burn::backend::Flex;
use burn::module::{ModuleMapper, Param};
use burn::prelude::*;
use common::{arch, device, fixture, max_abs_diff, tensor, values, B};
use deepfake_detector::model::classifier::ClassifierConfig;
use deepfake_detector::model::efficientnet::EfficientNetConfig;
use deepfake_detector::model::fused::activation::{self, Activation};
use deepfake_detector::model::fused::depthwise::{depthwise, DepthwiseShape};
use deepfake_detector::model::fused::pointwise::{pointwise_into, PointwiseExtras, PointwiseShape};
use deepfake_detector::model::fused::squeeze::{squeeze_gate, SqueezeWeights};
use deepfake_detector::model::fused::{composed, FusedOps, Level};
use deepfake_detector::weights::classifier::load_classifier;
use deepfake_detector::weights::TensorFile;

/// xorshift64*: reproducible values without a dependency.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let u = (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * u
    }

    fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

fn act64(act: Activation, x: f64) -> f64 {
    match act {
        Activation::Identity => x,
        Activation::Silu => x / (1.0 + (-x).exp()),
        Activation::Relu6 => x.clamp(0.0, 6.0),
    }
}

/// Every element within `tol` relative to the magnitude of the terms that produced it (`scale`, the sum of
/// the absolute products and bias): the accuracy a float sum can promise whatever its order.
fn assert_close(what: &str, got: &[f32], want: &[f64], scale: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, ((&g, &w), &s)) in got.iter().zip(want).zip(scale).enumerate() {
        let err = (g as f64 - w).abs() / (w.abs().max(s)).max(1e-30);
        assert!(err <= tol, "{what}: element {i}: {g} vs {w} (scale {s}): relative error {err:e}");
    }
}

#[test]
fn silu_and_exp_match_f64_on_every_level() {
    let mut rng = Rng(7);
    let mut x: Vec<f32> = (-80_000..=80_000).map(|i| i as f32 * 1e-3).collect();
    x.extend(rng.vec(10_001, -20.0, 20.0)); // odd length: exercises the SIMD tails
    x.extend([0.0, -0.0, 1e-30, -1e-30, f32::MIN_POSITIVE]);
    for level in Level::available() {
        let mut got = x.clone();
        activation::silu(level, &mut got);
        let want: Vec<f64> = x.iter().map(|&v| act64(Activation::Silu, v as f64)).collect();
        let zeros = vec![0.0; x.len()];
        assert_close(&format!("silu {level:?}"), &got, &want, &zeros, 1e-6);

        let mut e: Vec<f32> = x.iter().map(|v| v.clamp(-87.0, 88.0)).collect();
        let want: Vec<f64> = e.iter().map(|&v| (v as f64).exp()).collect();
        activation::exp(level, &mut e);
        assert_close(&format!("exp {level:?}"), &e, &want, &zeros, 1e-6);
    }
}

#[test]
fn silu_saturates_like_pytorch_far_from_zero() {
    for level in Level::available() {
        let mut x = vec![-1e4f32, -200.0, 200.0, 1e4];
        activation::silu(level, &mut x);
        assert!(x[0].abs() < 1e-30 && x[1].abs() < 1e-30, "{level:?}: {x:?}");
        assert_eq!((x[2], x[3]), (200.0, 1e4), "{level:?}");
    }
}

/// f64 depthwise convolution with explicit padding: (values, scales).
fn depthwise64(s: &DepthwiseShape, x: &[f32], w: &[f32], b: &[f32], act: Activation) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (oh, ow) = s.out_size();
    let k = s.kernel;
    let [top, left, _, _] = s.padding;
    let (mut out, mut scale, mut means) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..s.batch {
        for c in 0..s.channels {
            let plane = &x[(n * s.channels + c) * s.height * s.width..][..s.height * s.width];
            let mut sum = 0.0;
            for oy in 0..oh {
                for ox in 0..ow {
                    let (mut acc, mut mag) = (b[c] as f64, (b[c] as f64).abs());
                    for kh in 0..k {
                        for kw in 0..k {
                            let iy = (oy * s.stride + kh) as isize - top as isize;
                            let ix = (ox * s.stride + kw) as isize - left as isize;
                            if iy >= 0 && ix >= 0 && (iy as usize) < s.height && (ix as usize) < s.width {
                                let p = w[c * k * k + kh * k + kw] as f64
                                    * plane[iy as usize * s.width + ix as usize] as f64;
                                acc += p;
                                mag += p.abs();
                            }
                        }
                    }
                    let y = act64(act, acc);
                    sum += y;
                    out.push(y);
                    scale.push(mag);
                }
            }
            means.push(sum / (oh * ow) as f64);
        }
    }
    (out, scale, means)
}

#[test]
fn depthwise_matches_f64_for_b7_geometries_on_every_level() {
    let mut rng = Rng(11);
    // (size, channels, batch): odd and even maps, channel counts that are not multiples of 16.
    let cases = [(12, 37, 3), (23, 19, 1), (24, 21, 3), (46, 13, 1), (95, 5, 3), (190, 3, 1)];
    for &(size, channels, batch) in &cases {
        for kernel in [3, 5] {
            for stride in [1, 2] {
                let paddings = [
                    DepthwiseShape::same_padding(size, size, kernel, stride),
                    [kernel / 2; 4],
                    [0, kernel - 1, kernel / 2 + 1, 1], // arbitrary asymmetric
                ];
                for (p, &padding) in paddings.iter().enumerate() {
                    let shape = DepthwiseShape { batch, channels, height: size, width: size, kernel, stride, padding };
                    let x = rng.vec(batch * channels * size * size, -2.0, 2.0);
                    let w = rng.vec(channels * kernel * kernel, -1.0, 1.0);
                    let b = rng.vec(channels, -0.5, 0.5);
                    let act = [Activation::Silu, Activation::Identity, Activation::Relu6][p];
                    let (want, scale, want_means) = depthwise64(&shape, &x, &w, &b, act);
                    for level in Level::available() {
                        let out = depthwise(level, &shape, &x, &w, Some(&b), act, true);
                        let what =
                            format!("{level:?} size {size} c {channels} n {batch} k{kernel} s{stride} pad {padding:?}");
                        assert_close(&what, &out.values, &want, &scale, 1e-5);
                        let mean_scale: Vec<f64> = (0..batch * channels)
                            .map(|i| {
                                let plane = scale.len() / (batch * channels);
                                scale[i * plane..(i + 1) * plane].iter().sum::<f64>() / plane as f64
                            })
                            .collect();
                        assert_close(&format!("{what} means"), &out.means.unwrap(), &want_means, &mean_scale, 1e-5);
                    }
                }
            }
        }
    }
}

/// f64 `act(W·(x ⊙ g) + b) + r`: (values, scales).
#[allow(clippy::too_many_arguments)]
fn pointwise64(
    s: &PointwiseShape,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    g: Option<&[f32]>,
    r: Option<&[f32]>,
    act: Activation,
) -> (Vec<f64>, Vec<f64>) {
    let (k, m, n) = (s.in_channels, s.out_channels, s.spatial);
    let (mut out, mut scale) = (Vec::new(), Vec::new());
    for bi in 0..s.batch {
        for o in 0..m {
            for j in 0..n {
                let (mut acc, mut mag) = (b[o] as f64, (b[o] as f64).abs());
                for i in 0..k {
                    let gate = g.map_or(1.0, |g| g[bi * k + i] as f64);
                    let p = w[o * k + i] as f64 * x[(bi * k + i) * n + j] as f64 * gate;
                    acc += p;
                    mag += p.abs();
                }
                let res = r.map_or(0.0, |r| r[(bi * m + o) * n + j] as f64);
                out.push(act64(act, acc) + res);
                scale.push(mag + res.abs());
            }
        }
    }
    (out, scale)
}

#[test]
fn pointwise_matches_f64_with_bias_gate_and_residual_on_every_level() {
    let mut rng = Rng(13);
    // (in, out, spatial, batch): B7-like thin and wide shapes at small sizes; m ≤ n and m > n take the two gate
    // folds (weights vs input).
    let cases = [
        (32, 23, 12 * 12, 3),
        (37, 300, 23 * 23, 1),
        (61, 19, 46 * 46, 1),
        (200, 640, 12 * 12, 3),
        (3, 17, 95 * 95, 1),
    ];
    for &(k, m, n, batch) in &cases {
        let shape = PointwiseShape { batch, in_channels: k, out_channels: m, spatial: n };
        let x = rng.vec(batch * k * n, -2.0, 2.0);
        let w = rng.vec(m * k, -0.3, 0.3);
        let b = rng.vec(m, -0.5, 0.5);
        let g = rng.vec(batch * k, 0.0, 1.0);
        let r = rng.vec(batch * m * n, -1.0, 1.0);
        for (act, gate, residual) in [
            (Activation::Silu, None, None),
            (Activation::Identity, Some(&g), Some(&r)),
            (Activation::Relu6, Some(&g), None),
            (Activation::Silu, None, Some(&r)),
        ] {
            let (want, scale) = pointwise64(&shape, &x, &w, &b, gate.map(|g| &g[..]), residual.map(|r| &r[..]), act);
            for level in Level::available() {
                let mut out = residual.cloned().unwrap_or_else(|| vec![f32::NAN; batch * m * n]);
                let extras = PointwiseExtras { bias: Some(&b), gate: gate.map(|g| &g[..]) };
                pointwise_into(level, &shape, &x, &w, extras, act, &mut out, residual.is_some());
                let what = format!(
                    "{level:?} k {k} m {m} n {n} batch {batch} {act:?} gate {} residual {}",
                    gate.is_some(),
                    residual.is_some()
                );
                assert_close(&what, &out, &want, &scale, 1e-5);
            }
        }
    }
}

#[test]
fn squeeze_gate_matches_f64() {
    let mut rng = Rng(17);
    let (batch, c, r) = (3, 45, 7);
    let means = rng.vec(batch * c, -1.0, 1.0);
    let (wr, br, we, be) =
        (rng.vec(r * c, -0.5, 0.5), rng.vec(r, -0.5, 0.5), rng.vec(c * r, -0.5, 0.5), rng.vec(c, -0.5, 0.5));
    let se = SqueezeWeights { channels: c, reduced: r, reduce: &wr, reduce_bias: &br, expand: &we, expand_bias: &be };
    let mut want = Vec::new();
    for n in 0..batch {
        let hidden: Vec<f64> = (0..r)
            .map(|j| {
                act64(
                    Activation::Silu,
                    br[j] as f64 + (0..c).map(|i| wr[j * c + i] as f64 * means[n * c + i] as f64).sum::<f64>(),
                )
            })
            .collect();
        for i in 0..c {
            let z = be[i] as f64 + (0..r).map(|j| we[i * r + j] as f64 * hidden[j]).sum::<f64>();
            want.push(1.0 / (1.0 + (-z).exp()));
        }
    }
    for level in Level::available() {
        let got = squeeze_gate(level, &means, batch, &se, Activation::Silu);
        assert_close(&format!("{level:?}"), &got, &want, &vec![0.0; want.len()], 1e-5);
    }
}

// ---- FusedOps on flex against the composed ops ----

fn random_tensor<const D: usize>(rng: &mut Rng, shape: [usize; D]) -> Tensor<Flex, D> {
    let n = shape.iter().product();
    Tensor::from_data(TensorData::new(rng.vec(n, -1.0, 1.0), shape), &device())
}

fn conv(
    rng: &mut Rng,
    channels: [usize; 2],
    kernel: usize,
    stride: usize,
    groups: usize,
    padding: burn::nn::PaddingConfig2d,
) -> burn::nn::conv::Conv2d<Flex> {
    let mut conv = burn::nn::conv::Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_groups(groups)
        .with_padding(padding)
        .init::<Flex>(&device());
    conv.bias = Some(Param::from_tensor(random_tensor(rng, [channels[1]])));
    conv
}

fn assert_tensors_close<const D: usize>(what: &str, got: Tensor<Flex, D>, want: Tensor<Flex, D>, tol: f32) {
    assert_eq!(got.dims(), want.dims(), "{what}: shape");
    let (got, want) = (values(got), values(want));
    assert!(got.iter().chain(&want).all(|v| v.is_finite()), "{what}: non-finite values");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    let diff = max_abs_diff(&got, &want);
    assert!(diff <= tol * scale, "{what}: max |Δ| {diff} at scale {scale}");
}

#[test]
fn flex_fused_ops_equal_the_composed_ops() {
    use burn::nn::PaddingConfig2d::{Explicit, Same};
    let mut rng = Rng(19);
    for (size, batch) in [(23, 1), (24, 3)] {
        for (kernel, stride, padding) in
            [(3, 1, Same), (5, 2, Same), (3, 2, Explicit(1, 1, 1, 1)), (5, 1, Explicit(2, 2, 2, 2))]
        {
            let c = 21;
            let dw = conv(&mut rng, [c, c], kernel, stride, c, padding);
            let x = random_tensor(&mut rng, [batch, c, size, size]);
            let what = format!("dw size {size} batch {batch} k{kernel} s{stride}");
            let (y, m) = <Flex as FusedOps>::depthwise_act(&dw, x.clone(), Activation::Silu, true);
            let (y0, m0) = composed::depthwise_act(&dw, x, Activation::Silu, true);
            assert_tensors_close(&what, y, y0, 1e-5);
            assert_tensors_close(&format!("{what} means"), m.unwrap(), m0.unwrap(), 1e-5);
        }
        let (k, m) = (19, 40);
        let pw = conv(&mut rng, [k, m], 1, 1, 1, Same);
        // A strided (permuted) input and a residual whose storage is shared must not be written through.
        let x = random_tensor(&mut rng, [batch, size, k, size]).swap_dims(1, 2);
        let gate = random_tensor(&mut rng, [batch, k]).abs();
        let residual = random_tensor(&mut rng, [batch, m, size, size]);
        let kept = residual.clone();
        let before = values(kept.clone());
        let got = <Flex as FusedOps>::pointwise_act(
            &pw,
            x.clone(),
            Some(gate.clone()),
            Activation::Identity,
            Some(residual.clone()),
        );
        let want = composed::pointwise_act(&pw, x.clone(), Some(gate), Activation::Identity, Some(residual));
        assert_tensors_close(&format!("pw size {size}"), got, want, 1e-5);
        assert_eq!(values(kept), before, "the shared residual was modified");
        let got = <Flex as FusedOps>::pointwise_act(&pw, x.clone(), None, Activation::Silu, None);
        assert_tensors_close(
            "pw silu",
            got,
            composed::pointwise_act(&pw, x.clone(), None, Activation::Silu, None),
            1e-5,
        );

        let (reduce, expand) = (conv(&mut rng, [m, 5], 1, 1, 1, Same), conv(&mut rng, [5, m], 1, 1, 1, Same));
        let means = random_tensor(&mut rng, [batch, m]);
        let got = <Flex as FusedOps>::squeeze_gate(&reduce, &expand, means.clone(), Activation::Silu);
        assert_tensors_close("se gate", got, composed::squeeze_gate(&reduce, &expand, means, Activation::Silu), 1e-5);

        let t = random_tensor(&mut rng, [batch, 3, size, size]).mul_scalar(10.0);
        assert_tensors_close("silu", <Flex as FusedOps>::silu(t.clone()), composed::silu(t), 1e-6);
    }
}

// ---- whole models ----

/// Gives every vector of the model (BatchNorm γ, β, running mean and variance, biases) random values in
/// [0.5, 1.5], so that folding produces non-trivial scales and biases (and every variance stays positive).
struct RandomiseVectors(Rng);

impl<B: Backend> ModuleMapper<B> for RandomiseVectors {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        if D != 1 {
            return param;
        }
        let (id, tensor, mapper) = param.consume();
        let dims = tensor.dims();
        let data = TensorData::new(self.0.vec(dims[0], 0.5, 1.5), dims);
        Param::from_mapped_value(id, Tensor::from_data(data, &tensor.device()), mapper)
    }
}

#[test]
fn fused_b7_equals_its_composed_path() {
    let config = ClassifierConfig::dfdc(EfficientNetConfig::named("tf_efficientnet_b7").unwrap());
    let model = config.init::<B>(&device()).unwrap().map(&mut RandomiseVectors(Rng(23)));
    let folded = model.fold_batchnorm();
    let mut rng = Rng(29);
    // 70×70 keeps the test short and still takes odd sizes (35, 18, 9, 5, 3) through every stride-2 layer.
    let input = random_tensor(&mut rng, [2, 3, 70, 70]);
    let want = values(folded.encoder.forward_pooled(input.clone()));
    let got = values(folded.encoder.forward_pooled_fused(input.clone()));
    assert!(want.iter().chain(&got).all(|v| v.is_finite()), "non-finite features");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = max_abs_diff(&got, &want);
    eprintln!("B7 pooled features: max |Δ| {diff:e} at scale {scale}");
    assert!(scale > 0.0 && diff <= 1e-5 * scale, "pooled features: max |Δ| {diff} at scale {scale}");
    let (want, got) = (values(folded.forward(input.clone())), values(folded.forward_fused(input)));
    assert!(want.iter().chain(&got).all(|v| v.is_finite()), "non-finite logits");
    let diff = max_abs_diff(&got, &want);
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(diff <= 1e-5 * scale, "fused {got:?} vs composed {want:?}");
}

#[test]
fn fused_path_matches_timm_fixtures() {
    for name in ["a", "b"] {
        let loaded =
            load_classifier::<B>(&fixture(&format!("effnet/{name}_dfdc_legacy.pth")), Some(&arch(name)), &device())
                .unwrap();
        let folded = loaded.model.fold_batchnorm();
        let io = TensorFile::read(&fixture(&format!("effnet/{name}_io.safetensors"))).unwrap();
        for input in ["64", "odd"] {
            let got = values(folded.forward_fused(tensor::<4>(&io, &format!("input_{input}"))));
            let want = values(tensor::<2>(&io, &format!("logits_{input}")));
            assert!(
                got.iter().all(|v| v.is_finite()) && max_abs_diff(&got, &want) <= 1e-4,
                "{name} input_{input}: fused {got:?} vs timm {want:?}"
            );
        }
    }
}
