//! What the targets share, and their bodies: each target's `main` hands AFL's input to one of the functions here,
//! and `tests/fuzz_inputs.rs` includes this file to run the very same bodies on fixed inputs in CI. A body ends
//! with a value or a typed error; a panic, an abort or a hang is a finding.
#![allow(dead_code)] // each target binary uses one body

use std::path::{Path, PathBuf};

use burn::backend::Flex;
use deepfake_detector::face::{Detector, DetectorConfig};
use deepfake_detector::imaging::load::{decode_rgb_checked, image_dimensions};
use deepfake_detector::imaging::pillow::resize_bicubic;
use deepfake_detector::video::{sample_frames, SampleOptions};
use deepfake_detector::weights::mtcnn::{load_mtcnn, shipped_mtcnn};
use deepfake_detector::weights::{ModelFile, TensorFile};

/// A scratch file for this target in `$TMPDIR` (`scripts/fuzz.sh` gives each run its own directory). AFL runs one
/// input at a time per instance, so one file per target is enough.
pub fn scratch(target: &str) -> PathBuf {
    std::env::temp_dir().join(format!("deepfake-fuzz-{target}-{}", std::process::id()))
}

/// bytes -> image header check -> decode (libjpeg-turbo for JPEG, the `image` crate otherwise), as `classify` and
/// `detect` read photos. A pixel limit below the commands' default (4096²) keeps every input fast. Returns
/// whether the image decoded.
pub fn image_decode(data: &[u8]) -> bool {
    let _ = image_dimensions(data);
    decode_rgb_checked(data, 2048 * 2048).is_ok()
}

/// bytes (written to `path`) -> weight file reader (PyTorch zip and legacy pickles, safetensors, Burnpack) ->
/// every tensor's data -> strict loading into the MTCNN networks. Returns whether the file was read.
pub fn checkpoint(path: &Path, data: &[u8]) -> bool {
    if std::fs::write(path, data).is_err() {
        return false;
    }
    let Ok(file) = TensorFile::read(path) else { return false };
    for snapshot in file.tensors.values() {
        let _ = snapshot.to_data();
    }
    let _ = ModelFile::from_tensor_file(&file);
    let _ = load_mtcnn::<Flex>(path, &Default::default());
    true
}

/// The detector the video target runs: the built-in MTCNN at the inference thresholds.
pub fn video_detector() -> Detector<Flex> {
    let device = Default::default();
    let nets = shipped_mtcnn::<Flex>(&device).expect("the built-in MTCNN weights load");
    Detector::new(nets, DetectorConfig::dfdc_inference(), device)
}

/// Sampling for the video target: frames kept small so that one input runs in milliseconds.
pub fn video_options() -> SampleOptions {
    SampleOptions {
        frames: 3,
        max_file_bytes: Some(4 << 20),
        max_pixels: Some(320 * 240),
        threads: 1,
        ..SampleOptions::default()
    }
}

/// bytes (written to `path`) -> video decode and frame sampling -> Pillow halving -> MTCNN detection (the
/// `infer`/`detect` path up to the faces). Returns whether frames were sampled.
pub fn video_detect(detector: &Detector<Flex>, options: &SampleOptions, path: &Path, data: &[u8]) -> bool {
    if std::fs::write(path, data).is_err() {
        return false;
    }
    let Ok(video) = sample_frames(path, options) else { return false };
    let halves: Vec<_> =
        video.frames.iter().map(|f| resize_bicubic(&f.image, f.image.width() / 2, f.image.height() / 2)).collect();
    let _ = detector.detect(&halves);
    true
}
