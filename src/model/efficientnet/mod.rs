//! EfficientNet as timm builds its `tf_efficientnet_*` models, described as data.
//!
//! One builder serves B0…B7 and any custom multipliers: a list of stage strings (see [`block_string`]) scaled by a
//! width and a depth multiplier, exactly as timm's `_gen_efficientnet` + `EfficientNetBuilder` do. The `_ns`
//! (Noisy Student) names are aliases of the same graph with other weights.

pub mod block_string;
pub mod blocks;
mod inference;

use burn::nn::conv::Conv2d;
use burn::nn::BatchNorm;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

pub use block_string::{BlockKind, BlockSpec, BlockStringError};
use blocks::{
    batch_norm, conv_bn, fold_bn, same_conv, silu, Block, DepthwiseSeparable, InvertedResidual, SqueezeExcite,
};

/// EfficientNet-B0's seven stages (timm `_gen_efficientnet` `arch_def`); every B-model scales these.
pub const B0_STAGES: [&str; 7] = [
    "ds_r1_k3_s1_e1_c16_se0.25",
    "ir_r2_k3_s2_e6_c24_se0.25",
    "ir_r2_k5_s2_e6_c40_se0.25",
    "ir_r3_k3_s2_e6_c80_se0.25",
    "ir_r3_k5_s1_e6_c112_se0.25",
    "ir_r4_k5_s2_e6_c192_se0.25",
    "ir_r1_k3_s1_e6_c320_se0.25",
];

/// (width, depth) multipliers of B0…B7 (timm `tf_efficientnet_b*`).
const B_MULTIPLIERS: [(f64, f64); 8] =
    [(1.0, 1.0), (1.0, 1.1), (1.1, 1.2), (1.2, 1.4), (1.4, 1.8), (1.6, 2.2), (1.8, 2.6), (2.0, 3.1)];

/// Native input size of B0…B7 (timm's pretrained configs); the DFDC solution ran B7 at 380.
const B_INPUT_SIZES: [usize; 8] = [224, 240, 260, 300, 380, 456, 528, 600];

/// The complete description of an EfficientNet encoder; stored in converted model files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EfficientNetConfig {
    /// `tf_efficientnet_b7` for the named models, anything for custom ones.
    pub name: String,
    /// One block string per stage, before scaling.
    pub stages: Vec<String>,
    pub width_multiplier: f64,
    pub depth_multiplier: f64,
    pub channel_divisor: usize,
    /// Stem width before width scaling (32 in every EfficientNet).
    pub stem_size: usize,
    /// Head width before width scaling (1280 in every EfficientNet).
    pub num_features: usize,
    pub bn_eps: f64,
    /// Stochastic-depth rate of the last block (timm `drop_path_rate`; the DFDC B7 used 0.2). Training only.
    pub drop_path_rate: f64,
}

/// Why an architecture could not be named or built.
#[derive(Debug, thiserror::Error)]
pub enum ArchError {
    #[error("unknown architecture `{0}`; known: tf_efficientnet_b0 … tf_efficientnet_b7 (optionally with _ns)")]
    Unknown(String),
    #[error(transparent)]
    BlockString(#[from] BlockStringError),
    #[error("architecture `{name}`: {reason}")]
    Invalid { name: String, reason: String },
}

/// timm `make_divisible`: round `v` to a multiple of `divisor`, never going more than 10 % below `v`.
pub fn make_divisible(v: f64, divisor: usize) -> usize {
    let d = divisor as f64;
    let mut new_v = (((v + d / 2.0) as i64) / divisor as i64 * divisor as i64).max(divisor as i64) as usize;
    if (new_v as f64) < 0.9 * v {
        new_v += divisor;
    }
    new_v
}

/// One block after scaling: what the builder instantiates.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaledBlock {
    pub stage: usize,
    pub index: usize,
    pub kind: BlockKind,
    pub in_channels: usize,
    pub mid_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub se_channels: Option<usize>,
    pub has_skip: bool,
    pub drop_path_rate: f64,
}

