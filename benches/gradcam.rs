//! Grad-CAM cost per face beside the plain classification of the same face: EfficientNet-B7 at 380×380 (random
//! weights) on the CPU (flex). Classification runs the folded inference model as `infer` does; Grad-CAM runs the
//! unfolded model up to the last stage, then the head forward and backward on `Autodiff<Flex>`. `infer` pays
//! the Grad-CAM cost only with `--plots`, for the few most suspicious faces of each video. The last case is all
//! that `--plots` adds to one video: `plots::video::write_video_plots` for a video of `BENCH_FACES` faces (32, one
//! per sampled frame): contact sheet, Grad-CAM of the 4 most suspicious faces, timeline, PNG encoding and writing.
//!
//!   cargo bench --bench gradcam
//!   BENCH_REPEATS=5 BENCH_WARMUP=1 BENCH_BATCHES=1,4 BENCH_ARCH=tf_efficientnet_b7 …

#[path = "common.rs"]
mod common;

use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use common::{knob, time_case};
use deepfake_detector::infer::{FaceRecord, FrameRecord, VideoResult};
use deepfake_detector::model::classifier::ClassifierConfig;
use deepfake_detector::model::efficientnet::EfficientNetConfig;
use deepfake_detector::model::gradcam::GradCam;
use deepfake_detector::plots::video::write_video_plots;
use image::{Rgb, RgbImage};

fn main() {
    let device: Device<Flex> = Default::default();
    let arch = std::env::var("BENCH_ARCH").unwrap_or_else(|_| "tf_efficientnet_b7".into());
    let config = ClassifierConfig::dfdc(EfficientNetConfig::named(&arch).expect("known arch"));
    let model = config.init::<Flex>(&device).expect("build model");
    let size = config.input_size;
    let folded = model.clone().fold_batchnorm();
    let cam = GradCam::<Autodiff<Flex>>::new(model);
    let batches: Vec<usize> = std::env::var("BENCH_BATCHES")
        .unwrap_or_else(|_| "1,4".into())
        .split(',')
        .filter_map(|b| b.parse().ok())
        .collect();
    let (warmup, repeats) = (knob("BENCH_WARMUP", 1), knob("BENCH_REPEATS", 3));
    for n in batches {
        let input = vec![0.1f32; n * 3 * size * size];
        time_case(&format!("{arch}_{size}_classify_batch{n}"), n, warmup, repeats, |_| {
            assert_eq!(folded.logits(input.clone(), n, size, &device).len(), n);
        });
        time_case(&format!("{arch}_{size}_gradcam_batch{n}"), n, warmup, repeats, |_| {
            let x = Tensor::<Flex, 4>::from_data(TensorData::new(input.clone(), [n, 3, size, size]), &device);
            assert_eq!(cam.maps(x).len(), n);
        });
    }
    let faces = knob("BENCH_FACES", 32);
    let (video, crops) = video_of(faces, size as u32);
    let models = vec![format!("{arch}.bpk")];
    let dir = tempfile::tempdir().expect("a temporary folder");
    time_case(&format!("{arch}_{size}_video_plots_{faces}faces"), 1, warmup, repeats, |_| {
        assert_eq!(write_video_plots(dir.path(), &video, &models, &crops, Some(&cam)).expect("pictures").len(), 3);
    });
    time_case(&format!("video_plots_{faces}faces_without_gradcam"), 1, warmup, repeats, |_| {
        let none: Option<&GradCam<Autodiff<Flex>>> = None;
        assert_eq!(write_video_plots(dir.path(), &video, &models, &crops, none).expect("pictures").len(), 2);
    });
}

/// A scored video of `n` faces, one per frame, and their crops (smooth gradients, so the PNGs compress as photos
/// would rather than as noise).
fn video_of(n: usize, side: u32) -> (VideoResult, Vec<RgbImage>) {
    let mut video = VideoResult::new("bench.mp4");
    for k in 0..n {
        let p = 0.3 + 0.4 * (k as f32 / n as f32);
        let face = FaceRecord {
            bbox: [10.0, 10.0, 110.0, 110.0],
            detector_score: 0.99,
            crop: [0, 0, 130, 130],
            probabilities: vec![p],
            track: None,
        };
        video.frames.push(FrameRecord { index: 10 * k as u64, detected: 1, faces: vec![face] });
    }
    video.frames_read = n;
    video.faces_found = n;
    video.faces_used = n;
    video.per_model = vec![0.6];
    video.score = Some(0.6);
    let crops = (0..n)
        .map(|k| {
            RgbImage::from_fn(side, side, |x, y| Rgb([(x * 255 / side) as u8, (y * 255 / side) as u8, (k * 7) as u8]))
        })
        .collect();
    (video, crops)
}
