//! The whole per-video path with B7-size classifiers (random weights), the Rust side of
//! `scripts/reference/bench_infer.py` (same videos, same stages: decode incl. the half-size copies, detect,
//! classify incl. crop preprocessing and the confident rule).
//!
//!   cargo bench --bench infer                                        # 1 model, all five sample clips
//!   BENCH_MODELS=7 BENCH_VIDEOS=single_face.mp4 cargo bench --bench infer
//!   BENCH_FRAMES=4 BENCH_ARCH=tf_efficientnet_b0 …                   # quicker runs
//!   BENCH_MODEL=demo cargo bench --bench infer                       # the built-in demo model (or a file)
//!   BENCH_DEVICE=tch cargo bench --features tch --bench infer          # libtorch (or cuda with --features cuda)
//!
//! Prints one JSON line per video and a summary line with seconds per stage per video. Decoding here runs in
//! the same thread as the rest, so the stages add up to the per-video time. Then, as the `infer` command works
//! (decoding one video ahead on its own thread), each video `BENCH_PIPELINE` times in a row (default 3; 0 skips):
//! one line per video with the wall seconds per copy.

#[path = "common.rs"]
mod common;

use std::time::Instant;

use burn::prelude::*;
use common::{knob, media, run_bench, DeviceBench, FusedOps};
use deepfake_detector::cancel::{Cancel, Interrupted};
use deepfake_detector::face::{Detector, DetectorConfig};
use deepfake_detector::infer::{decode, InferOptions, Runner, VideoJob};
use deepfake_detector::model::classifier::ClassifierConfig;
use deepfake_detector::model::classifier::Scorer;
use deepfake_detector::model::efficientnet::EfficientNetConfig;
use deepfake_detector::video::SampleOptions;
use deepfake_detector::weights::classifier::load_classifier;
use deepfake_detector::weights::demo::demo_model_path;
use deepfake_detector::weights::mtcnn::shipped_mtcnn;

struct Infer;

fn main() {
    run_bench::<Infer>();
}

impl DeviceBench for Infer {
    fn bench<B: FusedOps>(device: Device<B>) {
        let label = B::name(&device);
        let arch = std::env::var("BENCH_ARCH").unwrap_or_else(|_| "tf_efficientnet_b7".into());
        let n_models = knob("BENCH_MODELS", 1);
        let frames = knob("BENCH_FRAMES", 32);
        let videos = std::env::var("BENCH_VIDEOS").unwrap_or_else(|_| {
            "WolfgangLanger_Pexels.mp4,single_face.mp4,face_noface.mov,noface_face.mov,no_face.mp4".into()
        });
        // BENCH_MODEL=demo (the built-in model) or a model file instead of random weights of BENCH_ARCH.
        let (model, input_size, arch) = match std::env::var("BENCH_MODEL") {
            Ok(m) => {
                let path = if m == "demo" { demo_model_path().expect("the demo model") } else { m.into() };
                let loaded = load_classifier::<B>(&path, None, &device).expect("load BENCH_MODEL");
                (loaded.model, loaded.config.input_size, loaded.config.encoder.name)
            }
            Err(_) => {
                let config = ClassifierConfig::dfdc(EfficientNetConfig::named(&arch).expect("known arch"));
                (config.init::<B>(&device).expect("build model"), config.input_size, arch)
            }
        };
        // One model object shared N times, as bench_infer.py does: same cost as N distinct models.
        let scorers = (0..n_models)
            .map(|i| Scorer::new(format!("{arch}_{i}"), model.clone(), input_size as u32, device.clone()))
            .collect();
        let options =
            InferOptions { sample: SampleOptions { frames, ..SampleOptions::default() }, ..InferOptions::default() };
        let runner = Runner {
            detector: Detector::new(
                shipped_mtcnn::<B>(&device).unwrap(),
                DetectorConfig::dfdc_inference(),
                device.clone(),
            ),
            scorers,
            options,
        };
        let job = |name: &str| VideoJob { file: name.into(), path: media(name) };
        // Warm-up: one detection and one forward.
        let warm = decode(job("single_face.mp4"), &SampleOptions { frames: 1, ..SampleOptions::default() });
        runner.process(warm, &mut |_| {});

        let (mut sums, mut count) = ([0.0f64; 4], 0usize);
        for name in videos.split(',') {
            let start = Instant::now();
            let decoded = decode(job(name), &runner.options.sample);
            let r = runner.process(decoded, &mut |_| {});
            let total = start.elapsed().as_secs_f64();
            let t = &r.timing;
            println!(
            "{{\"video\": \"{name}\", \"impl\": \"rust-{label}\", \"models\": {n_models}, \"arch\": \"{arch}\", \"frames_read\": {}, \"faces\": {}, \"decode_s\": {:.3}, \"detect_s\": {:.3}, \"classify_s\": {:.3}, \"total_s\": {total:.3}, \"status\": \"{}\"}}",
            r.frames_read, r.faces_used, t.decode_s, t.detect_s, t.classify_s, r.status
        );
            for (s, v) in sums.iter_mut().zip([t.decode_s, t.detect_s, t.classify_s, total]) {
                *s += v;
            }
            count += 1;
        }
        let per = |i: usize| sums[i] / count as f64;
        println!(
        "{{\"summary\": \"per video\", \"impl\": \"rust-{label}\", \"videos\": {count}, \"models\": {n_models}, \"decode_s\": {:.3}, \"detect_s\": {:.3}, \"classify_s\": {:.3}, \"total_s\": {:.3}, \"threads\": \"{}\"}}",
        per(0),
        per(1),
        per(2),
        per(3),
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into())
    );
        // As `deepfake infer` runs a folder: each video BENCH_PIPELINE times (default 3; 0 skips), decoded one
        // ahead on another thread while the one before is detected and classified. Wall seconds per video.
        let copies = knob("BENCH_PIPELINE", 3);
        for name in videos.split(',').filter(|_| copies > 0) {
            let jobs: Vec<VideoJob> = (0..copies).map(|_| job(name)).collect();
            let start = Instant::now();
            let mut done = 0;
            let run: Result<(), Interrupted> = runner.run_all(jobs, &Cancel::new(), &mut |_| {}, |_| {
                done += 1;
                Ok(())
            });
            run.expect("nothing cancels the bench");
            let per_video = start.elapsed().as_secs_f64() / done.max(1) as f64;
            println!(
                "{{\"video\": \"{name}\", \"impl\": \"rust-{label}\", \"pipelined\": {done}, \"wall_s_per_video\": {per_video:.3}}}"
            );
        }
    }
}