impl EfficientNetConfig {
    /// `tf_efficientnet_b0` … `tf_efficientnet_b7`; a trailing `_ns` (Noisy Student weights) is accepted.
    pub fn named(name: &str) -> Result<Self, ArchError> {
        let base = name.strip_suffix("_ns").unwrap_or(name);
        let index = base
            .strip_prefix("tf_efficientnet_b")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n < B_MULTIPLIERS.len())
            .ok_or_else(|| ArchError::Unknown(name.to_string()))?;
        let (width, depth) = B_MULTIPLIERS[index];
        Ok(Self {
            name: base.to_string(),
            stages: B0_STAGES.iter().map(|s| s.to_string()).collect(),
            width_multiplier: width,
            depth_multiplier: depth,
            channel_divisor: 8,
            stem_size: 32,
            num_features: 1280,
            bn_eps: 1e-3,
            drop_path_rate: 0.2,
        })
    }

    /// All named architectures, smallest first.
    pub fn all_named() -> Vec<Self> {
        (0..B_MULTIPLIERS.len()).map(|i| Self::named(&format!("tf_efficientnet_b{i}")).expect("known name")).collect()
    }

    /// The input size the named model was trained at, if this is a named model.
    pub fn native_input_size(&self) -> Option<usize> {
        let index: usize = self.name.strip_prefix("tf_efficientnet_b")?.parse().ok()?;
        B_INPUT_SIZES.get(index).copied()
    }

    /// timm `round_channels` with this model's multiplier and divisor.
    pub fn round_channels(&self, channels: usize) -> usize {
        make_divisible(channels as f64 * self.width_multiplier, self.channel_divisor)
    }

    pub fn stem_channels(&self) -> usize {
        self.round_channels(self.stem_size)
    }

    pub fn head_channels(&self) -> usize {
        self.round_channels(self.num_features)
    }

    /// Decodes and scales every stage: timm `decode_arch_def` (depth, `ceil`) and `EfficientNetBuilder` (width,
    /// SE width, skip, drop-path schedule).
    pub fn scaled_blocks(&self) -> Result<Vec<ScaledBlock>, ArchError> {
        let invalid = |reason: String| ArchError::Invalid { name: self.name.clone(), reason };
        if self.stages.is_empty() {
            return Err(invalid("no stages".into()));
        }
        if !(self.width_multiplier > 0.0 && self.depth_multiplier > 0.0 && self.channel_divisor > 0) {
            return Err(invalid("multipliers and divisor must be positive".into()));
        }
        let specs = self.stages.iter().map(|s| BlockSpec::parse(s)).collect::<Result<Vec<_>, _>>()?;
        // With one block string per stage, timm's `_scale_stage_depth` reduces to ceil(repeats × depth).
        let repeats: Vec<usize> =
            specs.iter().map(|s| ((s.repeats as f64 * self.depth_multiplier).ceil() as usize).max(1)).collect();
        let total: usize = repeats.iter().sum();
        let mut in_channels = self.stem_channels();
        let mut out = Vec::with_capacity(total);
        for (stage, (spec, &n)) in specs.iter().zip(&repeats).enumerate() {
            let out_channels = self.round_channels(spec.out_channels);
            for index in 0..n {
                let stride = if index == 0 { spec.stride } else { 1 };
                let mid_channels = match spec.kind {
                    BlockKind::DepthwiseSeparable => in_channels,
                    // timm `InvertedResidual`: make_divisible(in × exp_ratio) with its default divisor 8.
                    BlockKind::InvertedResidual => make_divisible(in_channels as f64 * spec.expand, 8),
                };
                // timm: se_ratio /= exp_ratio (SE width from the block input), then round(mid × ratio), and
                // Python's round is round-half-to-even.
                let se_channels = spec.se_ratio.map(|r| {
                    let ratio = r / spec.expand;
                    ((mid_channels as f64 * ratio).round_ties_even() as usize).max(1)
                });
                out.push(ScaledBlock {
                    stage,
                    index,
                    kind: spec.kind,
                    in_channels,
                    mid_channels,
                    out_channels,
                    kernel: spec.kernel,
                    stride,
                    se_channels,
                    has_skip: stride == 1 && in_channels == out_channels && !spec.noskip,
                    drop_path_rate: self.drop_path_rate * out.len() as f64 / total as f64,
                });
                in_channels = out_channels;
            }
        }
        Ok(out)
    }

    /// Builds the encoder with freshly initialised weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<EfficientNet<B>, ArchError> {
        let scaled = self.scaled_blocks()?;
        let stem = self.stem_channels();
        let mut blocks: Vec<Vec<Block<B>>> = Vec::new();
        for b in &scaled {
            if b.stage == blocks.len() {
                blocks.push(Vec::new());
            }
            let se = b.se_channels.map(|rd| SqueezeExcite::new(b.mid_channels, rd, device));
            let eps = self.bn_eps;
            let block = match b.kind {
                BlockKind::DepthwiseSeparable => Block::Ds(DepthwiseSeparable {
                    conv_dw: same_conv(
                        [b.in_channels, b.in_channels],
                        b.kernel,
                        b.stride,
                        b.in_channels,
                        false,
                        device,
                    ),
                    bn1: batch_norm(b.in_channels, eps, device),
                    se,
                    conv_pw: same_conv([b.in_channels, b.out_channels], 1, 1, 1, false, device),
                    bn2: batch_norm(b.out_channels, eps, device),
                    has_skip: b.has_skip,
                    drop_path_rate: b.drop_path_rate,
                    folded: false,
                }),
                BlockKind::InvertedResidual => Block::Ir(InvertedResidual {
                    conv_pw: same_conv([b.in_channels, b.mid_channels], 1, 1, 1, false, device),
                    bn1: batch_norm(b.mid_channels, eps, device),
                    conv_dw: same_conv(
                        [b.mid_channels, b.mid_channels],
                        b.kernel,
                        b.stride,
                        b.mid_channels,
                        false,
                        device,
                    ),
                    bn2: batch_norm(b.mid_channels, eps, device),
                    se,
                    conv_pwl: same_conv([b.mid_channels, b.out_channels], 1, 1, 1, false, device),
                    bn3: batch_norm(b.out_channels, eps, device),
                    has_skip: b.has_skip,
                    drop_path_rate: b.drop_path_rate,
                    folded: false,
                }),
            };
            blocks[b.stage].push(block);
        }
        let last = scaled.last().map(|b| b.out_channels).unwrap_or(stem);
        let head = self.head_channels();
        Ok(EfficientNet {
            conv_stem: same_conv([3, stem], 3, 2, 1, false, device),
            bn1: batch_norm(stem, self.bn_eps, device),
            blocks,
            conv_head: same_conv([last, head], 1, 1, 1, false, device),
            bn2: batch_norm(head, self.bn_eps, device),
            folded: false,
        })
    }
}

