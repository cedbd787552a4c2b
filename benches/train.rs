//! Training throughput (images per second) of one step of the DFDC recipe — forward in training mode, the split
//! loss, backward, global-norm clipping and SGD Nesterov — for EfficientNet-B0 at 224 and B7 at 380 on the CPU
//! (flex, `Autodiff<Flex>`). The Rust side of `scripts/reference/bench_train.py`, which times the same step in
//! PyTorch. Also prints where the time goes: forward, backward, optimizer.
//!
//!   cargo bench --bench train
//!   BENCH_CASES=b0:224:8,b7:380:2 BENCH_REPEATS=3 BENCH_WARMUP=1 cargo bench --bench train

#[path = "common.rs"]
mod common;

use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use common::knob;
use deepfake_detector::model::classifier::{ClassifierConfig, DeepFakeClassifier};
use deepfake_detector::model::efficientnet::EfficientNetConfig;
use deepfake_detector::train::config::OptimizerConfig;
use deepfake_detector::train::optim::{sgd_config, GlobalClip};
use deepfake_detector::train::step::TrainBatch;

type AB = Autodiff<Flex>;

fn main() {
    let cases = std::env::var("BENCH_CASES").unwrap_or_else(|_| "b0:224:8,b7:380:2".into());
    let (warmup, repeats) = (knob("BENCH_WARMUP", 1), knob("BENCH_REPEATS", 3));
    let device = Default::default();
    for case in cases.split(',') {
        let parts: Vec<&str> = case.split(':').collect();
        let [arch, size, batch] = parts.as_slice() else { panic!("BENCH_CASES entry `{case}`: arch:size:batch") };
        let (size, n): (usize, usize) = (size.parse().expect("size"), batch.parse().expect("batch"));
        let mut encoder = EfficientNetConfig::named(&format!("tf_efficientnet_{arch}")).expect("known arch");
        encoder.drop_path_rate = 0.2;
        let config = ClassifierConfig { encoder, input_size: size, dropout: 0.0 };
        let mut model: DeepFakeClassifier<AB> = config.init::<AB>(&device).expect("model");
        let optimizer = OptimizerConfig::default();
        let mut optim = GlobalClip::new(sgd_config(&optimizer).init(), 1.0, 1);
        let images: Vec<f32> = (0..n * 3 * size * size).map(|i| ((i * 7919) % 255) as f32 / 128.0 - 1.0).collect();
        let labels: Vec<f32> = (0..n).map(|i| (i % 2) as f32).collect();
        let targets: Vec<f32> = labels.iter().map(|&l| l.clamp(0.01, 0.99)).collect();
        let mut times = Vec::new();
        let (mut fwd, mut bwd, mut opt) = (0.0, 0.0, 0.0);
        for i in 0..warmup + repeats {
            let t0 = Instant::now();
            let batch = TrainBatch::<AB>::from_host(images.clone(), size, &labels, &targets, &device);
            let (losses, _) = model.forward_split_loss(batch);
            let _ = losses.loss.clone().into_scalar(); // wait for the forward
            let t1 = Instant::now();
            let grads = GradientsParams::from_grads(losses.loss.backward(), &model);
            let t2 = Instant::now();
            model = optim.step(0.01, model, grads);
            let _ = model.fc.weight.val().sum().into_scalar(); // wait for the update
            let t3 = Instant::now();
            if i >= warmup {
                times.push((t3 - t0).as_secs_f64());
                fwd += (t1 - t0).as_secs_f64();
                bwd += (t2 - t1).as_secs_f64();
                opt += (t3 - t2).as_secs_f64();
            }
        }
        times.sort_by(f64::total_cmp);
        let (min, median) = (times[0], times[times.len() / 2]);
        let r = repeats as f64;
        println!(
            "{{\"case\": \"train_{arch}_{size}_batch{n}\", \"impl\": \"rust\", \"repeats\": {repeats}, \"min_s_per_step\": {min:.4}, \"median_s_per_step\": {median:.4}, \"images_per_s\": {:.3}, \"forward_s\": {:.4}, \"backward_s\": {:.4}, \"optimizer_s\": {:.4}}}",
            n as f64 / median,
            fwd / r,
            bwd / r,
            opt / r
        );
        let _ = model.valid();
    }
}
