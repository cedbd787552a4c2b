//! Element-wise activations on slices, in place: SiLU through a vectorised exponential, ReLU6, identity.
//!
//! The SIMD exponential is the Cephes `expf` scheme (range reduction by `n·ln 2` in two parts, a degree-5
//! polynomial, `2ⁿ` built in the exponent bits), about 1.6e-7 relative error. SiLU is `x / (1 + exp(−x))` with a
//! true division, the form PyTorch's CPU kernel uses; the scalar level calls the standard library's `exp`.

use super::cpu::Level;

/// The activation that follows a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activation {
    Identity,
    /// `x · sigmoid(x)` (timm's `act_layer` of the EfficientNet-B models).
    Silu,
    /// `min(max(x, 0), 6)` (EfficientNet-Lite).
    Relu6,
}

/// `f32` SiLU as the scalar reference computes it.
#[inline]
pub fn silu_scalar(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// Applies `act` to every value of `x` at `level` (lowered to what the CPU has).
pub fn apply(level: Level, act: Activation, x: &mut [f32]) {
    match act {
        Activation::Identity => {}
        Activation::Relu6 => x.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0)),
        Activation::Silu => silu(level, x),
    }
}

/// SiLU in place.
pub fn silu(level: Level, x: &mut [f32]) {
    match level.supported() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `supported()` returned Avx512 only because the CPU reports AVX-512F.
        Level::Avx512 => unsafe { x86::silu_avx512(x) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `supported()` returned Avx2 only because the CPU reports AVX2 and FMA.
        Level::Avx2 => unsafe { x86::silu_avx2(x) },
        _ => x.iter_mut().for_each(|v| *v = silu_scalar(*v)),
    }
}

/// `exp` in place (exposed so that the polynomial can be tested on its own).
pub fn exp(level: Level, x: &mut [f32]) {
    match level.supported() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `silu`.
        Level::Avx512 => unsafe { x86::exp_avx512(x) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `silu`.
        Level::Avx2 => unsafe { x86::exp_avx2(x) },
        _ => x.iter_mut().for_each(|v| *v = v.exp()),
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use std::arch::x86_64::*;

    // Cephes expf constants. Inputs are clamped to [LO, HI] so that 2ⁿ stays a normal float: exp(88) = 1.65e38,
    // exp(−87.3) = 1.2e−38. SiLU is exact to f32 outside that range anyway (x/(1+huge) ≈ 0, x/(1+tiny) = x).
    const HI: f32 = 88.0;
    const LO: f32 = -87.3;
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const P: [f32; 6] = [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5];

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn exp8(x: __m256) -> __m256 {
        let x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(LO)), _mm256_set1_ps(HI));
        // n = round(x / ln 2) (the current rounding mode is to-nearest).
        let n = _mm256_cvtps_epi32(_mm256_mul_ps(x, _mm256_set1_ps(LOG2E)));
        let nf = _mm256_cvtepi32_ps(n);
        let r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(LN2_HI), x);
        let r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(LN2_LO), r);
        let mut y = _mm256_set1_ps(P[0]);
        for &p in &P[1..] {
            y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(p));
        }
        let y = _mm256_add_ps(_mm256_fmadd_ps(y, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0));
        let pow2n = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n, _mm256_set1_epi32(127))));
        _mm256_mul_ps(y, pow2n)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn silu8(x: __m256) -> __m256 {
        let e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
        _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0), e))
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) fn exp16(x: __m512) -> __m512 {
        let x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(LO)), _mm512_set1_ps(HI));
        let n = _mm512_cvtps_epi32(_mm512_mul_ps(x, _mm512_set1_ps(LOG2E)));
        let nf = _mm512_cvtepi32_ps(n);
        let r = _mm512_fnmadd_ps(nf, _mm512_set1_ps(LN2_HI), x);
        let r = _mm512_fnmadd_ps(nf, _mm512_set1_ps(LN2_LO), r);
        let mut y = _mm512_set1_ps(P[0]);
        for &p in &P[1..] {
            y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(p));
        }
        let y = _mm512_add_ps(_mm512_fmadd_ps(y, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0));
        let pow2n = _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_add_epi32(n, _mm512_set1_epi32(127))));
        _mm512_mul_ps(y, pow2n)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) fn silu16(x: __m512) -> __m512 {
        let e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), x));
        _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0), e))
    }

    /// Runs an 8-lane kernel over a slice; the tail goes through a zero-padded copy.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn map8(x: &mut [f32], f: impl Fn(__m256) -> __m256) {
        let mut chunks = x.chunks_exact_mut(8);
        for c in &mut chunks {
            // SAFETY: `c` holds exactly 8 floats.
            unsafe { _mm256_storeu_ps(c.as_mut_ptr(), f(_mm256_loadu_ps(c.as_ptr()))) };
        }
        let tail = chunks.into_remainder();
        if !tail.is_empty() {
            let mut buf = [0f32; 8];
            buf[..tail.len()].copy_from_slice(tail);
            // SAFETY: `buf` holds exactly 8 floats.
            unsafe { _mm256_storeu_ps(buf.as_mut_ptr(), f(_mm256_loadu_ps(buf.as_ptr()))) };
            tail.copy_from_slice(&buf[..tail.len()]);
        }
    }

    /// Runs a 16-lane kernel over a slice; the tail uses masked loads and stores.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn map16(x: &mut [f32], f: impl Fn(__m512) -> __m512) {
        let mut chunks = x.chunks_exact_mut(16);
        for c in &mut chunks {
            // SAFETY: `c` holds exactly 16 floats.
            unsafe { _mm512_storeu_ps(c.as_mut_ptr(), f(_mm512_loadu_ps(c.as_ptr()))) };
        }
        let tail = chunks.into_remainder();
        if !tail.is_empty() {
            let mask: __mmask16 = (1u32 << tail.len()) as u16 - 1;
            // SAFETY: the mask covers only the `tail.len()` < 16 floats of `tail`.
            unsafe {
                let v = _mm512_maskz_loadu_ps(mask, tail.as_ptr());
                _mm512_mask_storeu_ps(tail.as_mut_ptr(), mask, f(v));
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn silu_avx2(x: &mut [f32]) {
        map8(x, |v| silu8(v))
    }

    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn exp_avx2(x: &mut [f32]) {
        map8(x, |v| exp8(v))
    }

    #[target_feature(enable = "avx512f")]
    pub(crate) fn silu_avx512(x: &mut [f32]) {
        map16(x, |v| silu16(v))
    }

    #[target_feature(enable = "avx512f")]
    pub(crate) fn exp_avx512(x: &mut [f32]) {
        map16(x, |v| exp16(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu6_clamps_to_zero_and_six() {
        let mut x = [-1.0, 0.5, 7.0, 6.0];
        apply(Level::Scalar, Activation::Relu6, &mut x);
        assert_eq!(x, [0.0, 0.5, 6.0, 6.0]);
    }

    #[test]
    fn silu_of_hand_values_on_every_level() {
        for level in Level::available() {
            let mut x = [0.0, 1.0, -1.0, 100.0, -100.0];
            silu(level, &mut x);
            let want = [0.0, 0.731_058_6, -0.268_941_4, 100.0, 0.0];
            for (g, w) in x.iter().zip(want) {
                assert!((g - w).abs() < 1e-6, "{level:?}: {g} vs {w}");
            }
        }
    }
}
