#!/usr/bin/env python3
"""Fixtures for `deepfake eval` (tests/fixtures/eval/metrics.json): scikit-learn's metrics on label/score vectors.

For each case (seeded random scores, heavy ties, all scores tied, certain mistakes at 0 and 1, a tiny and an
imbalanced set, scores printed as float32 like `infer` writes them) it records what scikit-learn 1.9.1 returns:

  log_loss            sklearn.metrics.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15))  (Kaggle's DFDC clipping)
  roc_auc             sklearn.metrics.roc_auc_score(y, p)
  average_precision   sklearn.metrics.average_precision_score(y, p)
  roc                 sklearn.metrics.roc_curve(y, p)  (fpr, tpr, thresholds; +inf written as null)
  pr                  sklearn.metrics.precision_recall_curve(y, p)
  eer, eer_threshold  DeepfakeBench training/metrics/utils.py get_test_metrics: on roc_curve,
                      i = np.nanargmin(|fnr - fpr|), eer = fpr[i], threshold = thresholds[i]
  accuracy / balanced_accuracy at 0.5 (fake when p > 0.5, DeepfakeBench) and at the EER threshold (p >= t, the
                      roc_curve convention): sklearn accuracy_score / balanced_accuracy_score

plus the cases scikit-learn cannot score (a single class: NaN and a warning; empty input: an error), with what it
said, and a face-level case:
per video a label and faces with two models' probabilities, and roc_auc_score over faces (mean over models, and
per model).

Deterministic (fixed seed); running it twice gives identical files.

    . "${PYREF_VENV:-$HOME/.cache/deepfake-pyref}/bin/activate"
    python scripts/reference/make_eval_fixtures.py [--out tests/fixtures/eval]
"""

import argparse
import json
import math
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn import metrics

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "tests" / "fixtures" / "eval"
EPS = 1e-15


def finite(values):
    return [None if math.isinf(v) else float(v) for v in values]


def expected(y, p):
    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(p, dtype=np.float64)
    fpr, tpr, thr = metrics.roc_curve(y, p)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.absolute(fnr - fpr)))
    eer_t = float(thr[i])
    prec, rec, pr_thr = metrics.precision_recall_curve(y, p)
    half = (p > 0.5).astype(np.int64)
    at_eer = (p >= eer_t).astype(np.int64)
    return {
        "log_loss": float(metrics.log_loss(y, np.clip(p, EPS, 1 - EPS), labels=[0, 1])),
        "roc_auc": float(metrics.roc_auc_score(y, p)),
        "average_precision": float(metrics.average_precision_score(y, p)),
        "roc": {"fpr": finite(fpr), "tpr": finite(tpr), "thresholds": finite(thr)},
        "pr": {"precision": finite(prec), "recall": finite(rec), "thresholds": finite(pr_thr)},
        "eer": float(fpr[i]),
        "eer_threshold": None if math.isinf(eer_t) else eer_t,
        "accuracy": float(metrics.accuracy_score(y, half)),
        "balanced_accuracy": float(metrics.balanced_accuracy_score(y, half)),
        "accuracy_at_eer": float(metrics.accuracy_score(y, at_eer)),
        "balanced_accuracy_at_eer": float(metrics.balanced_accuracy_score(y, at_eer)),
    }


def refused(y, p):
    """What scikit-learn does with roc_auc_score on these vectors: its error, or its warning and the NaN it
    returns (1.9 warns and returns NaN for a single class), which `eval` turns into an error."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = metrics.roc_auc_score(np.asarray(y, dtype=np.int64), np.asarray(p, dtype=np.float64))
        except ValueError as e:
            return {"error": str(e)}
    assert math.isnan(value), "scikit-learn gave a number for a degenerate case"
    return {"nan_with_warning": str(caught[0].message)}


def cases(rng):
    out = []
    y = rng.integers(0, 2, 100)
    p = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0.0, 1.0)
    out.append(("random_100", y, p))
    y = rng.integers(0, 2, 60)
    out.append(("ties_one_decimal", y, np.round(rng.uniform(0, 1, 60), 1)))
    out.append(("all_tied", np.array([0, 1, 1, 0, 1, 0, 0]), np.full(7, 0.5)))
    out.append(("certain_mistakes", np.array([1, 0, 1, 0, 1, 0]), np.array([0.0, 1.0, 1.0, 0.0, 0.5, 0.5])))
    out.append(("two_videos", np.array([0, 1]), np.array([0.3, 0.7])))
    out.append(("inverted", np.array([0, 0, 1, 1]), np.array([0.9, 0.8, 0.2, 0.1])))
    y = (rng.uniform(0, 1, 200) < 0.1).astype(np.int64)
    out.append(("imbalanced_200", y, np.clip(rng.beta(2, 5, 200) + 0.3 * y, 0, 1)))
    y = rng.integers(0, 2, 80)
    p32 = rng.uniform(0, 1, 80).astype(np.float32)
    # What `infer` writes: Rust's shortest round-trip f32 text, which numpy's repr of a float32 also is.
    p = np.array([float(str(v)) for v in p32], dtype=np.float64)
    out.append(("float32_text", y, p))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    rng = np.random.default_rng(20260101)
    fixture = {
        "generator": "scripts/reference/make_eval_fixtures.py",
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "cases": [],
        "refused": [],
    }
    for name, y, p in cases(rng):
        fixture["cases"].append(
            {"name": name, "labels": [int(v) for v in y], "scores": [float(v) for v in p], "expected": expected(y, p)})
    for name, y, p in [("single_class_fake", [1, 1, 1], [0.2, 0.5, 0.9]),
                       ("single_class_real", [0, 0], [0.2, 0.9]),
                       ("empty", [], [])]:
        fixture["refused"].append({"name": name, "labels": y, "scores": p, "sklearn": refused(y, p)})

    # Face level: videos with a label and faces scored by two models.
    videos = []
    for v in range(12):
        label = int(v % 3 != 0)
        faces = [[float(np.float32(np.clip(rng.normal(0.3 + 0.35 * label, 0.2), 0, 1))) for _ in range(2)]
                 for _ in range(int(rng.integers(1, 6)))]
        videos.append({"file": f"v{v:02}.mp4", "label": label, "faces": faces})
    fy = np.array([v["label"] for v in videos for _ in v["faces"]])
    fp = np.array([f for v in videos for f in v["faces"]])
    fixture["faces"] = {
        "videos": videos,
        "auc_mean": float(metrics.roc_auc_score(fy, fp.mean(axis=1))),
        "auc_per_model": [float(metrics.roc_auc_score(fy, fp[:, m])) for m in range(2)],
        "faces": int(len(fy)),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "metrics.json"
    path.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
