//! [`FusedOps`] for Burn's `flex` CPU backend: the slice kernels of this module applied to the tensors' own
//! storage. Anything outside what the kernels cover (other dtypes, grouped or dilated convolutions, non-square
//! kernels) falls back to the composed ops.

use std::borrow::Cow;

use burn::nn::conv::Conv2d;
use burn::nn::{PRelu, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::{DType, TensorPrimitive};
use burn_flex::{Flex, FlexTensor};

use super::depthwise::{self, DepthwiseShape};
use super::direct::{self, DirectShape};
use super::pointwise::{self, PointwiseExtras, PointwiseShape};
use super::squeeze::{self, SqueezeWeights};
use super::{activation, composed, pool, Activation, FusedOps, Level};

fn primitive<const D: usize>(x: Tensor<Flex, D>) -> FlexTensor {
    x.into_primitive().tensor()
}

fn tensor<const D: usize>(t: FlexTensor) -> Tensor<Flex, D> {
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

fn from_vec<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> Tensor<Flex, D> {
    tensor(FlexTensor::from_data(TensorData::new(values, shape)))
}

/// The logical values in row-major order, borrowed when the tensor already lies that way.
fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(t.to_contiguous().as_slice::<f32>().expect("to_contiguous is contiguous").to_vec()),
    }
}

/// `t` with exclusively owned, contiguous storage covering exactly its elements, ready to be written in place;
/// copies only when the storage is shared or strided.
fn owned(t: FlexTensor) -> FlexTensor {
    let n = t.layout().num_elements();
    if t.is_unique() && t.layout().contiguous_offsets() == Some((0, n)) && t.bytes().len() == n * 4 {
        return t;
    }
    let shape = t.layout().shape().clone();
    FlexTensor::from_data(TensorData::new(values(&t).into_owned(), shape))
}

fn storage_mut(t: &mut FlexTensor) -> &mut [f32] {
    let n = t.layout().num_elements();
    &mut t.try_storage_mut::<f32>().expect("`owned` made the storage unique")[..n]
}

fn is_f32(t: &Tensor<Flex, 4>) -> bool {
    t.dtype() == DType::F32
}

/// In-place activation of a tensor that is (or is made) exclusively owned.
fn activate_in_place<const D: usize>(x: Tensor<Flex, D>, act: Activation) -> Tensor<Flex, D> {
    if act == Activation::Identity {
        return x;
    }
    if x.dtype() != DType::F32 {
        return composed::activate(x, act);
    }
    let mut t = owned(primitive(x));
    activation::apply(Level::current(), act, storage_mut(&mut t));
    tensor(t)
}

/// `[top, left, bottom, right]` of `padding` on an `h × w` input.
fn padding_of(padding: &PaddingConfig2d, h: usize, w: usize, kernel: usize, stride: usize) -> [usize; 4] {
    match padding {
        PaddingConfig2d::Valid => [0; 4],
        PaddingConfig2d::Same => DepthwiseShape::same_padding(h, w, kernel, stride),
        PaddingConfig2d::Explicit(top, left, bottom, right) => [*top, *left, *bottom, *right],
    }
}

impl FusedOps for Flex {
    fn fused_batch_limit() -> Option<usize> {
        Some(1)
    }

    fn silu<const D: usize>(x: Tensor<Self, D>) -> Tensor<Self, D> {
        activate_in_place(x, Activation::Silu)
    }

    fn conv_act(conv: &Conv2d<Self>, x: Tensor<Self, 4>, act: Activation) -> Tensor<Self, 4> {
        activate_in_place(conv.forward(x), act)
    }

    fn depthwise_act(
        conv: &Conv2d<Self>,
        x: Tensor<Self, 4>,
        act: Activation,
        pool: bool,
    ) -> (Tensor<Self, 4>, Option<Tensor<Self, 2>>) {
        let [n, c, h, w] = x.dims();
        let [co, per_group, kh, kw] = conv.weight.dims();
        let supported = is_f32(&x)
            && conv.groups == c
            && co == c
            && per_group == 1
            && kh == kw
            && conv.stride[0] == conv.stride[1]
            && conv.stride[0] > 0
            && conv.dilation == [1, 1];
        if !supported {
            return composed::depthwise_act(conv, x, act, pool);
        }
        let stride = conv.stride[0];
        let shape = DepthwiseShape {
            batch: n,
            channels: c,
            height: h,
            width: w,
            kernel: kh,
            stride,
            padding: padding_of(&conv.padding, h, w, kh, stride),
        };
        let input = primitive(x);
        let weight = primitive(conv.weight.val());
        let bias = conv.bias.as_ref().map(|b| primitive(b.val()));
        let bias = bias.as_ref().map(values);
        let out = depthwise::depthwise(
            Level::current(),
            &shape,
            &values(&input),
            &values(&weight),
            bias.as_deref(),
            act,
            pool,
        );
        let (oh, ow) = shape.out_size();
        (from_vec(out.values, [n, c, oh, ow]), out.means.map(|m| from_vec(m, [n, c])))
    }

