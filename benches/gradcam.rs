//! Grad-CAM cost per face beside the plain classification of the same face: EfficientNet-B7 at 380×380 (random
//! weights) on the CPU (flex). Classification runs the folded inference model as `infer` does; Grad-CAM runs the
//! unfolded model up to the last stage, then the head forward and backward on `Autodiff<Flex>`. `infer` pays
//! the Grad-CAM cost only with `--plots`, for the few most suspicious faces of each video.
//!
//!   cargo bench --bench gradcam
//!   BENCH_REPEATS=5 BENCH_WARMUP=1 BENCH_BATCHES=1,4 BENCH_ARCH=tf_efficientnet_b7 …

#[path = "common.rs"]
mod common;

use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use common::{knob, time_case};
use deepfake_detector::model::classifier::ClassifierConfig;
use deepfake_detector::model::efficientnet::EfficientNetConfig;
use deepfake_detector::model::gradcam::GradCam;

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
}
