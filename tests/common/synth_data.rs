//! The small synth-made data set of tests/synth.rs and tests/preprocess.rs: the command line in
//! scripts/reference/make_preprocess_fixtures.py makes the same one.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::backend::Flex;
use deepfake_detector::face::landmarks::ShapePredictor;
use deepfake_detector::face::{Detector, DetectorConfig};
use deepfake_detector::synth::{SynthReport, SynthRequest};
use sha2::{Digest, Sha256};

pub fn media(name: &str) -> PathBuf {
    let cache = std::env::var_os("DEEPFAKE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache"));
    let path = cache.join("media").join(name);
    assert!(path.is_file(), "{} is missing: run scripts/fetch-media.sh first", path.display());
    path
}

pub fn detector(config: DetectorConfig) -> Detector<Flex> {
    let device = Default::default();
    let nets = deepfake_detector::weights::mtcnn::shipped_mtcnn::<Flex>(&device).expect("built-in MTCNN");
    Detector::new(nets, config, device)
}

pub fn predictor() -> ShapePredictor {
    ShapePredictor::load_default().expect("libdlib-data's 68-point model (scripts/setup.sh)")
}

/// `deepfake synth --real single_face.mp4 single_face.jpg 0-f1-su-ph.jpg --seed 7 --frames 21
/// --clips-per-video 1 --holdout 0.34 --train-parts 1`, with `adjust` applied to the request.
pub fn make(out: &Path, predictor: &ShapePredictor, adjust: impl FnOnce(&mut SynthRequest)) -> SynthReport {
    let mut req = SynthRequest {
        real: vec![media("single_face.mp4"), media("single_face.jpg"), media("0-f1-su-ph.jpg")],
        out: out.to_path_buf(),
        seed: 7,
        frames: 21,
        clips_per_video: 1,
        holdout: 0.34,
        train_parts: 1,
        ..SynthRequest::default()
    };
    adjust(&mut req);
    let det = detector(DetectorConfig::dfdc_inference());
    deepfake_detector::synth::run(&req, &det, predictor, &mut |_| {}).expect("synth runs")
}

/// sha256 of every file under `root`, by relative path.
pub fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, hex(&Sha256::digest(std::fs::read(&p).unwrap())));
            }
        }
    }
    out
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
