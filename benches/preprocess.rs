//! `preprocess --steps boxes` speed (frames per second), the Rust side of `scripts/reference/bench_preprocess.py`
//! on the same data root; and `synth` clips per minute.
//!
//!   BENCH_DATA=/tmp/pp-bench cargo bench --bench preprocess     # a root made by `deepfake synth`
//!   BENCH_REPEATS=2 …                                           # default 2
//!
//! Cases: `boxes` (every frame of every real video: decode, Pillow half size, MTCNN [0.85, 0.95, 0.95]; the
//! `boxes/` folder is removed before each run), `synth` (the test set of tests/synth.rs re-made, clips/min).

#[path = "common.rs"]
mod common;

use std::path::PathBuf;

use burn::prelude::*;
use common::{knob, media, run_bench, time_case, DeviceBench};
use deepfake_detector::face::landmarks::ShapePredictor;
use deepfake_detector::face::Detector;
use deepfake_detector::preprocess::{detector_config, run, Models, PreprocessRequest, Step};
use deepfake_detector::synth::SynthRequest;
use deepfake_detector::weights::mtcnn::shipped_mtcnn;

struct Preprocess;

impl DeviceBench for Preprocess {
    fn bench<B: deepfake_detector::model::fused::FusedOps>(device: Device<B>) {
        let repeats = knob("BENCH_REPEATS", 2);
        let predictor = ShapePredictor::load_default().expect("libdlib-data");
        let detector =
            |step| Detector::new(shipped_mtcnn::<B>(&device).unwrap(), detector_config(step), device.clone());
        let (boxes, landmarks) = (detector(Step::Boxes), detector(Step::Landmarks));
        let root = std::env::var_os("BENCH_DATA").map(PathBuf::from);
        let tmp = tempfile::tempdir().unwrap();
        let root = root.unwrap_or_else(|| tmp.path().join("data"));
        let synth = SynthRequest {
            real: vec![media("single_face.mp4"), media("WolfgangLanger_Pexels.mp4"), media("single_face.jpg")],
            out: root.clone(),
            frames: 50,
            clips_per_video: 2,
            holdout: 0.0,
            ..SynthRequest::default()
        };
        if !root.join("dfdc_train_part_3").is_dir() && !root.join("dfdc_train_part_4").is_dir() {
            let t = std::time::Instant::now();
            let r = deepfake_detector::synth::run(&synth, &boxes, &predictor, &mut |_| {}).unwrap();
            let clips = r.real_clips + r.fakes.values().sum::<usize>();
            println!(
                "{{\"case\": \"synth\", \"impl\": \"rust\", \"clips\": {clips}, \"clips_per_min\": {:.2}}}",
                clips as f64 / (t.elapsed().as_secs_f64() / 60.0)
            );
        }
        let models = Models { boxes: &boxes, landmarks: &landmarks, predictor: &predictor };
        let req = PreprocessRequest { root: root.clone(), steps: vec![Step::Boxes], jobs: 2, batch: 32 };
        let mut frames = 0;
        let (min, _) = time_case("boxes", 1, 0, repeats, |_| {
            let _ = std::fs::remove_dir_all(root.join("boxes"));
            frames = run(&req, &models, &|_| {}).unwrap()[0].1.frames;
        });
        println!(
            "{{\"case\": \"boxes\", \"impl\": \"rust\", \"frames\": {frames}, \"frames_per_s\": {:.2}}}",
            frames as f64 / min
        );
    }
}

fn main() {
    run_bench::<Preprocess>();
}