/// The encoder: timm's `EfficientNet.forward_features` (stem, blocks, head conv), without the classifier.
#[derive(Module, Debug)]
pub struct EfficientNet<B: Backend> {
    pub conv_stem: Conv2d<B>,
    pub bn1: BatchNorm<B>,
    pub blocks: Vec<Vec<Block<B>>>,
    pub conv_head: Conv2d<B>,
    pub bn2: BatchNorm<B>,
    pub folded: bool,
}

impl<B: Backend> EfficientNet<B> {
    /// `[n, 3, h, w] -> [n, head_channels, ⌈h/32⌉, ⌈w/32⌉]` (B7 at 380: `[n, 2560, 12, 12]`).
    pub fn forward_features(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut x = silu(conv_bn(&self.conv_stem, &self.bn1, self.folded, x));
        for stage in &self.blocks {
            for block in stage {
                x = block.forward(x);
            }
        }
        silu(conv_bn(&self.conv_head, &self.bn2, self.folded, x))
    }

    /// Global average pool of the features: `[n, 3, h, w] -> [n, head_channels]`.
    pub fn forward_pooled(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let f = self.forward_features(x);
        let [n, c, _, _] = f.dims();
        f.mean_dim(3).mean_dim(2).reshape([n, c])
    }

    /// Folds every BatchNorm into its convolution for inference. The result must not be saved or trained.
    pub fn fold_batchnorm(self) -> Self {
        if self.folded {
            return self;
        }
        Self {
            conv_stem: fold_bn(self.conv_stem, &self.bn1),
            blocks: self.blocks.into_iter().map(|s| s.into_iter().map(Block::fold_batchnorm).collect()).collect(),
            conv_head: fold_bn(self.conv_head, &self.bn2),
            folded: true,
            ..self
        }
    }

    /// Output channels of the feature map.
    pub fn num_features(&self) -> usize {
        self.conv_head.weight.dims()[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_divisible_matches_timm_rounding() {
        // timm: max(8, int(v + 4) // 8 * 8), +8 if that lost more than 10 %.
        assert_eq!(make_divisible(32.0 * 2.0, 8), 64);
        assert_eq!(make_divisible(16.0 * 2.0, 8), 32);
        assert_eq!(make_divisible(24.0 * 1.1, 8), 24); // 26.4 -> 24 (not below 0.9 × 26.4)
        assert_eq!(make_divisible(40.0 * 1.1, 8), 48); // 44 -> int(48)//8*8 = 48
        assert_eq!(make_divisible(3.0, 8), 8); // never below the divisor
        assert_eq!(make_divisible(1280.0 * 0.125, 4), 160);
    }

    #[test]
    fn b7_has_55_blocks_in_the_documented_stages() {
        let blocks = EfficientNetConfig::named("tf_efficientnet_b7_ns").unwrap().scaled_blocks().unwrap();
        let mut per_stage = [0usize; 7];
        for b in &blocks {
            per_stage[b.stage] += 1;
        }
        assert_eq!(per_stage, [4, 7, 7, 10, 10, 13, 4]);
        let first_of = |s: usize| blocks.iter().find(|b| b.stage == s).unwrap();
        // dfdc-solution.md §2.2 stage table: in→out, mid, SE widths.
        assert_eq!((first_of(0).in_channels, first_of(0).out_channels, first_of(0).se_channels), (64, 32, Some(16)));
        assert_eq!((first_of(1).mid_channels, first_of(1).se_channels), (192, Some(8)));
        assert_eq!((first_of(6).in_channels, first_of(6).out_channels), (384, 640));
        let last = blocks.last().unwrap();
        assert_eq!((last.mid_channels, last.se_channels), (3840, Some(160)));
        assert!(blocks[1].has_skip && !blocks[0].has_skip);
        assert!((last.drop_path_rate - 0.2 * 54.0 / 55.0).abs() < 1e-12);
    }

    #[test]
    fn unknown_names_are_refused() {
        assert!(EfficientNetConfig::named("tf_efficientnet_b8").is_err());
        assert!(EfficientNetConfig::named("resnet50").is_err());
    }
}