    fn squeeze_gate(
        reduce: &Conv2d<Self>,
        expand: &Conv2d<Self>,
        means: Tensor<Self, 2>,
        act: Activation,
    ) -> Tensor<Self, 2> {
        let [n, c] = means.dims();
        let [r, rc, rk1, rk2] = reduce.weight.dims();
        let [ec, er, ek1, ek2] = expand.weight.dims();
        if means.dtype() != DType::F32 || rc != c || ec != c || er != r || rk1 * rk2 * ek1 * ek2 != 1 {
            return composed::squeeze_gate(reduce, expand, means, act);
        }
        let bias = |conv: &Conv2d<Self>, len: usize| {
            conv.bias.as_ref().map_or_else(|| vec![0.0; len], |b| values(&primitive(b.val())).into_owned())
        };
        let (wr, br) = (primitive(reduce.weight.val()), bias(reduce, r));
        let (we, be) = (primitive(expand.weight.val()), bias(expand, c));
        let (wr, we) = (values(&wr), values(&we));
        let se =
            SqueezeWeights { channels: c, reduced: r, reduce: &wr, reduce_bias: &br, expand: &we, expand_bias: &be };
        let means = primitive(means);
        from_vec(squeeze::squeeze_gate(Level::current(), &values(&means), n, &se, act), [n, c])
    }

    fn pointwise_act(
        conv: &Conv2d<Self>,
        x: Tensor<Self, 4>,
        gate: Option<Tensor<Self, 2>>,
        act: Activation,
        residual: Option<Tensor<Self, 4>>,
    ) -> Tensor<Self, 4> {
        let [n, k, h, w] = x.dims();
        let [m, k2, kh, kw] = conv.weight.dims();
        let unpadded = padding_of(&conv.padding, h, w, 1, conv.stride[0]) == [0; 4];
        let supported = is_f32(&x)
            && kh == 1
            && kw == 1
            && k2 == k
            && conv.groups == 1
            && conv.stride == [1, 1]
            && unpadded
            && gate.as_ref().is_none_or(|g| g.dims() == [n, k] && g.dtype() == DType::F32)
            && residual.as_ref().is_none_or(|r| r.dims() == [n, m, h, w] && is_f32(r));
        if !supported {
            return composed::pointwise_act(conv, x, gate, act, residual);
        }
        let shape = PointwiseShape { batch: n, in_channels: k, out_channels: m, spatial: h * w };
        let input = primitive(x);
        let weight = primitive(conv.weight.val());
        let weight = values(&weight);
        let bias = conv.bias.as_ref().map(|b| primitive(b.val()));
        let bias = bias.as_ref().map(values);
        let gate = gate.map(primitive);
        let gate_values = gate.as_ref().map(values);
        let extras = PointwiseExtras { bias: bias.as_deref(), gate: gate_values.as_deref() };
        let level = Level::current();
        match residual {
            // The residual's storage becomes the output: gemm accumulates onto it.
            Some(r) => {
                let mut out = owned(primitive(r));
                pointwise::pointwise_into(
                    level,
                    &shape,
                    &values(&input),
                    &weight,
                    extras,
                    act,
                    storage_mut(&mut out),
                    true,
                );
                tensor(out)
            }
            None => from_vec(pointwise::pointwise(level, &shape, &values(&input), &weight, extras, act), [n, m, h, w]),
        }
    }

    fn conv_prelu(conv: &Conv2d<Self>, x: Tensor<Self, 4>, prelu: &PRelu<Self>) -> Tensor<Self, 4> {
        let [n, c, h, w] = x.dims();
        let [m, c2, kh, kw] = conv.weight.dims();
        let supported = is_f32(&x)
            && c2 == c
            && kh == kw
            && conv.groups == 1
            && conv.stride == [1, 1]
            && conv.dilation == [1, 1]
            && padding_of(&conv.padding, h, w, kh, 1) == [0; 4]
            && prelu.alpha.dims() == [m];
        if !supported {
            return composed::conv_prelu(conv, x, prelu);
        }
        let shape = DirectShape { batch: n, in_channels: c, out_channels: m, height: h, width: w, kernel: kh };
        let input = primitive(x);
        let weight = primitive(conv.weight.val());
        let bias = conv.bias.as_ref().map(|b| primitive(b.val()));
        let bias = bias.as_ref().map(values);
        let alpha = primitive(prelu.alpha.val());
        let out = direct::conv_prelu(
            Level::current(),
            &shape,
            &values(&input),
            &values(&weight),
            bias.as_deref(),
            Some(&values(&alpha)),
        );
        let (oh, ow) = shape.out_size();
        from_vec(out, [n, m, oh, ow])
    }

    fn max_pool_ceil(x: Tensor<Self, 4>, kernel: usize, stride: usize) -> Tensor<Self, 4> {
        if !is_f32(&x) {
            return composed::max_pool_ceil(x, kernel, stride);
        }
        let [n, c, h, w] = x.dims();
        let input = primitive(x);
        let (out, (oh, ow)) = pool::max_pool_ceil(&values(&input), n * c, h, w, kernel, stride);
        from_vec(out, [n, c, oh, ow])
    }
}
