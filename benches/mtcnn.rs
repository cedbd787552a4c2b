//! MTCNN speed on real video frames, the Rust side of `scripts/reference/bench_mtcnn.py` (same cases, same
//! frames: the 32 frames the DFDC reader samples).
//!
//!   cargo bench --bench mtcnn                      # all cores
//!   RAYON_NUM_THREADS=1 cargo bench --bench mtcnn  # one thread, like `bench_mtcnn.py --threads 1`
//!   BENCH_REPEATS=20 BENCH_WARMUP=3 …              # defaults 10 and 2
//!   BENCH_DEVICE=tch cargo bench --features tch --bench mtcnn     # libtorch (or cuda with --features cuda)
//!
//! Cases: `detect_960x540` (one frame per call; a 1080p video's detector input, made like the Python script:
//! face_noface.mov's 960×540 frames enlarged to 1920×1080 with OpenCV's INTER_CUBIC, then halved with Pillow's
//! bicubic), `resize_1920x1080` (that halving alone), `detect_640x360` (WolfgangLanger_Pexels.mp4 frames),
//! `batch_960x540` / `batch_640x360` (all 32 frames in one call, per-frame time reported).

#[path = "common.rs"]
mod common;

use burn::prelude::*;
use common::{knob, media, run_bench, time_case, DeviceBench};
use deepfake_detector::face::{Detector, DetectorConfig};
use deepfake_detector::imaging::opencv::resize_cubic;
use deepfake_detector::imaging::pillow::resize_bicubic;
use deepfake_detector::video::{sample_frames, SampleOptions};
use deepfake_detector::weights::mtcnn::shipped_mtcnn;
use image::RgbImage;

fn frames(name: &str) -> Vec<RgbImage> {
    sample_frames(media(name), &SampleOptions::default())
        .expect("sample video")
        .frames
        .into_iter()
        .map(|f| f.image)
        .collect()
}

struct Mtcnn;

fn main() {
    run_bench::<Mtcnn>();
}

impl DeviceBench for Mtcnn {
    fn bench<B: deepfake_detector::model::fused::FusedOps>(device: Device<B>) {
        let cases: Option<Vec<String>> =
            std::env::var("BENCH_CASES").ok().map(|c| c.split(',').map(str::to_string).collect());
        let wanted = |c: &str| cases.as_ref().is_none_or(|list| list.iter().any(|x| x == c));
        let (warmup, repeats) = (knob("BENCH_WARMUP", 2), knob("BENCH_REPEATS", 10));
        let detector = Detector::new(shipped_mtcnn::<B>(&device).unwrap(), DetectorConfig::dfdc_inference(), device)
            .with_pnet_batch(knob("BENCH_PNET_BATCH", 1));

        let full_hd: Vec<RgbImage> = frames("face_noface.mov").iter().map(|f| resize_cubic(f, 1920, 1080)).collect();
        let half_hd: Vec<RgbImage> = full_hd.iter().map(|f| resize_bicubic(f, 960, 540)).collect();
        let small = frames("WolfgangLanger_Pexels.mp4");

        if wanted("detect_960x540") {
            time_case("detect_960x540", 1, warmup, repeats, |i| {
                detector.detect(std::slice::from_ref(&half_hd[i % half_hd.len()]));
            });
        }
        if wanted("resize_1920x1080") {
            time_case("resize_1920x1080", 1, warmup, repeats, |i| {
                resize_bicubic(&full_hd[i % full_hd.len()], 960, 540);
            });
        }
        if wanted("detect_640x360") {
            time_case("detect_640x360", 1, warmup, repeats, |i| {
                detector.detect(std::slice::from_ref(&small[i % small.len()]));
            });
        }
        if wanted("batch_960x540") {
            time_case("batch_960x540", half_hd.len(), warmup.min(1), repeats.min(5), |_| {
                detector.detect(&half_hd);
            });
        }
        if wanted("batch_640x360") {
            time_case("batch_640x360", small.len(), warmup.min(1), repeats.min(5), |_| {
                detector.detect(&small);
            });
        }
    }
}
