//! `deepfake eval`: a `submission.csv` against the truth. Reads labels (DFDC `metadata.json` files or a
//! `filename,label` CSV), joins them with the predictions by file name, and computes the DFDC metric (log loss)
//! beside the ones DeepfakeBench reports (ROC AUC, AP, EER), accuracies, and, from an inference report, the
//! frame-level AUC. Videos without a usable prediction are listed, never dropped silently.

pub mod labels;
pub mod metrics;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use labels::{read_labels, read_predictions, Labels, Prediction};
use metrics::{Decisions, MetricError, LOG_LOSS_EPS};

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("{path}, line {line}: {reason}")]
    Row { path: PathBuf, line: usize, reason: String },
    #[error("`{file}` is labelled {first} in {first_path} and {second} in {second_path}")]
    ConflictingLabel {
        file: String,
        first: &'static str,
        first_path: PathBuf,
        second: &'static str,
        second_path: PathBuf,
    },
    #[error("predictions `{first}` and `{second}` both match the label of `{label}`")]
    AmbiguousPrediction { label: String, first: String, second: String },
    #[error("{0}")]
    Metric(#[from] MetricError),
}

/// A labelled video with no usable score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Missing {
    pub file: String,
    pub label: &'static str,
    /// `absent` (no row in the predictions) or the status of an `error:<status>` row.
    pub status: String,
}

/// Everything `eval` reports. Field names are the `--json` keys.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Videos evaluated: labelled and scored.
    pub n: usize,
    pub n_real: usize,
    pub n_fake: usize,
    /// Kaggle's DFDC metric: mean binary cross-entropy, probabilities clipped to [1e-15, 1 − 1e-15].
    pub log_loss: f64,
    pub roc_auc: f64,
    pub average_precision: f64,
    /// FPR at the ROC point where |FNR − FPR| is smallest (DeepfakeBench).
    pub eer: f64,
    /// Score at that point (fake when score ≥ threshold); `null` in JSON when it is +∞ (nothing called fake).
    #[serde(serialize_with = "finite_or_null")]
    pub eer_threshold: f64,
    /// Accuracy calling a video fake when its score is > 0.5.
    pub accuracy: f64,
    pub balanced_accuracy: f64,
    /// Decisions at 0.5 and at the EER threshold.
    pub at_half: Decisions,
    #[serde(serialize_with = "decisions_finite")]
    pub at_eer: Decisions,
    pub missing: Vec<Missing>,
    /// Predicted videos that have no label (ignored by the metrics).
    pub unlabelled: Vec<String>,
    /// Face-level AUC from an inference report: every classified face, scored by its mean over models, carries
    /// its video's label (DeepfakeBench's frame AUC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_auc: Option<FrameLevel>,
    /// The scored videos, for plots: `(file, fake, score)`.
    #[serde(skip)]
    pub scored: Vec<(String, bool, f64)>,
}

/// Frame-level numbers from an inference report.
#[derive(Debug, Clone, Serialize)]
pub struct FrameLevel {
    pub auc: f64,
    /// Faces counted.
    pub faces: usize,
    /// AUC of each model's per-face probability, in the report's model order.
    pub per_model: Vec<(String, f64)>,
}

fn finite_or_null<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f64(*v)
    } else {
        s.serialize_none()
    }
}

fn decisions_finite<S: serde::Serializer>(d: &Decisions, s: S) -> Result<S::Ok, S::Error> {
    let mut value = serde_json::to_value(d).map_err(serde::ser::Error::custom)?;
    if !d.threshold.is_finite() {
        value["threshold"] = serde_json::Value::Null;
    }
    value.serialize(s)
}

/// Predictions joined with labels.
#[derive(Debug, Clone, Default)]
pub struct Joined {
    /// `(prediction's file, fake, score)` of the labelled, scored videos.
    pub scored: Vec<(String, bool, f64)>,
    pub missing: Vec<Missing>,
    pub unlabelled: Vec<String>,
}

/// Joins predictions with labels: exact name first, else the prediction's file name (so `part_0/x.mp4` matches a
/// `metadata.json` key `x.mp4`), which must then be unique.
pub fn join(labels: &Labels, predictions: &[Prediction]) -> Result<Joined, EvalError> {
    let mut matched: BTreeMap<&str, &Prediction> = BTreeMap::new();
    let mut unlabelled = Vec::new();
    for p in predictions {
        let key = if labels.get(&p.file).is_some() {
            Some(p.file.as_str())
        } else {
            let base = Path::new(&p.file).file_name().and_then(|n| n.to_str()).unwrap_or(&p.file);
            labels.get(base).map(|_| base)
        };
        match key {
            Some(k) => {
                if let Some(prev) = matched.insert(k, p) {
                    return Err(EvalError::AmbiguousPrediction {
                        label: k.to_string(),
                        first: prev.file.clone(),
                        second: p.file.clone(),
                    });
                }
            }
            None => unlabelled.push(p.file.clone()),
        }
    }
    let mut scored = Vec::new();
    let mut missing = Vec::new();
    for (file, label) in labels.iter() {
        let class = if label { "FAKE" } else { "REAL" };
        match matched.get(file) {
            None => missing.push(Missing { file: file.to_string(), label: class, status: "absent".into() }),
            Some(p) => match &p.score {
                Ok(s) => scored.push((p.file.clone(), label, *s)),
                Err(status) => missing.push(Missing { file: p.file.clone(), label: class, status: status.clone() }),
            },
        }
    }
    Ok(Joined { scored, missing, unlabelled })
}

