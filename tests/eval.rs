//! `deepfake eval` against scikit-learn.
//!
//! Fixture: `scripts/reference/make_eval_fixtures.py` (scikit-learn 1.9.1, numpy 2.4.6) writes
//! `tests/fixtures/eval/metrics.json`: label/score vectors (random, heavy ties, all tied, certain mistakes,
//! imbalanced, float32 text) with sklearn's log_loss (Kaggle clipping), roc_auc_score, average_precision_score,
//! roc_curve, precision_recall_curve, DeepfakeBench's EER, and accuracies; the cases sklearn cannot score (one
//! class, empty); and a face-level case with two models.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::fixture;
use deepfake_detector::eval::metrics::{self, MetricError, LOG_LOSS_EPS};
use deepfake_detector::eval::{self, EvalError};
use serde_json::Value;

const TOL: f64 = 1e-9;

fn reference() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("eval/metrics.json")).unwrap()).unwrap()
}

fn vectors(case: &Value) -> (Vec<bool>, Vec<f64>) {
    let y = case["labels"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap() == 1).collect();
    let p = case["scores"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    (y, p)
}

/// A JSON number, or +∞ for the `null` the script writes for it.
fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::INFINITY)
}

fn nums(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(num).collect()
}

fn assert_close(name: &str, what: &str, got: f64, want: f64) {
    let ok = if want.is_infinite() { got == want } else { (got - want).abs() <= TOL };
    assert!(ok, "{name}: {what} = {got}, scikit-learn {want}");
}

fn assert_all_close(name: &str, what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{name}: {what} has {} points, scikit-learn {}", got.len(), want.len());
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert_close(name, &format!("{what}[{i}]"), g, w);
    }
}

#[test]
fn metrics_match_scikit_learn() {
    for case in reference()["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let want = &case["expected"];
        let (y, p) = vectors(case);
        metrics::check(&y, &p).unwrap();
        assert_close(name, "log_loss", metrics::log_loss(&y, &p, LOG_LOSS_EPS), num(&want["log_loss"]));
        assert_close(name, "roc_auc", metrics::roc_auc(&y, &p), num(&want["roc_auc"]));
        assert_close(name, "average_precision", metrics::average_precision(&y, &p), num(&want["average_precision"]));
        let (eer, threshold) = metrics::eer(&y, &p);
        assert_close(name, "eer", eer, num(&want["eer"]));
        assert_close(name, "eer_threshold", threshold, num(&want["eer_threshold"]));
    }
}

#[test]
fn roc_and_precision_recall_curves_match_scikit_learn() {
    for case in reference()["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (y, p) = vectors(case);
        let roc = metrics::roc_curve(&y, &p);
        let want = &case["expected"]["roc"];
        assert_all_close(name, "fpr", &roc.fpr, &nums(&want["fpr"]));
        assert_all_close(name, "tpr", &roc.tpr, &nums(&want["tpr"]));
        assert_all_close(name, "roc thresholds", &roc.thresholds, &nums(&want["thresholds"]));
        let pr = metrics::precision_recall_curve(&y, &p);
        let want = &case["expected"]["pr"];
        assert_all_close(name, "precision", &pr.precision, &nums(&want["precision"]));
        assert_all_close(name, "recall", &pr.recall, &nums(&want["recall"]));
        assert_all_close(name, "pr thresholds", &pr.thresholds, &nums(&want["thresholds"]));
    }
}

/// Labels and predictions of a fixture case as files, named `v000.mp4`, ….
fn write_case(dir: &Path, case: &Value) -> (PathBuf, PathBuf) {
    let (y, p) = vectors(case);
    let labels = dir.join("labels.csv");
    let preds = dir.join("submission.csv");
    let mut l = String::from("filename,label\n");
    let mut s = String::from("filename,label\n");
    for (i, (fake, score)) in y.iter().zip(&p).enumerate() {
        l += &format!("v{i:03}.mp4,{}\n", u8::from(*fake));
        s += &format!("v{i:03}.mp4,{score:?}\n");
    }
    std::fs::write(&labels, l).unwrap();
    std::fs::write(&preds, s).unwrap();
    (labels, preds)
}

