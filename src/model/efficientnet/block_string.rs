//! timm's block-string grammar, the way EfficientNet architectures are written down.
//!
//! A stage is one string of `_`-separated options; the first option names the block type:
//!
//! ```text
//! ds_r1_k3_s1_e1_c16_se0.25      depthwise-separable block, 1 repeat, 3×3 kernel, stride 1, 16 channels, SE 0.25
//! ir_r2_k5_s2_e6_c40_se0.25      inverted residual, 2 repeats, 5×5 kernel, stride 2, expansion 6, 40 channels
//! ```
//!
//! | option | meaning | required |
//! |---|---|---|
//! | `ds` / `ir` (first) | block type: depthwise-separable / inverted residual (MBConv) | yes |
//! | `r<N>` | repeats of the block in this stage (before depth scaling) | yes |
//! | `k<N>` | depthwise kernel size (odd) | yes |
//! | `s<N>` | stride of the first block of the stage (1 or 2) | yes |
//! | `e<F>` | expansion ratio of the inverted residual (`ds` requires 1) | no, default 1 |
//! | `c<N>` | output channels (before width scaling) | yes |
//! | `se<F>` | squeeze-excitation ratio, relative to the block's input channels | no |
//! | `noskip` | never use a residual connection | no |
//!
//! Options timm knows but EfficientNet-B0…B7 never use (`a`, `p`, `n`, `d`, `cc`, `fc`, …) are rejected with an
//! error naming them rather than silently ignored.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The two block families of EfficientNet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlockKind {
    /// `ds`: depthwise conv → BN+SiLU → SE → pointwise conv → BN (timm `DepthwiseSeparableConv`).
    DepthwiseSeparable,
    /// `ir`: pointwise expand → BN+SiLU → depthwise → BN+SiLU → SE → pointwise project → BN (timm `InvertedResidual`).
    InvertedResidual,
}

/// One decoded stage string, before width/depth scaling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockSpec {
    pub kind: BlockKind,
    pub repeats: usize,
    pub kernel: usize,
    pub stride: usize,
    pub expand: f64,
    pub out_channels: usize,
    pub se_ratio: Option<f64>,
    pub noskip: bool,
}

/// Why a block string could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("block string `{input}`: {reason}")]
pub struct BlockStringError {
    pub input: String,
    pub reason: String,
}

impl BlockSpec {
    /// Decodes one stage string such as `ir_r2_k3_s2_e6_c24_se0.25`.
    pub fn parse(input: &str) -> Result<Self, BlockStringError> {
        let fail = |reason: String| BlockStringError { input: input.to_string(), reason };
        let mut parts = input.split('_');
        let kind = match parts.next() {
            Some("ds") => BlockKind::DepthwiseSeparable,
            Some("ir") => BlockKind::InvertedResidual,
            Some(other) => return Err(fail(format!("unknown block type `{other}` (expected `ds` or `ir`)"))),
            None => return Err(fail("empty string".into())),
        };
        let (mut repeats, mut kernel, mut stride, mut channels) = (None, None, None, None);
        let mut expand = 1.0;
        let mut se_ratio = None;
        let mut noskip = false;
        for part in parts {
            let int = |digits: &str| -> Result<usize, BlockStringError> {
                digits.parse::<usize>().map_err(|_| fail(format!("option `{part}` needs an integer")))
            };
            let float = |digits: &str| -> Result<f64, BlockStringError> {
                match digits.parse::<f64>() {
                    Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
                    _ => Err(fail(format!("option `{part}` needs a positive number"))),
                }
            };
            // `se` must be tested before the one-letter `s`.
            if let Some(v) = part.strip_prefix("se") {
                se_ratio = Some(float(v)?);
            } else if part == "noskip" {
                noskip = true;
            } else if let Some(v) = part.strip_prefix('r') {
                repeats = Some(int(v)?);
            } else if let Some(v) = part.strip_prefix('k') {
                kernel = Some(int(v)?);
            } else if let Some(v) = part.strip_prefix('s') {
                stride = Some(int(v)?);
            } else if let Some(v) = part.strip_prefix('e') {
                expand = float(v)?;
            } else if let Some(v) = part.strip_prefix('c') {
                channels = Some(int(v)?);
            } else {
                return Err(fail(format!("unsupported option `{part}`")));
            }
        }
        let spec = BlockSpec {
            kind,
            repeats: repeats.ok_or_else(|| fail("missing repeats `r<N>`".into()))?,
            kernel: kernel.ok_or_else(|| fail("missing kernel `k<N>`".into()))?,
            stride: stride.ok_or_else(|| fail("missing stride `s<N>`".into()))?,
            expand,
            out_channels: channels.ok_or_else(|| fail("missing channels `c<N>`".into()))?,
            se_ratio,
            noskip,
        };
        if spec.repeats == 0 || spec.out_channels == 0 {
            return Err(fail("repeats and channels must be at least 1".into()));
        }
        if spec.kernel.is_multiple_of(2) {
            return Err(fail(format!("kernel {} must be odd", spec.kernel)));
        }
        if !(1..=2).contains(&spec.stride) {
            return Err(fail(format!("stride {} must be 1 or 2", spec.stride)));
        }
        if spec.kind == BlockKind::DepthwiseSeparable && spec.expand != 1.0 {
            return Err(fail("a `ds` block has no expansion; use e1".into()));
        }
        Ok(spec)
    }
}

