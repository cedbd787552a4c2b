//! bytes -> video decode and frame sampling -> Pillow halving -> MTCNN detection (the `infer`/`detect` path up to
//! the faces). Frames are kept small so that one input runs in milliseconds; every error is a typed error, and
//! anything else (a panic, an abort, a hang, a crash inside FFmpeg) is a finding.

#[path = "common.rs"]
mod common;

use burn::backend::Flex;
use deepfake_detector::face::{Detector, DetectorConfig};
use deepfake_detector::imaging::pillow::resize_bicubic;
use deepfake_detector::video::{sample_frames, SampleOptions};
use deepfake_detector::weights::mtcnn::shipped_mtcnn;

fn main() {
    let device = Default::default();
    let nets = shipped_mtcnn::<Flex>(&device).expect("the built-in MTCNN weights load");
    // A panic inside the closure is a finding (AFL sees the abort), so no state survives one to be observed.
    let detector = std::panic::AssertUnwindSafe(Detector::new(nets, DetectorConfig::dfdc_inference(), device));
    let options = SampleOptions {
        frames: 3,
        max_file_bytes: Some(4 << 20),
        max_pixels: Some(320 * 240),
        threads: 1,
        ..SampleOptions::default()
    };
    let path = common::scratch("video");
    afl::fuzz_nohook!(|data: &[u8]| {
        if std::fs::write(&path, data).is_err() {
            return;
        }
        if let Ok(video) = sample_frames(&path, &options) {
            let halves: Vec<_> =
                video.frames.iter().map(|f| resize_bicubic(&f.image, f.image.width() / 2, f.image.height() / 2)).collect();
            let _ = detector.detect(&halves);
        }
    });
    let _ = std::fs::remove_file(&path);
}
