//! The fuzz targets' bodies (fuzz/targets/common.rs, included here, so these are the functions AFL runs) outside
//! AFL, on a fixed set of hostile inputs: every input the fuzzers found (tests/fixtures/fuzz/TARGET/, kept as
//! regression tests), and the committed fixtures of each reader cut short and with bytes flipped. Each must end
//! with a value or a typed error: a panic fails the test. The long runs are `scripts/fuzz.sh TARGET SECONDS`; this
//! is their short, fixed-size version for CI.

mod common;
#[path = "../fuzz/targets/common.rs"]
mod targets;

use std::path::{Path, PathBuf};

use common::fixture;

fn files(dir: &Path, ext: &[&str]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    out.retain(|p| p.is_file() && p.extension().and_then(|e| e.to_str()).is_some_and(|e| ext.contains(&e)));
    out.sort();
    out
}

/// Regression inputs of a target: every file but its README.
fn found_by_fuzzer(target: &str) -> Vec<Vec<u8>> {
    let dir = fixture(&format!("fuzz/{target}"));
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.retain(|p| p.file_name().is_some_and(|n| n != "README.md"));
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// `bytes` cut at eight lengths and with every 61st, 257th or 1021st byte inverted (deterministic).
fn damaged(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for k in 1..=8 {
        out.push(bytes[..bytes.len() * k / 9].to_vec());
    }
    for step in [61, 257, 1021] {
        let mut b = bytes.to_vec();
        for i in (step / 2..b.len()).step_by(step) {
            b[i] = !b[i];
        }
        out.push(b);
    }
    out
}

fn inputs(target: &str, seeds: &[PathBuf]) -> Vec<Vec<u8>> {
    assert!(!seeds.is_empty(), "{target}: no seed files");
    let mut all = found_by_fuzzer(target);
    for s in seeds {
        let bytes = std::fs::read(s).unwrap();
        all.extend(damaged(&bytes));
        all.push(bytes);
    }
    all
}

#[test]
fn image_decoding_survives_damaged_and_found_inputs() {
    let seeds: Vec<PathBuf> = files(&fixture("imaging"), &["png"]).into_iter().take(12).collect();
    let all = inputs("image_decode", &seeds);
    let decoded = all.iter().filter(|data| targets::image_decode(data)).count();
    // The undamaged seeds decode; most damaged copies are refused with an error.
    assert!(decoded >= seeds.len(), "{decoded} of {} decoded", all.len());
}

#[test]
fn checkpoint_reading_survives_damaged_and_found_inputs() {
    let mut seeds =
        files(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/checkpoint"), &["pth", "safetensors"]);
    seeds.push(fixture("effnet/b_dfdc_legacy.pth"));
    let all = inputs("checkpoint", &seeds);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input");
    let read = all.iter().filter(|data| targets::checkpoint(&path, data)).count();
    assert!(read >= seeds.len(), "{read} of {} read", all.len());
}

#[test]
fn video_detection_survives_damaged_and_found_inputs() {
    let seeds = files(&fixture("video/colour"), &["mp4", "avi", "webm"]);
    let all = inputs("video_detect", &seeds);
    let (detector, options) = (targets::video_detector(), targets::video_options());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input");
    let sampled = all.iter().filter(|data| targets::video_detect(&detector, &options, &path, data)).count();
    assert!(sampled >= seeds.len(), "{sampled} of {} sampled", all.len());
}
