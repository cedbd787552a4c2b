//! Validation after each epoch, as the solution's `validate` does (dfdc-solution.md §3.3): each holdout video's
//! score is the mean of its crops' probabilities (no confident rule), and log loss is taken over the fake videos
//! and over the real videos separately. ROC AUC over videos is added for the demo model's report.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Per-video validation numbers of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidMetrics {
    /// Mean log loss over fake videos.
    pub fake_loss: f64,
    /// Mean log loss over real videos.
    pub real_loss: f64,
    /// `(fake_loss + real_loss) / 2`, the solution's `bce`.
    pub bce: f64,
    /// Log loss over all videos.
    pub log_loss: f64,
    /// ROC AUC over videos (`None` with a single class).
    pub auc: Option<f64>,
    pub videos_fake: usize,
    pub videos_real: usize,
    pub crops: usize,
}

/// Binary log loss of one probability, clipped like scikit-learn (`eps = 1e-15`).
pub fn log_loss_one(p: f64, fake: bool) -> f64 {
    let p = p.clamp(1e-15, 1.0 - 1e-15);
    if fake {
        -p.ln()
    } else {
        -(1.0 - p).ln()
    }
}

/// ROC AUC as the Mann–Whitney statistic with ties counted half; `None` unless both classes are present.
pub fn roc_auc(scores: &[(f64, bool)]) -> Option<f64> {
    let mut sorted: Vec<(f64, bool)> = scores.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n_pos = sorted.iter().filter(|s| s.1).count();
    let n_neg = sorted.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    // Sum of (average) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1].0 == sorted[i].0 {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += sorted[i..=j].iter().filter(|s| s.1).count() as f64 * avg_rank;
        i = j + 1;
    }
    Some((rank_sum - (n_pos * (n_pos + 1)) as f64 / 2.0) / (n_pos * n_neg) as f64)
}

/// Per-video mean probabilities from per-crop `(video, fake, probability)`.
pub fn video_scores<'a>(crops: impl IntoIterator<Item = (&'a str, bool, f64)>) -> BTreeMap<String, (bool, f64)> {
    let mut acc: BTreeMap<String, (bool, f64, usize)> = BTreeMap::new();
    for (video, fake, p) in crops {
        let e = acc.entry(video.to_string()).or_insert((fake, 0.0, 0));
        e.1 += p;
        e.2 += 1;
    }
    acc.into_iter().map(|(v, (fake, sum, n))| (v, (fake, sum / n as f64))).collect()
}

/// The epoch's metrics from per-video scores.
pub fn metrics(videos: &BTreeMap<String, (bool, f64)>, crops: usize) -> ValidMetrics {
    let mean = |fake: bool| {
        let losses: Vec<f64> = videos.values().filter(|v| v.0 == fake).map(|v| log_loss_one(v.1, fake)).collect();
        if losses.is_empty() {
            0.0
        } else {
            losses.iter().sum::<f64>() / losses.len() as f64
        }
    };
    let (fake_loss, real_loss) = (mean(true), mean(false));
    let all: Vec<f64> = videos.values().map(|v| log_loss_one(v.1, v.0)).collect();
    let scores: Vec<(f64, bool)> = videos.values().map(|v| (v.1, v.0)).collect();
    ValidMetrics {
        fake_loss,
        real_loss,
        bce: (fake_loss + real_loss) / 2.0,
        log_loss: if all.is_empty() { 0.0 } else { all.iter().sum::<f64>() / all.len() as f64 },
        auc: roc_auc(&scores),
        videos_fake: videos.values().filter(|v| v.0).count(),
        videos_real: videos.values().filter(|v| !v.0).count(),
        crops,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ties_half() {
        assert_eq!(roc_auc(&[(0.1, false), (0.9, true)]), Some(1.0));
        assert_eq!(roc_auc(&[(0.5, false), (0.5, true)]), Some(0.5));
        assert_eq!(roc_auc(&[(0.2, false), (0.8, false), (0.5, true)]), Some(0.5));
        assert_eq!(roc_auc(&[(0.2, true)]), None);
    }

    #[test]
    fn per_video_means_and_split_losses() {
        let v = video_scores([("a", true, 0.8), ("a", true, 0.6), ("b", false, 0.1)]);
        assert!((v["a"].1 - 0.7).abs() < 1e-12);
        let m = metrics(&v, 3);
        assert!((m.fake_loss - -(0.7f64).ln()).abs() < 1e-12);
        assert!((m.real_loss - -(0.9f64).ln()).abs() < 1e-12);
        assert_eq!((m.videos_fake, m.videos_real), (1, 1));
    }
}