/// Metrics of the scored videos.
pub fn evaluate(labels: &Labels, predictions: &[Prediction]) -> Result<Evaluation, EvalError> {
    let Joined { scored, missing, unlabelled } = join(labels, predictions)?;
    let y: Vec<bool> = scored.iter().map(|s| s.1).collect();
    let p: Vec<f64> = scored.iter().map(|s| s.2).collect();
    metrics::check(&y, &p)?;
    let n_fake = y.iter().filter(|&&l| l).count();
    let (eer, eer_threshold) = metrics::eer(&y, &p);
    // DeepfakeBench's accuracy calls a frame fake when its probability is > 0.5; at the EER threshold the ROC
    // convention (score ≥ threshold) applies, so the decisions there are the ROC point's.
    let at_half = metrics::decisions(&y, &p, 0.5, |s| s > 0.5);
    let at_eer = metrics::decisions(&y, &p, eer_threshold, |s| s >= eer_threshold);
    Ok(Evaluation {
        n: y.len(),
        n_real: y.len() - n_fake,
        n_fake,
        log_loss: metrics::log_loss(&y, &p, LOG_LOSS_EPS),
        roc_auc: metrics::roc_auc(&y, &p),
        average_precision: metrics::average_precision(&y, &p),
        eer,
        eer_threshold,
        accuracy: at_half.accuracy,
        balanced_accuracy: at_half.balanced_accuracy,
        at_half,
        at_eer,
        missing,
        unlabelled,
        frame_auc: None,
        scored,
    })
}

/// The parts of `infer --report` that frame-level metrics read (other fields are ignored, so the report may grow).
#[derive(Debug, Deserialize)]
pub struct InferReport {
    #[serde(default)]
    pub models: Vec<String>,
    pub videos: Vec<ReportVideo>,
}

#[derive(Debug, Deserialize)]
pub struct ReportVideo {
    pub file: String,
    #[serde(default)]
    pub frames: Vec<ReportFrame>,
}

#[derive(Debug, Deserialize)]
pub struct ReportFrame {
    #[serde(default)]
    pub faces: Vec<ReportFace>,
}

#[derive(Debug, Deserialize)]
pub struct ReportFace {
    pub probabilities: Vec<f64>,
}

/// Reads an `infer --report` file.
pub fn read_report(path: &Path) -> Result<InferReport, EvalError> {
    let text = std::fs::read(path).map_err(|source| EvalError::Io { path: path.into(), source })?;
    serde_json::from_slice(&text).map_err(|e| EvalError::Format { path: path.into(), reason: e.to_string() })
}

/// Face-level AUC over the videos `evaluation` scored (a face of a missing video is not counted either).
pub fn frame_level(evaluation: &Evaluation, report: &InferReport, path: &Path) -> Result<FrameLevel, EvalError> {
    let label_of: BTreeMap<&str, bool> = evaluation.scored.iter().map(|(f, l, _)| (f.as_str(), *l)).collect();
    let models = report.models.len().max(1);
    let mut y = Vec::new();
    let mut mean = Vec::new();
    let mut per_model: Vec<Vec<f64>> = vec![Vec::new(); models];
    for video in &report.videos {
        let Some(&label) = label_of.get(video.file.as_str()) else { continue };
        for face in video.frames.iter().flat_map(|f| &f.faces) {
            if face.probabilities.len() != models && !report.models.is_empty() {
                return Err(EvalError::Format {
                    path: path.into(),
                    reason: format!(
                        "a face of `{}` has {} probabilities for {} models",
                        video.file,
                        face.probabilities.len(),
                        report.models.len()
                    ),
                });
            }
            if face.probabilities.is_empty() {
                continue;
            }
            y.push(label);
            mean.push(face.probabilities.iter().sum::<f64>() / face.probabilities.len() as f64);
            for (m, &p) in face.probabilities.iter().enumerate().take(models) {
                per_model[m].push(p);
            }
        }
    }
    metrics::check(&y, &mean)?;
    let per_model = if report.models.len() > 1 {
        report.models.iter().zip(&per_model).map(|(name, p)| (name.clone(), metrics::roc_auc(&y, p))).collect()
    } else {
        Vec::new()
    };
    Ok(FrameLevel { auc: metrics::roc_auc(&y, &mean), faces: y.len(), per_model })
}