#[test]
fn evaluation_from_files_matches_scikit_learn_accuracies() {
    let dir = tempfile::tempdir().unwrap();
    for case in reference()["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let want = &case["expected"];
        let (labels, preds) = write_case(dir.path(), case);
        let e =
            eval::evaluate(&eval::read_labels(&[labels]).unwrap(), &eval::read_predictions(&preds).unwrap()).unwrap();
        assert_close(name, "log_loss", e.log_loss, num(&want["log_loss"]));
        assert_close(name, "roc_auc", e.roc_auc, num(&want["roc_auc"]));
        assert_close(name, "accuracy", e.accuracy, num(&want["accuracy"]));
        assert_close(name, "balanced_accuracy", e.balanced_accuracy, num(&want["balanced_accuracy"]));
        assert_close(name, "accuracy_at_eer", e.at_eer.accuracy, num(&want["accuracy_at_eer"]));
        assert_close(name, "balanced_at_eer", e.at_eer.balanced_accuracy, num(&want["balanced_accuracy_at_eer"]));
        assert_eq!(e.n, case["labels"].as_array().unwrap().len());
        assert!(e.missing.is_empty());
    }
}

#[test]
fn single_class_and_empty_label_sets_are_errors_not_nan() {
    for case in reference()["refused"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (y, p) = vectors(case);
        let err = metrics::check(&y, &p).expect_err(name);
        match name {
            "empty" => assert_eq!(err, MetricError::Empty),
            _ => assert!(matches!(err, MetricError::SingleClass { .. }), "{name}: {err}"),
        }
    }
    // Through the files too: a set whose only scored videos are fake.
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("l.csv");
    let preds = dir.path().join("p.csv");
    std::fs::write(&labels, "a.mp4,FAKE\nb.mp4,REAL\nc.mp4,1\n").unwrap();
    std::fs::write(&preds, "filename,label\na.mp4,0.9\nb.mp4,error:no_face\nc.mp4,0.2\n").unwrap();
    let err =
        eval::evaluate(&eval::read_labels(&[labels]).unwrap(), &eval::read_predictions(&preds).unwrap()).unwrap_err();
    assert!(matches!(err, EvalError::Metric(MetricError::SingleClass { class: "FAKE", .. })), "{err}");
}

