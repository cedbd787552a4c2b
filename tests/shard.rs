//! `infer --shard K/N` and `merge`: three shards merged give exactly the CSV and the per-video results of one
//! unsharded run, and merge refuses duplicates, missing shards and mismatched reports.

mod common;

use std::path::Path;
use std::process::Output;

use common::cli::{deepfake, model_b, run, stderr};
use common::media;
use serde_json::Value;

/// Twelve inputs in two folders: copies of the sample clips under other names, and files that cannot be scored.
fn corpus(dir: &Path) {
    for sub in ["part_0", "part_1"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let clips = ["single_face.mp4", "no_face.mp4", "WolfgangLanger_Pexels.mp4"];
    for i in 0..9 {
        let to = dir.join(format!("part_{}/clip{i}.mp4", i % 2));
        std::fs::copy(media(clips[i % clips.len()]), to).unwrap();
    }
    std::fs::write(dir.join("part_0/empty.mp4"), b"").unwrap();
    std::fs::write(dir.join("part_1/notes.mp4"), b"not a video").unwrap();
    std::fs::write(dir.join("part_1/a,comma.mp4"), b"").unwrap();
}

fn infer(videos: &Path, model: &Path, csv: &Path, report: &Path, shard: Option<&str>) -> Output {
    let mut cmd = deepfake();
    cmd.arg("infer").arg(videos).arg("--recursive").arg("--model").arg(model);
    cmd.args(["--frames", "4", "--quiet", "--out"]).arg(csv).arg("--report").arg(report);
    if let Some(s) = shard {
        cmd.args(["--shard", s]);
    }
    run(&mut cmd)
}

fn videos_by_name(report: &Path) -> Vec<(String, Value)> {
    let r: Value = serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    let mut v: Vec<(String, Value)> = r["videos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let mut v = v.clone();
            v["timing"] = Value::Null; // seconds differ between runs; everything else must not
            (v["file"].as_str().unwrap().to_string(), v)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn three_shards_merged_equal_one_unsharded_run() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let model = model_b(t);
    let videos = t.join("videos");
    corpus(&videos);

    let o = infer(&videos, &model, &t.join("all.csv"), &t.join("all.json"), None);
    assert_eq!(o.status.code(), Some(1), "bad files make exit code 1: {}", stderr(&o));
    let mut parts = Vec::new();
    let mut reports = Vec::new();
    let mut counts = Vec::new();
    // Slurm counts from 1, Kubernetes from 0: 0/3 is 3/3.
    for (k, shard) in ["1/3", "2/3", "0/3"].iter().enumerate() {
        let (csv, json) = (t.join(format!("part-{k}.csv")), t.join(format!("part-{k}.json")));
        let o = infer(&videos, &model, &csv, &json, Some(shard));
        assert!(o.status.code() == Some(0) || o.status.code() == Some(1), "shard {shard}: {}", stderr(&o));
        counts.push(std::fs::read_to_string(&csv).unwrap().lines().count() - 1);
        parts.push(csv);
        reports.push(json);
    }
    assert_eq!(counts.iter().sum::<usize>(), 12, "every video in exactly one shard: {counts:?}");
    // The names are fixed, so this is deterministic: the hash spreads them over all three shards.
    assert!(counts.iter().all(|&c| c > 0), "a shard got nothing: {counts:?}");

    let merged_csv = t.join("merged.csv");
    let merged_json = t.join("merged.json");
    let o = run(deepfake()
        .arg("merge")
        .args(&parts)
        .arg("--reports")
        .args(&reports)
        .arg("--out")
        .arg(&merged_csv)
        .arg("--report")
        .arg(&merged_json));
    assert!(o.status.success(), "merge: {}", stderr(&o));
    let want = std::fs::read_to_string(t.join("all.csv")).unwrap();
    assert_eq!(std::fs::read_to_string(&merged_csv).unwrap(), want, "merged CSV = unsharded CSV, byte for byte");
    assert_eq!(videos_by_name(&merged_json), videos_by_name(&t.join("all.json")));
    let merged: Value = serde_json::from_str(&std::fs::read_to_string(&merged_json).unwrap()).unwrap();
    assert_eq!(merged["summary"]["videos"], 12);
    assert!(merged["settings"].get("shard").is_none(), "the merged settings are the shared ones");

    // The same part twice: a duplicate, nothing written.
    let dup_out = t.join("dup.csv");
    let o = run(deepfake().arg("merge").arg(&parts[0]).arg(&parts[0]).arg("--out").arg(&dup_out));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("appears in both"), "{}", stderr(&o));
    assert!(!dup_out.exists());
    // A shard missing, as the reports tell.
    let o = run(deepfake()
        .arg("merge")
        .args(&parts[..2])
        .arg("--reports")
        .args(&reports[..2])
        .arg("--out")
        .arg(t.join("missing.csv")));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("shards missing: 3/3"), "{}", stderr(&o));
    // A report that does not cover the parts: the unsharded run's, against one part.
    let o = run(deepfake()
        .arg("merge")
        .arg(&parts[0])
        .arg("--reports")
        .arg(t.join("all.json"))
        .arg("--out")
        .arg(t.join("mismatch.csv")));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // A file that is not a part.
    std::fs::write(t.join("bad.csv"), "filename,label\nx.mp4,1.7\n").unwrap();
    let o = run(deepfake().arg("merge").arg(t.join("bad.csv")).arg("--out").arg(t.join("o.csv")));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("line 2") && stderr(&o).contains("1.7"), "{}", stderr(&o));
    // Without merge: the unsharded run itself with --shard 1/1 is the whole set.
    let o = infer(&videos, &model, &t.join("one.csv"), &t.join("one.json"), Some("1/1"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(t.join("one.csv")).unwrap(), want);
}

#[test]
fn a_bad_shard_argument_exits_2_naming_the_flag() {
    for bad in ["4/3", "1/0", "x", "1/3/3"] {
        let o = run(deepfake().args(["infer", "nowhere", "-m", "nowhere.bpk", "--shard", bad]));
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(stderr(&o).contains("--shard"), "{bad}: {}", stderr(&o));
    }
}
