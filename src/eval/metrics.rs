//! Binary-classification metrics with scikit-learn's exact definitions (ties, thresholds, the order of sums), so
//! that our numbers equal what `sklearn.metrics` prints for the same vectors.
//!
//! Hand-written on purpose: no maintained Rust crate reproduces scikit-learn's tie handling in `roc_curve` /
//! `average_precision_score`, and the EER follows DeepfakeBench's `get_test_metrics`, which builds on them.
//! Labels are `true` = fake (the positive class), scores are fake probabilities.

/// Kaggle's DFDC scoring clipped every probability to `[1e-15, 1 − 1e-15]` before the log.
pub const LOG_LOSS_EPS: f64 = 1e-15;

/// Why metrics cannot be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    #[error("no labelled videos with a score: nothing to evaluate")]
    Empty,
    #[error("all {n} labelled videos are {class}: ROC AUC, AP and EER need both REAL and FAKE videos")]
    SingleClass { n: usize, class: &'static str },
    #[error("{len_labels} labels but {len_scores} scores")]
    Length { len_labels: usize, len_scores: usize },
    #[error("score {value} at position {index} is not a number in [0, 1]")]
    BadScore { index: usize, value: f64 },
}

/// Checks that `labels` and `scores` can be evaluated: same length, not empty, both classes, finite scores.
pub fn check(labels: &[bool], scores: &[f64]) -> Result<(), MetricError> {
    if labels.len() != scores.len() {
        return Err(MetricError::Length { len_labels: labels.len(), len_scores: scores.len() });
    }
    if labels.is_empty() {
        return Err(MetricError::Empty);
    }
    if let Some((index, &value)) = scores.iter().enumerate().find(|(_, s)| !s.is_finite()) {
        return Err(MetricError::BadScore { index, value });
    }
    let fakes = labels.iter().filter(|&&l| l).count();
    if fakes == 0 {
        return Err(MetricError::SingleClass { n: labels.len(), class: "REAL" });
    }
    if fakes == labels.len() {
        return Err(MetricError::SingleClass { n: labels.len(), class: "FAKE" });
    }
    Ok(())
}

