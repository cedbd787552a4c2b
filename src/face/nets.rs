//! PNet, RNet and ONet of facenet-pytorch's MTCNN as Burn modules (dfdc-solution.md §6.1).
//!
//! Field names are the keys of facenet-pytorch's `pnet.pt` / `rnet.pt` / `onet.pt` (PReLU `weight` becomes Burn's
//! `alpha` on load). Convolutions are unpadded, pools use ceil mode, PReLU is per channel, and before the dense
//! layers the `[n, c, h, w]` map is permuted to `[n, w, h, c]` and flattened, because the dense weights were
//! trained on that order.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PRelu, PReluConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use crate::model::fused::composed::prelu as apply_prelu;
use crate::model::fused::FusedOps;

fn conv<B: Backend>(cin: usize, cout: usize, k: usize, device: &B::Device) -> Conv2d<B> {
    Conv2dConfig::new([cin, cout], [k, k]).init(device)
}

fn prelu<B: Backend>(channels: usize, device: &B::Device) -> PRelu<B> {
    PReluConfig::new().with_num_parameters(channels).init(device)
}

fn pool(k: usize) -> MaxPool2d {
    MaxPool2dConfig::new([k, k]).with_strides([2, 2]).with_ceil_mode(true).init()
}

/// A pool of the networks (all ceil mode, unpadded), through the backend's [`FusedOps::max_pool_ceil`].
fn max_pool<B: FusedOps>(p: &MaxPool2d, x: Tensor<B, 4>) -> Tensor<B, 4> {
    B::max_pool_ceil(x, p.kernel_size[0], p.stride[0])
}

/// `x.permute(0, 3, 2, 1)` then flatten, as facenet-pytorch does before its dense layers.
fn flatten_whc<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 2> {
    let [n, c, h, w] = x.dims();
    x.permute([0, 3, 2, 1]).reshape([n, w * h * c])
}

/// Proposal network, fully convolutional: a 12×12 window maps to one output cell (stride 2).
#[derive(Module, Debug)]
pub struct PNet<B: Backend> {
    pub conv1: Conv2d<B>,
    pub prelu1: PRelu<B>,
    pub pool1: MaxPool2d,
    pub conv2: Conv2d<B>,
    pub prelu2: PRelu<B>,
    pub conv3: Conv2d<B>,
    pub prelu3: PRelu<B>,
    pub conv4_1: Conv2d<B>,
    pub conv4_2: Conv2d<B>,
}

impl<B: Backend> PNet<B> {
    pub fn new(device: &B::Device) -> Self {
        Self {
            conv1: conv(3, 10, 3, device),
            prelu1: prelu(10, device),
            pool1: pool(2),
            conv2: conv(10, 16, 3, device),
            prelu2: prelu(16, device),
            conv3: conv(16, 32, 3, device),
            prelu3: prelu(32, device),
            conv4_1: conv(32, 2, 1, device),
            conv4_2: conv(32, 4, 1, device),
        }
    }
}

impl<B: FusedOps> PNet<B> {
    /// `[n, 3, h, w]` normalised → (box regression `[n, 4, h', w']`, face probability `[n, h', w']`).
    pub fn forward(&self, x: Tensor<B, 4>) -> (Tensor<B, 4>, Tensor<B, 3>) {
        let x = max_pool(&self.pool1, B::conv_prelu(&self.conv1, x, &self.prelu1));
        let x = B::conv_prelu(&self.conv2, x, &self.prelu2);
        let x = B::conv_prelu(&self.conv3, x, &self.prelu3);
        let prob = softmax(self.conv4_1.forward(x.clone()), 1);
        let [n, _, h, w] = prob.dims();
        let face = prob.slice([0..n, 1..2, 0..h, 0..w]).reshape([n, h, w]);
        (self.conv4_2.forward(x), face)
    }
}

/// Refinement network on 24×24 crops.
#[derive(Module, Debug)]
pub struct RNet<B: Backend> {
    pub conv1: Conv2d<B>,
    pub prelu1: PRelu<B>,
    pub pool1: MaxPool2d,
    pub conv2: Conv2d<B>,
    pub prelu2: PRelu<B>,
    pub pool2: MaxPool2d,
    pub conv3: Conv2d<B>,
    pub prelu3: PRelu<B>,
    pub dense4: Linear<B>,
    pub prelu4: PRelu<B>,
    pub dense5_1: Linear<B>,
    pub dense5_2: Linear<B>,
}

