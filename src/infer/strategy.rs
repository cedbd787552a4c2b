//! The DFDC solution's "confident" rule for turning per-face fake probabilities into one video score, and the
//! mean over models (dfdc-solution.md §5.5, §9 item 14), with numpy's float semantics.
//!
//! With t = 0.8 and n faces: if more than ⌊n / 2.5⌋ faces *and* more than 11 are above t, the mean of those;
//! else if more than 0.9·n are below 0.2, the mean of those; else the mean of all. numpy compares a Python float
//! threshold in the array's dtype (so 0.8 is 0.7998 in float16) and takes means with pairwise summation,
//! accumulating float16 in float32; both are reproduced here for f32 and f16 predictions.

use half::f16;

const FAKE_THRESHOLD: f64 = 0.8;
const REAL_THRESHOLD: f64 = 0.2;

/// Prediction dtypes the rule is defined for.
pub trait Prob: Copy + PartialOrd {
    fn from_f64(v: f64) -> Self;
    fn to_f32(self) -> f32;
    fn from_f32(v: f32) -> Self;
}

impl Prob for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_f32(self) -> f32 {
        self
    }
    fn from_f32(v: f32) -> Self {
        v
    }
}

impl Prob for f16 {
    fn from_f64(v: f64) -> Self {
        f16::from_f64(v)
    }
    fn to_f32(self) -> f32 {
        self.to_f32()
    }
    fn from_f32(v: f32) -> Self {
        f16::from_f32(v)
    }
}

/// numpy's `pairwise_sum` for float32 (used by `np.mean`; float16 is summed in float32 too).
fn pairwise_sum(a: &[f32]) -> f32 {
    const BLOCK: usize = 128;
    let n = a.len();
    if n < 8 {
        let mut res = 0.0f32;
        for &v in a {
            res += v;
        }
        res
    } else if n <= BLOCK {
        let mut r = [0f32; 8];
        r.copy_from_slice(&a[..8]);
        let whole = n - n % 8;
        for chunk in a[8..whole].chunks_exact(8) {
            for (acc, &v) in r.iter_mut().zip(chunk) {
                *acc += v;
            }
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &a[whole..] {
            res += v;
        }
        res
    } else {
        let mut half = n / 2;
        half -= half % 8;
        pairwise_sum(&a[..half]) + pairwise_sum(&a[half..])
    }
}

/// `np.mean` of an array of `P`: the sum in f32, divided by the count in f32, rounded to `P`.
pub fn numpy_mean<P: Prob>(values: &[P]) -> P {
    let as_f32: Vec<f32> = values.iter().map(|v| v.to_f32()).collect();
    P::from_f32(pairwise_sum(&as_f32) / values.len() as f32)
}

/// `confident_strategy(pred, t=0.8)`. `None` for no predictions (the original's mean of nothing is NaN).
pub fn confident_strategy<P: Prob>(pred: &[P]) -> Option<P> {
    if pred.is_empty() {
        return None;
    }
    let t = P::from_f64(FAKE_THRESHOLD);
    let low = P::from_f64(REAL_THRESHOLD);
    let n = pred.len();
    let fakes: Vec<P> = pred.iter().copied().filter(|&p| p > t).collect();
    // `sz // 2.5` is float floor division; `0.9 * sz` a float product.
    if fakes.len() as f64 > (n as f64 / 2.5).floor() && fakes.len() > 11 {
        return Some(numpy_mean(&fakes));
    }
    let reals: Vec<P> = pred.iter().copied().filter(|&p| p < low).collect();
    if reals.len() as f64 > 0.9 * n as f64 {
        return Some(numpy_mean(&reals));
    }
    Some(numpy_mean(pred))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_twelve_confident_fakes_of_32_take_their_mean() {
        // 32 faces: 12 > ⌊32/2.5⌋ = 12 is false, 13 is enough.
        let mut p = vec![0.9f32; 12];
        p.extend([0.5; 20]);
        assert!((confident_strategy(&p).unwrap() - (12.0 * 0.9 + 20.0 * 0.5) / 32.0).abs() < 1e-6);
        let mut p = vec![0.9f32; 13];
        p.extend([0.5; 19]);
        assert!((confident_strategy(&p).unwrap() - 0.9).abs() < 1e-6);
    }

    #[test]
    fn few_faces_never_take_the_fake_branch() {
        // n < 12: at most n fakes, never more than 11.
        let p = [0.99f32; 11];
        assert_eq!(confident_strategy(&p), Some(numpy_mean(&p)));
    }

    #[test]
    fn mostly_real_takes_the_mean_of_the_reals() {
        let mut p = vec![0.1f32; 29];
        p.extend([0.5; 3]); // 29 > 28.8
        assert!((confident_strategy(&p).unwrap() - 0.1).abs() < 1e-6);
        let mut p = vec![0.1f32; 28];
        p.extend([0.5; 4]); // 28 is not > 28.8
        assert!((confident_strategy(&p).unwrap() - (28.0 * 0.1 + 2.0) / 32.0).abs() < 1e-6);
    }

    #[test]
    fn float16_threshold_is_0_7998() {
        // 0.80001 is above 0.8 in float32, but in float16 it rounds to 0.7998, which equals float16(0.8): with 13
        // of 20 faces there, float32 takes the fake branch and float16 the plain mean.
        let mut p32 = vec![0.80001f32; 13];
        p32.extend([0.5; 7]);
        let p16: Vec<f16> = p32.iter().map(|&v| f16::from_f32(v)).collect();
        assert!((confident_strategy(&p32).unwrap() - 0.80001).abs() < 1e-6);
        assert_eq!(f16::from_f32(0.80001), f16::from_f64(0.8));
        assert_eq!(confident_strategy(&p16), Some(numpy_mean(&p16)));
        assert!((confident_strategy(&p16).unwrap().to_f32() - (13.0 * 0.7998 + 3.5) / 20.0).abs() < 1e-3);
    }

    #[test]
    fn no_predictions_give_no_score() {
        assert_eq!(confident_strategy::<f32>(&[]), None);
    }
}