/// Mean binary cross-entropy with the probabilities clipped to `[eps, 1 − eps]` (Kaggle's DFDC metric with
/// `eps` = [`LOG_LOSS_EPS`]; `sklearn.metrics.log_loss` on the clipped vector).
pub fn log_loss(labels: &[bool], scores: &[f64], eps: f64) -> f64 {
    let total: f64 = labels
        .iter()
        .zip(scores)
        .map(|(&fake, &p)| {
            let p = p.clamp(eps, 1.0 - eps);
            if fake {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum();
    total / labels.len() as f64
}

/// Cumulative counts at each distinct score, highest first: scikit-learn's `_binary_clf_curve`.
struct ClfCurve {
    /// False positives with score ≥ `thresholds[i]`.
    fps: Vec<f64>,
    /// True positives with score ≥ `thresholds[i]`.
    tps: Vec<f64>,
    thresholds: Vec<f64>,
}

fn binary_clf_curve(labels: &[bool], scores: &[f64]) -> ClfCurve {
    // Descending score; the order inside a tie does not matter because only the last index of each run counts.
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut fps, mut tps, mut thresholds) = (Vec::new(), Vec::new(), Vec::new());
    let mut tp = 0.0;
    for (k, &i) in order.iter().enumerate() {
        if labels[i] {
            tp += 1.0;
        }
        let last_of_run = k + 1 == order.len() || scores[order[k + 1]] != scores[i];
        if last_of_run {
            tps.push(tp);
            fps.push((k + 1) as f64 - tp);
            thresholds.push(scores[i]);
        }
    }
    ClfCurve { fps, tps, thresholds }
}

/// A ROC curve as `sklearn.metrics.roc_curve(y, s)` returns it (`drop_intermediate=True`): points from (0, 0),
/// whose threshold is +∞, to (1, 1), at thresholds in decreasing order; a score ≥ threshold counts as fake.
#[derive(Debug, Clone, PartialEq)]
pub struct RocCurve {
    pub fpr: Vec<f64>,
    pub tpr: Vec<f64>,
    pub thresholds: Vec<f64>,
}

/// `sklearn.metrics.roc_curve`; `labels` must hold both classes (see [`check`]).
pub fn roc_curve(labels: &[bool], scores: &[f64]) -> RocCurve {
    let c = binary_clf_curve(labels, scores);
    // drop_intermediate: keep the ends and every point where the curve bends (second differences non-zero).
    let n = c.fps.len();
    let keep: Vec<usize> = (0..n)
        .filter(|&i| {
            i == 0
                || i + 1 == n
                || (c.fps[i + 1] - 2.0 * c.fps[i] + c.fps[i - 1]) != 0.0
                || (c.tps[i + 1] - 2.0 * c.tps[i] + c.tps[i - 1]) != 0.0
        })
        .collect();
    let (fp_total, tp_total) = (c.fps[n - 1], c.tps[n - 1]);
    let mut curve = RocCurve { fpr: vec![0.0], tpr: vec![0.0], thresholds: vec![f64::INFINITY] };
    for i in keep {
        curve.fpr.push(c.fps[i] / fp_total);
        curve.tpr.push(c.tps[i] / tp_total);
        curve.thresholds.push(c.thresholds[i]);
    }
    curve
}

/// Trapezoidal area under a curve whose x is monotonic (`sklearn.metrics.auc`).
fn trapezoid(x: &[f64], y: &[f64]) -> f64 {
    x.windows(2).zip(y.windows(2)).map(|(x, y)| (x[1] - x[0]) * (y[1] + y[0]) / 2.0).sum()
}

/// `sklearn.metrics.roc_auc_score` for binary labels.
pub fn roc_auc(labels: &[bool], scores: &[f64]) -> f64 {
    let roc = roc_curve(labels, scores);
    trapezoid(&roc.fpr, &roc.tpr)
}

/// A precision-recall curve as `sklearn.metrics.precision_recall_curve` returns it: thresholds increasing, and a
/// last point (recall 0, precision 1) without a threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct PrCurve {
    pub precision: Vec<f64>,
    pub recall: Vec<f64>,
    pub thresholds: Vec<f64>,
}

/// `sklearn.metrics.precision_recall_curve`; `labels` must hold at least one fake.
pub fn precision_recall_curve(labels: &[bool], scores: &[f64]) -> PrCurve {
    let c = binary_clf_curve(labels, scores);
    let tp_total = *c.tps.last().expect("non-empty input");
    let mut precision: Vec<f64> =
        c.tps.iter().zip(&c.fps).map(|(&tp, &fp)| if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 }).collect();
    let mut recall: Vec<f64> = c.tps.iter().map(|&tp| tp / tp_total).collect();
    let mut thresholds = c.thresholds;
    precision.reverse();
    recall.reverse();
    thresholds.reverse();
    precision.push(1.0);
    recall.push(0.0);
    PrCurve { precision, recall, thresholds }
}

/// `sklearn.metrics.average_precision_score`: Σₙ (Rₙ − Rₙ₋₁) Pₙ over the thresholds, a step function, not the
/// trapezoid.
pub fn average_precision(labels: &[bool], scores: &[f64]) -> f64 {
    let pr = precision_recall_curve(labels, scores);
    // -np.sum(np.diff(recall) * np.array(precision)[:-1])
    // max(0, -np.sum(np.diff(recall) * precision[:-1])): rounding can give -0.0.
    (-pr.recall.windows(2).zip(&pr.precision).map(|(r, &p)| (r[1] - r[0]) * p).sum::<f64>()).max(0.0)
}