impl<B: Backend> RNet<B> {
    pub fn new(device: &B::Device) -> Self {
        Self {
            conv1: conv(3, 28, 3, device),
            prelu1: prelu(28, device),
            pool1: pool(3),
            conv2: conv(28, 48, 3, device),
            prelu2: prelu(48, device),
            pool2: pool(3),
            conv3: conv(48, 64, 2, device),
            prelu3: prelu(64, device),
            dense4: LinearConfig::new(576, 128).init(device),
            prelu4: prelu(128, device),
            dense5_1: LinearConfig::new(128, 2).init(device),
            dense5_2: LinearConfig::new(128, 4).init(device),
        }
    }
}

impl<B: FusedOps> RNet<B> {
    /// `[n, 3, 24, 24]` → (box regression `[n, 4]`, face probability `[n]`).
    pub fn forward(&self, x: Tensor<B, 4>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let x = max_pool(&self.pool1, B::conv_prelu(&self.conv1, x, &self.prelu1));
        let x = max_pool(&self.pool2, B::conv_prelu(&self.conv2, x, &self.prelu2));
        let x = B::conv_prelu(&self.conv3, x, &self.prelu3);
        let x = apply_prelu(&self.prelu4, self.dense4.forward(flatten_whc(x)));
        let prob = softmax(self.dense5_1.forward(x.clone()), 1);
        let n = prob.dims()[0];
        (self.dense5_2.forward(x), prob.slice([0..n, 1..2]).reshape([n]))
    }
}

/// Output network on 48×48 crops, with five landmarks.
#[derive(Module, Debug)]
pub struct ONet<B: Backend> {
    pub conv1: Conv2d<B>,
    pub prelu1: PRelu<B>,
    pub pool1: MaxPool2d,
    pub conv2: Conv2d<B>,
    pub prelu2: PRelu<B>,
    pub pool2: MaxPool2d,
    pub conv3: Conv2d<B>,
    pub prelu3: PRelu<B>,
    pub pool3: MaxPool2d,
    pub conv4: Conv2d<B>,
    pub prelu4: PRelu<B>,
    pub dense5: Linear<B>,
    pub prelu5: PRelu<B>,
    pub dense6_1: Linear<B>,
    pub dense6_2: Linear<B>,
    pub dense6_3: Linear<B>,
}

impl<B: Backend> ONet<B> {
    pub fn new(device: &B::Device) -> Self {
        Self {
            conv1: conv(3, 32, 3, device),
            prelu1: prelu(32, device),
            pool1: pool(3),
            conv2: conv(32, 64, 3, device),
            prelu2: prelu(64, device),
            pool2: pool(3),
            conv3: conv(64, 64, 3, device),
            prelu3: prelu(64, device),
            pool3: pool(2),
            conv4: conv(64, 128, 2, device),
            prelu4: prelu(128, device),
            dense5: LinearConfig::new(1152, 256).init(device),
            prelu5: prelu(256, device),
            dense6_1: LinearConfig::new(256, 2).init(device),
            dense6_2: LinearConfig::new(256, 4).init(device),
            dense6_3: LinearConfig::new(256, 10).init(device),
        }
    }
}

impl<B: FusedOps> ONet<B> {
    /// `[n, 3, 48, 48]` → (box regression `[n, 4]`, landmarks `[n, 10]` (5 x then 5 y), face probability `[n]`).
    pub fn forward(&self, x: Tensor<B, 4>) -> (Tensor<B, 2>, Tensor<B, 2>, Tensor<B, 1>) {
        let x = max_pool(&self.pool1, B::conv_prelu(&self.conv1, x, &self.prelu1));
        let x = max_pool(&self.pool2, B::conv_prelu(&self.conv2, x, &self.prelu2));
        let x = max_pool(&self.pool3, B::conv_prelu(&self.conv3, x, &self.prelu3));
        let x = B::conv_prelu(&self.conv4, x, &self.prelu4);
        let x = apply_prelu(&self.prelu5, self.dense5.forward(flatten_whc(x)));
        let prob = softmax(self.dense6_1.forward(x.clone()), 1);
        let n = prob.dims()[0];
        (self.dense6_2.forward(x.clone()), self.dense6_3.forward(x), prob.slice([0..n, 1..2]).reshape([n]))
    }
}

/// The three networks together; one converted file holds all of them (`pnet.*`, `rnet.*`, `onet.*`).
#[derive(Module, Debug)]
pub struct MtcnnNets<B: Backend> {
    pub pnet: PNet<B>,
    pub rnet: RNet<B>,
    pub onet: ONet<B>,
}

impl<B: Backend> MtcnnNets<B> {
    pub fn new(device: &B::Device) -> Self {
        Self { pnet: PNet::new(device), rnet: RNet::new(device), onet: ONet::new(device) }
    }
}