#[test]
fn missing_and_failed_videos_are_listed_and_metadata_files_combine() {
    let dir = tempfile::tempdir().unwrap();
    let part0 = dir.path().join("part0.json");
    let part1 = dir.path().join("part1.json");
    std::fs::write(
        &part0,
        r#"{"a.mp4": {"label": "FAKE", "split": "train", "original": "b.mp4"}, "b.mp4": {"label": "REAL", "split": "train"}}"#,
    )
    .unwrap();
    std::fs::write(&part1, r#"{"c.mp4": {"label": "FAKE"}, "d.mp4": {"label": "REAL"}, "e.mp4": {"label": "REAL"}}"#)
        .unwrap();
    let preds = dir.path().join("submission.csv");
    // A relative path matches a metadata key by file name; d is missing; e failed; z is not labelled.
    std::fs::write(
        &preds,
        "filename,label\npart_0/a.mp4,0.8\nb.mp4,0.3\nc.mp4,0.6\ne.mp4,error:unreadable\nz.mp4,0.1\n",
    )
    .unwrap();
    let labels = eval::read_labels(&[part0, part1]).unwrap();
    let e = eval::evaluate(&labels, &eval::read_predictions(&preds).unwrap()).unwrap();
    assert_eq!((e.n, e.n_real, e.n_fake), (3, 1, 2));
    let missing: Vec<(&str, &str, &str)> =
        e.missing.iter().map(|m| (m.file.as_str(), m.label, m.status.as_str())).collect();
    assert_eq!(missing, vec![("d.mp4", "REAL", "absent"), ("e.mp4", "REAL", "unreadable")]);
    assert_eq!(e.unlabelled, vec!["z.mp4".to_string()]);
    assert_eq!(e.roc_auc, 1.0);
}

#[test]
fn bad_labels_and_predictions_are_refused_with_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let preds = |text: &str| eval::read_predictions(&write("p.csv", text)).unwrap_err().to_string();
    assert!(preds("filename,label\na.mp4,1.5\n").contains("line 2"), "{}", preds("filename,label\na.mp4,1.5\n"));
    assert!(preds("a.mp4,0.1\nb.mp4,nan\n").contains("line 2"));
    assert!(preds("a.mp4,0.1\nb.mp4,maybe\n").contains("maybe"));
    assert!(preds("a.mp4,0.1\na.mp4,0.2\n").contains("twice"));
    assert!(preds("a.mp4,0.1,extra\n").contains("3 fields"));
    let labels = |text: &str| eval::read_labels(&[write("l.csv", text)]).unwrap_err().to_string();
    assert!(labels("filename,label\na.mp4,2\n").contains("line 2"));
    let json = write("m.json", r#"{"a.mp4": {"label": "SYNTHETIC"}}"#);
    assert!(eval::read_labels(&[json]).unwrap_err().to_string().contains("a.mp4"));
    let first = write("m1.json", r#"{"a.mp4": {"label": "FAKE"}}"#);
    let second = write("m2.json", r#"{"a.mp4": {"label": "REAL"}}"#);
    assert!(matches!(eval::read_labels(&[first, second]), Err(EvalError::ConflictingLabel { .. })));
    let broken = write("b.json", "{not json");
    assert!(matches!(eval::read_labels(&[broken]), Err(EvalError::Format { .. })));
    assert!(matches!(eval::read_labels(&[dir.path().join("absent.csv")]), Err(EvalError::Io { .. })));
}

/// An `infer --report` for the fixture's face-level case (only the fields `eval` reads, plus some it ignores).
fn write_report(dir: &Path, faces: &Value) -> (PathBuf, PathBuf, PathBuf) {
    let mut videos = Vec::new();
    let mut labels = String::new();
    let mut preds = String::from("filename,label\n");
    for v in faces["videos"].as_array().unwrap() {
        let file = v["file"].as_str().unwrap();
        let frames: Vec<Value> = v["faces"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, probs)| serde_json::json!({"index": i * 10, "detected": 1, "faces": [{"probabilities": probs}]}))
            .collect();
        videos.push(serde_json::json!({"file": file, "status": "ok", "score": 0.5, "frames": frames}));
        labels += &format!("{file},{}\n", v["label"]);
        let mean: f64 = v["faces"].as_array().unwrap().iter().map(|f| f[0].as_f64().unwrap()).sum::<f64>()
            / v["faces"].as_array().unwrap().len() as f64;
        preds += &format!("{file},{mean}\n");
    }
    let report = serde_json::json!({"tool": "test", "models": ["m0", "m1"], "videos": videos});
    let paths = (dir.join("labels.csv"), dir.join("submission.csv"), dir.join("report.json"));
    std::fs::write(&paths.0, labels).unwrap();
    std::fs::write(&paths.1, preds).unwrap();
    std::fs::write(&paths.2, report.to_string()).unwrap();
    paths
}

#[test]
fn face_level_auc_from_a_report_matches_scikit_learn() {
    let faces = reference()["faces"].clone();
    let dir = tempfile::tempdir().unwrap();
    let (labels, preds, report_path) = write_report(dir.path(), &faces);
    let e = eval::evaluate(&eval::read_labels(&[labels]).unwrap(), &eval::read_predictions(&preds).unwrap()).unwrap();
    let report = eval::read_report(&report_path).unwrap();
    let f = eval::frame_level(&e, &report, &report_path).unwrap();
    assert_eq!(f.faces as u64, faces["faces"].as_u64().unwrap());
    assert_close("faces", "auc", f.auc, num(&faces["auc_mean"]));
    for (m, want) in nums(&faces["auc_per_model"]).into_iter().enumerate() {
        assert_close("faces", &format!("model {m}"), f.per_model[m].1, want);
    }
}

fn deepfake(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_deepfake")).args(args).output().expect("run deepfake")
}

#[test]
fn cli_prints_json_with_the_documented_keys_and_a_table() {
    let faces = reference()["faces"].clone();
    let dir = tempfile::tempdir().unwrap();
    let (labels, preds, report) = write_report(dir.path(), &faces);
    let (labels, preds, report) = (labels.to_str().unwrap(), preds.to_str().unwrap(), report.to_str().unwrap());
    let out = deepfake(&["eval", "--predictions", preds, "--labels", labels, "--report", report, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["n", "n_real", "n_fake", "log_loss", "roc_auc", "average_precision", "eer", "eer_threshold", "accuracy"]
        .into_iter()
        .chain(["balanced_accuracy", "missing"])
    {
        assert!(json.get(key).is_some(), "--json lacks `{key}`: {json}");
    }
    assert_eq!(json["n"], 12);
    assert_eq!(json["missing"], serde_json::json!([]));
    assert_close("cli", "frame auc", json["frame_auc"]["auc"].as_f64().unwrap(), num(&faces["auc_mean"]));

    let table = deepfake(&["eval", "-p", preds, "-l", labels]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(table.status.success());
    for row in ["log loss", "ROC AUC", "average precision", "EER", "accuracy @0.5", "missing"] {
        assert!(text.contains(row), "table lacks `{row}`:\n{text}");
    }
}

#[test]
fn cli_reports_a_single_class_as_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("l.csv");
    let preds = dir.path().join("p.csv");
    std::fs::write(&labels, "a.mp4,REAL\nb.mp4,REAL\n").unwrap();
    std::fs::write(&preds, "a.mp4,0.1\nb.mp4,0.7\n").unwrap();
    let out = deepfake(&["eval", "-p", preds.to_str().unwrap(), "-l", labels.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("REAL") && !err.to_lowercase().contains("nan"), "{err}");
    assert!(out.stdout.is_empty());
}