/// The equal error rate as DeepfakeBench's `get_test_metrics` computes it: on `roc_curve`, the first point where
/// |FNR − FPR| is smallest; its FPR is the EER. Returns `(eer, threshold)`; the threshold is +∞ when that point
/// is the curve's start (nothing called fake).
pub fn eer(labels: &[bool], scores: &[f64]) -> (f64, f64) {
    let roc = roc_curve(labels, scores);
    let mut best = 0;
    let mut best_gap = f64::INFINITY;
    for i in 0..roc.fpr.len() {
        let gap = ((1.0 - roc.tpr[i]) - roc.fpr[i]).abs();
        // Strictly smaller: np.nanargmin returns the first of equal minima.
        if gap < best_gap {
            best_gap = gap;
            best = i;
        }
    }
    (roc.fpr[best], roc.thresholds[best])
}

/// Decisions at a threshold, and the two accuracies of them.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Decisions {
    pub threshold: f64,
    /// (correct) / n (`sklearn.metrics.accuracy_score`).
    pub accuracy: f64,
    /// Mean of the recall of each class (`sklearn.metrics.balanced_accuracy_score`).
    pub balanced_accuracy: f64,
    pub true_fake: usize,
    pub false_fake: usize,
    pub true_real: usize,
    pub false_real: usize,
}

/// Accuracies when a video is called fake if `fake(score)`.
pub fn decisions(labels: &[bool], scores: &[f64], threshold: f64, fake: impl Fn(f64) -> bool) -> Decisions {
    let (mut tp, mut fp, mut tn, mut fn_) = (0, 0, 0, 0);
    for (&l, &s) in labels.iter().zip(scores) {
        match (l, fake(s)) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (false, false) => tn += 1,
            (true, false) => fn_ += 1,
        }
    }
    let n = labels.len() as f64;
    let recall_fake = tp as f64 / (tp + fn_) as f64;
    let recall_real = tn as f64 / (tn + fp) as f64;
    Decisions {
        threshold,
        accuracy: (tp + tn) as f64 / n,
        balanced_accuracy: (recall_fake + recall_real) / 2.0,
        true_fake: tp,
        false_fake: fp,
        true_real: tn,
        false_real: fn_,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_inverted_rankings() {
        let labels = [false, false, true, true];
        assert_eq!(roc_auc(&labels, &[0.1, 0.2, 0.8, 0.9]), 1.0);
        assert_eq!(roc_auc(&labels, &[0.9, 0.8, 0.2, 0.1]), 0.0);
        assert_eq!(average_precision(&labels, &[0.1, 0.2, 0.8, 0.9]), 1.0);
        assert_eq!(eer(&labels, &[0.1, 0.2, 0.8, 0.9]), (0.0, 0.8));
    }

    #[test]
    fn all_tied_scores_give_half_auc() {
        // One ROC segment from (0,0) to (1,1); AP is the positive rate.
        let labels = [false, true, true, false, true];
        assert_eq!(roc_auc(&labels, &[0.5; 5]), 0.5);
        assert!((average_precision(&labels, &[0.5; 5]) - 0.6).abs() < 1e-15);
    }

    #[test]
    fn log_loss_clips_certain_mistakes() {
        // A fake called 0 costs −ln(1e-15) ≈ 34.54, not infinity.
        let l = log_loss(&[true], &[0.0], LOG_LOSS_EPS);
        assert!((l - -(1e-15f64).ln()).abs() < 1e-9, "{l}");
        // A real called 1: 1 − (1 − 1e-15) is 1.11e-15 in f64 (as in numpy).
        let l = log_loss(&[false], &[1.0], LOG_LOSS_EPS);
        assert!((l - -(1.0 - (1.0 - 1e-15f64)).ln()).abs() < 1e-9 && l.is_finite(), "{l}");
    }

    #[test]
    fn refuses_single_class_and_empty_input() {
        assert_eq!(check(&[], &[]), Err(MetricError::Empty));
        assert!(matches!(check(&[true, true], &[0.1, 0.2]), Err(MetricError::SingleClass { class: "FAKE", .. })));
        assert!(matches!(check(&[false], &[0.1]), Err(MetricError::SingleClass { class: "REAL", .. })));
        assert!(matches!(check(&[false, true], &[0.1, f64::NAN]), Err(MetricError::BadScore { index: 1, .. })));
    }
}
