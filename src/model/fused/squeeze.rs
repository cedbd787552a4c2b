//! The squeeze-excite gate from pooled channel means: `sigmoid(W_e · act(W_r · mean + b_r) + b_e)`.
//!
//! The two small fully connected layers are `gemm` calls with the bias pre-filled; the gate is then folded into
//! the following 1×1 convolution (see `pointwise`), so the feature map itself is never rescaled.

use super::activation::{self, Activation};
use super::cpu::Level;

/// Weights of timm's `SqueezeExcite` as plain slices: `reduce` `[reduced, channels]`, `expand`
/// `[channels, reduced]`.
#[derive(Debug, Clone, Copy)]
pub struct SqueezeWeights<'a> {
    pub channels: usize,
    pub reduced: usize,
    pub reduce: &'a [f32],
    pub reduce_bias: &'a [f32],
    pub expand: &'a [f32],
    pub expand_bias: &'a [f32],
}

/// `y[batch, rows] = x[batch, cols] · Wᵀ + bias` with `W` `[rows, cols]`.
fn dense(x: &[f32], batch: usize, cols: usize, w: &[f32], bias: &[f32], rows: usize) -> Vec<f32> {
    assert_eq!(x.len(), batch * cols, "squeeze: input length");
    assert_eq!(w.len(), rows * cols, "squeeze: weight length");
    assert_eq!(bias.len(), rows, "squeeze: bias length");
    let mut y: Vec<f32> = (0..batch).flat_map(|_| bias.iter().copied()).collect();
    if cols > 0 && rows > 0 && batch > 0 {
        // SAFETY: dst is batch×rows (row stride rows), lhs batch×cols (row stride cols), rhs = Wᵀ, a cols×rows
        // view of W (element (i, j) at j·cols + i); all three lengths are checked above.
        unsafe {
            gemm::gemm(
                batch,
                rows,
                cols,
                y.as_mut_ptr(),
                1,
                rows as isize,
                true,
                x.as_ptr(),
                1,
                cols as isize,
                w.as_ptr(),
                cols as isize,
                1,
                1.0f32,
                1.0f32,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
    y
}

/// The gate `[batch, channels]` from the means `[batch, channels]`; `act` is the block's activation.
pub fn squeeze_gate(level: Level, means: &[f32], batch: usize, se: &SqueezeWeights<'_>, act: Activation) -> Vec<f32> {
    let mut hidden = dense(means, batch, se.channels, se.reduce, se.reduce_bias, se.reduced);
    activation::apply(level, act, &mut hidden);
    let mut gate = dense(&hidden, batch, se.reduced, se.expand, se.expand_bias, se.channels);
    // sigmoid(z) = 1 / (1 + exp(−z)); a few thousand values per block, so the scalar form is fine here.
    gate.iter_mut().for_each(|z| *z = 1.0 / (1.0 + (-*z).exp()));
    gate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_weights_give_the_sigmoid_of_the_expand_bias() {
        let se = SqueezeWeights {
            channels: 3,
            reduced: 2,
            reduce: &[0.0; 6],
            reduce_bias: &[1.0, -1.0],
            expand: &[0.0; 6],
            expand_bias: &[0.0, 2.0, -2.0],
        };
        let g = squeeze_gate(Level::Scalar, &[5.0, 6.0, 7.0, 1.0, 2.0, 3.0], 2, &se, Activation::Silu);
        let s = |z: f32| 1.0 / (1.0 + (-z).exp());
        assert_eq!(g, vec![s(0.0), s(2.0), s(-2.0), s(0.0), s(2.0), s(-2.0)]);
    }
}