impl fmt::Display for BlockSpec {
    /// Writes the canonical string back, e.g. `ir_r2_k3_s2_e6_c24_se0.25`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            BlockKind::DepthwiseSeparable => "ds",
            BlockKind::InvertedResidual => "ir",
        };
        write!(
            f,
            "{kind}_r{}_k{}_s{}_e{}_c{}",
            self.repeats, self.kernel, self.stride, self.expand, self.out_channels
        )?;
        if let Some(se) = self.se_ratio {
            write!(f, "_se{se}")?;
        }
        if self.noskip {
            write!(f, "_noskip")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_first_b0_stage() {
        let spec = BlockSpec::parse("ds_r1_k3_s1_e1_c16_se0.25").unwrap();
        assert_eq!(
            spec,
            BlockSpec {
                kind: BlockKind::DepthwiseSeparable,
                repeats: 1,
                kernel: 3,
                stride: 1,
                expand: 1.0,
                out_channels: 16,
                se_ratio: Some(0.25),
                noskip: false,
            }
        );
    }

    #[test]
    fn decodes_inverted_residual_with_expansion() {
        let spec = BlockSpec::parse("ir_r4_k5_s2_e6_c192_se0.25").unwrap();
        assert_eq!(spec.kind, BlockKind::InvertedResidual);
        assert_eq!((spec.repeats, spec.kernel, spec.stride, spec.out_channels), (4, 5, 2, 192));
        assert_eq!(spec.expand, 6.0);
    }

    #[test]
    fn round_trips_through_display() {
        for s in ["ds_r1_k3_s1_e1_c16_se0.25", "ir_r3_k3_s2_e6_c80_se0.25", "ir_r1_k3_s1_e6_c320"] {
            assert_eq!(BlockSpec::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn rejects_unknown_options_by_name() {
        let err = BlockSpec::parse("ir_r1_k3_s1_e6_c320_a1").unwrap_err();
        assert!(err.reason.contains("`a1`"), "{err}");
        assert!(BlockSpec::parse("er_r1_k3_s1_e6_c32").is_err());
    }

    #[test]
    fn rejects_missing_and_invalid_fields() {
        assert!(BlockSpec::parse("ir_k3_s1_e6_c32").unwrap_err().reason.contains("repeats"));
        assert!(BlockSpec::parse("ir_r1_k4_s1_e6_c32").unwrap_err().reason.contains("odd"));
        assert!(BlockSpec::parse("ir_r1_k3_s3_e6_c32").unwrap_err().reason.contains("stride"));
        assert!(BlockSpec::parse("ds_r1_k3_s1_e6_c32").is_err());
        assert!(BlockSpec::parse("ir_r1_k3_s1_ex_c32").is_err());
        assert!(BlockSpec::parse("").is_err());
    }
}
